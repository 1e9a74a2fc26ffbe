"""From a label mask to follicle instances (one integer per follicle).

The network labels every pixel background (0), ovary (1) or follicle (2). A transvaginal frame
shows one ovary, so :func:`labels_from_probs` keeps one ovary region (the connected ovary +
follicle region with the largest summed foreground probability, weighted towards the frame's
centre line where a sonographer puts the ovary; one the sonographer's calipers touch before any
other) and makes every other candidate background; where the sonographer measured the ovary by
two crossing diameters, the ellipse they span is the ovary kept (:func:`measures_the_ovary`).
Counting needs one object per follicle, so :func:`follicle_instances`:

1. fills holes in the follicle mask (speckle or an echogenic spot inside a follicle);
2. keeps only follicle components inside or touching a segmented ovary (a follicle component
   with at least one ovary pixel among its 8 neighbours; a follicle enclosed by ovary always
   has one);
3. splits touching follicles with a watershed of the distance transform (computed with the
   physical pixel ``sampling``, so anisotropic spacing is honoured), seeded by the h-maxima of
   that transform that stand ``SPLIT_DEPTH_PX`` pixels above their saddles; two neighbouring
   pieces stay apart when the smaller one's peak (its inscribed radius) stands out from the
   saddle between them by ``SPLIT_DEPTH_FRACTION`` of that peak, else they are joined. So one
   elongated follicle (whose distance ridge falls monotonically from the centre) or a follicle
   with a ragged wall is not split, while two follicles meeting at a neck are, a small one
   beside a large one included. The split is of the component with its holes filled (splitting
   around them cut a follicle with a few echogenic spots into wedges), unless splitting around
   the holes gives more pieces whose every cut meets the component's outline at a notch: three
   or four follicles that all touch, or a ring of them around enclosed tissue, enclose a gap
   (a hole of their union) and their filled union has no neck inside; a wedge's cut runs from a
   spot to a smooth wall (``scripts/split_probe.py`` counts all three shapes);
4. drops pieces smaller than a physical minimum (area-equivalent diameter below
   ``min_diameter_mm``), or, on uncalibrated frames, below ``min_area_px`` pixels.

Everything works on the region grid of :class:`follicle_seg.types.FrameSegmentation`.
"""

from __future__ import annotations

import math
from typing import cast

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull
from skimage.morphology import local_maxima, reconstruction
from skimage.segmentation import watershed

from follicle_seg.types import FOLLICLE, OVARY

#: Smallest section kept on an uncalibrated frame, in pixels (about a 5-pixel disc). The count
#: threshold applied to whole follicles is ``tracking.MIN_DIAMETER_PX_UNCALIBRATED``.
MIN_AREA_PX_UNCALIBRATED = 20
#: Absolute depth, in pixels (of the finer axis), a distance-transform peak needs above its
#: saddle to seed its own follicle: pixel staircase bumps on the ridge stay below it.
SPLIT_DEPTH_PX = 2.0
#: Relative depth: fraction of the smaller of two neighbouring peaks (inscribed radii).
SPLIT_DEPTH_FRACTION = 0.2
#: Distance transform quantisation (fraction of the smaller pixel size) used for h-maxima.
_QUANTUM = 0.05
#: A cut between two pieces split around a component's holes must meet the outline at a dent at
#: least this fraction of the smaller piece's inscribed radius deep (``scripts/split_probe.py``:
#: at 0.4, 5 of 400 spotted single follicles cut in two against 4 not splitting around holes,
#: 141 of 200 rings and 188 of 200 clusters cut into their follicles against 6 and 53; 0.2 cut 14
#: singles, 0.5 fewer clusters).
NOTCH_FRACTION = 0.4

CENTRE_SIGMA = 0.4
"""How far off the frame's vertical centre line an ovary candidate may sit before its score
fades: the candidate's summed foreground probability is weighted by ``exp(-x**2 / (2 *
CENTRE_SIGMA**2))``, ``x`` its centroid's offset from the centre line in half-widths of the
region (0 on the line, 1 at the side). A sonographer centres the ovary: in the 67 real captures
of ``scripts/eval_real.py`` half the expert outlines sit within 0.14 half-widths of the line and
90 % within 0.34. The weight halves at 0.47 half-widths, so a clearly stronger candidate off to
the side still wins. Set on those captures (flat from 0.3 to 0.5); docs/model.md, "Inference"."""

#: The calipers' outline of a section (``io.marks.measured_outline``) is a follicle's, not the
#: ovary's, when the network's mean follicle probability over it reaches this
#: (:func:`measures_the_ovary`)...
OUTLINE_FOLLICLE_MAX = 0.5
#: ... and something measured inside the ovary when this share of it or more lies in the region
#: the network kept...
OUTLINE_INSIDE = 0.9
#: ... while it spans under this share of that region's area: a follicle of under 45 % of the
#: ovary's diameter (real captures: every outline taken spans 0.25 or more of the network's
#: region; two synthetic follicles measured in an ovary the network found, 0.03 and 0.11).
OUTLINE_SMALL = 0.2

_EIGHT = np.ones((3, 3), dtype=bool)
_FOUR = ndi.generate_binary_structure(2, 1)


def class_labels(probs: np.ndarray) -> np.ndarray:
    """``probs.argmax(0)`` as ``uint8`` (the first class wins a tie), a class at a time: three
    times faster than numpy's ``argmax`` over the leading axis of a frame's probabilities.

    Examples
    --------
    >>> p = np.array([[0.5, 0.2, 0.4], [0.5, 0.7, 0.2], [0.0, 0.1, 0.4]], np.float32)[:, None, :]
    >>> class_labels(p).tolist(), p.argmax(0).tolist()
    ([[0, 1, 0]], [[0, 1, 0]])
    """
    labels = np.zeros(probs.shape[1:], np.uint8)
    best = probs[0]
    for k in range(1, len(probs)):
        np.copyto(labels, k, where=probs[k] > best)
        best = np.maximum(best, probs[k])
    return labels


def labels_from_probs(probs: np.ndarray, *, hull: bool = True, marked: np.ndarray | None = None,
                      outline: np.ndarray | None = None) -> np.ndarray:
    """Label map of one frame from class probabilities: ``argmax``, then one ovary kept.

    Parameters
    ----------
    probs : numpy.ndarray
        ``(3, rows, cols)`` probabilities of background, ovary, follicle.
    marked : numpy.ndarray, optional
        Boolean (or non-zero where marked), the area the sonographer's caliper marks span
        (``io.marks.marked_area``): calipers measure the ovary or a follicle in it, so a region
        touching it outranks any region that does not (among those touching it, the score decides).
    outline : numpy.ndarray, optional
        Boolean (or non-zero inside), the section the sonographer measured by its two crossing
        diameters (``io.marks.measured_outline``): where it is the ovary's
        (:func:`measures_the_ovary`), it is the ovary kept, with the network's follicles that
        touch it, in place of the network's region.

    Returns
    -------
    numpy.ndarray
        ``uint8`` labels: the connected region of ovary + follicle pixels (8-connected) with the
        best score (summed foreground probability ``1 - p(background)``, weighted towards the
        centre line, :data:`CENTRE_SIGMA`) keeps its labels; any other region (a look-alike
        elsewhere in the frame) becomes background. With ``hull``, the background inside that
        region's convex hull becomes ovary: an ovary is convex in section, and a network unsure
        of the stroma leaves it ragged or notched.

    Examples
    --------
    >>> p = np.zeros((3, 20, 40), np.float32); p[0] = 1.0
    >>> p[:, 5:15, 14:24] = np.array([0.1, 0.9, 0.0])[:, None, None]   # a confident ovary
    >>> p[:, 8:11, 30:33] = np.array([0.4, 0.6, 0.0])[:, None, None]   # a small, weak candidate
    >>> lab = labels_from_probs(p)
    >>> int((lab[5:15, 14:24] == OVARY).sum()), int(lab[8:11, 30:33].sum())
    (100, 0)
    >>> calipers = np.zeros((20, 40), bool); calipers[9, 29:35] = True  # measuring the weak one
    >>> lab = labels_from_probs(p, marked=calipers)
    >>> int(lab[5:15, 14:24].sum()), int((lab[8:11, 30:33] == OVARY).sum())
    (0, 9)
    """
    labels = class_labels(probs)
    outline = None if outline is None else np.asarray(outline, bool)
    follicles = labels == FOLLICLE  # before the pick: those an outline keeps lie anywhere
    regions, score = _candidates(probs, labels, marked)
    if score.size > 1:
        labels[regions != int(np.argmax(score)) + 1] = 0
    if hull and score.size:
        box = ndi.find_objects((labels > 0).astype(np.uint8))[0]  # the hull lies in the region's box
        sub = labels[box]
        sub[(sub == 0) & convex_hull_mask(sub > 0)] = OVARY
    if outline is not None and measures_the_ovary(probs, labels > 0, outline):
        return outlined_ovary(follicles, outline)
    return labels


def measures_the_ovary(probs: np.ndarray, kept: np.ndarray, outline: np.ndarray) -> bool:
    """Whether the section two crossing calipers measured (``outline``, boolean) is the ovary:
    not a follicle (the network's mean follicle probability over it is under
    :data:`OUTLINE_FOLLICLE_MAX`), nor anything small inside the ovary region the network kept
    (``kept``, boolean): :data:`OUTLINE_INSIDE` of it or more inside that region while under
    :data:`OUTLINE_SMALL` of its area. An empty outline is none.

    >>> p = np.zeros((3, 40, 40), np.float32); p[1] = 1.0
    >>> kept = np.zeros((40, 40), bool); kept[5:35, 5:35] = True
    >>> small, large = np.zeros_like(kept), np.zeros_like(kept); small[15:20, 15:20] = large[8:30, 8:36] = True
    >>> measures_the_ovary(p, kept, small), measures_the_ovary(p, kept, large)
    (False, True)
    >>> p[2, 8:30, 8:36] = 0.8                                   # the network sees a follicle there
    >>> measures_the_ovary(p, kept, large)
    False
    """
    area = np.count_nonzero(outline)
    if not area or probs[FOLLICLE][outline].mean() >= OUTLINE_FOLLICLE_MAX:
        return False
    return not (np.count_nonzero(kept & outline) >= OUTLINE_INSIDE * area and area < OUTLINE_SMALL * np.count_nonzero(kept))


def outlined_ovary(follicles: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """``uint8`` labels of the ovary the calipers outline (``outline``, boolean) and the
    follicles (boolean, the network's follicle pixels) touching it, whole (8-connected)."""
    pieces = ndi.label(follicles, structure=_EIGHT)[0]
    touching = np.unique(pieces[outline & follicles])
    labels = np.where(outline, OVARY, 0).astype(np.uint8)
    labels[np.isin(pieces, touching[touching > 0])] = FOLLICLE
    return labels


def _candidates(probs: np.ndarray, labels: np.ndarray, marked: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Connected ovary + follicle regions (8-connected) and each one's score: its summed
    ``1 - p(background)`` weighted by how near its centroid lies to the centre line, plus the
    frame's pixel count (more than any region's sum) for a region touching ``marked``."""
    regions, n = ndi.label(labels > 0, structure=_EIGHT)
    if not n:
        return regions, np.zeros(0)
    inside = np.flatnonzero(regions)  # sums over the candidates' pixels alone (a small share of a frame)
    region = regions.ravel()[inside] - 1
    mass = np.bincount(region, weights=1.0 - probs[0].ravel()[inside], minlength=n)
    centroid_cols = np.bincount(region, weights=inside % labels.shape[1], minlength=n) / np.bincount(region, minlength=n)
    half = labels.shape[1] / 2.0
    offset = (centroid_cols + 0.5 - half) / half
    score = mass * np.exp(-0.5 * (offset / CENTRE_SIGMA) ** 2)
    if marked is not None:
        touched = np.unique(regions[np.asarray(marked, bool) & (regions > 0)]) - 1  # (a uint8 mask would index rows)
        score[touched] += labels.size
    return regions, score


def ovary_score(probs: np.ndarray, marked: np.ndarray | None = None) -> float:
    """Score of the region :func:`labels_from_probs` keeps (its summed foreground probability,
    weighted towards the centre line), as a share of the frame's pixels (0 when nothing is
    found), plus 1 when it touches ``marked`` (the area the sonographer's calipers span): how
    much ovary one reading of a frame sees, and where a sonographer would put or measure it.

    Examples
    --------
    >>> p = np.zeros((3, 10, 10), np.float32); p[0] = 1.0
    >>> p[:, 2:6, 3:7] = np.array([0.2, 0.8, 0.0])[:, None, None]      # on the centre line
    >>> round(ovary_score(p), 3)
    0.128
    >>> q = np.roll(p, 3, axis=2)                                          # off to the side
    >>> round(ovary_score(q), 3)
    0.042
    """
    _, score = _candidates(probs, class_labels(probs), marked)
    return float(score.max()) / probs[0].size if score.size else 0.0


def follicle_instances(
    labels: np.ndarray,
    follicle_prob: np.ndarray | None = None,
    *,
    spacing_row_mm: float | None,
    spacing_col_mm: float | None,
    min_diameter_mm: float = 2.0,
    min_area_px: int = MIN_AREA_PX_UNCALIBRATED,
) -> np.ndarray:
    """Label each follicle of a label mask with its own integer.

    Parameters
    ----------
    labels : numpy.ndarray
        2-D label mask (0 background, 1 ovary, 2 follicle) on the region grid.
    follicle_prob : numpy.ndarray, optional
        Follicle probability of the same shape. Not used to draw the instances (the mask
        decides); accepted so callers hand the network output as is and checked for shape.
    spacing_row_mm, spacing_col_mm : float or None
        Distance between rows / columns in mm; both ``None`` on an uncalibrated frame.
    min_diameter_mm : float
        Pieces whose area-equivalent diameter is below this are dropped (calibrated frames).
    min_area_px : int
        Pieces with fewer pixels are dropped (uncalibrated frames).

    Returns
    -------
    numpy.ndarray
        ``int32`` map of the same shape: 0 outside follicles, 1..n one value per follicle,
        numbered in raster order of their first pixel.

    Examples
    --------
    >>> lab = np.ones((40, 60), np.uint8)
    >>> rr, cc = np.mgrid[:40, :60]
    >>> lab[(rr - 20) ** 2 + (cc - 18) ** 2 <= 64] = 2
    >>> lab[(rr - 20) ** 2 + (cc - 33) ** 2 <= 64] = 2
    >>> int(follicle_instances(lab, spacing_row_mm=0.5, spacing_col_mm=0.5).max())
    2
    """
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D array, got shape {labels.shape}")
    if follicle_prob is not None and follicle_prob.shape != labels.shape:
        raise ValueError(
            f"follicle_prob shape {follicle_prob.shape} differs from labels shape {labels.shape}"
        )
    calibrated = spacing_row_mm is not None and spacing_col_mm is not None
    sampling = cast("tuple[float, float]", (spacing_row_mm, spacing_col_mm)) if calibrated else (1.0, 1.0)
    if calibrated and (spacing_row_mm <= 0 or spacing_col_mm <= 0):  # type: ignore[operator]
        raise ValueError(f"spacing must be positive, got {sampling}")
    pixel_area = float(sampling[0] * sampling[1])
    min_area = (math.pi / 4.0) * min_diameter_mm**2 / pixel_area if calibrated else min_area_px
    depth = SPLIT_DEPTH_PX * min(sampling)

    out = np.zeros(labels.shape, dtype=np.int32)
    box = bounding_box(labels == FOLLICLE)
    if box is None:
        return out
    window = _pad(box, labels.shape)  # all work on the follicles' bounding box, 1-pixel margin
    drawn = labels[window] == FOLLICLE
    follicle = fill_holes(drawn)
    ovary = labels[window] == OVARY
    components, n = ndi.label(follicle, structure=_EIGHT)
    near_ovary = np.zeros(n + 1, dtype=bool)
    near_ovary[components[ndi.binary_dilation(ovary, _EIGHT) & follicle]] = True
    placed = out[window]
    next_id = 1
    for k, comp_box in enumerate(ndi.find_objects(components), start=1):
        if comp_box is None or not near_ovary[k]:
            continue
        padded = _pad(comp_box, components.shape)
        comp = components[padded] == k
        for piece in _split_filled(comp, comp & drawn[padded], sampling, depth):
            if piece.sum() < min_area:
                continue
            placed[padded][piece] = next_id
            next_id += 1
    return out


def find_boxes(instances: np.ndarray, max_label: int = 0) -> list[tuple[slice, slice] | None]:
    """``scipy.ndimage.find_objects`` of an instance map, searched only in the box around its
    non-zero pixels: a frame's follicles fill a small part of it (0.7 ms a frame saved on the
    demo's 449 x 848 regions, twice: measuring and tracking).

    Examples
    --------
    >>> ids = np.zeros((50, 60), np.int32); ids[10:14, 40:45] = 2; ids[30, 5] = 1
    >>> find_boxes(ids)
    [(slice(30, 31, None), slice(5, 6, None)), (slice(10, 14, None), slice(40, 45, None))]
    """
    box = bounding_box(instances != 0)
    if box is None:
        return [None] * max_label
    r0, c0 = box[0].start, box[1].start
    return [
        None if b is None else (slice(b[0].start + r0, b[0].stop + r0), slice(b[1].start + c0, b[1].stop + c0))
        for b in ndi.find_objects(instances[box], max_label=max_label)
    ]


def bounding_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """Bounding box of the true (non-zero) pixels of a 2-D array, or ``None`` when there are none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _pad(box: tuple[slice, slice], shape: tuple[int, ...]) -> tuple[slice, slice]:
    """Grow a bounding box by one pixel on each side, clipped to the image."""
    return tuple(  # type: ignore[return-value]
        slice(max(s.start - 1, 0), min(s.stop + 1, size)) for s, size in zip(box, shape)
    )


def _split_filled(
    comp: np.ndarray, drawn: np.ndarray, sampling: tuple[float, float], depth: float
) -> list[np.ndarray]:
    """Split one follicle component (holes filled, ``comp``; as the network drew it, ``drawn``)
    into its follicles: :func:`_split` of the filled component, unless splitting around its holes
    gives more pieces whose every cut meets the outline at a notch (:func:`_cuts_end_in_notches`),
    each piece's holes of its own filled. Three or four follicles that all touch leave a small gap
    between them, a hole of their union, and the filled union has no neck to cut at; a follicle
    cut around echogenic spots inside it falls into wedges whose cuts meet its smooth wall.
    """
    pieces = _split(comp, sampling, depth)
    if drawn.sum() == comp.sum():
        return pieces
    around = [fill_holes(p) for p in _split(drawn, sampling, depth)]
    if len(around) > len(pieces) and _cuts_end_in_notches(comp, around, sampling, depth):
        return around
    return pieces


def _cuts_end_in_notches(
    comp: np.ndarray, pieces: list[np.ndarray], sampling: tuple[float, float], depth: float
) -> bool:
    """Whether every cut between two pieces of ``comp`` that reaches its outline reaches it at a
    notch (a dent at least ``depth`` and :data:`NOTCH_FRACTION` of the smaller piece's inscribed
    radius deep in the component's convex hull), and at least one cut does. Touching
    follicles meet at such notches; a cut from an echogenic spot to a follicle's wall does not."""
    comp = np.pad(comp, 1)  # a component cut by the array's edge: the edge is outline, not a notch
    ids = np.zeros(comp.shape, np.int32)
    for k, piece in enumerate(pieces, start=1):
        ids[np.pad(piece, 1)] = k
    radii = [0.0] + [float(ndi.distance_transform_edt(p, sampling=sampling).max()) for p in pieces]
    dent = ndi.distance_transform_edt(convex_hull_mask(comp), sampling=sampling)
    outline = comp & ndi.binary_dilation(~comp, structure=_FOUR)
    notched = False
    for here, there in _NEIGHBOURS:
        a, b = ids[here], ids[there]
        cut = (a != b) & (a > 0) & (b > 0)
        for side in (here, there):
            ends = cut & outline[side]
            for key in set(zip(a[ends].tolist(), b[ends].tolist())):
                at = ends & (a == key[0]) & (b == key[1])
                need = max(depth, NOTCH_FRACTION * min(radii[key[0]], radii[key[1]]))
                if float(dent[side][at].max()) < need:
                    return False
                notched = True
    return notched


def _split(comp: np.ndarray, sampling: tuple[float, float], depth: float) -> list[np.ndarray]:
    """Split one connected follicle component (holes filled) into its follicles: the watershed of
    its distance transform, shallow basins joined (a list of boolean masks)."""
    dist = ndi.distance_transform_edt(comp, sampling=sampling)
    quantum = _QUANTUM * min(sampling)
    levels = np.round(dist / quantum).astype(np.int32)
    if ndi.label(local_maxima(levels, connectivity=2) & comp, structure=_EIGHT)[1] <= 1:
        return [comp]  # a single peak (a convex follicle): nothing to split
    # Regional maxima of the reconstruction of (dist - depth) under dist: one plateau per peak
    # that rises at least ``depth`` above its saddle (equal twin peaks on one plateau: one seed).
    lowered = np.maximum(levels - max(int(round(depth / quantum)), 1), 0)
    domes = reconstruction(lowered, levels, method="dilation")
    seeds, n_seeds = ndi.label(local_maxima(domes, connectivity=2) & comp, structure=_EIGHT)
    if n_seeds <= 1:
        return [comp]
    basins = _join_shallow(watershed(-dist, seeds, mask=comp), dist, n_seeds)
    return [basins == s for s in np.unique(basins[basins > 0])]


def _join_shallow(basins: np.ndarray, dist: np.ndarray, n: int) -> np.ndarray:
    """Join neighbouring watershed basins whose smaller peak stands out from the saddle between
    them by less than :data:`SPLIT_DEPTH_FRACTION` of that peak, shallowest first (a joined
    basin takes the higher peak and both saddles), and return the relabelled basins."""
    peaks = np.zeros(n + 1)
    peaks[1:] = ndi.maximum(dist, basins, index=np.arange(1, n + 1))
    saddles: dict[tuple[int, int], float] = {}
    for a, b, da, db in _neighbour_pairs(basins, dist):
        for key, value in _pair_heights(a, b, np.minimum(da, db)):
            saddles[key] = max(saddles.get(key, 0.0), value)
    parent = np.arange(n + 1)
    while saddles:
        (a, b), saddle = min(saddles.items(), key=lambda kv: _relative_depth(peaks, *kv[0], kv[1]))  # type: ignore[call-arg]  # (a mypy slip: *Any)
        if _relative_depth(peaks, a, b, saddle) >= SPLIT_DEPTH_FRACTION:
            break
        parent[parent == b] = a  # b joins a
        peaks[a] = max(peaks[a], peaks[b])
        joined: dict[tuple[int, int], float] = {}
        for (x, y), value in saddles.items():
            x, y = (a if x == b else x), (a if y == b else y)
            if x != y:
                key = (min(x, y), max(x, y))
                joined[key] = max(joined.get(key, 0.0), value)
        saddles = joined
    return parent[basins]


def _relative_depth(peaks: np.ndarray, a: int, b: int, saddle: float) -> float:
    smaller = min(peaks[a], peaks[b])
    return (smaller - saddle) / smaller if smaller > 0 else 0.0


#: Slices pairing every pixel with its right, lower, lower-right and lower-left neighbour.
_NEIGHBOURS = (
    ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
    ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
    ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None))),
    ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))),
)


def _neighbour_pairs(basins: np.ndarray, dist: np.ndarray):
    """(label, label, dist, dist) arrays of 8-neighbouring pixels in two different basins."""
    for here, there in _NEIGHBOURS:
        a, b = basins[here], basins[there]
        border = (a != b) & (a > 0) & (b > 0)
        yield a[border], b[border], dist[here][border], dist[there][border]


def _pair_heights(a: np.ndarray, b: np.ndarray, height: np.ndarray):
    """((smaller label, larger label), highest height) for each pair of labels in ``a``/``b``."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    for key in set(zip(lo.tolist(), hi.tolist())):
        at = (lo == key[0]) & (hi == key[1])
        yield key, float(height[at].max())


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` (4-connected background) by one flood fill of the
    background from the border: background it does not reach is a hole. Ten times faster on a
    scan-sized mask than the iterative dilation scipy uses, with the same result.

    Examples
    --------
    >>> ring = np.zeros((5, 5), bool); ring[1:4, 1:4] = True; ring[2, 2] = False
    >>> bool(fill_holes(ring)[2, 2]), int(fill_holes(ring).sum())
    (True, 9)
    """
    # a background ring joins every border pixel; C order for OpenCV (a transposed mask pads to F order)
    framed = np.ascontiguousarray(np.pad(np.asarray(mask, dtype=bool), 1)).view(np.uint8)
    cv2.floodFill(framed, None, (0, 0), 2, flags=4)
    return framed[1:-1, 1:-1] != 2


def hull_candidates(mask: np.ndarray) -> np.ndarray:
    """The points of a mask's outline that can be corners of its convex hull.

    The outline is the mask's 0.5 iso-contour (marching squares), whose points are the midpoints
    between a mask pixel and an outside 4-neighbour. A midpoint inside a row's (or column's) run
    lies between that row's outermost two, so the hull is that of each row's leftmost and
    rightmost and each column's top and bottom midpoints: the same diameters as the whole
    contour (``tests/test_measure.py`` compares them) without tracing it. They are also the
    corners ``skimage.morphology.convex_hull_image`` takes the hull of (:func:`convex_hull_mask`).

    Examples
    --------
    >>> hull_candidates(np.array([[True]])).tolist()
    [[0.0, -0.5], [0.0, 0.5], [-0.5, 0.0], [0.5, 0.0]]
    """
    mask = np.asarray(mask, dtype=bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    left = mask[rows].argmax(axis=1)
    right = mask.shape[1] - 1 - mask[rows, ::-1].argmax(axis=1)
    top = mask[:, cols].argmax(axis=0)
    bottom = mask.shape[0] - 1 - mask[::-1, cols].argmax(axis=0)
    return np.concatenate([
        np.stack([rows, left - 0.5], axis=1),
        np.stack([rows, right + 0.5], axis=1),
        np.stack([top - 0.5, cols], axis=1),
        np.stack([bottom + 0.5, cols], axis=1),
    ]).astype(float)  # fmt: skip


def convex_hull_mask(mask: np.ndarray) -> np.ndarray:
    """``skimage.morphology.convex_hull_image`` (pixels whose centre lies inside or on the hull
    of the mask pixels' edge midpoints), exactly, by integer half-plane tests a row at a time
    instead of a point-in-polygon test for every pixel: 0.7 against 13 ms for a 200 x 300 px
    mask (``tests/test_instances.py`` compares them on 400 random masks).

    Examples
    --------
    >>> m = np.zeros((4, 5), bool); m[0, 0] = m[3, 4] = m[0, 4] = True
    >>> convex_hull_mask(m).astype(int).tolist()
    [[1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1]]
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros(mask.shape, dtype=bool)
    corners = hull_candidates(mask)
    v = np.rint(corners[ConvexHull(corners).vertices] * 2).astype(np.int64)  # doubled: integers
    w = np.roll(v, -1, axis=0)
    if np.sum(v[:, 0] * w[:, 1] - w[:, 0] * v[:, 1]) < 0:  # make the polygon counter-clockwise
        v, w = w, v
    d = w - v
    rows = 2 * np.arange(mask.shape[0])[:, None]
    # (2 row, 2 col) is inside or on edge v -> w when d_row * 2 col >= num
    num = d[:, 0] * v[:, 1] + d[:, 1] * (rows - v[:, 0])
    up, down = d[:, 0] > 0, d[:, 0] < 0
    big = np.iinfo(np.int64).max
    lo = np.where(up, -(-num // np.where(up, 2 * d[:, 0], 1)), -big).max(axis=1)  # ceiling division
    hi = np.where(down, num // np.where(down, 2 * d[:, 0], 1), big).min(axis=1)  # floor division
    level = cast(np.ndarray, np.where(d[:, 0] == 0, -d[:, 1] * (rows - v[:, 0]) >= 0, True).all(axis=1))  # (an axis given)
    cols = np.arange(mask.shape[1])
    return (cols >= lo[:, None]) & (cols <= hi[:, None]) & level[:, None]
