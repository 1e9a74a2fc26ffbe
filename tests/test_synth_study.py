"""Study mode: DICOM that ingestion reads back with the right calibration, and consistent truth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pydicom
import pytest
from skimage.measure import label, regionprops

from follicle_seg.io.dicom import iter_frames, read_record
from follicle_seg.synth.study import StudyTruth, ovary_summary, write_study
from follicle_seg.types import FOLLICLE, OVARY


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> StudyTruth:
    return write_study(tmp_path_factory.mktemp("synth"), patients=3, visits=2, frames_per_sweep=8, seed=5)


def test_layout_and_cohort(study: StudyTruth) -> None:
    out = study.out
    cohort = pd.read_csv(out / "cohort.csv")
    assert list(cohort.columns) == ["patient_id", "group", "baseline_date"]
    assert sorted(cohort["group"]) == ["high", "low", "medium"]
    dicoms = sorted((out / "dicom").rglob("*.dcm"))
    assert len(dicoms) == 3 * 2 * 2 * 2 == len(study.files)  # patients x visits x sides x (sweep + still)
    ovaries = pd.read_csv(out / "truth" / "ovaries.csv")
    assert len(ovaries) == 12 and set(ovaries["laterality"]) == {"L", "R"}
    for pid, rows in ovaries.groupby("patient_id"):
        days = sorted(rows["days_from_baseline"].unique())
        assert days[0] == 0 and 11 <= days[1] <= 17


def test_truth_counts_are_follicles_of_at_least_2mm(study: StudyTruth) -> None:
    fol = pd.read_csv(study.out / "truth" / "follicles.csv")
    ovaries = pd.read_csv(study.out / "truth" / "ovaries.csv", keep_default_na=False)
    assert (fol["mean_diameter_mm"] < 2.0).any()  # sub-2 mm follicles exist and must not count
    for _, ov in ovaries.iterrows():
        keys = (fol["patient_id"] == ov["patient_id"]) & (fol["study_date"] == ov["study_date"]) & (
            fol["laterality"] == ov["laterality"])
        rows = fol[keys]
        chosen = rows[rows["sop_instance_uid"] == ov["count_sop_instance_uid"]]
        assert ov["follicle_count"] == int((chosen["mean_diameter_mm"] >= 2.0).sum()) == int(chosen["counted"].sum())
        per_image = rows[rows["mean_diameter_mm"] >= 2.0].groupby("sop_instance_uid").size()
        assert ov["follicle_count"] == (per_image.max() if len(per_image) else 0)  # the largest, never a sum
        d = chosen["mean_diameter_mm"]
        assert ov["afc"] == int(((d >= 2.0) & (d <= 10.0)).sum())
    assert fol["counted"].sum() == ovaries["follicle_count"].sum()


def test_ovary_summary_bins_follow_spec() -> None:
    s = ovary_summary([1.99, 2.0, 4.99, 5.0, 10.0, 10.01, 14.0, 18.0, 25.0])
    assert s["follicle_count"] == 8 and s["afc"] == 4
    assert (s["count_2_5"], s["count_5_10"], s["count_10_14"], s["count_14_18"], s["count_ge18"]) == (2, 1, 2, 1, 2)
    assert s["max_follicle_mm"] == 25.0 and s["follicle_sizes_mm"].startswith("25.0;18.0;14.0")


def test_an_ovary_without_a_counted_follicle_has_no_largest_follicle(study: StudyTruth) -> None:
    """The truth wrote max_follicle_mm 0.0 where no follicle counts, a run leaves it empty: a mean
    of the truth's largest follicle per group was pulled towards 0 mm by every empty ovary."""
    assert np.isnan(ovary_summary([1.5])["max_follicle_mm"])
    ovaries = pd.read_csv(study.out / "truth" / "ovaries.csv")
    none = ovaries[ovaries["follicle_count"] == 0]
    assert len(none) and none["max_follicle_mm"].isna().all()
    assert (ovaries.loc[ovaries["follicle_count"] > 0, "max_follicle_mm"] >= 2.0).all()


def test_written_files_read_back_with_calibration_side_and_region(study: StudyTruth) -> None:
    fol = pd.read_csv(study.out / "truth" / "follicles.csv")
    side_sources, checked = set(), 0
    for path in study.files:
        rec = read_record(path)
        side_sources.add(rec.laterality_source)
        assert rec.laterality == ("L" if path.name.startswith("L_") else "R")
        assert rec.calibration.source == "ultrasound_region" and rec.region_source == "ultrasound_region"
        if rec.is_sweep:
            assert 0.5 <= rec.frame_spacing_mm <= 1.0 and rec.n_frames == 8
        rows = fol[(fol["sop_instance_uid"] == rec.sop_instance_uid) & (fol["mean_diameter_mm"] >= 3.0)]
        for _, f in rows.iterrows():
            mask = cv2.imread(str(study.out / "truth" / "masks" / f"{rec.sop_instance_uid}_{f['frame_index']}.png"), 0)
            assert mask.shape == (rec.rows, rec.columns)
            comp = label(mask == FOLLICLE)
            lab = comp[int(round(f["centroid_row"])), int(round(f["centroid_col"]))]
            assert lab > 0
            prop = regionprops((comp == lab).astype(np.uint8))[0]
            d_px = (prop.axis_major_length + prop.axis_minor_length) / 2.0
            assert d_px * rec.calibration.spacing_row_mm == pytest.approx(f["mean_diameter_mm"], abs=0.3)
            c0, r0, c1, r1 = rec.region
            assert r0 <= prop.centroid[0] <= r1 and c0 <= prop.centroid[1] <= c1
            frame = next(iter_frames(rec, start=int(f["frame_index"]), stop=int(f["frame_index"]) + 1))
            inner = cv2.erode((comp == lab).astype(np.uint8), np.ones((5, 5), np.uint8))[r0 : r1 + 1, c0 : c1 + 1]
            if f["mean_diameter_mm"] >= 5.0:  # wider than the point-spread function: anechoic
                assert np.median(frame.pixels[inner > 0]) < 40
            checked += 1
    assert checked >= 5
    assert "ImageLaterality" in side_sources and len(side_sources) >= 2


def test_truth_ovary_size_is_the_masks_largest_ovary_section(study: StudyTruth) -> None:
    """The truth had no ovary size, so a run's ovary_d1_mm / ovary_d2_mm had nothing to be
    checked against; now the axes of the ovary's largest section in the count image."""
    from follicle_seg.measure import measure_mask

    ovaries = pd.read_csv(study.out / "truth" / "ovaries.csv")
    images = pd.read_csv(study.out / "truth" / "images.csv")
    for ov in ovaries.itertuples():
        files = images[images.image_id == ov.count_sop_instance_uid].sop_instance_uid
        rec = read_record(next(p for p in study.files if read_record(p).sop_instance_uid == files.iloc[0]))
        masks = [cv2.imread(str(m), 0) > 0 for sop in files
                 for m in sorted((study.out / "truth" / "masks").glob(f"{sop}_*.png"))]  # fmt: skip
        largest = max(masks, key=np.count_nonzero)
        s = measure_mask(largest, rec.calibration.spacing_row_mm, rec.calibration.spacing_col_mm)
        assert ov.ovary_d1_mm >= ov.ovary_d2_mm > 5.0
        assert s.d1_mm == pytest.approx(ov.ovary_d1_mm, abs=0.3) and s.d2_mm == pytest.approx(ov.ovary_d2_mm, abs=0.3)


def test_masks_stay_inside_the_region_and_hold_the_ovary(study: StudyTruth) -> None:
    for path in study.files[:6]:
        rec = read_record(path)
        c0, r0, c1, r1 = rec.region
        mask = cv2.imread(str(study.out / "truth" / "masks" / f"{rec.sop_instance_uid}_0.png"), 0)
        outside = mask.copy()
        outside[r0 : r1 + 1, c0 : c1 + 1] = 0
        assert not outside.any()
        assert np.any(mask == OVARY) or rec.is_sweep


def test_patient_name_is_fake_and_same_seed_gives_same_pixels(tmp_path: Path) -> None:
    a = write_study(tmp_path / "a", patients=1, visits=1, frames_per_sweep=3, seed=9)
    b = write_study(tmp_path / "b", patients=1, visits=1, frames_per_sweep=3, seed=9)
    for fa, fb in zip(a.files, b.files):
        da, db = pydicom.dcmread(fa), pydicom.dcmread(fb)
        assert da.PixelData == db.PixelData and da.SOPInstanceUID == db.SOPInstanceUID
        assert str(da.PatientName).startswith("SYNTH^PATIENT^")
    pd.testing.assert_frame_equal(a.follicles, b.follicles)
    # other settings, other files: none of their UIDs repeat (a PACS given both keeps both)
    c = write_study(tmp_path / "c", patients=1, visits=1, frames_per_sweep=4, seed=9)
    uids = {str(pydicom.dcmread(f, stop_before_pixels=True)[k].value) for f in a.files
            for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")}  # fmt: skip
    assert not uids & {str(pydicom.dcmread(f, stop_before_pixels=True)[k].value) for f in c.files
                       for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")}  # fmt: skip


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="frames_per_sweep"):
        write_study(tmp_path, patients=1, visits=1, frames_per_sweep=1)
    with pytest.raises(ValueError, match="Unknown style"):
        write_study(tmp_path, patients=1, visits=1, styles=["nope"])


def test_synth_command_writes_a_study(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from follicle_seg.synth.cli import synth_command

    app = typer.Typer()
    app.command()(synth_command)
    res = CliRunner().invoke(app, [str(tmp_path / "s"), "--patients", "1", "--visits", "1", "--frames", "2"])
    assert res.exit_code == 0, res.output
    assert "Wrote 4 DICOM files" in res.output
    assert (tmp_path / "s" / "truth" / "ovaries.csv").exists()
    bad = CliRunner().invoke(app, [str(tmp_path / "t"), "--styles", "nope"])
    assert bad.exit_code != 0 and "Unknown style" in bad.output
    empty = CliRunner().invoke(app, [str(tmp_path / "t"), "--styles", ","], env={"COLUMNS": "200"})
    assert empty.exit_code == 2 and "names no style family" in empty.output and not (tmp_path / "t").exists()
    # a negative seed was refused by numpy as "Invalid value: expected non-negative integer"
    negative = CliRunner().invoke(app, [str(tmp_path / "u"), "--seed", "-1"], env={"COLUMNS": "200"})
    assert negative.exit_code == 2 and "'--seed'" in negative.output and not (tmp_path / "u").exists()
    with pytest.raises(ValueError, match="seed >= 0"):
        write_study(tmp_path / "u", patients=1, visits=1, seed=-1)


def test_synth_on_a_full_disk_says_why_in_one_line(tmp_path: Path, monkeypatch) -> None:
    """pydicom raises a failed write again with its traceback as the message: ``synth`` on a
    full disk printed ten lines of it after "error:"."""
    import errno

    import typer
    from pydicom.tag import Tag, tag_in_exception
    from typer.testing import CliRunner

    import follicle_seg.synth.study as synth_study
    from follicle_seg.synth.cli import synth_command

    def full_disk(out, **kw):
        with tag_in_exception(Tag(0x7FE0, 0x0010)):  # as pydicom's writer wraps each element
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(synth_study, "write_study", full_disk)
    app = typer.Typer()
    app.command()(synth_command)
    res = CliRunner().invoke(app, [str(tmp_path / "s")])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [f"error: {tmp_path / 's'}: cannot write the study (No space left on device)"]


def test_sweeps_as_one_file_per_frame_are_the_cines_frames(tmp_path: Path) -> None:
    """``sweep_files="frames"``: the same scans, each sweep frame its own file of one series, a
    frame time apart; the truth names each follicle's frame file and maps it to its sweep."""
    cine = write_study(tmp_path / "cine", patients=1, visits=1, frames_per_sweep=4, seed=3)
    split = write_study(tmp_path / "split", patients=1, visits=1, frames_per_sweep=4, seed=3, sweep_files="frames")
    visit = "dicom/P001/visit01"
    frames = sorted((split.out / visit).glob("L_sweep_*.dcm"))
    assert [p.name for p in frames] == [f"L_sweep_{k:03d}.dcm" for k in (1, 2, 3, 4)]
    assert len(split.files) == 2 * (4 + 1)
    records = [read_record(p) for p in frames]
    assert len({r.series_instance_uid for r in records}) == 1 and all(r.n_frames == 1 for r in records)
    assert [r.instance_number for r in records] == [1, 2, 3, 4]
    gaps = np.diff([r.acquired_s for r in records])
    assert np.all((gaps > 0.02) & (gaps < 0.06))
    whole = [f.pixels for f in iter_frames(read_record(cine.out / visit / "L_sweep.dcm"))]
    for k, record in enumerate(records):
        np.testing.assert_array_equal(next(iter_frames(record)).pixels, whole[k])

    images = pd.read_csv(split.out / "truth" / "images.csv")
    sweep_ids = images[images.sop_instance_uid.isin([r.sop_instance_uid for r in records])].image_id
    assert set(sweep_ids) == {records[0].sop_instance_uid}
    fol = split.follicles[split.follicles.image_kind == "sweep"]
    assert len(fol) > 0 and (fol.frame_index == 0).all() and set(fol.sop_instance_uid) <= set(images.sop_instance_uid)
    for row in fol.itertuples():
        assert (split.out / "truth" / "masks" / f"{row.sop_instance_uid}_0.png").exists()
    pd.testing.assert_frame_equal(split.ovaries.drop(columns=["count_sop_instance_uid", "n_images"]),
                                  cine.ovaries.drop(columns=["count_sop_instance_uid", "n_images"]))
    with pytest.raises(ValueError, match="sweep_files"):
        write_study(tmp_path / "bad", patients=1, visits=1, sweep_files="stills")


def test_a_study_written_over_a_larger_one_keeps_none_of_its_files(tmp_path: Path) -> None:
    """A second study in the same folder (``synth OUT`` again, ``demo`` again with fewer patients)
    replaced the first one's files of the same names only: the first one's other patient and visit
    stayed (8 DICOM files where the new study wrote 2, 16 truth masks where it wrote 4), and a run
    of OUT/dicom analysed them without truth or cohort rows."""
    write_study(tmp_path, patients=2, visits=2, frames_per_sweep=2, stills_per_ovary=0)
    small = write_study(tmp_path, patients=1, visits=1, frames_per_sweep=2, stills_per_ovary=0)
    assert sorted((tmp_path / "dicom").rglob("*.dcm")) == sorted(small.files) and len(small.files) == 2
    assert len(list((tmp_path / "truth" / "masks").iterdir())) == 2 * 2


def test_a_folder_that_is_not_a_synthetic_study_is_refused_not_emptied(tmp_path: Path) -> None:
    (tmp_path / "archive" / "dicom").mkdir(parents=True)
    (tmp_path / "archive" / "dicom" / "scan.dcm").write_bytes(b"a patient's scan")
    with pytest.raises(ValueError, match="not a synthetic study's"):
        write_study(tmp_path / "archive", patients=1, visits=1, frames_per_sweep=2)
    assert (tmp_path / "archive" / "dicom" / "scan.dcm").read_bytes() == b"a patient's scan"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="file is a file, not a folder"):
        write_study(tmp_path / "file" / "study", patients=1, visits=1, frames_per_sweep=2)


def test_synth_and_demo_into_a_file_say_so_in_one_line(tmp_path: Path) -> None:
    """``synth FILE`` and ``demo --out FILE`` ended in a NotADirectoryError traceback (exit 1)."""
    from typer.testing import CliRunner

    from follicle_seg.cli import app

    (tmp_path / "notes.txt").write_text("x")
    for args in (["synth", str(tmp_path / "notes.txt"), "--patients", "1", "--visits", "1", "--frames", "2"],
                 ["demo", "--out", str(tmp_path / "notes.txt")]):  # fmt: skip
        result = CliRunner().invoke(app, args, env={"COLUMNS": "400"})
        assert result.exit_code == 2 and "notes.txt is a file, not a folder" in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert (tmp_path / "notes.txt").read_text() == "x"
