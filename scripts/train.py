"""Train the shipped network from scratch on synthetic frames.

Generates the frame cache once (runs/cache/, ignored by git), then trains with online
augmentation and writes the bundle to --out. Also used to compare architectures at equal wall
time (--network, written elsewhere).

The shipped weights 0.4.0 were made by ``follicle-seg train`` (docs/model.md, "Training"), not by this
script; with ``--n-val 250 --layered-share 0.5`` it runs the same training (the CLI holds out
n_train / 20 synthetic frames, this script --n-val) and writes the same bundle layout, but the
0.4.0 run was not repeated with it (42 minutes). 0.3.0's recipe had no layered frames (the default
here).

Examples
--------
    .venv/bin/python scripts/train.py --out runs/bundle_v10 --n-train 5000 --n-val 250 --layered-share 0.5 \
        --cache runs/cache_v10 --minutes 42 --max-steps 12000 --crop 160 --val-every 500 --patience 1000 \
        --seed 1 --ema 0.999 --checkpoints runs/bundle_v10/checkpoints --keep-checkpoints 0
    .venv/bin/python scripts/train.py --out runs/cmp_basicunet --network basicunet --minutes 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from follicle_seg.model.cli import recorded_command, synthetic_samples
from follicle_seg.model.infer import resolve_device
from follicle_seg.model.network import CANDIDATES
from follicle_seg.model.paths import shipped_bundle_root
from follicle_seg.model.train import TrainConfig, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)  # (an abbreviated path option would be recorded whole)
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
    parser.add_argument("--keep-checkpoints", type=int, default=5,
                        help="checkpoints of the last K validations and the best one are kept (0: every one)")
    parser.add_argument("--layered-share", type=float, default=0.0,
                        help="share of synthetic frames from the layered generator (0.4.0: 0.5)")
    parser.add_argument("--network", default="unet_res", choices=sorted(CANDIDATES))
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--workers", type=int, default=2, help="processes generating the cache")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if args.network != "unet_res" and args.out.resolve() == shipped_bundle_root().resolve():
        parser.error(f"--out {args.out} is the shipped bundle: only the shipped architecture (unet_res) may be "
                     "written there")
    if not 0.0 <= args.layered_share <= 1.0:
        parser.error(f"--layered-share must lie in [0, 1], not {args.layered_share}")
    try:  # before minutes of making the frame cache
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(f"--device {args.device}: {exc}")
    train_samples, val_samples = synthetic_samples(args.n_train, args.n_val, args.cache, workers=args.workers,
                                                   layered_share=args.layered_share)
    print(f"{len(train_samples)} training, {len(val_samples)} validation frames", flush=True)
    config = TrainConfig(max_steps=args.max_steps, batch_size=args.batch_size, crop=args.crop,
                         learning_rate=args.lr, val_every=args.val_every, patience=args.patience,
                         time_limit_min=args.minutes, seed=args.seed, network=args.network, ema_decay=args.ema,
                         checkpoints=None if args.checkpoints is None else str(args.checkpoints),
                         keep_checkpoints=args.keep_checkpoints)
    shares = f", {args.layered_share:g} layered" if args.layered_share > 0 else ""
    report = train(train_samples, val_samples, args.out, config=config, device=device,
                   note=f"trained on {args.n_train} synthetic frames ({args.network}{shares})",
                   command=recorded_command(sys.argv[1:] if argv is None else argv, program="python scripts/train.py"), log=lambda m: print(m, flush=True),
                   data_info={"generator": "follicle_seg.synth.training.training_frame(seed, style=None, shift=0.0, "
                                           f"layered_share={args.layered_share})"})
    print(f"done: {report['steps']} steps in {report['minutes']} min; after {report['after']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
