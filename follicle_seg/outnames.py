"""The image a per-image output file belongs to, read back from its name: ``masks/<uid>_<frame>.png``,
``dicom/<uid>[_f<frame>]_seg.dcm``, ``dicom/<uid>_sr.dcm``. A UID may hold a ``_`` (against the
standard, but such files are read), so names are parsed from their end.

Examples
--------
>>> mask_uid("1.2.840_99.7_12.png"), seg_uid("1.2.3_f1200_seg.dcm"), sr_uid("1.2.3_sr.dcm")
('1.2.840_99.7', '1.2.3', '1.2.3')
>>> dicom_uid("1.2.3_4_seg.dcm"), dicom_uid("notes.dcm")
('1.2.3_4', None)
"""

from __future__ import annotations

import re

_SEG = re.compile(r"(_f\d{3,})?_seg\.dcm$")


def mask_uid(name: str) -> str:
    return name.rsplit("_", 1)[0]


def seg_uid(name: str) -> str:
    return _SEG.sub("", name)


def sr_uid(name: str) -> str:
    return name.removesuffix("_sr.dcm")


def dicom_uid(name: str) -> str | None:
    """The UID of a SEG or SR file name; None for a name of neither form."""
    if _SEG.search(name):
        return seg_uid(name)
    return sr_uid(name) if name.endswith("_sr.dcm") else None
