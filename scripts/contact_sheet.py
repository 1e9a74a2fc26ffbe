"""Render docs/contact_sheet.png: synthetic training frames of every style with truth contours.

Each column is one style family of the 3-D renderer, then the layered generator, then the
patchwork generator, then random mixes of the 3-D renderer (``style=None``); each row a different seed. The
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

from follicle_seg.synth.training import LAYERED, PATCHWORK, STYLES, training_frame
from follicle_seg.types import FOLLICLE, OVARY

TILE_W, TILE_H = 250, 170


def _fit(img: np.ndarray, interpolation: int) -> np.ndarray:
    """Scale into a TILE_W x TILE_H box keeping the aspect ratio, centred on black."""
    scale = min(TILE_W / img.shape[1], TILE_H / img.shape[0])
    size = (max(1, int(img.shape[1] * scale)), max(1, int(img.shape[0] * scale)))
    small = cv2.resize(img, size, interpolation=interpolation)
    out = np.zeros((TILE_H, TILE_W), img.dtype)
    r0, c0 = (TILE_H - size[1]) // 2, (TILE_W - size[0]) // 2
    out[r0 : r0 + size[1], c0 : c0 + size[0]] = small
    return out


def _tile(seed: int, style: str | None) -> np.ndarray:
    f = training_frame(seed, style=style)
    grey = _fit(f.pixels, cv2.INTER_AREA)
    labels = _fit(f.labels, cv2.INTER_NEAREST)
    plain = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    drawn = plain.copy()
    for lab, colour in ((OVARY, (0, 230, 255)), (FOLLICLE, (255, 220, 0))):
        contours, _ = cv2.findContours((labels >= lab).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(drawn, contours, -1, colour, 1)
    tile = np.concatenate([plain, drawn], axis=0)
    cv2.putText(tile, f"{f.style[:28]} #{seed}", (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1)
    return tile


def contact_sheet(rows: int = 2, first_seed: int = 0) -> np.ndarray:
    """The sheet as a BGR image: one column per style, one each of layered and patchwork scenes, one of random mixes."""
    columns = []
    for j, style in enumerate(STYLES + (LAYERED, PATCHWORK, None)):
        tiles = [np.pad(_tile(first_seed + 100 * j + i, style), ((0, 6), (0, 6), (0, 0))) for i in range(rows)]
        columns.append(np.concatenate(tiles, axis=0))
    return np.concatenate(columns, axis=1)


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
