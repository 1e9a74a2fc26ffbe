"""Mistyped arguments of every command: a one-line usage error (exit 2) naming what is wrong,
never a traceback, nothing written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from follicle_seg.cli import app
from follicle_seg.io.tables import CohortError, read_cohort
from follicle_seg.review import Review, ReviewError

SAMPLE = Path(__file__).parent.parent / "data_samples" / "mono_left.dcm"


def _usage_error(args: list[str]) -> str:
    """The console output of ``follicle-seg ARGS``, asserted a usage error (exit 2, no traceback)."""
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert (result.exit_code, type(result.exception)) == (2, SystemExit), result.output
    return " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize("args", [
    ["run", "", "--out", "OUT"],
    ["run", str(SAMPLE), "--out", ""],
    ["run", str(SAMPLE), "--out", "OUT", "--cohort", ""],
    ["inspect", ""],
    ["synth", ""],
    ["demo", "--out", ""],
    ["send", "", "--to", "PACS@localhost:104"],
    ["train", "--out", "", "--synthetic", "2", "--max-steps", "1"],
    ["evaluate", "--data", ""],
])  # fmt: skip
def test_an_empty_path_is_a_usage_error_not_the_current_folder(args, tmp_path, monkeypatch):
    """``run "$SCANS" --out results`` with the variable unset analysed every file under the
    folder it was started in (3,405 files of a working folder), ``run scans --out ""`` wrote its
    tables and overlays there, and ``synth ""`` wrote a study there: Path("") is ".", the
    current folder."""
    monkeypatch.chdir(tmp_path)
    output = _usage_error(args)
    assert "an empty path (an unset shell variable?)" in output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "option"), [
    (["--shift", "nan"], "--shift"),
    (["--shift", "inf"], "--shift"),
    (["--shift", "-1"], "--shift"),
    (["--shift", "100"], "--shift"),
    (["--seed-start", "-1"], "--seed-start"),
])  # fmt: skip
def test_evaluate_refuses_a_shift_or_seed_out_of_range(args, option):
    """``evaluate --shift nan`` (or inf, -1, 100) and ``--seed-start -1`` stopped with a
    ValueError, OverflowError or IndexError traceback from the frame generator, exit 1."""
    assert f"'{option}'" in _usage_error(["evaluate", "--n", "1", "--no-baseline", *args])


@pytest.mark.parametrize(("args", "option"), [
    (["--lr", "inf"], "--lr"),
    (["--weight-decay", "inf"], "--weight-decay"),
    (["--frame-zoom", "inf"], "--frame-zoom"),
    (["--frame-zoom", "1000"], "--frame-zoom"),
    (["--background-crops", "inf"], "--background-crops"),
])  # fmt: skip
def test_train_refuses_an_infinite_or_huge_setting_before_any_data(args, option, tmp_path):
    """``train --lr inf`` or ``--weight-decay inf`` wrote a bundle whose weights were all NaN
    (586,185 of 587,387 values) and reported it "improved"; ``--frame-zoom inf`` stopped with a
    RuntimeError traceback from the transform."""
    output = _usage_error(["train", "--out", str(tmp_path / "bundle"), "--synthetic", "2", "--max-steps", "1",
                           "--minutes", "0.2", "--cache", str(tmp_path / "cache"), *args])  # fmt: skip
    assert option in output
    assert list(tmp_path.iterdir()) == []


def test_send_refuses_an_infinite_timeout(tmp_path):
    """``send --timeout inf`` stopped with an OverflowError traceback from the socket."""
    assert "'--timeout'" in _usage_error(["send", str(tmp_path), "--to", "PACS@localhost:104", "--timeout", "inf"])


def test_demo_refuses_a_negative_seed_as_a_usage_error(tmp_path):
    """``demo --seed -1`` said "cannot write the study: Need patients >= 1, ..." as if the
    folder could not be written."""
    assert "'--seed'" in _usage_error(["demo", "--out", str(tmp_path / "demo"), "--seed", "-1"])
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_of_absurd_length_or_a_negative_frame_count_is_refused(tmp_path):
    """``synth --frames 100000`` ran until memory ran out (10 MB/s); ``train --synthetic -5``
    said "give --data DIR and/or --synthetic N" as if none had been given."""
    assert "'--frames'" in _usage_error(["synth", str(tmp_path / "s"), "--frames", "100000"])
    assert "'--synthetic'" in _usage_error(["train", "--out", str(tmp_path / "b"), "--synthetic", "-5"])
    assert list(tmp_path.iterdir()) == []


def _workbook(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as book:  # what an .xlsx is
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    return path


@pytest.mark.parametrize(("data", "what"), [
    (None, "a workbook (.xlsx or .ods: a zip file), not CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "a workbook (.xls), not CSV"),
    (b"patient_id,group\x00\x00\x01\x02", "not a text file"),
])  # fmt: skip
def test_a_workbook_saved_under_a_csv_name_is_said_in_one_line(tmp_path, data, what):
    """A cohort .xlsx renamed .csv was refused with "missing column(s) patient_id, group; found
    pk\\x03\\x04..." and the zip's bytes (control characters included) printed on the console;
    a review.csv likewise ("no decision column (found 'PK\\x03\\x04...')")."""
    path = tmp_path / "cohort.csv"
    _workbook(path) if data is None else path.write_bytes(data)
    with pytest.raises(CohortError) as cohort:
        read_cohort(path)
    with pytest.raises(ReviewError) as review:
        Review.read(path)
    for message in (str(cohort.value), str(review.value)):
        assert message.startswith(f"{path}: ") and what in message and 'save it as "CSV UTF-8"' in message
        assert message.isprintable()
