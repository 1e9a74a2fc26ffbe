"""Values the commands' options and arguments share (parsing only)."""

from __future__ import annotations

from pathlib import Path

import typer


def nonempty_path(value: str | Path) -> Path:
    """A path option or argument as given, for ``typer.Option(..., parser=nonempty_path)``.

    An empty one is a usage error, not the current folder: ``run "$SCANS" --out results`` with
    the variable unset analysed every file under the folder the command was started in, and
    ``--out ""`` wrote the tables there.
    """
    if value == "":
        raise typer.BadParameter("an empty path (an unset shell variable?): give a file or folder")
    return Path(value)
