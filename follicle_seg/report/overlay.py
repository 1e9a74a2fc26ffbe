"""Overlay PNGs a sonographer checks the numbers against.

One overlay shows the ultrasound region of one frame, upscaled by whole factors (nearest
neighbour, so every source pixel stays a block and outlines stay exactly aligned): one factor for
square pixels; on pixels that are not square a row factor and a column factor whose ratio is the
closest to the pixel's (a millimetre drawn about as long down as across, see :func:`layout_for`):

* a header band: pseudonymous patient id, visit date, side, SOP Instance UID tail, frame (of a
  still that is a frame of a sweep stored one file per frame, its place in that sweep),
  calibration (never the patient name);
* the ovary outline and each follicle's outline, coloured by size class;
* each follicle's label ``<follicle_id>  7.8 mm (8.1 x 7.4)`` (its mean diameter, as the tables
  and the report give it, then d1 x d2; pixels when uncalibrated) in a white box next to the
  follicle, never over any follicle, with a leader line when it had to move away;
* candidates, not reported: follicles the network was unsure of (the "low confidence" review
  flag) and tubes through a sweep (``tracking.is_tube``, "tube through the sweep") outlined
  dashed in blue and labelled ``4?  11.3 mm (12.0 x 10.6), unsure 0.72`` or ``..., tube? 0.95``
  (their number, after the follicles', their size, kind and score), the number a reviewer
  names to accept or reject one;
* each follicle's d1 and d2 drawn where they were measured: two lines in its outline's colour,
  from outline to outline (the program's calipers; the scanner's own burned-in ones are white);
* on the frame the ovary's size is measured on, its diameters in the header;
* a footer band: colour legend and a scale bar in mm (calibrated images only); where the
  whole factors leave the drawn shape more than 3 % taller or wider than it is, the header says
  so and a vertical scale bar stands beside it.

Outlines are the inner boundary of each mask: a drawn outline pixel always maps back to a mask
pixel with an 8-neighbour outside the mask on the source grid (see :func:`boundary_mask`).
Outline colours are saturated; labels, leader lines and the image are grey or white, so every
saturated pixel inside the image area belongs to an outline or to a follicle's calipers (inside
its convex hull).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from follicle_seg.errors import printable
from follicle_seg.measure import feret_chords
from follicle_seg.review import uid_tail
from follicle_seg.series import place_words
from follicle_seg.tracking import KIND_TUBE, KIND_UNSURE, score_text
from follicle_seg.types import Follicle, ImageRecord, Section
from follicle_seg.visits import one_decimal, shown_mm, size_class

#: Outline colour and legend text per size class of :func:`follicle_seg.visits.size_class`
#: (``""``: under 2 mm, not counted).
SIZE_CLASS_COLOURS: dict[str, tuple[tuple[int, int, int], str]] = {
    "": ((150, 150, 255), "<2 mm"),
    "2-5": ((0, 220, 255), "2-5 mm"),
    "5-10": ((40, 255, 40), "5-10 mm"),
    "10-14": ((255, 255, 0), "10-14 mm"),
    "14-18": ((255, 140, 0), "14-18 mm"),
    ">=18": ((255, 30, 30), ">=18 mm"),
}
UNCALIBRATED_COLOUR = (120, 255, 200)
OVARY_COLOUR = (230, 60, 255)
# dashed: a candidate (unsure, or a tube), not counted ((40, 90, 255) vanished on dark tissue)
UNSURE_COLOUR = (70, 130, 255)
_UNSURE_ID0 = 1 << 20  # label ids of unsure follicles, apart from every follicle_id
_UNSURE_LEGEND = "candidate, not counted"
#: What a candidate's label calls it, by its kind (``Follicle.kind``).
_CANDIDATE_WORD = {KIND_UNSURE: "unsure", KIND_TUBE: "tube?"}
_BACKGROUND = (24, 24, 24)  # header, footer and margins
_PARTING = (110, 110, 110)  # the line between the panes of a dual display

TARGET_LONG_SIDE = 900  # output pixels the region's long side is upscaled towards
MAX_SCALE = 4
# pixels that are not square: the factors may go this high, the long side up to MAX_LONG_SIDE
# (or the region's own long side when it is longer), to draw a millimetre as long down as across
MAX_SCALE_NOT_SQUARE = MAX_SCALE + 2
MAX_LONG_SIDE = 2 * TARGET_LONG_SIDE
SQUARE_TOLERANCE = 0.02  # a spacing ratio this close to 1 is square pixels: one factor
ASPECT_TOLERANCE = 0.03  # a drawn shape further off than this: said in the header, vertical scale bar
VERTICAL_BAR_MARGIN_PX = 64  # room right of the image for the vertical scale bar
MIN_CANVAS_WIDTH = 760  # room for the header and legend; the image is left-aligned
HEADER_PX = 56
TITLE_PX = 28  # the header's first line (patient, date, side)
SWEEP_LINE_PX = 20  # a sweep's header has a third line: where its follicles are drawn
FOOTER_PX = 44
_FONT_PX = 17
#: The fill of a follicle's label box (black outline, black text): the crops find the labels by it.
LABEL_FILL = (255, 255, 255)
_LABEL_PAD = 4
_LEADER_MIN_PX = 10


@dataclass(frozen=True)
class Layout:
    """Where the region's pixels land on the overlay: each a block of ``scale_row`` x
    ``scale_col`` output pixels, below ``top`` rows of header.

    ``aspect``: a millimetre's length drawn down over its length drawn across (1 on square
    pixels and uncalibrated images).
    """

    scale_row: int
    scale_col: int
    top: int
    height: int
    width: int
    canvas_width: int
    aspect: float

    @property
    def aspect_off(self) -> bool:
        """Whether shapes are drawn more than :data:`ASPECT_TOLERANCE` taller or wider than they are."""
        return _aspect_off(self.aspect)

    def to_source(self, y: np.ndarray, x: np.ndarray, record: ImageRecord) -> tuple[np.ndarray, np.ndarray]:
        """Source-frame ``(rows, columns)`` of overlay pixels ``(y, x)`` inside the image area."""
        c0, r0 = record.region[0], record.region[1]
        return (np.asarray(y) - self.top) // self.scale_row + r0, np.asarray(x) // self.scale_col + c0

    def to_overlay(self, row: float, col: float, record: ImageRecord) -> tuple[float, float]:
        """Overlay ``(y, x)`` of the centre of source-frame pixel ``(row, col)`` (the inverse of
        :meth:`to_source`)."""
        c0, r0 = record.region[0], record.region[1]
        return self.top + (row - r0 + 0.5) * self.scale_row, (col - c0 + 0.5) * self.scale_col


def layout_for(record: ImageRecord) -> Layout:
    """The overlay geometry of a record's region (whole upscale factors, header and footer).

    One factor brings the region's long side towards :data:`TARGET_LONG_SIDE` (at most
    :data:`MAX_SCALE`). On pixels that are not square (row and column spacing more than
    :data:`SQUARE_TOLERANCE` apart) rows and columns get factors of their own: those whose ratio
    is the closest to the spacings' (a millimetre drawn as long down as across), then the long
    side the closest to the one factor's. Where they leave the drawn shape more than
    :data:`ASPECT_TOLERANCE` off, the canvas has room right of the image for a vertical scale bar.
    """
    h, w = record.region_shape
    scale = int(min(MAX_SCALE, max(1, math.ceil(TARGET_LONG_SIDE / max(h, w)))))
    cal = record.calibration
    ratio = cal.spacing_row_mm / cal.spacing_col_mm if cal.spacing_row_mm and cal.spacing_col_mm else 1.0
    scale_row, scale_col = (scale, scale) if abs(ratio - 1) < SQUARE_TOLERANCE else _scales(h, w, scale, ratio)
    aspect = scale_row / scale_col / ratio
    width = w * scale_col
    top = HEADER_PX + (SWEEP_LINE_PX if record.is_sweep else 0)
    margin = VERTICAL_BAR_MARGIN_PX if _aspect_off(aspect) else 0
    return Layout(scale_row=scale_row, scale_col=scale_col, top=top, height=h * scale_row, width=width,
                  canvas_width=max(width + margin, MIN_CANVAS_WIDTH), aspect=aspect)  # fmt: skip


def _aspect_off(aspect: float) -> bool:
    return max(aspect, 1 / aspect) - 1 > ASPECT_TOLERANCE


def _scales(h: int, w: int, scale: int, ratio: float) -> tuple[int, int]:
    """Row and column factors of an ``h`` x ``w`` region whose pixels are ``ratio`` times as tall
    as wide: the drawn aspect the closest to true, the long side the closest to ``scale``'s (a
    long side twice as long for an aspect 7 % closer); each at most :data:`MAX_SCALE_NOT_SQUARE`,
    the long side at most :data:`MAX_LONG_SIDE` (or ``scale``'s, when longer).

    >>> _scales(200, 300, 3, 1.5), _scales(800, 1000, 1, 1.5), _scales(100, 100, 4, 1 / 1.5)
    ((6, 4), (2, 1), (2, 3))
    >>> _scales(200, 300, 3, 1.2), _scales(200, 300, 3, 1.1)  # 1.1: 6 x 5 is 9 % off, no better
    ((6, 5), (3, 3))
    """
    longest = max(MAX_LONG_SIDE, scale * max(h, w))
    pairs = [(a, b) for a in range(1, MAX_SCALE_NOT_SQUARE + 1) for b in range(1, MAX_SCALE_NOT_SQUARE + 1)
             if max(h * a, w * b) <= longest]  # fmt: skip

    def cost(pair: tuple[int, int]) -> float:
        off = abs(math.log(pair[0] / pair[1] / ratio))
        return off + 0.1 * abs(math.log(max(h * pair[0], w * pair[1]) / (scale * max(h, w))))

    return min(pairs, key=cost)


def size_class_colour(mean_diameter_mm: float | None) -> tuple[str, tuple[int, int, int]]:
    """Legend text and outline colour of a follicle's size class (``"px"`` when uncalibrated).

    Examples
    --------
    >>> size_class_colour(10.0)[0], size_class_colour(1.0)[0], size_class_colour(None)[0]
    ('10-14 mm', '<2 mm', 'px')
    """
    if mean_diameter_mm is None or not math.isfinite(mean_diameter_mm):
        return "px", UNCALIBRATED_COLOUR
    colour, text = SIZE_CLASS_COLOURS[size_class(mean_diameter_mm)]
    return text, colour


def boundary_mask(mask: np.ndarray) -> np.ndarray:
    """Inner boundary: mask pixels with at least one 8-neighbour outside the mask (or the grid)."""
    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, structure=np.ones((3, 3), bool), border_value=0)


def contour_source_pixels(mask: np.ndarray, record: ImageRecord) -> np.ndarray:
    """Source-frame ``(row, column)`` pixels of a region-grid mask's outline, shape ``(N, 2)``.

    These are the pixels the overlay colours for that mask (each as a block of the upscaled
    image); they lie on the mask boundary on the source grid by construction.
    """
    rows, cols = np.nonzero(boundary_mask(mask))
    return np.stack([rows + record.region[1], cols + record.region[0]], axis=1)


def render_overlay(
    pixels: np.ndarray,
    *,
    ovary_mask: np.ndarray | None,
    follicle_ids: np.ndarray,
    follicles: Sequence[Follicle],
    record: ImageRecord,
    frame_index: int,
    patient_label: str,
    unsure_ids: np.ndarray | None = None,
    unsure: Sequence[Follicle] = (),
    counted: bool = True,
    ovary: Section | None = None,
    in_sweep: tuple[int, int] | None = None,
) -> np.ndarray:
    """Render the review overlay of one frame (see the module docstring).

    Parameters
    ----------
    pixels
        ``uint8`` region crop, ``(H, W)`` grey or ``(H, W, 3)`` RGB, ``H, W = record.region_shape``.
    ovary_mask
        Ovary (including its follicles) on the region grid, or ``None``.
    follicle_ids
        ``int32`` region-grid map: the ``follicle_id`` of each follicle of ``follicles`` drawn on
        this frame, 0 elsewhere. Ids absent from ``follicles`` are not drawn.
    follicles
        The image's follicles; those whose largest section is on this frame are drawn and
        labelled. A sweep's header names the frames of the others (its third line), so that a
        follicle seen but not outlined on this frame is looked up on its own.
    record
        The source image (region, calibration, patient, date, side, SOP Instance UID).
    frame_index
        0-based frame shown.
    patient_label
        The pseudonymous patient id printed in the header.
    unsure_ids, unsure
        ``int32`` region-grid map, the ``follicle_id`` of each section on this frame of ``unsure``
        (``ImageResult.unsure``: the candidates the network was unsure of, and a sweep's tubes):
        its largest, or one tracked here on a key frame. A candidate is drawn and labelled on the
        frame of its largest section only; a sweep's header names the frames of them all.
    counted
        For a pane of a dual display: whether its count stands for the file (the header says;
        the follicles of a pane not counted are labelled ``-`` instead of an id).
    ovary
        The image's ovary section (``ImageResult.ovary``, the largest): on its own frame the
        header gives its diameters, the ``ovary_d1_mm``, ``ovary_d2_mm`` of the tables.
    in_sweep
        Of a still that is a frame of a sweep stored one file per frame
        (:func:`follicle_seg.series.sweep_places`): its 0-based place in the sweep and the
        sweep's number of files, which the header gives instead of "still image".

    Returns
    -------
    numpy.ndarray
        ``(H', W', 3)`` uint8 RGB image.

    Raises
    ------
    ValueError
        When a map's shape differs from ``record.region_shape``.
    """
    grey = np.asarray(pixels)
    shape = record.region_shape
    if grey.shape[:2] != shape:
        raise ValueError(f"pixels {grey.shape[:2]} differ from the record's region {shape}.")
    for name, arr in (("follicle_ids", follicle_ids), ("ovary_mask", ovary_mask), ("unsure_ids", unsure_ids)):
        if arr is not None and np.asarray(arr).shape != shape:
            raise ValueError(f"{name} {np.asarray(arr).shape} differs from the region {shape}.")
    layout = layout_for(record)
    s = layout.scale_row, layout.scale_col
    plain = grey.astype(np.uint8, copy=False)
    if grey.ndim == 3:  # colour sources: take saturation out so only outlines are saturated
        plain = plain[..., :3].mean(axis=2).astype(np.uint8)
    image = cv2.cvtColor(_upscale(plain, *s), cv2.COLOR_GRAY2RGB)  # upscaled as one channel

    ids = np.asarray(follicle_ids)
    drawn = [f for f in sorted(follicles, key=lambda f: f.follicle_id)
             if f.best.frame_index == frame_index and (ids == f.follicle_id).any()]
    if ovary_mask is not None:
        _draw_outline(image, np.asarray(ovary_mask, bool), s, OVARY_COLOUR)
    for f in drawn:
        _draw_outline(image, ids == f.follicle_id, s, size_class_colour(f.mean_diameter_mm)[1])
    for f in drawn:  # over every outline: a caliper's end sits on its follicle's outline
        _draw_calipers(image, ids == f.follicle_id, s, size_class_colour(f.mean_diameter_mm)[1], record)
    # a pane not counted: sizes only, its ids are not in the tables
    labels = [(f.follicle_id, str(f.follicle_id) if counted else "-", _measure_text(f)) for f in drawn]
    if unsure_ids is not None:
        on_frame = np.asarray(unsure_ids)
        for u in sorted(unsure, key=lambda u: u.follicle_id):
            mask = on_frame == u.follicle_id
            if u.best.frame_index == frame_index and mask.any():
                _draw_outline(image, mask, s, UNSURE_COLOUR, dashed=True)
                ids = np.where(mask, _UNSURE_ID0 + u.follicle_id, ids)
                labels.append((_UNSURE_ID0 + u.follicle_id, f"{u.follicle_id}?" if counted else "?",
                               f"{_measure_text(u)}, {_CANDIDATE_WORD[u.kind]} {score_text(u.best.score)}"))  # fmt: skip

    canvas = Image.new("RGB", (layout.canvas_width, layout.top + layout.height + FOOTER_PX), _BACKGROUND)
    canvas.paste(Image.fromarray(image), (0, layout.top))
    draw = ImageDraw.Draw(canvas)
    _draw_header(draw, record, layout, frame_index, patient_label, len(drawn), len(labels) - len(drawn), counted,
                 ([f.best.frame_index for f in follicles], [u.best.frame_index for u in unsure]),
                 ovary if ovary is not None and ovary.frame_index == frame_index else None, in_sweep)
    _draw_labels(draw, layout, ids, labels)
    under_2mm = any(size_class_colour(f.mean_diameter_mm)[1] == SIZE_CLASS_COLOURS[""][0] for f in drawn)
    _draw_footer(draw, layout, record, unsure=len(labels) > len(drawn), under_2mm=under_2mm)
    return np.asarray(canvas)


def side_by_side(images: Sequence[np.ndarray], gap: int = 6) -> np.ndarray:
    """Overlays of the panes of one frame in one image, left to right, top-aligned, parted by a
    grey line ``gap`` pixels wide (background colour below the shorter ones).

    >>> side_by_side([np.ones((2, 3, 3), np.uint8), np.ones((4, 1, 3), np.uint8)], gap=1).shape
    (4, 5, 3)
    """
    height = max(im.shape[0] for im in images)
    out = np.full((height, sum(im.shape[1] for im in images) + gap * (len(images) - 1), 3), _BACKGROUND, np.uint8)
    x = 0
    for im in images:
        out[: im.shape[0], x : x + im.shape[1]] = im
        out[:, x + im.shape[1] : x + im.shape[1] + gap] = _PARTING
        x += im.shape[1] + gap
    return out


def _upscale(a: np.ndarray, scale_row: int, scale_col: int) -> np.ndarray:
    """Each pixel as a block of ``scale_row`` rows and ``scale_col`` columns (further axes kept).

    OpenCV's nearest-neighbour resize for the types it has (the same pixels, 6 times faster than
    ``np.repeat`` on an RGB frame, and it does not hold the GIL), ``np.repeat`` for the rest.

    >>> _upscale(np.array([[1, 2]]), 2, 2).tolist(), _upscale(np.array([[1, 2]]), 2, 1).tolist()
    ([[1, 1, 2, 2], [1, 1, 2, 2]], [[1, 2], [1, 2]])
    """
    a = np.asarray(a)
    if a.dtype in (np.uint8, np.bool_, np.int32) and a.ndim in (2, 3) and a.size:
        up = cv2.resize(a.view(np.uint8) if a.dtype == np.bool_ else a, None, fx=scale_col, fy=scale_row,
                        interpolation=cv2.INTER_NEAREST)  # fmt: skip
        return up.view(np.bool_) if a.dtype == np.bool_ else up
    return np.repeat(np.repeat(a, scale_row, axis=0), scale_col, axis=1)


def colour_mask(rgb: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Where an RGB ``uint8`` image is exactly ``colour``, by OpenCV's range test (on an
    overlay, 1.8 ms against 24 for numpy's comparison and ``all`` over the channels).

    >>> colour_mask(np.array([[[1, 2, 3], [1, 2, 4]]], np.uint8), (1, 2, 3)).tolist()
    [[True, False]]
    """
    return cv2.inRange(np.ascontiguousarray(rgb[..., :3]), colour, colour) > 0


_fonts = threading.local()  # a FreeType face is not to be shared between threads


def overlay_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans from matplotlib's data folder (always installed with matplotlib), loaded once
    per thread (overlays are drawn on the run's output threads)."""
    cache = _fonts.__dict__.setdefault("by_key", {})
    if (size, bold) not in cache:
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        cache[size, bold] = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)
    return cache[size, bold]


def _draw_calipers(
    image: np.ndarray, mask: np.ndarray, scales: tuple[int, int], colour: tuple[int, int, int], record: ImageRecord
) -> None:
    """Draw a follicle's d1 and d2 chords (:func:`~follicle_seg.measure.feret_chords`, on the
    frame's spacing) as lines one output pixel wide from outline to outline, not anti-aliased
    (every pixel drawn has the outline's colour, inside the follicle's convex hull)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return
    r0, c0 = int(rows[0]), int(cols[0])
    cal = record.calibration
    chords = feret_chords(mask[r0 : int(rows[-1]) + 1, c0 : int(cols[-1]) + 1], cal.spacing_row_mm, cal.spacing_col_mm)
    for a, b in chords:
        # pixel centres at whole numbers on the source grid; an end on the outline, half a pixel
        # out, lands on the edge of its pixel's block
        (ya, xa), (yb, xb) = ((np.asarray(p) + (r0, c0) + 0.5) * scales - 0.5 for p in (a, b))
        cv2.line(image, (round(xa), round(ya)), (round(xb), round(yb)), colour, 1, cv2.LINE_8)


def _draw_outline(
    image: np.ndarray, mask: np.ndarray, scales: tuple[int, int], colour: tuple[int, int, int], *,
    dashed: bool = False,
) -> None:
    """Colour the inner boundary of the mask upscaled by ``scales`` (rows, columns), ``min(*scales,
    3)`` pixels thick (in dashes of 6 output pixels when ``dashed``).

    Within that thickness every pixel lies in the block of a source pixel with an 8-neighbour
    outside the mask, so the outline stays on the source-grid boundary (module docstring).
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return
    # in the mask's box: everything outside it is outside the mask, as the erosion's border
    # is, so the outline is the whole image's at a fraction of the cost
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    sr, sc = scales
    up = _upscale(mask[r0:r1, c0:c1], sr, sc)
    inner = ndimage.binary_erosion(up, iterations=min(sr, sc, 3), border_value=0)
    line = up & ~inner
    if dashed:
        yy, xx = np.indices(line.shape)
        line &= ((yy + r0 * sr) // 6 + (xx + c0 * sc) // 6) % 2 == 0
    image[r0 * sr : r1 * sr, c0 * sc : c1 * sc][line] = colour


def _mm(value: float) -> str:
    """A length as the tables give it (two decimals) and the report shows it (one, halves up)."""
    return one_decimal(round(value, 2))


def _measure_text(f: Follicle) -> str:
    """The mean diameter the report gives (two decimals beside a class boundary), then the two
    diameters it is made of."""
    best = f.best
    if best.d1_mm is not None and best.d2_mm is not None and f.mean_diameter_mm is not None:
        return f"{shown_mm(f.mean_diameter_mm)} mm ({_mm(best.d1_mm)} x {_mm(best.d2_mm)})"
    return f"{best.d1_px:.0f} x {best.d2_px:.0f} px"


def _draw_header(
    draw: ImageDraw.ImageDraw,
    record: ImageRecord,
    layout: Layout,
    frame_index: int,
    patient_label: str,
    n_drawn: int,
    n_unsure: int = 0,
    counted: bool = True,
    sweep: tuple[Sequence[int], Sequence[int]] = ((), ()),
    ovary: Section | None = None,
    in_sweep: tuple[int, int] | None = None,
) -> None:
    side = {"L": "LEFT ovary", "R": "RIGHT ovary"}.get(record.laterality, "side unknown")
    frame = frame_said(record, frame_index, in_sweep)
    patient, line1 = title(record, patient_label, side)
    if record.other_panes:  # a dual display: which pane this is (the one whose count stands)
        line1 += f"   pane {record.pane + 1} of {record.n_panes} {'counted' if counted else 'not counted'}"
    cal = record.calibration
    if cal.calibrated:
        line2 = f"{cal.spacing_col_mm:.3f} x {cal.spacing_row_mm:.3f} mm/px" + _aspect_note(layout)
    else:
        line2 = "UNCALIBRATED: sizes in pixels"
    line2 = f"SOP {uid_tail(record.sop_instance_uid)}   {frame}   {line2}   {n_drawn} follicle(s) shown"
    if n_unsure:
        line2 += f", {n_unsure} candidate(s)"
    if ovary is not None:  # the frame the ovary's size is measured on
        size = (f"{_mm(ovary.d1_mm)} x {_mm(ovary.d2_mm)} mm" if ovary.d1_mm is not None and ovary.d2_mm is not None
                else f"{ovary.d1_px:.0f} x {ovary.d2_px:.0f} px")  # fmt: skip
        line2 += f"; ovary {size}"
    draw_title(draw, patient, line1)
    draw.text((8, 31), line2, font=_fitting_font(draw, line2, 14), fill=(205, 205, 205))
    if record.is_sweep:
        follicles, unsure = sweep
        room, smallest = draw.im.size[0] - 16, overlay_font(9)
        for most in range(12, 0, -1):  # fewer frames named where twelve do not fit even the smallest font
            line3 = f"this sweep: {len(follicles)} follicle(s)" + (f" on {_frame_list(follicles, most)}" if follicles else "")
            if unsure:
                line3 += f"; {len(unsure)} candidate(s) on {_frame_list(unsure, most)}"
            if draw.textlength(line3, font=smallest) <= room:
                break
        draw.text((8, HEADER_PX), line3, font=_fitting_font(draw, line3, 14), fill=(205, 205, 205))


def frame_said(record: ImageRecord, frame_index: int, in_sweep: tuple[int, int] | None = None) -> str:
    """The header's frame: of a cine 1-based as a viewer numbers frames, the tables' 0-based
    ``frame_index`` beside it; of a still that is a frame of a sweep stored one file per frame
    (``in_sweep``: its 0-based place, the sweep's files) its place in that sweep.

    >>> from dataclasses import replace
    >>> from follicle_seg.types import Calibration
    >>> rec = ImageRecord("a.dcm", "1.2", "", "US", "P1", "st", "", "se", "", "L", "", 1, 90, 90, "", "",
    ...                   Calibration(None, None, ""), (0, 0, 89, 89), "")
    >>> frame_said(rec, 0), frame_said(rec, 0, (2, 6)), frame_said(replace(rec, n_frames=20), 4)
    ('still image', 'file 3 of 6 of a sweep', 'frame 5 of 20 (index 4)')
    """
    if record.is_sweep:
        return f"frame {frame_index + 1} of {record.n_frames} (index {frame_index})"
    return place_words(in_sweep) if in_sweep else "still image"


def _aspect_note(layout: Layout) -> str:
    """What the header says of shapes the whole factors draw more than 3 % taller or wider than
    they are (nothing otherwise).

    >>> _aspect_note(Layout(3, 2, 0, 0, 0, 0, aspect=1.05)), _aspect_note(Layout(1, 1, 0, 0, 0, 0, aspect=0.8))
    (' (drawn 5 % too tall)', ' (drawn 25 % too wide)')
    """
    if not layout.aspect_off:
        return ""
    a = layout.aspect
    return f" (drawn {round((a - 1) * 100)} % too tall)" if a > 1 else f" (drawn {round((1 / a - 1) * 100)} % too wide)"


def _fitting_font(
    draw: ImageDraw.ImageDraw, text: str, size: int, *, smallest: int = 9, bold: bool = False
) -> ImageFont.FreeTypeFont:
    """The font of ``size`` pixels, smaller if the line would run past the canvas's right edge
    (a narrow region's overlay is as wide as its legend; a header line with an ovary's size is
    wider), down to ``smallest``."""
    room = draw.im.size[0] - 16
    while size > smallest and draw.textlength(text, font=overlay_font(size, bold)) > room:
        size -= 1
    return overlay_font(size, bold)


def title(record: ImageRecord, patient_label: str, side: str) -> tuple[str, str]:
    """The header's first line in two parts: the patient (a line break or escape code in the id
    shown escaped: Pillow cannot measure a line holding one, the image failed), and the visit
    date with ``side`` as the header says it."""
    return printable(patient_label) or "unknown patient", f"{record.study_date or 'no date'}   {side}"


def draw_title(draw: ImageDraw.ImageDraw, patient: str, rest: str, *, clear_width: int = 0) -> None:
    """Draw the header's first line, over what was there across ``clear_width`` pixels if given
    (:func:`short_title`)."""
    if clear_width:
        draw.rectangle([0, 0, clear_width, TITLE_PX], fill=_BACKGROUND)
    text = short_title(draw, patient, rest)
    draw.text((8, 5), text, font=_fitting_font(draw, text, 19, smallest=11, bold=True), fill=(255, 255, 255))


def short_title(draw: ImageDraw.ImageDraw, patient: str, rest: str) -> str:
    """``patient   rest``, the patient id shortened in the middle (``ABC…XYZ``) while the line is
    too long for the canvas even in the smallest font: the date and side stay on the overlay (a
    64-character id pushed them off a narrow one). The most characters that fit are searched by
    halves among no more than the canvas has pixels (one fewer at a time measured an 8,000-character
    id 8,000 times: 12 s an overlay; 20 million were more than Pillow measures, the image failed)."""
    room, smallest = draw.im.size[0] - 16, overlay_font(11, bold=True)

    def line(keep: int) -> str:
        if keep >= len(patient):
            return f"{patient}   {rest}"
        return f"{patient[: (keep + 1) // 2]}\u2026{patient[len(patient) - keep // 2 :]}   {rest}"

    fits, too_long = 6, min(len(patient), room)  # (no character is drawn narrower than a pixel)
    if draw.textlength(line(too_long), font=smallest) <= room:
        return line(too_long)
    while too_long - fits > 1:
        keep = (fits + too_long) // 2
        fits, too_long = (keep, too_long) if draw.textlength(line(keep), font=smallest) <= room else (fits, keep)
    return line(fits)


def _frame_list(frames: Sequence[int], most: int = 12) -> str:
    """1-based frame numbers, each once, in order, at most ``most`` of them (six cut off the
    seventh follicle's frame of a sweep: a reviewer had to open every overlay to find it; twelve
    of three digits, with an unsure list of as many, are 800 px in the smallest font: a narrow
    overlay's header names fewer, :func:`_draw_header`).

    >>> _frame_list([4, 1, 4]), _frame_list(range(13))
    ('frames 2, 5', 'frames 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, ...')
    >>> _frame_list([0])
    'frame 1'
    """
    unique = sorted(set(frames))
    shown = ", ".join(str(k + 1) for k in unique[:most]) + (", ..." if len(unique) > most else "")
    return f"frame{'s' if len(unique) > 1 else ''} {shown}"


def _draw_footer(
    draw: ImageDraw.ImageDraw, layout: Layout, record: ImageRecord, *, unsure: bool = False, under_2mm: bool = False
) -> None:
    """Legend and scale bar; ``<2 mm`` only when a follicle drawn is (none the pipeline reports
    is: its lavender swatch named nothing, beside the blue of ``unsure``)."""
    y0 = layout.top + layout.height
    x = 8
    entries = [("ovary", OVARY_COLOUR)]
    if record.calibration.calibrated:
        entries += [(text, colour) for key, (colour, text) in SIZE_CLASS_COLOURS.items() if key or under_2mm]
    else:
        entries.append(("follicle (px)", UNCALIBRATED_COLOUR))
    if unsure:
        entries.append((_UNSURE_LEGEND, UNSURE_COLOUR))
    size = 13  # smaller where every entry would not fit the narrowest overlay
    while size > 10 and sum(33 + draw.textlength(n, font=overlay_font(size)) for n, _ in entries) > layout.canvas_width - 2:
        size -= 1
    font = overlay_font(size)
    for name, colour in entries:
        if name == _UNSURE_LEGEND:  # dashed, as its outlines: told apart from "<2 mm" without its colour
            for dash in (0, 9):
                draw.rectangle((x + dash, y0 + 13, x + dash + 5, y0 + 16), fill=colour)
        else:
            draw.rectangle((x, y0 + 8, x + 14, y0 + 22), fill=colour)
        draw.text((x + 19, y0 + 8), name, font=font, fill=(230, 230, 230))
        x += 19 + int(draw.textlength(name, font=font)) + 14
    cal = record.calibration
    if cal.spacing_row_mm is None or cal.spacing_col_mm is None:
        return
    px_per_mm = layout.scale_col / cal.spacing_col_mm
    length_mm = _nice_length(0.2 * layout.width / px_per_mm)
    if layout.aspect_off:
        _draw_vertical_bar(draw, layout, layout.scale_row / cal.spacing_row_mm, length_mm)
    bar = int(round(length_mm * px_per_mm))
    text = f"{length_mm:g} mm"
    right = layout.canvas_width - 10
    tx = right - int(draw.textlength(text, font=font))
    x1 = tx - 8
    x0 = x1 - bar
    if x0 <= x:  # no room beside the legend: second line
        y0 += 18
    draw.rectangle((x0, y0 + 13, x1, y0 + 18), fill=(255, 255, 255))
    draw.line((x0, y0 + 8, x0, y0 + 23), fill=(255, 255, 255), width=2)
    draw.line((x1, y0 + 8, x1, y0 + 23), fill=(255, 255, 255), width=2)
    draw.text((tx, y0 + 8), text, font=font, fill=(255, 255, 255))


def _draw_vertical_bar(draw: ImageDraw.ImageDraw, layout: Layout, px_per_mm: float, length_mm: float) -> None:
    """A scale bar of rows right of the image, its foot at the image's bottom, as long in mm as
    the footer's (shorter where the image is not tall enough), its length written above it."""
    room = layout.height - 24
    if length_mm * px_per_mm > room:
        length_mm = _nice_length(room / px_per_mm)
    bar = int(round(length_mm * px_per_mm))
    font = overlay_font(13)
    text = f"{length_mm:g} mm"
    x = layout.canvas_width - VERTICAL_BAR_MARGIN_PX // 2
    y1 = layout.top + layout.height - 1
    y0 = y1 - bar
    draw.rectangle((x - 2, y0, x + 3, y1), fill=(255, 255, 255))
    draw.line((x - 7, y0, x + 8, y0), fill=(255, 255, 255), width=2)
    draw.line((x - 7, y1, x + 8, y1), fill=(255, 255, 255), width=2)
    draw.text((x - int(draw.textlength(text, font=font)) // 2, y0 - 20), text, font=font, fill=(255, 255, 255))


def _nice_length(mm: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above ``mm`` (at least 0.1)."""
    best = 0.1
    for exponent in range(-1, 4):
        for base in (1, 2, 5):
            if base * 10**exponent <= mm:
                best = base * 10**exponent
    return float(best)


def _draw_labels(
    draw: ImageDraw.ImageDraw,
    layout: Layout,
    ids: np.ndarray,
    labels: Sequence[tuple[int, str, str]],
) -> None:
    """Place each label ``(id in ids, number, text)`` beside its follicle, off every follicle
    and every other label.

    Leader lines are drawn first and the label boxes over them, so a line never crosses text.
    """
    if not labels:
        return
    sr, sc, top = layout.scale_row, layout.scale_col, layout.top
    owner = np.zeros((layout.height, layout.canvas_width), np.int32)  # follicle id or -1 (label)
    owner[:, : layout.width] = _upscale(_grown(ids) if min(sr, sc) < 3 else ids, sr, sc)
    if layout.aspect_off:  # the vertical scale bar's
        owner[:, layout.canvas_width - VERTICAL_BAR_MARGIN_PX :] = -1
    nearest = _nearest(ids)
    bold, font = overlay_font(_FONT_PX, bold=True), overlay_font(_FONT_PX - 2)
    placed = []
    for ident, number, size in labels:
        rows, cols = np.nonzero(ids == ident)
        w = int(draw.textlength(number, font=bold) + 6 + draw.textlength(size, font=font)) + 2 * _LABEL_PAD
        h = _FONT_PX + 2 * _LABEL_PAD + 2
        points = np.stack([rows * sr + sr / 2, cols * sc + sc / 2], axis=1)
        bbox = (rows.min() * sr, cols.min() * sc, (rows.max() + 1) * sr, (cols.max() + 1) * sc)
        by, bx = _place(owner, nearest, (sr, sc), ident, bbox, points, w, h)
        owner[max(0, by - 3) : by + h + 3, max(0, bx - 3) : bx + w + 3] = -1
        placed.append((by, bx, w, h, number, size, _leader(points, by, bx, w, h)))
    for *_, line in placed:
        if line is not None:
            (ey, ex), (py, px) = line
            for width, fill in ((4, (0, 0, 0)), (2, (255, 255, 255))):
                draw.line((ex, ey + top, px, py + top), fill=fill, width=width)
    for by, bx, w, h, number, size, _ in placed:
        draw.rectangle((bx, by + top, bx + w, by + h + top), fill=LABEL_FILL, outline=(0, 0, 0))
        draw.text((bx + _LABEL_PAD, by + top + _LABEL_PAD), number, font=bold, fill=(0, 0, 0))
        nx = bx + _LABEL_PAD + int(draw.textlength(number, font=bold)) + 6
        draw.text((nx, by + top + _LABEL_PAD + 2), size, font=font, fill=(40, 40, 40))


def _nearest(ids: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``nearest(rows, cols)``: the id of the follicle nearest each of those pixels of the map
    ``ids`` (clipped to it), whose pixel scipy's Euclidean feature transform finds; the map's one
    id where it holds one (the transform, 4 ms on a 450 x 900 px region, not computed).

    >>> ids, rows, cols = np.array([[0, 0, 0, 5], [2, 0, 0, 0]]), np.array([0, 1, 9]), np.array([0, 3, 1])
    >>> _nearest(ids)(rows, cols).tolist(), _nearest(ids % 5)(rows, cols).tolist()
    ([2, 5, 2], [2, 2, 2])
    """
    found = ids[ids != 0]
    if found.min() == found.max():
        return lambda rows, cols: np.full(len(rows), found[0])
    to_row, to_col = ndimage.distance_transform_edt(ids == 0, return_distances=False, return_indices=True)

    def nearest(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        at = np.clip(rows, 0, ids.shape[0] - 1), np.clip(cols, 0, ids.shape[1] - 1)
        return ids[to_row[at], to_col[at]]

    return nearest


def _grown(ids: np.ndarray) -> np.ndarray:
    """Each pixel the largest id of its 3 x 3 neighbourhood (``scipy.ndimage.grey_dilation`` with
    ``size=(3, 3)``), by OpenCV on float32, a third of scipy's time: exact for ids under 2**24
    (follicle ids, and candidates' from :data:`_UNSURE_ID0` = 2**20 up).

    >>> _grown(np.array([[0, 0, 0, 0], [0, 0, 0, _UNSURE_ID0 + 7]], np.int32)).tolist()[0]
    [0, 0, 1048583, 1048583]
    """
    return cv2.dilate(ids.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)


def _leader(
    points: np.ndarray, by: int, bx: int, w: int, h: int
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Segment from the box edge to the follicle's nearest pixel, or ``None`` when they touch."""
    cy, cx = by + h / 2, bx + w / 2
    py, px = points[int(np.argmin((points[:, 0] - cy) ** 2 + (points[:, 1] - cx) ** 2))]
    ey, ex = min(max(py, by), by + h), min(max(px, bx), bx + w)
    if math.hypot(py - ey, px - ex) <= _LEADER_MIN_PX:
        return None
    return (ey, ex), (py, px)


def _place(
    owner: np.ndarray,
    nearest: Callable[[np.ndarray, np.ndarray], np.ndarray],
    scales: tuple[int, int],
    follicle_id: int,
    bbox: tuple[int, int, int, int],
    points: np.ndarray,
    w: int,
    h: int,
) -> tuple[int, int]:
    """Top-left ``(y, x)`` of a ``w x h`` label near ``bbox`` (y0, x0, y1, x1), at least cost
    (``nearest(rows, cols)``: the id of the follicle nearest those region-grid pixels, clipped to
    the grid; ``scales`` output pixels to a region pixel's row and column).

    Cost: pixels over any follicle or label and leader-line samples under another label (heavy);
    points of the box (centre, edge middles) nearer another follicle than this one, and
    leader-line samples crossing another follicle (medium); distance from the follicle (light).
    """
    y0, x0, y1, x1 = bbox
    H, W = owner.shape
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    best: tuple[float, int, int] | None = None
    for gap in (4, 16, 34, 60, 100, 150):
        candidates = (
            (cy - h // 2, x1 + gap),
            (cy - h // 2, x0 - gap - w),
            (y0 - gap - h, cx - w // 2),
            (y1 + gap, cx - w // 2),
            (y0 - gap - h, x1 + gap),
            (y1 + gap, x1 + gap),
            (y0 - gap - h, x0 - gap - w),
            (y1 + gap, x0 - gap - w),
        )
        for y, x in candidates:
            y, x = int(max(0, min(y, H - h - 1))), int(max(0, min(x, W - w - 1)))
            cost = float((owner[y : y + h, x : x + w] != 0).sum()) * 1000 + gap
            probe_y = np.array([y + h // 2, y, y + h, y + h // 2, y + h // 2]) // scales[0]
            probe_x = np.array([x + w // 2, x + w // 2, x + w // 2, x, x + w]) // scales[1]
            near = nearest(probe_y, probe_x)
            cost += float((near != follicle_id).sum()) * 300
            line = _leader(points, y, x, w, h)
            if line is not None:
                (ey, ex), (py, px) = line
                t = np.linspace(0.0, 1.0, 40)
                ys = np.clip((ey + t * (py - ey)).astype(int), 0, H - 1)
                xs = np.clip((ex + t * (px - ex)).astype(int), 0, W - 1)
                hit = owner[ys, xs]
                cost += float((hit == -1).sum()) * 1500  # under another label: misleading
                cost += float(((hit > 0) & (hit != follicle_id)).sum()) * 300
            if best is None or cost < best[0]:
                best = (cost, y, x)
        if best is not None and best[0] < 200:
            break
    assert best is not None
    return best[1], best[2]
