"""The CPU cores this process may use."""

from __future__ import annotations

import math
import os
from pathlib import Path

#: cgroup v2's CPU quota of this process's container: ``"max 100000"`` or ``"<quota> <period>"``.
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus() -> int:
    """The cores this process may run on: its affinity (a batch job's allocation, ``taskset``)
    and, under cgroup v2, the CPU quota of its container's root cgroup (``docker --cpus 2``;
    not cgroup v1's, nor a nested cgroup's such as a Slurm job step's), not the machine's
    count (``os.cpu_count``: 64 on a node where a job holds 4, and 8 pool threads on 4 cores
    oversubscribe them).

    >>> usable_cpus() >= 1
    True
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, _quota() or cores))


def _quota() -> int | None:
    """The container's CPU quota in whole cores (rounded up), ``None`` when it has none."""
    try:
        quota, period = CPU_MAX.read_text().split()[:2]
        return math.ceil(int(quota) / int(period))
    except (OSError, ValueError):  # no cgroup v2 file, "max" (no quota), or unreadable
        return None
