"""``scripts/train.py``: the settings of the 0.4.0 recipe reach the frames and the training."""

from __future__ import annotations

from pathlib import Path

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
