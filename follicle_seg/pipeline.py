"""`follicle-seg run`: wires the stages for a batch of files, with bounded memory and resume.

Flow for each input file::

    header pass (sha256, read_record, duplicate check)     -- thread pool, in discovery order
    decode frames in chunks of --batch-size                 -- --workers threads, bounded queue
    segment a chunk (one batch; stills pooled by geometry) -> measure each frame
                                                            -- main thread (+ segmenter threads) / measurement threads
    last frame in: track the sweep, write overlays/masks/DICOM, record the result in SQLite
    all files done: tables from the run state, report

The header pass and the frame stream live in :mod:`follicle_seg.intake`. Everything that runs
image codecs (``read_record`` may decode a first frame to find the scan area; ``iter_frames``)
runs in ``--workers`` child processes (:mod:`follicle_seg.isolation`): a codec that crashes or
hangs in C code fails that one file, with the reason, and the run goes on.

A file's result reaches the run-state store in one SQLite transaction after its outputs are
written, so ``kill -9`` at any moment followed by a rerun repeats at most the files in flight and
gives the same tables as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from follicle_seg import __version__
from follicle_seg.analyse import FileAnalysis, analyse_frame
from follicle_seg.errors import FollicleSegError, OutputError, RejectedInput
from follicle_seg.intake import END, Input, chunks, header_pass, stream_frames
from follicle_seg.io import discover
from follicle_seg.isolation import WorkerFailed, WorkerPool
from follicle_seg.memory import bound_caches
from follicle_seg.privacy import load_key, pseudonym
from follicle_seg.filehash import file_sha256
from follicle_seg.state import STATE_FILE, StateStore
from follicle_seg.types import Frame, ImageRecord, ImageResult

log = logging.getLogger("follicle_seg")


@dataclass(frozen=True)
class RunOptions:
    """Settings of one batch run (the `run` command's options)."""

    out: Path
    cohort: Path | None = None
    device: str = "auto"
    batch_size: int = 8
    workers: int = 2
    resume: bool = True
    save_masks: bool = False
    overlays: bool = True
    dicom: bool = True
    report: bool = True
    # the whole first frame of each image of unknown side, for its side line of the worksheet:
    # off by default, since a machine's text around the scan area may hold the patient's name
    whole_frames: bool = False
    weights: Path | None = None
    pseudonymize: Path | None = None
    isolate: bool = True  # codecs in child processes (a crash or hang fails one file, not the run)
    decode_timeout_s: float = 300.0  # per chunk of frames, when isolated
    executor: str = "local"  # "local" | "dask"
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in ("local", "dask"):
            raise ValueError(f"executor must be 'local' or 'dask', not {self.executor!r}")
        if self.batch_size < 1 or self.workers < 1:
            raise ValueError(f"batch_size and workers must be at least 1 (got {self.batch_size}, {self.workers})")


@dataclass
class RunSummary:
    out: Path
    inputs: int = 0
    ok: int = 0
    rejected: int = 0
    failed: int = 0
    resumed: int = 0
    frames: int = 0
    seconds: float = 0.0
    device: str = ""
    rejected_reasons: list[str] = field(default_factory=list)
    needs_review: int = 0  # ovary-visits flagged, after the reviewer's decisions
    output_problems: list[str] = field(default_factory=list)  # analysed files short of an output
    cohort_notes: list[str] = field(default_factory=list)  # the cohort file against the scans

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        head = f"{self.inputs} files: {self.ok} ok, {self.rejected} rejected, {self.failed} failed ({self.resumed} already done)"
        if not self.device:  # nothing was segmented: the tables were rebuilt
            return f"{head}; nothing left to analyse, tables rebuilt in {self.seconds:.1f} s"
        return f"{head}; {self.frames} frames in {self.seconds:.1f} s ({self.frames_per_s:.1f} frames/s on {self.device})"


# --------------------------------------------------------------------------- streaming engine

MAIN_THREAD_TIMES = ("waiting for frames", "segmenting", "waiting for measurement", "finishing files")
"""Where a local run's main thread spends its time, as ``run.log``'s timing line names it; with
the header pass, the model load and the tables it accounts for nearly all of a run but its
process start-up."""

#: How an analysed file's ``reason`` begins when its DICOM SEG/SR could not be written.
DICOM_NOT_WRITTEN = "analysed, but its DICOM SEG/SR not written"

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


class Engine:
    """Segments and measures streamed frames, finishing each file as its last frame arrives.

    A batch is measured on ``workers`` threads while the next one is segmented: ``add_frames``
    returns once its batch is segmented and the batch before it measured, and :meth:`settle`
    waits for the last one (``finish`` does). A frame whose measurement fails marks its file
    failed (``FileAnalysis.error``), whichever batch is being segmented then.

    ``seconds`` adds up where the calling thread spent its time (:data:`MAIN_THREAD_TIMES`), so
    a run tells what held it back (``run.log``).
    """

    def __init__(self, options: RunOptions, segmenter, on_frames=None) -> None:
        self.options = options
        self.segmenter = segmenter
        self.on_frames = on_frames or (lambda n: None)
        self.frames = 0
        self.seconds = dict.fromkeys(MAIN_THREAD_TIMES, 0.0)
        self._measure = ThreadPoolExecutor(max(1, options.workers), thread_name_prefix="measure")
        self._pending: list[tuple[FileAnalysis, Future]] | None = None
        self._outputs = ThreadPoolExecutor(max(1, options.workers), thread_name_prefix="outputs")
        self._writing: deque[tuple[Input, Future]] = deque()  # files being finished, in order

    def close(self, *, cancel: bool = False) -> None:
        """Stop the threads; ``cancel`` drops the work not started (an interrupted run)."""
        self._measure.shutdown(cancel_futures=cancel)
        self._outputs.shutdown(cancel_futures=cancel)

    @contextmanager
    def _clock(self, key: str) -> Iterator[None]:
        """Adds the time spent in the ``with`` block to ``seconds[key]``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[key] += time.perf_counter() - t

    def add_frames(self, analysis: FileAnalysis, frames: list[Frame]) -> None:
        """Segment frames of one file and start measuring them (:meth:`add_batch`)."""
        self.add_batch([(analysis, frames)])

    def add_batch(self, parts: list[tuple[FileAnalysis, list[Frame]]]) -> None:
        """Segment the frames of one or more files in one call, then measure them on the threads
        while the next batch is segmented. Stills of many files share a batch this way, so the
        segmenter's threads (and a GPU) get several frames at once, not one."""
        frames = [f for _, part in parts for f in part]
        with self._clock("segmenting"):
            segs = self.segmenter.segment(frames)
        self.settle()
        owners = [analysis for analysis, part in parts for _ in part]
        self._pending = [(a, self._measure.submit(analyse_frame, seg)) for a, seg in zip(owners, segs)]
        self.frames += len(frames)
        self.on_frames(len(frames))

    def settle(self) -> None:
        """Wait for the batch being measured and hand its frames to their files, in order."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        for analysis, future in pending:
            try:
                with self._clock("waiting for measurement"):
                    entry = future.result()
            except Exception as exc:  # noqa: BLE001 - a batch never dies on one file
                if analysis.error is None:
                    log.error("%s: measurement failed", analysis.record.path, exc_info=exc)
                    analysis.error = f"{type(exc).__name__}: {exc}"
                continue
            if analysis.error is None:
                analysis.add(entry)

    def finish(self, item: Input, analysis: FileAnalysis) -> ImageResult:
        """Track the file and write its outputs in this thread (the unit of work of a Dask task)."""
        self.settle()
        if analysis.error is not None:
            return ImageResult(item.record, item.path, "failed", analysis.error)
        with self._clock("finishing files"):
            return self._write(item, analysis)

    def finish_later(self, item: Input, analysis: FileAnalysis, on_result: Callable[[Input, ImageResult], None]) -> None:
        """:meth:`finish` on the output threads while the next frames are segmented; results
        reach ``on_result`` in this thread, in the order the files were finished
        (:meth:`deliver`). At most ``2 x workers`` files wait for their outputs."""
        self.settle()
        if analysis.error is not None:
            self._writing.append((item, _done(ImageResult(item.record, item.path, "failed", analysis.error))))
        else:
            self._writing.append((item, self._outputs.submit(self._write, item, analysis)))
        self.deliver(on_result, keep=2 * max(1, self.options.workers))

    def deliver(self, on_result: Callable[[Input, ImageResult], None], keep: int = 0) -> None:
        """Hand finished files to ``on_result`` in order, waiting until at most ``keep`` are left
        (``OutputError`` from a file's outputs is raised here)."""
        while self._writing and (len(self._writing) > keep or self._writing[0][1].done()):
            item, future = self._writing.popleft()
            with self._clock("finishing files"):
                result = future.result()
            on_result(item, result)

    def _write(self, item: Input, analysis: FileAnalysis) -> ImageResult:
        """Track the file's sweep and write its overlays, masks and DICOM."""
        from follicle_seg.artefacts import write_dicom, write_masks, write_overlays

        out = self.options.out
        try:
            result, keys = analysis.finish()
            if self.options.save_masks:
                write_masks(out, analysis)
            if self.options.overlays:
                write_overlays(out, result, keys)
            if self.options.dicom:
                try:
                    write_dicom(out, result, keys, pseudonymised=self.options.pseudonymize is not None)
                except OSError:
                    raise  # a full disk or a folder not writable stops the run (OutputError below)
                except Exception as exc:  # noqa: BLE001 - the measurements stand without the DICOM copy
                    log.warning("%s: DICOM SEG/SR not written (%s: %s)", item.path, type(exc).__name__, exc)
                    # said where the analyst and the console look (images.csv's reason of an ok row)
                    result = replace(result, reason=f"{DICOM_NOT_WRITTEN} ({type(exc).__name__}: {exc})")
        except OSError as exc:
            raise OutputError(f"{out}: cannot write outputs ({exc.strerror or exc})") from exc
        except Exception as exc:  # noqa: BLE001
            log.exception("%s: analysis failed", item.path)
            result = ImageResult(item.record, item.path, "failed", f"{type(exc).__name__}: {exc}")
        return result

    def analyse_file(self, item: Input) -> ImageResult:
        """One file start to end in this thread (the unit of work of a Dask task)."""
        analysis = FileAnalysis(item.record)
        try:
            for batch in chunks(item.record, max(1, self.options.batch_size), None):
                self.add_frames(analysis, batch)
        except RejectedInput as exc:
            return ImageResult(item.record, item.path, "rejected", exc.reason)
        except Exception as exc:  # noqa: BLE001
            log.exception("%s: analysis failed", item.path)
            return ImageResult(item.record, item.path, "failed", f"{type(exc).__name__}: {exc}")
        return self.finish(item, analysis)

    def process(
        self,
        inputs: Sequence[Input],
        on_result: Callable[[Input, ImageResult], None],
        decoders: WorkerPool | None = None,
    ) -> None:
        open_files: dict[str, FileAnalysis] = {}
        failed: dict[str, str] = {}  # files whose frames failed mid-way: their remaining frames are dropped
        batch = max(1, self.options.batch_size)
        # A still (single-frame file) waits for more stills of its geometry to fill a batch, so
        # that the segmenter's threads (and a GPU) get several frames at once, not one; a
        # forward pass holds frames of one network-input shape. A cine's chunks are batches.
        waiting: dict[tuple, list[Input]] = {}  # geometry -> stills whose frame waits
        frames_of: dict[str, list[Frame]] = {}  # a waiting still's decoded frame
        ended: dict[str, Input] = {}  # waiting stills whose END came: finished once segmented

        def finish(item: Input) -> None:
            analysis = open_files.pop(item.path, None) or FileAnalysis(item.record)
            if item.path in failed:
                on_result(item, ImageResult(item.record, item.path, "failed", failed.pop(item.path)))
            else:
                self.finish_later(item, analysis, on_result)

        def fail(item: Input, exc: Exception) -> None:
            log.error("%s: segmentation failed", item.path, exc_info=exc)
            open_files.pop(item.path, None)
            failed[item.path] = f"{type(exc).__name__}: {exc}"

        def segment(parts: list[tuple[Input, list[Frame]]]) -> None:
            """Segment the frames in one call; if that fails, each file's alone, so that one
            file's frames never fail another file."""
            live = [(i, (open_files[i.path], frames)) for i, frames in parts if i.path in open_files]
            if not live:
                return
            try:
                self.add_batch([part for _, part in live])
                return
            except Exception as exc:  # noqa: BLE001 - a batch never dies on one file
                if len(live) == 1:
                    fail(live[0][0], exc)
                    return
            for item, part in live:
                try:
                    self.add_batch([part])
                except Exception as exc:  # noqa: BLE001
                    fail(item, exc)

        def segment_stills(key: tuple | None = None) -> None:
            """Segment the waiting stills of one geometry (or all), then finish those that ended."""
            items = [i for k in ([key] if key is not None else list(waiting)) for i in waiting.pop(k, [])]
            segment([(i, frames_of.pop(i.path)) for i in items])
            for i in items:
                if i.path in ended:
                    finish(ended.pop(i.path))

        stream = stream_frames(inputs, workers=self.options.workers, chunk=batch, decoders=decoders)
        while True:
            with self._clock("waiting for frames"):
                got = next(stream, None)
            if got is None:
                break
            item, payload = got
            if isinstance(payload, Exception):
                open_files.pop(item.path, None)
                failed.pop(item.path, None)
                if frames_of.pop(item.path, None) is not None:
                    for queued in waiting.values():
                        queued[:] = [i for i in queued if i.path != item.path]
                if isinstance(payload, RejectedInput):
                    on_result(item, ImageResult(item.record, item.path, "rejected", payload.reason))
                elif isinstance(payload, WorkerFailed):
                    on_result(item, ImageResult(item.record, item.path, "failed", str(payload)))
                else:
                    on_result(item, ImageResult(item.record, item.path, "failed", f"{type(payload).__name__}: {payload}"))
            elif payload is END:
                if item.path in frames_of:
                    ended[item.path] = item
                    if len(ended) >= batch:  # bounds the stills held open
                        segment_stills()
                else:
                    finish(item)
            elif item.path not in failed:
                open_files.setdefault(item.path, FileAnalysis(item.record))
                if item.record.n_frames > 1:
                    segment([(item, payload)])
                    continue
                key = (item.record.region_shape, item.record.calibration)
                frames_of[item.path] = payload
                waiting.setdefault(key, []).append(item)
                if len(waiting[key]) >= batch:
                    segment_stills(key)
        segment_stills()
        self.settle()
        self.deliver(on_result)


def _done(result: ImageResult) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


# --------------------------------------------------------------------------- the run


def _remove_temporary(out: Path) -> None:
    """Remove the temporary files a killed run left (it died between writing and renaming one:
    an overlay's or a DICOM object's may carry the PatientID): atomic writes put them
    (``.<name>.<pid>.<hex>.tmp``) in OUT, the report's folders and the per-image outputs'
    folders. Only one run writes in ``out``."""
    from follicle_seg.artefacts import PER_IMAGE_OUTPUTS

    for folder in (".", "report", "report/figures", *sorted({folder for folder, *_ in PER_IMAGE_OUTPUTS})):
        for path in (out / folder).glob(".*.tmp"):
            path.unlink(missing_ok=True)


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write_test_{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"{out}: output folder is not writable ({exc.strerror or exc})") from exc


class _RunLog(logging.FileHandler):
    """``run.log``; a line it cannot write (a full disk) is dropped without the traceback that
    logging prints to the console by default: the console's one-line error says why."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


def _logging(out: Path) -> logging.Handler:
    handler = _RunLog(out / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def _anonymiser(key: bytes | None) -> Callable[[ImageRecord], ImageRecord]:
    if key is None:
        return lambda record: record
    return lambda record: replace(record, patient_id=pseudonym(record.patient_id, key))


def load_segmenter(options: RunOptions):
    from follicle_seg.model.infer import Segmenter

    return Segmenter(options.weights, device=options.device, batch_size=options.batch_size)


def run(inputs: Iterable[str | Path], options: RunOptions, *, progress=None) -> RunSummary:
    """Analyse every DICOM file under `inputs`; write tables, overlays, DICOM and report to ``options.out``.

    Raises `OutputError` / `FollicleSegError` only when the run itself cannot proceed.
    """
    t0 = time.perf_counter()
    inputs = list(inputs)
    missing = [str(p) for p in inputs if not os.path.lexists(p)]
    if missing:  # a mistyped INPUT: said before anything is made
        raise FollicleSegError(f"{', '.join(missing)}: no such file or folder")
    from follicle_seg.io.tables import read_cohort

    # options that cannot be used stop the run before OUT is made
    _check_device(options.device, here=options.executor == "local")
    cohort = read_cohort(options.cohort) if options.cohort else None
    key = load_key(options.pseudonymize) if options.pseudonymize else None
    if options.whole_frames and options.pseudonymize:
        raise FollicleSegError("--whole-frames shows the text burned in around the scan area, a patient's name "
                               "perhaps: not with --pseudonymize")  # fmt: skip
    if options.weights is not None and not Path(options.weights).is_file():
        raise FollicleSegError(f"--weights {options.weights}: no such file")
    out = Path(options.out)
    paths = list(discover(inputs, exclude=[out]))
    if not paths:
        inside = [str(i) for i in inputs if Path(os.path.abspath(i)).is_relative_to(os.path.abspath(out))]
        if inside:  # its files are the outputs of runs, never inputs
            raise FollicleSegError(f"{', '.join(inside)} is the output folder (--out {out}) or inside it: "
                                   "give the folder of the scans as INPUT and another --out")  # fmt: skip
        raise FollicleSegError(f"no files found under {', '.join(map(str, inputs))}")
    bound_caches()  # keeps peak memory flat over thousands of files
    _prepare_out(out)
    with _exclusive(out):
        handler = _logging(out)
        try:
            _remove_temporary(out)
            return _run(inputs, paths, replace(options, out=out), cohort, key, progress, t0)
        except FollicleSegError as exc:  # said in run.log too, not only on the console
            log.error("run stopped: %s", exc)
            raise
        except KeyboardInterrupt:
            log.warning("run interrupted: %s", INTERRUPTED)
            raise
        finally:
            log.removeHandler(handler)
            handler.close()


LOCK_FILE = ".run.lock"
CARRIED = "worksheet decisions carried from review.csv"  # (a run-state note)
INTERRUPTED = "the files finished are kept; the same command goes on where it stopped"


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
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


def _analysis_identity(options: RunOptions, key: bytes | None) -> dict[str, str]:
    """What makes two runs' results comparable: the network's weights, the package version, and
    the pseudonymisation key (a pseudonym of a fixed text stands for it; the key is never kept)."""
    from follicle_seg.model.paths import WEIGHTS, shipped_bundle_root

    weights = Path(options.weights) if options.weights else shipped_bundle_root() / WEIGHTS
    return {
        "weights": file_sha256(weights)[:16] if weights.is_file() else str(weights),
        "follicle_seg": __version__,
        "pseudonyms": pseudonym("run state", key) if key is not None else "none",
    }


def _run(inputs: list, paths: list, options: RunOptions, cohort, key: bytes | None, progress, t0: float) -> RunSummary:
    from follicle_seg.review import REVIEW_FILE, WORKSHEET_FILE, Review, ReviewError
    from follicle_seg.visits import build_tables, cohort_mismatches

    review = Review.read(options.out / REVIEW_FILE)
    anonymise = _anonymiser(key)
    if cohort is not None and key is not None:
        cohort = cohort.assign(patient_id=[pseudonym(str(p), key) for p in cohort.patient_id])
    store = StateStore(out_state(options.out)) if options.resume else StateStore.fresh(out_state(options.out))
    try:
        _check_worksheet(options.out / WORKSHEET_FILE, review, store)
    except ReviewError:
        store.close()
        raise
    summary = RunSummary(out=options.out, inputs=len(paths))
    decoders = WorkerPool(options.workers, timeout=options.decode_timeout_s) if options.isolate else None
    try:
        if not options.resume:
            _remove_outputs(options.out)
            _remove_tables(options.out)
        store.check_analysis(_analysis_identity(options, key))
        log.info("run started: %d files under %d input path(s)", len(paths), len(inputs))
        t = time.perf_counter()
        items = header_pass(paths, store, anonymise, options.workers, decoders)
        if options.resume:
            items = _short_of_outputs(items, store, options, anonymise, decoders)
            _remove_outputs(options.out, _superseded(items, store.sop_uids()))
        timing = {"header pass": time.perf_counter() - t}
        summary.resumed = sum(i.done for i in items)
        decided = [i for i in items if i.result is not None]
        todo = [i for i in items if i.record is not None]

        statuses: dict[str, str] = {}

        def on_result(item: Input, result: ImageResult) -> None:
            if result.status != "ok" and item.result is None:
                result = _changed_since_hashed(item, result)
            store.record(item.sha256, result)
            statuses[item.path] = result.status
            if result.status == "ok":
                summary.frames += result.record.n_frames
            if result.status != "ok":
                log.warning("%s", result.reason if result.reason.startswith(item.path) else f"{item.path}: {result.reason}")
            if progress:
                progress.file_done(result)

        for item in decided:
            on_result(item, item.result)
        if progress:
            progress.start(total_files=len(paths), done=summary.resumed + len(decided),
                           total_frames=sum(i.record.n_frames * i.record.n_panes for i in todo))
        if todo:
            summary.device = _execute(todo, options, on_result, progress, decoders, timing)
        if stand_ins := _stand_ins(decided, statuses):  # the next run would analyse them: this one does
            log.info("%d duplicate(s) analysed in place of a copy that could not be", len(stand_ins))
            summary.device = _execute(stand_ins, options, on_result, progress, decoders, timing) or summary.device
        t = time.perf_counter()
        keys = {(i.path, i.sha256) for i in items}  # "" for a file that could not be read
        results = store.results(keys)
        try:
            tables = build_tables(results, cohort, review)
        except ReviewError as exc:
            raise ReviewError(f"{exc} (the analysis is kept: correct the review and run again)") from None
        for note in cohort_mismatches(tables["ovaries"], cohort):
            summary.cohort_notes.append(note)
            log.warning("%s: %s", options.cohort, note)
        if review.decisions:
            log.info("%s: %d decisions applied", review.path, len(review.decisions))
        else:  # a review log of an earlier review that is gone would mislead
            for stale in ("review_log.csv", "review_log.parquet"):
                (options.out / stale).unlink(missing_ok=True)
        summary.needs_review = _write_outputs(options, tables, results, review, store, decoders)
        timing["tables and report"] = time.perf_counter() - t
    finally:
        store.close()
        if decoders is not None:
            decoders.close()
    for r in results:
        setattr(summary, r.status, getattr(summary, r.status) + 1)
        if r.status != "ok":
            summary.rejected_reasons.append(r.reason if r.reason.startswith(r.path) else f"{r.path}: {r.reason}")
        elif r.reason:
            summary.output_problems.append(f"{r.path}: {r.reason}")
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
                   decoders: WorkerPool | None) -> int:
    """The tables, the review outputs (reviewed overlay copies, whole frames, the worksheet) and
    the report; returns how many ovary-visits need review."""
    from follicle_seg.io.tables import write_csv, write_tables
    from follicle_seg.review import WORKSHEET_FILE, content, worksheet

    try:
        write_tables(tables, options.out)
        overlays, frames = None, {}
        # (reviewed copies and whole frames of an earlier run are made again even when this one
        # draws nothing: they must follow the review)
        if options.overlays or options.report or any((options.out / "overlays" / d).is_dir() for d in ("reviewed", "frames")):
            from follicle_seg.report.reviewed import write_reviewed
            from follicle_seg.report.thumbnails import scan_overlays
            from follicle_seg.report.whole_frames import write_whole_frames

            overlays = scan_overlays(options.out / "overlays", tables["images"]["sop_instance_uid"])
            overlays = write_reviewed(options.out / "overlays", overlays, results, review, tables)
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

            write_report(options.out, tables, overlay_index=overlays, sheet=sheet)
    except OSError as exc:
        raise OutputError(f"{options.out}: cannot write the tables ({exc.strerror or exc})") from exc
    return int(tables["ovaries"]["needs_review"].fillna(False).sum())


def _whole_frame(decoders: WorkerPool | None) -> Callable[[str], object]:
    """A file's whole first frame, grey, decoded in an isolated process when there are some."""
    from follicle_seg.io.dicom import whole_frame

    return whole_frame if decoders is None else lambda path: decoders.call(whole_frame, path)


def _stand_ins(decided: list[Input], statuses: dict[str, str]) -> list[Input]:
    """Duplicates whose SOP instance's chosen copy ended rejected or failed in this run (a copy
    that cannot be decoded), one per SOP instance, to be analysed in its place."""
    stand_ins, taken = [], set()
    for item in decided:
        record = item.result.record if item.result is not None else None
        if not item.duplicate_of or record is None or statuses.get(item.duplicate_of, "ok") == "ok":
            continue
        if record.sop_instance_uid not in taken:
            taken.add(record.sop_instance_uid)
            stand_ins.append(replace(item, record=record, result=None, duplicate_of=""))
    return stand_ins


def _check_device(device: str, here: bool = True) -> None:
    """Refuse a device the run could not use before anything is read: not a device name, or
    ``cuda`` without a GPU when the run segments ``here`` (Dask workers may have the GPU this
    machine lacks). ``auto`` and ``cpu`` need no torch import here."""
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
    """A file that could not be analysed, checked against the hash taken before it was read: one
    changed or removed since (truncated by a copy still going, restored later) is ``failed``,
    read again next run, not rejected for good under the hash of contents it no longer had."""
    try:
        now = file_sha256(item.path)
    except OSError:
        now = ""
    if now == item.sha256:
        return result
    what = "removed" if not now else "changed"
    return replace(result, status="failed",
                   reason=f"the file was {what} while it was being read ({result.reason}); it is read again next run")


def _short_of_outputs(items: list[Input], store: StateStore, options: RunOptions, anonymise, decoders) -> list[Input]:
    """``items``, the resumed files that lack an output this run asks for turned back into files
    to analyse: a run with ``--save-masks`` (or DICOM, or overlays) after one without, or after
    those outputs were deleted, resumed them and wrote none (an interrupted ``--no-dicom`` run
    left ``send`` part of a study). Their results come out the same; their outputs are made. A
    file whose DICOM SEG/SR could not be written is not tried again for it."""
    from follicle_seg.artefacts import images_with_outputs
    from follicle_seg.intake import reread
    from follicle_seg.report.overlay_files import uid_token

    wanted = [kind for kind, on in (("overlays", options.overlays), ("dicom", options.dicom),
                                    ("masks", options.save_masks)) if on]  # fmt: skip
    done = {(i.path, i.sha256) for i in items if i.done}
    if not wanted or not done:
        return items
    have = images_with_outputs(options.out)
    short = set()
    for r in store.results(done):
        if r.status != "ok" or r.record is None:
            continue
        keys = {r.record.sop_instance_uid, uid_token(r.record.sop_instance_uid)}
        needed = [k for k in wanted if not (k == "dicom" and r.reason.startswith(DICOM_NOT_WRITTEN))]
        if any(not keys & have[k] for k in needed):
            short.add(r.path)
    if short:
        log.info("%d resumed file(s) analysed again for outputs this run asks for (%s)", len(short), ", ".join(wanted))
    return [reread(i, anonymise, decoders) if i.done and i.path in short else i for i in items]


def _superseded(items: list[Input], stored: list[tuple[str, str, str, str]]) -> set[str]:
    """SOP instance UIDs whose per-image outputs this run's analyses replace: those of the files
    analysed now (changed, new or failed before) and of the earlier analyses of their paths,
    except the images this run resumes (analysed, not a rejected duplicate naming them)."""
    resumed = {(i.path, i.sha256) for i in items if i.done}
    again = {i.path for i in items if not i.done}
    kept = {uid for path, sha, uid, status in stored if (path, sha) in resumed and status == "ok"}
    earlier = {uid for path, _, uid, _ in stored if path in again}
    now = {i.record.sop_instance_uid for i in items if i.record is not None}
    return (earlier | now) - kept


def _remove_tables(out: Path) -> None:
    """``--no-resume``: the tables and report of the earlier analysis go with its per-image
    outputs, so that a run killed before writing its own leaves no tables (and no report linking
    removed overlays, no worksheet of its follicles) of an analysis that is gone. ``review.csv``,
    the reviewer's, stays (a worksheet holding decisions not in it stopped the run before this)."""
    from follicle_seg.review import WORKSHEET_FILE
    from follicle_seg.visits import COLUMNS

    names = [*COLUMNS, "candidates", "review_reasons", "review_log"]
    tables = [out / f"{n}.{ext}" for n in names for ext in ("csv", "parquet")]
    for path in [*tables, out / WORKSHEET_FILE, out / "report" / "index.html"]:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(f"{path}: cannot remove an earlier output ({exc.strerror or exc})") from exc


def _remove_outputs(out: Path, uids: set[str] | None = None) -> None:
    """Remove per-image outputs of earlier runs into ``out``: all of them (``--no-resume``), or
    those of ``uids`` (images analysed again, which may have other key frames and follicles),
    so that no overlay, crop or DICOM object of an earlier analysis (other weights, an older
    version of the file, or real PatientIDs before ``--pseudonymize``) is left beside the new
    ones. Those of files left out of a resumed run's inputs stay (a run of part of an archive
    deletes nothing of the rest); ``--no-resume`` removes them too."""
    from follicle_seg.artefacts import per_image_outputs

    if uids is not None and not uids:
        return
    removed = 0
    for path in per_image_outputs(out, uids):
        try:
            path.unlink()
            removed += 1
        except OSError as exc:
            raise OutputError(f"{path}: cannot remove an earlier output ({exc.strerror or exc})") from exc
    if removed:
        why = "--no-resume" if uids is None else "files analysed again"
        log.info("%s: %d per-image output(s) of earlier runs removed", why, removed)


def out_state(out: Path) -> Path:
    return Path(out) / STATE_FILE


def _execute(
    todo: list[Input], options: RunOptions, on_result, progress, decoders: WorkerPool | None, timing: dict[str, float]
) -> str:
    """Analyse ``todo``; returns the device(s) used. A local run adds its model load and main
    thread times (:data:`MAIN_THREAD_TIMES`) to ``timing``; a Dask run its time on the cluster."""
    t = time.perf_counter()
    if options.executor == "dask":
        from follicle_seg.distributed import run_on_dask

        device = run_on_dask(todo, options, on_result)
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
    return segmenter.device
