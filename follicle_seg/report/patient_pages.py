"""One page per patient, ``report/patients/<token>.html`` (:mod:`follicle_seg.report.pages`):
the visit timeline (per side: counts, AFC, largest follicle, sizes, why it needs review,
overlay thumbnails opening the full overlays), the follicle-tracking chart and the folded list of
the patient's follicles with the overlay each one is drawn on; links back to the index (its
"To check" row of a flagged ovary-visit too) and to the previous and next patient.

Links are relative to ``report/patients/``: ``../thumbs/``, ``../figures/``, ``../../overlays/``,
``../../follicles.csv``. A page is written only when it changed, and the pages of patients no
longer in the tables are removed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd
from PIL import Image

from follicle_seg import __version__
from follicle_seg.report.markup import (
    SIDE_NAMES,
    bools,
    esc,
    mean_mm,
    num,
    present,
    truthy,
    url,
    yes,
)
from follicle_seg.report.pages import (
    NO_PATIENT,
    PATIENTS,
    PatientLinks,
    page,
    shown,
    visit_anchor,
    write_if_changed,
)
from follicle_seg.report.plots import group_label, plot_follicle_tracking
from follicle_seg.report.thumbnails import remove_stale
from follicle_seg.review import CANDIDATE_WHY, reasons_by_ovary, uid_tail
from follicle_seg.series import place_words, places
from follicle_seg.tracking import frame_words
from follicle_seg.visits import shown_mm

_SIDES = ("L", "R", "U")
_UP = "../"  # from report/patients/ to report/
_ROOT = "../../"  # to the run's folder


@dataclass(frozen=True)
class Overlays:
    """The overlays the pages show: file names inside ``folder`` (relative to the run's
    folder) by (SOP instance UID, frame), the frames of each image, the thumbnail of each
    file, and the sweeps stored one file per frame (:func:`follicle_seg.series.sweep_files`)."""

    folder: str
    links: dict[tuple[str, int], str]
    frames: dict[str, list[tuple[int, str]]]
    thumbs: dict[str, Path]
    sweeps: Sequence[Sequence[str]] = ()

    @cached_property
    def sweep_of(self) -> dict[str, int]:
        """Each file of ``sweeps`` -> its sweep's index there (a cell's sweeps found without
        going through every sweep of the trial)."""
        return {uid: k for k, files in enumerate(self.sweeps) for uid in files}

    @cached_property
    def places(self) -> dict[str, tuple[int, int]]:
        """Each file of ``sweeps`` -> its place in its sweep (:func:`~follicle_seg.series.places`)."""
        return places(self.sweeps)


def write_patient_pages(
    report: Path,
    patients: list[str],
    tables: dict[str, pd.DataFrame],
    overlays: Overlays,
    links: PatientLinks,
    checked: set[tuple[str, str, str]],
) -> set[Path]:
    """Write each patient's page (and tracking chart, in ``report/figures/``), in ``patients``'
    order for the previous / next links; remove the pages of earlier reports' other patients.
    ``checked``: the (patient, date, side) with a "To check" row on the index.

    Returns
    -------
    set of Path
        The tracking charts (the caller removes the other figures).
    """
    folder = report / PATIENTS
    csv = f"{_ROOT}follicles.csv" if (report.parent / "follicles.csv").is_file() else ""
    charts, pages = set(), set()
    why = reasons_by_ovary(tables.get("review_reasons"))  # once (grouped per page, 40 % of a 30-patient rebuild)
    # each table split by patient once: filtered for each page, a page cost a pass over every table
    mine = {name: _split(tables[name], "patient_id")
            for name in ("ovaries", "visits", "follicles", "images", "candidates") if tables.get(name) is not None}
    for i, patient_id in enumerate(patients):
        chart = report / "figures" / f"tracking_{Path(links.names[patient_id]).stem}.png"  # named as its page
        own = {name: by.get(patient_id, tables[name].iloc[:0]) for name, by in mine.items()}
        group = group_label(own["ovaries"]["group"].iloc[0])
        body = _section(patient_id, group, own, tables.get("review_log"), chart, report, overlays, links, checked,
                        csv, why)  # fmt: skip
        menu = [(f"{_UP}index.html", "Study report"), (f"{_UP}index.html#patients", "All patients")]
        for label, other in (("&larr; previous", patients[i - 1] if i else None),
                             ("next &rarr;", patients[i + 1] if i + 1 < len(patients) else None)):  # fmt: skip
            if other is not None:
                menu.append((links.href(other, up=_UP), f"{label}: {shown(other)}"))
        subtitle = (f"{esc(group)} &middot; patient {i + 1} of {len(patients)} &middot; "
                    f"follicle_seg {esc(__version__)}")  # fmt: skip (no date: an unchanged page stays as it was)
        html = page(f"Patient {patient_id or NO_PATIENT}", subtitle, menu, body)
        pages.add(write_if_changed(folder / links.names[patient_id], html))
        charts.add(chart)
    remove_stale(folder, pages)
    return charts


def _split(table: pd.DataFrame, *columns: str) -> dict:
    """``table``'s rows by the text of ``columns`` (the key a value, or a tuple of them for
    several), each part in the table's order with its index: as filtering it for each key would
    give them, in one pass."""
    keys = [table[c].astype(str) for c in columns]
    return dict(iter(table.groupby(keys if len(keys) > 1 else keys[0], sort=False)))


def _section(
    patient_id: str,
    group: str,
    tables: dict[str, pd.DataFrame],
    log: pd.DataFrame | None,
    tracking: Path,
    report: Path,
    overlays: Overlays,
    links: PatientLinks,
    checked: set[tuple[str, str, str]],
    csv: str,
    why: dict[tuple[str, str, str], str],
) -> str:
    """The page of one patient; ``tables``: the patient's rows of each table (``candidates``
    absent when the tables have none), ``log``: the whole ``review_log``."""
    ovaries, visits, follicles, images = (tables[name] for name in ("ovaries", "visits", "follicles", "images"))
    candidates = tables.get("candidates")
    unsure = Counter() if candidates is None else Counter(  # undecided candidates per (date, side)
        zip(*(candidates[c].astype(str) for c in ("study_date", "laterality"))))  # fmt: skip
    chosen = set(follicles.loc[bools(follicles["counted"]), "sop_instance_uid"].astype(str))
    decided = _decisions(log, patient_id)
    plot_follicle_tracking(follicles, ovaries, tracking, title=f"{patient_id} ({group}): follicle tracking")

    sides = [s for s in _SIDES if (ovaries["laterality"] == s).any()]
    head = "".join(f"<th>{esc(SIDE_NAMES[s])}</th>" for s in sides)
    rows = []
    # each split once by visit (and side), not filtered for each
    by_day, on_day = _split(ovaries, "study_date"), _split(visits, "study_date")
    ovary_at, images_at = _split(ovaries, "study_date", "laterality"), _split(images, "study_date", "laterality")
    follicles_at = _split(follicles, "study_date", "laterality")
    for date in sorted(by_day, key=lambda d: (not d, d)):  # undated last
        visit = on_day.get(date, visits.iloc[:0])
        cells = []
        for side in sides:
            ov = ovary_at.get((date, side), ovaries.iloc[:0])
            if len(ov):
                shots = _thumbs(images_at.get((date, side), images.iloc[:0]), overlays, report, chosen)
                reasons = why.get((patient_id, date, side), "")
                mine = follicles_at.get((date, side), follicles.iloc[:0])
                sizes = _sizes(mine[bools(mine["counted"])]["mean_diameter_mm"])
                check = (f"{url(_UP + 'index.html')}#{links.check_id(patient_id, date, side)}"
                         if (patient_id, date, side) in checked else "")  # fmt: skip
                cell = _side_cell(ov.iloc[0], unsure[(date, side)], reasons, sizes, check, decided.get((date, side), ""))
                cells.append(f"<td id=\"{visit_anchor(date, side)}\">{cell}{shots}</td>")
            else:
                # no image of unknown side is the usual case, not a missed ovary
                cells.append("<td><span class=muted>" + ("&ndash;" if side == "U" else "not scanned") + "</span></td>")
        sides_review = bool(bools(by_day[date]["needs_review"]).any())
        # visits.csv's flag: also set when the change is measured from a baseline that needs review
        review = sides_review or bool(bools(visit["needs_review"]).any())
        baseline = " <span class=muted>(its change from a baseline that needs review)</span>" if not sides_review else ""
        day = visit["days_from_baseline"].iloc[0] if len(visit) else math.nan
        total = visit["follicle_count"].iloc[0] if len(visit) else math.nan
        rows.append(
            f"<tr id=\"{visit_anchor(date)}\" class=\"{'review' if review else ''}\"><td>{esc(date) or 'no date'}"
            f"{' <b>review</b>' + baseline if review else ''}</td>"
            f"<td class=num>{num(day, 0)}</td><td class=num>{num(total, 0)}</td>{''.join(cells)}</tr>"
        )
    timeline = (
        f"<table><tr><th>visit</th><th>day</th><th>follicles</th>{head}</tr>"
        f"{''.join(rows)}</table>"
    )
    return (
        f"<section id=\"timeline\"><h2>Visit timeline <span class=\"muted\">&middot; {esc(group)}</span></h2>"
        f"{timeline}</section><section id=\"tracking\"><h2>Follicle tracking</h2>"
        f"<img class=\"figure\" src=\"{url(_UP + tracking.relative_to(report).as_posix())}\" "
        f"alt=\"Follicle tracking chart of {esc(patient_id)}\">"
        f"{_follicle_list(follicles, overlays, csv)}</section>"
    )


def _sizes(means: pd.Series) -> str:
    """The counted follicles' mean diameters, largest first, as the overlays give them
    (:func:`~follicle_seg.visits.shown_mm`: two decimals where one would read as another size
    class or AFC status; ``follicle_sizes_mm`` keeps SPEC's one decimal, ``10.0`` for 9.99).

    >>> _sizes(pd.Series([7.0, 9.99, float("nan")]))
    '9.99; 7.0'
    """
    return "; ".join(shown_mm(float(d)) for d in sorted(means.dropna().astype(float), reverse=True))


def _side_cell(
    ov: pd.Series, n_unsure: int = 0, why: str = "", sizes: str = "", check: str = "", decided: str = ""
) -> str:
    """One ovary-visit of the timeline: count, AFC, largest, ``sizes`` (:func:`_sizes`), and,
    when it needs review, why (its reasons in ``review_reasons.csv``), so the visit's "review"
    names the side and the reason, and the href of its crops on the index (``check``); the
    reviewer's decisions about it (``decided``, :func:`_decisions`)."""
    count = num(ov["follicle_count"], 0)
    parts = [f"<b>{count}</b> follicle(s)", f"AFC {num(ov['afc'], 0)}"]
    if present(ov["max_follicle_mm"]):
        parts.append(f"largest {mean_mm(ov['max_follicle_mm'])} mm")
    if n_unsure:  # candidates.csv rows nobody decided (unsure, or tubes): dashed "4?" on the overlays
        parts.append(f"{n_unsure} candidate(s) to check")
    if not truthy(ov["calibrated"]):
        parts.append("<i>uncalibrated</i>")
    sizes_line = f"<br><span class=muted>sizes {esc(sizes)} mm</span>" if sizes else ""
    if truthy(ov["needs_review"]):
        sizes_line += f"<br><span class=why><b>review:</b> {esc(why) or 'flagged'}</span>"
    if check:
        sizes_line += f"<br><a href=\"{check}\">its crops to check</a>"
    if decided:
        sizes_line += f"<br><span class=muted><b>reviewed:</b> {esc(decided)}</span>"
    return " &middot; ".join(parts) + sizes_line


def _decisions(log: pd.DataFrame | None, patient_id: str) -> dict[tuple[str, str], str]:
    """The reviewer's decisions (``review_log.csv``) about each of the patient's ovary-visits, in
    words: the Reviewed list of the index links to the ovary-visit, which said nothing of them.

    >>> log = pd.DataFrame({"patient_id": ["P1"] * 3, "study_date": ["2026-01-05"] * 3, "laterality": ["L"] * 3,
    ...                     "decision": ["not_follicle", "follicle", "confirmed"], "follicle_id": [2, 4, None],
    ...                     "about": ["reported", "unsure", "ovary_visit"], "sop_instance_uid": ["1.2.345678901"] * 2 + [""],
    ...                     "reviewer": ["RV"] * 3, "comment": ["", "", "ok"]})
    >>> _decisions(log, "P1")["2026-01-05", "L"].split("; ")
    ['follicle 2 of image ...45678901 not a follicle (RV)', 'candidate 4? of image ...45678901 a follicle (RV)', 'count confirmed (RV: ok)']
    """
    if log is None or log.empty:
        return {}
    words = {"confirmed": "count confirmed", "not_follicle": "not a follicle", "follicle": "a follicle",
             "left": "the left ovary", "right": "the right ovary"}  # fmt: skip
    out: dict[tuple[str, str], list[str]] = {}
    for row in log[log["patient_id"].astype(str) == patient_id].itertuples():
        what = words.get(str(row.decision), str(row.decision))
        if present(row.follicle_id):
            named = (f"candidate {num(row.follicle_id, 0)}?" if row.about in CANDIDATE_WHY  # as its overlay numbers it
                     else f"follicle {num(row.follicle_id, 0)}")  # fmt: skip
            what = f"{named} of image {uid_tail(row.sop_instance_uid)} {what}"
        elif str(row.decision) in ("left", "right"):
            what = f"image {uid_tail(row.sop_instance_uid)}: {what}"
        who = ": ".join(str(v) for v in (row.reviewer, row.comment) if present(v) and str(v))
        out.setdefault((str(row.study_date), str(row.laterality)), []).append(f"{what} ({who})" if who else what)
    return {k: "; ".join(v) for k, v in out.items()}


def _thumbs(images: pd.DataFrame, overlays: Overlays, report: Path, chosen: set[str]) -> str:
    """Thumbnails of the images' overlays; the image that gave the ovary-visit count first. A
    sweep stored one file per frame is one image: its files together in acquisition order, each
    captioned with its place in the sweep, all counted when the sweep gave the count."""
    figures = []
    ok = images[images["status"].astype(str) == "ok"]
    n_frames = dict(zip(ok["sop_instance_uid"].astype(str), ok["n_frames"], strict=True))
    swept = sorted({overlays.sweep_of[u] for u in n_frames if u in overlays.sweep_of})
    units = [[u for u in overlays.sweeps[k] if u in n_frames] for k in swept]
    units += [[u] for u in sorted(n_frames.keys() - {u for unit in units for u in unit})]
    place = overlays.places
    for unit in sorted(units, key=lambda unit: (not chosen.intersection(unit), unit[0])):
        counted = bool(chosen.intersection(unit))
        for uid in unit:
            for frame, name in overlays.frames.get(uid, ()):
                if name not in overlays.thumbs:
                    continue
                thumb = overlays.thumbs[name]
                with Image.open(thumb) as im:
                    w, h = im.size
                figures.append(
                    f"<figure><a href=\"{url(f'{_ROOT}{overlays.folder}/{name}')}\">"
                    f"<img src=\"{url(_UP + thumb.relative_to(report).as_posix())}\" width=\"{w}\" height=\"{h}\" "
                    f"loading=\"lazy\" alt=\"overlay {esc(name)}\"></a>{'<b>counted</b> ' if counted else ''}"
                    f"{esc(uid_tail(uid))} &middot; {_frame_caption(frame, n_frames[uid], place.get(uid))}</figure>"
                )
    return f"<div class=\"thumbs\">{''.join(figures)}</div>" if figures else "<br><span class=muted>no overlay</span>"


def _frame_caption(frame: int, n_frames: object, place: tuple[int, int] | None) -> str:
    """A thumbnail's frame as its overlay's header says it
    (:func:`follicle_seg.report.overlay.frame_said`).

    >>> _frame_caption(4, 20, None), _frame_caption(0, 1, (2, 6)), _frame_caption(0, 1, None)
    ('frame 5 (index 4)', 'file 3 of 6 of a sweep', 'still image')
    """
    if present(n_frames) and int(n_frames) > 1:  # type: ignore[call-overload]
        return frame_words(frame)
    return place_words(place) if place else "still image"


def _follicle_list(follicles: pd.DataFrame, overlays: Overlays, csv: str) -> str:
    if follicles.empty:
        return "<p class=\"muted\">No follicle found at any visit.</p>"
    rows = []
    ordered = follicles.sort_values(["study_date", "laterality", "sop_instance_uid", "follicle_id"])
    for r in ordered.itertuples():
        name = overlays.links.get((str(r.sop_instance_uid), int(r.frame_index)))
        where = (
            f"<a href=\"{url(f'{_ROOT}{overlays.folder}/{name}')}\">{esc(name)}</a>"
            if name
            else "<span class=muted>no overlay</span>"
        )
        rows.append(
            f"<tr><td>{esc(r.study_date)}</td><td>{esc(r.laterality)}</td><td class=num>{num(r.follicle_id, 0)}</td>"
            f"<td class=num>{num(r.d1_mm, 1)}</td><td class=num>{num(r.d2_mm, 1)}</td>"
            f"<td class=num>{mean_mm(r.mean_diameter_mm)}</td><td>{esc(r.size_class)}</td>"
            f"<td>{yes(r.counted)}</td><td>{where}</td></tr>"
        )
    source = f"<a href=\"{url(csv)}\">follicles.csv</a>" if csv else "follicles.csv"
    return (
        f"<details><summary>All {len(follicles)} follicle row(s) of {source}, with their overlay"
        "</summary><table><tr><th>visit</th><th>side</th><th>id</th><th>d1 mm</th><th>d2 mm</th>"
        "<th>mean mm</th><th>class</th><th>counted</th><th>overlay</th></tr>"
        f"{''.join(rows)}</table></details>"
    )
