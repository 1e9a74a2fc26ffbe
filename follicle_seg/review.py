"""A sonographer's review of a run, applied whenever its tables are built: ``OUT/review.csv``.

The network flags what it is unsure of (``needs_review``) and every follicle links to an overlay
(its ``follicle_id`` is the number drawn there). A reviewer who has checked the overlays writes
their decisions into ``review.csv`` in the run folder, one a line, and runs again (nothing is
analysed twice; the tables are rebuilt):

* ``not_follicle``: follicle ``follicle_id`` of image ``sop_instance_uid`` (a ``follicles.csv``
  row, copied with its ``centroid_row`` and ``centroid_col``) is not a follicle. It is dropped
  before the count rule, so the ovary-visit's count, sizes and chosen image are those without it,
  and it leaves ``follicles.csv``. Said of a candidate the network was unsure of (a
  ``candidates.csv`` row, drawn dashed as ``4?`` on the overlay), it settles that candidate.
* ``follicle``: candidate ``follicle_id`` of image ``sop_instance_uid`` (a ``candidates.csv`` row)
  is a follicle: it joins the image's follicles, measured as the network found it, before the
  count rule.
* ``left`` or ``right``: image ``sop_instance_uid`` shows that ovary (an image whose side no tag
  or keyword gave, burned into the image only, or a side given wrongly). The image joins that
  side's ovary-visit before anything is counted, and ``images.csv`` gives the side decided.
* ``confirmed``: ovary-visit ``patient_id, study_date, laterality`` was checked and its
  ``follicle_count`` (the count after the reviewer's ``not_follicle`` and ``follicle`` lines) is
  right: it no longer ``needs_review``. With ``n_images`` and ``images`` (the worksheet prefills
  both; ``images`` is :func:`images_digest` of the ovary-visit's analysed images) it is bound to
  those images too: an image of the ovary-visit analysed after it was checked (a file that came
  late, in place of one withdrawn or not) is not confirmed unseen.

An image whose every unsure candidate was decided no longer raises "low confidence", nor "tube
through the sweep" once its every tube was: each flag goes with the last candidate raising it.

A decision is bound to what was reviewed. A ``not_follicle`` or ``follicle`` line must find its follicle at the
centroid it gives (within :data:`CENTROID_TOLERANCE_PX`), and a ``confirmed`` line's count must
be the count the tables now give (its date as the tables give it, or as a spreadsheet rewrote it
when it fits one of the patient's visits only; of several lines at other counts or images, the
one that fits applies, the others are set aside: :meth:`Review.confirmed`); lines that find
nothing to apply to stop the tables with the file, and each line and its reason, the follicle and side lines first (a
confirmation's count follows from them; a run analysed again with other weights numbers its
follicles afresh: review it again). The SPEC tables keep their columns; ``review_log.csv`` lists every
decision, what it is about (a reported follicle, a candidate, an image's side, an ovary-visit), with
its ovary-visit's count before and after the review.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from follicle_seg.errors import FollicleSegError
from follicle_seg.io.tables import spreadsheet_records, spreadsheet_text
from follicle_seg.tracking import (CANDIDATE_FLAGS, FLAG_LOW_CONFIDENCE, FLAG_SIDE_UNKNOWN, FLAG_TUBE, KIND_TUBE,
                                   KIND_UNSURE, score_text)
from follicle_seg.types import Follicle, ImageResult

REVIEW_FILE = "review.csv"
NOT_FOLLICLE, FOLLICLE, CONFIRMED = "not_follicle", "follicle", "confirmed"
#: The side decisions, and the laterality each gives.
SIDES = {"left": "L", "right": "R"}
#: A ``not_follicle`` or ``follicle`` line's centroid may differ this much (pixels) from the follicle's.
CENTROID_TOLERANCE_PX = 3.0
#: What each decision needs besides ``decision`` and ``reviewer``.
NEEDS = {
    NOT_FOLLICLE: ("sop_instance_uid", "follicle_id", "centroid_row", "centroid_col"),
    FOLLICLE: ("sop_instance_uid", "follicle_id", "centroid_row", "centroid_col"),
    # (patient_id and study_date name the ovary-visit too, empty for an undated or patient-less one)
    CONFIRMED: ("laterality", "follicle_count"),
    **dict.fromkeys(SIDES, ("sop_instance_uid",)),
}
WORKSHEET_FILE = "review_worksheet.csv"
WORKSHEET_COLUMNS = (
    "decision", "reviewer", "comment", "patient_id", "study_date", "laterality", "follicle_count", "n_images", "images",
    "sop_instance_uid", "follicle_id", "centroid_row", "centroid_col", "mean_diameter_mm", "counted", "overlay", "why",
)  # fmt: skip
#: How a candidate's line of the worksheet begins its ``why`` (a follicle's line has none), by its
#: kind (``candidates.csv``'s ``kind``: :data:`~follicle_seg.tracking.KIND_UNSURE`, ``KIND_TUBE``).
CANDIDATE_WHY = {KIND_UNSURE: "network unsure", KIND_TUBE: FLAG_TUBE}
#: The ``why`` of an image's line whose side is unknown.
SIDE_WHY = "side unknown: left or right?"
#: How the ``why`` of a decision about an image a rejection note withdrew begins (+ the image's
#: ``images.csv`` reason): not applied while the note is among the inputs (:meth:`Review.set_aside`).
NOT_APPLIED = "not applied: its image "
#: How the ``why`` of a confirmation begins (+ a line number) while another line of its
#: ovary-visit confirms it as it now is (:meth:`Review.confirmed`).
NOT_APPLIED_CONFIRMED = "not applied: line "
#: What a ``review_log`` line's decision is about (its ``about``), besides a candidate (by its kind,
#: ``candidates.csv``'s ``kind``: :data:`~follicle_seg.tracking.KIND_UNSURE`, ``KIND_TUBE``): a
#: reported follicle (a ``follicles.csv`` row as analysed), an image's side, an ovary-visit's count.
ABOUT_REPORTED, ABOUT_IMAGE, ABOUT_OVARY_VISIT = "reported", "image", "ovary_visit"
LOG_COLUMNS = (
    "line", "decision", "about", "patient_id", "study_date", "laterality", "sop_instance_uid", "follicle_id", "frame_index",
    "reviewer", "comment", "count_before", "count_after", "counted_image_before", "counted_image_after",
)  # fmt: skip

OvaryKey = tuple[str, str, str]  # patient_id, study_date, laterality


class ReviewError(FollicleSegError):
    """A review file that cannot be read, or a decision that cannot be applied."""


@dataclass(frozen=True)
class Decision:
    """One line of ``review.csv``."""

    line: int
    decision: str
    reviewer: str
    comment: str = ""
    patient_id: str = ""
    study_date: str = ""
    laterality: str = ""
    sop_instance_uid: str = ""
    follicle_id: int | None = None
    centroid: tuple[float, float] | None = None
    follicle_count: int | None = None
    n_images: int | None = None  # a confirmation's images (the worksheet's n_images), when given
    images: str | None = None  # and which (the worksheet's images: :func:`images_digest`), when given


class Review:
    """The decisions of a review file, and which of them the tables applied (to which ovary-visit)."""

    def __init__(self, decisions: Sequence[Decision] = (), path: Path | None = None) -> None:
        self.path = path
        self.decisions = tuple(decisions)
        self.applied: dict[int, OvaryKey] = {}
        self.frames: dict[int, int] = {}  # the frame a follicle line's follicle is drawn on, by line
        self.kinds: dict[int, str] = {}  # a line about a candidate: its kind (unsure, tube), by line
        self._of_follicle: dict[tuple[str, int | None], Decision] = {}  # not_follicle and follicle lines
        self._confirmed: dict[OvaryKey, list[Decision]] = {}  # each of another count or images (:func:`_twin`)
        self._visits: dict[str, set[str]] = {}  # each patient's visit dates in the run (see place)
        self._problems: dict[int, str] = {}  # why a line found what it names, but cannot be applied
        self._sides: dict[str, Decision] = {}  # left and right lines, by image
        self.set_aside_lines: dict[int, tuple[OvaryKey, str]] = {}  # ovary-visit, why (:meth:`set_aside`, :meth:`confirmed`)
        for d in self.decisions:
            if d.decision == CONFIRMED:
                lines = self._confirmed.setdefault(self._key(d), [])
                twin = _twin(d, lines)
                lines.append(d)
            elif d.decision in SIDES:
                twin = self._sides.setdefault(d.sop_instance_uid, d)
            else:
                twin = self._of_follicle.setdefault((d.sop_instance_uid, d.follicle_id), d)
            if twin is not None and twin is not d:
                raise self._error(d, f"repeats line {twin.line}")

    @property
    def follicles_decided(self) -> set[tuple[str, int | None]]:
        """(SOP instance UID, follicle id) of the follicles and candidates a line decides."""
        return set(self._of_follicle)

    @property
    def sides_given(self) -> bool:
        """Whether the review gives any image its side (``left``, ``right``)."""
        return bool(self._sides)

    def side_given(self, uid: str) -> str | None:
        """The side a ``left`` or ``right`` line gives image ``uid``; ``None`` when none does."""
        d = self._sides.get(uid)
        return SIDES[d.decision] if d is not None else None

    @staticmethod
    def _key(d: Decision) -> OvaryKey:
        return (d.patient_id, d.study_date, d.laterality)

    @classmethod
    def read(cls, path: Path) -> Review:
        """The review in ``path``; an empty one when there is no such file."""
        path = Path(path)
        if not path.exists():
            return cls(path=path)
        if not path.is_file():  # a folder saved under the name is no review, nor silently none
            raise ReviewError(f"{path}: not a file: save the review as a CSV file under this name")
        try:
            text = spreadsheet_text(path.read_bytes())
            records = spreadsheet_records(text, strict=False)  # (";" with decimal commas, :func:`_number`)
        except UnicodeDecodeError:
            raise ReviewError(f'{path}: cannot read the review file (neither UTF-8 nor Windows-1252): save it as '
                              '"CSV UTF-8"') from None  # fmt: skip
        except (OSError, csv.Error) as exc:
            raise ReviewError(f"{path}: cannot read the review file ({exc})") from None
        except ValueError as exc:  # a workbook, not text (:func:`spreadsheet_text`)
            raise ReviewError(f"{path}: {exc}") from None
        if not records:  # (an empty file is no review)
            return cls(path=path)
        (_, header), rows = records[0], records[1:]
        columns = [c.strip().lower() for c in header]
        if "decision" not in columns:
            head = next(line for line in text.splitlines() if line.strip())
            raise ReviewError(f"{path}: no decision column (found {head.strip()[:120]!r}): save "
                              "review_worksheet.csv, decisions written in, as CSV under this name")  # fmt: skip
        decisions = []
        for line, fields in rows:
            row = {c: v.strip() for c, v in zip(columns, fields + [""] * (len(columns) - len(fields)))}
            if row.get("decision"):  # a worksheet line left undecided is no decision
                decisions.append(_decision(path, line, row))
        return cls(decisions, path)

    def sided(self, results: Sequence[ImageResult]) -> list[ImageResult]:
        """``results`` with the sides the reviewer gave (``left``, ``right``): the record's
        laterality (source ``review``), without the "side unknown" flag."""
        out = []
        for r in results:
            rec = r.record
            d = self._sides.get(rec.sop_instance_uid) if r.status == "ok" and rec is not None else None
            if d is None or rec is None:
                out.append(r)
                continue
            side = SIDES[d.decision]
            self.applied[d.line] = (rec.patient_id, rec.study_date, side)
            record = replace(rec, laterality=side, laterality_source="review")
            out.append(replace(r, record=record, flags=tuple(f for f in r.flags if f != FLAG_SIDE_UNKNOWN)))
        return out

    def apply(self, images: Sequence[ImageResult], ovary: OvaryKey) -> list[ImageResult]:
        """``images`` (one ovary-visit's) as reviewed: without the follicles said ``not_follicle``,
        with the unsure candidates said ``follicle`` among their follicles, and without the
        decided candidates among the unsure ones ("low confidence" gone with the last candidate
        raising it, "tube through the sweep" with the last tube)."""
        kept = []
        for r in images:
            follicles, unsure, _ = _sorted_out(r, lambda f: self._decided(f, ovary))
            if len(follicles) == len(r.follicles) and len(unsure) == len(r.unsure):
                kept.append(r)
                continue
            left = {CANDIDATE_FLAGS[u.kind] for u in unsure}  # the candidates' flags still raised
            flags = tuple(f for f in r.flags if f not in (FLAG_LOW_CONFIDENCE, FLAG_TUBE) or f in left or not r.unsure)
            kept.append(replace(r, follicles=tuple(follicles), unsure=tuple(unsure), flags=flags))
        return kept

    def decision_about(self, f: Follicle) -> Decision | None:
        """The ``not_follicle`` or ``follicle`` line about follicle or candidate ``f``, if any."""
        return self._of_follicle.get((f.sop_instance_uid, f.follicle_id))

    def _decided(self, f: Follicle, ovary: OvaryKey) -> Decision | None:
        """The decision about follicle or candidate ``f``, checked against its centroid, or ``None``."""
        d = self._of_follicle.get((f.sop_instance_uid, f.follicle_id))
        if d is None:
            return None
        if not _at(d, f):
            assert d.centroid is not None  # (a not_follicle or follicle line is read with its centroid)
            row, col = d.centroid
            self._problems[d.line] = (f"follicle {f.follicle_id} of {f.sop_instance_uid} is at row "
                                      f"{f.best.centroid_row:.1f}, column {f.best.centroid_col:.1f}, not at {row:g}, "
                                      f"{col:g} (the line's centroid is another follicle's, or the image was analysed "
                                      "again since): review it again")  # fmt: skip
            return None
        self.applied[d.line] = ovary
        self.frames[d.line] = f.best.frame_index
        if f.kind:
            self.kinds[d.line] = f.kind
        return d

    def said_of(self, f: Follicle, named: Mapping[tuple[str, int], Follicle] | None = None) -> Decision | None:
        """The ``not_follicle`` or ``follicle`` line about follicle or candidate ``f`` of an
        analysed image, or about the one that names it in the tables (``named``, as
        :meth:`of_image`'s), found at its centroid; else ``None``."""
        g = (named or {}).get((f.sop_instance_uid, f.follicle_id), f)
        d = self.decision_about(g)
        return d if d is not None and _at(d, g) else None

    def of_image(self, r: ImageResult, named: Mapping[tuple[str, int], Follicle] | None = None
                 ) -> tuple[ImageResult, tuple[str, ...]]:
        """Analysed image ``r`` as the decisions about it make it (its side, follicles said
        ``not_follicle`` dropped, candidates said ``follicle`` among its follicles), and the
        reviewers of those decisions: none when they change nothing its DICOM SR says (records
        nothing: the tables did). ``named``: of a still that is a frame of a sweep, the follicle
        or candidate that names each of its own in the tables, whose decision is theirs
        (:func:`~follicle_seg.series.named_by`)."""
        follicles, _, changes = _sorted_out(r, lambda f: self.said_of(f, named))
        rec = r.analysed_record()
        side = self._sides.get(rec.sop_instance_uid)
        if side is not None and SIDES[side.decision] != rec.laterality:
            changes.append(side)
            rec = replace(rec, laterality=SIDES[side.decision])
        if not changes:
            return r, ()
        return replace(r, record=rec, follicles=tuple(follicles)), tuple(sorted({d.reviewer for d in changes}))

    def place(self, ovaries: Iterable[OvaryKey]) -> None:
        """Find each ``confirmed`` line's ovary-visit among the run's ``ovaries`` (those of the
        images a rejection note withdrew too, :meth:`set_aside`): by its date as
        the tables give it (YYYY-MM-DD), or as a spreadsheet rewrote it (``05/01/2026``,
        ``1/5/2026``: the year, and day and month in either order, as :func:`content` reads it)
        when that fits one of the patient's visit dates only; year first (``2026/1/5``), as year,
        month and day."""
        ovaries = set(ovaries)
        self._visits = {}
        for patient, day, _ in ovaries:
            self._visits.setdefault(patient, set()).add(day)
        placed: dict[OvaryKey, list[Decision]] = {}
        for d in (d for d in self.decisions if d.decision == CONFIRMED):
            key = self._key(d)
            year_first = re.fullmatch(r"(\d{4})\D(\d{1,2})\D(\d{1,2})", d.study_date)  # 2026/1/5: year, month, day
            if key not in ovaries and year_first:
                key = (d.patient_id, "{}-{:0>2}-{:0>2}".format(*year_first.groups()), d.laterality)
            elif key not in ovaries:
                parts = _date_parts(d.study_date)
                fits = sorted(day for day in self._visits.get(d.patient_id, ()) if parts and _date_parts(day) == parts)
                if len(fits) > 1:
                    self._problems[d.line] = (f"the date {d.study_date} may be {' or '.join(fits)}, both visits of "
                                              f"{d.patient_id}: write it as YYYY-MM-DD")  # fmt: skip
                    continue
                key = (d.patient_id, fits[0], d.laterality) if fits else key
            if (twin := _twin(d, placed.get(key, ()))) is not None:
                self._problems[d.line] = f"repeats line {twin.line}"
                continue
            placed.setdefault(key, []).append(d)
        self._confirmed = placed

    def confirmed(self, ovary: OvaryKey, follicle_count: int, n_images: int, images: str) -> bool:
        """Whether a reviewer confirmed this ovary-visit at this count (after the follicle decisions)
        and, when the line gives them, with this many images and these (``images``:
        :func:`images_digest` of their UIDs). Of several lines confirming it (each at another count
        or images: one written before a rejection note withdrew an image, one after), the one that
        fits applies and the others are set aside (:attr:`set_aside_lines`), to apply when the
        ovary-visit is as they confirm it again; when none fits, each is a problem."""
        lines = [d for d in self._confirmed.get(ovary, ()) if d.line not in self.set_aside_lines]
        fits = next((d for d in lines if d.follicle_count == follicle_count and _shows(d, n_images, images)), None)
        now = _state(follicle_count, n_images)
        for d in (d for d in lines if d is not fits):
            if fits is not None:
                then = (f"counts {_state(d.follicle_count, d.n_images)}" if (d.follicle_count, d.n_images) !=
                        (follicle_count, n_images) else f"has the images it confirms ({d.images})")  # fmt: skip
                why = (f"{NOT_APPLIED_CONFIRMED}{fits.line} confirms {'/'.join(ovary)} as it now is ({now}); this line "
                       f"applies when it {then} again")  # fmt: skip
                self.set_aside_lines[d.line] = (ovary, why)
            elif d.follicle_count != follicle_count:
                self._problems[d.line] = (f"confirms {d.follicle_count} follicles but {'/'.join(ovary)} now counts "
                                          f"{follicle_count}: review it again")  # fmt: skip
            elif d.n_images not in (None, n_images):
                self._problems[d.line] = (f"confirms {d.n_images} image(s) but {'/'.join(ovary)} now has {n_images} "
                                          "(analysed since it was checked): review it again")  # fmt: skip
            else:
                self._problems[d.line] = (f"confirms other images than {'/'.join(ovary)} now has (analysed since it "
                                          "was checked): review it again")  # fmt: skip
        if fits is None:
            return False
        self.applied[fits.line] = ovary
        return True

    def set_aside(self, withdrawn: Mapping[str, tuple[OvaryKey, str]], images: Mapping[OvaryKey, tuple[int, str]]
                  ) -> None:
        """Set aside the decisions about images a rejection note withdrew (``withdrawn``: each
        one's ovary-visit and ``images.csv`` reason, by SOP instance UID): a follicle or side line
        about one, and a confirmation of an ovary-visit that lost one (as :meth:`place` found it:
        its count and images are no longer those checked) but one giving the images it has now
        (``images``, by ovary-visit: their number and :func:`images_digest`; confirmed anew since
        the note). Not applied
        (:attr:`set_aside_lines` says why), they stay in ``review.csv`` and the worksheet, and
        apply again once the note is removed. Called after :meth:`place`, before :meth:`confirmed`."""
        of_visit = {ovary: reason for ovary, reason in withdrawn.values()}
        for ovary, lines in self._confirmed.items():
            for d in lines:
                if ovary in of_visit and ((d.n_images, d.images) == (None, None)
                                          or not _shows(d, *images.get(ovary, (-1, "")))):
                    self.set_aside_lines[d.line] = (ovary, NOT_APPLIED + of_visit[ovary])
        for d in self.decisions:
            if d.decision != CONFIRMED and d.sop_instance_uid in withdrawn:
                ovary, reason = withdrawn[d.sop_instance_uid]
                self.set_aside_lines[d.line] = (ovary, NOT_APPLIED + reason)

    def check_applied(self, analysed: Collection[str]) -> None:
        """Raise, in one message, for every decision that cannot be applied in this run (``analysed``:
        the SOP instance UIDs of its analysed images), those set aside (:meth:`set_aside`) apart:
        each line and why, the follicle and side lines first (a confirmation's count follows from them)."""
        failed = sorted((d for d in self.decisions if d.line not in self.applied and d.line not in self.set_aside_lines),
                        key=lambda d: (d.decision == CONFIRMED, d.line))  # fmt: skip
        said = [f"line {d.line}: {d.decision}: {self._unapplied(d, analysed)}" for d in failed]
        if len(said) == 1:
            raise ReviewError(f"{self.path} {said[0]}")
        if said:
            raise ReviewError(f"{self.path}: {len(said)} lines cannot be applied: {'; '.join(said)}")

    def _unapplied(self, d: Decision, analysed: Collection[str]) -> str:
        """Why decision ``d`` was not applied."""
        if d.line in self._problems:
            return self._problems[d.line]
        if d.decision in SIDES or (d.decision != CONFIRMED and d.sop_instance_uid not in analysed):
            return f"no analysed image {d.sop_instance_uid} in this run's results"
        if d.decision != CONFIRMED:
            return f"no follicle or unsure candidate {d.follicle_id} in image {d.sop_instance_uid} in this run's results"
        what = f"no ovary-visit {'/'.join(self._key(d))} in this run's results"
        if d.laterality == "U" and self._sides:
            return (f"{what} (this review gives its images their sides: leave this line undecided, and confirm the "
                    "sides' ovary-visits in the next round)")  # fmt: skip
        if visits := sorted(self._visits.get(d.patient_id, ())):
            return f"{what} ({d.patient_id}'s visits in it: {', '.join(v or 'undated' for v in visits)})"
        return what

    def log_table(
        self, counts: dict[OvaryKey, tuple[int, int, str, str]], sided_from: dict[str, int] | None = None
    ) -> pd.DataFrame:
        """``review_log``: every decision applied (not those set aside), what it is ``about`` (a
        reported follicle, a candidate by its kind, an image's side, an ovary-visit's count:
        :data:`ABOUT_REPORTED`), with its ovary-visit's count before and after the review
        and the image that gave each (a decision may move the count to another image of the same
        count, and with it the AFC and largest follicle: the counts alone hid it); a ``left`` /
        ``right`` line's count before is that of the ovary-visit its image was analysed in
        (``sided_from``, by SOP instance UID: the side-unknown one, say); the image before is
        empty in a review that gives images their sides (it moves images between ovary-visits)."""
        rows = []
        for d in (d for d in self.decisions if d.line not in self.set_aside_lines):
            ovary = self.applied[d.line]
            before, after, image_before, image_after = counts[ovary]
            if d.decision in SIDES and sided_from and d.sop_instance_uid in sided_from:
                before = sided_from[d.sop_instance_uid]
            about = (ABOUT_OVARY_VISIT if d.decision == CONFIRMED else ABOUT_IMAGE if d.decision in SIDES
                     else self.kinds.get(d.line, ABOUT_REPORTED))  # fmt: skip
            rows.append({
                "line": d.line, "decision": d.decision, "about": about, "patient_id": ovary[0], "study_date": ovary[1],
                "laterality": ovary[2], "sop_instance_uid": d.sop_instance_uid, "follicle_id": d.follicle_id,
                "frame_index": self.frames.get(d.line),
                "reviewer": d.reviewer, "comment": d.comment, "count_before": before, "count_after": after,
                "counted_image_before": image_before, "counted_image_after": image_after,
            })  # fmt: skip
        df = pd.DataFrame(rows, columns=list(LOG_COLUMNS))
        numbers = ("line", "follicle_id", "frame_index", "count_before", "count_after")
        for col in LOG_COLUMNS:  # the dtypes of the other tables: Int64 numbers, string text
            df[col] = pd.to_numeric(df[col]).astype("Int64") if col in numbers else df[col].fillna("").astype("string")
        return df

    def _error(self, d: Decision, reason: str) -> ReviewError:
        return ReviewError(f"{self.path} line {d.line}: {d.decision}: {reason}")


#: The run's own files whose names hold "review" (beside the reviewer's ``review.csv``).
OWN_FILES = {WORKSHEET_FILE, *(f"{name}.{ext}" for name in ("review_reasons", "review_log") for ext in ("csv", "parquet"))}


def unreviewed(review: Review, out: Path) -> str:
    """What a run whose ``review`` holds no decision says of it, if anything: a ``review.csv``
    whose decision column is empty, or files in the run folder ``out`` that look like a review
    saved under another name (``Review.csv``, ``review.xlsx``, ``review (1).csv``), none read."""
    if review.path is not None and review.path.is_file():
        return f"{review.path}: no decision written in it: the tables are unreviewed"
    try:
        names = sorted(p.name for p in Path(out).iterdir() if p.is_file() and "review" in p.name.lower()
                       and p.name not in OWN_FILES and not p.name.startswith(("~$", ".")))  # (not an editor's lock file)
    except OSError:
        return ""
    if not names:
        return ""
    return (f"{out}: no {REVIEW_FILE}, but {', '.join(names)}: the tables are unreviewed (a review is read from "
            f"{REVIEW_FILE} only: save it as CSV under that name)")


def unsaved_decisions(sheet: Path, review: Review, carried: Sequence[tuple] = ()) -> None:
    """Refuse to run when decisions written into the worksheet ``sheet`` since ``review``
    (``review.csv``) was saved would be lost: the run writes the worksheet anew. A decision the
    last worksheet carried from ``review.csv`` (``carried``, :func:`content` of each, however a
    spreadsheet re-saved it: dates reformatted, rows moved) or one ``review.csv`` holds is no
    reason to stop; nor is anything when ``review.csv`` was saved after the worksheet (its
    decisions are the reviewer's word, corrected or withdrawn since)."""
    sheet = Path(sheet)
    if not sheet.is_file() or (review.path is not None and review.path.is_file()
                               and review.path.stat().st_mtime >= sheet.stat().st_mtime):  # fmt: skip
        return
    try:
        written = Review.read(sheet).decisions
    except ReviewError as exc:  # a decision written there that cannot even be read
        raise ReviewError(f"{exc}; the run writes {sheet.name} anew: save your decisions as "
                          f"{REVIEW_FILE} and run again") from None  # fmt: skip
    known = {tuple(c) for c in carried} | {content(d) for d in review.decisions}
    if unsaved := [d for d in written if content(d) not in known]:
        raise ReviewError(f"{sheet} line {unsaved[0].line}: {unsaved[0].decision}: {len(unsaved)} decision(s) written "
                          f"into the worksheet are not in {REVIEW_FILE}; the run writes the worksheet anew and would "
                          f"lose them: save it as {sheet.parent / REVIEW_FILE} and run again (or, withdrawn, "
                          "clear them from the worksheet)")  # fmt: skip


def content(d: Decision) -> tuple:
    """What a decision says, whoever wrote it on whichever line; its date as a spreadsheet may
    rewrite it (``2025-04-18``, ``18/04/2025`` and ``04/18/2025`` alike: the year, and the other
    two numbers in either order)."""
    year, day = _date_parts(d.study_date) or ("", (d.study_date,))
    return (d.decision, d.sop_instance_uid, d.follicle_id, d.patient_id, year, *day, d.laterality, d.follicle_count,
            d.n_images, d.images)  # fmt: skip


def _twin(d: Decision, others: Iterable[Decision]) -> Decision | None:
    """The confirmation among ``others`` (of ``d``'s ovary-visit) that ``d`` repeats: one at its
    count and images, or at its count where either gives no images (both would fit one state)."""
    return next((o for o in others if o.follicle_count == d.follicle_count
                 and (o.n_images == d.n_images or None in (o.n_images, d.n_images))
                 and (o.images == d.images or None in (o.images, d.images))), None)  # fmt: skip


def _shows(d: Decision, n_images: int, images: str) -> bool:
    """Whether confirmation ``d`` fits an ovary-visit of ``n_images`` images whose
    :func:`images_digest` is ``images`` (what it does not give, it fits)."""
    return d.n_images in (None, n_images) and d.images in (None, images)


def images_digest(uids: Iterable[str]) -> str:
    """Which images an ovary-visit has, in 8 letters (a worksheet's ``images``): a digest of their
    sorted SOP Instance UIDs. Letters, not hex digits: a spreadsheet reads ``01234567`` or
    ``123e4567`` as a number and saves it changed.

    >>> images_digest(["1.2", "1.1"]) == images_digest(["1.1", "1.2"]), len(images_digest([]))
    (True, 8)
    """
    digest = hashlib.sha256("\n".join(sorted(uids)).encode()).digest()
    return "".join(chr(ord("a") + b % 26) for b in digest[:8])


def _state(follicle_count: int | None, n_images: int | None) -> str:
    """An ovary-visit's count and images, as a confirmation gives them.

    >>> _state(3, 2), _state(1, 1), _state(0, None)
    ('3 follicles in 2 images', '1 follicle in 1 image', '0 follicles')
    """
    said = f"{follicle_count} follicle{'' if follicle_count == 1 else 's'}"
    return said if n_images is None else f"{said} in {n_images} image{'' if n_images == 1 else 's'}"


def _at(d: Decision, f: Follicle) -> bool:
    """Whether follicle line ``d`` gives the centroid of follicle or candidate ``f``
    (within :data:`CENTROID_TOLERANCE_PX`)."""
    assert d.centroid is not None  # (a not_follicle or follicle line is read with its centroid)
    row, col = d.centroid
    return max(abs(row - f.best.centroid_row), abs(col - f.best.centroid_col)) <= CENTROID_TOLERANCE_PX


def _date_parts(text: str) -> tuple[str, tuple[int, ...]] | None:
    """A date's year and its other numbers, smallest first, however a spreadsheet wrote it; ``None``
    without a four-digit year."""
    numbers = re.findall(r"\d+", text)
    year = next((n for n in numbers if len(n) == 4), "")
    return (year, tuple(sorted(int(n) for n in numbers if n != year))) if year else None


def _number(text: str) -> float:
    """A decimal as written in the sheet: ``123.5``, or ``123,5`` from a comma-decimal locale."""
    return float(text.replace(",", "."))


def _whole(text: str) -> int:
    """A count or follicle number as written in the sheet: ``3``, ``3.0`` (a sheet read and saved
    again by pandas, whose column with empty cells is decimal), or a candidate's ``4?`` as the
    overlay labels it.

    >>> _whole("3"), _whole("3.0"), _whole("3,0"), _whole("4?")
    (3, 3, 3, 4)
    """
    number = _number(text.removesuffix("?"))
    if not number.is_integer():
        raise ValueError(f"a whole number expected, found {text!r}")
    return int(number)


def _decision(path: Path, line: int, row: dict[str, str]) -> Decision:
    def fail(reason: str) -> ReviewError:
        return ReviewError(f"{path} line {line}: {reason}")

    decision = row.get("decision", "").lower()
    decision = {"l": "left", "r": "right"}.get(decision, decision)  # the side as the laterality column writes it
    if decision not in NEEDS:
        raise fail(f"decision {row.get('decision', '')!r} is not one of {', '.join(NEEDS)}")
    missing = [c for c in ("reviewer", *NEEDS[decision]) if not row.get(c)]
    if missing:
        raise fail(f"{decision} needs {', '.join(missing)}")
    try:
        if decision in SIDES:
            return Decision(line, decision, row["reviewer"], row.get("comment", ""),
                            sop_instance_uid=row["sop_instance_uid"])
        if decision != CONFIRMED:
            return Decision(line, decision, row["reviewer"], row.get("comment", ""),
                            sop_instance_uid=row["sop_instance_uid"], follicle_id=_whole(row["follicle_id"]),
                            centroid=(_number(row["centroid_row"]), _number(row["centroid_col"])))  # fmt: skip
        return Decision(line, decision, row["reviewer"], row.get("comment", ""), patient_id=row["patient_id"],
                        study_date=row["study_date"], laterality=row["laterality"].upper(),
                        follicle_count=_whole(row["follicle_count"]),
                        n_images=_whole(row["n_images"]) if row.get("n_images") else None,
                        images=row.get("images", "").lower() or None)  # fmt: skip
    except ValueError as exc:
        raise fail(f"not a number: {exc}") from None


def worksheet(
    tables: dict[str, pd.DataFrame], overlays: pd.DataFrame | None = None, review: Review | None = None,
    frames: dict[str, str] | None = None,
) -> pd.DataFrame:
    """``review_worksheet.csv``: the lines a reviewer decides, prefilled, ``decision`` empty.

    For every ovary-visit that needs review, a line to confirm it (its ``follicle_count``,
    ``n_images``, ``images``: :func:`images_digest` of its analysed images, and ``why`` it is
    flagged), then one line per follicle of its images (to mark ``not_follicle``:
    image, follicle number, centroid, size, whether it is ``counted``, and the ``overlay`` it is
    drawn on when ``overlays`` gives the overlay files, columns ``sop_instance_uid, frame_index,
    file``): the counted ones first, then those of the other images (one of them gives the count
    once the reviewer drops follicles of the counted image, so one round settles it), then the
    candidates (the network unsure of them, or tubes), highest score first (``tables["candidates"]``; to mark
    ``follicle`` or ``not_follicle``); for an ovary-visit of unknown side, one line per image
    (``left`` or ``right``: :data:`SIDE_WHY`), linked to its whole first frame when ``frames``
    names it (``overlays/frames/``: the side is often burned in outside the overlay's region).
    Saved as ``review.csv`` with some decisions written in (and a
    ``reviewer``), it is a review: undecided lines are skipped. After deciding follicles, a
    confirmation needs the count the tables then give. The decisions of ``review`` (the review
    the tables applied) come first, as they were written, so the next round's sheet saved over
    ``review.csv`` keeps them; one set aside (:meth:`Review.set_aside`, :meth:`Review.confirmed`)
    says why in ``why``.
    """
    ovaries = tables["ovaries"]
    key = ["patient_id", "study_date", "laterality"]
    why = reasons_by_ovary(tables.get("review_reasons"))
    files = {}
    if overlays is not None:
        files = {(str(u), int(f)): f"overlays/{n}"
                 for u, f, n in zip(overlays["sop_instance_uid"], overlays["frame_index"], overlays["file"])}
    follicles = tables["follicles"]
    counted = follicles["counted"].fillna(False).astype(bool)
    candidates = tables.get("candidates", follicles.iloc[:0])
    # counted first; the other images' follicles after, image by image, as the table has them; then
    # the candidates, the highest scores (the likelier follicles) first
    lines = pd.concat([follicles.assign(rank=1 - counted.astype(int), order=0.0),
                       candidates.assign(rank=2, order=-candidates["score"].astype(float))],
                      ignore_index=True)  # fmt: skip
    lines = lines.astype({"patient_id": str, "study_date": str, "laterality": str})
    lines = lines.sort_values(["rank", "order"], kind="stable")
    by_ovary = {k: g for k, g in lines.groupby(key)}
    first_overlay: dict[str, str] = {}  # an image's first overlay; its first reviewed one, if any
    for (uid, _), name in files.items():
        if uid not in first_overlay or ("/reviewed/" in name and "/reviewed/" not in first_overlay[uid]):
            first_overlay[uid] = name
    rows: list[dict[str, object]] = [  # a follicle line on the overlay of its follicle's frame
        {**_decided(d, review.applied.get(d.line)),
         "overlay": files.get((d.sop_instance_uid, review.frames[d.line]), "") if d.line in review.frames
         else first_overlay.get(d.sop_instance_uid, ""),
         "why": f"{CANDIDATE_WHY[review.kinds[d.line]]}: a candidate, decided" if d.line in review.kinds else ""}
        if d.line not in review.set_aside_lines else  # (a withdrawn image's overlays are gone; the why says why)
        {**_decided(d, review.set_aside_lines[d.line][0]), "why": review.set_aside_lines[d.line][1]}
        for d in (review.decisions if review else ()) if review is not None
    ]  # fmt: skip
    flagged = ovaries[ovaries["needs_review"].fillna(False).astype(bool)]
    analysed = tables["images"][tables["images"]["status"] == "ok"].astype(str)
    digests = {k: images_digest(g["sop_instance_uid"]) for k, g in analysed.groupby(key)}
    unsided = analysed[analysed["laterality"] == "U"].groupby(key[:2])
    for ov in flagged.itertuples():
        k = (str(ov.patient_id), str(ov.study_date), str(ov.laterality))
        place = dict(zip(key, k))
        rows.append({**place, "follicle_count": str(int(ov.follicle_count)), "n_images": str(int(ov.n_images)),
                     "images": digests.get(k, ""), "why": why.get(k, "")})  # fmt: skip
        if k[2] == "U" and k[:2] in unsided.groups:  # each image: left or right?
            for uid in unsided.get_group(k[:2])["sop_instance_uid"]:
                shown = f"overlays/{frames[uid]}" if frames and uid in frames else first_overlay.get(uid, "")
                rows.append({**place, "sop_instance_uid": uid, "overlay": shown, "why": SIDE_WHY})
        for f in by_ovary.get(k, pd.DataFrame()).itertuples():
            if review is not None and (str(f.sop_instance_uid), int(f.follicle_id)) in review.follicles_decided:
                continue  # its decided line comes first (an accepted candidate, now counted)
            rows.append({
                **place, "sop_instance_uid": str(f.sop_instance_uid), "follicle_id": str(int(f.follicle_id)),
                "centroid_row": str(f.centroid_row), "centroid_col": str(f.centroid_col),
                "mean_diameter_mm": "" if pd.isna(f.mean_diameter_mm) else str(f.mean_diameter_mm),
                "counted": "true" if f.rank == 0 else "false",
                "overlay": files.get((str(f.sop_instance_uid), int(f.frame_index)), ""),  # inside OUT
                "why": f"{CANDIDATE_WHY[f.kind]} ({score_text(f.score)}): follicle or not_follicle?"
                       if f.rank == 2 else "",
            })  # fmt: skip
    # text throughout, so a count is written 2, not 2.0, beside the lines without one
    return pd.DataFrame(rows, columns=list(WORKSHEET_COLUMNS), dtype=object).fillna("")


def uid_tail(uid: object) -> str:
    """An image named as the overlays' file names end: the last 8 characters of its SOP Instance UID.

    >>> uid_tail("1.2.840.113619.2.55.3.604688119")
    '...04688119'
    """
    return "..." + str(uid)[-8:]


def reasons_by_ovary(reasons: pd.DataFrame | None) -> dict[tuple[str, str, str], str]:
    """Each ovary-visit's review reasons (``review_reasons.csv``) in one line, each reason of an
    image with the image it is about (the tail of its UID, as the overlay's header and file name
    end: "(image ...61499900)"), of several images with their count and the first three."""
    if reasons is None or reasons.empty:
        return {}
    why = {}
    # (read back from the CSV, a reason without an image has NaN for its UID)
    for key, g in reasons.fillna("").astype(str).groupby(["patient_id", "study_date", "laterality"], sort=False):
        said = []
        for reason, uids in g.groupby("reason", sort=False)["sop_instance_uid"]:
            images = [uid_tail(uid) for uid in dict.fromkeys(uids) if uid]
            where = (f"{len(images)} images: {', '.join(images[:3])}{', ...' if len(images) > 3 else ''}"
                     if len(images) > 1 else f"image {images[0]}" if images else "")  # fmt: skip
            # in the reason's own brackets when it ends with some: "(2? on frame 8; image ...21864898)"
            if where:
                reason = f"{reason[:-1]}; {where})" if reason.endswith(")") else f"{reason} ({where})"
            said.append(reason)
        why[key] = "; ".join(said)
    return why


def _sorted_out(r: ImageResult, decision_of: Callable[[Follicle], Decision | None]
                ) -> tuple[list[Follicle], list[Follicle], list[Decision]]:
    """Image ``r``'s follicles as decided (without those said ``not_follicle``, with the
    candidates said ``follicle``; by id), its candidates still undecided, and the decisions that
    changed its follicles: one rule for the tables (:meth:`Review.apply`) and the SR written
    again (:meth:`Review.of_image`)."""
    follicles, unsure, changes = [], [], []
    for f in r.follicles:
        d = decision_of(f)
        if d is not None and d.decision == NOT_FOLLICLE:
            changes.append(d)
        else:
            follicles.append(f)
    for u in r.unsure:
        d = decision_of(u)
        if d is None:
            unsure.append(u)
        elif d.decision == FOLLICLE:
            follicles.append(replace(u, kind=""))  # a reported follicle now, as a joined sweep's
            changes.append(d)
    follicles.sort(key=lambda f: f.follicle_id)
    return follicles, unsure, changes


def _decided(d: Decision, ovary: OvaryKey | None) -> dict[str, object]:
    """A decision of ``review.csv`` as a worksheet line, with the ovary-visit it applied to."""
    row: dict[str, object] = {"decision": d.decision, "reviewer": d.reviewer, "comment": d.comment}
    if d.decision == CONFIRMED:  # the ovary-visit as the tables name it (a date a spreadsheet rewrote, placed)
        place = ovary or (d.patient_id, d.study_date, d.laterality)
        return {**row, **dict(zip(("patient_id", "study_date", "laterality"), place)),
                "follicle_count": str(d.follicle_count), "n_images": "" if d.n_images is None else str(d.n_images),
                "images": d.images or ""}  # fmt: skip
    if ovary is not None:
        row.update(zip(("patient_id", "study_date", "laterality"), ovary))
    row["sop_instance_uid"] = d.sop_instance_uid
    if d.decision in SIDES:
        return row
    assert d.centroid is not None
    return {**row, "follicle_id": str(d.follicle_id), "centroid_row": str(d.centroid[0]),
            "centroid_col": str(d.centroid[1])}  # fmt: skip


def candidate_lines(sheet: pd.DataFrame) -> pd.Series:
    """Which lines of a worksheet are candidates (not follicles): the network unsure of them, or tubes."""
    return sheet["why"].str.startswith(tuple(CANDIDATE_WHY.values()))
