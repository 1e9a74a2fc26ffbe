"""Per-frame sections to follicles of an image: tracking through a sweep, one row per follicle.

A still (one frame) gives one follicle per section. In a sweep (multi-frame file) a follicle is
cut by many consecutive frames; sections of consecutive frames are linked into one *track* when
their instance masks overlap (IoU >= ``MIN_IOU``) or their centroids lie closer than
``MAX_CENTROID_FRACTION`` x the smaller mean diameter. A track survives one missed frame (a
section in frame ``t`` may link to a track last seen in ``t-1`` or ``t-2``). Candidate links are
taken greedily, best first (fewest skipped frames, then largest IoU, then shortest distance), each
track and section used once.

A follicle whose section falls apart on a frame or two (a bright line across it, a cut at a
notch) is one. Two tracks are pieces of one follicle when one was split off the other (its first
section lies in the other's section of the frame before, while the other goes on: ``MIN_INSIDE``
of its pixels, or, where the follicle grows fast, as much as the pieces together do:
:func:`_lies_in`; a piece split off a piece too); pieces seen apart on at most ``MAX_SPLIT_FRAMES``
frames are folded into one track, whichever of them goes on: when one, not seen on a frame, lies
in the other's section of it (or of the frame after one missed), or when both end on one frame
(the follicle's last, or the sweep's). Two tracks first seen on one frame (neither split off
another: nothing earlier to split off) may be the pieces of a follicle's first section or two
follicles: when one, seen apart on at most ``MAX_SPLIT_FRAMES`` frames, is not seen on a frame
and lies in the other's section of it (or of the frame after one missed), it is *held* by the
other, and folded into it when the sweep ends unless it went on (its follicle parted again).
Two follicles that a section joins are not pieces: one goes on through the joined section, the
other ends there; a section that parts from it at most ``MAX_SPLIT_FRAMES`` frames later and
links to the one that ended goes on with that, and the one that went through is not measured on
the joined frames (nor is it when the other, missing one frame in its section, is bridged).
Joined on the sweep's first or last frames, or for more frames, the one that went through is
measured on the joined section (two follicles first seen together and joined from their second
or third frame for more frames: the other is folded into it, one follicle until they part).

Each track becomes one :class:`~follicle_seg.types.Follicle` measured on its largest section
(most pixels; of as many, the larger mean diameter: :func:`size_order`). ``n_frames`` is the number of frames the track spans (first to last, a bridged
missed frame included); ``d3_mm = n_frames x record.frame_spacing_mm`` when the sweep's frame
spacing is known, and the volume is the ellipsoid ``pi/6 x d1 x d2 x d3`` (``d3 := d2`` without a
sweep third axis), in ml (1 ml = 1000 mm^3).

Tracking streams: only the last instance mask of each track seen on the last
``MAX_SPLIT_FRAMES + 1`` frames is kept, so a 500-frame cine costs the memory of a few frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from follicle_seg.instances import find_boxes
from follicle_seg.types import (
    CANDIDATE_KINDS,
    COLOUR_IN_SCAN,
    NET_IMPLAUSIBLE_SHAPE,
    NET_LOW_CONFIDENCE,
    NET_NO_OVARY,
    OVARY_BY_CALIPERS,
    Follicle,
    FrameMeasurement,
    ImageRecord,
    ImageResult,
    Section,
)

T = TypeVar("T")
Crop = tuple[np.ndarray, tuple[int, int]]  # a section's mask cropped to its box, and the box's top-left corner

#: A follicle is counted when its mean diameter (on its largest section) is at least this (SPEC).
MIN_FOLLICLE_DIAMETER_MM = 2.0
#: The same on uncalibrated images, in pixels (2 mm at 0.2 mm/pixel, a coarse TVUS frame).
MIN_DIAMETER_PX_UNCALIBRATED = 10.0
#: A follicle is reported only when its largest section's mean follicle probability reaches this
#: (chosen for network 0.3.0 on a synthetic tuning study, seed 123, from 0.65-0.95; see README
#: "Agreement with truth").
MIN_FOLLICLE_SCORE = 0.90
#: Smallest instance-mask overlap (intersection over union) that links two sections.
MIN_IOU = 0.1
#: Centroids closer than this fraction of the smaller mean diameter also link two sections.
MAX_CENTROID_FRACTION = 0.5
#: Frames a track may miss and still be continued (one missed frame).
MAX_GAP = 1
#: A section lies in another when at least this fraction of its pixels does (a piece split off).
MIN_INSIDE = 0.5
#: Two pieces of a follicle's section seen apart on at most this many frames are one follicle
#: (longer, two); a follicle a section joined to another's for at most this many frames goes on
#: when it parts again.
MAX_SPLIT_FRAMES = 2
#: A candidate follicle scoring from this up to MIN_FOLLICLE_SCORE is not reported, but its image
#: is flagged "low confidence" so that a sonographer looks at it. Measured for network 0.4.0 on the
#: synthetic tuning study (seed 123) with ``scripts/review_band.py``: from 0.60 the band marks 5
#: of the 7 true follicles the report misses (from 0.70 or 0.80: 4; from 0.30-0.50: no more);
#: docs/measurement.md, "Review flags".
LOW_CONFIDENCE_SCORE = 0.6
#: Diameters are compared to thresholds after rounding to this many decimals (as tabled).
DIAMETER_DECIMALS = 2

FLAG_UNCALIBRATED = "uncalibrated"
FLAG_LOW_CONFIDENCE = "low confidence"
FLAG_NO_OVARY_FOUND = "no ovary found"
FLAG_SIDE_UNKNOWN = "side unknown"
FLAG_PANES_DIFFER = "panes differ"
FLAG_NO_DATE = "date unknown"
FLAG_NO_PATIENT = "patient unknown"
FLAG_AT_EDGE = "follicle at scan edge"
FLAG_OVARY_AT_EDGE = "ovary at scan edge"
FLAG_ELONGATED = "follicle elongated"
FLAG_NOTCHED = "follicle notched"
FLAG_TUBE = "tube through the sweep"
FLAG_TURNS = "sweep turns back"
#: A review candidate's kind (``Follicle.kind`` of ``ImageResult.unsure``, the ``kind`` column of
#: ``candidates.csv``), decided where the candidates are made (:func:`summarise_tracked`): the
#: network unsure of it (scored ``LOW_CONFIDENCE_SCORE`` up to ``MIN_FOLLICLE_SCORE``), or sure of
#: it but a tube through the sweep (:func:`is_tube`).
KIND_UNSURE, KIND_TUBE = CANDIDATE_KINDS
#: The review flag a candidate of each kind raises.
CANDIDATE_FLAGS = {KIND_UNSURE: FLAG_LOW_CONFIDENCE, KIND_TUBE: FLAG_TUBE}
#: A reported follicle whose largest section is this many times longer (d1) than wide (d2) is
#: flagged: a follicle pressed by its neighbours stays under about 2, a vessel or a tube seen
#: lengthwise does not (a 20 x 2.4 mm vessel reads mean 11.2 mm: a false 10 mm follicle).
#: Set conservatively, not on real scans (counted follicles of the generated studies stay under 1.25).
MAX_FOLLICLE_ELONGATION = 3.0
#: A reported follicle whose largest section's outline dents into its convex hull this fraction of
#: its half-width (d2 / 2) deep or more (:func:`dent_depth`, on the lightly smoothed outline of
#: ``measure.dent_outline``), and ``MIN_DENT_PX`` pixels, is flagged: touching follicles the split
#: left as one meet at such dents (two equal ones 1 radius apart: 0.09-0.15 from radius 15 pixels,
#: every angle and offset on the grid caught; ``scripts/dent_grid.py``), a round or elliptic follicle
#: has none. Measured with ``scripts/split_probe.py`` and on the generated studies
#: (docs/measurement.md, "Review flags"): no counted follicle of seeds 123 and 456 but one, a
#: 12.8 mm follicle joined to its neighbour's tip (0.139), dents over 0.075 of it and 0.8 pixels.
#: On the 67 real captures (``scripts/eval_real.py``) it fires on none of the 9 images with a
#: reported follicle (on 1, falsely, before the frame's colour pixels were filled in: burned-in
#: yellow text cutting a wall, 0.107, now 0.082); another reported follicle reads 0.089: a flag
#: to look at, not a finding.
MIN_DENT_FRACTION = 0.09
#: The staircase of a round or elliptic outline, smoothed, dents up to 0.73 pixel into its hull.
MIN_DENT_PX = 0.8
#: A sweep's track is a tube (:func:`is_tube`) when its sections stay at this fraction of its
#: reference size over a length that an ellipsoid no longer than ``MAX_FOLLICLE_ELONGATION`` x its d1 cannot give.
TUBE_PLATEAU = 0.85
#: The thickness of the ultrasound beam across the sweep (elevation or slice thickness; 2-3 mm for
#: transvaginal probes, the conservative end): a frame shows the largest section within half of it
#: either side, so a small follicle is seen at nearly full size over about this much. Simulated, no
#: follicle is a tube up to a real beam of 4 mm; from 5 mm small ones are (docs/measurement.md).
BEAM_THICKNESS_MM = 3.0
#: Images of one ovary (the images of a visit, the panes of a dual display) whose counts differ by
#: more than this need review.
MAX_COUNT_DISAGREEMENT = 1

#: What each review flag of an image means, in words for the people who review it
#: (``review_reasons.csv``, the report's "Needs review").
FLAG_REASONS: dict[str, str] = {
    FLAG_UNCALIBRATED: "no calibration: sizes in pixels only",
    FLAG_LOW_CONFIDENCE: f"a candidate follicle scored {LOW_CONFIDENCE_SCORE:.2f}-{MIN_FOLLICLE_SCORE:.2f} and is not reported",
    FLAG_NO_OVARY_FOUND: "no ovary found",
    FLAG_SIDE_UNKNOWN: ("side unknown: no laterality tag or keyword; give each image its side (left or right) "
                        "rather than confirming: images of unknown side count as one image, never a sum"),
    FLAG_PANES_DIFFER: "a dual display whose panes' follicle counts differ: the pane with the most is reported",
    FLAG_NO_DATE: "no usable StudyDate (nor series, acquisition or content date): days from baseline unknown",
    FLAG_NO_PATIENT: "no PatientID: the file's results cannot be told from another patient's",
    FLAG_AT_EDGE: "a follicle reaches the edge of the scan area: cut by it, it may be larger than measured",
    FLAG_ELONGATED: (f"a follicle is {MAX_FOLLICLE_ELONGATION:g} or more times as long as wide: a vessel or other "
                     "tube seen lengthwise, not a follicle?"),
    FLAG_NOTCHED: ("a follicle's outline dents in as where touching follicles meet: two or more follicles "
                   "measured as one, or a caliper or text burned on its wall?"),
    FLAG_TUBE: (f"a section stays near its full size over more of the sweep than the beam and a follicle at most "
                f"{MAX_FOLLICLE_ELONGATION:g} times as long across it as wide show: a vessel crossing the sweep? "
                "Not counted, listed as a candidate"),
    FLAG_TURNS: ("a cine that sweeps through the ovary and back, told from its frames: each pass counted on its "
                 "own, the pass with the most follicles reported; check it turns back (a one-way sweep split "
                 "in two counts only its larger half)"),
    FLAG_OVARY_AT_EDGE: ("the ovary reaches the edge of the scan area: cut by it, or its outline runs into it; "
                         "its d1, d2, area and volume are uncertain"),
    COLOUR_IN_SCAN: ("colour (Doppler flow?) covers part of the scan area of a frame the results rest on: made "
                     "grey, blue flow reads as dark as fluid; check the follicles against the colour image"),
    OVARY_BY_CALIPERS: ("the ovary kept in a frame the results rest on is the region the sonographer's calipers "
                        "measure, not the one the network scored highest: check the ovary outline"),
    NET_NO_OVARY: "network: almost no ovary in a frame the results rest on",
    NET_LOW_CONFIDENCE: "network: unsure of a frame the results rest on (low mean probability)",
    NET_IMPLAUSIBLE_SHAPE: "network: a follicle section of 3 mm or more is far from round",
}  # fmt: skip


def flag_reason(flag: str) -> str:
    """:data:`FLAG_REASONS`' words for ``flag`` (the flag itself when it has none), the
    low-confidence band written with the thresholds in force (a script that sets
    ``MIN_FOLLICLE_SCORE`` to try another one wrote "0.60-0.90" beside it).

    >>> flag_reason(FLAG_LOW_CONFIDENCE), flag_reason("odd")
    ('a candidate follicle scored 0.60-0.90 and is not reported', 'odd')
    """
    if flag == FLAG_LOW_CONFIDENCE:
        return f"a candidate follicle scored {LOW_CONFIDENCE_SCORE:.2f}-{MIN_FOLLICLE_SCORE:.2f} and is not reported"
    return FLAG_REASONS.get(flag, flag)


@dataclass
class Track:
    """One follicle followed through a sweep (mutable while the sweep streams in).

    ``mask``/``origin`` hold the instance mask of the last section (cropped to its bounding
    box on the region grid, and that box's top-left corner); ``flags`` gathers the
    flags of the frames the track was seen in.
    """

    best: Section
    first_frame: int
    last_frame: int
    last: Section
    mask: np.ndarray
    origin: tuple[int, int]
    n_sections: int = 1  # frames the follicle was actually seen in (bridged frames excluded)
    flags: set[str] = field(default_factory=set)
    sections: list[Section] = field(default_factory=list)  # every section linked, in frame order
    split_from: Track | None = None  # the track whose section this one's first section was split off
    held_by: Track | None = None  # one first seen on its first frame whose next section held its last one
    shared: set[int] = field(default_factory=set)  # frames whose section held another follicle too

    @property
    def n_frames(self) -> int:
        """Frames spanned, first to last (a bridged missed frame included)."""
        return self.last_frame - self.first_frame + 1


class SweepTracker:
    """Links the follicle sections of consecutive frames into tracks, one frame at a time.

    Sections overlap by their instance masks (``FrameMeasurement.instances``); with
    ``by_boxes=True`` by the ellipses inscribed in their boxes (``Section.bbox``), for frames
    whose masks are no longer at hand (:mod:`follicle_seg.series`).

    Examples
    --------
    >>> tracker = SweepTracker()
    >>> for m in measurements:  # doctest: +SKIP
    ...     tracker.add(m)
    >>> tracks = tracker.finish()  # doctest: +SKIP
    """

    def __init__(self, *, by_boxes: bool = False) -> None:
        self._by_boxes = by_boxes  # compare sections by the ellipses in their boxes, not instance masks
        self._open: list[Track] = []
        self._closed: list[Track] = []
        self._last_index: int | None = None

    def add(self, m: FrameMeasurement) -> None:
        """Link the follicles of the next frame (frames must come in increasing order)."""
        if self._last_index is not None and m.frame_index <= self._last_index:
            raise ValueError(
                f"frames must come in increasing order: {m.frame_index} after {self._last_index}"
            )
        self._last_index = m.frame_index
        still_open = []
        for t in self._open:
            if m.frame_index - t.last_frame <= MAX_SPLIT_FRAMES + 1:
                still_open.append(t)
            else:
                t.mask = t.mask[:0, :0]  # closed for good: free its mask
                self._closed.append(t)
        self._open = still_open
        crops = _box_crops(m) if self._by_boxes else _instance_crops(m)
        spacing = _spacing(m.record)
        before = {id(t): (t.mask, t.origin, t.last_frame) for t in self._open}  # each track before this frame
        pairs = []
        for ti, t in enumerate(self._open):
            for si, s in enumerate(m.follicles):
                if m.frame_index - t.last_frame <= MAX_GAP + 1 and _linkable(t, s, crops[si], spacing):
                    pairs.append((m.frame_index - t.last_frame, -_iou(t.mask, t.origin, *crops[si]),
                                  _distance(t.last, s, spacing), ti, si))  # fmt: skip
        pairs.sort()
        used_t: set[int] = set()
        used_s: set[int] = set()
        for _, _, _, ti, si in pairs:
            if ti in used_t or si in used_s:
                continue
            used_t.add(ti)
            used_s.add(si)
            self._link(self._open[ti], m, si, crops[si], before)
        linked = [self._open[ti] for ti in sorted(used_t)]
        while self._fold_rejoined(m.frame_index, linked, before):
            pass
        new = []  # tracks started on this frame, opened once every section is placed
        for si, s in enumerate(m.follicles):
            if si not in used_s:
                mask, origin = crops[si]
                parent = next((t for t in linked if _lies_in(crops[si], (t.mask, t.origin), before[id(t)][:2])), None)
                joined = parent and next((t for t in self._open if t.last_frame < m.frame_index - 1
                                          and _inside(t.mask, t.origin, *before[id(parent)][:2]) >= MIN_INSIDE
                                          and _linkable(t, s, crops[si], spacing)), None)  # fmt: skip
                if joined:  # a follicle that a section joined to the parent's for a frame or two parts again
                    self._link(joined, m, si, crops[si], before)
                else:
                    new.append(Track(s, m.frame_index, m.frame_index, s, mask, origin, 1, set(m.flags), [s], parent))
        self._open += new

    def _link(self, t: Track, m: FrameMeasurement, si: int, crop: tuple[np.ndarray, tuple[int, int]],
              before: dict[int, tuple[np.ndarray, tuple[int, int], int]]) -> None:
        """Go on with track ``t`` to follicle ``si`` of frame ``m``. When ``t`` missed frames, while
        its last section lay in another track's section of the frame before: that section held both
        follicles (the network joined them), so that track is not measured on the missed frames."""
        s = m.follicles[si]
        missed = range(t.last_frame + 1, m.frame_index)
        if missed:
            for u in self._open:
                mask, origin, last_frame = before[id(u)]
                held = u is not t and last_frame == m.frame_index - 1
                if held and _inside(t.mask, t.origin, mask, origin) >= MIN_INSIDE:
                    u.shared.update(missed)
                    u.best = max((x for x in u.sections if x.frame_index not in u.shared),
                                 key=size_order, default=u.best)  # fmt: skip
        t.last, t.last_frame = s, m.frame_index
        t.held_by = None  # it went on: not a piece of the one that held it
        t.mask, t.origin = crop
        t.n_sections += 1
        t.sections.append(s)
        t.flags.update(m.flags)
        if size_order(s) > size_order(t.best):
            t.best = s

    def _fold_rejoined(self, frame_index: int, linked: list[Track],
                       before: dict[int, tuple[np.ndarray, tuple[int, int], int]]) -> bool:
        """Fold one track not seen on ``frame_index`` into a piece of its follicle
        (:func:`_pieces`) seen on it whose new section holds its last section (:func:`_lies_in`,
        beside that piece's section of the same frame); whether one was.
        One first seen on the other's first frame (:func:`_seen_together`) is held by it, and
        folded into it at the end unless it goes on (two follicles a section joined part again)."""
        for u in linked:
            mask, origin, last_frame = before[id(u)]
            for t in self._open:
                beside = (mask, origin) if last_frame == t.last_frame else None
                if (0 < frame_index - t.last_frame <= MAX_GAP + 1
                        and _lies_in((t.mask, t.origin), beside, (u.mask, u.origin))):  # fmt: skip
                    if _pieces(t, u):
                        self._fold(t, u)
                        return True
                    if _seen_together(t, u):
                        t.held_by = u
        return False

    def _fold(self, piece: Track, into: Track) -> None:
        """Make ``piece`` part of ``into``: its sections, frames and flags; the tracks split off it
        are split off ``into`` (those ``into`` was split off, off what ``piece`` was split off)."""
        into.sections = sorted(into.sections + piece.sections, key=lambda s: s.frame_index)
        into.first_frame = min(into.first_frame, piece.first_frame)
        into.n_sections = len({s.frame_index for s in into.sections})
        into.flags |= piece.flags
        into.shared |= piece.shared
        if size_order(piece.best) > size_order(into.best):
            into.best = piece.best
        for t in (*self._open, *self._closed):
            if t.split_from is piece:
                t.split_from = piece.split_from if t is into or _split_off(into, t) else into
            if t.held_by is piece:
                t.held_by = None if t is into else into
        self._open = [t for t in self._open if t is not piece]
        self._closed = [t for t in self._closed if t is not piece]

    def _fold_ends(self) -> bool:
        """Fold one track split off another (or the other split off it) that ends on the same
        frame, its follicle's or the sweep's last, no later frame to rejoin on, or one still held
        by a track (:meth:`_fold_rejoined`); whether one was."""
        tracks = self._closed + self._open
        for t in tracks:
            u = t.split_from
            if u is not None and u.last_frame == t.last_frame and _apart(t, u) <= MAX_SPLIT_FRAMES:
                self._fold(t, u)
                return True
            if t.held_by is not None:
                self._fold(t, t.held_by)
                return True
        return False

    def finish(self) -> list[Track]:
        """All tracks, largest best section first."""
        while self._fold_ends():
            pass
        tracks = self._closed + self._open
        self._closed, self._open = [], []
        return sorted(tracks, key=lambda t: (-t.best.area_px, t.best.frame_index, t.first_frame))


def track_sweep(measurements: Iterable[FrameMeasurement]) -> list[Track]:
    """Tracks of the follicle sections of a sweep (or of a still: one track per section).

    Parameters
    ----------
    measurements : iterable of FrameMeasurement
        The frames of one image in increasing frame order; consumed once (may be a generator).

    Returns
    -------
    list of Track
        Largest best section first.
    """
    tracker = SweepTracker()
    for m in measurements:
        tracker.add(m)
    return tracker.finish()


def elongation(section: Section) -> float:
    """d1 / d2 of a section, in mm where it has them (pixels may not be square), else in pixels.

    >>> from follicle_seg.types import Section
    >>> elongation(Section(0, 5, 5, 200, 30, 10, None, None, None)), elongation(Section(0, 5, 5, 200, 30, 10, 3.0, 2.0, 5.0))
    (3.0, 1.5)
    """
    if section.d1_mm is not None and section.d2_mm is not None:
        return section.d1_mm / max(section.d2_mm, 1e-9)
    return section.d1_px / max(section.d2_px, 1e-9)


def dent_depth(section: Section) -> float:
    """How deep a section's outline dents into its convex hull, over half its width (``d2 / 2``):
    in mm where it has them (pixels may not be square), else in pixels.

    >>> from follicle_seg.types import Section
    >>> dent_depth(Section(0, 5, 5, 200, 30, 20, 6.0, 4.0, 20.0, dent_px=2.0, dent_mm=0.4))
    0.2
    """
    if section.dent_mm is not None and section.d2_mm is not None:
        return section.dent_mm / max(section.d2_mm / 2, 1e-9)
    return section.dent_px / max(section.d2_px / 2, 1e-9)


#: The flags a reported follicle raises on its own largest section (:func:`follicle_raises`).
FOLLICLE_FLAGS = (FLAG_AT_EDGE, FLAG_ELONGATED, FLAG_NOTCHED)


def follicle_raises(flag: str, best: Section) -> bool:
    """Whether a reported follicle measured on ``best`` raises ``flag``, :data:`FLAG_AT_EDGE`
    (cut by the scan area's edge), :data:`FLAG_ELONGATED` or :data:`FLAG_NOTCHED` (more than
    one follicle?).

    >>> from follicle_seg.types import Section
    >>> follicle_raises(FLAG_ELONGATED, Section(0, 5, 5, 200, 30, 10, None, None, None))
    True
    """
    if flag == FLAG_AT_EDGE:
        return best.at_edge
    if flag == FLAG_NOTCHED:
        return best.dent_px >= MIN_DENT_PX and dent_depth(best) >= MIN_DENT_FRACTION
    return elongation(best) >= MAX_FOLLICLE_ELONGATION


def is_tube(track: Track, frame_spacing: float | None) -> bool:
    """Whether a sweep's track is a tube crossing the sweep (a vessel), not a follicle.

    Measured, not extrapolated: the *plateau* is the frames whose section (mean diameter) is at
    least :data:`TUBE_PLATEAU` x the track's reference size, the largest section an adjacent frame
    confirms (:func:`largest_confirmed`, so one outlier is not it); frames whose section held
    another follicle too (``track.shared``) are left out. Its length is first to last frame x
    the spacing (a lower bound of its extent; one frame missed, with no section of the track, does
    not end it, a section under the plateau or shared does: the narrowing between two follicles
    one behind the other that the tracker followed as one; the longest such run is taken). An
    ellipsoid's sections stay at :data:`TUBE_PLATEAU` of its width over
    ``sqrt(1 - TUBE_PLATEAU**2)`` (0.53) of its length, and the beam shows each frame's largest
    section within :data:`BEAM_THICKNESS_MM`, so the length the plateau implies is
    ``(plateau - BEAM_THICKNESS_MM) / 0.53``. A tube when that is :data:`MAX_FOLLICLE_ELONGATION`
    times its ``d1`` or more (what the in-plane rule calls a vessel seen lengthwise). Needs the frame spacing (SpacingBetweenSlices) and mm: without them, never.

    >>> from follicle_seg.types import Section
    >>> sections = [Section(k, 5, 5, 200, 30, 30, 6.0, 6.0, 28.0) for k in range(16)]
    >>> vessel = Track(sections[0], 0, 15, sections[-1], np.ones((1, 1), bool), (0, 0), sections=sections)
    >>> is_tube(vessel, 1.0), is_tube(vessel, 0.5), is_tube(vessel, None)
    (True, False, False)
    """
    best = track.best
    if not frame_spacing or best.d1_mm is None:
        return False
    own = [s for s in track.sections if s.frame_index not in track.shared and s.mean_diameter_mm is not None]
    if not own:
        return False
    reference = largest_confirmed([(s, None) for s in own])[0].mean_diameter_mm or 0.0
    frames = [s.frame_index for s in own if (s.mean_diameter_mm or 0.0) >= TUBE_PLATEAU * reference]
    seen = {s.frame_index for s in track.sections}
    longest, first = 0, frames[0]
    for before, k in zip(frames, [*frames[1:], frames[-1] + 3]):
        if k - before > 2 or (k - before == 2 and before + 1 in seen):  # the run ends at ``before``
            longest, first = max(longest, before - first), k
    plateau_mm = longest * frame_spacing
    implied_mm = (plateau_mm - BEAM_THICKNESS_MM) / math.sqrt(1.0 - TUBE_PLATEAU**2)
    return implied_mm >= MAX_FOLLICLE_ELONGATION * best.d1_mm


def ellipsoid_volume_ml(d1_mm: float, d2_mm: float, d3_mm: float) -> float:
    """Ellipsoid volume ``pi/6 x d1 x d2 x d3`` in ml (1 ml = 1000 mm^3).

    >>> round(ellipsoid_volume_ml(10.0, 10.0, 10.0), 4)
    0.5236
    """
    return math.pi / 6.0 * d1_mm * d2_mm * d3_mm / 1000.0


def is_counted(section: Section) -> bool:
    """Whether a follicle measured on ``section`` is large enough to be counted.

    Mean diameter >= ``MIN_FOLLICLE_DIAMETER_MM`` (rounded to ``DIAMETER_DECIMALS``), or, on an
    uncalibrated frame, mean pixel diameter >= ``MIN_DIAMETER_PX_UNCALIBRATED``.
    """
    mean_mm = section.mean_diameter_mm
    if mean_mm is None:
        return section.mean_diameter_px >= MIN_DIAMETER_PX_UNCALIBRATED
    return large_enough_mm(mean_mm)


def large_enough_mm(mean_diameter_mm: float) -> bool:
    """The counting rule in mm, for the pipeline and for every score against truth: mean
    diameter >= ``MIN_FOLLICLE_DIAMETER_MM`` once rounded as the tables write it.

    >>> large_enough_mm(1.996), large_enough_mm(1.994)
    (True, False)
    """
    return round(mean_diameter_mm, DIAMETER_DECIMALS) >= MIN_FOLLICLE_DIAMETER_MM


def score_text(score: float) -> str:
    """A score in words for a reviewer (overlay, worksheet): two decimals, rounded down under
    :data:`MIN_FOLLICLE_SCORE` so a candidate that missed it never reads it.

    >>> score_text(0.899), score_text(0.956), score_text(0.57)
    ('0.89', '0.96', '0.57')
    """
    return f"{math.floor(round(score * 100, 6)) / 100:.2f}" if score < MIN_FOLLICLE_SCORE else f"{score:.2f}"


def is_confident(section: Section) -> bool:
    """Whether the network is sure enough of a follicle to report it.

    The mean follicle probability over its largest section must reach ``MIN_FOLLICLE_SCORE``.
    The threshold trades recall for precision, which a POI trial needs most (a false follicle
    is a false efficacy signal); README, "Agreement with truth", gives the measured trade.
    """
    return section.score >= MIN_FOLLICLE_SCORE


def choose_pane(results: Sequence[ImageResult]) -> ImageResult:
    """The result of the pane of a dual display that stands for the image (one result per pane,
    in pane order): the most follicles, never their sum (the panes are views of one moment,
    often two planes of one ovary), then a pane with an ovary, then the first. Flagged "panes
    differ" when the counts differ by more than :data:`MAX_COUNT_DISAGREEMENT`.

    Examples
    --------
    >>> from follicle_seg.types import Section
    >>> f = Follicle(1, "1.2", Section(0, 5, 5, 20, 5, 5, 2.5, 2.5, 5.0), 1, None, None)
    >>> panes = [ImageResult(None, "a.dcm", "ok"), ImageResult(None, "a.dcm", "ok", follicles=(f,) * 2)]
    >>> best = choose_pane(panes)
    >>> len(best.follicles), best.flags
    (2, ('panes differ',))
    """
    best = min(range(len(results)), key=lambda k: (-len(results[k].follicles), results[k].ovary is None, k))
    counts = [len(r.follicles) for r in results]
    if max(counts) - min(counts) > MAX_COUNT_DISAGREEMENT:
        return replace(results[best], flags=(*results[best].flags, FLAG_PANES_DIFFER))
    return results[best]


def summarise_image(
    record: ImageRecord,
    measurements: Iterable[FrameMeasurement],
    *,
    path: str | None = None,
    by_boxes: bool = False,
    ends: tuple[int, int] | None = None,
) -> ImageResult:
    """Follicles, ovary and review flags of one analysed image (still or sweep).

    Parameters
    ----------
    record : ImageRecord
        The image.
    measurements : iterable of FrameMeasurement
        Its frames in increasing order; consumed once, so a generator streams a long cine.
    path : str, optional
        Input path recorded in the result (default ``record.path``).
    by_boxes : bool
        Track by the sections' boxes instead of instance masks (:class:`SweepTracker`).
    ends : (int, int), optional
        The first and last frame of the sweep (default the image's): of one pass of a cine that
        turns back (:mod:`follicle_seg.passes`), its frames only are given, and a follicle or
        ovary seen on the turn may go on past it, as on a sweep's first or last frame.

    Returns
    -------
    ImageResult
        ``status="ok"``; follicles with ids 1..n largest first (counted ones only); the ovary's
        largest section (in a sweep, the largest an adjacent frame confirms:
        :func:`largest_confirmed`), its third axis and volume when the sweep's frame spacing is known;
        ``key_frames`` the best frames of the follicles and of the ovary; ``unsure`` the candidates
        that raise "low confidence" (``kind`` :data:`KIND_UNSURE`), then the tubes (:func:`is_tube`)
        that raise "tube through the sweep" (:data:`KIND_TUBE`), measured as follicles are,
        numbered on after them (for the overlays and a reviewer's decisions); ``flags``, each a
        reason for review: ``"uncalibrated"``, ``"low confidence"`` (a candidate follicle
        scoring between ``LOW_CONFIDENCE_SCORE`` and ``MIN_FOLLICLE_SCORE`` was left out),
        ``"tube through the sweep"`` (a track :func:`is_tube` calls a tube was left out),
        ``"no ovary found"``,
        ``"side unknown"``, ``"follicle at scan edge"`` (a reported follicle's largest section
        reaches the scan area's edge), ``"ovary at scan edge"`` (the ovary's measured section
        does: cut, or an outline run into the edge, its d1, d2 and volume are uncertain),
        ``"follicle elongated"`` and ``"follicle notched"`` (a reported follicle's largest section:
        :func:`follicle_raises`), then the network's frame flags (``FrameSegmentation.flags``) of
        the frames the results rest on: every frame of a still; in a sweep the frames of the
        counted follicles' tracks and the ovary's measured section (frames past the ovary at the
        ends of a sweep are expected to look empty and do not raise a flag).
    """
    return summarise_tracked(record, measurements, path=path, by_boxes=by_boxes, ends=ends)[0]


def summarise_tracked(
    record: ImageRecord,
    measurements: Iterable[FrameMeasurement],
    *,
    path: str | None = None,
    by_boxes: bool = False,
    ends: tuple[int, int] | None = None,
) -> tuple[ImageResult, list[Track]]:
    """:func:`summarise_image` of one image, and every track its result was made from, largest
    best section first (a caller naming each section by its track: :func:`follicle_seg.series.named_by`)."""
    tracker = SweepTracker(by_boxes=by_boxes)
    ovary_sections: list[tuple[Section, tuple[str, ...]]] = []  # with their frames' flags
    ovary_frames = 0
    ovary_at_end = False  # seen on the sweep's first or last frame: it may go on past the sweep
    first, last = (0, record.n_frames - 1) if ends is None else ends
    still_flags: set[str] = set()
    for m in measurements:
        tracker.add(m)
        if not record.is_sweep:
            still_flags.update(m.flags)
        if m.ovary is not None:
            ovary_frames += 1
            ovary_at_end |= m.frame_index in (first, last)
            ovary_sections.append((m.ovary, m.flags))
    ovary, ovary_flags = largest_confirmed(ovary_sections) if ovary_sections else (None, ())
    every = tracker.finish()
    spacing = record.frame_spacing_mm if record.is_sweep else None
    candidates = [t for t in every if is_counted(t.best)]
    tubes = [t for t in candidates if is_confident(t.best) and is_tube(t, spacing)]
    tube_ids = {id(t) for t in tubes}
    tracks = [t for t in candidates if is_confident(t.best) and id(t) not in tube_ids]
    reported = {id(t) for t in tracks}
    unreported = () if record.is_sweep else tuple(t.best for t in every if id(t) not in reported)
    doubtful = [t for t in candidates if LOW_CONFIDENCE_SCORE <= t.best.score < MIN_FOLLICLE_SCORE] + tubes

    def at_end(t: Track) -> bool:
        return t.first_frame == first or t.last_frame == last
    follicles = tuple(
        measured_follicle(i, record.sop_instance_uid, t.best, t.n_frames, spacing, at_sweep_end=at_end(t))
        for i, t in enumerate(tracks, start=1)
    )
    # numbered on after the reported ones, so that a reviewer can name either on the overlay
    unsure = tuple(
        measured_follicle(i, record.sop_instance_uid, t.best, t.n_frames, spacing, at_sweep_end=at_end(t),
                          kind=KIND_TUBE if id(t) in tube_ids else KIND_UNSURE)
        for i, t in enumerate(doubtful, start=len(tracks) + 1)
    )
    ovary_d3 = third_axis(ovary_frames, spacing, ovary.d2_mm, ovary_at_end) if ovary is not None else None
    ovary_volume = (
        ellipsoid_volume_ml(ovary.d1_mm, ovary.d2_mm, ovary_d3)
        if ovary is not None and ovary_d3 is not None and ovary.d1_mm is not None
        and ovary.d2_mm is not None
        else None
    )
    flags = []
    if not record.calibration.calibrated:
        flags.append(FLAG_UNCALIBRATED)
    flags += [f for f in (FLAG_LOW_CONFIDENCE, FLAG_TUBE) if any(CANDIDATE_FLAGS[u.kind] == f for u in unsure)]
    if ovary is None:
        flags.append(FLAG_NO_OVARY_FOUND)
    if record.laterality not in ("L", "R"):
        flags.append(FLAG_SIDE_UNKNOWN)
    raised = {f: [i for i, t in enumerate(tracks, start=1) if follicle_raises(f, t.best)] for f in FOLLICLE_FLAGS}
    if raised[FLAG_AT_EDGE]:
        flags.append(FLAG_AT_EDGE)
    if ovary is not None and ovary.at_edge:
        flags.append(FLAG_OVARY_AT_EDGE)
    flags += [f for f in (FLAG_ELONGATED, FLAG_NOTCHED) if raised[f]]
    # the network's own flags, from the frames the results rest on
    frame_flags = still_flags.union(ovary_flags, *(t.flags for t in tracks))
    flags += sorted(frame_flags - set(flags))
    where = [(f, i, f"follicle {i}") for f in FOLLICLE_FLAGS for i in raised[f]]
    if record.is_sweep:  # which follicle or frame of the sweep raised each network flag
        for i, t in enumerate(tracks, start=1):
            frames = frame_words(t.first_frame, t.last_frame)
            where += [(f, i, f"follicle {i} on {frames}") for f in sorted(t.flags)]
        if ovary is not None:
            ovary_where = sorted(ovary_flags) + ([FLAG_OVARY_AT_EDGE] if ovary.at_edge else [])
            where += [(f, 0, f"the ovary's {frame_words(ovary.frame_index)}") for f in ovary_where]
    key = {f.best.frame_index for f in follicles}
    if ovary is not None:
        key.add(ovary.frame_index)
    # a key frame shows sections of follicles measured on other frames too (the DICOM SEG draws
    # them), and of candidates (a review accepting one draws them: report/reviewed_seg.py)
    seen_in = tuple((i, s) for i, t in enumerate([*tracks, *doubtful], start=1) for s in t.sections if s.frame_index in key)
    result = ImageResult(
        record=record,
        path=record.path if path is None else path,
        status="ok",
        follicles=follicles,
        ovary=ovary,
        ovary_d3_mm=ovary_d3,
        ovary_volume_ml=ovary_volume,
        key_frames=tuple(sorted(key)),
        flags=tuple(flags),
        unreported=unreported,
        unsure=unsure,
        flag_where=tuple(where),
        seen_in=seen_in,
    )
    return result, every


def largest_confirmed(sections: Sequence[tuple[Section, T]]) -> tuple[Section, T]:
    """The ovary's largest cross-section in a sweep that an adjacent frame confirms (our reading of
    SPEC's "largest cross-section" where the network's outline overruns single frames), with
    what goes with it: of each two sections on adjacent frames the smaller, and of those the
    largest; the largest section when no two frames are adjacent (a still).

    A true section grows and shrinks smoothly from frame to frame; one larger than both its
    neighbours by far is the network's outline running into the tissue on that frame only
    (measured in the README's "Agreement with truth").
    At a smooth peak the larger neighbour is taken: 1 frame off the centre of a 20 mm ovary in
    1 mm frames, 0.5 % short.
    """
    pairs = [min(a, b, key=lambda x: size_order(x[0])) for a, b in zip(sections, sections[1:])
             if b[0].frame_index == a[0].frame_index + 1]
    return max(pairs or sections, key=lambda x: size_order(x[0]))


def size_order(section: Section) -> tuple[float, ...]:
    """How the sections of a follicle or ovary rank by size: most pixels, then (of as many pixels)
    the larger mean diameter (:func:`_diameter`), d1 and score, so that which of two sections of
    one size a sweep's follicle is measured on does not hang on the order the frames come in (of
    two 78-pixel sections, 10.23 and 10.44 pixels across, the first seen was measured: played
    backwards, the other).

    >>> from follicle_seg.types import Section
    >>> size_order(Section(0, 5, 5, 78, 10.8, 9.7, None, None, None)) < size_order(Section(1, 5, 5, 78, 10.4, 10.4, None, None, None))
    True
    """
    return (section.area_px, _diameter(section), section.d1_px, section.score)


def third_axis(n_frames: int, frame_spacing: float | None, d2_mm: float | None, at_sweep_end: bool) -> float | None:
    """The extent across a sweep's frames of a structure seen on ``n_frames`` of them, ``None``
    without a frame spacing; at least ``d2`` when it reaches the sweep's first or last frame
    (cut by the sweep's end, the frames are a lower bound).

    >>> third_axis(1, 1.0, 11.3, True), third_axis(12, 1.0, 11.3, True), third_axis(3, 1.0, 11.3, False)
    (11.3, 12.0, 3.0)
    """
    if not frame_spacing:
        return None
    seen = n_frames * frame_spacing
    return max(seen, d2_mm) if at_sweep_end and d2_mm is not None else seen


def frame_words(first: int, last: int | None = None) -> str:
    """Frames ``first`` to ``last`` (0-based) as the overlays' headers say them: numbered from 1
    as a viewer does, with the 0-based ``frame_index`` of the tables and file names (``_f004``).

    >>> frame_words(4), frame_words(3, 5)
    ('frame 5 (index 4)', 'frames 4-6 (index 3-5)')
    """
    if last is None or last == first:
        return f"frame {first + 1} (index {first})"
    return f"frames {first + 1}-{last + 1} (index {first}-{last})"


def measured_follicle(
    follicle_id: int, sop_uid: str, best: Section, n_frames: int = 1, frame_spacing: float | None = None,
    *, at_sweep_end: bool = False, kind: str = "",
) -> Follicle:
    """A follicle seen on ``n_frames`` frames, measured on its largest section ``best``: the third
    axis from the frames and their spacing when known, else the volume's from ``d2`` (a still).
    A follicle seen on the first or last frame of its sweep (``at_sweep_end``) may go on past it:
    the frames give a lower bound, so its third axis is the larger of that and ``d2`` (one seen
    on the sweep's first frame only had a third axis of one frame's spacing). ``kind``: a review
    candidate's (:data:`KIND_UNSURE`, :data:`KIND_TUBE`), empty for a reported follicle."""
    d3 = third_axis(n_frames, frame_spacing, best.d2_mm, at_sweep_end)
    volume = None
    if best.d1_mm is not None and best.d2_mm is not None:
        volume = ellipsoid_volume_ml(best.d1_mm, best.d2_mm, d3 if d3 is not None else best.d2_mm)
    return Follicle(
        follicle_id=follicle_id,
        sop_instance_uid=sop_uid,
        best=best,
        n_frames=n_frames,
        d3_mm=d3,
        volume_ml=volume,
        kind=kind,
    )


def _linkable(t: Track, s: Section, crop: tuple[np.ndarray, tuple[int, int]], spacing: tuple[float, float]) -> bool:
    """Whether section ``s`` (``crop``) may go on track ``t``: they overlap or lie close."""
    near = _distance(t.last, s, spacing) <= MAX_CENTROID_FRACTION * min(_diameter(t.last), _diameter(s))
    return near or _iou(t.mask, t.origin, *crop) >= MIN_IOU


def _pieces(a: Track, b: Track) -> bool:
    """Whether tracks ``a`` and ``b`` are pieces of one follicle's section seen apart on at most
    :data:`MAX_SPLIT_FRAMES` frames: one split off the other (or off a piece of it)."""
    return (_split_off(a, b) or _split_off(b, a)) and _apart(a, b) <= MAX_SPLIT_FRAMES


def _seen_together(a: Track, b: Track) -> bool:
    """Whether tracks ``a`` and ``b``, neither split off another, were first seen on one frame and
    apart on at most :data:`MAX_SPLIT_FRAMES` frames: pieces of a follicle's first section (nothing
    before to split off), or two follicles that a section joins after."""
    together = a.first_frame == b.first_frame and a.split_from is None and b.split_from is None
    return together and _apart(a, b) <= MAX_SPLIT_FRAMES


def _lies_in(piece: Crop, beside: Crop | None, other: Crop) -> bool:
    """Whether section ``piece`` lies in ``other``, a section of a frame either side, as a piece
    of that follicle does: :data:`MIN_INSIDE` of its pixels in it, or, seen ``beside`` another
    section of its frame (the other piece), at least :data:`MIN_INSIDE` as much as the two
    together, while they overlap ``other`` as a follicle's next section does (IoU >=
    :data:`MIN_IOU`). Where a follicle grows or shrinks fast (its first and last frames), a piece
    lies mostly outside its smaller section beside it, as its whole section does: halves of 81
    pixels of a 177-pixel section each lie 0.48 in the 89-pixel section next to it."""
    inside = _inside(*piece, *other)
    if inside >= MIN_INSIDE or beside is None:
        return inside >= MIN_INSIDE
    both = _union(piece, beside)
    return _iou(*both, *other) >= MIN_IOU and inside >= MIN_INSIDE * _inside(*both, *other)


def _split_off(a: Track, b: Track) -> bool:
    """Whether ``a`` was split off ``b`` or off a track split off it."""
    t = a.split_from
    while t is not None and t is not b:
        t = t.split_from
    return t is b


def _apart(a: Track, b: Track) -> int:
    """Frames on which ``a`` and ``b`` were both seen, from the later first to ``a``'s last."""
    return a.last_frame - max(a.first_frame, b.first_frame) + 1


def _instance_crops(m: FrameMeasurement) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Each follicle's mask cropped to its box (region grid) with the box's top-left corner."""
    if m.instances is None:
        raise ValueError(f"frame {m.frame_index} has no instance map to track follicles with")
    boxes = find_boxes(m.instances, max_label=len(m.follicles))
    crops = []
    for k, box in enumerate(boxes, start=1):
        if box is None:
            raise ValueError(f"frame {m.frame_index}: follicle {k} is missing from the instance map")
        crops.append((m.instances[box] == k, (box[0].start, box[1].start)))
    return crops


def _box_crops(m: FrameMeasurement) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Each follicle as the ellipse inscribed in its box, with the box's top-left corner."""
    crops = []
    for s in m.follicles:
        r0, c0, r1, c1 = s.bbox
        h, w = max(1, r1 - r0), max(1, c1 - c0)
        rr, cc = np.ogrid[:h, :w]
        inside = ((rr + 0.5 - h / 2) / (h / 2)) ** 2 + ((cc + 0.5 - w / 2) / (w / 2)) ** 2 <= 1.0
        crops.append((inside, (r0, c0)))
    return crops


def _union(a: Crop, b: Crop) -> Crop:
    """Two cropped masks as one, cropped to the box holding both."""
    (ma, (ra, ca)), (mb, (rb, cb)) = a, b
    r0, c0 = min(ra, rb), min(ca, cb)
    both = np.zeros((max(ra + ma.shape[0], rb + mb.shape[0]) - r0, max(ca + ma.shape[1], cb + mb.shape[1]) - c0), bool)
    both[ra - r0 : ra - r0 + ma.shape[0], ca - c0 : ca - c0 + ma.shape[1]] |= ma
    both[rb - r0 : rb - r0 + mb.shape[0], cb - c0 : cb - c0 + mb.shape[1]] |= mb
    return both, (r0, c0)


def _iou(a: np.ndarray, a0: tuple[int, int], b: np.ndarray, b0: tuple[int, int]) -> float:
    """Intersection over union of two cropped masks placed at their origins."""
    inter = _intersection(a, a0, b, b0)
    union = int(a.sum()) + int(b.sum()) - inter
    return inter / union if union else 0.0


def _inside(a: np.ndarray, a0: tuple[int, int], b: np.ndarray, b0: tuple[int, int]) -> float:
    """The fraction of cropped mask ``a``'s pixels inside ``b`` (each placed at its origin)."""
    size = int(a.sum())
    return _intersection(a, a0, b, b0) / size if size else 0.0


def _intersection(a: np.ndarray, a0: tuple[int, int], b: np.ndarray, b0: tuple[int, int]) -> int:
    """Pixels two cropped masks placed at their origins share."""
    r0, c0 = max(a0[0], b0[0]), max(a0[1], b0[1])
    r1 = min(a0[0] + a.shape[0], b0[0] + b.shape[0])
    c1 = min(a0[1] + a.shape[1], b0[1] + b.shape[1])
    if r1 <= r0 or c1 <= c0:
        return 0
    wa = a[r0 - a0[0] : r1 - a0[0], c0 - a0[1] : c1 - a0[1]]
    wb = b[r0 - b0[0] : r1 - b0[0], c0 - b0[1] : c1 - b0[1]]
    return int(np.count_nonzero(wa & wb))


def _spacing(record: ImageRecord) -> tuple[float, float]:
    cal = record.calibration
    if cal.calibrated:
        assert cal.spacing_row_mm is not None and cal.spacing_col_mm is not None  # (calibrated)
        return float(cal.spacing_row_mm), float(cal.spacing_col_mm)
    return 1.0, 1.0


def _distance(a: Section, b: Section, spacing: tuple[float, float]) -> float:
    """Centroid distance in mm (pixels when uncalibrated)."""
    return math.hypot(
        (a.centroid_row - b.centroid_row) * spacing[0], (a.centroid_col - b.centroid_col) * spacing[1]
    )


def _diameter(s: Section) -> float:
    """Mean diameter in the unit of :func:`_distance` (mm, or pixels when uncalibrated)."""
    mean_mm = s.mean_diameter_mm
    return mean_mm if mean_mm is not None else s.mean_diameter_px
