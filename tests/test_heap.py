"""Freed frame-sized buffers go back to the operating system after `return_freed_memory`."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PATTERN = """
import sys
import numpy as np
from follicle_seg.heap import return_freed_memory
if sys.argv[1] == "on":
    assert return_freed_memory()
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
np.ones(2**17).sum(); warm = np.ones(2**17); del warm  # glibc now raises its mmap threshold to 1 MiB
before = rss_mib()
frames, small = [], []
for _ in range(60):  # 60 frame buffers of 1 MiB, each followed by a small long-lived allocation
    frames.append(np.ones(2**17))
    small.append(bytearray(600))  # above pymalloc's limit: from the C heap
del frames
print(rss_mib() - before)
"""


def _retained_mib(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_frame_buffers_are_returned_to_the_os() -> None:
    assert _retained_mib("off") > 40  # glibc's default keeps them in the heap
    assert _retained_mib("on") < 5


def test_users_own_glibc_setting_wins(monkeypatch) -> None:
    from follicle_seg.heap import return_freed_memory

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "33554432")
    assert return_freed_memory() is False
