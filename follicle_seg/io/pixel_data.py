"""Check the Pixel Data element against the header before anything is decoded.

Native pixel data must hold every frame the header declares and lie inside the file.
Encapsulated (compressed) pixel data is walked item by item without reading the fragments: each
item inside the data, one fragment per frame at least, offset tables (basic and extended) that
point at fragments, and every JPEG / JPEG-LS / JPEG 2000 codestream declaring the header's frame
size and samples per pixel, so that a decoder is never handed a length, offset or image size that points past the data.
Pixel data holding more frames than the header declares (whole native frames, codestreams, RLE
fragments or offset table entries beyond NumberOfFrames) is rejected: decoding the declared ones
would drop the others in silence.
"""

from __future__ import annotations

import io
import os
import struct
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, RLELossless

from follicle_seg.errors import RejectedInput
from follicle_seg.io.header import PIXELS_CUT
from follicle_seg.io.tags import PIXEL_DATA, tag_int, tag_text

_EXTENDED_OFFSET_TABLE = 0x7FE00001
_EXTENDED_OFFSET_TABLE_LENGTHS = 0x7FE00002
_UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM, _SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE0DD)


def check_pixel_length(path: str, ds: Dataset, n_frames: int) -> None:
    """Pixel data as long as the header says (uncompressed) and inside the file."""
    elem: Any = ds.get_item(PIXEL_DATA, keep_deferred=True)
    length = getattr(elem, "length", None)
    if length is None:
        value = elem.value
        length = len(value) if value is not None else 0
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    if (length == _UNDEFINED_LENGTH) != syntax.is_compressed:
        raise RejectedInput(path, _not_as_the_syntax_says(syntax))
    if length == _UNDEFINED_LENGTH:
        _check_fragments(path, ds, elem, n_frames)
        return
    value_tell = getattr(elem, "value_tell", None)
    deflated = syntax == DeflatedExplicitVRLittleEndian  # value_tell is in the inflated data
    if value_tell is not None and not deflated and value_tell + length > os.path.getsize(path):
        raise RejectedInput(path, PIXELS_CUT)
    if not syntax.is_compressed:
        frame_bytes = _native_frame_bytes(ds)
        needed = frame_bytes * n_frames
        if length < needed:
            raise RejectedInput(
                path, f"truncated: pixel data holds {length} bytes, the header needs {needed}"
            )
        held = (length - needed % 2) // frame_bytes  # (an odd length is padded with a byte)
        if held > n_frames:
            raise RejectedInput(path, more_frames_than_declared(ds, held))


def _not_as_the_syntax_says(syntax: UID) -> str:
    """The reason of pixel data encapsulated (fragments) or not against its transfer syntax: a
    decoder would read one as the other (pydicom's words: "Found unexpected tag (3C3C,3C3C)
    instead of (FFFE,E000) when parsing the Basic Offset Table item")."""
    if syntax.is_compressed:
        return f"pixel data not encapsulated though the transfer syntax {syntax.name} says compressed"
    return f"pixel data encapsulated (compressed fragments) though the transfer syntax {syntax.name} says uncompressed"


def _check_fragments(path: str, ds: Dataset, elem: Any, n_frames: int) -> None:
    """Encapsulated pixel data: items inside the file, offset tables that fit the fragments.

    The item headers are walked without reading the fragments, so that a decoder is never
    handed a fragment length or offset that points past the data (a multi-GB read).
    """
    if elem.value is not None:
        stream: Any = io.BytesIO(elem.value)
        end, in_file = len(elem.value), False
    else:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
        stream.seek(elem.value_tell)
        end, in_file = os.path.getsize(path), True
    try:
        bot, starts, total, closed, codestreams = _walk_items(path, stream, end, ds)
    finally:
        stream.close()
    if in_file and not closed:
        raise RejectedInput(path, "truncated: the compressed pixel data has no end delimiter")
    if not starts:
        raise RejectedInput(path, "no pixel data: the compressed pixel data holds no fragment")
    if len(starts) < n_frames:
        raise RejectedInput(
            path, f"corrupt compressed pixel data: {n_frames} frames in {len(starts)} fragments"
        )
    held = max(codestreams, len(bot), _extended_offset_count(ds))
    if held > n_frames:
        raise RejectedInput(path, more_frames_than_declared(ds, held))
    rle = UID(ds.file_meta.TransferSyntaxUID) == RLELossless
    if rle and n_frames > 1 and len(starts) > n_frames and not bot and _EXTENDED_OFFSET_TABLE not in ds:
        raise RejectedInput(  # pydicom cannot tell which fragments make which frame
            path, f"RLE pixel data of {n_frames} frame(s) in {len(starts)} fragments without an offset table: "
            "its frames cannot be told apart (RLE is one fragment a frame)",
        )
    fragment_starts = set(starts)
    if bot and (
        len(bot) != n_frames
        or bot[0] != 0
        or bot != sorted(set(bot))
        or any(o not in fragment_starts for o in bot)
    ):
        raise RejectedInput(
            path,
            "corrupt compressed pixel data: the basic offset table does not match the "
            f"fragments ({len(bot)} offsets for {n_frames} frames)",
        )
    if _EXTENDED_OFFSET_TABLE in ds:
        _check_extended_offsets(path, ds, n_frames, starts, total)


def _walk_items(
    path: str, stream: Any, end: int, ds: Dataset
) -> tuple[list[int], list[int], int, bool, int]:
    """Basic offset table, fragment offsets and end (counted from the first fragment's item
    tag), whether the sequence delimiter closes the data, and how many fragments begin a
    codestream (a frame each: a frame split over several fragments begins in its first only).

    A fragment that starts a JPEG, JPEG-LS or JPEG 2000 codestream must declare the header's
    size (rows, columns): decoders allocate what the codestream says; and its samples per pixel
    (a colour JPEG under a MONOCHROME2 header failed while decoding, with numpy's words).
    """
    size = (tag_int(ds, "Rows", 0), tag_int(ds, "Columns", 0))
    samples = tag_int(ds, "SamplesPerPixel", 1)
    rle = UID(ds.file_meta.TransferSyntaxUID) == RLELossless
    segments = samples * max(1, tag_int(ds, "BitsAllocated", 8) // 8)  # an RLE frame's, one a byte of a sample
    bot: list[int] | None = None
    starts: list[int] = []
    offset = codestreams = 0
    while len(head := stream.read(8)) == 8:
        group, element, length = struct.unpack("<HHI", head)
        if (group, element) == _SEQUENCE_END:
            return bot or [], starts, offset, True, codestreams
        if (group, element) != _ITEM or length == _UNDEFINED_LENGTH:
            raise RejectedInput(
                path,
                f"corrupt compressed pixel data: ({group:04X},{element:04X}) where an item "
                "was expected",
            )
        if stream.tell() + length > end:
            raise RejectedInput(
                path, "truncated: a compressed fragment runs past the end of the pixel data"
            )
        if bot is None:
            if length % 4:
                raise RejectedInput(
                    path,
                    f"corrupt compressed pixel data: basic offset table of {length} bytes "
                    "(not a multiple of 4)",
                )
            bot = list(struct.unpack(f"<{length // 4}I", stream.read(length)))
            continue
        starts.append(offset)
        offset += 8 + length
        value_start = stream.tell()
        head = stream.read(min(length, 64 if rle else len(_JP2_SIGNATURE)))
        codestreams += begins_rle_frame(head, length, segments) if rle else begins_codestream(head)
        stream.seek(value_start)
        declared = _codestream_size(stream, length)
        if declared is not None and declared[:2] != size:
            raise RejectedInput(
                path,
                f"corrupt compressed pixel data: frame {codestreams - 1}'s codestream is {declared[1]}x"
                f"{declared[0]} pixels, the header says {size[1]}x{size[0]}",
            )
        if declared is not None and declared[3] != samples:
            raise RejectedInput(path, _samples_differ(declared[2], declared[3], ds))
        stream.seek(value_start + length)
    return bot or [], starts, offset, False, codestreams


#: The first bytes of a JP2 file (its signature box), which some writers put in DICOM fragments.
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def begins_codestream(head: bytes) -> bool:
    r"""Whether a fragment's first bytes begin a JPEG / JPEG-LS (SOI, then a marker), JPEG 2000
    (SOC, then SIZ) codestream or a JP2 file: the first fragment of a frame. Two marker bytes
    each, so that a frame's later fragment, cut anywhere in its coded data, is not taken for one.

    >>> begins_codestream(b"\xff\xd8\xff\xe0"), begins_codestream(b"\xff\x4f\xff\x51"), begins_codestream(b"\x12\xff")
    (True, True, False)
    """
    return head[:3] == b"\xff\xd8\xff" or head[:4] == b"\xff\x4f\xff\x51" or head.startswith(_JP2_SIGNATURE)


def begins_rle_frame(head: bytes, length: int, segments: int) -> bool:
    r"""Whether a fragment begins an RLE frame: its 64-byte header, ``segments`` segments (one a
    byte of each sample), the first at offset 64, increasing, the unused offsets 0. One fragment
    a frame, the standard says; a writer that split a frame over two, or added a short padding
    item, made more fragments than frames, not more frames.

    >>> header = struct.pack("<16I", 1, 64, *[0] * 14)
    >>> begins_rle_frame(header, 200, 1), begins_rle_frame(header, 200, 3), begins_rle_frame(b"\x00\x00", 2, 1)
    (True, False, False)
    """
    if length < 64 or len(head) < 64:
        return False
    count, *offsets = struct.unpack("<16I", head[:64])
    used, unused = offsets[:count], offsets[count:]
    return (count == segments and used[0] == 64 and all(a < b for a, b in zip(used, used[1:]))
            and not any(unused))  # fmt: skip


def more_frames_than_declared(ds: Dataset, held: int) -> str:
    """The reason of pixel data holding more frames than the header declares: which frames
    are meant is unknown, and keeping the first would drop the others silently."""
    if tag_text(ds, "NumberOfFrames"):
        return f"pixel data holds {held} frames, NumberOfFrames says {tag_int(ds, 'NumberOfFrames', 1)}"
    return f"pixel data holds {held} frames, the header declares 1 (no NumberOfFrames)"


#: JPEG start-of-frame markers (baseline to lossless, arithmetic) and JPEG-LS SOF55.
_SOF_MARKERS = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                          0xCE, 0xCF, 0xF7))


def _samples_differ(kind: str, components: int, ds: Dataset) -> str:
    """The reason of a codestream whose components are not the header's samples per pixel."""
    samples = tag_int(ds, "SamplesPerPixel", 1)
    return (
        f"the {kind} holds {components} colour component{'s' if components != 1 else ''}, the header says "
        f"{samples} sample{'s' if samples != 1 else ''} per pixel ({tag_text(ds, 'PhotometricInterpretation')})"
    )


def _codestream_size(stream: Any, length: int) -> tuple[int, int, str, int] | None:
    """(rows, columns, kind, components) a JPEG / JPEG-LS (SOF) or JPEG 2000 (SIZ) fragment
    declares, if it starts a codestream; read from the stream's position, within ``length``
    bytes."""
    head = stream.read(min(length, 2))
    if head == b"\xff\x4f":  # JPEG 2000 SOC, then SIZ: Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz (tiles) Csiz
        siz = stream.read(min(length - 2, 40))
        if len(siz) < 40 or siz[:2] != b"\xff\x51":
            return None
        width, height, x0, y0 = struct.unpack(">IIII", siz[6:22])
        return height - y0, width - x0, "JPEG 2000 codestream", struct.unpack(">H", siz[38:40])[0]
    if head != b"\xff\xd8":  # JPEG SOI
        return None
    position = 2
    while position + 9 <= length:
        segment = stream.read(4)
        if len(segment) < 4 or segment[0] != 0xFF:
            return None
        if segment[1] in _SOF_MARKERS:
            body = stream.read(6)  # precision, lines, samples per line, components
            if len(body) < 6:
                return None
            rows, cols = struct.unpack(">HH", body[1:5])
            return rows, cols, "JPEG-LS" if segment[1] == 0xF7 else "JPEG", body[5]
        segment_length = struct.unpack(">H", segment[2:4])[0]
        if segment_length < 2:
            return None
        stream.seek(segment_length - 2, os.SEEK_CUR)
        position += 2 + segment_length
    return None


def _check_extended_offsets(
    path: str, ds: Dataset, n_frames: int, starts: list[int], total: int
) -> None:
    """ExtendedOffsetTable (7FE0,0001) and its lengths: one per frame, on fragments, inside."""
    try:
        offsets = [int(v) for v in np.frombuffer(ds[_EXTENDED_OFFSET_TABLE].value, "<u8")]
        lengths = [int(v) for v in np.frombuffer(ds[_EXTENDED_OFFSET_TABLE_LENGTHS].value, "<u8")]
    except (KeyError, ValueError, TypeError):
        offsets, lengths = [], []
    fragment_starts = set(starts)
    if (
        len(offsets) != n_frames
        or len(lengths) != n_frames
        or offsets != sorted(set(offsets))
        or any(o not in fragment_starts or o + n > total for o, n in zip(offsets, lengths))
    ):
        raise RejectedInput(
            path,
            "corrupt compressed pixel data: the extended offset table does not match the "
            f"fragments ({len(offsets)} offsets for {n_frames} frames)",
        )


def _extended_offset_count(ds: Dataset) -> int:
    """Entries of the ExtendedOffsetTable (7FE0,0001), one per frame; 0 when there is none."""
    value = ds.get(_EXTENDED_OFFSET_TABLE)
    return len(value.value) // 8 if value is not None and isinstance(value.value, bytes) else 0


def _native_frame_bytes(ds: Dataset) -> int:
    """Bytes of one uncompressed frame (YBR_FULL_422 stores two samples a pixel)."""
    rows, cols = tag_int(ds, "Rows", 0), tag_int(ds, "Columns", 0)
    samples, bits = tag_int(ds, "SamplesPerPixel", 1), tag_int(ds, "BitsAllocated", 8)
    if tag_text(ds, "PhotometricInterpretation") == "YBR_FULL_422":
        return rows * cols * 2 * bits // 8
    return rows * cols * samples * bits // 8
