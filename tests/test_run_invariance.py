"""A run's tables do not depend on how it was run: the batch size, the decoder workers, the order
and form the inputs are given in, the archive analysed in one run or several into the same OUT
(an interrupted run resumed included), and whether overlays, DICOM SEG/SR and the report are
made. Each run below varies several of these at once against one reference run (a pairwise
choice: every level of every factor is met, not their product). The Dask executor against the
local one: tests/test_pipeline.py (``test_dask_local_cluster_gives_identical_tables``).

Every table is compared in full, CSV as written, with one exception: ``images.csv``'s ``path``,
the path a file was given under, which is mapped back to the reference's path of the same file
(its rows are sorted by path, so a renamed archive's come in another order). No other column
names a path, and nothing in the tables depends on timing."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pandas as pd
import pytest

from follicle_seg.pipeline import RunOptions, run

TABLES = ("images", "follicles", "ovaries", "visits", "response", "candidates", "review_reasons")
TABLES_ONLY = {"overlays": False, "dicom": False, "report": False}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _run(inputs, out: Path, study: Path, **options):
    return run(inputs, RunOptions(out=out, cohort=study / "cohort.csv", **options))


def _tables(out: Path, original: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """The run's CSV tables as text; ``original`` maps each input path back to the reference's."""
    tables = {t: pd.read_csv(out / f"{t}.csv", dtype=str, keep_default_na=False) for t in TABLES}
    if original is not None:
        images = tables["images"].assign(path=tables["images"].path.map(original))
        assert images.path.notna().all(), "a row for a file that was not an input"
        tables["images"] = images.sort_values("path", kind="stable").reset_index(drop=True)
    return tables


def _assert_same(reference: dict[str, pd.DataFrame], out: Path, original: dict[str, str] | None = None) -> None:
    tables = _tables(out, original)
    for name in TABLES:
        pd.testing.assert_frame_equal(tables[name], reference[name], obj=name)


@pytest.fixture(scope="session")
def reference(study, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The tables of one plain run: the folder, default batch size and workers, tables only."""
    out = tmp_path_factory.mktemp("reference")
    summary = _run([study / "dicom"], out, study, batch_size=8, workers=2, **TABLES_ONLY)
    assert summary.ok == len(_files(study / "dicom")) and summary.failed == 0
    tables = _tables(out)
    assert all(len(tables[t]) for t in TABLES)  # every table has rows to compare
    return tables


def test_files_given_one_by_one_in_shuffled_order_with_every_output(study, reference, tmp_path):
    files = _files(study / "dicom")
    random.Random(3).shuffle(files)
    out = tmp_path / "out"
    _run(files, out, study, batch_size=2, workers=1)  # overlays, DICOM SEG/SR and report made
    assert any((out / "overlays").glob("*.png")) and (out / "report" / "index.html").exists()
    assert any(out.rglob("*.dcm"))
    _assert_same(reference, out)


def test_a_renamed_archive_copied_deeper_run_in_two_halves(study, reference, tmp_path):
    """Every file renamed and moved into one folder, under another name and deeper: its
    patient and visit folders gone, its names shuffled; the first half of it, then all (a
    resume, with another batch size and number of workers)."""
    files = _files(study / "dicom")
    names = [f"img {k:02d}.dcm" for k in random.Random(5).sample(range(len(files)), len(files))]
    archive = tmp_path / "another export" / "2025" / "deeper"
    archive.mkdir(parents=True)
    original = {}
    for path, name in zip(files, names):
        shutil.copy2(path, archive / name)
        original[str(archive / name)] = str(path)
    out = tmp_path / "out"
    copies = _files(archive)
    _run(copies[: len(copies) // 2], out, study, batch_size=5, workers=2, **TABLES_ONLY)
    summary = _run([archive], out, study, batch_size=1, workers=1, **TABLES_ONLY)
    assert summary.resumed == len(copies) // 2 and summary.ok == len(copies)
    _assert_same(reference, out, original)


def test_an_archive_run_in_three_parts_the_second_interrupted(study, reference, tmp_path, monkeypatch):
    """A third (overlays made), then all but stopped by Ctrl-C (a KeyboardInterrupt planted in the
    measurement of the first frame of a file past the second third), then all again, into one
    OUT, each run with its own batch size and workers: the last resumes what the first two
    finished and analyses the rest."""
    import follicle_seg.engine as engine

    files = _files(study / "dicom")
    third = len(files) // 3
    out = tmp_path / "out"
    _run(files[:third], out, study, batch_size=8, workers=1, dicom=False, report=False)
    real = engine.analyse_frame
    late = {str(p) for p in files[2 * third:]}

    def analyse_frame(seg):
        if seg.record.path in late:
            raise KeyboardInterrupt
        return real(seg)

    monkeypatch.setattr(engine, "analyse_frame", analyse_frame)
    with pytest.raises(KeyboardInterrupt):
        _run([study / "dicom"], out, study, batch_size=1, workers=2, **TABLES_ONLY)
    monkeypatch.setattr(engine, "analyse_frame", real)
    summary = _run([study / "dicom"], out, study, batch_size=5, workers=1, **TABLES_ONLY)
    assert third < summary.resumed <= 2 * third and summary.ok == len(files)
    _assert_same(reference, out)
