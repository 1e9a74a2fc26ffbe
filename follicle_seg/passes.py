"""Where a cine turns back: a sweep through the ovary and back split into one-way passes.

A sonographer often sweeps through the ovary and back in one cine. Tracked as one sweep, each
follicle is seen twice, apart in time: two tracks, the count doubled. The place in the frame is
no proof of the same follicle, so the turn is told from the whole frame instead: at a turn at
frame ``c``, frame ``c + k`` shows the plane of frame ``c - k`` again (the same ovary outline,
follicles and surroundings) for ``k = 1..K``, while in a one-way sweep frames ``2k`` apart differ
more than frames ``k`` apart.

Each frame is kept as its *look* (:func:`frame_look`): the log grey level averaged over cells of
:data:`CELL_MM` inside the scan area, less its mean over :data:`STRUCTURE_MM` about each cell.
Averaging leaves out most speckle; the structure kept is the follicles' pattern, not the ovary's
outline (alike in planes mirrored about its middle: a one-way sweep through it mirrors itself)
nor the shading (gain, TGC), which changes from frame to frame. Two looks differ by ``1 -``
their correlation over the cells inside the scan area on both (a dark or blank frame, the probe
lifted, is left out: :func:`usable`). A turn at ``c`` (a frame, or between two frames) is where
the mirrored frames differ far less than each from the turn:
``sum_k d(c-k, c+k) < TURN_RATIO x sum_k (d(c-k, c) + d(c, c+k)) / 2``, over ``k = 1..K`` for
each ``K`` of :data:`TURN_SCALES` (a hand slows before it turns: 8 frames a side of a slow turn
barely move). A still-held probe or a slow sweep (neighbouring frames near alike) is no turn: its
mirrored frames differ as much as each from the middle (ratio about 1), and in a one-way sweep
more (up to 2). A probe held still while the tissue breathes under it mirrors itself at each
extreme of the breath (ratio near 0): a turn also needs frames ``c - K`` and ``c + K`` to differ
from ``c`` by :data:`MIN_TRAVEL` at the in-plane shift that brings them closest
(:func:`still_apart`). Motion across the plane (the ovary moving through it as it breathes) is a
sweep to the looks: still told as turns.

Measured on a grid of generator cines (``scripts/measure_turns.py``, docs/measurement.md
"Sweeps"; 6 scenes, one per style family): no one-way cine of 162 split (lowest ratio 0.552;
0.543 with the speckle kept between planes under 2 mm apart), 74 of 108 turns with returns of 8
frames or more told (97 with the speckle kept), within a frame. Before, with 4 mm cells of the plain grey level (the
shading and the ovary's outline kept): 52 of 108 told at a threshold of 0.3 (none in the grainy
style), and with the speckle kept between planes 14 one-way cines of 150 split. The network's
probability maps told turns apart less well (the ovary is symmetric about its centre).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: Side of the cells a frame's look averages, in mm (speckle grain is under 1 mm).
CELL_MM = 2.0
#: Cell side on an uncalibrated frame, as a fraction of the region's rows (1.4 mm of the 70 mm
#: depth the network's input assumes, ``preprocess.ASSUMED_DEPTH_MM``).
CELL_FRACTION_UNCALIBRATED = 0.02
#: The smallest cell side, in pixels (a smaller cell averages no speckle, and the look would be
#: larger than the frame).
MIN_CELL_PX = 2.0
#: A look keeps the structure finer than this (mm): each cell less the Gaussian-weighted mean of
#: the look about it (this standard deviation), over the scan area. The ovary's outline, alike
#: in planes mirrored about its middle, and the shading (gain, TGC), which changes from frame to
#: frame, are left out; the follicles' pattern stays (measured in docs/measurement.md, "Sweeps").
STRUCTURE_MM = 4.0
#: Frames on each side of a turn compared with their mirror images, each scale tried where the
#: cine is long enough: a hand slows before it turns back, and 8 frames a side of a slow turn
#: barely move. A pass shorter than the smallest beyond the turn is not told (its follicles may
#: be counted twice).
TURN_SCALES = (8, 16, 32)
#: A turn: the mirrored frames differ less than this fraction of how much each differs from the
#: turn. A long one-way sweep through a roughly symmetric ovary in bland tissue mirrors itself
#: about the ovary's centre. On the grid of ``scripts/measure_turns.py`` (162 one-way cines, 132
#: with a turn; docs/measurement.md) one-way sweeps reach 0.552 at their lowest (0.543 with the
#: speckle kept between planes under 2 mm apart); turns told 74 of 108 (returns of 8 frames or more).
TURN_RATIO = 0.45
#: Cells of a look less than this much inside the scan area are left out.
MIN_CELL_INSIDE = 0.99
#: A turn: frames a scale's frames before and after it differ from it at least this much
#: (:func:`still_apart`), however the tissue is shifted in the plane. A probe held still while the
#: tissue breathes 1-5 mm in the plane (3 style families, periods of 40 and 80 frames): at most
#: 0.195 at an extreme of the breath. On the grid of ``scripts/measure_turns.py`` the check costs
#: 2 turns (76 of 108 told without it, 74 with; docs/measurement.md).
MIN_TRAVEL = 0.25
#: The largest in-plane shift :func:`still_apart` tries, in cells (12 mm).
MAX_SHIFT_CELLS = 6
#: A shift of a look is tried where the two looks overlap on at least this fraction of the inside
#: cells of the smaller (fewer, and independent looks of a small scan area read alike by chance).
MIN_OVERLAP = 0.5
#: A frame whose scan area holds fewer cells than this fraction of the fullest frame's is left out.
MIN_SCAN_SHARE = 0.5
#: A frame whose look varies less than this over its cells (log grey standard deviation) is left
#: out: a dark or blank frame (a tissue frame's is about 0.5-1).
MIN_SPREAD = 0.05


def frame_look(
    pixels: np.ndarray, scan: np.ndarray | None, spacing_row_mm: float | None, spacing_col_mm: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """A frame's look: the mean of ``log(1 + grey)`` over cells of :data:`CELL_MM` (uncalibrated:
    :data:`CELL_FRACTION_UNCALIBRATED` of the rows; :data:`MIN_CELL_PX` at least) less its mean about each cell
    (:data:`STRUCTURE_MM`), and which cells lie in the scan area ``scan`` (``None``: the whole
    frame). A frame of one grey level, or one brightened, looks the same: flat.

    >>> look, inside = frame_look(np.full((80, 120), 50, np.uint8), None, 0.5, 0.5)
    >>> look.shape, bool(inside.all()), round(float(abs(look).max()), 3)
    ((20, 30), True, 0.0)
    """
    rows, cols = pixels.shape
    if spacing_row_mm and spacing_col_mm:
        cell = (CELL_MM / spacing_row_mm, CELL_MM / spacing_col_mm)
    else:
        cell = (CELL_FRACTION_UNCALIBRATED * rows,) * 2
    cell = (max(cell[0], MIN_CELL_PX), max(cell[1], MIN_CELL_PX))
    size = (max(1, round(cols / cell[1])), max(1, round(rows / cell[0])))
    area = np.ones(pixels.shape, np.float32) if scan is None else scan.astype(np.float32)
    grey = np.log1p(pixels.astype(np.float32)) * area
    look = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    inside = cv2.resize(area, size, interpolation=cv2.INTER_AREA) >= MIN_CELL_INSIDE
    m = inside.astype(np.float32)
    sigma = STRUCTURE_MM / CELL_MM
    near = cv2.GaussianBlur(look * m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    weight = cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return (look - near / np.maximum(weight, 1e-6)) * m, inside


def usable(looks: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[int]:
    """The positions of the looks a turn is told from: not a frame whose scan area holds fewer
    than :data:`MIN_SCAN_SHARE` of the cells of the fullest frame, nor a flat one (a dark or blank
    frame: the probe lifted), whose correlation with any frame is undefined."""
    most = max((int(m.sum()) for _, m in looks), default=0)
    return [
        i for i, (look, m) in enumerate(looks)
        if m.sum() >= MIN_SCAN_SHARE * most and m.any() and float(look[m].std()) >= MIN_SPREAD
    ]  # fmt: skip


def differences(looks: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """``1 -`` the correlation of every two looks over the cells inside the scan area on both
    (a frame ``n x n`` matrix; 1 where a look is flat on those cells)."""
    x = np.stack([look.ravel() for look, _ in looks]).astype(np.float64)
    m = np.stack([inside.ravel() for _, inside in looks]).astype(np.float64)
    x *= m
    cells = m @ m.T  # cells inside on both
    sums = x @ m.T  # [i, j]: the sum of look i over the cells inside on both
    squares = (x * x) @ m.T
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = x @ x.T - sums * sums.T / cells
        var = squares - sums**2 / cells
        corr = cov / np.sqrt(var * var.T)
    return 1.0 - np.where(np.isfinite(corr) & (var > 0) & (var.T > 0), corr, 0.0)


def still_apart(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether looks ``a`` and ``b`` differ by :data:`MIN_TRAVEL` or more at the in-plane shift
    of ``b`` (up to :data:`MAX_SHIFT_CELLS` cells each way, whole cells, then quarter cells about
    the best) that brings them closest: what a moving tissue (breathing, a bowel loop), the probe
    held still, does not explain. The first shift that brings them closer answers (the nearest
    tried first)."""
    whole = sorted(
        ((float(dy), float(dx)) for dy in range(-MAX_SHIFT_CELLS, MAX_SHIFT_CELLS + 1)
         for dx in range(-MAX_SHIFT_CELLS, MAX_SHIFT_CELLS + 1)),
        key=lambda s: abs(s[0]) + abs(s[1]),
    )  # fmt: skip
    best = (np.inf, 0.0, 0.0)
    for dy, dx in whole:
        difference = _shifted_difference(a, b, dy, dx)
        if difference < MIN_TRAVEL:
            return False
        best = min(best, (difference, dy, dx))
    fine = [k / 4 for k in range(-2, 3)]
    return all(_shifted_difference(a, b, best[1] + dy, best[2] + dx) >= MIN_TRAVEL for dy in fine for dx in fine)


def _shifted_difference(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], dy: float, dx: float) -> float:
    """The difference of look ``a`` and look ``b`` shifted ``(dy, dx)`` cells; 1 where they overlap
    on fewer than :data:`MIN_OVERLAP` of the smaller look's inside cells."""
    (look_a, in_a), (look_b, in_b) = a, b
    shift, size = np.array([[1, 0, dx], [0, 1, dy]], np.float32), look_b.shape[::-1]
    look = cv2.warpAffine(look_b.astype(np.float32), shift, size, flags=cv2.INTER_LINEAR)
    both = in_a & (cv2.warpAffine(in_b.astype(np.float32), shift, size, flags=cv2.INTER_LINEAR) >= MIN_CELL_INSIDE)
    enough = both.sum() >= max(MIN_OVERLAP * min(in_a.sum(), in_b.sum()), 3)
    return float(differences([(look_a, both), (look, both)])[0, 1]) if enough else 1.0


def _ratios(d: np.ndarray, k_max: int) -> list[tuple[float, int, int]]:
    """(ratio, lo, hi) of each candidate turn with ``k_max`` frames on each side (module docstring)."""
    n = len(d)
    ks = np.arange(1, k_max + 1)
    out = []
    for lo, hi in [(c2 // 2, (c2 + 1) // 2) for c2 in range(2 * k_max, 2 * (n - 1 - k_max) + 1)]:
        mirror = d[lo - ks, hi + ks].sum()
        travel = (d[lo - ks, lo].sum() + d[hi, hi + ks].sum()) / 2
        out.append((mirror / travel if travel > 0 else np.inf, lo, hi))
    return out


def turning_points(looks: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[tuple[int, int]]:
    """Where a cine of these looks (its frames in order) turns back: for each turn, the positions
    of the last frame of the pass before and the first of the pass after (one frame when the
    turn is on it, ``(c, c)``; two neighbours when it falls between them, ``(c, c + 1)``; a dark
    frame left out by :func:`usable` may lie between them, in neither pass).

    Each turn is the lowest ratio (module docstring) below :data:`TURN_RATIO` at any of the
    :data:`TURN_SCALES` the cine is long enough for; a lower ratio found within the larger of
    two scales' frames of it is the same turn.
    """
    kept = usable(looks)
    if len(kept) < 2 * TURN_SCALES[0] + 1:
        return []
    d = differences([looks[i] for i in kept])
    found = [(ratio, lo, hi, k) for k in TURN_SCALES for ratio, lo, hi in _ratios(d, k) if ratio < TURN_RATIO]
    turns: list[tuple[int, int, int]] = []
    moved: dict[tuple[int, int], bool] = {}  # (frame, frame compared): still_apart, each pair once

    def travelled(i: int, j: int) -> bool:
        if (i, j) not in moved:
            moved[i, j] = still_apart(looks[kept[i]], looks[kept[j]])
        return moved[i, j]

    for _, lo, hi, k in sorted(found):
        if all(abs(lo - a) > max(k, ka) and abs(hi - b) > max(k, ka) for a, b, ka in turns) and (
            travelled(lo, lo - k) and travelled(hi, hi + k)
        ):
            turns.append((lo, hi, k))
    return sorted((kept[lo], kept[hi]) for lo, hi, _ in turns)


def pass_bounds(n_frames: int, turns: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The first and last position of each pass of a cine of ``n_frames`` split at ``turns``.

    >>> pass_bounds(30, [(14, 15)]), pass_bounds(29, [(14, 14)]), pass_bounds(5, [])
    ([(0, 14), (15, 29)], [(0, 14), (14, 28)], [(0, 4)])
    """
    starts = [0, *(hi for _, hi in turns)]
    ends = [*(lo for lo, _ in turns), n_frames - 1]
    return list(zip(starts, ends))
