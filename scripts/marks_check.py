"""How well ``follicle_seg.io.marks.caliper_marks`` finds sonographers' '+' and 'x' caliper marks on
grey pixels alone, and what else it finds.

Synthetic (``--n`` held-out frames, seeds from 1,000,000, the six 3-D style families and the
layered generator in turn, as ``scripts/graphics_check.py``):

- ``drawn marks found``: on each frame without graphics, 4 marks drawn, each '+' or 'x' at random,
  arms of 3-10 px, 1 or 2 px thick, grey 170-255 (the generators' caliper greys): 2 centred on the
  edge of the largest true follicles (where a sonographer puts them; else in the fan), the others
  anywhere in the fan, at least 24 px apart; found when a detected pixel lies within 2 px of
  its centre;
- ``false per frame``: detections (connected pieces of the mask) on the frame without graphics;
- ``generator graphics``: on the frame with the generators' own graphics (calipers, labels,
  text), the detections touching a graphics pixel (more than 40 grey levels from the frame
  without them, dilated 2 px) and those touching none (false).

Real (``--real DIR``: JPEG or PNG captures whose graphics are in colour, read as grey with PIL's
``convert("L")``): the detections touching a colour pixel (channels at least
``io.grey.MIN_CHROMA`` apart, dilated 4 px; JPEG blurs colour) and those touching none, split into
those on tissue (the median grey around them, the mark's pixels left out, 20 or more) and on black
(white text beside the image). Per image with ``--per-image``.

Example (about a minute on 2 busy cores)::

    python scripts/marks_check.py --n 48 --real /work/shared/real_val/mmotu_ovary_normal/images
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from follicle_seg.io.grey import MIN_CHROMA
from follicle_seg.io.marks import caliper_marks
from follicle_seg.synth.training import LAYERED, STYLES, training_frame

SEED_START = 1_000_000
MARKS_PER_FRAME = 4
FOUND_WITHIN_PX = 2


def pieces(mask: np.ndarray | None) -> list[np.ndarray]:
    """The connected pieces of a detection mask (none for None)."""
    if mask is None:
        return []
    labels, n = ndi.label(mask, np.ones((3, 3), bool))
    return [labels == k for k in range(1, n + 1)]


def draw_mark(img: np.ndarray, row: int, col: int, arm: int, thick: int, kind: str, value: int) -> None:
    """A '+' or 'x' of arms ``arm`` px long each side (an 'x' at least 3 diagonal steps), ``thick``
    (1 or 2) px thick: a second line beside each arm, in the next row or column (in place)."""
    d = arm if kind == "+" else max(3, int(round(arm / np.sqrt(2))))
    pairs = (((col - d, row), (col + d, row), (0, 1)), ((col, row - d), (col, row + d), (1, 0))) if kind == "+" else \
        (((col - d, row - d), (col + d, row + d), (1, 0)), ((col - d, row + d), (col + d, row - d), (1, 0)))
    for (c0, r0), (c1, r1), (dc, dr) in pairs:
        for k in range(thick):
            cv2.line(img, (c0 + k * dc, r0 + k * dr), (c1 + k * dc, r1 + k * dr), value, 1, cv2.LINE_8)


def mark_sites(labels: np.ndarray, fan: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Up to :data:`MARKS_PER_FRAME` ``(row, col)`` at least 24 px apart and 14 px inside the frame:
    the first two on the edges of the largest true follicles, the others in the fan."""
    margin = 14
    inside = np.zeros(fan.shape, bool)
    inside[margin:-margin, margin:-margin] = True
    follicles, n = ndi.label(labels == 2)
    sizes = ndi.sum(np.ones(labels.shape), follicles, range(1, n + 1)) if n else np.array([])
    edges = []
    for k in np.argsort(-sizes)[:2] + 1:
        piece = follicles == k
        edge = np.argwhere(piece & ~ndi.binary_erosion(piece) & inside)
        if len(edge):
            edges.append(tuple(edge[rng.integers(len(edge))]))
    spots = np.argwhere(fan & inside)
    sites: list[tuple[int, int]] = []
    for r, c in edges + [tuple(spots[i]) for i in rng.permutation(len(spots))[:200]]:
        if len(sites) < MARKS_PER_FRAME and all(max(abs(r - r2), abs(c - c2)) >= 24 for r2, c2 in sites):
            sites.append((int(r), int(c)))
    return sites


def synthetic(n: int, seed_start: int) -> dict[str, float]:
    """The synthetic figures over ``n`` frames (see the module docstring)."""
    styles = [s for family in STYLES for s in (family, LAYERED)]
    tally = {"marks": 0, "found": 0, "false": 0, "on_graphics": 0, "off_graphics": 0, "ms": []}
    for i in range(n):
        seed = seed_start + i
        plain = training_frame(seed, style=styles[i % len(styles)], graphics=False)
        with_graphics = training_frame(seed, style=styles[i % len(styles)], graphics=True).pixels
        start = time.perf_counter()
        tally["false"] += len(pieces(caliper_marks(plain.pixels)))
        tally["ms"].append((time.perf_counter() - start) * 1000)
        graphics = ndi.binary_dilation(np.abs(with_graphics.astype(int) - plain.pixels) > 40, iterations=2)
        for piece in pieces(caliper_marks(with_graphics)):
            tally["on_graphics" if (piece & graphics).any() else "off_graphics"] += 1
        rng = np.random.default_rng(seed)
        img = plain.pixels.copy()
        sites = mark_sites(plain.labels, plain.fan, rng)
        for r, c in sites:
            draw_mark(img, r, c, int(rng.integers(3, 11)), int(rng.integers(1, 3)), "+x"[rng.integers(2)],
                      int(rng.integers(170, 256)))
        found = caliper_marks(img)
        w = FOUND_WITHIN_PX
        tally["marks"] += len(sites)
        tally["found"] += sum(found is not None and bool(found[r - w:r + w + 1, c - w:c + w + 1].any()) for r, c in sites)
    return {k: (float(np.median(v)) if k == "ms" else v) for k, v in tally.items()}


def real(folder: Path, per_image: bool) -> dict[str, int]:
    """The real figures over the JPEG and PNG images of ``folder`` (see the module docstring)."""
    tally = {"images": 0, "on_colour": 0, "off_tissue": 0, "off_black": 0}
    for path in sorted([*folder.glob("*.jpg"), *folder.glob("*.png")]):
        with Image.open(path) as im:
            rgb, grey = np.asarray(im.convert("RGB")), np.asarray(im.convert("L"))
        colour = ndi.binary_dilation(np.ptp(rgb, axis=2) >= MIN_CHROMA, iterations=4)
        mask = caliper_marks(grey)
        counts = {"on_colour": 0, "off_tissue": 0, "off_black": 0}
        for piece in pieces(mask):
            if (piece & colour).any():
                counts["on_colour"] += 1
                continue
            around = ndi.binary_dilation(piece, iterations=8) & ~mask
            counts["off_tissue" if np.median(grey[around]) >= 20 else "off_black"] += 1
        tally["images"] += 1
        for k, v in counts.items():
            tally[k] += v
        if per_image:
            print(f"{path.name}: on colour {counts['on_colour']}, off colour on tissue {counts['off_tissue']}, "
                  f"on black {counts['off_black']}")
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=24, help="synthetic frames (0: none)")
    parser.add_argument("--seed-start", type=int, default=SEED_START)
    parser.add_argument("--real", type=Path, default=None, help="a folder of real captures with colour graphics")
    parser.add_argument("--per-image", action="store_true", help="the real figures of each image too")
    args = parser.parse_args()
    if args.n:
        s = synthetic(args.n, args.seed_start)
        print(f"synthetic, {args.n} frames (seeds {args.seed_start}-{args.seed_start + args.n - 1}): drawn marks found "
              f"{s['found']}/{s['marks']}, false on frames without graphics {s['false']} "
              f"({s['false'] / args.n:.2f} per frame), generator graphics: detections on them {s['on_graphics']}, "
              f"off them {s['off_graphics']}; median {s['ms']:.1f} ms a frame")
    if args.real is not None:
        r = real(args.real, args.per_image)
        print(f"real, {r['images']} images: detections on colour {r['on_colour']}, off colour on tissue "
              f"{r['off_tissue']}, on black {r['off_black']}")


if __name__ == "__main__":
    main()
