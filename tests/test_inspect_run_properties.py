"""What ``follicle-seg inspect`` predicts is what ``run`` does (io/inspect.py against pipeline.py),
for random archives (property-based).

A pool of files is written once: the good and bad files of data_samples/ and variants of them
written with pydicom (a byte copy of an image under a second path, a rejection note withdrawing
an image, an image without StudyDate in a study with one, one without PatientID, one whose side
is given by the Laterality tag, one cut inside its header, a cine with a corrupt last frame).
Each example draws a subset of the pool in some order, inspects it and runs it (tables only, into
a fresh folder), and compares file by file: ok or rejected and the reason (the same words),
patient, study day, side and its source, frames, calibration and its source, and region (from
the run's state, where its tables do not say them); then inspect's closing lines against the
run's ``images.csv`` and its summary line.

The one documented difference is left out: inspect decodes the first frame only, so a cine
with a corrupt later frame reads ok there and is rejected by the run (README's command table).
The network is replaced by one that finds nothing: what is compared is decided before it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.uid import generate_uid

from follicle_seg import pipeline
from follicle_seg.io.inspect import inspect_paths, summary_lines
from follicle_seg.options import RunOptions
from test_distributed import SlowSegmenter  # tests/ is on sys.path
from test_rejection_notes import SAMPLES, key_object_note

PROPERTIES = settings(max_examples=15)  # (deterministic: tests/conftest.py's profile; a run an example)

BROKEN_CINE = "broken cine.dcm"  # its last frame corrupt: the documented difference


def _variant(root: Path, name: str, sample: str, **changes) -> Path:
    """``sample`` under a new SOP instance with header ``changes`` (a value None deletes the tag)."""
    ds = pydicom.dcmread(SAMPLES / sample)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(root / name)
    return root / name


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pool")
    for sample in SAMPLES.iterdir():
        shutil.copy(sample, root / sample.name)
    (root / "copies").mkdir()
    shutil.copy(SAMPLES / "mono_left.dcm", root / "copies" / "mono_left.dcm")  # one SOP instance, two paths
    withdrawn = _variant(root, "withdrawn.dcm", "mono_left.dcm")
    key_object_note(root / "note.dcm", [withdrawn])
    _variant(root, "no study date.dcm", "jpeg_ybr422_left.dcm", StudyDate="", SeriesDate="20240612")
    _variant(root, "no patient.dcm", "mono_left.dcm", PatientID=None)
    _variant(root, "laterality tag.dcm", "mono_left.dcm", ImageLaterality=None, Laterality="R")
    (root / "cut in header.dcm").write_bytes((SAMPLES / "mono_left.dcm").read_bytes()[:700])
    cine = bytearray(_variant(root, BROKEN_CINE, "cine_20f_jpegls_right.dcm").read_bytes())
    cine[-600:-20] = bytes(580)  # the last frame's JPEG-LS stream zeroed (as tests/test_pipeline.py)
    (root / BROKEN_CINE).write_bytes(bytes(cine))
    return root


@pytest.fixture(scope="module")
def no_network():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "load_segmenter", lambda options: SlowSegmenter())
        yield


def _run(paths: list[Path]) -> tuple[pd.DataFrame, dict[str, dict], str]:
    """The run's images.csv, the record each row was read as (its state), and its summary line."""
    out = Path(tempfile.mkdtemp()) / "out"
    summary = pipeline.run(paths, RunOptions(out=out, workers=1, overlays=False, dicom=False, report=False,
                                             isolate=False))  # fmt: skip
    images = pd.read_parquet(out / "images.parquet").astype(object).where(lambda t: t.notna(), None)
    with sqlite3.connect(out / "run_state.sqlite") as db:
        records = {path: json.loads(result).get("record") for path, result in db.execute("SELECT path, result FROM inputs")}
    shutil.rmtree(out.parent)
    return images, records, summary.line()


def _documented(said: dict, row: dict) -> bool:
    """inspect decoded the first frame only: the run rejects a later frame."""
    reason = row["reason"]
    return (said["status"] == "ok" and row["status"] in ("rejected", "failed") and reason.startswith("frame ")
            and not reason.startswith("frame 0 ") and said["n_frames"] > 1)  # fmt: skip


@PROPERTIES
@given(st.data())
def test_what_inspect_says_of_each_file_is_what_a_run_does(pool, no_network, data):
    every = sorted(p for p in pool.rglob("*") if p.is_file())
    paths = data.draw(st.lists(st.sampled_from(every), min_size=6, max_size=16, unique=True))
    said = {row["path"]: row for row in inspect_paths(paths)}
    images, records, line = _run(paths)
    assert sorted(said) == sorted(images.path)
    excluded = set()
    for row in images.to_dict("records"):
        path, inspected = row["path"], said[row["path"]]
        if _documented(inspected, row):
            excluded.add(path)
            continue
        assert (inspected["status"], inspected["reason"] or "") == (row["status"], row["reason"] or ""), path
        for column in ("sop_instance_uid", "patient_id", "study_date", "laterality"):  # (no PatientID: "", an empty cell)
            assert (inspected[column] or None) == row[column], (path, column)
        assert inspected["calibrated"] == row["calibrated"], path
        for column in ("n_frames", "spacing_row_mm", "spacing_col_mm"):
            assert inspected[column] == (None if row[column] is None else pytest.approx(row[column])), (path, column)
        record = records.get(path)
        if row["status"] == "ok" and record is not None:
            assert (inspected["laterality_source"], inspected["calibration_source"], inspected["region"],
                    inspected["region_source"]) == (record["laterality_source"], record["calibration"]["source"],
                                                    record["region"], record["region_source"]), path  # fmt: skip
    # the closing lines: the files and what a run flags, from images.csv's rows
    kept = [said[p] for p in sorted(said) if p not in excluded]
    ok = images[(images.status == "ok") & ~images.path.isin(excluded)]
    lines = summary_lines(kept)
    rejected = len(images) - len(excluded) - len(ok)
    assert lines[0] == f"{len(kept)} file(s): {len(ok)} ok, {rejected} rejected"
    if not excluded:
        assert line.startswith(f"{len(images)} files: {len(ok)} ok, {rejected} rejected, 0 failed")
    if len(ok):
        flags = [(int((ok.calibrated == False).sum()), "uncalibrated"), (int((ok.laterality == "U").sum()), "side unknown")]  # noqa: E712
        head = (f"ok: {ok.patient_id.nunique(dropna=False)} patient(s), {len(ok[['patient_id', 'study_date']].drop_duplicates())} "
                f"visit(s), {int(ok.n_frames.astype(int).sum())} frame(s)")  # fmt: skip
        assert lines[1].startswith(head)
        for n, what in flags:
            assert (f"{n} {what}" in lines[1]) == bool(n), (lines[1], what)
