"""``python -m monai.bundle run`` on the shipped configs, as a MONAI user runs it (in-process here:
the same ``monai.bundle.run``), on a bundle folder copied elsewhere (configs/ and models/ only)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from monai.bundle import run as bundle_run
from PIL import Image

from follicle_seg.errors import ModelError
from follicle_seg.model.bundle import WEIGHTS, shipped_bundle_root
from follicle_seg.options import RunOptions
from follicle_seg.pipeline import run

ROOT = shipped_bundle_root()
SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def _bundle_copy(tmp_path: Path) -> Path:
    """configs/ and models/ of the shipped bundle in a folder of their own."""
    copy = tmp_path / "bundle"
    shutil.copytree(ROOT / "configs", copy / "configs")
    (copy / "models").mkdir()
    shutil.copy(ROOT / WEIGHTS, copy / WEIGHTS)
    return copy


def test_bundle_run_writes_the_label_maps_of_follicle_seg_run(tmp_path: Path) -> None:
    """`monai.bundle run --config_file configs/inference.json` stopped with "run ID 'run' doesn't
    exist in the config file": the bundle held a network but no workflow."""
    bundle = _bundle_copy(tmp_path)
    data = tmp_path / "dicom"
    data.mkdir()
    for name in ("mono_left.dcm", "two_regions_bmode_doppler.dcm", "bad_truncated.dcm"):
        shutil.copy(SAMPLES / name, data / name)
    bundle_run(config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
               dataset_dir=str(data), output_dir=str(tmp_path / "eval"), device="$torch.device('cpu')")
    run([data], RunOptions(out=tmp_path / "out", device="cpu", overlays=False, dicom=False, report=False,
                           save_masks=True))
    ours = sorted(p.name for p in (tmp_path / "eval").glob("*.png"))
    theirs = sorted(p.name for p in (tmp_path / "out" / "masks").glob("*.png"))
    assert ours == theirs and len(ours) == 2  # the truncated file said on stderr and skipped
    for name in ours:
        labels = np.asarray(Image.open(tmp_path / "eval" / name))
        assert np.array_equal(labels, np.asarray(Image.open(tmp_path / "out" / "masks" / name)))
    assert {1, 2} <= set(np.unique(labels))


def test_bundle_run_says_a_missing_dataset_dir(tmp_path: Path) -> None:
    bundle = _bundle_copy(tmp_path)
    with pytest.raises(RuntimeError) as caught:
        bundle_run(config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
                   dataset_dir=str(tmp_path / "absent"), output_dir=str(tmp_path / "eval"))
    assert isinstance(caught.value.__cause__, ModelError)
    assert "absent: not found (give --dataset_dir" in str(caught.value.__cause__)

