"""Real scanner files from pydicom and pydicom-data are ingested with their region's spacing.

Expected values are read from each file's Sequence of Ultrasound Regions (PhysicalDeltaX/Y in cm,
times 10), clipped to the frame; files without regions, or whose region was written for a larger
image, are uncalibrated with an automatic region.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from follicle_seg.errors import RejectedInput
from follicle_seg.io import iter_frames, read_record
from follicle_seg.types import ImageRecord

PHILIPS_CX50 = dict(spacing=0.2622878766, region=(120, 60, 799, 518), side="U")
GE_LOGIQ = dict(spacing=None, region=(9, 108, 631, 336), side="U")  # no regions: auto

# name -> (frames, spacing mm (row = col) or None, region, side)
DATA_STORE = {
    "JPGLosslessP14SV1_1s_1f_8b.dcm": (1, 0.2547669659, (14, 38, 1010, 758), "U"),  # Philips EPIQ
    "OBXXXX1A.dcm": (1, *PHILIPS_CX50.values()),
    "OBXXXX1A_2frame.dcm": (2, *PHILIPS_CX50.values()),
    "OBXXXX1A_expb.dcm": (1, *PHILIPS_CX50.values()),
    "OBXXXX1A_expb_2frame.dcm": (2, *PHILIPS_CX50.values()),
    "OBXXXX1A_rle.dcm": (1, *PHILIPS_CX50.values()),
    "OBXXXX1A_rle_2frame.dcm": (2, *PHILIPS_CX50.values()),
    "gdcm-US-ALOKA-16.dcm": (1, 0.3826530650, (32, 24, 335, 415), "R"),  # first of two B panes
    "gdcm-US-ALOKA-16_big.dcm": (1, 0.3826530650, (32, 24, 335, 415), "R"),
    "color3d_jpeg_baseline.dcm": (120, 0.5104970559, (84, 31, 595, 414), "U"),  # SonoSite cine
    "US1_J2KI.dcm": (1, *GE_LOGIQ.values()),
    "US1_J2KR.dcm": (1, *GE_LOGIQ.values()),
    "US1_UNCI.dcm": (1, *GE_LOGIQ.values()),
    "US1_UNCR.dcm": (1, *GE_LOGIQ.values()),
    "color-pl.dcm": (1, None, (0, 0, 255, 119), "U"),  # colour test pattern, planar
    "color-px.dcm": (1, None, (0, 0, 255, 119), "U"),
}

PYDICOM = {
    # half of color3d_jpeg_baseline.dcm each way, its region kept: reaches 175 rows and 276 columns
    # past the frame, not used (0.51 mm/px would read every size half its length)
    "examples_ybr_color.dcm": (30, None, (125, 29, 220, 122), "U"),
    "examples_palette.dcm": (1, 0.2622878766, (120, 60, 799, 349), "U"),  # rows cut off: region cut to frame
    "examples_rgb_color.dcm": (1, None, (4, 54, 315, 168), "U"),
    "examples_jpeg2k.dcm": (1, None, (9, 108, 631, 336), "U"),
}


def data_store_file(name: str) -> Path:
    data_store = pytest.importorskip("data_store")
    path = Path(data_store.__file__).parent / "data" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in this pydicom-data release")
    return path


def check(
    record: ImageRecord, frames: int, spacing: float | None, region: tuple[int, ...], side: str
) -> None:
    assert record.modality == "US"
    assert record.n_frames == frames
    assert record.region == region
    assert record.laterality == side
    if spacing is None:
        assert not record.calibration.calibrated and record.region_source == "auto"
    else:
        assert record.region_source == "ultrasound_region"
        assert record.calibration.source == "ultrasound_region"
        assert record.calibration.spacing_row_mm == pytest.approx(spacing, rel=1e-6)
        assert record.calibration.spacing_col_mm == pytest.approx(spacing, rel=1e-6)
    first = next(iter_frames(record, stop=1))
    last = next(iter_frames(record, start=frames - 1))
    for frame in (first, last):
        assert frame.pixels.dtype == np.uint8 and frame.pixels.shape == record.region_shape
        assert 2 < frame.pixels.mean() < 250  # an image, not a blank or saturated frame


@pytest.mark.parametrize("name", sorted(DATA_STORE))
def test_pydicom_data_ultrasound(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(read_record(data_store_file(name)), *DATA_STORE[name])


@pytest.mark.parametrize("name", sorted(PYDICOM))
def test_pydicom_examples(name: str) -> None:
    check(read_record(get_testdata_file(name)), *PYDICOM[name])


def test_same_image_in_every_syntax_gives_the_same_grey() -> None:
    """Philips CX50 palette in six encodings; GE LOGIQ RGB lossless J2K vs uncompressed."""

    def grey(name: str) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return next(iter_frames(read_record(data_store_file(name)), stop=1)).pixels.astype(int)

    reference = grey("OBXXXX1A.dcm")
    for name in [n for n in DATA_STORE if n.startswith("OBXXXX1A_")]:
        # big-endian copies store 8-bit values in 16-bit palette entries: 1 grey level apart
        assert np.abs(grey(name) - reference).max() <= 1, name
    np.testing.assert_array_equal(grey("US1_J2KR.dcm"), grey("US1_UNCR.dcm"))
    assert np.abs(grey("US1_J2KI.dcm") - grey("US1_UNCI.dcm")).mean() < 2


def test_sixteen_bit_palette_is_not_dark() -> None:
    """Aloka 16-bit palette: palette entries scaled from 16 to 8 bits, not truncated."""
    frame = next(iter_frames(read_record(data_store_file("gdcm-US-ALOKA-16.dcm")), stop=1))
    assert frame.pixels.max() > 200


def test_instance_number_and_acquisition_time_of_real_scanners() -> None:
    """Philips CX50: AcquisitionDateTime with fractions; Aloka: ContentTime in whole seconds;
    GE LOGIQ: no time at all (such stills are never joined into a sweep)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        philips, aloka, ge = (read_record(data_store_file(n))
                              for n in ("OBXXXX1A.dcm", "gdcm-US-ALOKA-16.dcm", "US1_UNCR.dcm"))  # fmt: skip
    assert philips.instance_number == 24 and aloka.instance_number == 5
    assert philips.acquired_s == pytest.approx(1306335388.35)  # 2011-05-25 14:56:28.35
    assert aloka.acquired_s == 1022239460.0  # 2002-05-24 11:24:20
    assert ge.acquired_s is None


def test_small_real_image_is_rejected() -> None:
    with pytest.raises(RejectedInput, match="smaller than 64 px"):
        read_record(get_testdata_file("ExplVR_BigEnd.dcm"))


def test_every_ultrasound_file_in_pydicom_data_is_covered() -> None:
    """A new ultrasound file in a later pydicom-data release must be added above."""
    import pydicom

    data_store = pytest.importorskip("data_store")
    found = set()
    for path in sorted((Path(data_store.__file__).parent / "data").glob("*.dcm")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:
                continue
        if ds.get("Modality") == "US":
            found.add(path.name)
    missing = found - set(DATA_STORE)
    assert not missing, f"ultrasound files without expected values: {sorted(missing)}"
