"""`follicle-seg run`: wires the stages for a batch of files, with bounded memory and resume.

Flow for each input file::

    header pass (sha256, read_record, duplicate check)     -- thread pool, in discovery order
    decode frames in chunks of --batch-size                 -- --workers threads, bounded queue
    segment a chunk (one batch; stills pooled by geometry) -> measure each frame
                                                            -- main thread (+ segmenter threads) / measurement threads
    last frame in: track the sweep, write overlays/masks/DICOM, record the result in SQLite
    all files done: tables from the run state, report

The header pass and the frame stream live in :mod:`follicle_seg.intake`, the segmenting and
finishing of files in :mod:`follicle_seg.engine`, the output folder's housekeeping (lock, log,
what earlier runs left) in :mod:`follicle_seg.outdir`. Everything that runs image codecs
(``read_record`` may decode a first frame to find the scan area; ``iter_frames``) runs in
``--workers`` child processes (:mod:`follicle_seg.isolation`): a codec that crashes or hangs in
C code fails that one file, with the reason, and the run goes on.

A file's result reaches the run-state store in one SQLite transaction after its outputs are
written, so ``kill -9`` at any moment followed by a rerun repeats at most the files in flight and
gives the same tables as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from follicle_seg import __version__
from follicle_seg.build import build_sha256
from follicle_seg.engine import DICOM_NOT_WRITTEN, Engine, load_segmenter
from follicle_seg.errors import FollicleSegError, ModelError, OutputError, os_reason, printable, said
from follicle_seg.filehash import file_sha256
from follicle_seg.intake import Anonymise, Input, duplicate_reason, header_pass, unchanged
from follicle_seg.interrupt import Terminated
from follicle_seg.io import discover
from follicle_seg.io.discover import as_inputs
from follicle_seg.isolation import WorkerPool
from follicle_seg.memory import bound_caches
from follicle_seg.model.metadata import network_definition, verified_sha256
from follicle_seg.model.paths import bundle_root_of
from follicle_seg.options import RunOptions, RunSummary, network_of, weights_of
from follicle_seg.outdir import (exclusive, out_state, prepare_out, remove_outputs, remove_tables, remove_temporary,
                                 start_log, superseded, warnings_logged)
from follicle_seg.privacy import load_key, pseudonym, pseudonymised_cohort
from follicle_seg.state import StateStore
from follicle_seg.types import ImageRecord, ImageResult, Network

if TYPE_CHECKING:
    import numpy as np

__all__ = ["INTERRUPTED", "RunOptions", "RunSummary", "read_timing", "run"]

log = logging.getLogger("follicle_seg")


TIMING = "run timing (s): "
"""How ``run.log``'s timing line begins (:func:`read_timing` reads it)."""


def read_timing(log_text: str) -> dict[str, float]:
    """The last timing line of a ``run.log`` as ``{phase: seconds}`` (empty when there is none).

    Examples
    --------
    >>> read_timing("x\\nINFO run timing (s): header pass 0.50, segmenting 3.25\\n")
    {'header pass': 0.5, 'segmenting': 3.25}
    """
    lines = [ln for ln in log_text.splitlines() if TIMING in ln]
    if not lines:
        return {}
    phases = lines[-1].split(TIMING, 1)[1].split(", ")
    return {name: float(value) for name, value in (p.rsplit(" ", 1) for p in phases)}


def _anonymiser(key: bytes | None) -> Anonymise:
    if key is None:
        return lambda whose: whose
    return lambda whose: replace(whose, patient_id=pseudonym(whose.patient_id, key))


#: Held by the run going on in this process: its run.log is a handler of the package's logger and
#: its warnings go there (``outdir.warnings_logged``), both process-wide.
_RUNNING = threading.Lock()


def run(inputs: str | Path | Iterable[str | Path], options: RunOptions, *, progress=None) -> RunSummary:
    """Analyse every DICOM file under `inputs` (files or folders; one path alone is one input);
    write tables, overlays, DICOM and report to ``options.out``.

    Raises `OutputError` / `FollicleSegError` only when the run itself cannot proceed; one run at a
    time in a process (its warnings go to its run.log: another thread's run would log into it).
    """
    if not _RUNNING.acquire(blocking=False):
        raise FollicleSegError("another run is going on in this process (another thread): each run.log would hold "
                               "the other's lines; run one after the other, or in separate processes")
    try:
        return _checked_run(inputs, options, progress)
    finally:
        _RUNNING.release()


def _checked_run(inputs: str | Path | Iterable[str | Path], options: RunOptions, progress) -> RunSummary:
    """The body of :func:`run`: its options and inputs checked before OUT is made, then the run."""
    t0 = time.perf_counter()
    inputs = as_inputs(inputs)
    if not inputs:
        raise FollicleSegError("no INPUT given: name the files or folders of the scans")
    missing = [str(p) for p in inputs if not os.path.lexists(p)]
    if missing:  # a mistyped INPUT: said before anything is made
        raise FollicleSegError(f"{', '.join(missing)}: no such file or folder")
    from follicle_seg.io.tables import read_cohort

    # options that cannot be used stop the run before OUT is made
    # a LocalCluster's workers (no --scheduler) segment on this machine too
    _check_device(options.device, here=options.executor == "local" or not options.scheduler)
    cohort = read_cohort(options.cohort) if options.cohort else None
    key = load_key(options.pseudonymize) if options.pseudonymize else None
    if options.whole_frames and options.pseudonymize:
        raise FollicleSegError("--whole-frames shows the text burned in around the scan area, a patient's name "
                               "perhaps: not with --pseudonymize")  # fmt: skip
    if options.weights is not None:
        _check_weights(Path(options.weights))
    out = Path(options.out)
    indexes: list[Path] = []  # DICOMDIR files: said, not analysed
    paths = list(discover(inputs, exclude=[out], indexes=indexes))
    if not paths:
        inside = [str(i) for i in inputs if Path(os.path.realpath(i)).is_relative_to(os.path.realpath(out))]
        if inside:  # its files are the outputs of runs, never inputs
            raise FollicleSegError(f"{', '.join(inside)} is the output folder (--out {out}) or inside it: "
                                   "give the folder of the scans as INPUT and another --out")  # fmt: skip
        raise FollicleSegError(f"no files found under {', '.join(map(str, inputs))}")
    bound_caches()  # keeps peak memory flat over thousands of files
    prepare_out(out)
    with exclusive(out), warnings_logged():
        handler = start_log(out)
        try:
            remove_temporary(out)
            return _run(inputs, paths, replace(options, out=out), cohort, key, progress, t0, indexes)
        except FollicleSegError as exc:  # said in run.log too, not only on the console
            log.error("run stopped: %s", exc)
            raise
        except KeyboardInterrupt as exc:
            log.warning("run %s: %s", "stopped (SIGTERM)" if isinstance(exc, Terminated) else "interrupted",
                        INTERRUPTED)
            raise
        finally:
            log.removeHandler(handler)
            handler.close()


def _check_weights(weights: Path) -> None:
    """``--weights``: a file of a bundle whose metadata holds its sha256 (checked again when loaded)
    and whose ``configs/inference.json``, if any, can be read (its ``network_def`` is in the
    analysis identity: :func:`~follicle_seg.options.network_of`)."""
    if weights.is_dir():
        inside = weights / "models" / "model.pt"
        hint = f"; give the bundle's weights file, {inside}" if inside.is_file() else ", not a weights file (models/model.pt of a bundle)"
        raise FollicleSegError(f"--weights {weights}: a folder{hint}")
    if not weights.is_file():
        raise FollicleSegError(f"--weights {weights}: no such file")
    try:
        verified_sha256(weights)
        network_definition(bundle_root_of(weights))
    except ModelError as exc:
        raise ModelError(f"--weights {exc}") from None


CARRIED = "worksheet decisions carried from review.csv"  # (a run-state note)
REDOING = "analysed again for outputs: "  # + path: the outputs a file is analysed again for (a run-state note)
DRAWN_IN_SWEEP = "drawn as a frame of a sweep: "  # + kind + " " + SOP UID: "place,files" its overlay or SR says (a run-state note)
#: The outputs that say a still's place in its sweep (kinds of :data:`~follicle_seg.artefacts.OUTPUT_KINDS`).
PLACED_KINDS = ("overlays", "dicom")
INTERRUPTED = "the files finished are kept; the same command goes on where it stopped"


def _analysis_identity(network: Network, key: bytes | None) -> dict[str, str]:
    """What makes two runs' results comparable: the network's weights and the ``network_def``
    that builds it from them, the package version and the source of the modules that shape a
    stored result (:mod:`follicle_seg.build`; the version number alone stayed 0.1.0 through every
    change of the analysis), and the pseudonymisation key (a pseudonym of a fixed text stands for
    it; the key is never kept)."""
    return {
        "weights": network.weights_sha256,
        "network_def": network.network_def,
        "follicle_seg": __version__,
        "follicle_seg source": build_sha256()[:16],
        "pseudonyms": pseudonym("run state", key) if key is not None else "none",
    }


def _described(options: RunOptions, inputs: list, network: Network, source: str) -> list[str]:
    """What run.log keeps of how a run was made (the audit trail of its tables): its inputs, its
    outputs and options, the program's version and ``source`` hash, and the network's (its bundle
    version and the first 16 hex digits of its weights' SHA-256)."""
    outputs = [name for name, on in (("overlays", options.overlays), ("dicom", options.dicom), ("report", options.report),
                                     ("masks", options.save_masks), ("whole frames", options.whole_frames)) if on]  # fmt: skip
    return [
        "inputs: " + ", ".join(printable(os.path.abspath(p)) for p in inputs),
        f"follicle_seg {__version__} (source {source}); network {network.version}, weights {printable(str(weights_of(options)))} "
        f"(sha256 {network.weights_sha256}{'' if options.weights else ', shipped'}), network_def {network.network_def}",
        f"options: device {options.device}, batch size {options.batch_size}, workers {options.workers}, "
        f"executor {options.executor}, {'resume' if options.resume else 'no resume'}, "
        f"{'pseudonymised' if options.pseudonymize else 'not pseudonymised'}, "
        f"cohort {printable(str(options.cohort or 'none'))}, outputs: {', '.join(outputs) or 'tables only'}",
    ]


def _left_out(stored: set[tuple[str, str]], items: list[Input]) -> list[str]:
    """Files an earlier run analysed into this folder that are not among this run's inputs (by
    path, nor by content: a file moved or renamed is recognised), in path order: the tables hold
    the inputs of the command that wrote them, so their rows are left out."""
    paths, contents = {i.path for i in items}, {i.sha256 for i in items}
    return sorted({path for path, sha in stored if path not in paths and (not sha or sha not in contents)})


def _run(inputs: list, paths: list, options: RunOptions, cohort, key: bytes | None, progress, t0: float,
         indexes: list[Path]) -> RunSummary:
    from follicle_seg.report.reviewed_sr import analysed_again, note_srs_on_disk, under_review, write_reviewed_srs
    from follicle_seg.review import NOT_APPLIED, REVIEW_FILE, WORKSHEET_FILE, Review, ReviewError, unreviewed
    from follicle_seg.series import named_in_sweeps
    from follicle_seg.studyday import on_study_day
    from follicle_seg.visits import build_tables, cohort_mismatches

    review = Review.read(options.out / REVIEW_FILE)
    anonymise = _anonymiser(key)
    if cohort is not None and key is not None:
        cohort = pseudonymised_cohort(cohort, key)
    store = StateStore(out_state(options.out)) if options.resume else StateStore.remade_if_corrupt(out_state(options.out))
    try:
        _check_worksheet(options.out / WORKSHEET_FILE, review, store)
    except ReviewError:
        store.close()
        raise
    summary = RunSummary(out=options.out, inputs=len(paths))
    decoders = WorkerPool(options.workers, timeout=options.decode_timeout_s) if options.isolate else None
    try:
        if not options.resume:  # (after the worksheet check, which may stop the run)
            store.reset()
            note_srs_on_disk(options.out, store)  # (the run state's notes outlive --no-resume; dicom/ does not)
            remove_outputs(options.out)
            remove_tables(options.out)
        network = network_of(options)  # (its weights hashed once a run)
        identity = _analysis_identity(network, key)
        store.check_analysis(identity)
        log.info("run started: %d files under %d input path(s)", len(paths), len(inputs))
        for line in _described(options, inputs, network, identity["follicle_seg source"]):
            log.info("%s", line)
        for index in indexes:
            log.info("%s", said(str(index), "a DICOMDIR (an index of the folder's files, read themselves): not analysed"))
        t = time.perf_counter()
        items = header_pass(paths, store, anonymise, options.workers, decoders)
        summary.left_out = _left_out(store.keys(), items)
        if summary.left_out:
            log.warning("%d file(s) analysed into %s by earlier runs are not among this run's inputs: "
                        "their rows are left out of the tables", len(summary.left_out), options.out)  # fmt: skip
            for path in summary.left_out:
                log.info("%s", said(path, "not among this run's inputs"))
        drawn = {kind: store.notes(f"{DRAWN_IN_SWEEP}{kind} ") for kind in PLACED_KINDS}
        reviewed_uids = under_review(store)
        earlier = _resumed(items, store)
        if options.resume:
            items = _short_of_outputs(items, store, options, anonymise, decoders)
            items = _moved_in_sweeps(items, earlier, options, drawn, anonymise, decoders)
        # the files of one study on one day before anything is drawn: overlays named and headed as
        # the tables will place them (a ContentDate after midnight named a visit of its own)
        days = _study_days(items, earlier)
        if options.resume:
            items = _moved_in_days(items, earlier, days, options, anonymise, decoders)
            remove_outputs(options.out, superseded(items, store.sop_uids()))
        timing = {"header pass": time.perf_counter() - t}
        items = [replace(i, record=on_study_day(i.record, days)) if i.record is not None else i for i in items]
        items = _placed_in_sweeps(items, earlier)
        del earlier  # (every resumed file's result: not held while the others are analysed)
        summary.resumed = sum(i.done for i in items)
        decided = [i for i in items if i.result is not None]
        todo = [i for i in items if i.record is not None]

        statuses: dict[str, str] = {}

        def on_result(item: Input, result: ImageResult) -> None:
            if item.redone and result.status != "ok":  # its earlier result and outputs stand
                log.warning("%s", said(item.path, f"{', '.join(item.redone)} not made ({result.reason}); "
                                                  "the result of the earlier run stands"))
                result = store.results({(item.path, item.sha256)})[0]
                if result.record is not None:  # what it drew of them goes: part of a sweep's would pass for all
                    remove_outputs(options.out, {result.record.sop_instance_uid}, kinds=item.redone)
                store.forget(REDOING + item.path)
                statuses[item.path] = result.status
                if progress:
                    progress.file_done(result)
                return
            if item.result is None and (result.status != "ok" or not unchanged(item)):
                result = _changed_since_hashed(item, result)
            if item.result is None and result.status == "failed" and result.record is not None:
                # what it drew before it failed (or of a file changed while read) goes with it
                remove_outputs(options.out, {result.record.sop_instance_uid})
            if result.status == "ok" and result.record is not None:  # the place its outputs say, for the next run
                uid = result.record.sop_instance_uid
                for kind in _placing(item.redone or PLACED_KINDS, options, result):  # only those drawn now
                    if item.in_sweep:
                        store.note(f"{DRAWN_IN_SWEEP}{kind} {uid}", _place_text(item.in_sweep))
                    elif uid in drawn[kind]:
                        store.forget(f"{DRAWN_IN_SWEEP}{kind} {uid}")
                if item.result is None and options.dicom and uid in reviewed_uids:  # the network's SR and SEGs written now
                    analysed_again(store, uid)
            store.record(item.sha256, result)
            if item.redone:
                store.forget(REDOING + item.path)
            statuses[item.path] = result.status
            if result.status == "ok":
                assert result.record is not None  # (an analysed file's result has its record)
                summary.frames += result.record.n_frames
            if result.status != "ok":
                log.warning("%s", said(item.path, result.reason))
            if progress:
                progress.file_done(result)

        for item in decided:
            assert item.result is not None  # (``decided``: the header pass gave its result)
            on_result(item, item.result)
        if progress:
            progress.start(total_files=len(paths), done=summary.resumed + len(decided),
                           total_frames=sum(i.record.n_frames * i.record.n_panes
                                            for i in todo if i.record is not None))  # fmt: skip
        if todo:
            summary.device = _execute(todo, options, on_result, progress, decoders, timing)
        duplicates = decided
        while stand_ins := _stand_ins(duplicates, statuses, days):  # the next run would analyse them: this one does
            log.info("%d duplicate(s) analysed in place of a copy that could not be", len(stand_ins))
            if progress:  # (counted done as duplicates)
                progress.again(files=len(stand_ins), frames=sum(i.record.n_frames * i.record.n_panes
                                                                for i in stand_ins if i.record is not None))  # fmt: skip
            summary.device = _execute(stand_ins, options, on_result, progress, decoders, timing) or summary.device
            duplicates = _left_to(stand_ins, duplicates, decoders)
            for item in duplicates:  # each names the copy analysed now (or tried: the next round's)
                assert item.result is not None  # (a duplicate's row)
                store.record(item.sha256, item.result)
        t = time.perf_counter()
        keys = {(i.path, i.sha256) for i in items}  # "" for a file that could not be read
        results = store.results(keys)
        try:
            tables = build_tables(results, cohort, review)
        except ReviewError as exc:
            raise ReviewError(f"{exc} (the analysis is kept: correct the review and run again)") from None
        for note in cohort_mismatches(tables["images"], tables["ovaries"], cohort):
            summary.cohort_notes.append(note)
            log.warning("%s: %s", options.cohort or "baseline", note)
        if review.decisions:
            aside = review.set_aside_lines
            by_note = {line for line, (_, why) in aside.items() if why.startswith(NOT_APPLIED)}
            summary.review = f"{review.path}: {len(review.decisions) - len(aside)} decisions applied" + "".join(
                f", {n} set aside: {why}" for n, why in (
                    (len(by_note), "their images withdrawn by a rejection note"),
                    (len(aside) - len(by_note), "another line confirms their ovary-visit as it now is")) if n
            ) + (" (run.log)" if aside else "")  # fmt: skip
            log.info("%s", summary.review)
            for d in (d for d in review.decisions if d.line in aside):
                log.info("%s line %d: %s: %s%s", review.path, d.line, d.decision, aside[d.line][1],
                         "; it applies again once the note is removed" if d.line in by_note else "")  # fmt: skip
        else:  # a review log of an earlier review that is gone would mislead
            for stale in ("review_log.csv", "review_log.parquet"):
                (options.out / stale).unlink(missing_ok=True)
            summary.review = unreviewed(review, options.out)  # a review saved under another name, say
            if summary.review:
                log.warning("%s", summary.review)
        # each still of a sweep of single-frame files -> the one naming its follicles (one tracking
        # for the reviewed SRs and overlays)
        named = named_in_sweeps(review.sided(results)) if review.decisions else {}
        if review.decisions or under_review(store):
            try:
                places = {uid: _place(text) for uid, text in store.notes(f"{DRAWN_IN_SWEEP}dicom ").items()}
                rewritten, left = write_reviewed_srs(options.out, results, review, store, places=places,
                                                     network=network, pseudonymised=options.pseudonymize is not None,
                                                     named=named)  # fmt: skip
            except OSError as exc:  # the run state's notes
                raise OutputError(f"{options.out}: cannot write the reviewed DICOM SRs and SEGs ({os_reason(exc)})") from exc
            if rewritten:
                log.info("%d image(s)' DICOM SR and SEG(s) written again as the review decides them", rewritten)
            for line in left:  # follicle-seg send would store the network's finding
                summary.output_problems.append(line)
                log.warning("%s", line)
        summary.needs_review = _write_outputs(options, tables, results, review, store, decoders, summary.cohort_notes,
                                              named)  # fmt: skip
        timing["tables and report"] = time.perf_counter() - t
    finally:
        store.close()
        if decoders is not None:
            decoders.close()
    for r in results:
        setattr(summary, r.status, getattr(summary, r.status) + 1)
        if r.status != "ok":
            summary.rejected_reasons.append(said(r.path, r.reason))
        elif r.said:  # images.csv's reason of an ok row
            summary.output_problems.append(said(r.path, r.said))
    summary.seconds = time.perf_counter() - t0
    log.info("%s%s", TIMING, ", ".join(f"{k} {v:.2f}" for k, v in timing.items()))
    log.info("run finished: %s", summary.line())
    return summary


def _check_worksheet(sheet: Path, review, store: StateStore) -> None:
    """A worksheet edited since this program wrote it (its hash kept in the run state) may hold a
    review typed into it: :func:`~follicle_seg.review.unsaved_decisions` says whether it would be lost."""
    from follicle_seg.review import unsaved_decisions

    if sheet.is_file() and store.noted(sheet.name) != file_sha256(sheet):
        unsaved_decisions(sheet, review, carried=json.loads(store.noted(CARRIED) or "[]"))


def _write_outputs(options: RunOptions, tables: dict, results: list[ImageResult], review, store: StateStore,
                   decoders: WorkerPool | None, notes: list[str], named: dict) -> int:
    """The tables, the review outputs (reviewed overlay copies, whole frames, the worksheet) and
    the report (with ``notes``, the cohort file against the scans); returns how many ovary-visits
    need review. ``named``: :func:`~follicle_seg.series.named_in_sweeps` of the results as reviewed."""
    from follicle_seg.io.tables import write_csv, write_tables
    from follicle_seg.review import WORKSHEET_FILE, content, worksheet

    # what a full disk or a read-only file stopped, said (the tables and worksheet say their own)
    stage = "the reviewed overlays or whole frames"
    try:
        write_tables(tables, options.out)
        overlays, frames = None, {}
        # (reviewed copies and whole frames of an earlier run are made again even when this one
        # draws nothing: they must follow the review)
        if options.overlays or options.report or any((options.out / "overlays" / d).is_dir() for d in ("reviewed", "frames")):
            from follicle_seg.report.reviewed import write_reviewed
            from follicle_seg.report.thumbnails import scan_overlays
            from follicle_seg.report.whole_frames import write_whole_frames

            analysed = tables["images"].loc[tables["images"]["status"] == "ok", "sop_instance_uid"]
            overlays = scan_overlays(options.out / "overlays", analysed)  # (a failed file's drawn: none)
            overlays = write_reviewed(options.out / "overlays", overlays, results, review, tables, named)
            if options.whole_frames or (options.out / "overlays" / "frames").is_dir():  # (those of images since sided go)
                draw = _whole_frame(decoders) if options.whole_frames else None
                frames = write_whole_frames(options.out / "overlays", tables["images"], draw)
        sheet = worksheet(tables, overlays, review, frames)
        sheet_path = options.out / WORKSHEET_FILE
        write_csv(sheet, sheet_path)
        store.note(WORKSHEET_FILE, file_sha256(sheet_path))
        store.note(CARRIED, json.dumps([content(d) for d in review.decisions]))  # what it carried from review.csv
        if options.report:
            from follicle_seg.report.html import write_report

            stage = "the report"
            from follicle_seg.series import sweep_files

            # the sweeps stored one file per frame, as the tables join them
            sweeps = sweep_files(r.record for r in results if r.status == "ok" and r.record is not None)
            write_report(options.out, tables, overlay_index=overlays, sheet=sheet, notes=notes, sweeps=sweeps)
    except OSError as exc:
        raise OutputError(f"{options.out}: cannot write {stage} ({os_reason(exc)})") from exc
    return int(tables["ovaries"]["needs_review"].fillna(False).sum())


def _whole_frame(decoders: WorkerPool | None) -> Callable[[str], np.ndarray]:
    """A file's whole first frame, grey, decoded in an isolated process when there are some."""
    from follicle_seg.io.dicom import whole_frame

    return whole_frame if decoders is None else lambda path: decoders.call(whole_frame, path)


def _stand_ins(decided: list[Input], statuses: dict[str, str], days: dict[tuple[str, str], str]) -> list[Input]:
    """Duplicates whose SOP instance's chosen copy ended rejected or failed in this run (a copy
    that cannot be decoded), one per SOP instance, to be analysed in its place, on its study's day
    (``days``, as the files analysed: its overlays were named and headed with its own)."""
    from follicle_seg.studyday import on_study_day

    stand_ins, taken = [], set()
    for item in decided:
        record = item.result.record if item.result is not None else None
        if not item.duplicate_of or record is None or statuses.get(item.duplicate_of, "ok") == "ok":
            continue
        if record.sop_instance_uid not in taken:
            taken.add(record.sop_instance_uid)
            stand_ins.append(replace(item, record=on_study_day(record, days), result=None, duplicate_of=""))
    return stand_ins


def _left_to(stand_ins: list[Input], aside: list[Input], decoders: WorkerPool | None) -> list[Input]:
    """The duplicates among ``aside`` of the SOP instances ``stand_ins`` were analysed for, other
    than those, each rejected as a duplicate of its SOP instance's stand-in (their reasons named
    the copy that could not be analysed)."""
    by_sop = {i.record.sop_instance_uid: i for i in stand_ins if i.record is not None}
    left = []
    for item in aside:
        if item.result is None or item.result.record is None or not item.duplicate_of:
            continue
        sop = item.result.record.sop_instance_uid
        if (stand_in := by_sop.get(sop)) is not None and stand_in.path != item.path:
            reason = duplicate_reason(sop, item.path, item.sha256, stand_in.path, stand_in.sha256, decoders)
            left.append(replace(item, result=replace(item.result, reason=reason), duplicate_of=stand_in.path))
    return left


def _placed_in_sweeps(items: list[Input], earlier: dict[str, ImageResult]) -> list[Input]:
    """``items``, each still to analyse that is a frame of a sweep stored one file per frame given
    its place in it (:func:`~follicle_seg.series.sweep_places`), so that its overlay says so: the
    tables join those stills (an overlay said "still image" of each). The stills of the sweep an
    earlier run analysed count too (a run resumed after an interruption). A duplicate is placed
    as its SOP instance: it is analysed in place of a copy that cannot be (:func:`_stand_ins`),
    and was drawn as "still image"."""
    if not any(i.record.n_frames == 1 and i.record.acquired_s is not None for i in items if i.record is not None):
        return items
    places = _sweep_places(items, _done_ok(items, earlier))

    def placed(item: Input) -> Input:
        rec = item.record or (item.result.record if item.duplicate_of and item.result is not None else None)
        return replace(item, in_sweep=places.get(rec.sop_instance_uid)) if rec is not None else item

    return [placed(i) for i in items]


def _moved_in_sweeps(items: list[Input], earlier: dict[str, ImageResult], options: RunOptions,
                     drawn: dict[str, dict[str, str]], anonymise, decoders) -> list[Input]:
    """``items``, the resumed stills whose place in a sweep stored one file per frame is not the
    one their overlay and SR say (:data:`DRAWN_IN_SWEEP`) turned back into files to analyse for
    those outputs: a file of the sweep added or removed since (an overlay of 6 said "file 3 of 6
    of a sweep" once the sweep had 7 files)."""
    from follicle_seg.intake import reread

    if not (options.overlays or options.dicom):
        return items
    done = _done_ok(items, earlier)
    stills = [r for r in done if r.analysed_record().n_frames == 1]
    if not stills:
        return items
    places = _sweep_places(items, done)
    moved: dict[str, tuple[str, ...]] = {}
    for r in stills:
        uid = r.analysed_record().sop_instance_uid
        place = places.get(uid)
        said = _place_text(place) if place else None
        kinds = tuple(k for k in _placing(PLACED_KINDS, options, r) if drawn[k].get(uid) != said)
        if kinds:
            moved[r.path] = kinds
    if moved:
        log.info("%d resumed still(s) analysed again: their place in a sweep changed since their overlays were drawn",
                 len(moved))  # fmt: skip
    return [reread(i, moved[i.path], anonymise, decoders) if i.done and i.path in moved else i for i in items]


def _resumed(items: list[Input], store: StateStore) -> dict[str, ImageResult]:
    """The stored results of the items an earlier run finished (``done``), by path: read once, for
    their study days (:func:`_study_days`) and their places in sweeps (:func:`_done_ok`)."""
    done = {(i.path, i.sha256) for i in items if i.done}
    return {r.path: r for r in store.results(done)} if done else {}


def _done_ok(items: list[Input], earlier: dict[str, ImageResult]) -> list[ImageResult]:
    """The ok results of the items still resumed (``earlier``: :func:`_resumed`; their stills count
    in their sweeps)."""
    found = (earlier.get(i.path) for i in items if i.done)
    return [r for r in found if r is not None and r.status == "ok" and r.record is not None]


def _study_days(items: list[Input], earlier: dict[str, ImageResult]) -> dict[tuple[str, str], str]:
    """The day of each study (:func:`~follicle_seg.studyday.study_days`) from the files whose
    results the tables will hold, as the tables decide it (:func:`~follicle_seg.visits.build_tables`
    over every result with a record): the record of each file to analyse, of each the header pass
    rejected after reading its header (a duplicate, an image a rejection note withdraws: its
    result's), and the stored result's of each an earlier run finished (``earlier``:
    :func:`_resumed`). A resumed run decided it from the files it analysed alone: a file added to a
    study of an earlier run was drawn on its own day, its rows on the study's."""
    from follicle_seg.studyday import study_days

    def record_of(item: Input) -> ImageRecord | None:
        if item.record is not None:
            return item.record
        if item.result is not None:
            return item.result.record
        stored = earlier.get(item.path) if item.done else None
        return stored.record if stored is not None else None

    return study_days(rec for rec in map(record_of, items) if rec is not None)


def _moved_in_days(items: list[Input], earlier: dict[str, ImageResult], days: dict[tuple[str, str], str],
                   options: RunOptions, anonymise, decoders) -> list[Input]:
    """``items``, the resumed files whose overlays name and head another day than their study's
    now (``days``: a file of the study added since moved it: B analysed alone on its
    ContentDate, then A of the day before came) analysed again for their overlays, on the day now
    (:func:`_moved_in_sweeps` does so for a still's place in its sweep). Their overlays of the old
    day are removed first (an overlay's name holds the day: the new one beside the old, the report
    showed both); should the analysis fail, its earlier result stands without overlays, which the
    next run makes (a file analysed again for outputs it lacks loses those it made of them then
    too). Judged by the day their file names give
    (:func:`~follicle_seg.report.overlay_files.named_day`), so that a run without overlays leaves
    them to the next run that draws them."""
    from follicle_seg.intake import reread
    from follicle_seg.report.overlay_files import named_day, overlay_filename
    from follicle_seg.report.thumbnails import scan_overlays
    from follicle_seg.studyday import on_study_day

    if not options.overlays or not earlier:
        return items
    found = scan_overlays(options.out / "overlays", (r.record.sop_instance_uid for r in earlier.values() if r.record))
    names: dict[str, list[str]] = {}
    for uid, name in zip(found["sop_instance_uid"], found["file"]):
        names.setdefault(uid, []).append(name)
    moved: dict[str, str] = {}  # path: SOP instance UID
    for item in items:
        stored = earlier.get(item.path)
        if not (item.done or item.redone) or stored is None or stored.status != "ok" or stored.record is None:
            continue
        placed = on_study_day(stored.record, days)
        day = named_day(overlay_filename(placed, 0))
        if any(named_day(name) != day for name in names.get(placed.sop_instance_uid, [])):
            moved[item.path] = placed.sop_instance_uid

    def redrawn(item: Input) -> Input:  # (one analysed again for other outputs already: for these too)
        if item.path not in moved or "overlays" in item.redone:
            return item
        return reread(item, ("overlays",), anonymise, decoders) if item.done else replace(
            item, redone=(*item.redone, "overlays"))

    items = [redrawn(i) for i in items]
    uids = {moved[i.path] for i in items if i.path in moved and "overlays" in i.redone}  # (not: its header unread now)
    if uids:
        log.info("%d resumed file(s) analysed again: their study's day moved since their overlays were named",
                 len(uids))  # fmt: skip
        remove_outputs(options.out, uids, kinds=("overlays",))
    return items


def _sweep_places(items: list[Input], done: list[ImageResult]) -> dict[str, tuple[int, int]]:
    """Each still's place in its sweep (:func:`~follicle_seg.series.sweep_places`) among the
    items' records and the finished results'."""
    from follicle_seg.series import sweep_places

    return sweep_places([*(i.record for i in items if i.record is not None), *(r.analysed_record() for r in done)])


def _placing(kinds: tuple[str, ...], options: RunOptions, result: ImageResult) -> tuple[str, ...]:
    """Of ``kinds``, the outputs that say a still's place which this run draws for ``result``: its
    overlays, its SR (not when its DICOM could not be written)."""
    on = {"overlays": options.overlays, "dicom": options.dicom and not result.reason.startswith(DICOM_NOT_WRITTEN)}
    return tuple(k for k in kinds if on.get(k, False))


def _place_text(place: tuple[int, int]) -> str:
    """A still's place in its sweep as :data:`DRAWN_IN_SWEEP` keeps it."""
    return f"{place[0]},{place[1]}"


def _place(text: str) -> tuple[int, int]:
    """A still's place in its sweep from :func:`_place_text`'s ``text``."""
    place, files = text.split(",")
    return int(place), int(files)


def _check_device(device: str, here: bool = True) -> None:
    """Refuse a device the run could not use before anything is read: not a device name, or
    ``cuda`` without a GPU when the run segments ``here`` (the workers of a Dask cluster given by
    ``--scheduler`` may have the GPU this machine lacks). ``auto`` and ``cpu`` need no torch import here."""
    if device in ("auto", "cpu"):
        return
    if not re.fullmatch(r"cuda(:\d+)?", device):
        raise FollicleSegError(f"--device {device}: device must be 'auto', 'cpu' or 'cuda[:N]'")
    if not here:
        return
    from follicle_seg.model.infer import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise FollicleSegError(f"--device {device}: {exc}") from None


def _changed_since_hashed(item: Input, result: ImageResult) -> ImageResult:
    """A file that could not be analysed, or whose size, time or inode moved while it was read,
    checked against the hash taken before it was read: one changed or removed since (truncated by
    a copy still going, another file renamed over it by a sync job) is ``failed``, read again next
    run, not rejected for good, nor recorded ``ok`` with the header of one file and the pixels of
    another."""
    try:
        now = file_sha256(item.path)
    except OSError:
        now = ""
    if now == item.sha256:
        return result
    what = "removed" if not now else "changed"
    why = f" ({result.reason})" if result.reason else ""
    return replace(result, status="failed",
                   reason=f"the file was {what} while it was being read{why}; it is read again next run")


def _short_of_outputs(items: list[Input], store: StateStore, options: RunOptions, anonymise, decoders) -> list[Input]:
    """``items``, the resumed files that lack an output this run asks for turned back into files
    to analyse: a run with ``--save-masks`` (or DICOM, or overlays) after one without, or after
    those outputs were deleted, resumed them and wrote none (an interrupted ``--no-dicom`` run
    left ``send`` part of a study). Their results come out the same; their outputs are made. A
    file whose DICOM SEG/SR could not be written is not tried again for it. Each is noted in the
    run state (:data:`REDOING`) until its result comes: a run stopped meanwhile (a full disk, Ctrl-C)
    left part of a sweep's masks, which passed for all of them; the next run makes them again."""
    from follicle_seg.artefacts import images_with_outputs
    from follicle_seg.intake import reread
    from follicle_seg.report.overlay_files import uid_token

    wanted = [kind for kind, on in (("overlays", options.overlays), ("dicom", options.dicom),
                                    ("masks", options.save_masks)) if on]  # fmt: skip
    done = {(i.path, i.sha256) for i in items if i.done}
    if not wanted or not done:
        return items
    have = images_with_outputs(options.out)
    short: dict[str, tuple[str, ...]] = {}
    redoing = store.notes(REDOING)  # redos stopped before their result came
    for path, uid, reason in store.analysed(done):  # (the stored results are not decoded)
        keys = {uid, uid_token(uid)}
        needed = [k for k in wanted if not (k == "dicom" and reason.startswith(DICOM_NOT_WRITTEN))]
        unfinished = redoing.get(path, "").split(",")
        if lacking := tuple(k for k in needed if not keys & have[k] or k in unfinished):
            short[path] = lacking
            store.note(REDOING + path, ",".join(lacking))
    if short:
        lacked = sorted({k for kinds in short.values() for k in kinds})
        log.info("%d resumed file(s) analysed again for outputs they lack (%s)", len(short), ", ".join(lacked))
    return [reread(i, short[i.path], anonymise, decoders) if i.done and i.path in short else i for i in items]


def _execute(
    todo: list[Input], options: RunOptions, on_result, progress, decoders: WorkerPool | None, timing: dict[str, float]
) -> str:
    """Analyse ``todo``; returns the device(s) used, with their precision (``Segmenter.runs_on``).
    A local run adds its model load and main thread times
    (:data:`~follicle_seg.engine.MAIN_THREAD_TIMES`) to ``timing``; a Dask run its time on the cluster."""
    t = time.perf_counter()
    if options.executor == "dask":
        from follicle_seg.distributed import run_on_dask

        device = run_on_dask(todo, options, on_result, progress.frames_done if progress else None)
        timing["on the cluster"] = time.perf_counter() - t
        return device
    segmenter = load_segmenter(options)
    timing["model load"] = time.perf_counter() - t
    engine = Engine(options, segmenter, on_frames=progress.frames_done if progress else None)
    try:
        engine.process(todo, on_result, decoders)
    except BaseException:
        engine.close(cancel=True)
        raise
    else:
        engine.close()
    finally:
        timing.update(engine.seconds)
    return segmenter.runs_on
