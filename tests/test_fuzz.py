"""Broken files never crash, hang or bloat ingestion: a fuzz sample and the findings it fixed.

The sample runs ``scripts/fuzz_ingest.py``'s mutator and worker (one process, time and memory
limits) over a fixed set of cases; every case must end ``ok`` or rejected with a one-line
reason naming the file. The explicit tests pin each class of finding.
"""

from __future__ import annotations

import io
import math
import signal
import struct
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from follicle_seg.errors import RejectedInput
from follicle_seg.io import dicom, header, iter_frames, read_record
from follicle_seg.io.write import write_us_dicom

from script_module import SCRIPTS, load_script  # tests/ is on sys.path

ROWS, COLS = 72, 96
REGION = dict(min_col=0, min_row=0, max_col=COLS - 1, max_row=ROWS - 1, delta_x_mm=0.2,
              delta_y_mm=0.2)


@pytest.fixture(scope="module")
def fuzz() -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(SCRIPTS))  # it imports fuzz_cases, as when run from scripts/
        yield load_script("fuzz_ingest")


def frames(n: int = 1) -> np.ndarray:
    rows, cols = np.mgrid[0:ROWS, 0:COLS]
    return np.stack([np.clip(30 + cols + rows + 7 * k, 0, 220) for k in range(n)]).astype(np.uint8)


def write(path: Path, n: int = 1, **kwargs: object) -> Path:
    kwargs.setdefault("regions", [REGION])
    write_us_dicom(path, frames(n), patient_id="P", study_uid="1.2.3", study_date="2024-01-31",
                   series_uid="1.2.3.4", **kwargs)  # type: ignore[arg-type]
    return path


def edit(path: Path, change: object, out: Path | None = None) -> Path:
    """Apply ``change(ds)`` and save (values written as given, not validated)."""
    ds = pydicom.dcmread(path)
    change(ds)  # type: ignore[operator]
    out = out or path
    with pydicom.config.disable_value_validation():
        ds.save_as(out, enforce_file_format=False)
    return out


def raw(ds: pydicom.Dataset, tag: int, vr: str, value: bytes) -> None:
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


def rejected(path: Path, *words: str) -> str:
    with pytest.raises(RejectedInput) as info:
        record = read_record(path)
        list(iter_frames(record))
    reason = info.value.reason
    assert info.value.path == str(path) and "\n" not in reason
    for word in words:
        assert word in reason, reason
    return reason


# ------------------------------------------------------------------------- the fuzz sample


def test_fuzz_sample_ends_ok_or_rejected(fuzz: ModuleType, tmp_path: Path) -> None:
    """280 seeded cases, 20 of each kind but the deflate bomb (its 2 GiB stream: see below)."""
    kinds = [k for k in fuzz.KINDS if k != "deflate"]
    indices = [i for i in range(20 * len(fuzz.KINDS)) if fuzz.KINDS[i % len(fuzz.KINDS)] in kinds]
    results = list(fuzz.run_cases(indices, 7, tmp_path, timeout=30, findings=tmp_path / "f"))
    assert len(results) == 20 * len(kinds)
    findings = [f"{r.index} {r.kind} {r.outcome}: {r.detail}" for r in results
                if r.outcome not in ("ok", "rejected")]
    assert not findings, "\n".join(findings)
    outcomes = Counter(r.outcome for r in results)
    assert outcomes["ok"] > 20 and outcomes["rejected"] > 100  # the mutations bite, not all
    assert fuzz.summary(results, 1.0).splitlines()[-1].startswith(f"{len(results)} cases")


def test_cases_are_deterministic(fuzz: ModuleType, tmp_path: Path) -> None:
    seeds = fuzz.build_seeds(tmp_path)
    assert {s.name for s in seeds} >= {"mono_left", "w_rle_mono_3f", "w_jpeg_mono_2f",
                                       "w_jpegls_3f", "w_j2k_palette", "w_j2k_lossy_rgb_2f"}
    for index in (3, 5, 10, 11):
        first, again = fuzz.make_case(index, 1, seeds), fuzz.make_case(index, 1, seeds)
        assert first.data == again.data and first.kind == fuzz.KINDS[index % len(fuzz.KINDS)]
    assert fuzz.make_case(3, 1, seeds).data != fuzz.make_case(3, 2, seeds).data


def test_a_hang_and_a_crash_are_findings_and_the_worker_restarts(
    fuzz: ModuleType, tmp_path: Path
) -> None:
    """The harness itself: a case that never answers or kills the worker is reported."""
    runner = fuzz.Runner(1, tmp_path, timeout=2)
    try:
        assert runner.run(0)["outcome"] in ("ok", "rejected")
        assert runner.proc is not None
        runner.proc.send_signal(signal.SIGSTOP)  # the worker hangs
        assert runner.run(1)["outcome"] == "timeout" and runner.proc is None
        assert runner.run(2)["outcome"] in ("ok", "rejected")
        runner.proc.kill()  # type: ignore[union-attr]
        assert runner.run(3)["outcome"] == "crash" and runner.restarts == 2
    finally:
        runner.stop()


def test_the_worker_reports_its_own_memory_not_its_parents(fuzz: ModuleType, tmp_path: Path) -> None:
    """A parent holding 1.2 GB (a long pytest run) does not make every case a memory finding."""
    ballast = np.ones(1200 * 2**20 // 8)  # touched pages: resident in this process
    runner = fuzz.Runner(1, tmp_path, timeout=30)
    try:
        answer = runner.run(0)
    finally:
        runner.stop()
        del ballast
    assert answer["outcome"] in ("ok", "rejected"), answer["detail"]
    assert 0 < answer["rss_mb"] < 600


# ------------------------------------------------------------------------- sizes


def test_65535_by_65535_by_10000_rejected_before_allocation(tmp_path: Path) -> None:
    def huge(ds: pydicom.Dataset) -> None:
        ds.Rows = ds.Columns = 65535
        ds.NumberOfFrames = 10000

    path = edit(write(tmp_path / "a.dcm"), huge)
    tracemalloc.start()
    try:
        reason = rejected(path, "implausible")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20 and "65535" in reason


@pytest.mark.parametrize("where", ["file meta", "sequence item"])
def test_huge_length_field_never_allocated(tmp_path: Path, where: str) -> None:
    """A 4 GB length field where values are not deferred (file meta, sequence items)."""
    data = write(tmp_path / "a.dcm").read_bytes()
    huge = b"OB\0\0" + struct.pack("<I", 0xFFFFF000)
    if where == "file meta":
        start, blob = 144, struct.pack("<HH", 0x0002, 0x0102) + huge
    else:
        start = 144 + struct.unpack("<I", data[140:144])[0]
        blob = struct.pack("<HH", 0x0008, 0x1115) + b"SQ\0\0" + b"\xff" * 4
        blob += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
        blob += struct.pack("<HH", 0x0009, 0x1001) + huge
    path = tmp_path / "b.dcm"
    path.write_bytes(data[:start] + blob + data[start:])
    tracemalloc.start()
    try:
        rejected(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_one_frame_of_2_gib_rejected(tmp_path: Path) -> None:
    """Under the 2 GiB file limit, but one frame would be 2 GiB (grey conversion: several more)."""
    def huge(ds: pydicom.Dataset) -> None:
        ds.Rows, ds.Columns = 65535, 32768

    rejected(edit(write(tmp_path / "a.dcm"), huge), "one 65535 x 32768 frame", "limit 256 MiB")


@pytest.mark.parametrize("stored", [0, 17, 65535])
def test_bits_stored_outside_bits_allocated_rejected(tmp_path: Path, stored: int) -> None:
    path = edit(write(tmp_path / "a.dcm"), lambda ds: setattr(ds, "BitsStored", stored))
    rejected(path, f"{stored} bits stored")


def test_deflate_bomb_rejected_before_inflating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deflated data set is inflated in bounded chunks; past the limit it is rejected."""
    source = write(tmp_path / "a.dcm")
    data = source.read_bytes()
    start = 144 + struct.unpack("<I", data[140:144])[0]
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    blob = struct.pack("<HH", 0x0009, 0x1001) + b"OB\0\0" + struct.pack("<I", 64 * 2**20)
    stream = packer.compress(blob) + packer.compress(bytes(64 * 2**20))
    stream += packer.compress(data[start:]) + packer.flush()
    ds = pydicom.dcmread(source)
    meta = ds.file_meta
    meta.TransferSyntaxUID = "1.2.840.10008.1.2.1.99"
    del meta.FileMetaInformationGroupLength
    buf = io.BytesIO()
    pydicom.filewriter.write_file_meta_info(buf, meta, enforce_standard=True)
    bomb = tmp_path / "bomb.dcm"
    bomb.write_bytes(data[:128] + b"DICM" + buf.getvalue() + stream)
    monkeypatch.setattr(header, "MAX_INFLATED_BYTES", 16 * 2**20)
    tracemalloc.start()
    try:
        rejected(bomb, "inflates to more than")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 * 2**20


def test_deflated_file_is_read(tmp_path: Path) -> None:
    """A sound Deflated Explicit VR Little Endian file gives the frames of the original."""
    source = write(tmp_path / "a.dcm", n=2)
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1.99"
    deflated = tmp_path / "deflated.dcm"
    ds.save_as(deflated, enforce_file_format=True)
    got = [f.pixels for f in iter_frames(read_record(deflated))]
    want = [f.pixels for f in iter_frames(read_record(source))]
    assert len(got) == 2 and all(np.array_equal(g, w) for g, w in zip(got, want))


# ------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("delta", [math.nan, math.inf, 1e308])
def test_nan_or_huge_region_delta_rejected(tmp_path: Path, delta: float) -> None:
    def bad(ds: pydicom.Dataset) -> None:
        ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = delta

    rejected(edit(write(tmp_path / "a.dcm"), bad), "absurd calibration", "between columns")


def test_a_negative_region_delta_is_an_axis_counted_the_other_way(tmp_path: Path) -> None:
    def flipped(ds: pydicom.Dataset) -> None:  # PS3.3 C.8.5.5.1.1: per positive pixel increment
        ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaY = -abs(ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaY)

    path = write(tmp_path / "a.dcm")
    assert read_record(edit(path, flipped)).calibration == read_record(write(tmp_path / "b.dcm")).calibration


@pytest.mark.parametrize("spacing", [b"-0.2\\0.2", b"nan\\nan", b"0.2\\inf "])
def test_nan_or_negative_pixel_spacing_rejected(tmp_path: Path, spacing: bytes) -> None:
    path = edit(write(tmp_path / "a.dcm", regions=[]),
                lambda ds: raw(ds, 0x00280030, "DS", spacing))
    rejected(path, "absurd calibration", "PixelSpacing")


def test_zero_spacing_means_uncalibrated_not_rejected(tmp_path: Path) -> None:
    def zero(ds: pydicom.Dataset) -> None:
        ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = 0.0

    assert not read_record(edit(write(tmp_path / "a.dcm"), zero)).calibration.calibrated


def test_region_outside_or_inverted_is_ignored(tmp_path: Path) -> None:
    def outside(ds: pydicom.Dataset) -> None:
        item = ds.SequenceOfUltrasoundRegions[0]
        item.RegionLocationMaxX1, item.RegionLocationMaxY1 = 4_000_000_000, 70_000

    record = read_record(edit(write(tmp_path / "a.dcm"), outside))
    assert record.region_source == "auto" and not record.calibration.calibrated
    assert "reaches 69929 rows and 3999999905 columns past the 96x72 frame: no region of the file used" in record.note

    def inverted(ds: pydicom.Dataset) -> None:
        item = ds.SequenceOfUltrasoundRegions[0]
        item.RegionLocationMinX0, item.RegionLocationMaxX1 = COLS - 1, 0

    record = read_record(edit(write(tmp_path / "b.dcm"), inverted))
    assert record.region_source == "auto" and not record.calibration.calibrated


# ------------------------------------------------------------------------- pixel data


def test_native_pixel_data_shorter_than_declared_rejected(tmp_path: Path) -> None:
    path = edit(write(tmp_path / "a.dcm", n=3),
                lambda ds: setattr(ds, "PixelData", ds.PixelData[: ROWS * COLS * 2 + 10]))
    rejected(path, "truncated", "pixel data holds")


def test_pixel_data_longer_than_declared_is_read(tmp_path: Path) -> None:
    path = edit(write(tmp_path / "a.dcm"),
                lambda ds: setattr(ds, "PixelData", ds.PixelData + bytes(4096)))
    assert len(list(iter_frames(read_record(path)))) == 1


def fragments_of(path: Path) -> list[bytes]:
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(path)
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))


def with_fragments(path: Path, encapsulated: bytes, out: Path) -> Path:
    def change(ds: pydicom.Dataset) -> None:
        ds.PixelData = encapsulated
        ds["PixelData"].is_undefined_length = True

    return edit(path, change, out)


def test_fragment_cut_short_rejected(tmp_path: Path) -> None:
    source = write(tmp_path / "a.dcm", n=3, transfer_syntax=RLELossless)
    parts = fragments_of(source)
    cut = with_fragments(source, encapsulate([parts[0], parts[1], parts[2][:40]]),
                         tmp_path / "cut.dcm")
    rejected(cut, "frame 2 cannot be decoded")
    data = source.read_bytes()
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(data[: len(data) - 30])
    rejected(truncated, "truncated")


def test_fragment_length_past_the_end_rejected_without_reading_it(tmp_path: Path) -> None:
    source = write(tmp_path / "a.dcm", n=2, transfer_syntax=JPEGBaseline8Bit)
    parts = fragments_of(source)
    body = b"".join(struct.pack("<HHI", 0xFFFE, 0xE000, len(p) + len(p) % 2) + p + bytes(len(p) % 2)
                    for p in parts)
    at = 8 + len(parts[0]) + len(parts[0]) % 2
    body = body[: at + 4] + struct.pack("<I", 0xFFFFFFF0) + body[at + 8 :]
    lie = with_fragments(source, struct.pack("<HHI", 0xFFFE, 0xE000, 0) + body, tmp_path / "b.dcm")
    rejected(lie, "runs past the end")


@pytest.mark.parametrize(
    ("syntax", "marker", "at", "fmt"),
    [
        (JPEGLSLossless, b"\xff\xf7", 5, ">HH"),  # SOF55 lines, samples per line
        (JPEGBaseline8Bit, b"\xff\xc0", 5, ">HH"),
        (JPEG2000Lossless, b"\xff\x51", 6, ">II"),  # SIZ Xsiz, Ysiz
    ],
)
def test_codestream_larger_than_the_header_rejected_before_decoding(
    tmp_path: Path, syntax: str, marker: bytes, at: int, fmt: str
) -> None:
    """A decoder allocates what the codestream says (CharLS took 1.7 GB): checked first."""
    source = write(tmp_path / "a.dcm", n=2, transfer_syntax=syntax)
    parts = fragments_of(source)
    first = bytearray(parts[0])
    where = first.find(marker) + at
    first[where : where + struct.calcsize(fmt)] = struct.pack(fmt, 40000, 40000)
    lie = with_fragments(source, encapsulate([bytes(first), parts[1]]), tmp_path / "b.dcm")
    tracemalloc.start()
    try:
        rejected(lie, "codestream is 40000x40000 pixels", f"header says {COLS}x{ROWS}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


@pytest.mark.parametrize("offsets", [[0], [0, 7], [5, 0], [0, 2**32 - 1]])
def test_basic_offset_table_that_lies_rejected(tmp_path: Path, offsets: list[int]) -> None:
    source = write(tmp_path / "a.dcm", n=2, transfer_syntax=RLELossless)
    parts = fragments_of(source)
    table = struct.pack(f"<{len(offsets)}I", *offsets)
    body = encapsulate(parts, has_bot=False)[8:]
    lie = with_fragments(source, struct.pack("<HHI", 0xFFFE, 0xE000, len(table)) + table + body,
                         tmp_path / "b.dcm")
    rejected(lie, "basic offset table")


# ------------------------------------------------------------------------- header values


def test_unknown_vr_rejected_by_read_record(tmp_path: Path) -> None:
    path = edit(write(tmp_path / "a.dcm"), lambda ds: raw(ds, 0x0008103E, "WI", b"LEFT"))
    rejected(path, "corrupt DICOM header")


def test_broken_palette_rejected_by_read_record_not_while_decoding(tmp_path: Path) -> None:
    def broken(ds: pydicom.Dataset) -> None:
        raw(ds, 0x00281201, "OW", bytes(6))  # red: 3 entries, descriptor says 256

    path = edit(write(tmp_path / "a.dcm", photometric="PALETTE COLOR"), broken)
    with pytest.raises(RejectedInput, match="unusable grey-level tags"):
        read_record(path)


@pytest.mark.parametrize("slope", [b"nan ", b"1e308 "])
def test_rescale_that_overflows_rejected(tmp_path: Path, slope: bytes) -> None:
    source = write(tmp_path / "a.dcm", transfer_syntax=ExplicitVRLittleEndian)
    path = edit(source, lambda ds: raw(ds, 0x00281053, "DS", slope))
    rejected(path, "unusable grey-level tags")


def test_jpeg_is_never_handed_to_gdcm() -> None:
    """GDCM aborts the process on some corrupt JPEG streams (a finding of the fuzzer)."""
    assert dicom._decoding_plugin("1.2.840.10008.1.2.4.50") == "pillow"
    assert dicom._decoding_plugin("1.2.840.10008.1.2.4.80") == "pyjpegls"
    assert dicom._decoding_plugin("1.2.840.10008.1.2.4.90") == "pylibjpeg"


def test_header_with_too_many_elements_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of sequence items cost seconds per parse: the header size is bounded."""
    def many(ds: pydicom.Dataset) -> None:
        item = ds.SequenceOfUltrasoundRegions[0]
        ds.SequenceOfUltrasoundRegions = pydicom.Sequence([item] * 40)

    path = edit(write(tmp_path / "a.dcm"), many)
    assert read_record(path).calibration.calibrated
    monkeypatch.setattr(header, "MAX_HEADER_ELEMENTS", 200)
    rejected(path, "implausible header: more than 200 elements")
