"""Equal-wall-time accuracy comparison of the candidate architectures (``network.CANDIDATES``).

Each candidate trains from scratch for the same number of minutes on the same cached synthetic
frames, with the same seed, batch, crop and learning-rate schedule (cosine over the time
budget), then is scored on the same held-out validation frames (ovary and follicle Dice at
network scale, argmax). On a 2-core CPU this asks which network learns most per minute, which
is what the one-hour training budget of the shipped weights rewards.

Example (about 4 x 10 min on the 2-core machine)::

    .venv/bin/python scripts/compare_networks.py --minutes 10 --cache runs/cache_v4 \\
        --work runs/compare --json runs/compare/compare.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from follicle_seg.model.cli import synthetic_samples
from follicle_seg.model.infer import resolve_device
from follicle_seg.model.network import CANDIDATES, build_network
from follicle_seg.model.train import TrainConfig, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="training wall time per candidate")
    parser.add_argument("--networks", nargs="+", default=sorted(CANDIDATES), choices=sorted(CANDIDATES))
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-val", type=int, default=200)
    parser.add_argument("--crop", type=int, default=160)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--work", type=Path, default=Path("runs/compare"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    train_samples, val_samples = synthetic_samples(args.n_train, args.n_val, args.cache, workers=2)
    device = resolve_device(args.device)
    rows = {}
    for name in args.networks:
        config = TrainConfig(max_steps=10**7, crop=args.crop, learning_rate=args.lr, val_every=10**7,
                             patience=1, time_limit_min=args.minutes, seed=args.seed, network=name)
        report = train(train_samples, val_samples, args.work / name, config=config, device=device,
                       note=f"equal-time comparison ({args.minutes} min)", log=lambda m: None)
        params = sum(p.numel() for p in build_network(name).parameters())
        rows[name] = {"parameters_m": round(params / 1e6, 2), "steps": report["steps"],
                      "minutes": report["minutes"], **{k: round(v, 3) for k, v in report["after"].items()}}
        print(json.dumps({name: rows[name]}), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"settings": vars(args) | {"cache": str(args.cache), "work": str(args.work),
                                                                  "json": str(args.json)}, "results": rows},
                                        indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
