"""The day each study's files are placed on (studyday.py) against random studies (property-based).

Random header records (patients with and without PatientID, studies with and without a UID,
files dated by StudyDate, by a later tag or not at all) are checked against the rule of
``study_days``' docstring and docs/measurement.md ("The visit date is the StudyDate; ..."): one
StudyDate of a study is its day; without any, dates at most a day apart give the earliest; the
day does not depend on the order of the files nor on the files of other studies, and a record
moved onto its study's day changes only its date (keeping the one it read); a study is dated from
the files it has, placed ones among them or not.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from follicle_seg.studyday import on_study_day, study_days
from test_visits import record  # tests/ is on sys.path

PROPERTIES = settings(max_examples=150)  # (deterministic: tests/conftest.py's profile)

DAY0 = date(2026, 1, 5)
LATER_TAGS = ("SeriesDate", "AcquisitionDate", "ContentDate")


@st.composite
def files(draw, uid: str):
    """One file's header record: a few patients and studies (an empty UID among them), dated by
    StudyDate, a later tag or nothing, on one of a few days (neighbours and far ones)."""
    tag = draw(st.sampled_from(("StudyDate", *LATER_TAGS, "")))
    day = "" if not tag else (DAY0 + timedelta(days=draw(st.sampled_from((0, 1, 2, 9))))).isoformat()
    rec = record(uid, patient=draw(st.sampled_from(("P1", "P1", "P2", ""))), day=day,
                 study=draw(st.sampled_from(("st-a", "st-a", "st-b", "st-c"))), date_tag=tag)  # fmt: skip
    return replace(rec, study_instance_uid="") if draw(st.integers(0, 7)) == 0 else rec


@st.composite
def studies(draw):
    return [draw(files(f"1.2.{k}")) for k in range(draw(st.integers(0, 12)))]


def key(rec):
    return rec.patient_id, rec.study_instance_uid


def expected_day(members) -> str | None:
    """The rule as docs/measurement.md words it, for the files of one study."""
    studied = {r.study_date for r in members if r.date_tag == "StudyDate"}
    if studied:
        return studied.pop() if len(studied) == 1 else None
    later = [date.fromisoformat(r.study_date) for r in members if r.study_date]
    if later and (max(later) - min(later)).days <= 1:
        return min(later).isoformat()
    return None


@PROPERTIES
@given(studies(), st.randoms(use_true_random=False))
def test_each_study_gets_the_day_the_docs_give_whatever_the_order(recs, rnd):
    days = study_days(recs)
    shuffled = list(recs)
    rnd.shuffle(shuffled)
    assert study_days(shuffled) == days
    keyed = {key(r) for r in recs if r.study_instance_uid}
    assert set(days) <= keyed and all(uid for _, uid in days)
    for k in keyed:
        assert days.get(k) == expected_day([r for r in recs if key(r) == k]), k


@PROPERTIES
@given(studies(), files("9.9.9"))
def test_a_file_of_another_study_never_changes_a_studys_day(recs, extra):
    days, more = study_days(recs), study_days([*recs, extra])
    assert {k: d for k, d in more.items() if k != key(extra)} == {k: d for k, d in days.items() if k != key(extra)}


@PROPERTIES
@given(studies())
def test_a_record_moves_to_its_studys_day_its_date_alone_and_only_from_a_later_tag_or_none(recs):
    days = study_days(recs)
    for rec in recs:
        moved = on_study_day(rec, days)
        changed = {f.name for f in fields(rec) if getattr(moved, f.name) != getattr(rec, f.name)}
        assert changed <= {"study_date", "own_date"}
        if rec.date_tag == "StudyDate" or not rec.study_instance_uid or key(rec) not in days:
            assert moved == rec
        else:
            assert (moved.study_date, moved.own_date) == (days[key(rec)], rec.study_date)
    # one study with one StudyDate, or none and days at most a day apart, is one visit
    for k, day in days.items():
        assert {on_study_day(r, days).study_date for r in recs if key(r) == k} == {day}


@PROPERTIES
@given(studies())
def test_placing_the_placed_records_again_changes_nothing(recs):
    """The run places the files on their days before analysing; the tables place its results
    again (visits.py): the second pass must keep the first one's days."""
    days = study_days(recs)
    placed = [on_study_day(r, days) for r in recs]
    again = study_days(placed)
    assert again == days
    assert [on_study_day(r, again) for r in placed] == placed


@PROPERTIES
@given(studies(), st.data())
def test_the_placed_files_left_of_a_study_are_dated_as_those_files_read_afresh(recs, data):
    """A resumed run dates its studies from the stored (placed) records of the files still among
    its inputs: as a run afresh on those files does. A resumed file kept the day the removed file
    of its study had given it (A Jan 5 and B Jan 6 placed on Jan 5; A removed: B stayed on Jan 5)."""
    placed = [on_study_day(r, study_days(recs)) for r in recs]
    kept = sorted(data.draw(st.sets(st.sampled_from(range(len(recs)))) if recs else st.just(set())))
    afresh = [recs[k] for k in kept]
    days = study_days(afresh)
    assert study_days([placed[k] for k in kept]) == days
    assert [on_study_day(placed[k], days).study_date for k in kept] == [on_study_day(r, days).study_date for r in afresh]
