"""``scripts/train.py``: the settings of the 0.4.0 recipe reach the frames and the training."""

from __future__ import annotations

from pathlib import Path

import pytest

from script_module import load_script  # tests/ is on sys.path


def test_the_script_takes_the_layered_share_and_checkpoint_bound(tmp_path: Path, monkeypatch) -> None:
    script = load_script("train")
    seen: dict = {}
    monkeypatch.setattr(script, "synthetic_samples",
                        lambda n_train, n_val, cache, **kw: seen.update(kw, n_val=n_val) or ([], []))
    monkeypatch.setattr(script, "train", lambda tr, va, out, **kw: seen.update(kw) or
                        {"steps": 0, "minutes": 0.0, "after": {}})
    assert script.main(["--out", str(tmp_path / "b"), "--n-train", "4", "--n-val", "250", "--layered-share", "0.5",
                        "--keep-checkpoints", "0", "--device", "cpu"]) == 0
    assert seen["layered_share"] == 0.5 and seen["n_val"] == 250
    assert seen["config"].keep_checkpoints == 0
    assert "layered_share=0.5" in seen["data_info"]["generator"]
    # the bundle records the command with its folders by their last name (--out held the whole path)
    assert seen["command"].startswith("python scripts/train.py --out b --n-train 4") and str(tmp_path) not in seen["command"]
    with pytest.raises(SystemExit):  # an abbreviated path option would be recorded whole: refused
        script.main(["--ou", str(tmp_path / "b"), "--device", "cpu"])


def _refused(script, argv: list[str], capsys) -> str:
    """The one-line usage error of ``argv``, given before any frame is made."""
    with pytest.raises(SystemExit) as stop:
        script.main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


def _no_frames(script, monkeypatch) -> None:
    def made(*args, **kw):
        raise AssertionError("frames made")

    monkeypatch.setattr(script, "synthetic_samples", made)


def test_another_architecture_is_refused_in_the_shipped_bundle_from_any_folder(tmp_path: Path, monkeypatch,
                                                                              capsys) -> None:
    from follicle_seg.model.paths import shipped_bundle_root

    script = load_script("train")
    _no_frames(script, monkeypatch)
    monkeypatch.chdir(tmp_path)  # not the repository
    err = _refused(script, ["--out", str(shipped_bundle_root()), "--network", "basicunet"], capsys)
    assert err.endswith("is the shipped bundle: only the shipped architecture (unet_res) may be written there")
    monkeypatch.setattr(script, "synthetic_samples", lambda *a, **kw: ([], []))  # "." is not the shipped bundle here
    monkeypatch.setattr(script, "train", lambda tr, va, out, **kw: {"steps": 0, "minutes": 0.0, "after": {}})
    assert script.main(["--out", ".", "--network", "basicunet", "--device", "cpu"]) == 0


def test_a_device_the_machine_lacks_is_one_line_before_the_frame_cache_is_made(tmp_path: Path, monkeypatch,
                                                                               capsys) -> None:
    import torch

    script = load_script("train")
    _no_frames(script, monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = _refused(script, ["--out", str(tmp_path / "b"), "--device", "cuda"], capsys)
    assert err.endswith("--device cuda: device 'cuda' requested but no CUDA GPU is available.")
