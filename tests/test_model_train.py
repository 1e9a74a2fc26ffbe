"""Training data, augmentation, a few optimiser steps, fine-tuning into a verified bundle, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from monai.bundle import ConfigParser
from monai.losses import DiceCELoss
from monai.transforms import Compose
from PIL import Image
from typer.testing import CliRunner

from follicle_seg.errors import RejectedInput
from follicle_seg.filehash import file_sha256
from follicle_seg.model.bundle import load_network
from follicle_seg.model.metadata import read_metadata
from follicle_seg.model.cli import train_command
from follicle_seg.model.data import (
    RandFrameZoomd,
    RandGreyMapd,
    grey_map,
    load_samples,
    make_sample,
    read_image_pairs,
    save_samples,
    train_transforms,
)
from follicle_seg.model.loss import OUTLINE, MarginalDiceCELoss
from follicle_seg.model.network import ResizeConvUNet
from follicle_seg.model.train import fit, split_holdout, train
from toy_frames import TINY, toy_frame  # tests/ is on sys.path


def test_sample_is_at_network_scale_with_nearest_labels() -> None:
    pixels, labels = toy_frame(0)
    s = make_sample(pixels, labels, 0.15, 0.15)
    assert s["image"].shape == s["label"].shape == s["fan"].shape == (1, 60, 75)
    assert set(np.unique(s["label"])) == {0.0, 1.0, 2.0}
    assert 0.0 <= s["image"].min() and s["image"].max() <= 1.0


def test_cache_round_trip(tmp_path: Path) -> None:
    samples = [make_sample(*toy_frame(i), 0.2, 0.2) for i in range(2)]
    save_samples(samples, tmp_path / "c.npz")
    back = load_samples(tmp_path / "c.npz")
    assert len(back) == len(samples) == 2
    for a, b in zip(samples, back):
        np.testing.assert_allclose(a["image"], b["image"], atol=1 / 255)
        np.testing.assert_array_equal(a["label"], b["label"])


def test_layered_share_has_its_own_cache_files_and_a_checked_range(tmp_path: Path) -> None:
    from follicle_seg.model.cli import synthetic_samples

    train_plain, _ = synthetic_samples(3, 0, tmp_path, workers=1)
    train_mixed, val_mixed = synthetic_samples(3, 2, tmp_path, workers=1, layered_share=1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_3.npz", "train_3_layered100.npz", "val_2_layered100.npz"]
    assert len(train_mixed) == 3 and len(val_mixed) == 2
    assert any(a["image"].shape != b["image"].shape or not np.array_equal(a["image"], b["image"])
               for a, b in zip(train_plain, train_mixed))
    with pytest.raises(ValueError, match="layered_share"):
        synthetic_samples(3, 0, tmp_path, workers=1, layered_share=1.5)
    both, _ = synthetic_samples(3, 0, tmp_path, workers=1, layered_share=0.5, patchwork_share=0.5)
    assert (tmp_path / "train_3_layered50_patchwork50.npz").is_file() and len(both) == 3
    with pytest.raises(ValueError, match="sum <= 1"):
        synthetic_samples(3, 0, tmp_path, workers=1, layered_share=0.5, patchwork_share=0.6)
    poi, _ = synthetic_samples(3, 0, tmp_path, workers=1, layered_share=1.0, poi_share=0.4)
    assert (tmp_path / "train_3_layered100_poi40.npz").is_file() and len(poi) == 3
    with pytest.raises(ValueError, match="poi_share"):
        synthetic_samples(3, 0, tmp_path, workers=1, layered_share=1.0, poi_share=-0.1)


def test_a_cache_built_by_workers_equals_one_built_in_process(tmp_path: Path, monkeypatch) -> None:
    from follicle_seg.model import data

    monkeypatch.setattr(data, "CACHE_TASK_SEEDS", 2)  # 5 seeds -> tasks of 2, 2, 1, order kept
    seeds = [7, 3, 11, 5, 9]
    parallel = data.cached_synthetic_samples(seeds, tmp_path / "p.npz", workers=2, layered_share=0.5)
    serial = data.cached_synthetic_samples(seeds, tmp_path / "s.npz", workers=1, layered_share=0.5)
    assert len(parallel) == len(serial) == 5
    for a, b in zip(parallel, serial):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])


def test_grey_map_is_monotone_and_random_maps_are_seeded() -> None:
    x = np.linspace(0, 1, 50)
    t = RandGreyMapd(["image"], prob=1.0)
    t.set_random_state(3)
    y1 = t({"image": x})["image"]
    t.set_random_state(3)
    y2 = t({"image": x})["image"]
    np.testing.assert_array_equal(y1, y2)
    assert np.all(np.diff(y1) >= 0) and y1[0] == 0.0 and y1[-1] == pytest.approx(1.0)
    assert not np.allclose(y1, x)
    assert grey_map(np.array([2.0]), np.array([0.0, 0.3, 1.0]))[0] == pytest.approx(1.0)


def test_train_transforms_give_normalised_crops_with_valid_labels() -> None:
    sample = make_sample(*toy_frame(0), 0.1, 0.1)
    out = train_transforms(64).set_random_state(1)(dict(sample))
    d = out[0] if isinstance(out, list) else out
    assert tuple(d["image"].shape) == tuple(d["label"].shape) == (1, 64, 64)
    assert "fan" not in d
    assert set(np.unique(np.asarray(d["label"]))) <= {0.0, 1.0, 2.0}
    assert float(d["image"].min()) >= 0.0 and float(d["image"].max()) <= 1.0


def test_background_crops_are_centred_inside_the_scan_sector() -> None:
    fan = np.zeros((1, 200, 200), np.float32)
    fan[:, :, 120:] = 1.0  # the sector: the right 40 % of the frame; no ovary, all background
    sample = {"image": fan * 0.5, "fan": fan, "label": np.zeros_like(fan)}

    def centres_in_sector(background_crops: float | None) -> list[bool]:
        crop = Compose(train_transforms(32, background_crops).transforms[:2]).set_random_state(3)
        return [bool(np.asarray(crop(dict(sample))[0]["fan"])[0, 16, 16] > 0) for _ in range(40)]

    assert all(centres_in_sector(3.0))
    assert not all(centres_in_sector(None))  # the 0.4.0 recipe: centres anywhere in the frame


def test_frame_zoom_rescales_image_and_labels_together() -> None:
    label = np.zeros((1, 100, 200), np.float32)
    label[:, 40:60, 80:120] = 1.0  # a 20 x 40 ovary
    sample = {"image": label * 0.5 + 0.25, "fan": np.ones_like(label), "label": label}
    zoom = RandFrameZoomd(["image", "fan", "label"], max_zoom=2.0, prob=1.0).set_random_state(0)
    factors = []
    for _ in range(30):
        out = zoom(dict(sample))
        f = zoom.factor
        factors.append(f)
        assert out["image"].shape == out["label"].shape == (1, round(100 * f), round(200 * f))
        assert set(np.unique(out["label"])) <= {0.0, 1.0}  # nearest-neighbour: never blended
        assert np.sum(out["label"]) == pytest.approx(800 * f * f, rel=0.15)
    assert 0.5 <= min(factors) < 0.8 and 1.25 < max(factors) <= 2.0
    with pytest.raises(ValueError, match="max_zoom"):
        RandFrameZoomd(["image"], max_zoom=0.5)
    crops = train_transforms(64, frame_zoom=2.0).set_random_state(1)(dict(sample))
    assert tuple(crops[0]["image"].shape) == (1, 64, 64)


def test_split_holdout_is_seeded_and_disjoint() -> None:
    assert split_holdout(10, 0.3, 1) == split_holdout(10, 0.3, 1)
    tr, va = split_holdout(10, 0.3, 1)
    assert len(va) == 3 and not set(tr) & set(va)
    assert split_holdout(1, 0.5, 0) == ([0], [])


def test_two_steps_change_the_weights_reproducibly() -> None:
    samples = [make_sample(*toy_frame(i), 0.15, 0.15) for i in range(4)]
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        from follicle_seg.model.network import build_network

        net = build_network()
        start = {k: v.clone() for k, v in net.state_dict().items()}
        state, history = fit(net, samples[:3], samples[3:], TINY)
        assert len(history) == 2 and np.isfinite(history[-1]["loss"])
        assert any(not torch.equal(start[k], v) for k, v in state.items())
        results.append(state)
    for key in results[0]:
        assert torch.allclose(results[0][key].float(), results[1][key].float())


def test_moving_average_weights_and_checkpoints(tmp_path: Path) -> None:
    """With ema_decay the kept weights are the running average: after two steps of decay 0.5 from
    w0 they are (w1 + w2) / 2 (the first update copies w1), and every validation leaves both sets."""
    from dataclasses import replace

    from follicle_seg.model.network import build_network

    samples = [make_sample(*toy_frame(i), 0.15, 0.15) for i in range(4)]
    config = replace(TINY, ema_decay=0.5, checkpoints=str(tmp_path / "ck"))
    torch.manual_seed(0)
    net = build_network()
    state, history = fit(net, samples[:3], samples[3:], config)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "step_1.pt", "step_1_ema.pt", "step_2.pt", "step_2_ema.pt"]
    w1 = torch.load(tmp_path / "ck" / "step_1.pt", weights_only=True)
    w2 = torch.load(tmp_path / "ck" / "step_2.pt", weights_only=True)
    ema2 = torch.load(tmp_path / "ck" / "step_2_ema.pt", weights_only=True)
    params = {name for name, _ in build_network().named_parameters()}
    key = next(k for k in sorted(params) if not torch.equal(w1[k], w2[k]))
    assert torch.allclose(ema2[key], (w1[key] + w2[key]) / 2, atol=1e-6)
    assert torch.allclose(torch.load(tmp_path / "ck" / "step_1_ema.pt", weights_only=True)[key], w1[key])
    best = max(range(2), key=lambda i: history[i]["ovary_dice"] + history[i]["follicle_dice"])
    expected = ema2 if best == 1 else torch.load(tmp_path / "ck" / "step_1_ema.pt", weights_only=True)
    assert torch.allclose(state[key], expected[key])


def test_refresh_batch_norm_gives_the_plain_batch_statistics() -> None:
    from follicle_seg.model.train import refresh_batch_norm

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1, bias=False), torch.nn.BatchNorm2d(2))
    net[0].weight.data[:] = torch.tensor([[[[2.0]]], [[[-1.0]]]])
    net[1].running_mean.fill_(99.0)
    net.eval()
    batches = [{"image": torch.full((1, 1, 2, 2), v)} for v in (1.0, 3.0)]
    refresh_batch_norm(net, batches)
    # per batch the channel means are (2v, -v): averaged over v = 1 and 3, (4, -2)
    assert torch.allclose(net[1].running_mean, torch.tensor([4.0, -2.0]))
    assert not net.training and net[1].momentum == 0.1


def test_fine_tuning_writes_a_verified_bundle(tmp_path: Path) -> None:
    samples = [make_sample(*toy_frame(i), 0.15, 0.15) for i in range(3)]
    report = train(samples[:2], samples[2:], tmp_path / "b", init=None, config=TINY, log=lambda m: None)
    assert set(report["before"]) == {"ovary_dice", "follicle_dice"} and report["steps"] == 2
    weights = Path(report["weights"])
    metadata = read_metadata(tmp_path / "b")
    assert metadata["weights_sha256"] == file_sha256(weights)
    assert (tmp_path / "b" / "configs" / "inference.json").is_file()
    recipe = json.loads((tmp_path / "b" / "configs" / "train.json").read_text())
    assert recipe["train"]["max_steps"] == TINY.max_steps and recipe["train"]["crop"] == TINY.crop
    assert recipe["data"] == {**recipe["data"], "n_train": 2, "n_val": 1, "init": None}
    again = train(samples[:2], samples[2:], tmp_path / "c", init=weights, config=TINY, log=lambda m: None,
                  command="follicle-seg train --init b", data_info={"generator": "toy_frame"})
    assert json.loads((tmp_path / "c" / "configs" / "train.json").read_text())["data"]["generator"] == "toy_frame"
    assert again["before"] == pytest.approx(report["after"])
    assert read_metadata(tmp_path / "c")["version"] != metadata["version"]
    assert read_metadata(tmp_path / "c")["trained"]["command"] == "follicle-seg train --init b"
    load_network(Path(again["weights"]))


def _png_dir(root: Path, n: int, first: int = 0) -> Path:
    """``n`` PNG pairs ``f0``, ``f1``, ... of toy frames ``first``, ``first + 1``, ..."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        pixels, labels = toy_frame(first + i)
        Image.fromarray(pixels).convert("RGB").save(root / "images" / f"f{i}.png")
        Image.fromarray(labels).save(root / "masks" / f"f{i}.png")
    (root / "spacing.csv").write_text("name,spacing_row_mm,spacing_col_mm\nf0,0.2,0.25\n")
    return root


def test_png_pairs_are_read_with_optional_spacing(tmp_path: Path) -> None:
    pairs = read_image_pairs(_png_dir(tmp_path, 2))
    assert [p[0] for p in pairs] == ["f0", "f1"]
    assert pairs[0][3:] == (0.2, 0.25) and pairs[1][3:] == (None, None)
    assert pairs[0][1].ndim == 2 and pairs[0][2].max() == 2


def test_png_pairs_reject_bad_masks(tmp_path: Path) -> None:
    root = _png_dir(tmp_path / "a", 1)
    Image.fromarray(np.full((120, 150), 4, np.uint8)).save(root / "masks" / "f0.png")
    with pytest.raises(RejectedInput, match="0, 1"):
        read_image_pairs(root)
    (root / "masks" / "f0.png").unlink()
    with pytest.raises(RejectedInput, match="no mask"):
        read_image_pairs(root)
    with pytest.raises(RejectedInput, match="images/ and masks/"):
        read_image_pairs(tmp_path / "nothing")


def test_train_command_fine_tunes_from_png_pairs(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(train_command)
    data = _png_dir(tmp_path / "data", 4)
    result = CliRunner().invoke(app, ["--data", str(data), "--out", str(tmp_path / "out"), "--max-steps", "2",
                                      "--batch-size", "2", "--crop", "64", "--val-every", "1", "--device", "cpu",
                                      "--weight-decay", "0.05"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "train_report.json").read_text())
    assert report["n_train"] == 3 and report["n_val"] == 1
    recipe = json.loads((tmp_path / "out" / "configs" / "train.json").read_text())
    assert recipe["optimizer"]["weight_decay"] == 0.05 == recipe["train"]["weight_decay"]


def test_train_command_from_scratch_writes_the_chosen_network_into_the_bundle(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(train_command)
    data = _png_dir(tmp_path / "data", 4)
    args = ["--data", str(data), "--max-steps", "1", "--batch-size", "2", "--crop", "64", "--val-every", "1",
            "--device", "cpu"]
    bad = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "bad"), "--network", "resnet"])
    assert bad.exit_code != 0 and "--network must be one of" in bad.output
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out"), "--network", "unet_res_resize"])
    assert result.exit_code == 0, result.output
    config = tmp_path / "out" / "configs" / "inference.json"
    definition = json.loads(config.read_text())["network_def"]
    assert definition["_target_"] == "follicle_seg.model.network.ResizeConvUNet"
    net = load_network(tmp_path / "out" / "models" / "model.pt")
    assert isinstance(net, ResizeConvUNet)
    # MONAI's own parser builds the same module from the bundle, and every weight fits it
    parser = ConfigParser()
    parser.read_config(config)
    parsed = parser.get_parsed_content("network_def")
    parsed.load_state_dict(torch.load(tmp_path / "out" / "models" / "model.pt", weights_only=True))
    assert type(parsed) is ResizeConvUNet


def _outline_dir(root: Path, n: int) -> Path:
    """PNG pairs whose masks are ovary outlines with the follicles not drawn (value 3)."""
    root = _png_dir(root, n)
    for path in (root / "masks").glob("*.png"):
        labels = np.asarray(Image.open(path))
        Image.fromarray(((labels > 0) * OUTLINE).astype(np.uint8)).save(path)
    return root


def test_outline_masks_are_read_and_validated_on_the_ovary_only(tmp_path: Path) -> None:
    pairs = read_image_pairs(_outline_dir(tmp_path / "d", 2))
    assert set(np.unique(pairs[0][2])) == {0, OUTLINE}
    samples = [make_sample(px, lab, sr, sc) for _, px, lab, sr, sc in pairs]
    out = train_transforms(64).set_random_state(1)(dict(samples[0]))
    assert set(np.unique(np.asarray(out[0]["label"]))) <= {0.0, float(OUTLINE)}
    from follicle_seg.model.network import build_network
    from follicle_seg.model.train import validate

    assert set(validate(build_network(), samples)) == {"ovary_dice"}
    full = make_sample(*toy_frame(5), 0.15, 0.15)
    assert set(validate(build_network(), samples + [full])) == {"ovary_dice", "follicle_dice"}


def test_marginal_loss_ignores_the_ovary_follicle_split_inside_an_outline() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 16, 16)
    swapped = logits[:, [0, 2, 1]]  # ovary and follicle exchanged
    label = torch.zeros(2, 1, 16, 16)
    label[:, :, 4:12, 4:12] = OUTLINE
    loss = MarginalDiceCELoss()
    assert float(loss(logits, label)) == pytest.approx(float(loss(swapped, label)), rel=1e-5)
    full = torch.zeros(2, 1, 16, 16)
    full[:, :, 4:12, 4:12] = 1
    assert float(loss(logits, full)) == pytest.approx(float(DiceCELoss(to_onehot_y=True, softmax=True)(logits, full)))
    assert float(loss(logits, full)) != pytest.approx(float(loss(swapped, full)), rel=1e-3)
    mixed = torch.cat([label[:1], full[1:]])
    expected = (float(loss(logits[:1], label[:1])) + float(loss(logits[1:], full[1:]))) / 2
    assert float(loss(logits, mixed)) == pytest.approx(expected, rel=1e-5)


def test_data_share_repeats_own_frames_among_synthetic_ones(tmp_path: Path, monkeypatch) -> None:
    from follicle_seg.model import cli

    synthetic = [make_sample(*toy_frame(10 + i), 0.15, 0.15) for i in range(6)]
    monkeypatch.setattr(cli, "synthetic_samples", lambda *a, **k: (synthetic, []))
    seen = {}
    monkeypatch.setattr("follicle_seg.model.train.train",
                        lambda tr, va, out, **kw: seen.update(n_train=len(tr), n_val=len(va)) or
                        {"before": {}, "after": {}, "steps": 0, "minutes": 0.0, "weights": ""})
    app = typer.Typer()
    app.command()(train_command)
    data = _outline_dir(tmp_path / "data", 4)
    args = ["--data", str(data), "--synthetic", "6", "--out", str(tmp_path / "o"), "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "--data-share", "0.5"])
    assert result.exit_code == 0, result.output
    assert seen == {"n_train": 3 * 2 + 6, "n_val": 1}
    assert CliRunner().invoke(app, [*args, "--data-share", "1"]).exit_code != 0
    val = _png_dir(tmp_path / "val", 2, first=4)  # frames not trained on
    result = CliRunner().invoke(app, [*args, "--val-data", str(val)])
    assert result.exit_code == 0, result.output
    assert seen == {"n_train": 4 + 6, "n_val": 2}


def test_evaluate_refuses_outline_only_masks(tmp_path: Path) -> None:
    from follicle_seg.model.cli import evaluate_command

    app = typer.Typer()
    app.command()(evaluate_command)
    data = _outline_dir(tmp_path / "data", 1)
    (data / "spacing.csv").write_text("name,spacing_row_mm,spacing_col_mm\nf0,0.2,0.2\n")
    result = CliRunner().invoke(app, ["--data", str(data), "--device", "cpu", "--no-baseline"])
    assert result.exit_code != 0 and "follicles drawn" in result.output


def test_evaluate_names_the_frames_without_a_pixel_size(tmp_path: Path) -> None:
    from follicle_seg.model.cli import evaluate_command

    app = typer.Typer()
    app.command()(evaluate_command)
    data = _png_dir(tmp_path / "data", 2)  # spacing.csv gives f0 only
    result = CliRunner().invoke(app, ["--data", str(data), "--device", "cpu", "--no-baseline"])
    assert result.exit_code == 2 and "none for f1: give it in spacing.csv or leave the frame out" in result.output


def test_evaluate_scores_the_reported_follicles_beside_all(tmp_path: Path) -> None:
    from follicle_seg.model.cli import evaluate_command

    app = typer.Typer()
    app.command()(evaluate_command)
    data = _png_dir(tmp_path / "data", 1)
    args = ["--data", str(data), "--device", "cpu", "--no-baseline"]
    result = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "all.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "all.json").read_text())
    net, rep = report["network"], report["network, reported"]
    assert report["settings"]["reported"] is True and net["n_frames"] == rep["n_frames"] == 1
    assert rep["ovary_dice"] == pytest.approx(net["ovary_dice"])  # unreported follicles stay ovary
    assert rep["detection"]["fp"] <= net["detection"]["fp"] and rep["detection"]["tp"] <= net["detection"]["tp"]
    result = CliRunner().invoke(app, [*args, "--no-reported", "--json", str(tmp_path / "net.json")])
    assert result.exit_code == 0, result.output
    assert "network, reported" not in json.loads((tmp_path / "net.json").read_text())
    result = CliRunner().invoke(app, [*args, "--true-ovary", "--json", str(tmp_path / "true.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "true.json").read_text())
    assert [k for k in report if k.startswith("network")] == [
        "network", "network, true ovary", "network, reported", "network, true ovary, reported"]
    assert report["network, true ovary"]["ovary_dice"] == pytest.approx(1.0)
    assert report["network"]["detection"] == net["detection"]  # the extra columns change nothing else
