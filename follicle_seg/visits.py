"""Image results to the SPEC tables: images, follicles, ovaries, visits, response.

Rules (docs/measurement.md, "Measurement rules", explains them for users):

* an *ovary-visit* is patient x visit (a day: every study of it) x side; its
  ``follicle_count`` is the largest per-image (per-sweep) count among its images, never a sum;
  stills that are the frames of one sweep are first joined into that sweep
  (:mod:`follicle_seg.series`); ``n_images`` counts the files.
  The image giving the count is chosen by: most follicles, then calibrated, then a sweep, then
  more frames, then the smallest SOP Instance UID; its follicles are ``counted = true``;
* ``afc`` counts counted follicles with mean diameter 2.0-10.0 mm inclusive; size classes
  ``2-5``, ``5-10``, ``10-14``, ``14-18``, ``>=18`` include their lower bound; diameters are
  compared after rounding to 0.01 mm, the precision written in the tables;
* uncalibrated images keep their counts (follicles above a pixel minimum) but every mm column is
  empty, and the ovary-visit needs review;
* ``needs_review`` when an image is uncalibrated, the side is unknown, an image carries any
  review flag (low confidence, no ovary found, the network's out-of-distribution flags), the
  counts of the images of one ovary differ by more than one, the visit has no date or the files
  no PatientID, or the other ovary has no image at this visit though at others; each such
  reason is a row of ``review_reasons`` (which image, which flag, in words);
* visits add both sides (a side-unknown ovary-visit only when no side is known); change from
  baseline is against the baseline visit (of nominal week 0, nearest day 0; none: the deltas
  stay empty), and only for a visit whose totals add the same sides as the baseline's (one
  ovary against two is no change: empty), never for a visit before the baseline visit; a visit whose
  change starts from a baseline that needs review needs review; the baseline date comes from the
  cohort, else the first visit;
* response rows are per dose group x nominal week (days from baseline / 14 rounded half up, x 2),
  one value per patient, the groups in the order the cohort file first names them; the share
  with a follicle >= 10 mm over the patients whose status is known;
* a reviewer's decisions (:mod:`follicle_seg.review`) apply first: follicles reviewed as not
  follicles are dropped and unsure candidates reviewed as follicles added before the count rule,
  and a confirmed ovary-visit no longer needs review;
* ``candidates`` (not a SPEC table) lists the follicles the network was unsure of and the tubes
  through a sweep (``tracking.is_tube``) that nobody decided, with the ``follicles`` columns but
  ``counted``, and ``kind`` (``unsure`` or ``tube``: ``tracking.KIND_UNSURE``, ``KIND_TUBE``).

Columns are the SPEC lists in :data:`COLUMNS`; booleans are pandas ``boolean``, missing numbers
``NaN`` (written empty), counts nullable ``Int64``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from follicle_seg.errors import printable
from follicle_seg.review import Review, images_digest, uid_tail
from follicle_seg.series import IMAGE_FLAGS, join_sweeps_with_stills
from follicle_seg.studyday import days_between, on_study_day, study_days
from follicle_seg.tracking import (
    CANDIDATE_FLAGS,
    DIAMETER_DECIMALS,
    FLAG_LOW_CONFIDENCE,
    FLAG_NO_DATE,
    FLAG_NO_PATIENT,
    FLAG_OVARY_AT_EDGE,
    FLAG_SIDE_UNKNOWN,
    FLAG_TUBE,
    FLAG_UNCALIBRATED,
    FOLLICLE_FLAGS,
    MAX_COUNT_DISAGREEMENT,
    ellipsoid_volume_ml,
    flag_reason,
    follicle_raises,
    frame_words,
)
from follicle_seg.types import DIFFERENT_IMAGE, DUPLICATE, REJECTED_BY_NOTE, Follicle, ImageResult, withdrawn_images

log = logging.getLogger(__name__)

COLUMNS: dict[str, tuple[str, ...]] = {
    "images": (
        "path", "sop_instance_uid", "patient_id", "study_date", "laterality", "n_frames",
        "spacing_row_mm", "spacing_col_mm", "calibrated", "status", "reason", "follicle_count",
    ),
    "follicles": (
        "patient_id", "study_date", "laterality", "follicle_id", "sop_instance_uid",
        "frame_index", "centroid_row", "centroid_col", "d1_mm", "d2_mm", "mean_diameter_mm",
        "area_mm2", "volume_ml", "n_frames", "size_class", "score", "counted",
    ),
    "ovaries": (
        "patient_id", "study_date", "laterality", "group", "days_from_baseline", "n_images",
        "follicle_count", "afc", "count_2_5", "count_5_10", "count_10_14", "count_14_18",
        "count_ge18", "max_follicle_mm", "follicle_sizes_mm", "ovary_d1_mm", "ovary_d2_mm",
        "ovary_area_mm2", "ovary_volume_ml", "calibrated", "needs_review",
    ),
    "visits": (
        "patient_id", "group", "study_date", "days_from_baseline", "follicle_count", "afc",
        "max_follicle_mm", "delta_follicle_count", "delta_afc", "any_follicle_ge10mm",
        "needs_review",
    ),
    "response": (
        "group", "week", "n_patients", "follicle_count_mean", "follicle_count_median",
        "delta_follicle_count_mean", "afc_mean", "max_follicle_mm_mean",
        "patients_with_follicle_ge10mm", "share_with_follicle_ge10mm",
    ),
}  # fmt: skip

#: Size classes: (label, lower bound inclusive, upper bound exclusive), mm, and their column.
SIZE_CLASSES: tuple[tuple[str, float, float, str], ...] = (
    ("2-5", 2.0, 5.0, "count_2_5"),
    ("5-10", 5.0, 10.0, "count_5_10"),
    ("10-14", 10.0, 14.0, "count_10_14"),
    ("14-18", 14.0, 18.0, "count_14_18"),
    (">=18", 18.0, math.inf, "count_ge18"),
)
#: Antral follicle count range, mm, both bounds inclusive.
AFC_RANGE_MM = (2.0, 10.0)
#: ``any_follicle_ge10mm``: a follicle of this mean diameter or more (SPEC).
LARGE_FOLLICLE_MM = 10.0
#: The review flag of an ovary-visit whose images' counts differ by more than that.
FLAG_COUNTS_DISAGREE = "counts disagree"
#: The review flag of a left or right ovary-visit whose visit has no image of the other side,
#: though other visits of the patient have.
FLAG_OTHER_SIDE_MISSING = "other side not scanned"
#: The review flag of an ovary-visit one of whose files (of that patient, visit and side) was
#: rejected or failed: its count is of the other images alone, and the lost one may show more.
FLAG_IMAGE_NOT_ANALYSED = "image not analysed"
#: ``review_reasons``: why each ovary-visit needs review, one row per reason (not a SPEC table).
REASON_COLUMNS = ("patient_id", "study_date", "laterality", "sop_instance_uid", "flag", "reason")
#: ``candidates``: the candidates nobody decided, measured as follicles are, and each one's kind
#: (``unsure`` or ``tube``: ``Follicle.kind``) (not a SPEC table).
CANDIDATE_COLUMNS = (*(c for c in COLUMNS["follicles"] if c != "counted"), "kind")
#: Days per nominal two-week visit.
DAYS_PER_VISIT = 14

_BOOL = "boolean"
_INT = "Int64"


def size_class(mean_diameter_mm: float | None) -> str:
    """Size class label of a follicle mean diameter (``""`` when unknown or under 2 mm).

    >>> [size_class(d) for d in (2.0, 4.99, 5.0, 10.0, 18.0, None)]
    ['2-5', '2-5', '5-10', '10-14', '>=18', '']
    """
    if mean_diameter_mm is None or not math.isfinite(mean_diameter_mm):
        return ""
    d = round(mean_diameter_mm, DIAMETER_DECIMALS)
    for label, low, high, _ in SIZE_CLASSES:
        if low <= d < high:
            return label
    return ""


def in_afc_range(mean_diameter_mm: float) -> bool:
    """Whether a mean diameter counts towards the AFC (2.0-10.0 mm inclusive).

    >>> [in_afc_range(d) for d in (1.99, 2.0, 10.0, 10.01)]
    [False, True, True, False]
    """
    d = round(mean_diameter_mm, DIAMETER_DECIMALS)
    return AFC_RANGE_MM[0] <= d <= AFC_RANGE_MM[1]


def week_of(days: float) -> float:
    """Nominal visit week: days from baseline / 14 rounded half up, times 2.

    >>> [week_of(d) for d in (0, 6, 7, 13, 29)]
    [0, 0, 2, 2, 4]
    """
    if days is None or not math.isfinite(days):
        return math.nan
    return int(math.floor(days / DAYS_PER_VISIT + 0.5)) * 2


def build_tables(
    results: Sequence[ImageResult], cohort: pd.DataFrame | None = None, review: Review | None = None
) -> dict[str, pd.DataFrame]:
    """All SPEC tables from the image results of a run.

    Parameters
    ----------
    results : sequence of ImageResult
        One per input file, rejected and failed ones included (``record`` may be ``None``).
    cohort : pandas.DataFrame, optional
        ``patient_id``, ``group`` and optionally ``baseline_date`` (``YYYY-MM-DD`` or empty),
        as returned by :func:`follicle_seg.io.tables.read_cohort`.
    review : Review, optional
        A reviewer's decisions (``OUT/review.csv``, :class:`~follicle_seg.review.Review`).

    Returns
    -------
    dict of str to pandas.DataFrame
        Keys ``images``, ``follicles``, ``ovaries``, ``visits``, ``response``, each with exactly
        the columns of :data:`COLUMNS`, in order; ``candidates`` (:data:`CANDIDATE_COLUMNS`: the
        unsure candidates and tubes nobody decided), ``review_reasons`` (:data:`REASON_COLUMNS`: why each
        ovary-visit that needs review does); with review decisions also ``review_log``.

    Raises
    ------
    ReviewError
        Review decisions that find nothing to apply to, or not what was reviewed (every such line, in one message).
    """
    review = review or Review()
    groups, baselines = _cohort_maps(cohort)
    dated = _dated(results)
    results = review.sided(dated)
    # a side given in review moves images between ovary-visits: "before" is as analysed
    analysed = _counts(dated) if review.sides_given else None
    ovaries = _ovary_visits(results, review, analysed)
    by_note = _withdrawn_visits(dated, review)
    review.place([*(ov.key for ov in ovaries), *(ovary for ovary, _ in by_note.values())])
    review.set_aside(by_note, {ov.key: (ov.n_files, ov.digest) for ov in ovaries})
    for ov in ovaries:
        ov.confirmed = review.confirmed(ov.key, len(ov.chosen.follicles), ov.n_files, ov.digest)
    review.check_applied({r.record.sop_instance_uid for r in results if r.status == "ok" and r.record is not None})
    # a side scanned at other visits of the patient but not at this one (nor an image of unknown
    # side, flagged as such): the visit's totals are one ovary's, and its change from baseline
    # would read as a fall
    sides: dict[tuple[str, str], set[str]] = {}
    ever: dict[str, set[str]] = {}
    for ov in ovaries:
        sides.setdefault((ov.patient_id, ov.study_date), set()).add(ov.laterality)
        ever.setdefault(ov.patient_id, set()).add(ov.laterality)
    rejected: dict[tuple[str, str, str], list[str]] = {}  # the UIDs of files of a known visit not analysed
    analysed_uids = {r.analysed_record().sop_instance_uid for r in dated if r.status == "ok"}
    for r in dated:
        copy = r.reason.startswith(DUPLICATE) and DIFFERENT_IMAGE not in r.reason
        withdrawn = r.reason.startswith(REJECTED_BY_NOTE)  # (by the sonographer: as if it were not there)
        if r.status == "ok" or copy or withdrawn:  # (a duplicate's image is analysed under the other path)
            continue
        who = r.identity if r.identity is not None else r.record  # (the record: rejected or failed while decoded)
        if who is None or (who.sop_instance_uid in analysed_uids and not r.reason.startswith(DUPLICATE)):
            continue  # (a cut or broken copy of an image analysed from another file)
        rejected.setdefault((who.patient_id, who.study_date, who.laterality or "U"), []).append(who.sop_instance_uid)
    for uids in rejected.values():  # named by UID, as the counts that differ are: not in the order files were found
        uids.sort()
    for ov in ovaries:
        other = {"L": "R", "R": "L"}.get(ov.laterality)
        here = sides[(ov.patient_id, ov.study_date)]
        ov.other_side_rejected = rejected.get((ov.patient_id, ov.study_date, other or ""), [])
        ov.own_side_rejected = rejected.get(ov.key, [])
        if other is not None and "U" not in here:  # (else the side-unknown ovary-visit says them, as its own)
            ov.unsided_rejected = rejected.get((ov.patient_id, ov.study_date, "U"), [])
        ov.other_side_missing = (bool(ov.patient_id) and (other in ever[ov.patient_id] or bool(ov.other_side_rejected))
                                 and not here & {other, "U"})  # fmt: skip
    # the first visit is the first day scanned, its files analysed or not (a first visit whose every
    # file was rejected made the next one day 0: week 2 read as week 0, and changes ran from it);
    # files without PatientID may be several women's: no baseline, no change, no response row
    first_visit: dict[str, str] = {}
    for p, d in {*(ov.key[:2] for ov in ovaries), *(key[:2] for key in rejected)}:
        if p and d and (p not in first_visit or d < first_visit[p]):
            first_visit[p] = d
    baseline = {p: baselines.get(p) or d for p, d in first_visit.items()}
    for p, d in baselines.items():
        baseline.setdefault(p, d)

    images = _frame([_image_row(r) for r in results], "images")
    follicles = _frame(
        [row for ov in ovaries for row in ov.follicle_rows()], "follicles"
    )
    reasons = [ov.review_reasons() for ov in ovaries]
    ovary_df = _frame(
        [ov.row(groups.get(ov.patient_id, ""), days_between(ov.study_date, baseline.get(ov.patient_id)), bool(why))
         for ov, why in zip(ovaries, reasons)],
        "ovaries",
    )
    visits = _visits(ovary_df)
    tables = {
        "images": images,
        "follicles": follicles,
        "ovaries": ovary_df,
        "visits": visits,
        "response": _response(visits, _group_order(cohort)),
    }
    rows = [row for ov in ovaries for row in ov.candidate_rows()]
    candidates = _frame(rows, "follicles").assign(kind=pd.Series([row["kind"] for row in rows], dtype="string"))
    tables["candidates"] = candidates[list(CANDIDATE_COLUMNS)]
    reason_rows = pd.DataFrame([row for why in reasons for row in why], columns=list(REASON_COLUMNS))
    tables["review_reasons"] = reason_rows.astype("string")
    if review.decisions:
        sided_from = None
        if analysed is not None:  # an image given its side: the count of the ovary-visit it left
            sided_from = {rec.sop_instance_uid: analysed.get((rec.patient_id, rec.study_date, rec.laterality or "U"), 0)
                          for rec in (r.record for r in dated if r.status == "ok") if rec is not None}  # fmt: skip
        tables["review_log"] = review.log_table(
            {ov.key: (ov.count_before, len(ov.chosen.follicles), ov.counted_before,
                      ov.chosen.analysed_record().sop_instance_uid) for ov in ovaries},
            sided_from,
        )  # fmt: skip
    return tables


def _withdrawn_visits(results: Sequence[ImageResult], review: Review) -> dict[str, tuple[tuple[str, str, str], str]]:
    """The images a rejection note withdrew, by SOP instance UID: each one's ovary-visit (on the
    side ``review`` gives it, as :meth:`Review.sided` places an analysed one) and reason."""
    return {uid: ((who.patient_id, who.study_date, review.side_given(uid) or who.laterality or "U"), reason)
            for uid, (who, reason) in withdrawn_images(results).items()}  # fmt: skip


@dataclass
class _OvaryVisit:
    """The ok images of one patient x visit x side, and the one chosen for the count."""

    patient_id: str
    study_date: str
    laterality: str
    images: list[ImageResult]  # one per image or sweep (stills of one sweep joined: series.py)
    n_files: int
    count_before: int  # the count before a reviewer's not_follicle decisions
    stills: dict[str, tuple[ImageResult, ...]]  # a joined sweep's stills, by the sweep's SOP UID
    confirmed: bool = False  # a reviewer confirmed the count
    other_side_missing: bool = False  # the visit has no image of the other side, other visits have
    other_side_rejected: list[str] = field(default_factory=list)  # the UIDs of the other side's files rejected at this visit
    own_side_rejected: list[str] = field(default_factory=list)  # this side's files rejected or failed at this visit
    unsided_rejected: list[str] = field(default_factory=list)  # those of unknown side, of a visit without a "U" ovary-visit
    counted_before: str = ""  # the SOP UID of the image that gave the count as analysed ("" when a review moved images)
    digest: str = ""  # which files: :func:`~follicle_seg.review.images_digest` of their SOP UIDs (the worksheet's images)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.patient_id, self.study_date, self.laterality)

    @property
    def chosen(self) -> ImageResult:
        return counted_image(self.images)

    def candidate_rows(self) -> list[dict]:
        return [{**_follicle_row(self, u, False), "kind": u.kind} for r in self._by_uid() for u in r.unsure]

    def _by_uid(self) -> list[ImageResult]:
        return sorted(self.images, key=lambda r: r.analysed_record().sop_instance_uid)

    def follicle_rows(self) -> list[dict]:
        chosen = self.chosen
        rows = []
        for r in self._by_uid():
            for f in r.follicles:
                rows.append(_follicle_row(self, f, r is chosen))
        return rows

    def row(self, group: str, days: float, needs_review: bool) -> dict:
        chosen = self.chosen
        rec = chosen.record
        assert rec is not None
        calibrated = rec.calibration.calibrated
        means = sorted(
            (round(f.mean_diameter_mm, DIAMETER_DECIMALS) for f in chosen.follicles
             if f.mean_diameter_mm is not None),
            reverse=True,
        )  # fmt: skip
        row: dict = {
            "patient_id": self.patient_id,
            "study_date": self.study_date,
            "laterality": self.laterality,
            "group": group,
            "days_from_baseline": days,
            "n_images": self.n_files,
            "follicle_count": len(chosen.follicles),
            "afc": sum(in_afc_range(d) for d in means) if calibrated else None,
            "max_follicle_mm": means[0] if means else math.nan,
            "follicle_sizes_mm": ";".join(one_decimal(d) for d in means),  # SPEC: one decimal, always
            "calibrated": calibrated,
            "needs_review": needs_review,  # bool(self.review_reasons()), made once by build_tables
        }
        for label, _, _, column in SIZE_CLASSES:
            row[column] = sum(size_class(d) == label for d in means) if calibrated else None
        row.update(self._ovary_size())
        return row

    def review_reasons(self) -> list[dict]:
        """Why the ovary-visit needs review (``review_reasons`` rows): each review flag of each
        image, with its SOP Instance UID (an uncalibrated image, unknown side, low confidence,
        no ovary, the network's flags: :func:`~follicle_seg.tracking.flag_reason`), and the
        images' counts differing by more than :data:`MAX_COUNT_DISAGREEMENT`, the other side or a
        file of this side (or, the visit without a side-unknown ovary-visit, of unknown side) missing (no UID). None when a reviewer confirmed the count."""
        if self.confirmed:
            return []
        where = {"patient_id": self.patient_id, "study_date": self.study_date, "laterality": self.laterality}
        rows = []
        for r in self._by_uid():
            rec = r.record
            assert rec is not None
            flags = []  # the record says these, whatever flags its result was made with
            if not rec.calibration.calibrated:
                flags.append(FLAG_UNCALIBRATED)
            if self.laterality not in ("L", "R"):
                flags.append(FLAG_SIDE_UNKNOWN)
            if not self.study_date:
                flags.append(FLAG_NO_DATE)
            if not self.patient_id:
                flags.append(FLAG_NO_PATIENT)
            for flag in dict.fromkeys([*flags, *r.flags]):
                uids = [rec.sop_instance_uid] if flag in flags else self._flagged_stills(r, flag)
                said = flag_reason(flag)
                # where: a cine's follicle (kept by the review) or ovary frame; the candidates left
                # undecided, as the overlays number them. Not for stills joined into a sweep: their
                # numbers and frames are each still's own, the sweep's are not drawn anywhere
                joined = rec.sop_instance_uid in self.stills
                if joined and flag in (*FOLLICLE_FLAGS, FLAG_LOW_CONFIDENCE, FLAG_TUBE):
                    rows += self._joined_follicle_reasons(r, flag, where)
                    continue
                kept = {0, *(f.follicle_id for f in r.follicles)}
                entries = [] if joined else [(i, w) for f, i, w in r.flag_where if f == flag]
                if entries and all(i not in kept for i, _ in entries):
                    continue  # raised only on the frames of follicles the reviewer dropped
                raised = [w for i, w in entries if i in kept]
                if flag in (FLAG_LOW_CONFIDENCE, FLAG_TUBE):
                    raised = [f"{u.follicle_id}?" + (f" on {frame_words(u.best.frame_index)}" if rec.is_sweep else "")
                              for u in r.unsure if CANDIDATE_FLAGS[u.kind] == flag]  # fmt: skip
                if raised:
                    said += f" ({'; '.join(raised)})"
                rows += [{**where, "sop_instance_uid": uid, "flag": flag, "reason": said}
                         for uid in uids]  # fmt: skip
        if self.other_side_missing:
            lost = self.other_side_rejected
            what = (f"the other ovary's image{'s' if len(lost) > 1 else ''} at this visit rejected ({_named(lost)})"
                    if lost else "no image of the other ovary at this visit")  # fmt: skip
            rows.append({**where, "sop_instance_uid": "", "flag": FLAG_OTHER_SIDE_MISSING,
                         "reason": f"{what}: the visit's count is this side's alone"})
        if lost := self.own_side_rejected:
            rows.append({**where, "sop_instance_uid": "", "flag": FLAG_IMAGE_NOT_ANALYSED,
                         "reason": f"{len(lost)} image{'s' if len(lost) > 1 else ''} of this ovary at this visit not "
                                   f"analysed ({_named(lost)}; images.csv says why): the count is of the others alone"})  # fmt: skip
        if lost := self.unsided_rejected:  # (the side-unknown ovary-visit that said them gone: each side given)
            rows.append({**where, "sop_instance_uid": "", "flag": FLAG_IMAGE_NOT_ANALYSED,
                         "reason": f"{len(lost)} image{'s' if len(lost) > 1 else ''} of unknown side at this visit not "
                                   f"analysed ({_named(lost)}; images.csv says why): it may show this ovary, whose count "
                                   "is of the others alone"})  # fmt: skip
        counts = sorted((len(r.follicles), r.record.sop_instance_uid) for r in self.images if r.record is not None)
        if counts[-1][0] - counts[0][0] > MAX_COUNT_DISAGREEMENT:  # each count with its image (its UID's tail)
            each = ", ".join(f"{n} (image {uid_tail(uid)})" for n, uid in counts)
            rows.append({**where, "sop_instance_uid": "", "flag": FLAG_COUNTS_DISAGREE,
                         "reason": f"the images' follicle counts differ: {each}"})  # fmt: skip
        return rows

    def _joined_follicle_reasons(self, r: ImageResult, flag: str, where: dict) -> list[dict]:
        """The rows of a follicle flag (at the scan edge, elongated, notched) or candidate flag (low
        confidence, tube) of a sweep joined from stills: one per still holding the largest section
        of a follicle or candidate that raises it, with its number on that still's overlay (none
        when the reviewer decided them). A tube is a follicle its still, analysed alone, reported
        (drawn solid, counted in its SR and ``images.csv``): the reason says so."""
        ids: dict[str, list[str]] = {}
        for f in r.follicles:
            if follicle_raises(flag, f.best):
                ids.setdefault(f.sop_instance_uid, []).append(f"follicle {f.follicle_id}")
        for u in r.unsure:
            if CANDIDATE_FLAGS[u.kind] == flag:
                ids.setdefault(u.sop_instance_uid, []).append(
                    f"{u.follicle_id}?" if flag == FLAG_LOW_CONFIDENCE else
                    f"follicle {u.follicle_id} of this still, counted on its own, not in the joined sweep")
        return [{**where, "sop_instance_uid": uid, "flag": flag, "reason": f"{flag_reason(flag)} ({'; '.join(said)})"}
                for uid, said in ids.items()]  # fmt: skip

    def _flagged_stills(self, r: ImageResult, flag: str) -> list[str]:
        """The files a flag of image ``r`` is about: ``r`` itself, or for a sweep joined from stills
        the stills that raise it (the ovary's largest section for "ovary at scan edge", those whose
        own results carry a network flag), else its first still (a flag the sweep derives as a
        whole: no ovary found)."""
        uid = r.analysed_record().sop_instance_uid
        stills = self.stills.get(uid, ())
        if flag == FLAG_OVARY_AT_EDGE:  # the sweep's ovary is its still's section
            frames = {k for k, still in enumerate(stills) if r.ovary is not None and still.ovary is r.ovary}
        elif flag in IMAGE_FLAGS:
            frames = set()
        else:
            frames = {k for k, still in enumerate(stills) if flag in still.flags}
        return [stills[k].analysed_record().sop_instance_uid for k in sorted(frames) if k < len(stills)] or [uid]

    def _ovary_size(self) -> dict:
        """d1, d2 and area of the largest ovary section among the images (SPEC), and the volume
        of the ellipsoid of those d1 and d2 and the third axis of their sweep, else of the sweep
        with the largest ovary section (as a sonographer measures the third diameter on another
        image), so that the volume always goes with the d1 and d2 beside it."""
        measured = [r for r in self.images if r.ovary is not None and r.ovary.area_mm2 is not None]
        chosen = max(measured, key=_ovary_area, default=None)
        biggest = chosen.ovary if chosen is not None else None
        # the third axis of the image that gave d1 and d2 when it is a sweep, else of the sweep
        # with the largest section (calibrated sweeps only, compared in mm^2 as d1 and d2 are)
        swept = [r for r in measured if r.ovary_d3_mm is not None]
        third = chosen if chosen is not None and chosen.ovary_d3_mm is not None else max(
            swept, key=_ovary_area, default=None)  # fmt: skip
        d3 = third.ovary_d3_mm if third is not None else None
        volume = None
        if biggest is not None and biggest.d1_mm is not None and biggest.d2_mm is not None and d3 is not None:
            volume = ellipsoid_volume_ml(biggest.d1_mm, biggest.d2_mm, d3)
        return {
            "ovary_d1_mm": _round(biggest.d1_mm if biggest else None, 2),
            "ovary_d2_mm": _round(biggest.d2_mm if biggest else None, 2),
            "ovary_area_mm2": _round(biggest.area_mm2 if biggest else None, 2),
            "ovary_volume_ml": _round(volume, 3),
        }


def _ovary_area(r: ImageResult) -> float:
    """The ovary section's area of an image measured with one (``_OvaryVisit._ovary_size``)."""
    assert r.ovary is not None and r.ovary.area_mm2 is not None
    return r.ovary.area_mm2


def _groups(results: Sequence[ImageResult]) -> dict[tuple[str, str, str], list[ImageResult]]:
    """The ok results by patient x visit date x side (``U`` when unknown)."""
    groups: dict[tuple[str, str, str], list[ImageResult]] = {}
    for r in results:
        if r.status == "ok" and r.record is not None:
            groups.setdefault((r.record.patient_id, r.record.study_date, r.record.laterality or "U"), []).append(r)
    return groups


def _counts(results: Sequence[ImageResult]) -> dict[tuple[str, str, str], int]:
    """Each ovary-visit's count as analysed (before any review), stills of a sweep joined."""
    return {key: max(len(r.follicles) for r, _ in join_sweeps_with_stills(images))
            for key, images in _groups(results).items()}  # fmt: skip


def _ovary_visits(
    results: Sequence[ImageResult], review: Review, analysed: dict[tuple[str, str, str], int] | None = None
) -> list[_OvaryVisit]:
    """Ok results grouped by patient x visit date x side, in a stable order, each image (or
    joined sweep) as ``review`` decided its follicles and candidates. A file without a usable
    date joins its study's dated files; the images of two studies of one day are one visit (a
    scan repeated, or each ovary in a study of its own: one row per ovary-visit, the largest
    count, never a sum); a patient's images left without any date are one undated visit.
    ``analysed`` gives each ovary-visit's count as analysed where a review moved images between
    them (its side decisions); else it is that of the images here."""
    ovaries = []
    stills = sweeps = 0
    # by patient, then date (an undated visit last), then side
    for (p, d, side), images in sorted(_groups(results).items(), key=lambda kv: (kv[0][0], not kv[0][1], kv[0][1:])):
        pairs = join_sweeps_with_stills(images)
        joined = [r for r, _ in pairs]
        members = {r.analysed_record().sop_instance_uid: frames for r, frames in pairs if frames}
        stills, sweeps = stills + sum(map(len, members.values())), sweeps + len(members)
        before = max(len(r.follicles) for r in joined) if analysed is None else analysed.get((p, d, side), 0)
        ovary = _OvaryVisit(p, d, side, review.apply(joined, (p, d, side)), len(images), before, members,
                            digest=images_digest(r.analysed_record().sop_instance_uid for r in images))
        if analysed is None:
            ovary.counted_before = counted_image(joined).analysed_record().sop_instance_uid
        ovaries.append(ovary)
    if sweeps:
        log.info("%d single-frame files tracked as the frames of %d sweeps", stills, sweeps)
    return ovaries


def counted_image(images: Sequence[ImageResult]) -> ImageResult:
    """The image whose count stands for an ovary-visit: the most follicles, then a calibrated
    one, a sweep, the most frames, the first UID (never a sum of images)."""

    def key(r: ImageResult) -> tuple:
        rec = r.record
        assert rec is not None
        return (-len(r.follicles), not rec.calibration.calibrated, not rec.is_sweep,
                -rec.n_frames, rec.sop_instance_uid)  # fmt: skip

    return min(images, key=key)


def _dated(results: Sequence[ImageResult]) -> list[ImageResult]:
    """``results``, the files of one study placed on one day (:func:`~follicle_seg.studyday.study_days`), so that every
    table and the report hold one visit for them. The day is decided from every file with a header
    record, failed and rejected ones too, as the run decided it before drawing the overlays, and
    each of them is placed on it: a rejected file's row and the ovary-visit that lost it say the
    study's day (a duplicate dated after midnight was a visit of its own), and a record the run
    placed goes back to its own date when its study has no day now."""
    days = study_days(r.record for r in results if r.record is not None)
    return [replace(r, record=on_study_day(r.record, days)) if r.record is not None else r for r in results]


def _named(uids: Sequence[str]) -> str:
    """Images not analysed as the review files name images, by their UIDs' tails, not their paths
    (an archive's folders may be named after the patient: the worksheet and report carried them).

    >>> _named(["1.2.840.113619.2.55.3.604688119", ""])
    'image ...04688119, image without SOP Instance UID'
    """
    return ", ".join(f"image {uid_tail(uid)}" if uid else "image without SOP Instance UID" for uid in uids)


def _image_row(r: ImageResult) -> dict:
    rec = r.record
    ok = r.status == "ok"
    if rec is None:
        who = r.identity  # a file rejected after its header was read: whose, when, which side
        return {"path": r.path, "status": r.status, "reason": r.reason,
                **({"sop_instance_uid": who.sop_instance_uid, "patient_id": who.patient_id,
                    "study_date": who.study_date, "laterality": who.laterality} if who else {})}  # fmt: skip
    cal = rec.calibration
    return {
        "path": r.path or rec.path,
        "sop_instance_uid": rec.sop_instance_uid,
        "patient_id": rec.patient_id,
        "study_date": rec.study_date,
        "laterality": rec.laterality,
        "n_frames": rec.n_frames,
        "spacing_row_mm": cal.spacing_row_mm if cal.calibrated else None,
        "spacing_col_mm": cal.spacing_col_mm if cal.calibrated else None,
        "calibrated": cal.calibrated,
        "status": r.status,
        "reason": r.said,
        "follicle_count": len(r.follicles) if ok else None,
    }


def _follicle_row(ov: _OvaryVisit, f: Follicle, counted: bool) -> dict:
    s = f.best
    mean = f.mean_diameter_mm
    return {
        "patient_id": ov.patient_id,
        "study_date": ov.study_date,
        "laterality": ov.laterality,
        "follicle_id": f.follicle_id,
        "sop_instance_uid": f.sop_instance_uid,
        "frame_index": s.frame_index,
        "centroid_row": round(s.centroid_row, 1),
        "centroid_col": round(s.centroid_col, 1),
        "d1_mm": _round(s.d1_mm, DIAMETER_DECIMALS),
        "d2_mm": _round(s.d2_mm, DIAMETER_DECIMALS),
        "mean_diameter_mm": _round(mean, DIAMETER_DECIMALS),
        "area_mm2": _round(s.area_mm2, 2),
        "volume_ml": _round(f.volume_ml, 5),
        "n_frames": f.n_frames,
        "size_class": size_class(mean),
        "score": s.score,  # stored to 3 decimals (measure.stored_score), as the thresholds read it
        "counted": counted,
    }


def _visits(ovary_df: pd.DataFrame) -> pd.DataFrame:
    if not len(ovary_df):
        return _frame([], "visits")
    rows = []
    sides: dict[tuple[str, str], frozenset[str]] = {}  # the sides each visit's totals add
    for (patient, day), g in ovary_df.groupby(["patient_id", "study_date"], sort=True):
        # a side-unknown image beside a known side may show that ovary again: never added to it
        known = g[g["laterality"].isin(("L", "R"))]
        summed = known if len(known) else g
        sides[patient, day] = frozenset(summed["laterality"])
        # follicles counted on an uncalibrated image have no size: the visit's largest is unknown
        unsized = (g["follicle_count"] > 0) & ~g["calibrated"].astype(bool)
        # True when a side shows one; unknown (NA) when none does but an uncalibrated side counted
        # follicles (one without any hides no 10 mm follicle)
        if (g["max_follicle_mm"] >= LARGE_FOLLICLE_MM).any():
            any_ge10 = True
        else:
            any_ge10 = pd.NA if unsized.any() else False
        rows.append({
            "patient_id": patient,
            "group": g["group"].iloc[0],
            "study_date": day,
            "days_from_baseline": g["days_from_baseline"].iloc[0],
            "follicle_count": int(summed["follicle_count"].sum()),
            "afc": summed["afc"].sum(min_count=len(summed)) if summed["afc"].notna().all() else None,
            "max_follicle_mm": math.nan if unsized.any() else g["max_follicle_mm"].max(),
            "any_follicle_ge10mm": any_ge10,
            "needs_review": bool(g["needs_review"].any()),
        })  # fmt: skip
    rows.sort(key=lambda r: (r["patient_id"], not r["study_date"], r["study_date"]))  # an undated visit last
    visits = _frame(rows, "visits")
    for patient, g in visits.groupby("patient_id", sort=False):
        days = g["days_from_baseline"].astype("float64")
        at_baseline = days[[week_of(d) == 0 for d in days]]
        if not len(at_baseline):  # the baseline scan is missing: no change to measure from
            continue
        base = g.loc[at_baseline.abs().sort_values(kind="stable").index[0]]
        # a change only between visits of the same sides: a one-sided baseline made every later
        # two-sided visit read as a rise, a one-sided later visit as a fall
        same = pd.Series([sides[patient, d] == sides[patient, base["study_date"]] for d in g["study_date"]], index=g.index)
        # a visit at an unknown time has no change from baseline, nor one before the baseline
        # visit (a screening scan, even in week 0: a change backwards in time)
        dated = g[days.notna() & same & (days >= float(base["days_from_baseline"]))]
        visits.loc[dated.index, "delta_follicle_count"] = dated["follicle_count"] - base["follicle_count"]
        visits.loc[dated.index, "delta_afc"] = dated["afc"] - base["afc"]
        if base["needs_review"]:  # a change from a baseline count nobody has checked is not sure either
            visits.loc[dated.index, "needs_review"] = True
    return visits


def _response(visits: pd.DataFrame, group_order: list[str]) -> pd.DataFrame:
    """Rows by dose group in ``group_order`` (groups not in it after, by name), then by week."""
    if not len(visits):
        return _frame([], "response")
    df = visits.assign(week=[week_of(d) for d in visits["days_from_baseline"].astype(float)])
    df = df.dropna(subset=["week"])
    rank = {g: i for i, g in enumerate(group_order)}
    rows = []
    parts = dict(list(df.groupby(["group", "week"])))
    for group, week in sorted(parts, key=lambda k: (rank.get(k[0], len(rank)), k)):
        g = parts[(group, week)]
        n = int(g["patient_id"].nunique())
        # a patient with a follicle >= 10 mm at a visit of this week; one whose only unknown
        # (an uncalibrated side) is neither with nor without, and left out of the share
        ge10 = g.groupby("patient_id")["any_follicle_ge10mm"].agg(_any_known)
        with_ge10, known = int((ge10 == True).sum()), int(ge10.notna().sum())  # noqa: E712
        # one value per patient (the mean of its visits in this week, should it have two), so
        # that no patient weighs more than another
        numbers = ["follicle_count", "delta_follicle_count", "afc", "max_follicle_mm"]
        per_patient = g[numbers].astype("float64").groupby(g["patient_id"]).mean()
        rows.append({
            "group": group,
            "week": int(week),
            "n_patients": n,
            "follicle_count_mean": _stat(per_patient["follicle_count"].mean(), 3),
            "follicle_count_median": _stat(per_patient["follicle_count"].median(), 3),
            "delta_follicle_count_mean": _stat(per_patient["delta_follicle_count"].mean(), 3),
            "afc_mean": _stat(per_patient["afc"].mean(), 3),
            "max_follicle_mm_mean": _stat(per_patient["max_follicle_mm"].mean(), 2),
            "patients_with_follicle_ge10mm": with_ge10,
            "share_with_follicle_ge10mm": _stat(with_ge10 / known, 3) if known else math.nan,
        })  # fmt: skip
    return _frame(rows, "response")


def _any_known(flags: pd.Series) -> object:
    """True when any flag is true, else unknown (NA) when any is unknown, else False.

    >>> [_any_known(pd.Series(v, dtype="boolean")) for v in ([False, True], [False, None], [False, False])]
    [True, <NA>, False]
    """
    if (flags == True).any():  # noqa: E712 (NA compares as NA, not true)
        return True
    return pd.NA if flags.isna().any() else False


_DTYPES: dict[str, str] = {
    **dict.fromkeys(
        ("n_frames", "follicle_count", "follicle_id", "frame_index", "n_images", "afc",
         "count_2_5", "count_5_10", "count_10_14", "count_14_18", "count_ge18",
         "delta_follicle_count", "delta_afc", "week", "n_patients",
         "patients_with_follicle_ge10mm", "days_from_baseline"),
        _INT,
    ),
    **dict.fromkeys(("calibrated", "needs_review", "counted", "any_follicle_ge10mm"), _BOOL),
    **dict.fromkeys(
        ("path", "sop_instance_uid", "patient_id", "study_date", "laterality", "status", "reason",
         "size_class", "group", "follicle_sizes_mm"),
        "string",
    ),
}  # fmt: skip


def _frame(rows: list[dict], table: str) -> pd.DataFrame:
    """A table with exactly the SPEC columns, in order, with stable dtypes."""
    columns = COLUMNS[table]
    df = pd.DataFrame(rows, columns=list(columns))
    for col in columns:
        dtype = _DTYPES.get(col, "float64")
        if dtype == "string":
            df[col] = df[col].astype("string").fillna("")
        elif dtype == _BOOL:
            df[col] = df[col].astype(_BOOL)
        else:
            df[col] = pd.to_numeric(df[col], errors="raise").astype(dtype)
    return df


def _cohort_maps(cohort: pd.DataFrame | None) -> tuple[dict[str, str], dict[str, str]]:
    if cohort is None:
        return {}, {}
    groups = dict(zip(cohort["patient_id"].astype(str), cohort["group"].fillna("").astype(str)))
    baselines: dict[str, str] = {}
    if "baseline_date" in cohort:
        for p, d in zip(cohort["patient_id"].astype(str), cohort["baseline_date"]):
            if isinstance(d, str) and d:
                baselines[p] = d
    return groups, baselines


def cohort_mismatches(images: pd.DataFrame, ovaries: pd.DataFrame, cohort: pd.DataFrame | None) -> list[str]:
    """What an analyst must know about the cohort file against the scans, in words: patients
    scanned but not in it (they get no group: a mistyped PatientID moves a patient out of their
    dose group), patients in it with an empty group, patients in it with no scan (missing from every table), and those whose every
    file was rejected or failed (in ``images.csv`` only).

    Examples
    --------
    >>> im = pd.DataFrame({"patient_id": ["P1", "P2", "P3", ""]})
    >>> ov = pd.DataFrame({"patient_id": ["P1", "P2", ""], "days_from_baseline": [0, 0, None]})
    >>> for note in cohort_mismatches(im, ov, pd.DataFrame({"patient_id": ["P1", "P3", "P9"]})):
    ...     print(note)
    1 patient(s) scanned but not in the cohort file, given no group: P2
    1 patient(s) of the cohort file without any scan: P9
    1 patient(s) of the cohort file whose every file was rejected or failed (images.csv says why): P3

    Without a cohort file, the patients without an analysed scan at week 0 only (a first visit
    whose every file was rejected, or a rejected file's wrong date, moved day 0 in silence).
    """
    if cohort is None:
        return _baseline_notes(ovaries[ovaries["patient_id"].astype(str) != ""], "the first visit")
    listed = set(cohort["patient_id"].astype(str))
    seen = set(images["patient_id"].astype(str)) - {""}
    analysed = set(ovaries["patient_id"].astype(str)) - {""}
    notes = []
    if extra := sorted(seen - listed):  # (a CT in the folder names no patient: no ultrasound image)
        notes.append(f"{len(extra)} patient(s) scanned but not in the cohort file, given no group: {_some(extra)}")
    groups = cohort["group"].fillna("").astype(str).str.strip() if "group" in cohort else None
    if groups is not None and (ungrouped := sorted(cohort["patient_id"].astype(str)[groups == ""])):
        notes.append(f"{len(ungrouped)} patient(s) of the cohort file without a group: {_some(ungrouped)}")
    if missing := sorted(listed - seen):
        notes.append(f"{len(missing)} patient(s) of the cohort file without any scan: {_some(missing)}")
    if alike := _alike(extra, missing):
        notes.append(f"{len(alike)} scanned patient(s) written otherwise in the cohort file (leading zeros, "
                     f"case, spaces, dashes or underscores): {_some([f'{s} (scans) ~ {c} (cohort)' for s, c in alike])}")
    if lost := sorted((listed & seen) - analysed):
        notes.append(f"{len(lost)} patient(s) of the cohort file whose every file was rejected or failed "
                     f"(images.csv says why): {_some(lost)}")
    return notes + _baseline_notes(ovaries[ovaries["patient_id"].astype(str).isin(listed)])


def _baseline_notes(ovaries: pd.DataFrame, day_0: str = "the cohort's baseline_date, else the first visit") -> list[str]:
    """Patients whose change from baseline the tables leave empty for the cohort's
    ``baseline_date`` (else their first visit): no analysed scan at week 0 (a mistyped year, or a
    first visit whose every file was rejected, empties every change in silence), or scans before
    it (weeks below 0).

    >>> ov = pd.DataFrame({"patient_id": ["P1", "P1", "P2", "P2"], "days_from_baseline": [366, 380, -14, 0]})
    >>> for note in _baseline_notes(ov):
    ...     print(note)
    1 patient(s) without an analysed scan at week 0 (7 days before to 6 after the cohort's baseline_date, else the first visit): no change from baseline: P1 (nearest scan 366 days after)
    1 patient(s) scanned before the cohort's baseline_date (no change from baseline there): P2 (14 days before)
    """
    none_at_0, before = [], []
    for patient, days in ovaries.groupby(ovaries["patient_id"].astype(str))["days_from_baseline"]:
        known = days.dropna().astype(float)
        if not len(known):
            continue
        weeks = known.map(week_of)
        if not (weeks == 0).any():
            nearest = known.iloc[known.abs().argmin()]
            none_at_0.append(f"{patient} (nearest scan {abs(nearest):.0f} days {'after' if nearest > 0 else 'before'})")
        if (weeks < 0).any():
            before.append(f"{patient} ({-known.min():.0f} days before)")
    notes = []
    if none_at_0:
        notes.append(f"{len(none_at_0)} patient(s) without an analysed scan at week 0 (7 days before to 6 after "
                     f"{day_0}): no change from baseline: {_some(none_at_0)}")  # fmt: skip
    if before:
        notes.append(f"{len(before)} patient(s) scanned before the cohort's baseline_date (no change from baseline "
                     f"there): {_some(before)}")  # fmt: skip
    return notes


def _alike(scanned: list[str], listed: list[str]) -> list[tuple[str, str]]:
    """Pairs of a scanned id not in the cohort file and a cohort id without a scan that differ
    only in leading zeros of a number, case, spaces, dashes or underscores (``7`` and ``007``,
    ``P-01`` and ``p01``): most likely one patient.

    >>> _alike(["7", "P-01", "Q2"], ["007", "p01", "Q3"])
    [('7', '007'), ('P-01', 'p01')]
    """
    def key(patient: str) -> str:
        return re.sub(r"\d+", lambda m: m[0].lstrip("0") or "0", re.sub(r"[\s_-]+", "", patient)).casefold()

    by_key = {key(c): c for c in listed}
    return [(s, by_key[key(s)]) for s in scanned if key(s) in by_key]


def _some(names: list[str], most: int = 10) -> str:
    """The first ``most`` of ``names``, each shown on one line (:func:`~follicle_seg.errors.printable`:
    a PatientID's escape code or line break reached the console and run.log as it was)."""
    return ", ".join(printable(n) for n in names[:most]) + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def _group_order(cohort: pd.DataFrame | None) -> list[str]:
    """Dose groups in the order the cohort file first names them (a trial lists its dose
    groups low to high, or in the order it defines them; sorting by name would not); an empty
    group is none of them: its patients come last, with those not in the file."""
    if cohort is None:
        return []
    return [g for g in dict.fromkeys(cohort["group"].fillna("").astype(str)) if g]


def half_up(value: float, decimals: int) -> str:
    """``value`` written with ``decimals`` decimals, halves rounded up as a person rounds them
    (as written in decimal, not as the float nearest it: 7.85 gives 7.9).

    >>> half_up(7.85, 1), half_up(0.125, 2), half_up(12.0, 1)
    ('7.9', '0.13', '12.0')
    """
    return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def one_decimal(mm: float) -> str:
    """A tabled diameter (two decimals) to one decimal, halves up (:func:`half_up`).

    >>> [one_decimal(d) for d in (7.85, 7.95, 3.25, 3.24, 12.0)]
    ['7.9', '8.0', '3.3', '3.2', '12.0']
    """
    return half_up(mm, 1)


def shown_mm(mm: float) -> str:
    """A follicle's mean diameter as the overlays and the report give it:
    one decimal (:func:`one_decimal`), two where one would read as another size class or AFC
    status than the tabled diameter has (9.99 and 10.03 mm both read "10.0", one in the AFC and
    ``5-10``, the other ``10-14`` and not in the AFC), so the sizes a reader sees never cross a
    boundary the counts did not (a class, the AFC, ">= 10 mm", counted at 2.0 mm).

    >>> [shown_mm(d) for d in (7.85, 9.99, 10.0, 10.03, 4.96, 18.04, 17.95, 2.04)]
    ['7.9', '9.99', '10.0', '10.03', '4.96', '18.0', '17.95', '2.0']
    """
    mm = round(mm, DIAMETER_DECIMALS)
    text = one_decimal(mm)
    return text if _reads_as(float(text)) == _reads_as(mm) else half_up(mm, DIAMETER_DECIMALS)


def _reads_as(mm: float) -> tuple[str, bool]:
    """What a mean diameter says of a follicle: its size class ("" uncounted; ``10-14`` and up
    ">= 10 mm") and whether it is in the AFC."""
    return size_class(mm), in_afc_range(mm)


def _round(value: float | None, decimals: int) -> float:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return math.nan
    return round(float(value), decimals)


#: Decimals a ``response.csv`` statistic is put back to before it is rounded (:func:`_stat`): far
#: below its inputs' precision (two-decimal sizes, whole counts, averaged over a few patients, are
#: never this near a half without being on it), far above a float sum's error.
STAT_DECIMALS = 9


def _stat(value: float, decimals: int) -> float:
    """A mean, median or share of ``response.csv`` rounded halves up as written (:func:`half_up`),
    as a spreadsheet's ROUND does: means of two-decimal sizes end on a half often (5.625 mm gave
    5.62 by ``round``, 5.63 in Excel); the float sum's error is taken off first
    (:data:`STAT_DECIMALS`: the mean of 2.0 and 14.01 mm, 8.005, is 8.004999999999999 in binary,
    and gave 8.0); NaN stays NaN.

    >>> _stat(5.625, 2), _stat((2.0 + 14.01) / 2, 2), _stat(-0.0625, 3), _stat(2 / 3, 3), _stat(float("nan"), 2)
    (5.63, 8.01, -0.063, 0.667, nan)
    """
    return float(half_up(round(value, STAT_DECIMALS), decimals)) if math.isfinite(value) else math.nan


