"""The study report: ``<out>/report/index.html`` and one page per patient,
``<out>/report/patients/<token>.html`` (:mod:`follicle_seg.report.patient_pages`), offline.

No script, no CDN, no web font: HTML files with inline CSS, figures in ``report/figures/``,
overlay thumbnails in ``report/thumbs/``, links relative to the page (``../overlays/...``,
``../images.csv`` from the index), so the output folder can be zipped, moved or opened from a share.

The index: study summary; data files; per dose group trends (figure and ``response.csv``, and
what the run said of the cohort file against the scans);
ovary-visits that need review, then their follicles and unsure candidates to check, each a crop
of its overlay (the lines of ``review_worksheet.csv``, the review's worklist in its order); the
decisions of a review; the patients, each linking to its page (as the review rows link to the
ovary-visit on it), and those whose every file was rejected or failed; rejected and failed
files with their patient, visit and reason. Every string from the tables is escaped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

import pandas as pd

from follicle_seg import __version__
from follicle_seg.atomic import atomic_write_bytes
from follicle_seg.report.markup import bools, esc, table, text, url
from follicle_seg.report.pages import PatientLinks, page, page_names
from follicle_seg.report.patient_pages import Overlays, write_patient_pages
from follicle_seg.report.plots import group_label, group_order, plot_group_trends
from follicle_seg.report.review_sections import check_keys, needs_review, review_log, to_check
from follicle_seg.report.thumbnails import make_thumbnails, remove_stale, scan_overlays
from follicle_seg.review import worksheet

TABLES = ("images", "follicles", "ovaries", "visits", "response")
_REQUIRED = {
    "images": ("path", "sop_instance_uid", "patient_id", "study_date", "laterality", "status", "reason"),
    "follicles": ("patient_id", "study_date", "laterality", "follicle_id", "sop_instance_uid",
                  "frame_index", "d1_mm", "d2_mm", "mean_diameter_mm", "size_class", "counted"),
    "ovaries": ("patient_id", "study_date", "laterality", "group", "days_from_baseline",
                "follicle_count", "afc", "max_follicle_mm", "follicle_sizes_mm", "calibrated",
                "needs_review"),
    "visits": ("patient_id", "group", "study_date", "days_from_baseline", "follicle_count", "afc",
               "max_follicle_mm", "needs_review"),
    "response": ("group", "week", "n_patients", "follicle_count_mean", "afc_mean",
                 "max_follicle_mm_mean"),
}  # fmt: skip
def write_report(
    out_dir: str | Path,
    tables: dict[str, pd.DataFrame],
    *,
    overlays_dir: str = "overlays",
    overlay_index: pd.DataFrame | None = None,
    sheet: pd.DataFrame | None = None,
    notes: Sequence[str] = (),
    sweeps: Sequence[Sequence[str]] = (),
) -> Path:
    """Write ``out_dir/report/index.html``, a page per patient in ``report/patients/`` (those
    of patients no longer in the tables removed), their figures and thumbnails.

    Parameters
    ----------
    out_dir
        The run's output folder (tables ``*.csv`` / ``*.parquet`` and ``overlays/`` inside).
    tables
        The dict of :func:`follicle_seg.visits.build_tables`: keys ``images``, ``follicles``,
        ``ovaries``, ``visits``, ``response`` with the SPEC columns.
    overlays_dir
        Overlay folder, relative to ``out_dir``.
    overlay_index
        Columns ``sop_instance_uid``, ``frame_index``, ``file`` (relative to ``overlays_dir``);
        when ``None`` the folder is scanned for the names of
        :func:`follicle_seg.report.overlay_files.overlay_filename`.
    sheet
        The run's review worksheet (:func:`follicle_seg.review.worksheet`, a review's decisions
        first), whose follicle lines "To check" shows; made from ``tables`` when ``None``.
    notes
        What the run found of the cohort file against the scans
        (:func:`follicle_seg.visits.cohort_mismatches`), shown with the dose groups.
    sweeps
        The sweeps stored one file per frame (:func:`follicle_seg.series.sweep_files`), each
        its files' SOP Instance UIDs in acquisition order: a patient page shows a sweep's
        thumbnails together in that order, each captioned with its file's place in the sweep
        as its overlay's header says it.

    Returns
    -------
    Path
        The ``index.html`` written.

    Raises
    ------
    ValueError
        When a table or a column the report needs is missing.
    """
    out_dir = Path(out_dir)
    _check(tables)
    report = out_dir / "report"
    overlays = out_dir / overlays_dir
    if overlay_index is None:
        overlay_index = scan_overlays(overlays, tables["images"]["sop_instance_uid"])
    figures, visits = report / "figures", tables["visits"]
    trends = plot_group_trends(visits, tables["response"], figures / "group_trends.png") if len(visits) else None
    thumbs = make_thumbnails(overlays, overlay_index, report / "thumbs")
    links = {(str(r.sop_instance_uid), int(r.frame_index)): str(r.file) for r in overlay_index.itertuples()}
    frames: dict[str, list[tuple[int, str]]] = {}
    for (uid, frame), name in sorted(links.items()):
        frames.setdefault(uid, []).append((frame, name))

    patients = _patients(tables)
    names = page_names(patients)
    patient_links = PatientLinks(names, tables["ovaries"])
    sheet = worksheet(tables, overlay_index) if sheet is None else sheet
    sections = [
        _summary(tables),
        _data_files(out_dir),
        _trends(trends and trends.relative_to(report), tables["response"], notes),
        needs_review(tables["ovaries"], tables.get("review_reasons"), patient_links),
        to_check(sheet, tables["ovaries"], out_dir, overlays_dir, patient_links),
    ]
    if "review_log" in tables:
        shown = cast("dict[tuple[str, int | None], str]", dict(links))  # by frame, and an image's first (reviewed) one
        for uid, named in frames.items():
            shown[(uid, None)] = next((n for _, n in named if "/reviewed/" in f"/{n}"), named[0][1])
        sections.append(review_log(tables["review_log"], shown, overlays_dir, patient_links))
    sections.append(_patient_index(patients, tables["ovaries"], tables["images"], patient_links))
    sections.append(_rejected(tables["images"]))
    charts = write_patient_pages(report, patients, tables, Overlays(overlays_dir, links, frames, thumbs, sweeps),
                                 patient_links, check_keys(sheet))  # fmt: skip
    remove_stale(figures, charts | ({trends} if trends else set()))
    remove_stale(report / "thumbs", set(thumbs.values()))

    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    menu = [("#summary", "Summary"), ("#files", "Data files"), ("#trends", "Dose groups"), ("#review", "Needs review"),
            ("#check", "To check"), ("#patients", "Patients"), ("#rejected", "Rejected files")]  # fmt: skip
    subtitle = f"follicle_seg {esc(__version__)} &middot; generated {esc(generated)} &middot; {len(patients)} patient(s)"
    html = page("Follicle analysis report", subtitle, menu, "".join(sections))
    return atomic_write_bytes(report / "index.html", html)


def _check(tables: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        if name not in tables:
            raise ValueError(f"The report needs the {name!r} table.")
        missing = [c for c in _REQUIRED[name] if c not in tables[name].columns]
        if missing:
            raise ValueError(f"The {name!r} table lacks column(s) {', '.join(missing)}.")


def _patients(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Patients with at least one analysed ovary-visit, by group (in the cohort file's order)
    then id."""
    ovaries = tables["ovaries"]
    groups = dict(zip(ovaries["patient_id"].astype(str), ovaries["group"].map(group_label), strict=True))
    rank = {g: i for i, g in enumerate(group_order(tables["visits"], tables["response"]))}
    return sorted(groups, key=lambda p: (rank.get(groups[p], len(rank)), groups[p], p))


def _summary(tables: dict[str, pd.DataFrame]) -> str:
    images, ovaries = tables["images"], tables["ovaries"]
    status = images["status"].astype(str)
    counted = bools(tables["follicles"]["counted"]).sum()
    cards = [
        ("patients", ovaries["patient_id"].nunique()),
        ("visits", len(tables["visits"])),
        ("ovary-visits", len(ovaries)),
        ("images analysed", int((status == "ok").sum())),
        ("rejected files", int((status == "rejected").sum())),
        ("failed files", int((status == "failed").sum())),
        ("counted follicles", int(counted)),
        ("ovary-visits to review", int(bools(ovaries["needs_review"]).sum())),
    ]
    body = "".join(f"<div class=\"card\"><b>{esc(v)}</b>{esc(k)}</div>" for k, v in cards)
    return f"<section id=\"summary\"><h2>Study summary</h2><div class=\"cards\">{body}</div></section>"


def _data_files(out_dir: Path) -> str:
    items = []
    for name in (*TABLES, "candidates", "review_reasons", "review_worksheet", "review_log"):
        found = [f"../{name}.{ext}" for ext in ("csv", "parquet") if (out_dir / f"{name}.{ext}").is_file()]
        if not found and name not in TABLES:
            continue  # the other tables are listed when there are any
        links = " &middot; ".join(f"<a href=\"{url(p)}\">{esc(Path(p).name)}</a>" for p in found)
        items.append(f"<li>{esc(name)}: {links or '<span class=muted>not written</span>'}</li>")
    return f"<section id=\"files\"><h2>Data files</h2><ul>{''.join(items)}</ul></section>"


def _trends(figure: Path | None, response: pd.DataFrame, notes: Sequence[str]) -> str:
    columns = [c for c in response.columns]
    said = "".join(f"<li>{esc(n)}</li>" for n in notes)
    plot = (
        "<p class=\"muted\">One row per dose group. Thin lines: one patient; black: group mean per nominal visit "
        "(<code>response.csv</code>); the largest follicle's mean is over the patients with a follicle at that "
        "visit, not over every patient.</p>"
        f"<img class=\"figure\" src=\"{url(figure.as_posix())}\" alt=\"Trends per dose group\">"
        if figure else "<p>No analysed visit.</p>"
    )
    return (
        "<section id=\"trends\"><h2>Per dose group: follicle count, AFC and largest follicle</h2>"
        + (f"<p class=why>The cohort file against the scans:</p><ul class=why>{said}</ul>" if said else "")
        + f"{plot}<h3>response.csv</h3><div class=\"wide\">{table(response, columns)}</div></section>"
    )


def _patient_index(patients: list[str], ovaries: pd.DataFrame, images: pd.DataFrame, links: PatientLinks) -> str:
    """The patients, each linking to its page, with its group and how many of its ovary-visits
    need review; then those with files but none analysed (no page, in no other section)."""
    groups = dict(zip(ovaries["patient_id"].astype(str), ovaries["group"].map(group_label), strict=True))
    flagged = Counter(ovaries.loc[bools(ovaries["needs_review"]), "patient_id"].astype(str))
    items = "".join(
        f"<li>{links.link(p)} <span class=muted>{esc(groups[p])}</span>"
        + (f" <span class=why>{flagged[p]} ovary-visit(s) to review</span>" if flagged[p] else "") + "</li>"
        for p in patients
    )
    body = f"<ul>{items}</ul>" if items else "<p>No analysed ovary-visit.</p>"
    files = Counter(images.loc[images["status"].astype(str) != "ok", "patient_id"].map(text))
    lost = sorted(set(files) - set(patients) - {""})
    if lost:
        body += ("<p class=why>Every file of these patients was rejected or failed (<a href=\"#rejected\">why</a>): "
                 + ", ".join(f"{esc(p)} ({files[p]} file{'s' if files[p] != 1 else ''} rejected or failed)" for p in lost)
                 + "</p>")  # fmt: skip
    return (f"<section id=\"patients\"><h2>Patients ({len(patients)})</h2><p class=\"muted\">Each patient's "
            "visit timeline, follicle-tracking chart and follicles are on a page of its own.</p>"
            f"{body}</section>")  # fmt: skip


def _rejected(images: pd.DataFrame) -> str:
    """The files not analysed, each by its row of images.csv, which holds its path: not here, since
    an archive's folders and files may be named after the patient (the report of a pseudonymised
    run put "Doe_Jane^Q_19870312/IMG1.dcm" beside the patient's pseudonym)."""
    images = images.reset_index(drop=True)
    bad = images[images["status"].astype(str) != "ok"]
    if bad.empty:
        body = "<p>Every input file was analysed.</p>"
    else:
        # a duplicate's reason names the file analysed for its SOP instance by path: by row here
        files: dict[str, list[tuple[str, int]]] = {}
        for i, (path, uid) in enumerate(zip(images["path"].map(text), images["sop_instance_uid"].map(text))):
            files.setdefault(uid, []).append((path, i + 2))
        rows = "".join(
            f"<tr><td>{i + 2}</td><td>{esc(r.patient_id)}</td><td>{esc(r.study_date)}</td>"
            f"<td>{esc(r.status)}</td><td>{esc(_without_paths(text(r.reason), files.get(text(r.sop_instance_uid), [])))}</td></tr>"
            for i, r in zip(bad.index, bad.itertuples())
        )
        body = ("<p class=\"muted\">Each file by its row of <code>images.csv</code>, which names it.</p>"
                "<table><tr><th>images.csv row</th><th>patient</th><th>visit</th><th>status</th><th>reason</th></tr>"
                f"{rows}</table>")  # fmt: skip
    return f"<section id=\"rejected\"><h2>Rejected and failed files ({len(bad)})</h2>{body}</section>"


def _without_paths(reason: str, files: list[tuple[str, int]]) -> str:
    """``reason`` with each of ``files``' paths said as its row of images.csv.

    >>> _without_paths("duplicate SOP instance 1.2: already analysed from /a/Doe/1.dcm", [("/a/Doe/1.dcm", 2)])
    'duplicate SOP instance 1.2: already analysed from images.csv row 2'
    """
    for path, row in files:
        reason = reason.replace(path, f"images.csv row {row}") if path else reason
    return reason


