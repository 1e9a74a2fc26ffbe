"""Progress bar of a run (files, frames/s, ETA) on stderr, thread-safe."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskID, TaskProgressColumn, TextColumn,
                           TimeRemainingColumn)

from follicle_seg.types import ImageResult


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
        self._files: TaskID | None = None
        self._frames: TaskID | None = None

    def __enter__(self) -> "RunProgress":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def start(self, *, total_files: int, done: int, total_frames: int) -> None:
        with self._lock:
            self._files = self._progress.add_task("files", total=total_files, completed=done, rate="")
            self._frames = self._progress.add_task("frames", total=total_frames, rate="")

    def file_done(self, result: ImageResult) -> None:
        with self._lock:
            if self._files is not None:
                self._progress.advance(self._files)

    def frames_done(self, n: int) -> None:
        with self._lock:
            if self._frames is None:
                return
            self._progress.advance(self._frames, n)
            task = self._progress.tasks[self._frames]
            speed = task.speed
            self._progress.update(self._frames, rate=f"{speed:.1f} frames/s" if speed else "")
