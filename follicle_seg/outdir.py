"""The output folder of a run: made and checked writable, locked for one run at a time, its
``run.log``, and the removal of what earlier runs left that must go (temporary files of a
killed run, per-image outputs of images analysed again, everything with ``--no-resume``).
"""

from __future__ import annotations

import logging
import os
import re
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from follicle_seg.errors import OutputError, one_line
from follicle_seg.intake import Input, withdrawn_uids
from follicle_seg.io.discover import shown
from follicle_seg.state import STATE_FILE

log = logging.getLogger("follicle_seg")


def remove_temporary(out: Path) -> None:
    """Remove the temporary files a killed run left (it died between writing and renaming one:
    an overlay's or a DICOM object's may carry the PatientID): atomic writes put them
    (``.<name>.<pid>.<hex>.tmp``) in OUT, the report's folders and the per-image outputs'
    folders. Only one run writes in ``out``."""
    from follicle_seg.artefacts import PER_IMAGE_OUTPUTS

    for folder in (".", "report", "report/figures", *sorted({folder for folder, *_ in PER_IMAGE_OUTPUTS})):
        for path in (out / folder).glob(".*.tmp"):
            path.unlink(missing_ok=True)


def prepare_out(out: Path) -> None:
    where = os.path.abspath(out)
    if shown(where) != where:  # a byte of its name is not UTF-8: the run's work was lost at its tables
        raise OutputError(f"{shown(str(out))}: --out's name is not valid UTF-8 (the tables' Parquet files cannot be "
                          "written under it): choose another folder")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out is a file, not a folder: give a folder for the run's outputs")
    probe = out / f".write_test_{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
    except OSError as exc:
        raise OutputError(f"{out}: output folder is not writable ({exc.strerror or exc})") from exc
    finally:  # (made, then not written on a full disk: it stayed in OUT)
        try:
            probe.unlink(missing_ok=True)
        except OSError:  # a folder that cannot be written (the error above says so) or read
            pass


class _RunLog(logging.FileHandler):
    """``run.log``; a line it cannot write (a full disk) is dropped without the traceback that
    logging prints to the console by default: the console's one-line error says why."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


def start_log(out: Path) -> logging.Handler:
    handler = _RunLog(out / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


@contextmanager
def warnings_logged() -> Iterator[None]:
    """Python warnings during a run (pydicom's on a header value out of its VR's rules, say) go
    to ``run.log``, each once, on one line, the values they quote left out: on the console they
    broke the progress bar and ``--quiet``, and a quoted value may be a patient's."""
    seen: set[str] = set()

    def to_log(message, category, filename, lineno, file=None, line=None) -> None:  # warnings' signature
        text = f"{category.__name__}: " + one_line(_QUOTED.sub("'...'", str(message)))
        if text not in seen:
            seen.add(text)
            log.warning("%s", text)

    before = warnings.showwarning
    warnings.showwarning = to_log
    try:
        yield
    finally:
        warnings.showwarning = before


#: A value a warning quotes: ``'1.5'``, ``"Doe^Jane"``.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


LOCK_FILE = ".run.lock"


@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` for the run (``OUT/.run.lock``, released by the system
    however the process ends): a second run into the same folder, say a scheduled one that
    starts before the last has finished, stops at once instead of analysing the same files and
    overwriting the tables under it. Where there is no ``fcntl`` (Windows) there is no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = out / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held by another process
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise OutputError(f"{out}: another follicle-seg run is writing here ({holder}); wait for it "
                              "to end, or choose another --out") from None
        except OSError as exc:  # a file system without locks (some network shares): run unlocked
            log.warning("%s: cannot lock the output folder (%s); runs into it are not kept apart", out, exc)
            yield
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def superseded(items: list[Input], stored: list[tuple[str, str, str, str]]) -> set[str]:
    """SOP instance UIDs whose per-image outputs this run's analyses replace: those of the files
    analysed now (changed, new or failed before) and of the earlier analyses of their paths, and
    the images a rejection note withdraws (:func:`~follicle_seg.intake.withdrawn_uids`: analysed under
    another path, one moved since), except the images this run resumes (analysed, not a rejected
    duplicate naming them) or analyses again only for outputs it lacks (``redone``: what it has
    stays should that fail)."""
    resumed = {(i.path, i.sha256) for i in items if i.done or i.redone}
    again = {i.path for i in items if not (i.done or i.redone)}
    kept = {uid for path, sha, uid, status in stored if (path, sha) in resumed and status == "ok"}
    earlier = {uid for path, _, uid, _ in stored if path in again}
    now = {i.record.sop_instance_uid for i in items if i.record is not None}
    return (earlier | now | withdrawn_uids(items)) - kept


def remove_tables(out: Path) -> None:
    """``--no-resume``: the tables and report of the earlier analysis go with its per-image
    outputs (its report thumbnails among them), so that a run killed before writing its own, or
    one with ``--no-report``, leaves no tables (and no report linking removed overlays, no
    figure named with a real PatientID beside pseudonymised tables, no worksheet of its
    follicles) of an analysis that is gone. ``review.csv``, the reviewer's, stays (a worksheet
    holding decisions not in it stopped the run before this)."""
    from follicle_seg.review import WORKSHEET_FILE
    from follicle_seg.visits import COLUMNS

    names = [*COLUMNS, "candidates", "review_reasons", "review_log"]
    tables = [out / f"{n}.{ext}" for n in names for ext in ("csv", "parquet")]
    pages = sorted((out / "report" / "patients").glob("*.html"))  # they link the removed overlays too
    figures = sorted((out / "report" / "figures").glob("*.png"))  # tracking_<page name>.png
    for path in [*tables, out / WORKSHEET_FILE, out / "report" / "index.html", *pages, *figures]:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(f"{path}: cannot remove an earlier output ({exc.strerror or exc})") from exc


def remove_outputs(out: Path, uids: set[str] | None = None, kinds: tuple[str, ...] | None = None) -> None:
    """Remove per-image outputs of earlier runs into ``out``: all of them (``--no-resume``), or
    those of ``uids`` (images analysed again, which may have other key frames and follicles),
    so that no overlay, crop or DICOM object of an earlier analysis (other weights, an older
    version of the file, or real PatientIDs before ``--pseudonymize``) is left beside the new
    ones. Those of files left out of a resumed run's inputs stay (a run of part of an archive
    deletes nothing of the rest); ``--no-resume`` removes them too. ``kinds`` (``overlays``,
    ``dicom``, ``masks``) limits it to those outputs."""
    from follicle_seg.artefacts import per_image_outputs

    if uids is not None and not uids:
        return
    removed = 0
    for path in per_image_outputs(out, uids, kinds):
        try:
            path.unlink()
            removed += 1
        except OSError as exc:
            raise OutputError(f"{path}: cannot remove an earlier output ({exc.strerror or exc})") from exc
    if removed:
        why = "--no-resume" if uids is None else "files analysed again or withdrawn"
        log.info("%s: %d per-image output(s) of earlier runs removed", why, removed)


def out_state(out: Path) -> Path:
    return Path(out) / STATE_FILE
