"""Few-shot adaptation measured on real scans: fine-tune on a few outlined captures, score on others.

The images are split into ``--folds`` parts. For each part, ``--n-train`` + ``--n-val`` captures
drawn (seeded) from the *other* parts are written as a fine-tuning folder (scan-area crop as
``images/NAME.png``, the expert outline as ``masks/NAME.png``) and ``follicle-seg train --init``
fine-tunes on them through the user path; the part itself is then scored with the fine-tuned and
with the initial weights, exactly as ``scripts/eval_real.py`` scores (three depths, pipeline
labels), and once more read at the assumed depth only (``*_one_depth``: a fixed scale, as a
calibrated DICOM frame is read). Every image is scored by networks that never saw it; the summary
pools the parts and pairs the two networks image by image.

The ``--n-val`` captures score early stopping, read at the assumed depth; ``--depths 50 70 100``
writes each training capture at those depths, as uncalibrated captures are read. ``--labels
outline`` writes the outline as mask value 3 (ovary or follicle: the follicles inside are not
drawn, trained with the marginal loss); ``--labels ovary`` writes it as 1, as if every pixel
inside were ovary tissue (what a naive conversion would do). ``--synthetic N`` mixes N synthetic
frames into the fine-tuning (``--data-share`` of the draws are the real frames).

Validation only: the fine-tuned weights stay under ``--work`` (git-ignored ``runs/``), they are
never shipped, and the real images are never committed.

Example
-------
    .venv/bin/python scripts/few_shot_real.py ../shared/real_val/mmotu_ovary_normal --work runs/few_shot_real \\
        --json runs/few_shot_real/summary.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from follicle_seg.errors import ModelError
from follicle_seg.model.infer import UNCALIBRATED_DEPTHS_MM, Segmenter
from follicle_seg.model.loss import OUTLINE
from follicle_seg.model.train import split_holdout
from follicle_seg.types import OVARY


def _eval_real():
    """``scripts/eval_real.py`` as a module (the scripts folder is not a package)."""
    spec = importlib.util.spec_from_file_location("eval_real", Path(__file__).with_name("eval_real.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def folds(names: list[str], k: int, seed: int) -> list[list[str]]:
    """``names`` shuffled (seeded) into ``k`` parts of near-equal size, each sorted.

    Examples
    --------
    >>> parts = folds([f"n{i}" for i in range(7)], 3, 0)
    >>> sorted(len(p) for p in parts), sorted(sum(parts, [])) == [f"n{i}" for i in range(7)]
    ([2, 2, 3], True)
    """
    order = np.random.default_rng(seed).permutation(len(names))
    return [sorted(names[i] for i in order[j::k]) for j in range(k)]


def write_finetune_folder(items: list[tuple], out: Path, label: int, depths_mm: list[float] | None = None) -> None:
    """``out/images/NAME.png`` (scan-area crop) and ``out/masks/NAME.png`` (``label`` inside the
    outline) for ``(name, grey, truth, box, ...)`` items from ``eval_real.annotated_regions``.

    With ``depths_mm`` every capture is written once per depth (``NAME_d<depth>``), its pixel size
    in ``spacing.csv`` taken from that depth over the crop's height; without, no pixel size is given
    and training assumes the uncalibrated depth.
    The folder is emptied first: frames left by an earlier run must not join this one.
    """
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir(parents=True)
    spacing = ["name,spacing_row_mm,spacing_col_mm"]
    for name, grey, truth, (c0, r0, c1, r1), *_ in items:
        crop = grey[r0 : r1 + 1, c0 : c1 + 1]
        mask = (truth[r0 : r1 + 1, c0 : c1 + 1] * label).astype(np.uint8)
        for depth in depths_mm or [None]:
            stem = name if depth is None else f"{name}_d{depth:g}"
            Image.fromarray(crop).save(out / "images" / f"{stem}.png")
            Image.fromarray(mask).save(out / "masks" / f"{stem}.png")
            if depth is not None:
                mm = depth / crop.shape[0]
                spacing.append(f"{stem},{mm:.6f},{mm:.6f}")
    if depths_mm:
        (out / "spacing.csv").write_text("\n".join(spacing) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--work", type=Path, default=Path("runs/few_shot_real"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--init", type=Path, default=None,
                        help="a bundle's models/model.pt to start from (default: the shipped weights)")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=20)
    parser.add_argument("--n-val", type=int, default=5, help="captures held out for early stopping")
    parser.add_argument("--labels", choices=("outline", "ovary"), default="outline")
    parser.add_argument("--depths", type=float, nargs="+", default=None,
                        help="write each training capture at these assumed depths (mm); default: once, uncalibrated")
    parser.add_argument("--synthetic", type=int, default=0)
    parser.add_argument("--layered-share", type=float, default=0.5)
    parser.add_argument("--data-share", type=float, default=0.5)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache_fs"))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--val-every", type=int, default=50)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.folds < 2:  # one fold has nothing to train on
        parser.error(f"--folds {args.folds}: at least 2 (each fold is scored by networks trained on the others)")

    def segmenters(weights: Path | None) -> dict[str, Segmenter]:
        return {"": Segmenter(weights, device=args.device, uncalibrated_depths_mm=UNCALIBRATED_DEPTHS_MM),
                "_one_depth": Segmenter(weights, device=args.device, uncalibrated_depths_mm=UNCALIBRATED_DEPTHS_MM[:1])}

    try:  # before any image is read
        before_segs = segmenters(args.init)
    except ModelError as exc:
        parser.error(f"--init: {exc}")
    except ValueError as exc:  # a device the machine lacks
        parser.error(f"--device: {exc}")
    er = _eval_real()
    items = {item[0]: item for item in er.annotated_regions(args.folder)}
    if len(items) < args.folds * 2:
        parser.error(f"too few annotated images under {args.folder}")
    parts = folds(sorted(items), args.folds, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    label = OUTLINE if args.labels == "outline" else OVARY
    rows: dict[str, list[dict]] = {"before": [], "after": [], "before_one_depth": [], "after_one_depth": []}
    runs = []
    for k, test in enumerate(parts):
        pool = sorted(n for n in items if n not in test)
        chosen = sorted(rng.choice(pool, size=min(len(pool), args.n_train + args.n_val), replace=False).tolist())
        fold_dir = args.work / f"fold_{k}"
        train_idx, val_idx = split_holdout(len(chosen), args.n_val / len(chosen), args.seed)
        write_finetune_folder([items[chosen[i]] for i in train_idx], fold_dir / "data", label, args.depths)
        write_finetune_folder([items[chosen[i]] for i in val_idx], fold_dir / "val", label)
        command = [sys.executable, "-m", "follicle_seg", "train", "--init", str(args.init or "shipped"),
                   "--data", str(fold_dir / "data"), "--val-data", str(fold_dir / "val"),
                   "--out", str(fold_dir / "bundle"), "--max-steps", str(args.steps), "--crop", "160",
                   "--lr", str(args.lr), "--val-every", str(args.val_every), "--patience", str(args.patience),
                   "--minutes", "30", "--seed", str(args.seed), "--device", args.device]
        if args.synthetic > 0:
            command += ["--synthetic", str(args.synthetic), "--layered-share", str(args.layered_share),
                        "--cache", str(args.cache), "--data-share", str(args.data_share)]
        print(" ".join(command), file=sys.stderr, flush=True)
        subprocess.run(command, check=True)
        report = json.loads((fold_dir / "bundle" / "train_report.json").read_text(encoding="utf-8"))
        after_segs = segmenters(fold_dir / "bundle" / "models" / "model.pt")
        for name in test:
            for tag in before_segs:
                rows[f"before{tag}"].append(er.score_image(before_segs[tag], *items[name]))
                rows[f"after{tag}"].append(er.score_image(after_segs[tag], *items[name]))
        runs.append({"fold": k, "test": test, "fine_tuned_on": chosen, "steps": report["steps"],
                     "minutes": report["minutes"], "held_out_before": report["before"], "held_out_after": report["after"]})
        means = {key: float(np.mean([r["ovary_dice"] for r in rows[key][-len(test):]])) for key in ("after", "before")}
        print(json.dumps({"fold": k, "steps": report["steps"], "minutes": report["minutes"], **means}),
              file=sys.stderr, flush=True)
    summary = {"settings": {k: str(v) for k, v in vars(args).items()},
               **{key: er.summarise(value) for key, value in rows.items()},
               "paired": er.paired(rows["after"], rows["before"]),
               "paired_one_depth": er.paired(rows["after_one_depth"], rows["before_one_depth"]), "folds": runs}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**summary, "images": rows}, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("settings", "folds")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
