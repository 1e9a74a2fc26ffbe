"""The day a run places a study's files on is the day the tables give, on a resumed run too
(docs/measurement.md, "The visit date is the StudyDate; ..."): the run decided it from the files
it analysed now alone, the tables from every file with a header record, so the overlays of a file
added to a resumed study were named and headed with another day than its rows; and a resumed
file's overlays kept the day of its first analysis when a file added since moved its study."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from follicle_seg.pipeline import RunOptions, run
from follicle_seg.report.overlay_files import parse_name

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
STUDY = "1.2.826.0.1.3680043.8.498.57"


def _dated(folder: Path, name: str, content_date: str, sop: str | None = None) -> Path:
    """A still of the one study ``STUDY`` without StudyDate, dated by its ContentDate."""
    ds = pydicom.dcmread(SAMPLES / "mono_left.dcm")
    ds.StudyDate, ds.ContentDate, ds.StudyInstanceUID = "", content_date, STUDY
    for keyword in ("SeriesDate", "AcquisitionDate", "AcquisitionDateTime"):
        ds.pop(keyword, None)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop or pydicom.uid.generate_uid()
    folder.mkdir(exist_ok=True)
    ds.save_as(folder / name)
    return folder / name


def _overlays(out: Path) -> list[str]:
    """The overlay files, each frame of an image once (two files of one frame: the report showed both)."""
    names = sorted(p.name for p in (out / "overlays").glob("*.png"))
    frames = Counter(parse_name(n) for n in names)
    assert all(n == 1 for n in frames.values()), names
    return names


def _study_dates(out: Path) -> dict[str, set[str]]:
    tables = {t: pd.read_csv(out / f"{t}.csv", dtype=str, keep_default_na=False) for t in ("images", "ovaries")}
    return {t: set(frame["study_date"]) for t, frame in tables.items()}


@pytest.fixture
def options(tmp_path) -> RunOptions:
    return RunOptions(out=tmp_path / "out", workers=1, dicom=False, report=False)


def test_a_file_added_to_a_resumed_study_is_drawn_on_the_day_the_tables_give(tmp_path, options):
    """The first run analysed A (Jan 5); B (Jan 6) added, the run resumed A and placed B on its own
    day: its overlay said Jan 6, its rows Jan 5 (A and B a day apart: the earliest)."""
    a = _dated(tmp_path / "in", "a.dcm", "20250105")
    run([a], options)
    b = _dated(tmp_path / "in", "b.dcm", "20250106")
    summary = run([a, b], options)
    assert summary.resumed == 1 and summary.ok == 2
    assert _study_dates(options.out) == {"images": {"2025-01-05"}, "ovaries": {"2025-01-05"}}
    names = _overlays(options.out)
    assert len(names) == 2 and all("_20250105_" in n for n in names), names


def test_a_resumed_files_overlays_move_with_its_study_and_none_stays_on_the_old_day(tmp_path, options):
    """The first run analysed B (Jan 6) alone; A (Jan 5) added moves the study to Jan 5: B's
    overlay, named and headed Jan 6, is drawn again (that of Jan 6 removed), its result kept."""
    b = _dated(tmp_path / "in", "b.dcm", "20250106")
    run([b], options)
    (before,) = _overlays(options.out)
    assert "_20250106_" in before
    a = _dated(tmp_path / "in", "a.dcm", "20250105")
    summary = run([a, b], options)
    assert summary.resumed == 0 and summary.ok == 2  # B analysed again for its overlays
    assert _study_dates(options.out) == {"images": {"2025-01-05"}, "ovaries": {"2025-01-05"}}
    names = _overlays(options.out)
    assert len(names) == 2 and all("_20250105_" in n for n in names), names
    crops = [p.name for p in (options.out / "overlays" / "crops").glob("*.jpg")]
    assert not any("_20250106_" in n for n in crops), crops
    assert "1 resumed file(s) analysed again: their study's day moved since their overlays were named" in (
        options.out / "run.log").read_text()
    run([a, b], options)  # nothing moved since: resumed as it is
    assert _overlays(options.out) == names


def test_a_duplicate_whose_header_was_read_counts_in_its_studys_day(tmp_path, options):
    """A copy of B's image (another ContentDate, Jan 5) is rejected as a duplicate after its header
    was read; the tables counted its record, the run did not: B's overlay said Jan 6, its rows Jan 5."""
    b = _dated(tmp_path / "in", "a_b.dcm", "20250106")
    copy = _dated(tmp_path / "in", "b_copy.dcm", "20250105", sop=pydicom.dcmread(b).SOPInstanceUID)
    summary = run([b, copy], options)
    assert summary.ok == 1 and summary.rejected == 1
    images = pd.read_csv(options.out / "images.csv", dtype=str, keep_default_na=False)
    assert images.set_index("status").loc["ok", "study_date"] == "2025-01-05"
    (name,) = _overlays(options.out)
    assert "_20250105_" in name


def test_a_duplicate_analysed_in_place_of_a_copy_that_cannot_be_decoded_is_drawn_on_its_studys_day(tmp_path, options):
    """The first copy (Jan 5) takes the image and fails on its last frame; the good copy (Jan 6),
    analysed in its place, was drawn on its own day: its rows said Jan 5."""
    cine = pydicom.dcmread(SAMPLES / "cine_20f_jpegls_right.dcm")
    cine.StudyDate, cine.StudyInstanceUID = "", STUDY
    for keyword in ("SeriesDate", "AcquisitionDate", "AcquisitionDateTime"):
        cine.pop(keyword, None)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, day in (("a_broken.dcm", "20250105"), ("b_good.dcm", "20250106")):
        cine.ContentDate = day
        cine.save_as(inputs / name)
    data = bytearray((inputs / "a_broken.dcm").read_bytes())
    data[-600:-20] = bytes(580)  # the last frame's JPEG-LS stream zeroed: it cannot be decoded
    (inputs / "a_broken.dcm").write_bytes(bytes(data))
    summary = run([inputs], options)
    assert summary.ok == 1
    images = pd.read_csv(options.out / "images.csv", dtype=str, keep_default_na=False)
    assert images.set_index("status").loc["ok", "study_date"] == "2025-01-05"
    names = _overlays(options.out)
    assert names and all("_20250105_" in n for n in names), names


def test_a_file_removed_from_a_study_no_longer_dates_the_files_resumed_with_it(tmp_path, options):
    """A (Jan 5) and B (Jan 6) analysed together were placed on Jan 5; A removed, the rerun resumed
    B on the day A had given it: its rows said Jan 5 where a run afresh on B says Jan 6 (a resumed
    file kept the day it was placed on, not its own). Now its stored record keeps its own date, and
    the study is dated again from the files of the run: B's rows and overlay on Jan 6."""
    a = _dated(tmp_path / "in", "a.dcm", "20250105")
    b = _dated(tmp_path / "in", "b.dcm", "20250106")
    run([a, b], options)
    assert _study_dates(options.out) == {"images": {"2025-01-05"}, "ovaries": {"2025-01-05"}}
    summary = run([b], options)
    assert summary.ok == 1
    assert _study_dates(options.out) == {"images": {"2025-01-06"}, "ovaries": {"2025-01-06"}}
    fresh = RunOptions(out=tmp_path / "fresh", workers=1, dicom=False, report=False)
    run([b], fresh)
    assert _study_dates(fresh.out) == _study_dates(options.out)
    names = [n for n in _overlays(options.out) if parse_name(n)[0] == parse_name(_overlays(fresh.out)[0])[0]]
    assert names and all("_20250106_" in n for n in names), _overlays(options.out)
