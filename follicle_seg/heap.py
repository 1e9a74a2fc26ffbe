"""Hand freed frame buffers back to the operating system (glibc only).

A run allocates and frees many arrays of a few hundred kB to a few MB per frame (decoded
pixels, network input, probabilities) from several threads. glibc's default policy raises the
``mmap`` threshold each time such a buffer is freed, so later buffers come from the per-thread
heaps, which keep freed memory: the resident size then grows with the number of files although
nothing leaks. A fixed ``mmap`` threshold and a low trim threshold return that memory at once.

The price is speed on CPU: large buffers (the network's activations) are then mapped and
zeroed afresh for every batch (README, "Benchmark": 200 files in 510 s and 819 MiB peak, against
311 s and 1962 MiB with glibc's default policy, on the 2-core machine). Setting glibc's own ``MALLOC_MMAP_THRESHOLD_`` in the environment chooses otherwise:
this module then leaves the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 256 * 1024
TRIM_THRESHOLD_BYTES = 4 * 1024 * 1024


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold and lower its trim threshold.

    Returns ``False`` (and changes nothing) where the C library is not glibc, or when the user
    set ``MALLOC_MMAP_THRESHOLD_`` themselves.
    """
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
