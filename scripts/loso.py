"""Leave-one-style-out evaluation and few-shot adaptation (issue 9), at a fixed step budget.

For every style family K of :data:`follicle_seg.synth.styles.STYLES`:

* ``all``: one network trained from scratch on frames of all six families;
* ``no_K``: the same recipe (same steps, same seed) on the five other families only;
* both scored on unseen frames of family K (``follicle-seg evaluate``'s metrics).

"In-style" for K is the ``all`` network on K, "held out" is ``no_K`` on K; the table gives both
and the drop. Few-shot: the ``no_K`` network of one family (the one with the largest ovary-Dice
drop, or ``--few-shot-style``) is fine-tuned through the user path, ``follicle-seg train --init
... --data DIR``, on 20 annotated PNG frames of K (16 train + 4 held out for early stopping),
then scored again on the same unseen frames of K: gap closed = (after - before) / (in-style -
before) in ovary Dice.

Every network gets the same number of optimiser steps (``--steps``), so figures are comparable
with each other but not with the shipped model (trained much longer). Seeds: training pools
from 2,000,000, held-out scoring frames from 3,000,000, few-shot frames from 4,000,000; none
overlaps the shipped model's seeds.

Example (about 50 min on a 2-core CPU)::

    .venv/bin/python scripts/loso.py --work runs/loso --steps 1200 --json runs/loso/loso.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from follicle_seg.model.data import cached_synthetic_samples
from follicle_seg.model.evaluate import evaluate
from follicle_seg.model.infer import Segmenter
from follicle_seg.model.train import TrainConfig, train
from follicle_seg.synth.styles import STYLES
from follicle_seg.synth.training import training_frame

POOL_SEEDS = 2_000_000
SCORE_SEEDS = 3_000_000
FEW_SHOT_SEEDS = 4_000_000
STRIDE = 100_000  # seeds per style family


def pools(work: Path, n_train: int, n_val: int) -> tuple[dict[str, list], dict[str, list]]:
    """Training and early-stopping samples of each family (pure family, no mixing)."""
    train_pool, val_pool = {}, {}
    for k, style in enumerate(STYLES):
        base = POOL_SEEDS + k * STRIDE
        train_pool[style] = cached_synthetic_samples(
            range(base, base + n_train), work / "cache" / f"train_{style}_{n_train}.npz", style=style, workers=2)
        val_pool[style] = cached_synthetic_samples(
            range(base + STRIDE // 2, base + STRIDE // 2 + n_val), work / "cache" / f"val_{style}_{n_val}.npz",
            style=style, workers=2)
    return train_pool, val_pool


def scoring_frames(style: str, n: int) -> list[tuple]:
    base = SCORE_SEEDS + STYLES.index(style) * STRIDE
    frames = (training_frame(s, style=style) for s in range(base, base + n))
    return [(f.pixels, f.labels, f.spacing_row_mm, f.spacing_col_mm) for f in frames]


def score(weights: Path, frames: list[tuple]) -> dict[str, float]:
    seg = Segmenter(weights, device="cpu")
    m = evaluate(lambda items: [p.argmax(0).astype(np.uint8) for p, _ in seg.predict(items)], frames)
    det = m["detection"]
    return {"ovary_dice": m["ovary_dice"], "follicle_dice": m["follicle_dice"],
            "precision": det["precision"], "recall": det["recall"], "count_exact": m["count_exact"]}


def mean_drop_of(table: dict[str, dict[str, dict]], metric: str) -> float | None:
    """Mean of in-style - held out over the families where both are defined (a precision is
    ``None`` when a network found no follicle); ``None`` when none is.

    Examples
    --------
    >>> mean_drop_of({"a": {"in_style": {"p": 0.5}, "held_out": {"p": 0.25}},
    ...               "b": {"in_style": {"p": 0.5}, "held_out": {"p": None}}}, "p")
    0.25
    """
    drops = [t["in_style"][metric] - t["held_out"][metric] for t in table.values()
             if t["in_style"][metric] is not None and t["held_out"][metric] is not None]
    return float(np.mean(drops)) if drops else None


def fit(name: str, styles: list[str], train_pool, val_pool, work: Path, steps: int, seed: int) -> Path:
    out = work / name
    weights = out / "models" / "model.pt"
    if weights.is_file():
        return weights
    config = TrainConfig(max_steps=steps, crop=160, val_every=max(steps // 4, 1), patience=100,
                         time_limit_min=1e6, seed=seed)
    train([s for k in styles for s in train_pool[k]], [s for k in styles for s in val_pool[k]], out,
          config=config, device="cpu", note=f"leave-one-style-out: {name}", log=lambda m: None)
    return weights


def write_png_pairs(folder: Path, style: str, n: int) -> None:
    """``n`` annotated frames of ``style`` in the user fine-tuning format (PNG pairs + spacing.csv)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    rows = ["name,spacing_row_mm,spacing_col_mm"]
    base = FEW_SHOT_SEEDS + STYLES.index(style) * STRIDE
    for seed in range(base, base + n):
        f = training_frame(seed, style=style)
        name = f"{style}_{seed}"
        Image.fromarray(f.pixels).save(folder / "images" / f"{name}.png")
        Image.fromarray(f.labels).save(folder / "masks" / f"{name}.png")
        rows.append(f"{name},{f.spacing_row_mm},{f.spacing_col_mm}")
    (folder / "spacing.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def few_shot(style: str, base_weights: Path, frames: list[tuple], work: Path, args) -> dict:
    data = work / f"few_shot_{style}"
    write_png_pairs(data, style, args.few_shot_frames)
    out = work / f"no_{style}_adapted"
    cmd = [sys.executable, "-m", "follicle_seg", "train", "--init", str(base_weights), "--data", str(data),
           "--out", str(out), "--max-steps", str(args.few_shot_steps), "--crop", "160", "--lr", "0.0005",
           "--val-every", "25", "--patience", "4", "--minutes", "30", "--device", "cpu", "--seed", "0"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return score(out / "models" / "model.pt", frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("runs/loso"))
    ap.add_argument("--steps", type=int, default=1200, help="optimiser steps of every network")
    ap.add_argument("--n-train", type=int, default=300, help="training frames per family")
    ap.add_argument("--n-val", type=int, default=6, help="early-stopping frames per family")
    ap.add_argument("--n-score", type=int, default=40, help="unseen scoring frames per family")
    ap.add_argument("--few-shot-style", default=None, choices=STYLES)
    ap.add_argument("--few-shot-frames", type=int, default=20)
    ap.add_argument("--few-shot-steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    train_pool, val_pool = pools(work, args.n_train, args.n_val)
    all_weights = fit("all", list(STYLES), train_pool, val_pool, work, args.steps, args.seed)
    table = {}
    for style in STYLES:
        frames = scoring_frames(style, args.n_score)
        others = [s for s in STYLES if s != style]
        held = fit(f"no_{style}", others, train_pool, val_pool, work, args.steps, args.seed)
        table[style] = {"in_style": score(all_weights, frames), "held_out": score(held, frames)}
        print(style, json.dumps(table[style]), flush=True)
    metrics = list(next(iter(table.values()))["in_style"])
    mean_drop = {m: mean_drop_of(table, m) for m in metrics}
    target = args.few_shot_style or max(
        table, key=lambda s: table[s]["in_style"]["ovary_dice"] - table[s]["held_out"]["ovary_dice"])
    adapted = few_shot(target, work / f"no_{target}" / "models" / "model.pt", scoring_frames(target, args.n_score),
                       work, args)
    before, in_style = table[target]["held_out"]["ovary_dice"], table[target]["in_style"]["ovary_dice"]
    gap = in_style - before
    result = {
        "settings": vars(args) | {"work": str(work), "json": str(args.json)},
        "table": table,
        "mean_drop": mean_drop,
        "few_shot": {"style": target, "frames": args.few_shot_frames, "before": table[target]["held_out"],
                     "after": adapted, "in_style": table[target]["in_style"],
                     "gap_closed_ovary_dice": (adapted["ovary_dice"] - before) / gap if gap > 0 else None},
    }
    print(json.dumps({"mean_drop": mean_drop, "few_shot": result["few_shot"]}, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
