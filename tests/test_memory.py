"""Convolutions over many frame sizes do not grow the process after `bound_caches`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from follicle_seg.memory import CAPACITY_VARIABLE, bound_caches

PATTERN = """
import sys
import torch
from follicle_seg.memory import bound_caches
if sys.argv[1] == "on":
    assert bound_caches()
torch.set_num_threads(1)
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)).eval()
with torch.inference_mode():
    net(torch.zeros(2, 1, 64, 64))
    before = rss_mib()
    for k in range(40):  # 40 region sizes, as 40 files of different scanners give
        net(torch.zeros(2, 1, 64 + 16 * k, 96))
print(rss_mib() - before)
"""


def _growth_mib(mode: str) -> float:
    # (a Dask LocalCluster started in this process sets MALLOC_TRIM_THRESHOLD_ in os.environ: the
    # control then trims its heap and grows 6 MiB, not 40+)
    env = {k: v for k, v in os.environ.items() if k not in (CAPACITY_VARIABLE, "MALLOC_TRIM_THRESHOLD_")}
    done = subprocess.run([sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, check=True, env=env)
    return float(done.stdout.strip())


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not torch.backends.mkldnn.is_available(),
    reason="oneDNN CPU convolutions on Linux only",
)
def test_many_frame_sizes_do_not_grow_memory() -> None:
    # oneDNN's default cache keeps a primitive per shape: without the bound the process grew
    # 43-118 MiB here (two modes, run to run), with it 1-14 MiB; the larger of two control runs
    # and the smaller of two bounded ones (a busy machine adds noise to one run, not a cache)
    off = max(_growth_mib("off") for _ in range(2))
    on = min(_growth_mib("on") for _ in range(2))
    assert on < 35 and off > 40 and off > on + 25, (off, on)


def test_users_own_setting_wins(monkeypatch) -> None:
    monkeypatch.setenv(CAPACITY_VARIABLE, "16")
    assert bound_caches() is False
    monkeypatch.delenv(CAPACITY_VARIABLE)
    assert bound_caches() is True
    monkeypatch.delenv(CAPACITY_VARIABLE)  # leave the test process as it was


def test_malloc_arenas_are_bounded_unless_the_user_set_them(monkeypatch) -> None:
    """Each run thread's own glibc arena made the peak grow with the files (~100 MiB on 48)."""
    import platform

    from follicle_seg.memory import ARENA_VARIABLE, bound_arenas

    monkeypatch.setenv(ARENA_VARIABLE, "4")
    assert bound_arenas() is False
    monkeypatch.delenv(ARENA_VARIABLE)
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert bound_arenas() is True
