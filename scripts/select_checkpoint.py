"""Score a training run's checkpoints on the real validation images, split in two halves.

The real images (see ``eval_real.py``) are split by name into a *selection* half (even position
in name order) and a *report* half (odd position). Each checkpoint (``step_<N>.pt`` and
``step_<N>_ema.pt`` written by ``train --checkpoints DIR``) is scored on both; choose on the
selection half only and quote the report half, which played no part in the choice, as the
estimate. Never train on these images.

Example
-------
    .venv/bin/python scripts/select_checkpoint.py runs/bundle_v9/checkpoints \\
        ../shared/real_val/mmotu_ovary_normal --json runs/select_v9.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

from follicle_seg.model.infer import Segmenter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_real import annotated_regions, score_image, summarise  # noqa: E402


def _step(path: Path) -> tuple[int, str]:
    match = re.fullmatch(r"step_(\d+)(_ema)?\.pt", path.name)
    return (int(match.group(1)), match.group(2) or "") if match else (-1, "")


def halves_summary(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    """``eval_real.summarise`` of the selection (even positions) and report (odd) halves."""
    return {half: summarise(rows[parity::2]) for half, parity in (("selection", 0), ("report", 1))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", type=Path, help="folder of step_<N>[_ema].pt state dicts")
    parser.add_argument("folder", type=Path, help="real validation folder (images/, masks/)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    paths = sorted((p for p in args.checkpoints.glob("step_*.pt") if _step(p)[0] >= 0), key=_step)
    if not paths:
        parser.error(f"no step_<N>.pt checkpoints in {args.checkpoints}")
    images = list(annotated_regions(args.folder))
    if not images:
        parser.error(f"no images/*.jpg with masks/*.png under {args.folder}")
    seg = Segmenter(None, device=args.device)
    results = {}
    for path in paths:
        seg.network.load_state_dict(torch.load(path, map_location=seg.device, weights_only=True))
        rows = [score_image(seg, *item) for item in images]
        results[path.name] = halves_summary(rows)
        sel, rep = results[path.name]["selection"], results[path.name]["report"]
        print(f"{path.name:>18}  selection median {sel['ovary_dice_median']:.2f} mean {sel['ovary_dice_mean']:.2f}"
              f" >=0.5 {sel['share_dice_ge_0_5']:.0%} out {sel['follicles_outside_per_image']:.2f}"
              f" | report median {rep['ovary_dice_median']:.2f} mean {rep['ovary_dice_mean']:.2f}"
              f" >=0.5 {rep['share_dice_ge_0_5']:.0%} out {rep['follicles_outside_per_image']:.2f}", flush=True)
    best = max(results, key=lambda k: (results[k]["selection"]["ovary_dice_mean"], results[k]["selection"]["ovary_dice_median"]))
    print(f"chosen on the selection half (mean ovary Dice): {best}; report half: {json.dumps(results[best]['report'])}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"chosen": best, "checkpoints": results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
