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
