"""How a network's real-capture accuracy depends on the depth an uncalibrated capture is read at.

A screen capture carries no pixel size, so the pipeline reads it at the depths of
``infer.UNCALIBRATED_DEPTHS_MM`` and keeps the reading whose kept ovary scores best
(``instances.ovary_score``). This script reads every annotated capture once per depth of
``--depths`` and reports, on the same images as ``scripts/eval_real.py``:

* each depth read alone: ovary Dice median, mean, images >= 0.5, misses (< 0.1) and the mean by
  the expert ovary's share of the scan area (``eval_real.OVARY_SHARE_CLASSES``);
* the pipeline's pick (best ``ovary_score``, the first depth on a tie; a reading whose ovary the
  capture's calipers touch first) among the pipeline's depths
  and among all of ``--depths``;
* the oracle: the best Dice among those depths per image, the ceiling of any pick;
* two rules that rest on the readings' agreement instead of one network's confidence, among the
  pipeline's depths: the reading whose kept ovary agrees best with the others' (summed Dice, the
  medoid) and the reading of the mean of their probabilities (multi-scale averaging).

Validation only, like ``eval_real.py``: never train on these images or commit them.

Example
-------
    .venv/bin/python scripts/depth_readings.py ../shared/real_val/mmotu_ovary_normal --json runs/depths_040.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eval_real import annotated_regions, by_ovary_size
from follicle_seg.instances import labels_from_probs, ovary_score
from follicle_seg.model.infer import UNCALIBRATED_DEPTHS_MM, Segmenter, calipers
from follicle_seg.model.train import dice

DEPTHS_MM = (50.0, 60.0, 70.0, 85.0, 100.0, 120.0, 140.0, 170.0)


def probabilities_at_depths(seg: Segmenter, region: np.ndarray, depths: Sequence[float]) -> dict[float, np.ndarray]:
    """``{depth: class probabilities}`` of one scan area read as ``depth`` mm deep."""
    rows = region.shape[0]
    return {d: p for d, (p, _) in zip(depths, seg.predict([(region, d / rows, d / rows) for d in depths]))}


def score_readings(probs: dict[float, np.ndarray], truth: np.ndarray,
                   marked: np.ndarray | None = None) -> dict[float, tuple[float, float]]:
    """``{depth: (ovary Dice, ovary_score)}`` of the readings ``probs`` (``marked``: the area the
    capture's calipers span, ``infer.Calipers.area``, as the pipeline picks; without the calipers'
    outline, which would give every reading of a capture measured so the same ovary: the
    network's own regions are what this compares)."""
    return {d: (dice(labels_from_probs(p, marked=marked) > 0, truth), ovary_score(p, marked)) for d, p in probs.items()}


def read_at_depths(seg: Segmenter, region: np.ndarray, truth: np.ndarray,
                   depths: Sequence[float]) -> dict[float, tuple[float, float]]:
    """``{depth: (ovary Dice, ovary_score)}`` of one scan area read as ``depth`` mm deep."""
    return score_readings(probabilities_at_depths(seg, region, depths), truth, calipers(region).area)


def consensus(probs: dict[float, np.ndarray], truth: np.ndarray, depths: Sequence[float],
              marked: np.ndarray | None = None) -> dict[str, float]:
    """Ovary Dice of the two agreement rules among ``depths``: the medoid reading (its kept ovary
    with the largest summed Dice against the others', the first on a tie) and the reading of the
    readings' mean probabilities."""
    masks = [labels_from_probs(probs[d], marked=marked) > 0 for d in depths]
    agreement = [sum(dice(m, other) for j, other in enumerate(masks) if j != i) for i, m in enumerate(masks)]
    medoid = masks[max(range(len(masks)), key=lambda i: agreement[i])]
    fused = np.mean([probs[d] for d in depths], axis=0)
    return {"medoid_pick": dice(medoid, truth), "fused_mean": dice(labels_from_probs(fused, marked=marked) > 0, truth)}


def pick(readings: dict[float, tuple[float, float]], depths: Sequence[float]) -> float:
    """Dice of the reading the pipeline keeps among ``depths``: the best score, the first on a tie."""
    return readings[max(depths, key=lambda d: readings[d][1])][0]


def describe(dices: Sequence[float], shares: Sequence[float]) -> dict[str, object]:
    d = np.asarray(dices, dtype=float)
    return {"ovary_dice_median": float(np.median(d)), "ovary_dice_mean": float(d.mean()),
            "share_dice_ge_0_5": float(np.mean(d >= 0.5)), "missed": int(np.sum(d < 0.1)),
            "by_ovary_size": by_ovary_size([{"ovary_dice": x, "ovary_share": s} for x, s in zip(d, shares)])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--weights", type=Path, default=None, help="models/model.pt of a bundle (default: shipped)")
    parser.add_argument("--depths", type=float, nargs="+", default=list(DEPTHS_MM),
                        help="depths (mm) to read each capture at; must include the pipeline's")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    depths = [float(d) for d in args.depths]
    if not set(UNCALIBRATED_DEPTHS_MM) <= set(depths):
        parser.error(f"--depths must include the pipeline's depths {list(UNCALIBRATED_DEPTHS_MM)}")
    seg = Segmenter(args.weights, device=args.device)
    images = []
    for name, grey, truth, (c0, r0, c1, r1), _ in annotated_regions(args.folder):
        region, inside = grey[r0 : r1 + 1, c0 : c1 + 1], truth[r0 : r1 + 1, c0 : c1 + 1]
        probs, marked = probabilities_at_depths(seg, region, depths), calipers(region).area
        readings = score_readings(probs, inside, marked)
        images.append({"name": name, "ovary_share": float(inside.mean()),
                       "dice": {f"{d:g}": readings[d][0] for d in depths},
                       "score": {f"{d:g}": readings[d][1] for d in depths},
                       "pipeline_pick": pick(readings, UNCALIBRATED_DEPTHS_MM),
                       "pick_all": pick(readings, depths),
                       "oracle_pipeline": max(readings[d][0] for d in UNCALIBRATED_DEPTHS_MM),
                       "oracle_all": max(readings[d][0] for d in depths),
                       **consensus(probs, inside, UNCALIBRATED_DEPTHS_MM, marked)})
    if not images:
        parser.error(f"no images/*.jpg with masks/*.png under {args.folder}")
    shares = [r["ovary_share"] for r in images]
    summary = {f"depth_{d:g}": describe([r["dice"][f"{d:g}"] for r in images], shares) for d in depths}
    for key in ("pipeline_pick", "pick_all", "oracle_pipeline", "oracle_all", "medoid_pick", "fused_mean"):
        summary[key] = describe([r[key] for r in images], shares)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"depths": depths, "summary": summary, "images": images}, indent=2) + "\n",
                             encoding="utf-8")
    for key, s in summary.items():
        sizes = " ".join(f"{c['ovary_dice_mean']:.2f}" for c in s["by_ovary_size"])
        print(f"{key:16s} median {s['ovary_dice_median']:.3f} mean {s['ovary_dice_mean']:.3f} "
              f">=0.5 {s['share_dice_ge_0_5']:.0%} missed {s['missed']:2d} | by ovary share {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
