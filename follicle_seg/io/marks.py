"""Sonographers' caliper marks on a grey frame: small '+' and 'x' crosses burned into the image.

A mark is a cross of four straight arms, each 1-3 px thick and reaching at least 5 px from its
centre (which may be hollow), each brighter than the pixels 2 px to either side of it. An arm's
contrast at a pixel is the mean of its 3 pixels along the arm less the brighter of the two
parallel lines of 3 pixels 2 px beside it (diagonal steps for 'x'); a cross centred on a pixel
takes its arms 3 steps out in the four directions, and its contrast is its weakest arm's. A
mark's centre is a cross of :data:`MIN_CONTRAST` or more (the strongest within 3 px) whose four
spaces between the arms, 2-3 steps out, are darker than its weakest arm by half its contrast.
Speckle fails (its grains are not lines in four directions), so does a follicle's bright back
wall or a fascia (one line: across it the cross's other arms have bright sides) and a bright disc
(arms no brighter than their sides). A search finding more than :data:`MAX_MARKS` crosses (a grid,
a checkerboard) finds none: a texture, not a sonographer's marks.

The mask holds each mark's pixels: those within 1.5 px of its arms' axes, out to
:data:`MAX_ARM_PX` from the centre, at least halfway from its sides' level to its arms' and
joined to its centre, grown by 1 px (the drawing's blurred edges).

:func:`graphics_pixels` joins them, found around a frame's follicles, to its pixels in colour:
the graphics a follicle's dent is measured past (``measure.measure_frame``), so that a caliper
on a follicle's wall does not raise ``follicle notched``.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from follicle_seg.io.grey import COLOUR_SHARE

#: Weakest arm's contrast (grey levels) over the lines beside it for a cross to be a mark.
MIN_CONTRAST = 40.0
#: A mark's pixels reach this far from its centre, at most (arms of about 3-10 px).
MAX_ARM_PX = 11
#: More crosses than this in one search (whole captures hold up to 9, real and synthetic) are a
#: texture, a grid or a test pattern, not a sonographer's marks: none is taken. It bounds the
#: search's cost too (a grid gave thousands of crosses, seconds to paint).
MAX_MARKS = 32
_PAD = 8
#: Caliper marks are looked for this far (pixels) around the follicles (:func:`graphics_pixels`):
#: a mark whose arm reaches a follicle's wall is centred up to :data:`MAX_ARM_PX` from it, and
#: the search reads a few pixels beyond its arms.
AROUND_PX = MAX_ARM_PX + _PAD
#: How far (pixels) the area the marks span reaches beyond them (:func:`marked_area`): an ovary
#: candidate whose edge stops a few pixels short of the calipers set on the ovary's border is
#: still the one they measure.
MARKED_REACH_PX = 5
#: Two pairs of calipers measure one section's two diameters (:func:`measured_outline`) when their
#: segments cross at this angle or more (a sonographer sets the second across the first)...
CROSS_MIN_DEGREES = 60.0
#: ... each no nearer than this share of its length to either of its ends.
CROSS_MARGIN = 0.2
_ARM_STEPS = 3  # an arm's 3 pixels are 2-4 steps from the centre
_SIDE_STEPS = 2

Step = tuple[int, int]
#: Per orientation, '+' then 'x': its two arm axes as ``(step, side step)`` and the steps from its
#: centre into the four spaces between its arms, in ``(row, col)``.
_ORIENTATIONS: tuple[tuple[tuple[tuple[Step, Step], ...], tuple[Step, ...]], ...] = (
    ((((0, 1), (1, 0)), ((1, 0), (0, 1))), ((1, 1), (1, -1), (-1, 1), (-1, -1))),
    ((((1, 1), (1, -1)), ((1, -1), (1, 1))), ((1, 0), (-1, 0), (0, 1), (0, -1))),
)


def caliper_marks(grey: np.ndarray) -> np.ndarray | None:
    """The pixels of the '+' and 'x' caliper marks on a grey uint8 frame (rows, cols), or None
    when it has none (or is too small to hold one).

    >>> frame = np.full((40, 40), 60, np.uint8)
    >>> frame[20, 14:27] = frame[14:27, 20] = 230
    >>> mask = caliper_marks(frame)
    >>> bool(mask[20, 15]), bool(mask[15, 20]), bool(mask[5, 5])
    (True, True, False)
    >>> caliper_marks(np.full((40, 40), 60, np.uint8)) is None
    True
    """
    if grey.ndim != 2 or min(grey.shape) < 2 * MAX_ARM_PX + 1:
        return None
    img = np.pad(grey.astype(np.float32), _PAD, mode="edge")
    found: list[tuple[tuple[tuple[Step, Step], ...], tuple[int, int, float, float]]] = []
    for axes, spaces in _ORIENTATIONS:
        centres = _centres(img, axes, spaces, MAX_MARKS - len(found))
        if centres is None:
            return None
        found += [(axes, centre) for centre in centres]
    mask = np.zeros(img.shape, bool)
    for axes, (r, c, level, contrast) in found:
        _paint(mask, img, r, c, axes, level, contrast)
    mask = mask[_PAD:-_PAD, _PAD:-_PAD]
    return mask if mask.any() else None


def graphics_pixels(grey: np.ndarray, colour: np.ndarray | None, follicles: np.ndarray) -> np.ndarray | None:
    """The burned-in graphics of a frame that a follicle's dent is measured past
    (``FrameSegmentation.graphics``; ``None``: none): its pixels in colour (``Frame.colour``:
    calipers, marks, text a scanner draws in colour) when they are under
    ``io.grey.COLOUR_SHARE`` of it (more is a colour Doppler box: flow, not graphics; such a frame
    is flagged ``colour in the scan``), and the '+' and 'x' caliper marks on its grey pixels
    (:func:`caliper_marks`), looked for only within :data:`AROUND_PX` of the bounding box of
    ``follicles`` (boolean, the network's follicle pixels): the search costs about 10 ms on a
    whole 500 x 700 px frame, a textured one (:data:`MAX_MARKS`) too.

    >>> grey = np.full((80, 80), 60, np.uint8); grey[40, 34:47] = grey[34:47, 40] = 230
    >>> follicles = np.zeros(grey.shape, bool); follicles[42:50, 42:50] = True
    >>> bool(graphics_pixels(grey, None, follicles)[40, 36]), graphics_pixels(grey, None, follicles & False) is None
    (True, True)
    """
    found = colour if colour is not None and colour.mean() < COLOUR_SHARE else None
    box = cv2.boundingRect(cv2.findNonZero(follicles.astype(np.uint8))) if follicles.any() else None
    if box is None:
        return found
    col, row, width, height = box
    r0, c0 = max(row - AROUND_PX, 0), max(col - AROUND_PX, 0)
    r1, c1 = row + height + AROUND_PX, col + width + AROUND_PX
    marks = caliper_marks(grey[r0:r1, c0:c1])
    if marks is None:
        return found
    out = np.zeros(grey.shape, bool) if found is None else found.copy()
    out[r0:r1, c0:c1] |= marks
    return out


def marked_area(marks: np.ndarray | None, within: np.ndarray) -> np.ndarray | None:
    """The area a sonographer's caliper marks span (``None``: no mark in ``within``): the convex
    hull of the centres of the marks (:func:`caliper_marks`, each connected piece one mark) that
    lie in ``within`` (boolean, the scan area: a '+' in the text beside the fan is no caliper), the
    segment between two, or the one point, grown by :data:`MARKED_REACH_PX`. Calipers measure the
    ovary or a follicle in it, so the ovary candidate this area touches is the one the
    sonographer measured (``instances.labels_from_probs``).

    >>> marks = np.zeros((30, 40), bool); marks[10, 5] = marks[10, 35] = True
    >>> area = marked_area(marks, np.ones(marks.shape, bool))
    >>> bool(area[10, 20]), bool(area[14, 20]), bool(area[17, 20])
    (True, True, False)
    >>> marked_area(marks, np.zeros(marks.shape, bool)) is None
    True
    """
    centres = _mark_centres(marks, within)
    if not len(centres):
        return None
    area = np.zeros(within.shape, np.uint8)
    points = centres[:, ::-1].copy()  # (x, y) for OpenCV
    if len(points) >= 3:
        cv2.fillConvexPoly(area, cv2.convexHull(points), 1)
    else:
        cv2.line(area, tuple(map(int, points[0])), tuple(map(int, points[-1])), 1)
    size = 2 * MARKED_REACH_PX + 1
    return cv2.dilate(area, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))) > 0


def measured_outline(marks: np.ndarray | None, within: np.ndarray) -> np.ndarray | None:
    """The section a sonographer measured by its two diameters (``None``: none): where four
    marks (:func:`caliper_marks`) lie in ``within`` (boolean, the scan area) and pair into two
    segments that cross, each at :data:`CROSS_MARGIN` of its length or more from either end, at
    :data:`CROSS_MIN_DEGREES` or more, the filled ellipse whose long axis is the longer segment
    (centred on its midpoint) and whose short axis, across it there, is as long as the shorter
    (the shorter itself where they cross at right angles in both middles), within ``within``
    (nothing outside the scan area is labelled). Two such pairs are how an ovary (or a
    follicle) is measured in section: the ellipse through them follows its outline
    (``instances.labels_from_probs`` weighs whether it is the ovary). A fifth mark where the two
    cross (within :data:`MAX_ARM_PX`: their dotted lines meeting read as a '+') is left out; any
    other fifth mark, or more, leaves the pairs unknown: no outline.

    >>> marks = np.zeros((40, 60), bool)
    >>> marks[20, 10] = marks[20, 50] = marks[10, 30] = marks[30, 30] = True  # 40 x 20 px, crossing
    >>> outline = measured_outline(marks, np.ones(marks.shape, bool))
    >>> bool(outline[20, 30]), bool(outline[20, 12]), bool(outline[12, 30]), bool(outline[12, 14])
    (True, True, True, False)
    >>> marks[20, 30] = True                                                  # where they cross
    >>> np.array_equal(measured_outline(marks, np.ones(marks.shape, bool)), outline)
    True
    >>> marks[20, 30] = marks[10, 30] = marks[30, 30] = False; marks[10, 45] = marks[30, 45] = True
    >>> measured_outline(marks, np.ones(marks.shape, bool)) is None          # crossing near an end
    True
    """
    points = _mark_centres(marks, within)[:, ::-1].astype(np.float64)  # (x, y) for OpenCV
    if len(points) == 5:
        found = [pairs for k in range(5) if (pairs := _diameters(np.delete(points, k, 0))) is not None
                 and np.hypot(*(points[k] - pairs[2])) <= MAX_ARM_PX]
        diameters = found[0] if len(found) == 1 else None
    else:
        diameters = _diameters(points) if len(points) == 4 else None
    if diameters is None:
        return None
    (a, b), (c, d), _ = diameters
    first, second = b - a, d - c
    if np.hypot(*first) < np.hypot(*second):
        (a, b), first, second = (c, d), second, first
    centre = (a + b) / 2
    outline = np.zeros(within.shape, np.uint8)
    axes = (float(np.hypot(*first)), float(np.hypot(*second)))
    angle = float(np.degrees(np.arctan2(first[1], first[0])))
    cv2.ellipse(outline, ((float(centre[0]), float(centre[1])), axes, angle), 1, -1)
    return (outline > 0) & within


Segment = tuple[np.ndarray, np.ndarray]


def _diameters(points: np.ndarray) -> tuple[Segment, Segment, np.ndarray] | None:
    """Four ``(x, y)`` points paired into two segments that cross as two diameters do (see
    :func:`measured_outline`), and the point where they cross; ``None`` when no pairing does."""
    for (a, b), (c, d) in (((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))):
        first, second = points[b] - points[a], points[d] - points[c]
        across = first[0] * second[1] - first[1] * second[0]
        if abs(across) <= np.sin(np.radians(CROSS_MIN_DEGREES)) * np.hypot(*first) * np.hypot(*second):
            continue  # parallel, crossing at too shallow an angle, or a segment of no length
        start = points[c] - points[a]
        t = (start[0] * second[1] - start[1] * second[0]) / across  # where each meets the other
        s = (start[0] * first[1] - start[1] * first[0]) / across
        if CROSS_MARGIN <= t <= 1 - CROSS_MARGIN and CROSS_MARGIN <= s <= 1 - CROSS_MARGIN:
            return (points[a], points[b]), (points[c], points[d]), points[a] + t * first
    return None


def _mark_centres(marks: np.ndarray | None, within: np.ndarray) -> np.ndarray:
    """``(row, col)`` of the centre of each mark (a connected piece of ``marks``) lying in ``within``."""
    if marks is None:
        return np.zeros((0, 2), np.int32)
    pieces, n = ndi.label(marks, structure=np.ones((3, 3), bool))
    centres = np.rint(ndi.center_of_mass(marks, pieces, range(1, n + 1))).astype(np.int32).reshape(-1, 2)
    return centres[within[centres[:, 0], centres[:, 1]]]


def _view(a: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """The unpadded part of padded ``a`` read at ``(row + dr, col + dc)``."""
    return a[_PAD + dr : a.shape[0] - _PAD + dr, _PAD + dc : a.shape[1] - _PAD + dc]


def _line_mean(img: np.ndarray, step: Step) -> np.ndarray:
    """Mean of each pixel and its two neighbours along ``step`` (same padded shape)."""
    kernel = np.zeros((3, 3), np.float32)
    kernel[1, 1] = kernel[1 + step[0], 1 + step[1]] = kernel[1 - step[0], 1 - step[1]] = 1 / 3
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REPLICATE)


def _centres(img: np.ndarray, axes: tuple[tuple[Step, Step], ...], spaces: tuple[Step, ...],
             limit: int) -> list[tuple[int, int, float, float]] | None:
    """The marks of one orientation: ``(row, col)`` of each centre in padded ``img``, its arms'
    weakest mean grey and its contrast, the strongest first; ``None`` when there are more than
    ``limit``."""
    lines, ridges = [], []
    for step, side in axes:
        line = _line_mean(img, step)
        beside = np.maximum(_view(line, *(_SIDE_STEPS * np.array(side))), _view(line, *(-_SIDE_STEPS * np.array(side))))
        lines.append(line)
        ridges.append(np.pad(_view(line, 0, 0) - beside, _PAD))
    arms = [(k, _ARM_STEPS * sign * step[0], _ARM_STEPS * sign * step[1])
            for k, (step, _) in enumerate(axes) for sign in (1, -1)]
    score = _view(ridges[0], *arms[0][1:])
    for k, dr, dc in arms[1:]:
        score = np.minimum(score, _view(ridges[k], dr, dc))
    rows, cols = np.nonzero(score >= MIN_CONTRAST)
    rows, cols = rows + _PAD, cols + _PAD  # padded coordinates
    contrast = score[rows - _PAD, cols - _PAD]
    level = np.min([lines[k][rows + dr, cols + dc] for k, dr, dc in arms], axis=0)
    between = np.max([(img[rows + 2 * sr, cols + 2 * sc] + img[rows + 3 * sr, cols + 3 * sc]) / 2
                      for sr, sc in spaces], axis=0)
    keep = level - between >= contrast / 2
    rows, cols, level, contrast = rows[keep], cols[keep], level[keep], contrast[keep]
    taken = np.zeros(img.shape, bool)  # the centres found: none other within 3 px of one
    found: list[tuple[int, int, float, float]] = []
    for i in np.argsort(-contrast, kind="stable"):
        r, c = int(rows[i]), int(cols[i])
        if taken[r - 3 : r + 4, c - 3 : c + 4].any():
            continue
        if len(found) == limit:
            return None
        taken[r, c] = True
        found.append((r, c, float(level[i]), float(contrast[i])))
    return found


def _paint(mask: np.ndarray, img: np.ndarray, r: int, c: int, axes: tuple[tuple[Step, Step], ...],
           level: float, contrast: float) -> None:
    """Set the pixels of the mark centred at ``(r, c)`` of padded ``img`` in ``mask`` (in place)."""
    r0, r1 = max(r - MAX_ARM_PX, 0), min(r + MAX_ARM_PX + 1, img.shape[0])
    c0, c1 = max(c - MAX_ARM_PX, 0), min(c + MAX_ARM_PX + 1, img.shape[1])
    dr, dc = np.mgrid[r0 - r : r1 - r, c0 - c : c1 - c]
    band = np.zeros(dr.shape, bool)
    for (sr, sc), _ in axes:
        band |= np.abs(dr * sc - dc * sr) / np.hypot(sr, sc) <= 1.5
    band &= np.hypot(dr, dc) <= MAX_ARM_PX
    bright = band & ((img[r0:r1, c0:c1] >= level - contrast / 2) | (np.hypot(dr, dc) <= 2.5))  # hollow centres join
    labels, _ = ndi.label(bright, np.ones((3, 3), bool))
    piece = (labels == labels[r - r0, c - c0]).astype(np.uint8)
    mask[r0:r1, c0:c1] |= cv2.dilate(piece, np.ones((3, 3), np.uint8)).astype(bool)
