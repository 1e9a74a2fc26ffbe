"""The import boundaries the README's "Architecture" states, each checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["follicle_seg.measure", "follicle_seg.tracking", "follicle_seg.passes", "follicle_seg.series",
                                    "follicle_seg.visits"])
def test_the_measurement_and_table_modules_import_neither_torch_nor_pydicom(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'pydicom') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_io_package_still_gives_its_functions() -> None:
    from follicle_seg.io import discover, iter_frames, read_record
    from follicle_seg.io.dicom import iter_frames as frames, read_record as record
    from follicle_seg.io.discover import discover as found

    assert (discover, iter_frames, read_record) == (found, frames, record)
    with pytest.raises(ImportError, match="cannot import name 'nothing'"):
        from follicle_seg.io import nothing  # noqa: F401
