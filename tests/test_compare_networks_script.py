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
