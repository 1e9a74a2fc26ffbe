"""scripts/ruler_scale.py: the depth ruler's mark interval, and readings at the true scale."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from script_module import SCRIPTS, load_script
from test_few_shot_real_script import _capture  # a made-up capture with its outline (tests/ is on sys.path)


@pytest.fixture()
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # it imports depth_readings and eval_real, as when run from scripts/
    return load_script("ruler_scale")


def _with_ruler(grey: np.ndarray, interval: int | None, start: int = 6, smooth: bool = True) -> np.ndarray:
    """The capture (its speckle smoothed as on a scanner's screen, unless not ``smooth``) beside a black margin holding
    marks every ``interval`` rows (dots, every other one a dash)."""
    out = np.zeros((grey.shape[0], grey.shape[1] + 30), np.uint8)
    out[:, 30:] = ndimage.gaussian_filter(grey, 1.0) if smooth else grey
    if interval:
        for k, row in enumerate(range(start, grey.shape[0] - 2, interval)):
            out[row : row + 2, 12 : (18 if k % 2 else 14)] = 230
    return out


def test_mark_interval_found_beside_a_busy_image(script) -> None:
    grey, _ = _capture(0)
    assert script.ruler_spacing_px(_with_ruler(grey, 25)) == pytest.approx(25.0)
    assert script.ruler_spacing_px(_with_ruler(grey, 17, start=3)) == pytest.approx(17.0)


def test_no_ruler_when_marks_are_too_few_or_irregular(script) -> None:
    grey, _ = _capture(1)
    assert script.ruler_spacing_px(_with_ruler(grey, None)) is None
    assert script.ruler_spacing_px(_with_ruler(grey, 40)) is None  # 4 marks in 160 rows: fewer than 5
    irregular = _with_ruler(grey, None)
    for row in (5, 20, 48, 60, 95, 101, 140):
        irregular[row : row + 2, 12:14] = 230
    assert script.ruler_spacing_px(irregular) is None
    text = _with_ruler(grey, None)
    for row in range(6, 150, 20):
        text[row : row + 12, 5:25] = 230  # blocks too tall for a mark (a column of letters)
    assert script.ruler_spacing_px(text) is None


def test_report_reads_at_the_true_scale_and_skips_captures_without_a_ruler(script, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "real"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i, interval in enumerate((20, 25, None)):
        grey, outline = _capture(i)
        Image.fromarray(_with_ruler(grey, interval)).save(folder / "images" / f"{i}.jpg", quality=95)
        Image.fromarray(_with_ruler(outline.astype(np.uint8) * 255, None, smooth=False)).save(folder / "masks" / f"{i}.png")
    out = tmp_path / "ruler.json"
    assert script.main([str(folder), "--factors", "1", "2", "--device", "cpu", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["no_ruler"] == ["2"]
    assert [r["name"] for r in report["images"]] == ["0", "1"]
    for r, interval in zip(report["images"], (20, 25)):
        assert r["mark_interval_px"] == pytest.approx(interval, abs=0.5)
        rows = 160  # the scan area: the capture without its black margin
        assert r["depth_mm"] == pytest.approx(5.0 / r["mark_interval_px"] * rows)
        assert set(r["factor"]) >= {"1", "2"} and set(r["pipeline_depths"]) == {"70", "50", "100"}
        for reading in [*r["factor"].values(), *r["pipeline_depths"].values()]:
            assert 0.0 <= reading["dice"] <= 1.0 and 0 <= reading["confident_outside"] <= reading["follicles_outside"]
        centred = [r["factor"][f"{f:g}"] for f in script.CENTRED]
        guessed = list(r["pipeline_depths"].values())
        assert r["centred_pick"] == max(centred, key=lambda c: c["score"])
        assert r["pipeline_pick"] == max(guessed, key=lambda c: c["score"])
        assert r["true_and_pipeline_pick"] == max([r["factor"]["1"], *guessed], key=lambda c: c["score"])
    summary = report["summary"]
    assert set(summary) == {"factor_1", "factor_2", "centred_pick", "pipeline_pick", "true_and_pipeline_pick"}
    assert summary["factor_2"]["ovary_dice_mean"] == pytest.approx(
        np.mean([r["factor"]["2"]["dice"] for r in report["images"]]))
    assert summary["pipeline_pick"]["best_reading_mean"] >= summary["pipeline_pick"]["ovary_dice_mean"]
    assert summary["pipeline_pick"]["follicles_outside_per_image"] == pytest.approx(
        np.mean([r["pipeline_pick"]["follicles_outside"] for r in report["images"]]))
    assert "2 captures with a ruler (1 without)" in capsys.readouterr().out


def test_headroom_of_a_pick_by_hand(script) -> None:
    def reading(dice: float, score: float) -> dict[str, float]:
        return {"dice": dice, "score": score}

    def image(guessed: list[tuple[float, float]]) -> dict:
        readings = {d: reading(*g) for d, g in zip(("70", "50", "100"), guessed)}
        return {"pipeline_depths": readings, "factor": {"1": reading(0.0, 0.0)},
                "pipeline_pick": script.best(readings, ["70", "50", "100"])}

    images = [image([(0.8, 0.2), (0.1, 0.3), (0.5, 0.1)]),  # the pick takes 0.1, the best is 0.8
              image([(0.6, 0.4), (0.7, 0.3), (0.65, 0.2)]),  # readings within 0.2: not counted
              image([(0.0, 0.1), (0.9, 0.5), (0.2, 0.2)])]  # the pick takes the best
    h = script.headroom(images, "pipeline_pick")
    assert h["reading_mean"] == pytest.approx((0.8 + 0.1 + 0.5 + 0.6 + 0.7 + 0.65 + 0.0 + 0.9 + 0.2) / 9)
    assert h["best_reading_mean"] == pytest.approx((0.8 + 0.7 + 0.9) / 3)
    assert (h["spread_images"], h["best_picked"]) == (2, 1)
