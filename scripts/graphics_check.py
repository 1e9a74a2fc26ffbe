"""Do burned-in graphics become follicles? SPEC (Inputs): "Calipers and text burned inside the
region must not become follicles." Measured with the shipped network, as the pipeline measures
a still.

Renders ``--n`` held-out synthetic frames (seeds from 1,000,000, training's distribution: the six
3-D style families and the layered generator in turn, half and half as in 0.4.0's training), each
without graphics and with one of these, on the same scene:

- ``generator``: the generators' own graphics, as the network was trained with them
  (``training_frame(seed, graphics=True)``: calipers across the ovary or a follicle on about half
  the frames with an ovary, side labels, measurement text);
- ``calipers``: white '+' calipers on the edge of each of the (up to 3) largest true follicles of
  3 mm or more, across its longest axis, joined by a dotted line (a sonographer measuring them);
- ``green calipers``: the same in green (0, 255, 0);
- ``thick cross``: a yellow (255, 255, 0) '+', 2 px thick, on each such follicle's edge across its
  shorter axis;
- ``text``: two measurement lines in white over the true ovary's centre;
- ``dark box``: the same lines, white on a black box (GE / Philips results boxes), over the true
  ovary's centre.

The colour ones are drawn on the frame as RGB and read as ingestion reads a colour file
(``io.grey``: the network sees its luma, green grey 150 and yellow 226; its pixels in colour,
``Frame.colour``, go with the frame). A follicle's dent is measured past the frame's burned-in
graphics, as in the pipeline (``io.marks.graphics_pixels``: its pixels in colour and the '+'
caliper marks found on its grey pixels, white ones too). Each frame goes through
``Segmenter.segment`` and ``measure.measure_frame`` (the pipeline's labels and follicle sections). Reported follicles: mean diameter >= 2 mm and score >= 0.90; candidates:
>= 2 mm scoring 0.60-0.90 (``candidates.csv``'s unsure ones). Per variant it prints:

- ``on graphics``: reported follicles (candidates) touching a graphics pixel (dilated by 1 px)
  with under half their pixels in a true follicle, with graphics and, for the same pixels,
  without (the network's false follicles that were there anyway);
- ``count +/-``: reported follicles gained and lost per frame against the frame without graphics,
  and the frames whose count changed;
- for the true follicles the calipers cross that are reported without graphics (a reported
  follicle with at least 30 % of its pixels in it): how many are lost (of them, how many are
  candidates instead: their score fell under 0.90), split (two or more) and
  the change of the largest one's mean diameter (mm: median, mean, largest either way); of those
  still reported, how many the largest one raises ``follicle notched`` with graphics (without)
  (``tracking.follicle_raises``: a caliper's arm dents the outline? The graphics the pipeline
  finds, colour calipers' pixels and the '+' marks found on the grey pixels, white ones too, are
  filled in before the dent is measured; a mark the rule misses is not).

Graphics pixels are those drawn; for ``generator`` those more than 40 grey levels from the frame
without graphics (JPEG spreads them a little).

Example (about 3 minutes on 2 busy cores)::

    python scripts/graphics_check.py --n 48 --json runs/graphics_check.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset
from scipy import ndimage as ndi

from follicle_seg.instances import follicle_instances
from follicle_seg.io.grey import colour_pixels, grey_converter
from follicle_seg.measure import measure_frame
from follicle_seg.model.infer import Segmenter
from follicle_seg.synth.canvas import caliper
from follicle_seg.synth.training import LAYERED, STYLES, training_frame
from follicle_seg.tracking import (FLAG_NOTCHED, LOW_CONFIDENCE_SCORE, MIN_FOLLICLE_SCORE, follicle_raises, is_confident,
                                   is_counted)
from follicle_seg.types import Calibration, Frame, ImageRecord, Section

SEED_START = 1_000_000
WHITE = 230  # grey level
GREEN, YELLOW = (0, 255, 0), (255, 255, 0)  # RGB
TEXT = ("D1 1.84 cm", "D2 1.27 cm")
VARIANTS = ("generator", "calipers", "green calipers", "thick cross", "text", "dark box")

Ends = tuple[tuple[int, int], tuple[int, int]]


def axes_ends(mask: np.ndarray) -> tuple[Ends, Ends]:
    """The ``(col, row)`` ends, on the mask's edge, of its longest and shortest axes through its
    centroid (principal axes)."""
    rows, cols = np.nonzero(mask)
    centre = np.array([rows.mean(), cols.mean()])
    _, vectors = np.linalg.eigh(np.cov(np.stack([rows, cols])))
    out = []
    for axis in (vectors[:, 1], vectors[:, 0]):  # eigh sorts ascending: the longest last
        ends = []
        for sign in (-1, 1):
            t = 0.0
            while True:
                r, c = np.rint(centre + sign * (t + 0.5) * axis).astype(int)
                if not (0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and mask[r, c]):
                    break
                t += 0.5
            r, c = np.rint(centre + sign * t * axis).astype(int)
            ends.append((int(c), int(r)))
        out.append((ends[0], ends[1]))
    return out[0], out[1]


def text_block(img: np.ndarray, mask: np.ndarray, centre: tuple[int, int], box: bool) -> None:
    """Measurement lines centred on ``(row, col)``, white, on a black box if ``box`` (in place,
    with the drawn pixels set in ``mask``)."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    (width, height), _ = cv2.getTextSize(TEXT[0], font, scale, 1)
    step = int(height * 1.7) + 2
    r0, c0 = centre[0] - step // 2, centre[1] - width // 2
    if box:
        corners = (c0 - 4, r0 - height - 4), (c0 + width + 4, r0 + step + 5)
        cv2.rectangle(img, *corners, 0, -1)
        cv2.rectangle(mask, *corners, 1, -1)
    for i, line in enumerate(TEXT):
        cv2.putText(img, line, (c0, r0 + i * step), font, scale, WHITE, 1, cv2.LINE_AA)
        cv2.putText(mask, line, (c0, r0 + i * step), font, scale, 1, 1, cv2.LINE_AA)


Paint = Callable[[np.ndarray, int], None]


def drawn(plain: np.ndarray, paint: Paint) -> tuple[np.ndarray, np.ndarray, None]:
    """``plain`` with graphics painted by ``paint(image, value)``, the painted pixels, and its
    pixels in colour (none)."""
    img, mask = plain.copy(), np.zeros(plain.shape, np.uint8)
    paint(img, -1)
    paint(mask, 1)
    return img, mask > 0, None


def rgb_header() -> Dataset:
    """The header of an 8-bit RGB file, as ``io.grey`` reads one."""
    header = Dataset()
    header.PhotometricInterpretation, header.BitsStored = "RGB", 8
    return header


def drawn_in_colour(plain: np.ndarray, paint: Paint) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``plain`` as an RGB frame with graphics painted in colour by ``paint(image, value)``, read
    as ingestion reads a colour file (``io.grey.grey_converter``, ``io.grey.colour_pixels``): its
    grey pixels, the painted pixels, and its pixels in colour (``None`` when none is)."""
    rgb, mask = np.repeat(plain[..., None], 3, axis=2), np.zeros(plain.shape, np.uint8)
    paint(rgb, -1)
    paint(mask, 1)
    header = rgb_header()
    colour = colour_pixels(header)(rgb)
    return grey_converter(header)(rgb), mask > 0, colour if colour is not None and colour.any() else None


Image = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def variants(seed: int, style: str) -> tuple[dict[str, Image], np.ndarray, list[np.ndarray], float]:
    """The frame's images by variant (``"plain"`` and :data:`VARIANTS`: ``(grey pixels, graphics
    pixels, pixels in colour or None)``), its true follicle instances, the masks of those the
    calipers cross, and its spacing."""
    plain_frame = training_frame(seed, style=style, graphics=False)
    plain, labels, spacing = plain_frame.pixels, plain_frame.labels, plain_frame.spacing_row_mm
    with_graphics = training_frame(seed, style=style, graphics=True).pixels
    truth = follicle_instances(labels, None, spacing_row_mm=spacing, spacing_col_mm=spacing)
    ids, sizes = np.unique(truth[truth > 0], return_counts=True)
    big = [int(k) for k, n in sorted(zip(ids, sizes), key=lambda kn: -kn[1])
           if 2 * np.sqrt(n / np.pi) * spacing >= 3.0][:3]
    crossed = [truth == k for k in big]
    ends = [axes_ends(m) for m in crossed]
    size = max(3, int(round(1.0 / spacing)))  # '+' arms of about 1 mm

    def calipers(value: int | tuple[int, ...]) -> Paint:
        def paint(img: np.ndarray, v: int) -> None:
            for long, _ in ends:
                caliper(img, list(long), size, 3, value if v < 0 else v)
        return paint

    def cross(img: np.ndarray, v: int) -> None:
        for _, (end, _) in ends:
            col, row = end
            for p0, p1 in (((col - size, row), (col + size, row)), ((col, row - size), (col, row + size))):
                cv2.line(img, p0, p1, YELLOW if v < 0 else v, 2, cv2.LINE_8)

    ovary = np.argwhere(labels > 0)
    centre = tuple(int(x) for x in ovary.mean(axis=0)) if ovary.size else (plain.shape[0] // 2, plain.shape[1] // 2)
    out: dict[str, Image] = {
        "plain": (plain, np.zeros(plain.shape, bool), None),
        "generator": (with_graphics, np.abs(with_graphics.astype(int) - plain) > 40, None),
        "calipers": drawn(plain, calipers(WHITE)),
        "green calipers": drawn_in_colour(plain, calipers(GREEN)),
        "thick cross": drawn_in_colour(plain, cross)}
    for name, box in (("text", False), ("dark box", True)):
        img, mask = plain.copy(), np.zeros(plain.shape, np.uint8)
        text_block(img, mask, centre, box)
        out[name] = (img, mask > 0, None)
    return out, truth, crossed, spacing


def record(shape: tuple[int, ...], spacing: float) -> ImageRecord:
    """A calibrated still of ``shape`` whose region is the whole frame."""
    return ImageRecord("synthetic.dcm", "1.2.3", "", "US", "P", "1.2", "", "1.2.3.4", "", "L", "none", 1,
                       shape[0], shape[1], "MONOCHROME2", "", Calibration(spacing, spacing, "ultrasound_region"),
                       (0, 0, shape[1] - 1, shape[0] - 1), "ultrasound_region")


def kinds(sections: tuple[Section, ...]) -> list[str]:
    """``"reported"``, ``"candidate"`` or ``""`` for each follicle section, as the pipeline sorts a still's."""
    def kind(s: Section) -> str:
        if not is_counted(s):
            return ""
        return "reported" if is_confident(s) else "candidate" if s.score >= LOW_CONFIDENCE_SCORE else ""
    return [kind(s) for s in sections]


def on_graphics(instances: np.ndarray, kind: list[str], graphics: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """Reported follicles and candidates touching ``graphics`` (dilated 1 px), mostly outside true follicles."""
    near = ndi.binary_dilation(graphics, np.ones((3, 3), bool))
    out = {"reported": 0, "candidate": 0}
    for k, what in enumerate(kind, start=1):
        piece = instances == k
        if what and (piece & near).any() and (truth[piece] > 0).mean() < 0.5:
            out[what] += 1
    return out


def on_follicle(instances: np.ndarray, kind: list[str], sections: tuple[Section, ...], follicle: np.ndarray,
                what_kind: str = "reported") -> list[Section]:
    """The sections of the reported follicles (or candidates) with at least 30 % of their pixels
    in ``follicle``, the largest mean diameter first."""
    found = []
    for k, (what, s) in enumerate(zip(kind, sections), start=1):
        piece = instances == k
        if what == what_kind and (piece & follicle).sum() >= 0.3 * piece.sum():
            found.append(s)
    return sorted(found, key=lambda s: -(s.mean_diameter_mm or 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=24, help="frames (each read 7 times)")
    parser.add_argument("--seed-start", type=int, default=SEED_START)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    styles = [s for family in STYLES for s in (family, LAYERED)]
    segmenter = Segmenter(device="cpu", batch_size=4)
    tally: dict[str, dict[str, list]] = {v: {k: [] for k in ("graphics", "plain_graphics", "count", "crossed")} for v in VARIANTS}
    for i in range(args.n):
        seed = args.seed_start + i
        images, truth, crossed, spacing = variants(seed, styles[i % len(styles)])
        frames = [Frame(record(px.shape, spacing), 0, px, colour=colour) for px, _, colour in images.values()]
        measured = {name: measure_frame(seg) for name, seg in zip(images, segmenter.segment(frames))}
        plain = measured["plain"]
        plain_kind = kinds(plain.follicles)
        for name in VARIANTS:
            m, graphics = measured[name], images[name][1]
            kind = kinds(m.follicles)
            t = tally[name]
            t["graphics"].append(on_graphics(m.instances, kind, graphics, truth))
            t["plain_graphics"].append(on_graphics(plain.instances, plain_kind, graphics, truth))
            t["count"].append(kind.count("reported") - plain_kind.count("reported"))
            if name in ("calipers", "green calipers", "thick cross"):
                for follicle in crossed:
                    before = on_follicle(plain.instances, plain_kind, plain.follicles, follicle)
                    if before:
                        t["crossed"].append((before, on_follicle(m.instances, kind, m.follicles, follicle),
                                             on_follicle(m.instances, kind, m.follicles, follicle, "candidate")))
    summary = {}
    print(f"{args.n} frames (seeds {args.seed_start}-{args.seed_start + args.n - 1}), reported >= 2 mm and score >= "
          f"{MIN_FOLLICLE_SCORE:.2f}, candidates {LOW_CONFIDENCE_SCORE:.2f}-{MIN_FOLLICLE_SCORE:.2f}")
    print(f"{'variant':15} {'on graphics: reported / cand.':>30} {'without':>9} {'count +/-':>10} {'frames':>7}"
          f" {'crossed':>8} {'lost (to cand.)':>15} {'split':>6} {'notched (without)':>17}"
          f" {'diameter change mm: median, mean, range':>42}")
    for name in VARIANTS:
        t = tally[name]
        g = {k: sum(x[k] for x in t["graphics"]) for k in ("reported", "candidate")}
        g0 = {k: sum(x[k] for x in t["plain_graphics"]) for k in ("reported", "candidate")}
        counts = np.array(t["count"])
        pairs = t["crossed"]
        kept = [(before[0], after[0]) for before, after, _ in pairs if after]
        diffs = [(a.mean_diameter_mm or 0.0) - (b.mean_diameter_mm or 0.0) for b, a in kept]
        row = {
            "on_graphics": g, "on_graphics_without": g0,
            "count_gained": int(counts[counts > 0].sum()), "count_lost": int(-counts[counts < 0].sum()),
            "frames_changed": int((counts != 0).sum()),
            "crossed": len(pairs), "lost": sum(not after for _, after, _ in pairs),
            "lost_to_candidate": sum(not after and bool(unsure) for _, after, unsure in pairs),
            "split": sum(len(after) > len(before) for before, after, _ in pairs),
            "notched": sum(follicle_raises(FLAG_NOTCHED, a) for _, a in kept),
            "notched_without": sum(follicle_raises(FLAG_NOTCHED, b) for b, _ in kept),
            "diameter_change_mm": None if not diffs else {
                "median": float(np.median(diffs)), "mean": float(np.mean(diffs)),
                "min": float(np.min(diffs)), "max": float(np.max(diffs))},
        }
        summary[name] = row
        d = row["diameter_change_mm"]
        print(f"{name:15} {g['reported']:>22} / {g['candidate']:<5} {g0['reported']:>3} / {g0['candidate']:<3}"
              f" {'+' + str(row['count_gained']) + ' -' + str(row['count_lost']):>10} {row['frames_changed']:>7}"
              + (f" {row['crossed']:>8} {str(row['lost']) + ' (' + str(row['lost_to_candidate']) + ')':>15} {row['split']:>6}"
                 f" {str(row['notched']) + ' (' + str(row['notched_without']) + ')':>17}"
                 if name not in ('generator', 'text', 'dark box') else " " * 49)
              + (f"   {d['median']:+.2f}, {d['mean']:+.2f}, [{d['min']:+.2f}, {d['max']:+.2f}]" if d else ""))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"n": args.n, "seed_start": args.seed_start, "variants": summary}, indent=1))


if __name__ == "__main__":
    main()
