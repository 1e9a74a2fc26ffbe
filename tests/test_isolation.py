"""Codecs run in child processes: a crash or a hang fails one call (one file), never the run."""

from __future__ import annotations

import os
import shutil
import time

import pandas as pd
import pytest

from follicle_seg import intake
from follicle_seg.errors import RejectedInput
from follicle_seg.isolation import IsolatedWorker, WorkerFailed
from follicle_seg.pipeline import RunOptions, run
from follicle_seg.synth.study import write_study


def abort_now() -> None:
    os.abort()  # what a C decoder does on a failed assertion (SIGABRT)


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def reject(path: str) -> None:
    raise RejectedInput(path, "not an ultrasound image")


def crash_on_left_sweeps(record, start, stop):
    if "L_sweep" in record.path:
        os.abort()
    return intake.decode_pixels(record, start, stop)


def crash_on_left_key_frames(record, index, panes=False):
    if "L_sweep" in record.path:
        os.abort()
    from follicle_seg.io.dicom import iter_frames

    return list(iter_frames(record, start=index, stop=index + 1, panes=panes))


def warn_about(value: str) -> str:
    import warnings

    warnings.warn(f"Invalid value for VR PN: '{value}'", UserWarning)
    return "decoded"


def test_a_decoders_warnings_reach_the_runs_log_without_the_values_they_quote(caplog) -> None:
    """A warning in a decoder process went to the console with the value it quoted (a patient's
    name, say), past the run's filter that sends its own to run.log without them."""
    import logging

    from follicle_seg.outdir import warnings_logged

    with caplog.at_level(logging.WARNING), warnings_logged(), IsolatedWorker() as worker:
        assert worker.call(warn_about, "Doe^Jane", timeout=60) == "decoded"
        with pytest.raises(RejectedInput):
            worker.call(reject, "/data/x.dcm", timeout=60)
    assert [r.getMessage() for r in caplog.records] == ["UserWarning: Invalid value for VR PN: '...'"]
    with pytest.warns(UserWarning, match="Doe"), IsolatedWorker() as worker:  # no run: shown as Python shows it
        worker.call(warn_about, "Doe^Jane", timeout=60)
        import warnings

        with warnings.catch_warnings():  # and through this process's filters (-W error, say)
            warnings.simplefilter("error")
            with pytest.raises(UserWarning):
                worker.call(warn_about, "Doe^Jane", timeout=60)


def test_worker_survives_a_crash_and_a_hang() -> None:
    with IsolatedWorker() as worker:
        assert worker.call(divmod, 17, 5, timeout=60) == (3, 2)
        with pytest.raises(WorkerFailed, match="died .*SIGABRT"):
            worker.call(abort_now, timeout=60)
        assert worker.call(divmod, 9, 4, timeout=60) == (2, 1)  # a fresh child
        t = time.monotonic()
        with pytest.raises(WorkerFailed, match="no answer within 2 s"):
            worker.call(sleep_for, 60.0, timeout=2)
        assert time.monotonic() - t < 30
        assert worker.call(sleep_for, 0.0, timeout=60) == "woke"


def test_ctrl_c_is_left_to_the_parent() -> None:
    """Ctrl-C reaches the decoder processes too: they neither die nor print a traceback."""
    import signal

    with IsolatedWorker() as worker:
        pid = worker.call(os.getpid, timeout=60)
        os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        assert worker.call(os.getpid, timeout=60) == pid  # the same child, alive


def test_a_decoder_whose_run_was_killed_ends_without_a_traceback() -> None:
    """A run killed (kill -9) leaves its decoders a broken pipe to answer on: each printed a
    BrokenPipeError traceback into the shared stderr (a CI log); they end quietly."""
    from follicle_seg.isolation import _serve

    class Orphaned:  # the child's end of the pipe, its parent gone
        def __init__(self):
            self.tasks = [(divmod, (7, 2))]

        def recv(self):
            return self.tasks.pop()

        def send(self, reply):
            raise BrokenPipeError(32, "Broken pipe")

    with pytest.MonkeyPatch.context() as mp:
        import signal

        mp.setattr(signal, "signal", lambda *a: None)  # (the child ignores Ctrl-C; not this process)
        assert _serve(Orphaned()) is None


def test_exceptions_come_back_unchanged() -> None:
    with IsolatedWorker() as worker:
        with pytest.raises(RejectedInput) as info:
            worker.call(reject, "/data/x.dcm", timeout=60)
    assert info.value.path == "/data/x.dcm" and info.value.reason == "not an ultrasound image"


def test_a_crashing_decoder_fails_its_files_and_the_run_goes_on(tmp_path, monkeypatch) -> None:
    study = tmp_path / "study"
    write_study(study, patients=1, visits=1, seed=3, frames_per_sweep=4, stills_per_ovary=0)
    monkeypatch.setattr(intake, "decode_pixels", crash_on_left_sweeps)
    out = tmp_path / "out"
    summary = run([study / "dicom"], RunOptions(out=out, workers=1, overlays=False, dicom=False, report=False))
    images = pd.read_csv(out / "images.csv", keep_default_na=False)
    left = images[images.path.str.contains("L_sweep")]
    right = images[images.path.str.contains("R_sweep")]
    assert len(left) == 1 and len(right) == 1 and summary.failed == 1 and summary.ok == 1
    assert left.status.iloc[0] == "failed" and "decoder process died (signal SIGABRT)" in left.reason.iloc[0]
    assert left.reason.iloc[0] == "decoding: decoder process died (signal SIGABRT)"  # the path is its own column
    assert f"{left.path.iloc[0]}: decoding: decoder process died" in summary.rejected_reasons[0]  # the console names it
    assert right.status.iloc[0] == "ok"
    shutil.rmtree(study)


def test_a_decoder_crashing_on_an_overlays_key_frame_fails_that_file_not_the_run(tmp_path, monkeypatch) -> None:
    """The overlays' key frames were decoded in the run's own process: a codec crash there ended
    the whole run (here: the test process), not one file."""
    import follicle_seg.io.dicom as dicom

    study = tmp_path / "study"
    write_study(study, patients=1, visits=1, seed=3, frames_per_sweep=4, stills_per_ovary=0)
    monkeypatch.setattr(dicom, "frames_at", crash_on_left_key_frames)
    out = tmp_path / "out"
    summary = run([study / "dicom"], RunOptions(out=out, workers=1, dicom=False, report=False))
    images = pd.read_csv(out / "images.csv", keep_default_na=False).set_index("path")
    left = images[images.index.str.contains("L_sweep")]
    assert summary.failed == 1 and summary.ok == 1
    assert "decoder process died (signal SIGABRT)" in left.reason.iloc[0]
    assert list((out / "overlays").glob("*R_*.png")) and not list((out / "overlays").glob("*L_*.png"))
