"""What ingestion sees in each file: the rows behind ``follicle-seg inspect``.

One dict per discovered file holding the ``images.csv`` columns of the SPEC (``follicle_count``
is ``None`` here: nothing is segmented) plus what a person checking the input needs: modality,
SOP class, photometric, transfer syntax, calibration source, region and its source. A file is
``ok`` when its header passes every check and its first frame decodes; one a run would not read
(a name that is not valid UTF-8, a pipe or device) is rejected with the run's reason, and so is
each path of a SOP instance but the first (a duplicate).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from follicle_seg.errors import RejectedInput, printable
from follicle_seg.filehash import file_sha256
from follicle_seg.intake import duplicate_reason
from follicle_seg.io.dicom import iter_frames, read_record, sop_class_name, transfer_syntax_name
from follicle_seg.io.discover import discover, not_read, shown
from follicle_seg.io.rejection import RejectionNote
from follicle_seg.studyday import on_study_day, study_days
from follicle_seg.types import REJECTION_NOTE, ImageRecord

#: Keys of every row, in table order (the SPEC ``images.csv`` columns first).
COLUMNS = (
    "path",
    "sop_instance_uid",
    "patient_id",
    "study_date",
    "laterality",
    "n_frames",
    "spacing_row_mm",
    "spacing_col_mm",
    "calibrated",
    "status",
    "reason",
    "follicle_count",
    "modality",
    "sop_class",
    "sop_class_uid",
    "photometric",
    "transfer_syntax",
    "transfer_syntax_uid",
    "rows",
    "columns",
    "calibration_source",
    "region",
    "region_source",
    "other_panes",
    "laterality_source",
    "study_instance_uid",
    "series_instance_uid",
    "frame_time_ms",
    "frame_spacing_mm",
    "manufacturer",
    "instance_number",
    "acquired",
)


def inspect_paths(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Inspect every file under ``paths``: one row (dict with :data:`COLUMNS`) per file.

    Never raises for a bad file: it gets ``status = "rejected"`` and the one-line ``reason``.
    The files of one study are placed on one day (:func:`~follicle_seg.studyday.study_days`), as
    a run places them: the visits said are the run's.
    """
    read = [_inspect(path) for path in discover(paths)]
    days = study_days(record for _, record in read if record is not None)
    rows = [row if record is None else {**row, "study_date": on_study_day(record, days).study_date}
            for row, record in read]  # fmt: skip
    listed = _listed_by_notes(rows)
    rows = [{**row, "status": "rejected", "reason": listed[row["sop_instance_uid"]]}
            if row["status"] != "failed" and row["sop_instance_uid"] in listed else row for row in rows]  # fmt: skip
    return _duplicates(rows)


def _duplicates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows``, each SOP instance read ok under several paths left to the first of them, as a run
    analyses it (:func:`~follicle_seg.intake.header_pass`: one whose frames cannot be decoded
    leaves it to the next, ``pipeline._stand_ins``); the others rejected with the run's reason."""
    first: dict[str, str] = {}
    sha256 = functools.cache(file_sha256)  # (the first of many copies hashed once)
    said = []
    for row in rows:
        sop = row["sop_instance_uid"]
        if row["status"] == "ok" and first.setdefault(sop, row["path"]) != row["path"]:
            owner = first[sop]
            reason = duplicate_reason(sop, row["path"], sha256(row["path"]), owner, sha256(owner))
            row = {**row, "status": "rejected", "reason": reason}
        said.append(row)
    return said


def _listed_by_notes(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The reason of each SOP instance a rejection note among ``rows`` lists, as a run says it
    (:mod:`follicle_seg.io.rejection`; each note read again: a few small files)."""
    reasons: dict[str, str] = {}
    for row in rows:
        if (row["reason"] or "").startswith(REJECTION_NOTE):
            try:
                read_record(row["path"])
            except RejectionNote as note:
                reasons.update({uid: note.rejection.reason(row["path"])
                                for uid in note.rejection.sop_instance_uids if uid not in reasons})  # fmt: skip
            except RejectedInput:  # (changed since: what it is now is not said here)
                pass
    return reasons


def inspect_file(path: str | Path) -> dict[str, Any]:
    """The row of one file (see :func:`inspect_paths`; its date is the file's own).

    A file whose header passed but whose first frame cannot be decoded keeps every field its
    header gave (as its ``images.csv`` row of a run does); one rejected by the header checks keeps
    whose image it is, when its header says (:class:`~follicle_seg.types.Identity`).
    """
    return _inspect(path)[0]


def _inspect(path: str | Path) -> tuple[dict[str, Any], ImageRecord | None]:
    """The row of one file and its record (None when its header was rejected)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    if reason := not_read(Path(path)):  # as a run says it (a name not UTF-8, a pipe): not read
        row.update(path=shown(str(path)), status="rejected", reason=reason)
        return row, None
    try:
        record = read_record(path)
    except RejectedInput as rejected:
        row.update(path=str(path), status="rejected", reason=rejected.reason)
        if (who := rejected.identity) is not None:  # its header was read: whose image, as images.csv says
            row.update(sop_instance_uid=who.sop_instance_uid, patient_id=who.patient_id, study_date=who.study_date,
                       laterality=who.laterality)  # fmt: skip
        return row, None
    try:
        next(iter_frames(record, stop=1))
    except RejectedInput as rejected:
        return {**record_row(record), "status": "rejected", "reason": rejected.reason}, record
    return record_row(record), record


def record_row(record: ImageRecord) -> dict[str, Any]:
    """The row of an accepted file."""
    calibration = record.calibration
    return {
        "path": record.path,
        "sop_instance_uid": record.sop_instance_uid,
        "patient_id": record.patient_id,
        "study_date": record.study_date,
        "laterality": record.laterality,
        "n_frames": record.n_frames,
        "spacing_row_mm": calibration.spacing_row_mm,
        "spacing_col_mm": calibration.spacing_col_mm,
        "calibrated": calibration.calibrated,
        "status": "ok",
        "reason": record.note,
        "follicle_count": None,
        "modality": record.modality,
        "sop_class": sop_class_name(record.sop_class_uid),
        "sop_class_uid": record.sop_class_uid,
        "photometric": record.photometric,
        "transfer_syntax": transfer_syntax_name(record.transfer_syntax),
        "transfer_syntax_uid": record.transfer_syntax,
        "rows": record.rows,
        "columns": record.columns,
        "calibration_source": calibration.source,
        "region": list(record.region),
        "region_source": record.region_source,
        "other_panes": [
            {"region": list(p.region), "spacing_row_mm": p.calibration.spacing_row_mm,
             "spacing_col_mm": p.calibration.spacing_col_mm}  # fmt: skip
            for p in record.other_panes
        ],
        "laterality_source": record.laterality_source,
        "study_instance_uid": record.study_instance_uid,
        "series_instance_uid": record.series_instance_uid,
        "frame_time_ms": record.frame_time_ms,
        "frame_spacing_mm": record.frame_spacing_mm,
        "manufacturer": record.manufacturer,
        "instance_number": record.instance_number,
        "acquired": _iso(record.acquired_s),
    }


def _iso(seconds: float | None) -> str | None:
    """Seconds since 1970 as ``YYYY-MM-DDTHH:MM:SS.ffffff`` (as the header gave it, no zone).

    >>> _iso(0.25), _iso(None)
    ('1970-01-01T00:00:00.250000', None)
    """
    if seconds is None:
        return None
    return (datetime(1970, 1, 1) + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


#: The table's column headers; :func:`_cells` gives a row's values under them.
HEADERS = ("file", "status", "image", "mm/px (row x col)", "region", "side", "patient / date")

#: Narrower consoles (an 80-column terminal, a file or pipe: rich's 80) get a block of lines per
#: file: the table's seven columns folded its paths and reasons into one word per line.
TABLE_WIDTH = 160


def print_table(rows: list[dict[str, Any]], *, console: Console | None = None) -> None:
    """Print the rows readably, rejected files with their reason: a table on a wide console, else
    a block of lines per file (its path, then what the table's columns say, one line each)."""
    console = console or Console()
    if console.width >= TABLE_WIDTH:
        table = Table(title=f"{len(rows)} file(s)", show_lines=False)
        for name in HEADERS:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(Text(cell, style=style) for cell, style in zip(_cells(row), _styles(row))))
        console.print(table)
    else:
        for row in rows:
            _print_block(row, console)
    for line in summary_lines(rows):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _print_block(row: dict[str, Any], console: Console) -> None:
    """A file's lines on a narrow console: its path; its status and image (or reason); then each
    other column that has a value, as ``name: value`` (long lines left to the terminal to wrap)."""
    path, status, image, *named = _cells(row)
    console.print(path, markup=False, highlight=False, soft_wrap=True)
    console.print(Text.assemble("  ", (status, _styles(row)[1]), ": ", image.replace("\n", ", ")), soft_wrap=True)
    for name, cell in zip(HEADERS[3:], named):
        if cell:
            console.print(f"  {name}: " + cell.replace("\n", "; "), markup=False, highlight=False, soft_wrap=True)


def _styles(row: dict[str, Any]) -> list[str]:
    """The colours of a row's cells: its status, and the calibration when there is none."""
    status = "green" if row["status"] == "ok" else "red"
    calibration = "yellow" if row["status"] == "ok" and not row["calibrated"] else ""
    return ["", status, "", calibration, "", "", ""]


def _cells(row: dict[str, Any]) -> list[str]:
    """A row's values under :data:`HEADERS`, plain text (shown as they are: a name such as
    ``ovary [left].dcm`` is not rich markup; a path, reason or PatientID holding an escape code
    or a line break shown escaped, :func:`~follicle_seg.errors.printable`: they reached the
    terminal as they were)."""
    path, who = printable(row["path"]), f"{printable(row.get('patient_id') or '-')} / {row.get('study_date') or '-'}"
    if row["status"] != "ok":  # whose image it is, when its header said
        side = row.get("laterality") or ""
        side += f" ({row['laterality_source']})" if side and row.get("laterality_source") else ""
        return [path, "rejected", printable(row["reason"]), "", "", side, who if row.get("sop_instance_uid") else ""]
    return [
        path,
        "ok",
        f"{row['modality']} {row['n_frames']} frame(s) {row['columns']}x{row['rows']}\n"
        f"{row['sop_class']}\n{row['photometric']}, {row['transfer_syntax']}",
        _calibration_text(row),
        f"{row['region']} ({row['region_source']})" + _panes_text(row),
        f"{row['laterality']} ({row['laterality_source']})",
        who,
    ]


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    """What an archive holds, in a few lines under the table: files accepted and rejected, what a
    run will flag (no calibration, no side), patients, visits and frames, and the rejections
    grouped by reason (:func:`reason_group`).

    Examples
    --------
    >>> ok = dict(status="ok", calibrated=True, laterality="L", patient_id="P1", study_instance_uid="1.2",
    ...           study_date="2026-01-05", n_frames=30, other_panes=[])
    >>> bad = dict(status="rejected", reason="not ultrasound: Modality is CT, expected US")
    >>> summary_lines([ok, dict(ok, calibrated=False, laterality="U", n_frames=1), bad])
    ['3 file(s): 2 ok, 1 rejected', 'ok: 1 patient(s), 1 visit(s), 31 frame(s); 1 uncalibrated, 1 side unknown', 'rejected: not ultrasound (1)']
    """
    accepted = [r for r in rows if r["status"] == "ok"]
    lines = [f"{len(rows)} file(s): {len(accepted)} ok, {len(rows) - len(accepted)} rejected"]
    if accepted:
        flags = [
            (sum(not r["calibrated"] for r in accepted), "uncalibrated"),
            (sum(r["laterality"] == "U" for r in accepted), "side unknown"),
            (sum(bool(r.get("other_panes")) for r in accepted), "dual display"),
        ]
        noted = [f"{n} {what}" for n, what in flags if n]
        lines.append(
            f"ok: {len({r['patient_id'] for r in accepted})} patient(s), "
            f"{len({(r['patient_id'], r['study_date']) for r in accepted})} visit(s), "  # a visit is a patient's day
            f"{sum(int(r['n_frames']) for r in accepted)} frame(s)" + (f"; {', '.join(noted)}" if noted else "")
        )
    kinds: dict[str, int] = {}
    for r in rows:
        if r["status"] != "ok":
            kind = reason_group(r["reason"])
            kinds[kind] = kinds.get(kind, 0) + 1
    if kinds:
        lines.append("rejected: " + ", ".join(f"{k} ({n})" for k, n in sorted(kinds.items(), key=lambda kn: (-kn[1], kn[0]))))
    return lines


def reason_group(reason: str) -> str:
    """What rejections are grouped by: a reason's words before its first ``": "``, without what is
    in brackets (tags, UIDs, SOP classes), with counts, sizes and UIDs as N; a number after a
    capitalised word or joined to a name is part of a name and kept (JPEG 2000, 3-D, MPEG-4,
    H.264, Level 4.1).

    Examples
    --------
    >>> reason_group("a 3-D volume (Enhanced US Volume Storage) is not analysed: export its planes")
    'a 3-D volume is not analysed'
    >>> reason_group("the JPEG 2000 codestream holds 3 colour components, the header says 1 sample per pixel (MONOCHROME2)")
    'the JPEG 2000 codestream holds N colour components, the header says N sample per pixel'
    >>> reason_group("transfer syntax MPEG-4 AVC/H.264 High Profile / Level 4.1 (1.2.840.10008.1.2.4.102) cannot be decoded: ...")
    'transfer syntax MPEG-4 AVC/H.264 High Profile / Level 4.1 cannot be decoded'
    >>> reason_group("image region 41x31 px (ultrasound_region) is smaller than 64 px")
    'image region N px is smaller than N px'
    """
    head = reason.split(": ", 1)[0]
    while (shorter := re.sub(r"\s*\([^()]*\)", "", head)) != head:  # (nested brackets: innermost first)
        head = shorter

    def counted(number: re.Match[str]) -> str:
        before = head[: number.start()].split()[-1:]
        return number.group() if before and before[0][0].isupper() else "N"

    head = re.sub(r"(?<![\w.\-/])\d+(?:[.x]\d+)*(?![\w\-])", counted, head)
    return " ".join(head.split()) or "unknown"


def _panes_text(row: dict[str, Any]) -> str:
    panes = row.get("other_panes") or []
    boxes = ", ".join(str(p["region"]) for p in panes)
    return f"\n+{len(panes)} pane(s): {boxes}" if panes else ""


def _calibration_text(row: dict[str, Any]) -> str:
    if not row["calibrated"]:
        return "uncalibrated"
    return (
        f"{row['spacing_row_mm']:.4g} x {row['spacing_col_mm']:.4g} ({row['calibration_source']})"
    )
