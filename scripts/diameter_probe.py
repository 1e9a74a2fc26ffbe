"""How the diameter rule measures perfectly segmented round follicles: the bias of ``d1``, ``d2``
and the mean diameter of ``measure.measure_mask`` on digital discs (the pixels whose centres lie
inside a disc of known diameter, placed at random sub-pixel positions), beside the
area-equivalent diameter, without the network.

Example (a few seconds)::

    python scripts/diameter_probe.py --seed 0
"""

from __future__ import annotations

import argparse

import numpy as np

from follicle_seg.measure import measure_mask


def disc(diameter_mm: float, spacing_mm: float, rng: np.random.Generator) -> np.ndarray:
    """The pixels whose centres lie inside a disc of ``diameter_mm``, centred off the pixel grid."""
    n = int(diameter_mm / spacing_mm) + 10
    cy, cx = n / 2 + rng.uniform(-0.5, 0.5), n / 2 + rng.uniform(-0.5, 0.5)
    rr, cc = np.mgrid[:n, :n]
    return ((rr - cy) * spacing_mm) ** 2 + ((cc - cx) * spacing_mm) ** 2 <= (diameter_mm / 2) ** 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=40, help="discs per diameter and spacing")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("mm/px  diameter  d1 bias     d2 bias     mean diameter bias  area-equivalent bias")
    for spacing in (0.1, 0.2):
        for diameter in (3.0, 5.0, 10.0, 18.0):
            sections = [measure_mask(disc(diameter, spacing, rng), spacing, spacing) for _ in range(args.n)]
            d1 = np.mean([s.d1_mm for s in sections]) - diameter
            d2 = np.mean([s.d2_mm for s in sections]) - diameter
            equivalent = np.mean([2 * np.sqrt(s.area_mm2 / np.pi) for s in sections]) - diameter
            print(f"{spacing:5.1f}  {diameter:6.1f}    {d1:+.3f} mm   {d2:+.3f} mm   {(d1 + d2) / 2:+.3f} mm "
                  f"({(d1 + d2) / 2 / spacing:+.2f} px)  {equivalent:+.3f} mm")


if __name__ == "__main__":
    main()
