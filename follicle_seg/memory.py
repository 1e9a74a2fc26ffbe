"""Keep a run's memory bounded over thousands of files.

torch's CPU convolutions (oneDNN) keep a cache of compiled primitives, with their buffers, one
per input shape, up to 1024 of them. Frames of a new region size make a new shape, so over an
archive that cache grew with the number of files although nothing leaks: peak RSS 859 MiB on 10
files and 1962 MiB on 200 (docs/batch.md, "Benchmark"). :func:`bound_caches` turns the cache off at the
start of a run; primitives are then made afresh for each batch, which costs little next to the
convolutions themselves (200 files: 997 MiB peak, 338 s against 311 s with the cache).

glibc gives each thread that allocates its own malloc arena (up to eight per core), and the
run's decoding, segmenting, measuring and output threads each fragment theirs: :func:`bound_arenas`
lets them share two (peak RSS of a tables-only run of a 48-file study 850 / 794 MiB against
923 / 919 MiB, 17.6-18.2 s either way: two runs each, alternating).

A user's own ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` or ``MALLOC_ARENA_MAX`` wins. oneDNN reads the variable when the
process runs its first convolution, so the call only helps before that (``pipeline.run`` and
the Dask workers make it before loading the network).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

CAPACITY_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ARENA_VARIABLE = "MALLOC_ARENA_MAX"
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def bound_caches() -> bool:
    """Turn oneDNN's primitive cache off for this process, unless the user set its capacity.

    Returns ``True`` when this call set it. Bounds the malloc arenas too (:func:`bound_arenas`).
    """
    bound_arenas()
    if CAPACITY_VARIABLE in os.environ:
        return False
    os.environ[CAPACITY_VARIABLE] = "0"
    return True


def bound_arenas(count: int = 2) -> bool:
    """At most ``count`` glibc malloc arenas for this process's threads from now on, unless the
    user set ``MALLOC_ARENA_MAX``. Returns ``True`` when this call set it (``False`` too where
    the C library is not glibc: nothing to bound)."""
    if ARENA_VARIABLE in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): no mallopt
        return False
    return bool(mallopt(_M_ARENA_MAX, count))
