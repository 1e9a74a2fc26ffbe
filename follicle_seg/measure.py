"""Masks to sections in mm: diameters, area, centroid, score of follicles and ovary in one frame.

Conventions (see docs/measurement.md, "Measurement rules"):

* the outline of a mask is its 0.5 iso-contour (marching squares on the pixel grid), so a
  structure's extent runs from pixel edge to pixel edge, not from pixel centre to pixel centre;
* ``d1`` is the largest distance between two outline points (maximum Feret diameter), computed
  on *physical* coordinates (row x ``spacing_row_mm``, column x ``spacing_col_mm``), so
  anisotropic pixels are honoured; ``d2`` is the longest chord of the outline's hull
  perpendicular to ``d1`` (where a sonographer puts the second caliper), not its extent across;
* the ``*_px`` figures are the same measures on unit spacing and are always filled; the mm
  figures are ``None`` on uncalibrated frames;
* area is the pixel count times the pixel area; the centroid is the mean pixel position, in
  source-frame pixels (region offset added);
* the score is the mean class probability inside the mask, rounded to :data:`SCORE_DECIMALS`
  decimals (:func:`stored_score`): the thresholds, the tables and the overlays all read that
  one value.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull, QhullError
from skimage.measure import find_contours

from follicle_seg.instances import fill_holes, find_boxes, follicle_instances, hull_candidates
from follicle_seg.types import (
    OVARY,
    FrameMeasurement,
    FrameSegmentation,
    Section,
)

#: Smallest follicle section kept in a frame (area-equivalent diameter, mm). Lower than the
#: 2.0 mm count threshold so the tips of a follicle in a sweep still link into its track; the
#: count threshold is applied to each whole follicle on its largest section (``tracking``).
MIN_SECTION_DIAMETER_MM = 1.0
#: A follicle section with a pixel this close (pixels) to the edge of the scan area (the black
#: around the fan, the region's border) is cut by it: ``Section.at_edge``.
EDGE_PX = 2

#: Decimals a score is stored with: its last digits depend on the frames a forward pass held
#: (float32 sums in another order), so a run's tables changed with ``--batch-size``.
SCORE_DECIMALS = 3

#: The Gaussian (sigma, pixels) a follicle's mask is smoothed with before its outline's dent is
#: measured (:func:`dent_outline`): it takes out most of the pixel staircase, which on the pixel
#: outline dented ellipses (ratio 1-2.5, 12-80 pixels across, any angle) 0.78-0.92 pixel into
#: their hull and on this one 0.40-0.73, less the smaller they are, and keeps the dent where two
#: touching follicles meet (two equal ones one radius apart: 0.09-0.15 of a radius from radius 15
#: pixels, at every angle and offset on the grid). ``python scripts/dent_grid.py``; 0.5 left more
#: of the staircase, 1.0 and more rounded the waist (docs/measurement.md, "Review flags").
DENT_SMOOTHING_PX = 0.7

#: How far (pixels) a frame's graphics (``FrameSegmentation.graphics``) are grown before the
#: follicles' dents are measured with them filled in (:func:`measure_frame`): the network leaves a
#: caliper's pixels and a rim around them out of the follicle, a bite a little wider than the
#: caliper's arm as drawn.
GRAPHICS_MARGIN_PX = 1

_EIGHT = np.ones((3, 3), dtype=bool)
_TIE = 1e-9  # relative: squared chord lengths this close are one length (rounding of mm products)


def feret_diameters(points: np.ndarray) -> tuple[float, float]:
    """Longest diameter and the longest diameter perpendicular to it of a set of 2-D points.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 2)`` coordinates (any consistent unit), e.g. the outline of a mask.

    Returns
    -------
    (float, float)
        ``d1`` the maximum distance between two points of the convex hull; ``d2`` the longest
        chord of the hull perpendicular to the ``d1`` chord, as a sonographer places the second
        caliper (of chords tied for ``d1``, the one giving the longest ``d2``). For an ellipse
        they are the two axes.

    Examples
    --------
    >>> feret_diameters(np.array([[0, 0], [0, 4], [1, 2], [-1, 2]], float))
    (4.0, 2.0)
    """
    pts = np.asarray(points, dtype=float)
    try:
        pts = pts[ConvexHull(pts).vertices]  # counter-clockwise polygon
    except (QhullError, ValueError):  # collinear or too few points: a segment, no width
        return _polygon_feret(np.unique(pts, axis=0), polygon=False)
    return _polygon_feret(pts)


def _polygon_feret(pts: np.ndarray, *, polygon: bool = True) -> tuple[float, float]:
    """:func:`feret_diameters` of a convex polygon's corners in order (or, with ``polygon``
    false, of points on a segment)."""
    d1, d2, _ = _polygon_chords(pts, polygon=polygon)
    return d1, d2


def _polygon_chords(pts: np.ndarray, *, polygon: bool = True) -> tuple[float, float, np.ndarray]:
    """:func:`_polygon_feret`, with the end points of the two chords: ``[[a, b], [c, d]]``, d1
    from ``a`` to ``b`` and d2 from ``c`` to ``d`` (coordinates of ``pts``)."""
    if len(pts) < 2:
        corner = pts[0] if len(pts) else np.zeros(2)
        return 0.0, 0.0, np.array([[corner, corner], [corner, corner]], float)
    diff = pts[:, None, :] - pts[None, :, :]
    dist2 = np.einsum("ijk,ijk->ij", diff, diff)
    longest = float(dist2.max())
    d1 = float(np.sqrt(longest))
    i, j = np.unravel_index(int(np.argmax(dist2)), dist2.shape)
    ends = np.array([[pts[i], pts[j]], [pts[i], pts[i]]], float)
    if not polygon:
        return d1, 0.0, ends
    # chords tied for the longest (common on the pixel grid): the one with the longest
    # perpendicular, so the result does not depend on the order of the points
    d2 = -1.0
    for i, j in np.argwhere(np.triu(dist2 >= longest * (1 - _TIE), k=1)):
        axis = (pts[j] - pts[i]) / d1
        across = np.array([-axis[1], axis[0]])
        length, at, top, bottom = _longest_chord(pts @ axis, pts @ across)
        if length > d2:
            d2 = length
            ends = np.array([[pts[i], pts[j]], [at * axis + top * across, at * axis + bottom * across]])
    return d1, d2, ends


def _longest_chord(u: np.ndarray, v: np.ndarray) -> tuple[float, float, float, float]:
    """Longest chord along ``v`` of the convex polygon with vertices ``(u, v)`` in order: its
    length, its ``u`` and its two ends' ``v`` (the larger first).

    The chord length is piecewise linear in ``u`` between vertices, so its maximum sits at
    the ``u`` of a vertex: evaluate the polygon's upper and lower edge there.
    """
    u0, v0 = u, v
    u1, v1 = np.roll(u, -1), np.roll(v, -1)
    q = u[:, None]
    lo, hi = np.minimum(u0, u1), np.maximum(u0, u1)
    slanted = hi > lo
    hit = (q >= lo) & (q <= hi) & slanted
    t = (q - u0) / np.where(slanted, u1 - u0, 1.0)
    at = v0 + t * (v1 - v0)
    top = np.where(hit, at, -np.inf).max(axis=1)
    bottom = np.where(hit, at, np.inf).min(axis=1)
    # vertices exactly on the query line (ends of edges parallel to v) count too
    on_line = np.isclose(q, u[None, :])
    top = np.maximum(top, np.where(on_line, v[None, :], -np.inf).max(axis=1))
    bottom = np.minimum(bottom, np.where(on_line, v[None, :], np.inf).min(axis=1))
    k = int(np.argmax(top - bottom))
    return float(top[k] - bottom[k]), float(u[k]), float(top[k]), float(bottom[k])


def feret_chords(
    mask: np.ndarray, spacing_row_mm: float | None = None, spacing_col_mm: float | None = None
) -> np.ndarray:
    """Where :func:`measure_mask` measures a mask's ``d1`` and ``d2``: the end points
    ``[[a, b], [c, d]]`` (``(row, col)`` in the mask's pixels, pixel centres at whole numbers,
    ends on the outline) of the two chords, chosen on physical coordinates as the lengths are.

    Examples
    --------
    >>> m = np.zeros((5, 9), bool); m[1:4, 1:8] = True
    >>> chords = feret_chords(m, 0.2, 0.1)
    >>> s = measure_mask(m, 0.2, 0.1)
    >>> lengths = np.linalg.norm((chords[:, 0] - chords[:, 1]) * [0.2, 0.1], axis=1)
    >>> bool(np.allclose(lengths, [s.d1_mm, s.d2_mm]))
    True
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("cannot measure an empty mask")
    outline = hull_candidates(mask)
    corners = outline[ConvexHull(outline).vertices]
    scale = np.array([spacing_row_mm or 1.0, spacing_col_mm or 1.0]) if spacing_row_mm and spacing_col_mm else np.ones(2)
    return _polygon_chords(corners * scale)[2] / scale


def dent_outline(mask: np.ndarray) -> np.ndarray:
    """The outline whose dent into its convex hull is measured (:func:`deepest_dent`): the 0.5
    iso-contour, with sub-pixel points, of the mask with its holes filled and smoothed by a
    Gaussian of :data:`DENT_SMOOTHING_PX`, ``(row, col)`` in the mask's pixels; empty for a mask
    the smoothing leaves nothing of (a pixel or two).

    >>> m = np.zeros((9, 9), bool); m[2:7, 2:7] = True
    >>> outline = dent_outline(m)
    >>> bool(outline[:, 0].min() > 1.5 and outline[:, 0].max() < 6.5), dent_outline(m[:1, :1]).shape
    (True, (0, 2))
    """
    framed = np.pad(fill_holes(mask), 2).astype(np.float32)
    smooth = cv2.GaussianBlur(framed, (0, 0), DENT_SMOOTHING_PX, borderType=cv2.BORDER_CONSTANT)
    contours = find_contours(smooth, 0.5)
    return np.concatenate(contours) - 2 if contours else np.zeros((0, 2))


def filled_graphics(mask: np.ndarray, graphics: np.ndarray | None) -> np.ndarray:
    """``mask`` with the pixels of ``graphics`` (boolean, its shape; ``None``: none) that lie in
    its convex hull (of its pixel centres) added: a caliper's bite filled, its arms outside the
    hull left out.

    >>> m = np.ones((7, 7), bool); m[0:3, 3] = False
    >>> g = np.zeros_like(m); g[0:5, 3] = True; g[3, 2:5] = True
    >>> bool(filled_graphics(m, g).all()), filled_graphics(m, None) is m
    (True, True)
    """
    if graphics is None or not (extra := graphics & ~mask).any():
        return mask
    hull = cv2.convexHull(cv2.findNonZero(mask.astype(np.uint8)))[:, 0].astype(np.int64)  # (col, row)
    if len(hull) < 3:  # a pixel or a line: nothing inside it is not in it
        return mask
    rows, cols = np.nonzero(extra)
    side = np.roll(hull, -1, axis=0) - hull
    cross = side[:, 0] * (rows[:, None] - hull[:, 1]) - side[:, 1] * (cols[:, None] - hull[:, 0])
    inside = (cross >= 0).all(axis=1) | (cross <= 0).all(axis=1)  # (not rasterised: that takes pixels the edge crosses)
    out = mask.copy()
    out[rows[inside], cols[inside]] = True
    return out


def deepest_dent(outline: np.ndarray) -> float:
    """How deep an outline dents into its convex hull: the largest distance from a point of
    ``outline`` to the hull's boundary; 0 for a convex outline and for fewer than three points
    not on one line. Where two touching follicles meet, their joined outline dents in on both sides.

    >>> square = np.array([[0, 0], [0, 4], [4, 4], [4, 0]], float)
    >>> deepest_dent(np.vstack([square, [[1, 2]]])), deepest_dent(square), deepest_dent(square[:2])
    (1.0, 0.0, 0.0)
    """
    try:
        hull = ConvexHull(outline)
    except (QhullError, ValueError):  # collinear or too few points: no inside to dent into
        return 0.0
    inside = -(outline @ hull.equations[:, :2].T + hull.equations[:, 2])  # distance to each side's line
    return max(0.0, float(inside.min(axis=1).max()))


def stored_score(mean_probability: float) -> float:
    """A mean probability as a section's score: rounded to :data:`SCORE_DECIMALS` decimals. The
    thresholds (0.90 reported, 0.60 a candidate) are applied to this value, so a follicle whose
    score reads 0.9 is reported and a candidate's reads 0.899 or less (a float32 mean of 0.9,
    0.8999999762, read 0.899 and was not reported).

    >>> stored_score(0.8996), stored_score(0.89949), stored_score(0.95649), stored_score(0.8999999761581421)
    (0.9, 0.899, 0.956, 0.9)
    """
    return round(mean_probability, SCORE_DECIMALS)


def measure_mask(
    mask: np.ndarray,
    spacing_row_mm: float | None,
    spacing_col_mm: float | None,
    offset: tuple[int, int] = (0, 0),
    *,
    frame_index: int = 0,
    prob: np.ndarray | None = None,
    dent: bool = True,
    graphics: np.ndarray | None = None,
) -> Section:
    """Measure one binary mask as a :class:`~follicle_seg.types.Section`.

    Parameters
    ----------
    mask : numpy.ndarray
        2-D boolean mask of one structure.
    spacing_row_mm, spacing_col_mm : float or None
        Pixel spacing; both ``None`` when uncalibrated (mm fields then ``None``).
    offset : (int, int)
        ``(row, col)`` of ``mask[0, 0]`` on the source frame, added to centroid and bbox.
    frame_index : int
        Frame number recorded in the section.
    prob : numpy.ndarray, optional
        Class probability of the same shape; its mean inside the mask is the score
        (:func:`stored_score`; 1.0 when not given).
    dent : bool
        Measure how deep the outline dents into its convex hull (:func:`dent_outline`,
        :func:`deepest_dent`; a follicle's review flag): ``False`` leaves ``dent_px`` 0 and ``dent_mm`` None (an ovary's,
        which nothing reads: on a large outline it costs more than the rest of the measurement).
    graphics : numpy.ndarray, optional
        Boolean, the mask's shape: pixels of burned-in graphics (a caliper, already grown
        by :data:`GRAPHICS_MARGIN_PX`: :func:`measure_frame`). Those inside the mask's convex
        hull are added to the mask whose dent is measured (:func:`filled_graphics`: the bite the
        network leaves where a caliper lies on the wall is no dent); nothing else is measured
        on them.

    Returns
    -------
    Section

    Raises
    ------
    ValueError
        If the mask is empty or not 2-D.

    Examples
    --------
    >>> m = np.zeros((10, 10), bool); m[2:5, 3:9] = True
    >>> s = measure_mask(m, 0.5, 0.5, offset=(100, 200))
    >>> (s.area_px, s.area_mm2, s.centroid_row, s.centroid_col, s.bbox)
    (18, 4.5, 103.0, 205.5, (102, 203, 105, 209))
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("cannot measure an empty mask")
    r0, c0, r1, c1 = rows.min(), cols.min(), rows.max() + 1, cols.max() + 1
    outline = hull_candidates(mask[r0:r1, c0:c1])  # never collinear: each pixel gives a diamond
    corners = outline[ConvexHull(outline).vertices]  # once for both spacings: scaling keeps corners
    d1_px, d2_px = _polygon_feret(corners)
    inside = (slice(r0, r1), slice(c0, c1))
    rim = dent_outline(filled_graphics(mask[inside], None if graphics is None else graphics[inside])) if dent else None
    dent_px = deepest_dent(rim) if rim is not None else 0.0
    calibrated = spacing_row_mm is not None and spacing_col_mm is not None
    d1_mm: float | None
    d2_mm: float | None
    dent_mm: float | None
    if calibrated:
        assert spacing_row_mm is not None and spacing_col_mm is not None  # (calibrated)
        scale = np.array([spacing_row_mm, spacing_col_mm])
        d1_mm, d2_mm = _polygon_feret(corners * scale)
        if rim is None:
            dent_mm = None
        elif spacing_row_mm == spacing_col_mm:  # square pixels: the same shape, scaled
            dent_mm = dent_px * float(spacing_row_mm)
        else:
            dent_mm = deepest_dent(rim * scale)
        area_mm2: float | None = rows.size * float(spacing_row_mm) * float(spacing_col_mm)
    else:
        d1_mm = d2_mm = area_mm2 = dent_mm = None
    score = stored_score(float(np.asarray(prob)[mask].mean())) if prob is not None else 1.0
    off_r, off_c = int(offset[0]), int(offset[1])
    return Section(
        frame_index=int(frame_index),
        centroid_row=float(rows.mean()) + off_r,
        centroid_col=float(cols.mean()) + off_c,
        area_px=int(rows.size),
        d1_px=d1_px,
        d2_px=d2_px,
        d1_mm=d1_mm,
        d2_mm=d2_mm,
        area_mm2=area_mm2,
        score=score,
        bbox=(int(r0) + off_r, int(c0) + off_c, int(r1) + off_r, int(c1) + off_c),
        dent_px=dent_px,
        dent_mm=dent_mm,
    )


def measure_frame(seg: FrameSegmentation) -> FrameMeasurement:
    """Follicle instances and the ovary of one segmented frame, measured.

    Parameters
    ----------
    seg : FrameSegmentation
        Network output on the region grid of one frame.

    Returns
    -------
    FrameMeasurement
        ``follicles`` sorted largest first (by pixel area), ``instances`` the matching map on
        the region grid (value ``k`` is ``follicles[k-1]``), ``ovary`` the largest ovary
        component (ovary and follicle labels together, holes filled, holding ovary pixels) or
        ``None``; ``flags`` the network's flags for the frame (``seg.flags``) plus
        ``"uncalibrated"`` when the frame has no spacing. A follicle or ovary reaching the edge
        of the scan area (``seg.scan``, the region grid's border) is ``at_edge``. A follicle's
        dent is measured with the frame's burned-in graphics (``seg.graphics``: calipers drawn in
        colour or found on the grey pixels), grown by :data:`GRAPHICS_MARGIN_PX`, that lie in its convex hull filled in
        (:func:`measure_mask`'s ``graphics``).
    """
    record = seg.record
    cal = record.calibration
    sr, sc = cal.spacing_row_mm, cal.spacing_col_mm
    region_row, region_col = record.region[1], record.region[0]
    raw = follicle_instances(
        seg.labels,
        seg.follicle_prob,
        spacing_row_mm=sr,
        spacing_col_mm=sc,
        min_diameter_mm=MIN_SECTION_DIAMETER_MM,
    )
    sections: list[tuple[int, Section]] = []
    boxes = find_boxes(raw)
    edge = _near_edge(seg) if seg.labels.any() else None  # once a frame, when it shows anything
    graphics = _grown(seg.graphics) if seg.graphics is not None and boxes else None
    for k, box in enumerate(boxes, start=1):
        if box is None:
            continue
        mask = raw[box] == k
        section = measure_mask(
            mask,
            sr,
            sc,
            (region_row + box[0].start, region_col + box[1].start),
            frame_index=seg.index,
            prob=seg.follicle_prob[box],
            graphics=None if graphics is None else graphics[box],
        )
        at_edge = edge is not None and bool(edge[box][mask].any())
        sections.append((k, replace(section, at_edge=at_edge)))
    sections.sort(key=lambda ks: (-ks[1].area_px, ks[1].centroid_row, ks[1].centroid_col))
    lut = np.zeros(len(boxes) + 1, dtype=np.int32)  # find_objects: one entry per label up to the largest
    for rank, (k, _) in enumerate(sections, start=1):
        lut[k] = rank
    instances = np.zeros_like(raw)
    found = [b for b in boxes if b is not None]
    if found:  # renumbered in the box around the follicles only
        window = tuple(slice(min(b[i].start for b in found), max(b[i].stop for b in found)) for i in (0, 1))
        instances[window] = lut[raw[window]]
    ovary = _largest_ovary(seg, sr, sc, (region_row, region_col), edge)
    return FrameMeasurement(
        record=record,
        frame_index=seg.index,
        follicles=tuple(s for _, s in sections),
        ovary=ovary,
        instances=instances,
        flags=tuple(seg.flags) + (() if cal.calibrated else ("uncalibrated",)),
    )


def _grown(graphics: np.ndarray) -> np.ndarray:
    """``graphics`` (boolean) grown by :data:`GRAPHICS_MARGIN_PX` each way (8-connected)."""
    size = 2 * GRAPHICS_MARGIN_PX + 1
    return cv2.dilate(graphics.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)


def _near_edge(seg: FrameSegmentation) -> np.ndarray:
    """Pixels of the region grid within :data:`EDGE_PX` of the scan area's edge: next to a pixel
    outside the scan area (``seg.scan``) or to the grid's border."""
    outside: np.ndarray = np.zeros(seg.labels.shape, np.uint8) if seg.scan is None else (~seg.scan).astype(np.uint8)
    outside = cv2.copyMakeBorder(outside, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    near = cv2.dilate(outside, np.ones((2 * EDGE_PX + 1,) * 2, np.uint8))
    return near[1:-1, 1:-1].astype(bool)


def _largest_ovary(
    seg: FrameSegmentation,
    spacing_row_mm: float | None,
    spacing_col_mm: float | None,
    offset: tuple[int, int],
    edge: np.ndarray | None,
) -> Section | None:
    """The largest ovary component (labels 1|2, holes filled) holding ovary pixels, measured;
    ``at_edge`` when it has a pixel of ``edge`` (:func:`_near_edge`)."""
    tissue = seg.labels > 0
    rows, cols = np.flatnonzero(tissue.any(axis=1)), np.flatnonzero(tissue.any(axis=0))
    if rows.size == 0:
        return None
    r0, c0 = int(rows[0]), int(cols[0])
    window = (slice(r0, int(rows[-1]) + 1), slice(c0, int(cols[-1]) + 1))
    components, n = ndi.label(tissue[window], structure=_EIGHT)
    is_ovary = seg.labels[window].ravel() == OVARY
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    has_ovary = np.bincount(components.ravel()[is_ovary], minlength=n + 1)
    sizes[has_ovary == 0] = 0
    sizes[0] = 0
    best = int(np.argmax(sizes))
    if sizes[best] == 0:
        return None
    box = ndi.find_objects(components, max_label=best)[best - 1]
    where = (slice(r0 + box[0].start, r0 + box[0].stop), slice(c0 + box[1].start, c0 + box[1].stop))
    mask = fill_holes(components[box] == best)
    section = measure_mask(
        mask,
        spacing_row_mm,
        spacing_col_mm,
        (offset[0] + where[0].start, offset[1] + where[1].start),
        frame_index=seg.index,
        prob=seg.ovary_prob[where],
        dent=False,
    )
    return replace(section, at_edge=edge is not None and bool(edge[where][mask].any()))
