"""scripts/review_band.py: band candidates matched to the truth follicles the report missed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from script_module import load_script  # tests/ is on sys.path

review_band = load_script("review_band")
KEY = {"patient_id": "P1", "study_date": "2026-01-05", "laterality": "L"}


def test_band_candidates_count_only_the_true_follicles_the_report_missed(tmp_path: Path) -> None:
    study, run = tmp_path / "study", tmp_path / "run"
    (study / "truth").mkdir(parents=True)
    run.mkdir()
    # truth: two follicles 10 px (2 mm) apart on one still, one too small to count
    pd.DataFrame([{**KEY, "sop_instance_uid": "s1", "centroid_row": r, "centroid_col": c, "mean_diameter_mm": d}
                  for r, c, d in ((50.0, 50.0, 6.0), (50.0, 80.0, 6.0), (90.0, 90.0, 1.5))]).to_csv(
        study / "truth" / "follicles.csv", index=False)  # fmt: skip
    pd.DataFrame([{**KEY, "sop_instance_uid": "s1", "status": "ok", "spacing_row_mm": 0.2, "spacing_col_mm": 0.2}]).to_csv(
        run / "images.csv", index=False)  # fmt: skip
    # reported (0.95) near the first; a band candidate (0.7) nearer the first than the reported one
    # is, but the first is taken: it may only claim the second, too far (> 3 mm); another band
    # candidate (0.65) on the second; a false one (0.62) far from both
    pd.DataFrame([{**KEY, "sop_instance_uid": "s1", "centroid_row": r, "centroid_col": c, "score": s, "mean_diameter_mm": 5.0}
                  for r, c, s in ((52.0, 50.0, 0.95), (50.0, 51.0, 0.70), (51.0, 80.0, 0.65), (10.0, 10.0, 0.62))]).to_csv(
        run / "follicles.csv", index=False)  # fmt: skip
    found, truth = review_band.candidates(study, run, 0.90)
    assert found.reported.tolist() == [True, False, False, False]
    assert found.true.tolist() == [True, False, True, False]
    assert truth.reported.tolist() == [True, False]  # the 1.5 mm follicle is not one to find


def test_an_uncalibrated_images_candidates_and_truth_are_left_out(tmp_path: Path) -> None:
    """Its NaN mm distance matched nothing: each of its band candidates counted as false and each
    of its true follicles as missed by the report, on an image nobody could score."""
    study, run = tmp_path / "study", tmp_path / "run"
    (study / "truth").mkdir(parents=True)
    run.mkdir()
    pd.DataFrame([{**KEY, "sop_instance_uid": u, "centroid_row": 50.0, "centroid_col": 50.0, "mean_diameter_mm": 6.0}
                  for u in ("s1", "s2")]).to_csv(study / "truth" / "follicles.csv", index=False)  # fmt: skip
    pd.DataFrame([{**KEY, "sop_instance_uid": "s1", "status": "ok", "spacing_row_mm": 0.2, "spacing_col_mm": 0.2},
                  {**KEY, "sop_instance_uid": "s2", "status": "ok", "spacing_row_mm": None, "spacing_col_mm": None}]).to_csv(
        run / "images.csv", index=False)  # fmt: skip
    pd.DataFrame([{**KEY, "sop_instance_uid": u, "centroid_row": 51.0, "centroid_col": 50.0, "score": 0.7, "mean_diameter_mm": 5.0}
                  for u in ("s1", "s2")]).to_csv(run / "follicles.csv", index=False)  # fmt: skip
    found, truth = review_band.candidates(study, run, 0.90)
    assert found.sop_instance_uid.tolist() == ["s1"] and found.true.tolist() == [True]
    assert truth.sop_instance_uid.tolist() == ["s1"]
