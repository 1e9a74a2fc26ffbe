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

import math
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from PIL import Image

from follicle_seg import __version__
from follicle_seg.atomic import atomic_write_bytes
from follicle_seg.report.markup import (SIDE_NAMES, anchor, bools, esc, file_token, mean_mm, num, present, table, truthy,
                                        url, yes)
from follicle_seg.report.plots import group_label, group_order, plot_follicle_tracking, plot_group_trends
from follicle_seg.report.review_sections import needs_review, review_log, to_check
from follicle_seg.report.thumbnails import make_thumbnails, remove_stale, scan_overlays
from follicle_seg.review import reasons_by_ovary, uid_tail, worksheet
from follicle_seg.tracking import frame_words
from follicle_seg.visits import shown_mm

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
_SIDES = ("L", "R", "U")

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
.review{background:#fff3cd}.why{color:#7a4a00}.muted{color:#6b7683}.thumbs{display:flex;flex-wrap:wrap;gap:6px}
.thumbs figure{margin:0;font-size:11px;color:#4a5562}.thumbs img{display:block;border:1px solid #ccd}
img.figure{max-width:100%;height:auto}details{margin:6px 0}.wide{overflow-x:auto}
.thumbs{margin-top:6px}.crops figure{width:120px}.crops img{width:120px;height:120px;object-fit:cover}
.wide th{overflow-wrap:anywhere;min-width:4em}@media print{.wide{overflow:visible}nav{display:none}}
"""


def write_report(
    out_dir: str | Path,
    tables: dict[str, pd.DataFrame],
    *,
    overlays_dir: str = "overlays",
    overlay_index: pd.DataFrame | None = None,
    sheet: pd.DataFrame | None = None,
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
    sheet
        The run's review worksheet (:func:`follicle_seg.review.worksheet`, a review's decisions
        first), whose follicle lines "To check" shows; made from ``tables`` when ``None``.

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
    thumbs = make_thumbnails(overlays, overlay_index, report / "thumbs")
    links = {(str(r.sop_instance_uid), int(r.frame_index)): str(r.file) for r in overlay_index.itertuples()}
    frames: dict[str, list[tuple[int, str]]] = {}
    for (uid, frame), name in sorted(links.items()):
        frames.setdefault(uid, []).append((frame, name))

    patients = _patients(tables)
    sections = [
        _summary(tables),
        _data_files(out_dir),
        _trends(trends.relative_to(report), tables["response"]),
        needs_review(tables["ovaries"], tables.get("review_reasons")),
        to_check(worksheet(tables, overlay_index) if sheet is None else sheet, out_dir, overlays_dir),
    ]
    if "review_log" in tables:
        shown: dict[tuple[str, int | None], str] = dict(links)  # by frame, and an image's first (reviewed) one
        for uid, named in frames.items():
            shown[(uid, None)] = next((n for _, n in named if "/reviewed/" in f"/{n}"), named[0][1])
        sections.append(review_log(tables["review_log"], shown, overlays_dir))
    sections.append(_patient_index(patients, tables["ovaries"]))
    written = {trends}
    for patient_id in patients:
        tracking = figures / f"tracking_{file_token(patient_id)}.png"
        written.add(tracking)
        sections.append(
            _patient(patient_id, tables, tracking, report, overlays_dir, links, frames, thumbs)
        )
    sections.append(_rejected(tables["images"]))
    remove_stale(figures, written)
    remove_stale(report / "thumbs", set(thumbs.values()))

    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Follicle analysis report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<header><h1>Follicle analysis report</h1>"
        f"<p>follicle_seg {esc(__version__)} &middot; generated {esc(generated)} &middot; "
        f"{len(patients)} patient(s)</p></header>"
        "<nav><a href=\"#summary\">Summary</a><a href=\"#files\">Data files</a>"
        "<a href=\"#trends\">Dose groups</a><a href=\"#review\">Needs review</a>"
        "<a href=\"#check\">To check</a>"
        "<a href=\"#patients\">Patients</a><a href=\"#rejected\">Rejected files</a></nav>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )
    return atomic_write_bytes(report / "index.html", page.encode("utf-8"))


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


def _trends(figure: Path, response: pd.DataFrame) -> str:
    columns = [c for c in response.columns]
    return (
        "<section id=\"trends\"><h2>Per dose group: follicle count, AFC and largest follicle</h2>"
        "<p class=\"muted\">One row per dose group. Thin lines: one patient; black: group mean per nominal visit "
        "(<code>response.csv</code>); the largest follicle's mean is over the patients with a follicle at that "
        "visit, not over every patient.</p>"
        f"<img class=\"figure\" src=\"{url(figure.as_posix())}\" alt=\"Trends per dose group\">"
        f"<h3>response.csv</h3><div class=\"wide\">{table(response, columns)}</div></section>"
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
    why = {k: v for k, v in reasons_by_ovary(tables.get("review_reasons")).items() if k[0] == patient_id}
    unsure = Counter() if candidates is None else Counter(  # undecided candidates per (date, side)
        zip(*(candidates.loc[candidates["patient_id"].astype(str) == patient_id, c].astype(str)
              for c in ("study_date", "laterality"))))  # fmt: skip
    group = group_label(ovaries["group"].iloc[0])
    chosen = set(follicles.loc[bools(follicles["counted"]), "sop_instance_uid"].astype(str))
    plot_follicle_tracking(follicles, ovaries, tracking, title=f"{patient_id} ({group}): follicle tracking")

    sides = [s for s in _SIDES if (ovaries["laterality"] == s).any()]
    head = "".join(f"<th>{esc(SIDE_NAMES[s])}</th>" for s in sides)
    rows = []
    for date in sorted(ovaries["study_date"].astype(str).unique(), key=lambda d: (not d, d)):  # undated last
        visit = visits[visits["study_date"].astype(str) == date]
        on_date = images[images["study_date"].astype(str) == date]
        cells = []
        for side in sides:
            ov = ovaries[(ovaries["study_date"].astype(str) == date) & (ovaries["laterality"] == side)]
            if len(ov):
                shots = _thumbs(on_date[on_date["laterality"] == side], frames, thumbs, report, overlays_dir, chosen)
                reasons = why.get((patient_id, date, side), "")
                mine = follicles[(follicles["study_date"].astype(str) == date) & (follicles["laterality"] == side)]
                sizes = _sizes(mine[bools(mine["counted"])]["mean_diameter_mm"])
                cells.append(f"<td>{_side_cell(ov.iloc[0], unsure[(date, side)], reasons, sizes)}{shots}</td>")
            else:
                # no image of unknown side is the usual case, not a missed ovary
                cells.append("<td><span class=muted>" + ("&ndash;" if side == "U" else "not scanned") + "</span></td>")
        review = bool(bools(ovaries[ovaries["study_date"].astype(str) == date]["needs_review"]).any())
        day = visit["days_from_baseline"].iloc[0] if len(visit) else math.nan
        total = visit["follicle_count"].iloc[0] if len(visit) else math.nan
        rows.append(
            f"<tr class=\"{'review' if review else ''}\"><td>{esc(date) or 'no date'}{' <b>review</b>' if review else ''}</td>"
            f"<td class=num>{num(day, 0)}</td><td class=num>{num(total, 0)}</td>{''.join(cells)}</tr>"
        )
    timeline = (
        f"<table><tr><th>visit</th><th>day</th><th>follicles</th>{head}</tr>"
        f"{''.join(rows)}</table>"
    )
    return (
        f"<section id=\"{anchor(patient_id)}\"><h2>Patient {esc(patient_id)} "
        f"<span class=\"muted\">&middot; {esc(group)}</span></h2>"
        f"<h3>Visit timeline</h3>{timeline}<h3>Follicle tracking</h3>"
        f"<img class=\"figure\" loading=\"lazy\" src=\"{url(tracking.relative_to(report).as_posix())}\" "
        f"alt=\"Follicle tracking chart of {esc(patient_id)}\">"
        f"{_follicle_list(follicles, links, overlays_dir)}</section>"
    )


def _patient_index(patients: list[str], ovaries: pd.DataFrame) -> str:
    """The patients, each with its group and how many of its ovary-visits need review."""
    groups = dict(zip(ovaries["patient_id"].astype(str), ovaries["group"].map(group_label), strict=True))
    flagged = Counter(ovaries.loc[bools(ovaries["needs_review"]), "patient_id"].astype(str))
    items = "".join(
        f"<li><a href=\"#{anchor(p)}\">{esc(p)}</a> <span class=muted>{esc(groups[p])}</span>"
        + (f" <span class=why>{flagged[p]} ovary-visit(s) to review</span>" if flagged[p] else "") + "</li>"
        for p in patients
    )
    body = f"<ul>{items}</ul>" if items else "<p>No analysed ovary-visit.</p>"
    return f"<section id=\"patients\"><h2>Patients ({len(patients)})</h2>{body}</section>"


def _sizes(means: pd.Series) -> str:
    """The counted follicles' mean diameters, largest first, as the overlays show them (the
    ``follicle_sizes_mm`` of SPEC, two decimals where one would round onto a class boundary).

    >>> _sizes(pd.Series([7.0, 9.99, float("nan")]))
    '9.99;7.0'
    """
    return ";".join(shown_mm(float(d)) for d in sorted(means.dropna().astype(float), reverse=True))


def _side_cell(ov: pd.Series, n_unsure: int = 0, why: str = "", sizes: str = "") -> str:
    """One ovary-visit of the timeline: count, AFC, largest, ``sizes`` (:func:`_sizes`), and,
    when it needs review, why (its reasons in ``review_reasons.csv``), so the visit's "review"
    names the side and the reason."""
    count = num(ov["follicle_count"], 0)
    parts = [f"<b>{count}</b> follicle(s)", f"AFC {num(ov['afc'], 0)}"]
    if present(ov["max_follicle_mm"]):
        parts.append(f"largest {mean_mm(ov['max_follicle_mm'])} mm")
    if n_unsure:  # candidates.csv rows nobody decided: dashed "4?" on the overlays
        parts.append(f"{n_unsure} unsure candidate(s)")
    if not truthy(ov["calibrated"]):
        parts.append("<i>uncalibrated</i>")
    sizes_line = f"<br><span class=muted>sizes {esc(sizes)} mm</span>" if sizes else ""
    if truthy(ov["needs_review"]):
        sizes_line += f"<br><span class=why><b>review:</b> {esc(why) or 'flagged'}</span>"
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
                f"<figure><a href=\"{url(f'../{overlays_dir}/{name}')}\">"
                f"<img src=\"{url(thumb.relative_to(report).as_posix())}\" width=\"{w}\" height=\"{h}\" loading=\"lazy\" "
                f"alt=\"overlay {esc(name)}\"></a>{'<b>counted</b> ' if counted else ''}"
                f"{esc(uid_tail(r.sop_instance_uid))} &middot; {frame_words(frame)}</figure>"
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
            f"<a href=\"{url(f'../{overlays_dir}/{name}')}\">{esc(name)}</a>"
            if name
            else "<span class=muted>no overlay</span>"
        )
        rows.append(
            f"<tr><td>{esc(r.study_date)}</td><td>{esc(r.laterality)}</td><td class=num>{num(r.follicle_id, 0)}</td>"
            f"<td class=num>{num(r.d1_mm, 1)}</td><td class=num>{num(r.d2_mm, 1)}</td>"
            f"<td class=num>{mean_mm(r.mean_diameter_mm)}</td><td>{esc(r.size_class)}</td>"
            f"<td>{yes(r.counted)}</td><td>{where}</td></tr>"
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
            f"<tr><td>{esc(r.path)}</td><td>{esc(r.status)}</td><td>{esc(r.reason)}</td></tr>"
            for r in bad.sort_values("path").itertuples()
        )
        body = f"<table><tr><th>file</th><th>status</th><th>reason</th></tr>{rows}</table>"
    return f"<section id=\"rejected\"><h2>Rejected and failed files ({len(bad)})</h2>{body}</section>"


