"""Tables from image results: SPEC columns, ovary-visit counts, AFC and size classes, visits."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from follicle_seg.tracking import (FLAG_LOW_CONFIDENCE, FLAG_REASONS, FLAG_SIDE_UNKNOWN, FLAG_TUBE, FLAG_UNCALIBRATED, KIND_TUBE,
                                   KIND_UNSURE)
from follicle_seg.visits import (
    COLUMNS,
    FLAG_COUNTS_DISAGREE,
    FLAG_IMAGE_NOT_ANALYSED,
    FLAG_OTHER_SIDE_MISSING,
    REASON_COLUMNS,
    build_tables,
    in_afc_range,
    size_class,
    week_of,
)
from follicle_seg.types import (
    UNCALIBRATED,
    Calibration,
    Follicle,
    ImageRecord,
    ImageResult,
    Section,
)

# A literal copy of the SPEC column lists: a change to COLUMNS must be a change to SPEC.md.
SPEC_COLUMNS = {
    "images": "path sop_instance_uid patient_id study_date laterality n_frames spacing_row_mm "
    "spacing_col_mm calibrated status reason follicle_count",
    "follicles": "patient_id study_date laterality follicle_id sop_instance_uid frame_index "
    "centroid_row centroid_col d1_mm d2_mm mean_diameter_mm area_mm2 volume_ml n_frames "
    "size_class score counted",
    "ovaries": "patient_id study_date laterality group days_from_baseline n_images follicle_count "
    "afc count_2_5 count_5_10 count_10_14 count_14_18 count_ge18 max_follicle_mm "
    "follicle_sizes_mm ovary_d1_mm ovary_d2_mm ovary_area_mm2 ovary_volume_ml calibrated "
    "needs_review",
    "visits": "patient_id group study_date days_from_baseline follicle_count afc max_follicle_mm "
    "delta_follicle_count delta_afc any_follicle_ge10mm needs_review",
    "response": "group week n_patients follicle_count_mean follicle_count_median "
    "delta_follicle_count_mean afc_mean max_follicle_mm_mean patients_with_follicle_ge10mm "
    "share_with_follicle_ge10mm",
}


def record(uid, patient="P1", day="2026-01-05", side="L", n_frames=1, calibrated=True, study=None, date_tag=""):
    cal = Calibration(0.2, 0.2, "ultrasound_region") if calibrated else UNCALIBRATED
    return ImageRecord(
        path=f"/in/{uid}.dcm", sop_instance_uid=uid, sop_class_uid="1.2.840.10008.5.1.4.1.1.6.1",
        modality="US", patient_id=patient, study_instance_uid=study or f"st-{patient}-{day}",
        study_date=day, series_instance_uid="se", series_description="", laterality=side,
        laterality_source="ImageLaterality", n_frames=n_frames, rows=100, columns=100,
        photometric="MONOCHROME2", transfer_syntax="1.2.840.10008.1.2.1", calibration=cal,
        region=(0, 0, 99, 99), region_source="ultrasound_region", date_tag=date_tag,
    )  # fmt: skip


def follicle(i, uid, mean_mm, calibrated=True):
    d_px = mean_mm / 0.2
    d = mean_mm if calibrated else None
    best = Section(0, 50.0, 50.0, int(d_px**2), d_px, d_px, d, d, (d * d if d else None), 0.9)
    return Follicle(i, uid, best, 1, None, (math.pi / 6 * d**3 / 1000) if d else None)


def result(uid, sizes, flags=(), ovary=None, volume=None, **kw):
    rec = record(uid, **kw)
    cal = rec.calibration.calibrated
    fols = tuple(follicle(i, uid, d, cal) for i, d in enumerate(sorted(sizes, reverse=True), 1))
    flags = tuple(flags) + (() if cal else (FLAG_UNCALIBRATED,))
    return ImageResult(rec, rec.path, "ok", follicles=fols, ovary=ovary, ovary_volume_ml=volume, flags=flags)


def ovary_section(d1, d2):
    return Section(0, 50.0, 50.0, int(d1 * d2 * 20), d1 * 5, d2 * 5, d1, d2, d1 * d2 * 0.8)


def test_columns_equal_spec():
    assert {k: list(v) for k, v in COLUMNS.items()} == {k: v.split() for k, v in SPEC_COLUMNS.items()}
    tables = build_tables([result("1", [4.0, 12.0])])
    for name, cols in SPEC_COLUMNS.items():
        assert list(tables[name].columns) == cols.split()
    empty = build_tables([])
    for name, cols in SPEC_COLUMNS.items():
        assert list(empty[name].columns) == cols.split() and len(empty[name]) == 0


@pytest.mark.parametrize(
    ("d", "label", "afc"),
    [(1.99, "", False), (2.0, "2-5", True), (4.99, "2-5", True), (5.0, "5-10", True),
     (9.99, "5-10", True), (10.0, "10-14", True), (10.01, "10-14", False), (14.0, "14-18", False),
     (18.0, ">=18", False), (2.0 - 1e-9, "2-5", True), (10.0 + 1e-9, "10-14", True)],
)  # fmt: skip
def test_size_class_and_afc_boundaries(d, label, afc):
    assert size_class(d) == label
    assert in_afc_range(d) is afc


def test_boundaries_in_the_ovary_table():
    t = build_tables([result("1", [2.0, 5.0, 10.0, 14.0, 18.0, 9.99])])
    ov = t["ovaries"].iloc[0]
    assert ov["follicle_count"] == 6
    assert ov["afc"] == 4  # 2.0, 5.0, 9.99, 10.0
    counts = [ov[c] for c in ("count_2_5", "count_5_10", "count_10_14", "count_14_18", "count_ge18")]
    assert counts == [1, 2, 1, 1, 1]
    assert ov["max_follicle_mm"] == 18.0
    assert ov["follicle_sizes_mm"] == "18.0;14.0;10.0;10.0;5.0;2.0"  # SPEC's one decimal, 9.99 too
    assert list(t["follicles"]["size_class"]) == [">=18", "14-18", "10-14", "5-10", "5-10", "2-5"]


@pytest.mark.parametrize(
    ("sizes", "shown"),
    [([9.95, 9.949, 2.95], "9.95;9.95;3.0"),  # 9.949 is tabled 9.95, in the AFC and 5-10 as 9.95 is
     ([10.04, 10.05, 10.0], "10.1;10.04;10.0"),  # "10.0" is in the AFC, 10.04 is not; 10.05 reads 10.1
     ([13.96, 17.95, 4.951, 2.04, 18.04, 14.04], "18.0;17.95;14.0;13.96;4.95;2.0"),
     ([1.996, 2.949, 4.949], "4.95;3.0;2.0")],  # 1.996 is tabled 2.0, and counted
)  # fmt: skip
def test_the_sizes_shown_read_in_the_class_afc_and_ge10_of_each_follicle(sizes, shown):
    """A size the overlays and report show (``shown_mm``) has one decimal unless one decimal would
    put the follicle in another size class or AFC status than ``follicles.csv`` gives it (9.99
    read "10.0" beside count_5_10 = 1); ``follicle_sizes_mm`` keeps SPEC's one decimal always."""
    import re

    from follicle_seg.visits import shown_mm

    t = build_tables([result("a", sizes)])
    ov, fol = t["ovaries"].iloc[0], t["follicles"]
    means = sorted(fol.loc[fol["counted"], "mean_diameter_mm"], reverse=True)
    assert ";".join(shown_mm(d) for d in means) == shown
    assert re.fullmatch(r"\d+\.\d(;\d+\.\d)*", ov["follicle_sizes_mm"])
    listed = [float(shown_mm(d)) for d in means]
    assert [size_class(d) for d in listed] == list(fol.loc[fol["counted"], "size_class"])
    counts = {c: ov[c] for c in ("count_2_5", "count_5_10", "count_10_14", "count_14_18", "count_ge18")}
    assert counts == {c: sum(size_class(d) == label for d in listed)
                      for label, c in zip(("2-5", "5-10", "10-14", "14-18", ">=18"), counts)}  # fmt: skip
    assert ov["afc"] == sum(in_afc_range(d) for d in listed)
    assert bool(t["visits"].loc[0, "any_follicle_ge10mm"]) == any(d >= 10.0 for d in listed)


def test_several_images_of_one_ovary_are_never_summed():
    results = [
        result("1.1", [6.0, 4.0]),
        result("1.2", [6.1, 4.2, 3.0]),
        result("1.3", [5.9]),
    ]
    t = build_tables(results)
    ov = t["ovaries"]
    assert len(ov) == 1
    assert ov.iloc[0]["follicle_count"] == 3
    assert ov.iloc[0]["n_images"] == 3
    fo = t["follicles"]
    assert len(fo) == 6  # every analysed image keeps its rows
    counted = fo[fo["counted"]]
    assert len(counted) == 3 and set(counted["sop_instance_uid"]) == {"1.2"}
    assert bool(ov.iloc[0]["needs_review"])  # 3 vs 1 follicles: disagree by more than one


def test_images_agreeing_within_one_do_not_need_review():
    t = build_tables([result("1.1", [6.0, 4.0]), result("1.2", [6.1, 4.2, 3.0])])
    assert not t["ovaries"].iloc[0]["needs_review"]


def test_tie_prefers_the_sweep_then_more_frames():
    results = [
        result("1.1", [6.0, 4.0]),
        result("1.3", [6.0, 4.0], n_frames=10),
        result("1.2", [6.0, 4.0], n_frames=30),
    ]
    fo = build_tables(results)["follicles"]
    assert set(fo[fo["counted"]]["sop_instance_uid"]) == {"1.2"}


def test_grouping_by_patient_visit_and_side():
    results = [
        result("a", [5.0], patient="P1", day="2026-01-05", side="L"),
        result("b", [5.0, 3.0], patient="P1", day="2026-01-05", side="R"),
        result("c", [7.0], patient="P1", day="2026-01-19", side="L"),
        result("d", [2.5], patient="P2", day="2026-01-05", side="L"),
    ]
    t = build_tables(results)
    ov = t["ovaries"].set_index(["patient_id", "study_date", "laterality"])["follicle_count"]
    assert ov.to_dict() == {
        ("P1", "2026-01-05", "L"): 1,
        ("P1", "2026-01-05", "R"): 2,
        ("P1", "2026-01-19", "L"): 1,
        ("P2", "2026-01-05", "L"): 1,
    }
    v = t["visits"].set_index(["patient_id", "study_date"])
    assert v.loc[("P1", "2026-01-05"), "follicle_count"] == 3  # left + right
    assert v.loc[("P1", "2026-01-05"), "max_follicle_mm"] == 5.0
    assert v.loc[("P1", "2026-01-05"), "afc"] == 3


def test_cohort_join_and_change_from_baseline():
    results = [
        result("a0", [], patient="P1", day="2026-01-05", side="L"),
        result("b0", [3.0], patient="P1", day="2026-01-05", side="R"),
        result("a1", [4.0, 11.0], patient="P1", day="2026-01-19", side="L"),
        result("b1", [3.0], patient="P1", day="2026-01-19", side="R"),
        result("c0", [6.0], patient="P2", day="2026-02-01", side="L"),
        result("c1", [], patient="P2", day="2026-02-16", side="L"),
    ]
    cohort = pd.DataFrame(
        {"patient_id": ["P1", "P2"], "group": ["high", "low"], "baseline_date": ["2026-01-05", ""]}
    )
    t = build_tables(results, cohort)
    v = t["visits"].set_index(["patient_id", "study_date"])
    assert list(t["visits"]["group"]) == ["high", "high", "low", "low"]
    assert v.loc[("P1", "2026-01-19"), "days_from_baseline"] == 14
    assert v.loc[("P1", "2026-01-19"), "follicle_count"] == 3
    assert v.loc[("P1", "2026-01-19"), "delta_follicle_count"] == 2
    assert v.loc[("P1", "2026-01-19"), "delta_afc"] == 1  # 11 mm is outside the AFC
    assert bool(v.loc[("P1", "2026-01-19"), "any_follicle_ge10mm"])
    assert not v.loc[("P1", "2026-01-05"), "any_follicle_ge10mm"]
    # P2 has no baseline date in the cohort: its first visit is day 0
    assert v.loc[("P2", "2026-02-16"), "days_from_baseline"] == 15
    assert v.loc[("P2", "2026-02-16"), "delta_follicle_count"] == -1
    assert set(t["ovaries"]["group"]) == {"high", "low"}
    r = t["response"].set_index(["group", "week"])
    assert r.loc[("high", 2), "n_patients"] == 1
    assert r.loc[("high", 2), "patients_with_follicle_ge10mm"] == 1
    assert r.loc[("high", 2), "share_with_follicle_ge10mm"] == 1.0
    assert r.loc[("low", 2), "delta_follicle_count_mean"] == -1.0


def test_a_change_from_a_baseline_that_needs_review_needs_review_too():
    """A visit's change is measured against its baseline's count: with the baseline unreviewed,
    an analyst keeping the unflagged visits kept changes nobody could vouch for."""
    low = ("network: low confidence",)
    results = [
        result("a0", [3.0], flags=low, day="2026-01-05", side="L"),
        result("b0", [], day="2026-01-05", side="R"),
        result("a1", [4.0], day="2026-01-19", side="L"),
        result("b1", [], day="2026-01-19", side="R"),
    ]
    v = build_tables(results)["visits"]
    assert v["needs_review"].tolist() == [True, True] and v["delta_follicle_count"].tolist() == [0, 0]
    results[0] = result("a0", [3.0], day="2026-01-05", side="L")
    assert build_tables(results)["visits"]["needs_review"].tolist() == [False, False]


def test_share_with_a_follicle_ge10mm_leaves_out_the_patients_whose_status_is_unknown():
    """A patient whose only follicle-free side was uncalibrated (>= 10 mm unknown) counted as
    one without: the share, an efficacy figure, was lowered by unknowns."""
    results = [
        result("a", [12.0], patient="P1", day="2026-01-05"),
        result("b", [4.0], patient="P2", day="2026-01-05"),
        result("c", [4.0], patient="P3", day="2026-01-05", calibrated=False),
    ]
    cohort = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "group": ["low"] * 3, "baseline_date": [""] * 3})
    r = build_tables(results, cohort)["response"].iloc[0]
    assert (r["n_patients"], r["patients_with_follicle_ge10mm"], r["share_with_follicle_ge10mm"]) == (3, 1, 0.5)


def test_a_cohort_patient_without_a_group_is_said_and_the_ungrouped_come_last():
    """P2's group cell was empty: nothing said so, and the response's ungrouped row (P2 with P4,
    not in the cohort) stood between low and high."""
    from follicle_seg.visits import cohort_mismatches

    cohort = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "group": ["low", "", "high"], "baseline_date": [""] * 3})
    t = build_tables([result(p, [4.0], patient=p) for p in ("P1", "P2", "P3", "P4")], cohort)
    assert t["response"]["group"].tolist() == ["low", "high", ""]
    assert cohort_mismatches(t["images"], t["ovaries"], cohort) == [
        "1 patient(s) scanned but not in the cohort file, given no group: P4",
        "1 patient(s) of the cohort file without a group: P2"]  # fmt: skip


def test_a_scanned_id_written_otherwise_in_the_cohort_file_is_said_beside_it():
    """PatientID 7 in the scans and 007 in the cohort file were said apart, the scanned one without
    a group, the listed one without a scan: nothing said they were one patient."""
    from follicle_seg.visits import cohort_mismatches

    cohort = pd.DataFrame({"patient_id": ["007", "p-01", "P2"], "group": ["low"] * 3, "baseline_date": [""] * 3})
    t = build_tables([result(p, [4.0], patient=p) for p in ("7", "P01", "P2", "P3")], cohort)
    assert cohort_mismatches(t["images"], t["ovaries"], cohort) == [
        "3 patient(s) scanned but not in the cohort file, given no group: 7, P01, P3",
        "2 patient(s) of the cohort file without any scan: 007, p-01",
        "2 scanned patient(s) written otherwise in the cohort file (leading zeros, case, spaces, dashes or underscores): "
        "7 (scans) ~ 007 (cohort), P01 (scans) ~ p-01 (cohort)"]  # fmt: skip


def test_a_patient_id_holding_escape_codes_is_said_escaped_on_one_line():
    """A PatientID holding an escape code and a line break reached the console and run.log as it
    was: the escape code cleared the terminal, the line break forged a log line."""
    from follicle_seg.visits import cohort_mismatches

    cohort = pd.DataFrame({"patient_id": ["P1"], "group": ["low"], "baseline_date": [""]})
    odd = "P\x1b[2J\nfake line"
    t = build_tables([result(p, [4.0], patient=p) for p in ("P1", odd)], cohort)
    assert cohort_mismatches(t["images"], t["ovaries"], cohort) == [
        "1 patient(s) scanned but not in the cohort file, given no group: P\\x1b[2J\\nfake line"]

def test_a_baseline_date_far_from_every_scan_is_said():
    """A mistyped year emptied every change of the patient in silence."""
    from follicle_seg.visits import cohort_mismatches

    results = [result("a", [3.0], day="2026-01-05"), result("b", [4.0], day="2026-01-19")]
    cohort = pd.DataFrame({"patient_id": ["P1"], "group": ["low"], "baseline_date": ["2025-01-05"]})
    t = build_tables(results, cohort)
    assert t["visits"]["delta_follicle_count"].isna().all()
    assert cohort_mismatches(t["images"], t["ovaries"], cohort) == [
        "1 patient(s) without an analysed scan at week 0 (7 days before to 6 after the cohort's baseline_date, else "
        "the first visit): no change from baseline: P1 (nearest scan 365 days after)"]  # fmt: skip


def test_response_lists_dose_groups_in_the_cohort_files_order():
    results = [
        result(f"{p}{d}", [4.0], patient=p, day=day)
        for p in ("P1", "P2", "P3", "P4")
        for d, day in ((0, "2026-01-05"), (1, "2026-01-19"))
    ]
    # P4 is not in the cohort: no group, after the cohort's groups
    cohort = pd.DataFrame({"patient_id": ["P3", "P1", "P2"], "group": ["low", "medium", "high"]})
    t = build_tables(results, cohort)
    keys = list(zip(t["response"]["group"], t["response"]["week"]))
    assert keys == [("low", 0), ("low", 2), ("medium", 0), ("medium", 2), ("high", 0), ("high", 2), ("", 0), ("", 2)]
    # by name, "high" would come first
    assert list(build_tables(results, cohort.iloc[[2, 0, 1]])["response"]["group"][:2]) == ["high", "high"]


def test_without_cohort_group_is_empty_and_baseline_is_first_visit():
    results = [
        result("a", [3.0], day="2026-03-01"),
        result("b", [3.0, 4.0], day="2026-02-01"),
    ]
    t = build_tables(results)
    v = t["visits"]
    assert list(v["group"]) == ["", ""]
    assert list(v["days_from_baseline"]) == [0, 28]
    assert list(v["delta_follicle_count"]) == [0, -1]
    assert list(t["response"]["week"]) == [0, 4]


def test_baseline_visit_is_the_day_zero_visit_when_cohort_date_matches():
    results = [
        result("a", [3.0], day="2026-01-01"),  # screening visit before baseline
        result("b", [3.0, 4.0], day="2026-01-15"),
        result("c", [3.0, 4.0, 5.0], day="2026-01-29"),
    ]
    cohort = pd.DataFrame({"patient_id": ["P1"], "group": ["mid"], "baseline_date": ["2026-01-15"]})
    v = build_tables(results, cohort)["visits"]
    assert list(v["days_from_baseline"]) == [-14, 0, 14]
    # no change backwards in time: a screening visit has none (as ADaM leaves CHG empty there)
    assert v["delta_follicle_count"].tolist() == [pd.NA, 0, 1]
    # nor one in week 0 but days before the baseline visit (it got +1, and week 0's mean change 0.5)
    results[0] = result("a", [3.0, 4.0, 5.0, 6.0], day="2026-01-10")  # day -5
    t = build_tables(results, cohort)
    assert t["visits"]["delta_follicle_count"].tolist() == [pd.NA, 0, 1]
    assert t["response"].set_index("week").loc[0, "delta_follicle_count_mean"] == 0.0


def test_without_a_baseline_scan_the_change_from_baseline_stays_empty():
    """The cohort's baseline day has no scan (nor one within a week of it): a change measured from
    the first scan two weeks later would read as "no change" at week 2; the deltas stay empty."""
    results = [result("b", [3.0, 4.0], day="2026-01-19"), result("c", [3.0], day="2026-02-02"),
               result("d", [5.0], day="2026-01-09", patient="P2"), result("e", [], day="2026-01-23", patient="P2")]
    cohort = pd.DataFrame({"patient_id": ["P1", "P2"], "group": ["mid", "mid"],
                           "baseline_date": ["2026-01-05", "2026-01-05"]})  # fmt: skip
    t = build_tables(results, cohort)
    v = t["visits"].set_index(["patient_id", "study_date"])
    assert list(v.loc["P1", "days_from_baseline"]) == [14, 28]
    assert v.loc["P1", "delta_follicle_count"].isna().all() and v.loc["P1", "delta_afc"].isna().all()
    # P2's scan four days after the baseline date is its baseline visit (nominal week 0)
    assert list(v.loc["P2", "delta_follicle_count"]) == [0, -1]
    r = t["response"].set_index("week")
    assert r.loc[2, "n_patients"] == 2 and r.loc[2, "delta_follicle_count_mean"] == -1.0  # P2's only


def test_a_first_visit_whose_every_file_was_rejected_is_still_the_baseline_day():
    """Without a cohort baseline_date the baseline is the first visit: when its files were all
    rejected, the next visit became day 0, so week 2 read as week 0 and week 4 as week 2, with a
    change from a visit two weeks after baseline (+2 read as the change at week 2), said nowhere."""
    from follicle_seg.types import Identity
    from follicle_seg.visits import cohort_mismatches

    results = [ImageResult(None, f"v0/{s}.dcm", "rejected", "truncated", identity=Identity(f"{s}0", "P1", "2026-01-05", s))
               for s in ("L", "R")] + [
        result("l1", [3.0], day="2026-01-19"), result("r1", [4.0], side="R", day="2026-01-19"),
        result("l2", [3.0, 5.0, 6.0], day="2026-02-02"), result("r2", [4.0], side="R", day="2026-02-02")]  # fmt: skip
    cohort = pd.DataFrame({"patient_id": ["P1"], "group": ["low"], "baseline_date": [""]})
    t = build_tables(results, cohort)
    assert t["visits"]["days_from_baseline"].tolist() == [14, 28]
    assert t["visits"]["delta_follicle_count"].isna().all() and t["visits"]["delta_afc"].isna().all()
    assert t["response"]["week"].tolist() == [2, 4]
    assert cohort_mismatches(t["images"], t["ovaries"], cohort) == [
        "1 patient(s) without an analysed scan at week 0 (7 days before to 6 after the cohort's baseline_date, else "
        "the first visit): no change from baseline: P1 (nearest scan 14 days after)"]  # fmt: skip
    # without a cohort file too (the run said nothing): a rejected file's wrong date moves day 0 as far
    bad = [replace(results[0], identity=Identity("X0", "P1", "2000-01-01", "L"))] + results[2:]
    t = build_tables(bad)
    assert t["visits"]["days_from_baseline"].tolist() == [9515, 9529]
    assert cohort_mismatches(t["images"], t["ovaries"], None) == [
        "1 patient(s) without an analysed scan at week 0 (7 days before to 6 after the first visit): no change "
        "from baseline: P1 (nearest scan 9515 days after)"]  # fmt: skip


def test_a_change_from_baseline_is_measured_only_between_visits_of_the_same_sides():
    """A baseline that imaged the left ovary only made each later visit of both ovaries read as a
    rise (1 -> 3: +2, a false efficacy signal); a one-sided later visit as a fall."""
    results = [result("l0", [3.0], day="2026-01-05"),
               result("l1", [3.0], day="2026-01-19"), result("r1", [4.0, 5.0], day="2026-01-19", side="R"),
               result("l2", [3.0], day="2026-02-02"),
               result("l3", [3.0], patient="P2", day="2026-01-05"), result("r3", [4.0], patient="P2", day="2026-01-05", side="R"),
               result("l4", [3.0, 4.0, 6.0], patient="P2", day="2026-01-19"),
               result("l5", [3.0, 4.0], patient="P2", day="2026-02-02"),
               result("r5", [4.0], patient="P2", day="2026-02-02", side="R")]  # fmt: skip
    t = build_tables(results)
    v = t["visits"].set_index(["patient_id", "study_date"])
    assert list(v.loc["P1", "follicle_count"]) == [1, 3, 1]
    assert v.loc["P1", "delta_follicle_count"].tolist()[0] == 0 and v.loc["P1", "delta_follicle_count"].isna().tolist() == [False, True, False]
    assert v.loc["P1", "delta_afc"].isna().tolist() == [False, True, False]
    assert v.loc["P2", "delta_follicle_count"].isna().tolist() == [False, True, False]
    assert list(v.loc["P2", "delta_follicle_count"].dropna()) == [0, 1]
    assert t["response"].set_index("week").loc[2, "delta_follicle_count_mean"] != t["response"].set_index("week").loc[2, "delta_follicle_count_mean"]  # NaN: no patient's change


def test_the_files_of_one_study_are_one_visit_whatever_day_a_later_date_tag_gives():
    """A study's file without StudyDate, dated by its ContentDate after midnight, is the study's
    visit, not a visit of its own (and two one-sided ones); without any StudyDate, dates a day
    apart at most are the exam's first day; further apart, they stay apart."""
    results = [
        result("a", [3.0], day="2025-04-18", side="L", study="s1", date_tag="StudyDate"),
        result("b", [4.0, 5.0], day="2025-04-19", side="R", study="s1", date_tag="ContentDate"),
        result("c", [3.0], patient="P2", day="2025-04-19", side="L", study="s2", date_tag="ContentDate"),
        result("d", [3.0], patient="P2", day="2025-04-18", side="R", study="s2", date_tag="SeriesDate"),
        result("e", [3.0], patient="P3", day="2025-04-18", study="s3", date_tag="ContentDate"),
        result("f", [3.0], patient="P3", day="2025-04-21", study="s3", date_tag="ContentDate"),
    ]
    t = build_tables(results)
    v = t["visits"]
    assert list(zip(v["patient_id"], v["study_date"], v["follicle_count"])) == [
        ("P1", "2025-04-18", 3), ("P2", "2025-04-18", 2), ("P3", "2025-04-18", 1), ("P3", "2025-04-21", 1)]  # fmt: skip
    assert list(t["images"]["study_date"]) == ["2025-04-18"] * 4 + ["2025-04-18", "2025-04-21"]
    assert FLAG_OTHER_SIDE_MISSING not in set(t["review_reasons"]["flag"])


def test_a_studys_day_is_decided_from_its_files_that_failed_too_as_the_run_drew_them():
    """The run decides each study's day from every file's header before analysing it (its
    overlays are named with that day); a file that then failed still counts. Dates two days apart
    give no day: the ok files keep their own dates (the tables moved b onto a's day, its overlay
    named with its own)."""
    c = record("c", day="2026-01-07", study="s1", date_tag="ContentDate")
    results = [result("a", [3.0], day="2026-01-05", study="s1", date_tag="ContentDate"),
               result("b", [4.0], day="2026-01-06", study="s1", date_tag="ContentDate"),
               ImageResult(c, c.path, "failed", "decoder died")]  # fmt: skip
    assert list(build_tables(results)["ovaries"]["study_date"]) == ["2026-01-05", "2026-01-06"]


def test_visits_are_listed_by_date_whatever_their_study_uids():
    results = [result("a", [3.0], day="2026-03-01", study="1.10"), result("b", [3.0], day="2026-02-01", study="1.9")]
    assert list(build_tables(results)["visits"]["study_date"]) == ["2026-02-01", "2026-03-01"]


def test_a_file_without_a_date_joins_its_study_and_is_flagged_when_none_of_it_has_one():
    results = [
        result("a", [3.0], day="2026-01-05", study="s1"),
        result("b", [3.0, 4.0], day="", study="s1"),  # the same exam, date blanked
        result("c", [5.0], day="", study="s2"),  # an exam without any date
        result("d", [5.0], patient="", day="2026-01-05", study="s3"),
        result("e", [4.0], patient="P2", day="", study="s1"),  # another patient's study UID: no date lent
    ]
    t = build_tables(results)
    o = t["ovaries"]
    assert list(zip(o["patient_id"], o["study_date"], o["laterality"], o["follicle_count"])) == [
        ("", "2026-01-05", "L", 1), ("P1", "2026-01-05", "L", 2), ("P1", "", "L", 1), ("P2", "", "L", 1)]  # fmt: skip
    assert pd.isna(o.loc[2, "days_from_baseline"]) and not o.loc[1, "needs_review"]
    why = t["review_reasons"].set_index("sop_instance_uid")["flag"]
    assert why.to_dict() == {"c": "date unknown", "d": "patient unknown", "e": "date unknown"}
    assert list(t["images"]["study_date"]) == ["2026-01-05", "2026-01-05", "", "2026-01-05", ""]  # b: its study's
    v = t["visits"]
    # no change measured at an unknown time, nor for files that may be several women's
    assert v["delta_follicle_count"].isna().tolist() == [True, False, True, True]
    assert v["days_from_baseline"].isna().tolist() == [True, False, True, True]
    assert list(t["response"]["n_patients"]) == [1]  # P1's dated visit only


def test_two_studies_of_one_day_are_one_visit_with_one_row_per_ovary():
    """A scan repeated under a new study, or each ovary in a study of its own: two rows of one
    key (patient, date, side) in ovaries.csv, and two visits of one day, before."""
    results = [result("a", [3.0], day="2026-01-05", study="s1"), result("b", [3.0, 4.0], day="2026-01-05", study="s2"),
               result("c", [5.0], day="2026-01-05", study="s2", side="R"),
               result("d", [4.0], day="", study="s8"), result("e", [4.0, 5.0], day="", study="s9")]  # fmt: skip
    t = build_tables(results)
    o = t["ovaries"]
    assert list(zip(o["study_date"], o["laterality"], o["follicle_count"], o["n_images"])) == [
        ("2026-01-05", "L", 2, 2), ("2026-01-05", "R", 1, 1), ("", "L", 2, 2)]  # the largest count, never a sum
    assert list(zip(t["visits"]["study_date"], t["visits"]["follicle_count"])) == [("2026-01-05", 3), ("", 2)]
    why = t["review_reasons"]
    assert set(why.loc[why["flag"] == "other side not scanned", "study_date"]) == {""}  # not the dated day


def test_the_size_list_rounds_the_tabled_diameters_halves_up():
    t = build_tables([result("a", [7.85, 7.95, 3.25, 3.24])])
    assert t["ovaries"].loc[0, "follicle_sizes_mm"] == "8.0;7.9;3.3;3.2"
    assert sorted(t["follicles"]["mean_diameter_mm"]) == [3.24, 3.25, 7.85, 7.95]


def test_a_side_unknown_image_is_never_added_to_a_known_side_and_a_missing_side_is_flagged():
    results = [
        result("l0", [3.0, 4.0], day="2026-01-05", side="L"),
        result("r0", [5.0], day="2026-01-05", side="R"),
        result("u0", [3.0, 4.1], day="2026-01-05", side="U"),  # the left ovary again, or the right
        result("l1", [3.0], day="2026-01-19", side="L"),  # the right ovary not imaged
        result("u2", [6.0, 12.0], day="2026-02-02", side="U"),  # a visit with no known side
        result("l3", [4.0], patient="P2", day="2026-01-05", side="L"),  # P2: one ovary only
        result("l4", [4.0], day="2026-02-16", side="L"), result("u4", [], day="2026-02-16", side="U"),
    ]
    t = build_tables(results)
    v = t["visits"].set_index(["patient_id", "study_date"])
    assert list(v.loc["P1", "follicle_count"]) == [3, 1, 2, 1]  # not 5 at the first visit
    assert list(v.loc["P1", "afc"]) == [3, 1, 1, 1] and list(v.loc["P1", "max_follicle_mm"]) == [5.0, 3.0, 12.0, 4.0]
    why = t["review_reasons"]
    missing = why[why["flag"] == "other side not scanned"]
    # (not on 2026-02-16: its side-unknown image, flagged as such, may be the right ovary)
    assert list(zip(missing["patient_id"], missing["study_date"], missing["laterality"])) == [("P1", "2026-01-19", "L")]
    assert bool(v.loc[("P1", "2026-01-19"), "needs_review"]) and not v.loc[("P2", "2026-01-05"), "needs_review"]


def test_a_rejected_file_keeps_whose_image_it_is_and_its_ovary_visit_is_told_why_it_is_one_sided():
    """A file rejected after its header was read lost its patient, date and side, and the other
    side's reason said "no image of the other ovary", pointing nowhere."""
    from follicle_seg.types import Identity

    who = Identity("r9", "P1", "2026-01-05", "R")
    results = [result("l0", [3.0], day="2026-01-05"), ImageResult(None, "cut/R.dcm", "rejected", "truncated", identity=who)]
    t = build_tables(results)
    row = t["images"].set_index("path").loc["cut/R.dcm"]
    assert (row.sop_instance_uid, row.patient_id, row.study_date, row.laterality, row.status) == (
        "r9", "P1", "2026-01-05", "R", "rejected")  # fmt: skip
    why = t["review_reasons"]
    (reason,) = why.loc[why["flag"] == "other side not scanned", "reason"]  # a one-visit patient: flagged all the same
    # named by its UID's tail, not its path (an archive's folders may be named after the patient)
    assert reason.startswith("the other ovary's image at this visit rejected (image ...r9)")
    assert bool(t["visits"].loc[0, "needs_review"])
    # one rejected (or failed) while its frames were decoded says so too; a duplicate does not
    from follicle_seg.types import DUPLICATE

    r9 = result("r9", [], day="2026-01-05", side="R")
    for status, reason, flagged in (("rejected", "frame 0 cannot be decoded", True), ("failed", "decoder died", True),
                                    ("rejected", f"{DUPLICATE} r9: already analysed from x", False)):  # fmt: skip
        t = build_tables([result("l0", [3.0], day="2026-01-05"), ImageResult(r9.record, "R.dcm", status, reason)])
        assert bool(t["visits"].loc[0, "needs_review"]) is flagged, reason


def test_a_file_of_the_same_ovary_rejected_or_failed_flags_its_ovary_visit():
    """An ovary-visit one of whose images was rejected (or failed) was counted from the others
    with needs_review false: the lost image may show more follicles. Flagged now, naming the file;
    a copy (a duplicate, or a cut file, whose image is analysed from another path) and a file of
    another visit are not; a duplicate UID holding another image is."""
    from dataclasses import replace

    from follicle_seg.types import DIFFERENT_IMAGE, DUPLICATE, Identity

    kept = result("l0", [3.0, 4.0], day="2026-01-05")
    cut = ImageResult(None, "cut/L2.dcm", "rejected", "truncated", identity=Identity("l9", "P1", "2026-01-05", "L"))
    t = build_tables([kept, cut])
    why = t["review_reasons"]
    (reason,) = why.loc[why["flag"] == FLAG_IMAGE_NOT_ANALYSED, "reason"]
    assert reason == ("1 image of this ovary at this visit not analysed (image ...l9; images.csv says why): "
                      "the count is of the others alone")  # fmt: skip
    assert bool(t["ovaries"].loc[0, "needs_review"]) and t["ovaries"].loc[0, "follicle_count"] == 2
    assert t["ovaries"].loc[0, "n_images"] == 1  # the files analysed (docs/analyst.md), not the rejected one
    l1 = result("l1", [], day="2026-01-05")
    t = build_tables([kept, ImageResult(l1.record, "L1.dcm", "failed", "decoder died")])
    assert FLAG_IMAGE_NOT_ANALYSED in set(t["review_reasons"]["flag"])
    unlike = f"{DUPLICATE} l0: already analysed from L0.dcm, {DIFFERENT_IMAGE}: not analysed"
    t = build_tables([kept, ImageResult(replace(l1.record, sop_instance_uid="l0"), "L0b.dcm", "rejected", unlike)])
    assert "(image ...l0;" in t["review_reasons"]["reason"].iloc[0]  # two images, one UID: this one not analysed
    later = ImageResult(None, "x.dcm", "rejected", "truncated", identity=Identity("l8", "P1", "2026-02-05", "L"))
    cut_copy = ImageResult(None, "cut/L0.dcm", "rejected", "truncated", identity=Identity("l0", "P1", "2026-01-05", "L"))
    for other in (ImageResult(l1.record, "L1.dcm", "rejected", f"{DUPLICATE} l0: already analysed from x"), later, cut_copy):
        t = build_tables([kept, other])
        assert not bool(t["ovaries"].loc[0, "needs_review"]), other.path


def test_the_files_not_analysed_are_named_in_uid_order_whatever_order_they_came_in():
    """Two rejected files of one ovary-visit were named in the order the run found them: the same
    study read from another folder gave another review_reasons.csv (found by
    tests/test_visits_properties.py)."""
    from follicle_seg.types import Identity

    cut = [ImageResult(None, f"cut/{u}.dcm", "rejected", "truncated", identity=Identity(u, "P1", "2026-01-05", "L"))
           for u in ("l9", "l8")]  # fmt: skip
    for files in (cut, cut[::-1]):
        why = build_tables([result("l0", [3.0]), *files])["review_reasons"]
        (reason,) = why.loc[why["flag"] == FLAG_IMAGE_NOT_ANALYSED, "reason"]
        assert "(image ...l8, image ...l9;" in reason


def test_a_rejected_file_of_unknown_side_flags_the_ovary_visits_it_may_be_of():
    """A file of unknown side rejected beside images of known sides was flagged nowhere: its
    ovary-visit is the side-unknown one, which the visit lacked (none, or every such image given
    its side by a reviewer: tests/test_review.py)."""
    from follicle_seg.types import Identity

    cut = ImageResult(None, "cut/B.dcm", "rejected", "truncated", identity=Identity("b9", "P1", "2026-01-05", "U"))
    t = build_tables([result("l1", [3.0]), result("r1", [2.0], side="R"), cut])
    why = t["review_reasons"]
    said = ("1 image of unknown side at this visit not analysed (image ...b9; images.csv says why): it may show this "
            "ovary, whose count is of the others alone")  # fmt: skip
    assert why[["laterality", "flag", "reason"]].values.tolist() == [["L", FLAG_IMAGE_NOT_ANALYSED, said],
                                                                     ["R", FLAG_IMAGE_NOT_ANALYSED, said]]
    assert t["ovaries"]["needs_review"].tolist() == [True, True]
    # beside an image of unknown side, its ovary-visit says it (as of this ovary), the others do not
    t = build_tables([result("l1", [3.0]), result("u1", [2.0], side="U"), cut])
    flagged = t["review_reasons"].query("flag == @FLAG_IMAGE_NOT_ANALYSED")
    own = "1 image of this ovary at this visit not analysed (image ...b9; images.csv says why): the count is of the others alone"
    assert flagged[["laterality", "reason"]].values.tolist() == [["U", own]]


def test_a_patient_with_two_visits_in_one_week_weighs_as_one_in_the_response():
    results = [result("a0", [3.0], day="2026-01-05"), result("a1", [3.0, 4.0, 5.0, 6.0], day="2026-01-19"),
               result("a2", [3.0, 4.0], day="2026-01-23"),  # day 18: week 2 again
               result("b0", [], patient="P2", day="2026-01-05"), result("b1", [], patient="P2", day="2026-01-19")]  # fmt: skip
    r = build_tables(results)["response"].set_index("week")
    assert r.loc[2, "n_patients"] == 2
    assert r.loc[2, "follicle_count_mean"] == 1.5  # (mean(4, 2) + 0) / 2, not (4 + 2 + 0) / 3
    assert r.loc[2, "delta_follicle_count_mean"] == 1.0  # (mean(3, 1) + 0) / 2


def test_response_means_round_halves_up_as_a_spreadsheet_does():
    """Means of two-decimal sizes end on a half often: 5.625 mm was given 5.62 (Python's round,
    half to even on the float), where an analyst's spreadsheet ROUND gives 5.63."""
    results = [result("a", [5.62]), result("b", [5.63], patient="P2")]
    assert build_tables(results)["response"].iloc[0]["max_follicle_mm_mean"] == 5.63  # (5.62 + 5.63) / 2


def test_a_response_mean_on_a_half_rounds_up_though_its_float_falls_short():
    """The mean of 2.0 and 14.01 mm is 8.005, whose float is 8.004999999999999: it gave 8.0
    where a spreadsheet gives 8.01 (found by tests/test_visits_properties.py)."""
    results = [result("a", [2.0]), result("b", [14.01], patient="P2")]
    assert build_tables(results)["response"].iloc[0]["max_follicle_mm_mean"] == 8.01


def test_week_rounding():
    assert [week_of(d) for d in (0, 6, 7, 13, 20, 21, 29, -7)] == [0, 0, 2, 2, 2, 4, 4, 0]


def test_uncalibrated_ovary_keeps_count_and_empties_mm():
    t = build_tables([result("u", [5.0, 3.0], calibrated=False)])
    ov = t["ovaries"].iloc[0]
    assert ov["follicle_count"] == 2
    assert not ov["calibrated"] and ov["needs_review"]
    for col in ("afc", "count_2_5", "max_follicle_mm", "ovary_d1_mm"):
        assert pd.isna(ov[col])
    assert ov["follicle_sizes_mm"] == ""
    fo = t["follicles"]
    assert fo[["d1_mm", "d2_mm", "mean_diameter_mm", "area_mm2", "volume_ml"]].isna().all().all()
    assert list(fo["size_class"]) == ["", ""]
    im = t["images"].iloc[0]
    assert pd.isna(im["spacing_row_mm"]) and not im["calibrated"]
    assert pd.isna(t["visits"].iloc[0]["afc"])


def test_a_visit_with_an_uncalibrated_side_holding_follicles_has_no_largest_follicle():
    """The left ovary's 3 follicles were counted on an uncalibrated image (sizes unknown): the
    visit's max_follicle_mm read 5.0, the right side's alone, and the response averaged it."""
    t = build_tables([result("l", [4.0, 6.0, 3.0], calibrated=False), result("r", [5.0], side="R")])
    v = t["visits"].iloc[0]
    assert v["follicle_count"] == 4 and pd.isna(v["any_follicle_ge10mm"])
    assert pd.isna(v["max_follicle_mm"]) and pd.isna(t["response"].iloc[0]["max_follicle_mm_mean"])
    # an uncalibrated side without a follicle hides no size
    # and no 10 mm follicle: the visit is known to have none (was unknown, out of the response's share)
    t = build_tables([result("l", [], calibrated=False), result("r", [5.0], side="R")])
    assert t["visits"].iloc[0]["max_follicle_mm"] == 5.0
    ge10 = t["visits"].iloc[0]["any_follicle_ge10mm"]
    assert not pd.isna(ge10) and not ge10
    assert t["response"].iloc[0]["share_with_follicle_ge10mm"] == 0.0


def test_needs_review_for_unknown_side_and_review_flags():
    t = build_tables([
        result("a", [3.0], side="U"),
        result("b", [3.0], side="R", flags=(FLAG_LOW_CONFIDENCE,)),
        result("c", [3.0], patient="P2"),
        result("d", [3.0], patient="P3", flags=("network: follicle shape",)),
    ])  # fmt: skip
    review = t["ovaries"].set_index(["patient_id", "laterality"])["needs_review"]
    assert review.to_dict() == {
        ("P1", "R"): True, ("P1", "U"): True, ("P2", "L"): False, ("P3", "L"): True,
    }  # fmt: skip
    assert list(t["visits"]["needs_review"]) == [True, False, True]


def test_review_reasons_say_which_image_and_why_for_every_flagged_ovary_visit():
    t = build_tables([
        result("a", [3.0], side="U", calibrated=False),
        result("b", [3.0], side="R", flags=(FLAG_LOW_CONFIDENCE, "network: unsure")),
        result("b2", [3.0, 4.0, 5.0], side="R"),
        result("c", [3.0], patient="P2"),
        result("d", [3.0], patient="P3", flags=("network: follicle shape", "a_new_flag")),
    ])  # fmt: skip
    reasons = t["review_reasons"]
    assert list(reasons.columns) == list(REASON_COLUMNS)
    got = [tuple(r) for r in reasons[["patient_id", "laterality", "sop_instance_uid", "flag"]].itertuples(index=False)]
    assert got == [
        ("P1", "R", "b", FLAG_LOW_CONFIDENCE), ("P1", "R", "b", "network: unsure"),
        ("P1", "R", "", FLAG_COUNTS_DISAGREE),
        ("P1", "U", "a", FLAG_UNCALIBRATED), ("P1", "U", "a", FLAG_SIDE_UNKNOWN),
        ("P3", "L", "d", "network: follicle shape"), ("P3", "L", "d", "a_new_flag"),
    ]  # fmt: skip
    said = dict(zip(reasons.flag, reasons.reason))
    assert said[FLAG_COUNTS_DISAGREE] == "the images' follicle counts differ: 1 (image ...b), 3 (image ...b2)"
    assert said[FLAG_UNCALIBRATED] == FLAG_REASONS[FLAG_UNCALIBRATED] and "pixels" in said[FLAG_UNCALIBRATED]
    assert said["network: unsure"].startswith("network: unsure")
    assert said["a_new_flag"] == "a_new_flag"  # a flag without words is shown as it is
    # exactly the flagged ovary-visits have reasons
    flagged = t["ovaries"].loc[t["ovaries"].needs_review, ["patient_id", "laterality"]]
    assert set(map(tuple, flagged.values)) == set(zip(reasons.patient_id, reasons.laterality))
    assert build_tables([result("c", [3.0])])["review_reasons"].empty


def test_ovary_dimensions_from_largest_section_and_volume_with_the_sweeps_third_axis():
    """The volume goes with the d1 and d2 tabled beside it: those of the largest section (a
    still's), with the third axis of the sweep (not the sweep's own volume, of its smaller d1, d2)."""
    t = build_tables([
        result("a", [3.0], ovary=ovary_section(20.0, 15.0)),
        replace(result("b", [3.0], ovary=ovary_section(25.0, 16.0), n_frames=20, volume=3.2), ovary_d3_mm=15.0),
        result("c", [3.0], ovary=ovary_section(30.0, 18.0)),
    ])  # fmt: skip
    ov = t["ovaries"].iloc[0]
    assert (ov["ovary_d1_mm"], ov["ovary_d2_mm"]) == (30.0, 18.0)
    assert ov["ovary_area_mm2"] == pytest.approx(30 * 18 * 0.8)
    assert ov["ovary_volume_ml"] == pytest.approx(math.pi / 6 * 30 * 18 * 15 / 1000, abs=5e-4)  # 4.241
    # stills only: no third axis, no volume
    assert pd.isna(build_tables([result("a", [3.0], ovary=ovary_section(20.0, 15.0))])["ovaries"].loc[0, "ovary_volume_ml"])


def test_rejected_files_get_an_image_row():
    rejected = ImageResult(None, "/in/notes.txt", "rejected", reason="not a DICOM file")
    t = build_tables([rejected, result("a", [4.0])])
    im = t["images"]
    assert list(im["status"]) == ["rejected", "ok"]
    row = im.iloc[0]
    assert row["path"] == "/in/notes.txt" and row["reason"] == "not a DICOM file"
    assert row["sop_instance_uid"] == "" and pd.isna(row["follicle_count"])
    assert len(t["ovaries"]) == 1


def test_of_two_images_with_the_same_count_a_calibrated_one_gives_the_sizes():
    tables = build_tables([result("1.1", [6.0, 4.0], calibrated=False), result("1.2", [6.0, 4.0])])
    fol = tables["follicles"]
    assert set(fol.loc[fol["counted"], "sop_instance_uid"]) == {"1.2"}
    assert tables["ovaries"].loc[0, "afc"] == 2


def test_a_follicle_of_exactly_10_mm_is_one_of_10_mm_or_more():
    assert bool(build_tables([result("a", [10.0])])["visits"].loc[0, "any_follicle_ge10mm"])


def test_change_from_baseline_is_from_the_week_0_visit_nearest_the_baseline_day():
    images = [result("a", [3.0, 4.0, 5.0], day="2026-01-08"),
              result("b", [3.0, 4.0, 5.0, 6.0, 7.0], day="2026-01-15"),
              result("c", [3.0, 4.0, 5.0, 6.0], day="2026-01-24")]  # fmt: skip
    cohort = pd.DataFrame({"patient_id": ["P1"], "group": ["low"], "baseline_date": ["2026-01-10"]})
    visits = build_tables(images, cohort)["visits"]
    assert visits["days_from_baseline"].tolist() == [-2, 5, 14]
    assert visits["delta_follicle_count"].tolist() == [0, 2, 1]


def test_the_ovary_volume_takes_the_third_axis_of_the_sweep_that_gave_d1_and_d2():
    """Two sweeps at different spacings: the one with the larger section in mm^2 gives d1, d2 and
    its own third axis (the other's has more pixels; an uncalibrated sweep gives none)."""
    coarse = replace(result("1.1", [5.0], ovary=ovary_section(20, 11.5), volume=1.0), ovary_d3_mm=14.0)
    fine = replace(result("1.2", [5.0], ovary=ovary_section(18, 10), volume=0.8), ovary_d3_mm=9.0)
    fine = replace(fine, ovary=replace(fine.ovary, area_px=fine.ovary.area_px * 9))  # smaller pixels
    uncalibrated = replace(result("1.3", [5.0], ovary=replace(ovary_section(30, 20), area_mm2=None, d1_mm=None, d2_mm=None),
                                  volume=None), ovary_d3_mm=30.0)  # fmt: skip
    ovary = build_tables([coarse, fine, uncalibrated])["ovaries"].iloc[0]
    assert (ovary["ovary_d1_mm"], ovary["ovary_d2_mm"]) == (20.0, 11.5)
    assert ovary["ovary_volume_ml"] == pytest.approx(math.pi / 6 * 20 * 11.5 * 14 / 1000, abs=5e-4)


def test_the_ovary_volume_takes_the_third_axis_of_the_sweep_with_the_largest_ovary_section():
    images = [replace(result("1.1", [5.0], ovary=ovary_section(20, 15), volume=2.0), ovary_d3_mm=12.0),
              replace(result("1.2", [5.0], ovary=ovary_section(25, 16), volume=3.2), ovary_d3_mm=15.0)]  # fmt: skip
    assert build_tables(images)["ovaries"].loc[0, "ovary_volume_ml"] == pytest.approx(math.pi / 6 * 25 * 16 * 15 / 1000, abs=5e-4)


def test_a_follicles_volume_is_tabled_to_five_decimals():
    # a 4 mm still: pi / 6 * 4^3 / 1000 = 0.033510 ml
    assert build_tables([result("a", [4.0])])["follicles"].loc[0, "volume_ml"] == pytest.approx(0.03351, abs=1e-9)


def test_a_mean_diameter_beside_a_class_boundary_is_shown_with_two_decimals():
    from follicle_seg.visits import shown_mm

    # 9.99 (AFC, 5-10) and 10.03 (10-14) both read "10.0" with one decimal
    assert [shown_mm(d) for d in (9.99, 10.03, 10.0, 1.96, 4.951, 13.96, 17.99, 7.85)] == [
        "9.99", "10.03", "10.0", "1.96", "4.95", "13.96", "17.99", "7.9"]  # fmt: skip
    assert [size_class(d) for d in (9.99, 10.03)] == ["5-10", "10-14"]


def test_what_ingestion_noted_of_an_analysed_file_is_its_images_reason():
    noted = result("a", [3.0])
    noted = replace(noted, record=replace(noted.record, note="its VOI LUT does not fit its descriptor: grey levels from the image's values"))
    images = build_tables([noted, result("b", [3.0])])["images"].set_index("sop_instance_uid")
    assert images.loc["a", "status"] == "ok" and images.loc["a", "reason"].startswith("its VOI LUT does not fit")
    assert images.loc["b", "reason"] == ""


def test_the_low_confidence_reason_says_the_band_in_force(monkeypatch):
    """A script trying another reporting threshold wrote "0.60-0.90" beside it in review_reasons."""
    import follicle_seg.tracking as tracking

    monkeypatch.setattr(tracking, "MIN_FOLLICLE_SCORE", 0.8)
    reasons = build_tables([result("a", [4.0], flags=(FLAG_LOW_CONFIDENCE,))])["review_reasons"]
    said = reasons.set_index("flag").loc[FLAG_LOW_CONFIDENCE, "reason"]
    assert said.startswith("a candidate follicle scored 0.60-0.80 and is not reported")


def test_a_tube_and_an_unsure_candidate_are_each_named_under_their_own_reason():
    """A tube through the sweep is a candidate the network is sure of (tracking.is_tube): the
    "low confidence" reason names the candidates of its band, the tube's reason the tubes."""
    def candidate(i, score, kind):
        return replace(follicle(i, "a", 6.0), best=replace(follicle(i, "a", 6.0).best, score=score), kind=kind)

    r = replace(result("a", [4.0], flags=(FLAG_LOW_CONFIDENCE, FLAG_TUBE)), unsure=(candidate(2, 0.8, KIND_UNSURE), candidate(3, 0.95, KIND_TUBE)))
    said = build_tables([r])["review_reasons"].set_index("flag")["reason"]
    assert said[FLAG_LOW_CONFIDENCE].endswith("(2?)")
    assert said[FLAG_TUBE].startswith("a section stays near its full size over more of the sweep than the beam") and said[FLAG_TUBE].endswith("(3?)")


def test_a_resumed_file_rejected_in_analysis_is_dated_as_a_run_afresh_dates_it() -> None:
    """A of Jan 5 (StudyDate) and B of Jan 6 (ContentDate): B, rejected while its frames were
    read, was stored placed on Jan 5. A removed, B resumed: its images.csv row kept Jan 5 (ok rows
    went back to the date read), where a run afresh gives Jan 6."""
    from follicle_seg.studyday import on_study_day, study_days

    a = record("1.2.1", patient="P1", day="2026-01-05", study="st", date_tag="StudyDate")
    b = record("1.2.2", patient="P1", day="2026-01-06", study="st", date_tag="ContentDate")
    stored = ImageResult(on_study_day(b, study_days([a, b])), b.path, "rejected", "pixel data truncated")
    assert stored.record.study_date == "2026-01-05"
    assert build_tables([stored])["images"].study_date.tolist() == ["2026-01-06"]


def test_a_duplicate_of_another_image_dated_after_midnight_is_a_rejected_file_of_its_studys_visit() -> None:
    """A (left, StudyDate Jan 5) analysed; B, the right ovary's image under A's SOP instance UID
    (another image: not analysed), dated by its ContentDate after midnight. B's row kept Jan 6, a
    visit of its own in images.csv, and Jan 5's left ovary-visit did not say its other side's
    image was rejected: every file of a study is placed on its day, the rejected ones too."""
    from follicle_seg.types import DIFFERENT_IMAGE, DUPLICATE

    a = result("1.2.1", [6.0], study="st", date_tag="StudyDate")
    b = replace(record("1.2.1", side="R", day="2026-01-06", study="st", date_tag="ContentDate"), path="/in/b.dcm")
    dup = ImageResult(b, b.path, "rejected", f"{DUPLICATE} 1.2.1: already analysed from {a.path} ({DIFFERENT_IMAGE})")
    tables = build_tables([a, dup])
    assert tables["images"].study_date.tolist() == ["2026-01-05", "2026-01-05"]
    assert tables["ovaries"].study_date.tolist() == ["2026-01-05"]
    (said,) = tables["review_reasons"].query("study_date == '2026-01-05'").itertuples()
    assert said.flag == FLAG_OTHER_SIDE_MISSING and "other ovary's image at this visit rejected" in said.reason
