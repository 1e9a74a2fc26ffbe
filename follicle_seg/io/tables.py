"""Writing the result tables (CSV and Parquet, atomically) and reading the cohort CSV.

CSV conventions: a header line, booleans as ``true`` / ``false``, missing values as empty
cells, dates as ``YYYY-MM-DD``. Parquet keeps the column types (nullable integers and booleans).
Each file is written to a temporary file in the same folder and moved into place with
``os.replace``, so a reader never sees half a table.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path

import pandas as pd

from follicle_seg.atomic import atomic_write, atomic_write_all
from follicle_seg.errors import FollicleSegError, OutputError

COHORT_REQUIRED = ("patient_id", "group")
COHORT_OPTIONAL = ("baseline_date",)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class CohortError(FollicleSegError, ValueError):
    """The cohort CSV cannot be used (missing columns, bad dates, duplicate patients)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write each table as ``<name>.csv`` and ``<name>.parquet`` in ``out_dir``.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Table name (``images``, ``follicles``, ...) to its frame.
    out_dir : str or pathlib.Path
        Output folder, created when missing.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    OutputError
        If the folder or a file cannot be written.
    """
    out = Path(out_dir)
    files: list[tuple[Path, Callable[[str], object]]] = []
    for name, df in tables.items():
        # (mypy cannot type a lambda with a default argument: the ignores below)
        files.append((out / f"{name}.csv", lambda tmp, df=df: _csv_frame(df).to_csv(tmp, index=False)))  # type: ignore[misc]
        files.append((out / f"{name}.parquet", lambda tmp, df=df: _parquet_frame(df).to_parquet(tmp, index=False)))  # type: ignore[misc]
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_all(files)  # all or none: a stopped run leaves no new images.csv beside old tables
    except OSError as exc:
        # the table that could not be put in place (not its temporary name), else the folder
        where = next((n for n in (exc.filename2, exc.filename) if n and not Path(n).name.startswith(".")), out)
        raise OutputError(f"cannot write tables to {where}: {exc.strerror or exc}") from exc
    return [path for path, _ in files]


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write one table as CSV atomically (booleans as ``true``/``false``), like :func:`write_tables`.

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    path = Path(path)
    try:
        atomic_write(path, lambda tmp: _csv_frame(df).to_csv(tmp, index=False))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def read_cohort(path: str | Path) -> pd.DataFrame:
    """Read the cohort CSV: ``patient_id``, ``group`` and optionally ``baseline_date``.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV file with a header; column names are matched whatever their case, spaces, hyphens
        and underscores (``Baseline Date``: :func:`_cohort_column`), extra columns are ignored.
        Read as a spreadsheet saves it (:func:`spreadsheet_text`, separated by commas,
        semicolons or tabs: :func:`spreadsheet_delimiter`).

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id``, ``group``, ``baseline_date`` (strings; ``baseline_date`` is
        ``YYYY-MM-DD`` or ``""``), one row per patient.

    Raises
    ------
    CohortError
        If the file cannot be read, a required column is missing, a row holds more values than
        the header names columns (an unquoted "1,5 mg"), a patient id is empty or repeated, a
        group is written two ways (case, spaces), or a baseline date is not a valid
        ``YYYY-MM-DD`` date; the message names the line.
    """
    try:
        records = spreadsheet_records(spreadsheet_text(Path(path).read_bytes()))
    except UnicodeDecodeError:
        raise CohortError(path, 'cannot read the cohort CSV (neither UTF-8 nor Windows-1252): save it as "CSV UTF-8"') from None
    except (OSError, csv.Error) as exc:
        raise CohortError(path, f"cannot read the cohort CSV ({str(exc).strip()})") from None
    except ValueError as exc:  # a workbook, not text (:func:`spreadsheet_text`)
        raise CohortError(path, str(exc)) from None
    if not records:
        raise CohortError(path, "cannot read the cohort CSV (no header line: the file is empty)")
    (_, header), rows = records[0], records[1:]
    names = [_cohort_column(n) for n in header]
    for column in COHORT_REQUIRED + COHORT_OPTIONAL:
        same = [repr(n.strip()) for n in header if _cohort_column(n) == column]  # each would be read as this column
        if len(same) > 1:
            raise CohortError(path, f"columns {' and '.join(same)} both read as {column}: keep one")
    missing = [c for c in COHORT_REQUIRED if c not in names]
    if missing:
        raise CohortError(path, f"missing column(s) {', '.join(missing)}; found {', '.join(n for n in names if n) or 'none'}")
    for line, fields in rows:
        if any(f.strip() for f in fields[len(header):]):  # ("P1,low," of a trailing empty column is fine)
            raise CohortError(path, f"line {line} holds {len(fields)} values where the header names {len(header)} "
                                    "columns: quote a value that holds the delimiter (\"1,5 mg\")")  # fmt: skip
    at = {c: names.index(c) for c in COHORT_REQUIRED + COHORT_OPTIONAL if c in names}
    read = {c: [f[at[c]].strip() if at.get(c, len(f)) < len(f) else "" for _, f in rows]  # (a short row: empty cells)
            for c in COHORT_REQUIRED + COHORT_OPTIONAL}  # fmt: skip
    df = pd.DataFrame(read, index=[line for line, _ in rows], dtype=str)
    _check_cohort(path, df)
    return df.reset_index(drop=True)


def _check_cohort(path: str | Path, df: pd.DataFrame) -> None:
    """Refuse what would join the scans wrongly: an empty or repeated patient id, a group written
    two ways ("Low" and "low": two groups of ``response.csv``, each patient in one), a baseline
    date that is not ``YYYY-MM-DD``. ``df`` is indexed by the file's line numbers, which the errors name."""
    first: dict[str, int] = {}
    spelled: dict[str, tuple[str, int]] = {}  # a group's spelling and its first line, by its letters
    for line, patient, group, baseline in df.itertuples():
        if not patient:
            raise CohortError(path, f"empty patient_id on line {line}")
        if patient in first:
            raise CohortError(path, f"patient_id {patient!r} appears more than once (lines {first[patient]} and {line}): "
                                    "keep one row per patient")  # fmt: skip
        first[patient] = line
        other, where = spelled.setdefault(" ".join(group.split()).casefold(), (group, line))
        if group != other:
            raise CohortError(path, f"group {group!r} on line {line} and {other!r} on line {where} differ only in "
                                    "case or spaces: write each group alike")  # fmt: skip
        if baseline and not _is_iso_date(baseline):
            raise CohortError(path, f"baseline_date {baseline!r} on line {line} is not a YYYY-MM-DD date")


def _cohort_column(name: str) -> str:
    """A cohort CSV header name as read: a column of :data:`COHORT_REQUIRED` or
    :data:`COHORT_OPTIONAL` whatever its case, spaces, hyphens and underscores (a "Baseline Date"
    column was taken for an extra column and ignored: every baseline the first visit), else
    the name stripped, in lower case.

    >>> [_cohort_column(n) for n in ("Patient ID", " BaselineDate", "baseline-date", "Site")]
    ['patient_id', 'baseline_date', 'baseline_date', 'site']
    """
    key = re.sub(r"[\s_-]", "", name).lower()
    return next((c for c in COHORT_REQUIRED + COHORT_OPTIONAL if c.replace("_", "") == key), name.strip().lower())


def spreadsheet_text(data: bytes) -> str:
    """A CSV file's text as a spreadsheet saves it: UTF-16 when it starts with its byte order mark
    (Excel's "Unicode Text"), else UTF-8 (a BOM dropped), else Windows-1252, what Windows Excel
    saves as "CSV (Comma delimited)".

    Raises
    ------
    UnicodeDecodeError
        If the bytes are none of these.
    ValueError
        If they are a workbook (``.xlsx``, ``.xls``) or another file that is not text (NUL
        bytes), whose bytes were read as column names: the message says what they are.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its byte order mark ("Unicode Text")
        return data.decode("utf-16")
    for magic, what in _WORKBOOKS:
        if data.startswith(magic):
            raise ValueError(f'{what}, not CSV: save it as "CSV UTF-8"')
    if b"\x00" in data:
        raise ValueError('not a text file (it holds NUL bytes): save it as "CSV UTF-8"')
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


#: How a spreadsheet's own file begins, and what it is.
_WORKBOOKS = ((b"PK\x03\x04", "a workbook (.xlsx or .ods: a zip file)"), (b"\xd0\xcf\x11\xe0", "a workbook (.xls)"))


def spreadsheet_delimiter(header: str) -> str:
    """The delimiter of a CSV file by its header line: ``,``; ``;`` from a spreadsheet set to a
    comma-decimal locale; a tab from Excel's "Unicode Text".

    >>> spreadsheet_delimiter("patient_id;group"), spreadsheet_delimiter("patient_id,group")
    (';', ',')
    """
    return max((",", ";", "\t"), key=header.count)


def spreadsheet_records(text: str, *, strict: bool = True) -> list[tuple[int, list[str]]]:
    """The non-blank records of a CSV text, each with the line of the file it starts on (a quoted
    cell may hold line breaks), separated as its first non-blank line is
    (:func:`spreadsheet_delimiter`); blank lines and rows of empty cells (",,") left out. Not
    ``strict``: a quote never closed runs to the end, ``"low"x`` is ``lowx`` (Python's reader).

    Raises
    ------
    csv.Error
        If the text is not CSV (``strict``: a quote never closed), naming the line.

    >>> spreadsheet_records('\\npatient_id;group\\n"P\\n1";low\\n;\\nP2; high\\n')
    [(2, ['patient_id', 'group']), (3, ['P\\n1', 'low']), (6, ['P2', 'high'])]
    """
    header = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spreadsheet_delimiter(header), skipinitialspace=True,
                        strict=strict)  # fmt: skip
    records, start = [], 1
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                records.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as exc:  # ("unexpected end of data": a quote opened on that line and never closed)
        raise csv.Error(f"line {start}: {'a quote never closed' if 'end of data' in str(exc) else exc}") from None
    return records


def _is_iso_date(text: str) -> bool:
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _parquet_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Empty text as null for the Parquet copy, as the CSV copy reads: pandas reads an empty CSV
    cell as missing, so a group-wise analysis of the two copies kept the patients without a
    group in one and dropped them in the other."""
    text = [c for c in df.columns if pd.api.types.is_string_dtype(df[c].dtype) and df[c].dtype != object]
    return df.assign(**{c: df[c].mask(df[c] == "") for c in text}) if text else df


def _csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Booleans as ``true``/``false`` text (missing stays empty) for the CSV copy."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_bool_dtype(out[col].dtype):
            out[col] = out[col].map({True: "true", False: "false"}).astype("string")
    return out
