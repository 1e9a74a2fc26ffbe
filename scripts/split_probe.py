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

Example (about 20 s on the 2-core CPU)::

    python scripts/split_probe.py --seed 0
"""

from __future__ import annotations

import argparse

import numpy as np

from follicle_seg.instances import follicle_instances
from follicle_seg.types import FOLLICLE, OVARY

SPACING_MM = 0.2


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


def n_follicles(labels: np.ndarray) -> int:
    ids = follicle_instances(labels, spacing_row_mm=SPACING_MM, spacing_col_mm=SPACING_MM, min_diameter_mm=1.0)
    return int((np.bincount(ids.ravel())[1:] > 0).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--singles", type=int, default=400)
    parser.add_argument("--rings", type=int, default=200)
    parser.add_argument("--clusters", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cut = sum(n_follicles(spotted_single(rng)) > 1 for _ in range(args.singles))
    print(f"spotted singles cut in pieces: {cut} of {args.singles}")
    exact = sum(n_follicles(labels) == k for labels, k in (ring(rng) for _ in range(args.rings)))
    print(f"rings split into their follicles: {exact} of {args.rings}")
    exact = sum(n_follicles(labels) == k for labels, k in (cluster(rng) for _ in range(args.clusters)))
    print(f"clusters split into their follicles: {exact} of {args.clusters}")


if __name__ == "__main__":
    main()
