"""Single-frame images that are the frames of one sweep, joined and tracked as one sweep.

Some scanners and 3-D exports store a sweep across an ovary as a series of single-frame images
instead of one multi-frame file. SPEC: "A sweep (multi-frame file, or a series of frames of one
ovary) is tracked: a follicle seen in consecutive frames is one follicle." A run analyses every
file on its own (its overlay, DICOM SEG/SR and ``images.csv`` row stay per file); when the
tables are built (:mod:`follicle_seg.visits`), the stills that are frames of one sweep are joined
into one sweep result: their follicles are tracked across them with the sweep tracker
(:func:`~follicle_seg.tracking.summarise_image`, sections compared by their boxes because the
masks are gone by then), and the ovary-visit's count rule sees one sweep.

Which stills are frames of one sweep: ok single-frame images of one patient, study, series and
side, with the same frame size and calibration and nearly the same scan area
(:data:`MIN_REGION_OVERLAP`), in order of acquisition time, each acquired at most
:data:`MAX_FRAME_GAP_S` after the one before. A sonographer's stills are seconds apart (freeze,
measure, store); the frames of a sweep a frame time apart.
Stills without an acquisition time are never joined, and none of a group (one series and side,
one frame size and calibration) in which two share a time (de-identification often writes one dummy time on every image; whole seconds cannot order
the frames of a sweep): stills of different planes tracked as one sweep would count a follicle
seen in two of them twice.

Every follicle section of each still is tracked, the ones it did not report too
(``ImageResult.unreported``), and a track is reported by its largest section, as in a cine. A
joined sweep's follicles keep their file's ``sop_instance_uid`` and ``follicle_id`` (the label on
that file's overlay) and take the track's ``n_frames``, third axis and volume; so do its unsure
candidates (``ImageResult.unsure``), numbered as on their still's overlay, with the kind the
joined sweep gives them (a still's follicle may be the sweep's tube).

Which stills will be joined is known from their headers alone (:func:`sweep_places`): a run
decides it before anything is drawn, so that each still's overlay says it is a frame of a sweep.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from follicle_seg.io.calibration import box_area, box_intersection
from follicle_seg.tracking import (
    FLAG_AT_EDGE,
    FLAG_ELONGATED,
    FLAG_LOW_CONFIDENCE,
    FLAG_NO_OVARY_FOUND,
    FLAG_NOTCHED,
    FLAG_OVARY_AT_EDGE,
    FLAG_SIDE_UNKNOWN,
    FLAG_TUBE,
    FLAG_UNCALIBRATED,
    summarise_tracked,
)
from follicle_seg.types import Follicle, FrameMeasurement, ImageRecord, ImageResult, Section

#: Stills acquired at most this many seconds apart are consecutive frames of one sweep.
MAX_FRAME_GAP_S = 1.0

#: Scan areas of consecutive frames overlap at least this much (intersection over union): a
#: scan area found in the pixels (no ultrasound regions) may move by a pixel or two a frame.
MIN_REGION_OVERLAP = 0.9

#: Flags a result derives from its whole image; a joined sweep derives them again.
IMAGE_FLAGS = {FLAG_UNCALIBRATED, FLAG_SIDE_UNKNOWN, FLAG_NO_OVARY_FOUND, FLAG_LOW_CONFIDENCE, FLAG_AT_EDGE,
               FLAG_OVARY_AT_EDGE, FLAG_ELONGATED, FLAG_NOTCHED, FLAG_TUBE}


def join_sweeps(results: Sequence[ImageResult]) -> list[ImageResult]:
    """``results`` with the stills of each sweep replaced by one sweep result, in first-frame order.

    Parameters
    ----------
    results : sequence of ImageResult
        Results of one ovary-visit or of a whole run; only ok ones with a record are joined, the
        others pass through unchanged.

    Returns
    -------
    list of ImageResult
        One result per image or sweep; a joined sweep stands where its first frame stood.
    """
    return [r for r, _ in join_sweeps_with_stills(results)]


def join_sweeps_with_stills(results: Sequence[ImageResult]) -> list[tuple[ImageResult, tuple[ImageResult, ...]]]:
    """:func:`join_sweeps`, each result with the stills it was joined from (``()`` for one image)."""
    joined: dict[int, tuple[ImageResult, tuple[ImageResult, ...]]] = {}
    dropped: set[int] = set()
    for frames in sweep_frames(results):
        joined[id(frames[0])] = (summarise_series(frames), tuple(frames))
        dropped.update(id(r) for r in frames[1:])
    return [joined.get(id(r), (r, ())) for r in results if id(r) not in dropped]


def sweep_frames(results: Sequence[ImageResult]) -> list[list[ImageResult]]:
    """The runs of two or more stills that are consecutive frames of one sweep (module docstring)."""
    groups: dict[tuple, list[ImageResult]] = {}
    for r in results:
        rec = r.record
        if r.status != "ok" or rec is None or rec.n_frames != 1 or rec.acquired_s is None:
            continue
        key = (rec.patient_id, rec.study_instance_uid, rec.series_instance_uid, rec.laterality,
               rec.rows, rec.columns, rec.calibration)  # fmt: skip
        groups.setdefault(key, []).append(r)
    sweeps = []
    for members in groups.values():
        if len({_acquired(r) for r in members}) < len(members):
            continue  # times shared: dummy times, or too coarse to order the frames by
        members.sort(key=_acquired)
        run = [members[0]]
        for r in members[1:]:
            last = run[-1].analysed_record()
            if (_acquired(r) - _acquired(run[-1]) <= MAX_FRAME_GAP_S
                    and region_overlap(r.analysed_record().region, last.region) >= MIN_REGION_OVERLAP):  # fmt: skip
                run.append(r)
                continue
            sweeps.append(run)
            run = [r]
        sweeps.append(run)
    return [run for run in sweeps if len(run) > 1]


def sweep_files(records: Iterable[ImageRecord]) -> list[list[str]]:
    """The sweeps the stills among ``records`` (as the header pass reads them) are frames of:
    each the SOP Instance UIDs of its files, in acquisition order.

    >>> from follicle_seg.types import Calibration
    >>> rec = ImageRecord("a.dcm", "a", "", "US", "P1", "st", "2026-01-05", "se", "", "L", "", 1, 90, 90, "", "",
    ...                   Calibration(0.1, 0.1, ""), (0, 0, 89, 89), "", acquired_s=10.0)
    >>> sweep_files([replace(rec, sop_instance_uid="b", acquired_s=10.04), rec, replace(rec, sop_instance_uid="c")])
    []
    >>> sweep_files([replace(rec, sop_instance_uid="b", acquired_s=10.04), rec])
    [['a', 'b']]
    """
    runs = sweep_frames([ImageResult(rec, rec.path, "ok") for rec in records])
    return [[r.analysed_record().sop_instance_uid for r in run] for run in runs]


def sweep_places(records: Iterable[ImageRecord]) -> dict[str, tuple[int, int]]:
    """The stills among ``records`` that are frames of a sweep (:func:`sweep_files`): each one's
    SOP Instance UID -> (its 0-based place in the sweep, the sweep's number of files).

    >>> from follicle_seg.types import Calibration
    >>> rec = ImageRecord("a.dcm", "a", "", "US", "P1", "st", "2026-01-05", "se", "", "L", "", 1, 90, 90, "", "",
    ...                   Calibration(0.1, 0.1, ""), (0, 0, 89, 89), "", acquired_s=10.0)
    >>> sweep_places([replace(rec, sop_instance_uid="b", acquired_s=10.04), rec])
    {'a': (0, 2), 'b': (1, 2)}
    """
    return places(sweep_files(records))


def places(sweeps: Iterable[Sequence[str]]) -> dict[str, tuple[int, int]]:
    """Each file of ``sweeps`` (:func:`sweep_files`) -> (its 0-based place, its sweep's files)."""
    return {uid: (k, len(files)) for files in sweeps for k, uid in enumerate(files)}


def place_words(place: tuple[int, int]) -> str:
    """A still's place in its sweep (:func:`sweep_places`) as the overlays and the report say it.

    >>> place_words((2, 6))
    'file 3 of 6 of a sweep'
    """
    return f"file {place[0] + 1} of {place[1]} of a sweep"


def _acquired(r: ImageResult) -> float:
    """The acquisition time of an ok still of :func:`sweep_frames` (grouped only with one)."""
    assert r.record is not None and r.record.acquired_s is not None
    return r.record.acquired_s


def region_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two regions ``(min_col, min_row, max_col, max_row)``, inclusive.

    >>> region_overlap((0, 0, 99, 99), (0, 0, 99, 99)), region_overlap((0, 0, 99, 99), (50, 0, 149, 99))
    (1.0, 0.3333333333333333)
    """
    inter = box_area(box_intersection(a, b))
    return inter / (box_area(a) + box_area(b) - inter)


def summarise_series(frames: Sequence[ImageResult]) -> ImageResult:
    """One sweep result from the results of its frames (stills, in acquisition order).

    The record is the first frame's with ``n_frames`` the number of stills and the frame spacing
    they all give (SpacingBetweenSlices), if any; follicles are tracked across the stills.
    """
    return _tracked(frames)[0]


def named_by(frames: Sequence[ImageResult]) -> dict[tuple[str, int], Follicle]:
    """Each follicle and unsure candidate of the stills of one sweep (:func:`sweep_frames`), by
    (SOP instance UID, follicle_id), -> the still's follicle or candidate that names its track in
    the tables (:func:`summarise_series`: its largest section's), which a review decides: a
    follicle rejected there is rejected in every still showing it."""
    return _tracked(frames)[1]


def named_in_sweeps(results: Sequence[ImageResult]) -> dict[tuple[str, int], Follicle]:
    """:func:`named_by` of every sweep of single-frame files among ``results`` (:func:`sweep_frames`)."""
    return {k: f for frames in sweep_frames(results) for k, f in named_by(frames).items()}


def _tracked(frames: Sequence[ImageResult]) -> tuple[ImageResult, dict[tuple[str, int], Follicle]]:
    """:func:`summarise_series` and :func:`named_by` of ``frames``: one tracking gives both."""
    record, measurements, follicle_of, ovary_of = _as_frames(frames)
    sweep, tracks = summarise_tracked(record, measurements, by_boxes=True)
    def of_still(f: Follicle) -> Follicle:
        # a track's largest section is one its still reported or left unsure, so ``follicle_of``
        # holds it; should it not, the result keeps the still's UID rather than failing the tables
        uid = frames[f.best.frame_index].analysed_record().sop_instance_uid
        still = follicle_of.get(id(f.best)) or replace(f, sop_instance_uid=uid)
        return replace(still, n_frames=f.n_frames, d3_mm=f.d3_mm, volume_ml=f.volume_ml, kind=f.kind)

    named: dict[tuple[str, int], Follicle] = {}
    for t in tracks:
        head = follicle_of.get(id(t.best))
        seen = (follicle_of[id(s)] for s in t.sections if id(s) in follicle_of)
        named.update({(f.sop_instance_uid, f.follicle_id): head for f in seen if head is not None})
    joined = replace(
        sweep,
        follicles=tuple(map(of_still, sweep.follicles)),
        unsure=tuple(map(of_still, sweep.unsure)),
        ovary=ovary_of[id(sweep.ovary)] if sweep.ovary is not None else None,
        key_frames=(),
    )
    return joined, named


def _as_frames(frames: Sequence[ImageResult]) -> tuple[ImageRecord, list[FrameMeasurement], dict[int, Follicle],
                                                     dict[int, Section | None]]:
    """The stills of one sweep as the frames of one record: its record, each still's measurement
    (every section of it, numbered by its place), and the still's follicle or candidate of each
    section and the still's ovary section of each, by the id of the section in the measurements."""
    spacings = {r.analysed_record().frame_spacing_mm for r in frames}
    record = replace(frames[0].analysed_record(), n_frames=len(frames),
                     frame_spacing_mm=spacings.pop() if len(spacings) == 1 else None)  # fmt: skip
    follicle_of: dict[int, Follicle] = {}
    ovary_of: dict[int, Section | None] = {}
    measurements = []
    for k, r in enumerate(frames):
        sections = []
        for f in r.follicles:
            s = replace(f.best, frame_index=k)
            follicle_of[id(s)] = f
            sections.append(s)
        for s in r.unreported:  # the unsure candidates among them keep their still's number
            sections.append(replace(s, frame_index=k))
            candidate = next((u for u in r.unsure if u.best == s), None)
            if candidate is not None:
                follicle_of[id(sections[-1])] = candidate
        ovary = replace(r.ovary, frame_index=k) if r.ovary is not None else None
        if ovary is not None:
            ovary_of[id(ovary)] = r.ovary
        flags = tuple(f for f in r.flags if f not in IMAGE_FLAGS)
        measurements.append(FrameMeasurement(record, k, tuple(sections), ovary, None, flags))
    return record, measurements, follicle_of, ovary_of
