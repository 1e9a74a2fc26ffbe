"""HTML report: offline, escaped, every figure and thumbnail present, renders in Chromium."""

from __future__ import annotations

import html
import io
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from follicle_seg.report.html import write_report
from follicle_seg.report.thumbnails import scan_overlays
from follicle_seg.report.plots import group_order
from follicle_seg.report.overlay import render_overlay
from follicle_seg.report.overlay_files import overlay_filename, write_crops, write_overlay
from follicle_seg.review import uid_tail
from follicle_seg.types import UNCALIBRATED, Calibration, Follicle, ImageRecord, Section
from follicle_seg.visits import CANDIDATE_COLUMNS, COLUMNS, REASON_COLUMNS

REGION = (0, 0, 99, 79)
EVIL = "<script>alert(1)</script>"


def _record(uid: str, patient: str, date: str, side: str, calibrated: bool) -> ImageRecord:
    return ImageRecord(
        path=f"/data/{patient}/{uid}.dcm", sop_instance_uid=uid, sop_class_uid="1.2.840.10008.5.1.4.1.1.6.1",
        modality="US", patient_id=patient, study_instance_uid="1.2", study_date=date,
        series_instance_uid="1.2.3", series_description="", laterality=side,
        laterality_source="ImageLaterality", n_frames=1, rows=80, columns=100,
        photometric="MONOCHROME2", transfer_syntax="1.2.840.10008.1.2.1",
        calibration=Calibration(0.1, 0.1, "ultrasound_region") if calibrated else UNCALIBRATED,
        region=REGION, region_source="ultrasound_region",
    )  # fmt: skip


def _table(name: str, rows: list[dict]) -> pd.DataFrame:
    """A table with exactly the SPEC columns (missing values NaN, booleans nullable)."""
    df = pd.DataFrame(rows, columns=list(COLUMNS[name]))
    for col in ("calibrated", "needs_review", "counted", "any_follicle_ge10mm"):
        if col in df:
            df[col] = df[col].astype("boolean")
    return df


def _study(out: Path) -> dict[str, pd.DataFrame]:
    """Three patients (two dose groups and one without), two visits, both sides; overlays on disk."""
    rng = np.random.default_rng(3)
    images, follicles, ovaries, visits = [], [], [], []
    patients = [("P-low-1", "low"), ("P-high-1", "high"), ("P<b>x</b>", "")]
    n = 0
    for patient, group in patients:
        for day, date in ((0, "2026-01-05"), (14, "2026-01-19")):
            totals = 0
            for side in ("L", "R"):
                n += 1
                uid = f"1.2.826.0.1.3680043.8.498.{n}"
                calibrated = not (patient == "P-high-1" and day == 14 and side == "R")
                record = _record(uid, patient, date, side, calibrated)
                k = 1 + (n % 3) if day else n % 2
                grey = rng.integers(70, 130, (80, 100)).astype(np.uint8)
                y, x = np.ogrid[:80, :100]
                ovary = ((y - 40) / 30) ** 2 + ((x - 50) / 42) ** 2 <= 1
                ids = np.zeros((80, 100), np.int32)
                drawn, sizes = [], []
                for i in range(1, k + 1):
                    cy, cx, r = 40, 18 + 20 * i, 4 + 2 * i
                    ids[(y - cy) ** 2 + (x - cx) ** 2 <= r * r] = i
                    d_mm = 0.2 * r * (3 if day else 1)
                    mm = d_mm if calibrated else None
                    section = Section(0, cy, cx, int((ids == i).sum()), 2 * r, 2 * r, mm, mm, None)
                    drawn.append(Follicle(i, uid, section, 1, None, None))
                    follicles.append(dict(
                        patient_id=patient, study_date=date, laterality=side, follicle_id=i,
                        sop_instance_uid=uid, frame_index=0, centroid_row=cy, centroid_col=cx,
                        d1_mm=mm, d2_mm=mm, mean_diameter_mm=mm, area_mm2=None, volume_ml=None,
                        n_frames=1, size_class="5-10" if calibrated and mm and mm >= 5 else "2-5",
                        score=0.9, counted=True,
                    ))  # fmt: skip
                    if mm:
                        sizes.append(mm)
                grey[ids > 0] = 15
                rgb = render_overlay(grey, ovary_mask=ovary, follicle_ids=ids, follicles=drawn,
                                     record=record, frame_index=0, patient_label=patient)  # fmt: skip
                write_overlay(out / "overlays" / overlay_filename(record, 0), rgb)
                write_crops(out / "overlays" / "crops", overlay_filename(record, 0), rgb, record, 0, drawn)
                images.append(dict(
                    path=record.path, sop_instance_uid=uid, patient_id=patient, study_date=date,
                    laterality=side, n_frames=1, spacing_row_mm=0.1 if calibrated else None,
                    spacing_col_mm=0.1 if calibrated else None, calibrated=calibrated, status="ok",
                    reason="", follicle_count=k,
                ))  # fmt: skip
                ovaries.append(dict(
                    patient_id=patient, study_date=date, laterality=side, group=group,
                    days_from_baseline=day, n_images=1, follicle_count=k, afc=k,
                    max_follicle_mm=max(sizes) if sizes else None,
                    follicle_sizes_mm=";".join(f"{s:.1f}" for s in sorted(sizes, reverse=True)),
                    calibrated=calibrated, needs_review=not calibrated,
                ))  # fmt: skip
                totals += k
            visits.append(dict(
                patient_id=patient, group=group, study_date=date, days_from_baseline=day,
                follicle_count=totals, afc=totals, max_follicle_mm=3.0 * day / 7,
                delta_follicle_count=0, delta_afc=0, any_follicle_ge10mm=False, needs_review=False,
            ))  # fmt: skip
    images.append(dict(path="/data/bad/" + EVIL, sop_instance_uid="", patient_id="", study_date="",
                       laterality="U", status="rejected", reason=f"not ultrasound {EVIL}"))  # fmt: skip
    response = [
        dict(group=g, week=w, n_patients=1, follicle_count_mean=2.0 + w, follicle_count_median=2.0,
             delta_follicle_count_mean=0.0, afc_mean=2.0, max_follicle_mm_mean=2.0 + 3 * w,
             patients_with_follicle_ge10mm=0, share_with_follicle_ge10mm=0.0)
        for g in ("low", "high", "") for w in (0, 2)
    ]  # fmt: skip
    tables = {
        "images": _table("images", images),
        "follicles": _table("follicles", follicles),
        "ovaries": _table("ovaries", ovaries),
        "visits": _table("visits", visits),
        "response": _table("response", response),
    }
    # two candidates the network was unsure of on P-low-1's first left ovary, nobody decided
    first = {k: v for k, v in follicles[0].items() if k != "counted"}
    rows = [{**first, "follicle_id": 7, "score": 0.7, "kind": "unsure"}, {**first, "follicle_id": 8, "score": 0.8, "kind": "unsure"}]
    tables["candidates"] = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
    flagged = [o for o in ovaries if o["needs_review"]]
    tables["review_reasons"] = pd.DataFrame(
        [dict(patient_id=o["patient_id"], study_date=o["study_date"], laterality=o["laterality"],
              sop_instance_uid=uid, flag=flag, reason=reason)
         for o in flagged for uid, flag, reason in (
             ("1.2.3", "uncalibrated", "no calibration: sizes in pixels only"),
             ("1.2.4", "uncalibrated", "no calibration: sizes in pixels only"),
             ("", "counts disagree", "the images' follicle counts differ: 1, 4"))],
        columns=list(REASON_COLUMNS),
    )  # fmt: skip
    for name, df in tables.items():
        df.to_csv(out / f"{name}.csv", index=False)
    return tables


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"] or "")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        elif tag in ("script", "link", "iframe"):
            self.scripts += 1


def _review_log(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Two decisions: a follicle of the flagged ovary-visit not one, and the side of an image
    given (its ovary-visit, side U, is no longer on the patient's page)."""
    from follicle_seg.review import LOG_COLUMNS

    flagged = tables["follicles"][(tables["follicles"]["patient_id"] == "P-high-1")
                                  & (tables["follicles"]["study_date"] == "2026-01-19")
                                  & (tables["follicles"]["laterality"] == "R")].iloc[0]  # fmt: skip
    rows = [
        dict(line=2, decision="not_follicle", about="reported", patient_id="P-high-1", study_date="2026-01-19", laterality="R",
             sop_instance_uid=flagged.sop_instance_uid, follicle_id=1, frame_index=0, reviewer="AB",
             comment="a vessel", count_before=2, count_after=2),
        dict(line=3, decision="left", about="image", patient_id="P-low-1", study_date="2026-01-05", laterality="U",
             sop_instance_uid="", follicle_id=None, frame_index=None, reviewer="AB", comment="",
             count_before=1, count_after=1),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=list(LOG_COLUMNS))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    out = tmp_path_factory.mktemp("run")
    tables = _study(out)
    tables["review_log"] = _review_log(tables)
    tables["review_log"].to_csv(out / "review_log.csv", index=False)
    return write_report(out, tables), tables


#: The patient pages of the study: an id that is a safe file name as it is, by itself; another
#: by its token and a hash of the id.
PAGES = {"P-low-1": "P-low-1.html", "P-high-1": "P-high-1.html", "P<b>x</b>": "P-b-x-b_d6b962.html"}


def _page(index: Path, patient: str) -> Path:
    return index.parent / "patients" / PAGES[patient]


def _resolved(page: Path) -> _Refs:
    """The page's references, each checked: relative, inside the run's folder, to an existing
    file, and to an existing id of it for a #fragment."""
    from urllib.parse import unquote

    refs = _Refs()
    refs.feed(page.read_text(encoding="utf-8"))
    assert refs.scripts == 0
    out = page.parent.parent.parent if page.parent.name == "patients" else page.parent.parent
    for ref in refs.images + refs.links:
        assert "://" not in ref and not ref.startswith("/") and "\\" not in ref, (page.name, ref)
        path, _, fragment = ref.partition("#")
        target = (page.parent / unquote(path)).resolve() if path else page
        assert target.is_file() and target.is_relative_to(out.resolve()), (page.name, ref)
        if fragment:
            assert f'id="{fragment}"' in target.read_text(encoding="utf-8"), (page.name, ref)
    return refs


def test_every_link_and_image_of_the_index_and_each_patient_page_resolves(rendered) -> None:
    index, tables = rendered
    pages = sorted((index.parent / "patients").glob("*.html"))
    assert sorted(p.name for p in pages) == sorted(PAGES.values())
    refs = {page.name: _resolved(page) for page in [index, *pages]}
    flagged = tables["ovaries"][tables["ovaries"]["needs_review"].astype(bool)]
    to_check = tables["follicles"].merge(flagged[["patient_id", "study_date", "laterality"]])
    to_check = len(to_check) + len(tables["candidates"].merge(flagged[["patient_id", "study_date", "laterality"]]))
    # the index: trends and a crop per follicle line to check; each patient page: its chart and thumbnails
    crops = [ref for ref in refs["index.html"].images if "/crops/" in ref]
    assert len(refs["index.html"].images) == 1 + len(crops) and len(crops) == to_check >= 1
    assert all(ref.startswith("../overlays/crops/") for ref in crops)
    for page in pages:
        images = refs[page.name].images
        assert len(images) == 1 + 4 and images[-1].startswith("../figures/tracking_")
        assert all(ref.startswith("../thumbs/") for ref in images[:-1])
    overlays = {h for page in pages for h in refs[page.name].links if "/overlays/" in h}
    assert len(overlays) == 12 and all(h.startswith("../../overlays/") for h in overlays)  # every overlay reachable
    assert {f"../{name}.csv" for name in COLUMNS} <= set(refs["index.html"].links)
    assert all("../../follicles.csv" in refs[page.name].links for page in pages)
    # the index links each patient, and each review row the ovary-visit, on its page
    links = refs["index.html"].links
    assert {f"patients/{name}" for name in PAGES.values()} <= set(links)
    flagged_cell = "patients/P-high-1.html#visit-2026-01-19-R"
    assert links.count(flagged_cell) == 3  # needs review, to check, reviewed
    assert "patients/P-low-1.html#visit-2026-01-05" in links  # a decided side U: the visit
    # ...and the flagged cell links back to its crops on the index
    assert "../index.html#check-P-high-1-2026-01-19-R" in refs["P-high-1.html"].links


def test_a_patient_page_holds_only_its_patients_rows(rendered) -> None:
    index, tables = rendered
    for patient, name in PAGES.items():
        text = _page(index, patient).read_text(encoding="utf-8")
        main = text[text.index("<main>"):]  # (the menu names the previous and next patients)
        others = [html.escape(p) for p in PAGES if p != patient]
        assert html.escape(patient) in main and not any(o in main for o in others)
        token = Path(name).stem.split("_")[0]  # the overlays' names begin with the id's token
        mine = tables["follicles"][tables["follicles"]["patient_id"] == patient]
        assert main.count("<td>yes</td><td><a href=\"../../overlays/") == len(mine)
        overlays = re.findall(r'href="\.\./\.\./overlays/([^"]+)"', main)
        thumbs = re.findall(r'src="\.\./thumbs/([^"]+)"', main)
        assert overlays and all(o.startswith(f"{token}_") for o in overlays + thumbs)
        assert main.count("<tr id=\"visit-") == 2  # its two visits
    index_text = index.read_text(encoding="utf-8")
    assert "Visit timeline" not in index_text and "tracking_" not in index_text


def test_report_escapes_strings_and_lists_rejected_files_and_reviews(rendered) -> None:
    index, tables = rendered
    text = index.read_text(encoding="utf-8")
    pages = {p: _page(index, p).read_text(encoding="utf-8") for p in PAGES}
    for page in [text, *pages.values()]:
        assert EVIL not in page and "<b>x</b>" not in page
    assert "not ultrasound &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Needs review (1)" in text and "Rejected and failed files (1)" in text
    # why, from review_reasons: each reason once, with the images it concerns (their UIDs' tails)
    assert ("<td>no calibration: sizes in pixels only (2 images: ...1.2.3, ...1.2.4); "
            "the images&#x27; follicle counts differ: 1, 4</td>") in text
    assert all("<b>counted</b>" in page for page in pages.values())  # the image that gave each count is marked
    # (read back from review_reasons.csv, a reason without an image is NaN: the same line)
    from follicle_seg.review import reasons_by_ovary

    back = pd.read_csv(index.parent.parent / "review_reasons.csv")
    assert reasons_by_ovary(back) == reasons_by_ovary(tables["review_reasons"])
    # the flagged ovary-visit's cell of its patient's timeline says why, and the index how many
    why = "<span class=why><b>review:</b> no calibration: sizes in pixels only (2 images"
    assert pages["P-high-1"].count(why) == 1 and why not in text
    assert text.count("<span class=why>1 ovary-visit(s) to review</span>") == 1
    # the undecided candidates beside their ovary-visit's count, and their table among the data files
    assert pages["P-low-1"].count(" candidate(s) to check") == 1 and "&middot; 2 candidate(s) to check" in pages["P-low-1"]
    flagged = tables["ovaries"][tables["ovaries"]["needs_review"].astype(bool)].iloc[0]
    assert f"Right<br>count {flagged.follicle_count}</td>" in text  # the To check row says the count
    assert '<a href="../candidates.csv">candidates.csv</a>' in text
    assert "Reviewed (2 decisions)" in text and "a vessel" in text
    # every follicle row of follicles.csv is listed with a link to its overlay, on its patient's page
    rows = sum(page.count("<td>yes</td><td><a href=\"../../overlays/") for page in pages.values())
    assert rows == len(tables["follicles"])


def test_patients_follow_the_dose_groups_in_response_order_not_by_name(rendered) -> None:
    index, _ = rendered
    text = index.read_text(encoding="utf-8")
    # response.csv lists low, high, then no group (the cohort file's order); "high" sorts first by name
    order = ["P-low-1", "P-high-1", "P<b>x</b>"]
    index_items = [text.index(f">{html.escape(p)}</a> <span class=muted>") for p in order]
    assert index_items == sorted(index_items)
    # each page links the previous and next patient in that order, and back to the index
    for i, patient in enumerate(order):
        page = _page(index, patient).read_text(encoding="utf-8")
        nav = page[page.index("<nav>"):page.index("</nav>")]
        assert '<a href="../index.html">' in nav and f"patient {i + 1} of 3" in page
        previous = f'href="../patients/{PAGES[order[i - 1]]}">&larr; previous' in nav if i else "previous" not in nav
        following = f'href="../patients/{PAGES[order[i + 1]]}">next' in nav if i < 2 else "next" not in nav
        assert previous and following


def test_a_removed_patients_page_and_chart_are_deleted_on_rebuild(tmp_path: Path) -> None:
    tables = _study(tmp_path)
    write_report(tmp_path, tables)
    pages = tmp_path / "report" / "patients"
    assert (pages / "P-high-1.html").is_file()
    kept = {name: df[df["patient_id"] != "P-high-1"] if "patient_id" in df else df for name, df in tables.items()}
    index = write_report(tmp_path, kept)
    assert sorted(p.name for p in pages.iterdir()) == ["P-b-x-b_d6b962.html", "P-low-1.html"]
    assert len(list((tmp_path / "report" / "figures").glob("tracking_*.png"))) == 2
    assert "P-high-1" not in index.read_text(encoding="utf-8")
    for page in [index, *pages.iterdir()]:
        _resolved(page)  # the neighbours link each other now


def test_a_pseudonymised_run_names_pages_by_the_pseudonym(tmp_path: Path) -> None:
    """A page is named by the patient id of the tables (a pseudonym when the run pseudonymises,
    as its overlays are); ids whose tokens are alike get a hash of the id each."""
    from follicle_seg.privacy import pseudonym

    tables = _study(tmp_path)
    ids = {"P-low-1": pseudonym("Doe^Jane 1", b"k" * 16), "P-high-1": "P 2", "P<b>x</b>": "P-2"}
    renamed = {name: df.assign(patient_id=df["patient_id"].replace(ids)) if "patient_id" in df else df
               for name, df in tables.items()}  # fmt: skip
    index = write_report(tmp_path, renamed)
    names = sorted(p.name for p in (tmp_path / "report" / "patients").iterdir())
    assert f"{ids['P-low-1']}.html" in names and ids["P-low-1"].startswith("P")
    # "P 2" and "P-2": the plain id by itself, the other hashed, never one file for both (an id
    # equal to another's token plus a hash took its page, when the hash was joined by "-")
    assert len(names) == 3 and "P-2.html" in names and [n for n in names if n.startswith("P-2_")]
    for page in [index, *(tmp_path / "report" / "patients").iterdir()]:
        _resolved(page)


def test_group_order_is_the_response_order_then_groups_only_visits_have() -> None:
    visits = pd.DataFrame({"group": ["zeta", "high", "", "alpha", "low"]})
    response = pd.DataFrame({"group": ["low", "low", "high", ""]})
    assert group_order(visits, response) == ["low", "high", "no group", "alpha", "zeta"]


def test_figures_are_real_pngs(rendered) -> None:
    index, _ = rendered
    figures = sorted((index.parent / "figures").glob("*.png"))
    assert len(figures) == 4
    for path in figures:
        pixels = np.asarray(Image.open(path).convert("L"))
        assert pixels.shape[1] >= 600 and pixels.std() > 10


def test_scan_overlays_finds_each_image_by_its_uid(rendered) -> None:
    index, tables = rendered
    found = scan_overlays(index.parent.parent / "overlays", tables["images"]["sop_instance_uid"])
    assert len(found) == 12 and set(found["frame_index"]) == {0}
    assert set(found["sop_instance_uid"]) == set(tables["images"]["sop_instance_uid"]) - {""}


def test_missing_column_is_refused(tmp_path: Path) -> None:
    tables = {name: pd.DataFrame(columns=list(COLUMNS[name])) for name in COLUMNS}
    tables["ovaries"] = tables["ovaries"].drop(columns=["afc"])
    with pytest.raises(ValueError, match="afc"):
        write_report(tmp_path, tables)


def test_empty_study_still_renders(tmp_path: Path) -> None:
    tables = {name: _table(name, []) for name in COLUMNS}
    index = write_report(tmp_path, tables)
    text = index.read_text(encoding="utf-8")
    assert "Every input file was analysed." in text and "No follicle or candidate to check." in text
    anchors = set(re.findall(r'id="([^"]+)"', text))
    assert all(link[1:] in anchors for link in re.findall(r'href="(#[^"]+)"', text))  # the menu's too
    assert not list((tmp_path / "report").glob("patients/*"))
    # no visit, no trend: said, not three empty panels scaled 0 to 1
    assert "No analysed visit." in text and not list((tmp_path / "report").glob("figures/*"))


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.skip("Chromium is not installed (Debian package chromium)")


def _run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    return subprocess.run([_chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("patient", "lazy", "images"), [(None, 3, 1 + 3), ("P-high-1", 4, 4 + 1)])
def test_report_in_headless_chromium_loads_every_image_without_console_errors(
    rendered, tmp_path: Path, patient: str | None, lazy: int, images: int
) -> None:
    """The index (the group figure, 3 crops to check) and a patient's page (4 thumbnails, its
    chart): every image loads, the console stays clean, the screenshot is not blank."""
    index, _ = rendered
    _chromium()
    shown = index if patient is None else _page(index, patient)
    # a copy of the page, next to it, that counts images which failed to load once loaded
    probe = shown.with_name("probe.html")
    script = (
        "<script>addEventListener('load',()=>{const bad=[...document.images].filter("
        "i=>!(i.complete&&i.naturalWidth>0));document.body.setAttribute('data-broken',"
        "String(bad.length));document.body.setAttribute('data-images',String(document.images.length))})"
        "</script></body>"
    )
    page = shown.read_text(encoding="utf-8")
    assert page.count('loading="lazy"') == lazy  # crops and thumbnails, not the figures
    # the probe loads every image at once, to check each one resolves
    probe.write_text(page.replace(' loading="lazy"', "").replace("</body>", script), encoding="utf-8")
    try:
        run = _run_chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path / "p1")
    finally:
        probe.unlink()
    assert 'data-broken="0"' in run.stdout, run.stderr[-2000:]
    assert f'data-images="{images}"' in run.stdout
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Failed to load" in line]
    assert console == []

    shot = tmp_path / "report.png"
    run = _run_chromium(["--window-size=1280,1600", f"--screenshot={shot}", shown.as_uri()], tmp_path / "p2")
    assert shot.is_file(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1600, 1280)
    assert pixels.std() > 20 and (pixels < 200).mean() > 0.03  # not blank: text, figures, header
    assert [line for line in run.stderr.splitlines() if "CONSOLE" in line] == []


def test_a_figure_is_drawn_again_only_when_its_inputs_change(tmp_path: Path) -> None:
    # a run that rebuilds the report after a review redraws only the patients whose rows changed,
    # and writes only their pages
    tables = _study(tmp_path)
    write_report(tmp_path, tables)
    figures = tmp_path / "report" / "figures"
    files = [*figures.glob("*.png"), *(tmp_path / "report" / "patients").glob("*.html")]
    assert len(files) == 1 + 3 + 3
    for path in files:  # dated back, so a file written again is seen on any file system
        os.utime(path, ns=(0, 0))
    follicles = tables["follicles"].copy()
    follicles.loc[follicles["patient_id"] == "P-low-1", "counted"] = False  # as if reviewed away
    write_report(tmp_path, {**tables, "follicles": follicles})
    redrawn = sorted(p.name for p in files if p.stat().st_mtime_ns != 0)
    assert len(redrawn) == 2 and redrawn[0] == "P-low-1.html" and redrawn[1].startswith("tracking_P-low-1")
    # a cut-short file is drawn again, not trusted
    trends = figures / "group_trends.png"
    trends.write_bytes(trends.read_bytes()[:100])
    write_report(tmp_path, {**tables, "follicles": follicles})
    with Image.open(trends) as image:
        image.load()


def test_a_visit_without_a_date_is_drawn_without_failing_the_report(tmp_path: Path) -> None:
    # an undated visit (no usable StudyDate) has no days from baseline: pd.NA in the Int64
    # column, which the tracking chart once turned into a float and failed the whole run
    tables = _study(tmp_path)
    ovaries = tables["ovaries"].assign(days_from_baseline=tables["ovaries"]["days_from_baseline"].astype("Int64"))
    counted = tables["follicles"][tables["follicles"]["counted"].fillna(False)].iloc[0]
    undated = (ovaries["patient_id"] == counted.patient_id) & (ovaries["study_date"] == counted.study_date)
    ovaries.loc[undated, "days_from_baseline"] = pd.NA
    page = write_report(tmp_path, {**tables, "ovaries": ovaries})
    assert page.is_file() and len(list((tmp_path / "report" / "figures").glob("tracking_*.png"))) == 3


def test_the_group_plots_show_every_groups_values_from_zero(tmp_path, monkeypatch) -> None:
    """The panels of a column share their scale: it reaches the largest value of any group (the
    first group's alone cut the others off) and starts at zero."""
    from follicle_seg.report import plots

    visits = pd.DataFrame({
        "patient_id": ["A", "A", "B", "B"], "group": ["low", "low", "high", "high"],
        "days_from_baseline": [0.0, 14.0, 0.0, 14.0], "follicle_count": [1, 2, 6, 9],
        "afc": [1, 2, 5, 8], "max_follicle_mm": [4.0, 6.0, 12.0, 16.5],
    })  # fmt: skip
    response = pd.DataFrame({
        "group": ["low", "low", "high", "high"], "week": [0, 2, 0, 2], "follicle_count_mean": [1.0, 2.0, 6.0, 9.0],
        "afc_mean": [1.0, 2.0, 5.0, 8.0], "max_follicle_mm_mean": [4.0, 6.0, 12.0, 16.5],
    })  # fmt: skip
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, digest: drawn.append(fig) or Path(path))
    plots.plot_group_trends(visits, response, tmp_path / "trends.png")
    axes = np.array(drawn[0].axes).reshape(2, 3)
    for column, largest in enumerate((9, 8, 16.5)):
        for ax in axes[:, column]:
            bottom, top = ax.get_ylim()
            assert bottom == 0 and top >= largest


def test_the_tracking_line_never_runs_to_a_visit_without_follicles_nor_to_one_without_mm(tmp_path, monkeypatch) -> None:
    """The largest-follicle line ran from 4.1 mm (day 0) straight to 5.4 mm (day 29) past the
    empty visit of day 12, as if a 4.7 mm follicle had been seen there."""
    from follicle_seg.report import plots

    days = {"2026-01-05": 0.0, "2026-01-17": 12.0, "2026-02-03": 29.0, "2026-02-17": 43.0}
    ovaries = pd.DataFrame({"study_date": list(days), "laterality": ["R"] * 4, "days_from_baseline": list(days.values()),
                            "follicle_count": [1, 0, 2, 1]})  # fmt: skip
    follicles = pd.DataFrame({
        "study_date": ["2026-01-05", "2026-02-03", "2026-02-03", "2026-02-17"], "laterality": ["R"] * 4,
        "mean_diameter_mm": [4.1, 5.4, 3.0, None], "counted": [True] * 4,  # the last visit uncalibrated
    })  # fmt: skip
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, digest: drawn.append(fig) or Path(path))
    plots.plot_follicle_tracking(follicles, ovaries, tmp_path / "t.png", title="P")
    # no line to or from the empty visit (a line up from its 0 mm read as a follicle grown from
    # nothing, even dotted), none across it, none to the visit without mm
    pieces = [(list(line.get_xdata()), list(line.get_ydata()))
              for line in drawn[0].axes[0].get_lines() if line.get_linestyle() == "-"]  # fmt: skip
    assert pieces == []
    labels = [t.get_text() for t in drawn[0].legends[0].get_texts()]
    assert labels == ["counted follicle", "ovary without follicle"]  # no line drawn: none named
    # how many follicles each visit with several has, over its dots (equal sizes are one dot)
    notes = [(t.get_text(), t.xy) for t in drawn[0].axes[0].texts if hasattr(t, "xy")]
    assert notes == [("2", (29.0, 5.4))]
    assert "numbers: follicles at that visit" in [t.get_text() for t in drawn[0].axes[0].texts]  # said what they are


def test_a_reviewed_ovary_visit_says_the_decisions_on_its_patients_page(rendered) -> None:
    """The index's Reviewed list linked to the ovary-visit's cell, which said nothing of them."""
    index, tables = rendered
    text = _page(index, "P-high-1").read_text(encoding="utf-8")
    cell = text[text.index('id="visit-2026-01-19-R"'):]
    cell = cell[: cell.index("</td>")]
    tail = tables["review_log"]["sop_instance_uid"].iloc[0][-8:]
    assert f"<b>reviewed:</b> follicle 1 of image ...{tail} not a follicle (AB: a vessel)" in cell
    assert "reviewed:" not in _page(index, "P-low-1").read_text(encoding="utf-8")  # its decision's side U is gone


def test_a_dollar_in_a_patient_id_or_group_is_drawn_as_written_not_as_math(tmp_path, monkeypatch) -> None:
    """matplotlib read text between two ``$`` as TeX: the chart of PatientID ``A$x^2$`` was
    titled ``Ax²``, and ``P$\\frac$`` or a group ``a$^$`` stopped the whole report with a
    ValueError."""
    from follicle_seg.report import plots

    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, digest: drawn.append(fig) or Path(path))
    tables = _study(tmp_path)
    ids = {"P-low-1": "A$x^2$", "P-high-1": "P$\\frac$"}
    for name in ("images", "follicles", "ovaries", "visits"):
        tables[name]["patient_id"] = tables[name]["patient_id"].replace(ids)
    for name in ("ovaries", "visits", "response"):
        tables[name]["group"] = tables[name]["group"].replace({"low": "a$^$"})
    write_report(tmp_path, tables)
    for fig in drawn:
        fig.savefig(io.BytesIO(), format="png")  # (raised here before)
    texts = [t for fig in drawn for t in fig.findobj(lambda o: hasattr(o, "get_parse_math"))]
    written = [t.get_text() for t in texts if "$" in t.get_text()]
    assert "A$x^2$ (a$^$): follicle tracking" in written and "P$\\frac$ (high): follicle tracking" in written
    assert "a$^$\n(1 patient)" in written
    assert not [t.get_text() for t in texts if "$" in t.get_text() and t.get_parse_math()]


def test_the_report_names_patients_without_an_analysed_file_and_the_cohort_notes(tmp_path: Path) -> None:
    """A patient whose every file was rejected was in no section of the report but the rejected
    files' paths (an archive's file names need not name the patient), and what the run said of
    the cohort file (a patient with no scan at week 0, one not in it) only on the console."""
    tables = _study(tmp_path)
    lost = [dict(path=f"/data/IM{i}", sop_instance_uid=f"9.{i}", patient_id="P-lost<1>", study_date="2026-01-07",
                 laterality="L", status="rejected", reason="truncated") for i in (1, 2)]  # fmt: skip
    tables["images"] = pd.concat([tables["images"], _table("images", lost)], ignore_index=True)
    notes = ["1 patient(s) without a scan at week 0 (7 days before to 6 after the cohort's baseline_date): "
             "no change from baseline: P-low-1 (nearest scan 85 days after)"]  # fmt: skip
    text = write_report(tmp_path, tables, notes=notes).read_text(encoding="utf-8")
    trends = text[text.index('<section id="trends">'):]
    assert f"<li>{html.escape(notes[0])}</li>" in trends[: trends.index("</section>")]
    patients = text[text.index('<section id="patients">'):]
    patients = patients[: patients.index("</section>")]
    assert "P-lost&lt;1&gt; (2 files rejected or failed)" in patients and '<a href="#rejected">' in patients
    first = len(tables["images"])  # IM1's row of images.csv (the header is row 1, IM1 the last row but one)
    assert f"<td>{first}</td><td>P-lost&lt;1&gt;</td><td>2026-01-07</td><td>rejected</td><td>truncated</td>" in text
    assert "Patients (3)" in text  # (those with a page)


def test_the_report_names_a_rejected_file_by_its_row_of_images_csv_not_its_path(tmp_path: Path) -> None:
    """An archive's folders may be named after the patient: the report (of a pseudonymised run
    too) listed "Doe_Jane^Q_19870312/IMG1.dcm" beside the patient's pseudonym; images.csv keeps
    the path, the report the row that holds it."""
    tables = _study(tmp_path)
    tables["images"].loc[0, "path"] = first = "/archive/Doe_Jane^Q_19870312/IMG0.dcm"
    uid = tables["images"].loc[0, "sop_instance_uid"]
    lost = dict(path="/archive/Doe_Jane^Q_19870312/IMG1.dcm", sop_instance_uid="9.1", patient_id="P3f5b6b742ab0",
                study_date="2026-01-07", laterality="L", status="rejected", reason="truncated")  # fmt: skip
    copy = {**tables["images"].loc[0].to_dict(), "path": "/archive/Doe_Jane^Q_19870312/copy.dcm", "status": "rejected",
            "reason": f"duplicate SOP instance {uid}: already analysed from {first}"}  # fmt: skip
    tables["images"] = pd.concat([tables["images"], _table("images", [lost, copy])], ignore_index=True)
    text = write_report(tmp_path, tables).read_text(encoding="utf-8")
    assert "Doe_Jane" not in text and "19870312" not in text
    row = len(tables["images"])
    assert f"<td>{row}</td><td>P3f5b6b742ab0</td><td>2026-01-07</td><td>rejected</td><td>truncated</td>" in text
    assert f"duplicate SOP instance {uid}: already analysed from images.csv row 2</td>" in text
    tables["images"].to_csv(tmp_path / "images.csv", index=False)
    lines = (tmp_path / "images.csv").read_text().splitlines()
    assert lines[row - 1].startswith(lost["path"]) and lines[1].startswith(first)


def test_a_to_check_row_says_the_ovary_visits_count_when_the_sheet_has_no_line_to_confirm_it(tmp_path: Path) -> None:
    """After a review, an ovary-visit no longer flagged keeps its decided follicle lines in the
    worksheet but loses its line to confirm, which gave the count: its "To check" row said
    "count" and nothing (a craft run: HOSPITAL-..., 2025-01-21, Left, 1 follicle)."""
    from follicle_seg.review import worksheet

    tables = _study(tmp_path)
    sheet = worksheet(tables)
    sheet = sheet[(sheet["sop_instance_uid"] != "") | (sheet["follicle_id"] != "")]  # no line to confirm
    text = write_report(tmp_path, tables, sheet=sheet).read_text(encoding="utf-8")
    flagged = tables["ovaries"][tables["ovaries"]["needs_review"].astype(bool)].iloc[0]
    assert f"Right<br>count {flagged.follicle_count}</td>" in text and "<br>count </td>" not in text


def test_a_visit_whose_baseline_needs_review_is_marked_on_the_patients_page(tmp_path: Path) -> None:
    """visits.csv flags a visit whose change from baseline starts from a visit that needs review;
    the patient's timeline marked only visits with a flagged side, so the row of a visit
    visits.csv said needed review read as settled."""
    from test_visits import result  # tests/ is on sys.path

    from follicle_seg.visits import build_tables

    tables = build_tables([result("a", [5.0], calibrated=False), result("b", [5.0], side="R"),
                           result("c", [6.0], day="2026-01-19"), result("d", [6.0], day="2026-01-19", side="R")])
    assert tables["visits"]["needs_review"].tolist() == [True, True]  # the second: its baseline's flag
    assert not tables["ovaries"].query("study_date == '2026-01-19'")["needs_review"].any()
    page = (write_report(tmp_path, tables).parent / "patients" / "P1.html").read_text(encoding="utf-8")
    rows = {date: re.search(rf'<tr id="visit-{date}"[^>]*>.*?</td>', page).group(0) for date in ("2026-01-05", "2026-01-19")}
    assert 'class="review"' in rows["2026-01-05"] and "baseline" not in rows["2026-01-05"]
    assert 'class="review"' in rows["2026-01-19"] and "(its change from a baseline that needs review)" in rows["2026-01-19"]


def test_a_sweep_stored_one_file_per_frame_shows_its_files_in_sweep_order_each_with_its_place(tmp_path: Path) -> None:
    """The thumbnails of a sweep the tables join from single-frame files were ordered by SOP UID
    (...498.1, ...498.80, ...498.90 for a sweep acquired .90, .1, .80) and each captioned
    "frame 1 (index 0)", where its overlay says "file k of N of a sweep"; the files without a
    counted follicle of the counted sweep were not said counted."""
    tables = _study(tmp_path)
    first = "1.2.826.0.1.3680043.8.498.1"  # P-low-1, 2026-01-05, left: its one counted follicle
    others = ["1.2.826.0.1.3680043.8.498.90", "1.2.826.0.1.3680043.8.498.80"]
    row = tables["images"][tables["images"]["sop_instance_uid"] == first].iloc[0].to_dict()
    for uid in others:
        write_overlay(tmp_path / "overlays" / overlay_filename(_record(uid, "P-low-1", "2026-01-05", "L", True), 0),
                      np.zeros((40, 50, 3), np.uint8))  # fmt: skip
    added = [{**row, "path": f"/data/{uid}.dcm", "sop_instance_uid": uid, "follicle_count": 0} for uid in others]
    tables["images"] = pd.concat([tables["images"], _table("images", added)], ignore_index=True)
    sweep = [others[0], first, others[1]]  # in acquisition order
    write_report(tmp_path, tables, sweeps=[sweep])
    page = (tmp_path / "report" / "patients" / "P-low-1.html").read_text(encoding="utf-8")
    cell = page[page.index('id="visit-2026-01-05-L"'):]
    captions = re.findall(r"</a>(.*?)</figure>", cell[: cell.index("</td>")])
    assert captions == [f"<b>counted</b> {html.escape(uid_tail(uid))} &middot; file {k} of 3 of a sweep"
                        for k, uid in enumerate(sweep, start=1)]  # fmt: skip
    other = page[page.index('id="visit-2026-01-05-R"'):]
    assert re.findall(r"&middot; ([^<]*)</figure>", other[: other.index("</td>")]) == ["still image"]


def test_the_review_reasons_are_read_once_for_every_patient_page(tmp_path: Path, monkeypatch) -> None:
    """Each patient's page grouped the whole ``review_reasons`` table again (30 patients, 2340
    files: 31 groupings, 40 % of a report rebuild, growing with patients x reasons)."""
    from follicle_seg.report import patient_pages
    from follicle_seg.review import reasons_by_ovary

    calls = []
    monkeypatch.setattr(patient_pages, "reasons_by_ovary", lambda reasons: calls.append(1) or reasons_by_ovary(reasons))
    tables = _study(tmp_path)
    page = _page(write_report(tmp_path, tables), "P-high-1").read_text(encoding="utf-8")
    assert len(calls) == 1
    assert "no calibration: sizes in pixels only (2 images" in page  # its ovary-visit's reason, as before


def test_a_long_dose_group_name_stays_beside_its_own_row_of_the_group_plot(tmp_path, monkeypatch) -> None:
    """A group named as a protocol names its arms ran down the figure into the next row's name,
    both unreadable; it is written on several lines, each row's name as high as its row at most."""
    from follicle_seg.report import plots

    names = ["Cohort A: low dose, 1 million cells per kg", "Cohort B: medium dose, 5 million cells per kg",
             "Cohort C: high dose, 10 million cells per kg"]  # fmt: skip
    visits = pd.DataFrame({
        "patient_id": ["A", "A", "B", "B", "C", "C"], "group": [g for g in names for _ in (0, 1)],
        "days_from_baseline": [0.0, 14.0] * 3, "follicle_count": [1, 2, 6, 9, 3, 4],
        "afc": [1, 2, 5, 8, 3, 4], "max_follicle_mm": [4.0, 6.0, 12.0, 16.5, 5.0, 7.0],
    })  # fmt: skip
    response = visits.assign(week=[0, 2] * 3).rename(columns={
        "follicle_count": "follicle_count_mean", "afc": "afc_mean", "max_follicle_mm": "max_follicle_mm_mean"})
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, digest: drawn.append(fig) or Path(path))
    plots.plot_group_trends(visits, response, tmp_path / "trends.png")
    fig = drawn[0]
    fig.savefig(io.BytesIO(), format="png")  # (lays the figure out)
    rows = [ax for ax in fig.axes if ax.get_ylabel()]
    assert [ax.get_ylabel().replace("\n", " ").split(" (")[0] for ax in rows] == names  # each name whole
    for ax in rows:
        label, box = ax.yaxis.label.get_window_extent(), ax.get_window_extent()
        assert label.height <= box.height, ax.get_ylabel()


def test_a_table_header_breaks_after_an_underscore_not_inside_a_word() -> None:
    """``n_patients`` was broken ``n_patient|s`` in a narrow window (``overflow-wrap: anywhere``)."""
    import pandas as pd

    from follicle_seg.report.markup import table
    from follicle_seg.report.pages import CSS

    assert "<th>n_<wbr>patients</th><th>week</th>" in table(pd.DataFrame({"n_patients": [2], "week": [0]}), ["n_patients", "week"])
    assert "anywhere" not in CSS
