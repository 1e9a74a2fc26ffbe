"""A reviewer's decisions (OUT/review.csv) applied to the tables: values, log, and refusals."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from test_visits import follicle, result  # tests/ is on sys.path

from follicle_seg.io import read_record
from follicle_seg.pipeline import RunOptions, run
from follicle_seg.review import (
    REVIEW_FILE,
    WORKSHEET_COLUMNS,
    WORKSHEET_FILE,
    Review,
    ReviewError,
    candidate_lines,
    worksheet,
)
from follicle_seg.tracking import FLAG_LOW_CONFIDENCE, FLAG_TUBE, KIND_TUBE, KIND_UNSURE
from follicle_seg.visits import build_tables

HEADER = "decision,patient_id,study_date,laterality,sop_instance_uid,follicle_id,centroid_row,centroid_col,follicle_count,reviewer,comment\n"
SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
CHECK_RUN = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check_run.py"


def _review(tmp_path: Path, *lines: str) -> Review:
    path = tmp_path / REVIEW_FILE
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return Review.read(path)


def _placed(r, *centroids):
    """``r`` with its follicles at the given (row, col) centroids."""
    follicles = tuple(replace(f, best=replace(f.best, centroid_row=row, centroid_col=col))
                      for f, (row, col) in zip(r.follicles, centroids))  # fmt: skip
    return replace(r, follicles=follicles)


def _two_images():
    return [
        _placed(result("1.1", [6.0, 4.0, 3.0], flags=(FLAG_LOW_CONFIDENCE,)), (10, 10), (20, 20), (30, 30)),
        _placed(result("1.2", [6.1, 4.2]), (11, 11), (21, 21)),
    ]


def test_not_follicles_leave_the_count_and_the_largest_count_rule_picks_again(tmp_path: Path) -> None:
    review = _review(
        tmp_path,
        "not_follicle,,,,1.1,2,20,20,,AB,bowel loop",
        "not_follicle,,,,1.1,3,31.5,29,,AB,",  # within 3 px of the follicle's centroid
    )
    tables = build_tables(_two_images(), review=review)
    ov = tables["ovaries"].iloc[0]
    assert ov["follicle_count"] == 2 and ov["follicle_sizes_mm"] == "6.1;4.2"  # image 1.2 now gives it
    fo = tables["follicles"]
    assert list(zip(fo["sop_instance_uid"], fo["follicle_id"], fo["counted"])) == [
        ("1.1", 1, False), ("1.2", 1, True), ("1.2", 2, True)]
    assert bool(ov["needs_review"])  # image 1.1 is still flagged and nobody confirmed
    log = tables["review_log"]
    assert list(log["line"]) == [2, 3] and list(log["count_before"]) == [3, 3] and list(log["count_after"]) == [2, 2]
    # and which image gave each: the count moved from image 1.1 to image 1.2
    assert set(zip(log["counted_image_before"], log["counted_image_after"])) == {("1.1", "1.2")}
    assert list(log["reviewer"]) == ["AB", "AB"] and log["comment"].iloc[0] == "bowel loop"
    assert list(log["about"]) == ["reported", "reported"]  # follicles the network counted, not candidates
    assert "review_log" not in build_tables(_two_images())


def test_a_reviewed_overlay_says_which_image_gives_the_count_after_the_review(tmp_path: Path) -> None:
    """Dropping two of image 1.1's follicles moves the count to image 1.2: the band under 1.1's
    reviewed overlay said "counts 2 after the review (3 as analysed)" and no more."""
    from follicle_seg.report.reviewed import _notes

    review = _review(tmp_path, "not_follicle,,,,1.1,2,20,20,,AB,", "not_follicle,,,,1.1,3,30,30,,AB,")
    tables = build_tables(_two_images(), review=review)
    notes, _ = _notes(_two_images(), review, tables)
    assert notes["1.1"] == ["the ovary-visit counts 2 after the review (3 as analysed), image ...1.2 giving it"]


def _with_candidate():
    """Image 1.1 counts two follicles and leaves out a 5 mm candidate it was unsure of (number 3,
    at row 40, column 40, "low confidence"); image 1.2 counts two."""
    candidate = replace(follicle(3, "1.1", 5.0), best=replace(follicle(3, "1.1", 5.0).best, centroid_row=40,
                                                                 centroid_col=40, score=0.75), kind=KIND_UNSURE)  # fmt: skip
    still = _placed(result("1.1", [6.0, 4.0], flags=(FLAG_LOW_CONFIDENCE,)), (10, 10), (20, 20))
    return [replace(still, unsure=(candidate,)), _placed(result("1.2", [6.1, 4.2]), (11, 11), (21, 21))]


def test_a_candidate_the_network_was_unsure_of_is_listed_and_a_reviewer_decides_it(tmp_path: Path) -> None:
    tables = build_tables(_with_candidate())
    assert tables["ovaries"].iloc[0]["follicle_count"] == 2 and bool(tables["ovaries"].iloc[0]["needs_review"])
    cand = tables["candidates"]
    assert list(zip(cand.sop_instance_uid, cand.follicle_id, cand.mean_diameter_mm, cand.score)) == [("1.1", 3, 5.0, 0.75)]
    assert list(cand.columns) == [*(c for c in tables["follicles"].columns if c != "counted"), "kind"]
    assert list(cand.kind) == ["unsure"]
    line = worksheet(tables).iloc[-1]
    assert (line.follicle_id, line.counted, line.why) == ("3", "false", "network unsure (0.75): follicle or not_follicle?")

    # a follicle: it joins image 1.1's follicles before the count rule; "low confidence" is settled
    accepted = build_tables(_with_candidate(), review=_review(tmp_path, "follicle,,,,1.1,3,40,40,,AB,"))
    ov = accepted["ovaries"].iloc[0]
    assert ov["follicle_count"] == 3 and ov["follicle_sizes_mm"] == "6.0;5.0;4.0" and not ov["needs_review"]
    fo = accepted["follicles"]
    assert list(fo.loc[fo.counted, "follicle_id"]) == [1, 2, 3] and accepted["candidates"].empty
    log = accepted["review_log"]
    assert list(zip(log.decision, log.about, log.count_before, log.count_after)) == [("follicle", "unsure", 2, 3)]
    # still flagged for another reason, the next worksheet lists the accepted candidate once: its decision
    flagged = [replace(r, flags=(*r.flags, "network: unsure")) for r in _with_candidate()]
    review = _review(tmp_path, "follicle,,,,1.1,3,40,40,,AB,")
    sheet = worksheet(build_tables(flagged, review=review), review=review)
    assert sheet[(sheet.sop_instance_uid == "1.1") & (sheet.follicle_id == "3")].decision.tolist() == ["follicle"]
    # and says it was a candidate: "To check" numbered it 3, not 3?, as if counted by the network
    assert sheet.iloc[0].why == "network unsure: a candidate, decided"
    from follicle_seg.report.pages import PatientLinks
    from follicle_seg.report.review_sections import to_check

    tables = build_tables(flagged, review=review)
    page = to_check(sheet, tables["ovaries"], tmp_path, "overlays", PatientLinks({}, tables["ovaries"]))
    assert "<b>3?</b>  &middot; follicle (AB)" in page
    assert "&middot; image ...1.2</figure>" in page and "&middot;  " not in page  # another image's: one space
    from follicle_seg.report.review_sections import review_log

    log = review_log(tables["review_log"], {}, "overlays", PatientLinks({}, tables["ovaries"]))
    assert "image ...1.1 #3?</td>" in log  # numbered as the overlay and "To check" number it (its about)
    # not a follicle: the count stays, the candidate is settled
    rejected = build_tables(_with_candidate(), review=_review(tmp_path, "not_follicle,,,,1.1,3,41,39,,AB,"))
    assert rejected["review_log"]["about"].tolist() == ["unsure"]  # a candidate's, not a reported follicle's
    ov = rejected["ovaries"].iloc[0]
    assert ov["follicle_count"] == 2 and not ov["needs_review"] and rejected["candidates"].empty
    assert len(rejected["follicles"]) == 4
    # bound to what was reviewed: the candidate must be where the line says
    with pytest.raises(ReviewError, match="line 2: follicle: follicle 3 of 1.1 is at row 40.0, column 40.0, not at 50, 40"):
        build_tables(_with_candidate(), review=_review(tmp_path, "follicle,,,,1.1,3,50,40,,AB,"))


def test_the_likelier_candidates_come_first_on_the_worksheet() -> None:
    still, other = _with_candidate()
    likelier = replace(still.unsure[0], follicle_id=4, best=replace(still.unsure[0].best, centroid_row=70, score=0.88))
    sheet = worksheet(build_tables([replace(still, unsure=(*still.unsure, likelier)), other]))
    candidates = sheet[sheet.why.str.startswith("network unsure")]
    assert list(candidates.follicle_id) == ["4", "3"] and candidates.index.min() > sheet[sheet.counted == "true"].index.max()


def test_a_confirmed_ovary_visit_needs_no_review_at_the_count_confirmed(tmp_path: Path) -> None:
    assert bool(build_tables(_two_images())["ovaries"].iloc[0]["needs_review"])
    review = _review(tmp_path, "confirmed,P1,2026-01-05,l,,,,,3,CD,checked the overlays")
    tables = build_tables(_two_images(), review=review)
    assert not tables["ovaries"].iloc[0]["needs_review"] and not tables["visits"].iloc[0]["needs_review"]
    assert tables["ovaries"].iloc[0]["follicle_count"] == 3
    review = _review(tmp_path, "not_follicle,,,,1.1,3,30,30,,CD,", "confirmed,P1,2026-01-05,L,,,,,3,CD,")
    with pytest.raises(ReviewError, match=r"line 3: confirmed: confirms 3 follicles but P1/2026-01-05/L now counts 2"):
        build_tables(_two_images(), review=review)


@pytest.mark.parametrize(
    "line, message",
    [
        ("not_follicle,,,,1.1,2,40,20,,AB,", r"line 2: not_follicle: follicle 2 of 1.1 is at row 20.0, column 20.0, "
                                             r"not at 40, 20 \(the line's centroid is another follicle's, or the image "
                                             r"was analysed again since\): review it again"),
        ("not_follicle,,,,1.1,7,10,10,,AB,", r"line 2: not_follicle: no follicle or unsure candidate 7 in image 1.1 in this run's results"),
        ("not_follicle,,,,9.9,1,10,10,,AB,", r"line 2: not_follicle: no analysed image 9.9 in this run's results"),
        ("confirmed,P1,2026-01-06,L,,,,,3,AB,", r"line 2: confirmed: no ovary-visit P1/2026-01-06/L in this run's results "
                                                r"\(P1's visits in it: 2026-01-05\)"),
        ("confirmed,P2,2026-01-05,L,,,,,3,AB,", r"line 2: confirmed: no ovary-visit P2/2026-01-05/L in this run's results$"),
    ],
)
def test_a_decision_that_finds_nothing_it_reviewed_stops_the_tables(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ReviewError, match=message):
        build_tables(_two_images(), review=_review(tmp_path, line))


@pytest.mark.parametrize(
    "line, message",
    [
        ("accept,,,,1.1,2,20,20,,AB,", r"line 2: decision 'accept' is not one of not_follicle, follicle, confirmed, left, right"),
        ("not_follicle,,,,1.1,2,20,20,,,", r"line 2: not_follicle needs reviewer"),
        ("not_follicle,,,,1.1,2,,,,AB,", r"line 2: not_follicle needs centroid_row, centroid_col"),
        ("confirmed,P1,2026-01-05,,,,,,,AB,", r"line 2: confirmed needs laterality, follicle_count"),
        ("not_follicle,,,,1.1,two,20,20,,AB,", r"line 2: not a number"),
    ],
)
def test_a_bad_line_is_refused_with_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ReviewError, match=message) as info:
        _review(tmp_path, line)
    assert str(info.value).startswith(str(tmp_path / REVIEW_FILE))


def test_a_sheet_saved_by_a_comma_decimal_spreadsheet_is_read_and_one_without_decisions_refused(tmp_path: Path) -> None:
    path = tmp_path / REVIEW_FILE
    path.write_text("\ufeff" + HEADER.replace(",", ";") + "not_follicle;;;;1.1;2;20,0;20,4;;AB;bowel loop\n",
                    encoding="utf-8")  # fmt: skip
    (decision,) = Review.read(path).decisions
    assert decision.centroid == (20.0, 20.4) and decision.comment == "bowel loop"
    assert build_tables(_two_images(), review=Review.read(path))["ovaries"].loc[0, "follicle_count"] == 2
    path.write_text("\n\n" + HEADER + "not_follicle,,,,1.1,2,20,20,,AB,\nnot_follicle,,,,1.1,2,20,20,,CD,\n")
    with pytest.raises(ReviewError, match="line 5: not_follicle: repeats line 4"):  # blank lines first: counted
        Review.read(path)
    path.write_text("patient_id\tstudy_date\tdecision\nP1\t2026-01-05\tconfirmed\n")  # tabs: read as columns
    with pytest.raises(ReviewError, match=r"review.csv line 2: confirmed needs reviewer, laterality, follicle_count"):
        Review.read(path)
    path.write_text("patient_id|study_date|decision\nP1|2026-01-05|confirmed\n")
    with pytest.raises(ReviewError, match=r"review.csv: no decision column \(found 'patient_id\|study_date"):
        Review.read(path)


def test_an_undated_or_patient_less_ovary_visit_can_be_confirmed(tmp_path: Path) -> None:
    images = [result("u1", [3.0, 4.0], day="", study="s8"), result("p1", [5.0], patient="", study="s9")]
    tables = build_tables(images)
    assert tables["ovaries"]["needs_review"].all()  # "date unknown", "patient unknown"
    review = _review(tmp_path, "confirmed,P1,,L,,,,,2,AB,no date on the export", "confirmed,,2026-01-05,L,,,,,1,AB,")
    assert not build_tables(images, review=review)["ovaries"]["needs_review"].any()


def test_a_reviewer_gives_an_image_of_unknown_side_its_side(tmp_path: Path) -> None:
    """The side burned into the image only (no tag, no keyword): the worksheet asks for it, image
    by image, and a ``left`` / ``right`` line moves the image to that ovary-visit."""
    from follicle_seg.review import SIDE_WHY
    from follicle_seg.tracking import FLAG_SIDE_UNKNOWN

    images = [result("u1", [6.0, 4.0], side="U", flags=(FLAG_SIDE_UNKNOWN,)),
              result("u2", [5.0], side="U", flags=(FLAG_SIDE_UNKNOWN,)), result("r1", [7.0], side="R")]  # fmt: skip
    before = build_tables(images)
    assert before["ovaries"][["laterality", "follicle_count"]].values.tolist() == [["R", 1], ["U", 2]]
    sheet = worksheet(before)
    asked = sheet[sheet["why"] == SIDE_WHY]
    assert asked[["laterality", "sop_instance_uid"]].values.tolist() == [["U", "u1"], ["U", "u2"]]
    review = _review(tmp_path, "left,,,,u1,,,,,AB,LT OV on the screen", "right,,,,u2,,,,,AB,")
    tables = build_tables(images, review=review)
    ovaries = tables["ovaries"].set_index("laterality")
    assert ovaries["follicle_count"].to_dict() == {"L": 2, "R": 1}  # u2 (1) and r1 (1): the larger, not a sum
    assert ovaries["n_images"].to_dict() == {"L": 1, "R": 2}
    assert not tables["review_reasons"]["flag"].eq(FLAG_SIDE_UNKNOWN).any()
    assert tables["images"].set_index("sop_instance_uid")["laterality"].to_dict() == {"u1": "L", "u2": "R", "r1": "R"}
    log = tables["review_log"]
    assert log[["decision", "laterality", "sop_instance_uid"]].values.tolist() == [["left", "L", "u1"], ["right", "R", "u2"]]
    assert log["about"].tolist() == ["image", "image"]
    # a side decision's count before is that of the side-unknown ovary-visit its image left (2)
    assert log[["count_before", "count_after"]].values.tolist() == [[2, 2], [2, 1]]
    again = worksheet(tables, review=review)  # the decided lines come first, with their ovary-visit
    assert again.iloc[0][["decision", "patient_id", "laterality", "sop_instance_uid"]].tolist() == ["left", "P1", "L", "u1"]
    assert not again["why"].eq(SIDE_WHY).any()
    both = _review(tmp_path, "left,,,,u1,,,,,AB,", "right,,,,u2,,,,,AB,", "confirmed,P1,2026-01-05,U,,,,,2,AB,")
    with pytest.raises(ReviewError, match=r"line 4: confirmed: no ovary-visit P1/2026-01-05/U in this run's results "
                                          r"\(this review gives its images their sides: leave this line undecided"):
        build_tables(images, review=both)
    assert [d.decision for d in _review(tmp_path, "L,,,,u1,,,,,AB,", "r,,,,u2,,,,,AB,").decisions] == ["left", "right"]
    with pytest.raises(ReviewError, match=r"line 2: left: no analysed image u9 in this run's results"):
        build_tables(images, review=_review(tmp_path, "left,,,,u9,,,,,AB,"))
    with pytest.raises(ReviewError, match=r"line 2: right needs sop_instance_uid"):
        _review(tmp_path, "right,,,,,,,,,AB,")


def test_the_worksheet_guard_stops_only_for_decisions_that_would_be_lost(tmp_path: Path) -> None:
    import os

    from follicle_seg.review import content, unsaved_decisions

    sheet = tmp_path / WORKSHEET_FILE
    review = _review(tmp_path, "confirmed,P1,2026-01-05,L,,,,,1,AB,", "left,,,,u1,,,,,AB,")
    carried = [content(d) for d in review.decisions]  # what the last worksheet started with

    def edited(*lines: str, after_review: bool = True) -> None:
        sheet.write_text(HEADER + "".join(line + "\n" for line in lines))
        stamp = (tmp_path / REVIEW_FILE).stat().st_mtime + (10 if after_review else -10)
        os.utime(sheet, (stamp, stamp))

    # the carried lines re-saved by a spreadsheet (a date reformatted, rows moved): nothing lost
    edited("left,,,,u1,,,,,AB,", "confirmed,P1,05/01/2026,L,,,,,1,AB,")
    unsaved_decisions(sheet, review, carried)
    # typed into the worksheet, then review.csv saved after it (corrected, or withdrawn): its word holds
    edited("confirmed,P1,2026-01-05,L,,,,,3,AB,", "not_follicle,,,,1.1,2,20,20,,AB,", after_review=False)
    unsaved_decisions(sheet, review, carried)
    # typed after review.csv was saved, about something new, or changing a carried line: would be lost
    for lines, first in ((("confirmed,P1,2026-01-05,L,,,,,1,AB,", "not_follicle,,,,1.1,2,20,20,,AB,"), "line 3: not_follicle"),
                         (("right,,,,u1,,,,,AB,",), "line 2: right")):  # fmt: skip
        edited(*lines)
        with pytest.raises(ReviewError, match=rf"{first}: 1 decision\(s\) written into the worksheet are not in "
                                              r"review.csv.*\(or, withdrawn, clear them from the worksheet\)"):
            unsaved_decisions(sheet, review, carried)


def test_a_decided_line_names_the_overlay_of_its_follicles_frame(tmp_path: Path) -> None:
    first, second = _two_images()
    third = first.follicles[2]
    first = replace(first, follicles=(*first.follicles[:2], replace(third, best=replace(third.best, frame_index=5))))
    overlays = pd.DataFrame({"sop_instance_uid": ["1.1", "1.1"], "frame_index": [0, 5], "file": ["a_f000.png", "a_f005.png"]})
    review = _review(tmp_path, "not_follicle,,,,1.1,3,30,30,,AB,", "not_follicle,,,,1.1,1,10,10,,AB,")
    tables = build_tables([first, second], review=review)
    assert tables["review_log"]["frame_index"].tolist() == [5, 0]
    sheet = worksheet(tables, overlays, review)
    assert sheet["overlay"][:2].tolist() == ["overlays/a_f005.png", "overlays/a_f000.png"]


def test_a_repeated_decision_is_refused_and_no_file_is_no_review(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="line 4: not_follicle: repeats line 2"):  # line 3 blank
        _review(tmp_path, "not_follicle,,,,1.1,2,20,20,,AB,", "", "not_follicle,,,,1.1,2,20,20,,CD,")
    assert Review.read(tmp_path / "absent.csv").decisions == ()


def test_a_run_applies_its_review_without_analysing_again_and_drops_it_when_removed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    options = RunOptions(out=out, overlays=False, dicom=False, report=False)
    run([SAMPLES], options)
    ovaries = pd.read_csv(out / "ovaries.csv", dtype={"study_date": str})
    follicles = pd.read_csv(out / "follicles.csv", dtype={"study_date": str})
    left = ovaries[(ovaries.study_date == "2024-06-11") & (ovaries.laterality == "L")].iloc[0]
    unknown = ovaries[ovaries.laterality == "U"].iloc[0]
    assert left.follicle_count == 2 and bool(unknown.needs_review)
    firsts = follicles[(follicles.study_date == "2024-06-11") & (follicles.laterality == "L") & (follicles.follicle_id == 1)]
    assert len(firsts) == 2  # the same follicle in the ovary's two images
    lines = [f"not_follicle,,,,{f.sop_instance_uid},1,{f.centroid_row},{f.centroid_col},,AB,not round" for f in firsts.itertuples()]
    lines.append(f"confirmed,{unknown.patient_id},{unknown.study_date},U,,,,,{unknown.follicle_count},AB,side from the comments")
    (out / REVIEW_FILE).write_text(HEADER + "\n".join(lines) + "\n")

    summary = run([SAMPLES], replace(options, report=True))
    assert summary.resumed == summary.inputs  # nothing analysed again
    page = (out / "report" / "index.html").read_text()
    assert "Reviewed (3 decisions)" in page and page.count("not round") == 2 and "2 &rarr; 1" in page
    from follicle_seg.report.markup import esc
    from follicle_seg.review import uid_tail

    assert f"image {esc(uid_tail(firsts.sop_instance_uid.iloc[0]))} #1" in page  # not the whole UID
    assert "; 2 decided in review.csv)</h2>" in page and page.count("not follicle (AB)") == 2  # "To check"
    # whole frames (burned-in text, a name perhaps, in them) only when asked for: --whole-frames
    assert not (out / "overlays" / "frames").exists()
    reviewed = pd.read_csv(out / "ovaries.csv", dtype={"study_date": str})
    row = reviewed[(reviewed.study_date == "2024-06-11") & (reviewed.laterality == "L")].iloc[0]
    assert row.follicle_count == 1
    assert not reviewed[reviewed.laterality == "U"].iloc[0].needs_review
    log = pd.read_csv(out / "review_log.csv")
    assert list(log.count_before) == [2, 2, 2] and list(log.count_after) == [1, 1, 2]
    assert list(log.about) == ["reported", "reported", "ovary_visit"]
    assert pd.read_parquet(out / "review_log.parquet")["about"].tolist() == list(log.about)
    assert "decisions applied" in (out / "run.log").read_text()
    if CHECK_RUN.is_file():  # the counted rows still add up to the counts
        check = subprocess.run([sys.executable, str(CHECK_RUN), str(out)], capture_output=True, text=True)
        assert check.stdout.strip() == "ok", check.stdout

    (out / REVIEW_FILE).write_text(HEADER + lines[0].replace(",1,", ",2,", 1) + "\n")
    with pytest.raises(ReviewError, match="the analysis is kept: correct the review and run again"):
        run([SAMPLES], options)
    (out / REVIEW_FILE).unlink()
    run([SAMPLES], options)
    assert not (out / "review_log.csv").exists()
    assert pd.read_csv(out / "ovaries.csv", dtype={"study_date": str}).equals(ovaries)


def test_the_worksheet_lists_what_needs_review_and_is_a_review_once_decided(tmp_path: Path) -> None:
    out = tmp_path / "run"
    options = RunOptions(out=out, dicom=False, report=False, whole_frames=True)  # with overlays
    samples = tmp_path / "samples"  # without the rejected file of SAMPLE01's first left ovary-visit
    shutil.copytree(SAMPLES, samples, ignore=shutil.ignore_patterns("bad_no_pixel_data.dcm"))  # ("image not analysed")
    run([samples], options)
    sheet = pd.read_csv(out / WORKSHEET_FILE, dtype=str, keep_default_na=False)
    assert tuple(sheet.columns) == WORKSHEET_COLUMNS and set(sheet.decision) == {""}
    ovaries = pd.read_csv(out / "ovaries.csv", dtype={"study_date": str, "patient_id": str})
    follicles = pd.read_csv(out / "follicles.csv", dtype={"study_date": str, "patient_id": str, "sop_instance_uid": str})
    flagged = ovaries[ovaries.needs_review]
    confirm = sheet[sheet.sop_instance_uid == ""]
    assert len(flagged) >= 1 and len(confirm) == len(flagged)
    key = ["patient_id", "study_date", "laterality"]
    expected = {(*k, str(n)) for *k, n in flagged[key + ["follicle_count"]].itertuples(index=False)}
    assert set(confirm[key + ["follicle_count"]].itertuples(index=False, name=None)) == expected
    assert (confirm.why != "").all()
    marked = follicles.merge(flagged[key], on=key)  # every image's follicles, counted or not
    candidates = pd.read_csv(out / "candidates.csv", dtype={"study_date": str, "patient_id": str, "sop_instance_uid": str})
    unsure = candidates.merge(flagged[key], on=key)  # and the candidates the network was unsure of
    lines = sheet[sheet.follicle_id != ""]
    assert len(lines) == len(marked) + len(unsure) and len(unsure) >= 1
    # each image of the side-unknown ovary-visit, to be given its side
    images = pd.read_csv(out / "images.csv", dtype=str, keep_default_na=False)
    unsided = images[(images.status == "ok") & (images.laterality == "U")]
    sides = sheet[sheet.why == "side unknown: left or right?"]
    assert len(unsided) >= 1 and sorted(sides.sop_instance_uid) == sorted(unsided.sop_instance_uid)
    assert (sides.follicle_id == "").all() and all((out / f).is_file() for f in sides.overlay)
    # linked to the whole first frame, burned-in text around the scan area and all (not the overlay's region)
    from PIL import Image

    for uid, shown in zip(sides.sop_instance_uid, sides.overlay):
        source = pydicom.dcmread(images.set_index("sop_instance_uid").loc[uid, "path"], stop_before_pixels=True)
        width, height = Image.open(out / shown).size  # (a small frame enlarged by a whole factor)
        assert shown.startswith("overlays/frames/") and width % source.Columns == 0 and width // source.Columns == height / source.Rows
    assert set(zip(lines.sop_instance_uid, lines.follicle_id.astype(int), lines.counted)) == set(
        zip(marked.sop_instance_uid, marked.follicle_id, marked.counted.map({True: "true", False: "false"}))) | set(
        zip(unsure.sop_instance_uid, unsure.follicle_id, ["false"] * len(unsure)))
    assert all((out / f).is_file() for f in lines.overlay)  # each follicle's overlay, to look at

    # the reviewer decides one line (confirms the side-U ovary-visit) and saves the sheet as the review
    # and drops one follicle of another
    unknown = confirm.index[confirm.laterality == "U"][0]
    sheet.loc[unknown, ["decision", "reviewer"]] = ["confirmed", "AB"]
    dropped = lines.index[lines.laterality != "U"][0]
    sheet.loc[dropped, ["decision", "reviewer"]] = ["not_follicle", "AB"]
    # and accepts the candidate the network was unsure of as a follicle
    accepted = lines.index[lines.why.str.startswith("network unsure")][0]
    sheet.loc[accepted, ["decision", "reviewer"]] = ["follicle", "AB"]
    # and confirms the left ovary's count (the right one was not scanned at that visit), 1 as before
    left = confirm.index[confirm.laterality == "L"][0]
    assert sheet.follicle_count[left] == "1"
    sheet.loc[left, ["decision", "reviewer"]] = ["confirmed", "AB"]
    sheet.to_csv(out / WORKSHEET_FILE, index=False)  # a slip: decided in the worksheet itself, run again
    with pytest.raises(ReviewError, match=r"line 2: confirmed: 4 decision\(s\) written into the worksheet are not in review.csv"):
        run([samples], options)
    assert (pd.read_csv(out / WORKSHEET_FILE, dtype=str, keep_default_na=False).decision != "").sum() == 4  # not lost
    sheet.to_csv(out / REVIEW_FILE, index=False)
    summary = run([samples], options)
    assert summary.resumed == summary.inputs
    reviewed = pd.read_csv(out / "ovaries.csv", dtype={"study_date": str})
    assert not reviewed[reviewed.laterality == "U"].needs_review.any()
    assert len(pd.read_csv(out / "review_log.csv")) == 4
    assert pd.read_csv(out / "candidates.csv").empty
    now = pd.read_csv(out / "follicles.csv", dtype={"sop_instance_uid": str})
    took = now[(now.sop_instance_uid == sheet.sop_instance_uid[accepted]) & (now.follicle_id == int(sheet.follicle_id[accepted]))]
    assert len(took) == 1 and took.counted.all() and took.mean_diameter_mm.iloc[0] == float(sheet.mean_diameter_mm[accepted])
    # the next sheet starts with the decisions made, so saving it over review.csv keeps them
    again = pd.read_csv(out / WORKSHEET_FILE, dtype=str, keep_default_na=False)
    assert list(again.decision[:4]) == ["confirmed", "confirmed", "not_follicle", "follicle"]
    assert list(again.reviewer[:4]) == ["AB"] * 4
    assert again.sop_instance_uid[2] == sheet.sop_instance_uid[dropped] and again.centroid_row[2] == sheet.centroid_row[dropped]
    undecided = again[again.decision == ""]
    # nothing left: U confirmed; L's reasons (its unsure candidate, the right side not scanned) decided
    image_l = sheet.sop_instance_uid[accepted]  # the reasons name the image they are about
    assert confirm.why[confirm.laterality == "L"].tolist() == [
        f"a candidate follicle scored 0.60-0.90 and is not reported (2?; image ...{image_l[-8:]}); "
        "no image of the other ovary at this visit: the visit's count is this side's alone"]
    assert undecided.empty and not reviewed.needs_review.any()
    # the overlays of the decided follicles have reviewed copies (the analysed ones kept), which the
    # next sheet names: the dropped follicle crossed out in red on its frame, the decisions under it
    from PIL import Image

    from follicle_seg.report.overlay import layout_for
    from follicle_seg.report.reviewed import REJECTED, analysed_name

    copy = again.overlay[2]
    assert copy.startswith("overlays/reviewed/") and copy.endswith("_reviewed.png")
    assert again.overlay[3].startswith("overlays/reviewed/")  # the accepted candidate's
    analysed = np.asarray(Image.open(out / analysed_name(copy)).convert("RGB"))
    stamped = np.asarray(Image.open(out / copy).convert("RGB"))
    assert stamped.shape[0] > analysed.shape[0] and stamped.shape[1] == analysed.shape[1]
    record = read_record(images.set_index("sop_instance_uid").loc[sheet.sop_instance_uid[dropped], "path"])
    layout = layout_for(record)
    y, x = (int(v) for v in layout.to_overlay(float(sheet.centroid_row[dropped]), float(sheet.centroid_col[dropped]), record))
    red = (stamped[y - 3 : y + 4, x - 3 : x + 4] == REJECTED).all(axis=2)
    assert red.any() and not (analysed[y - 3 : y + 4, x - 3 : x + 4] == REJECTED).all(axis=2).any()
    assert (stamped[: layout.top] == analysed[: layout.top]).all()  # no side given: the header as analysed
    again.to_csv(out / REVIEW_FILE, index=False)
    run([samples], options)
    assert len(pd.read_csv(out / "review_log.csv")) == 4
    pd.testing.assert_frame_equal(pd.read_csv(out / WORKSHEET_FILE, dtype=str, keep_default_na=False), again)
    (out / REVIEW_FILE).unlink()  # no review: no reviewed copies, the sheet names the analysed overlays
    run([samples], replace(options, overlays=False))  # (a tables-only run too)
    assert not (out / "overlays" / "reviewed").exists()
    assert not pd.read_csv(out / WORKSHEET_FILE, dtype=str, keep_default_na=False).overlay.str.contains("reviewed").any()


def test_the_worksheet_lists_the_other_images_follicles_so_one_round_settles_a_changed_count(tmp_path: Path) -> None:
    tables = build_tables(_two_images())
    sheet = worksheet(tables)
    lines = sheet[sheet.sop_instance_uid != ""]
    # image 1.1 counts (3 follicles) and comes first; 1.2 (2) gives the count once 1.1 loses two
    assert list(zip(lines.sop_instance_uid, lines.follicle_id, lines.counted)) == [
        ("1.1", "1", "true"), ("1.1", "2", "true"), ("1.1", "3", "true"), ("1.2", "1", "false"), ("1.2", "2", "false")]
    # one round: two of 1.1's and one of 1.2's are not follicles, and the count they leave is confirmed
    decided = sheet.copy()
    decided.loc[lines.index[[1, 2, 4]], ["decision", "reviewer"]] = ["not_follicle", "AB"]
    decided.loc[sheet.index[sheet.sop_instance_uid == ""], ["decision", "reviewer", "follicle_count"]] = ["confirmed", "AB", "1"]
    decided.to_csv(tmp_path / REVIEW_FILE, index=False)
    ov = build_tables(_two_images(), review=Review.read(tmp_path / REVIEW_FILE))["ovaries"].iloc[0]
    assert ov["follicle_count"] == 1 and not ov["needs_review"]


def test_the_run_says_how_many_ovary_visits_to_review_and_where(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from follicle_seg.cli import app

    out = tmp_path / "run"
    args = ["run", str(SAMPLES), "--out", str(out), "--no-overlays", "--no-dicom", "--no-report"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    n = int(pd.read_csv(out / "ovaries.csv").needs_review.sum())
    assert n >= 1 and f"to review: {n} ovary-visit(s), their lines prefilled in {out / WORKSHEET_FILE}" in first.output
    assert "(no report: --no-report)" in first.output and "index.html" not in first.output  # none was written
    again = CliRunner().invoke(app, args)  # nothing left to analyse: the tables are rebuilt
    assert again.exit_code == 0 and "already done); nothing left to analyse, tables rebuilt in" in again.output
    assert "decisions applied" not in again.output and "unreviewed" not in again.output  # no review, none expected

    # a review saved under another name is not read: said on the console and in run.log
    unknown = pd.read_csv(out / "ovaries.csv", dtype=str).query("laterality == 'U'").iloc[0]
    line = f"confirmed,{unknown.patient_id},{unknown.study_date},U,,,,,{unknown.follicle_count},AB,\n"
    (out / "review (1).csv").write_text(HEADER + line)
    (out / "review.xlsx").write_bytes(b"PK")
    misnamed = CliRunner().invoke(app, args)
    said = (f"{out}: no {REVIEW_FILE}, but review (1).csv, review.xlsx: the tables are unreviewed (a review is read "
            f"from {REVIEW_FILE} only: save it as CSV under that name)")
    assert misnamed.exit_code == 0 and said in misnamed.output and said in (out / "run.log").read_text()
    # saved as review.csv, the run says it applied it
    (out / "review (1).csv").rename(out / REVIEW_FILE)
    reviewed = CliRunner().invoke(app, args)
    assert reviewed.exit_code == 0 and f"{out / REVIEW_FILE}: 1 decisions applied" in reviewed.output
    assert "unreviewed" not in reviewed.output
    # one with its decision column left empty applies nothing, and says so
    (out / REVIEW_FILE).write_text(HEADER + line.replace("confirmed", "", 1))
    empty = CliRunner().invoke(app, args)
    assert f"{out / REVIEW_FILE}: no decision written in it: the tables are unreviewed" in empty.output


def _two_visits():
    """Image 1.1 (three follicles) at P1's visit of 2026-01-05, image 2.1 (two) at that of 2026-05-01."""
    return [_two_images()[0], _placed(result("2.1", [6.1, 4.2], day="2026-05-01"), (11, 11), (21, 21))]


def test_a_date_a_spreadsheet_rewrote_finds_its_ovary_visit_and_an_ambiguous_one_is_refused(tmp_path: Path) -> None:
    """Excel saves 2026-01-05 as 05/01/2026 or 1/5/2026: the year, and day and month in either
    order, found among the patient's visits in the run."""
    for written in ("05/01/2026", "1/5/2026", "05.01.2026"):
        review = _review(tmp_path, f"confirmed,P1,{written},L,,,,,3,AB,")
        tables = build_tables(_two_images(), review=review)
        assert not tables["ovaries"].iloc[0]["needs_review"], written
        assert tables["review_log"]["study_date"].tolist() == ["2026-01-05"]
        # the next worksheet carries the line with the date as the tables give it
        assert worksheet(tables, review=review).iloc[0]["study_date"] == "2026-01-05"
    # 2026-01-05 or 2026-05-01, both P1's visits: refused, naming both
    with pytest.raises(ReviewError, match=r"line 2: confirmed: the date 05/01/2026 may be 2026-01-05 or 2026-05-01, "
                                          r"both visits of P1: write it as YYYY-MM-DD"):
        build_tables(_two_visits(), review=_review(tmp_path, "confirmed,P1,05/01/2026,L,,,,,3,AB,"))
    # written as YYYY-MM-DD, a date is what it says; one that fits no visit names the patient's
    review = _review(tmp_path, "confirmed,P1,2026-01-05,L,,,,,3,AB,", "confirmed,P1,06/01/2026,L,,,,,3,AB,")
    with pytest.raises(ReviewError, match=r"line 3: confirmed: no ovary-visit P1/06/01/2026/L in this run's results "
                                          r"\(P1's visits in it: 2026-01-05, 2026-05-01\)"):
        build_tables(_two_visits(), review=review)
    # year first, a date is year, month, day (2026/01/05 was refused as "2026-01-05 or 2026-05-01")
    for written in ("2026/01/05", "2026-1-5"):
        tables = build_tables(_two_visits(), review=_review(tmp_path, f"confirmed,P1,{written},L,,,,,3,AB,"))
        assert tables["review_log"]["study_date"].tolist() == ["2026-01-05"], written
    # the same ovary-visit confirmed twice, its date written two ways
    review = _review(tmp_path, "confirmed,P1,2026-01-05,L,,,,,3,AB,", "confirmed,P1,1/5/2026,L,,,,,3,AB,")
    with pytest.raises(ReviewError, match=r"line 3: confirmed: repeats line 2"):
        build_tables(_two_images(), review=review)


def test_every_line_that_cannot_be_applied_is_said_at_once_follicle_lines_first(tmp_path: Path) -> None:
    """A mistyped follicle id left its follicle counted: the count confirmed is then wrong too,
    but the cause is the follicle line, said first."""
    review = _review(tmp_path,
                     "confirmed,P1,2026-01-05,L,,,,,2,AB,",
                     "not_follicle,,,,1.1,4,30,30,,AB,",  # follicle 3 meant
                     "not_follicle,,,,9.9,1,10,10,,AB,",  # a file no longer among the inputs
                     "not_follicle,,,,1.1,2,40,20,,AB,",  # another follicle's centroid
                     "left,,,,u9,,,,,AB,")  # fmt: skip
    with pytest.raises(ReviewError) as info:
        build_tables(_two_images(), review=review)
    said = str(info.value)
    assert said.startswith(f"{tmp_path / REVIEW_FILE}: 5 lines cannot be applied: line 3: not_follicle: no follicle "
                           "or unsure candidate 4 in image 1.1 in this run's results; line 4: not_follicle: no analysed "
                           "image 9.9 in this run's results; line 5: not_follicle: follicle 2 of 1.1 is at row 20.0")
    assert said.endswith("; line 6: left: no analysed image u9 in this run's results; line 2: confirmed: confirms 2 "
                         "follicles but P1/2026-01-05/L now counts 3: review it again")
    assert "\n" not in said


def test_a_review_saved_by_windows_excel_as_csv_is_read_accents_and_all(tmp_path: Path) -> None:
    path = tmp_path / REVIEW_FILE  # "CSV (Comma delimited)": Windows-1252, not UTF-8
    path.write_bytes((HEADER + "not_follicle,,,,1.1,2,20,20,,AB,kyste hémorragique\n").encode("cp1252"))
    (decision,) = Review.read(path).decisions
    assert decision.comment == "kyste hémorragique"
    # Excel's "Unicode Text": UTF-16 with its byte order mark, tabs between the columns (it read as
    # "no decision column (found 'ÿþd\x00e\x00c...')")
    path.write_bytes((HEADER + "not_follicle,,,,1.1,2,20,20,,AB,vérifié\n").replace(",", "\t").encode("utf-16"))
    (decision,) = Review.read(path).decisions
    assert (decision.decision, decision.follicle_id, decision.comment) == ("not_follicle", 2, "vérifié")
    path.write_bytes(HEADER.encode() + b"not_follicle,,,,1.1,2,20,20,,AB,\x81\xff\n")  # neither
    with pytest.raises(ReviewError, match=r"review.csv: cannot read the review file \(neither UTF-8 nor Windows-1252\): "
                                          r"save it as \"CSV UTF-8\""):
        Review.read(path)


def test_a_worksheet_read_and_saved_again_by_pandas_is_a_review(tmp_path: Path) -> None:
    """pandas reads the worksheet's follicle_count and follicle_id columns, empty on some lines, as
    decimals and saves them ``2.0``, ``3.0``: such a review was refused ("not a number: invalid literal
    for int() with base 10: '2.0'"). A candidate's number as its overlay labels it, ``3?``, is read too."""
    sheet = worksheet(build_tables(_with_candidate()))
    sheet.to_csv(tmp_path / WORKSHEET_FILE, index=False)
    edited = pd.read_csv(tmp_path / WORKSHEET_FILE)  # (default types: the counts and numbers float64)
    edited[["decision", "reviewer"]] = edited[["decision", "reviewer"]].astype(object)
    edited.loc[edited.follicle_id == 3, ["decision", "reviewer"]] = ["follicle", "AB"]
    edited.loc[edited.sop_instance_uid.isna(), ["decision", "reviewer", "follicle_count"]] = ["confirmed", "AB", 3]
    edited.to_csv(tmp_path / REVIEW_FILE, index=False)
    assert ",3.0," in (tmp_path / REVIEW_FILE).read_text()
    tables = build_tables(_with_candidate(), review=Review.read(tmp_path / REVIEW_FILE))
    assert tables["review_log"][["decision", "about", "count_after"]].values.tolist() == [
        ["confirmed", "ovary_visit", 3], ["follicle", "unsure", 3]]
    assert not tables["ovaries"]["needs_review"].any()
    assert _review(tmp_path, "follicle,,,,1.1,3?,40,40,,AB,").decisions[0].follicle_id == 3
    with pytest.raises(ReviewError, match=r"line 2: not a number: a whole number expected, found '2.5'"):
        _review(tmp_path, "confirmed,P1,2026-01-05,L,,,,,2.5,AB,")


def test_a_confirmation_is_bound_to_the_images_the_worksheet_showed(tmp_path: Path) -> None:
    """An image of a confirmed ovary-visit analysed after the review (a file that came late, with
    the same count: an unsure candidate of its own) had its reasons cleared by the confirmation
    unseen: needs_review false, no review_reasons row. The worksheet's confirm line gives the
    ovary-visit's n_images, and the confirmation holds only at that many images."""
    sheet = worksheet(build_tables(_two_images()))
    assert sheet.loc[0, ["follicle_count", "n_images"]].tolist() == ["3", "2"]
    review = _review(tmp_path, "confirmed,P1,2026-01-05,L,,,,,3,AB,")  # (the header has no n_images column)
    late = result("1.3", [5.0], flags=(FLAG_LOW_CONFIDENCE,))
    assert not build_tables([*_two_images(), late], review=review)["ovaries"]["needs_review"].any()  # not bound
    path = tmp_path / REVIEW_FILE
    path.write_text("decision,patient_id,study_date,laterality,follicle_count,n_images,reviewer\n"
                    "confirmed,P1,2026-01-05,L,3,2,AB\n")  # fmt: skip
    review = Review.read(path)
    tables = build_tables(_two_images(), review=review)
    assert not tables["ovaries"]["needs_review"].any()
    assert worksheet(tables, review=review).loc[0, ["decision", "n_images"]].tolist() == ["confirmed", "2"]
    with pytest.raises(ReviewError, match=r"line 2: confirmed: confirms 2 image\(s\) but P1/2026-01-05/L now has 3 "
                                          r"\(analysed since it was checked\): review it again"):
        build_tables([*_two_images(), late], review=Review.read(path))


def _sr(out: Path, uid: str):
    """The SR of image ``uid``: its SOP Instance UID, verifying observers, follicle groups (tracking
    identifier -> whether it has an outline), side and count."""
    import highdicom as hd

    sr = hd.sr.srread(out / "dicom" / f"{uid}_sr.dcm")
    follicles = {g.tracking_identifier: g.roi is not None for g in sr.content.get_planar_roi_measurement_groups()}
    (ovary,) = [*sr.content.get_volumetric_roi_measurement_groups(), *sr.content.get_planar_roi_measurement_groups(
        finding_type=pydicom.sr.codedict.codes.SCT.Ovary)]
    ovary_side = ovary.finding_sites[0].laterality.meaning
    count = next(m.value for m in ovary.get_measurements() if m.name.meaning == "Number of follicles")
    observers = [str(o.VerifyingObserverName) for o in sr.get("VerifyingObserverSequence", [])]
    return str(sr.SOPInstanceUID), observers, {k: v for k, v in follicles.items() if k != f"ovary {ovary_side[0]}"}, \
        ovary_side, count


def test_a_review_writes_again_the_srs_it_changes_and_gives_the_networks_back_once_removed(tmp_path: Path) -> None:
    """A follicle rejected in review.csv was still a finding of the SR a PACS got by ``send``
    (the SR stayed the network's: 2 follicles where the tables counted 1)."""
    out = tmp_path / "run"
    options = RunOptions(out=out, overlays=False, report=False)
    inputs = [SAMPLES / f"{name}.dcm" for name in ("jpeg_ybr422_left", "mono_left", "two_regions_bmode_doppler",
                                                   "uncalibrated_no_regions")]  # fmt: skip
    run(inputs, options)
    follicles = pd.read_csv(out / "follicles.csv", dtype={"study_date": str})
    candidates = pd.read_csv(out / "candidates.csv", dtype={"study_date": str})
    still = follicles[(follicles.laterality == "L") & follicles.counted & (follicles.study_date == "2024-06-11")]
    rejected, candidate = still.iloc[0], candidates.iloc[0]
    unknown = follicles[follicles.laterality == "U"].sop_instance_uid.iloc[0]
    srs = sorted(p.name for p in (out / "dicom").glob("*_sr.dcm"))
    before = {p: pydicom.dcmread(out / "dicom" / p).SOPInstanceUID for p in srs}
    assert _sr(out, rejected.sop_instance_uid)[2:] == ({"follicle 1": True, "follicle 2": True}, "Left", 2)
    (out / REVIEW_FILE).write_text(HEADER + "".join(
        f"{d},,,,{f.sop_instance_uid},{f.follicle_id},{f.centroid_row},{f.centroid_col},,{who},\n"
        for d, f, who in (("not_follicle", rejected, "AB"), ("follicle", candidate, "Zoë Müller"))) + f"right,,,,{unknown},,,,,AB,RT OV\n",
        encoding="utf-8")  # a name outside ASCII made the SR invalid (dciodvfy: character invalid)

    run(inputs, options)
    follicles = pd.read_csv(out / "follicles.csv", dtype={"study_date": str})
    uid, observers, groups, side, count = _sr(out, rejected.sop_instance_uid)
    assert groups == {"follicle 2": True} and count == 1 == (follicles.sop_instance_uid == rejected.sop_instance_uid).sum()
    assert observers == ["AB"] and uid != before[f"{rejected.sop_instance_uid}_sr.dcm"]
    uid, observers, groups, side, count = _sr(out, candidate.sop_instance_uid)  # accepted, with its outline
    assert groups == {"follicle 1": True, f"follicle {candidate.follicle_id}": True} and count == 2
    assert observers == ["Zoë Müller"]
    assert _sr(out, unknown)[1] == ["AB"] and _sr(out, unknown)[3] == "Right"
    changed = {p for p in srs if pydicom.dcmread(out / "dicom" / p).SOPInstanceUID != before[p]}
    assert changed == {f"{u}_sr.dcm" for u in (rejected.sop_instance_uid, candidate.sop_instance_uid, unknown)}
    if shutil.which("dciodvfy"):
        for u in (unknown, candidate.sop_instance_uid):
            check = subprocess.run(["dciodvfy", str(out / "dicom" / f"{u}_sr.dcm")], capture_output=True, text=True)
            assert "Error" not in check.stdout + check.stderr
    reviewed = {p: (out / "dicom" / p).stat().st_mtime_ns for p in changed}
    run(inputs, options)  # the same review: written once
    assert {p: (out / "dicom" / p).stat().st_mtime_ns for p in changed} == reviewed
    (out / "dicom" / f"{unknown}_sr.dcm").unlink()  # analysed again for it, then reviewed again: the same SR
    uids = {p: pydicom.dcmread(out / "dicom" / p).SOPInstanceUID for p in changed - {f"{unknown}_sr.dcm"}}
    run(inputs, options)
    assert _sr(out, unknown)[3] == "Right"
    assert uids == {p: pydicom.dcmread(out / "dicom" / p).SOPInstanceUID for p in uids}

    (out / REVIEW_FILE).unlink()
    run(inputs, options)
    assert {p: pydicom.dcmread(out / "dicom" / p).SOPInstanceUID for p in srs} == before
    assert _sr(out, rejected.sop_instance_uid)[1:] == ([], {"follicle 1": True, "follicle 2": True}, "Left", 2)


def test_a_reviewed_seg_analysed_again_is_reviewed_again_and_given_back_once_the_review_is_removed(tmp_path: Path) -> None:
    """Through the pipeline, resumed: a review keeps the network's SEG in the run state while a
    reviewed one replaces it; an image analysed again (its SR deleted) writes the network's SEG
    anew and forgets the kept one, the review writes the same reviewed SEG again, and once the
    review is removed the network's SEG is back (the one written when analysed again: its UID and
    pixels the first analysis's) and nothing is kept."""
    from follicle_seg.report.reviewed_sr import under_review
    from follicle_seg.outdir import out_state
    from follicle_seg.state import StateStore

    out = tmp_path / "run"
    options = RunOptions(out=out, overlays=False, report=False)
    inputs = [SAMPLES / "mono_left.dcm"]
    run(inputs, options)
    f = pd.read_csv(out / "follicles.csv").iloc[0]
    seg = out / "dicom" / f"{f.sop_instance_uid}_seg.dcm"
    network = pydicom.dcmread(seg)
    (out / REVIEW_FILE).write_text(HEADER + f"not_follicle,,,,{f.sop_instance_uid},{f.follicle_id},{f.centroid_row},"
                                   f"{f.centroid_col},,AB,\n")  # fmt: skip

    def kept() -> set[str]:
        store = StateStore(out_state(out))
        try:
            return under_review(store)
        finally:
            store.close()

    run(inputs, options)
    reviewed = seg.read_bytes()
    assert pydicom.dcmread(seg).SOPInstanceUID != network.SOPInstanceUID and kept() == {f.sop_instance_uid}
    (out / "dicom" / f"{f.sop_instance_uid}_sr.dcm").unlink()  # analysed again, then reviewed again
    run(inputs, options)
    assert pydicom.dcmread(seg).SOPInstanceUID == pydicom.dcmread(io.BytesIO(reviewed)).SOPInstanceUID
    assert kept() == {f.sop_instance_uid}
    (out / REVIEW_FILE).unlink()
    run(inputs, options)
    back = pydicom.dcmread(seg)
    assert back.SOPInstanceUID == network.SOPInstanceUID and np.array_equal(back.pixel_array, network.pixel_array)
    assert kept() == set()


def test_an_sr_a_review_changes_but_that_cannot_be_written_again_is_said(tmp_path: Path) -> None:
    """An image whose SR fails kept the network's SR in silence: send then stored the rejected
    follicle as a finding (review)."""
    from test_visits import result  # tests/ is on sys.path

    from follicle_seg.report.reviewed_sr import write_reviewed_srs
    from follicle_seg.state import StateStore

    class Decided:  # a review deciding something on every image
        def sided(self, results):
            return results

        def of_image(self, r, named):
            return r, ["AB"]

    analysed = replace(result("1.2.3", [5.0]), outlines=())
    (tmp_path / "dicom").mkdir()
    (tmp_path / "dicom" / "1.2.3_sr.dcm").write_bytes(b"")
    store = StateStore(tmp_path / "state.sqlite")
    written, left = write_reviewed_srs(tmp_path, [analysed], Decided(), store, places={})  # type: ignore[arg-type]
    assert written == 0 and left[0].startswith(f"{analysed.path}: its SR in dicom/ cannot be read (")  # (an empty file)
    assert left[1].startswith(f"{analysed.path}: its SR and SEGs could not be written as reviewed (")
    store.close()


def test_a_folder_named_review_csv_is_refused_not_read_as_no_review(tmp_path: Path) -> None:
    assert not Review.read(tmp_path / REVIEW_FILE).decisions  # no review at all: none
    (tmp_path / REVIEW_FILE).mkdir()
    with pytest.raises(ReviewError, match=r"review.csv: not a file: save the review as a CSV file"):
        Review.read(tmp_path / REVIEW_FILE)


def test_a_line_after_a_comment_over_two_lines_is_named_by_its_first_line(tmp_path: Path) -> None:
    review = _review(tmp_path, 'not_follicle,,,,1.1,2,20,20,,AB,"two\nlines"', "not_follicle,,,,1.1,3,20,20,,AB,x")
    assert [(d.line, d.comment) for d in review.decisions] == [(2, "two\nlines"), (4, "x")]


def _with_candidate_and_tube():
    """Image 1.1 of :func:`_with_candidate` with a tube through its sweep too: candidate 4, scored
    0.95 (the network is sure of it; tracking.is_tube left it out), at row 60, column 60."""
    still, other = _with_candidate()
    tube = replace(still.unsure[0], follicle_id=4, best=replace(still.unsure[0].best, centroid_row=60, centroid_col=60,
                                                                score=0.95), kind=KIND_TUBE)  # fmt: skip
    return [replace(still, unsure=(*still.unsure, tube), flags=(FLAG_LOW_CONFIDENCE, FLAG_TUBE)), other]


def test_a_tube_candidate_is_called_a_tube_on_the_worksheet() -> None:
    """It was "network unsure (0.95)": nothing pointed the reviewer at the vessel rule."""
    sheet = worksheet(build_tables(_with_candidate_and_tube()))
    lines = sheet[candidate_lines(sheet)]
    assert list(zip(lines.follicle_id, lines.why)) == [("4", "tube through the sweep (0.95): follicle or not_follicle?"),
                                                        ("3", "network unsure (0.75): follicle or not_follicle?")]


@pytest.mark.parametrize(("line", "left"), [("follicle,,,,1.1,4,60,60,,AB,", FLAG_LOW_CONFIDENCE),
                                            ("not_follicle,,,,1.1,3,40,40,,AB,", FLAG_TUBE)])
def test_deciding_one_kind_of_candidate_settles_its_flag_only(tmp_path: Path, line, left) -> None:
    """Accepting the tube while an unsure candidate remains kept "tube through the sweep" as a
    reason (the flags went only with the last candidate of either kind), and deciding the unsure
    one kept a stale "low confidence" beside the tube."""
    tables = build_tables(_with_candidate_and_tube(), review=_review(tmp_path, line))
    reasons = tables["review_reasons"]
    assert list(reasons.loc[reasons.sop_instance_uid == "1.1", "flag"]) == [left]
    assert bool(tables["ovaries"].iloc[0]["needs_review"])
    assert tables["review_log"]["about"].tolist() == [KIND_TUBE if left == FLAG_LOW_CONFIDENCE else KIND_UNSURE]


def test_a_candidate_scoring_just_under_the_bound_is_unsure_in_every_table() -> None:
    """A raw score of 0.8996 once read 0.9 in candidates.csv, the bound it missed, and the
    worksheet (which told a candidate's kind from that score) called it a tube. A score is now
    stored to 3 decimals and the bound applied to it (tests/test_tracking.py): an unsure
    candidate scores 0.899 at most, and every table gives that value."""
    still, other = _with_candidate()
    (u,) = still.unsure
    still = replace(still, unsure=(replace(u, best=replace(u.best, score=0.899)),))
    tables = build_tables([still, other])
    assert tables["candidates"]["score"].tolist() == [0.899]
    sheet = worksheet(tables)
    assert sheet[candidate_lines(sheet)]["why"].tolist() == ["network unsure (0.89): follicle or not_follicle?"]
    assert set(tables["review_reasons"]["flag"]) == {FLAG_LOW_CONFIDENCE}


def test_a_run_with_a_review_tracks_the_sweeps_of_single_frame_files_once(tmp_path: Path, monkeypatch) -> None:
    """The reviewed SRs and the reviewed overlays each tracked every sweep of single-frame files
    again (series.named_in_sweeps) to tell which file names each follicle: twice a run."""
    from follicle_seg import series
    from follicle_seg.report import reviewed, reviewed_sr

    calls = []

    def counted(results):  # noqa: ANN001, ANN202
        calls.append(len(results))
        return tracked(results)

    tracked = series.named_in_sweeps
    for module in (series, reviewed, reviewed_sr):
        monkeypatch.setattr(module, "named_in_sweeps", counted)
    stills = []
    for k in range(2):  # a sweep stored one file per frame: mono_left.dcm's frame 40 ms apart
        ds = pydicom.dcmread(SAMPLES / "mono_left.dcm")
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.AcquisitionDateTime = f"20240611101500.{4 * k:02d}"
        ds.save_as(tmp_path / f"still{k}.dcm")
        stills.append(tmp_path / f"still{k}.dcm")
    out = tmp_path / "run"
    out.mkdir()
    (out / REVIEW_FILE).write_text(HEADER + "".join(f"right,,,,{pydicom.dcmread(p).SOPInstanceUID},,,,,AB,\n" for p in stills))
    run(stills, RunOptions(out=out, report=False, dicom=True, isolate=False))
    assert "2 single-frame files tracked as the frames of 1 sweeps" in (out / "run.log").read_text()
    assert calls == [2] and len(list((out / "overlays" / "reviewed").glob("*.png"))) == 2


NOTE_REASON = "rejected by key object note /in/note.dcm (Rejected for Quality Reasons): not analysed"


def _withdrawn(r):
    """Image result ``r`` as a rejection note among the inputs leaves it (intake._rejected_by_notes)."""
    return replace(r, status="rejected", reason=NOTE_REASON, follicles=(), flags=())


def test_a_confirmation_of_an_ovary_visit_that_lost_an_image_to_a_rejection_note_is_set_aside(tmp_path: Path) -> None:
    """Confirmed with its 2 images, then one withdrawn by a note: the run stopped ("confirms 2
    image(s) but P1/2026-01-05/L now has 1 (analysed since it was checked)"). The confirmation is set
    aside with the note's reason, and applies again once the note is removed."""
    path = tmp_path / REVIEW_FILE
    path.write_text("decision,patient_id,study_date,laterality,follicle_count,n_images,reviewer\n"
                    "confirmed,P1,2026-01-05,L,3,2,AB\n")  # fmt: skip
    first, second = _two_images()
    second = replace(second, flags=(FLAG_LOW_CONFIDENCE,))
    assert not build_tables([first, second], review=Review.read(path))["ovaries"]["needs_review"].any()
    for images in ([first, _withdrawn(second)], [_withdrawn(first), second]):  # (the count kept, or not)
        review = Review.read(path)
        tables = build_tables(images, review=review)
        why = f"not applied: its image {NOTE_REASON}"
        assert review.set_aside_lines == {2: (("P1", "2026-01-05", "L"), why)} and tables["review_log"].empty
        assert tables["ovaries"]["needs_review"].tolist() == [True]
        assert worksheet(tables, review=review).loc[0, ["decision", "why"]].tolist() == ["confirmed", why]


def test_a_confirmation_dated_by_a_spreadsheet_is_set_aside_with_its_withdrawn_ovary_visit(tmp_path: Path) -> None:
    """2026-01-05 written 05/01/2026 by a spreadsheet, its ovary-visit's one image withdrawn by a
    note: the line was looked for under its date as written, and the run stopped ("no ovary-visit
    P1/05/01/2026/L")."""
    first, _ = _two_images()
    review = _review(tmp_path, "confirmed,P1,05/01/2026,L,,,,,3,AB,")
    tables = build_tables([_withdrawn(first), result("2.1", [5.0], side="R")], review=review)
    assert review.set_aside_lines == {2: (("P1", "2026-01-05", "L"), f"not applied: its image {NOTE_REASON}")}
    assert worksheet(tables, review=review).loc[0, ["study_date", "laterality"]].tolist() == ["2026-01-05", "L"]


def test_the_srs_written_for_an_image_before_the_run_state_noted_them_outlive_no_resume(tmp_path: Path) -> None:
    """A run folder reviewed twice (SRs A, then B naming the network's N and A) before the run
    state noted every SR written ('SRs written: <uid>'): --no-resume, which an upgrade needs, removed
    dicom/ before anything read B's predecessors, and the SR written as reviewed after named N only
    (A and B, sent to a PACS perhaps, named by nothing)."""
    from contextlib import closing

    from follicle_seg.report.reviewed_sr import SRS_WRITTEN
    from follicle_seg.state import StateStore

    still = SAMPLES / "mono_left.dcm"
    uid = str(pydicom.dcmread(still).SOPInstanceUID)
    out = tmp_path / "run"
    options = RunOptions(out=out, overlays=False, report=False, isolate=False)
    run([still], options)
    follicles = pd.read_csv(out / "follicles.csv").set_index("follicle_id")
    srs = []
    for ids in ((1,), (1, 2)):
        (out / REVIEW_FILE).write_text(HEADER + "".join(
            f"not_follicle,,,,{uid},{i},{follicles.centroid_row[i]},{follicles.centroid_col[i]},,AB,\n" for i in ids))
        run([still], options)
        srs.append(pydicom.dcmread(out / "dicom" / f"{uid}_sr.dcm"))
    named = [str(i.ReferencedSOPInstanceUID) for s in srs[1].PredecessorDocumentsSequence
             for series in s.ReferencedSeriesSequence for i in series.ReferencedSOPSequence]  # fmt: skip
    assert len(named) == 2 and named[1] == srs[0].SOPInstanceUID
    with closing(StateStore(out / "run_state.sqlite")) as store:  # (as an earlier build left it)
        store.forget(SRS_WRITTEN + uid)
    run([still], replace(options, resume=False))
    after = pydicom.dcmread(out / "dicom" / f"{uid}_sr.dcm")
    assert after.SOPInstanceUID == srs[1].SOPInstanceUID  # B again, naming N and A
    assert [str(i.ReferencedSOPInstanceUID) for s in after.PredecessorDocumentsSequence
            for series in s.ReferencedSeriesSequence for i in series.ReferencedSOPSequence] == named  # fmt: skip


def test_a_confirmation_checked_after_an_image_was_withdrawn_applies(tmp_path: Path) -> None:
    """The worksheet of a run with image 1.2 withdrawn by a note shows P1/2026-01-05/L with 3
    follicles in 1 image; a reviewer confirmed that: it was set aside like one checked before the
    note, and the ovary-visit could not be confirmed while the note stood."""
    first, second = _two_images()
    images = [first, _withdrawn(replace(second, flags=(FLAG_LOW_CONFIDENCE,)))]
    shown = build_tables(images, review=Review())["ovaries"].iloc[0]
    assert (shown["follicle_count"], shown["n_images"], shown["needs_review"]) == (3, 1, True)
    path = tmp_path / REVIEW_FILE
    path.write_text("decision,patient_id,study_date,laterality,follicle_count,n_images,reviewer\n"
                    "confirmed,P1,2026-01-05,L,3,1,AB\n")  # fmt: skip
    review = Review.read(path)
    tables = build_tables(images, review=review)
    assert review.set_aside_lines == {} and review.applied == {2: ("P1", "2026-01-05", "L")}
    assert tables["ovaries"]["needs_review"].tolist() == [False] and len(tables["review_log"]) == 1


def test_a_confirmation_of_the_ovary_visit_a_withdrawn_image_was_given_by_a_side_line_is_set_aside(
    tmp_path: Path,
) -> None:
    """Image 1.2 of unknown side given "left", P1/2026-01-05/L confirmed with its 2 images, then
    1.2 withdrawn by a note: its ovary-visit was taken as P1/2026-01-05/U, the confirmation was
    not set aside, and the run stopped ("confirms 2 image(s) but P1/2026-01-05/L now has 1")."""
    images = [result("1.1", [6.0, 4.0]), result("1.2", [5.0], side=None)]
    path = tmp_path / REVIEW_FILE
    path.write_text("decision,patient_id,study_date,laterality,sop_instance_uid,follicle_count,n_images,reviewer\n"
                    "left,,,,1.2,,,AB\nconfirmed,P1,2026-01-05,L,,2,2,AB\n")  # fmt: skip
    assert build_tables(images, review=Review.read(path))["ovaries"]["needs_review"].tolist() == [False]
    review = Review.read(path)
    tables = build_tables([images[0], _withdrawn(images[1])], review=review)
    why = f"not applied: its image {NOTE_REASON}"
    assert review.set_aside_lines == {2: (("P1", "2026-01-05", "L"), why), 3: (("P1", "2026-01-05", "L"), why)}
    assert tables["ovaries"]["needs_review"].tolist() == [False] and tables["review_log"].empty


def test_an_ovary_visit_whose_confirmation_a_note_set_aside_is_confirmed_anew_on_a_second_line(tmp_path: Path) -> None:
    """Confirmed with its 2 images, then one withdrawn by a note: the confirmation is set aside and
    the next worksheet asks to confirm the ovary-visit again (1 image now). Deciding that line
    stopped the run ("line 3: confirmed: repeats line 2"): the line matching the ovary-visit as it
    is applies, the other is not applied, saying why, and each applies again when its state is back."""
    first, second = _two_images()
    second = replace(second, flags=(FLAG_LOW_CONFIDENCE,))
    path = tmp_path / REVIEW_FILE
    head = "decision,patient_id,study_date,laterality,follicle_count,n_images,reviewer\n"
    path.write_text(head + "confirmed,P1,2026-01-05,L,3,2,AB\n")
    withdrawn = [first, _withdrawn(second)]
    sheet = worksheet(build_tables(withdrawn, review=Review.read(path)), review=Review.read(path))
    asked = sheet.iloc[1]  # after the line set aside: confirm the ovary-visit as it is now
    assert asked[["decision", "follicle_count", "n_images"]].tolist() == ["", "3", "1"]
    path.write_text(head + "confirmed,P1,2026-01-05,L,3,2,AB\nconfirmed,P1,2026-01-05,L,3,1,CD\n")
    review = Review.read(path)
    tables = build_tables(withdrawn, review=review)
    assert tables["ovaries"]["needs_review"].tolist() == [False]
    assert tables["review_log"][["line", "reviewer"]].values.tolist() == [[3, "CD"]]
    note = f"not applied: its image {NOTE_REASON}"
    assert review.set_aside_lines == {2: (("P1", "2026-01-05", "L"), note)}
    sheet = worksheet(tables, review=review)
    assert sheet[["decision", "reviewer", "n_images", "why"]].values.tolist() == [
        ["confirmed", "AB", "2", note], ["confirmed", "CD", "1", ""]]  # (and nothing left to confirm)
    # the note removed: the first line applies again, the second waits, saying why
    review = Review.read(path)
    tables = build_tables([first, second], review=review)
    assert tables["ovaries"]["needs_review"].tolist() == [False]
    assert tables["review_log"][["line", "reviewer"]].values.tolist() == [[2, "AB"]]
    other = ("not applied: line 2 confirms P1/2026-01-05/L as it now is (3 follicles in 2 images); this line "
             "applies when it counts 3 follicles in 1 image again")  # fmt: skip
    assert review.set_aside_lines == {3: (("P1", "2026-01-05", "L"), other)}
    assert worksheet(tables, review=review)["why"].tolist() == ["", other]
    # neither line matching (a file came late): each one says why, as a single line does
    late = result("1.3", [2.0], flags=(FLAG_LOW_CONFIDENCE,))
    with pytest.raises(ReviewError, match=r"2 lines cannot be applied: line 2: confirmed: confirms 2 image\(s\) but "
                                          r"P1/2026-01-05/L now has 3 .*; line 3: confirmed: confirms 1 image\(s\)"):
        build_tables([first, second, late], review=Review.read(path))


def test_a_confirmation_is_bound_to_which_images_were_checked_not_only_how_many(tmp_path: Path) -> None:
    """Confirmed on the worksheet's line with images 1.1 and 1.2; then a note withdrew 1.2 and a file
    1.3 came (its own unsure candidate): the same count, 2 images, and the confirmation applied
    although nobody saw 1.3. The line gives the images' digest: set aside while the note stands, and
    without a note (1.2 gone from the inputs, 1.3 come) refused as an n_images mismatch is."""
    first, second = _two_images()
    tables = build_tables([first, second])
    sheet = worksheet(tables)
    sheet.loc[0, ["decision", "reviewer"]] = ["confirmed", "AB"]
    sheet.to_csv(tmp_path / REVIEW_FILE, index=False)
    assert not build_tables([first, second], review=Review.read(tmp_path / REVIEW_FILE))["ovaries"]["needs_review"].any()
    late = result("1.3", [5.0], flags=(FLAG_LOW_CONFIDENCE,))
    review = Review.read(tmp_path / REVIEW_FILE)
    tables = build_tables([first, _withdrawn(second), late], review=review)
    why = f"not applied: its image {NOTE_REASON}"
    assert review.set_aside_lines == {2: (("P1", "2026-01-05", "L"), why)} and tables["review_log"].empty
    assert tables["ovaries"][["n_images", "needs_review"]].values.tolist() == [[2, True]]
    with pytest.raises(ReviewError, match=r"line 2: confirmed: confirms other images than P1/2026-01-05/L now has "
                                          r"\(analysed since it was checked\): review it again"):
        build_tables([first, late], review=Review.read(tmp_path / REVIEW_FILE))
    # 8 letters (never read as a number by a spreadsheet), of the images whichever order they came in
    assert re.fullmatch("[a-z]{8}", sheet.loc[0, "images"])
    assert worksheet(build_tables([second, first])).loc[0, "images"] == sheet.loc[0, "images"]
    assert worksheet(build_tables([first, late])).loc[0, "images"] != sheet.loc[0, "images"]
    # confirmed anew with 1.3: the line that fits applies, the other waits for its images, saying so
    again = worksheet(tables, review=review).iloc[1]
    assert again[["decision", "n_images"]].tolist() == ["", "2"] and again["images"] != sheet.loc[0, "images"]
    decided = pd.concat([sheet.iloc[:1], again.to_frame().T.assign(decision="confirmed", reviewer="CD")])
    decided.to_csv(tmp_path / REVIEW_FILE, index=False)
    review = Review.read(tmp_path / REVIEW_FILE)
    tables = build_tables([first, late], review=review)
    assert tables["review_log"][["line", "reviewer"]].values.tolist() == [[3, "CD"]]
    assert review.set_aside_lines == {2: (("P1", "2026-01-05", "L"), (
        "not applied: line 3 confirms P1/2026-01-05/L as it now is (3 follicles in 2 images); this line applies "
        f"when it has the images it confirms ({sheet.loc[0, 'images']}) again"))}
    # a line without the digest (hand-written, or from an older worksheet) is bound as before
    sheet.loc[0, "images"] = ""
    sheet.to_csv(tmp_path / REVIEW_FILE, index=False)
    assert not build_tables([first, late], review=Review.read(tmp_path / REVIEW_FILE))["ovaries"]["needs_review"].any()


@pytest.mark.parametrize("n_images", ["2", ""])
def test_two_confirmations_of_one_ovary_visit_at_one_count_and_its_images_are_refused(tmp_path: Path, n_images) -> None:
    """The same count and images (or a line bound to the count alone: either could apply) twice is a repeat."""
    path = tmp_path / REVIEW_FILE
    path.write_text("decision,patient_id,study_date,laterality,follicle_count,n_images,reviewer\n"
                    f"confirmed,P1,2026-01-05,L,3,2,AB\nconfirmed,P1,2026-01-05,L,3,{n_images},CD\n")  # fmt: skip
    with pytest.raises(ReviewError, match=r"line 3: confirmed: repeats line 2"):
        Review.read(path)


def test_a_rejected_image_of_unknown_side_stays_flagged_once_the_others_are_given_their_sides(tmp_path: Path) -> None:
    """Image u1 of unknown side analysed, b9 of unknown side rejected: the side-unknown ovary-visit
    said b9 was not analysed. Once the reviewer gave u1 its side, that ovary-visit was gone and
    with it the reason: the left one needed no review, its worksheet no line, b9 forgotten. A side
    line naming b9 itself finds no analysed image, as any line does."""
    from follicle_seg.tracking import FLAG_SIDE_UNKNOWN
    from follicle_seg.types import Identity, ImageResult
    from follicle_seg.visits import FLAG_IMAGE_NOT_ANALYSED

    images = [result("u1", [6.0, 4.0], side="U", flags=(FLAG_SIDE_UNKNOWN,)),
              ImageResult(None, "cut/b9.dcm", "rejected", "truncated", identity=Identity("b9", "P1", "2026-01-05", "U"))]  # fmt: skip
    review = _review(tmp_path, "left,,,,u1,,,,,AB,")
    tables = build_tables(images, review=review)
    reasons = tables["review_reasons"]
    assert reasons[["laterality", "flag"]].values.tolist() == [["L", FLAG_IMAGE_NOT_ANALYSED]]
    assert "(image ...b9;" in reasons["reason"].iloc[0] and tables["ovaries"]["needs_review"].tolist() == [True]
    sheet = worksheet(tables, review=review)
    assert sheet[["decision", "laterality", "follicle_count", "n_images"]].values.tolist()[:2] == [
        ["left", "L", "", ""], ["", "L", "2", "1"]]  # the left ovary-visit to confirm, b9 in its why
    assert "(image ...b9;" in sheet["why"].iloc[1]
    with pytest.raises(ReviewError, match=r"line 3: right: no analysed image b9 in this run's results"):
        build_tables(images, review=_review(tmp_path, "left,,,,u1,,,,,AB,", "right,,,,b9,,,,,AB,"))
