"""A dual display (two image panes side by side, each its own ultrasound region) end to end: every
pane is analysed, the one with the most follicles stands for the file, outputs sit on the source grid."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from follicle_seg.io import read_record
from follicle_seg.model.data import read_image_pairs
from follicle_seg.pipeline import RunOptions, run
from follicle_seg.report.overlay import FOOTER_PX, HEADER_PX, OVARY_COLOUR
from follicle_seg.report.overlay_files import uid_token
from script_module import load_script  # tests/ is on sys.path

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "mono_left.dcm"


def side_by_side(source: Path, path: Path, image_right: bool = True) -> Path:
    """``source``'s frames beside a blank pane of the same size (a region each), uncompressed."""
    ds = pydicom.dcmread(source)
    frames = ds.pixel_array  # (rows, columns) or (frames, rows, columns)
    width = frames.shape[-1]
    panes = [np.zeros_like(frames), frames] if image_right else [frames, np.zeros_like(frames)]
    ds.PixelData = np.ascontiguousarray(np.concatenate(panes, axis=-1)).tobytes()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.Columns = 2 * width
    second = copy.deepcopy(ds.SequenceOfUltrasoundRegions[0])
    second.RegionLocationMinX0 += width
    second.RegionLocationMaxX1 += width
    ds.SequenceOfUltrasoundRegions.append(second)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def dual_display(dest: Path, image_right: bool = True) -> Path:
    """``mono_left.dcm``'s frame beside a blank pane."""
    return side_by_side(SAMPLE, dest / f"dual_{'right' if image_right else 'left'}.dcm", image_right)


def screen_capture(dest: Path, name: str, panes: int) -> Path:
    """``mono_left.dcm`` without its ultrasound regions (a secondary capture), its whole frame
    ``panes`` times side by side."""
    ds = pydicom.dcmread(SAMPLE)
    ds.PixelData = np.ascontiguousarray(np.hstack([ds.pixel_array] * panes)).tobytes()
    ds.Columns = panes * ds.Columns
    del ds.SequenceOfUltrasoundRegions
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(dest / name, enforce_file_format=True)
    return dest / name


@pytest.fixture(scope="module")
def dual_run(tmp_path_factory) -> tuple[Path, Path]:
    inputs = tmp_path_factory.mktemp("in")
    (inputs / "single.dcm").write_bytes(SAMPLE.read_bytes())
    dual_display(inputs, image_right=True)
    dual_display(inputs, image_right=False)
    screen_capture(inputs, "capture.dcm", panes=1)
    screen_capture(inputs, "dual_capture.dcm", panes=2)
    out = tmp_path_factory.mktemp("out")
    run([inputs], RunOptions(out=out, workers=1, save_masks=True, dicom=False, report=False, isolate=False))
    return inputs, out


def _uid(path: Path) -> str:
    return read_record(path).sop_instance_uid


def test_every_pane_is_analysed_and_the_one_with_the_image_is_counted(dual_run) -> None:
    inputs, out = dual_run
    images = pd.read_csv(out / "images.csv").set_index("path")
    single, right, left = (str(inputs / n) for n in ("single.dcm", "dual_right.dcm", "dual_left.dcm"))
    assert set(images.status) == {"ok"} and len(images) == 5
    n = int(images.loc[single, "follicle_count"])
    assert n > 0 and images.loc[right, "follicle_count"] == n and images.loc[left, "follicle_count"] == n
    follicles = pd.read_csv(out / "follicles.csv")
    columns = ["follicle_id", "centroid_row", "d1_mm", "d2_mm"]
    base = follicles[follicles.sop_instance_uid == _uid(inputs / "single.dcm")].sort_values("follicle_id")
    for name, shift in (("dual_right.dcm", 320), ("dual_left.dcm", 0)):
        got = follicles[follicles.sop_instance_uid == _uid(inputs / name)].sort_values("follicle_id")
        pd.testing.assert_frame_equal(got[columns].reset_index(drop=True), base[columns].reset_index(drop=True))
        np.testing.assert_allclose(got.centroid_col.to_numpy(), base.centroid_col.to_numpy() + shift)


def test_the_mask_holds_every_pane_on_the_source_grid(dual_run) -> None:
    inputs, out = dual_run
    base = np.asarray(Image.open(out / "masks" / f"{_uid(inputs / 'single.dcm')}_0.png"))
    dual = np.asarray(Image.open(out / "masks" / f"{_uid(inputs / 'dual_right.dcm')}_0.png"))
    assert dual.shape == (240, 640) and base.shape == (240, 320)
    assert np.array_equal(dual[:, 320:], base)  # the image's pane, as the single file's
    assert not dual[:, :320].any()  # the blank pane: analysed, nothing found


def test_the_blank_pane_makes_the_counts_differ_for_review(dual_run) -> None:
    inputs, out = dual_run
    n = int(pd.read_csv(out / "images.csv").follicle_count.max())
    reasons = pd.read_csv(out / "review_reasons.csv")
    flagged = set(reasons.loc[reasons.flag == "panes differ", "sop_instance_uid"])
    expected = {_uid(inputs / "dual_right.dcm"), _uid(inputs / "dual_left.dcm")} if n > 1 else set()
    assert flagged == expected
    overlays = sorted(p.name for p in (out / "overlays").glob("*.png"))
    assert len(overlays) == 5  # one still each, a dual display's panes in one


def _overlay(out: Path, path: Path) -> np.ndarray:
    [png] = (out / "overlays").glob(f"*{uid_token(_uid(path))}_f000.png")
    return np.asarray(Image.open(png).convert("RGB"))


def _outlined(rgb: np.ndarray) -> bool:
    return bool((rgb == OVARY_COLOUR).all(axis=2).any())


def test_the_overlay_shows_every_pane_as_on_the_screen(dual_run) -> None:
    inputs, out = dual_run
    single = _overlay(out, inputs / "single.dcm")
    top = HEADER_PX  # below the header (which names the pane): the single file's overlay exactly
    for name, counted_right in (("dual_right.dcm", True), ("dual_left.dcm", False)):
        dual = _overlay(out, inputs / name)
        width = single.shape[1]
        assert dual.shape == (single.shape[0], 2 * width + 6, 3)
        left, right = dual[:, :width], dual[:, width + 6 :]
        counted, blank = (right, left) if counted_right else (left, right)
        np.testing.assert_array_equal(counted[top:], single[top:])
        assert _outlined(counted) and not _outlined(blank[top:-FOOTER_PX])  # the blank pane: nothing found
        assert not np.array_equal(counted[:top], blank[:top])  # "counted" and "not counted" headers
    capture = _overlay(out, inputs / "dual_capture.dcm")  # the same image twice: outlined twice
    half = (capture.shape[1] - 6) // 2
    assert _outlined(capture[top:-FOOTER_PX, :half]) and _outlined(capture[top:-FOOTER_PX, half + 6 :])


def test_the_panes_of_a_screen_capture_are_found_in_its_pixels(dual_run) -> None:
    inputs, out = dual_run
    single, dual = read_record(inputs / "capture.dcm"), read_record(inputs / "dual_capture.dcm")
    assert single.region_source == dual.region_source == "auto" and single.other_panes == ()
    c0, r0, c1, r1 = single.region
    assert dual.region == single.region and [p.region for p in dual.other_panes] == [(c0 + 320, r0, c1 + 320, r1)]
    images = pd.read_csv(out / "images.csv").set_index("path")
    counts = images.follicle_count[[str(inputs / "capture.dcm"), str(inputs / "dual_capture.dcm")]]
    assert counts.iloc[0] == counts.iloc[1] > 0  # both panes show the image: its count, not twice it
    mask = np.asarray(Image.open(out / "masks" / f"{dual.sop_instance_uid}_0.png"))
    np.testing.assert_array_equal(mask[:, 320:], mask[:, :320])  # each pane analysed, the same way


def test_each_pane_becomes_a_fine_tuning_pair_of_its_own(dual_run, tmp_path: Path) -> None:
    inputs, out = dual_run
    script = load_script("export_pairs")
    assert script.main([str(out), str(inputs), "--out", str(tmp_path / "pairs")]) == 0
    pairs = {name: rest for name, *rest in read_image_pairs(tmp_path / "pairs")}
    single, right = _uid(inputs / "single.dcm"), _uid(inputs / "dual_right.dcm")
    assert {f"{right}_0_pane1", f"{right}_0_pane2", f"{single}_0"} <= set(pairs) and len(pairs) == 8  # 1 + 2 + 2 + 1 + 2
    for got, want in zip(pairs[f"{right}_0_pane2"], pairs[f"{single}_0"]):  # pixels, labels, spacing
        np.testing.assert_array_equal(got, want)
    pixels, labels, _, _ = pairs[f"{right}_0_pane1"]
    assert not pixels.any() and not labels.any()  # the blank pane and its empty map


def test_a_dual_display_cine_tracks_each_pane_through_its_frames(tmp_path: Path) -> None:
    cine = SAMPLE.parent / "cine_20f_jpegls_right.dcm"
    side_by_side(cine, tmp_path / "in" / "dual_cine.dcm", image_right=False)
    (tmp_path / "in" / "cine.dcm").write_bytes(cine.read_bytes())
    out = tmp_path / "out"
    run([tmp_path / "in"], RunOptions(out=out, workers=1, batch_size=4, save_masks=True, overlays=False,
                                      dicom=False, report=False, isolate=False))  # fmt: skip
    images = pd.read_csv(out / "images.csv").set_index("path")
    assert list(images.loc[[str(tmp_path / "in" / n) for n in ("cine.dcm", "dual_cine.dcm")], "n_frames"]) == [20, 20]
    follicles = pd.read_csv(out / "follicles.csv")
    columns = ["follicle_id", "frame_index", "n_frames", "d1_mm", "d2_mm", "centroid_row"]
    single, dual = (follicles[follicles.sop_instance_uid == _uid(tmp_path / "in" / n)][columns].reset_index(drop=True)
                    for n in ("cine.dcm", "dual_cine.dcm"))  # fmt: skip
    assert len(single) > 0 and single.n_frames.max() > 1  # tracked through the sweep
    pd.testing.assert_frame_equal(dual, single)  # frames of the two panes, chunk by chunk, kept apart
    assert len(list((out / "masks").glob(f"{_uid(tmp_path / 'in' / 'dual_cine.dcm')}_*.png"))) == 20
