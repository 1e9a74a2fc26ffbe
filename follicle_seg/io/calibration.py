"""Pixel spacing of an ultrasound image: which region holds the image and how big its pixels are.

Pure functions on plain values (no pydicom): :mod:`follicle_seg.io.dicom` parses the tags into
:class:`UltrasoundRegion` items and calls these.

Rules (SPEC "Inputs"):

1. Among the Sequence of Ultrasound Regions (0018,6011) take the 2D (RegionSpatialFormat 1)
   tissue (RegionDataType 1) region with the largest area inside the frame; when no 2D region is
   tissue, the largest 2D region. A B-mode pane beside a Doppler strip gives the B-mode pane.
2. Its PhysicalDeltaX / PhysicalDeltaY in cm (PhysicalUnitsX/YDirection 3) give the spacing in
   mm, x (columns) and y (rows) kept apart.
3. Else PixelSpacing (0028,0030), else ImagerPixelSpacing (0018,1164), both ``[row, column]``
   in mm.
4. Else uncalibrated: a spacing is never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from follicle_seg.types import UNCALIBRATED, Calibration

SPATIAL_FORMAT_2D = 1
DATA_TYPE_TISSUE = 1
UNITS_CM = 3
#: Plausible pixel spacing of a clinical ultrasound image, mm per pixel (inclusive).
SPACING_RANGE_MM = (0.01, 2.0)
#: The deepest and the widest image region a calibration may give, mm: a transabdominal pelvic
#: scan reaches about 24 cm deep, its sector 30-35 cm wide there, while a spacing ten times too
#: large (mm written as cm) gives a metre.
MAX_REGION_DEPTH_MM, MAX_REGION_WIDTH_MM = 300.0, 500.0
#: Pixels an ultrasound region may reach past the frame (bounds one past the last pixel, as some
#: vendors write them); further out both down and across, the region was written for another
#: image size (``UltrasoundRegion.resized``).
REGION_OVERSHOOT_PX = 2


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of the Sequence of Ultrasound Regions, as plain values.

    Bounds are inclusive source-frame pixels (RegionLocationMinX0, MinY0, MaxX1, MaxY1);
    ``delta_x`` / ``delta_y`` are PhysicalDeltaX / Y in the units given by ``units_x`` /
    ``units_y`` (PhysicalUnitsX/YDirection; 3 = cm).
    """

    min_col: int
    min_row: int
    max_col: int
    max_row: int
    spatial_format: int | None = None
    data_type: int | None = None
    units_x: int | None = None
    units_y: int | None = None
    delta_x: float | None = None
    delta_y: float | None = None

    def clipped(self, n_rows: int, n_cols: int) -> tuple[int, int, int, int] | None:
        """Bounds ``(min_col, min_row, max_col, max_row)`` cut to the frame, ``None`` if outside."""
        c0, r0 = max(0, self.min_col), max(0, self.min_row)
        c1, r1 = min(n_cols - 1, self.max_col), min(n_rows - 1, self.max_row)
        if c1 < c0 or r1 < r0:
            return None
        return (c0, r0, c1, r1)

    def area_in_frame(self, n_rows: int, n_cols: int) -> int:
        """Number of frame pixels the region covers."""
        box = self.clipped(n_rows, n_cols)
        return 0 if box is None else box_area(box)

    def overshoot(self, n_rows: int, n_cols: int) -> tuple[int, int]:
        """Pixels the region reaches past the frame ``(down, across)``: its worst side along the
        rows and along the columns (0 when inside)."""
        return (max(0, -self.min_row, self.max_row - (n_rows - 1)), max(0, -self.min_col, self.max_col - (n_cols - 1)))

    def resized(self, n_rows: int, n_cols: int) -> bool:
        """Whether the region reaches more than :data:`REGION_OVERSHOOT_PX` past the frame both
        down and across: written for a larger image, shrunk since (an export resized after the scan
        keeps the scan's regions and physical deltas; pydicom's ``examples_ybr_color.dcm``, half
        its SonoSite original, does). Past it one way only, the image was cut (a band of rows
        cropped off, as in pydicom's ``examples_palette.dcm``): its pixels keep their size."""
        return min(self.overshoot(n_rows, n_cols)) > REGION_OVERSHOOT_PX


Box = tuple[int, int, int, int]
"""``(min_col, min_row, max_col, max_row)``, inclusive bounds."""


def box_area(box: Box) -> int:
    """Pixels of a box; 0 for an empty one (max below min)."""
    return max(0, box[2] - box[0] + 1) * max(0, box[3] - box[1] + 1)


def box_intersection(a: Box, b: Box) -> Box:
    """The box both cover (empty, area 0, when they do not meet)."""
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def misfit_regions(regions: Sequence[UltrasoundRegion], n_rows: int, n_cols: int) -> str:
    """A note naming the 2D regions written for a larger image (:meth:`UltrasoundRegion.resized`),
    "" when none. One such region means the image was shrunk since the scan: none of its regions
    is used (a sibling pane or colour box that fits the smaller frame was drawn on the larger
    one too: its deltas are as wrong).

    Examples
    --------
    >>> resized = UltrasoundRegion(80, 60, 559, 459, 1, 1, 3, 3, 0.01, 0.01)
    >>> misfit_regions([resized], 240, 320)
    'ultrasound region (80,60)-(559,459) reaches 220 rows and 240 columns past the 320x240 frame: no region of the file used (written for a larger image, resized since?)'
    """
    said = []
    for r in regions:
        if r.spatial_format == SPATIAL_FORMAT_2D and r.resized(n_rows, n_cols):
            down, across = r.overshoot(n_rows, n_cols)
            said.append(f"ultrasound region ({r.min_col},{r.min_row})-({r.max_col},{r.max_row}) reaches {down} rows and "
                        f"{across} columns past the {n_cols}x{n_rows} frame: no region of the file used (written for a "
                        "larger image, resized since?)")  # fmt: skip
    return "; ".join(said)


#: PhysicalUnitsX/YDirection codes (PS3.3 C.8.5.5.1.15) named in notes.
UNIT_NAMES = {0: "none", 1: "percent", 2: "dB", 3: "cm", 4: "seconds", 5: "hertz", 6: "dB/s", 7: "cm/s", 8: "cm2", 9: "cm2/s", 0xA: "cm3", 0xB: "cm3/s", 0xC: "degrees"}  # fmt: skip


def unused_regions(regions: Sequence[UltrasoundRegion], chosen: UltrasoundRegion | None, n_rows: int, n_cols: int) -> str:
    """A note naming the 2D regions the file gives that cannot be used, "" when none: those with
    no pixel of the frame (bounds past it or given the wrong way round), and the chosen one when its
    deltas give no pixel size (other units than cm, 0 or missing). Without the note such a file read
    uncalibrated, or its image found in the pixels, with no reason in ``images.csv``.

    Examples
    --------
    >>> swapped = UltrasoundRegion(300, 200, 10, 10, 1, 1, 3, 3, 0.02, 0.02)
    >>> unused_regions([swapped], None, 240, 320)
    'ultrasound region (300,200)-(10,10) holds no pixel of the 320x240 frame: not used'
    >>> percent = UltrasoundRegion(0, 0, 319, 239, 1, 1, 1, 1, 0.02, 0.02)
    >>> unused_regions([percent], percent, 240, 320)
    'ultrasound region (0,0)-(319,239) gives no pixel size (physical units percent x percent, not cm)'
    """
    said = [f"ultrasound region ({r.min_col},{r.min_row})-({r.max_col},{r.max_row}) holds no pixel of the "
            f"{n_cols}x{n_rows} frame: not used" for r in regions
            if r.spatial_format == SPATIAL_FORMAT_2D and r.area_in_frame(n_rows, n_cols) == 0]  # fmt: skip
    if chosen is not None and region_calibration(chosen) is None:
        if chosen.units_x != UNITS_CM or chosen.units_y != UNITS_CM:
            units = " x ".join(UNIT_NAMES.get(u, f"code {u}") if u is not None else "missing" for u in (chosen.units_x, chosen.units_y))
            why = f"physical units {units}, not cm"
        else:
            why = "physical deltas " + " x ".join("missing" if d is None else f"{d:g} cm" for d in (chosen.delta_x, chosen.delta_y))
        said.append(f"ultrasound region ({chosen.min_col},{chosen.min_row})-({chosen.max_col},{chosen.max_row}) gives no pixel size ({why})")
    return "; ".join(said)


def choose_region(
    regions: Sequence[UltrasoundRegion], n_rows: int, n_cols: int
) -> UltrasoundRegion | None:
    """Pick the region that holds the 2D image.

    Parameters
    ----------
    regions
        The items of the Sequence of Ultrasound Regions, in file order.
    n_rows, n_cols
        Frame size (Rows, Columns).

    Returns
    -------
    UltrasoundRegion or None
        The largest 2D tissue region inside the frame (the first of equal ones), else the largest
        2D region of another data type, else ``None``.

    Examples
    --------
    >>> bmode = UltrasoundRegion(0, 0, 399, 299, 1, 1, 3, 3, 0.02, 0.02)
    >>> doppler = UltrasoundRegion(0, 300, 399, 399, 3, 3, 4, 7, 0.01, 1.0)
    >>> choose_region([doppler, bmode], 400, 400) is bmode
    True
    """
    two_d = [
        r
        for r in regions
        if r.spatial_format == SPATIAL_FORMAT_2D and r.area_in_frame(n_rows, n_cols) > 0
    ]
    tissue = [r for r in two_d if r.data_type == DATA_TYPE_TISSUE]
    pool = tissue or two_d
    if not pool:
        return None
    best = max(r.area_in_frame(n_rows, n_cols) for r in pool)
    return next(r for r in pool if r.area_in_frame(n_rows, n_cols) == best)


#: Another 2D tissue region counts as an image pane of its own when it covers at least this share
#: of the chosen region's area and hardly overlaps it (a small reference image of a zoomed view and
#: a colour box inside the image do not count).
MIN_PANE_SHARE = 0.25
MAX_PANE_OVERLAP = 0.1


def other_panes(
    regions: Sequence[UltrasoundRegion], chosen: UltrasoundRegion, n_rows: int, n_cols: int
) -> tuple[UltrasoundRegion, ...]:
    """The image panes beside the chosen region, largest first: a dual or quad display.

    Other 2D tissue regions of at least :data:`MIN_PANE_SHARE` of the chosen one's area that
    overlap it and each other by at most :data:`MAX_PANE_OVERLAP`. Each pane is analysed as an
    image of its own.

    Examples
    --------
    >>> left = UltrasoundRegion(32, 24, 335, 415, 1, 1, 3, 3, 0.02, 0.02)
    >>> right = UltrasoundRegion(336, 24, 639, 415, 1, 1, 3, 3, 0.02, 0.02)
    >>> thumbnail = UltrasoundRegion(500, 300, 600, 400, 1, 1, 3, 3, 0.05, 0.05)
    >>> other_panes([left, right, thumbnail], left, 480, 640) == (right,)
    True
    """
    box = chosen.clipped(n_rows, n_cols)
    if box is None:
        return ()
    kept: list[tuple[Box, UltrasoundRegion]] = [(box, chosen)]
    candidates = [r for r in regions if r.spatial_format == SPATIAL_FORMAT_2D and r.data_type == DATA_TYPE_TISSUE]
    for r in sorted(candidates, key=lambda r: -r.area_in_frame(n_rows, n_cols)):
        other = r.clipped(n_rows, n_cols)
        if other is None or r is chosen or not r.area_in_frame(n_rows, n_cols):
            continue
        area = box_area(other)
        if area < MIN_PANE_SHARE * box_area(box):
            continue
        if all(box_area(box_intersection(other, k)) <= MAX_PANE_OVERLAP * min(area, box_area(k)) for k, _ in kept):
            kept.append((other, r))
    return tuple(r for _, r in kept[1:])


#: Pixel sizes of two regions within this share of each other are the same (deltas written with
#: other rounding).
SAME_SPACING = 0.01


def rival_regions(
    regions: Sequence[UltrasoundRegion], chosen: UltrasoundRegion, n_rows: int, n_cols: int
) -> str:
    """A note naming the regions that cover the chosen one's image with another pixel size, ""
    when none.

    A rival is another 2D region of the chosen one's data type over at least
    :data:`MAX_PANE_OVERLAP` of either's area, of at least :data:`MIN_PANE_SHARE` of the chosen
    one's (neither a pane beside it nor a zoom's small reference view), whose physical deltas in
    cm differ by more than :data:`SAME_SPACING`: a cine whose zoom changed while it was recorded
    keeps a region for each zoom, and which one holds for a frame is unknown. Such a file is read
    uncalibrated; taking the first region read every size of the other zoom's frames wrong.

    Examples
    --------
    >>> before = UltrasoundRegion(40, 30, 279, 229, 1, 1, 3, 3, 0.02, 0.02)
    >>> zoomed = UltrasoundRegion(40, 30, 279, 229, 1, 1, 3, 3, 0.03, 0.03)
    >>> rival_regions([before, zoomed], before, 240, 320)
    'ultrasound regions (40,30)-(279,229) at 0.2 x 0.2 mm/pixel and (40,30)-(279,229) at 0.3 x 0.3 mm/pixel cover the same image: its pixel size is unknown (zoom changed during the cine?), read uncalibrated'
    """
    box, own = chosen.clipped(n_rows, n_cols), region_calibration(chosen)
    if box is None or own is None:
        return ""
    said = []
    for r in regions:
        other, theirs = r.clipped(n_rows, n_cols), region_calibration(r)
        if r is chosen or other is None or theirs is None or r.spatial_format != SPATIAL_FORMAT_2D:
            continue
        if r.data_type != chosen.data_type or box_area(other) < MIN_PANE_SHARE * box_area(box):
            continue
        if box_area(box_intersection(box, other)) <= MAX_PANE_OVERLAP * min(box_area(box), box_area(other)):
            continue
        if _same_spacing(own, theirs):
            continue
        said.append(f"({r.min_col},{r.min_row})-({r.max_col},{r.max_row}) at {_spacing_words(theirs)}")
    if not said:
        return ""
    return (f"ultrasound regions ({chosen.min_col},{chosen.min_row})-({chosen.max_col},{chosen.max_row}) at "
            f"{_spacing_words(own)} and {' and '.join(said)} cover the same image: its pixel size is unknown "
            "(zoom changed during the cine?), read uncalibrated")  # fmt: skip


def _same_spacing(a: Calibration, b: Calibration) -> bool:
    pairs = ((a.spacing_row_mm, b.spacing_row_mm), (a.spacing_col_mm, b.spacing_col_mm))
    return all(x is not None and y is not None and abs(x - y) <= SAME_SPACING * max(x, y) for x, y in pairs)


def _spacing_words(calibration: Calibration) -> str:
    return f"{calibration.spacing_row_mm:g} x {calibration.spacing_col_mm:g} mm/pixel"


def region_calibration(region: UltrasoundRegion) -> Calibration | None:
    """Spacing in mm from a region's physical deltas, or ``None`` when they are not in cm.

    Deltas of 0 (or missing) give ``None``; a negative one is a distance counted the other way
    (PS3.3 C.8.5.5.1.1: the physical value per *positive* pixel increment, so an axis drawn
    upwards or leftwards has a negative delta) and gives its magnitude; NaN or infinite ones
    are kept, for :func:`implausible_spacing` to reject.

    Examples
    --------
    >>> region_calibration(UltrasoundRegion(0, 0, 9, 9, 1, 1, 3, 3, 0.02, 0.03))
    Calibration(spacing_row_mm=0.3, spacing_col_mm=0.2, source='ultrasound_region')
    >>> region_calibration(UltrasoundRegion(0, 0, 9, 9, 1, 1, 3, 3, 0.02, -0.03)).spacing_row_mm
    0.3
    """
    if region.units_x != UNITS_CM or region.units_y != UNITS_CM:
        return None
    if not region.delta_x or not region.delta_y:  # missing or 0: no spacing given
        return None
    return Calibration(
        spacing_row_mm=round(abs(region.delta_y) * 10.0, 12),
        spacing_col_mm=round(abs(region.delta_x) * 10.0, 12),
        source="ultrasound_region",
    )


def spacing_calibration(spacing: Sequence[float] | None, source: str) -> Calibration | None:
    """Calibration from a ``[row, column]`` spacing in mm (PixelSpacing, ImagerPixelSpacing).

    Returns ``None`` when the value is missing, not two numbers, or 0 (no spacing given). A
    negative, NaN or infinite value is returned as it is, for :func:`implausible_spacing` to
    reject.
    """
    if spacing is None or len(spacing) != 2:
        return None
    row, col = float(spacing[0]), float(spacing[1])
    if row == 0 or col == 0:  # no spacing given
        return None
    return Calibration(spacing_row_mm=row, spacing_col_mm=col, source=source)


def choose_calibration(
    region: UltrasoundRegion | None,
    pixel_spacing: Sequence[float] | None,
    imager_pixel_spacing: Sequence[float] | None,
) -> Calibration:
    """Apply the rules of the module docstring in order; never guesses a spacing."""
    candidates = (
        region_calibration(region) if region is not None else None,
        spacing_calibration(pixel_spacing, "PixelSpacing"),
        spacing_calibration(imager_pixel_spacing, "ImagerPixelSpacing"),
    )
    return next((c for c in candidates if c is not None), UNCALIBRATED)


def implausible_spacing(calibration: Calibration) -> str | None:
    """A one-line reason when a calibrated spacing is outside :data:`SPACING_RANGE_MM`."""
    if not calibration.calibrated:
        return None
    lo, hi = SPACING_RANGE_MM
    for axis, value in (
        ("rows", calibration.spacing_row_mm),
        ("columns", calibration.spacing_col_mm),
    ):
        if value is not None and not lo <= value <= hi:
            return (
                f"absurd calibration: {value:g} mm between {axis} from {calibration.source} "
                f"(expected {lo:g}-{hi:g} mm/pixel)"
            )
    return None


def implausible_extent(calibration: Calibration, box: Box) -> str | None:
    """A one-line reason when a calibrated image region ``box`` would be deeper than
    :data:`MAX_REGION_DEPTH_MM` or wider than :data:`MAX_REGION_WIDTH_MM`: its spacing is within
    :data:`SPACING_RANGE_MM` but wrong.

    Examples
    --------
    >>> implausible_extent(Calibration(1.5, 1.5, "ultrasound_region"), (0, 0, 319, 239))
    'absurd calibration: the image region would be 36 cm deep at 1.5 mm/pixel from ultrasound_region (at most 30 cm)'
    >>> implausible_extent(Calibration(0.15, 0.15, "ultrasound_region"), (0, 0, 319, 239)) is None
    True
    """
    if not calibration.calibrated:
        return None
    height, width = box[3] - box[1] + 1, box[2] - box[0] + 1
    for axis, pixels, spacing, most in (("deep", height, calibration.spacing_row_mm, MAX_REGION_DEPTH_MM),
                                        ("wide", width, calibration.spacing_col_mm, MAX_REGION_WIDTH_MM)):  # fmt: skip
        if spacing is not None and pixels * spacing > most:
            return (
                f"absurd calibration: the image region would be {pixels * spacing / 10:.0f} cm {axis} at "
                f"{spacing:g} mm/pixel from {calibration.source} (at most {most / 10:g} cm)"
            )
    return None

