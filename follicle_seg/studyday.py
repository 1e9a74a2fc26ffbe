"""The day the files of one study are placed on: one study is one visit, even when its files
carry different dates (a file stored after midnight, a de-identifier that blanked StudyDate).

Used before a run analyses anything (overlays are named and headed with the visit's day), by the
tables over every result, and by ``follicle-seg inspect`` (what it predicts is what a run does).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from follicle_seg.types import ImageRecord


def study_days(records: Iterable[ImageRecord]) -> dict[tuple[str, str], str]:
    """The day of each study (its patient's study UID, never an empty one) its files are placed on:

    * the study's StudyDate, when its files give one (one only), for a file without a usable date
      or dated by a later tag (SeriesDate, AcquisitionDate, ContentDate: a file stored after
      midnight, a de-identifier that blanked its StudyDate);
    * a study whose files give no StudyDate, their dates (from later tags) a day apart at most,
      the earliest of them: the day the exam began.

    The run applies it before analysing (:func:`on_study_day`), so that overlays are named and
    headed with the day the tables give; the tables again, over every result. A record placed
    already counts with its own date: a study is dated from the files it has now (one of them
    removed, those resumed with it are dated as a run afresh dates them).
    """
    by_study: dict[tuple[str, str], list[ImageRecord]] = {}
    for rec in records:
        if rec.study_instance_uid:
            by_study.setdefault((rec.patient_id, rec.study_instance_uid), []).append(rec)
    day: dict[tuple[str, str], str] = {}
    for key, members in by_study.items():
        studied = {rec.study_date for rec in members if rec.date_tag == "StudyDate"}
        later = sorted(filter(None, (_read(rec) for rec in members if rec.date_tag != "StudyDate")))
        if len(studied) == 1:
            day[key] = studied.pop()
        elif not studied and later and days_between(later[-1], later[0]) <= 1:
            day[key] = later[0]
    return day


def on_study_day(rec: ImageRecord, days: dict[tuple[str, str], str]) -> ImageRecord:
    """``rec`` on its study's day (:func:`study_days`) when its own date is from a later tag or
    missing, the date it read kept as ``own_date``; on the date it read when its study has no day
    (now: a file placed by an earlier run, the file that dated its study removed since)."""
    if rec.date_tag == "StudyDate" or not rec.study_instance_uid:
        return rec
    moved = days.get((rec.patient_id, rec.study_instance_uid))
    if moved:
        return replace(rec, study_date=moved, own_date=_read(rec))
    return rec if rec.own_date is None else replace(rec, study_date=rec.own_date, own_date=None)


def _read(rec: ImageRecord) -> str:
    """The date ``rec`` was read with, before :func:`on_study_day` placed it ("" none)."""
    return rec.study_date if rec.own_date is None else rec.own_date


def days_between(day: str, since: str | None) -> float:
    """Days from ``since`` to ``day`` (``YYYY-MM-DD``); NaN when either is missing or not a date.

    >>> days_between("2026-01-19", "2026-01-05"), days_between("", "2026-01-05")
    (14.0, nan)
    """
    try:
        return float((date.fromisoformat(day or "") - date.fromisoformat(since or "")).days)
    except ValueError:
        return math.nan
