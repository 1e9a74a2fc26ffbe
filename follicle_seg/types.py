"""Frozen records handed from one stage to the next.

Data flows one way::

    io (ImageRecord, Frame) -> model (FrameSegmentation) -> measure (FrameMeasurement)
      -> tracking (Follicle) -> visits (tables)

Conventions used everywhere:

* pixel coordinates are (row, column) of the *source frame* (the full DICOM frame), 0-based;
* a region is ``(min_col, min_row, max_col, max_row)``, inclusive bounds, as the DICOM
  Sequence of Ultrasound Regions writes it (RegionLocationMinX0, MinY0, MaxX1, MaxY1);
* ``spacing_row_mm`` is the distance between rows (PhysicalDeltaY), ``spacing_col_mm``
  the distance between columns (PhysicalDeltaX); both ``None`` when uncalibrated;
* ``study_date`` is ``YYYY-MM-DD`` or ``""``; laterality is ``"L"``, ``"R"`` or ``"U"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

BACKGROUND, OVARY, FOLLICLE = 0, 1, 2


@dataclass(frozen=True)
class Calibration:
    """Physical size of a pixel and where the figure came from."""

    spacing_row_mm: float | None
    spacing_col_mm: float | None
    source: str  # "ultrasound_region" | "PixelSpacing" | "ImagerPixelSpacing" | "none"

    @property
    def calibrated(self) -> bool:
        return self.spacing_row_mm is not None and self.spacing_col_mm is not None


UNCALIBRATED = Calibration(None, None, "none")


@dataclass(frozen=True)
class Pane:
    """One image pane of a dual (or quad) display: its region and that region's calibration."""

    region: tuple[int, int, int, int]  # (min_col, min_row, max_col, max_row), inclusive
    calibration: Calibration


@dataclass(frozen=True)
class Identity:
    """Whose image, of which visit and side, a file rejected after its header was read is: its
    ``images.csv`` row says so, and the ovary-visit that lost it can say why."""

    sop_instance_uid: str
    patient_id: str
    study_date: str
    laterality: str  # "L", "R" or "U"


@dataclass(frozen=True)
class ImageRecord:
    """What ingestion learnt about one DICOM file (one row of ``images.csv``)."""

    path: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    patient_id: str
    study_instance_uid: str
    study_date: str
    series_instance_uid: str
    series_description: str
    laterality: str
    laterality_source: str  # "ImageLaterality" | "Laterality" | "SeriesDescription" | "ImageComments" | "none"
    n_frames: int
    rows: int
    columns: int
    photometric: str
    transfer_syntax: str
    calibration: Calibration
    region: tuple[int, int, int, int]  # (min_col, min_row, max_col, max_row), inclusive
    region_source: str  # "ultrasound_region" | "auto"
    frame_time_ms: float | None = None
    frame_spacing_mm: float | None = None  # distance between consecutive sweep frames, when known
    manufacturer: str = ""
    instance_number: int | None = None  # InstanceNumber (0020,0013)
    acquired_s: float | None = None  # acquisition time, seconds since 1970 (naive), when known
    other_panes: tuple[Pane, ...] = ()  # the display's other image panes (a dual display), in pane order
    pane: int = 0  # which pane of the display ``region`` is (0: the largest, the first of equal ones)
    date_tag: str = ""  # the tag ``study_date`` was read from (StudyDate, else a later one); "" none
    own_date: str | None = None  # once ``study_date`` holds its study's day: the date read ("" none)
    note: str = ""  # what the results' reader should know of how it was read (images.csv's reason of an ok row)

    @property
    def is_sweep(self) -> bool:
        return self.n_frames > 1

    @property
    def n_panes(self) -> int:
        return 1 + len(self.other_panes)

    def pane_records(self) -> tuple[ImageRecord, ...]:
        """One record per image pane of the display, in pane order, each with its own region and
        calibration (this record alone for a single-pane image). Each pane's ``other_panes`` are
        the panes it is not, in pane order.
        """
        panes = [Pane(self.region, self.calibration), *self.other_panes]
        if self.pane != 0:
            raise ValueError("pane_records() of a record that is not the display's first pane")
        return tuple(
            replace(self, region=p.region, calibration=p.calibration, pane=k,
                    other_panes=tuple(q for j, q in enumerate(panes) if j != k))  # fmt: skip
            for k, p in enumerate(panes)
        )

    @property
    def region_shape(self) -> tuple[int, int]:
        c0, r0, c1, r1 = self.region
        return (r1 - r0 + 1, c1 - c0 + 1)


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame: grey pixels of the ultrasound region only.

    ``pixels`` is a 2-D ``uint8`` array of shape ``record.region_shape``; its pixel (0, 0) is the
    source-frame pixel ``(record.region[1], record.region[0])``. ``colour``: bool, the same grid,
    its pixels stored in colour (``io.grey.colour_pixels``: calipers, marks or text a scanner
    draws in colour, a Doppler box); ``None`` when it has none (a grey file: most).
    """

    record: ImageRecord
    index: int  # 0-based frame number within the file
    pixels: np.ndarray
    flags: tuple[str, ...] = ()  # what decoding saw (:data:`COLOUR_IN_SCAN`), joined to the network's
    colour: np.ndarray | None = None


#: A frame whose scan area is partly in colour (colour Doppler flow, say): made grey by its luma,
#: blue flow reads as dark as fluid (``io.grey.COLOUR_SHARE``).
COLOUR_IN_SCAN = "colour in the scan"
#: A frame whose kept ovary region is the one the sonographer's calipers touch, or the ellipse of
#: their two crossing diameters, where, without them, a region of the network's elsewhere (scored
#: higher, in this reading or another), or none, would have been kept; a frame where no ovary is
#: kept is not flagged (``infer.Segmenter.segment``, docs/model.md "Inference").
OVARY_BY_CALIPERS = "ovary by calipers"
#: The network's out-of-distribution flags of a frame (``FrameSegmentation.flags``), named apart
#: from the pipeline's own ("low confidence" of an unsure candidate, "no ovary found").
NET_NO_OVARY = "network: no ovary"
NET_LOW_CONFIDENCE = "network: unsure"
NET_IMPLAUSIBLE_SHAPE = "network: follicle shape"


@dataclass(frozen=True, eq=False)
class FrameSegmentation:
    """Network output for one frame, on the region grid of ``Frame.pixels``.

    ``labels``: uint8, 0 background / 1 ovary / 2 follicle.
    ``follicle_prob``: float32 probability of the follicle class (for per-follicle scores).
    ``ovary_prob``: float32 probability of ovary-or-follicle (ovary including its follicles).
    ``flags``: reasons the frame looks unlike the training data (e.g. ``"network: unsure"``),
    what decoding saw (:data:`COLOUR_IN_SCAN`) and :data:`OVARY_BY_CALIPERS`; empty when none
    holds. The pipeline turns any flag into ``needs_review``.
    ``scan``: bool, the pixels inside the scan area (the fan, not the black around it); ``None``
    when the whole region grid is scan area.
    ``look``: a sweep's frame as :func:`~follicle_seg.passes.frame_look` keeps it (the structure
    of its log grey level over 2 mm cells, and which of its cells lie in the scan area), to tell where a cine turns back; ``None`` for a still.
    ``graphics``: the frame's burned-in graphics (its pixels in colour, ``Frame.colour``, and the
    caliper marks on its grey pixels around the follicles: :func:`~follicle_seg.io.marks.graphics_pixels`),
    which the network sees as they are and a follicle's dent is measured past
    (:func:`~follicle_seg.measure.measure_frame`); ``None`` when it has none.
    """

    record: ImageRecord
    index: int
    labels: np.ndarray
    follicle_prob: np.ndarray
    ovary_prob: np.ndarray
    flags: tuple[str, ...] = ()  # out-of-distribution / low-confidence reasons (needs review)
    scan: np.ndarray | None = None
    look: tuple[np.ndarray, np.ndarray] | None = None
    graphics: np.ndarray | None = None


@dataclass(frozen=True)
class Network:
    """Which network made a run's results: its bundle's version (``configs/metadata.json``), the
    first 16 hex digits of its weights' SHA-256 (a fine-tuned copy may keep the version) and
    those of its ``network_def``'s (:func:`~follicle_seg.model.metadata.network_def_sha256`: the
    same weights built another way give other label maps)."""

    version: str
    weights_sha256: str
    network_def: str


@dataclass(frozen=True)
class Section:
    """One structure (follicle or ovary) as cut by one frame.

    Lengths are in mm when the frame is calibrated, else ``None`` (``*_px`` always set).
    Centroid in source-frame pixels.
    """

    frame_index: int
    centroid_row: float
    centroid_col: float
    area_px: int
    d1_px: float
    d2_px: float
    d1_mm: float | None
    d2_mm: float | None
    area_mm2: float | None
    score: float = 1.0  # mean network probability of the class inside the section
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)  # (min_row, min_col, max_row, max_col) exclusive max, source grid
    at_edge: bool = False  # reaches the edge of the scan area: cut by it, larger than measured
    dent_px: float = 0.0  # how deep the outline dents into its convex hull (measure.deepest_dent)
    dent_mm: float | None = None  # the same in mm (None uncalibrated)

    @property
    def mean_diameter_mm(self) -> float | None:
        if self.d1_mm is None or self.d2_mm is None:
            return None
        return (self.d1_mm + self.d2_mm) / 2.0

    @property
    def mean_diameter_px(self) -> float:
        return (self.d1_px + self.d2_px) / 2.0


@dataclass(frozen=True, eq=False)
class FrameMeasurement:
    """Follicles and ovary measured on one frame.

    ``instances`` is an int32 image on the region grid (0 none, k = ``follicles[k-1]``), kept for
    tracking by overlap and for overlays; ``ovary`` is the largest ovary section or ``None``.
    """

    record: ImageRecord
    frame_index: int
    follicles: tuple[Section, ...]
    ovary: Section | None
    instances: np.ndarray | None = None
    flags: tuple[str, ...] = ()


#: The kinds of review candidate (``Follicle.kind`` of ``ImageResult.unsure``): unsure of the
#: network, or a tube through a sweep (``tracking.KIND_UNSURE``, ``tracking.KIND_TUBE``).
CANDIDATE_KINDS = ("unsure", "tube")


@dataclass(frozen=True)
class Follicle:
    """A follicle of one image or sweep, measured on its largest section (a ``follicles.csv`` row)."""

    follicle_id: int  # 1..n within its image, largest first
    sop_instance_uid: str
    best: Section
    n_frames: int
    d3_mm: float | None  # third axis from the sweep, when the frame spacing is known
    volume_ml: float | None
    # a review candidate's kind (``ImageResult.unsure``; tracking.KIND_UNSURE or KIND_TUBE), decided
    # where it is made; empty for a reported follicle
    kind: str = ""

    @property
    def mean_diameter_mm(self) -> float | None:
        return self.best.mean_diameter_mm


#: How the reason of a file rejected as another's duplicate begins (decided again each run): its
#: image is analysed, under the other path.
DUPLICATE = "duplicate SOP instance"
#: What a duplicate's reason says when it holds another image than the analysed file's (its pixel
#: data differ, or the two could not be decoded to compare): its image is not analysed anywhere.
DIFFERENT_IMAGE = "a different image"
#: How the reason of a file that is an IHE IOCM rejection note begins (:mod:`follicle_seg.io.rejection`;
#: read again each run, for the images it lists).
REJECTION_NOTE = "a rejection note"
#: How the reason of an image such a note lists begins (decided again each run): not analysed, its
#: ovary-visit not flagged for it (withdrawn by the sonographer, as if it were not there).
REJECTED_BY_NOTE = "rejected by key object note"


@dataclass(frozen=True)
class ImageResult:
    """Everything the pipeline keeps about one input file after analysis."""

    record: ImageRecord | None
    path: str
    status: str  # "ok" | "rejected" | "failed"
    reason: str = ""
    follicles: tuple[Follicle, ...] = ()
    ovary: Section | None = None  # largest ovary section of the image / sweep
    ovary_d3_mm: float | None = None
    ovary_volume_ml: float | None = None
    key_frames: tuple[int, ...] = ()  # frames shown in overlays
    flags: tuple[str, ...] = field(default_factory=tuple)  # review reasons
    # a still's follicle sections left out (under 2 mm or unsure), kept so that stills joined
    # into one sweep (follicle_seg.series) are tracked as the frames of a cine are
    unreported: tuple[Section, ...] = ()
    # follicles of counted size the network was unsure of (score tracking.LOW_CONFIDENCE_SCORE
    # up to MIN_FOLLICLE_SCORE), then a sweep's tubes (tracking.is_tube), each with its ``kind``,
    # numbered on after ``follicles``: not reported, shown on the overlays so that the "low
    # confidence" and "tube through the sweep" review flags can be checked, and a reviewer may
    # accept them (follicle_seg.review)
    unsure: tuple[Follicle, ...] = ()
    # a sweep's network flags, each with the follicle (its id; 0 for the ovary) and where it was
    # raised ("follicle 2 on frames 3-9 (index 2-8)", "the ovary's frame 13 (index 12)", frames
    # numbered from 1 as a viewer does, with the tables' 0-based index): the review reason says it
    flag_where: tuple[tuple[str, int, str], ...] = ()
    # a file rejected after its header was read: whose, when and which side (record is None)
    identity: Identity | None = None
    # every section of the reported follicles on the key frames, with its follicle_id, then the
    # unsure candidates': a sweep's key frame shows follicles measured on other frames too, and
    # the DICOM SEG's follicle segment holds the reported follicles' pixels, not the unsure
    # candidates' or specks' (their outlines are kept, for a review accepting one); made
    # when the file is finished, not kept in the run state (a resumed result has none)
    seen_in: tuple[tuple[int, Section], ...] = ()
    # the outlines on the overlays' frames, as the DICOM SR draws them: (frame_index, follicle_id or
    # 0 for the ovary, (col, row, col, row, ...) in source pixels), the unsure candidates' too; kept
    # in the run state, so that a review writes the SR again without the network
    # (follicle_seg.report.reviewed_sr); a section in pieces gives each, the largest first; None
    # until the file is finished (follicle_seg.artefacts.with_outlines), and of a file not analysed
    outlines: tuple[tuple[int, int, tuple[int, ...]], ...] | None = None

    def __post_init__(self) -> None:
        if any(u.kind not in CANDIDATE_KINDS for u in self.unsure):  # the flags, worksheet and overlay words read it
            raise ValueError(f"{self.path}: a review candidate without its kind (unsure or tube)")

    def analysed_record(self) -> ImageRecord:
        """The record of a result that has one, for code handed only such results (an ok
        result's, an ovary-visit's images): a type checker then knows it is there."""
        assert self.record is not None, f"{self.path}: a result without a record"
        return self.record

    @property
    def whose(self) -> ImageRecord | Identity | None:
        """Whose image it is: its record, else the identity of a file rejected after its header was read."""
        return self.record if self.record is not None else self.identity

    @property
    def said(self) -> str:
        """``images.csv``'s reason: why a file was not analysed, or of an analysed one what its
        reader should know (an output not written, what ingestion noted of its header)."""
        note = self.record.note if self.record is not None else ""
        return "; ".join(words for words in (self.reason, note) if words)


def withdrawn_images(results: Iterable[ImageResult]) -> dict[str, tuple[ImageRecord | Identity, str]]:
    """The images a rejection note withdrew (their ``images.csv`` reason :data:`REJECTED_BY_NOTE` ...),
    by SOP instance UID: whose each is (:attr:`ImageResult.whose`) and that reason."""
    return {who.sop_instance_uid: (who, r.reason) for r in results
            if r.reason.startswith(REJECTED_BY_NOTE) and (who := r.whose) is not None}  # fmt: skip
