"""Files cut short (``head -c N``) are said truncated, where the file ends: not "cannot read",
not "not an image"."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from follicle_seg.errors import RejectedInput
from follicle_seg.io.dicom import read_record

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "mono_left.dcm"


def reason_of(data: bytes, path: Path) -> str:
    path.write_bytes(data)
    with pytest.raises(RejectedInput) as info:
        read_record(path)
    return info.value.reason


def test_the_audits_cut_points_are_said_truncated(tmp_path: Path) -> None:
    """685 bytes (inside the sequence of ultrasound regions) was "cannot read (No tag to read at
    file position 2AD)", 300 (inside the file meta) "no pixel data (7FE0,0010): not an image", 636
    (after a whole element) "... not an image (US Image Storage)"."""
    whole = SAMPLE.read_bytes()
    path = tmp_path / "cut.dcm"
    assert reason_of(whole[:685], path) == (
        "truncated: the file ends inside its header at byte 685, inside element (0018,6011) "
        "SequenceOfUltrasoundRegions, before the pixel data"
    )
    assert reason_of(whole[:300], path) == (
        "truncated: the file ends inside its header at byte 300, in its file meta information "
        "(group 0002, which runs to byte 352)"
    )
    assert reason_of(whole[:636], path) == (
        "no pixel data (7FE0,0010) in an image file (US Image Storage): cut short at byte 636?"
    )
    assert reason_of(whole[:132], path).startswith(  # nothing after the DICM marker
        "truncated: the file ends inside its header at byte 132, in its file meta information"
    )


def test_a_real_io_error_is_still_cannot_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from follicle_seg.io import header

    def gone(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(header.pydicom, "dcmread", gone)
    path = tmp_path / "a.dcm"
    path.write_bytes(SAMPLE.read_bytes())
    assert reason_of(SAMPLE.read_bytes(), path) == "cannot read (Input/output error)"


def _encoded(syntax: str, undefined: bool = False) -> bytes:
    """The sample in another transfer syntax; its sequences and items of undefined length."""
    ds = pydicom.dcmread(SAMPLE)
    ds.file_meta.TransferSyntaxUID = syntax
    for element in ds.iterall():
        if element.VR == "SQ" and undefined:
            element.value.is_undefined_length = True  # (the sequence's delimiter written)
            for item in element.value:
                item.is_undefined_length_sequence_item = True
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize("encoding", ["explicit", "no preamble", "implicit, undefined lengths"])
def test_every_cut_point_of_the_header_gets_a_truncated_reason(tmp_path: Path, encoding: str) -> None:
    """Cut at each byte from the end of the preamble to well inside the pixel data: each reason says
    the file is truncated or cut short (the audit found "cannot read", "not an image", "no transfer
    syntax" and pydicom's struct errors among them)."""
    whole = SAMPLE.read_bytes()
    if encoding == "no preamble":
        whole = whole[132:]
    elif encoding.startswith("implicit"):
        whole = _encoded(ImplicitVRLittleEndian, undefined=True)
    start = 6 if encoding == "no preamble" else 132  # (fewer bytes than a tag: not a DICOM file)
    wrong = {}
    for size in range(start, 1200):
        reason = reason_of(whole[:size], tmp_path / "cut.dcm")
        if not (reason.startswith("truncated: the file ends inside") or reason.endswith(f"cut short at byte {size}?")):
            wrong[size] = reason
    assert not wrong


def test_a_deflated_file_cut_short_is_said_truncated(tmp_path: Path) -> None:
    """Was "truncated or corrupt DICOM header (Error -5 while decompressing data: incomplete or
    truncated stream)"."""
    whole = _encoded(DeflatedExplicitVRLittleEndian)
    assert reason_of(whole[:5000], tmp_path / "cut.dcm") == (
        "truncated: the file ends inside its deflated data set, at byte 5000"
    )
