"""Parse a DICOM header without trusting it.

Every length, count and size a file declares is bounded before pydicom acts on it: reads never
ask past the end of the file, a Deflated data set is inflated in bounded chunks first (a "zip
bomb" is rejected), the number of header elements is capped, and every value is converted at once
so that a malformed one is reported as a corrupt header, naming the file, rather than later.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
import zlib
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian

from follicle_seg.errors import RejectedInput, brief
from follicle_seg.filehash import file_sha256
from follicle_seg.io.tags import PIXEL_DATA
from follicle_seg.io.truncation import where_cut

#: Largest decoded size of a file's pixel data, in bytes.
MAX_PIXEL_BYTES = 2**31
#: Most header elements (sequence items and their elements included) a file may hold; real
#: ultrasound headers hold hundreds to a few thousand. Bounds the time one header costs.
MAX_HEADER_ELEMENTS = 50_000
#: Largest inflated data set of a Deflated transfer syntax file (pydicom inflates it whole).
MAX_INFLATED_BYTES = MAX_PIXEL_BYTES + 2**26


#: The reason of a file that ends inside its pixel data (its header is whole).
PIXELS_CUT = "truncated: the file ends inside the pixel data"


def read_header(path: str, *, pixels: bool = True) -> Dataset:
    """Parse the file, deferring the pixel data (or stopping before it)."""
    if not os.path.isfile(path):
        raise RejectedInput(path, "not a readable file")
    if os.path.getsize(path) == 0:
        raise RejectedInput(path, "empty file (0 bytes)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _check_inflated_size(path)
            force = starts_with_file_meta(path)
            with _BoundedFile(path) as fp:
                if pixels:
                    ds = pydicom.dcmread(fp, defer_size=4096, force=force)
                else:
                    ds = pydicom.dcmread(fp, stop_before_pixels=True, force=force)
            _convert_values(path, ds, [MAX_HEADER_ELEMENTS])
        except RejectedInput:
            raise
        except InvalidDicomError:
            if archive := _archive(path):
                raise RejectedInput(path, archive) from None
            if _bare_data_set(path):
                raise RejectedInput(
                    path, "a DICOM data set without the file header of a DICOM file (no preamble and "
                    "'DICM' marker, no transfer syntax): export it from the archive as a DICOM file",
                ) from None
            raise RejectedInput(
                path, "not a DICOM file (no 'DICM' marker after the preamble)"
            ) from None
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno:  # the file itself (permissions, a vanished mount)
                raise RejectedInput(path, f"cannot read ({exc.strerror})") from exc
            # whatever the parser trips on (an OSError without errno: a sequence cut short), the
            # header is unreadable: said cut where the file ends inside it
            reason = where_cut(path) or f"truncated or corrupt DICOM header ({brief(exc)})"
            raise RejectedInput(path, reason) from exc
    if pixels and any("End of file reached" in str(w.message) for w in caught):
        raise RejectedInput(path, PIXELS_CUT)
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", Dataset()):
        raise RejectedInput(path, where_cut(path) or "no transfer syntax in the file meta information")
    return ds


def starts_with_file_meta(path: str | os.PathLike) -> bool:
    """Whether the file begins with its file meta information (group 0002, explicit VR Little
    Endian) where the 128-byte preamble and ``DICM`` marker belong: some older tools write DICOM
    files so. Its transfer syntax is then known, and pydicom reads it when told to (``force``)."""
    with open(path, "rb") as f:
        head = f.read(6)
    return len(head) == 6 and head[:2] == b"\x02\x00" and head[4:6].isalpha() and head[4:6].isupper()


def read_dicom(path: str | os.PathLike, **kwargs) -> Dataset:
    """``pydicom.dcmread(path, **kwargs)``, a file without preamble that starts with its file meta
    (:func:`starts_with_file_meta`) included: the one rule for every reader of whole files."""
    return pydicom.dcmread(path, force=starts_with_file_meta(path), **kwargs)


#: The first bytes of compressed files a DICOM export may come as, and what to do with them.
_ARCHIVES = {b"\x1f\x8b": "gzip-compressed file: gunzip it first", b"PK\x03\x04": "a zip archive: unzip it first"}


def _archive(path: str) -> str:
    """The reason of a gzip-compressed file or zip archive (a DICOM file or export packed for
    sending), ``""`` for any other file: "not a DICOM file" told nothing of what to do."""
    with open(path, "rb") as f:
        head = f.read(4)
    return next((reason for magic, reason in _ARCHIVES.items() if head.startswith(magic)), "")


def _bare_data_set(path: str) -> bool:
    """Whether the file starts as a DICOM data set does, without a preamble: an element of group
    0008 (identifying) in Little Endian, explicit VR (two capitals) or implicit (a length that
    fits the file). Older archives and some exports write data sets so, without the file header
    that names their transfer syntax.
    """
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or struct.unpack("<H", head[:2])[0] != 0x0008:
        return False
    if head[4:6].isalpha() and head[4:6].isupper():
        return True
    return struct.unpack("<I", head[4:8])[0] < os.path.getsize(path)


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
            if not chunk:  # (pydicom inflates it whole: "incomplete or truncated stream")
                cut = f"truncated: the file ends inside its deflated data set, at byte {fp.tell()}"
                raise RejectedInput(path, where_cut(path) or cut)  # (or inside its file meta)
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
        if tag == PIXEL_DATA:
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
            # (an undefined length, 0xFFFFFFFF, tells nothing of where the value ends)
            if raw.length != 0xFFFFFFFF and raw.value_tell + raw.length > size and not _deflated(ds):
                raise RejectedInput(path, f"truncated: the file ends inside element {raw.tag}")
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                _convert_values(path, item, budget)


def _deflated(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    return meta is not None and meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian


def pixel_data_sha256(path: str) -> str:
    """Content hash of a file's Pixel Data value (its fragments to the end of the file when
    compressed), not of its header: two files of one SOP instance whose headers differ (a tag an
    archive added) hold the same image when these match. Read from the file in chunks (inflated
    whole in a Deflated file, as pydicom reads it); "" for a file without pixel data."""
    ds = read_header(path)
    elem: Any = ds.get_item(PIXEL_DATA, keep_deferred=True)  # (a raw element: where the value lies)
    if elem is None:
        return ""
    if elem.value is None and not _deflated(ds):  # deferred: where the value lies in the file
        stop = None if elem.length == 0xFFFFFFFF else elem.value_tell + elem.length
        return file_sha256(path, start=elem.value_tell, stop=stop)
    return hashlib.sha256(ds.PixelData).hexdigest()
