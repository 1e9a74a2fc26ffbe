"""The offline HTML report against random studies (property-based).

Random studies (tests/test_tables_properties.py's odd studies of tests/test_visits_properties.py's:
several patients, visits, sides, rejected and failed files, patients outside the cohort or without an
analysed file) with patient ids as archives give them (unicode, spaces, ``<>&"'``, ``$``, ``../``,
``P/1`` beside ``P_1``, alike but for case, very long, leading zeros, empty, pseudonyms) and odd or
missing dose groups, are built into tables (:func:`follicle_seg.visits.build_tables`), written with
an overlay per analysed frame, and a review of their worksheet is applied or not; the report
(:func:`follicle_seg.report.html.write_report`) is then built from the tables and the folder, as
a run builds it. The properties are what docs/review_outputs.md ("HTML report") and the modules'
docstrings promise: it works offline (no script, no URL, every link and image a file inside the
run's folder), each patient has a page of its own named from its id (a safe name, never another
patient's, on a case-insensitive disk too), the index links each, a page shows its patient's
numbers as the tables hold them, every string is escaped, and a rebuild without a patient removes
its page.
"""

from __future__ import annotations

import re
import tempfile
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from test_report_html import _resolved  # tests/ is on sys.path
from test_review_properties import _read, decided
from test_review_properties import studies as review_studies
from test_tables_properties import TEXT, odd_studies, renamed
from test_visits_properties import Img, Study, cohort_of, results_of

from follicle_seg.io.tables import write_tables
from follicle_seg.privacy import pseudonym
from follicle_seg.report.html import write_report
from follicle_seg.report.overlay_files import overlay_filename
from follicle_seg.report.pages import NO_PATIENT
from follicle_seg.review import worksheet
from follicle_seg.visits import build_tables

PROPERTIES = settings(max_examples=12)  # (deterministic: tests/conftest.py's profile; figures are slow)

# patient ids as archives write them, the awkward cases for a file name or a page first
IDS = ("P/1", "P_1", "P-1", "p_1", "abc", "ABC", "../x", "..", ".hidden", "CON", "con.1", "<script>alert(1)</script>",
       'a&b "q" \'s\'', "$x^2$", "$", "007", "7", "P\\2", "P 2", "Zoë", "患者", "P" * 300, "x" * 70 + "é")  # fmt: skip
PATIENT_IDS = st.one_of(st.sampled_from(IDS), TEXT, TEXT.map(lambda s: pseudonym(s, b"k" * 16) or "P0"))
GROUPS = st.one_of(st.sampled_from(("low", "<i>high</i>", "$5$ mg", "", "../g")), TEXT)


@st.composite
def undated_studies(draw):
    """tests/test_review_properties.py's studies (undated visits, a patient-less one, sides unknown,
    candidates the network was unsure of and tubes), their patients given odd ids; no cohort."""
    ids = dict(zip(("P1", "P2", ""), draw(st.lists(PATIENT_IDS | st.just(""), min_size=3, max_size=3, unique=True))))
    return renamed(draw(review_studies()), ids, draw(TEXT), draw(TEXT)), None


STUDIES = st.one_of(odd_studies(PATIENT_IDS, GROUPS), undated_studies())
VOID = {"meta", "img", "br", "wbr", "input", "link", "hr", "col", "source", "area", "base", "embed", "param", "track"}
# a paragraph, list item or cell ends at the next one: what html.parser cannot check
OPTIONAL_END = {"p", "li", "td", "th", "tr"}


class _Shape(HTMLParser):
    """A page's elements: each opened one closed in order, its header's title, its tables' rows
    (the text of their cells, by the row's id too), and its cells' text by their own id."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.wrong: list[str] = []
        self.h1 = ""
        self.rows: dict[str, list[str]] = {}
        self.table: list[list[str]] = []  # every row, with an id or not
        self.marked: set[str] = set()  # the ids of the rows of class "review"
        self.cells: dict[str, str] = {}
        self._text: list[list[str]] = []  # the open h1 and cells' text
        self._row: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_data(" ")  # (a tag parts words: "AFC 0<br>sizes")
        if tag in VOID:
            return
        self.open.append(tag)
        if tag == "tr":
            self._row = (dict(attrs).get("id") or "", [])
            if dict(attrs).get("class") == "review":
                self.marked.add(self._row[0])
        if tag in ("h1", "td", "th"):
            self._text.append([dict(attrs).get("id") or ""])

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.wrong.append(f"</{tag}> closes <{self.open[-1] if self.open else ''}>")
            return
        self.open.pop()
        if tag in ("h1", "td", "th"):
            key, *words = self._text.pop()
            said = re.sub(r"\s+", " ", "".join(words)).strip()
            if tag == "h1":
                self.h1 = "".join(words)
            elif self._row is not None:
                self._row[1].append(said)
                if key:
                    self.cells[key] = said
        if tag == "tr" and self._row is not None:
            if self._row[0]:
                self.rows[self._row[0]] = self._row[1]
            self.table.append(self._row[1])
            self._row = None

    def handle_data(self, data: str) -> None:
        for words in self._text:
            words.append(data)


def _shape(page: Path) -> _Shape:
    shape = _Shape()
    shape.feed(page.read_text(encoding="utf-8"))
    shape.close()
    assert not shape.wrong and not shape.open, (page.name, shape.wrong, shape.open)
    return shape


def _overlays(out: Path, results) -> None:
    """A small overlay per analysed frame (two of a cine), named as a run names them."""
    folder = out / "overlays"
    folder.mkdir(parents=True, exist_ok=True)
    for r in results:
        if r.status == "ok":
            for frame in (0, 1) if r.record.n_frames > 1 else (0,):
                Image.new("RGB", (24, 16), (40, 80, 120)).save(folder / overlay_filename(r.record, frame))


def _study(out: Path, study, data) -> dict[str, pd.DataFrame]:
    """The tables of ``study`` (a review of their worksheet applied or not), written in ``out``
    with their overlays."""
    results, cohort = study
    tables = build_tables(results, cohort)
    if data.draw(st.booleans(), label="reviewed"):
        sheet = data.draw(decided(worksheet(tables)), label="review")
        tables = build_tables(results, cohort, _read(sheet, out))
    write_tables(tables, out)
    _overlays(out, results)
    return tables


def _number(said: str) -> float | None:
    return None if said in ("–", "") else float(said)


def _is(said: str, value: object) -> bool:
    """A whole number as shown is the table's, or both are missing."""
    shown = _number(said)
    return pd.isna(value) if shown is None else not pd.isna(value) and shown == value


def _reads(mm: float) -> tuple[int, bool]:
    """A diameter's size class (SPEC: 2-5, 5-10, 10-14, 14-18, >=18, lower bound inclusive) and
    AFC status (2.0-10.0 mm inclusive)."""
    return sum(mm >= edge for edge in (2, 5, 10, 14, 18)), 2 <= mm <= 10


def _close(shown: float | None, value: object) -> bool:
    """A size as shown is the table's value (docs/review_outputs.md: one decimal, two where one
    would read as another size class or AFC status), or both are missing."""
    if shown is None or pd.isna(value):
        return shown is None and pd.isna(value)
    mm = round(float(value), 2)  # (the tables' 0.01 mm)
    return abs(shown - mm) <= 0.05 + 1e-9 and _reads(shown) == _reads(mm)


def _check_page(shape: _Shape, patient: str, tables: dict[str, pd.DataFrame]) -> None:
    """The patient's visits, ovary-visits and follicles on its page, with the tables' numbers."""
    assert shape.h1 == f"Patient {patient or NO_PATIENT}"
    mine = {name: df[df["patient_id"].astype(str) == patient] for name, df in tables.items() if "patient_id" in df}
    ovaries, visits = mine["ovaries"], mine["visits"]
    dates = sorted(set(ovaries["study_date"].astype(str)))
    rows = {k: v for k, v in shape.rows.items() if k.startswith("visit-")}
    assert len(rows) == len(dates)
    for date in dates:
        day, total = rows[f"visit-{date or 'nodate'}"][1:3]
        visit = visits[visits["study_date"].astype(str) == date].iloc[0]
        assert _is(day, visit["days_from_baseline"]) and _is(total, visit["follicle_count"]), (date, day, total)
        assert (f"visit-{date or 'nodate'}" in shape.marked) == bool(visit["needs_review"]), date  # as visits.csv says
    for ov in ovaries.itertuples():
        cell = shape.cells[f"visit-{ov.study_date or 'nodate'}-{ov.laterality}"]
        count, afc = re.match(r"(\d+) follicle\(s\) · AFC (\S+)", cell).groups()
        assert int(count) == ov.follicle_count and _is(afc, ov.afc), cell
        largest = re.search(r"largest (\S+) mm", cell)
        assert _close(largest and float(largest[1]), ov.max_follicle_mm), (cell, ov.max_follicle_mm)
    follicles = mine["follicles"]
    listed = [r for r in shape.table if len(r) == 9 and r[0] != "visit"]
    assert len(listed) == len(follicles)
    shown = sorted(((d, s, int(i), _number(m)) for d, s, i, _, _, m, *_ in listed), key=lambda r: r[:3])
    want = sorted(zip(follicles["study_date"].astype(str), follicles["laterality"].astype(str),
                      follicles["follicle_id"].astype(int), follicles["mean_diameter_mm"].astype(float)), key=lambda r: r[:3])  # fmt: skip
    assert [s[:3] for s in shown] == [w[:3] for w in want]
    assert all(_close(a, b) for (*_, a), (*_, b) in zip(shown, want)), (shown, want)


def _patients_of(tables: dict[str, pd.DataFrame]) -> set[str]:
    return set(tables["ovaries"]["patient_id"].astype(str))


def _check_report(out: Path, tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Every property of the report in ``out``; returns each patient's page name."""
    report = out / "report"
    index = report / "index.html"
    pages = sorted((report / "patients").glob("*")) if (report / "patients").is_dir() else []
    # safe names (docs/review_outputs.md, "HTML report"): no separator, none another's but for case,
    # not too long; a page (and its chart, named as it is) not hidden. (A thumbnail is named as its
    # overlay, "reduced to [A-Za-z0-9.-]": hidden for an id beginning with ".", as the overlay is.)
    for folder, first in (("patients", "[A-Za-z0-9]"), ("figures", "[A-Za-z0-9]"), ("thumbs", "[A-Za-z0-9.]")):
        names = [p.name for p in (report / folder).glob("*")] if (report / folder).is_dir() else []
        assert all(re.fullmatch(first + r"[A-Za-z0-9._-]*", n) and len(n.encode()) <= 255 for n in names), names
        assert len({n.lower() for n in names}) == len(names), names
    # the index and every page: balanced, no script, every reference a file inside the run's folder
    for page in [index, *pages]:
        _resolved(page)
    by_page = {p.name: _shape(p) for p in pages}
    patients = _patients_of(tables)
    named = {shape.h1.removeprefix("Patient "): name for name, shape in by_page.items()}
    assert len(named) == len(pages) and set(named) == {p or NO_PATIENT for p in patients}
    # the index links each page, by the patient's id as written; names those with no analysed file
    text = index.read_text(encoding="utf-8")
    links = {(unescape(i), n) for n, i in re.findall(r'<li><a href="patients/([^"#]+)">(.*?)</a>', text)}
    assert links == {(p or NO_PATIENT, n) for p, n in named.items()}
    lost = set(tables["images"]["patient_id"].dropna().astype(str)) - patients - {""}
    said = re.search(r"Every file of these patients was rejected or failed.*?</p>", text)
    assert all(f"{escape(p)} (" in said[0] for p in lost) if lost else not said
    for patient in patients:
        _check_page(by_page[named[patient or NO_PATIENT]], patient, tables)
    return {p: named[p or NO_PATIENT] for p in patients}


def _built_and_rebuilt(out: Path, tables: dict[str, pd.DataFrame], gone) -> None:
    """The report of ``tables``, then rebuilt without the patient ``gone`` picks of their pages."""
    write_report(out, tables)
    pages = _check_report(out, tables)
    if pages:  # rebuilt without one patient: its page goes, the others' links follow
        gone = gone(sorted(pages))
        kept = {k: df[df["patient_id"].astype(str) != gone] if "patient_id" in df else df for k, df in tables.items()}
        write_report(out, kept)
        assert not (out / "report" / "patients" / pages[gone]).exists()
        assert set(_check_report(out, kept)) == set(pages) - {gone}


@PROPERTIES
@given(STUDIES, st.data())
def test_the_report_of_any_study_is_offline_one_page_a_patient_with_the_tables_numbers(study, data) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        tables = _study(out, study, data)
        _built_and_rebuilt(out, tables, lambda ids: data.draw(st.sampled_from(ids), label="removed"))


def test_ids_a_file_name_cannot_hold_as_they_are_each_get_a_page_of_their_own(tmp_path: Path) -> None:
    """Ids alike once reduced to a file name (``P/1``, ``P-1``; ``abc``, ``ABC`` on a
    case-insensitive disk), script, a parent folder, a reserved and a very long one, in one study;
    the one removed is ``abc``, whose twin ``ABC`` is then no longer hashed."""
    ids = ("P/1", "P_1", "P-1", "abc", "ABC", "<script>alert(1)</script>", "..", "CON", "P" * 300, "")
    images = tuple(Img(f"1.2.{k}.{j}", p, day, side, f"st-{k}", 1, True, (300 + 100 * k, 1000), k == 3, 0.0)
                   for k, p in enumerate(ids) for j, (day, side) in enumerate((("2026-01-05", "L"), ("2026-01-19", "R"))))  # fmt: skip
    cohort = tuple((p, ("<b>low</b>", "$high$", "")[k % 3], "") for k, p in enumerate(ids))
    results = results_of(Study(images, (), cohort, True, True))
    tables = build_tables(results, cohort_of(Study(images, (), cohort, True, True)))
    write_tables(tables, tmp_path)
    _overlays(tmp_path, results)
    _built_and_rebuilt(tmp_path, tables, lambda _: "abc")
