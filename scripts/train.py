"""Train the shipped network from scratch on synthetic frames (the recipe behind models/model.pt).

Generates the frame cache once (runs/cache/, ignored by git), then trains with online
augmentation and writes the bundle to --out (the repository root for the shipped weights).
Also used to compare architectures at equal wall time (--network, written elsewhere).

Examples
--------
    .venv/bin/python scripts/train.py --out . --n-train 1200 --minutes 40
    .venv/bin/python scripts/train.py --out runs/cmp_basicunet --network basicunet --minutes 4
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from follicle_seg.model.cli import synthetic_samples
from follicle_seg.model.infer import resolve_device
from follicle_seg.model.network import CANDIDATES
from follicle_seg.model.train import TrainConfig, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument("--n-train", type=int, default=1200)
    parser.add_argument("--n-val", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=40.0)
    parser.add_argument("--max-steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--val-every", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ema", type=float, default=0.0, help="moving-average decay of the kept weights (0: off)")
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder for the weights at every validation")
    parser.add_argument("--network", default="unet_res", choices=sorted(CANDIDATES))
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--workers", type=int, default=2, help="processes generating the cache")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if args.network != "unet_res" and args.out.resolve() == Path.cwd().resolve():
        parser.error("only the shipped architecture (unet_res) may be written to the repository root")
    train_samples, val_samples = synthetic_samples(args.n_train, args.n_val, args.cache, workers=args.workers)
    print(f"{len(train_samples)} training, {len(val_samples)} validation frames", flush=True)
    config = TrainConfig(max_steps=args.max_steps, batch_size=args.batch_size, crop=args.crop,
                         learning_rate=args.lr, val_every=args.val_every, patience=args.patience,
                         time_limit_min=args.minutes, seed=args.seed, network=args.network, ema_decay=args.ema,
                         checkpoints=None if args.checkpoints is None else str(args.checkpoints))
    report = train(train_samples, val_samples, args.out, config=config, device=resolve_device(args.device),
                   note=f"trained on {args.n_train} synthetic frames ({args.network})",
                   command=shlex.join(["python", *sys.argv]), log=lambda m: print(m, flush=True))
    print(f"done: {report['steps']} steps in {report['minutes']} min; after {report['after']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
