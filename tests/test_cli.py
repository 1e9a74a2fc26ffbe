"""What a batch operator sees of a command: its console lines and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).parent.parent / "data_samples"


def _cli(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``follicle-seg ARGS`` in a fresh process, after ``code`` (a patch) has run in it."""
    script = f"import sys\n{code}\nfrom follicle_seg.cli import main\nsys.argv = ['follicle-seg', *sys.argv[1:]]\nmain()"
    path = os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": path, **(env or {})})  # fmt: skip


def test_quiet_silences_what_dask_logs_on_its_workers(tmp_path):
    """``--quiet`` under ``--executor dask`` let Dask's own log lines through: a task that raised
    printed a worker's "Compute Failed" paragraph with its traceback on stderr."""
    pytest.importorskip("dask.distributed")
    patch = ("from follicle_seg import distributed\n"
             "def analyse(item, options):\n"
             "    raise RuntimeError('a fault of the program')\n"
             "distributed.analyse_on_worker = analyse")  # fmt: skip
    done = _cli(patch, "run", str(SAMPLES / "mono_left.dcm"), "--out", str(tmp_path / "out"), "--executor", "dask",
                "--workers", "1", "--quiet")  # fmt: skip
    assert done.returncode == 1  # every file failed
    assert done.stdout == "" and done.stderr.splitlines() == [
        "error: no file was analysed: 1 failed (a fault of this program or a decoder, not of the files; "
        "images.csv and run.log say why)"]  # fmt: skip


def test_a_console_that_cannot_show_a_name_shows_it_escaped(tmp_path):
    """On a console whose encoding lacks a character of a path (a Latin-1 locale, a redirected
    Windows console), ``inspect`` stopped with a UnicodeEncodeError traceback."""
    folder = tmp_path / "卵巢 left"
    folder.mkdir()
    (folder / "scan.dcm").write_bytes((SAMPLES / "bad_not_dicom.txt").read_bytes())
    done = _cli("", "inspect", str(folder), env={"PYTHONIOENCODING": "latin-1", "COLUMNS": "300"})
    assert (done.returncode, done.stderr) == (0, "")
    assert "\\u5375\\u5de2 left" in done.stdout and "not a DICOM file" in done.stdout
