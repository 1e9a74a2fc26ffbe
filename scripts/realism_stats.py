"""Appearance statistics of ovary scans at the network input: synthetic frames against real ones.

Every image goes through the inference pre-processing first (what the network sees is compared);
the figures are those of :mod:`follicle_seg.synth.realism`.

Real images: ``DIR/images/NAME.jpg`` and ``DIR/masks/NAME.png`` (non-zero = ovary), e.g. the
validation set ``../shared/real_val/mmotu_ovary_normal`` (aggregate figures only; never train on it).
The speckle grain in mm (:func:`~follicle_seg.synth.realism.speckle_grain`) needs the pixel size:
synthetic frames carry it; a real capture gets it from its depth ruler
(``ruler_scale.ruler_spacing_px``, a mark every ``ruler_scale.MARK_MM``), and one without a ruler
has no grain figure.

Example
-------
    .venv/bin/python scripts/realism_stats.py --real ../shared/real_val/mmotu_ovary_normal --synthetic 80
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from follicle_seg.model.preprocess import fan_mask, normalise_intensity, resample, to_network_scale
from follicle_seg.synth.realism import grey_stats, image_stats, speckle_grain, summarise

from eval_real import annotated_regions  # scripts/ is on sys.path when run as a script
from ruler_scale import MARK_MM, ruler_spacing_px


def _figures(grey: np.ndarray, fan: np.ndarray, ovary: np.ndarray, spacing: float | None,
             grain_spacing: float | None) -> dict[str, float] | None:
    """Both sets of figures for one region; the network-scale ones on the inference pre-processing
    (at ``spacing``, None: the assumed depth), the grain where ``grain_spacing`` is known."""
    image, net_fan, geom = to_network_scale(grey, spacing, spacing)
    net_ovary = resample(ovary.astype(np.float32), geom.scaled_shape, mode="nearest") > 0.5
    s = image_stats(normalise_intensity(image, net_fan), net_fan, net_ovary)
    if s is None:
        return None
    grain = None if grain_spacing is None else speckle_grain(grey, fan & ~ovary, grain_spacing)
    return {**s, **grey_stats(grey, fan, ovary),
            **({} if grain is None else {"grain_axial_mm": grain[0], "grain_lateral_mm": grain[1]})}


def real_stats(folder: Path) -> list[dict[str, float]]:
    """Figures for every annotated real screen capture of ``folder`` (scan area found automatically)."""
    out = []
    for _, grey, truth, (c0, r0, c1, r1), _ in annotated_regions(folder):
        region = grey[r0 : r1 + 1, c0 : c1 + 1]
        interval = ruler_spacing_px(grey)
        s = _figures(region, fan_mask(region), truth[r0 : r1 + 1, c0 : c1 + 1], None,
                     None if interval is None else MARK_MM / interval)
        if s is not None:
            out.append(s)
    return out


def synthetic_stats(n: int, seed_start: int, layered_share: float = 0.0) -> list[dict[str, float]]:
    """Figures for ``n`` training frames (random style mix, ``layered_share`` of them layered
    scenes) from ``seed_start`` on."""
    from follicle_seg.synth.training import training_frame

    out = []
    for seed in range(seed_start, seed_start + n):
        f = training_frame(seed, layered_share=layered_share)
        s = _figures(f.pixels, f.fan, f.labels > 0, f.spacing_row_mm, f.spacing_row_mm)
        if s is not None:
            out.append(s)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=None, help="folder with images/*.jpg and masks/*.png")
    parser.add_argument("--synthetic", type=int, default=80, help="number of synthetic frames (0: none)")
    parser.add_argument("--seed-start", type=int, default=5000)
    parser.add_argument("--layered-share", type=float, default=0.0, help="share of layered scenes among the synthetic frames")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = {}
    if args.synthetic > 0:
        result["synthetic"] = summarise(synthetic_stats(args.synthetic, args.seed_start, args.layered_share))
    if args.real is not None:
        result["real"] = summarise(real_stats(args.real))
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
