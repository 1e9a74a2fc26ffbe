"""Mistyped arguments of every command: a one-line usage error (exit 2) naming what is wrong,
never a traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from follicle_seg.cli import app

SAMPLE = Path(__file__).parent.parent / "data_samples" / "mono_left.dcm"


def _usage_error(args: list[str]) -> str:
    """The console output of ``follicle-seg ARGS``, asserted a usage error (exit 2, no traceback)."""
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert (result.exit_code, type(result.exception)) == (2, SystemExit), result.output
    return " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize("args", [
    ["run", "", "--out", "OUT"],
    ["run", str(SAMPLE), "--out", ""],
    ["run", str(SAMPLE), "--out", "OUT", "--cohort", ""],
    ["inspect", ""],
    ["synth", ""],
    ["demo", "--out", ""],
    ["send", "", "--to", "PACS@localhost:104"],
    ["train", "--out", "", "--synthetic", "2", "--max-steps", "1"],
    ["evaluate", "--data", ""],
])  # fmt: skip
def test_an_empty_path_is_a_usage_error_not_the_current_folder(args, tmp_path, monkeypatch):
    """``run "$SCANS" --out results`` with the variable unset analysed every file under the
    folder it was started in (3,405 files of a working folder), ``run scans --out ""`` wrote its
    tables and overlays there, and ``synth ""`` wrote a study there: Path("") is ".", the
    current folder."""
    monkeypatch.chdir(tmp_path)
    output = _usage_error(args)
    assert "an empty path (an unset shell variable?)" in output
    assert list(tmp_path.iterdir()) == []
