"""The one content hash of a file (inputs, weights, the worksheet), read in chunks."""

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
