"""Small readers of DICOM header values: missing or malformed values become defaults or ``None``."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from follicle_seg.errors import printable

#: The Pixel Data element (7FE0,0010).
PIXEL_DATA = 0x7FE00010


def first_number(value: object) -> float | None:
    """The first of a multi-valued number (or the number), ``None`` when missing or not one."""
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0] if len(value) else None
    try:
        return None if value is None or value == "" else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def tag_text(ds: Dataset, keyword: str) -> str:
    """The element's value as stripped text, ``""`` when missing; a value holding ``\\`` (which
    pydicom splits into several) as the file writes it, not as a Python list."""
    value = ds.get(keyword)
    if isinstance(value, MultiValue):
        value = "\\".join(str(v) for v in value)
    return "" if value is None else str(value).strip()


def tag_int(ds: Dataset, keyword: str, default: int) -> int:
    """The element as an int, ``default`` when missing or empty; raises when not a number."""
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    return int(value)


def tag_optional_int(ds: Dataset, keyword: str) -> int | None:
    """The element as an int, ``None`` when missing or not a number."""
    value = ds.get(keyword)
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def tag_number(ds: Dataset, keyword: str, default: float) -> float:
    """The element's first number, ``default`` when missing or not a number."""
    value = first_number(ds.get(keyword))
    return default if value is None else value


def to_float(value: object) -> float | None:
    """A number (NaN, infinite and negative ones included), ``None`` when missing or not one."""
    try:
        return None if value is None or value == "" else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def positive_float(value: object) -> float | None:
    """A finite number above zero, else ``None``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 and np.isfinite(number) else None


def float_list(value: object) -> list[float] | None:
    """Every value as a float, ``None`` when missing or any is not a number."""
    if value is None:
        return None
    try:
        return [float(v) for v in value]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None


def uid_fault(keyword: str, uid: str) -> str:
    """What makes ``uid`` (of the attribute ``keyword``) unfit to name a file or to be written
    into a DICOM object: more than 64 characters, or a character other than digits and dots (and
    the letters, ``_`` and ``-`` some scanners write against the standard); "" when fit.

    >>> uid_fault("SeriesInstanceUID", "1.2.840 113619"), uid_fault("SOPInstanceUID", "1.2.840.ABC_7-x")
    ("SeriesInstanceUID '1.2.840 113619' holds ' '", '')
    """
    if len(uid) > 64:
        return f"{keyword} of {len(uid)} characters (a UID holds at most 64)"
    odd = next((ch for ch in uid if not (ch.isascii() and (ch.isalnum() or ch in "._-"))), None)
    return printable(f"{keyword} {uid!r} holds {odd!r}") if odd is not None else ""
