"""scripts/compare_recipes.py: two recipes, several seeds each, compared on the same real images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from script_module import SCRIPTS, load_script  # tests/ is on sys.path


@pytest.fixture()
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # it imports eval_real, as when run from scripts/
    return load_script("compare_recipes")


def _run(tmp_path: Path, name: str, dice: list[float], extra: dict[str, float] | None = None) -> Path:
    rows = [{"name": f"img{i}", "ovary_dice": d} for i, d in enumerate(dice)]
    rows += [{"name": k, "ovary_dice": v} for k, v in (extra or {}).items()]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"summary": {}, "images": rows}), encoding="utf-8")
    return path


def test_means_spread_and_paired_counts_on_hand_made_runs(script, tmp_path) -> None:
    a1 = _run(tmp_path, "a1", [0.2, 0.4, 0.6, 0.8], extra={"only_in_a1": 1.0})  # not shared: ignored
    a2 = _run(tmp_path, "a2", [0.4, 0.4, 0.6, 0.6])
    b1 = _run(tmp_path, "b1", [0.5, 0.4, 0.7, 0.7])
    report = script.compare([a1, a2], [b1])
    assert report["n_images"] == 4
    assert report["a"]["networks"] == {str(a1): pytest.approx(0.5), str(a2): pytest.approx(0.5)}
    assert report["a"]["seed_sd"] == pytest.approx(0.0) and report["a"]["seed_range"] == pytest.approx(0.0)
    assert report["b"]["mean"] == pytest.approx(0.575) and report["b"]["seed_sd"] is None
    # seed-averaged A: 0.3, 0.4, 0.6, 0.7 -> B - A: +0.2, 0, +0.1, 0
    assert report["difference"] == pytest.approx(0.075)
    assert report["paired_seed_averaged"]["better"] == 2 and report["paired_seed_averaged"]["worse"] == 0
    assert report["seed_spread_seen"] is False


def test_verdict_follows_the_spread_between_seeds(script, tmp_path) -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, 60)
    # Recipe B is 0.1 better on every image and its seeds agree: decided.
    a = [_run(tmp_path, f"a{k}", list(base + s)) for k, s in enumerate([0.0, 0.01])]
    b = [_run(tmp_path, f"b{k}", list(base + 0.1 + s)) for k, s in enumerate([0.0, 0.01])]
    report = script.compare(a, b)
    assert report["verdict"] == "B better" and report["bootstrap_95"][0] > 0
    assert script.compare(b, a)["verdict"] == "B worse"
    # The same mean gain, but one of B's seeds is below A: undecided.
    b_noisy = [_run(tmp_path, "bn0", list(base + 0.3)), _run(tmp_path, "bn1", list(base - 0.09))]
    noisy = script.compare(a, b_noisy)
    assert noisy["difference"] == pytest.approx(report["difference"]) == pytest.approx(0.1)
    assert noisy["verdict"] == "undecided" and noisy["b"]["seed_range"] == pytest.approx(0.39)


def test_a_file_that_is_not_an_eval_real_report_is_named(script, tmp_path, capsys) -> None:
    good = _run(tmp_path, "good", [0.5])
    bad = tmp_path / "bad.json"
    bad.write_text('{"summary": {}}', encoding="utf-8")
    with pytest.raises(SystemExit):
        script.main(["--a", str(good), "--b", str(bad)])
    assert "bad.json: not an eval_real.py or ruler_scale.py --json file" in capsys.readouterr().err
    depths = tmp_path / "depths.json"  # scripts/depth_readings.py's: images, but no ovary_dice
    depths.write_text(json.dumps({"images": [{"name": "img0", "dice": {"70": 0.5}}]}), encoding="utf-8")
    with pytest.raises(SystemExit):
        script.main(["--a", str(good), "--b", str(depths)])
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"{depths}: no image with an ovary Dice (eval_real.py's "
                                                             "ovary_dice, or ruler_scale.py's reading at factor 1)")


def test_ruler_scale_files_are_read_at_the_true_scale(script, tmp_path) -> None:
    def ruler(name: str, dice: list[float]) -> Path:
        rows = [{"name": f"img{i}", "factor": {"0.75": {"dice": 0.0}, "1": {"dice": d}}}
                for i, d in enumerate(dice)]
        rows.append({"name": "no_ruler_read", "factor": {}})  # no true-scale reading: left out
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"summary": {}, "images": rows}), encoding="utf-8")
        return path

    report = script.compare([ruler("a", [0.2, 0.4])], [ruler("b", [0.6, 0.4])])
    assert report["n_images"] == 2
    assert report["a"]["mean"] == pytest.approx(0.3) and report["difference"] == pytest.approx(0.2)
