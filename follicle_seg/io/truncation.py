"""Where a DICOM file that ends before its header does was cut.

pydicom reads what there is of a cut file: silently (a data set that stops inside a value reads
that value short), or failing on whatever it meets next (a sequence cut short raises an OSError,
"No tag to read at file position ...", that is no I/O error; a value cut inside a number does not
convert). The element structure is walked here, tags and lengths only, to tell a cut from a
corrupt header and to say at which byte, inside which element, the file ends.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from pydicom.datadict import keyword_for_tag
from pydicom.tag import Tag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

#: The reason of a file that ends inside its header; where follows (:func:`where_cut`).
HEADER_CUT = "truncated: the file ends inside its header"

#: Explicit VRs whose length takes 4 bytes (after 2 reserved ones) rather than 2.
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
_DELIMITERS = {0xFFFEE00D, 0xFFFEE0DD}  # item, sequence
#: Most elements walked (sequence items and their elements included): the walk of a header that
#: pydicom read (at most ``header.MAX_HEADER_ELEMENTS`` of them) always ends first.
_MAX_ELEMENTS = 100_000


class _Cut(Exception):
    """The file ends inside the element ``tag`` (None: inside the tag of the element after ``after``)."""

    def __init__(self, tag: int | None, after: int | None = None) -> None:
        super().__init__(tag)
        self.tag, self.after = tag, after


def where_cut(path: str) -> str:
    """The reason of a file that ends inside its header: inside its file meta information (before
    the end its group length declares, or inside one of its elements), or inside an element of
    its data set before the pixel data (a value longer than what is left, a piece of an element
    header, a sequence or item of undefined length never closed). ``""`` when it does not, or when
    it cannot be told (no file meta, a Deflated data set, a structure that does not parse as one).

    Trailing zero bytes after a whole element are padding, not a cut.
    """
    try:
        with open(path, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            return _meta_cut(fp, size) or _data_set_cut(fp, size)
    except (OSError, struct.error, UnicodeDecodeError):
        return ""


def _meta_cut(fp: BinaryIO, size: int) -> str:
    """The reason of a file that ends inside its file meta information (group 0002)."""
    start = _meta_start(fp)
    if start is None:
        return ""
    fp.seek(start)
    head = fp.read(12)
    has_length = len(head) == 12 and head[:6] == b"\x02\x00\x00\x00UL"  # (0002,0000) UL, its group length
    declared = start + 12 + struct.unpack("<I", head[8:12])[0] if has_length else 0
    try:
        _walk_meta(fp, start, size)
    except _Cut:
        pass
    else:
        if declared <= size and start < size:  # (nothing after the DICM marker: cut there)
            return ""
    runs_to = f", which runs to byte {declared}" if declared > size else ""
    return f"{HEADER_CUT} at byte {size}, in its file meta information (group 0002{runs_to})"


def _meta_start(fp: BinaryIO) -> int | None:
    """Where the file meta information begins: after the preamble and ``DICM``, or at byte 0 (a
    file written without preamble); None when the file has none."""
    fp.seek(0)
    head = fp.read(132)
    if head[128:132] == b"DICM":
        return 132
    return 0 if head[:2] == b"\x02\x00" else None


def _walk_meta(fp: BinaryIO, start: int, size: int) -> tuple[str, int]:
    """(TransferSyntaxUID, where the data set begins) of the file meta information at ``start``;
    raises :class:`_Cut` when the file ends inside one of its elements."""
    syntax, pos = "", start
    while pos < size:
        fp.seek(pos)
        head = fp.read(12)
        element = _element(head, "<", implicit=False)
        if element is None:
            if len(head) < 12 and pos + len(head) == size:
                raise _Cut(None)  # (a piece of an element)
            break
        tag, _, length, header = element
        if tag >> 16 != 2:
            break
        if pos + header + length > size:
            raise _Cut(tag)
        if tag == 0x00020010:
            fp.seek(pos + header)
            syntax = fp.read(length).rstrip(b"\x00 ").decode("ascii")
        pos += header + length
    return syntax, pos


def _data_set_cut(fp: BinaryIO, size: int) -> str:
    """The reason of a file that ends inside an element of its data set, before the pixel data."""
    start = _meta_start(fp)
    if start is None:
        return ""
    syntax, pos = _walk_meta(fp, start, size)
    if syntax == DeflatedExplicitVRLittleEndian:
        return ""  # (its elements are not in the file as such)
    try:
        _walk_data_set(fp, pos, size, ">" if syntax == ExplicitVRBigEndian else "<", syntax == ImplicitVRLittleEndian)
    except _Cut as cut:
        if cut.tag == _PIXEL_DATA:
            return f"{HEADER_CUT} at byte {size}, inside the element header of its pixel data (7FE0,0010)"
        if cut.tag is None:
            inside = "the tag of the next element" + (f" after {_named(cut.after)}" if cut.after else "")
        else:
            inside = f"element {_named(cut.tag)}"
        return f"{HEADER_CUT} at byte {size}, inside {inside}, before the pixel data"
    return ""


def _walk_data_set(fp: BinaryIO, pos: int, size: int, order: str, implicit: bool) -> None:
    """Walk the data set from ``pos`` to its end or its pixel data; raise :class:`_Cut` naming the
    top-level element the file ends inside. Returns, without a word, on what is not a data set
    (a VR that is not two capitals, more than ``_MAX_ELEMENTS`` elements, a delimiter that closes
    nothing, a value of VR UN and undefined length, whose items are implicit VR)."""
    depth, top = 0, None  # (the sequences and items of undefined length open; the element at depth 0)
    for _ in range(_MAX_ELEMENTS):
        if pos >= size:
            if depth:
                raise _Cut(top)
            return
        fp.seek(pos)
        head = fp.read(12)
        if depth == 0 and not any(head):
            return  # zero padding after the last element
        element = _element(head, order, implicit)
        if element is None:
            if len(head) < 12 and pos + len(head) == size:
                raise _Cut(top) if depth else _Cut(_tag(head, order), after=top)
            return
        tag, vr, length, header = element
        if depth == 0:
            if tag == _PIXEL_DATA:
                return
            top = tag
        pos += header
        if tag in _DELIMITERS:
            if depth == 0:
                return
            depth -= 1
        elif length == _UNDEFINED:
            if vr == b"UN":
                return
            depth += 1
        elif pos + length > size:
            raise _Cut(top)
        else:
            pos += length


def _named(tag: int) -> str:
    """``(0018,6011) SequenceOfUltrasoundRegions`` (the tag alone when it has no keyword)."""
    return f"{Tag(tag)} {keyword_for_tag(tag)}".rstrip()


def _element(head: bytes, order: str, implicit: bool) -> tuple[int, bytes, int, int] | None:
    """(tag, VR, value length, header length) of the element whose header starts ``head`` (the
    VR ``b""`` in implicit VR, and for items and delimiters); None when ``head`` is too short for
    it or its VR is not two capitals."""
    if len(head) < 8:
        return None
    tag = _tag(head, order)
    assert tag is not None  # (8 bytes)
    if implicit or tag >> 16 == 0xFFFE:
        return tag, b"", struct.unpack(order + "I", head[4:8])[0], 8
    vr = head[4:6]
    if not (vr.isalpha() and vr.isupper()):
        return None
    if vr in _LONG_VRS:
        return (tag, vr, struct.unpack(order + "I", head[8:12])[0], 12) if len(head) == 12 else None
    return tag, vr, struct.unpack(order + "H", head[6:8])[0], 8


def _tag(head: bytes, order: str) -> int | None:
    """The tag that ``head`` begins with (None when fewer than 4 bytes)."""
    if len(head) < 4:
        return None
    group, element = struct.unpack(order + "HH", head[:4])
    return group << 16 | element
