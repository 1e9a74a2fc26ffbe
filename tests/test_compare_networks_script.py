"""scripts/compare_networks.py --speed-only: parameters and timings of the candidate networks."""

from __future__ import annotations

import json
from pathlib import Path

from script_module import load_script  # tests/ is on sys.path


def _script():
    return load_script("compare_networks")


def test_speed_only_reports_every_named_candidate_and_the_device(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    assert _script().main(["--speed-only", "--networks", "unet_res", "unet_res_resize", "--device", "cpu",
                           "--repeats", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["threads"] >= 1
    assert set(report["results"]) == {"unet_res", "unet_res_resize"}
    assert report["results"]["unet_res"]["parameters_m"] == 0.586  # 586,185 trainable parameters
    assert report["results"]["unet_res_resize"]["parameters_m"] == 0.413  # 1x1 up-convolutions instead of 3x3
    for row in report["results"].values():
        assert row["forward_ms_320x384"] > 0 and row["train_step_ms_8x160"] > 0


def test_a_device_the_machine_lacks_is_one_line_before_the_frame_cache_is_made(tmp_path: Path, monkeypatch,
                                                                               capsys) -> None:
    import pytest
    import torch

    script = _script()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def made(*args, **kw):
        raise AssertionError("frames made")

    monkeypatch.setattr(script, "synthetic_samples", made)
    with pytest.raises(SystemExit) as stop:
        script.main(["--device", "cuda", "--cache", str(tmp_path / "cache"), "--work", str(tmp_path / "w")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "--device cuda: device 'cuda' requested but no CUDA GPU is available.")
