"""How well the ``network: unsure`` flag picks out failed frames, on held-out synthetic frames.

For each frame: the guard's confidence (mean top-class probability over predicted ovary and
follicles, at network scale) and the ovary Dice of the pipeline's labels. For a range of
thresholds it prints how many frames would be flagged, the share of failed frames (Dice < 0.5)
flagged (sensitivity), the share of good frames left unflagged (specificity) and their mean
(balanced accuracy). Frames: 60 from the training distribution (seeds 1100000-) and 60 shifted
(``shift=0.5``, seeds 1000000-); none was trained on. The real images are scored the same way by
``scripts/eval_real.py`` (Dice of flagged vs unflagged images).

Example
-------
    .venv/bin/python scripts/ood_calibration.py
"""

from __future__ import annotations

import argparse

import numpy as np

from follicle_seg.instances import labels_from_probs
from follicle_seg.model.infer import Segmenter
from follicle_seg.model.train import dice
from follicle_seg.synth.training import training_frame


def confidence(probs: np.ndarray) -> float:
    """The quantity ``infer.ood_flags`` thresholds (on the region grid here)."""
    structure = probs.argmax(0) > 0
    return float(probs.max(0)[structure].mean()) if structure.any() else 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60, help="frames per setting")
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()
    seg = Segmenter(args.weights, device="cpu")
    conf, good = [], []
    for shift, start in ((0.0, 1_100_000), (0.5, 1_000_000)):
        for seed in range(start, start + args.n):
            f = training_frame(seed, shift=shift)
            if not (f.labels > 0).any():
                continue
            probs, _ = seg.predict([(f.pixels, f.spacing_row_mm, f.spacing_col_mm)])[0]
            conf.append(confidence(probs))
            good.append(dice(labels_from_probs(probs) > 0, f.labels > 0) >= 0.5)
    c, ok = np.array(conf), np.array(good)
    print(f"{len(c)} frames with an ovary, {np.mean(~ok):.0%} failed (ovary Dice < 0.5)")
    print("threshold  flagged  sensitivity  specificity  balanced")
    for t in np.arange(0.60, 0.851, 0.025):
        flag = c < t
        sens = (flag & ~ok).sum() / max((~ok).sum(), 1)
        spec = (~flag & ok).sum() / max(ok.sum(), 1)
        print(f"{t:9.3f}  {flag.mean():7.0%}  {sens:11.2f}  {spec:11.2f}  {(sens + spec) / 2:8.2f}")


if __name__ == "__main__":
    main()
