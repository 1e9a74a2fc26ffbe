"""Command line: parsing only; every command calls library code.

Each command's body imports what it needs lazily, so ``follicle-seg inspect`` does not pay for
importing torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Transvaginal ultrasound follicle counts and sizes per ovary per visit.",
)


@app.callback()
def _root() -> None:
    """follicle-seg: TVUS DICOM -> follicle counts and sizes per ovary per visit."""


@app.command()
def inspect(
    files: list[Path] = typer.Argument(..., help="DICOM files or folders (searched recursively)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per file."),
) -> None:
    """Show what ingestion sees in each file: calibration, region, side, and why it would be rejected.

    Examples:

        follicle-seg inspect data_samples/

        follicle-seg inspect scan.dcm --json
    """
    from follicle_seg.io.inspect import inspect_paths, print_table

    rows = inspect_paths(files)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        print_table(rows)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
