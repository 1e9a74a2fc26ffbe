"""Writing tables (CSV + Parquet, atomic) and reading the cohort CSV."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from follicle_seg.errors import FollicleSegError, OutputError
from follicle_seg.io.tables import CohortError, read_cohort, write_tables


def table():
    return pd.DataFrame(
        {
            "patient_id": pd.array(["P1", "P2"], dtype="string"),
            "count": pd.array([3, None], dtype="Int64"),
            "d1_mm": [4.25, float("nan")],
            "counted": pd.array([True, None], dtype="boolean"),
            "calibrated": pd.array([False, True], dtype="boolean"),
        }
    )


def test_write_tables_csv_and_parquet(tmp_path):
    written = write_tables({"follicles": table()}, tmp_path / "out")
    assert sorted(p.name for p in written) == ["follicles.csv", "follicles.parquet"]
    text = (tmp_path / "out" / "follicles.csv").read_text().splitlines()
    assert text == ["patient_id,count,d1_mm,counted,calibrated", "P1,3,4.25,true,false", "P2,,,,true"]
    back = pd.read_parquet(tmp_path / "out" / "follicles.parquet")
    assert str(back["count"].dtype) == "Int64" and str(back["counted"].dtype) == "boolean"
    assert back["counted"].isna().tolist() == [False, True]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["follicles.csv", "follicles.parquet"]


def test_write_is_atomic_and_leaves_old_file_on_failure(tmp_path):
    write_tables({"t": table()}, tmp_path)
    before = (tmp_path / "t.parquet").read_bytes()
    bad = pd.DataFrame({"x": [object()]})  # CSV can write it, Parquet cannot
    with pytest.raises(pa.ArrowException):
        write_tables({"t": bad}, tmp_path)
    assert (tmp_path / "t.parquet").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write tables"):
        write_tables({"t": table()}, blocker / "out")


def test_read_cohort(tmp_path):
    p = tmp_path / "cohort.csv"
    p.write_text("Patient_ID, Group ,baseline_date,site\nP01,low,2026-01-05,A\nP02, high ,,B\n")
    df = read_cohort(p)
    assert list(df.columns) == ["patient_id", "group", "baseline_date"]
    assert df.to_dict("list") == {
        "patient_id": ["P01", "P02"],
        "group": ["low", "high"],
        "baseline_date": ["2026-01-05", ""],
    }


def test_read_cohort_reads_a_column_name_written_with_spaces_or_without_underscores(tmp_path):
    """A "Baseline Date" column was taken for an extra column and ignored in silence: every
    patient's baseline became the first visit (a screening scan two weeks early made the baseline
    read as week 2, and every change ran from the screening scan)."""
    p = tmp_path / "cohort.csv"
    p.write_text("patient_id,group,Baseline Date\nP1,low,2026-01-05\n")
    assert read_cohort(p).to_dict("list") == {"patient_id": ["P1"], "group": ["low"], "baseline_date": ["2026-01-05"]}
    p.write_text("PatientID,Group,baseline-date,Site\nP1,low,2026-01-05,A\n")
    assert read_cohort(p).to_dict("list") == {"patient_id": ["P1"], "group": ["low"], "baseline_date": ["2026-01-05"]}


def test_read_cohort_passes_over_blank_lines_and_empty_rows(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("patient_id,group\nP1,low\n\n,\nP2,high\n,\n")
    assert read_cohort(p).to_dict("list") == {"patient_id": ["P1", "P2"], "group": ["low", "high"],
                                             "baseline_date": ["", ""]}  # fmt: skip


def test_read_cohort_passes_over_blank_lines_before_the_header(tmp_path):
    """Read before the blank-line rule, refused by it ("missing column(s) ...; found none")."""
    p = tmp_path / "c.csv"
    p.write_text("\n \npatient_id,group\nP1,low\n")
    assert read_cohort(p).to_dict("list") == {"patient_id": ["P1"], "group": ["low"], "baseline_date": [""]}


def test_read_cohort_without_baseline_column(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("patient_id,group\n007,mid\n")
    df = read_cohort(p)
    assert df.to_dict("list") == {"patient_id": ["007"], "group": ["mid"], "baseline_date": [""]}


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ("patient_id;group;baseline_date\r\nP1;élevé;2026-01-05\r\n".encode("cp1252"), "Excel, comma-decimal locale"),
        ("patient_id\tgroup\tbaseline_date\r\nP1\télevé\t2026-01-05\r\n".encode("utf-16"), "Excel, Unicode Text"),
        ("\ufeffpatient_id,group,baseline_date\nP1,élevé,2026-01-05\n".encode("utf-8"), "Excel, CSV UTF-8"),
    ],
)
def test_read_cohort_reads_what_excel_saves(tmp_path, data, name):
    """A cohort saved by Excel as ";"-separated Windows-1252 or as "Unicode Text" was refused
    ("missing column(s) patient_id, group; found patient_id;group", "cannot read ... 'utf-8'
    codec"), though the review file, saved the same way, was read."""
    p = tmp_path / "cohort.csv"
    p.write_bytes(data)
    assert read_cohort(p).to_dict("list") == {"patient_id": ["P1"], "group": ["élevé"], "baseline_date": ["2026-01-05"]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("patient_id,baseline_date\nP1,2026-01-05\n", "missing column"),
        ("patient_id,group,baseline_date\nP1,low,05/01/2026\n", "line 2 is not a YYYY-MM-DD"),
        ("patient_id,group,baseline_date\nP1,low,2026-02-30\n", "not a YYYY-MM-DD"),
        # the lines named, blank ones counted (the second row was found among hundreds by hand)
        ("patient_id,group\nP1,low\n\nP2,high\nP1,high\n", r"patient_id 'P1' appears more than once \(lines 2 and 5\)"),
        ("patient_id,group\nP1,low\nP1,low\n", r"more than once \(lines 2 and 3\)"),  # the same row twice too
        ("patient_id,group\n,low\n", "empty patient_id"),
        ("", "cannot read"),
        # a display column beside a code column: every patient was put in a group named "group"
        ("patient_id,group,baseline_date,Group\nP1,low,,x\n", "columns 'group' and 'Group' both read as group"),
        ("Patient_ID,patient_id,group\nP1,P1,low\n", "columns 'Patient_ID' and 'patient_id' both read as patient_id"),
        ("patient_id,group,baseline_date,Baseline Date\nP1,low,,2026-01-05\n",
         "columns 'baseline_date' and 'Baseline Date' both read as baseline_date"),
        # blank lines (an Excel export's ",," rows) counted: the line given is the file's
        ("patient_id,group\nP1,low\n\n,\n,high\n", "empty patient_id on line 5"),
        ("patient_id,group,baseline_date\n\nP1,low,2026-01-05\nP2,low,1/2/2026\n", "line 4 is not a YYYY-MM-DD"),
        ("\n\npatient_id,group\nP1,low\n,high\n", "empty patient_id on line 5"),  # blank lines before the header
        ("patient_id,group,group\nP1,low,x\n", "columns 'group' and 'group' both read as group"),  # pandas: group.1
    ],
)
def test_read_cohort_errors_name_the_file(tmp_path, content, message):
    p = tmp_path / "cohort.csv"
    p.write_text(content)
    with pytest.raises(CohortError, match=message) as err:
        read_cohort(p)
    assert "cohort.csv" in str(err.value)
    assert isinstance(err.value, FollicleSegError) and isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # a group holding the delimiter, unquoted: pandas took the first column for the index and
        # stopped with a TypeError traceback (told to keep it, it kept "1" as the group, in silence)
        ("patient_id,group\nP1,low\nP2,1,5 mg\n", "line 3 holds 3 values where the header names 2 columns"),
        ("patient_id;group\r\n\r\nP1;low;note\r\n", "line 3 holds 3 values where the header names 2 columns"),
        ('patient_id,group\n"P1,low\nP2,high\n', r"cannot read the cohort CSV \(line 2: a quote never closed\)"),
    ],
)
def test_read_cohort_refuses_a_row_it_cannot_split_naming_the_line(tmp_path, content, message):
    p = tmp_path / "cohort.csv"
    p.write_bytes(content.encode())
    with pytest.raises(CohortError, match=message) as err:
        read_cohort(p)
    assert str(err.value).startswith(f"{p}: ") and "\n" not in str(err.value)


def test_read_cohort_reads_rows_with_trailing_empty_cells_and_short_rows(tmp_path):
    """A trailing delimiter (an empty column Excel keeps) is no value; a short row's missing cells are empty."""
    p = tmp_path / "cohort.csv"
    p.write_text("patient_id,group,baseline_date\nP1,low,2026-01-05,,\nP2,high\n")
    assert read_cohort(p).to_dict("list") == {"patient_id": ["P1", "P2"], "group": ["low", "high"],
                                             "baseline_date": ["2026-01-05", ""]}  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("patient_id,group\nP1,low\nP2,Low\n", "group 'Low' on line 3 and 'low' on line 2 differ only in case or spaces"),
        ("patient_id;group\nP1;Low dose\nP2;high\nP3;low  dose\n", "group 'low  dose' on line 4 and 'Low dose' on line 2"),
    ],
)
def test_read_cohort_refuses_a_group_written_two_ways(tmp_path, content, message):
    """"Low" and "low" made two dose groups of response.csv, each with part of the patients, in
    silence; trailing spaces were and are stripped ("low " is "low")."""
    p = tmp_path / "cohort.csv"
    p.write_text(content)
    with pytest.raises(CohortError, match=message):
        read_cohort(p)
    p.write_text("patient_id,group\nP1,low\nP2, low \nP3,high\n")
    assert read_cohort(p)["group"].tolist() == ["low", "low", "high"]


def test_read_cohort_missing_file(tmp_path):
    with pytest.raises(CohortError, match="cannot read"):
        read_cohort(tmp_path / "nope.csv")


def test_empty_text_is_missing_in_the_parquet_copy_as_in_the_csv_copy(tmp_path):
    """Parquet kept "" where pandas reads the CSV's empty cell as missing: a group-wise sum of
    one copy kept the patients without a group, of the other dropped them."""
    df = pd.DataFrame({"group": pd.array(["low", ""], dtype="string"), "follicle_count": pd.array([1, 2], dtype="Int64")})
    write_tables({"ovaries": df}, tmp_path)
    csv, parquet = pd.read_csv(tmp_path / "ovaries.csv"), pd.read_parquet(tmp_path / "ovaries.parquet")
    assert csv["group"].isna().tolist() == parquet["group"].isna().tolist() == [False, True]
    assert csv.groupby("group").follicle_count.sum().to_dict() == parquet.groupby("group").follicle_count.sum().to_dict()
    assert df["group"].tolist() == ["low", ""]  # the tables in memory are not changed


def test_a_run_stopped_while_its_tables_are_written_leaves_the_old_set_or_the_new_one(tmp_path, monkeypatch):
    """Tables were put in place one by one: a run stopped after images.csv left it beside the
    last run's other tables (and a Parquet copy unlike its CSV), and check_run said ok."""
    import os
    import signal

    import follicle_seg.atomic as atomic

    old = {"images": table(), "visits": table()}
    write_tables(old, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    new = {name: df.assign(patient_id=df["patient_id"] + "x") for name, df in old.items()}

    calls = []
    real_csv = pd.DataFrame.to_csv

    def to_csv(df, *args, **kwargs):  # stopped while writing the second table
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_csv(df, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    with pytest.raises(KeyboardInterrupt):
        write_tables(new, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # the old set, no temporary file
    monkeypatch.setattr(pd.DataFrame, "to_csv", real_csv)
    real_replace = os.replace

    def replace_then_ctrl_c(src, dst):  # Ctrl-C while the set is being renamed into place
        real_replace(src, dst)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(atomic.os, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        write_tables(new, tmp_path)  # held until the set is in place, then acted on
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    for name, df in new.items():
        assert pd.read_csv(tmp_path / f"{name}.csv")["patient_id"].tolist() == ["P1x", "P2x"]
        assert pd.read_parquet(tmp_path / f"{name}.parquet")["patient_id"].tolist() == ["P1x", "P2x"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_table_path_that_is_a_folder_stops_the_set_before_any_table_is_replaced(tmp_path):
    """The folder was found at its rename, after the tables before it were replaced: a new
    images.csv beside the last run's review_reasons.csv."""
    write_tables({"images": table(), "visits": table()}, tmp_path)
    before = (tmp_path / "images.csv").read_bytes()
    (tmp_path / "visits.parquet").unlink()
    (tmp_path / "visits.parquet").mkdir()
    with pytest.raises(OutputError, match="visits.parquet: Is a directory"):
        write_tables({"images": table().assign(patient_id="Z"), "visits": table()}, tmp_path)
    assert (tmp_path / "images.csv").read_bytes() == before and not list(tmp_path.glob(".*.tmp"))
