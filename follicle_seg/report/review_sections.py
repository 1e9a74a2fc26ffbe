"""The report's review sections: the ovary-visits that need review and why, the follicles and
unsure candidates to check (a crop of each), and the decisions a reviewer made; each row links
to its patient's page at the ovary-visit (:class:`~follicle_seg.report.pages.PatientLinks`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from follicle_seg.report.markup import SIDE_NAMES, bools, esc, num, truthy, url
from follicle_seg.report.overlay_files import CROPS, crop_filename
from follicle_seg.report.pages import PatientLinks
from follicle_seg.report.reviewed import analysed_name
from follicle_seg.review import CANDIDATE_WHY, NOT_APPLIED, candidate_lines, reasons_by_ovary, uid_tail
from follicle_seg.tracking import KIND_TUBE
from follicle_seg.visits import shown_mm


def needs_review(ovaries: pd.DataFrame, reasons: pd.DataFrame | None, links: PatientLinks) -> str:
    flagged = ovaries[bools(ovaries["needs_review"])]
    why = reasons_by_ovary(reasons)
    if flagged.empty:
        body = "<p>No ovary-visit is flagged.</p>"
    else:
        rows = []
        for r in flagged.sort_values(["patient_id", "study_date", "laterality"]).itertuples():
            rows.append(
                f"<tr><td>{links.link(r.patient_id, r.study_date, r.laterality)}</td>"
                f"<td>{esc(r.study_date)}</td><td>{esc(SIDE_NAMES.get(str(r.laterality), r.laterality))}</td>"
                f"<td class=num>{num(r.follicle_count, 0)}</td><td>{'mm' if truthy(r.calibrated) else 'pixels'}</td>"
                f"<td>{esc(why.get((str(r.patient_id), str(r.study_date), str(r.laterality)), ''))}</td></tr>"
            )
        body = (
            "<p class=\"muted\">Uncalibrated image, unknown side, low-confidence segmentation or "
            "images of one ovary that disagree: check the overlays, and record what you decide in "
            "<code>review.csv</code> in the run folder: <code>review_worksheet.csv</code> holds its "
            "lines, prefilled; write the decisions in (<code>confirmed</code>: the count is right; "
            "<code>not_follicle</code>: a numbered follicle or a dashed <code>4?</code> candidate is "
            "not one; <code>follicle</code>: a <code>4?</code> candidate is one; <code>left</code> or "
            "<code>right</code>: the side of an image whose side is unknown), save it under that "
            "name and run again (the guide docs/measurement.md says more). Each reason, with its image, is a row of "
            "<code>review_reasons.csv</code>.</p><table><tr><th>patient</th>"
            "<th>visit</th><th>side</th><th>follicles</th><th>sizes in</th><th>why</th></tr>"
            f"{''.join(rows)}</table>"
        )
    return f"<section id=\"review\"><h2>Needs review ({len(flagged)})</h2>{body}</section>"


def check_keys(sheet: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(patient, date, side) of the ovary-visits with a row in "To check" (:func:`to_check`)."""
    lines = _follicle_lines(sheet)
    return set(zip(lines["patient_id"], lines["study_date"], lines["laterality"]))


def _follicle_lines(sheet: pd.DataFrame) -> pd.DataFrame:
    # (not an image's side line, nor a decision about an image a rejection note withdrew: no crop, no count)
    return sheet[(sheet["follicle_id"] != "") & ~sheet["why"].str.startswith(NOT_APPLIED)]


def to_check(sheet: pd.DataFrame, ovaries: pd.DataFrame, out_dir: Path, overlays_dir: str, links: PatientLinks) -> str:
    """The follicle lines of the review worksheet, a crop of each from its overlay, one row per
    ovary-visit with its count (``ovaries``: the worksheet has no line to confirm an ovary-visit
    a review settled): what a reviewer decides, at a glance (and what a review decided, so captioned).

    One list on the index, not one per patient's page: it is the worksheet's lines in its order,
    the review's worklist, gone through once from the top; each row links to its ovary-visit on
    the patient's page (the whole timeline), which links back to the row
    (:meth:`~follicle_seg.report.pages.PatientLinks.check_id`)."""
    lines = _follicle_lines(sheet)
    count = {(str(r.patient_id), str(r.study_date), str(r.laterality)): num(r.follicle_count, 0)
             for r in ovaries.itertuples()}  # fmt: skip
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
            size = (f"{shown_mm(float(f.mean_diameter_mm))} mm" if f.mean_diameter_mm  # as the overlays show it
                    else "" if f.decision else "px")  # (a decided line gives no size)
            where = "" if f.sop_instance_uid in counted_images else f"image {uid_tail(f.sop_instance_uid)}"
            kind = "tube?" if f.why.startswith(CANDIDATE_WHY[KIND_TUBE]) else "unsure"
            what = kind if unsure else "counted" if f.counted == "true" else ""
            if f.decision:  # decided in review.csv: what the tables now hold
                what = f"{f.decision.replace('_', ' ')} ({f.reviewer})"
            what = " ".join(part for part in (what, where) if part)
            crop = f"{overlays_dir}/{CROPS}/{crop_filename(analysed_name(f.overlay), int(f.follicle_id))}" if f.overlay else ""
            image = (f"<img src=\"{url('../' + crop)}\" loading=\"lazy\" alt=\"follicle {esc(number)}\">"
                     if crop and (out_dir / crop).is_file() else "<span class=muted>no crop</span>")  # fmt: skip
            link = f"<a href=\"{url('../' + f.overlay)}\">{image}</a>" if f.overlay else image
            figures.append(f"<figure>{link}<b>{esc(number)}</b> {esc(size)} &middot; {esc(what)}</figure>")
        rows.append(
            f"<tr id=\"{links.check_id(patient, date, side)}\"><td>{links.link(patient, date, side)}<br>{esc(date)}<br>"
            f"{esc(SIDE_NAMES.get(side, side))}<br>count {count.get((patient, date, side), '&ndash;')}</td>"
            f"<td><div class=\"thumbs crops\">{''.join(figures)}</div></td></tr>"
        )
    n_decided = int((lines["decision"] != "").sum())
    decided = f"; {n_decided} decided in review.csv" if n_decided else ""
    return (
        f"<section id=\"check\"><h2>To check ({(lines['decision'] == '').sum()} follicles and candidates"
        f"{decided})</h2><p class=\"muted\">"
        "The follicle lines of <code>review_worksheet.csv</code>, each cut from its overlay (click for the whole "
        "image): the counted follicles first (<code>not_follicle</code> if one is not), the follicles of the "
        "ovary's other images, then the candidates, not counted (highest score first), dashed and numbered "
        "<code>4?</code> (<code>follicle</code> or <code>not_follicle</code>): those the network was unsure of "
        "(<i>unsure</i>) and sections unchanged through a sweep (<i>tube?</i>: a vessel crossing it, "
        "or a follicle?).</p>"
        f"<table>{''.join(rows)}</table></section>"
    )


def review_log(
    log: pd.DataFrame, overlays: dict[tuple[str, int | None], str], overlays_dir: str, links: PatientLinks,
) -> str:
    """The decisions the tables applied, each image named by its UID's tail and linked to its
    (reviewed) overlay, ``overlays``: file name inside ``overlays_dir`` by (SOP instance UID,
    frame: the decided follicle's, or None for the image's first); a candidate (the log's
    ``about``: its kind) numbered ``4?`` as its overlay and "To check" number it."""
    rows = []
    for r in log.itertuples():
        uid = "" if pd.isna(r.sop_instance_uid) else str(r.sop_instance_uid)
        what = f"image {uid_tail(uid)}" if uid else ""
        shown = overlays.get((uid, None if pd.isna(r.frame_index) else int(r.frame_index))) or overlays.get((uid, None))
        if shown:
            what = f"<a href=\"{url('../' + overlays_dir + '/' + shown)}\">{esc(what)}</a>"
        else:
            what = esc(what)
        number = "" if pd.isna(r.follicle_id) else f" #{int(r.follicle_id)}"
        number += "?" if number and r.about in CANDIDATE_WHY else ""
        rows.append(
            f"<tr><td>{links.link(r.patient_id, r.study_date, r.laterality)}</td><td>{esc(r.study_date)}</td>"
            f"<td>{esc(SIDE_NAMES.get(str(r.laterality), r.laterality))}</td><td>{esc(r.decision)}</td>"
            f"<td>{what}{esc(number)}</td>"
            f"<td class=num>{num(r.count_before, 0)} &rarr; {num(r.count_after, 0)}</td>"
            f"<td>{esc(r.reviewer)}</td><td>{esc(r.comment)}</td></tr>"
        )
    return (
        f"<section id=\"reviewed\"><h2>Reviewed ({len(log)} decisions)</h2><p class=\"muted\">From "
        "<code>review.csv</code>; the tables apply them (<code>review_log.csv</code>). The count is the "
        "ovary-visit's, as analysed and after the whole review (not each line's own change); each image "
        "links to its overlay as reviewed.</p><table><tr>"
        "<th>patient</th><th>visit</th><th>side</th><th>decision</th><th>image, follicle</th>"
        f"<th>ovary-visit count</th><th>reviewer</th><th>comment</th></tr>{''.join(rows)}</table></section>"
    )
