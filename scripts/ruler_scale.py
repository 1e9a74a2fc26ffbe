"""Does a network read a screen capture better at its true scale than at a guessed one?

A screen capture carries no pixel size, so the pipeline reads it at the depths of
``infer.UNCALIBRATED_DEPTHS_MM`` and keeps the reading whose kept ovary scores best. Most captures
show the scanner's depth ruler, though: a column of small bright marks at a fixed interval (on
the GE captures of ``../shared/real_val``, a mark every 5 mm, a longer one every centimetre).
This script finds that column (:func:`ruler_spacing_px`), takes ``--mark-mm`` divided by the
mark interval as the true pixel size, and reads every annotated capture that has a ruler

* at the true scale times each of ``--factors`` (a factor above 1 shows the capture larger to the
  network), each alone: ovary Dice median, mean, misses and the mean by ovary share, as
  ``scripts/depth_readings.py`` reports them, and follicles per image outside the expert outline
  (all, and confident ones), as ``scripts/eval_real.py`` counts them;
* three picks of the best ``ovary_score``: the pipeline's rule centred on the true scale
  (factors 1, 1/1.43 and 1.43), the pipeline's own pick among its guessed depths
  (``infer.UNCALIBRATED_DEPTHS_MM``), and the pick among the true scale and those depths; for
  each pick also the mean Dice of its readings, of the best of them (a perfect pick), and how
  often it takes the best where its readings differ by more than 0.2 (:func:`headroom`).

It measures; the pipeline does not use the ruler (SPEC: a capture without calibration tags stays
uncalibrated, no spacing is guessed). Validation only, like ``eval_real.py``: never train on
these images or commit them.

Example
-------
    .venv/bin/python scripts/ruler_scale.py ../shared/real_val/mmotu_ovary_normal --json runs/ruler_040.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from depth_readings import describe, probabilities_at_depths
from eval_real import annotated_regions, follicles_outside
from follicle_seg.instances import labels_from_probs, ovary_score
from follicle_seg.model.infer import UNCALIBRATED_DEPTHS_MM, Segmenter, calipers
from follicle_seg.model.train import dice
from follicle_seg.types import FOLLICLE

MARK_MM = 5.0
"""Millimetres between two marks of the depth ruler on the GE screens of ``../shared/real_val`` (5 mm gives
scan areas 47-99 mm deep and ovaries about 20 mm across; 10 mm would give 94-198 mm and 40 mm)."""
FACTORS = (0.6, 0.75, 0.9, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0, 2.4)
CENTRED = (1.0, 1 / 1.43, 1.43)
"""The pipeline's three readings (70, 50 and 100 mm: factors 1, 0.71, 1.43) centred on the true scale."""


def ruler_spacing_px(grey: np.ndarray, *, min_marks: int = 5, level: int = 150) -> float | None:
    """Interval, in pixels, of the longest column of regularly spaced small bright marks, or None.

    A mark is a connected component brighter than ``level``, at most 6 rows by 16 columns, at
    least twice as bright as the pixels around it. Marks whose centres lie within 1.5 columns of
    one another form a column; its interval is the mean of the gaps within 5 % (at least 1.5 px)
    of their median, and it counts when ``min_marks`` or more marks are spaced so. Made for
    screen captures, whose speckle is smooth: raw pixel-wise noise has bright dots enough to fake
    a column.

    Examples
    --------
    >>> grey = np.zeros((300, 200), np.uint8)
    >>> for row in range(10, 300, 30):
    ...     grey[row : row + 2, 20:23] = 220
    >>> ruler_spacing_px(grey)
    30.0
    >>> ruler_spacing_px(np.zeros((300, 200), np.uint8)) is None
    True
    """
    labels, _ = ndimage.label(grey > level)
    marks = []
    for i, box in enumerate(ndimage.find_objects(labels)):
        height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
        if height > 6 or width > 16 or height * width < 2:
            continue
        around = tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in box)
        patch, own = grey[around].astype(float), labels[around] == i + 1
        if patch[~own].mean() < 0.5 * patch[own].mean():
            marks.append(((box[0].start + box[0].stop - 1) / 2, (box[1].start + box[1].stop - 1) / 2))
    if not marks:
        return None
    centres = np.array(marks)
    best: tuple[int, float] | None = None
    for col in np.unique(np.round(centres[:, 1])):
        rows = np.sort(centres[np.abs(centres[:, 1] - col) <= 1.5, 0])
        rows = rows[np.r_[True, np.diff(rows) > 2]]  # one mark split across rounding
        gaps = np.diff(rows)
        if len(gaps) < min_marks - 1:
            continue
        regular = np.abs(gaps - np.median(gaps)) <= max(1.5, 0.05 * np.median(gaps))
        if regular.sum() >= min_marks - 1 and (best is None or regular.sum() > best[0]):
            best = (int(regular.sum()), float(gaps[regular].mean()))
    return None if best is None else best[1]


def read(seg: Segmenter, region: np.ndarray, truth: np.ndarray, depths: list[float]) -> dict[float, dict[str, float]]:
    """``{depth: {dice, score, follicles_outside, confident_outside}}`` of one scan area read as
    ``depth`` mm deep (the pipeline's labels: one ovary region, one the calipers touch first, its
    hull filled, or the ellipse of their crossing diameters)."""
    out = {}
    marks = calipers(region)
    for d, probs in probabilities_at_depths(seg, region, depths).items():
        labels = labels_from_probs(probs, marked=marks.area, outline=marks.outline)
        _, outside, confident = follicles_outside(labels, probs[FOLLICLE], truth)
        out[d] = {"dice": dice(labels > 0, truth), "score": ovary_score(probs, marks.area),
                  "follicles_outside": outside, "confident_outside": confident}
    return out


def best(readings: dict[float, dict[str, float]], depths: list[float]) -> dict[str, float]:
    """The reading with the best ``ovary_score`` among ``depths``, the first on a tie."""
    return readings[max(depths, key=lambda d: readings[d]["score"])]


def pick_readings(image: dict, key: str) -> list[dict[str, float]]:
    """The readings a pick of the report chooses among, for one capture."""
    guessed = list(image["pipeline_depths"].values())
    if key == "centred_pick":
        return [image["factor"][f"{f:g}"] for f in CENTRED]
    return guessed if key == "pipeline_pick" else [image["factor"]["1"], *guessed]


def headroom(images: list[dict], key: str, spread: float = 0.2) -> dict[str, float | int]:
    """How well a pick chooses: the mean Dice of its readings, of the best of them per capture, and
    on how many captures whose readings differ by more than ``spread`` it takes the best one."""
    dice_sets = [np.array([r["dice"] for r in pick_readings(image, key)]) for image in images]
    varied = [(image, d) for image, d in zip(images, dice_sets) if d.max() - d.min() > spread]
    return {"reading_mean": float(np.mean(np.concatenate(dice_sets))),
            "best_reading_mean": float(np.mean([d.max() for d in dice_sets])),
            "spread_images": len(varied),
            "best_picked": int(sum(image[key]["dice"] == d.max() for image, d in varied))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--weights", type=Path, default=None, help="models/model.pt of a bundle (default: shipped)")
    parser.add_argument("--mark-mm", type=float, default=MARK_MM, help="millimetres between two ruler marks")
    parser.add_argument("--factors", type=float, nargs="+", default=list(FACTORS),
                        help="read at the true scale times each factor (> 1: the capture shown larger)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    seg = Segmenter(args.weights, device=args.device)
    factors = sorted(set(args.factors) | set(CENTRED))
    images, no_ruler = [], []
    for name, grey, truth, (c0, r0, c1, r1), _ in annotated_regions(args.folder):
        interval = ruler_spacing_px(grey)
        if interval is None:
            no_ruler.append(name)
            continue
        region, inside = grey[r0 : r1 + 1, c0 : c1 + 1], truth[r0 : r1 + 1, c0 : c1 + 1]
        true_depth = args.mark_mm / interval * region.shape[0]
        depths = {f: f * true_depth for f in factors}
        guessed = list(UNCALIBRATED_DEPTHS_MM)
        readings = read(seg, region, inside, [*depths.values(), *guessed])
        images.append({"name": name, "ovary_share": float(inside.mean()), "mark_interval_px": interval,
                       "depth_mm": true_depth, "ovary_area_mm2": float(inside.sum()) * (args.mark_mm / interval) ** 2,
                       "factor": {f"{f:g}": readings[depths[f]] for f in factors},
                       "pipeline_depths": {f"{d:g}": readings[d] for d in guessed},
                       "centred_pick": best(readings, [depths[f] for f in CENTRED]),
                       "pipeline_pick": best(readings, guessed),
                       "true_and_pipeline_pick": best(readings, [true_depth, *guessed])})
    if not images:
        parser.error(f"no annotated capture under {args.folder} shows a depth ruler")
    shares = [r["ovary_share"] for r in images]

    def summarise(chosen: list[dict[str, float]]) -> dict[str, object]:
        return {**describe([c["dice"] for c in chosen], shares),
                "follicles_outside_per_image": float(np.mean([c["follicles_outside"] for c in chosen])),
                "confident_outside_per_image": float(np.mean([c["confident_outside"] for c in chosen]))}

    summary = {f"factor_{f:g}": summarise([r["factor"][f"{f:g}"] for r in images]) for f in args.factors}
    for key in ("centred_pick", "pipeline_pick", "true_and_pipeline_pick"):
        summary[key] = {**summarise([r[key] for r in images]), **headroom(images, key)}
    depth = np.array([r["depth_mm"] for r in images])
    print(f"{len(images)} captures with a ruler ({len(no_ruler)} without); true depth of the scan area "
          f"median {np.median(depth):.0f} mm, range {depth.min():.0f}-{depth.max():.0f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"mark_mm": args.mark_mm, "no_ruler": no_ruler, "summary": summary,
                                         "images": images}, indent=2) + "\n", encoding="utf-8")
    for key, s in summary.items():
        sizes = " ".join(f"{c['ovary_dice_mean']:.2f}" for c in s["by_ovary_size"])
        print(f"{key:22s} median {s['ovary_dice_median']:.3f} mean {s['ovary_dice_mean']:.3f} "
              f">=0.5 {s['share_dice_ge_0_5']:.0%} missed {s['missed']:2d} | by ovary share {sizes} | "
              f"follicles outside {s['follicles_outside_per_image']:.2f} ({s['confident_outside_per_image']:.2f} confident)")
        if "best_reading_mean" in s:
            print(f"{'':22s} its readings' mean {s['reading_mean']:.3f}, the best of them {s['best_reading_mean']:.3f}; "
                  f"the pick takes the best where they differ by > 0.2 in {s['best_picked']} of {s['spread_images']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
