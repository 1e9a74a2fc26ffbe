"""Fuzz cases of ``scripts/fuzz_ingest.py``: the seed files, the mutation kinds, case ``i`` of a run.

Every case takes one seed file (the valid ``data_samples``, small files written by
:func:`follicle_seg.io.write.write_us_dicom` in each codec, and pydicom-data's ultrasound files
when installed) and applies one mutation kind with its own generator, seeded by the run's seed and
the case number: case ``i`` is the same bytes in every run with the same seed.
"""

from __future__ import annotations

import io
import math
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Mutation kinds, in the order cases cycle through them.
KINDS = (
    "truncate",
    "bit_flip",
    "byte_flip",
    "chunk",
    "wrong_vr",
    "geometry",
    "sequence",
    "calibration",
    "region_bounds",
    "pixel_length",
    "fragments",
    "photometric",
    "transfer_syntax",
    "deflate",
)
#: Decompressed size of the deflate bomb: more than the 2 GiB a file may decode to.
BOMB_BYTES = 2**31 + 2**28


# =============================================================================== seeds


@dataclass(frozen=True)
class Seed:
    """A valid file to mutate."""

    name: str
    data: bytes


def build_seeds(folder: Path) -> list[Seed]:
    """Write the codec seeds into ``folder`` and collect them with the shipped and pydicom files."""
    seeds = [Seed(p.stem, p.read_bytes()) for p in sorted((REPO / "data_samples").glob("*.dcm"))
             if not p.name.startswith("bad_")]
    seeds += _written_seeds(folder)
    seeds += _pydicom_seeds()
    return seeds


def _written_seeds(folder: Path) -> list[Seed]:
    import numpy as np
    from pydicom.uid import (
        JPEG2000,
        ExplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        JPEGLSLossless,
        RLELossless,
    )

    from follicle_seg.io.write import write_us_dicom

    rows, cols = np.mgrid[0:72, 0:96]
    grey = np.stack([np.clip(30 + cols + rows // 2 + 9 * k, 0, 230) for k in range(3)])
    grey = grey.astype(np.uint8)
    grey[:, 30:45, 40:60] = 12
    rgb = np.stack([grey, (grey * 0.9).astype(np.uint8), (grey * 0.8).astype(np.uint8)], axis=-1)
    region = dict(min_col=4, min_row=2, max_col=95, max_row=71, delta_x_mm=0.2, delta_y_mm=0.25)
    specs = [
        ("w_mono_native", grey[:1], "MONOCHROME2", ExplicitVRLittleEndian, [region]),
        ("w_mono16_native", grey[:1].astype(np.uint16) * 16, "MONOCHROME2",
         ExplicitVRLittleEndian, [region]),
        ("w_mono1_native_3f", grey, "MONOCHROME1", ExplicitVRLittleEndian, [region]),
        ("w_ybr422_native", rgb[:1], "YBR_FULL_422", ExplicitVRLittleEndian, [region]),
        ("w_rle_mono_3f", grey, "MONOCHROME2", RLELossless, [region]),
        ("w_rle_rgb", rgb[:1], "RGB", RLELossless, [region]),
        ("w_jpeg_mono_2f", grey[:2], "MONOCHROME2", JPEGBaseline8Bit, [region]),
        ("w_jpeg_ybr422", rgb[:1], "YBR_FULL_422", JPEGBaseline8Bit, [region]),
        ("w_jpegls_3f", grey, "MONOCHROME2", JPEGLSLossless, [region]),
        ("w_j2k_palette", grey[:1], "PALETTE COLOR", JPEG2000Lossless, [region]),
        ("w_j2k_lossy_rgb_2f", rgb[:2], "RGB", JPEG2000, [region]),
        ("w_rle_noregion", grey[:1], "MONOCHROME2", RLELossless, []),
    ]
    seeds = []
    for name, frames, photometric, syntax, regions in specs:
        path = folder / f"{name}.dcm"
        write_us_dicom(
            path, frames, patient_id="FUZZ", study_uid="1.2.826.0.1.3680043.8.498.1",
            study_date="2024-01-31", series_uid="1.2.826.0.1.3680043.8.498.2",
            sop_instance_uid=f"1.2.826.0.1.3680043.8.498.{len(seeds) + 10}",
            regions=regions, photometric=photometric, transfer_syntax=syntax, laterality="L",
        )
        seeds.append(Seed(name, path.read_bytes()))
    return seeds


def _pydicom_seeds() -> list[Seed]:
    """Small real ultrasound files of pydicom / pydicom-data (when installed; never downloaded)."""
    import pydicom.data

    folders = [Path(pydicom.data.__file__).parent / "test_files"]
    try:
        import data_store  # pydicom-data

        folders.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    names = ("US1_J2KR.dcm", "OBXXXX1A_rle_2frame.dcm", "gdcm-US-ALOKA-16.dcm",
             "examples_ybr_color.dcm", "SC_ybr_full_422_uncompressed.dcm")
    found = {}
    for folder in folders:
        for name in names:
            if (folder / name).is_file() and name not in found:
                found[name] = Seed(f"pd_{Path(name).stem}", (folder / name).read_bytes())
    return [found[n] for n in names if n in found]


# =============================================================================== mutations


def _dataset_start(data: bytes) -> int:
    """Offset of the first data set element after the file meta group (preamble files)."""
    if len(data) >= 144 and data[128:132] == b"DICM" and data[132:136] == b"\x02\x00\x00\x00":
        return 144 + struct.unpack("<I", data[140:144])[0]
    return 132


def _parse(data: bytes):
    import pydicom

    return pydicom.dcmread(io.BytesIO(data))


def _serialize(ds) -> bytes:
    from pydicom.config import disable_value_validation

    buf = io.BytesIO()
    with disable_value_validation():
        ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def _raw(ds, tag: int, vr: str, value: bytes) -> None:
    """Put ``value`` as the raw bytes of ``tag`` with ``vr`` (whatever the dictionary says)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    if len(value) % 2:
        value += b" " if vr not in ("OB", "UN", "UL", "US", "FD", "FL") else b"\x00"
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


def _text(value: str) -> bytes:
    return value.encode("latin-1")


def mutate_truncate(seed: Seed, rng: random.Random) -> bytes:
    """Cut the file at a random offset (often near the end, inside the pixel data)."""
    n = len(seed.data)
    at = rng.choice([rng.randrange(n), n - rng.randrange(1, min(n, 4096)), rng.randrange(600)])
    return seed.data[: max(0, at)]


def mutate_bit_flip(seed: Seed, rng: random.Random) -> bytes:
    """Flip 1-16 bits, half the time inside the header."""
    data = bytearray(seed.data)
    end = _pixel_start(seed.data) if rng.random() < 0.5 else len(data)
    for _ in range(rng.randint(1, 16)):
        at = rng.randrange(128, max(129, end))
        data[at] ^= 1 << rng.randrange(8)
    return bytes(data)


def mutate_byte_flip(seed: Seed, rng: random.Random) -> bytes:
    """Overwrite 1-32 bytes with special values (0x00, 0xFF, 0x7F, 0x80, random)."""
    data = bytearray(seed.data)
    end = _pixel_start(seed.data) if rng.random() < 0.6 else len(data)
    for _ in range(rng.randint(1, 32)):
        at = rng.randrange(128, max(129, end))
        data[at] = rng.choice([0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)])
    return bytes(data)


def mutate_chunk(seed: Seed, rng: random.Random) -> bytes:
    """Delete, duplicate or insert a random run of bytes."""
    data = seed.data
    a = rng.randrange(132, len(data))
    b = min(len(data), a + rng.choice([1, 2, 4, 8, rng.randrange(1, 2048)]))
    op = rng.choice(["delete", "duplicate", "insert"])
    if op == "delete":
        return data[:a] + data[b:]
    if op == "duplicate":
        return data[:b] + data[a:b] + data[b:]
    return data[:a] + bytes(rng.randrange(256) for _ in range(b - a)) + data[a:]


_SHORT_VRS = ("AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH",
              "SL", "SS", "ST", "TM", "UI", "UL", "US")
_LONG_VRS = ("OB", "OD", "OF", "OL", "OW", "SQ", "UC", "UN", "UR", "UT", "OV", "SV", "UV")


def mutate_wrong_vr(seed: Seed, rng: random.Random) -> bytes:
    """Rewrite the VR of a header element (one with the same length field, or any)."""
    data = bytearray(seed.data)
    ds = _parse(seed.data)
    elems = [e for e in ds.iterall() if e.tag != 0x7FE00010 and e.VR in _SHORT_VRS + _LONG_VRS]
    rng.shuffle(elems)
    for elem in elems:
        key = struct.pack("<HH", elem.tag.group, elem.tag.element) + elem.VR.encode()
        at = data.find(key, _dataset_start(seed.data))
        if at < 0:
            continue
        same = _SHORT_VRS if elem.VR in _SHORT_VRS else _LONG_VRS
        pool = same if rng.random() < 0.7 else _SHORT_VRS + _LONG_VRS + ("ZZ", "\x00\x00")
        data[at + 4 : at + 6] = rng.choice([v for v in pool if v != elem.VR]).encode("latin-1")
        break
    return bytes(data)


_GEOMETRY = {
    0x00280010: ("US", [0, 1, 2, 63, 64, 32768, 65535]),  # Rows
    0x00280011: ("US", [0, 1, 2, 63, 64, 32768, 65535]),  # Columns
    0x00280008: ("IS", ["0", "1", "-1", "2", "10000", "10001", "2147483647", "99999999999",
                        "1.5", "abc", "", "3\\4"]),  # NumberOfFrames
    0x00280100: ("US", [0, 1, 7, 8, 12, 16, 32, 64, 65535]),  # BitsAllocated
    0x00280101: ("US", [0, 1, 7, 8, 12, 16, 17, 32, 255, 65535]),  # BitsStored
    0x00280102: ("US", [0, 7, 15, 31, 65535]),  # HighBit
    0x00280002: ("US", [0, 1, 2, 3, 4, 65535]),  # SamplesPerPixel
    0x00280103: ("US", [0, 1, 2, 65535]),  # PixelRepresentation
    0x00280006: ("US", [0, 1, 2]),  # PlanarConfiguration
}


def _encode(vr: str, value: object) -> bytes:
    if vr == "US":
        return struct.pack("<H", int(value) & 0xFFFF)  # type: ignore[call-overload]
    if vr == "UL":
        return struct.pack("<I", int(value) & 0xFFFFFFFF)  # type: ignore[call-overload]
    if vr == "FD":
        return struct.pack("<d", float(value))  # type: ignore[arg-type]
    return _text(str(value))


def mutate_geometry(seed: Seed, rng: random.Random) -> bytes:
    """Rows / Columns / NumberOfFrames / bits / samples at their limits (or the 65535^2 x 10,000)."""
    ds = _parse(seed.data)
    if rng.random() < 0.15:
        for tag, value in ((0x00280010, 65535), (0x00280011, 65535), (0x00280008, "10000")):
            _raw(ds, tag, _GEOMETRY[tag][0], _encode(_GEOMETRY[tag][0], value))
    else:
        for tag in rng.sample(sorted(_GEOMETRY), rng.randint(1, 3)):
            vr, values = _GEOMETRY[tag]
            _raw(ds, tag, vr, _encode(vr, rng.choice(values)))
    return _serialize(ds)


def mutate_sequence(seed: Seed, rng: random.Random) -> bytes:
    """Huge sequences (thousands of region items), deep nesting, absurd sequence lengths."""
    from pydicom.sequence import Sequence

    op = rng.choice(["many_items", "deep", "deep_unclosed", "huge_length"])
    if op == "many_items":
        ds = _parse(seed.data)
        items = list(ds.get("SequenceOfUltrasoundRegions", [])) or [_region_dataset(0, 0, 63, 63)]
        n = rng.choice([500, 2000, 10000])
        ds.SequenceOfUltrasoundRegions = Sequence([items[i % len(items)] for i in range(n)])
        return _serialize(ds)
    at = _dataset_start(seed.data)
    sq = struct.pack("<HH", 0x0008, 0x1115) + b"SQ\x00\x00"
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    if op == "huge_length":
        blob = sq + struct.pack("<I", rng.choice([0xFFFFFFF0, 0x7FFFFFFF, len(seed.data) * 4]))
        return seed.data[:at] + blob + item + seed.data[at:]
    depth = rng.choice([50, 500, 5000, 50000])
    item_end = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    seq_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    opening = (sq + b"\xff\xff\xff\xff" + item) * depth
    closing = (item_end + seq_end) * depth if op == "deep" else b""
    return seed.data[:at] + opening + closing + seed.data[at:]


def _region_dataset(c0: int, r0: int, c1: int, r1: int):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = 1, 1, 0
    item.RegionLocationMinX0, item.RegionLocationMinY0 = c0, r0
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = c1, r1
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
    item.PhysicalDeltaX = item.PhysicalDeltaY = 0.02
    return item


_BAD_FLOATS = [0.0, -0.0, -0.02, math.nan, math.inf, -math.inf, 1e308, 5e-324, 1e-9, 100.0, 0.02]
_BAD_SPACINGS = [["0", "0"], ["-0.2", "0.2"], ["nan", "nan"], ["inf", "0.2"], ["1e308", "1e308"],
                 ["abc", "0.2"], ["0.2"], ["0.2", "0.2", "0.2"], [""], ["0.2", "-inf"],
                 ["1e-300", "0.2"], ["0.3", "0.2"]]


def mutate_calibration(seed: Seed, rng: random.Random) -> bytes:
    """Zero / negative / NaN / inf / huge PhysicalDeltaX/Y, odd units, bad PixelSpacing."""
    ds = _parse(seed.data)
    regions = list(ds.get("SequenceOfUltrasoundRegions", []))
    op = rng.choice(["delta", "delta", "units", "pixel_spacing", "pixel_spacing_only"])
    if op in ("delta", "units") and regions:
        for item in rng.sample(regions, rng.randint(1, len(regions))):
            if op == "units":
                tag = rng.choice([0x00186024, 0x00186026])  # PhysicalUnitsX/YDirection
                _raw(item, tag, "US", _encode("US", rng.choice([0, 1, 2, 3, 4, 9, 65535])))
            else:
                for tag in rng.sample([0x0018602C, 0x0018602E], rng.randint(1, 2)):
                    _raw(item, tag, "FD", _encode("FD", rng.choice(_BAD_FLOATS)))
        return _serialize(ds)
    if op == "pixel_spacing_only" and "SequenceOfUltrasoundRegions" in ds:
        del ds.SequenceOfUltrasoundRegions
    tag = rng.choice([0x00280030, 0x00181164])  # PixelSpacing, ImagerPixelSpacing
    _raw(ds, tag, "DS", _text("\\".join(rng.choice(_BAD_SPACINGS))))
    return _serialize(ds)


_BOUND_TAGS = (0x00186018, 0x0018601A, 0x0018601C, 0x0018601E)  # MinX0 MinY0 MaxX1 MaxY1


def mutate_region_bounds(seed: Seed, rng: random.Random) -> bytes:
    """Region bounds outside the image, inverted, huge; odd spatial format / data type."""
    ds = _parse(seed.data)
    regions = list(ds.get("SequenceOfUltrasoundRegions", []))
    if not regions:
        from pydicom.sequence import Sequence

        regions = [_region_dataset(0, 0, 63, 63)]
        ds.SequenceOfUltrasoundRegions = Sequence(regions)
    n_rows, n_cols = int(ds.get("Rows", 64)), int(ds.get("Columns", 64))
    item = rng.choice(regions)
    op = rng.choice(["values", "inverted", "format"])
    if op == "inverted":
        c0, r0 = item.get("RegionLocationMinX0", 0), item.get("RegionLocationMinY0", 0)
        c1, r1 = item.get("RegionLocationMaxX1", 0), item.get("RegionLocationMaxY1", 0)
        if rng.random() < 0.5:
            c0, c1 = c1, c0
        else:
            r0, r1 = r1, r0
        for tag, value in zip(_BOUND_TAGS, (c0, r0, c1, r1)):
            _raw(item, tag, "UL", _encode("UL", value))
    elif op == "format":
        tag = rng.choice([0x00186012, 0x00186014])  # RegionSpatialFormat, RegionDataType
        _raw(item, tag, "US", _encode("US", rng.choice([0, 1, 2, 3, 4, 65535])))
    else:
        choices = [0, 1, -1, -(2**31), 2**31 - 1, 2**32 - 1, n_cols - 1, n_rows - 1, n_cols,
                   n_rows, n_cols + 1000, 65535, 30, 62]
        for tag in rng.sample(_BOUND_TAGS, rng.randint(1, 4)):
            _raw(item, tag, "UL", _encode("UL", rng.choice(choices)))
    return _serialize(ds)


def _is_encapsulated(ds) -> bool:
    return bool(ds.file_meta.TransferSyntaxUID.is_compressed)


def mutate_pixel_length(seed: Seed, rng: random.Random) -> bytes:
    """Pixel data shorter or longer than declared (native), or cut / padded (encapsulated)."""
    ds = _parse(seed.data)
    value = ds.PixelData
    op = rng.choice(["shorter", "shorter", "longer", "odd", "empty"])
    if op == "shorter":
        cut = rng.choice([1, 2, rng.randrange(1, len(value)), len(value) // 2])
        value = value[: len(value) - cut]
    elif op == "longer":
        value = value + bytes(rng.choice([2, 64, 65536, len(value)]))
    elif op == "odd":
        value = value + b"\x00"
    else:
        value = b""
    vr = ds["PixelData"].VR
    if _is_encapsulated(ds) and op != "empty":
        # Keep the (possibly cut) bytes as they are, undefined length: the parser finds the end.
        ds.PixelData = value
        ds["PixelData"].is_undefined_length = True
    else:
        _raw(ds, 0x7FE00010, vr if vr in ("OB", "OW") else "OB", value)
    return _serialize(ds)


def mutate_fragments(seed: Seed, rng: random.Random) -> bytes:
    """Encapsulated pixel data: fragments cut short, dropped, empty; offset tables that lie."""
    from pydicom.encaps import generate_fragments

    ds = _parse(seed.data)
    if not _is_encapsulated(ds):
        return mutate_pixel_length(seed, rng)
    value = ds.PixelData
    bot_len = struct.unpack("<I", value[4:8])[0]
    fragments = list(generate_fragments(value))[1:] if bot_len else list(generate_fragments(value))
    if bot_len:
        fragments = list(generate_fragments(value[8 + bot_len :]))
    op = rng.choice(["cut", "drop", "empty", "corrupt", "bot", "bot", "extra", "length_lie",
                     "eot", "dimensions", "dimensions"])
    i = rng.randrange(len(fragments))
    bot: list[int] | None = None
    if op == "cut":
        fragments[i] = fragments[i][: rng.randrange(max(1, len(fragments[i])))]
    elif op == "drop":
        del fragments[i]
    elif op == "empty":
        fragments[i] = b""
    elif op == "corrupt":
        frag = bytearray(fragments[i] or b"\0")
        for _ in range(rng.randint(1, 8)):
            frag[rng.randrange(len(frag))] = rng.randrange(256)
        fragments[i] = bytes(frag)
    elif op == "dimensions":
        fragments[i] = _huge_dimensions(fragments[i], rng)
    elif op == "extra":
        fragments.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
    elif op == "bot":
        n = rng.choice([1, len(fragments), len(fragments) + 5, 1000])
        bot = [rng.choice([0, 1, 7, 2**31, 2**32 - 1, rng.randrange(len(value) + 1)])
               for _ in range(n)]
    elif op == "eot":
        n = len(fragments) + rng.choice([-1, 0, 3])
        offsets = [rng.choice([0, 2**63, rng.randrange(len(value) + 1)]) for _ in range(max(0, n))]
        _raw(ds, 0x7FE00001, "OV", struct.pack(f"<{len(offsets)}Q", *offsets))
        _raw(ds, 0x7FE00002, "OV", struct.pack(f"<{len(offsets)}Q", *offsets))
    body = b"".join(
        struct.pack("<HHI", 0xFFFE, 0xE000, len(f) + (len(f) % 2)) + f + b"\x00" * (len(f) % 2)
        for f in fragments
    )
    if op == "length_lie":
        j = rng.randrange(len(fragments))
        start = sum(8 + len(f) + len(f) % 2 for f in fragments[:j])
        lie = struct.pack("<I", rng.choice([0xFFFFFFF0, 0x7FFFFFFF, len(body) * 2, 3]))
        body = body[: start + 4] + lie + body[start + 8 :]
    bot_bytes = b"" if bot is None else struct.pack(f"<{len(bot)}I", *bot)
    ds.PixelData = struct.pack("<HHI", 0xFFFE, 0xE000, len(bot_bytes)) + bot_bytes + body
    ds["PixelData"].is_undefined_length = True
    return _serialize(ds)


def _huge_dimensions(fragment: bytes, rng: random.Random) -> bytes:
    """A codestream whose own header (JPEG / JPEG-LS SOF, JPEG 2000 SIZ) claims a huge image."""
    data = bytearray(fragment)
    for marker in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc3", b"\xff\xf7"):
        at = data.find(marker)
        if 0 <= at and at + 9 <= len(data):
            sides = [rng.choice([65535, 40000, 0, 1]) for _ in range(2)]
            data[at + 5 : at + 9] = struct.pack(">HH", *sides)
            return bytes(data)
    at = data.find(b"\xff\x51")
    if 0 <= at and at + 14 <= len(data):
        sides = [rng.choice([2**31 - 1, 60000, 0, 1]) for _ in range(2)]
        data[at + 6 : at + 14] = struct.pack(">II", *sides)
    return bytes(data)


_PHOTOMETRICS = ["MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL", "YBR_FULL_422",
                 "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420", "YBR_PARTIAL_422", "HSV", "ARGB", "CMYK",
                 "", "MONOCHROME3", "RGB\\RGB"]


def mutate_photometric(seed: Seed, rng: random.Random) -> bytes:
    """Photometric lies; palettes, windows and rescales that make no sense."""
    ds = _parse(seed.data)
    op = rng.choice(["photometric", "photometric", "palette", "window", "rescale", "samples"])
    if op == "photometric":
        _raw(ds, 0x00280004, "CS", _text(rng.choice(_PHOTOMETRICS)))
    elif op == "samples":
        _raw(ds, 0x00280004, "CS", _text(rng.choice(_PHOTOMETRICS[:6])))
        _raw(ds, 0x00280002, "US", _encode("US", rng.choice([1, 3])))
    elif op == "palette":
        _raw(ds, 0x00280004, "CS", b"PALETTE COLOR ")
        for colour in (0x1101, 0x1102, 0x1103):
            if rng.random() < 0.7:
                desc = [rng.choice([0, 1, 256, 4096, 65535]), rng.choice([0, 5, 65535]),
                        rng.choice([8, 16, 3, 0, 32])]
                _raw(ds, 0x00280000 | colour, "US", struct.pack("<3H", *desc))
            data_tag = 0x00280000 | (colour + 0x100)
            if rng.random() < 0.7:
                size = rng.choice([0, 2, 255, 512, 131072])
                _raw(ds, data_tag, "OW", bytes(rng.randrange(256) for _ in range(min(size, 512)))
                     + bytes(max(0, size - 512)))
            elif data_tag in ds and rng.random() < 0.5:
                del ds[data_tag]
    elif op == "window":
        values = ["nan", "inf", "-inf", "0", "-1", "1e308", "abc", "", "100\\200", "-1e308"]
        _raw(ds, 0x00281050, "DS", _text(rng.choice(values)))
        _raw(ds, 0x00281051, "DS", _text(rng.choice(values)))
        _raw(ds, 0x00280101, "US", _encode("US", rng.choice([8, 12, 16])))
    else:
        values = ["nan", "inf", "0", "-1", "1e308", "-1e308", "1e-308", "abc", ""]
        _raw(ds, 0x00281053, "DS", _text(rng.choice(values)))
        _raw(ds, 0x00281052, "DS", _text(rng.choice(values)))
    return _serialize(ds)


_SYNTAXES = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
             "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
             "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
             "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
             "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.102", "1.2.3.4", "", "abc"]


def mutate_transfer_syntax(seed: Seed, rng: random.Random) -> bytes:
    """The file meta names another transfer syntax than the data set's encoding."""
    ds = _parse(seed.data)
    _raw(ds.file_meta, 0x00020010, "UI", _text(rng.choice(_SYNTAXES)).ljust(2, b"\x00"))
    # The meta group length must follow the new value, or the meta itself is what breaks.
    del ds.file_meta.FileMetaInformationGroupLength
    buf = io.BytesIO()
    from pydicom.config import disable_value_validation
    from pydicom.filewriter import write_file_meta_info

    with disable_value_validation():
        write_file_meta_info(buf, ds.file_meta, enforce_standard=True)
    start = _dataset_start(seed.data)
    return seed.data[:128] + b"DICM" + buf.getvalue() + seed.data[start:]


def mutate_deflate(seed: Seed, rng: random.Random) -> bytes:
    """Deflated Explicit VR Little Endian: sound, garbled, cut, or a bomb inflating past 2 GiB."""
    ds = _parse(seed.data)
    body = seed.data[_dataset_start(seed.data) :]
    op = rng.choice(["sound", "sound", "sound", "garbled", "garbled", "cut", "cut", "bomb"])
    if op == "bomb":
        stream = _bomb_stream(body)
    else:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        stream = packer.compress(body) + packer.flush()
        if op == "garbled":
            data = bytearray(stream)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            stream = bytes(data)
        elif op == "cut":
            stream = stream[: rng.randrange(len(stream))]
    meta = ds.file_meta
    _raw(meta, 0x00020010, "UI", b"1.2.840.10008.1.2.1.99\x00")
    del meta.FileMetaInformationGroupLength
    from pydicom.filewriter import write_file_meta_info

    buf = io.BytesIO()
    write_file_meta_info(buf, meta, enforce_standard=True)
    return seed.data[:128] + b"DICM" + buf.getvalue() + stream


_BOMB: list[tuple[bytes, "zlib._Compress"]] = []


def _bomb_stream(body: bytes) -> bytes:
    """A raw deflate stream: a private OB element of :data:`BOMB_BYTES` zeros, then the data set.

    The zeros deflate about 1000:1; their part of the stream is built once per process.
    """
    if not _BOMB:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = struct.pack("<HH", 0x0009, 0x0010) + b"LO" + struct.pack("<H", 4) + b"FUZZ"
        head += struct.pack("<HH", 0x0009, 0x1001) + b"OB\x00\x00" + struct.pack("<I", BOMB_BYTES)
        parts = [packer.compress(head)]
        zeros = bytes(2**24)
        parts += [packer.compress(zeros) for _ in range(BOMB_BYTES // len(zeros))]
        _BOMB.append((b"".join(parts), packer))
    prefix, packer = _BOMB[0]
    rest = packer.copy()
    return prefix + rest.compress(body) + rest.flush()


MUTATORS: dict[str, Callable[[Seed, random.Random], bytes]] = {
    "truncate": mutate_truncate,
    "bit_flip": mutate_bit_flip,
    "byte_flip": mutate_byte_flip,
    "chunk": mutate_chunk,
    "wrong_vr": mutate_wrong_vr,
    "geometry": mutate_geometry,
    "sequence": mutate_sequence,
    "calibration": mutate_calibration,
    "region_bounds": mutate_region_bounds,
    "pixel_length": mutate_pixel_length,
    "fragments": mutate_fragments,
    "photometric": mutate_photometric,
    "transfer_syntax": mutate_transfer_syntax,
    "deflate": mutate_deflate,
}


def _pixel_start(data: bytes) -> int:
    """Offset of the (last) Pixel Data element header, or the file length."""
    at = data.rfind(b"\xe0\x7f\x10\x00")
    return at if at > 0 else len(data)


@dataclass(frozen=True)
class Case:
    """One fuzz case: which seed, which mutation, the bytes."""

    index: int
    kind: str
    seed: str
    data: bytes


def make_case(index: int, master_seed: int, seeds: list[Seed]) -> Case:
    """Case ``index`` of a run: the kind cycles through :data:`KINDS`, the rest is seeded."""
    kind = KINDS[index % len(KINDS)]
    rng = random.Random(f"{master_seed}:{index}")
    pool = seeds
    if kind == "fragments":
        pool = [s for s in seeds if _compressed(s)] or seeds
    if kind == "deflate":
        pool = [s for s in seeds if not _compressed(s)] or seeds
    seed = rng.choice(pool)
    try:
        data = MUTATORS[kind](seed, rng)
    except Exception:  # noqa: BLE001 - a mutation that cannot apply falls back to a cut file
        data = mutate_truncate(seed, rng)
    return Case(index, kind, seed.name, data)


_COMPRESSED: dict[str, bool] = {}


def _compressed(seed: Seed) -> bool:
    if seed.name not in _COMPRESSED:
        _COMPRESSED[seed.name] = bool(_parse(seed.data).file_meta.TransferSyntaxUID.is_compressed)
    return _COMPRESSED[seed.name]
