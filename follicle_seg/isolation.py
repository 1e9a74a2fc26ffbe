"""Run decoding in a child process, so a decoder that crashes or hangs in C code costs one file.

The image codecs (GDCM, OpenJPEG, CharLS, libjpeg) are C libraries: a malformed file can abort
the process or loop forever, and no ``try`` in Python catches that. An :class:`IsolatedWorker`
owns one child process (started with ``spawn``, so it inherits no threads or locks) and runs
module-level functions in it, one call at a time. When the child dies the call raises
:class:`WorkerFailed` naming its exit code or signal; when it does not answer within the call's
timeout it is killed and the call raises too. The next call starts a fresh child.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import signal
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

DEFAULT_TIMEOUT_S = 300.0
"""Longest a single decoding call may take before its child process is killed."""


class WorkerFailed(Exception):
    """The child process died or did not answer in time (the message says which)."""


class IsolatedWorker:
    """One child process that runs calls in order; restarted after a crash or a timeout.

    Examples
    --------
    >>> import math
    >>> with IsolatedWorker() as worker:  # doctest: +SKIP
    ...     worker.call(math.sqrt, 16.0, timeout=30)
    4.0
    """

    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None

    def __enter__(self) -> IsolatedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """``fn(*args)`` in the child; its exceptions are raised here unchanged.

        ``fn`` must be importable by name (a module-level function) and its arguments and
        result picklable.
        """
        if self._process is None or not self._process.is_alive():
            self._start()
        assert self._conn is not None
        try:
            self._conn.send((fn, args))
        except OSError:  # the child died since the last call
            raise WorkerFailed(f"decoder process died ({self._stop()})") from None
        if not self._conn.poll(timeout):
            self._stop()
            raise WorkerFailed(f"no answer within {timeout:.0f} s: decoder process killed")
        try:
            ok, value, caught = self._conn.recv()
        except (EOFError, OSError):
            raise WorkerFailed(f"decoder process died ({self._stop()})") from None
        for message, category, filename, lineno in caught:  # through this process's filters and display
            warnings.warn_explicit(message, category, filename, lineno)
        if ok:
            return value
        raise value

    def close(self) -> None:
        """Stop the child process (a new call starts another)."""
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            try:
                self._conn.send(None)
                self._process.join(5)
            except (OSError, BrokenPipeError):
                pass
        self._stop()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_serve, args=(child,), daemon=True, name="follicle-seg-decoder")
        try:
            process.start()
        except Exception as exc:  # e.g. started from an unguarded script under ``spawn``
            parent.close()
            raise WorkerFailed(f"cannot start a decoder process ({exc})") from exc
        finally:
            child.close()
        self._process, self._conn = process, parent

    def _stop(self) -> str:
        """Kill and reap the child; describe how it ended."""
        how = "not started"
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
            how = _describe_exit(self._process.exitcode)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None
        return how


def _describe_exit(code: int | None) -> str:
    """``exit code 1`` or ``signal SIGSEGV``."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _serve(conn: Connection) -> None:
    """The child's loop: receive ``(fn, args)``, send back ``(True, result)`` or ``(False, exc)``
    and the warnings the call raised, for the parent to show (a run sends its own to ``run.log``
    with the values they quote left out; the child's went to the console, values and all).

    Ctrl-C reaches the whole process group; the parent alone decides what an interrupted run
    does, and stops the child (a traceback from each decoder process would bury its message)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        fn, args = task
        with warnings.catch_warnings(record=True) as caught:
            try:
                ok, value = True, fn(*args)
            except Exception as exc:  # noqa: BLE001 - handed to the parent, which decides
                ok, value = False, _portable(exc)
        shown = [(str(w.message), _portable_category(w.category), w.filename, w.lineno) for w in caught]
        try:
            conn.send((ok, value, shown))
        except OSError:  # the parent is gone (killed): nothing to tell, no traceback to print
            return


def _portable_category(category: type[Warning]) -> type[Warning]:
    """The warning's class when it survives pickling (a module-level class), else ``UserWarning``."""
    try:
        pickle.loads(pickle.dumps(category))
        return category
    except Exception:  # noqa: BLE001
        return UserWarning


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else a plain one with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class WorkerPool:
    """``n`` isolated workers shared by threads: each call takes a free one, or waits for one."""

    def __init__(self, n: int, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._all = [IsolatedWorker() for _ in range(max(1, n))]
        self._free: queue.Queue[IsolatedWorker] = queue.Queue()
        for worker in self._all:
            self._free.put(worker)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a free worker (see :meth:`IsolatedWorker.call`)."""
        worker = self._free.get()
        try:
            return worker.call(fn, *args, timeout=self.timeout)
        finally:
            self._free.put(worker)

    def close(self) -> None:
        for worker in self._all:
            worker.close()
