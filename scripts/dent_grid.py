"""Whether the ``follicle notched`` flag depends on how follicles lie on the pixel grid: two equal
discs (radius 6-40 pixels, centres 0.8-1.4 radii apart) and ellipses (axis ratio 1-2.5), each
at 0-90 degrees in steps of 7.5 and at four sub-pixel offsets, measured as the pipeline measures a
follicle's section (``measure.measure_mask``) and checked as it flags one
(``tracking.follicle_raises``). A pair's dent, over its radius, is ``1 - sqrt(1 - (s / 2)^2)``
for centres ``s`` radii apart (0.134 at one radius); an ellipse has none.

Each line gives, for one radius, each pair spacing's dent fraction (lowest-highest over the
angles and offsets) and how many of its 52 pairs are flagged, then the ellipses flagged (of 260)
and their deepest dent in pixels.

Example (about 5 s on the 2-core CPU)::

    python scripts/dent_grid.py
"""

from __future__ import annotations

import argparse

import numpy as np

from follicle_seg.measure import measure_mask
from follicle_seg.tracking import FLAG_NOTCHED, dent_depth, follicle_raises

ANGLES = np.deg2rad(np.arange(0, 91, 7.5))
OFFSETS = ((0.0, 0.0), (0.31, 0.73), (0.5, 0.5), (0.25, 0.0))
SPACINGS = (0.8, 1.0, 1.2, 1.4)
RATIOS = (1.0, 1.25, 1.5, 2.0, 2.5)


def discs(radius: float, spacing: float, angle: float, offset: tuple[float, float]) -> np.ndarray:
    """Two discs of ``radius`` pixels, centres ``spacing`` radii apart along ``angle`` (radians
    from the rows), their midpoint ``offset`` pixels off the middle of the frame."""
    size = int(2 * radius + spacing * radius + 8)
    rr, cc = np.mgrid[:size, :size] - (size / 2 + np.array(offset))[:, None, None]
    dr, dc = spacing * radius / 2 * np.sin(angle), spacing * radius / 2 * np.cos(angle)
    return ((rr - dr) ** 2 + (cc - dc) ** 2 <= radius**2) | ((rr + dr) ** 2 + (cc + dc) ** 2 <= radius**2)


def ellipse(radius: float, ratio: float, angle: float, offset: tuple[float, float]) -> np.ndarray:
    """An ellipse of semi-axes ``radius`` and ``radius / ratio`` pixels, its long axis along
    ``angle``, its centre ``offset`` pixels off the middle of the frame."""
    size = int(2 * radius + 8)
    rr, cc = np.mgrid[:size, :size] - (size / 2 + np.array(offset))[:, None, None]
    u, v = cc * np.cos(angle) + rr * np.sin(angle), -cc * np.sin(angle) + rr * np.cos(angle)
    return (u / radius) ** 2 + (v * ratio / radius) ** 2 <= 1


def checked(mask: np.ndarray) -> tuple[float, float, bool]:
    """A mask's dent in pixels, over its half-width, and whether it is flagged notched."""
    section = measure_mask(mask, None, None)
    return section.dent_px, dent_depth(section), follicle_raises(FLAG_NOTCHED, section)


def line(radius: float) -> str:
    """One radius's pairs and ellipses, as the module's docstring says."""
    parts = []
    for spacing in SPACINGS:
        got = [checked(discs(radius, spacing, a, o)) for a in ANGLES for o in OFFSETS]
        fractions = [f for _, f, _ in got]
        parts.append(f"{spacing}: {min(fractions):.3f}-{max(fractions):.3f} {sum(f for *_, f in got)}")
    got = [checked(ellipse(radius, q, a, o)) for q in RATIOS for a in ANGLES for o in OFFSETS]
    ellipses = f"ellipses {sum(f for *_, f in got)} ({max(d for d, *_ in got):.2f} px)"
    return f"radius {radius:g}: pairs " + ", ".join(parts) + f"; {ellipses}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--radii", type=float, nargs="+", default=[6, 8, 10, 12.5, 15, 20, 30, 40])
    for radius in parser.parse_args().radii:
        print(line(radius), flush=True)


if __name__ == "__main__":
    main()
