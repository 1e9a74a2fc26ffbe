"""The cohort file joined to the scans, against random studies (property-based).

tests/test_visits_properties.py checks each row's group, ``days_from_baseline``, ``delta_*`` and
``response.csv``'s weeks against an oracle from SPEC; here, that the join depends on nothing but
the patients' rows: a cohort file saved as a spreadsheet saves it (odd ids such as ``007``, ``NA``,
``1e3``; ``;`` or tabs; UTF-16, a BOM) joins as the rows it holds; rows in another order, or
patients never scanned added, leave every table of the scanned patients as it was (``response.csv``
orders its groups as the file first names them: the same rows, perhaps in another order); a
``--pseudonymize`` run joins the cohort's pseudonymised ids (:func:`pseudonymised_cohort`, as the
pipeline does) into the same tables, the ids replaced.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_tables_properties import ODD, odd_studies  # tests/ is on sys.path
from test_visits_properties import cohort_of, results_of, studies

from follicle_seg.io.tables import read_cohort
from follicle_seg.privacy import pseudonym, pseudonymised_cohort
from follicle_seg.visits import build_tables

PROPERTIES = settings(max_examples=10)  # (deterministic: tests/conftest.py's profile)

# PatientIDs as a header gives them (stripped, one line): the awkward ones, numbers with leading zeros
IDS = st.one_of(st.sampled_from([i.strip() for i in ODD if i.strip() and "\n" not in i]),
                st.integers(0, 99).map("{:03d}".format),
                st.from_regex(r"[A-Za-z0-9 _.-]{1,10}", fullmatch=True).map(str.strip).filter(bool))  # fmt: skip
GROUPS = st.sampled_from(("low", "Medium dose", "1,5 mg/kg", 'say "high"', "élevé", "NA"))


def assert_tables_equal(got: dict, want: dict) -> None:
    """``response`` as a set of rows (its group order is the file's), every other table as it is."""
    assert got.keys() == want.keys()
    for name, table in want.items():
        if name == "response":
            got[name], table = (t.sort_values(["group", "week"], ignore_index=True) for t in (got[name], table))
        pd.testing.assert_frame_equal(got[name], table, obj=name)


@PROPERTIES
@given(odd_studies(ids_from=IDS, groups_from=GROUPS), st.sampled_from((",", ";", "\t")),
       st.sampled_from(("utf-8", "utf-8-sig", "utf-16", "cp1252")), st.booleans())  # fmt: skip
def test_a_cohort_saved_as_a_spreadsheet_saves_it_joins_as_its_rows(tmp_path_factory, study, sep, encoding, crlf) -> None:
    results, cohort = study
    assume(cohort is not None)
    text = cohort.to_csv(index=False, sep=sep, lineterminator="\r\n" if crlf else "\n")
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    try:
        path.write_bytes(text.encode(encoding))
    except UnicodeEncodeError:  # (Windows-1252 holds no such character)
        assume(False)
    assert_tables_equal(build_tables(results, read_cohort(path)), build_tables(results, cohort))


@st.composite
def unscanned(draw) -> pd.DataFrame:
    """Rows of patients never scanned: ids the studies never give, groups old and new, dates or none."""
    n = draw(st.integers(1, 4))
    return pd.DataFrame({"patient_id": [f"X{k}" for k in range(n)],
                         "group": [draw(st.sampled_from(("low", "high", "", "placebo"))) for _ in range(n)],
                         "baseline_date": [draw(st.sampled_from(("", "2026-01-05", "2025-06-30"))) for _ in range(n)]})  # fmt: skip


@PROPERTIES
@given(studies(), st.randoms(use_true_random=False), st.none() | unscanned())
def test_a_cohort_in_another_order_or_with_unscanned_patients_gives_the_same_tables(study, rng, extra) -> None:
    cohort = cohort_of(study)
    assume(cohort is not None)
    other = cohort if extra is None else pd.concat([cohort, extra[list(cohort.columns)]], ignore_index=True)
    order = list(range(len(other)))
    rng.shuffle(order)
    results = results_of(study)
    assert_tables_equal(build_tables(results, other.iloc[order].reset_index(drop=True)), build_tables(results, cohort))


KEY = b"site key for the pseudonyms 0123456789"


def _pseudonymised(results: list) -> list:
    """``results`` as a ``--pseudonymize`` run reads them: each PatientID its pseudonym."""
    def who(x):
        return x and replace(x, patient_id=pseudonym(x.patient_id, KEY))

    return [replace(r, record=who(r.record), identity=who(r.identity)) for r in results]


def _by_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), ignore_index=True)


@PROPERTIES
@given(odd_studies(ids_from=IDS, groups_from=GROUPS))
def test_a_pseudonymised_run_joins_the_cohort_as_a_plain_one(study) -> None:
    """Each group, baseline and change of a pseudonymised run is the plain run's, the ids
    replaced; a patient not in the cohort stays out of it, under its pseudonym."""
    results, cohort = study
    assume(cohort is not None)
    plain = build_tables(results, cohort)
    hidden = build_tables(_pseudonymised(results), pseudonymised_cohort(cohort, KEY))
    assert plain.keys() == hidden.keys()
    for name, table in plain.items():
        if "patient_id" in table:
            table = table.assign(patient_id=table["patient_id"].map(lambda p: pseudonym(p, KEY)).astype("string"))
        pd.testing.assert_frame_equal(_by_rows(hidden[name]), _by_rows(table), obj=name)
