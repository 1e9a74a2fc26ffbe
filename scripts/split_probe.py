"""How the follicle instance rules split hand-drawn masks: a check of ``instances.follicle_instances``
on shapes whose truth is known, without the network.

- ``spotted singles``: one follicle (an ellipse of 1.6-8 mm semi-axes at 0.2 mm/pixel, half of
  them with a wavy wall) with one to three echogenic spots (ovary-labelled discs up to a third
  of its minor axis) inside: how many are wrongly cut in two or more;
- ``rings``: three to seven follicles of one size touching around enclosed ovary tissue (evenly
  spaced, or, for 30 %, at random angles: those overlap, some past telling apart): how many come
  out as exactly their number of follicles;
- ``clusters``: three or four follicles of about one size (2-10 mm) all touching each other
  (a triangle or a square, 0-12 % overlap, any angle), the small gap between them the only
  tissue they enclose: how many come out as exactly their number of follicles.

Each line also says how many of the masks raise a review flag on their follicles (``FLAGS``):
a piece's own, measured as the pipeline measures a section, or the network's shape flag on the
mask (``model.infer.ood_flags`` read on it as if it were the network's output): of the singles
all of them false, of the rings and clusters those not split into their follicles (caught) and
those that were.

Example (about 20 s on the 2-core CPU)::

    python scripts/split_probe.py --seed 0
"""

from __future__ import annotations

import argparse

import numpy as np

from follicle_seg.instances import follicle_instances
from follicle_seg.measure import measure_mask
from follicle_seg.model.infer import ood_flags
from follicle_seg.tracking import FLAG_ELONGATED, FLAG_NOTCHED, follicle_raises
from follicle_seg.types import FOLLICLE, NET_IMPLAUSIBLE_SHAPE, OVARY

SPACING_MM = 0.2
#: The review flags a follicle measured as one that is more may raise.
FLAGS = (FLAG_NOTCHED, FLAG_ELONGATED, NET_IMPLAUSIBLE_SHAPE)


def spotted_single(rng: np.random.Generator) -> np.ndarray:
    """Labels of one follicle with spots inside, in an ovary."""
    labels = np.full((160, 160), OVARY, np.uint8)
    rr, cc = np.mgrid[:160, :160]
    a, b, angle = rng.uniform(8, 40), rng.uniform(8, 40), rng.uniform(0, np.pi)
    y, x = rr - 80, cc - 80
    u, v = y * np.cos(angle) + x * np.sin(angle), -y * np.sin(angle) + x * np.cos(angle)
    wave = 1 + 0.06 * np.sin(rng.integers(3, 9) * np.arctan2(v, u) + rng.uniform(0, 6)) if rng.random() < 0.5 else 1
    inside = (u / a) ** 2 + (v / b) ** 2 <= wave**2
    labels[inside] = FOLLICLE
    ys, xs = np.nonzero(inside)
    for _ in range(rng.integers(1, 4)):
        k, r = rng.integers(len(ys)), rng.uniform(1, max(1.5, min(a, b) / 3))
        labels[((rr - ys[k]) ** 2 + (cc - xs[k]) ** 2 <= r * r) & inside] = OVARY
    return labels


def ring(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Labels of 3-7 touching follicles around ovary tissue, and their number."""
    labels = np.full((200, 200), OVARY, np.uint8)
    rr, cc = np.mgrid[:200, :200]
    k, radius = int(rng.integers(3, 8)), rng.uniform(10, 30)
    if rng.random() < 0.3:
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    else:
        angles = np.arange(k) * 2 * np.pi / k + rng.uniform(0, 1)
    for angle in angles:
        r = radius * np.sin(np.pi / k) * rng.uniform(1.0, 1.15)
        labels[(rr - 100 - radius * np.sin(angle)) ** 2 + (cc - 100 - radius * np.cos(angle)) ** 2 <= r * r] = FOLLICLE
    return labels, k


def cluster(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Labels of 3 or 4 follicles that all touch (a triangle or a square), and their number."""
    labels = np.full((200, 200), OVARY, np.uint8)
    rr, cc = np.mgrid[:200, :200]
    k, radius = int(rng.integers(3, 5)), rng.uniform(5, 25)
    step = 2 * radius * (1 - rng.uniform(0.0, 0.12))
    corners = np.array([(0, 0), (step, 0), (step / 2, step * np.sqrt(3) / 2)] if k == 3 else
                       [(0, 0), (step, 0), (0, step), (step, step)])  # fmt: skip
    angle = rng.uniform(0, np.pi)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    for y, x in (corners - corners.mean(axis=0)) @ turn.T:
        r = radius * rng.uniform(0.9, 1.1)
        labels[(rr - 100 - y) ** 2 + (cc - 100 - x) ** 2 <= r * r] = FOLLICLE
    return labels, k


def split(labels: np.ndarray) -> tuple[int, set[str]]:
    """The number of follicles ``labels`` comes out as, and the flags of :data:`FLAGS` it raises."""
    ids = follicle_instances(labels, spacing_row_mm=SPACING_MM, spacing_col_mm=SPACING_MM, min_diameter_mm=1.0)
    pieces = [ids == k for k in np.flatnonzero(np.bincount(ids.ravel())[1:]) + 1]
    sections = [measure_mask(piece, SPACING_MM, SPACING_MM) for piece in pieces]
    raised = {f for f in FLAGS[:2] for s in sections if follicle_raises(f, s)}
    one_hot = np.eye(3, dtype=np.float32)[labels].transpose(2, 0, 1)  # (the network's 0.3 mm pixels read as 0.2)
    return len(pieces), raised | (set(ood_flags(one_hot)) & {NET_IMPLAUSIBLE_SHAPE})


def flagged(results: list[set[str]]) -> str:
    """How many of some masks' flag sets hold a flag, and how many each flag.

    >>> flagged([{FLAG_NOTCHED}, set(), {FLAG_NOTCHED, NET_IMPLAUSIBLE_SHAPE}])
    '2 flagged (follicle notched 2, follicle elongated 0, network: follicle shape 1)'
    """
    each = ", ".join(f"{f} {sum(f in r for r in results)}" for f in FLAGS)
    return f"{sum(bool(r) for r in results)} flagged ({each})"


def counted(masks: list[tuple[np.ndarray, int]]) -> str:
    """How many masks come out as their number of follicles, and the flags of those that do not
    and of those that do."""
    results = [(split(labels), k) for labels, k in masks]
    wrong = [flags for (n, flags), k in results if n != k]
    right = [flags for (n, flags), k in results if n == k]
    return (f"{len(right)} of {len(masks)}; of the other {len(wrong)}, {flagged(wrong)}; "
            f"of the {len(right)} split right, {flagged(right)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--singles", type=int, default=400)
    parser.add_argument("--rings", type=int, default=200)
    parser.add_argument("--clusters", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    singles = [split(spotted_single(rng)) for _ in range(args.singles)]
    cut = sum(n > 1 for n, _ in singles)
    print(f"spotted singles cut in pieces: {cut} of {args.singles}; {flagged([flags for _, flags in singles])}")
    print(f"rings split into their follicles: {counted([ring(rng) for _ in range(args.rings)])}")
    print(f"clusters split into their follicles: {counted([cluster(rng) for _ in range(args.clusters)])}")


if __name__ == "__main__":
    main()
