"""The DICOM writer: tags, regions in cm, pixels decoded back by pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from follicle_seg.io.write import (
    US_IMAGE_STORAGE,
    US_MULTIFRAME_IMAGE_STORAGE,
    write_us_dicom,
)

COMMON = dict(
    patient_id="P7", study_uid="1.2.826.0.1.1", study_date="2024-03-05", series_uid="1.2.826.0.1.2"
)


def _grey(n: int = 3, h: int = 40, w: int = 64) -> np.ndarray:
    rows, cols = np.mgrid[0:h, 0:w]
    return np.stack([(cols * 3 + rows + 20 * k).astype(np.uint8) for k in range(n)])


def test_multiframe_tags_and_region(tmp_path: Path) -> None:
    path = tmp_path / "cine.dcm"
    uid = write_us_dicom(
        path,
        _grey(),
        **COMMON,
        series_description="Left ovary",
        laterality="L",
        regions=[
            dict(min_col=2, min_row=3, max_col=60, max_row=38, delta_x_mm=0.1, delta_y_mm=0.15)
        ],
        frame_time_ms=40.0,
        frame_spacing_mm=0.5,
        image_comments="sweep",
    )
    ds = pydicom.dcmread(path)
    assert ds.SOPInstanceUID == uid
    assert ds.SOPClassUID == US_MULTIFRAME_IMAGE_STORAGE
    assert ds.Modality == "US" and ds.NumberOfFrames == 3 and float(ds.FrameTime) == 40.0
    assert ds.StudyDate == "20240305" and ds.ImageLaterality == "L"
    assert float(ds.SpacingBetweenSlices) == 0.5 and ds.ImageComments == "sweep"
    assert str(ds.PatientName) == ""
    item = ds.SequenceOfUltrasoundRegions[0]
    assert (item.RegionLocationMinX0, item.RegionLocationMinY0) == (2, 3)
    assert (item.RegionLocationMaxX1, item.RegionLocationMaxY1) == (60, 38)
    assert item.PhysicalUnitsXDirection == 3
    assert item.PhysicalDeltaX == pytest.approx(0.01) and item.PhysicalDeltaY == pytest.approx(
        0.015
    )


def test_single_frame_class_and_no_laterality(tmp_path: Path) -> None:
    path = tmp_path / "one.dcm"
    write_us_dicom(path, _grey(1), **COMMON)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == US_IMAGE_STORAGE
    assert "ImageLaterality" not in ds and "NumberOfFrames" not in ds


def test_instance_number_and_acquisition_time_are_read_back(tmp_path: Path) -> None:
    from datetime import datetime

    from follicle_seg.io.dicom import read_record

    first, second, untimed = (tmp_path / f"{n}.dcm" for n in ("a", "b", "c"))
    write_us_dicom(first, _grey(1, 96, 96), instance_number=3, acquired="20260105235959.960000", **COMMON)
    write_us_dicom(second, _grey(1, 96, 96), instance_number=4, acquired="20260106000000.000000", **COMMON)
    write_us_dicom(untimed, _grey(1, 96, 96), **COMMON)
    a, b, c = (read_record(p) for p in (first, second, untimed))
    assert (a.instance_number, b.instance_number, c.instance_number) == (3, 4, 1)
    assert b.acquired_s - a.acquired_s == pytest.approx(0.04)  # across midnight
    assert c.acquired_s == (datetime(2024, 3, 5, 12) - datetime(1970, 1, 1)).total_seconds()  # ContentTime


@pytest.mark.parametrize(
    ("photometric", "syntax"),
    [
        ("MONOCHROME2", ExplicitVRLittleEndian),
        ("MONOCHROME2", RLELossless),
        ("MONOCHROME2", JPEGLSLossless),
        ("MONOCHROME2", JPEG2000Lossless),
        ("MONOCHROME1", ExplicitVRLittleEndian),
        ("PALETTE COLOR", RLELossless),
    ],
)
def test_lossless_grey_round_trip(tmp_path: Path, photometric: str, syntax: str) -> None:
    path = tmp_path / "g.dcm"
    frames = _grey()
    write_us_dicom(path, frames, **COMMON, photometric=photometric, transfer_syntax=syntax)
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == syntax
    for i in range(3):
        arr = pixel_array(path, index=i)
        if photometric == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)[..., 0] // 257  # 16-bit entries
        if photometric == "MONOCHROME1":
            arr = 255 - arr
        np.testing.assert_array_equal(arr, frames[i])


def test_jpeg_baseline_colour_is_ybr_422(tmp_path: Path) -> None:
    path = tmp_path / "j.dcm"
    grey = _grey(2)
    rgb = np.stack([grey, grey // 2 + 60, 200 - grey // 2], axis=-1)
    write_us_dicom(
        path, rgb, **COMMON, photometric="YBR_FULL_422", transfer_syntax=JPEGBaseline8Bit
    )
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "YBR_FULL_422" and ds.LossyImageCompression == "01"
    decoded = pixel_array(path, index=1)
    assert np.abs(decoded.astype(int) - rgb[1]).mean() < 3


def test_rejects_bad_combinations(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        write_us_dicom(
            tmp_path / "x.dcm",
            _grey(),
            **COMMON,
            photometric="RGB",
            transfer_syntax=JPEGBaseline8Bit,
        )
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        write_us_dicom(tmp_path / "x.dcm", _grey(), **COMMON, photometric="RGB")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        write_us_dicom(tmp_path / "x.dcm", _grey(), **{**COMMON, "study_date": "05/03/2024"})
    with pytest.raises(ValueError, match="not inside"):
        write_us_dicom(
            tmp_path / "x.dcm",
            _grey(),
            **COMMON,
            regions=[
                dict(min_col=0, min_row=0, max_col=64, max_row=39, delta_x_mm=0.1, delta_y_mm=0.1)
            ],
        )


@pytest.mark.parametrize("laterality", ["R", None])
def test_type_2c_attributes_and_the_palette_follow_the_us_iod(tmp_path: Path, laterality: str | None) -> None:
    """dciodvfy on every synthetic file: PatientOrientation missing (Type 2C), Laterality missing
    where ImageLaterality is not written, and a palette whose descriptor says 8-bit entries while
    its data held 256 16-bit words (512 bytes: 'LookupTableData has wrong length')."""
    path = tmp_path / "p.dcm"
    frames = _grey(1)
    write_us_dicom(path, frames, **COMMON, laterality=laterality, photometric="PALETTE COLOR")
    ds = pydicom.dcmread(path)
    assert ds.PatientOrientation == "" and "PatientOrientation" in ds
    assert ("Laterality" in ds) == (laterality is None) and ds.get("Laterality", "") == ""
    for colour in ("Red", "Green", "Blue"):
        entries, _, bits = getattr(ds, f"{colour}PaletteColorLookupTableDescriptor")
        assert len(getattr(ds, f"{colour}PaletteColorLookupTableData")) == entries * bits // 8
    np.testing.assert_array_equal(apply_color_lut(pixel_array(path), ds)[..., 0] // 257, frames[0])


def test_ybr_conversion_does_not_hold_the_whole_cine_in_float(tmp_path: Path) -> None:
    """A YBR_FULL cine took 8 times its frames' size at once (460 MB to write 58 MB of frames,
    about 1 GB for `follicle-seg synth --frames 60`): the colour conversion ran on the whole
    stack in float64. Frame by frame, the same bytes."""
    import tracemalloc

    grey = _grey(16, 120, 200)
    rgb = np.stack([grey, grey // 2 + 60, 200 - grey // 2], axis=-1)
    tracemalloc.start()
    write_us_dicom(tmp_path / "y.dcm", rgb, **COMMON, photometric="YBR_FULL")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * rgb.nbytes
    decoded = pixel_array(tmp_path / "y.dcm")  # YCbCr converted back to RGB by pydicom
    assert np.abs(decoded.astype(int) - rgb).max() <= 2
