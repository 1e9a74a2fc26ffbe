"""SPEC's table rules against random studies (property-based).

Random image results, at the level :func:`follicle_seg.visits.build_tables` consumes (stills and
sweeps, calibrated or not, sides L/R/U, several images and studies per ovary-visit, rejected and
failed files, cohort rows with and without ``baseline_date``, patients outside the cohort), are
turned into ``ovaries``, ``visits`` and ``response`` both by the code and by an oracle written here
from the text of SPEC.md ("Outputs", "Measurement conventions") and docs/measurement.md /
docs/analyst.md, which make it precise. The oracle works in exact arithmetic (diameters in
hundredths of a mm, means as fractions); it shares no code with ``visits.py``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from follicle_seg.tracking import FLAG_LOW_CONFIDENCE, FLAG_UNCALIBRATED
from follicle_seg.types import (
    UNCALIBRATED,
    Calibration,
    Follicle,
    Identity,
    ImageRecord,
    ImageResult,
    Section,
)
from follicle_seg.visits import build_tables

PROPERTIES = settings(max_examples=40)  # (deterministic: tests/conftest.py's profile)

DAY0 = date(2026, 1, 5)
# mean diameters in hundredths of a mm: every class and AFC edge, each side of it, and any size
EDGES = (200, 201, 499, 500, 501, 999, 1000, 1001, 1399, 1400, 1401, 1799, 1800, 1801)
HUNDREDTHS = st.one_of(st.sampled_from(EDGES), st.integers(200, 2600))
# days after the patient's first day: ties of the week rounding (7, 21, 35) and their neighbours
OFFSETS = st.one_of(st.sampled_from((0, 3, 6, 7, 8, 13, 14, 20, 21, 22, 28, 35, 42)), st.integers(0, 70))


@dataclass(frozen=True)
class Img:
    """One analysed file as the oracle sees it."""

    uid: str
    patient: str
    day: str
    side: str
    study: str
    n_frames: int
    calibrated: bool
    sizes: tuple[int, ...]  # mean diameters, hundredths of a mm
    flagged: bool  # carries a review flag of its own (low confidence)
    jitter: float  # far below the tables' 0.01 mm: a float that is not exactly its hundredths


@dataclass(frozen=True)
class Lost:
    """A file rejected or failed; ``known`` when its header said whose, when and which side."""

    uid: str
    patient: str
    day: str
    side: str
    status: str
    known: bool
    decoded: bool  # failed after decoding: its record is kept (else an Identity)


@dataclass(frozen=True)
class Study:
    images: tuple[Img, ...]
    lost: tuple[Lost, ...]
    cohort: tuple[tuple[str, str, str], ...]  # patient_id, group, baseline_date ("" none)
    with_baseline_column: bool
    with_cohort: bool


def iso(d: date) -> str:
    return d.isoformat()


@st.composite
def studies(draw) -> Study:
    images: list[Img] = []
    lost: list[Lost] = []
    cohort: list[tuple[str, str, str]] = []
    n = 0
    for p in range(draw(st.integers(1, 4))):
        patient = f"P{p + 1}"
        first = DAY0 + timedelta(days=draw(st.integers(0, 3)))
        for offset in sorted(draw(st.sets(OFFSETS, min_size=1, max_size=4))):
            day = iso(first + timedelta(days=offset))
            for side in draw(st.sampled_from(("LR", "LR", "LR", "L", "R", "LRU", "U", ""))):
                # the images of one ovary see mostly the same follicles: each misses a few of them
                seen = draw(st.lists(HUNDREDTHS, max_size=5))
                for _ in range(draw(st.integers(1, 3))):
                    n += 1
                    missed = draw(st.sampled_from((0, 0, 0, 1, 1, 2, 3)))
                    images.append(Img(
                        uid=f"1.2.{draw(st.integers(100, 999))}.{n}", patient=patient, day=day, side=side,
                        study=f"st-{patient}-{day}-{draw(st.sampled_from('ab'))}",  # two studies of one day
                        n_frames=draw(st.sampled_from((1, 1, 12, 30))),
                        calibrated=draw(st.sampled_from((True,) * 5 + (False,))),
                        sizes=tuple(draw(st.permutations(seen))[missed:]),
                        flagged=draw(st.integers(0, 7)) == 0,
                        jitter=draw(st.sampled_from((0.0, 1e-9, -1e-9))),
                    ))  # fmt: skip
            for _ in range(draw(st.integers(0, 1)) * draw(st.integers(0, 2))):
                n += 1
                lost.append(Lost(f"9.9.{n}", patient, day, draw(st.sampled_from("LRU")),
                                 draw(st.sampled_from(("rejected", "failed"))), draw(st.booleans()), draw(st.booleans())))  # fmt: skip
        if draw(st.integers(0, 3)):  # most patients are in the cohort
            # (-60, 90: a baseline_date before the first scan, after the last)
            baseline = draw(st.sampled_from(("", -60, -10, -7, -3, 0, 3, 6, 7, 14, 90)))
            when = "" if baseline == "" else iso(first + timedelta(days=baseline))
            cohort.append((patient, draw(st.sampled_from(("low", "medium", "high", ""))), when))
    if draw(st.booleans()):
        cohort.append(("P9", "medium", ""))  # in the cohort, never scanned
    order = draw(st.permutations(range(len(cohort))))
    with_baseline_column, with_cohort = draw(st.sampled_from((True, True, False))), draw(st.sampled_from((True, True, False)))
    return Study(tuple(images), tuple(lost), tuple(cohort[i] for i in order), with_baseline_column, with_cohort)


# ----- the study as the pipeline hands it over -----


def _record(uid, patient, day, side, study, n_frames, calibrated) -> ImageRecord:
    cal = Calibration(0.2, 0.2, "ultrasound_region") if calibrated else UNCALIBRATED
    return ImageRecord(
        path=f"/in/{uid}.dcm", sop_instance_uid=uid, sop_class_uid="1.2.840.10008.5.1.4.1.1.6.1",
        modality="US", patient_id=patient, study_instance_uid=study, study_date=day,
        series_instance_uid=f"se-{uid}", series_description="", laterality=side,
        laterality_source="ImageLaterality", n_frames=n_frames, rows=100, columns=100,
        photometric="MONOCHROME2", transfer_syntax="1.2.840.10008.1.2.1", calibration=cal,
        region=(0, 0, 99, 99), region_source="ultrasound_region", date_tag="StudyDate",
    )  # fmt: skip


def _follicle(i: int, uid: str, hundredths: int, img: Img) -> Follicle:
    mm = hundredths / 100 + img.jitter
    d = mm if img.calibrated else None
    # d1 the longer axis: the mean (d1 + d2) / 2 is the drawn size
    d1, d2 = (d + 0.5, d - 0.5) if d is not None and i % 2 else (d, d)
    best = Section(0, 50.0, 50.0, int((mm / 0.2) ** 2), (mm + 0.5) / 0.2, (mm - 0.5) / 0.2, d1, d2, d * d if d else None, 0.95)
    return Follicle(i, uid, best, img.n_frames, None, None)


def results_of(study: Study) -> list[ImageResult]:
    results = []
    for img in study.images:
        rec = _record(img.uid, img.patient, img.day, img.side, img.study, img.n_frames, img.calibrated)
        sizes = sorted(img.sizes, reverse=True)
        flags = ((FLAG_LOW_CONFIDENCE,) if img.flagged else ()) + (() if img.calibrated else (FLAG_UNCALIBRATED,))
        results.append(ImageResult(rec, rec.path, "ok", follicles=tuple(_follicle(i, img.uid, h, img) for i, h in enumerate(sizes, 1)),
                                   flags=flags))  # fmt: skip
    for f in study.lost:
        path = f"/in/{f.uid}.dcm"
        if not f.known:
            results.append(ImageResult(None, path, f.status, "not a DICOM file"))
        elif f.decoded:
            rec = _record(f.uid, f.patient, f.day, f.side, f"st-{f.patient}-{f.day}-a", 1, True)
            results.append(ImageResult(rec, path, f.status, "frame 0 cannot be decoded"))
        else:
            results.append(ImageResult(None, path, f.status, "truncated", identity=Identity(f.uid, f.patient, f.day, f.side)))
    return results


def cohort_of(study: Study) -> pd.DataFrame | None:
    if not study.with_cohort:
        return None
    frame = pd.DataFrame(list(study.cohort), columns=["patient_id", "group", "baseline_date"])
    return frame if study.with_baseline_column else frame.drop(columns="baseline_date")


# ----- the oracle, from SPEC and the docs -----

NA = None
CLASSES = (("count_2_5", 200, 500), ("count_5_10", 500, 1000), ("count_10_14", 1000, 1400),
           ("count_14_18", 1400, 1800), ("count_ge18", 1800, 10**9))  # fmt: skip


def week(days: int) -> int:
    """SPEC: days from baseline rounded to the nearest 14 days, halves up (docs: day 7 is week 2,
    days -7 to +6 are week 0)."""
    return math.floor(Fraction(days, 14) + Fraction(1, 2)) * 2


def one_decimal(hundredths: int) -> str:
    tenths = (hundredths + 5) // 10  # halves up
    return f"{tenths // 10}.{tenths % 10}"


def rounded(x: Fraction | None, decimals: int) -> float | None:
    """Halves away from zero, as a spreadsheet's ROUND (docs/analyst.md, "Types")."""
    if x is None:
        return None
    scaled = abs(x) * 10**decimals
    q = math.floor(scaled + Fraction(1, 2))
    return float(Fraction(q if x >= 0 else -q, 10**decimals))


def mean(values: list) -> Fraction | None:
    # a float is a tabled value: its decimals as written (2.01, not the binary fraction nearest it)
    known = [Fraction(str(v)) if isinstance(v, float) else Fraction(v) for v in values if v is not None]
    return sum(known, Fraction(0)) / len(known) if known else None


def median(values: list[Fraction]) -> Fraction:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def counted_image(images: list[Img]) -> Img:
    """docs/measurement.md: most follicles, then calibrated, a sweep, more frames, smallest UID."""
    return min(images, key=lambda i: (-len(i.sizes), not i.calibrated, i.n_frames == 1, -i.n_frames, i.uid))


def oracle(study: Study) -> dict[str, list[dict]]:
    in_cohort = {p: (g, b) for p, g, b in study.cohort} if study.with_cohort else {}
    by_ovary: dict[tuple[str, str, str], list[Img]] = {}
    for img in study.images:
        by_ovary.setdefault((img.patient, img.day, img.side), []).append(img)
    lost = [f for f in study.lost if f.known]
    lost_at = {(f.patient, f.day, f.side) for f in lost}
    ever = {(p, s) for p, _, s in by_ovary}
    baseline = {}
    for p in {k[0] for k in by_ovary}:
        given = in_cohort.get(p, ("", ""))[1] if study.with_baseline_column else ""
        days = [d for q, d, _ in by_ovary if q == p] + [f.day for f in lost if f.patient == p]
        baseline[p] = date.fromisoformat(given or min(days))

    ovaries = []
    for (p, d, side), images in sorted(by_ovary.items()):
        chosen = counted_image(images)
        sizes = sorted(chosen.sizes, reverse=True) if chosen.calibrated else []
        counts = [len(i.sizes) for i in images]
        other = {"L": "R", "R": "L"}.get(side)
        here = {s for q, e, s in by_ovary if (q, e) == (p, d)}
        other_missing = other is not None and ((p, other) in ever or (p, d, other) in lost_at) and not here & {other, "U"}
        unsided_lost = other is not None and "U" not in here and (p, d, "U") in lost_at
        row = {
            "patient_id": p, "study_date": d, "laterality": side, "group": in_cohort.get(p, ("", ""))[0],
            "days_from_baseline": (date.fromisoformat(d) - baseline[p]).days, "n_images": len(images),
            "follicle_count": len(chosen.sizes),
            "afc": sum(200 <= h <= 1000 for h in sizes) if chosen.calibrated else NA,
            **{c: (sum(lo <= h < hi for h in sizes) if chosen.calibrated else NA) for c, lo, hi in CLASSES},
            "max_follicle_mm": sizes[0] / 100 if sizes else NA,
            "follicle_sizes_mm": ";".join(one_decimal(h) for h in sizes),
            "calibrated": chosen.calibrated,
            "needs_review": (side == "U" or any(not i.calibrated or i.flagged for i in images)
                             or max(counts) - min(counts) > 1 or other_missing or (p, d, side) in lost_at
                             or unsided_lost),
        }  # fmt: skip
        ovaries.append(row)

    visits = []
    for p, d in sorted({(o["patient_id"], o["study_date"]) for o in ovaries}):
        ovs = [o for o in ovaries if (o["patient_id"], o["study_date"]) == (p, d)]
        # an image of unknown side is added only when no side is known at the visit (analyst.md)
        summed = [o for o in ovs if o["laterality"] != "U"] or ovs
        unsized = any(o["follicle_count"] and not o["calibrated"] for o in ovs)
        sized = [o["max_follicle_mm"] for o in ovs if o["max_follicle_mm"] is not None]
        ge10 = True if any(m >= 10.0 for m in sized) else (NA if unsized else False)
        visits.append({
            "patient_id": p, "group": ovs[0]["group"], "study_date": d, "days_from_baseline": ovs[0]["days_from_baseline"],
            "follicle_count": sum(o["follicle_count"] for o in summed),
            "afc": NA if any(o["afc"] is NA for o in summed) else sum(o["afc"] for o in summed),
            "max_follicle_mm": NA if unsized or not sized else max(sized),
            "delta_follicle_count": NA, "delta_afc": NA, "any_follicle_ge10mm": ge10,
            "needs_review": any(o["needs_review"] for o in ovs),
            "_sides": frozenset(o["laterality"] for o in summed),
        })  # fmt: skip
    for p in {v["patient_id"] for v in visits}:
        own = [v for v in visits if v["patient_id"] == p]
        at_0 = [v for v in own if week(v["days_from_baseline"]) == 0]
        if not at_0:
            continue  # no baseline visit: every change stays empty
        # nearest day 0; of two as near, the earlier (docs/measurement.md, "Visits and response")
        base = min(at_0, key=lambda v: (abs(v["days_from_baseline"]), v["days_from_baseline"]))
        base_review = base["needs_review"]
        for v in own:
            if v["_sides"] == base["_sides"] and v["days_from_baseline"] >= base["days_from_baseline"]:
                v["delta_follicle_count"] = v["follicle_count"] - base["follicle_count"]
                v["delta_afc"] = NA if NA in (v["afc"], base["afc"]) else v["afc"] - base["afc"]
                v["needs_review"] = v["needs_review"] or base_review

    named = dict.fromkeys(g for _, g, _ in study.cohort if g) if study.with_cohort else {}
    rank = {g: i for i, g in enumerate(named)}  # the order the cohort first names them
    cells: dict[tuple[str, int], dict[str, list[dict]]] = {}
    for v in visits:
        cells.setdefault((v["group"], week(v["days_from_baseline"])), {}).setdefault(v["patient_id"], []).append(v)
    response = []
    for g, w in sorted(cells, key=lambda k: (rank.get(k[0], len(rank)), k)):
        patients = cells[g, w]
        per = {c: [mean([v[c] for v in vs]) for vs in patients.values()]
               for c in ("follicle_count", "delta_follicle_count", "afc", "max_follicle_mm")}  # fmt: skip
        flags = [True if any(v["any_follicle_ge10mm"] is True for v in vs) else
                 (NA if any(v["any_follicle_ge10mm"] is NA for v in vs) else False) for vs in patients.values()]  # fmt: skip
        with_ge10, known = sum(f is True for f in flags), sum(f is not NA for f in flags)
        response.append({
            "group": g, "week": w, "n_patients": len(patients),
            "follicle_count_mean": rounded(mean(per["follicle_count"]), 3),
            "follicle_count_median": rounded(median(per["follicle_count"]), 3),
            "delta_follicle_count_mean": rounded(mean(per["delta_follicle_count"]), 3),
            "afc_mean": rounded(mean(per["afc"]), 3),
            "max_follicle_mm_mean": rounded(mean(per["max_follicle_mm"]), 2),
            "patients_with_follicle_ge10mm": with_ge10,
            "share_with_follicle_ge10mm": rounded(Fraction(with_ge10, known), 3) if known else NA,
        })  # fmt: skip
    for v in visits:
        del v["_sides"]
    return {"ovaries": ovaries, "visits": visits, "response": response}


# ----- comparing -----


def plain(df: pd.DataFrame, columns) -> list[dict]:
    """The rows as Python values, every missing value ``None``."""
    rows = []
    for rec in df[list(columns)].astype(object).to_dict("records"):
        rows.append({k: (None if v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v) for k, v in rec.items()})
    return rows


def assert_rows(got: pd.DataFrame, want: list[dict], table: str) -> None:
    columns = list(want[0]) if want else []
    actual = plain(got, columns)
    assert len(actual) == len(want), f"{table}: {len(actual)} rows, oracle {len(want)}"
    for k, (a, w) in enumerate(zip(actual, want)):
        diff = {c: (a[c], w[c]) for c in columns if a[c] != w[c]}
        assert not diff, f"{table} row {k} ({[w[c] for c in columns[:3]]}): code, oracle {diff}"


def _img(uid: str, day: str, side: str, sizes: tuple[int, ...]) -> Img:
    return Img(uid, "P1", day, side, f"st-{day}", 1, True, sizes, False, 0.0)


# week 0 holds two visits as near the baseline day, 3 days before it and 3 after (the earlier is the
# baseline visit), and a visit 7 days after it, half-way to week 2
TIE = Study(tuple(_img(f"1.{k}", day, side, sizes) for k, (day, side, sizes) in enumerate(
    [("2026-01-05", "L", (300,)), ("2026-01-05", "R", (1000,)), ("2026-01-11", "L", (300, 500)),
     ("2026-01-11", "R", ()), ("2026-01-15", "L", (1800, 200, 999)), ("2026-01-15", "R", (1400,))])),
    (), (("P1", "low", "2026-01-08"),), True, True)  # fmt: skip


@PROPERTIES
@given(studies())
@example(TIE)
def test_ovaries_visits_and_response_follow_spec(study):
    tables = build_tables(results_of(study), cohort_of(study))
    want = oracle(study)
    for name in ("ovaries", "visits", "response"):
        assert_rows(tables[name], want[name], name)


@PROPERTIES
@given(studies())
def test_counted_follicles_add_up_and_each_has_its_size_class(study):
    """SPEC: the ``counted`` rows of ``follicles.csv`` add up to ``ovaries.csv``'s count and are
    the chosen image's; calibrated, the size classes add up to the count (every reported follicle
    is >= 2.0 mm) and each row's class is that of its mean diameter."""
    tables = build_tables(results_of(study), cohort_of(study))
    fol, ov = tables["follicles"], tables["ovaries"]
    key = ["patient_id", "study_date", "laterality"]
    counted = fol[fol["counted"]].groupby(key).size()
    for row in ov.itertuples(index=False):
        k = (row.patient_id, row.study_date, row.laterality)
        assert counted.get(k, 0) == row.follicle_count
        if row.calibrated:
            assert sum(getattr(row, c) for c, _, _ in CLASSES) == row.follicle_count
    for uids in fol[fol["counted"]].groupby(key)["sop_instance_uid"]:
        assert uids[1].nunique() == 1  # one image's follicles, never a sum
    labels = {c: label for (c, _, _), label in zip(CLASSES, ("2-5", "5-10", "10-14", "14-18", ">=18"))}
    for mm, label in zip(fol["mean_diameter_mm"], fol["size_class"]):
        h = None if pd.isna(mm) else round(mm * 100)
        assert label == ("" if h is None else next(labels[c] for c, lo, hi in CLASSES if lo <= h < hi))


@PROPERTIES
@given(studies(), st.randoms(use_true_random=False))
def test_tables_do_not_depend_on_the_order_of_the_files_and_are_the_same_twice(study, rng: random.Random):
    results, cohort = results_of(study), cohort_of(study)
    first = build_tables(results, cohort)
    again = build_tables(results, cohort)
    shuffled = list(results)
    rng.shuffle(shuffled)
    other = build_tables(shuffled, cohort)
    for name, table in first.items():
        pd.testing.assert_frame_equal(table, again[name], obj=name)
        if name == "images":  # one row per file, in the order given
            by_path = table.sort_values("path", ignore_index=True)
            pd.testing.assert_frame_equal(by_path, other[name].sort_values("path", ignore_index=True), obj=name)
        else:
            pd.testing.assert_frame_equal(table, other[name], obj=name)
