"""Evaluate a bundle on held-out synthetic frames (or annotated PNGs) beside the classical baseline.

The same code as ``follicle-seg evaluate``.

Example
-------
    .venv/bin/python scripts/evaluate.py --n 100 --shift 0.5 --json runs/eval_shift.json
"""

from __future__ import annotations

import typer

from follicle_seg.model.cli import evaluate_command

if __name__ == "__main__":
    typer.run(evaluate_command)
