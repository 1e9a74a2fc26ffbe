"""The package ships ``py.typed``: its type hints are a promise to users. mypy keeps them true on
the whole package, with the settings of ``[tool.mypy]`` in ``pyproject.toml``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What is kept clean (package paths, from the repository root): the whole package.
CLEAN = ["follicle_seg"]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install -e '.[dev]')")
def test_the_type_hints_of_the_package_hold() -> None:
    # mypy's cache outside the tree, kept between runs: a warm run takes a few seconds, a cold one
    # (a first run, or after a mypy upgrade) about half a minute on two cores
    cache = Path(tempfile.gettempdir()) / "follicle_seg-mypy-cache"
    command = [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--cache-dir", str(cache), *CLEAN]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
