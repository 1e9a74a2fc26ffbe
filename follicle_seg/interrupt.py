"""SIGTERM as Ctrl-C, for the commands that keep their finished work when stopped; both held
while a set of files that belong together is put in place."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM under :func:`sigterm_as_interrupt`: a Ctrl-C whose log says who stopped."""


@contextlib.contextmanager
def sigterm_as_interrupt(terminated: list[int]) -> Iterator[None]:
    """SIGTERM (what a batch scheduler or ``kill`` sends) raises KeyboardInterrupt as Ctrl-C
    does, its number appended to ``terminated``, so that the command says it stopped and keeps
    what it finished (it ended the process in silence, exit 143). Outside the main thread the
    signal is left alone."""

    def stop(signum: int, frame: Any) -> None:
        terminated.append(signum)
        raise Terminated

    try:
        before = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave the signal alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM held until the block ends, then acted on as they would have been: for
    the moment a set of files is renamed into place (a run stopped between two of its tables
    left a new ``images.csv`` beside the last run's other tables). Outside the main thread,
    nothing is held."""
    caught: list[int] = []
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        before = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in signals}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        s: int  # a held signal, then a caught signal number
        for s, handler in before.items():  # (None: a handler set outside Python, not restorable)
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for s in dict.fromkeys(caught):
            signal.raise_signal(s)
