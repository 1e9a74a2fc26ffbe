"""Read ultrasound DICOM: the header into an :class:`ImageRecord`, the pixels frame by frame.

The only module of the package that reads DICOM with pydicom. Every reason a file cannot be
analysed becomes a :class:`~follicle_seg.errors.RejectedInput` naming the file and the reason
in one line; nothing is decoded before the header has been checked (sizes, syntax, decoder).

Pixels to grey ``uint8`` (one table or formula per file, the same for every frame of a cine):

* ``MONOCHROME2`` 8-bit: as stored. ``MONOCHROME1``: inverted.
* more than 8 bits: Modality rescale (RescaleSlope/Intercept), then the first VOI window
  (WindowCenter/Width, DICOM linear function) when present, else the full range of the stored
  bits, mapped to 0-255.
* ``RGB`` / ``YBR_*``: pydicom converts YBR to RGB while decoding (once: JPEG decoders already
  return RGB), then luma ``0.299 R + 0.587 G + 0.114 B``.
* ``PALETTE COLOR``: the palette (8- or 16-bit entries, segmented or not) applied, then luma;
  16-bit entries that never exceed 255 are taken as 8-bit values (a quirk of real files).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, get_decoder, iter_pixels, pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from follicle_seg.errors import RejectedInput
from follicle_seg.io.calibration import (
    UltrasoundRegion,
    choose_calibration,
    choose_region,
    implausible_spacing,
)
from follicle_seg.io.laterality import choose_laterality
from follicle_seg.io.region import MIN_REGION_PX, find_scan_area
from follicle_seg.types import Frame, ImageRecord

#: Largest decoded size of a file, in bytes, and its largest number of frames.
MAX_PIXEL_BYTES = 2**31
#: Largest decoded size of one frame: 256 MiB (16384 x 16384 grey), far above any scanner's.
MAX_FRAME_BYTES = 2**28
MAX_FRAMES = 10_000

#: SOP classes read: US Image (and retired), US Multi-frame (and retired), Secondary Capture and
#: the multi-frame Secondary Captures (grey byte / word, true colour).
US_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "US Image Storage",
    "1.2.840.10008.5.1.4.1.1.6": "US Image Storage (retired)",
    "1.2.840.10008.5.1.4.1.1.3.1": "US Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.3": "US Multi-frame Image Storage (retired)",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte SC Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word SC Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color SC Image Storage",
}

#: The package that decodes each compressed transfer syntax (named in rejection reasons).
DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": "pillow",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": "pillow",  # JPEG Extended 12-bit
    "1.2.840.10008.1.2.4.57": "python-gdcm",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": "python-gdcm",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": "pyjpegls",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": "pyjpegls",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg",  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pylibjpeg-openjpeg",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": "pylibjpeg-openjpeg",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": "pylibjpeg-openjpeg",  # HTJ2K
    "1.2.840.10008.1.2.5": "pydicom",  # RLE Lossless
}

#: The decoder used for each compressed syntax when it is installed (pydicom would try GDCM first,
#: which aborts the whole process on some corrupt JPEG streams).
DECODING_PLUGINS = {
    "1.2.840.10008.1.2.4.50": "pillow",
    "1.2.840.10008.1.2.4.51": "pillow",
    "1.2.840.10008.1.2.4.80": "pyjpegls",
    "1.2.840.10008.1.2.4.81": "pyjpegls",
    "1.2.840.10008.1.2.4.90": "pylibjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg",
    "1.2.840.10008.1.2.4.201": "pylibjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg",
}

#: What a malformed header value makes pydicom or the checks raise (besides RejectedInput).
HEADER_VALUE_ERRORS = (
    TypeError,
    ValueError,
    ArithmeticError,  # OverflowError, ZeroDivisionError (a segmented palette)
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    RecursionError,
    struct.error,
    BytesLengthException,
)

COLOUR_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420")
PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", *COLOUR_PHOTOMETRICS)

_PIXEL_DATA = 0x7FE00010
_EXTENDED_OFFSET_TABLE = 0x7FE00001
_EXTENDED_OFFSET_TABLE_LENGTHS = 0x7FE00002
_UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM, _SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE0DD)
#: Most header elements (sequence items and their elements included) a file may hold; real
#: ultrasound headers hold hundreds to a few thousand. Bounds the time one header costs.
MAX_HEADER_ELEMENTS = 50_000
#: Largest inflated data set of a Deflated transfer syntax file (pydicom inflates it whole).
MAX_INFLATED_BYTES = MAX_PIXEL_BYTES + 2**26


def read_record(path: str | Path) -> ImageRecord:
    """Read and check one file's header; choose its region, calibration and side.

    Only the header is parsed (pixel data is deferred), except for a file without a Sequence
    of Ultrasound Regions, whose first frame is decoded to find the scan sector.

    Parameters
    ----------
    path
        A file.

    Returns
    -------
    ImageRecord

    Raises
    ------
    RejectedInput
        Not DICOM, truncated, no pixel data, not ultrasound, an unsupported pixel format, a
        transfer syntax without an installed decoder, implausible frame sizes, absurd
        calibration, a region smaller than 64 pixels.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> record = read_record(get_testdata_file("examples_ybr_color.dcm"))
    >>> record.n_frames, round(record.calibration.spacing_row_mm, 4), record.region
    (30, 0.5105, (84, 31, 319, 239))
    """
    path_str = str(path)
    ds = _read_header(path_str)
    try:
        return _record_from_header(path_str, ds)
    except HEADER_VALUE_ERRORS as exc:  # a tag value that is not what it should be
        raise RejectedInput(path_str, f"unreadable header value ({_short(exc)})") from exc


def _record_from_header(path_str: str, ds: Dataset) -> ImageRecord:
    """The body of :func:`read_record`, on a parsed header."""
    if _PIXEL_DATA not in ds:
        if "Rows" in ds and "Columns" in ds:
            raise RejectedInput(
                path_str, "no pixel data (7FE0,0010) after an image header: cut short?"
            )
        raise RejectedInput(path_str, "no pixel data (7FE0,0010): not an image")
    _check_ultrasound(path_str, ds)
    n_frames, n_rows, n_cols = _check_geometry(path_str, ds)
    _check_pixel_length(path_str, ds, n_frames)
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    _check_decoder(path_str, syntax)
    _checked_grey_converter(path_str, ds)

    regions = [_parse_region(item) for item in ds.get("SequenceOfUltrasoundRegions", [])]
    chosen = choose_region(regions, n_rows, n_cols)
    box = chosen.clipped(n_rows, n_cols) if chosen is not None else None
    if box is not None:
        region, region_source = box, "ultrasound_region"
    else:
        region, region_source = _auto_region(path_str, ds), "auto"
    calibration = choose_calibration(
        chosen, _floats(ds.get("PixelSpacing")), _floats(ds.get("ImagerPixelSpacing"))
    )
    reason = implausible_spacing(calibration)
    if reason:
        raise RejectedInput(path_str, reason)
    height, width = region[3] - region[1] + 1, region[2] - region[0] + 1
    if min(height, width) < MIN_REGION_PX:
        raise RejectedInput(
            path_str,
            f"image region {width}x{height} px ({region_source}) is smaller than "
            f"{MIN_REGION_PX} px",
        )
    side, side_source = choose_laterality(
        image_laterality=_text(ds, "ImageLaterality"),
        laterality=_text(ds, "Laterality"),
        series_description=_text(ds, "SeriesDescription"),
        image_comments=_text(ds, "ImageComments"),
    )
    return ImageRecord(
        path=path_str,
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        modality=_text(ds, "Modality"),
        patient_id=_text(ds, "PatientID"),
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        study_date=iso_date(_text(ds, "StudyDate")),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        series_description=_text(ds, "SeriesDescription"),
        laterality=side,
        laterality_source=side_source,
        n_frames=n_frames,
        rows=n_rows,
        columns=n_cols,
        photometric=_text(ds, "PhotometricInterpretation"),
        transfer_syntax=str(syntax),
        calibration=calibration,
        region=region,
        region_source=region_source,
        frame_time_ms=_frame_time_ms(ds),
        frame_spacing_mm=_positive_float(ds.get("SpacingBetweenSlices")),
        manufacturer=_text(ds, "Manufacturer"),
    )


def iter_frames(record: ImageRecord, *, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
    """Decode frames ``start`` to ``stop - 1`` one at a time, as grey uint8 of the region.

    The header is parsed once and each frame decoded on its own from the open file
    (``pydicom.pixels.iter_pixels``): a long cine is never held whole in memory, and a long
    header is not parsed again for every frame.

    Raises
    ------
    RejectedInput
        When a frame cannot be decoded or has an unexpected shape.
    """
    header = _read_header(record.path, pixels=False)
    to_grey = _checked_grey_converter(record.path, header)
    plugin = _decoding_plugin(record.transfer_syntax)
    source = _pixel_source(record.path, record.transfer_syntax)
    c0, r0, c1, r1 = record.region
    first = max(0, start)
    end = record.n_frames if stop is None else min(stop, record.n_frames)
    if first >= end:
        return
    # pydicom 3.0 iter_pixels miscounts the bytes of native YBR_FULL_422 frames after the first
    native_422 = record.photometric == "YBR_FULL_422" and not UID(record.transfer_syntax).is_compressed
    decoded = iter_pixels(source, indices=range(first, end), decoding_plugin=plugin)
    for index in range(first, end):
        if native_422:
            arr = _decode_frame(record.path, source, index, record.rows, record.columns, plugin)
        else:
            arr = _next_frame(record.path, decoded, index, record.rows, record.columns)
        grey = to_grey(arr)
        yield Frame(
            record=record, index=index, pixels=np.ascontiguousarray(grey[r0 : r1 + 1, c0 : c1 + 1])
        )


def sop_class_name(uid: str) -> str:
    """A readable name of a SOP class UID (the UID itself when unknown)."""
    return US_SOP_CLASSES.get(uid) or UID(uid).name


def transfer_syntax_name(uid: str) -> str:
    """A readable name of a transfer syntax UID (the UID itself when unknown)."""
    return UID(uid).name


def iso_date(value: str) -> str:
    """DICOM DA ``YYYYMMDD`` (or already ``YYYY-MM-DD``) as ``YYYY-MM-DD``; ``""`` if unusable.

    Examples
    --------
    >>> iso_date("20240131"), iso_date("2024.01.31"), iso_date("")
    ('2024-01-31', '2024-01-31', '')
    """
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) != 8:
        return ""
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"


# ----------------------------------------------------------------------------- header checks


def _read_header(path: str, *, pixels: bool = True) -> Dataset:
    """Parse the file, deferring the pixel data (or stopping before it)."""
    if not os.path.isfile(path):
        raise RejectedInput(path, "not a readable file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _check_inflated_size(path)
            with _BoundedFile(path) as fp:
                if pixels:
                    ds = pydicom.dcmread(fp, defer_size=4096)
                else:
                    ds = pydicom.dcmread(fp, stop_before_pixels=True)
            _convert_values(path, ds, [MAX_HEADER_ELEMENTS])
        except RejectedInput:
            raise
        except InvalidDicomError:
            raise RejectedInput(
                path, "not a DICOM file (no 'DICM' marker after the preamble)"
            ) from None
        except Exception as exc:  # whatever the parser trips on, the header is unreadable
            raise RejectedInput(path, f"truncated or corrupt DICOM header ({_short(exc)})") from exc
    if pixels and any("End of file reached" in str(w.message) for w in caught):
        raise RejectedInput(path, "truncated: the file ends inside the pixel data")
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", Dataset()):
        raise RejectedInput(path, "no transfer syntax in the file meta information")
    return ds


class _BoundedFile(io.FileIO):
    """A file that never reads past its end: a read asks at most for the bytes left.

    A corrupt length field (4 GB) would otherwise make the reader allocate that much for one
    value before finding the file shorter.
    """

    def __init__(self, path: str, mode: str = "rb") -> None:  # pydicom reopens it (path, "rb")
        super().__init__(path, mode)
        self._size = os.fstat(self.fileno()).st_size

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size > 0:
            size = min(size, max(0, self._size - self.tell()))
        return super().read(size)


def _check_inflated_size(path: str) -> None:
    """Reject a Deflated file whose data set would inflate past :data:`MAX_INFLATED_BYTES`.

    pydicom inflates the whole data set in memory before parsing it: a few MB of deflated zeros
    (a "zip bomb") would otherwise take gigabytes. The stream is inflated in bounded chunks and
    thrown away.
    """
    with _BoundedFile(path) as fp:
        syntax, offset = _file_meta_syntax(fp)
        if syntax != DeflatedExplicitVRLittleEndian:
            return
        fp.seek(offset)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        total = 0
        while not inflater.eof:
            chunk = inflater.unconsumed_tail or fp.read(2**20)
            if not chunk:
                return
            try:
                total += len(inflater.decompress(chunk, 2**24))
            except zlib.error:
                return  # pydicom says what is wrong with the stream
            if total > MAX_INFLATED_BYTES:
                raise RejectedInput(
                    path,
                    "implausible image size: the deflated data set inflates to more than "
                    f"{MAX_INFLATED_BYTES / 2**30:.1f} GiB",
                )


def _file_meta_syntax(fp: io.FileIO) -> tuple[str, int]:
    """TransferSyntaxUID of the file meta group (Explicit VR Little Endian) and where it ends."""
    fp.seek(128)
    if fp.read(4) != b"DICM":
        return "", 0
    syntax = ""
    while len(head := fp.read(8)) == 8:
        group, element = struct.unpack("<HH", head[:4])
        if group != 2:
            break
        if head[4:6] in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            tail = fp.read(4)
            length = struct.unpack("<I", tail)[0] if len(tail) == 4 else 0
        else:
            length = struct.unpack("<H", head[6:8])[0]
        value = fp.read(length)
        if element == 0x0010:
            syntax = value.rstrip(b"\x00 ").decode("ascii", "replace")
    return syntax, fp.tell() - len(head)


def _convert_values(path: str, ds: Dataset, budget: list[int]) -> None:
    """Convert every header value now (not the pixel data, not deferred large values).

    pydicom converts raw values on first access; a value it cannot read (an unknown VR, bytes
    that do not fit the VR) then fails here, as a corrupt header, rather than later in a check
    or while decoding frames. A deferred value must lie inside the file. ``budget`` holds the
    number of elements still allowed (:data:`MAX_HEADER_ELEMENTS` in all).
    """
    size = os.path.getsize(path)
    for tag in list(ds.keys()):
        if tag == _PIXEL_DATA:
            continue
        budget[0] -= 1
        if budget[0] < 0:
            raise RejectedInput(
                path,
                f"implausible header: more than {MAX_HEADER_ELEMENTS} elements (sequences too "
                "long or too deep)",
            )
        raw = ds.get_item(tag, keep_deferred=True)
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
            # deferred: a large value (palette, private blob) read only when needed
            if raw.value_tell + raw.length > size and not _deflated(ds):
                raise RejectedInput(path, f"truncated: the file ends inside element {raw.tag}")
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                _convert_values(path, item, budget)


def _deflated(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    return meta is not None and meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian


def _check_pixel_length(path: str, ds: Dataset, n_frames: int) -> None:
    """Pixel data as long as the header says (uncompressed) and inside the file."""
    elem: Any = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    length = getattr(elem, "length", None)
    if length is None:
        value = elem.value
        length = len(value) if value is not None else 0
    if length == _UNDEFINED_LENGTH:
        _check_fragments(path, ds, elem, n_frames)
        return
    value_tell = getattr(elem, "value_tell", None)
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    deflated = syntax == DeflatedExplicitVRLittleEndian  # value_tell is in the inflated data
    if value_tell is not None and not deflated and value_tell + length > os.path.getsize(path):
        raise RejectedInput(path, "truncated: the file ends inside the pixel data")
    if not syntax.is_compressed:
        needed = _native_frame_bytes(ds) * n_frames
        if length < needed:
            raise RejectedInput(
                path, f"truncated: pixel data holds {length} bytes, the header needs {needed}"
            )


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
        size = (_int(ds, "Rows", 0), _int(ds, "Columns", 0))
        bot, starts, total, closed = _walk_items(path, stream, end, size)
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
    path: str, stream: Any, end: int, size: tuple[int, int]
) -> tuple[list[int], list[int], int, bool]:
    """Basic offset table, fragment offsets and end (counted from the first fragment's item
    tag), and whether the sequence delimiter closes the data.

    A fragment that starts a JPEG, JPEG-LS or JPEG 2000 codestream must declare the header's
    ``size`` (rows, columns): decoders allocate what the codestream says.
    """
    bot: list[int] | None = None
    starts: list[int] = []
    offset = 0
    while len(head := stream.read(8)) == 8:
        group, element, length = struct.unpack("<HHI", head)
        if (group, element) == _SEQUENCE_END:
            return bot or [], starts, offset, True
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
        declared = _codestream_size(stream, length)
        if declared is not None and declared != size:
            raise RejectedInput(
                path,
                f"corrupt compressed pixel data: a frame's codestream is {declared[1]}x"
                f"{declared[0]} pixels, the header says {size[1]}x{size[0]}",
            )
        stream.seek(value_start + length)
    return bot or [], starts, offset, False


#: JPEG start-of-frame markers (baseline to lossless, arithmetic) and JPEG-LS SOF55.
_SOF_MARKERS = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                          0xCE, 0xCF, 0xF7))


def _codestream_size(stream: Any, length: int) -> tuple[int, int] | None:
    """(rows, columns) a JPEG / JPEG-LS (SOF) or JPEG 2000 (SIZ) fragment declares, if it
    starts a codestream; read from the stream's position, within ``length`` bytes."""
    head = stream.read(min(length, 2))
    if head == b"\xff\x4f":  # JPEG 2000 SOC, then SIZ: Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz
        siz = stream.read(min(length - 2, 22))
        if len(siz) < 22 or siz[:2] != b"\xff\x51":
            return None
        width, height, x0, y0 = struct.unpack(">IIII", siz[6:22])
        return height - y0, width - x0
    if head != b"\xff\xd8":  # JPEG SOI
        return None
    position = 2
    while position + 9 <= length:
        segment = stream.read(4)
        if len(segment) < 4 or segment[0] != 0xFF:
            return None
        if segment[1] in _SOF_MARKERS:
            body = stream.read(5)  # precision, lines, samples per line
            if len(body) < 5:
                return None
            rows, cols = struct.unpack(">HH", body[1:5])
            return rows, cols
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


def _check_ultrasound(path: str, ds: Dataset) -> None:
    modality = _text(ds, "Modality")
    sop_class = _text(ds, "SOPClassUID")
    if modality != "US":
        raise RejectedInput(
            path, f"not ultrasound: Modality is {modality or 'missing'!s}, expected US"
        )
    if sop_class not in US_SOP_CLASSES:
        raise RejectedInput(
            path,
            f"not an ultrasound image: SOP class {sop_class_name(sop_class)} is not US Image, "
            "US Multi-frame or Secondary Capture",
        )


def _check_geometry(path: str, ds: Dataset) -> tuple[int, int, int]:
    """Frames, rows and columns, checked against the limits before anything is decoded."""
    try:
        n_frames = _int(ds, "NumberOfFrames", 1)
        n_rows, n_cols = _int(ds, "Rows", 0), _int(ds, "Columns", 0)
        samples = _int(ds, "SamplesPerPixel", 1)
        bits = _int(ds, "BitsAllocated", 0)
    except (TypeError, ValueError) as exc:
        raise RejectedInput(path, f"unreadable image size tags ({_short(exc)})") from exc
    photometric = _text(ds, "PhotometricInterpretation")
    if n_rows < 1 or n_cols < 1 or n_frames < 1:
        raise RejectedInput(
            path, f"implausible image size: {n_rows} rows x {n_cols} columns x {n_frames} frames"
        )
    if n_frames > MAX_FRAMES:
        raise RejectedInput(path, f"implausible number of frames: {n_frames} (limit {MAX_FRAMES})")
    decoded = n_rows * n_cols * n_frames * max(samples, 1) * max(bits, 8) // 8
    if decoded > MAX_PIXEL_BYTES:
        raise RejectedInput(
            path,
            f"implausible image size: {n_rows} x {n_cols} x {n_frames} frames would need "
            f"{decoded / 2**30:.1f} GiB decoded (limit {MAX_PIXEL_BYTES / 2**30:.0f} GiB)",
        )
    if decoded // n_frames > MAX_FRAME_BYTES:
        raise RejectedInput(
            path,
            f"implausible image size: one {n_rows} x {n_cols} frame would need "
            f"{decoded // n_frames / 2**20:.0f} MiB decoded (limit {MAX_FRAME_BYTES // 2**20} MiB)",
        )
    if bits not in (8, 16):
        raise RejectedInput(path, f"unsupported pixel format: {bits} bits allocated (need 8 or 16)")
    stored = _int(ds, "BitsStored", bits)
    if not 1 <= stored <= bits:
        raise RejectedInput(
            path, f"unsupported pixel format: {stored} bits stored in {bits} bits allocated"
        )
    if photometric not in PHOTOMETRICS:
        raise RejectedInput(
            path, f"unsupported photometric interpretation {photometric or 'missing'}"
        )
    if samples != (3 if photometric in COLOUR_PHOTOMETRICS else 1):
        raise RejectedInput(path, f"{samples} samples per pixel do not fit {photometric}")
    return n_frames, n_rows, n_cols


def _check_decoder(path: str, syntax: UID) -> None:
    """Reject a transfer syntax that no installed package decodes, naming the one that would."""
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise RejectedInput(
            path,
            f"transfer syntax {syntax.name} ({syntax}) cannot be decoded: pydicom has no decoder "
            "for it; export the images uncompressed or as JPEG",
        ) from None
    if not decoder.is_available:
        package = DECODER_PACKAGES.get(str(syntax), "a pydicom pixel data plugin")
        raise RejectedInput(
            path,
            f"transfer syntax {syntax.name} needs a decoder that is not installed: "
            f"pip install {package}",
        )


def _auto_region(path: str, ds: Dataset) -> tuple[int, int, int, int]:
    """The scan sector found on the first frame (files without ultrasound regions)."""
    syntax = str(ds.file_meta.TransferSyntaxUID)
    frame = _decode_frame(
        path,
        _pixel_source(path, syntax),
        0,
        _int(ds, "Rows", 0),
        _int(ds, "Columns", 0),
        _decoding_plugin(syntax),
    )
    grey = _checked_grey_converter(path, ds)(frame)
    box = find_scan_area(grey)
    if box is None:
        raise RejectedInput(path, "no image area found: the first frame is black")
    return box


# ----------------------------------------------------------------------------- pixels


def _decoding_plugin(syntax: str) -> str:
    """The plugin of :data:`DECODING_PLUGINS` for this syntax when installed, else pydicom's pick."""
    plugin = DECODING_PLUGINS.get(syntax, "")
    try:
        return plugin if plugin in get_decoder(UID(syntax)).available_plugins else ""
    except NotImplementedError:
        return ""


def _pixel_source(path: str, syntax: str) -> str | Dataset:
    """What frames are decoded from: the file itself, or its whole data set when Deflated.

    pydicom reads single frames straight from a file, except from a deflated one, which is
    inflated once (its size was checked by :func:`_check_inflated_size`).
    """
    if syntax != DeflatedExplicitVRLittleEndian:
        return path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path)
    except Exception as exc:  # the header was read before: this is a corrupt deflated stream
        raise RejectedInput(path, f"corrupt deflated data set ({_short(exc)})") from exc


def _decode_frame(
    path: str, source: str | Dataset, index: int, n_rows: int, n_cols: int, plugin: str
) -> np.ndarray:
    """One decoded frame (RGB for colour files), read from ``source`` on its own."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = pixel_array(source, index=index, decoding_plugin=plugin)
    except Exception as exc:  # any decoder failure is this file's problem, not the batch's
        raise RejectedInput(path, f"frame {index} cannot be decoded ({_short(exc)})") from exc
    return _checked_shape(path, arr, index, n_rows, n_cols)


def _next_frame(
    path: str, decoded: Iterator[np.ndarray], index: int, n_rows: int, n_cols: int
) -> np.ndarray:
    """Frame ``index``: the next one of a ``pydicom.pixels.iter_pixels`` iterator."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = next(decoded)
    except Exception as exc:  # any decoder failure is this file's problem, not the batch's
        raise RejectedInput(path, f"frame {index} cannot be decoded ({_short(exc)})") from exc
    return _checked_shape(path, arr, index, n_rows, n_cols)


def _checked_shape(path: str, arr: np.ndarray, index: int, n_rows: int, n_cols: int) -> np.ndarray:
    if arr.shape[:2] != (n_rows, n_cols):
        raise RejectedInput(
            path, f"frame {index} decodes to shape {arr.shape}, expected {n_rows}x{n_cols}"
        )
    return arr


def _checked_grey_converter(path: str, ds: Dataset) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`grey_converter`, a header it cannot use (a broken palette...) as a rejection."""
    try:
        return grey_converter(ds)
    except HEADER_VALUE_ERRORS as exc:
        raise RejectedInput(path, f"unusable grey-level tags ({_short(exc)})") from exc


def grey_converter(ds: Dataset) -> Callable[[np.ndarray], np.ndarray]:
    """A function turning one decoded frame of this file into grey uint8 (module docstring).

    Built once per file from the header: a lookup table for monochrome and palette images, luma
    for colour ones.
    """
    photometric = _text(ds, "PhotometricInterpretation")
    bits = _int(ds, "BitsStored", _int(ds, "BitsAllocated", 8))
    if photometric in COLOUR_PHOTOMETRICS:
        scale = 255.0 / (2**bits - 1)
        return lambda arr: _luma(arr.astype(np.float32) * scale)
    if photometric == "PALETTE COLOR":
        table = _palette_table(ds, bits)
        return lambda arr: table[np.clip(arr, 0, table.size - 1)]
    signed = _int(ds, "PixelRepresentation", 0) == 1
    offset = 2 ** (bits - 1) if signed else 0
    table = monochrome_table(
        bits=bits,
        signed=signed,
        slope=_number(ds, "RescaleSlope", 1.0) or 1.0,
        intercept=_number(ds, "RescaleIntercept", 0.0),
        window=_window(ds) if bits > 8 else None,
        invert=photometric == "MONOCHROME1",
    )
    return lambda arr: table[np.clip(arr.astype(np.int64) + offset, 0, table.size - 1)]


def monochrome_table(
    *,
    bits: int,
    signed: bool,
    slope: float,
    intercept: float,
    window: tuple[float, float] | None,
    invert: bool,
) -> np.ndarray:
    """Grey uint8 for every stored value (index = stored value + 2**(bits-1) when signed).

    Rescale ``v * slope + intercept``; then the DICOM linear VOI window ``(center, width)`` when
    given (and finite), else the rescaled range of the stored bits; mapped to 0-255; inverted
    for MONOCHROME1. Raises ValueError when the rescale is not finite.

    Examples
    --------
    >>> t = monochrome_table(bits=12, signed=False, slope=1, intercept=0,
    ...                      window=(1000.0, 400.0), invert=False)
    >>> int(t[700]), int(t[1000]), int(t[1300])
    (0, 128, 255)
    """
    stored = np.arange(2**bits, dtype=np.float64) - (2 ** (bits - 1) if signed else 0)
    with np.errstate(over="ignore", invalid="ignore"):
        values = stored * slope + intercept
    if not np.all(np.isfinite(values)):
        raise ValueError(f"rescale slope {slope:g} and intercept {intercept:g} overflow")
    if window is not None and all(np.isfinite(window)) and window[1] >= 1:
        center, width = window
        unit = ((values - (center - 0.5)) / max(width - 1.0, 1.0)) + 0.5
    else:
        lo, hi = float(values.min()), float(values.max())
        unit = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    grey = np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)
    return 255 - grey if invert else grey


def _palette_table(ds: Dataset, bits: int) -> np.ndarray:
    """Grey uint8 for every palette index (PALETTE COLOR, 8- or 16-bit entries)."""
    n_entries = min(2**bits, 2**16)
    dtype = np.uint16 if bits > 8 else np.uint8
    rgb = apply_color_lut(np.arange(n_entries, dtype=dtype), ds)
    # 16-bit entries holding 8-bit values (seen in real files) are read as 8-bit.
    scale = 255.0 / 65535.0 if rgb.dtype == np.uint16 and int(rgb.max()) > 255 else 1.0
    return _luma(rgb.astype(np.float32) * scale)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB array on a 0-255 scale, as uint8."""
    grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.rint(np.clip(grey, 0.0, 255.0)).astype(np.uint8)


# ----------------------------------------------------------------------------- small tag helpers


def _parse_region(item: Dataset) -> UltrasoundRegion:
    return UltrasoundRegion(
        min_col=_int(item, "RegionLocationMinX0", 0),
        min_row=_int(item, "RegionLocationMinY0", 0),
        max_col=_int(item, "RegionLocationMaxX1", -1),
        max_row=_int(item, "RegionLocationMaxY1", -1),
        spatial_format=_optional_int(item, "RegionSpatialFormat"),
        data_type=_optional_int(item, "RegionDataType"),
        units_x=_optional_int(item, "PhysicalUnitsXDirection"),
        units_y=_optional_int(item, "PhysicalUnitsYDirection"),
        delta_x=_float(item.get("PhysicalDeltaX")),
        delta_y=_float(item.get("PhysicalDeltaY")),
    )


def _native_frame_bytes(ds: Dataset) -> int:
    rows, cols = _int(ds, "Rows", 0), _int(ds, "Columns", 0)
    samples, bits = _int(ds, "SamplesPerPixel", 1), _int(ds, "BitsAllocated", 8)
    if _text(ds, "PhotometricInterpretation") == "YBR_FULL_422":
        return rows * cols * 2 * bits // 8
    return rows * cols * samples * bits // 8


def _frame_time_ms(ds: Dataset) -> float | None:
    frame_time = _positive_float(ds.get("FrameTime"))
    if frame_time is not None:
        return frame_time
    rate = _positive_float(ds.get("CineRate")) or _positive_float(
        ds.get("RecommendedDisplayFrameRate")
    )
    return 1000.0 / rate if rate else None


def _window(ds: Dataset) -> tuple[float, float] | None:
    """The first VOI window (WindowCenter, WindowWidth), when both are usable numbers."""
    center, width = _first_number(ds.get("WindowCenter")), _first_number(ds.get("WindowWidth"))
    return None if center is None or width is None else (center, width)


def _first_number(value: object) -> float | None:
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0] if len(value) else None
    try:
        return None if value is None or value == "" else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _int(ds: Dataset, keyword: str, default: int) -> int:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    return int(value)


def _optional_int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _number(ds: Dataset, keyword: str, default: float) -> float:
    value = _first_number(ds.get(keyword))
    return default if value is None else value


def _float(value: object) -> float | None:
    """A number (NaN, infinite and negative ones included), ``None`` when missing or not one."""
    try:
        return None if value is None or value == "" else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _positive_float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 and np.isfinite(number) else None


def _floats(value: object) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
