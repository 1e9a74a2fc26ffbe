"""Where a cine turns back: a sweep through the ovary and back split into one-way passes.

A sonographer often sweeps through the ovary and back in one cine. Tracked as one sweep, each
follicle is seen twice, apart in time: two tracks, the count doubled. The place in the frame is
no proof of the same follicle, so the turn is told from the whole frame instead: at a turn at
frame ``c``, frame ``c + k`` shows the plane of frame ``c - k`` again (the same ovary outline,
follicles and surroundings) for ``k = 1..K``, while in a one-way sweep frames ``2k`` apart differ
more than frames ``k`` apart.

Each frame is kept as its *look* (:func:`frame_look`): the log grey level averaged over cells of
:data:`CELL_MM` inside the scan area (speckle, redrawn every frame, averages out; the ovary and
its surroundings stay). Two looks differ by ``1 -`` their correlation over the cells inside the
scan area on both. A turn at ``c`` (a frame, or between two frames) is where the mirrored frames
differ far less than each from the turn: ``sum_k d(c-k, c+k) < TURN_RATIO x sum_k (d(c-k, c) +
d(c, c+k)) / 2``, over ``k = 1..TURN_FRAMES``. A still-held probe or a slow sweep (neighbouring
frames near alike) is no turn: its mirrored frames differ as much as each from the middle (ratio
about 1), and in a one-way sweep more (up to 2).

Measured on sweeps of the synthetic generator (6 scenes, 20 frames 0.8-0.9 mm apart, speckle
redrawn each frame; ``TURN_FRAMES = 8``): turns at the sweep's end, or after 14 frames back from
its 20th, ratio 0.07-0.38 (a pause of 3 frames at the turn: 0.12-0.28, and 0.52 on one scene, a
turn not told); one-way sweeps 0.72-1.76, slow sweeps (a quarter of the step) 0.62-2.17, a probe
held 5-6 frames in a sweep 0.73-1.99. :data:`TURN_RATIO` lies between. The network's probability
maps told them apart less well (the ovary is symmetric about its centre: frames ``c - k`` and
``c + k`` of a one-way sweep through it look alike to the network: 0.43 on one scene,
comparing 4 frames a side).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: Side of the cells a frame's look averages, in mm (speckle grain is under 1 mm).
CELL_MM = 4.0
#: Cell side on an uncalibrated frame, as a fraction of the region's rows (4 mm of a 100 mm depth).
CELL_FRACTION_UNCALIBRATED = 0.04
#: Frames on each side of a turn compared with their mirror images: a pass shorter than this
#: beyond the turn is not told (its follicles may be counted twice).
TURN_FRAMES = 8
#: A turn: the mirrored frames differ less than this fraction of how much each differs from the turn.
TURN_RATIO = 0.5
#: Cells of a look less than this much inside the scan area are left out.
MIN_CELL_INSIDE = 0.99


def frame_look(
    pixels: np.ndarray, scan: np.ndarray | None, spacing_row_mm: float | None, spacing_col_mm: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """A frame's look: the mean of ``log(1 + grey)`` over cells of :data:`CELL_MM` (uncalibrated:
    :data:`CELL_FRACTION_UNCALIBRATED` of the rows), and which cells lie in the scan area ``scan``
    (``None``: the whole frame).

    >>> look, inside = frame_look(np.full((80, 120), 50, np.uint8), None, 0.5, 0.5)
    >>> look.shape, bool(inside.all()), round(float(look[0, 0]), 3)
    ((10, 15), True, 3.932)
    """
    rows, cols = pixels.shape
    if spacing_row_mm and spacing_col_mm:
        cell = (CELL_MM / spacing_row_mm, CELL_MM / spacing_col_mm)
    else:
        cell = (CELL_FRACTION_UNCALIBRATED * rows,) * 2
    size = (max(1, round(cols / cell[1])), max(1, round(rows / cell[0])))
    area = np.ones(pixels.shape, np.float32) if scan is None else scan.astype(np.float32)
    grey = np.log1p(pixels.astype(np.float32)) * area
    look = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    inside = cv2.resize(area, size, interpolation=cv2.INTER_AREA) >= MIN_CELL_INSIDE
    return look, inside


def differences(looks: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """``1 -`` the correlation of every two looks over the cells inside the scan area on all
    frames (a frame ``n x n`` matrix; 1 where a look is flat)."""
    inside = np.logical_and.reduce([m for _, m in looks])
    x = np.stack([look[inside] for look, _ in looks]).astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
    return 1.0 - x @ x.T


def turning_points(looks: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[tuple[int, int]]:
    """Where a cine of these looks (its frames in order) turns back: for each turn, the positions
    of the last frame of the pass before and the first of the pass after (one frame when the
    turn is on it, ``(c, c)``; two neighbours when it falls between them, ``(c, c + 1)``).

    Each turn is the lowest ratio (module docstring) below :data:`TURN_RATIO` within
    :data:`TURN_FRAMES` frames, with :data:`TURN_FRAMES` frames on each side to compare.
    """
    n = len(looks)
    if n < 2 * TURN_FRAMES + 1:
        return []
    d = differences(looks)
    ks = np.arange(1, TURN_FRAMES + 1)
    ratios = []
    for lo, hi in [(c2 // 2, (c2 + 1) // 2) for c2 in range(2 * TURN_FRAMES, 2 * (n - 1 - TURN_FRAMES) + 1)]:
        mirror = d[lo - ks, hi + ks].sum()
        travel = (d[lo - ks, lo].sum() + d[hi, hi + ks].sum()) / 2
        ratios.append((mirror / travel if travel > 0 else np.inf, lo, hi))
    turns: list[tuple[int, int]] = []
    for ratio, lo, hi in sorted(ratios):
        if ratio >= TURN_RATIO:
            break
        if all(abs(lo - a) > TURN_FRAMES and abs(hi - b) > TURN_FRAMES for a, b in turns):
            turns.append((lo, hi))
    return sorted(turns)


def pass_bounds(n_frames: int, turns: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The first and last position of each pass of a cine of ``n_frames`` split at ``turns``.

    >>> pass_bounds(30, [(14, 15)]), pass_bounds(29, [(14, 14)]), pass_bounds(5, [])
    ([(0, 14), (15, 29)], [(0, 14), (14, 28)], [(0, 4)])
    """
    starts = [0, *(hi for _, hi in turns)]
    ends = [*(lo for lo, _ in turns), n_frames - 1]
    return list(zip(starts, ends))
