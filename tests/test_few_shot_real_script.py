"""scripts/few_shot_real.py: folds, fine-tuning folders, and a whole (two-step) cross-validated run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from follicle_seg.model.data import read_image_pairs
from follicle_seg.model.loss import OUTLINE

from script_module import load_script  # tests/ is on sys.path


def _module():
    return load_script("few_shot_real")


def _capture(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey 'screen capture' with a dark-follicled ovary and its outline (no real image)."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:160, :200]
    outline = ((rr - 80) / 40) ** 2 + ((cc - 100) / 55) ** 2 < 1
    grey = rng.rayleigh(70, outline.shape)
    grey[(rr - 80) ** 2 + (cc - 95 - rng.integers(-10, 10)) ** 2 < 12**2] *= 0.15
    return np.clip(grey, 0, 255).astype(np.uint8), outline


def _annotated_folder(root: Path, n: int) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        grey, outline = _capture(i)
        Image.fromarray(grey).save(root / "images" / f"{100 + i}.jpg", quality=95)
        Image.fromarray(outline.astype(np.uint8) * 255).save(root / "masks" / f"{100 + i}.png")
    return root


def test_fine_tuning_folder_holds_outlines_at_each_assumed_depth(tmp_path: Path) -> None:
    grey, outline = _capture(0)
    item = ("7", grey, outline, (10, 20, 189, 139))  # scan area: 180 columns x 120 rows
    (tmp_path / "d" / "images").mkdir(parents=True)
    (tmp_path / "d" / "images" / "stale.png").write_bytes(b"left by an earlier run")
    _module().write_finetune_folder([item], tmp_path / "d", OUTLINE, [50.0, 100.0])
    pairs = read_image_pairs(tmp_path / "d")
    assert [p[0] for p in pairs] == ["7_d100", "7_d50"]
    name, pixels, labels, row_mm, col_mm = pairs[1]
    assert pixels.shape == (120, 180) and np.array_equal(pixels, grey[20:140, 10:190])
    assert set(np.unique(labels)) == {0, OUTLINE} and np.array_equal(labels > 0, outline[20:140, 10:190])
    assert row_mm == col_mm == pytest.approx(50.0 / 120)
    _module().write_finetune_folder([item], tmp_path / "plain", 1)
    assert read_image_pairs(tmp_path / "plain")[0][3:] == (None, None)
    assert not (tmp_path / "plain" / "spacing.csv").exists()


def test_cross_validated_run_scores_every_image_with_networks_that_never_saw_it(tmp_path: Path, monkeypatch) -> None:
    folder = _annotated_folder(tmp_path / "real", 6)
    monkeypatch.chdir(tmp_path)  # outside the repository: the default --init is the shipped weights, wherever they are
    out = tmp_path / "summary.json"
    assert _module().main([str(folder), "--work", str(tmp_path / "work"), "--json", str(out), "--folds", "2",
                           "--n-train", "2", "--n-val", "1", "--steps", "2", "--val-every", "1"]) == 0
    result = json.loads(out.read_text())
    tested = [name for fold in result["folds"] for name in fold["test"]]
    assert sorted(tested) == [str(100 + i) for i in range(6)]
    for fold in result["folds"]:
        assert len(fold["fine_tuned_on"]) == 3 and not set(fold["fine_tuned_on"]) & set(fold["test"])
        assert fold["steps"] == 2
    for key in ("before", "after", "before_one_depth", "after_one_depth"):
        assert result[key]["n_images"] == 6 and len(result["images"][key]) == 6
    assert result["paired"]["n_images"] == 6
    masks = sorted((tmp_path / "work" / "fold_0" / "data" / "masks").glob("*.png"))
    assert len(masks) == 2 and len(list((tmp_path / "work" / "fold_0" / "val" / "masks").glob("*.png"))) == 1
    assert set(np.unique(np.asarray(Image.open(masks[0])))) == {0, OUTLINE}


def test_weights_that_cannot_be_loaded_are_one_line_before_any_image_is_read(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        _module().main([str(tmp_path / "no_such_folder"), "--init", str(tmp_path / "missing.pt")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"--init: {tmp_path / 'missing.pt'}: weights file not found.")


def test_one_fold_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    """--folds 1 read every image, then stopped on a ZeroDivisionError traceback."""
    with pytest.raises(SystemExit) as stop:
        _module().main([str(tmp_path / "no_such_folder"), "--folds", "1"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("--folds 1: at least 2 (each fold is scored by networks "
                                                             "trained on the others)")
