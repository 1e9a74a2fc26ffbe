"""A reviewer's decisions against random studies (property-based).

Random image results, at the level :func:`follicle_seg.visits.build_tables` consumes (stills of
sides L, R and unknown, reported follicles, candidates the network was unsure of and tubes), are
built into tables; the worksheet those tables give (:func:`follicle_seg.review.worksheet`) is
decided at random, line by line as a reviewer would (``not_follicle`` on a reported follicle,
``follicle`` or ``not_follicle`` on a candidate, ``left`` or ``right`` on an image of unknown
side, ``confirmed`` on an ovary-visit's line of the next sheet, at the count it prefills), saved
as ``review.csv`` and read back as a run reads it. The properties are those docs/measurement.md
("A reviewer's decisions") and docs/review_outputs.md promise.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_visits import follicle, result  # tests/ is on sys.path

from follicle_seg.io.tables import write_csv
from follicle_seg.review import (
    REVIEW_FILE,
    SIDE_WHY,
    SIDES,
    WORKSHEET_FILE,
    Review,
    ReviewError,
    candidate_lines,
    content,
    unsaved_decisions,
    worksheet,
)
from follicle_seg.tracking import FLAG_LOW_CONFIDENCE, FLAG_NO_OVARY_FOUND, FLAG_SIDE_UNKNOWN, FLAG_TUBE, KIND_TUBE, KIND_UNSURE
from follicle_seg.visits import build_tables

PROPERTIES = settings(max_examples=20)  # (deterministic: tests/conftest.py's profile)

KEY = ["patient_id", "study_date", "laterality"]
# 2026-01-05 and 2026-05-01 both read 05/01/2026 in a spreadsheet; "" is an undated visit
DAYS = ("2026-01-05", "2026-05-01", "2026-01-19", "")
# the tables a review changes only through its decisions (review_reasons and review_log aside)
TABLES = ("images", "follicles", "ovaries", "visits", "response", "candidates")


def _image(uid: str, patient: str, day: str, side: str, sizes: list[int], candidates: list[tuple[int, str, int]],
           n_frames: int = 1, flags: tuple[str, ...] = (), jitter: float = 0.0):
    """An image: reported follicles of ``sizes`` (tenths of a mm), numbered largest first, then its
    candidates (tenths of a mm, kind, score in hundredths), each at its own centroid (off the
    pixel by ``jitter``); the flags its side and candidates raise, and ``flags``."""
    r = result(uid, [s / 10 for s in sizes], patient=patient, day=day, side=side, n_frames=n_frames)

    def placed(f, i, score=0.95, kind=""):
        return replace(f, follicle_id=i, best=replace(f.best, centroid_row=10.0 * i + jitter, centroid_col=7.0 * i + 3 - jitter,
                                                      score=score), kind=kind)  # fmt: skip

    follicles = tuple(placed(f, f.follicle_id) for f in r.follicles)
    unsure = tuple(placed(follicle(0, uid, size / 10), len(follicles) + j, score / 100, kind)
                   for j, (size, kind, score) in enumerate(candidates, 1))  # fmt: skip
    flags = flags + ((FLAG_SIDE_UNKNOWN,) if side == "U" else ()) + tuple(
        flag for kind, flag in ((KIND_UNSURE, FLAG_LOW_CONFIDENCE), (KIND_TUBE, FLAG_TUBE)) if any(c[1] == kind for c in candidates))
    return replace(r, follicles=follicles, unsure=unsure, flags=flags)


CANDIDATES = st.lists(st.tuples(st.integers(20, 150), st.sampled_from((KIND_UNSURE, KIND_UNSURE, KIND_TUBE)),
                                st.integers(60, 89)), max_size=2)  # fmt: skip


FLAGS = st.sampled_from(((), (), (FLAG_NO_OVARY_FOUND,)))


@st.composite
def studies(draw):
    """A patient or two (one may be patient-less), a visit or two each (one may be undated), each
    visit's sides with one to three images (stills or sweeps, some flagged by the network)."""
    results = []
    for patient in draw(st.sampled_from((("P1",), ("P1", "P2"), ("P1", "")))):
        for day in draw(st.sets(st.sampled_from(DAYS), min_size=1, max_size=2)):
            for side in draw(st.sampled_from(("LR", "LR", "L", "LU", "U", "RU"))):
                for _ in range(draw(st.integers(1, 3))):
                    uid = f"1.2.{len(results) + 1}"
                    sizes = draw(st.lists(st.integers(20, 200), max_size=4))
                    results.append(_image(uid, patient, day, side, sorted(sizes, reverse=True), draw(CANDIDATES),
                                          draw(st.sampled_from((1, 1, 12))), draw(FLAGS),
                                          draw(st.sampled_from((0.0, 0.25, 0.123456789)))))  # fmt: skip
    return results


def _read(sheet: pd.DataFrame, folder: Path) -> Review:
    """``sheet`` saved as ``review.csv`` (as the run writes a worksheet) and read as a run reads it."""
    path = folder / REVIEW_FILE
    write_csv(sheet, path)
    return Review.read(path)


def _decide(sheet: pd.DataFrame, lines, decisions) -> pd.DataFrame:
    sheet = sheet.copy()
    for i, decision in zip(lines, decisions):
        sheet.loc[i, ["decision", "reviewer"]] = [decision, "AB"]
    return sheet


def _kind(sheet: pd.DataFrame) -> pd.Series:
    """Each worksheet line's kind: ``visit`` (confirm it), ``side``, ``candidate`` or ``follicle``."""
    kind = pd.Series("follicle", index=sheet.index)
    kind[sheet["sop_instance_uid"] == ""] = "visit"
    kind[sheet["why"] == SIDE_WHY] = "side"
    kind[candidate_lines(sheet)] = "candidate"
    return kind


@st.composite
def decided(draw, sheet: pd.DataFrame) -> pd.DataFrame:
    """``sheet`` with random decisions written into its follicle, candidate and side lines."""
    kind = _kind(sheet)
    choices = {"follicle": ("", "", "not_follicle"), "candidate": ("", "follicle", "not_follicle"), "side": ("", "left", "right")}
    chosen = {i: draw(st.sampled_from(choices[k])) for i, k in kind.items() if k in choices}
    chosen = {i: d for i, d in chosen.items() if d}
    return _decide(sheet, chosen, chosen.values())


def _keys(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Each row's ovary-visit."""
    return list(table[KEY].astype(str).itertuples(index=False, name=None))


def _equal(a: dict, b: dict, names=TABLES) -> None:
    for name in names:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def _log(tables: dict) -> pd.DataFrame | None:
    """The review log without its line numbers (which line of the file a decision was on), in one
    order; ``None`` without one (a review of no decision)."""
    if "review_log" not in tables:
        return None
    log = tables["review_log"].drop(columns="line")
    return log.sort_values(list(log.columns)).reset_index(drop=True)


@PROPERTIES
@given(studies())
def test_the_worksheet_saved_unchanged_as_the_review_changes_no_table(results) -> None:
    tables = build_tables(results)
    sheet = worksheet(tables)
    with tempfile.TemporaryDirectory() as folder:
        review = _read(sheet, Path(folder))
    assert review.decisions == ()
    again = build_tables(results, review=review)
    _equal(tables, again, (*TABLES, "review_reasons"))
    assert "review_log" not in again
    pd.testing.assert_frame_equal(worksheet(again, review=review), sheet)


@settings(PROPERTIES, max_examples=15)  # (four rounds of tables an example)
@given(st.data())
def test_a_review_saved_again_from_the_next_worksheet_gives_the_same_tables(data) -> None:
    """Round 1 decides follicles, candidates and sides; round 2 confirms ovary-visits on the
    next sheet at the count it prefills; round 3 saves the sheet after that unchanged. The
    confirmations change only ``needs_review`` (and why), round 3 nothing; the decision lines
    in another order give the same tables; the log lists each decision once."""
    results = data.draw(studies())
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        analysed = build_tables(results)
        first = data.draw(decided(worksheet(analysed)))
        review = _read(first, folder)
        tables = build_tables(results, review=review)
        _logs_each_decision_once(tables, review, analysed)

        sheet = worksheet(tables, review=review)
        confirm = sheet.index[_kind(sheet) == "visit"]
        chosen = [i for i in confirm if data.draw(st.sampled_from((True, True, False)))]
        second = _decide(sheet, chosen, ["confirmed"] * len(chosen))
        review2 = _read(second, folder)
        confirmed = build_tables(results, review=review2)
        _logs_each_decision_once(confirmed, review2, analysed)
        _equal(tables, confirmed, ("images", "follicles", "candidates", "response"))
        ovaries = confirmed["ovaries"].set_index(KEY)
        keys = [tuple(second.loc[i, KEY]) for i in chosen]
        assert not ovaries.loc[keys, "needs_review"].any() if keys else True
        assert not set(_keys(confirmed["review_reasons"])) & set(keys)
        columns = [c for c in tables["ovaries"].columns if c != "needs_review"]
        pd.testing.assert_frame_equal(tables["ovaries"][columns], confirmed["ovaries"][columns])

        third = worksheet(confirmed, review=review2)
        review3 = _read(third, folder)
        again = build_tables(results, review=review3)
        _equal(confirmed, again, (*TABLES, "review_reasons"))
        _equal_logs(confirmed, again)
        pd.testing.assert_frame_equal(worksheet(again, review=review3), third)

        # saved by a spreadsheet of a comma-decimal locale, dates rewritten: the same tables, a date
        # that fits two of the patient's visits refused naming both
        day_first = data.draw(st.booleans())
        path = folder / REVIEW_FILE
        path.write_text(_as_spreadsheet(second, day_first).to_csv(sep=";", index=False))
        visits = {(p, d) for p, d, _ in _keys(tables["ovaries"])}
        both = {p for p, d in visits if d == "2026-05-01" and (p, "2026-01-05") in visits}
        ambiguous = [i for i in chosen if second.loc[i, "patient_id"] in both and second.loc[i, "study_date"] in DAYS[:2]]
        if ambiguous:
            with pytest.raises(ReviewError, match=f"line {ambiguous[0] + 2}: confirmed: the date .* may be 2026-01-05 or "
                                                  "2026-05-01, both visits of .*: write it as YYYY-MM-DD"):
                build_tables(results, review=Review.read(path))
        else:
            resaved = build_tables(results, review=Review.read(path))
            _equal(confirmed, resaved, (*TABLES, "review_reasons"))
            assert ("review_log" in confirmed) == ("review_log" in resaved)
            if "review_log" in confirmed:
                pd.testing.assert_frame_equal(confirmed["review_log"], resaved["review_log"])

        # the decision lines in another order (the undecided ones among them) give the same tables
        order = data.draw(st.permutations(list(second.index)))
        shuffled = _read(second.loc[list(order)].reset_index(drop=True), folder)
        moved = build_tables(results, review=shuffled)
        _equal(confirmed, moved, (*TABLES, "review_reasons"))
        _equal_logs(confirmed, moved)


def _as_spreadsheet(sheet: pd.DataFrame, day_first: bool) -> pd.DataFrame:
    """``sheet`` as a spreadsheet of a comma-decimal locale shows it: decimal commas, its dates
    ``05/01/2026`` (``day_first``) or ``1/5/2026``."""
    out = sheet.copy()
    for column in ("centroid_row", "centroid_col", "mean_diameter_mm"):
        out[column] = out[column].str.replace(".", ",")

    def rewritten(day: str) -> str:
        if not day:
            return day
        y, m, d = day.split("-")
        return f"{d}/{m}/{y}" if day_first else f"{int(m)}/{int(d)}/{y}"

    out["study_date"] = out["study_date"].map(rewritten)
    return out


def _equal_logs(a: dict, b: dict) -> None:
    if _log(a) is None or _log(b) is None:
        assert _log(a) is _log(b) is None
    else:
        pd.testing.assert_frame_equal(_log(a), _log(b))


def _logs_each_decision_once(tables: dict, review: Review, analysed: dict) -> None:
    """review_log: one row per decision of ``review``, by its line, with its ovary-visit's count
    and counted image as analysed (``analysed``: the tables without the review) (a side line: of the ovary-visit its image was analysed in; the
    image empty in a review that gives sides) and after (those of the tables)."""
    if not review.decisions:
        assert "review_log" not in tables
        return
    log = tables["review_log"]
    assert sorted(log["line"]) == sorted(d.line for d in review.decisions)
    by_line = {d.line: d for d in review.decisions}
    assert [by_line[line].decision for line in log["line"]] == list(log["decision"])
    before = analysed["ovaries"].astype({"follicle_count": int}).set_index(KEY)["follicle_count"]
    after = tables["ovaries"].astype({"follicle_count": int}).set_index(KEY)["follicle_count"]
    side_of = dict(zip(analysed["images"]["sop_instance_uid"], _keys(analysed["images"])))
    for row, key in zip(log.itertuples(), _keys(log)):
        was = side_of[row.sop_instance_uid] if row.decision in SIDES else key
        assert (row.count_before, row.count_after) == (before.get(was, 0), after[key])
        # (at a count of 0, no follicle says which image gave it)
        assert row.counted_image_before == ("" if review.sides_given else _counted(analysed, key)) or before.get(was, 0) == 0
        assert row.counted_image_after == _counted(tables, key) or after[key] == 0


def _counted(tables: dict, key) -> str:
    """The image that gives ovary-visit ``key``'s count (its counted follicles'; "" when none)."""
    follicles = tables["follicles"]
    uids = {u for u, k in zip(follicles.loc[follicles["counted"], "sop_instance_uid"], _keys(follicles[follicles["counted"]]))
            if k == key}  # fmt: skip
    assert len(uids) <= 1
    return uids.pop() if uids else ""


@PROPERTIES
@given(studies(), st.data())
def test_an_ovary_visit_whose_every_follicle_and_candidate_is_rejected_counts_0(results, data) -> None:
    sheet = worksheet(build_tables(results))
    kind = _kind(sheet)
    visits = sheet[kind == "visit"]
    if visits.empty:
        return
    key = tuple(visits.loc[data.draw(st.sampled_from(list(visits.index))), KEY])
    mine = pd.Series([k == key for k in _keys(sheet)], index=sheet.index) & kind.isin(("follicle", "candidate"))
    with tempfile.TemporaryDirectory() as folder:
        rejected = build_tables(results, review=_read(_decide(sheet, sheet.index[mine], ["not_follicle"] * mine.sum()), Path(folder)))
        accepted = build_tables(results, review=_read(_decide(sheet, sheet.index[mine & (kind == "candidate")],
                                                              ["follicle"] * (mine & (kind == "candidate")).sum()), Path(folder)))  # fmt: skip
    assert rejected["ovaries"].set_index(KEY).loc[key, "follicle_count"] == 0
    # every candidate a follicle: the largest count of an image, its candidates counted
    of_visit = [r for r in results if (r.record.patient_id, r.record.study_date, r.record.laterality) == key]
    assert accepted["ovaries"].set_index(KEY).loc[key, "follicle_count"] == max(len(r.follicles) + len(r.unsure) for r in of_visit)
    assert key not in _keys(accepted["candidates"])


@PROPERTIES
@given(st.data())
def test_a_confirmation_at_another_count_is_refused_naming_its_line(data) -> None:
    results = data.draw(studies())
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        review = _read(data.draw(decided(worksheet(build_tables(results)))), folder)
        tables = build_tables(results, review=review)
        sheet = worksheet(tables, review=review)
        confirm = sheet.index[_kind(sheet) == "visit"]
        if confirm.empty:
            return
        i = data.draw(st.sampled_from(list(confirm)))
        wrong = _decide(sheet, [i], ["confirmed"])
        count = int(wrong.loc[i, "follicle_count"])
        wrong.loc[i, "follicle_count"] = str(count + data.draw(st.sampled_from((1, -1) if count else (1,))))
        with pytest.raises(ReviewError) as info:
            build_tables(results, review=_read(wrong, folder))
    said = str(info.value)
    assert "\n" not in said and said.startswith(str(folder / REVIEW_FILE))
    where = "/".join(wrong.loc[i, KEY])
    assert re.search(rf" line {i + 2}: confirmed: confirms {wrong.loc[i, 'follicle_count']} follicles but "
                     rf"{re.escape(where)} now counts {count}: review it again$", said)


@settings(PROPERTIES, max_examples=15)
@given(st.data())
def test_the_next_worksheet_resaved_by_a_spreadsheet_loses_no_decision_and_one_typed_into_it_stops_the_run(data) -> None:
    """The run keeps what the worksheet carried from review.csv (:func:`content`, through the run
    state's JSON); that sheet re-saved by a spreadsheet, dates rewritten and rows moved, is no
    reason to stop; a decision typed into it, not in review.csv, is, naming its line."""
    results = data.draw(studies())
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        analysed = build_tables(results)
        review = _read(data.draw(decided(worksheet(analysed))), folder)
        sheet = worksheet(build_tables(results, review=review), review=review)
        carried = json.loads(json.dumps([content(d) for d in review.decisions]))
        order = data.draw(st.permutations(list(sheet.index)))
        resaved = _as_spreadsheet(sheet, data.draw(st.booleans())).loc[list(order)].reset_index(drop=True)
        path = folder / WORKSHEET_FILE
        path.write_text(resaved.to_csv(sep=";", index=False))
        stamp = (folder / REVIEW_FILE).stat().st_mtime + 10
        os.utime(path, (stamp, stamp))
        unsaved_decisions(path, review, carried)
        kind = _kind(resaved)
        undecided = resaved.index[(resaved["decision"] == "") & kind.isin(("visit", "follicle", "side"))]
        if undecided.empty:
            return
        i = data.draw(st.sampled_from(list(undecided)))
        typed = {"visit": "confirmed", "follicle": "not_follicle", "side": "left"}[kind[i]]
        path.write_text(_decide(resaved, [i], [typed]).to_csv(sep=";", index=False))
        os.utime(path, (stamp, stamp))
        with pytest.raises(ReviewError, match=rf"{WORKSHEET_FILE} line {i + 2}: {typed}: 1 decision\(s\) written into "
                                              "the worksheet are not in review.csv"):
            unsaved_decisions(path, review, carried)
