"""Progress bar of a run (files, frames/s, ETA) on stderr, thread-safe.

On a terminal the bars redraw in place. When stderr is a file or a pipe (a batch job's log, CI)
they are drawn once, at the end: the progress is then written as a plain line at most every
:data:`LOG_EVERY_S` seconds as files finish, so a log of a run of many hours shows it going.
"""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskID, TaskProgressColumn, TextColumn,
                           TimeRemainingColumn)

from follicle_seg.types import ImageResult


#: Seconds between two progress lines in a log (stderr not a terminal).
LOG_EVERY_S = 60.0


class RunProgress:
    """Two bars: files and frames. Use as a context manager around `pipeline.run`."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description:>7}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._lock = threading.Lock()
        self._logged = time.monotonic()
        self._files: TaskID | None = None
        self._frames: TaskID | None = None

    def __enter__(self) -> "RunProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self._files is not None:  # (the bars are drawn from :meth:`start` on: a run stopped before prints none)
            self._progress.__exit__(*exc)

    def start(self, *, total_files: int, done: int, total_frames: int) -> None:
        with self._lock:
            self._progress.start()
            self._files = self._progress.add_task("files", total=total_files, completed=done, rate="")
            self._frames = self._progress.add_task("frames", total=total_frames, rate="")

    def again(self, *, files: int, frames: int) -> None:
        """``files`` counted done that are analysed after all (copies standing in for one that
        could not be decoded): taken off the files done, their ``frames`` added to the total."""
        with self._lock:
            if self._files is not None and self._frames is not None:
                self._progress.advance(self._files, -files)
                self._progress.update(self._frames, total=(self._progress.tasks[self._frames].total or 0) + frames)

    def file_done(self, result: ImageResult) -> None:
        with self._lock:
            if self._files is not None:
                self._progress.advance(self._files)
                if not self._progress.console.is_terminal and time.monotonic() - self._logged >= LOG_EVERY_S:
                    self._logged = time.monotonic()
                    self._progress.console.print(self.line(), soft_wrap=True, highlight=False, markup=False)

    def line(self) -> str:
        """The progress in one plain line: files and frames done of all, the frame rate and the
        time left when known (``files 12/40, frames 96/320, 8.0 frames/s, about 28 s left``)."""
        files, frames = self._progress.tasks  # (start's two tasks)
        said = [f"files {files.completed:.0f}/{files.total:.0f}", f"frames {frames.completed:.0f}/{frames.total:.0f}"]
        if frames.speed:
            said.append(f"{frames.speed:.1f} frames/s")
        if frames.time_remaining is not None:
            left = frames.time_remaining
            said.append(f"about {left / 60:.0f} min left" if left >= 120 else f"about {left:.0f} s left")
        return ", ".join(said)

    def frames_done(self, n: int) -> None:
        with self._lock:
            if self._frames is None:
                return
            self._progress.advance(self._frames, n)
            task = self._progress.tasks[self._frames]
            speed = task.speed
            self._progress.update(self._frames, rate=f"{speed:.1f} frames/s" if speed else "")
