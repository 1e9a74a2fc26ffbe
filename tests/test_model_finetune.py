"""Fine-tuning guards: the starting weights as the bar, the split by source, honest bundles,
checks before any data is read, interrupts and bounded checkpoints (a couple of steps each)."""

from __future__ import annotations

import json
import os
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from follicle_seg.filehash import file_sha256
from follicle_seg.model import train as train_module
from follicle_seg.model.bundle import missing_metadata_keys
from follicle_seg.model.metadata import read_metadata
from follicle_seg.model.cli import train_command
from follicle_seg.model.data import make_sample, source_of
from follicle_seg.model.network import build_network
from follicle_seg.model.paths import WEIGHTS, shipped_bundle_root
from follicle_seg.model.train import (
    TrainingInterrupted, beats, fit, kept_step, score, split_holdout, train, validate,
)
from toy_frames import TINY, toy_frame  # tests/ is on sys.path


def samples(n: int) -> list[dict]:
    return [make_sample(*toy_frame(i), 0.15, 0.15) for i in range(n)]


def png_dir(root: Path, names: list[str], empty: tuple[str, ...] = ()) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, name in enumerate(names):
        pixels, labels = toy_frame(i)
        Image.fromarray(pixels).save(root / "images" / f"{name}.png")
        Image.fromarray(labels * (name not in empty)).save(root / "masks" / f"{name}.png")
    return root


def cli(args: list[str]):
    app = typer.Typer()
    app.command()(train_command)
    return CliRunner().invoke(app, args)


FAST = ["--max-steps", "2", "--batch-size", "2", "--crop", "64", "--val-every", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def start_bundle(tmp_path_factory) -> Path:
    """A bundle to fine-tune from: two steps from scratch on toy frames."""
    out = tmp_path_factory.mktemp("start") / "b"
    s = samples(3)
    train(s[:2], s[2:], out, config=TINY, log=lambda m: None)
    return out


# -- 1: the starting weights are the bar ----------------------------------------------------------


def test_fit_never_returns_weights_below_the_bar() -> None:
    s = samples(3)
    torch.manual_seed(0)
    net = build_network()
    start = {k: v.clone() for k, v in net.state_dict().items()}
    bar = {"ovary_dice": 10.0}  # Dice sums never reach 10
    state, history = fit(net, s[:2], s[2:], TINY, log=lambda m: None, bar=bar)
    assert len(history) == 2 and kept_step(history, bar, True) == 0
    assert all(torch.equal(start[k], v) for k, v in state.items())


class Replay(torch.nn.Module):
    """A stand-in network whose argmax is the next of the given label maps."""

    def __init__(self, maps: list[np.ndarray]) -> None:
        super().__init__()
        self.maps = iter(maps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        labels = torch.from_numpy(next(self.maps)).long()
        return torch.nn.functional.one_hot(labels, 3).permute(2, 0, 1)[None].float()


def test_a_stray_follicle_pixel_on_a_follicle_free_frame_cannot_outweigh_an_ovary_dice_drop() -> None:
    # the audit's case: the starting weights draw the ovaries right and put one follicle pixel
    # (of 4,096) on the one held-out frame without follicles; the candidate draws no stray pixel
    # and a worse ovary (Dice 0.12 down). Per frame (1.0 for no follicle in truth and prediction)
    # the pixel cost the start a quarter of the follicle Dice, and the candidate was kept.
    rr, cc = np.mgrid[:64, :64]
    ovary = ((rr - 32) / 24) ** 2 + ((cc - 32) / 28) ** 2 < 1
    truths = []
    for k in range(4):
        labels = ovary.astype(np.uint8)
        if k < 3:
            labels[26:38, 26:38] = 2
        truths.append(labels)
    start_maps = [t.copy() for t in truths]
    start_maps[3][32, 32] = 2  # the stray pixel
    smaller = ovary & (((rr - 32) / 21) ** 2 + ((cc - 32) / 25) ** 2 < 1)
    candidate_maps = [np.where(t == 2, 2, smaller).astype(np.uint8) for t in truths]
    frames = [{"image": np.ones((1, 64, 64), np.float32), "fan": np.ones((1, 64, 64), np.float32),
               "label": t[None].astype(np.float32)} for t in truths]
    start = validate(Replay(start_maps), frames)
    candidate = validate(Replay(candidate_maps), frames)
    assert start["ovary_dice"] == 1.0 and 0.99 < start["follicle_dice"] < 1.0  # one pixel, not one frame
    assert candidate["follicle_dice"] == 1.0 and 0.8 < candidate["ovary_dice"] < 0.9
    assert not beats(candidate, score(start), start)
    assert kept_step([{"step": 1, **candidate}], start, True) == 0


def test_follicles_painted_on_follicle_free_held_out_frames_cost() -> None:
    """With no follicle in the held-out truth the follicle Dice was left out: weights painting
    follicles over the whole ovary scored as well as right ones."""
    rr, cc = np.mgrid[:64, :64]
    ovary = (((rr - 32) / 24) ** 2 + ((cc - 32) / 28) ** 2 < 1).astype(np.uint8)
    frames = [{"image": np.ones((1, 64, 64), np.float32), "fan": np.ones((1, 64, 64), np.float32),
               "label": ovary[None].astype(np.float32)} for _ in range(3)]
    right = validate(Replay([ovary] * 3), frames)
    stray = ovary.copy()
    stray[32, 32] = 2
    one_pixel = validate(Replay([stray] * 3), frames)
    painted = validate(Replay([ovary * 2] * 3), frames)
    assert right == {"ovary_dice": 1.0, "follicle_dice": 1.0}
    assert 0.99 < one_pixel["follicle_dice"] < 1.0 and painted["follicle_dice"] == 0.0
    assert score(painted) < score(one_pixel) < score(right)


def test_fine_tuning_keeps_no_follicle_gain_bought_with_a_worse_ovary(tmp_path: Path, start_bundle: Path,
                                                                      monkeypatch) -> None:
    # before; step 1: follicles up by more than the ovary falls (a higher sum), step 2: the ovary
    # 0.01 down at most but a lower sum. Neither is kept, and the report says what would have been.
    scores = iter([{"ovary_dice": 0.756, "follicle_dice": 0.75}, {"ovary_dice": 0.636, "follicle_dice": 1.0},
                   {"ovary_dice": 0.75, "follicle_dice": 0.7}])
    monkeypatch.setattr(train_module, "validate", lambda *a, **k: next(scores))
    said: list[str] = []
    report = train(samples(3)[:2], samples(3)[2:], tmp_path / "c", init=start_bundle / WEIGHTS, config=TINY,
                   log=said.append, note="fine-tuned", data_source="3 frames of site/")
    assert report["kept_step"] == 0 and report["improved"] is False and report["after"] == report["before"]
    assert file_sha256(tmp_path / "c" / WEIGHTS) == file_sha256(start_bundle / WEIGHTS)
    assert "ovary Dice at most 0.01 below theirs" in report["kept"]
    assert any("kept the starting weights" in line and "ovary Dice at most 0.01 below" in line for line in said)
    assert not any("follicle Dice not scored" in line for line in said)


def test_fine_tuning_that_beats_nothing_keeps_the_starting_bundle(tmp_path: Path, start_bundle: Path,
                                                                 monkeypatch) -> None:
    scores = iter([0.9, 0.5, 0.4])  # before, then each validation: worse than the start
    monkeypatch.setattr(train_module, "validate", lambda *a, **k: {"ovary_dice": next(scores)})
    said: list[str] = []
    init = start_bundle / WEIGHTS
    report = train(samples(3)[:2], samples(3)[2:], tmp_path / "c", init=init, config=TINY, log=said.append,
                   note="fine-tuned", data_source="3 frames of site/")
    assert report["kept_step"] == 0 and report["steps"] == 2 and report["improved"] is False
    assert report["after"] == report["before"] == {"ovary_dice": 0.9}
    assert file_sha256(tmp_path / "c" / WEIGHTS) == file_sha256(init)  # once: the worse step-2 weights, 0.0.2
    assert read_metadata(tmp_path / "c") == read_metadata(start_bundle)  # no version bump, no claim
    assert any("kept the starting weights" in line for line in said)
    assert any(line.startswith("follicle Dice not scored") for line in said)  # no follicle_dice held out
    on_disk = json.loads((tmp_path / "c" / "train_report.json").read_text())
    assert on_disk["improved"] is False and "starting weights" in on_disk["kept"]


def test_fine_tuning_that_improves_records_the_kept_step_and_its_data(tmp_path: Path, start_bundle: Path,
                                                                     monkeypatch) -> None:
    scores = iter([0.3, 0.6, 0.5, 0.6])  # before, step 1 (kept), step 2, after (step 1's weights)
    monkeypatch.setattr(train_module, "validate", lambda *a, **k: {"ovary_dice": next(scores)})
    report = train(samples(3)[:2], samples(3)[2:], tmp_path / "c", init=start_bundle / WEIGHTS, config=TINY,
                   log=lambda m: None, note="fine-tuned", data_source="3 annotated frames of site/ (site data)")
    assert report["steps"] == 2 and report["kept_step"] == 1 and report["improved"] is True
    assert report["kept"].startswith("the weights of step 1: the best held-out ovary + follicle Dice above")
    metadata = read_metadata(tmp_path / "c")
    start = read_metadata(start_bundle)
    assert metadata["version"] != start["version"] and metadata["trained"]["init_version"] == start["version"]
    assert metadata["data_source"].startswith(f"fine-tuned from version {start['version']}")
    assert "site data" in metadata["data_source"] and "synthetic" not in metadata["data_source"]
    assert "Trained only on synthetic frames" not in metadata["description"]
    assert "0.300 -> ovary 0.600" in metadata["changelog"][metadata["version"]]
    recipe = json.loads((tmp_path / "c" / "configs" / "train.json").read_text())
    assert "generator" not in recipe["data"] and recipe["data"]["source"].startswith("3 annotated frames")
    assert "fine-tuned from" in recipe["description"]


# -- 2: the held-out split keeps a source's frames together --------------------------------------


def test_split_keeps_the_frames_of_one_source_on_one_side() -> None:
    names = [f"{uid}_{k}" for uid in ("1.2.3", "1.2.4", "1.2.5", "1.2.6") for k in range(5)]
    sources = [source_of(n) for n in names]
    for seed in range(10):
        tr, va = split_holdout(len(names), 0.2, seed, sources)
        assert {sources[i] for i in tr}.isdisjoint({sources[i] for i in va}) and len(va) == 5
    assert split_holdout(len(names), 0.2, 3, sources) == split_holdout(len(names), 0.2, 3, sources)
    assert split_holdout(4, 0.5, 0, ["a"] * 4) == ([0, 1, 2, 3], [])  # one source cannot be split
    # a source far larger than the share is not held out when smaller ones come closer to it
    two_sweeps = ["s1"] * 30 + ["s2"] * 30 + ["a", "b", "c", "d"]
    assert [len(split_holdout(64, 0.2, seed, two_sweeps)[1]) for seed in range(6)] == [4] * 6
    assert split_holdout(4, 0.0, 0) == ([0, 1, 2, 3], [])  # 0: none (once 1 frame all the same)


def test_train_command_holds_out_whole_sources_and_says_when_it_cannot(tmp_path: Path, monkeypatch) -> None:
    seen: dict = {}
    monkeypatch.setattr("follicle_seg.model.train.train",
                        lambda tr, va, out, **kw: seen.update(tr=tr, va=va, **kw) or {"steps": 0})
    data = png_dir(tmp_path / "d", [f"sweep{s}_{k}" for s in range(3) for k in range(3)])
    result = cli(["--data", str(data), "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0, result.output
    assert len(seen["va"]) == 3 and "3 source(s)" in result.output  # one sweep of three, not three strays
    # numbered pictures (img_000.png, ...): one "source" by name, a guess; each a file of its own,
    # held out one by one (they were left without a held-out frame: no bar, no early stopping)
    numbered = png_dir(tmp_path / "one", [f"img_{k:03d}" for k in range(5)])
    result = cli(["--data", str(numbered), "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0 and len(seen["va"]) == 1
    assert "(5 source(s): each a picture of its own, held out one by one" in result.output and "--val-data" in result.output
    # a NIfTI stack is one source for sure: not split, said
    import nibabel as nib

    stack = tmp_path / "stack"
    (stack / "images").mkdir(parents=True)
    (stack / "masks").mkdir()
    frames = [toy_frame(i) for i in range(4)]
    for folder, arrays, dtype in (("images", [p for p, _ in frames], np.uint8), ("masks", [m for _, m in frames], np.int16)):
        data = np.ascontiguousarray(np.transpose(np.stack(arrays), (2, 1, 0)).astype(dtype))
        nib.save(nib.Nifti1Image(data, np.diag([0.2, 0.2, 1.0, 1.0])), str(stack / folder / "sweep.nii.gz"))
    result = cli(["--data", str(stack), "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0 and seen["va"] == []
    assert "no held-out frames (all 4 frames are of one source (sweep: a stack or cine)" in result.output
    single = png_dir(tmp_path / "single", ["img_000"])
    result = cli(["--data", str(single), "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0 and seen["va"] == []
    assert "no held-out frames (a single frame" in result.output and "no early stopping" in result.output


# -- 6, 7, 10: checks before any data is read ----------------------------------------------------


def test_init_and_out_are_checked_before_the_data(tmp_path: Path, start_bundle: Path, monkeypatch) -> None:
    missing = tmp_path / "no_data"  # never read: the --init error comes first
    result = cli(["--init", str(tmp_path / "models" / "model.pt"), "--data", str(missing), "--out",
                  str(tmp_path / "o"), *FAST])
    assert result.exit_code == 2 and "no such weights file" in result.output and "Traceback" not in result.output
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "step_4.pt").write_bytes((start_bundle / WEIGHTS).read_bytes())
    result = cli(["--init", str(tmp_path / "ck" / "step_4.pt"), "--data", str(missing), "--out", str(tmp_path / "o"),
                  *FAST])
    assert result.exit_code == 2 and "not a bundle's models/model.pt" in result.output
    result = cli(["--init", "shipped", "--data", str(missing), "--out", str(shipped_bundle_root()), *FAST])
    assert result.exit_code == 2 and "shipped bundle's folder" in result.output
    result = cli(["--init", str(start_bundle / WEIGHTS), "--data", str(missing), "--out", str(start_bundle), *FAST])
    assert result.exit_code == 2 and "bundle of --init" in result.output
    seen: dict = {}
    monkeypatch.setattr("follicle_seg.model.train.train", lambda tr, va, out, **kw: seen.update(kw) or {"steps": 0})
    data = png_dir(tmp_path / "d", ["a", "b", "c"])
    monkeypatch.chdir(tmp_path)  # outside the repository: 'shipped' still finds the package's bundle
    result = cli(["--init", "shipped", "--data", str(data), "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0, result.output
    assert seen["init"] == shipped_bundle_root() / WEIGHTS


def test_val_data_that_is_the_data_folder_or_holds_its_frames_is_refused(tmp_path: Path, monkeypatch) -> None:
    """"20 training frames from pairs, 20 held-out from pairs" was accepted: the held-out score was a training score."""
    monkeypatch.setattr("follicle_seg.model.train.train", lambda tr, va, out, **kw: {"steps": 0})
    data = png_dir(tmp_path / "d", ["a", "b", "c"])
    result = cli(["--data", str(data), "--val-data", str(tmp_path / "." / "d"), "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 2 and "is the --data folder" in " ".join(result.output.replace("│", " ").split())
    copy = png_dir(tmp_path / "v", ["x", "y", "b2"])  # toy frames 0-2 again: the pixels of a, b, c
    result = cli(["--data", str(data), "--val-data", str(copy), "--out", str(tmp_path / "o"), *FAST])
    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "3 of 3 held-out frame(s) have the pixels of a training frame" in message
    assert "(b2, x, y)" in message and "Traceback" not in result.output


@pytest.mark.parametrize("fraction", ["5", "1", "-0.1"])
def test_val_fraction_outside_0_1_is_refused(tmp_path: Path, fraction: str) -> None:
    result = cli(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--val-fraction", fraction, *FAST])
    assert result.exit_code == 2 and "[0, 1)" in result.output


def test_no_held_out_frames_and_empty_masks_are_said(tmp_path: Path, monkeypatch) -> None:
    seen: dict = {}
    monkeypatch.setattr("follicle_seg.model.train.train", lambda tr, va, out, **kw: seen.update(va=va) or {"steps": 0})
    data = png_dir(tmp_path / "d", ["a", "b", "c"], empty=("b",))
    result = cli(["--data", str(data), "--out", str(tmp_path / "o"), "--val-fraction", "0", *FAST])
    assert result.exit_code == 0 and seen["va"] == []  # 0 once held out one frame all the same
    assert "no held-out frames (--val-fraction 0)" in result.output
    assert "1 of 3 frame(s) with an empty mask (all background): b" in result.output
    single = png_dir(tmp_path / "s", ["a"])
    result = cli(["--data", str(single), "--out", str(tmp_path / "o"), *FAST])
    assert "no held-out frames (a single frame)" in result.output


# -- 11: interrupts and checkpoints ---------------------------------------------------------------


def test_an_interrupt_writes_the_best_weights_so_far(tmp_path: Path, monkeypatch) -> None:
    scores = iter([0.1, 0.5, 0.3, 0.2, 0.5])  # before, steps 1-3 (1 is the best), after
    monkeypatch.setattr(train_module, "validate", lambda *a, **k: {"ovary_dice": next(scores)})

    def log(message: str) -> None:
        if message.startswith('{"step": 3'):
            raise KeyboardInterrupt  # Ctrl-C

    s = samples(3)
    with pytest.raises(TrainingInterrupted) as caught:
        train(s[:2], s[2:], tmp_path / "b", config=replace(TINY, max_steps=5, checkpoints=str(tmp_path / "ck")),
              log=log)
    report = caught.value.report
    assert report is not None and report["interrupted"] and report["kept_step"] == 1 and report["steps"] == 3
    assert "interrupted" in read_metadata(tmp_path / "b")["changelog"][read_metadata(tmp_path / "b")["version"]]
    assert json.loads((tmp_path / "b" / "train_report.json").read_text())["kept_step"] == 1
    assert read_metadata(tmp_path / "b")["weights_sha256"] == file_sha256(tmp_path / "b" / WEIGHTS)
    written = torch.load(tmp_path / "b" / WEIGHTS, weights_only=True)
    step_1 = torch.load(tmp_path / "ck" / "step_1.pt", weights_only=True)
    assert all(torch.equal(written[k], step_1[k]) for k in step_1)  # step 1's weights, not the last


def test_sigterm_stops_train_with_a_message_and_the_bundle(tmp_path: Path, monkeypatch) -> None:
    from follicle_seg.model import cli as model_cli

    said: list[str] = []

    def log(message: str) -> None:
        said.append(message)
        if message.startswith('{"step": 2'):
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(model_cli, "_log", log)
    handler = signal.getsignal(signal.SIGTERM)
    data = png_dir(tmp_path / "d", ["a", "b", "c"])
    result = cli(["--data", str(data), "--out", str(tmp_path / "o"), *FAST, "--max-steps", "6"])
    assert result.exit_code == 143
    assert any(line.startswith("stopped (SIGTERM): wrote the bundle of the best weights so far") for line in said)
    assert json.loads((tmp_path / "o" / "train_report.json").read_text())["interrupted"] is True
    assert signal.getsignal(signal.SIGTERM) == handler  # put back


def test_checkpoints_keep_the_last_few_and_the_best(tmp_path: Path, monkeypatch) -> None:
    scores = iter([0.2, 0.9, 0.1, 0.3, 0.2])  # step 2 is the best
    monkeypatch.setattr(train_module, "validate", lambda *a, **k: {"ovary_dice": next(scores)})
    config = replace(TINY, max_steps=5, patience=10, checkpoints=str(tmp_path / "ck"), keep_checkpoints=2)
    torch.manual_seed(0)
    fit(build_network(), samples(2), samples(1), config, log=lambda m: None)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["step_2.pt", "step_4.pt", "step_5.pt"]


# -- the bundle's metadata tells what was trained --------------------------------------------------


def test_from_scratch_is_a_new_network_and_fine_tunes_chain_its_versions(tmp_path: Path, start_bundle: Path,
                                                                       monkeypatch) -> None:
    """Trained from scratch without --init, the bundle was version 0.4.1 with the shipped weights'
    whole changelog (0.1.0-0.4.0): a patch of weights it never started from."""
    scratch = read_metadata(start_bundle)
    assert scratch["version"] == "0.1.0" and list(scratch["changelog"]) == ["0.1.0"]
    assert "init" not in scratch["trained"]
    scores = iter([0.3, 0.6, 0.5, 0.6] * 2)  # each run: before, step 1 (kept), step 2, after
    monkeypatch.setattr(train_module, "validate", lambda *a, **k: {"ovary_dice": next(scores)})
    init = start_bundle / WEIGHTS
    for name in ("f1", "f2"):
        train(samples(3)[:2], samples(3)[2:], tmp_path / name, init=init, config=TINY, log=lambda m: None,
              note="fine-tuned", data_source="3 annotated frames of site (site data)")
        init = tmp_path / name / WEIGHTS
    first, second = read_metadata(tmp_path / "f1"), read_metadata(tmp_path / "f2")
    assert first["version"] == "0.1.1" and first["trained"]["init_version"] == "0.1.0"
    assert second["version"] == "0.1.2" and second["trained"]["init_version"] == "0.1.1"
    assert list(second["changelog"]) == ["0.1.2", "0.1.1", "0.1.0"]
    assert missing_metadata_keys(scratch) == missing_metadata_keys(second) == []


def test_the_bundle_records_the_network_trained_not_the_network_option(tmp_path: Path, monkeypatch) -> None:
    """Fine-tuned from a bundle of another architecture, metadata.json's trained.network and
    train.json said 'unet_res' (the --network default), and train.json's network_def was the
    shipped UNet's for any network."""
    s = samples(3)
    train(s[:2], s[2:], tmp_path / "resize", config=replace(TINY, network="unet_res_resize"), log=lambda m: None)
    scratch = read_metadata(tmp_path / "resize")
    assert scratch["description"].startswith("A 2-D MONAI ResizeConvUNet ('unet_res_resize' of ")
    scores = iter([0.3, 0.6, 0.5, 0.6])  # before, step 1 (kept), step 2, after
    monkeypatch.setattr(train_module, "validate", lambda *a, **k: {"ovary_dice": next(scores)})
    train(s[:2], s[2:], tmp_path / "tuned", init=tmp_path / "resize" / WEIGHTS, config=TINY, log=lambda m: None)
    for bundle in ("resize", "tuned"):
        configs = tmp_path / bundle / "configs"
        recipe = json.loads((configs / "train.json").read_text())
        assert read_metadata(tmp_path / bundle)["trained"]["network"] == "unet_res_resize", bundle
        assert recipe["train"]["network"] == "unet_res_resize", bundle
        assert recipe["network_def"] == json.loads((configs / "inference.json").read_text())["network_def"]
        assert recipe["network_def"]["_target_"].endswith("ResizeConvUNet")


def test_the_bundle_names_folders_not_their_paths(tmp_path: Path, start_bundle: Path, monkeypatch) -> None:
    """metadata.json's data_source, description, changelog and trained.command, and train.json,
    held the absolute --data path (and --init, --checkpoints, --out): a hospital's share, a
    folder named for a patient."""
    scores = iter([0.3, 0.6, 0.5, 0.6])  # before, step 1 (kept), step 2, after
    monkeypatch.setattr(train_module, "validate", lambda *a, **k: {"ovary_dice": next(scores)})
    share = tmp_path / "pacs_share"
    data = png_dir(share / "site_a", ["sweep0_0", "sweep1_0", "sweep2_0"])
    (share / "ck").mkdir()
    args = ["--init", str(start_bundle / WEIGHTS), "--data", str(data), f"--out={share / 'tuned'}",
            "--checkpoints", str(share / "ck"), *FAST]
    monkeypatch.setattr("sys.argv", ["follicle-seg", "train", *args])
    result = cli(args)
    assert result.exit_code == 0, result.output
    configs = share / "tuned" / "configs"
    for text, name in [((configs / n).read_text(), n) for n in ("metadata.json", "train.json")] + [
            ((share / "tuned" / "train_report.json").read_text(), "train_report.json")]:  # fmt: skip
        assert str(tmp_path) not in text and "pacs_share" not in text, name
    metadata = read_metadata(share / "tuned")
    assert "3 annotated frames of site_a/ (site data)" in metadata["data_source"]
    assert metadata["trained"]["command"].startswith(f"follicle-seg train --init {start_bundle.name}/models/model.pt --data site_a --out=tuned")
    assert metadata["trained"]["init"] == f"{start_bundle.name}/models/model.pt"
    assert metadata["trained"]["checkpoints"] == "ck"


def test_a_starting_version_that_cannot_be_bumped_is_said_before_training(tmp_path: Path, start_bundle: Path) -> None:
    """A --init bundle whose version was not three numbers ('0.1.0-siteA') trained to the end, then
    died on a ValueError traceback: the training lost, nothing written."""
    from follicle_seg.errors import ModelError

    bundle = tmp_path / "named"
    shutil.copytree(start_bundle, bundle)
    metadata = read_metadata(bundle)
    (bundle / "configs" / "metadata.json").write_text(json.dumps({**metadata, "version": "0.1.0-siteA"}))
    result = cli(["--init", str(bundle / WEIGHTS), "--data", str(tmp_path / "not_read"), "--out", str(tmp_path / "o"),
                  *FAST])
    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "version '0.1.0-siteA' is not MAJOR.MINOR.PATCH" in message and "metadata.json" in message
    with pytest.raises(ModelError, match="is not MAJOR.MINOR.PATCH"):
        train(samples(3)[:2], samples(3)[2:], tmp_path / "o", init=bundle / WEIGHTS, config=TINY, log=lambda m: None)
    assert not (tmp_path / "o").exists()


def test_the_bundle_records_the_versions_it_was_trained_with(tmp_path: Path, monkeypatch) -> None:
    """monai_version, pytorch_version, numpy_version and required_packages_version were the shipped
    bundle's whatever the environment that trained the new one."""
    import monai
    import scipy

    monkeypatch.setattr(monai, "__version__", "1.9.9")  # another install than the shipped bundle's
    s = samples(3)
    train(s[:2], s[2:], tmp_path / "b", config=replace(TINY, max_steps=1), log=lambda m: None)
    metadata = read_metadata(tmp_path / "b")
    assert (metadata["monai_version"], metadata["pytorch_version"]) == ("1.9.9", str(torch.__version__))
    assert metadata["numpy_version"] == np.__version__
    assert metadata["required_packages_version"]["scipy"] == scipy.__version__
    # a package installed under another distribution name (pillow-simd): said unknown, the run kept
    import importlib.metadata

    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == "pillow":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    train(s[:2], s[2:], tmp_path / "c", config=replace(TINY, max_steps=1), log=lambda m: None)
    assert read_metadata(tmp_path / "c")["required_packages_version"]["pillow"] == "unknown"


# -- the report's figures, recomputed outside the training code ------------------------------------


def _held_out_dice_by_hand(weights: Path, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """The held-out figures of train_report.json computed here: each frame at the network scale
    through the bundle's network, argmax, then the ovary Dice per frame (averaged) and the follicle
    Dice pooled over the frames' pixels, counted with plain numpy."""
    from follicle_seg.model.bundle import load_network
    from follicle_seg.model.preprocess import normalise_intensity

    net = load_network(weights).eval()
    ovary, overlap, total = [], 0, 0
    for pixels, labels in pairs:
        sample = make_sample(pixels, labels, 0.15, 0.15)
        image = normalise_intensity(sample["image"][0], sample["fan"][0] > 0.5)
        rows, cols = image.shape
        padded = np.zeros((-(-rows // 16) * 16, -(-cols // 16) * 16), np.float32)
        padded[:rows, :cols] = image
        with torch.no_grad():
            pred = net(torch.from_numpy(padded)[None, None])[0].argmax(0).numpy()[:rows, :cols]
        truth = sample["label"][0]
        p, t = pred > 0, truth > 0
        ovary.append(2 * np.count_nonzero(p & t) / (np.count_nonzero(p) + np.count_nonzero(t)))
        overlap += np.count_nonzero((pred == 2) & (truth == 2))
        total += np.count_nonzero(pred == 2) + np.count_nonzero(truth == 2)
    return {"ovary_dice": sum(ovary) / len(ovary), "follicle_dice": 2 * overlap / total}


def test_the_before_and_after_figures_are_the_held_out_dice_of_the_two_bundles(tmp_path: Path,
                                                                              start_bundle: Path) -> None:
    """`train --init --val-data` end to end (two steps): the report's "before" is the held-out Dice
    of the --init weights, its "after" that of the bundle written (the fine-tuned weights, or the
    starting ones copied), each recomputed here; the bundle loads as `run` and `evaluate` load it."""
    from follicle_seg.model.infer import Segmenter

    data = png_dir(tmp_path / "site", ["a", "b", "c", "d"])
    held = tmp_path / "site_test"
    (held / "images").mkdir(parents=True)
    (held / "masks").mkdir()
    held_pairs = [toy_frame(10 + k, shape=(110 + 10 * k, 160)) for k in range(3)]
    for k, (pixels, labels) in enumerate(held_pairs):
        Image.fromarray(pixels).save(held / "images" / f"t{k}.png")
        Image.fromarray(labels).save(held / "masks" / f"t{k}.png")
    spacing = "name,spacing_row_mm,spacing_col_mm\n" + "".join(f"{n},0.15,0.15\n" for n in "abcd")
    (data / "spacing.csv").write_text(spacing)
    (held / "spacing.csv").write_text("name,spacing_row_mm,spacing_col_mm\n" + "".join(f"t{k},0.15,0.15\n" for k in range(3)))
    out = tmp_path / "tuned"
    result = cli(["--init", str(start_bundle / WEIGHTS), "--data", str(data), "--val-data", str(held),
                  "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "train_report.json").read_text())
    assert (report["n_train"], report["n_val"]) == (4, 3)
    before = _held_out_dice_by_hand(start_bundle / WEIGHTS, held_pairs)
    after = _held_out_dice_by_hand(out / WEIGHTS, held_pairs)
    assert report["before"] == pytest.approx(before, abs=1e-12)
    assert report["after"] == pytest.approx(after, abs=1e-12)
    assert Segmenter(out / WEIGHTS, device="cpu").predict([(held_pairs[0][0], 0.15, 0.15)])[0][0].shape[0] == 3
