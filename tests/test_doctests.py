"""The examples in the package's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import follicle_seg

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(follicle_seg.__path__, prefix="follicle_seg.")
    if not info.name.endswith("__main__")
)


def test_modules_found() -> None:
    assert "follicle_seg.io.dicom" in MODULES and "follicle_seg.model.data" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
