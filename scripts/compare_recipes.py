"""Compare two training recipes, each trained with one or more seeds, on the real captures.

One network per ``scripts/eval_real.py --json`` file; ``--a`` lists the networks of one recipe
and ``--b`` those of the other, scored on the same images. A ``scripts/ruler_scale.py --json``
file is read at the true scale (its factor 1, as a calibrated DICOM is read) instead. The
training seed alone moves the real mean ovary Dice by up to 0.10 (docs/model.md, "Real scans"), so a paired test between two networks compares those networks, not their recipes. This
script keeps both sources of spread:

- each network's mean ovary Dice, each side's mean and spread over its networks;
- the per-image paired test (Wilcoxon) on Dice averaged over each side's networks;
- a two-level bootstrap (networks drawn with replacement within each side, images drawn with
  replacement and shared by both sides) of the difference B - A in mean ovary Dice, with its 95 %
  interval. The verdict is "B better" or "B worse" only when that interval excludes 0; with one
  network on a side the seed spread is invisible to it, which the report says.

Example
-------
    .venv/bin/python scripts/compare_recipes.py --a runs/real_n10k.json runs/real_n10k_s2.json \\
        --b runs/real_fz2.json runs/real_fz2_s2.json --json runs/compare_fz2.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def dice_table(paths: list[Path]) -> tuple[list[str], np.ndarray]:
    """Image names shared by every file and the ovary Dice per network (rows) and image (columns)."""
    runs = []
    for path in paths:
        try:
            images = json.loads(path.read_text(encoding="utf-8"))["images"]
            scored = [r for r in images if "ovary_dice" in r or "1" in r.get("factor", {})]
            runs.append({str(r["name"]): _ovary_dice(r) for r in scored})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}: not an eval_real.py or ruler_scale.py --json file ({exc})") from exc
        if not scored:  # a depth_readings.py file, say: its images have other keys
            raise ValueError(f"{path}: no image with an ovary Dice (eval_real.py's ovary_dice, or ruler_scale.py's "
                             "reading at factor 1)")
    names = sorted(set.intersection(*(set(r) for r in runs)))
    if not names:
        raise ValueError("no image is scored in every file")
    return names, np.array([[r[n] for n in names] for r in runs])


def _ovary_dice(record: dict[str, object]) -> float:
    """An image's ovary Dice: eval_real.py's, or ruler_scale.py's at the true scale (factor 1)."""
    if "ovary_dice" in record:
        return float(record["ovary_dice"])  # type: ignore[arg-type]
    return float(record["factor"]["1"]["dice"])  # type: ignore[index]


def bootstrap_difference(a: np.ndarray, b: np.ndarray, draws: int = 4000, seed: int = 0) -> np.ndarray:
    """B - A mean Dice over ``draws`` two-level resamples (networks within a side, shared images)."""
    rng = np.random.default_rng(seed)
    n_img = a.shape[1]
    out = np.empty(draws)
    for i in range(draws):
        imgs = rng.integers(0, n_img, n_img)
        nets_a = rng.integers(0, a.shape[0], a.shape[0])
        nets_b = rng.integers(0, b.shape[0], b.shape[0])
        out[i] = b[np.ix_(nets_b, imgs)].mean() - a[np.ix_(nets_a, imgs)].mean()
    return out


def compare(a_paths: list[Path], b_paths: list[Path], margin: float = 0.05) -> dict[str, object]:
    """The report printed by :func:`main` (see the module docstring)."""
    from eval_real import paired  # scripts/ is on sys.path when this runs as a script

    names, table = dice_table(a_paths + b_paths)
    a, b = table[: len(a_paths)], table[len(a_paths):]

    def side(paths: list[Path], rows: np.ndarray) -> dict[str, object]:
        means = rows.mean(axis=1)
        return {"networks": {str(p): float(m) for p, m in zip(paths, means)}, "mean": float(means.mean()),
                "seed_sd": float(means.std(ddof=1)) if len(means) > 1 else None,
                "seed_range": float(means.max() - means.min())}

    def seed_averaged(rows: np.ndarray) -> list[dict[str, object]]:
        return [{"name": n, "ovary_dice": float(v)} for n, v in zip(names, rows.mean(axis=0))]

    diffs = bootstrap_difference(a, b)
    low, high = (float(q) for q in np.percentile(diffs, [2.5, 97.5]))
    verdict = "B better" if low > 0 else "B worse" if high < 0 else "undecided"
    return {
        "n_images": len(names),
        "a": side(a_paths, a),
        "b": side(b_paths, b),
        "difference": float(b.mean() - a.mean()),
        "paired_seed_averaged": paired(seed_averaged(b), seed_averaged(a), margin),
        "bootstrap_95": [low, high],
        "verdict": verdict,
        "seed_spread_seen": len(a_paths) > 1 and len(b_paths) > 1,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", type=Path, nargs="+", required=True, help="eval_real.py (or ruler_scale.py) --json files of recipe A")
    parser.add_argument("--b", type=Path, nargs="+", required=True, help="eval_real.py (or ruler_scale.py) --json files of recipe B")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        report = compare(args.a, args.b)
    except ValueError as exc:
        parser.error(str(exc))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    if not report["seed_spread_seen"]:
        print("one network on a side: its training-seed spread is not in the interval", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
