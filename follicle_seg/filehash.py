"""The one content hash of a file (inputs, weights, the worksheet), read in chunks, and of the
program's own source."""

from __future__ import annotations

import hashlib
from pathlib import Path


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


def source_sha256(root: str | Path) -> str:
    """Content hash of the Python source under ``root`` (each file's path relative to it and its
    hash, in path order): what tells one build of the program from another under the same
    version number."""
    h = hashlib.sha256()
    for name in sorted(path.relative_to(root).as_posix() for path in Path(root).rglob("*.py")):
        h.update(f"{name}\0{file_sha256(Path(root) / name)}\n".encode())
    return h.hexdigest()
