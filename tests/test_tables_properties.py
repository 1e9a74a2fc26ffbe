"""The tables' round trip through their files, and the cohort CSV's, against random studies
(property-based).

Random studies (tests/test_visits_properties.py's, their patient ids, groups, paths and reasons
made odd: commas, quotes, line breaks, leading zeros, unicode, spaces) are turned into tables by
:func:`follicle_seg.visits.build_tables`, written by :func:`follicle_seg.io.tables.write_tables`
and read back as docs/analyst.md says an analyst reads them: the Parquet copy with
``pd.read_parquet``, the CSV copy with its types given. Each must hold the values built, with
their types (empty text is missing in both copies), so the two copies of a table are equal.
A cohort written by pandas, or as a spreadsheet saves it, reads back (:func:`read_cohort`) the
ids, groups and dates written, text as it was.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from test_docs import analyst_visits_csv  # tests/ is on sys.path
from test_visits_properties import cohort_of, results_of, studies

from follicle_seg.io.tables import read_cohort, write_tables
from follicle_seg.visits import build_tables

PROPERTIES = settings(max_examples=25)  # (deterministic: tests/conftest.py's profile)

# text as headers, file names and cohort files give it, the awkward cases first
ODD = ("007", "0", "NA", "N/A", "null", "nan", "None", "-12", "=1+1", "1.50", "1e3", "a,b", 'say "x"',
       "two\nlines", "cr\r\nlf", " padded ", "Müller^Zoë", "患者", "true", ";")  # fmt: skip
TEXT = st.one_of(st.sampled_from(ODD), st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=8))
STUDY_PATIENTS = ("P1", "P2", "P3", "P4", "P9")


def analyst_csv(path, parquet: pd.DataFrame) -> pd.DataFrame:
    """A CSV table read as docs/analyst.md says ("Types"): the types given (here those of the
    Parquet copy), empty cells the only missing ones (``keep_default_na=False``: a patient id
    ``NA`` is text)."""
    return pd.read_csv(path, dtype={c: str(t) for c, t in parquet.dtypes.items()}, keep_default_na=False,
                       na_values=[""], true_values=["true"], false_values=["false"])  # fmt: skip


def _as_written(df: pd.DataFrame) -> pd.DataFrame:
    """A built table as both copies hold it: empty text missing."""
    text = [c for c in df.columns if str(df[c].dtype) == "string"]
    return df.assign(**{c: df[c].mask(df[c] == "") for c in text})


@st.composite
def odd_studies(draw, ids_from=TEXT, groups_from=TEXT):
    """A study of tests/test_visits_properties.py's, with odd ids (of ``ids_from``), groups (of
    ``groups_from``), paths and reasons."""
    study = draw(studies())
    ids = dict(zip(STUDY_PATIENTS, draw(st.lists(ids_from, min_size=5, max_size=5, unique_by=str.strip))))
    groups = {g: draw(groups_from) for g in ("low", "medium", "high")} | {"": ""}
    results = renamed(results_of(study), ids, draw(TEXT), draw(TEXT))
    cohort = cohort_of(study)
    if cohort is not None:
        cohort = cohort.assign(patient_id=cohort["patient_id"].map(ids), group=cohort["group"].map(groups))
    return results, cohort


def renamed(results, ids: dict[str, str], where: str, reason: str) -> list:
    """``results`` with each patient id as ``ids`` maps it, each path under ``where``, and
    ``reason`` added to each reason."""
    out = []
    for r in results:
        path = f"{where}/{r.path}"
        record = r.record and replace(r.record, patient_id=ids[r.record.patient_id], path=path)
        identity = r.identity and replace(r.identity, patient_id=ids[r.identity.patient_id])
        said = r.reason and f"{r.reason}: {reason}"
        out.append(replace(r, record=record, identity=identity, path=path, reason=said))
    return out


@PROPERTIES
@given(odd_studies())
def test_each_table_reads_back_from_its_csv_and_its_parquet_as_built(tmp_path_factory, study) -> None:
    results, cohort = study
    tables = build_tables(results, cohort)
    out = tmp_path_factory.mktemp("out")
    write_tables(tables, out)
    for name, built in tables.items():
        parquet = pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(parquet, _as_written(built), obj=f"{name}.parquet")
        pd.testing.assert_frame_equal(analyst_csv(out / f"{name}.csv", parquet), parquet, obj=f"{name}.csv")


@PROPERTIES
@given(odd_studies())
def test_the_analyst_guides_reading_of_visits_csv_gives_the_parquet_copys_values(tmp_path_factory, study) -> None:
    """docs/analyst.md's own ``pd.read_csv`` of ``visits.csv``: its first version took a patient id
    or group ``NA``, ``null`` or ``None`` for a missing one (pandas' default NA words)."""
    out = tmp_path_factory.mktemp("out")
    write_tables(build_tables(*study), out)
    parquet = pd.read_parquet(out / "visits.parquet")
    # as the guide reads both: the dates parsed, the floats nullable (dtype_backend="numpy_nullable")
    parquet = parquet.assign(study_date=pd.to_datetime(parquet["study_date"]),
                             max_follicle_mm=parquet["max_follicle_mm"].astype("Float64"))  # fmt: skip
    read = analyst_visits_csv(out)
    assert read.dtypes.drop("study_date").astype(str).to_dict() == parquet.dtypes.drop("study_date").astype(str).to_dict()
    assert read.empty or pd.api.types.is_datetime64_dtype(read["study_date"])  # (an empty column: object)
    pd.testing.assert_frame_equal(read, parquet, check_dtype=False)


DATES = st.one_of(st.just(""), st.dates(date(1990, 1, 1), date(2099, 12, 31)).map(date.isoformat))


@st.composite
def cohorts(draw) -> pd.DataFrame:
    """A cohort as a study gives it: unique ids, groups (some empty; each written one way, as
    :func:`read_cohort` requires), baseline dates (some empty), the text as read (it strips each cell)."""
    ids = draw(st.lists(TEXT.map(str.strip).filter(bool), min_size=1, max_size=6, unique=True))
    spelled: dict[str, str] = {}
    groups = [draw(TEXT.map(str.strip) | st.just("")) for _ in ids]
    groups = [spelled.setdefault(" ".join(g.split()).casefold(), g) for g in groups]
    rows = [(i, g, draw(DATES)) for i, g in zip(ids, groups)]
    return pd.DataFrame(rows, columns=["patient_id", "group", "baseline_date"])


@settings(max_examples=100)  # (quick: no tables built)
@given(cohort=cohorts(), sep=st.sampled_from(",;\t"), encoding=st.sampled_from(("utf-8", "utf-8-sig", "utf-16")),
       crlf=st.booleans(), quote_all=st.booleans(), blank_after=st.integers(0, 3), extra=st.booleans())  # fmt: skip
def test_a_cohort_written_by_pandas_or_a_spreadsheet_reads_back_as_written(
    tmp_path_factory, cohort, sep, encoding, crlf, quote_all, blank_after, extra
) -> None:
    """Ids with leading zeros stay text ("007"), as do "NA" and "null"; a byte order mark, CRLF
    line ends, quoted fields, trailing blank lines and an extra column change nothing."""
    written = cohort.assign(site="A") if extra else cohort
    newline = "\r\n" if crlf else "\n"
    text = written.to_csv(index=False, sep=sep, lineterminator=newline, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    path.write_bytes((text + newline * blank_after).encode(encoding))
    pd.testing.assert_frame_equal(read_cohort(path), cohort)
