"""The CPU cores this process may use."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The cores this process may run on: its affinity (a batch job's allocation, ``taskset``),
    not the machine's count (``os.cpu_count``: 64 on a node where a job holds 4, and 8 pool
    threads on 4 cores oversubscribe them).

    >>> usable_cpus() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
