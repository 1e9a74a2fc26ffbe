"""scripts/depth_readings.py: real-capture accuracy per assumed depth, the pipeline's pick and the oracle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from follicle_seg.instances import labels_from_probs
from follicle_seg.model.infer import Segmenter
from follicle_seg.model.train import dice
from script_module import SCRIPTS, load_script
from test_few_shot_real_script import _capture  # a made-up capture with its outline (tests/ is on sys.path)


@pytest.fixture()
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # it imports eval_real, as when run from scripts/
    return load_script("depth_readings")


def test_pick_keeps_the_best_scoring_reading_and_the_first_on_a_tie(script) -> None:
    readings = {70.0: (0.5, 0.1), 50.0: (0.9, 0.1), 100.0: (0.2, 0.3)}
    assert script.pick(readings, [70.0, 50.0, 100.0]) == 0.2
    assert script.pick(readings, [70.0, 50.0]) == 0.5
    assert script.pick(readings, [50.0, 70.0]) == 0.9


def _reading(c0: int, c1: int) -> np.ndarray:
    """Probabilities of a 20 x 40 frame with one confident ovary in columns c0:c1 (rows 5:15)."""
    p = np.zeros((3, 20, 40), np.float32)
    p[0] = 1.0
    p[:, 5:15, c0:c1] = np.array([0.1, 0.9, 0.0])[:, None, None]
    return p


def test_consensus_takes_the_reading_the_others_agree_with_and_the_mean_reading(script) -> None:
    truth = np.zeros((20, 40), bool)
    truth[5:15, 28:38] = True
    # two readings put the ovary on the left, one (the most confident: the largest) on the right
    probs = {70.0: _reading(2, 12), 50.0: _reading(3, 13), 100.0: _reading(26, 40)}
    result = script.consensus(probs, truth, [70.0, 50.0, 100.0])
    assert result["medoid_pick"] == 0.0                      # the left pair outvotes the right one
    seen_at_70 = np.zeros((20, 40), bool)
    seen_at_70[5:15, 2:12] = True                            # 70 and 50 mm agree equally: the first wins
    assert script.consensus(probs, seen_at_70, [70.0, 50.0, 100.0])["medoid_pick"] == 1.0
    assert script.pick(script.score_readings(probs, truth), [70.0, 50.0, 100.0]) == pytest.approx(20 / 24)
    # the mean: ovary where both left readings see it (0.6 against 0.4), background where one
    # reading alone does (0.3 against 0.7): columns 3:12
    assert result["fused_mean"] == 0.0
    fused = np.zeros((20, 40), bool)
    fused[5:15, 3:12] = True
    assert script.consensus(probs, fused, [70.0, 50.0, 100.0])["fused_mean"] == 1.0


def test_a_reading_at_a_depth_is_the_pipelines_uncalibrated_reading_at_that_depth(script) -> None:
    grey, outline = _capture(0)
    probs = Segmenter(None, device="cpu", uncalibrated_depths_mm=(100.0,)).predict([(grey, None, None)])[0][0]
    readings = script.read_at_depths(Segmenter(None, device="cpu"), grey, outline, [100.0, 50.0])
    assert readings[100.0][0] == pytest.approx(dice(labels_from_probs(probs) > 0, outline))
    assert set(readings) == {100.0, 50.0} and all(0.0 <= d <= 1.0 and s >= 0.0 for d, s in readings.values())


def test_report_per_depth_pick_and_oracle(script, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "real"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i in range(2):
        grey, outline = _capture(i)
        Image.fromarray(grey).save(folder / "images" / f"{i}.jpg", quality=95)
        Image.fromarray(outline.astype(np.uint8) * 255).save(folder / "masks" / f"{i}.png")
    out = tmp_path / "depths.json"
    assert script.main([str(folder), "--depths", "50", "70", "100", "140", "--device", "cpu", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["name"] for r in report["images"]] == ["0", "1"]
    for r in report["images"]:
        assert set(r["dice"]) == {"50", "70", "100", "140"}
        assert r["oracle_all"] == max(r["dice"].values()) >= r["pick_all"]
        assert r["oracle_pipeline"] == max(r["dice"][k] for k in ("50", "70", "100")) >= r["pipeline_pick"]
        assert r["oracle_pipeline"] >= r["medoid_pick"] and 0.0 <= r["fused_mean"] <= 1.0
    assert report["summary"]["depth_140"]["ovary_dice_mean"] == pytest.approx(
        np.mean([r["dice"]["140"] for r in report["images"]]))
    assert "oracle_all" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.main([str(folder), "--depths", "70", "140"])  # lacks the pipeline's 50 and 100 mm
