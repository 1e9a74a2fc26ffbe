"""`follicle-seg run` end to end on a small generated study: tables, resume, duplicates, Dask, quiet."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from follicle_seg.cli import app
from follicle_seg.errors import FollicleSegError
from follicle_seg.filehash import file_sha256
from follicle_seg.pipeline import RunOptions, run
from follicle_seg.progress import RunProgress
from script_module import load_script  # tests/ is on sys.path
from test_build import hashed_here

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"

TABLES = ("images", "follicles", "ovaries", "visits", "response")


@pytest.fixture(scope="module")
def clean_run(study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv", workers=1, dicom=False))
    return out


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_csv(out / f"{t}.csv", dtype=str, keep_default_na=False) for t in TABLES}


def _bundle_of(root: Path, weights: bytes) -> Path:
    """``root/models/model.pt`` holding ``weights``, in a bundle whose metadata names their sha256."""
    from follicle_seg.model.paths import METADATA, WEIGHTS, shipped_bundle_root

    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    (root / WEIGHTS).write_bytes(weights)
    metadata = json.loads((shipped_bundle_root() / METADATA).read_text())
    (root / METADATA).write_text(json.dumps({**metadata, "weights_sha256": file_sha256(root / WEIGHTS)}))
    return root / WEIGHTS


def _first_files(study: Path, folder: Path, n: int) -> Path:
    """``folder`` holding copies of the study's first ``n`` files."""
    folder.mkdir()
    for path in sorted(p for p in (study / "dicom").rglob("*") if p.is_file())[:n]:
        shutil.copy(path, folder / path.name)
    return folder


def _same_tables(a: Path, b: Path) -> None:
    """Every results table of two runs alike, the review's candidates and reasons included."""
    for name in (*TABLES, "candidates", "review_reasons"):
        left, right = (pd.read_csv(p / f"{name}.csv", dtype=str, keep_default_na=False) for p in (a, b))
        pd.testing.assert_frame_equal(left, right, obj=name)


def test_run_writes_every_table_consistently(study, clean_run):
    tables = _tables(clean_run)
    for name in TABLES:
        assert (clean_run / f"{name}.parquet").exists()
    images = tables["images"]
    assert set(images.status) == {"ok"}
    n_files = sum(1 for p in (study / "dicom").rglob("*") if p.is_file())
    assert len(images) == n_files
    # counted follicles add up to each ovary's count, and every ovary-visit of the truth is there
    ovaries = tables["ovaries"]
    counted = tables["follicles"].query("counted == 'true'")
    per_ovary = counted.groupby(["patient_id", "study_date", "laterality"]).size()
    for _, row in ovaries.iterrows():
        key = (row.patient_id, row.study_date, row.laterality)
        assert int(row.follicle_count) == int(per_ovary.get(key, 0))
    truth = pd.read_csv(study / "truth" / "ovaries.csv", dtype={"patient_id": str})
    keys = ["patient_id", "study_date", "laterality"]
    assert sorted(map(tuple, ovaries[keys].values)) == sorted(map(tuple, truth[keys].values))
    assert set(ovaries.group) == set(pd.read_csv(study / "cohort.csv").group)
    assert (clean_run / "report" / "index.html").exists()
    assert any((clean_run / "overlays").glob("*.png"))


def test_run_reproduces_truth_counts_on_most_ovary_visits(study, clean_run):
    # 0.3.0: 8 of 8 ovary-visits exact on this study, 0.4.0: 7 of 8 (21 of 24 on the README's larger one)
    ovaries = _tables(clean_run)["ovaries"].astype({"follicle_count": int})
    truth = pd.read_csv(study / "truth" / "ovaries.csv", dtype={"patient_id": str})
    merged = ovaries.merge(truth, on=["patient_id", "study_date", "laterality"], suffixes=("", "_truth"))
    exact = merged.follicle_count == merged.follicle_count_truth
    assert exact.mean() >= 0.75, merged[["follicle_count", "follicle_count_truth"]]


def test_resume_after_sigkill_gives_the_same_tables(study, clean_run, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "follicle_seg", "run", str(study / "dicom"), "--out", str(out),
           "--cohort", str(study / "cohort.csv"), "--workers", "1", "--no-dicom", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "run_state.sqlite"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(state) as db:
                if db.execute("SELECT count(*) FROM inputs").fetchone()[0] >= 2:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "follicles.csv").exists()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    _same_tables(clean_run, out)
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM inputs").fetchone()[0] == len(_tables(out)["images"])


def test_duplicate_sop_instance_is_analysed_once(study, clean_run, tmp_path):
    first = sorted(p for p in (study / "dicom").rglob("*") if p.is_file())[0]
    inputs = tmp_path / "inputs"
    shutil.copytree(study / "dicom", inputs / "dicom")
    shutil.copy(first, inputs / "zz_copy_of_first.dcm")
    out = tmp_path / "dup"
    run([inputs], RunOptions(out=out, cohort=study / "cohort.csv", workers=1, dicom=False, overlays=False))
    images = _tables(out)["images"]
    dup = images[images.path.str.endswith("zz_copy_of_first.dcm")]
    assert len(dup) == 1 and dup.status.iloc[0] == "rejected"
    assert "duplicate SOP instance" in dup.reason.iloc[0]
    ovaries = _tables(out)["ovaries"]
    pd.testing.assert_frame_equal(ovaries, _tables(clean_run)["ovaries"])
    # the first is exported again under a new SOP instance: the copy, no longer a duplicate, is
    # analysed (its image would otherwise drop out of the tables for good)
    ds = pydicom.dcmread(first)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    original = inputs / "dicom" / first.relative_to(study / "dicom")
    ds.save_as(original)
    summary = run([inputs], RunOptions(out=out, cohort=study / "cohort.csv", workers=1, dicom=False, overlays=False))
    images = _tables(out)["images"].set_index("path")
    assert summary.rejected == 0 and images.loc[str(inputs / "zz_copy_of_first.dcm"), "status"] == "ok"
    assert images.loc[str(original), "sop_instance_uid"] == ds.SOPInstanceUID


def test_a_moved_archive_keeps_its_analyses_and_a_copy_stays_a_duplicate(study, tmp_path):
    inputs = _first_files(study, tmp_path / "in", 3)
    out = tmp_path / "out"
    options = RunOptions(out=out, workers=1, dicom=False, report=False)
    run([inputs], options)
    before, overlays = _tables(out), sorted(p.name for p in (out / "overlays").glob("*.png"))
    moved = inputs.rename(tmp_path / "mounted elsewhere")
    summary = run([moved], options)
    assert summary.resumed == 3 and summary.frames == 0  # nothing analysed again
    after = _tables(out)
    assert after["images"].path.tolist() == [p.replace(str(inputs), str(moved)) for p in before["images"].path]
    for table in ("follicles", "ovaries", "visits"):
        pd.testing.assert_frame_equal(after[table], before[table])
    assert sorted(p.name for p in (out / "overlays").glob("*.png")) == overlays
    # a copy beside a file analysed under its own path is a duplicate, not a moved file
    shutil.copy(sorted(moved.iterdir())[0], moved / "zz copy.dcm")
    run([moved], options)
    images = _tables(out)["images"].set_index("path")
    assert images.loc[str(moved / "zz copy.dcm"), "status"] == "rejected"
    assert images.status.tolist().count("ok") == 3


def test_a_moved_file_is_still_a_duplicate_and_never_takes_an_analysis_its_image_outgrew(study, tmp_path):
    inputs = _first_files(study, tmp_path / "in", 1)
    (a,) = inputs.iterdir()
    original = a.read_bytes()
    out = tmp_path / "out"
    options = RunOptions(out=out, workers=1, dicom=False, report=False)
    run([inputs], options)
    # the file changed in place (its SOP instance kept) and its first version copied beside it:
    # the copy is that SOP instance's duplicate, not a file moved from where it was analysed
    ds = pydicom.dcmread(a)
    ds.PatientName = "Changed^Name"
    ds.save_as(a)
    (inputs / "backup.dcm").write_bytes(original)
    run([inputs], options)
    images = _tables(out)["images"]
    assert images.status.tolist().count("ok") == 1 and images.sop_instance_uid.nunique() == 1
    assert "duplicate SOP instance" in images.set_index("path").loc[str(inputs / "backup.dcm"), "reason"]
    # the first version alone again, under a new name: its SOP instance was analysed since from
    # the changed file, whose outputs are on disk, so it is analysed again
    a.unlink()
    (inputs / "backup.dcm").rename(inputs / "b.dcm")
    summary = run([inputs], options)
    assert summary.resumed == 0 and summary.frames > 0 and _tables(out)["images"].path.tolist() == [str(inputs / "b.dcm")]


def test_a_copy_that_cannot_be_decoded_does_not_hide_a_good_copy_of_the_same_image(tmp_path):
    """Owners of a SOP instance are chosen from the headers, before any pixel is decoded: the
    first copy, broken in its last frame, took the instance, and the good copy was rejected as
    its duplicate, the image lost in that run."""
    cine = Path(__file__).resolve().parents[1] / "data_samples" / "cine_20f_jpegls_right.dcm"
    inputs = tmp_path / "in"
    inputs.mkdir()
    data = bytearray(cine.read_bytes())
    data[-600:-20] = bytes(580)  # the last frame's JPEG-LS stream zeroed: it cannot be decoded
    (inputs / "a_broken.dcm").write_bytes(bytes(data))
    shutil.copy(cine, inputs / "b_good.dcm")
    out = tmp_path / "out"
    summary = run([inputs], RunOptions(out=out, workers=1, overlays=False, dicom=False, report=False))
    images = _tables(out)["images"].set_index("path")
    assert images.loc[str(inputs / "b_good.dcm"), "status"] == "ok" and summary.ok == 1
    assert images.loc[str(inputs / "a_broken.dcm"), "status"] in ("rejected", "failed")
    assert "analysed in place of a copy that could not be" in (out / "run.log").read_text()
    # the next run, nothing changed, gives the same tables
    before = _tables(out)
    run([inputs], RunOptions(out=out, workers=1, overlays=False, dicom=False, report=False))
    for name, table in _tables(out).items():
        pd.testing.assert_frame_equal(table, before[name], obj=name)


def test_every_unsure_follicle_that_flags_an_image_is_drawn_on_its_overlays(clean_run):
    # review_reasons says "a candidate follicle scored 0.60-0.90": the overlays show where
    from follicle_seg.report.overlay import UNSURE_COLOUR
    from follicle_seg.report.overlay_files import uid_token

    reasons = pd.read_csv(clean_run / "review_reasons.csv", dtype=str, keep_default_na=False)
    unsure = set(reasons.loc[reasons.flag == "low confidence", "sop_instance_uid"])
    assert unsure, "the study has no unsure follicle to show"
    for uid in set(_tables(clean_run)["images"].sop_instance_uid):
        pngs = sorted((clean_run / "overlays").glob(f"*{uid_token(uid)}_f*.png"))
        assert pngs, uid
        blue = [(np.asarray(Image.open(p).convert("RGB")) == UNSURE_COLOUR).all(axis=2).any() for p in pngs]
        assert any(blue) == (uid in unsure), uid


def test_rerun_from_another_folder_or_after_a_move_keeps_every_result(study, clean_run, tmp_path, monkeypatch):
    # a file is one input however its path is spelt; a file moved since the last run keeps its
    # analysis where it is now, not rejected as a duplicate of where it was (whose result is
    # not in this run), so no rerun loses a result
    inputs = tmp_path / "inputs"
    shutil.copytree(study / "dicom", inputs / "dicom")
    out = tmp_path / "out"
    options = RunOptions(out=out, cohort=study / "cohort.csv", workers=1, dicom=False, overlays=False)
    run([inputs / "dicom"], options)
    n_files = len(_tables(out)["images"])
    monkeypatch.chdir(inputs)
    summary = run([Path("dicom") / ".." / "dicom"], options)
    assert summary.resumed == n_files and summary.rejected == 0
    images = _tables(out)["images"]
    assert set(images.status) == {"ok"} and all(Path(p).is_absolute() for p in images.path)
    pd.testing.assert_frame_equal(_tables(out)["ovaries"], _tables(clean_run)["ovaries"])
    (inputs / "dicom").rename(inputs / "moved")
    summary = run([Path("moved")], options)
    assert summary.resumed == summary.ok == n_files and summary.rejected == 0 and summary.frames == 0
    images = _tables(out)["images"]
    assert len(images) == n_files and all("/moved/" in Path(p).as_posix() for p in images.path)
    pd.testing.assert_frame_equal(_tables(out)["ovaries"], _tables(clean_run)["ovaries"])


def test_an_output_folder_inside_the_input_is_not_read_as_input(study, clean_run, tmp_path, monkeypatch):
    # `cd study && follicle-seg run . --out results`: the run's own tables, report, log and state
    # are not inputs, on the first run or the next
    inputs = tmp_path / "inputs"
    shutil.copytree(study / "dicom", inputs)
    monkeypatch.chdir(inputs)
    options = RunOptions(out=Path("results"), cohort=study / "cohort.csv", workers=1, dicom=False, overlays=False)
    n_files = sum(1 for p in inputs.rglob("*") if p.is_file())
    run([Path(".")], options)
    assert (inputs / "results" / "images.csv").is_file()
    summary = run([Path(".")], options)
    assert summary.inputs == n_files and summary.resumed == n_files and summary.rejected == 0
    images = _tables(inputs / "results")["images"]
    assert len(images) == n_files and set(images.status) == {"ok"}
    pd.testing.assert_frame_equal(_tables(inputs / "results")["ovaries"], _tables(clean_run)["ovaries"])


def test_an_output_folder_given_as_input_through_a_link_is_named_as_such(tmp_path):
    (tmp_path / "mnt" / "results").mkdir(parents=True)
    (tmp_path / "mnt" / "results" / "images.csv").write_text("path\n")
    (tmp_path / "data").symlink_to(tmp_path / "mnt")
    with pytest.raises(FollicleSegError, match="is the output folder"):
        run([tmp_path / "data" / "results"], RunOptions(out=tmp_path / "mnt" / "results"))


def test_a_sweep_stored_as_single_frame_files_is_tracked_like_the_cine(study, clean_run, tmp_path):
    """SPEC: a series of frames of one ovary is tracked. Each cine split into one file per frame
    (scripts/split_cine.py) gives the same counts, sizes, volumes and tracks as the cine itself."""
    split_cine = load_script("split_cine").split_cine
    inputs = tmp_path / "dicom"
    shutil.copytree(study / "dicom", inputs)
    cines = sorted(inputs.rglob("*_sweep.dcm"))
    for k, cine in enumerate(cines):
        split_cine(cine, cine.parent, start=f"202601051015{k:02d}")
        cine.unlink()
    out = tmp_path / "split"
    run([inputs], RunOptions(out=out, cohort=study / "cohort.csv", workers=1, dicom=False, overlays=False))
    split, whole = _tables(out), _tables(clean_run)
    same = ["patient_id", "study_date", "laterality", "follicle_count", "follicle_sizes_mm", "ovary_volume_ml",
            "needs_review"]
    pd.testing.assert_frame_equal(split["ovaries"][same], whole["ovaries"][same])
    assert (split["ovaries"].n_images.astype(int) == whole["ovaries"].n_images.astype(int) + 7).all()  # 8 frames
    assert len(split["images"]) == len(whole["images"]) + 7 * len(cines)
    # the counted follicles too: followed through the same frames, measured the same
    cols = ["patient_id", "study_date", "laterality", "mean_diameter_mm", "n_frames", "volume_ml"]
    counted = [t["follicles"].query("counted == 'true'")[cols].sort_values(cols).reset_index(drop=True)
               for t in (split, whole)]  # fmt: skip
    pd.testing.assert_frame_equal(*counted)
    assert counted[0].n_frames.astype(int).max() > 1
    assert f"{8 * len(cines)} single-frame files tracked as the frames of {len(cines)} sweeps" in (
        out / "run.log"
    ).read_text()


def _stills_of_a_sweep(study, tmp_path, monkeypatch) -> tuple[list, list[str], dict]:
    """Four stills split from a sweep of ``study``, their SOP UIDs, and the place each overlay is
    drawn with (filled as overlays are drawn)."""
    import follicle_seg.artefacts as artefacts

    split_cine = load_script("split_cine").split_cine
    cine = sorted((study / "dicom").rglob("*_sweep.dcm"))[0]
    files = split_cine(cine, tmp_path / "dicom")[:4]
    uids = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in files]
    placed, real = {}, artefacts.write_overlays

    def write_overlays(out, result, keys, decode, in_sweep=None):
        placed[result.record.sop_instance_uid] = in_sweep
        return real(out, result, keys, decode, in_sweep)

    monkeypatch.setattr(artefacts, "write_overlays", write_overlays)
    return files, uids, placed


def test_the_overlay_of_a_still_that_is_a_frame_of_a_sweep_says_its_place_in_it(study, tmp_path, monkeypatch):
    """Each still of a sweep stored one file per frame was drawn as "still image", though the
    tables join them; its place in the sweep is known from the headers before anything is drawn,
    the stills an interrupted run analysed counted too."""
    files, uids, placed = _stills_of_a_sweep(study, tmp_path, monkeypatch)
    out = tmp_path / "out"
    run(files, RunOptions(out=out, workers=1, dicom=False, report=False))
    assert placed == {uid: (k, 4) for k, uid in enumerate(uids)}
    placed.clear()
    for path in (out / "overlays").glob("*.png"):  # the last two stills' overlays lost: drawn again
        if any(uid[-8:] in path.name for uid in uids[2:]):
            path.unlink()
    run(files, RunOptions(out=out, workers=1, dicom=False, report=False))
    assert placed == {uids[2]: (2, 4), uids[3]: (3, 4)}


def test_the_overlays_of_a_sweeps_stills_are_drawn_again_when_a_file_of_it_comes_or_goes(study, tmp_path,
                                                                                         monkeypatch):
    """A resumed still kept the overlay of its first analysis: with a file of its sweep added
    since, the 3 drawn said "file k of 3 of a sweep" of a sweep of 4 (and of 3 once one went).
    The place each was drawn with is kept; a still whose place changed is drawn again."""
    files, uids, placed = _stills_of_a_sweep(study, tmp_path, monkeypatch)
    out, options = tmp_path / "out", RunOptions(out=tmp_path / "out", workers=1, dicom=False, report=False)
    run(files[:3], options)
    assert placed == {uid: (k, 3) for k, uid in enumerate(uids[:3])}
    placed.clear()
    run(files, options)  # the fourth file added
    assert placed == {uid: (k, 4) for k, uid in enumerate(uids)}
    placed.clear()
    run(files, options)
    assert placed == {}  # nothing moved: nothing drawn again
    run(files[1:], options)  # the first removed
    assert placed == {uid: (k, 3) for k, uid in enumerate(uids[1:])}
    assert "3 resumed still(s) analysed again: their place in a sweep changed" in (out / "run.log").read_text()
    # a run that draws no overlay (masks asked for: the stills analysed again for them alone) keeps
    # the place the overlays say: the next run with overlays draws them again (they said "of 3")
    placed.clear()
    run(files, replace(options, overlays=False, save_masks=True))
    assert placed == {}
    run(files, options)  # (the first file's overlay of the second run, "1 of 4", still stands)
    assert placed == {uid: (k, 4) for k, uid in enumerate(uids) if k}


def _undecodable(path: Path) -> pydicom.Dataset:
    """The image of ``path`` whose pixel data cannot be decoded (RLE that is not its frame's)."""
    from pydicom.encaps import encapsulate, generate_fragmented_frames
    from pydicom.uid import RLELossless

    broken = pydicom.dcmread(path)
    broken.compress(RLELossless, generate_instance_uid=False)
    stream = bytearray(next(generate_fragmented_frames(broken.PixelData))[0])
    stream[200:-10] = b"\xff" * (len(stream) - 210)  # not the RLE of the frame: cannot be decoded
    broken.PixelData = encapsulate([bytes(stream)])
    return broken


def test_a_sweeps_still_analysed_in_place_of_a_copy_that_cannot_be_decoded_is_drawn_in_its_place(study, tmp_path,
                                                                                                  monkeypatch):
    """The good copy of a still whose first copy could not be decoded is analysed in its place:
    its overlay said "still image", though it is file 2 of 3 of a sweep."""
    import follicle_seg.artefacts as artefacts

    split_cine = load_script("split_cine").split_cine
    cine = sorted((study / "dicom").rglob("*_sweep.dcm"))[0]
    files = split_cine(cine, tmp_path / "in" / "b")[:3]
    for extra in files[0].parent.glob("*.dcm"):
        if extra not in files:
            extra.unlink()
    broken = _undecodable(files[1])
    (tmp_path / "in" / "a").mkdir()
    broken.save_as(tmp_path / "in" / "a" / "copy.dcm")  # found first: the SOP instance's owner
    placed, real = {}, artefacts.write_overlays

    def write_overlays(out, result, keys, decode, in_sweep=None):
        placed[result.record.sop_instance_uid] = in_sweep
        return real(out, result, keys, decode, in_sweep)

    monkeypatch.setattr(artefacts, "write_overlays", write_overlays)
    out = tmp_path / "out"
    run([tmp_path / "in"], RunOptions(out=out, workers=1, dicom=False, report=False))
    assert "1 duplicate(s) analysed in place of a copy that could not be" in (out / "run.log").read_text()
    assert placed[broken.SOPInstanceUID] == (1, 3)


def test_copies_that_cannot_be_decoded_leave_the_image_to_the_next_copy_and_the_rest_name_it(study, tmp_path):
    """Four copies of one image, the first two undecodable: the third is analysed in one run and
    the fourth names it (it named the first, which was not analysed; with two such copies the
    image was left to a later run)."""
    source = next(p for p in sorted((study / "dicom").rglob("*.dcm")) if "sweep" not in p.name)
    broken = _undecodable(source)
    for name in "abcd":
        (tmp_path / "in" / name).mkdir(parents=True)
        if name in "ab":
            broken.save_as(tmp_path / "in" / name / "x.dcm")
        else:
            shutil.copy(source, tmp_path / "in" / name / "x.dcm")
    out = tmp_path / "out"
    bars = RunProgress(Console(file=io.StringIO(), force_terminal=False, width=200))
    with bars:
        run([tmp_path / "in"], RunOptions(out=out, workers=1, overlays=False, dicom=False, report=False),
            progress=bars)  # fmt: skip
    assert bars.line().startswith("files 4/4, ")  # (each copy analysed in its turn counted once: was 6/4)
    images = pd.read_csv(out / "images.csv").set_index("path")
    at = {name: str(tmp_path / "in" / name / "x.dcm") for name in "abcd"}
    assert images.loc[at["a"], "status"] == images.loc[at["b"], "status"] == "rejected"
    assert "cannot be decoded" in images.loc[at["b"], "reason"]
    assert images.loc[at["c"], "status"] == "ok"
    assert images.loc[at["d"], "status"] == "rejected"
    assert images.loc[at["d"], "reason"].endswith(f"already analysed from {at['c']}")
    again = tmp_path / "again"
    run([tmp_path / "in"], RunOptions(out=again, workers=1, overlays=False, dicom=False, report=False))
    assert pd.read_csv(again / "images.csv").equals(pd.read_csv(out / "images.csv"))


def test_dask_local_cluster_gives_identical_tables(study, clean_run, tmp_path):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "dask"

    class Count:  # the progress bar's calls: its frames once stood at 0 to the end of a Dask run
        total = frames = 0

        def start(self, *, total_files, done, total_frames):
            self.total = total_frames

        def file_done(self, result):
            pass

        def frames_done(self, n):
            self.frames += n

    progress = Count()
    run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv", workers=2, dicom=False,
                                      executor="dask"), progress=progress)  # fmt: skip
    _same_tables(clean_run, out)
    assert progress.frames == progress.total > 0


def test_a_dask_scheduler_that_cannot_be_reached_is_a_one_line_error(tmp_path, monkeypatch):
    """It was an OSError traceback with exit 1; --scheduler without --executor dask was ignored."""
    pytest.importorskip("dask.distributed")
    import dask.distributed

    def refuse(address, **kwargs):
        raise OSError(f"Timed out trying to connect to {address} after 30 s")

    monkeypatch.setattr(dask.distributed, "Client", refuse)
    one = tmp_path / "in" / "mono_left.dcm"
    one.parent.mkdir()
    shutil.copy(SAMPLES / "mono_left.dcm", one)
    result = CliRunner().invoke(app, ["run", str(one), "--out", str(tmp_path / "o"), "--executor", "dask",
                                      "--scheduler", "tcp://127.0.0.1:1", "--no-dicom"])  # fmt: skip
    assert result.exit_code == 2
    assert "error: cannot reach the Dask scheduler at tcp://127.0.0.1:1 (OSError: Timed out" in result.output
    result = CliRunner().invoke(app, ["run", str(one), "--out", str(tmp_path / "o"), "--scheduler", "tcp://h:8786"],
                                env={"COLUMNS": "200"})  # the usage error's box on one line
    assert result.exit_code == 2 and "--scheduler is the address of a Dask scheduler: it needs --executor dask" in result.output


def test_quiet_prints_nothing(study, tmp_path):
    one = sorted(p for p in (study / "dicom").rglob("*") if p.is_file())[:1]
    result = CliRunner().invoke(app, ["run", *map(str, one), "--out", str(tmp_path / "q"), "--quiet", "--no-dicom"])
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_rejected_files_are_listed_and_the_run_goes_on(study, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = sorted(p for p in (study / "dicom").rglob("*") if p.is_file())[0]
    shutil.copy(good, inputs / "good.dcm")
    (inputs / "notes.txt").write_text("not an image")
    (inputs / "cut.dcm").write_bytes(good.read_bytes()[:3000])
    (inputs / "gone.dcm").symlink_to(tmp_path / "moved away.dcm")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(inputs), "--out", str(out), "--no-dicom"])
    assert result.exit_code == 0, result.output
    images = _tables(out)["images"].set_index("path")
    assert images.loc[str(inputs / "good.dcm"), "status"] == "ok"
    for bad in ("notes.txt", "cut.dcm", "gone.dcm"):
        row = images.loc[str(inputs / bad)]
        assert row.status == "rejected" and row.reason
    assert "which cannot be reached" in images.loc[str(inputs / "gone.dcm"), "reason"]  # a dangling link: listed, not lost
    # each listed with its file, as the tables name it
    assert f"not analysed: {inputs / 'notes.txt'}: " in result.output and result.output.count("not analysed:") == 3


def test_an_input_that_does_not_exist_or_an_option_that_cannot_be_used_stops_the_run_before_out_is_made(study, tmp_path):
    good = sorted(p for p in (study / "dicom").rglob("*") if p.is_file())[0]
    (tmp_path / "cohort.csv").write_text("patient,arm\nP001,A\n")
    (tmp_path / "empty").mkdir()
    for args, message in (([str(good), str(tmp_path / "typo")], f"error: {tmp_path / 'typo'}: no such file or folder"),
                          ([str(good), "--device", "gpu"], "error: --device gpu: device must be 'auto', 'cpu' or 'cuda[:N]'"),
                          ([str(good), "--pseudonymize", str(tmp_path / "no.key")], f"error: {tmp_path / 'no.key'}: cannot read the pseudonymisation key"),
                          ([str(good), "--cohort", str(tmp_path / "cohort.csv")], f"error: {tmp_path / 'cohort.csv'}"),
                          ([str(good), "--weights", str(tmp_path / "no.pt")], f"error: --weights {tmp_path / 'no.pt'}: no such file"),
                          ([str(good), "--weights", str(tmp_path / "empty")],  # a bundle's folder (said "no such file")
                           f"error: --weights {tmp_path / 'empty'}: a folder, not a weights file"),
                          ([str(tmp_path / "empty")], f"error: no files found under {tmp_path / 'empty'}"),
                          ([str(good), "--whole-frames", "--pseudonymize", str(tmp_path / "cohort.csv")],
                           "error: --whole-frames shows the text burned in around the scan area")):  # fmt: skip
        result = CliRunner().invoke(app, ["run", *args, "--out", str(tmp_path / "o")])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "o").exists()
    # weights whose sha256 is not their bundle's, or outside a bundle: refused before OUT as well
    tampered = _bundle_of(tmp_path / "tampered", b"weights the bundle's metadata do not name")
    metadata = tampered.parents[1] / "configs" / "metadata.json"
    metadata.write_text(metadata.read_text().replace(file_sha256(tampered), "0" * 64))
    (tmp_path / "loose").mkdir()
    loose = tmp_path / "loose" / "model.pt"
    loose.write_bytes(b"weights outside a bundle")
    # a configs/inference.json that cannot be read: its network_def is in the analysis identity (it
    # stopped the run once OUT was made, after --no-resume had emptied it)
    unread = _bundle_of(tmp_path / "unread", b"weights of a bundle whose network_def cannot be read")
    config = unread.parents[1] / "configs" / "inference.json"
    config.write_text("{not json")
    for weights, message in ((tampered, f"error: --weights {tampered}: sha256 "),
                             (loose, f"error: --weights {loose}: bundle metadata not found"),
                             (unread, f"error: --weights {config}: not readable JSON")):  # fmt: skip
        result = CliRunner().invoke(app, ["run", str(good), "--weights", str(weights), "--out", str(tmp_path / "o")])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--patients", "0"])
    assert result.exit_code == 2 and not (tmp_path / "d").exists()


def test_a_file_whose_dicom_could_not_be_written_says_so_where_the_user_looks(study, tmp_path, monkeypatch):
    import follicle_seg.artefacts as artefacts

    inputs = _first_files(study, tmp_path / "in", 2)
    odd = sorted(inputs.iterdir())[0]
    real = artefacts.write_dicom

    def write_dicom(out, result, keys, **kw):
        if result.path == str(odd):
            raise KeyError("No IOD found for SOP Class UID")
        return real(out, result, keys, **kw)

    monkeypatch.setattr(artefacts, "write_dicom", write_dicom)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(inputs), "--out", str(out), "--no-report", "--no-overlays"])
    assert result.exit_code == 0, result.output
    images = _tables(out)["images"].set_index("path")
    assert images.loc[str(odd), "status"] == "ok"  # the measurements stand
    assert images.loc[str(odd), "reason"].startswith("analysed, but its DICOM SEG/SR not written (KeyError:")
    assert images.reason.tolist().count("") == 1
    assert f"  {odd}: analysed, but its DICOM SEG/SR not written" in result.output
    # a full disk is not such a file's problem: the run stops, and the file is analysed again next time
    def full_disk(out, result, keys, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artefacts, "write_dicom", full_disk)
    ds = pydicom.dcmread(odd)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(inputs / "new.dcm")  # a new file to analyse
    result = CliRunner().invoke(app, ["run", str(inputs), "--out", str(out), "--no-report", "--no-overlays"])
    assert result.exit_code == 2 and "cannot write outputs (No space left on device)" in result.output


def test_a_full_disk_while_pydicom_writes_a_dicom_object_is_said_in_one_line(study, tmp_path, monkeypatch):
    """pydicom raises a failed write again with its traceback as the message: a disk that filled
    while a SEG was written stopped the run with a ten-line "error:" holding that traceback."""
    import errno

    import follicle_seg.artefacts as artefacts
    from pydicom.tag import Tag, tag_in_exception

    def full_disk(out, result, keys, **kw):
        with tag_in_exception(Tag(0x7FE0, 0x0010)):  # as pydicom's writer wraps each element
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(artefacts, "write_dicom", full_disk)
    inputs = _first_files(study, tmp_path / "in", 1)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(inputs), "--out", str(out), "--no-report", "--no-overlays", "--quiet"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {out}: cannot write outputs (No space left on device)"]
    assert "Traceback" not in (out / "run.log").read_text()


def test_a_frame_that_fails_to_measure_fails_its_file_alone(study, clean_run, tmp_path, monkeypatch):
    """Measurement runs on threads while the next batch is segmented, so a failure surfaces
    while other files' frames are in flight: it must fail its own file, and no other."""
    import follicle_seg.engine as engine

    sweeps = sorted((study / "dicom").rglob("*sweep*.dcm"))
    broken = str(sweeps[1])
    real = engine.analyse_frame

    def analyse_frame(seg):
        if seg.record.path == broken and seg.index == 5:
            raise RuntimeError("planted failure")
        return real(seg)

    monkeypatch.setattr(engine, "analyse_frame", analyse_frame)
    out = tmp_path / "out"
    # batches of 2 from 2 decoders: the broken file's batches interleave with another file's
    run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv", workers=2, batch_size=2,
                                      overlays=False, dicom=False, report=False))
    _only_this_file_failed(out, clean_run, broken, "planted failure")
    assert "planted failure" in (out / "run.log").read_text()


def test_a_run_whose_every_file_failed_exits_1_and_one_with_a_file_analysed_exits_0(study, tmp_path, monkeypatch):
    """A fault of the program (here planted in the measurement) failed every file and the run
    still exited 0: a scheduler read an empty analysis as a success."""
    import follicle_seg.engine as engine

    files = sorted(p for p in (study / "dicom").rglob("*.dcm"))[:2]
    real = engine.analyse_frame
    broken = {str(files[0]), str(files[1])}

    def analyse_frame(seg):
        if seg.record.path in broken:
            raise TypeError("planted fault")
        return real(seg)

    monkeypatch.setattr(engine, "analyse_frame", analyse_frame)
    args = ["run", *map(str, files), "--no-dicom", "--no-overlays", "--no-report"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "all")])
    assert result.exit_code == 1, result.output
    assert "error: no file was analysed: 2 failed (a fault of this program or a decoder" in result.output
    broken.discard(str(files[1]))
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "one")])
    assert result.exit_code == 0 and "1 ok, 0 rejected, 1 failed" in result.output, result.output


def test_a_file_whose_outputs_fail_fails_alone_while_the_others_are_written(study, clean_run, tmp_path,
                                                                            monkeypatch):
    """Overlays and DICOM are written on the output threads while later frames are segmented:
    a failure there fails its own file only, and every other file is recorded with its overlay."""
    import follicle_seg.artefacts as artefacts

    files = sorted(p for p in (study / "dicom").rglob("*.dcm"))
    broken = str(files[3])
    real = artefacts.write_overlays

    def write_overlays(out, result, keys, *decode):
        if result.record.path == broken:
            raise RuntimeError("planted overlay failure")
        return real(out, result, keys, *decode)

    monkeypatch.setattr(artefacts, "write_overlays", write_overlays)
    out = tmp_path / "out"
    summary = run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv", workers=2, batch_size=2,
                                                dicom=False, report=False))  # fmt: skip
    assert summary.failed == 1 and summary.ok == len(files) - 1
    _only_this_file_failed(out, clean_run, broken, "planted overlay failure")
    stems = {p.name.rsplit("_f", 1)[0] for p in (out / "overlays").glob("*.png")}
    assert len(stems) == len(files) - 1  # every other file's overlays, none of the failed one's


def test_a_file_that_fails_after_its_overlays_were_drawn_leaves_none_of_them(study, tmp_path, monkeypatch):
    """A file failing after some of its outputs were written kept them (and a report thumbnail)
    beside its failed row, until the next run."""
    import follicle_seg.artefacts as artefacts

    files = sorted(p for p in (study / "dicom").rglob("*sweep*.dcm"))[:2]
    broken = str(files[0])
    real = artefacts.write_overlays

    def write_overlays(out, result, keys, *decode):
        real(out, result, keys, *decode)
        if result.record.path == broken:
            raise RuntimeError("planted failure after drawing")

    monkeypatch.setattr(artefacts, "write_overlays", write_overlays)
    out = tmp_path / "out"
    summary = run(files, RunOptions(out=out, dicom=False))
    uid = pydicom.dcmread(broken, stop_before_pixels=True).SOPInstanceUID
    tail = uid[-8:]
    assert summary.failed == 1 and summary.ok == 1
    assert not [p for p in out.rglob("*") if tail in p.name]  # overlays, crops, report thumbnails
    assert list((out / "overlays").glob("*.png"))  # the other file's stay


def _only_this_file_failed(out: Path, clean_run: Path, broken: str, reason: str) -> None:
    """``broken`` failed with ``reason``; every other file's row equals the clean run's."""
    images = _tables(out)["images"].set_index("path")
    clean = _tables(clean_run)["images"].set_index("path")
    assert images.loc[broken, "status"] == "failed" and reason in images.loc[broken, "reason"]
    others = images.index != broken
    assert (images[others].status == "ok").all() and others.sum() == len(clean) - 1
    pd.testing.assert_frame_equal(images[others], clean.loc[images.index[others]])


def test_stills_share_batches_and_a_frame_that_fails_to_segment_fails_its_file_alone(
    study, clean_run, tmp_path, monkeypatch
):
    """Frames of several files are segmented in one call (stills would otherwise go one at a
    time); when such a call fails, each file's frames are segmented alone, and only the file
    whose frame fails is failed."""
    from follicle_seg.model.infer import Segmenter

    stills = sorted((study / "dicom").rglob("*still*.dcm"))
    broken = str(stills[2])
    calls: list[set[str]] = []
    real = Segmenter.segment

    def segment(self, frames):
        calls.append({f.record.path for f in frames})
        if any(f.record.path == broken for f in frames):
            raise RuntimeError("planted segmentation failure")
        return real(self, frames)

    monkeypatch.setattr(Segmenter, "segment", segment)
    out = tmp_path / "out"
    run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv", workers=2, batch_size=4,
                                      overlays=False, dicom=False, report=False))
    assert max(len(paths) for paths in calls) > 1  # frames of several files in one call
    assert {broken} in calls  # the failed batch was retried file by file
    _only_this_file_failed(out, clean_run, broken, "planted segmentation failure")


def test_run_log_says_where_the_time_went(clean_run):
    """One line per run names each phase of the main thread with its seconds; together they
    cover no more than the run's own time."""
    import re

    from follicle_seg.engine import MAIN_THREAD_TIMES
    from follicle_seg.pipeline import read_timing

    text = (clean_run / "run.log").read_text()
    timing = read_timing(text)
    assert list(timing) == ["header pass", "model load", *MAIN_THREAD_TIMES, "tables and report"]
    assert all(v >= 0 for v in timing.values()) and timing["segmenting"] > 0
    total = float(re.search(r"frames in ([0-9.]+) s", text).group(1))
    assert sum(timing.values()) <= total


def test_run_log_keeps_how_the_run_was_made(clean_run, study):
    """The audit trail of the tables: inputs, options, the program's and the network's versions,
    the device and precision used (it said ``on cpu``, or ``on cuda`` for a mixed-precision run)."""
    from follicle_seg import __version__
    from follicle_seg.build import RESULT_SOURCE
    from follicle_seg.model.paths import METADATA, WEIGHTS, shipped_bundle_root

    text = (clean_run / "run.log").read_text()
    version = json.loads((shipped_bundle_root() / METADATA).read_text())["version"]
    sha = file_sha256(shipped_bundle_root() / WEIGHTS)[:16]
    assert f"inputs: {os.path.abspath(study / 'dicom')}" in text  # as typed once: no working folder said
    source = hashed_here(RESULT_SOURCE)[:16]  # this build, under one version number: its files hashed here
    assert f"follicle_seg {__version__} (source {source}); network {version}, weights " in text
    assert f"(sha256 {sha}, shipped)" in text
    assert "options: device auto, batch size 8, workers 1, executor local, resume, not pseudonymised, " in text
    assert f"cohort {study / 'cohort.csv'}, outputs: overlays, report" in text
    # the device auto picked and the precision it ran in (mixed precision may change a count)
    assert re.search(r"frames/s on (cpu, float32|cuda, (bf16|fp16) autocast)\)\n", text), text


def test_a_file_dated_by_its_content_date_is_drawn_on_its_studys_day(tmp_path):
    """Its overlay was named and headed with its own ContentDate (the next day) while the tables
    placed it on its study's StudyDate: filed under the wrong visit by whoever sorts overlays."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, study_date, content_date in (("a.dcm", "20250418", "20250418"), ("b.dcm", "", "20250419")):
        ds = pydicom.dcmread(SAMPLES / "mono_left.dcm")
        ds.StudyDate, ds.ContentDate = study_date, content_date
        for keyword in ("SeriesDate", "AcquisitionDate", "AcquisitionDateTime"):
            ds.pop(keyword, None)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(folder / name)
    out = tmp_path / "out"
    run([folder], RunOptions(out=out, workers=1, dicom=False, report=False))
    images = _tables(out)["images"]
    assert set(images["study_date"]) == {"2025-04-18"}
    names = sorted(p.name for p in (out / "overlays").glob("*.png"))
    assert len(names) == 2 and all("_20250418_" in n for n in names), names


def test_a_dicomdir_is_named_in_its_runs_log_not_analysed(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SAMPLES / "mono_left.dcm", folder / "IM0001")
    (folder / "DICOMDIR").write_bytes(b"an index")
    out = tmp_path / "out"
    summary = run([folder], RunOptions(out=out, workers=1, overlays=False, dicom=False, report=False))
    assert summary.inputs == 1
    log = (out / "run.log").read_text()
    started = log.index("run started")
    assert log.index(f"{folder / 'DICOMDIR'}: a DICOMDIR (an index of the folder's files") > started


def test_files_analysed_before_but_not_among_the_inputs_are_said(study, tmp_path):
    """Rows of files earlier runs analysed into the folder leave the tables when the files are no
    longer given: said on the console and in run.log (a file moved is recognised, not said)."""
    inputs = _first_files(study, tmp_path / "in", 3)
    out = tmp_path / "out"
    args = ["run", str(inputs), "--out", str(out), "--no-report", "--no-overlays", "--no-dicom"]
    assert CliRunner().invoke(app, args).exit_code == 0
    gone, moved = sorted(inputs.iterdir())[:2]
    gone.rename(tmp_path / gone.name)
    moved.rename(inputs / ("renamed_" + moved.name))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 file(s) analysed here by earlier runs are not among this run's inputs" in result.output
    log = (out / "run.log").read_text()
    assert f"{gone}: not among this run's inputs" in log and f"{moved}: not among" not in log
    assert len(_tables(out)["images"]) == 2


def test_run_timing_reads_the_last_timing_line_of_a_run_log() -> None:
    from follicle_seg.pipeline import read_timing as read

    log = ("2026-12-04 INFO run timing (s): header pass 0.50, segmenting 3.25\n"
           "2026-12-04 INFO run timing (s): header pass 0.25, waiting for frames 1.00\n")
    assert read(log) == {"header pass": 0.25, "waiting for frames": 1.0}
    assert read("2026-12-04 INFO run finished\n") == {}


def test_unwritable_output_is_a_clear_error(study, tmp_path):
    if os.geteuid() == 0:
        target = Path("/proc/follicle_seg_out")  # not writable even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "out"
    result = CliRunner().invoke(app, ["run", str(study / "dicom"), "--out", str(target), "--quiet"])
    assert result.exit_code != 0
    assert "not writable" in result.output


def test_a_full_disk_leaves_no_write_probe_in_the_output_folder(study, tmp_path, monkeypatch):
    """The probe of whether OUT can be written was made, then not written on a full disk, and
    stayed: every run stopped by a full disk left a ``.write_test_<pid>`` in OUT for good."""
    import errno

    write_bytes = Path.write_bytes

    def full_disk(self, data):
        if self.name.startswith(".write_test_"):
            self.touch()  # (the file is made; its bytes find no room)
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(study / "dicom"), "--out", str(out), "--quiet"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {out}: output folder is not writable (No space left on device)"
    assert list(out.iterdir()) == []


def test_an_output_folder_whose_name_is_not_utf8_is_refused_before_anything_is_analysed(study, tmp_path):
    """An --out with a byte of its name not UTF-8 (a Latin-1 share) ran the whole analysis, then
    stopped at the tables with pyarrow's UnicodeEncodeError: 161 lines of traceback, exit 1, no table."""
    out = tmp_path / "r\udcfcsultats"  # b"r\xfcsultats", Latin-1 for "résultats"
    result = CliRunner().invoke(app, ["run", str(_first_files(study, tmp_path / "in", 1)), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: {tmp_path}/r\\xfcsultats: --out's name is not valid UTF-8 (the tables' "
                                     "Parquet files cannot be written under it): choose another folder")  # fmt: skip
    assert not os.path.lexists(out)


def _with_identity(study: Path, dest: Path, n: int = 3) -> list[Path]:
    """Copies of a sweep and stills carrying a patient name and birth date."""
    import pydicom

    dest.mkdir(parents=True)
    files = sorted(p for p in (study / "dicom" / "P001").rglob("*.dcm"))[:n]
    out = []
    for i, src in enumerate(files):
        ds = pydicom.dcmread(src)
        ds.PatientName = "DOE^JANE^SECRETNAME"
        ds.PatientBirthDate = "19870312"
        ds.SeriesDescription = "ovary, typed by SECRETTYPIST"  # free text: may hold a name
        ds.save_as(dest / f"scan{i}.dcm")
        out.append(dest / f"scan{i}.dcm")
    return out


def _leaks(out: Path, needles: list[bytes]) -> list[str]:
    found = []
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            found += [f"{f.name}: {n!r}" for n in needles if n in data]
    return found


def test_no_patient_name_or_birth_date_in_any_output(study, tmp_path):
    _with_identity(study, tmp_path / "in")
    out = tmp_path / "out"
    run([tmp_path / "in"], RunOptions(out=out, workers=1, save_masks=True))
    assert (out / "dicom").is_dir() and any((out / "dicom").iterdir())
    needles = [b"SECRETNAME", b"DOE^JANE", b"19870312", b"1987-03-12", b"12.03.1987"]
    assert _leaks(out, needles) == []
    # the SEGs name the network that made them: the shipped bundle's version
    from follicle_seg.options import network_of

    seg = pydicom.dcmread(next((out / "dicom").glob("*_seg.dcm")))
    algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmVersion == network_of(RunOptions(out=out)).version != "unknown"


def test_pseudonyms_are_stable_and_replace_the_patient_id(study, tmp_path):
    _with_identity(study, tmp_path / "in")
    key = tmp_path / "key"
    key.write_bytes(b"site key for the pseudonyms 0123456789")
    tables = []
    for name in ("a", "b"):
        out = tmp_path / name
        run([tmp_path / "in"], RunOptions(out=out, workers=1, pseudonymize=key))
        tables.append(_tables(out))
        # the real PatientID appears nowhere, DICOM and run state included, nor the series' free text
        assert _leaks(out, [b"P001", b"SECRETTYPIST"]) == []
    ids = set(tables[0]["images"].patient_id)
    assert len(ids) == 1 and next(iter(ids)).startswith("P") and ids == set(tables[1]["images"].patient_id)
    pd.testing.assert_frame_equal(tables[0]["ovaries"], tables[1]["ovaries"])


def test_a_pseudonymised_run_names_a_rejected_file_whose_header_was_read_by_its_pseudonym(study, tmp_path):
    """A file rejected after its header was read (no pixel data) keeps its patient in images.csv:
    a pseudonymised run stopped on it with a traceback (TypeError: Identity has no
    series_description), every other file of the batch left unanalysed."""
    (src,) = _with_identity(study, tmp_path / "in", 1)
    ds = pydicom.dcmread(src)
    del ds.PixelData
    ds.save_as(src)
    key = tmp_path / "key"
    key.write_bytes(b"site key for the pseudonyms 0123456789")
    out = tmp_path / "out"
    summary = run([tmp_path / "in"], RunOptions(out=out, workers=1, pseudonymize=key))
    assert summary.rejected == 1
    (row,) = _tables(out)["images"].itertuples()
    assert row.status == "rejected" and "no pixel data" in row.reason
    assert re.fullmatch(r"P[0-9a-f]{12}", row.patient_id)
    assert _leaks(out, [b"P001", b"SECRETTYPIST", b"SECRETNAME"]) == []


def test_a_resumed_run_never_mixes_results_of_other_weights_or_pseudonyms(study, tmp_path, monkeypatch):
    """Nor of another build of the program: its version number never changed (0.1.0 from the first
    commit on), so an OUT written by an earlier build resumed with its results beside the new
    visits' (ovary volumes 3.03 ml where the current code gives 2.53), and one written before
    identities were kept resumed results of network 0.3.0 (maximum follicle 6.76 mm, 6.94 now)."""
    from follicle_seg.errors import OutputError

    inputs = _first_files(study, tmp_path / "in", 2)
    out = tmp_path / "out"
    plain = RunOptions(out=out, workers=1, overlays=False, dicom=False, report=False)
    run([inputs], plain)
    before = _tables(out)["images"]
    key = tmp_path / "key"
    key.write_bytes(b"site key for the pseudonyms 0123456789")
    with pytest.raises(OutputError, match="another analysis .*pseudonyms none then, P[0-9a-f]{12} now.*--no-resume"):
        run([inputs], replace(plain, pseudonymize=key))
    other = _bundle_of(tmp_path / "other", b"not the shipped weights")
    with pytest.raises(OutputError, match="another analysis .*weights [0-9a-f]{16} then"):
        run([inputs], replace(plain, weights=other))
    pd.testing.assert_frame_equal(_tables(out)["images"], before)  # nothing was touched
    assert run([inputs], plain).resumed == 2  # the same analysis resumes
    # outputs of the earlier analysis (file names with the real PatientID, other key frames) go
    stale = [out / "overlays" / "P001_20250101_L_x-0a1b2c_f007.png", out / "overlays" / "crops" / "P001_x_f007_1.jpg",
             out / "masks" / "1.2.3_0.png", out / "dicom" / "1.2.3_sr.dcm",
             out / "overlays" / "reviewed" / "P001_20250101_L_x-0a1b2c_f007_reviewed.png"]  # fmt: skip
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"earlier")
    (out / "overlays" / "notes.txt").write_text("not ours")
    summary = run([inputs], replace(plain, pseudonymize=key, resume=False))  # analysed afresh
    assert summary.resumed == 0 and _tables(out)["images"].patient_id.str.match(r"P[0-9a-f]{12}$").all()
    assert not any(path.exists() for path in stale) and (out / "overlays" / "notes.txt").is_file()
    assert "--no-resume: 5 per-image output(s) of earlier runs removed" in (out / "run.log").read_text()
    # temporary files a killed run left (between writing and renaming) go at the next run's start
    left = [out / "overlays" / ".P001_x_f007.png.123.abcd.tmp", out / "dicom" / ".1.2.3_sr.dcm.123.ef.tmp",
            out / ".images.csv.123.aa.tmp", out / "overlays" / "reviewed" / ".P001_x_f007_reviewed.png.1.a.tmp",
            out / "overlays" / "frames" / ".P001_x_f000.jpg.1.b.tmp"]  # fmt: skip
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    run([inputs], replace(plain, pseudonymize=key))
    assert not any(path.exists() for path in left)
    # another build of the program under the same version number (an upgrade: git pull, pip install -U)
    analysed = _tables(out)["images"]
    monkeypatch.setattr("follicle_seg.pipeline.build_sha256", lambda: "0" * 64)
    with pytest.raises(OutputError, match=r"another analysis \(follicle_seg source [0-9a-f]{16} then, 0{16} now\)"):
        run([inputs], replace(plain, pseudonymize=key))
    monkeypatch.undo()
    # a store written before identities were kept holds results of an unknown program and network
    with sqlite3.connect(out / "run_state.sqlite") as db:
        db.execute("DELETE FROM meta WHERE name = 'analysis'")
    with pytest.raises(OutputError, match=r"another analysis \(follicle_seg unknown then, .* now; .*weights unknown then"):
        run([inputs], replace(plain, pseudonymize=key))
    pd.testing.assert_frame_equal(_tables(out)["images"], analysed)  # nothing was touched
    assert run([inputs], replace(plain, pseudonymize=key, resume=False)).resumed == 0


def test_a_bundle_whose_network_def_changed_is_another_analysis(study, tmp_path):
    """The same weights built by another ``network_def`` (``configs/inference.json``: its layers'
    order, a norm's eps) give other label maps (the shipped weights with ``adn_ordering`` "ADN"
    labelled 36,481 of the 65,536 pixels of a smoothed-noise input otherwise, all as background),
    yet the analysis identity held the weights' hash only: such a bundle resumed the earlier
    results as its own. What else the file holds is
    not read by a run: an edit of it resumes."""
    from follicle_seg.errors import OutputError
    from follicle_seg.model.paths import INFERENCE, WEIGHTS, shipped_bundle_root

    bundle = tmp_path / "bundle"
    shutil.copytree(shipped_bundle_root() / "configs", bundle / "configs")
    (bundle / "models").mkdir()
    shutil.copy(shipped_bundle_root() / WEIGHTS, bundle / WEIGHTS)
    inputs = _first_files(study, tmp_path / "in", 1)
    out = tmp_path / "out"
    options = RunOptions(out=out, workers=1, overlays=False, dicom=False, report=False, weights=bundle / WEIGHTS)
    run([inputs], options)
    before = _tables(out)["images"]
    config = json.loads((bundle / INFERENCE).read_text())
    (bundle / INFERENCE).write_text(json.dumps({**config, "preprocessing_note": "edited"}))
    assert run([inputs], options).resumed == 1
    config["network_def"]["adn_ordering"] = "ADN"
    (bundle / INFERENCE).write_text(json.dumps(config))
    with pytest.raises(OutputError, match=r"another analysis \(network_def [0-9a-f]{16} then, [0-9a-f]{16} now\)"):
        run([inputs], options)
    pd.testing.assert_frame_equal(_tables(out)["images"], before)  # nothing was touched


def test_a_file_analysed_again_leaves_no_output_of_its_earlier_analysis(study, tmp_path):
    """Resumed, a file changed in place (or given a new SOP instance UID) is analysed again: the
    overlays, crops and DICOM of its earlier analysis go (another key frame's overlay would
    otherwise sit in the report beside the new one), those of the files resumed stay."""
    from follicle_seg.report.thumbnails import scan_overlays
    from follicle_seg.report.overlay_files import overlay_stem

    inputs = _first_files(study, tmp_path / "in", 3)
    changed, renewed, kept = sorted(inputs.glob("*.dcm"))
    out = tmp_path / "out"
    options = RunOptions(out=out, workers=1, dicom=False, report=False)
    run([inputs], options)

    def plant(path: Path) -> list[Path]:
        ds = pydicom.dcmread(path)
        stem = overlay_stem(ds.SOPInstanceUID, patient_id=ds.PatientID, study_date=str(ds.StudyDate),
                            laterality=str(ds.get("ImageLaterality", "")))
        files = [out / "overlays" / f"{stem}_f099.png", out / "overlays" / "crops" / f"{stem}_f099_1.jpg",
                 out / "dicom" / f"{ds.SOPInstanceUID}_sr.dcm"]  # fmt: skip
        for f in files:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(b"earlier analysis")
        return files

    planted = {p: plant(p) for p in (changed, renewed, kept)}
    old_uid = pydicom.dcmread(renewed).SOPInstanceUID
    ds = pydicom.dcmread(changed)
    ds.SeriesDescription = "exported again"
    ds.save_as(changed)
    ds = pydicom.dcmread(renewed)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(renewed)

    summary = run([inputs], options)
    assert summary.resumed == 1 and summary.ok == 3
    assert not any(f.exists() for p in (changed, renewed) for f in planted[p])
    assert all(f.exists() for f in planted[kept])
    found = scan_overlays(out / "overlays", [old_uid, *_tables(out)["images"]["sop_instance_uid"]])
    assert old_uid not in set(found["sop_instance_uid"]) and len(set(found["sop_instance_uid"])) == 3
    assert (found["frame_index"] == 99).sum() == 1  # the resumed file's planted one only
    # the six planted and the two files' own earlier overlays and crops
    removed = re.search(r"files analysed again or withdrawn: (\d+) per-image output", (out / "run.log").read_text())
    assert removed and int(removed[1]) > 6


def test_files_without_a_usable_date_are_analysed_flagged_and_reported(study, tmp_path):
    """A blanked or impossible StudyDate (de-identified exports) once stopped the run (the
    report's chart, or the tables before anything was written); now the date is read from the
    exam's other date tags, and a file with none is flagged, its visit undated."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    undated, impossible = (inputs / "a.dcm", inputs / "b.dcm")
    first, second = sorted((study / "dicom").rglob("*_sweep.dcm"))[:2]
    shutil.copy(first, undated)
    shutil.copy(second, impossible)
    ds = pydicom.dcmread(undated)
    for tag in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime"):
        ds.pop(tag, None)
    ds.StudyInstanceUID = pydicom.uid.generate_uid()  # an exam of its own, with no date at all
    ds.save_as(undated)
    ds = pydicom.dcmread(impossible)
    content = ds.ContentDate
    ds.StudyDate = "20250231"
    ds.save_as(impossible)
    out = tmp_path / "out"
    summary = run([inputs], RunOptions(out=out, workers=1, dicom=False))
    assert summary.ok == 2 and (out / "report" / "index.html").is_file()
    images = _tables(out)["images"].set_index("path")
    assert images.loc[str(undated), "study_date"] == ""
    assert images.loc[str(impossible), "study_date"] == f"{content[:4]}-{content[4:6]}-{content[6:]}"
    reasons = pd.read_csv(out / "review_reasons.csv", dtype=str, keep_default_na=False)
    assert reasons.loc[reasons["flag"] == "date unknown", "study_date"].tolist() == [""]


def test_what_a_resumed_run_replaces_is_never_kept_for_a_rejected_duplicate_naming_it():
    from follicle_seg.intake import Input
    from follicle_seg.outdir import superseded

    stored = [("/a", "old", "X", "ok"), ("/b", "bb", "X", "rejected"),  # /b: a byte copy of /a, rejected
              ("/c", "cc", "Y", "ok"), ("/d", "dd", "Z", "ok")]  # fmt: skip
    record = SimpleNamespace(sop_instance_uid="X")
    items = [Input("/a", "new", record, None), Input("/b", "bb", None, None, done=True),
             Input("/c", "cc", None, None, done=True), Input("/d", "changed", None, None),
             Input("/e", "ee", SimpleNamespace(sop_instance_uid="Y"), None)]  # fmt: skip
    # /a re-exported in place: its earlier outputs go; /c resumed keeps its, though a new file /e
    # holds its UID (rejected as its duplicate); /d's earlier ones go
    assert superseded(items, stored) == {"X", "Z"}


def test_a_run_with_nothing_left_to_analyse_does_not_load_torch(study, clean_run, tmp_path):
    """A resumed run that only rebuilds the tables (after a review, say) takes about a second:
    checking the analysis's identity hashes the weights without importing torch."""
    out = tmp_path / "out"
    shutil.copytree(clean_run, out)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from follicle_seg.pipeline import RunOptions, run\n"
        f"s = run([Path({str(study / 'dicom')!r})], RunOptions(out=Path({str(out)!r}), "
        f"cohort=Path({str(study / 'cohort.csv')!r}), workers=1, dicom=False))\n"
        "print(s.resumed, s.inputs, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    resumed, inputs, torch_loaded = done.stdout.split()
    assert resumed == inputs and torch_loaded == "False"


def test_a_second_run_into_a_folder_in_use_stops_at_once(study, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    from follicle_seg.errors import OutputError

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".run.lock", "a+") as held:  # another run holds the folder
        held.write("pid 4242, started 2026-12-06 01:00:00")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OutputError, match=r"another follicle-seg run is writing here \(pid 4242, started"):
            run([study / "dicom"], RunOptions(out=out, workers=1))
        assert not (out / "run.log").exists() and not (out / "images.csv").exists()
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(sorted((study / "dicom").rglob("*.dcm"))[0], inputs)
    assert run([inputs], RunOptions(out=out, workers=1, overlays=False, dicom=False, report=False)).ok == 1


def test_a_folder_that_cannot_be_locked_is_run_unlocked(study, tmp_path, monkeypatch):
    import errno

    fcntl = pytest.importorskip("fcntl")

    def no_locks(*_):  # a network share without locks
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(sorted((study / "dicom").rglob("*.dcm"))[0], inputs)
    options = RunOptions(out=tmp_path / "out", workers=1, overlays=False, dicom=False, report=False)
    assert run([inputs], options).ok == 1


def test_disk_full_while_writing_tables_is_a_clear_error_and_leaves_no_partial_table(study, tmp_path, monkeypatch):
    import errno

    one = sorted(p for p in (study / "dicom").rglob("*") if p.is_file())[:1]
    real_to_csv = pd.DataFrame.to_csv
    calls = {"n": 0}

    def full_disk(self, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second table: the disk fills up half-way through it
            with open(path, "w") as f:
                f.write("patient_id,study_da")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_to_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    result = CliRunner().invoke(app, ["run", *map(str, one), "--out", str(tmp_path / "o"), "--quiet", "--no-dicom"])
    assert result.exit_code != 0
    assert "cannot write tables to " in result.output and "No space left on device" in result.output
    written = {p.name for p in (tmp_path / "o").iterdir()}
    assert not any(name.endswith(".tmp") for name in written)
    assert "follicles.csv" not in written  # never half a table
    # the disk full when the report is written: said as the report's (it said "the tables")
    import follicle_seg.report.html as html

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", real_to_csv)
    monkeypatch.setattr(html, "write_report", no_room)
    result = CliRunner().invoke(app, ["run", *map(str, one), "--out", str(tmp_path / "o"), "--quiet", "--no-dicom"])
    assert result.exit_code != 0 and "cannot write the report (No space left on device)" in result.output


def test_an_interrupted_run_says_it_can_go_on_and_logs_it(study, tmp_path, monkeypatch):
    import follicle_seg.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_run", interrupted)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(study / "dicom"), "--out", str(out)])
    assert result.exit_code == 130
    assert "interrupted: the files finished are kept; the same command goes on where it stopped" in result.output
    assert "Traceback" not in result.output
    assert "WARNING run interrupted: the files finished are kept" in (out / "run.log").read_text()


def test_the_demo_says_where_its_report_is_and_how_to_apply_a_review(tmp_path, monkeypatch):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--patients", "1", "--visits", "1"])
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'results' / 'report' / 'index.html'}" in result.output
    assert (out / "results" / "report" / "index.html").is_file()
    assert re.search(r"to review: [1-9]\d* ovary-visit\(s\)", result.output)  # (with 0.4.0: both ovaries)
    line = next(x for x in result.output.splitlines() if x.startswith("after a review"))
    command = shlex.split(line.split("apply it with: follicle-seg ")[1])
    shutil.copy(out / "results" / "review_worksheet.csv", out / "results" / "review.csv")  # undecided: no decisions
    again = CliRunner().invoke(app, command)
    assert again.exit_code == 0 and "nothing left to analyse" in again.output, again.output
    # the demo folder renamed: its state names the files where they were, of the same contents
    out = out.rename(tmp_path / "demo_moved")
    moved = CliRunner().invoke(app, ["demo", "--out", str(out), "--patients", "1", "--visits", "1"])
    assert moved.exit_code == 0 and "nothing left to analyse" in moved.output, moved.output
    # the demo again after an upgrade: it said "rerun with --no-resume", an option the demo lacks
    monkeypatch.setattr("follicle_seg.pipeline.build_sha256", lambda: "0" * 64)
    upgraded = CliRunner().invoke(app, ["demo", "--out", str(out), "--patients", "1", "--visits", "1"])
    assert upgraded.exit_code == 0, upgraded.output
    assert re.search(r"results: results of another analysis \(follicle_seg source [0-9a-f]{16} then, 0{16} now\): "
                     r"analysed afresh", upgraded.output)  # fmt: skip
    assert ", no resume, " in (out / "results" / "run.log").read_text()


def test_the_demo_over_a_corrupt_run_state_says_what_to_do_with_the_demo(tmp_path):
    """It said "rerun with --no-resume", an option the demo does not have."""
    results = tmp_path / "demo" / "results"
    results.mkdir(parents=True)
    (results / "run_state.sqlite").write_bytes(b"not a database" * 100)
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--patients", "1", "--visits", "1"])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"error: {results / 'run_state.sqlite'}: the run-state file is corrupt (file is not a database); remove "
        f"{results} to make the demo's results afresh, or choose another --out")
    assert (results / "run_state.sqlite").read_bytes() == b"not a database" * 100


@pytest.mark.parametrize("case", ["same build", "another build", "DIR the run's folder"])
def test_the_demo_never_touches_a_run_of_other_files(clean_run, tmp_path, monkeypatch, case):
    """A real run's folder as ``DIR/results``: by another build, the demo analysed its study afresh,
    the run's tables, overlays and run state removed; by the same build, it resumed the run's
    state and wrote its tables over the run's, of the demo's files only (the run's "not among this
    run's inputs"). ``DIR`` the run's own folder: the demo's study and results go beside its
    tables, which stay as they were."""
    from follicle_seg.state import stored_files

    out = tmp_path / "demo"
    run_folder = out if case == "DIR the run's folder" else out / "results"
    shutil.copytree(clean_run, run_folder)  # a run of files outside DIR/study
    def kept() -> dict[Path, bytes]:  # (run.log says the refusal)
        return {path: path.read_bytes() for path in run_folder.rglob("*") if path.is_file()
                and path.name not in ("run.log", ".run.lock") and not path.is_relative_to(out / "study")
                and (run_folder != out or not path.is_relative_to(out / "results"))}  # fmt: skip

    before = kept()
    if case == "another build":
        monkeypatch.setattr("follicle_seg.pipeline.build_sha256", lambda: "0" * 64)
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--patients", "1", "--visits", "1"])
    assert kept() == before and (run_folder / "images.csv").is_file()
    if case == "DIR the run's folder":
        assert result.exit_code == 0 and (out / "results" / "images.csv").is_file(), result.output
        return
    assert result.exit_code == 2, result.output
    analysed = len(stored_files(clean_run / "run_state.sqlite"))
    assert result.output == (f"error: {out / 'results'}: holds the results of {analysed} file(s) not under "
                             f"{out / 'study'} (a run's, not a demo's); choose another --out\n")
    assert not (out / "study").exists()


def test_a_cohort_file_that_misses_a_scanned_patient_or_lists_an_unscanned_one_is_said(study, clean_run, tmp_path):
    """A mistyped PatientID in the cohort moved a patient out of their dose group, and a patient
    without scans dropped out of every table, both in silence."""
    out = tmp_path / "out"
    shutil.copytree(clean_run, out)
    cohort = pd.read_csv(study / "cohort.csv")
    left_out = cohort.patient_id.iloc[0]
    changed = pd.concat([cohort.iloc[1:], pd.DataFrame({"patient_id": ["P099"], "group": ["high"]})])
    changed.to_csv(tmp_path / "cohort.csv", index=False)
    summary = run([study / "dicom"], RunOptions(out=out, cohort=tmp_path / "cohort.csv", workers=1, dicom=False))
    assert summary.frames == 0  # the tables rebuilt, nothing analysed again
    assert summary.cohort_notes == [f"1 patient(s) scanned but not in the cohort file, given no group: {left_out}",
                                    "1 patient(s) of the cohort file without any scan: P099"]  # fmt: skip
    assert "without any scan: P099" in (out / "run.log").read_text()
    assert run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv", workers=1, dicom=False)).cohort_notes == []


@pytest.mark.parametrize("bad", [dict(executor="ray"), dict(batch_size=0), dict(workers=0), dict(decode_timeout_s=0),
                                 dict(decode_timeout_s=-1.0), dict(decode_timeout_s=float("nan")),
                                 dict(decode_timeout_s=float("inf")), dict(decode_timeout_s=3e6), dict(decode_timeout_s="30")])
def test_run_options_that_cannot_run_are_refused_when_made(tmp_path, bad):
    """An unknown executor ran locally in silence (only the command line checked it); a decoding
    time limit of 0 s or less failed every file of the run, each 'reading the header: no answer
    within 0 s: decoder process killed'."""
    with pytest.raises(ValueError, match="executor must be|at least 1|decode_timeout_s must be"):
        RunOptions(out=tmp_path, **bad)


def test_a_decoding_time_limit_may_be_any_real_number_but_a_bool(tmp_path):
    import numpy as np

    assert RunOptions(out=tmp_path, decode_timeout_s=np.float32(30)).decode_timeout_s == 30  # (refused once)
    with pytest.raises(ValueError, match="decode_timeout_s must be"):
        RunOptions(out=tmp_path, decode_timeout_s=True)


def test_a_file_name_that_is_not_utf8_gets_a_row_and_the_batch_goes_on(tmp_path):
    """Such a name (an archive copied from an old system) crashed the run state's database with
    a UnicodeEncodeError, on every rerun: the batch could never finish."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLES / "mono_left.dcm", inputs / "mono_left.dcm")
    shutil.copy(SAMPLES / "mono_left.dcm", os.fsdecode(bytes(inputs) + b"/caf\xe9.dcm"))
    options = RunOptions(out=tmp_path / "out", workers=1, dicom=False, overlays=False, report=False)
    summary = run([inputs], options)
    assert (summary.ok, summary.rejected) == (1, 1)
    images = _tables(tmp_path / "out")["images"].set_index("path")
    assert images.loc[str(inputs / "caf\\xe9.dcm"), "reason"].startswith("its name is not valid UTF-8: rename")
    again = run([inputs], options)  # said again, nothing analysed twice, no row twice
    assert (again.resumed, again.rejected, again.frames) == (1, 1, 0)
    assert len(_tables(tmp_path / "out")["images"]) == 2


def test_outputs_asked_for_on_a_later_run_are_made_for_the_files_it_resumes(tmp_path):
    """A run with --save-masks (or DICOM, overlays) after a tables-only one resumed every file
    and wrote none of them; the fine-tuning recipe (run --save-masks) met this in silence."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("mono_left.dcm", "rgb_rle_right.dcm", "bad_truncated.dcm"):
        shutil.copy(SAMPLES / name, inputs / name)
    out = tmp_path / "out"
    tables_only = RunOptions(out=out, workers=1, dicom=False, overlays=False, report=False)
    run([inputs], tables_only)
    before = _tables(out)
    everything = replace(tables_only, dicom=True, overlays=True, save_masks=True)
    summary = run([inputs], everything)
    assert (summary.resumed, summary.ok) == (1, 2)  # the rejected file stays as it was
    uids = before["images"].query("status == 'ok'").sop_instance_uid
    for uid in uids:
        assert (out / "dicom" / f"{uid}_sr.dcm").is_file() and list((out / "masks").glob(f"{uid}_*.png"))
    assert len(list((out / "overlays").glob("*.png"))) >= 2
    for table in ("images", "follicles", "ovaries"):
        pd.testing.assert_frame_equal(_tables(out)[table], before[table])
    assert run([inputs], everything).frames == 0  # all there now: nothing analysed again
    (out / "dicom" / f"{uids.iloc[0]}_sr.dcm").unlink()  # an output deleted since is made again
    again = run([inputs], replace(everything, save_masks=False))
    assert again.resumed == 2 and (out / "dicom" / f"{uids.iloc[0]}_sr.dcm").is_file()


def test_a_resumed_file_that_fails_when_analysed_again_for_outputs_keeps_its_result(tmp_path, monkeypatch):
    """Analysed again for masks an earlier run did not make, a file that failed now (a decoder
    timeout, memory, a drawing fault) had its ok result replaced by the failure: its rows left the
    tables and its overlay was removed. What it wrote of the masks before failing goes (part of a
    sweep's would pass for all of them: never made again)."""
    import follicle_seg.artefacts as artefacts

    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("mono_left.dcm", "rgb_rle_right.dcm"):
        shutil.copy(SAMPLES / name, inputs / name)
    out = tmp_path / "out"
    first = RunOptions(out=out, workers=1, dicom=False, report=False)
    run([inputs], first)
    before = _tables(out)
    overlays = sorted(p.name for p in (out / "overlays").glob("*.png"))
    broken, real = str(inputs / "mono_left.dcm"), artefacts.write_overlays
    uid = before["images"].set_index("path").loc[broken, "sop_instance_uid"]

    def write_overlays(out, result, keys, *decode):  # (after the masks are written)
        if result.record.path == broken:
            raise RuntimeError("planted failure")
        return real(out, result, keys, *decode)

    monkeypatch.setattr(artefacts, "write_overlays", write_overlays)
    summary = run([inputs], replace(first, save_masks=True))
    assert summary.failed == 0 and summary.ok == 2
    for table in ("images", "follicles", "ovaries"):
        pd.testing.assert_frame_equal(_tables(out)[table], before[table])
    assert sorted(p.name for p in (out / "overlays").glob("*.png")) == overlays
    assert not list((out / "masks").glob(f"{uid}_*.png")) and list((out / "masks").glob("*.png"))
    log = (out / "run.log").read_text()
    assert "masks not made (RuntimeError: planted failure); the result of the earlier run stands" in log
    monkeypatch.setattr(artefacts, "write_overlays", real)  # the next run makes its masks
    run([inputs], replace(first, save_masks=True))
    assert list((out / "masks").glob(f"{uid}_*.png"))


def test_a_run_stopped_while_it_made_a_resumed_sweeps_masks_makes_them_all_next_time(tmp_path, monkeypatch):
    """A full disk after 3 of a 20-frame cine's masks (analysed again for them) stopped the run;
    the next one found masks of the image, resumed it, and the other 17 were never made."""
    import errno

    import follicle_seg.artefacts as artefacts
    from follicle_seg.errors import OutputError

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLES / "cine_20f_jpegls_right.dcm", inputs / "cine.dcm")
    out = tmp_path / "out"
    first = RunOptions(out=out, workers=1, dicom=False, overlays=False, report=False)
    run([inputs], first)
    real, written = artefacts.write_image, []

    def write_image(path, image, *args, **kwargs):
        if path.parent.name == "masks" and len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        return real(path, image, *args, **kwargs)

    monkeypatch.setattr(artefacts, "write_image", write_image)
    with pytest.raises(OutputError, match="No space left on device"):
        run([inputs], replace(first, save_masks=True))
    assert len(list((out / "masks").glob("*.png"))) == 3
    monkeypatch.setattr(artefacts, "write_image", real)
    assert run([inputs], replace(first, save_masks=True)).frames == 20  # analysed again, not resumed
    assert len(list((out / "masks").glob("*.png"))) == 20
    assert run([inputs], replace(first, save_masks=True)).frames == 0  # all there: resumed


def test_a_file_changed_while_it_was_read_is_read_again_next_run_not_rejected_for_good(tmp_path):
    """Truncated by a copy still going after its hash was taken, a file was rejected under the
    hash of its whole contents: restored, it stayed rejected on every run (only --no-resume)."""
    from follicle_seg.intake import Input
    from follicle_seg.pipeline import _changed_since_hashed
    from follicle_seg.types import ImageResult

    path = tmp_path / "a.dcm"
    shutil.copy(SAMPLES / "mono_left.dcm", path)
    item = Input(str(path), file_sha256(path), None, None)
    cut = ImageResult(None, str(path), "rejected", "frame 0 cannot be decoded")
    assert _changed_since_hashed(item, cut) is cut  # as hashed: the rejection stands
    path.write_bytes(path.read_bytes()[:1000])
    changed = _changed_since_hashed(item, cut)
    assert changed.status == "failed" and "the file was changed while it was being read" in changed.reason
    path.unlink()
    assert "the file was removed while" in _changed_since_hashed(item, cut).reason


def test_a_file_replaced_by_another_while_it_was_read_is_failed_not_ok_with_the_others_header(study, tmp_path,
                                                                                            monkeypatch):
    """A sync job renamed another patient's file over one whose header had been read: its result
    was recorded ok, the first file's patient, date and side over the second one's pixels."""
    import follicle_seg.engine as engine

    files = sorted(p for p in (study / "dicom").rglob("*.dcm"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    swapped, other = inputs / "a.dcm", inputs / "b.dcm"
    shutil.copy(files[0], swapped)
    shutil.copy(files[-1], other)
    ds = pydicom.dcmread(files[0])  # another woman's image of the same size
    ds.PatientID, ds.SOPInstanceUID = "P999", pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(tmp_path / "spare.dcm")
    real = engine.analyse_frame

    def analyse_frame(seg):  # while its frames are analysed, the other file is renamed over it
        if seg.record.path == str(swapped) and (tmp_path / "spare.dcm").exists():
            os.replace(tmp_path / "spare.dcm", swapped)
        return real(seg)

    monkeypatch.setattr(engine, "analyse_frame", analyse_frame)
    out = tmp_path / "out"
    summary = run([inputs], RunOptions(out=out, dicom=False, report=False))
    images = _tables(out)["images"].set_index("path")
    assert images.loc[str(swapped), "status"] == "failed", images.loc[str(swapped)].to_dict()
    assert images.loc[str(swapped), "reason"] == "the file was changed while it was being read; it is read again next run"
    assert images.loc[str(other), "status"] == "ok" and summary.failed == 1
    assert not [p for p in (out / "overlays").glob("*.png") if images.loc[str(swapped), "sop_instance_uid"][-8:] in p.name]
    monkeypatch.setattr(engine, "analyse_frame", real)
    again = run([inputs], RunOptions(out=out, dicom=False, report=False))  # read again: the new file's own header
    images = _tables(out)["images"].set_index("path")
    assert again.failed == 0 and images.loc[str(swapped), "status"] == "ok"
    assert (images.loc[str(swapped), "sop_instance_uid"], images.loc[str(swapped), "patient_id"]) == (
        ds.SOPInstanceUID, "P999")


def test_a_rerun_does_not_read_unchanged_files_to_hash_them_but_sees_a_changed_one(study, tmp_path, monkeypatch):
    """Every rerun read the whole archive to hash it (about 1 GB/s here, far less from a share)."""
    import follicle_seg.intake as intake

    inputs = tmp_path / "in"
    inputs.mkdir()
    files = sorted(p for p in (study / "dicom").rglob("*.dcm"))[:3]
    for i, f in enumerate(files):
        shutil.copy(f, inputs / f"{i}.dcm")
    options = RunOptions(out=tmp_path / "out", dicom=False, overlays=False, report=False)
    run([inputs], options)
    hashed = []
    real = intake.file_sha256
    monkeypatch.setattr(intake, "file_sha256", lambda p: hashed.append(Path(p).name) or real(p))
    again = run([inputs], options)
    assert hashed == [] and again.resumed == 3
    # the same bytes but one, its size and modification time kept (cp -p, rsync -t): hashed again
    target = inputs / "1.dcm"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = run([inputs], options)
    assert hashed == ["1.dcm"] and third.resumed == 2 and third.ok == 3
    run([inputs], replace(options, resume=False))  # --no-resume forgets the hashes with the rest
    assert sorted(hashed) == ["0.dcm", "1.dcm", "1.dcm", "2.dcm"]


def test_the_seg_follicle_segment_holds_the_reported_follicles_only(study, tmp_path):
    """Segment 2 held every pixel the network called follicle: unsure candidates and specks too,
    eight blobs in one still's SEG beside its three reported follicles."""
    import highdicom as hd
    from scipy import ndimage as ndi

    out = tmp_path / "out"
    run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv", overlays=False, report=False))
    tables = {t: pd.read_csv(out / f"{t}.csv") for t in ("images", "follicles", "candidates")}
    follicles = pd.concat([tables["follicles"], tables["candidates"]])
    stills = tables["images"][tables["images"]["n_frames"] == 1]
    checked = extra_before = 0
    for uid in stills["sop_instance_uid"]:
        seg = hd.seg.segread(out / "dicom" / f"{uid}_seg.dcm")
        mask = seg.get_pixels_by_source_instance([uid], segment_numbers=[2])[0, ..., 0] > 0
        reported = tables["follicles"][tables["follicles"]["sop_instance_uid"] == uid]
        blobs, n = ndi.label(mask, structure=np.ones((3, 3)))
        assert n <= len(reported), (uid, n, len(reported))
        for row in reported.itertuples():  # each reported follicle is drawn
            assert mask[round(row.centroid_row), round(row.centroid_col)], (uid, row.follicle_id)
        candidates = follicles[(follicles["sop_instance_uid"] == uid) & follicles["counted"].isna()]
        extra_before += len(candidates)
        for row in candidates.itertuples():  # an unsure candidate is not
            assert not mask[round(row.centroid_row), round(row.centroid_col)], (uid, row.follicle_id)
        checked += 1
    assert checked == len(stills) and extra_before  # (the study has candidates on its stills)


def test_a_very_long_patient_id_does_not_stop_the_run(tmp_path):
    """Overlay names carry the patient id: a 250-character PatientID made them longer than the
    file system allows, and "File name too long" stopped the whole run."""
    source = pydicom.dcmread(SAMPLES / "mono_left.dcm")
    source.PatientID = "P" * 250
    source.save_as(tmp_path / "a.dcm")
    out = tmp_path / "out"
    summary = run([tmp_path / "a.dcm"], RunOptions(out=out, dicom=False))
    assert summary.ok == 1
    names = [p.name for p in (out / "overlays").glob("*.png")] + [p.name for p in (out / "report" / "patients").iterdir()]
    assert names and max(len(n) for n in names) < 128


def test_a_no_resume_run_stopped_early_leaves_no_tables_of_the_analysis_it_removed(tmp_path, monkeypatch):
    """Killed a second in, a --no-resume run had emptied overlays/ and dicom/ but left the old
    tables and a report linking the removed overlays."""
    from follicle_seg import pipeline

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLES / "mono_left.dcm", inputs / "mono_left.dcm")
    out = tmp_path / "out"
    options = RunOptions(out=out, workers=1, dicom=False)
    run([inputs], options)
    (out / "review.csv").write_text("patient_id,study_date,laterality,decision\n")
    assert (out / "images.csv").is_file() and (out / "report" / "index.html").is_file()
    assert list((out / "report" / "patients").glob("*.html")) and list((out / "report" / "figures").glob("*.png"))
    assert list((out / "report" / "thumbs").glob("*.jpg"))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "header_pass", killed)
    with pytest.raises(KeyboardInterrupt):
        run([inputs], replace(options, resume=False))
    assert not list(out.glob("*.parquet")) and not (out / "report" / "index.html").exists()
    assert not list((out / "report" / "patients").glob("*.html"))  # pages linking the removed overlays
    # the tracking charts (named as the pages, by PatientID) and thumbnails went too: a
    # --no-report run after them left a real PatientID beside --pseudonymize's tables
    assert not list((out / "report" / "figures").iterdir()) and not list((out / "report" / "thumbs").iterdir())
    assert sorted(p.name for p in out.glob("*.csv")) == ["review.csv"]  # the reviewer's stays


def test_an_input_that_is_the_output_folder_is_said_as_such(tmp_path):
    """It read "no files found under IN" with a DICOM file right there."""
    shutil.copy(SAMPLES / "mono_left.dcm", tmp_path / "mono_left.dcm")
    result = CliRunner().invoke(app, ["run", str(tmp_path), "--out", str(tmp_path)])
    assert result.exit_code == 2 and f"{tmp_path} is the output folder (--out {tmp_path}) or inside it" in result.output


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path, monkeypatch):
    """What a batch scheduler sends ended the run with exit 143 and nothing said anywhere."""
    from follicle_seg import pipeline

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(pipeline, "header_pass", terminated)
    shutil.copy(SAMPLES / "mono_left.dcm", tmp_path / "a.dcm")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "a.dcm"), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 143 and "stopped (SIGTERM): the files finished are kept" in result.output
    # run.log said "run interrupted" as for a Ctrl-C: the audit trail lost who stopped it
    assert "run stopped (SIGTERM): the files finished are kept" in (tmp_path / "o" / "run.log").read_text()
    assert signal.getsignal(signal.SIGTERM) == before  # the command's handler is gone with it


def test_an_out_that_is_a_file_is_said_so(tmp_path):
    (tmp_path / "a.dcm").write_bytes((SAMPLES / "mono_left.dcm").read_bytes())
    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "a.dcm"), "--out", str(tmp_path / "afile")])
    assert result.exit_code == 2  # it read "output folder is not writable (File exists)"
    assert f"{tmp_path / 'afile'}: --out is a file, not a folder" in result.output


def test_a_no_resume_run_stopped_by_the_worksheet_check_keeps_the_run_state(tmp_path, monkeypatch):
    """The state was emptied before the check that refuses a worksheet holding unsaved decisions:
    after saving them, the next run analysed the whole archive again."""
    from follicle_seg import pipeline
    from follicle_seg.review import ReviewError

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLES / "mono_left.dcm", inputs / "mono_left.dcm")
    options = RunOptions(out=tmp_path / "out", workers=1, dicom=False, overlays=False, report=False)
    run([inputs], options)

    def refuse(*args):
        raise ReviewError("review_worksheet.csv: 1 decision(s) not in review.csv")

    monkeypatch.setattr(pipeline, "_check_worksheet", refuse)
    with pytest.raises(ReviewError):
        run([inputs], replace(options, resume=False))
    monkeypatch.undo()
    assert run([inputs], options).resumed == 1 and (tmp_path / "out" / "images.csv").is_file()


def test_outputs_are_found_for_a_uid_holding_an_underscore(tmp_path):
    """Names were cut at the first "_": such an image (against the standard, but read) never had
    its outputs found, so it was analysed again on every run and its old outputs never removed."""
    from follicle_seg.artefacts import images_with_outputs, per_image_outputs

    uid, other = "1.2.840_99.7", "1.2.840"
    for name in (f"masks/{uid}_0.png", f"masks/{uid}_12.png", f"dicom/{uid}_sr.dcm", f"dicom/{uid}_f003_seg.dcm",
                 f"dicom/{uid}_seg.dcm", f"masks/{other}_0.png", f"dicom/{other}_sr.dcm"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    have = images_with_outputs(tmp_path)
    assert have["masks"] == {uid, other} and have["dicom"] == {uid, other}
    assert sorted(p.name for p in per_image_outputs(tmp_path, [uid])) == sorted(
        [f"{uid}_0.png", f"{uid}_12.png", f"{uid}_sr.dcm", f"{uid}_f003_seg.dcm", f"{uid}_seg.dcm"])


def test_run_given_a_dicomdir_reads_its_folder_and_says_so(tmp_path):
    """It said "error: no files found under X/DICOMDIR" (exit 2)."""
    from test_io_discover import dicom_media

    index = dicom_media(tmp_path / "media")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(index), "--out", str(out), "--no-dicom", "--no-report", "--no-overlays"])
    assert result.exit_code == 0, result.output
    assert f"{index} is a DICOMDIR index: reading the files under its folder {index.parent}" in result.output
    images = _tables(out)["images"]
    assert list(zip(images.path, images.status)) == [(str(index.parent / "PT000000/ST000000/SE000000/IM000000"), "ok")]


def test_run_given_one_folder_as_a_string_runs_on_it_and_none_at_all_is_said(study, tmp_path):
    """``run("study/dicom", options)`` took each character for an input: "s, t, u, d, y, ...: no
    such file or folder"; ``run([], options)`` said "no files found under " and nothing more."""
    one = _first_files(study, tmp_path / "one", 1)
    summary = run(str(one), RunOptions(out=tmp_path / "o", isolate=False, overlays=False, dicom=False, report=False))
    assert (summary.inputs, summary.ok) == (1, 1)
    with pytest.raises(FollicleSegError, match="^no INPUT given: name the files or folders of the scans$"):
        run([], RunOptions(out=tmp_path / "none"))
    assert not (tmp_path / "none").exists()


def test_a_second_run_in_the_same_process_is_refused_while_one_goes_on(study, tmp_path, monkeypatch):
    """Two runs on two threads of one process, into two folders, each wrote the other's lines into
    its run.log (both held both 'inputs:' lines and both 'run finished' lines): the audit trail of
    a run named scans it never read. The second is now refused before its OUT is made."""
    import threading

    from follicle_seg import pipeline
    from follicle_seg.options import RunSummary

    started, release = threading.Event(), threading.Event()

    def held(inputs, paths, options, *rest):
        started.set()
        release.wait(10)
        return RunSummary(out=options.out)

    monkeypatch.setattr(pipeline, "_run", held)
    first = threading.Thread(target=run, args=([study / "dicom"], RunOptions(out=tmp_path / "a")))
    first.start()
    try:
        assert started.wait(30)
        with pytest.raises(FollicleSegError, match="^another run is going on in this process"):
            run([study / "dicom"], RunOptions(out=tmp_path / "b"))
        assert not (tmp_path / "b").exists()
    finally:
        release.set()
        first.join()
    assert run([study / "dicom"], RunOptions(out=tmp_path / "b")).out == tmp_path / "b"  # after it, one runs


def test_the_summary_of_a_run_whose_every_file_failed_does_not_say_nothing_was_left() -> None:
    """Four files failing before any frame was segmented read "nothing left to analyse", as if
    every one had been done before."""
    from follicle_seg.options import RunSummary

    line = RunSummary(out=Path("o"), inputs=4, failed=4, seconds=1.0).line()
    assert line == "4 files: 0 ok, 0 rejected, 4 failed (0 already done); no frame segmented, tables rebuilt in 1.0 s"
    resumed = RunSummary(out=Path("o"), inputs=4, ok=4, resumed=4, seconds=1.0).line()
    assert resumed.endswith("(4 already done); nothing left to analyse, tables rebuilt in 1.0 s")


def test_images_without_a_sop_instance_uid_are_each_analysed_under_a_uid_of_their_own(tmp_path):
    """Two images of two patients, neither with a SOPInstanceUID, were one SOP instance "": the
    second was rejected as a duplicate of the first. Each is named by its file meta's
    MediaStorageSOPInstanceUID now, else by a UID made from its pixel data, said in its reason:
    a copy whose header was edited (a PatientID corrected) is still the same image."""
    inputs = tmp_path / "in"
    inputs.mkdir()

    def write(name, patient, meta_uid=None, brighter=False):
        ds = pydicom.dcmread(SAMPLES / "mono_left.dcm")
        del ds.SOPInstanceUID
        del ds.file_meta.MediaStorageSOPInstanceUID
        if meta_uid:
            ds.file_meta.MediaStorageSOPInstanceUID = meta_uid
        if brighter:
            ds.PixelData = np.minimum(ds.pixel_array.astype(np.uint16) + 1, 255).astype(np.uint8).tobytes()
        ds.PatientID = patient
        ds.save_as(inputs / name, enforce_file_format=False)

    write("a.dcm", "E1")
    write("b.dcm", "E2", brighter=True)
    write("c.dcm", "E1-corrected")  # a's pixels
    write("d.dcm", "E3", meta_uid="1.2.826.0.1.3680043.8.498.99")
    run([inputs], RunOptions(out=tmp_path / "out", workers=1, overlays=False, report=False))
    images = pd.read_csv(tmp_path / "out" / "images.csv", dtype=str, keep_default_na=False).set_index("path")
    a, b, c, d = (images.loc[str(inputs / n)] for n in ("a.dcm", "b.dcm", "c.dcm", "d.dcm"))
    assert [x["status"] for x in (a, b, c, d)] == ["ok", "ok", "rejected", "ok"]
    assert a["sop_instance_uid"] != b["sop_instance_uid"] and a["sop_instance_uid"].startswith("1.2.826.0.1.3680043.8.498.")
    assert f"no SOPInstanceUID (0008,0018): named {a['sop_instance_uid']} from its pixel data" in a["reason"]
    assert "DICOM SEG/SR not written" in a["reason"] and c["reason"].startswith(f"duplicate SOP instance {a['sop_instance_uid']}")
    assert d["sop_instance_uid"] == "1.2.826.0.1.3680043.8.498.99" and "named by its MediaStorageSOPInstanceUID" in d["reason"]
    assert set(pd.read_csv(tmp_path / "out" / "ovaries.csv", dtype=str)["patient_id"]) == {"E1", "E2", "E3"}
