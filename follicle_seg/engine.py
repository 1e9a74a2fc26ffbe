"""The streaming engine of a run: segments and measures the frames the intake streams, finishing
each file (tracking, overlays, masks, DICOM SEG/SR) as its last frame arrives.

Stills are pooled by geometry into the network's batches; sweeps are segmented chunk by chunk;
each finished file's outputs are written on threads and its result handed back in order.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Callable, Iterator, Sequence, cast

from follicle_seg.analyse import FileAnalysis, analyse_frame
from follicle_seg.errors import OutputError, RejectedInput, os_reason
from follicle_seg.intake import END, Input, chunks, stream_frames
from follicle_seg.isolation import WorkerFailed, WorkerPool
from follicle_seg.options import RunOptions, network_of
from follicle_seg.types import Frame, ImageResult

log = logging.getLogger("follicle_seg")


MAIN_THREAD_TIMES = ("waiting for frames", "segmenting", "waiting for measurement", "finishing files")
"""Where a local run's main thread spends its time, as ``run.log``'s timing line names it; with
the header pass, the model load and the tables it accounts for nearly all of a run but its
process start-up."""


#: How an analysed file's ``reason`` begins when its DICOM SEG/SR could not be written.
DICOM_NOT_WRITTEN = "analysed, but its DICOM SEG/SR not written"


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
        self.network = network_of(options)  # named in the DICOM objects
        self.segmenter = segmenter
        self.on_frames = on_frames or (lambda n: None)
        self.frames = 0
        self.seconds = dict.fromkeys(MAIN_THREAD_TIMES, 0.0)
        self._measure = ThreadPoolExecutor(max(1, options.workers), thread_name_prefix="measure")
        self._pending: list[tuple[FileAnalysis, Future]] | None = None
        self._outputs = ThreadPoolExecutor(max(1, options.workers), thread_name_prefix="outputs")
        self._writing: deque[tuple[Input, Future]] = deque()  # files being finished, in order
        self._decoders: WorkerPool | None = None  # the run's decoder processes (:meth:`process`)

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
        from follicle_seg.artefacts import with_outlines, write_dicom, write_masks, write_overlays

        out = self.options.out
        try:
            result, keys = analysis.finish()
            result = with_outlines(result, keys)
            if self.options.save_masks:
                write_masks(out, analysis)
            if self.options.overlays:
                write_overlays(out, result, keys, self._key_frames(), item.in_sweep)
            if self.options.dicom:
                try:
                    write_dicom(out, result, keys, pseudonymised=self.options.pseudonymize is not None,
                                network=self.network, in_sweep=item.in_sweep)
                except OSError:
                    raise  # a full disk or a folder not writable stops the run (OutputError below)
                except Exception as exc:  # noqa: BLE001 - the measurements stand without the DICOM copy
                    from follicle_seg.report.dicom_common import UnfitSource

                    why = str(exc) if isinstance(exc, UnfitSource) else f"{type(exc).__name__}: {exc}"
                    log.warning("%s: DICOM SEG/SR not written (%s)", item.path, why)
                    # said where the analyst and the console look (images.csv's reason of an ok row)
                    result = replace(result, reason=f"{DICOM_NOT_WRITTEN} ({why})")
        except OSError as exc:
            raise OutputError(f"{out}: cannot write outputs ({os_reason(exc)})") from exc
        except Exception as exc:  # noqa: BLE001
            log.exception("%s: analysis failed", item.path)
            result = ImageResult(item.record, item.path, "failed", f"{type(exc).__name__}: {exc}")
        return result

    def _key_frames(self) -> Callable[..., list[Frame]]:
        """How the overlays' key frames are decoded: in the decoder processes when the run has
        them (a codec that crashes fails its file there), else here."""
        from follicle_seg.io.dicom import frames_at

        decoders = self._decoders
        if decoders is None:
            return frames_at
        return lambda record, index, panes=False: decoders.call(frames_at, record, index, panes)

    def analyse_file(self, item: Input, decoders: WorkerPool | None = None) -> ImageResult:
        """One file start to end in this thread (the unit of work of a Dask task), its frames
        decoded in ``decoders`` when given (a codec that crashes or hangs fails the file)."""
        assert item.record is not None  # (a file the header pass accepted)
        self._decoders = decoders
        analysis = FileAnalysis(item.record)
        try:
            for batch in chunks(item.record, max(1, self.options.batch_size), decoders):
                self.add_frames(analysis, batch)
        except RejectedInput as exc:
            return ImageResult(item.record, item.path, "rejected", exc.reason)
        except WorkerFailed as exc:
            return ImageResult(item.record, item.path, "failed", f"decoding: {exc}")
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
        self._decoders = decoders
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
            assert item.record is not None  # (streamed: a file the header pass accepted)
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
                assert item.record is not None  # (streamed: a file the header pass accepted)
                decoded = cast(list[Frame], payload)  # (neither an exception nor END: a chunk)
                open_files.setdefault(item.path, FileAnalysis(item.record))
                if item.record.n_frames > 1:
                    segment([(item, decoded)])
                    continue
                key = (item.record.region_shape, item.record.calibration)
                frames_of[item.path] = decoded
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


def load_segmenter(options: RunOptions):
    from follicle_seg.model.infer import Segmenter

    return Segmenter(options.weights, device=options.device, batch_size=options.batch_size)
