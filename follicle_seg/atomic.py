"""Output files written atomically: to a temporary name beside the target, then renamed into
place, so an interrupted run never leaves half a table, image or DICOM object behind.

The temporary file is opened the ordinary way (not ``mkstemp``), so every output gets the
permissions of the user's umask like any other file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def atomic_write(target: Path, write: Callable[[str], object]) -> None:
    """Run ``write(tmp_path)`` on a temporary file beside ``target``, then move it in place."""
    tmp = Path(target).with_name(f".{Path(target).name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        write(str(tmp))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, its folder made when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return path
