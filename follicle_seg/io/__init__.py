"""Ingestion: DICOM files -> calibrated frames of the ultrasound region.

``discover`` finds the files, ``read_record`` reads and checks one file's header (region,
calibration, side, metadata) and ``iter_frames`` decodes its frames one at a time as grey uint8
of the region. Every unusable file raises :class:`follicle_seg.errors.RejectedInput`.

The DICOM reading functions are imported when first used, so that a module needing only the geometry of
:mod:`follicle_seg.io.calibration` (``series.py``, the tables) does not load pydicom.
"""

from __future__ import annotations

from typing import Any

from follicle_seg.io.discover import discover  # (bound here: the submodule's name is the function's)

__all__ = ["discover", "iter_frames", "read_record"]


def __getattr__(name: str) -> Any:
    if name in ("iter_frames", "read_record"):
        from follicle_seg.io import dicom

        return getattr(dicom, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
