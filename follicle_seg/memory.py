"""Keep a run's memory bounded over thousands of files.

torch's CPU convolutions (oneDNN) keep a cache of compiled primitives, with their buffers, one
per input shape, up to 1024 of them. Frames of a new region size make a new shape, so over an
archive that cache grew with the number of files although nothing leaks: peak RSS 859 MiB on 10
files and 1962 MiB on 200 (docs/batch.md, "Benchmark"). :func:`bound_caches` turns the cache off at the
start of a run; primitives are then made afresh for each batch, which costs little next to the
convolutions themselves (200 files: 997 MiB peak, 338 s against 311 s with the cache).

A user's own ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` wins. oneDNN reads the variable when the
process runs its first convolution, so the call only helps before that (``pipeline.run`` and
the Dask workers make it before loading the network).
"""

from __future__ import annotations

import os

CAPACITY_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"


def bound_caches() -> bool:
    """Turn oneDNN's primitive cache off for this process, unless the user set its capacity.

    Returns ``True`` when this call set it.
    """
    if CAPACITY_VARIABLE in os.environ:
        return False
    os.environ[CAPACITY_VARIABLE] = "0"
    return True
