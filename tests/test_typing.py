"""The package ships ``py.typed``: its type hints are a promise to users. mypy keeps them true on
the modules made clean (the run's data flow, ``io``, ``report``, ``model`` and ``synth``), with
the settings of ``[tool.mypy]`` in ``pyproject.toml``. The modules they import are checked too
(mypy follows imports), so an error there fails this test as well."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The modules kept clean (package paths, from the repository root).
CLEAN = [
    "follicle_seg/types.py",
    "follicle_seg/errors.py",
    "follicle_seg/options.py",
    "follicle_seg/state.py",
    "follicle_seg/intake.py",
    "follicle_seg/engine.py",
    "follicle_seg/pipeline.py",
    "follicle_seg/analyse.py",
    "follicle_seg/measure.py",
    "follicle_seg/instances.py",
    "follicle_seg/tracking.py",
    "follicle_seg/series.py",
    "follicle_seg/visits.py",
    "follicle_seg/review.py",
    "follicle_seg/artefacts.py",
    "follicle_seg/distributed.py",
    "follicle_seg/interrupt.py",
    "follicle_seg/io",
    "follicle_seg/report",
    "follicle_seg/model",
    "follicle_seg/synth",
]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install -e '.[dev]')")
def test_the_type_hints_of_the_clean_modules_hold() -> None:
    # mypy's cache outside the tree, kept between runs: a warm run takes a few seconds, a cold one
    # (a first run, or after a mypy upgrade) about half a minute on two cores
    cache = Path(tempfile.gettempdir()) / "follicle_seg-mypy-cache"
    command = [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--cache-dir", str(cache), *CLEAN]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
