"""Render docs/contact_sheet.png: synthetic training frames of every style with truth contours.

Each column is one style family (the last one random mixes); each row a different seed. The
ovary outline is drawn in yellow, follicles in cyan, on the right half of each tile; the left
half is the frame as the network sees it.

Usage::

    .venv/bin/python scripts/contact_sheet.py [--out docs/contact_sheet.png] [--rows 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from follicle_seg.synth.training import STYLES, training_frame
from follicle_seg.types import FOLLICLE, OVARY

TILE_W = 250


def _tile(seed: int, style: str | None) -> np.ndarray:
    f = training_frame(seed, style=style)
    scale = TILE_W / f.pixels.shape[1]
    size = (TILE_W, int(round(f.pixels.shape[0] * scale)))
    grey = cv2.resize(f.pixels, size, interpolation=cv2.INTER_AREA)
    labels = cv2.resize(f.labels, size, interpolation=cv2.INTER_NEAREST)
    plain = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    drawn = plain.copy()
    for lab, colour in ((OVARY, (0, 230, 255)), (FOLLICLE, (255, 220, 0))):
        contours, _ = cv2.findContours((labels >= lab).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(drawn, contours, -1, colour, 1)
    tile = np.concatenate([plain, drawn], axis=0)
    cv2.putText(tile, f"{f.style[:28]} #{seed}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1)
    return tile


def contact_sheet(rows: int = 2, first_seed: int = 0) -> np.ndarray:
    """The sheet as a BGR image: one column per style plus one of random mixes."""
    columns = []
    for j, style in enumerate(STYLES + (None,)):
        tiles = [_tile(first_seed + 100 * j + i, style) for i in range(rows)]
        height = max(t.shape[0] for t in tiles)
        padded = [np.pad(t, ((0, height - t.shape[0] + 6), (0, 6), (0, 0))) for t in tiles]
        columns.append(np.concatenate(padded, axis=0))
    height = max(c.shape[0] for c in columns)
    return np.concatenate([np.pad(c, ((0, height - c.shape[0]), (0, 0), (0, 0))) for c in columns], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/contact_sheet.png"))
    parser.add_argument("--rows", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), contact_sheet(args.rows, args.seed), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(args.out)


if __name__ == "__main__":
    main()
