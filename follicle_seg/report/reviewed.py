"""Overlays as a reviewer decided them: ``overlays/reviewed/<overlay stem>_reviewed.png``.

An overlay is drawn when its image is analysed, from the network's result; a review (``review.csv``)
changes the tables without analysing again, so the overlay no longer shows what the tables say.
Each overlay of an image a decision is about gets a reviewed copy: the follicle said
``not_follicle`` crossed out in red, the candidate said ``follicle`` ringed in white (both within
its box, under the labels: :func:`_mark_box`), each with its decision, and a band under the
image listing the image's decisions, their reviewer and the ovary-visit's count before and after
the review. The analysed overlay stays as it was (the evidence of the analysis); the report, the
worksheet and the review gallery show the reviewed copy. The copies are drawn again whenever the
tables are built (a copy whose picture is unchanged is left as it was, and with it its report
thumbnail; those no decision is about any longer are removed), and removed with the review.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy import ndimage

from follicle_seg.report.overlay_files import REVIEWED, write_overlay
from follicle_seg.report.overlay import (LABEL_FILL, UNSURE_COLOUR, Layout, colour_mask, draw_title, layout_for,
                                         overlay_font, title)
from follicle_seg.report.thumbnails import remove_stale
from follicle_seg.review import CONFIRMED, FOLLICLE, NOT_FOLLICLE, SIDES, Review, uid_tail
from follicle_seg.series import named_in_sweeps
from follicle_seg.types import Follicle, ImageRecord, ImageResult, Section

# apart from the size classes' outline colours (a green ring read as a 5-10 mm follicle): a
# reviewer's marks are a white ring and a cross of white-edged red
REJECTED = (235, 40, 40)
ACCEPTED = (255, 255, 255)
_BAND_LINE_PX = 22
_BAND_PAD_PX = 8
_BACKGROUND = (40, 16, 16)


def reviewed_name(overlay: str) -> str:
    """``<stem>_reviewed.png`` in :data:`REVIEWED` of an overlay file name (a distinct stem, so its
    report thumbnail is apart from the analysed overlay's)."""
    return f"{REVIEWED}/{Path(overlay).stem}_reviewed.png"


def analysed_name(name: str) -> str:
    """The analysed overlay's file name of a name :func:`reviewed_name` made (others unchanged).

    >>> analysed_name(reviewed_name("P1_20250101_L_0123abcd-a1b2c3_f004.png"))
    'P1_20250101_L_0123abcd-a1b2c3_f004.png'
    """
    path = Path(name)
    if path.parent.name != REVIEWED or not path.stem.endswith("_reviewed"):
        return name
    return str(path.parent.parent / (path.stem.removesuffix("_reviewed") + path.suffix)).removeprefix("./")


def write_reviewed(
    overlays_dir: Path, index: pd.DataFrame, results: Sequence[ImageResult], review: Review, tables: dict[str, pd.DataFrame],
    named: Mapping[tuple[str, int], Follicle] | None = None,
) -> pd.DataFrame:
    """Write the reviewed copies of the overlays in ``index`` (``scan_overlays``) that decisions
    of ``review`` are about; returns ``index`` with those overlays' ``file`` naming their copy.
    Without decisions, removes earlier copies and returns ``index`` unchanged. ``named``:
    :func:`~follicle_seg.series.named_in_sweeps` of ``results`` as sided (tracked here if not given)."""
    folder = overlays_dir / REVIEWED
    if not review.decisions or index.empty:
        shutil.rmtree(folder, ignore_errors=True)
        return index
    notes, counts = _notes(results, review, tables)
    files = dict(zip(zip(index["sop_instance_uid"].astype(str), index["frame_index"].astype(int)), index["file"]))
    by_uid = {r.record.sop_instance_uid: r for r in results if r.status == "ok" and r.record is not None}
    sided = {d.sop_instance_uid: SIDES[d.decision] for d in review.decisions if d.decision in SIDES}
    if named is None:  # (a sweep of single-frame files: each file showing it)
        named = named_in_sweeps(review.sided(results))
    renamed = {}
    for (uid, frame), name in files.items():
        lines = notes.get(uid, [])
        marks = [(f, colour, text) for f, colour, text in _marks(by_uid.get(uid), review, named)
                 if f.best.frame_index == frame]  # fmt: skip
        if marks and uid in counts and counts[uid] not in lines:  # a sweep's follicle decided by another file's line
            lines = [*lines, counts[uid]]
        if not lines and not marks:
            continue
        source = overlays_dir / name
        if not source.is_file():
            continue
        target = overlays_dir / reviewed_name(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        image = np.asarray(_stamped(source, by_uid[uid], marks, [*(text for _, _, text in marks), *lines], sided.get(uid)))
        if not _holds(target, image):  # (a review of a trial: 2000 copies encoded again each run)
            write_overlay(target, image)
        renamed[name] = reviewed_name(name)
    remove_stale(folder, {overlays_dir / n for n in renamed.values()})
    return index.assign(file=[renamed.get(f, f) for f in index["file"]])


def _holds(path: Path, image: np.ndarray) -> bool:
    """Whether the PNG ``path`` holds these pixels already."""
    try:
        with Image.open(path) as opened:
            return np.array_equal(np.asarray(opened.convert("RGB")), image)
    except (OSError, SyntaxError, ValueError):  # absent, cut short or not a PNG: draw it
        return False


def _marks(result: ImageResult | None, review: Review, named: Mapping[tuple[str, int], Follicle] | None = None,
           ) -> list[tuple[Follicle, tuple[int, int, int], str]]:
    """The follicles and candidates of ``result`` a reviewer decided, with the mark and text each
    gets; ``named``: of a still that is a frame of a sweep, the follicle or candidate naming each
    of its own in the tables (:func:`~follicle_seg.series.named_in_sweeps`), whose decision is theirs."""
    if result is None:
        return []
    marks = []
    for f in (*result.follicles, *result.unsure):
        d = review.said_of(f, named)
        if d is None or d.decision not in (NOT_FOLLICLE, FOLLICLE):
            continue
        number = f"{f.follicle_id}?" if f in result.unsure else str(f.follicle_id)
        said = "not a follicle" if d.decision == NOT_FOLLICLE else "a follicle"
        colour = REJECTED if d.decision == NOT_FOLLICLE else ACCEPTED
        by = (f", as follicle {d.follicle_id} of image {uid_tail(d.sop_instance_uid)}"  # the sweep's, named by that file
              if d.sop_instance_uid != f.sop_instance_uid else "")
        marks.append((f, colour, f"{number}: {said} ({_who(d.reviewer, d.comment)}){by}"))
    return marks


def _notes(results: Sequence[ImageResult], review: Review, tables: dict[str, pd.DataFrame],
           ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Per image, the lines its band gives besides its follicles' decisions: a side given, and its
    ovary-visit's count after the review (confirmed or not) against the count as analysed, for an
    image a line names or of a confirmed ovary-visit; and per image of a reviewed ovary-visit, that
    count line (for an image only marked: a sweep's follicle decided by another file's line)."""
    notes: dict[str, list[str]] = {}
    counts: dict[str, str] = {}
    images = tables["images"].astype({"sop_instance_uid": str})
    key_of = {str(r.sop_instance_uid): (str(r.patient_id), str(r.study_date), str(r.laterality))
              for r in images.itertuples() if r.status == "ok"}  # fmt: skip
    analysed_side = {r.record.sop_instance_uid: r.record.laterality or "U" for r in results if r.record is not None}
    log = tables.get("review_log")
    after: dict[tuple[str, str, str], str] = {}
    gives: dict[tuple[str, str, str], str] = {}  # the image whose count stands after the review
    before: dict[tuple[str, str, str], str] = {}  # as analysed (a side line's is another visit's)
    if log is not None:
        for r in log.astype(str).itertuples():
            key = (r.patient_id, r.study_date, r.laterality)
            after[key] = r.count_after
            gives[key] = r.counted_image_after
            if r.decision not in SIDES:
                before[key] = r.count_before
            elif r.sop_instance_uid in key_of:
                was = analysed_side.get(r.sop_instance_uid, "U")
                was = "its side was unknown" if was == "U" else f"it was the {'left' if was == 'L' else 'right'} ovary"
                notes.setdefault(r.sop_instance_uid, []).append(
                    f"side: {r.decision} ovary ({_who(r.reviewer, r.comment)}); as analysed {was}, "
                    f"that ovary-visit counting {r.count_before}")  # fmt: skip
    confirmed = {review.applied[d.line]: d for d in review.decisions if d.decision == CONFIRMED and d.line in review.applied}
    decided = {d.sop_instance_uid for d in review.decisions if d.decision != CONFIRMED}
    for uid, key in key_of.items():
        if key not in after:
            continue
        line = f"the ovary-visit counts {after[key]} after the review" + (f" ({before[key]} as analysed)" if key in before else "")
        if gives.get(key):  # which image gives it: a review may move the count to another image
            line += ", this image giving it" if gives[key] == uid else f", image {uid_tail(gives[key])} giving it"
        if key in confirmed:
            line += f", confirmed ({_who(confirmed[key].reviewer, confirmed[key].comment)})"
        counts[uid] = line
        if uid in decided or key in confirmed:
            notes.setdefault(uid, []).append(line)
    return notes, counts


def _who(reviewer: str, comment: str) -> str:
    return f"{reviewer}: {comment}" if comment else reviewer


def _stamped(source: Path, result: ImageResult, marks, lines: list[str], side: str | None = None) -> Image.Image:
    """The overlay with its marks drawn and a band of ``lines`` under it; with ``side`` (given in
    review) its header's first line says that side."""
    with Image.open(source) as opened:
        overlay = opened.convert("RGB")
    font = overlay_font(14)
    measure = ImageDraw.Draw(overlay).textlength
    lines = [part for text in lines for part in wrapped(text, lambda t: measure(t, font=font), overlay.width - 16)]
    band = _BAND_PAD_PX * 2 + _BAND_LINE_PX * (len(lines) + 1)
    image = Image.new("RGB", (overlay.width, overlay.height + band), _BACKGROUND)
    image.paste(overlay, (0, 0))
    draw = ImageDraw.Draw(image)
    record = result.record
    assert record is not None
    if side is not None and not record.other_panes:  # the header as the overlay draws it, the side the reviewer's
        said = {"L": "LEFT", "R": "RIGHT"}[side]
        draw_title(draw, *title(record, record.patient_id, f"{said} ovary (reviewed)"), clear_width=overlay.width)
    if marks and not record.other_panes:  # a dual display's panes are side by side: no single grid to mark on
        layout = layout_for(record)
        for f, colour, _ in marks:
            x0, y0, x1, y1 = _mark_box(f.best, layout, record)
            if colour == REJECTED:  # edged in white: apart from a >= 18 mm follicle's red outline
                for fill, width in (((255, 255, 255), 8), (colour, 4)):  # (a stroke's end reaches 3 px past it)
                    draw.line([(x0 + 3, y0 + 3), (x1 - 3, y1 - 3)], fill=fill, width=width)
                    draw.line([(x0 + 3, y1 - 3), (x1 - 3, y0 + 3)], fill=fill, width=width)
            else:
                draw.ellipse([x0, y0, x1, y1], outline=colour, width=3)
        analysed = np.asarray(overlay)
        kept = colour_mask(analysed, UNSURE_COLOUR) | _labels(analysed)  # a candidate's outline, the labels
        image.paste(overlay, mask=Image.fromarray(kept))
    y = overlay.height + _BAND_PAD_PX
    draw.text((8, y), "REVIEWED: the decisions of review.csv, which the tables give", font=overlay_font(14, bold=True),
              fill=(255, 255, 255))  # fmt: skip
    for text in lines:
        y += _BAND_LINE_PX
        draw.text((8, y), text, font=font, fill=(255, 225, 225))
    return image


def _mark_box(section: Section, layout: Layout, record: ImageRecord) -> tuple[int, int, int, int]:
    """Overlay pixels ``(x0, y0, x1, y1)``, inclusive, a reviewer's mark is drawn in: the section's
    box on the overlay and 3 pixels round it, where its label seldom lies (the overlay places it
    4 pixels or more off the box, but where the canvas's edge pushes it back; the labels found
    there are kept over the mark: :func:`_labels`). A ring of the longest diameter round the
    centroid covered the number of a label beside a follicle longer than wide (``2? 16.5 mm`` read
    ``?? 16.5 mm``). A section without a box (``bbox`` empty) takes its longest diameter's square."""
    r0, c0, r1, c1 = section.bbox
    if r1 <= r0 or c1 <= c0:
        half = max(section.d1_px, section.d2_px) / 2
        r0, c0 = round(section.centroid_row - half), round(section.centroid_col - half)
        r1, c1 = round(section.centroid_row + half) + 1, round(section.centroid_col + half) + 1
    top, left = layout.to_overlay(r0, c0, record)
    bottom, right = layout.to_overlay(r1, c1, record)  # (the pixel after the box: its centre)
    sr, sc = layout.scale_row, layout.scale_col
    return (round(left - sc / 2) - 3, round(top - sr / 2) - 3, round(right - sc / 2) + 2, round(bottom - sr / 2) + 2)


def _labels(overlay: np.ndarray) -> np.ndarray:
    """Where ``overlay`` has a label: each a box of :data:`~follicle_seg.report.overlay.LABEL_FILL`
    in a black line (whole on an overlay; a crop, which may cut it, finds labels by their fill:
    :func:`~follicle_seg.report.overlay_files.label_text`), kept over a reviewer's mark.
    A mark keeps to its follicle's box (:func:`_mark_box`), but a label may lie there: its own,
    pushed back against the canvas's edge, or another follicle's, in the empty corner of a
    slanting follicle's box."""
    white, black = colour_mask(overlay, LABEL_FILL), colour_mask(overlay, (0, 0, 0))
    found = np.zeros(white.shape, bool)
    for rows, cols in ndimage.find_objects(ndimage.label(white)[0]):
        r0, c0, r1, c1 = rows.start - 1, cols.start - 1, rows.stop, cols.stop  # the black line round it
        if r0 >= 0 and c0 >= 0 and r1 < white.shape[0] and c1 < white.shape[1] and all(
            black[r0 : r1 + 1, c].all() for c in (c0, c1)
        ) and all(black[r, c0 : c1 + 1].all() for r in (r0, r1)):
            found[r0 : r1 + 1, c0 : c1 + 1] = True
    return found


def wrapped(text: str, length: Callable[[str], float], room: float) -> list[str]:
    """``text`` in lines at most ``room`` long (``length`` of a line), broken at its own line
    breaks (a spreadsheet cell's: Pillow cannot measure them, and the run died) and between words
    (a word longer than that, between its characters); a reviewer's comment ran past the copy's edge.

    >>> wrapped("a bb ccc", len, 4), wrapped("abcdefg", len, 3), wrapped("", len, 3), wrapped("a\\nbb", len, 9)
    (['a bb', 'ccc'], ['abc', 'def', 'g'], [''], ['a', 'bb'])
    """
    return [part for paragraph in text.splitlines() or [""] for part in _wrapped_line(paragraph, length, room)]


def _wrapped_line(text: str, length: Callable[[str], float], room: float) -> list[str]:
    """One line of :func:`wrapped`."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        joined = f"{line} {word}" if line else word
        if length(joined) <= room:
            line = joined
            continue
        if line:
            lines.append(line)
        while length(word) > room and len(word) > 1:
            lines.append(word[:(cut := _fitting(word, length, room))])
            word = word[cut:]
        line = word
    return [*lines, line]


def _fitting(word: str, length: Callable[[str], float], room: float) -> int:
    """The most characters of ``word`` within ``room`` (at least one), by halving (a long URL
    was measured once per length)."""
    low, high = 1, len(word)
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if length(word[:mid]) <= room else (low, mid - 1)
    return low

