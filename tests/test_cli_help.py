"""Every command's --help: rich markdown (the app's markup mode) keeps what its help texts say."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from follicle_seg.cli import app

COMMANDS = typer.main.get_command(app).commands  # (a click Group)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_keeps_every_angle_bracketed_name(name: str) -> None:
    """`train --help` read "a cine f, export_pairs.py's :" for "a cine <uid>_f<k>,
    export_pairs.py's <sop>_<frame>:": markdown took them for HTML tags."""
    command = COMMANDS[name]
    texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
    names = {m.group(0).replace("`", "").strip(",.;:()") for t in texts for m in re.finditer(r"\S*<[^>\s]*>\S*", t)}
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "400"})
    shown = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert result.exit_code == 0 and not [n for n in sorted(names) if n not in shown]
