"""Equal-wall-time accuracy comparison of the candidate architectures (``network.CANDIDATES``).

Each candidate trains from scratch for the same number of minutes on the same cached synthetic
frames, with the same seed, batch, crop and learning-rate schedule (cosine over the time
budget), then is scored on the same held-out validation frames (ovary and follicle Dice at
network scale, argmax). On a 2-core CPU this asks which network learns most per minute, which
is what the one-hour training budget of the shipped weights rewards.

Example (about 4 x 10 min on the 2-core machine)::

    .venv/bin/python scripts/compare_networks.py --minutes 10 --cache runs/cache_v4 \\
        --work runs/compare --json runs/compare/compare.json

``--speed-only`` measures instead, for each candidate, the parameters, the milliseconds of one
forward pass on a 320x384 frame and of one training step on 8 crops of 160x160 (cross-entropy,
AdamW), each the median of ``--repeats`` after one warm-up, on the device it names::

    .venv/bin/python scripts/compare_networks.py --speed-only --device cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from follicle_seg.model.cli import synthetic_samples
from follicle_seg.model.infer import resolve_device
from follicle_seg.model.network import CANDIDATES, build_network
from follicle_seg.model.train import TrainConfig, train


def speed(name: str, device: torch.device, repeats: int = 5) -> dict[str, float]:
    """Parameters (M), forward ms per 320x384 frame and ms per training step (8 x 160²) of a candidate."""
    torch.manual_seed(0)
    net = build_network(name).to(device)
    frame = torch.rand(1, 1, 320, 384, device=device)
    crops = torch.rand(8, 1, 160, 160, device=device)
    labels = torch.randint(0, 3, (8, 160, 160), device=device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3)

    def forward() -> None:
        with torch.inference_mode():
            net(frame)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(net(crops), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def median_ms(call, train_mode: bool) -> float:
        net.train(train_mode)
        times = []
        for i in range(repeats + 1):  # the first call warms up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            call()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return {"parameters_m": round(params / 1e6, 3), "forward_ms_320x384": round(median_ms(forward, False), 1),
            "train_step_ms_8x160": round(median_ms(step, True), 1)}


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
    parser.add_argument("--speed-only", action="store_true", help="measure speed only; no training")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per speed figure")
    args = parser.parse_args(argv)
    try:  # before minutes of making the frame cache
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(f"--device {args.device}: {exc}")
    if args.speed_only:
        rows = {name: speed(name, torch.device(device), args.repeats) for name in args.networks}
        report = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "results": rows}
        print(json.dumps(report, indent=2))
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return 0
    train_samples, val_samples = synthetic_samples(args.n_train, args.n_val, args.cache, workers=2)
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
