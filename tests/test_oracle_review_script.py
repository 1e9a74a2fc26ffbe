"""scripts/oracle_review.py: a worksheet decided from the truth, line by line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from script_module import load_script  # tests/ is on sys.path

from follicle_seg.review import WORKSHEET_COLUMNS, Review

oracle = load_script("oracle_review")
PLACE = {"patient_id": "P1", "study_date": "2026-01-05", "laterality": "L"}


def _line(uid: str, number: int, row: float, col: float, why: str = "") -> dict:
    return {**PLACE, "sop_instance_uid": uid, "follicle_id": str(number), "centroid_row": str(row),
            "centroid_col": str(col), "counted": "false" if why else "true", "why": why}  # fmt: skip


def test_reported_and_unsure_lines_are_decided_by_the_truth_of_their_image(tmp_path: Path) -> None:
    study, run = tmp_path / "study", tmp_path / "run"
    (study / "truth").mkdir(parents=True)
    run.mkdir()
    # truth of image a: two follicles of 6 mm at (50, 50) and (50, 150); 0.2 mm a pixel
    pd.DataFrame([{**PLACE, "sop_instance_uid": "a", "centroid_row": 50.0, "centroid_col": c, "mean_diameter_mm": 6.0}
                  for c in (50.0, 150.0)]).to_csv(study / "truth" / "follicles.csv", index=False)  # fmt: skip
    pd.DataFrame([{**PLACE, "sop_instance_uid": "a", "status": "ok", "spacing_row_mm": 0.2, "spacing_col_mm": 0.2},
                  {**PLACE, "sop_instance_uid": "u", "status": "ok", "spacing_row_mm": "", "spacing_col_mm": ""}]).to_csv(
        run / "images.csv", index=False)  # fmt: skip
    unsure = "network unsure (0.75): follicle or not_follicle?"
    lines = [
        {**PLACE, "follicle_count": "2", "why": "a candidate follicle scored 0.60-0.90 and is not reported"},
        _line("a", 1, 51, 50),  # a true follicle: left undecided
        _line("a", 2, 50, 100),  # 10 mm from both: not a follicle
        _line("a", 3, 49, 152, unsure),  # the second true follicle, unsure: a follicle
        _line("a", 4, 90, 90, unsure),  # nothing there: not a follicle
        _line("u", 1, 10, 10),  # uncalibrated: left to a person
    ]
    sheet = pd.DataFrame(lines, columns=list(WORKSHEET_COLUMNS), dtype=object).fillna("")
    sheet.to_csv(run / "review_worksheet.csv", index=False)
    review = oracle.decide(study, run)
    assert list(zip(review.follicle_id, review.decision)) == [("2", "not_follicle"), ("3", "follicle"), ("4", "not_follicle")]
    assert set(review.reviewer) == {"truth"}
    # without the candidates, the reported follicles alone are matched: only the false one is decided
    alone = oracle.decide(study, run, candidates=False)
    assert list(zip(alone.follicle_id, alone.decision)) == [("2", "not_follicle")]
    review.to_csv(run / "review.csv", index=False)
    assert [d.decision for d in Review.read(run / "review.csv").decisions] == ["not_follicle", "follicle", "not_follicle"]
