"""The one content hash of a file (inputs, weights, the worksheet), read in chunks, and of the
program's own source."""

from __future__ import annotations

import hashlib
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable

from follicle_seg.errors import FollicleSegError


def file_sha256(path: str | Path, chunk: int = 1 << 20, *, start: int = 0, stop: int | None = None) -> str:
    """Content hash of a file, or of its bytes ``start`` to ``stop`` (the end when None), read in
    chunks (never the whole file in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        left = float("inf") if stop is None else stop - start
        while left > 0 and (block := f.read(int(min(chunk, left)))):
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def source_sha256(root: str | Path, globs: Iterable[str]) -> str:
    """Content hash of the Python source under ``root`` that ``globs`` name (paths relative to it,
    ``fnmatch`` patterns): each file's relative path and its hash, in path order. Only regular
    files count, not dot-files (an editor's lock file ``.#cli.py``, a link to nowhere, crashed
    every run).

    Raises
    ------
    FollicleSegError
        When a glob names no source file (an install of ``.pyc`` files only, or imported from a
        zip): its code could not be told from another build's.
    """
    patterns = list(globs)
    found = {path.relative_to(root).as_posix(): path for path in Path(root).rglob("*.py")
             if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)}  # fmt: skip
    named = {name: path for name, path in found.items() if any(fnmatchcase(name, glob) for glob in patterns)}
    missing = [glob for glob in patterns if not any(fnmatchcase(name, glob) for name in named)]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise FollicleSegError(f"{root}: no Python source of {missing[0]}{more} (an install of .pyc files only, or from "
                               "a zip?): which build analyses cannot be told; install the package from its source")  # fmt: skip
    h = hashlib.sha256()
    for name in sorted(named):
        h.update(f"{name}\0{file_sha256(named[name])}\n".encode())
    return h.hexdigest()
