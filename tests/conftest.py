"""Test-wide settings."""

import os
from pathlib import Path

import pytest

# Typer draws a bad option's message in a box as wide as the terminal (80 columns under pytest),
# breaking it over lines: a message naming a long temporary path no longer held the words a test
# looks for (CI failed on a longer pytest-of-root/pytest-NN folder). Read at typer's import.
os.environ.setdefault("TERMINAL_WIDTH", "1000")

from hypothesis import HealthCheck, settings  # noqa: E402 - after the environment above

# The property tests (tests/test_*_properties.py) run the same examples every time, with no
# database of past failures and no deadline: CI never flakes on a random draw or a busy core.
settings.register_profile("follicle_seg", deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("follicle_seg")


@pytest.fixture(scope="session")
def study(tmp_path_factory) -> Path:
    """A small generated study (2 patients, 2 visits, cines of 8 frames and stills), read only:
    the whole-run tests of tests/test_pipeline.py and tests/test_run_invariance.py share it."""
    from follicle_seg.synth.study import write_study

    root = tmp_path_factory.mktemp("study")
    write_study(root, patients=2, visits=2, seed=11, frames_per_sweep=8)
    return root


@pytest.fixture(scope="session")
def samples_run(tmp_path_factory) -> Path:
    """A run of data_samples/ with its masks and DICOM SEG/SR, no overlays or report, read only
    (copy it to write in it): tests/test_dicom_pairs.py and tests/test_export_pairs_script.py
    share it."""
    from follicle_seg.pipeline import RunOptions, run

    out = tmp_path_factory.mktemp("samples") / "run"
    samples = Path(__file__).resolve().parents[1] / "data_samples"
    run([samples], RunOptions(out=out, overlays=False, report=False, save_masks=True))
    return out
