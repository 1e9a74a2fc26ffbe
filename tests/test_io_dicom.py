"""Reading ultrasound DICOM: pixels, region and calibration, side, metadata, rejections."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset
from pydicom.uid import (
    JPEG2000,
    MPEG4HP41,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    RLELossless,
)

from follicle_seg.errors import RejectedInput
from follicle_seg.io import dicom, iter_frames, read_record
from follicle_seg.io.inspect import inspect_paths
from follicle_seg.io.write import SUPPORTED, write_us_dicom

ROWS, COLS = 96, 128
FULL = dict(
    min_col=0, min_row=0, max_col=COLS - 1, max_row=ROWS - 1, delta_x_mm=0.2, delta_y_mm=0.2
)


def pattern(n: int = 2) -> np.ndarray:
    """Smooth grey frames (JPEG-friendly): gradient, a dark disc, changing with the frame."""
    rows, cols = np.mgrid[0:ROWS, 0:COLS]
    frames = []
    for k in range(n):
        grey = 40 + cols * 1.2 + rows * 0.5 + 10 * k
        grey[np.hypot(rows - 48, cols - 64 - 4 * k) < 18] = 15
        frames.append(np.clip(grey, 0, 220).astype(np.uint8))
    return np.stack(frames)


def tint(grey: np.ndarray) -> np.ndarray:
    """Warm-tinted RGB whose luma is the grey (within rounding)."""
    g = grey.astype(np.float64)
    rgb = np.stack([g * 1.1, g * 0.97, g * 0.92], axis=-1)
    rgb *= g[..., None] / np.maximum(1e-9, rgb @ np.array([0.299, 0.587, 0.114]))[..., None]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def write(
    tmp_path: Path,
    frames: np.ndarray | None = None,
    *,
    name: str = "a.dcm",
    edit: Callable[[Dataset], None] | None = None,
    **kwargs: Any,
) -> Path:
    """Write a file with write_us_dicom, then let ``edit`` change its dataset."""
    path = tmp_path / name
    args: dict[str, Any] = dict(
        patient_id="P1",
        study_uid="1.2.3",
        study_date="2024-02-29",
        series_uid="1.2.3.4",
        regions=[FULL],
    )
    args.update(kwargs)
    write_us_dicom(path, pattern() if frames is None else frames, **args)
    if edit is not None:
        ds = pydicom.dcmread(path)
        edit(ds)
        ds.save_as(path)
    return path


def grey_of(path: Path) -> np.ndarray:
    return np.stack([f.pixels for f in iter_frames(read_record(path))])


# ----------------------------------------------------------------------------- pixels


ROUND_TRIPS = [(ts, ph) for ts, phs in SUPPORTED.items() for ph in phs]


@pytest.mark.parametrize(
    ("syntax", "photometric"), ROUND_TRIPS, ids=[f"{ph}-{ts.name}" for ts, ph in ROUND_TRIPS]
)
def test_pixel_round_trip(tmp_path: Path, syntax: str, photometric: str) -> None:
    grey = pattern()
    colour = photometric in ("RGB", "YBR_FULL", "YBR_FULL_422")
    path = write(
        tmp_path, tint(grey) if colour else grey, photometric=photometric, transfer_syntax=syntax
    )
    out = grey_of(path)
    assert out.dtype == np.uint8 and out.shape == grey.shape
    error = np.abs(out.astype(int) - grey.astype(int))
    lossy = syntax in (JPEGBaseline8Bit, JPEG2000)
    assert error.mean() < (2.5 if lossy else 0.6)
    assert error.max() <= (40 if lossy else (3 if colour else 0))


def test_ybr_is_converted_once(tmp_path: Path) -> None:
    """pydicom converts YBR to RGB on decode; a second conversion would wreck the colours."""
    grey = pattern(1)
    rgb = tint(grey)
    rgb[0, :, :, 0] = np.clip(rgb[0, :, :, 0].astype(int) + 60, 0, 255)  # a strong red cast
    expected = np.rint(rgb[0] @ np.array([0.299, 0.587, 0.114]))
    for photometric, syntax in (
        ("YBR_FULL", ExplicitVRLittleEndian),
        ("YBR_FULL", RLELossless),
        ("YBR_FULL_422", JPEGBaseline8Bit),
    ):
        path = write(tmp_path, rgb, photometric=photometric, transfer_syntax=syntax)
        assert np.abs(grey_of(path)[0] - expected).mean() < 2.5, (photometric, syntax)


COMPRESSED_COLOUR = [(ts, ph) for ts, ph in ROUND_TRIPS if ts.is_compressed and ph in ("RGB", "YBR_FULL", "YBR_FULL_422")]


@pytest.mark.parametrize(("syntax", "photometric"), COMPRESSED_COLOUR, ids=[f"{ph}-{ts.name}" for ts, ph in COMPRESSED_COLOUR])
def test_a_stray_planar_configuration_of_a_compressed_file_is_ignored(tmp_path: Path, syntax, photometric) -> None:
    """PlanarConfiguration is about native pixel data (PS3.5 8.2); some exports write 1 above
    a JPEG codestream, which pydicom followed, scrambling the colours (mean error 39-49 grey
    levels in the audit's files)."""
    rgb = tint(pattern(1))
    rgb[0, 20:50, 30:90] = [200, 30, 30]  # a colour graphic: wrong channel order shows here
    kwargs = dict(photometric=photometric, transfer_syntax=syntax)
    plain = grey_of(write(tmp_path, rgb, name="plain.dcm", **kwargs))
    stray = grey_of(write(tmp_path, rgb, name="stray.dcm", edit=lambda ds: setattr(ds, "PlanarConfiguration", 1), **kwargs))
    assert np.array_equal(stray, plain)
    # the scan area found on the first frame of a file without ultrasound regions, likewise
    framed = np.zeros_like(rgb)
    framed[0, 12:84, 16:112] = rgb[0, 12:84, 16:112]
    kwargs["regions"] = []
    plain = read_record(write(tmp_path, framed, name="plain_auto.dcm", **kwargs))
    stray = read_record(write(tmp_path, framed, name="stray_auto.dcm", edit=lambda ds: setattr(ds, "PlanarConfiguration", 1),
                              **kwargs))  # fmt: skip
    assert stray.region == plain.region != (0, 0, COLS - 1, ROWS - 1)


def test_frames_are_cropped_to_the_region(tmp_path: Path) -> None:
    region = dict(min_col=10, min_row=5, max_col=109, max_row=84, delta_x_mm=0.2, delta_y_mm=0.2)
    path = write(tmp_path, regions=[region])
    record = read_record(path)
    frames = list(iter_frames(record, start=1))
    assert [f.index for f in frames] == [1]
    assert frames[0].pixels.shape == record.region_shape == (80, 100)
    np.testing.assert_array_equal(frames[0].pixels, pattern()[1, 5:85, 10:110])


def test_sixteen_bit_uses_window_then_rescale_to_8_bit(tmp_path: Path) -> None:
    values = np.zeros((1, ROWS, COLS), np.uint16)
    values[0, :, :64], values[0, :, 64:] = 900, 1100

    def window(ds: Dataset) -> None:
        ds.BitsStored, ds.HighBit = 12, 11
        ds.WindowCenter, ds.WindowWidth = 1000, 401

    out = grey_of(write(tmp_path, values, edit=window))[0]
    assert out[0, 0] == 64 and out[0, 100] == 192  # DICOM linear window, 0-255
    out = grey_of(write(tmp_path, values, edit=lambda ds: setattr(ds, "BitsStored", 12)))[0]
    assert out[0, 0] == 0 and out[0, 100] == 255  # no window: the range the image holds


def test_sixteen_bit_without_window_spreads_the_values_it_holds_the_same_on_every_frame(tmp_path: Path) -> None:
    # A 12-bit image stored in 16 bits without a window: mapping the whole 16-bit range left it
    # with 16 grey levels, nearly black. The declared range, else the first frame's, is used,
    # the same for every frame of a cine (a frame twice as bright stays twice as bright).
    values = np.zeros((3, ROWS, COLS), np.uint16)
    values[0] = np.linspace(0, 4000, COLS, dtype=np.uint16)[None, :]
    values[1] = 0  # a blank frame
    values[2] = values[0] // 2
    path = write(tmp_path, values)
    out = grey_of(path)
    assert out[0].min() == 0 and out[0].max() == 255
    assert np.all(out[1] == 0)
    np.testing.assert_allclose(out[2].astype(float), out[0] / 2, atol=1)
    # read in chunks (--batch-size), or as an overlay's key frame alone: mapped alike
    (alone,) = [f.pixels for f in iter_frames(read_record(path), start=2)]
    np.testing.assert_array_equal(alone, out[2])
    np.testing.assert_array_equal(dicom.whole_frame(str(path), 2), out[2])
    # a blank first frame: the first frame that is not blank gives the range (the whole 16 bits
    # left the rest nearly black: grey 16 at most)
    blank_first = write(tmp_path, values[[1, 0, 2]], name="blank_first.dcm")
    assert [int(f.pixels.max()) for f in iter_frames(read_record(blank_first))] == [0, 255, 128]
    (alone,) = [f.pixels for f in iter_frames(read_record(blank_first), start=2)]
    assert int(alone.max()) == 128

    def declared(ds: Dataset) -> None:
        ds.add_new("SmallestImagePixelValue", "US", 0)
        ds.add_new("LargestImagePixelValue", "US", 8000)

    out = grey_of(write(tmp_path, values, edit=declared))
    assert out[0].max() == round(4000 / 8000 * 255)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    path = write(tmp_path, photometric="MONOCHROME1")
    np.testing.assert_array_equal(grey_of(path), pattern())
    with pydicom.dcmread(path) as ds:
        assert int(ds.pixel_array[0, 0, 0]) == 255 - int(pattern()[0, 0, 0])


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, JPEGBaseline8Bit])
def test_long_cine_is_streamed_not_decoded_whole(tmp_path: Path, syntax: str) -> None:
    n = 300
    frames = np.repeat(pattern(1), n, axis=0)
    frames[:, :16, :16] = (np.arange(n) % 16 * 16)[:, None, None]  # a frame counter block
    path = write(tmp_path, frames, transfer_syntax=syntax)
    whole = frames.nbytes  # 3.7 MB decoded
    tracemalloc.start()
    record = read_record(path)
    seen = 0
    for frame in iter_frames(record):
        assert abs(int(frame.pixels[8, 8]) - frame.index % 16 * 16) <= 4
        seen += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seen == n
    assert peak < whole / 5, f"peak {peak} bytes while streaming a {whole}-byte cine"


# ----------------------------------------------------------------------------- calibration, region


def test_bmode_pane_beside_doppler_strip_and_cm_to_mm(tmp_path: Path) -> None:
    doppler = dict(
        min_col=0,
        min_row=70,
        max_col=127,
        max_row=95,
        delta_x_mm=5.0,
        delta_y_mm=1.0,
        spatial_format=3,
        data_type=3,
        units=4,
    )
    colour_box = dict(
        min_col=20,
        min_row=10,
        max_col=90,
        max_row=50,
        delta_x_mm=0.25,
        delta_y_mm=0.25,
        data_type=2,
    )
    bmode = dict(min_col=0, min_row=0, max_col=127, max_row=69, delta_x_mm=0.25, delta_y_mm=0.25)
    record = read_record(write(tmp_path, regions=[doppler, colour_box, bmode]))
    assert record.region == (0, 0, 127, 69) and record.region_source == "ultrasound_region"
    assert record.calibration.source == "ultrasound_region"
    assert record.calibration.spacing_row_mm == pytest.approx(0.25)
    assert record.calibration.spacing_col_mm == pytest.approx(0.25)


def test_a_dual_display_gives_each_pane_its_region_and_calibration_and_a_doppler_strip_is_no_pane(
    tmp_path: Path,
) -> None:
    half = COLS // 2
    left = dict(FULL, max_col=half - 1)
    right = dict(FULL, min_col=half, delta_x_mm=0.3, delta_y_mm=0.3)  # the second pane zoomed out
    colour_box = dict(FULL, min_col=half + 10, max_col=COLS - 10, min_row=10, max_row=40, data_type=2)
    record = read_record(write(tmp_path, name="dual.dcm", regions=[left, right, colour_box]))
    assert record.region == (0, 0, half - 1, ROWS - 1) and record.pane == 0 and record.n_panes == 2
    assert record.calibration.spacing_col_mm == pytest.approx(0.2)
    (pane,) = record.other_panes
    assert pane.region == (half, 0, COLS - 1, ROWS - 1)
    assert pane.calibration.spacing_row_mm == pytest.approx(0.3) and pane.calibration.spacing_col_mm == pytest.approx(0.3)
    first, second = record.pane_records()
    assert first == record
    assert (second.pane, second.region, second.calibration) == (1, pane.region, pane.calibration)
    assert [p.region for p in second.other_panes] == [record.region]
    frames = [next(iter_frames(r)).pixels for r in (first, second)]
    assert [f.shape for f in frames] == [(ROWS, half), (ROWS, COLS - half)]
    both = list(iter_frames(record, panes=True))  # each frame decoded once, a Frame per pane
    assert [(f.index, f.record) for f in both] == [(0, first), (0, second), (1, first), (1, second)]
    assert all(np.array_equal(f.pixels, want) for f, want in zip(both, frames))  # frame 0's panes
    (row,) = inspect_paths([tmp_path / "dual.dcm"])
    assert row["other_panes"] == [{"region": [half, 0, COLS - 1, ROWS - 1], "spacing_row_mm": pytest.approx(0.3),
                                   "spacing_col_mm": pytest.approx(0.3)}]  # fmt: skip
    thumbnail = dict(FULL, min_col=COLS - 20, max_col=COLS - 1, min_row=0, max_row=20)  # a zoom's reference view
    single = read_record(write(tmp_path, name="zoom.dcm", regions=[FULL, thumbnail]))
    assert single.other_panes == () and single.pane_records() == (single,)
    absurd = dict(right, delta_x_mm=50.0)
    with pytest.raises(RejectedInput, match=r"absurd calibration.*\(image pane 2\)"):
        read_record(write(tmp_path, name="bad_pane.dcm", regions=[left, absurd]))


def test_anisotropic_spacing_kept(tmp_path: Path) -> None:
    region = dict(FULL, delta_x_mm=0.1, delta_y_mm=0.15)
    calibration = read_record(write(tmp_path, regions=[region])).calibration
    assert calibration.spacing_col_mm == pytest.approx(0.1)
    assert calibration.spacing_row_mm == pytest.approx(0.15)


def test_regions_giving_one_image_two_pixel_sizes_leave_it_uncalibrated(tmp_path: Path) -> None:
    """A cine whose zoom changed while it was recorded keeps a region for each zoom over the same
    image: the first one's 0.2 mm was taken, every size of the frames at the other zoom 33 % off,
    in silence. Now the file is read uncalibrated (its PixelSpacing not taken either), and said why; a zoom's small reference view,
    a pane beside the image and a region repeating its pixel size change nothing."""
    zoomed = dict(FULL, delta_x_mm=0.3, delta_y_mm=0.3)
    for regions in ([FULL, zoomed], [zoomed, FULL], [FULL, dict(zoomed, min_col=20, min_row=10, max_col=110)]):
        record = read_record(write(tmp_path, regions=regions, edit=lambda ds: setattr(ds, "PixelSpacing", [0.25, 0.25])))
        assert record.region == (0, 0, COLS - 1, ROWS - 1) and not record.calibration.calibrated
        assert record.note.endswith("cover the same image: its pixel size is unknown (zoom changed during the cine?), "
                                    "read uncalibrated")  # fmt: skip
    assert record.note.startswith("ultrasound regions (0,0)-(127,95) at 0.2 x 0.2 mm/pixel and (20,10)-(110,95) at 0.3 x 0.3")
    reference = dict(zoomed, min_col=90, min_row=60)  # 38 x 36 px inside the image
    same = dict(FULL, delta_x_mm=0.2001, delta_y_mm=0.2)
    for regions in ([FULL, reference], [FULL, same]):
        record = read_record(write(tmp_path, regions=regions))
        assert record.calibration.spacing_row_mm == pytest.approx(0.2) and record.note == ""


def test_a_pane_whose_zoom_changed_is_uncalibrated_whichever_pane_comes_first(tmp_path: Path) -> None:
    """A dual display whose right pane has a region for each of two zooms: the rival check looked
    at the chosen pane only, so with the left pane first the right one took its first region's
    0.2 mm in silence, and with the right pane first the file read the other way round. Now each
    pane is checked as an image of its own: the right pane is uncalibrated in either order."""
    half = COLS // 2
    left, right = dict(FULL, max_col=half - 1), dict(FULL, min_col=half)
    right_zoomed = dict(right, delta_x_mm=0.3, delta_y_mm=0.3)
    for regions in ([left, right, right_zoomed], [right, right_zoomed, left]):
        record = read_record(write(tmp_path, name="dual_zoom.dcm", regions=regions))
        by_region = {r.region: r.calibration for r in record.pane_records()}
        assert by_region[(0, 0, half - 1, ROWS - 1)].spacing_row_mm == pytest.approx(0.2)
        assert not by_region[(half, 0, COLS - 1, ROWS - 1)].calibrated
        assert f"ultrasound regions ({half},0)-({COLS - 1},{ROWS - 1}) at 0.2 x 0.2 mm/pixel and" in record.note


def test_a_region_that_cannot_be_used_is_named_in_the_note(tmp_path: Path) -> None:
    """A region in other units than cm, with zero deltas, or with its bounds the wrong way round
    left the file uncalibrated (or its image found in the pixels) with an empty reason in
    images.csv: the note says which region and why now."""
    def units(ds: Dataset) -> None:
        ds.SequenceOfUltrasoundRegions[0].PhysicalUnitsXDirection = 1  # percent
        ds.SequenceOfUltrasoundRegions[0].PhysicalUnitsYDirection = 1

    def zero(ds: Dataset) -> None:
        ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = 0.0

    def swapped(ds: Dataset) -> None:
        item = ds.SequenceOfUltrasoundRegions[0]
        item.RegionLocationMinX0, item.RegionLocationMaxX1 = item.RegionLocationMaxX1, item.RegionLocationMinX0

    record = read_record(write(tmp_path, edit=units))
    assert not record.calibration.calibrated
    assert record.note == f"ultrasound region (0,0)-({COLS - 1},{ROWS - 1}) gives no pixel size (physical units percent x percent, not cm)"
    record = read_record(write(tmp_path, edit=zero))
    assert not record.calibration.calibrated and record.note.endswith("gives no pixel size (physical deltas 0 cm x 0.02 cm)")
    record = read_record(write(tmp_path, edit=swapped))
    assert record.region_source == "auto"
    assert record.note == f"ultrasound region ({COLS - 1},0)-(0,{ROWS - 1}) holds no pixel of the {COLS}x{ROWS} frame: not used"
    assert read_record(write(tmp_path)).note == ""


def test_region_one_past_the_frame_is_clipped(tmp_path: Path) -> None:
    def grow(ds: Dataset) -> None:
        ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxX1 = COLS  # one past the last column
        ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxY1 = ROWS + 1

    record = read_record(write(tmp_path, edit=grow))
    assert record.region == (0, 0, COLS - 1, ROWS - 1) and record.region_source == "ultrasound_region"
    assert record.calibration.calibrated and record.note == ""


def test_region_written_for_another_image_size_is_not_used(tmp_path: Path) -> None:
    """An export resized after the scan keeps the scan's regions and physical deltas: a region
    reaching far past the frame was cut to it and its deltas used (sizes off by the resize
    factor, a follicle under the count size, no flag). Not used: the file reads uncalibrated."""
    def resized(ds: Dataset) -> None:
        ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxX1 = 2 * COLS - 1
        ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxY1 = 2 * ROWS - 1

    record = read_record(write(tmp_path, edit=resized))
    assert record.region_source == "auto" and not record.calibration.calibrated
    assert record.note == (f"ultrasound region (0,0)-({2 * COLS - 1},{2 * ROWS - 1}) reaches {ROWS} rows and {COLS} "
                           f"columns past the {COLS}x{ROWS} frame: no region of the file used (written for a larger image, resized since?)")


def test_a_resized_dual_display_uses_neither_pane_region(tmp_path: Path) -> None:
    """A dual display shrunk to half: the right pane's region reaches past the frame both ways, the
    left one's fits the smaller frame, and was used (spanning both half-size panes, at half the
    true spacing)."""
    half = COLS // 2

    def shrunk(ds: Dataset) -> None:
        right = ds.SequenceOfUltrasoundRegions[1]
        right.RegionLocationMaxX1, right.RegionLocationMaxY1 = 2 * COLS - 1, 2 * ROWS - 1

    record = read_record(write(tmp_path, regions=[dict(FULL, max_col=half - 1), dict(FULL, min_col=half)], edit=shrunk))
    assert record.region_source == "auto" and not record.calibration.calibrated and not record.other_panes
    assert record.note.startswith(f"ultrasound region ({half},0)-({2 * COLS - 1},{2 * ROWS - 1}) reaches")


def test_region_past_the_frame_one_way_only_is_cut_to_it(tmp_path: Path) -> None:
    """A band of rows cropped off the bottom (pydicom's examples_palette.dcm): the pixels keep
    their size, the region is cut to the frame and its deltas used."""
    def cropped(ds: Dataset) -> None:
        ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxY1 = 2 * ROWS - 1

    record = read_record(write(tmp_path, edit=cropped))
    assert record.region == (0, 0, COLS - 1, ROWS - 1) and record.calibration.calibrated and record.note == ""


def test_a_spacing_giving_an_absurd_region_size_is_rejected(tmp_path: Path) -> None:
    """1.5 mm/pixel is a plausible spacing, but not for a 240 x 320 pixel scan (36 x 48 cm): mm
    written where the units say cm gives a spacing ten times too large."""
    frames = np.zeros((1, 240, 320), np.uint8)
    frames[0, 20:220, 30:290] = 100

    def mm_as_cm(ds: Dataset) -> None:
        item = ds.SequenceOfUltrasoundRegions[0]
        item.RegionLocationMaxX1, item.RegionLocationMaxY1 = 319, 239
        item.PhysicalDeltaX = item.PhysicalDeltaY = 0.15

    with pytest.raises(RejectedInput, match=r"absurd calibration: the image region would be 36 cm deep at 1.5 mm/pixel"):
        read_record(write(tmp_path, frames, edit=mm_as_cm))

    def wide_sector(ds: Dataset) -> None:  # 22 cm deep, 32 cm wide: a deep transabdominal sector
        item = ds.SequenceOfUltrasoundRegions[0]
        item.RegionLocationMinY0, item.RegionLocationMaxX1, item.RegionLocationMaxY1 = 20, 319, 239
        item.PhysicalDeltaX = item.PhysicalDeltaY = 0.1

    record = read_record(write(tmp_path, frames, name="wide.dcm", edit=wide_sector))
    assert record.calibration.spacing_col_mm == pytest.approx(1.0)


def test_pixel_spacing_fallback_and_uncalibrated(tmp_path: Path) -> None:
    frames = np.zeros((1, ROWS, COLS), np.uint8)
    frames[0, 10:90, 20:120] = pattern(1)[0, 10:90, 20:120]

    def spacing(ds: Dataset) -> None:
        ds.PixelSpacing = [0.3, 0.25]

    record = read_record(write(tmp_path, frames, regions=[], edit=spacing))
    assert record.calibration.source == "PixelSpacing"
    assert (record.calibration.spacing_row_mm, record.calibration.spacing_col_mm) == (0.3, 0.25)
    assert record.region_source == "auto" and record.region == (20, 10, 119, 89)

    def imager(ds: Dataset) -> None:
        ds.ImagerPixelSpacing = [0.2, 0.2]

    assert (
        read_record(write(tmp_path, frames, regions=[], edit=imager)).calibration.source
        == "ImagerPixelSpacing"
    )
    record = read_record(write(tmp_path, frames, regions=[]))
    assert not record.calibration.calibrated and record.calibration.source == "none"
    assert record.calibration.spacing_row_mm is None


def test_a_cine_without_regions_that_begins_black_takes_its_area_from_a_later_frame(tmp_path: Path) -> None:
    """The scan area of a file without regions was looked for on its first frame only: a cine
    beginning with a black frame was rejected whole ("the first frame is black"), one beginning
    with a logo and no image yet too ("image region 60x16 px (auto) is smaller than 64 px")."""
    frames = np.zeros((5, ROWS, COLS), np.uint8)
    frames[1:, 10:90, 20:120] = pattern(4)[:, 10:90, 20:120]
    record = read_record(write(tmp_path, frames, regions=[]))
    assert record.region_source == "auto" and record.region == (20, 10, 119, 89)
    frames[0, 2:18, 30:90] = 255  # a logo
    assert read_record(write(tmp_path, frames, regions=[])).region == (20, 10, 119, 89)
    assert rejected(write(tmp_path, np.zeros((3, ROWS, COLS), np.uint8), regions=[])) == (
        "no image area found: 3 frames of 3 looked at are black"
    )
    strip = np.zeros((3, ROWS, COLS), np.uint8)  # black, then an area too small on the later frames
    strip[1:, 40:70, 10:120] = pattern(2)[:, 40:70, 10:120]
    assert rejected(write(tmp_path, strip, regions=[])).endswith("(auto) is smaller than 64 px")  # not "black"


def test_region_in_non_cm_units_is_not_a_calibration(tmp_path: Path) -> None:
    region = dict(FULL, units=0)
    record = read_record(write(tmp_path, regions=[region]))
    assert record.region_source == "ultrasound_region" and not record.calibration.calibrated


# ----------------------------------------------------------------------------- metadata


def test_metadata_and_laterality_tags(tmp_path: Path) -> None:
    def tags(ds: Dataset) -> None:
        ds.Laterality = "R"
        ds.PatientName = "Secret^Person"

    path = write(
        tmp_path,
        pattern(3),
        laterality="L",
        series_description="RT OVARY",
        frame_time_ms=40,
        frame_spacing_mm=0.4,
        manufacturer="Acme",
        edit=tags,
    )
    record = read_record(path)
    assert (record.laterality, record.laterality_source) == ("L", "ImageLaterality")
    assert record.study_date == "2024-02-29" and record.patient_id == "P1"
    assert record.n_frames == 3 and record.frame_time_ms == 40.0 and record.frame_spacing_mm == 0.4
    assert record.manufacturer == "Acme" and record.modality == "US"
    assert "Secret" not in repr(record)

    def timed_by_vector(ds: Dataset) -> None:  # a cine timed by FrameTimeVector only
        del ds.FrameTime
        ds.FrameIncrementPointer = 0x00181065
        ds.FrameTimeVector = [0, 40, 42, 38]

    assert read_record(write(tmp_path, pattern(4), name="v.dcm", edit=timed_by_vector)).frame_time_ms == 40.0

    def series_only(ds: Dataset) -> None:
        ds.Laterality = "R"

    assert (
        read_record(write(tmp_path, series_description="left", edit=series_only)).laterality == "R"
    )
    record = read_record(write(tmp_path, series_description="Cleft sweep", image_comments="R OV"))
    assert (record.laterality, record.laterality_source) == ("R", "ImageComments")
    assert read_record(write(tmp_path, pattern(1))).frame_spacing_mm is None
    assert read_record(write(tmp_path)).date_tag == "StudyDate"


# ----------------------------------------------------------------------------- rejections


def test_the_visit_date_falls_back_to_the_exams_other_dates():
    from follicle_seg.io.dicom import dated_by, visit_date

    ds = pydicom.Dataset()
    ds.StudyDate, ds.SeriesDate, ds.ContentDate = "20250231", "", "20250411"
    assert visit_date(ds) == "2025-04-11"
    assert dated_by(ds) == ("2025-04-11", "ContentDate")  # the tables give its study's StudyDate
    ds.ContentDate = ""
    ds.AcquisitionDateTime = "20250412093000.123"  # an enhanced image's only date
    assert visit_date(ds) == "2025-04-12"
    del ds.AcquisitionDateTime
    assert visit_date(ds) == ""


def test_a_file_without_preamble_that_starts_with_its_file_meta_is_read(tmp_path: Path) -> None:
    from follicle_seg.report.dicom_common import read_source

    whole = write(tmp_path, pattern(2), transfer_syntax=RLELossless)
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(whole.read_bytes()[132:])  # group 0002 first, as some older tools write
    assert read_record(bare).n_frames == 2 and np.array_equal(grey_of(bare), grey_of(whole))
    assert read_source(bare).header.SOPInstanceUID == read_record(whole).sop_instance_uid  # what the SEG/SR build on


def rejected(path: Path) -> str:
    with pytest.raises(RejectedInput) as info:
        read_record(path)
    assert info.value.path == str(path)
    return info.value.reason


def test_reject_not_dicom_and_missing(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "not a DICOM file" in rejected(text)
    assert "not a readable file" in rejected(tmp_path / "gone.dcm")
    (tmp_path / "empty.dcm").write_bytes(b"")
    assert rejected(tmp_path / "empty.dcm") == "empty file (0 bytes)"
    whole = (Path(__file__).resolve().parents[1] / "data_samples" / "mono_left.dcm").read_bytes()
    for size, element in ((600, "element (0008,0070) Manufacturer"), (1000, "the tag of the next element after (0020,0010) StudyID")):
        (tmp_path / f"cut{size}.dcm").write_bytes(whole[:size])  # cut inside a header element: pydicom
        assert rejected(tmp_path / f"cut{size}.dcm") == (  # keeps what is there, silently
            f"truncated: the file ends inside its header at byte {size}, inside {element}, before the pixel data"
        )
    (tmp_path / "padded.dcm").write_bytes(whole[:998] + b"\0\0")  # cut after an element, zero padding
    assert rejected(tmp_path / "padded.dcm").startswith("no pixel data")
    garbage = tmp_path / "garbage.dcm"
    noise = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    garbage.write_bytes(b"\0" * 128 + b"DICM" + noise)
    rejected(garbage)  # a DICM marker followed by noise: rejected, whatever the parser says
    # a data set written without the file header (no preamble, no transfer syntax): said so
    ds = pydicom.dcmread(Path(__file__).resolve().parents[1] / "data_samples" / "mono_left.dcm")
    for implicit in (True, False):
        bare = tmp_path / f"bare_{implicit}.dcm"
        with bare.open("wb") as f:
            out = DicomFileLike(f)
            out.is_little_endian, out.is_implicit_VR = True, implicit
            write_dataset(out, ds)
        assert rejected(bare).startswith("a DICOM data set without the file header of a DICOM file")
    assert "not a DICOM file" in rejected(text)  # "hello" is not one


def test_a_file_rejected_after_its_header_was_read_says_whose_image_it_is(tmp_path: Path) -> None:
    """Its images.csv row had no patient, date or side: the ovary-visit that lost it could not
    be told; a file whose header cannot be read says nothing (None)."""
    import pickle

    path = write(tmp_path, laterality="R")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 2000])
    with pytest.raises(RejectedInput) as info:
        read_record(path)
    who = info.value.identity
    assert (who.patient_id, who.study_date, who.laterality) == ("P1", "2024-02-29", "R") and who.sop_instance_uid
    assert pickle.loads(pickle.dumps(info.value)).identity == who  # as a decoder process hands it back
    jpeg = write(tmp_path, laterality="L", transfer_syntax=JPEGBaseline8Bit, name="j.dcm")  # cut in its codestream
    jpeg.write_bytes(jpeg.read_bytes()[:-300])
    with pytest.raises(RejectedInput, match="truncated") as info:
        read_record(jpeg)
    assert info.value.identity is not None and info.value.identity.laterality == "L"
    # cut inside its header (a large private element): what follows the cut is unknown, the side
    # included, so nothing is said rather than a side read from what is left
    def private_blob(ds: Dataset) -> None:
        ds.add_new(0x00190010, "LO", "VENDOR")
        ds.add_new(0x00191001, "OB", b"\0" * 200_000)
        ds.ImageLaterality = "R"

    blob = write(tmp_path, name="blob.dcm", edit=private_blob)
    blob.write_bytes(blob.read_bytes()[:100_000])
    with pytest.raises(RejectedInput) as info:
        read_record(blob)
    assert info.value.identity is None, info.value.reason
    plain = write(tmp_path, name="plain.dcm")  # cut early in its header: no partial patient ID
    plain.write_bytes(plain.read_bytes()[:648])
    with pytest.raises(RejectedInput) as info:
        read_record(plain)
    assert info.value.identity is None, info.value.reason
    (tmp_path / "text.dcm").write_text("hello")
    with pytest.raises(RejectedInput) as info:
        read_record(tmp_path / "text.dcm")
    assert info.value.identity is None


def test_reject_truncated(tmp_path: Path) -> None:
    for syntax in (ExplicitVRLittleEndian, JPEGBaseline8Bit):
        path = write(tmp_path, transfer_syntax=syntax)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 2000])
        assert "truncated" in rejected(path)
    path = write(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"\xe0\x7f\x10\x00")])  # cut before the pixel data
    assert "cut short" in rejected(path)


def test_reject_no_pixel_data(tmp_path: Path) -> None:
    assert "no pixel data" in rejected(write(tmp_path, edit=lambda ds: delattr(ds, "PixelData")))


def test_a_file_without_pixels_is_named_by_its_sop_class(tmp_path: Path) -> None:
    def report(ds: Dataset) -> None:  # a scanner's structured report in the archive
        for keyword in ("PixelData", "Rows", "Columns"):
            delattr(ds, keyword)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.34"
        ds.Modality = "SR"

    reason = rejected(write(tmp_path, edit=report))
    assert reason.endswith("no pixel data (7FE0,0010): not an image (Comprehensive 3D SR Storage)")


def test_reject_not_ultrasound(tmp_path: Path) -> None:
    def ct(ds: Dataset) -> None:
        ds.Modality = "CT"

    assert "not ultrasound: Modality is CT" in rejected(write(tmp_path, edit=ct))

    def sop(ds: Dataset) -> None:
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"

    assert "not an ultrasound image: SOP class CT Image Storage" in rejected(
        write(tmp_path, edit=sop)
    )

    def volume(ds: Dataset) -> None:
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.2"

    assert "a 3-D volume (Enhanced US Volume Storage) is not analysed: export its planes as a 2-D cine" in rejected(
        write(tmp_path, edit=volume)
    )

    def secondary_capture(ds: Dataset) -> None:
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"

    assert read_record(write(tmp_path, edit=secondary_capture)).sop_class_uid.endswith(".7")


def encapsulated(syntax: str, fragments: list[bytes]) -> Callable[[Dataset], None]:
    """An edit replacing the pixel data by ``fragments`` under a compressed ``syntax``."""

    def edit(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = syntax
        del ds.PixelData
        ds.add_new(0x7FE00010, "OB", encapsulate(fragments))
        ds["PixelData"].is_undefined_length = True

    return edit


def test_reject_transfer_syntax_without_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = rejected(
        write(tmp_path, pattern(1), edit=encapsulated(MPEG4HP41, [b"\x00\x00\x01\xb3" * 8]))
    )
    assert "MPEG-4" in reason and "no decoder" in reason

    class Missing:
        is_available = False

    monkeypatch.setattr(dicom, "get_decoder", lambda uid: Missing())
    path = write(tmp_path, pattern(1), edit=encapsulated(JPEGLosslessSV1, [b"\xff\xd8"]))
    assert "pip install python-gdcm" in rejected(path)


def test_reject_absurd_calibration(tmp_path: Path) -> None:
    reason = rejected(write(tmp_path, regions=[dict(FULL, delta_x_mm=0.2, delta_y_mm=3.0)]))
    assert "absurd calibration: 3 mm between rows" in reason
    frames = pattern(1)

    def tiny(ds: Dataset) -> None:
        ds.PixelSpacing = [0.001, 0.001]

    assert "absurd calibration" in rejected(write(tmp_path, frames, regions=[], edit=tiny))


def test_reject_small_region(tmp_path: Path) -> None:
    region = dict(FULL, max_col=62)
    assert "smaller than 64 px" in rejected(write(tmp_path, regions=[region]))


def test_reject_implausible_size_before_allocation(tmp_path: Path) -> None:
    def huge(ds: Dataset) -> None:
        ds.Rows, ds.Columns, ds.NumberOfFrames = 8000, 8000, 40

    assert "implausible image size" in rejected(write(tmp_path, edit=huge))

    def many(ds: Dataset) -> None:
        ds.NumberOfFrames = 20000

    assert "implausible number of frames" in rejected(write(tmp_path, edit=many))


def test_undecodable_frame_is_rejected(tmp_path: Path) -> None:
    garbage = encapsulated(JPEGBaseline8Bit, [b"\xff\xd8\xff\xe0 not a jpeg", b"\xff\xd8 nor"])
    record = read_record(write(tmp_path, edit=garbage))
    with pytest.raises(RejectedInput, match="frame 0 cannot be decoded"):
        next(iter_frames(record))


def test_a_file_that_cannot_be_opened_is_said_so_not_called_corrupt(tmp_path: Path, monkeypatch) -> None:
    from follicle_seg.io import header

    path = write(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(header, "_BoundedFile", refuse)
    assert rejected(path) == "cannot read (Permission denied)"  # was "truncated or corrupt DICOM header"


def test_a_large_private_value_of_undefined_length_is_not_taken_for_a_cut_file(tmp_path: Path) -> None:
    """A vendor's private element of undefined length over 4 kB (deferred while reading) made the
    whole file "truncated: the file ends inside element (0019,1001)"."""
    from pydicom.dataelem import DataElement
    from pydicom.encaps import encapsulate

    def private_blob(ds: Dataset) -> None:
        ds.add_new(0x00190010, "LO", "VENDOR")
        ds[0x00191001] = DataElement(0x00191001, "OB", encapsulate([b"\x01" * 6000]), is_undefined_length=True)

    record = read_record(write(tmp_path, laterality="L", edit=private_blob))
    assert record.laterality == "L" and record.n_frames == 2  # (the test pattern has two frames)


# ----------------------------------------------------------------------------- frames the header does not declare


def test_pixel_data_holding_more_frames_than_declared_is_rejected_not_cut(tmp_path: Path) -> None:
    """A 4-frame cine whose NumberOfFrames was missing (or said 2) was analysed as 1 (or 2)
    frame(s), the others dropped in silence."""

    def frames(n: int | None) -> Callable[[Dataset], None]:
        def edit(ds: Dataset) -> None:
            if n is None:
                del ds.NumberOfFrames
            else:
                ds.NumberOfFrames = n

        return edit

    assert rejected(write(tmp_path, pattern(4), name="none.dcm", edit=frames(None))) == (
        "pixel data holds 4 frames, the header declares 1 (no NumberOfFrames)"
    )
    assert rejected(write(tmp_path, pattern(4), name="two.dcm", edit=frames(2))) == (
        "pixel data holds 4 frames, NumberOfFrames says 2"
    )
    rle = write(tmp_path, pattern(4), name="rle.dcm", transfer_syntax=RLELossless, edit=frames(3))
    assert rejected(rle) == "pixel data holds 4 frames, NumberOfFrames says 3"  # one fragment per frame
    jpeg = write(tmp_path, pattern(4), name="jpeg.dcm", transfer_syntax=JPEGBaseline8Bit, edit=frames(None))
    assert rejected(jpeg) == "pixel data holds 4 frames, the header declares 1 (no NumberOfFrames)"
    odd = write(tmp_path, pattern(1)[:, :, :-1], name="odd.dcm", regions=[dict(FULL, max_col=COLS - 2)])
    assert read_record(odd).n_frames == 1  # 96 x 127 bytes and a pad byte: one frame


def test_a_frame_split_over_several_fragments_is_one_frame(tmp_path: Path) -> None:
    """Only a frame's first fragment begins a codestream: fragments are not frames."""
    from pydicom.encaps import generate_frames

    def split(has_bot: bool) -> Callable[[Dataset], None]:
        def edit(ds: Dataset) -> None:
            whole = list(generate_frames(ds.PixelData, number_of_frames=2))
            ds.PixelData = encapsulate(whole, fragments_per_frame=2, has_bot=has_bot)

        return edit

    plain = write(tmp_path, name="plain.dcm", transfer_syntax=JPEGBaseline8Bit)
    for has_bot in (True, False):
        path = write(tmp_path, name=f"split{has_bot}.dcm", transfer_syntax=JPEGBaseline8Bit, edit=split(has_bot))
        assert read_record(path).n_frames == 2
        assert np.array_equal(grey_of(path), grey_of(plain))


def test_an_rle_frame_split_over_fragments_or_a_padding_item_is_not_more_frames(tmp_path: Path) -> None:
    """RLE is one fragment a frame, yet writers split frames (with an offset table) or add a short
    padding item: pydicom decodes them, and they were rejected as holding more frames than declared.
    A fragment that begins an RLE frame (its 64-byte header) is a frame; the others are not."""
    from pydicom.encaps import generate_frames

    def split(has_bot: bool, pad: bool) -> Callable[[Dataset], None]:
        def edit(ds: Dataset) -> None:
            whole = list(generate_frames(ds.PixelData, number_of_frames=3))
            ds.PixelData = encapsulate(whole, fragments_per_frame=1 if pad else 2, has_bot=has_bot)
            if pad:  # an item of two bytes before the sequence delimiter
                ds.PixelData = ds.PixelData + b"\xfe\xff\x00\xe0\x02\x00\x00\x00\x00\x00"

        return edit

    plain = write(tmp_path, pattern(3), name="plain.dcm", transfer_syntax=RLELossless)
    for has_bot, pad in ((True, False), (True, True)):  # (no offset table: pydicom cannot tell the frames)
        path = write(tmp_path, pattern(3), name=f"rle{has_bot}{pad}.dcm", transfer_syntax=RLELossless,
                     edit=split(has_bot, pad))  # fmt: skip
        assert read_record(path).n_frames == 3
        assert np.array_equal(grey_of(path), grey_of(plain))
    # without an offset table pydicom cannot tell which fragments make a frame: said so, up front
    # (inspect said ok, then the run failed on "insufficient pixel data to contain 2 frames")
    for pad in (False, True):
        unreadable = write(tmp_path, pattern(3), name=f"nobot{pad}.dcm", transfer_syntax=RLELossless,
                           edit=split(False, pad))  # fmt: skip
        with pytest.raises(RejectedInput, match=r"RLE pixel data of 3 frame\(s\) in \d fragments without an offset table"):
            read_record(unreadable)
    # one frame: every fragment is its own, whatever their number (pydicom joins them)
    def one_split(ds: Dataset) -> None:
        ds.PixelData = encapsulate([ds.PixelData and next(generate_frames(ds.PixelData, number_of_frames=1))],
                                   fragments_per_frame=2, has_bot=False)  # fmt: skip

    single = write(tmp_path, pattern(1), name="single.dcm", transfer_syntax=RLELossless, edit=one_split)
    plain_single = write(tmp_path, pattern(1), name="plain1.dcm", transfer_syntax=RLELossless)
    assert np.array_equal(grey_of(single), grey_of(plain_single))
    # four whole frames under NumberOfFrames 3: still said
    extra = write(tmp_path, pattern(4), name="four.dcm", transfer_syntax=RLELossless,
                  edit=lambda ds: setattr(ds, "NumberOfFrames", 3))  # fmt: skip
    with pytest.raises(RejectedInput, match="pixel data holds 4 frames, NumberOfFrames says 3"):
        read_record(extra)


# ----------------------------------------------------------------------------- files built tag by tag


def build(
    path: Path,
    pixels: np.ndarray,
    *,
    syntax: str = ExplicitVRLittleEndian,
    photometric: str = "MONOCHROME2",
    stored: int | None = None,
    **tags: Any,
) -> Path:
    """A one-region US image written with pydicom alone, tag by tag (``pixels``: (rows, columns)
    uint8 or uint16 as stored, or bytes for a compressed ``syntax``); ``tags`` set last."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import generate_uid

    ds, meta = Dataset(), FileMetaDataset()
    meta.TransferSyntaxUID = syntax
    meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta = meta
    ds.Modality, ds.PatientID, ds.StudyDate, ds.ImageLaterality = "US", "P1", "20240315", "L"
    ds.Rows, ds.Columns = ROWS, COLS
    region = Dataset()
    region.RegionSpatialFormat = region.RegionDataType = 1
    region.RegionLocationMinX0 = region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = COLS - 1, ROWS - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.02
    ds.SequenceOfUltrasoundRegions = [region]
    colour = photometric in ("RGB", "YBR_FULL", "YBR_FULL_422")
    ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.PixelRepresentation = photometric, 3 if colour else 1, 0
    bits = 16 if isinstance(pixels, np.ndarray) and pixels.dtype == np.uint16 else 8
    ds.BitsAllocated, ds.BitsStored = bits, stored or bits
    ds.HighBit = ds.BitsStored - 1
    big_endian = syntax == ExplicitVRBigEndian
    ds.PixelData = pixels if isinstance(pixels, bytes) else pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<")).tobytes()
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_a_big_endian_palette_of_16_bit_entries_is_read_in_its_byte_order(tmp_path: Path) -> None:
    """pydicom reads the LUT data as the machine's words: a Big Endian file's entries came out
    byte-swapped, every index the same grey (128)."""
    index = np.tile(np.arange(COLS, dtype=np.uint8), (ROWS, 1))
    ramp = np.arange(256) * 257  # grey i at index i, 16-bit entries
    for name, data, depth in (("16.dcm", ramp.astype(">u2").tobytes(), 16),
                              ("8.dcm", np.arange(256, dtype=np.uint8).view("<u2").astype(">u2").tobytes(), 8)):
        tags = {}
        for colour in ("Red", "Green", "Blue"):
            tags[f"{colour}PaletteColorLookupTableDescriptor"] = [256, 0, depth]
            tags[f"{colour}PaletteColorLookupTableData"] = data
        path = build(tmp_path / name, index, syntax=ExplicitVRBigEndian, photometric="PALETTE COLOR", **tags)
        assert np.array_equal(grey_of(path)[0], index), name


def test_values_stored_above_the_low_bits_are_shifted_down(tmp_path: Path) -> None:
    """BitsStored 12 with HighBit 15 (values in the top 12 bits): pydicom kept the low 12 bits,
    noise; now the values are shifted down by HighBit - BitsStored + 1, as in a usual file."""
    values = np.tile(np.linspace(0, 4095, COLS).astype(np.uint16), (ROWS, 1))
    usual = build(tmp_path / "usual.dcm", values, stored=12)
    high = build(tmp_path / "high.dcm", values << 4, stored=12, HighBit=15)
    assert np.array_equal(grey_of(high), grey_of(usual))
    assert grey_of(high)[0, 0, ::32].tolist() == [0, 64, 128, 193]
    signed = (values.astype(np.int16) - 2048) << 4
    assert np.array_equal(grey_of(build(tmp_path / "signed.dcm", signed.view(np.uint16), stored=12, HighBit=15,
                                        PixelRepresentation=1)), grey_of(usual))  # fmt: skip
    assert rejected(build(tmp_path / "low.dcm", values, stored=12, HighBit=5)) == (
        "unsupported pixel format: HighBit 5 with 12 bits stored in 16 bits allocated"
    )
    jpeg = write(tmp_path, name="jpeg.dcm", transfer_syntax=JPEGBaseline8Bit, edit=lambda ds: setattr(ds, "HighBit", 7))
    assert read_record(jpeg).n_frames == 2

    def high_bit(ds: Dataset) -> None:
        ds.BitsStored, ds.HighBit = 6, 7

    assert rejected(write(tmp_path, name="jpeg6.dcm", transfer_syntax=JPEGBaseline8Bit, edit=high_bit)) == (
        "unsupported pixel format: HighBit 7 with 6 bits stored in compressed pixel data"
    )


def test_native_colour_without_planar_configuration_is_read_pixel_by_pixel(tmp_path: Path) -> None:
    """PlanarConfiguration is required for colour, but files lack it: pydicom refused them
    ("Missing required element"); viewers read them colour-by-pixel (0)."""
    rgb = tint(pattern(1)[0])
    with_tag = build(tmp_path / "with.dcm", rgb, photometric="RGB", PlanarConfiguration=0)
    without = build(tmp_path / "without.dcm", rgb, photometric="RGB")
    assert "PlanarConfiguration" not in pydicom.dcmread(without)
    assert np.array_equal(grey_of(without), grey_of(with_tag))


def test_twelve_bit_jpeg_extended_needs_pylibjpeg_libjpeg(tmp_path: Path) -> None:
    """Pillow and GDCM refuse JPEG Extended of 12-bit samples (the decoder table named Pillow):
    every frame failed while decoding; now the header check names the package that decodes it."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGExtended12Bit

    if "pylibjpeg" in get_decoder(JPEGExtended12Bit).available_plugins:
        assert dicom._decoding_plugin(JPEGExtended12Bit, 12) == "pylibjpeg"
        return
    head = b"\xff\xd8\xff\xc1\x00\x0b\x0c" + ROWS.to_bytes(2, "big") + COLS.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    path = write(tmp_path, pattern(1), name="j12.dcm", edit=encapsulated(JPEGExtended12Bit, [head + b"\xff\xd9"]))
    ds = pydicom.dcmread(path)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.save_as(path)
    assert rejected(path) == (
        "transfer syntax JPEG Extended (Process 2 and 4) with 12-bit samples needs a decoder that is not "
        "installed: pip install pylibjpeg-libjpeg (GPLv3; Pillow and GDCM decode 8-bit samples only)"
    )


def test_a_voi_lut_gives_the_grey_levels_when_no_window_does(tmp_path: Path) -> None:
    """The VOI LUT Sequence was ignored: a LUT [0 251 255 255] showed as the min-max stretch
    [0 64 128 193]."""
    values = np.tile(np.linspace(100, 1100, COLS).astype(np.uint16), (ROWS, 1))
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 8]
    lut.LUTData = np.clip(np.arange(4096) - 100, 0, 255).tolist()
    lut["LUTData"].VR = "US"
    expected = np.clip(values[0, ::32].astype(int) - 100, 0, 255).tolist()
    assert expected == [0, 251, 255, 255]
    assert grey_of(build(tmp_path / "us.dcm", values, stored=12, VOILUTSequence=[lut]))[0, 0, ::32].tolist() == expected
    ow = Dataset()  # 16-bit entries as OW in a Big Endian file, from the first value 100 on
    ow.LUTDescriptor = [1001, 100, 16]
    ow.add_new("LUTData", "OW", (np.arange(1001) * 65535 // 1000).astype(">u2").tobytes())
    grey = grey_of(build(tmp_path / "ow.dcm", values, stored=12, syntax=ExplicitVRBigEndian, VOILUTSequence=[ow]))
    assert grey[0, 0, ::32].tolist() == [0, 64, 128, 193]
    window = build(tmp_path / "window.dcm", values, stored=12, VOILUTSequence=[lut], WindowCenter=600, WindowWidth=200)
    assert grey_of(window)[0, 0, ::32].tolist() == [0, 0, 132, 255]  # a usable window comes first
    short = Dataset()
    short.LUTDescriptor, short.LUTData = [4096, 0, 8], [0, 1, 2]
    short["LUTData"].VR = "US"
    nine_bits = Dataset()
    nine_bits.LUTDescriptor, nine_bits.LUTData = [4096, 0, 9], lut.LUTData
    nine_bits["LUTData"].VR = "US"
    # a table that does not fit its descriptor: the image's value range, as without one (it was rejected)
    plain = grey_of(build(tmp_path / "plain.dcm", values, stored=12))
    for bad in (short, nine_bits):
        path = build(tmp_path / "bad.dcm", values, stored=12, VOILUTSequence=[bad])
        assert np.array_equal(grey_of(path), plain)
        # said where the analyst looks (images.csv's reason of the ok row, inspect)
        assert read_record(path).note == "its VOI LUT does not fit its descriptor: grey levels from the image's values"
    assert read_record(build(tmp_path / "us.dcm", values, stored=12, VOILUTSequence=[lut])).note == ""


@pytest.mark.parametrize(("centre", "width", "expected"),
                         [("600.5", "1", [0, 0, 255, 255]), ("600.75", "1.5", [0, 0, 255, 255]),
                          ("600.5", "2", [0, 128, 255, 255])])  # fmt: skip
def test_a_window_narrower_than_two_values_is_the_dicom_step(tmp_path: Path, centre: str, width: str,
                                                             expected: list[int]) -> None:  # fmt: skip
    """PS3.3 C.11.2.1.2.1: values at or below c - 0.5 - (w-1)/2 black, above c - 0.5 + (w-1)/2
    white. A width under 2 took the slope of a width of 2: 600, at the step of centre 600.5 and
    width 1 (black), read 128; at that of 600.75 and 1.5, 64."""
    values = np.tile(np.repeat(np.array([599, 600, 601, 602], np.uint16), COLS // 4), (ROWS, 1))
    path = build(tmp_path / "a.dcm", values, stored=12, WindowCenter=centre, WindowWidth=width)
    assert grey_of(path)[0, 0, :: COLS // 4].tolist() == expected


@pytest.mark.parametrize("width", ["0", "0.5", "NaN", "inf"])
def test_an_unusable_window_falls_back_to_the_image_values_not_the_stored_bits(tmp_path: Path, width: str) -> None:
    """A WindowWidth below 1 (or not finite) gave the whole 0-4095 range of 12 bits: a dark image."""
    values = np.tile(np.linspace(100, 1100, COLS).astype(np.uint16), (ROWS, 1))
    path = build(tmp_path / "a.dcm", values, stored=12, WindowCenter="600", WindowWidth=width)
    assert grey_of(path)[0, 0, ::32].tolist() == [0, 64, 128, 193]


@pytest.mark.parametrize("syntax", [JPEGBaseline8Bit, JPEG2000])
def test_a_codestream_of_other_colour_components_than_the_header_says_is_rejected_clearly(tmp_path: Path, syntax: str) -> None:
    """A colour JPEG under a MONOCHROME2 header failed while decoding with numpy's "could not
    broadcast input array from shape (36864,) into shape (12288,)"."""

    def grey_header(ds: Dataset) -> None:
        ds.PhotometricInterpretation, ds.SamplesPerPixel = "MONOCHROME2", 1
        del ds.PlanarConfiguration

    def colour_header(ds: Dataset) -> None:
        ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.PlanarConfiguration = "YBR_FULL_422", 3, 0

    kind = "JPEG" if syntax == JPEGBaseline8Bit else "JPEG 2000 codestream"
    photometric = "YBR_FULL_422" if syntax == JPEGBaseline8Bit else "RGB"
    colour = write(tmp_path, tint(pattern(1)[0])[None], name="colour.dcm", photometric=photometric,
                   transfer_syntax=syntax, edit=grey_header)  # fmt: skip
    assert rejected(colour) == f"the {kind} holds 3 colour components, the header says 1 sample per pixel (MONOCHROME2)"
    grey = write(tmp_path, pattern(1), name="grey.dcm", transfer_syntax=syntax, edit=colour_header)
    assert rejected(grey) == f"the {kind} holds 1 colour component, the header says 3 samples per pixel (YBR_FULL_422)"


def test_a_private_transfer_syntax_is_said_so(tmp_path: Path) -> None:
    """It was "unreadable header value (UID is not a transfer syntax.)"."""
    path = write(tmp_path)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.113619.5.2"  # a vendor's own
    ds.save_as(path, implicit_vr=False, little_endian=True)
    assert rejected(path) == "unknown (private?) transfer syntax 1.2.840.113619.5.2: no decoder"


@pytest.mark.parametrize("uid, name", [("1.2.840.10008.1.2.4.110", "JPEG XL Lossless (1.2.840.10008.1.2.4.110)"),
                                       ("1.2.840.10008.1.2.4.112", "JPEG XL (1.2.840.10008.1.2.4.112)"),
                                       ("1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression (1.2.840.10008.1.2.8.1)"),
                                       ("1.2.840.10008.1.2.4.150", "1.2.840.10008.1.2.4.150")])  # fmt: skip
def test_a_standard_transfer_syntax_newer_than_pydicom_is_not_called_private(tmp_path: Path, uid: str, name: str) -> None:
    """JPEG XL and Deflated Image Frame Compression (newer than pydicom's table) were "unknown
    (private?) transfer syntax ...: no decoder"."""
    path = write(tmp_path, edit=encapsulated(JPEGBaseline8Bit, [b"\xff\x0a codestream"] * 2))
    ds = pydicom.dcmread(path)
    stand_in = uid.replace("10008", "99999")  # (pydicom refuses to write a standard UID it does not know)
    ds.file_meta.TransferSyntaxUID = stand_in
    ds.save_as(path, implicit_vr=False, little_endian=True)
    path.write_bytes(path.read_bytes().replace(stand_in.encode(), uid.encode()))
    assert rejected(path) == (
        f"transfer syntax {name} cannot be decoded: a DICOM transfer syntax this build cannot decode; export the "
        "images uncompressed or as JPEG"
    )


def relabelled(path: Path, syntax: str) -> Path:
    """The file with another TransferSyntaxUID in its file meta, nothing else changed (pydicom
    writes no such file): the value and the group length patched in its bytes."""
    import struct

    data = bytearray(path.read_bytes())
    at = data.index(b"\x02\x00\x10\x00UI")
    old_length = struct.unpack("<H", data[at + 6 : at + 8])[0]
    value = syntax.encode() + b"\0" * (len(syntax) % 2)
    data[at : at + 8 + old_length] = b"\x02\x00\x10\x00UI" + struct.pack("<H", len(value)) + value
    group = data.index(b"\x02\x00\x00\x00UL")
    length = struct.unpack("<I", data[group + 8 : group + 12])[0] + len(value) - old_length
    data[group + 8 : group + 12] = struct.pack("<I", length)
    path.write_bytes(bytes(data))
    return path


def test_pixel_data_encapsulated_or_not_against_its_transfer_syntax_is_said_so(tmp_path: Path) -> None:
    """Native pixel data under a JPEG syntax failed while decoding with pydicom's "Found
    unexpected tag (3C3C,3C3C) instead of (FFFE,E000) when parsing the Basic Offset Table item"."""
    native = relabelled(write(tmp_path, name="native.dcm"), JPEGBaseline8Bit)
    assert rejected(native) == (
        "pixel data not encapsulated though the transfer syntax JPEG Baseline (Process 1) says compressed"
    )
    jpeg = relabelled(write(tmp_path, name="jpeg.dcm", transfer_syntax=JPEGBaseline8Bit), ExplicitVRLittleEndian)
    assert rejected(jpeg) == (
        "pixel data encapsulated (compressed fragments) though the transfer syntax Explicit VR Little Endian "
        "says uncompressed"
    )


def test_a_gzip_file_and_a_dicomdir_under_another_name_are_said_so(tmp_path: Path) -> None:
    """Both were "not a DICOM file" / "no pixel data (7FE0,0010): not an image"."""
    import gzip
    import shutil

    from pydicom.data import get_testdata_file

    packed = tmp_path / "a.dcm.gz"
    packed.write_bytes(gzip.compress(write(tmp_path).read_bytes()))
    assert rejected(packed) == "gzip-compressed file: gunzip it first"
    index = tmp_path / "INDEX"
    shutil.copy(get_testdata_file("DICOMDIR"), index)
    assert rejected(index) == "a DICOMDIR (media index), not an image: its images are the files it lists"


def test_a_decoders_failure_is_said_without_python_internals(tmp_path: Path) -> None:
    """Reasons held a repr with a memory address ("cannot identify image file <_io.BytesIO object
    at 0x7f...>") and GDCM's "'NoneType' object has no attribute 'encode'"."""
    from pydicom.pixels import get_decoder

    record = read_record(write(tmp_path, name="png.dcm", edit=encapsulated(JPEGBaseline8Bit, [b"\x89PNG not a jpeg"] * 2)))
    with pytest.raises(RejectedInput) as info:
        next(iter_frames(record))
    assert info.value.reason == "frame 0 cannot be decoded (pillow: cannot identify image file)"
    if "gdcm" not in get_decoder(JPEGLosslessSV1).available_plugins:
        return
    sof = b"\xff\xd8\xff\xc3\x00\x0b\x08" + ROWS.to_bytes(2, "big") + COLS.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    lossless = write(tmp_path, pattern(1), name="ll.dcm", edit=encapsulated(JPEGLosslessSV1, [sof + b"garbage!" * 8]))
    with pytest.raises(RejectedInput) as info:
        next(iter_frames(read_record(lossless)))
    assert info.value.reason == "frame 0 cannot be decoded (gdcm failed on its compressed data)"


def test_a_voi_lut_is_noted_for_grey_images_only() -> None:
    """Colour and palette images never use a VOI LUT: nothing to say of one, nor to read (an RGB
    file with a LUT of text was rejected through the note)."""
    from follicle_seg.io.grey import grey_note

    lut = Dataset()
    lut.LUTDescriptor, lut.LUTData = [4096, 0, 8], "a"
    for photometric, said in (("MONOCHROME2", "its VOI LUT does not fit"), ("RGB", ""), ("PALETTE COLOR", "")):
        ds = Dataset()
        ds.PhotometricInterpretation, ds.BitsStored, ds.VOILUTSequence = photometric, 12, [lut]
        assert grey_note(ds).startswith(said) and bool(grey_note(ds)) == bool(said)


@pytest.mark.parametrize("undefined", [True, False])
def test_a_file_cut_after_a_last_sequence_is_said_cut_whatever_the_sequences_length_encoding(tmp_path: Path,
                                                                                          undefined: bool) -> None:
    """A data set ending with a sequence of undefined length, a few bytes of the next element
    after it: read as complete ("not an image"), where the same sequence of defined length was
    said cut."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence

    ds = pydicom.Dataset()
    ds.PatientID, ds.Modality = "P1", "US"
    item = pydicom.Dataset()
    item.CodeValue = "1"
    ds.ContentSequence = Sequence([item])
    ds["ContentSequence"].is_undefined_length = undefined
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    path = tmp_path / "cut.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert rejected(path).startswith("no pixel data")  # whole: not an image
    path.write_bytes(path.read_bytes() + b"\x08\x00\x18")  # the first bytes of the next element's tag
    assert rejected(path).startswith("truncated: the file ends inside its header at byte ")


def test_a_cine_frame_of_another_size_is_rejected_naming_the_frame(tmp_path: Path) -> None:
    """Every frame of a cine has the header's Rows x Columns; a JPEG cine whose third frame was
    coded larger is refused before decoding, saying which frame."""
    from io import BytesIO

    from PIL import Image
    from pydicom.encaps import generate_frames

    path = write(tmp_path, pattern(3), transfer_syntax=JPEGBaseline8Bit)
    ds = pydicom.dcmread(path)
    frames = list(generate_frames(ds.PixelData, number_of_frames=3))
    larger = BytesIO()
    Image.fromarray(np.pad(pattern(3)[2], ((0, 16), (0, 16)))).save(larger, "JPEG")
    ds.PixelData = encapsulate([frames[0], frames[1], larger.getvalue()])
    ds.save_as(path)
    assert rejected(path) == (f"corrupt compressed pixel data: frame 2's codestream is {COLS + 16}x{ROWS + 16} "
                              f"pixels, the header says {COLS}x{ROWS}")  # fmt: skip


def test_a_frame_partly_in_colour_is_flagged_and_its_image_needs_review(tmp_path: Path) -> None:
    """A colour Doppler box (blue flow) was made grey by its luma, as dark as fluid, with no word:
    a frame whose scan area is 2 % or more in colour says so, and its ovary-visit needs review;
    grey ultrasound stored as RGB or YBR does not."""
    from follicle_seg.pipeline import run
    from follicle_seg.options import RunOptions
    from follicle_seg.types import COLOUR_IN_SCAN

    samples = Path(__file__).resolve().parents[1] / "data_samples"
    for name in ("rgb_rle_right.dcm", "jpeg_ybr422_left.dcm"):
        assert next(iter_frames(read_record(samples / name))).flags == ()
    ds = pydicom.dcmread(samples / "rgb_rle_right.dcm")
    pixels = ds.pixel_array.copy()
    pixels[100:160, 120:220] = (30, 40, 200)  # a blue flow box in the region (40, 30)-(279, 229)
    ds.PixelData, ds.PlanarConfiguration = pixels.tobytes(), 0
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "doppler.dcm", enforce_file_format=True)
    assert next(iter_frames(read_record(tmp_path / "in" / "doppler.dcm"))).flags == (COLOUR_IN_SCAN,)
    run([tmp_path / "in"], RunOptions(out=tmp_path / "out", workers=1, overlays=False, dicom=False, report=False))
    import pandas as pd

    reasons = pd.read_csv(tmp_path / "out" / "review_reasons.csv").set_index("flag")["reason"]
    assert reasons[COLOUR_IN_SCAN].startswith("colour (Doppler flow?) covers part of the scan area")
    assert pd.read_csv(tmp_path / "out" / "ovaries.csv")["needs_review"].tolist() == [True]


def test_a_palette_image_partly_in_colour_is_flagged_too(tmp_path: Path) -> None:
    """A colour Doppler box stored with a palette (PALETTE COLOR) was never checked: its frames
    came out grey and unflagged whatever their colours; now the palette's colours are measured as
    an RGB frame's are, and a grey palette is not flagged."""
    from follicle_seg.types import COLOUR_IN_SCAN

    index = np.tile(np.arange(COLS, dtype=np.uint8) % 200, (ROWS, 1))
    index[20:50, 30:70] = 230  # a flow box, 1200 of the 12288 pixels
    grey_ramp = np.arange(256, dtype=np.uint8)
    red, green, blue = grey_ramp.copy(), grey_ramp.copy(), grey_ramp.copy()
    red[200:], green[200:], blue[200:] = 30, 40, 200  # indices 200-255 in blue
    tags = {"PixelRepresentation": 0}
    for colour, data in (("Red", red), ("Green", green), ("Blue", blue)):
        tags[f"{colour}PaletteColorLookupTableDescriptor"] = [256, 0, 8]
        tags[f"{colour}PaletteColorLookupTableData"] = data.tobytes()
    doppler = build(tmp_path / "doppler.dcm", index, photometric="PALETTE COLOR", **tags)
    frame = next(iter_frames(read_record(doppler)))
    assert frame.flags == (COLOUR_IN_SCAN,)
    np.testing.assert_array_equal(frame.colour, index >= 200)  # the palette's colour entries: the box
    index[20:50, 30:70] = 100
    grey = build(tmp_path / "grey.dcm", index, photometric="PALETTE COLOR", **tags)
    frame = next(iter_frames(read_record(grey)))
    assert frame.flags == () and frame.colour is None


def test_a_frames_pixels_in_colour_are_kept_with_it_and_a_grey_files_are_none(tmp_path: Path) -> None:
    """A yellow '+' caliper drawn in colour: the frame knows which of its region's pixels it holds
    (a follicle's dent is measured with them filled in, ``measure.measure_frame``), through the
    decoder process's chunks too; too few to flag the frame. A grey file, and grey stored as RGB,
    carry none (``None``: nothing to keep or pickle)."""
    from follicle_seg.intake import chunks

    rgb = tint(pattern(1)[0])
    rgb[40, 60:71] = rgb[35:46, 65] = (255, 255, 0)  # a yellow '+' at (40, 65)
    region = dict(min_col=10, min_row=5, max_col=109, max_row=84, delta_x_mm=0.2, delta_y_mm=0.2)
    record = read_record(write(tmp_path, rgb[None], name="caliper.dcm", photometric="RGB", regions=[region]))
    frame = next(iter_frames(record))
    expected = np.zeros(record.region_shape, bool)
    expected[35, 50:61] = expected[30:41, 55] = True  # the '+' on the region's grid
    np.testing.assert_array_equal(frame.colour, expected)
    assert frame.flags == ()
    np.testing.assert_array_equal(next(chunks(record, 1, None))[0].colour, expected)
    grey = read_record(write(tmp_path, name="grey.dcm"))
    assert [f.colour for f in iter_frames(grey)] == [None, None]
    tinted = read_record(write(tmp_path, tint(pattern(1)[0])[None], name="tinted.dcm", photometric="RGB"))
    assert next(iter_frames(tinted)).colour is None


@pytest.mark.parametrize(
    ("uid", "reason"),
    [
        ("1.2.3/../../../../evil", "SOPInstanceUID '1.2.3/../../../../evil' holds '/'"),
        ("1.2\\3", "SOPInstanceUID '1.2\\\\3' holds '\\\\'"),
        ("1.2.3\n4\x1b[2J", "SOPInstanceUID '1.2.3\\n4\\x1b[2J' holds '\\n'"),
        ("1." + "2" * 298, "SOPInstanceUID of 300 characters"),
    ],
)
def test_a_sop_instance_uid_that_cannot_name_output_files_is_rejected(tmp_path: Path, uid: str, reason: str) -> None:
    """The UID names the masks, SEG and SR (``masks/<uid>_0.png``): one holding ``/`` wrote them
    outside the output folder, a 300-character one stopped the whole run ("File name too long")."""

    def edit(ds: Dataset) -> None:
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"

    with pytest.raises(RejectedInput) as info:
        read_record(write(tmp_path, edit=edit))
    assert info.value.reason.startswith(reason) and "\n" not in info.value.reason
    assert info.value.identity is not None and info.value.identity.patient_id  # its row still says whose image it is,
    assert info.value.identity.sop_instance_uid == ""  # not by the UID (5 million characters went into its row)
    odd = "1.2.840.ABC_7-x"  # letters, '_' and '-' of scanners that break the standard are read

    def odd_edit(ds: Dataset) -> None:
        ds.SOPInstanceUID, ds.PatientID = odd, "12\\34"  # (a '\\' was read as "['12', '34']")

    record = read_record(write(tmp_path, name="b.dcm", edit=odd_edit))
    assert (record.sop_instance_uid, record.patient_id) == (odd, "12\\34")


def test_a_patient_id_of_thousands_of_characters_is_rejected_without_it(tmp_path: Path) -> None:
    """A 20-million-character PatientID went into every row of every table and report page: the
    run grew past 16 GB building its report. One of 250 characters is read."""

    def edit(ds: Dataset) -> None:
        ds.PatientID = "Q" * 5000

    with pytest.raises(RejectedInput) as info:
        read_record(write(tmp_path, edit=edit))
    assert info.value.reason == "PatientID of 5000 characters (DICOM's LO holds 64; at most 1024 are read)"
    assert info.value.identity is not None and info.value.identity.patient_id == ""  # its row keeps the UID and date
    assert read_record(write(tmp_path, name="b.dcm", edit=lambda ds: setattr(ds, "PatientID", "P" * 250))).patient_id == "P" * 250


@pytest.mark.parametrize(("keyword", "uid", "fault"), [
    ("StudyInstanceUID", "1.2." + "9" * 300, "StudyInstanceUID of 304 characters (a UID holds at most 64)"),
    ("SeriesInstanceUID", "1.2.840 113619", "SeriesInstanceUID '1.2.840 113619' holds ' '"),
])
def test_a_study_or_series_uid_unfit_to_be_one_is_analysed_without_dicom_objects(tmp_path: Path, keyword, uid, fault) -> None:
    """The study and series UIDs name no file, they are copied into the image's SEG and SR: the
    image is analysed, its objects not made (a 5-million-character study UID made 10 MB objects
    no PACS takes)."""
    from follicle_seg.report.dicom_common import UnfitSource, read_source

    def edit(ds: Dataset) -> None:
        setattr(ds, keyword, uid)

    path = write(tmp_path, edit=edit)
    assert getattr(read_record(path), keyword.replace("InstanceUID", "_instance_uid").lower()) == uid
    with pytest.raises(UnfitSource, match=f"^the source's {re.escape(fault)}: an object referring to it cannot name it"):
        read_source(path)
