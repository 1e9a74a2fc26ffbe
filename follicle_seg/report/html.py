"""The study report: ``<out>/report/index.html``, self-contained and offline.

No script, no CDN, no web font: one HTML file with inline CSS, figures in ``report/figures/``,
overlay thumbnails in ``report/thumbs/``, links relative to the report (``../overlays/...``,
``../images.csv``), so the output folder can be zipped, moved or opened from a share.

Sections: study summary; data files; per dose group trends (figure and ``response.csv``);
ovary-visits that need review, then their follicles and unsure candidates to check, each a crop
of its overlay (the lines of ``review_worksheet.csv``); per patient a visit timeline (per-side counts, AFC, largest
follicle, sizes, overlay thumbnails opening the full overlays), the follicle-tracking chart and
the list of follicles with a link to the overlay each one is drawn on; rejected and failed files
with their reasons. Every string from the tables is escaped.
"""

from __future__ import annotations

import hashlib
import html
import math
import os
import re
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from PIL import Image

from follicle_seg import __version__
from follicle_seg.atomic import atomic_write, atomic_write_bytes
from follicle_seg.report.overlay_files import CROPS, crop_filename, parse_name, uid_token
from follicle_seg.review import candidate_lines, reasons_by_ovary, worksheet
from follicle_seg.report.plots import group_label, group_order, plot_follicle_tracking, plot_group_trends

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
THUMB_WIDTH = 220
_SIDES = ("L", "R", "U")
_SIDE_NAMES = {"L": "Left", "R": "Right", "U": "Side unknown"}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;color:#1b1b1b;
background:#f6f7f9}
header{background:#1e2a38;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d3de;font-size:13px}
nav{background:#fff;border-bottom:1px solid #dde2e8;padding:8px 24px;font-size:14px;position:sticky;top:0}
nav a{margin-right:16px}main{padding:8px 24px 40px;max-width:1500px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:12px 18px;margin:14px 0}
h2{font-size:19px;margin:4px 0 10px}h3{font-size:16px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #dde2e8;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #dde2e8;border-radius:6px;
padding:8px 14px;min-width:120px}.card b{display:block;font-size:22px}
.review{background:#fff3cd}.muted{color:#6b7683}.thumbs{display:flex;flex-wrap:wrap;gap:6px}
.thumbs figure{margin:0;font-size:11px;color:#4a5562}.thumbs img{display:block;border:1px solid #ccd}
img.figure{max-width:100%;height:auto}details{margin:6px 0}.wide{overflow-x:auto}
.thumbs{margin-top:6px}.crops figure{width:120px}.crops img{width:120px;height:120px;object-fit:cover}
"""


def write_report(
    out_dir: str | Path,
    tables: dict[str, pd.DataFrame],
    *,
    overlays_dir: str = "overlays",
    overlay_index: pd.DataFrame | None = None,
) -> Path:
    """Write ``out_dir/report/index.html`` with its figures and thumbnails.

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
    figures = report / "figures"
    trends = plot_group_trends(tables["visits"], tables["response"], figures / "group_trends.png")
    thumbs = _thumbnails(overlays, overlay_index, report / "thumbs")
    links = {(str(r.sop_instance_uid), int(r.frame_index)): str(r.file) for r in overlay_index.itertuples()}
    frames: dict[str, list[tuple[int, str]]] = {}
    for (uid, frame), name in sorted(links.items()):
        frames.setdefault(uid, []).append((frame, name))

    patients = _patients(tables)
    sections = [
        _summary(tables),
        _data_files(out_dir),
        _trends(trends.relative_to(report), tables["response"]),
        _needs_review(tables["ovaries"], tables.get("review_reasons")),
        _to_check(worksheet(tables, overlay_index), out_dir, overlays_dir),
    ]
    if "review_log" in tables:
        sections.append(_review_log(tables["review_log"]))
    sections.append(_patient_index(patients, tables["ovaries"]))
    written = {trends}
    for patient_id in patients:
        tracking = figures / f"tracking_{_file_token(patient_id)}.png"
        written.add(tracking)
        sections.append(
            _patient(patient_id, tables, tracking, report, overlays_dir, links, frames, thumbs)
        )
    sections.append(_rejected(tables["images"]))
    _remove_stale(figures, written)
    _remove_stale(report / "thumbs", set(thumbs.values()))

    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Follicle analysis report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<header><h1>Follicle analysis report</h1>"
        f"<p>follicle_seg {_e(__version__)} &middot; generated {_e(generated)} &middot; "
        f"{len(patients)} patient(s)</p></header>"
        "<nav><a href=\"#summary\">Summary</a><a href=\"#files\">Data files</a>"
        "<a href=\"#trends\">Dose groups</a><a href=\"#review\">Needs review</a>"
        "<a href=\"#check\">To check</a>"
        "<a href=\"#patients\">Patients</a><a href=\"#rejected\">Rejected files</a></nav>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )
    return atomic_write_bytes(report / "index.html", page.encode("utf-8"))


def scan_overlays(folder: str | Path, sop_instance_uids: Iterable[str]) -> pd.DataFrame:
    """Overlay files of the given images found in ``folder`` by their file-name token.

    Returns
    -------
    pandas.DataFrame
        Columns ``sop_instance_uid``, ``frame_index``, ``file`` (name inside ``folder``).
    """
    folder = Path(folder)
    by_token: dict[str, list[tuple[int, str]]] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.png")):
            if parsed := parse_name(path.name):
                token, frame = parsed
                by_token.setdefault(token, []).append((frame, path.name))
    rows = [
        (uid, frame, name)
        for uid in dict.fromkeys(str(u) for u in sop_instance_uids if u)
        for frame, name in by_token.get(uid_token(uid), ())
    ]
    return pd.DataFrame(rows, columns=["sop_instance_uid", "frame_index", "file"])


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
    counted = _bools(tables["follicles"]["counted"]).sum()
    cards = [
        ("patients", ovaries["patient_id"].nunique()),
        ("visits", len(tables["visits"])),
        ("ovary-visits", len(ovaries)),
        ("images analysed", int((status == "ok").sum())),
        ("rejected files", int((status == "rejected").sum())),
        ("failed files", int((status == "failed").sum())),
        ("counted follicles", int(counted)),
        ("ovary-visits to review", int(_bools(ovaries["needs_review"]).sum())),
    ]
    body = "".join(f"<div class=\"card\"><b>{_e(v)}</b>{_e(k)}</div>" for k, v in cards)
    return f"<section id=\"summary\"><h2>Study summary</h2><div class=\"cards\">{body}</div></section>"


def _data_files(out_dir: Path) -> str:
    items = []
    for name in (*TABLES, "candidates", "review_reasons", "review_worksheet", "review_log"):
        found = [f"../{name}.{ext}" for ext in ("csv", "parquet") if (out_dir / f"{name}.{ext}").is_file()]
        if not found and name not in TABLES:
            continue  # the other tables are listed when there are any
        links = " &middot; ".join(f"<a href=\"{_u(p)}\">{_e(Path(p).name)}</a>" for p in found)
        items.append(f"<li>{_e(name)}: {links or '<span class=muted>not written</span>'}</li>")
    return f"<section id=\"files\"><h2>Data files</h2><ul>{''.join(items)}</ul></section>"


def _trends(figure: Path, response: pd.DataFrame) -> str:
    columns = [c for c in response.columns]
    return (
        "<section id=\"trends\"><h2>Per dose group: follicle count, AFC and largest follicle</h2>"
        "<p class=\"muted\">One row per dose group. Thin lines: one patient; black: group mean per nominal visit "
        "(<code>response.csv</code>).</p>"
        f"<img class=\"figure\" src=\"{_u(figure.as_posix())}\" alt=\"Trends per dose group\">"
        f"<h3>response.csv</h3><div class=\"wide\">{_table(response, columns)}</div></section>"
    )


def _needs_review(ovaries: pd.DataFrame, reasons: pd.DataFrame | None) -> str:
    flagged = ovaries[_bools(ovaries["needs_review"])]
    why = reasons_by_ovary(reasons)
    if flagged.empty:
        body = "<p>No ovary-visit is flagged.</p>"
    else:
        rows = []
        for r in flagged.sort_values(["patient_id", "study_date", "laterality"]).itertuples():
            rows.append(
                f"<tr><td><a href=\"#{_anchor(r.patient_id)}\">{_e(r.patient_id)}</a></td>"
                f"<td>{_e(r.study_date)}</td><td>{_e(_SIDE_NAMES.get(str(r.laterality), r.laterality))}</td>"
                f"<td class=num>{_num(r.follicle_count, 0)}</td><td>{_yes(r.calibrated)}</td>"
                f"<td>{_e(why.get((str(r.patient_id), str(r.study_date), str(r.laterality)), ''))}</td></tr>"
            )
        body = (
            "<p class=\"muted\">Uncalibrated image, unknown side, low-confidence segmentation or "
            "images of one ovary that disagree: check the overlays, and record what you decide in "
            "<code>review.csv</code> in the run folder: <code>review_worksheet.csv</code> holds its "
            "lines, prefilled; write the decisions in (<code>confirmed</code>: the count is right; "
            "<code>not_follicle</code>: a numbered follicle or a dashed <code>4?</code> candidate is "
            "not one; <code>follicle</code>: a <code>4?</code> candidate is one), save it under that "
            "name and run again (the README says more). Each reason, with its image, is a row of "
            "<code>review_reasons.csv</code>.</p><table><tr><th>patient</th>"
            "<th>visit</th><th>side</th><th>follicles</th><th>calibrated</th><th>why</th></tr>"
            f"{''.join(rows)}</table>"
        )
    return f"<section id=\"review\"><h2>Needs review ({len(flagged)})</h2>{body}</section>"


def _to_check(sheet: pd.DataFrame, out_dir: Path, overlays_dir: str) -> str:
    """The follicle lines of the review worksheet (undecided), a crop of each from its overlay,
    one row per ovary-visit: what a reviewer decides, at a glance."""
    lines = sheet[sheet["sop_instance_uid"] != ""]
    confirm = sheet[(sheet["sop_instance_uid"] == "") & (sheet["follicle_count"] != "")]
    count = {(r.patient_id, r.study_date, r.laterality): r.follicle_count for r in confirm.itertuples()}
    if lines.empty:
        return "<section id=\"check\"><h2>To check</h2><p>No follicle or candidate to check.</p></section>"
    rows = []
    lines = lines.assign(unsure=candidate_lines(lines))
    for (patient, date, side), group in lines.groupby(["patient_id", "study_date", "laterality"], sort=False):
        figures = []
        counted_images = set(group.loc[group["counted"] == "true", "sop_instance_uid"])
        for f in group.itertuples():
            unsure = f.unsure
            number = f"{f.follicle_id}?" if unsure else f.follicle_id
            size = f"{float(f.mean_diameter_mm):.1f} mm" if f.mean_diameter_mm else "px"
            where = "" if f.sop_instance_uid in counted_images else f" image {_uid_tail(f.sop_instance_uid)}"
            what = ("unsure" if unsure else "counted" if f.counted == "true" else "") + where
            crop = f"{overlays_dir}/{CROPS}/{crop_filename(f.overlay, int(f.follicle_id))}" if f.overlay else ""
            image = (f"<img src=\"{_u('../' + crop)}\" loading=\"lazy\" alt=\"follicle {_e(number)}\">"
                     if crop and (out_dir / crop).is_file() else "<span class=muted>no crop</span>")  # fmt: skip
            link = f"<a href=\"{_u('../' + f.overlay)}\">{image}</a>" if f.overlay else image
            figures.append(f"<figure>{link}<b>{_e(number)}</b> {_e(size)} &middot; {_e(what)}</figure>")
        rows.append(
            f"<tr><td><a href=\"#{_anchor(patient)}\">{_e(patient)}</a><br>{_e(date)}<br>"
            f"{_e(_SIDE_NAMES.get(side, side))}<br>count {_e(count.get((patient, date, side), ''))}</td>"
            f"<td><div class=\"thumbs crops\">{''.join(figures)}</div></td></tr>"
        )
    return (
        f"<section id=\"check\"><h2>To check ({len(lines)} follicles and candidates)</h2><p class=\"muted\">"
        "The follicle lines of <code>review_worksheet.csv</code>, each cut from its overlay (click for the whole "
        "image): the counted follicles first (<code>not_follicle</code> if one is not), the follicles of the "
        "ovary's other images, then the candidates the network was unsure of (highest score first), dashed and numbered "
        "<code>4?</code> (<code>follicle</code> or <code>not_follicle</code>).</p>"
        f"<table>{''.join(rows)}</table></section>"
    )


def _review_log(log: pd.DataFrame) -> str:
    rows = "".join(
        f"<tr><td><a href=\"#{_anchor(r.patient_id)}\">{_e(r.patient_id)}</a></td><td>{_e(r.study_date)}</td>"
        f"<td>{_e(_SIDE_NAMES.get(str(r.laterality), r.laterality))}</td><td>{_e(r.decision)}</td>"
        f"<td>{_e(r.sop_instance_uid)} {'' if pd.isna(r.follicle_id) else f'#{int(r.follicle_id)}'}</td>"
        f"<td class=num>{_num(r.count_before, 0)} &rarr; {_num(r.count_after, 0)}</td>"
        f"<td>{_e(r.reviewer)}</td><td>{_e(r.comment)}</td></tr>"
        for r in log.itertuples()
    )
    return (
        f"<section id=\"reviewed\"><h2>Reviewed ({len(log)} decisions)</h2><p class=\"muted\">From "
        "<code>review.csv</code>; the tables apply them (<code>review_log.csv</code>).</p><table><tr>"
        "<th>patient</th><th>visit</th><th>side</th><th>decision</th><th>follicle</th><th>count</th>"
        f"<th>reviewer</th><th>comment</th></tr>{rows}</table></section>"
    )


def _patient(
    patient_id: str,
    tables: dict[str, pd.DataFrame],
    tracking: Path,
    report: Path,
    overlays_dir: str,
    links: dict[tuple[str, int], str],
    frames: dict[str, list[tuple[int, str]]],
    thumbs: dict[str, Path],
) -> str:
    ovaries = tables["ovaries"][tables["ovaries"]["patient_id"].astype(str) == patient_id]
    visits = tables["visits"][tables["visits"]["patient_id"].astype(str) == patient_id]
    follicles = tables["follicles"][tables["follicles"]["patient_id"].astype(str) == patient_id]
    images = tables["images"][tables["images"]["patient_id"].astype(str) == patient_id]
    candidates = tables.get("candidates")
    unsure = Counter() if candidates is None else Counter(  # undecided candidates per (date, side)
        zip(*(candidates.loc[candidates["patient_id"].astype(str) == patient_id, c].astype(str)
              for c in ("study_date", "laterality"))))  # fmt: skip
    group = group_label(ovaries["group"].iloc[0])
    chosen = set(follicles.loc[_bools(follicles["counted"]), "sop_instance_uid"].astype(str))
    plot_follicle_tracking(follicles, ovaries, tracking, title=f"{patient_id} ({group}): follicle tracking")

    sides = [s for s in _SIDES if (ovaries["laterality"] == s).any()]
    head = "".join(f"<th>{_e(_SIDE_NAMES[s])}</th>" for s in sides)
    rows = []
    for date in sorted(ovaries["study_date"].astype(str).unique()):
        visit = visits[visits["study_date"].astype(str) == date]
        on_date = images[images["study_date"].astype(str) == date]
        cells = []
        for side in sides:
            ov = ovaries[(ovaries["study_date"].astype(str) == date) & (ovaries["laterality"] == side)]
            if len(ov):
                shots = _thumbs(on_date[on_date["laterality"] == side], frames, thumbs, report, overlays_dir, chosen)
                cells.append(f"<td>{_side_cell(ov.iloc[0], unsure[(date, side)])}{shots}</td>")
            else:
                cells.append("<td><span class=muted>not scanned</span></td>")
        review = bool(_bools(ovaries[ovaries["study_date"].astype(str) == date]["needs_review"]).any())
        day = visit["days_from_baseline"].iloc[0] if len(visit) else math.nan
        total = visit["follicle_count"].iloc[0] if len(visit) else math.nan
        rows.append(
            f"<tr class=\"{'review' if review else ''}\"><td>{_e(date)}{' <b>review</b>' if review else ''}</td>"
            f"<td class=num>{_num(day, 0)}</td><td class=num>{_num(total, 0)}</td>{''.join(cells)}</tr>"
        )
    timeline = (
        f"<table><tr><th>visit</th><th>day</th><th>follicles</th>{head}</tr>"
        f"{''.join(rows)}</table>"
    )
    return (
        f"<section id=\"{_anchor(patient_id)}\"><h2>Patient {_e(patient_id)} "
        f"<span class=\"muted\">&middot; {_e(group)}</span></h2>"
        f"<h3>Visit timeline</h3>{timeline}<h3>Follicle tracking</h3>"
        f"<img class=\"figure\" loading=\"lazy\" src=\"{_u(tracking.relative_to(report).as_posix())}\" "
        f"alt=\"Follicle tracking chart of {_e(patient_id)}\">"
        f"{_follicle_list(follicles, links, overlays_dir)}</section>"
    )


def _patient_index(patients: list[str], ovaries: pd.DataFrame) -> str:
    groups = dict(zip(ovaries["patient_id"].astype(str), ovaries["group"].map(group_label), strict=True))
    items = "".join(
        f"<li><a href=\"#{_anchor(p)}\">{_e(p)}</a> <span class=muted>{_e(groups[p])}</span></li>"
        for p in patients
    )
    body = f"<ul>{items}</ul>" if items else "<p>No analysed ovary-visit.</p>"
    return f"<section id=\"patients\"><h2>Patients ({len(patients)})</h2>{body}</section>"


def _side_cell(ov: pd.Series, n_unsure: int = 0) -> str:
    count = _num(ov["follicle_count"], 0)
    parts = [f"<b>{count}</b> follicle(s)", f"AFC {_num(ov['afc'], 0)}"]
    if _present(ov["max_follicle_mm"]):
        parts.append(f"largest {_num(ov['max_follicle_mm'], 1)} mm")
    if n_unsure:  # candidates.csv rows nobody decided: dashed "4?" on the overlays
        parts.append(f"{n_unsure} unsure candidate(s)")
    if not _bool(ov["calibrated"]):
        parts.append("<i>uncalibrated</i>")
    sizes = str(ov["follicle_sizes_mm"]) if _present(ov["follicle_sizes_mm"]) else ""
    sizes_line = f"<br><span class=muted>sizes {_e(sizes)} mm</span>" if sizes else ""
    return " &middot; ".join(parts) + sizes_line


def _thumbs(
    images: pd.DataFrame,
    frames: dict[str, list[tuple[int, str]]],
    thumbs: dict[str, Path],
    report: Path,
    overlays_dir: str,
    chosen: set[str],
) -> str:
    """Thumbnails of the images' overlays; the image that gave the ovary-visit count first."""
    figures = []
    ok = images[images["status"].astype(str) == "ok"]
    order = sorted(ok.itertuples(), key=lambda r: (str(r.sop_instance_uid) not in chosen, str(r.sop_instance_uid)))
    for r in order:
        counted = str(r.sop_instance_uid) in chosen
        for frame, name in frames.get(str(r.sop_instance_uid), ()):
            if name not in thumbs:
                continue
            thumb = thumbs[name]
            with Image.open(thumb) as im:
                w, h = im.size
            figures.append(
                f"<figure><a href=\"{_u(f'../{overlays_dir}/{name}')}\">"
                f"<img src=\"{_u(thumb.relative_to(report).as_posix())}\" width=\"{w}\" height=\"{h}\" loading=\"lazy\" "
                f"alt=\"overlay {_e(name)}\"></a>{'<b>counted</b> ' if counted else ''}"
                f"{_e(_uid_tail(r.sop_instance_uid))} &middot; frame {frame + 1} (index {frame})</figure>"
            )
    return f"<div class=\"thumbs\">{''.join(figures)}</div>" if figures else "<br><span class=muted>no overlay</span>"


def _follicle_list(follicles: pd.DataFrame, links: dict[tuple[str, int], str], overlays_dir: str) -> str:
    if follicles.empty:
        return "<p class=\"muted\">No follicle found at any visit.</p>"
    rows = []
    ordered = follicles.sort_values(["study_date", "laterality", "sop_instance_uid", "follicle_id"])
    for r in ordered.itertuples():
        name = links.get((str(r.sop_instance_uid), int(r.frame_index)))
        where = (
            f"<a href=\"{_u(f'../{overlays_dir}/{name}')}\">{_e(name)}</a>"
            if name
            else "<span class=muted>no overlay</span>"
        )
        rows.append(
            f"<tr><td>{_e(r.study_date)}</td><td>{_e(r.laterality)}</td><td class=num>{_num(r.follicle_id, 0)}</td>"
            f"<td class=num>{_num(r.d1_mm, 1)}</td><td class=num>{_num(r.d2_mm, 1)}</td>"
            f"<td class=num>{_num(r.mean_diameter_mm, 1)}</td><td>{_e(r.size_class)}</td>"
            f"<td>{_yes(r.counted)}</td><td>{where}</td></tr>"
        )
    return (
        f"<details><summary>All {len(follicles)} follicle row(s) of follicles.csv, with their overlay"
        "</summary><table><tr><th>visit</th><th>side</th><th>id</th><th>d1 mm</th><th>d2 mm</th>"
        "<th>mean mm</th><th>class</th><th>counted</th><th>overlay</th></tr>"
        f"{''.join(rows)}</table></details>"
    )


def _rejected(images: pd.DataFrame) -> str:
    bad = images[images["status"].astype(str) != "ok"]
    if bad.empty:
        body = "<p>Every input file was analysed.</p>"
    else:
        rows = "".join(
            f"<tr><td>{_e(r.path)}</td><td>{_e(r.status)}</td><td>{_e(r.reason)}</td></tr>"
            for r in bad.sort_values("path").itertuples()
        )
        body = f"<table><tr><th>file</th><th>status</th><th>reason</th></tr>{rows}</table>"
    return f"<section id=\"rejected\"><h2>Rejected and failed files ({len(bad)})</h2>{body}</section>"


def _thumbnails(overlays: Path, index: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """JPEG thumbnails of the indexed overlays (rebuilt only when the overlay is newer), made on
    threads: Pillow decodes, shrinks and encodes without holding the GIL."""
    found: dict[str, Path] = {}
    stale: list[tuple[Path, Path]] = []
    for name in dict.fromkeys(str(f) for f in index["file"]):
        source = overlays / name
        if not source.is_file():
            continue
        thumb = folder / (Path(name).stem + ".jpg")
        if not thumb.is_file() or thumb.stat().st_mtime < source.stat().st_mtime:
            stale.append((source, thumb))
        found[name] = thumb
    if stale:
        folder.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            list(pool.map(lambda pair: _thumbnail(*pair), stale))
    return found


def _thumbnail(source: Path, thumb: Path) -> None:
    with Image.open(source) as opened:
        small = opened.convert("RGB")
    small.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 2))
    atomic_write(thumb, lambda tmp: small.save(tmp, format="JPEG", quality=85))


def _remove_stale(folder: Path, keep: set[Path]) -> None:
    """Delete files of an earlier report that this one does not use."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and path not in keep:
                path.unlink()


def _table(df: pd.DataFrame, columns: list[str]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in columns:
            v = r[c]
            numeric = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            cells.append(f"<td class=num>{_num(v, 2)}</td>" if numeric else f"<td>{_e(_text(v))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>" if rows else "<p class=muted>No rows.</p>"


def _present(value: object) -> bool:
    if value is None or value is pd.NA:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return str(value) != ""


def _bool(value: object) -> bool:
    return _present(value) and bool(value)


def _bools(series: pd.Series) -> pd.Series:
    return series.astype("boolean").fillna(False).astype(bool)


def _yes(value: object) -> str:
    return "yes" if _bool(value) else ("no" if _present(value) else "&ndash;")


def _num(value: object, decimals: int) -> str:
    if not _present(value):
        return "&ndash;"
    number = float(value)  # type: ignore[arg-type]
    if decimals == 0 or number.is_integer():
        return f"{number:.0f}"
    return f"{number:.{decimals}f}"


def _text(value: object) -> str:
    return str(value) if _present(value) else ""


def _e(value: object) -> str:
    return html.escape(_text(value), quote=True)


def _u(relative: str) -> str:
    """A relative URL, percent-encoded, then HTML-escaped for an attribute."""
    return html.escape(quote(relative, safe="/._-"), quote=True)


def _file_token(patient_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", patient_id).strip("-")[:40] or "x"
    return f"{safe}-{hashlib.sha1(patient_id.encode()).hexdigest()[:6]}"


def _uid_tail(uid: object) -> str:
    return "..." + str(uid)[-8:]


def _anchor(patient_id: object) -> str:
    return "patient-" + _file_token(str(patient_id))
