"""``python -m monai.bundle run`` on the shipped configs, as a MONAI user runs it (in-process here:
the same ``monai.bundle.run``), on a bundle folder copied elsewhere (configs/ and models/ only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import run as bundle_run
from PIL import Image

from follicle_seg.errors import ModelError
from follicle_seg.model.bundle import METADATA, WEIGHTS, load_network, shipped_bundle_root
from follicle_seg.model.data import make_sample, save_samples
from follicle_seg.options import RunOptions
from follicle_seg.pipeline import run
from toy_frames import toy_frame  # tests/ is on sys.path

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


def test_bundle_run_of_train_json_writes_a_bundle(tmp_path: Path) -> None:
    """`monai.bundle run --config_file configs/train.json` stopped with "run ID 'run' doesn't
    exist": train.json recorded a recipe nothing could run."""
    bundle = _bundle_copy(tmp_path)
    out = tmp_path / "trained"
    for name, seeds in (("train_4_layered50.npz", range(4)), ("val_2_layered50.npz", range(4, 6))):
        # the synthetic frame cache the recipe names (toy frames: generating them takes 20 s)
        save_samples([make_sample(*toy_frame(i), 0.2, 0.2) for i in seeds], tmp_path / "cache" / name)
    bundle_run(config_file=str(bundle / "configs" / "train.json"), bundle_root=str(bundle), output_dir=str(out),
               cache_dir=str(tmp_path / "cache"), device="cpu", **{"data#n_train": 4, "data#n_val": 2,
               "train#max_steps": 1, "train#batch_size": 2, "train#crop": 48})
    state = torch.load(out / WEIGHTS, map_location="cpu", weights_only=True)
    assert load_network(out / WEIGHTS).state_dict().keys() == state.keys()  # the checksum in its metadata fits
    recipe = json.loads((out / "configs" / "train.json").read_text())
    assert recipe["data"]["n_train"] == 4 and recipe["data"]["layered_share"] == 0.5
    assert recipe["train"]["max_steps"] == 1 and recipe["run"].startswith("$train_synthetic(")
    assert json.loads((out / METADATA).read_text())["trained"]["command"].startswith("python -m monai.bundle run")


def test_bundle_run_of_train_json_keeps_off_the_shipped_bundle(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as caught:
        bundle_run(config_file=str(ROOT / "configs" / "train.json"), bundle_root=str(ROOT), output_dir=str(ROOT),
                   cache_dir=str(tmp_path / "cache"), device="cpu", **{"data#n_train": 4, "train#max_steps": 1})
    assert "the shipped bundle; give --output_dir another folder" in str(caught.value.__cause__)


def test_follicle_seg_train_records_the_generator_shares_the_recipe_reruns_with(tmp_path: Path, monkeypatch) -> None:
    """A bundle trained with --layered-share 0.25 kept the template's share 0.5 in its
    configs/train.json (only a generator string said 0.25): re-run, it trained on other frames."""
    import typer
    from typer.testing import CliRunner

    from follicle_seg.model import cli

    monkeypatch.setattr(cli, "synthetic_samples", lambda *a, **k: ([], [None]))
    seen: dict = {}
    monkeypatch.setattr("follicle_seg.model.train.train", lambda tr, va, out, **kw: seen.update(kw["data_info"]) or
                        {"before": {}, "after": {}, "steps": 0, "minutes": 0.0, "weights": ""})
    app = typer.Typer()
    app.command()(cli.train_command)
    result = CliRunner().invoke(app, ["--synthetic", "4", "--layered-share", "0.25", "--out", str(tmp_path / "o"),
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (seen["layered_share"], seen["patchwork_share"], seen["poi_share"]) == (0.25, 0.0, 0.0)


def test_bundle_run_of_train_json_records_its_own_shares_and_refuses_a_setting_it_does_not_have(
    tmp_path: Path, monkeypatch
) -> None:
    """An override of layered_share was recorded beside the template's generator text (which
    still said 0.5), and a mistyped train setting was dropped in silence (review)."""
    from follicle_seg.model import cli

    monkeypatch.setattr(cli, "synthetic_samples", lambda *a, **k: ([], [None]))
    seen: dict = {}
    monkeypatch.setattr("follicle_seg.model.train.train", lambda tr, va, out, **kw: seen.update(kw["data_info"]))
    bundle = _bundle_copy(tmp_path)
    settings = {"config_file": str(bundle / "configs" / "train.json"), "bundle_root": str(bundle),
                "output_dir": str(tmp_path / "o"), "cache_dir": str(tmp_path / "cache"), "device": "cpu"}
    bundle_run(**settings, **{"data#layered_share": 0.25, "train#max_steps": 1})
    assert seen["layered_share"] == 0.25 and "layered_share=0.25," in seen["generator"]
    with pytest.raises(RuntimeError) as caught:
        bundle_run(**settings, **{"train#lerning_rate": 0.01})
    assert "train has no setting lerning_rate" in str(caught.value.__cause__)
    with pytest.raises(RuntimeError) as caught:
        bundle_run(**settings, **{"data#layerd_share": 0.25})
    assert "data has no setting layerd_share" in str(caught.value.__cause__)
