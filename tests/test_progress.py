"""The run's progress when stderr is a log, not a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from follicle_seg import progress
from follicle_seg.progress import RunProgress
from follicle_seg.types import ImageResult


def test_a_log_gets_a_plain_progress_line_every_interval(monkeypatch) -> None:
    """Written to a file, the bars were drawn once, at the end: a run of many hours logged nothing
    until it finished. A plain line now comes as files finish, at most every LOG_EVERY_S."""
    out = io.StringIO()
    done = ImageResult(None, "a.dcm", "ok", "")
    with RunProgress(Console(file=out, force_terminal=False, width=200)) as bars:
        bars.start(total_files=4, done=1, total_frames=40)
        bars.frames_done(10)
        bars.file_done(done)  # within the interval: no line
        assert out.getvalue() == ""
        monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
        bars.frames_done(10)
        bars.file_done(done)
        first = out.getvalue().splitlines()
    assert len(first) == 1 and first[0].startswith("files 3/4, frames 20/40, ")
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_a_terminal_gets_the_bars_only(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    with RunProgress(Console(file=out, force_terminal=True, width=200)) as bars:
        bars.start(total_files=2, done=0, total_frames=4)
        bars.frames_done(2)
        bars.file_done(ImageResult(None, "a.dcm", "ok", ""))
    assert "files 1/2, frames" not in out.getvalue()


def test_a_run_stopped_before_it_starts_prints_nothing() -> None:
    """An error before the first file (no input, a bad cohort file) came after an empty line: the
    bars, drawn with no task, printed it as they closed."""
    for terminal in (False, True):
        out = io.StringIO()
        with RunProgress(Console(file=out, force_terminal=terminal, width=200)):
            pass
        assert out.getvalue() == ""
