"""Output files written atomically: to a temporary name beside the target, then renamed into
place, so an interrupted run never leaves half a table, image or DICOM object behind.

The temporary file is opened the ordinary way (not ``mkstemp``), so every output gets the
permissions of the user's umask like any other file.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from follicle_seg.interrupt import interrupts_held


def atomic_write(target: Path, write: Callable[[str], object]) -> None:
    """Run ``write(tmp_path)`` on a temporary file beside ``target``, then move it in place."""
    tmp = _temporary(Path(target))
    try:
        write(str(tmp))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_all(files: Sequence[tuple[Path, Callable[[str], object]]]) -> None:
    """Write a set of files that belong together (a run's tables): each ``write(tmp_path)`` to a
    temporary file first, then all renamed into place with Ctrl-C and SIGTERM held, so that a
    stopped run leaves the old set or the new one, never a mix; a failed write leaves the old."""
    staged: list[tuple[Path, Path]] = []
    try:
        for target, _ in files:  # a target no file can be renamed onto fails the set before any is
            if Path(target).is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
        for target, write in files:
            tmp = _temporary(Path(target))
            staged.append((tmp, Path(target)))
            write(str(tmp))
        with interrupts_held():
            while staged:
                tmp, target = staged[0]
                os.replace(tmp, target)
                staged.pop(0)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, its folder made when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return path
