"""What a batch operator sees of a command: its console lines and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
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


def test_a_library_warning_goes_to_run_log_in_one_line_without_the_value(tmp_path):
    """pydicom's warnings on a header value out of its VR's rules (an InstanceNumber of 1.5 here,
    read again to write the DICOM SEG) reached the console under ``--quiet``, two lines each
    naming a line of pydicom's source, across the progress bar; the value they quote may be
    a patient's (an ID of a pseudonymised run)."""
    import pydicom

    ds = pydicom.dcmread(SAMPLES / "mono_left.dcm")
    with warnings.catch_warnings():  # (pydicom's own, here)
        warnings.simplefilter("ignore")
        ds.InstanceNumber = "1.5"
        ds.save_as(tmp_path / "odd.dcm")
    out = tmp_path / "out"
    done = _cli("", "run", str(tmp_path / "odd.dcm"), "--out", str(out), "--no-overlays", "--no-report", "--quiet")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    logged = [line.split(" ", 2)[2] for line in (out / "run.log").read_text(encoding="utf-8").splitlines()
              if "UserWarning" in line]  # fmt: skip
    assert "WARNING UserWarning: Invalid value for VR IS: '...'. Please see <https://dicom.nema.org/medical/dicom/" \
           "current/output/html/part05.html#table_6.2-1> for allowed values for each VR." in logged
    assert "1.5" not in " ".join(logged) and len(logged) == len(set(logged))
