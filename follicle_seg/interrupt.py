"""SIGTERM as Ctrl-C, for the commands that keep their finished work when stopped."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def sigterm_as_interrupt(terminated: list[int]) -> Iterator[None]:
    """SIGTERM (what a batch scheduler or ``kill`` sends) raises KeyboardInterrupt as Ctrl-C
    does, its number appended to ``terminated``, so that the command says it stopped and keeps
    what it finished (it ended the process in silence, exit 143). Outside the main thread the
    signal is left alone."""

    def stop(signum: int, frame: Any) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    try:
        before = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave the signal alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
