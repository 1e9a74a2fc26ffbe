"""Scale-out: the per-file work of a run as tasks on a Dask distributed cluster.

Each task analyses one whole file on a worker (decode, segment, measure, write its overlays and
DICOM into the shared output folder) and returns its `ImageResult`; the client alone writes the
run state and the tables, so resume and the tables behave exactly as with the local executor.
Workers load the network once per process; each thread of a worker has its own engine (a
worker runs several tasks at once) and, where the worker may start child processes (those of the
LocalCluster a run starts), its own isolated decoder process, so that a codec that crashes or
hangs fails one file, as with the local executor. Elsewhere a task whose worker dies (Dask retries
it on other workers and then gives up) fails that file, not the run.
"""

from __future__ import annotations

import functools
import multiprocessing
import signal
import threading

from follicle_seg.build import build_sha256
from follicle_seg.errors import FollicleSegError, OutputError, brief
from follicle_seg.intake import Input
from follicle_seg.isolation import WorkerPool
from follicle_seg.memory import bound_caches
from follicle_seg.engine import Engine, load_segmenter
from follicle_seg.options import RunOptions, network_of
from follicle_seg.types import ImageResult

_thread = threading.local()  # this worker thread's (options, engine, decoder process)


@functools.lru_cache(maxsize=2)
def _segmenter(options: RunOptions):
    bound_caches()
    return load_segmenter(options)


def _engine(options: RunOptions) -> tuple[Engine, WorkerPool | None]:
    """This thread's engine and decoder process for ``options``' run. An engine measures one
    batch while the next is segmented: one shared by a worker's threads lost frames of sweeps
    (a thread's batch in measurement replaced by another's). A daemon process (a worker of a
    cluster not started by the run, say) may not start a decoder process: it decodes itself."""
    made = getattr(_thread, "made", None)
    if made is None or made[0] != options:
        if made is not None:
            made[1].close()
            if made[2] is not None:
                made[2].close()
        isolated = options.isolate and not multiprocessing.current_process().daemon
        decoders = WorkerPool(1, timeout=options.decode_timeout_s) if isolated else None
        made = _thread.made = (options, Engine(options, _segmenter(options)), decoders)
    return made[1], made[2]


def dask_setup(worker) -> None:
    """Run by each worker process of the LocalCluster a run starts (Dask's preload): Ctrl-C, which
    reaches the whole process group, is left to the run, which cancels the tasks and closes the
    cluster; each worker stopped by it printed two tracebacks (70 lines for 2 workers) under the
    run's "interrupted" line."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave the signal alone
        pass


def analyse_on_worker(item: Input, options: RunOptions) -> tuple[Input, ImageResult, str]:
    engine, decoders = _engine(options)
    return item, engine.analyse_file(item, decoders), engine.segmenter.runs_on


def analysed_with(options: RunOptions) -> tuple[str, str, str]:
    """What this process analyses with: its build of follicle_seg, the weights it loads and the
    ``network_def`` it builds them into."""
    network = network_of(options)
    return build_sha256()[:16], network.weights_sha256, network.network_def


def check_workers(client, options: RunOptions) -> None:
    """Refuse a cluster whose workers analyse with another build of follicle_seg, other weights or
    another ``network_def`` than this process: their results would be kept as this build's (the
    run state's analysis identity is this process's)."""
    here = analysed_with(options)
    try:
        theirs = client.run(analysed_with, options)
    except Exception as exc:  # noqa: BLE001 - a worker without follicle_seg, one lost meanwhile
        raise FollicleSegError(f"cannot tell what the Dask workers at {options.scheduler} analyse with "
                               f"({type(exc).__name__}: {brief(exc)}); install follicle_seg on every worker") from None  # fmt: skip
    other = sorted((address, tuple(made)) for address, made in theirs.items() if tuple(made) != here)
    if other:
        (address, made), more = other[0], f" and {len(other) - 1} more" if len(other) > 1 else ""
        raise FollicleSegError(
            f"the Dask worker {address}{more} analyses with follicle_seg {_said(made)}; this run with {_said(here)}: "
            "install the same build and bundle on every worker"
        )


def _said(made: tuple) -> str:
    """What :func:`analysed_with` gave, in words; a field an older build's worker gives none of
    (its ``network_def``) is ``unknown``.

    >>> _said(("05ac", "0d9e"))
    'source 05ac, weights 0d9e, network_def unknown'
    """
    return ", ".join(f"{name} {made[i] if i < len(made) else 'unknown'}"
                     for i, name in enumerate(("source", "weights", "network_def")))  # fmt: skip


def run_on_dask(todo: list[Input], options: RunOptions, on_result, on_frames=None) -> str:
    """Run `todo` on the cluster at ``options.scheduler`` (or a local one); returns the device(s)
    used, with their precision. ``on_frames(n)`` is told each finished file's frames (the progress
    bar's, as the local engine tells it each segmented batch's)."""
    import dask
    from dask.distributed import Client, KilledWorker, LocalCluster, as_completed

    # the workers of the LocalCluster (and those it restarts) start decoder processes (_engine)
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = None
        if options.scheduler:
            try:
                client = Client(options.scheduler)
            except (OSError, TimeoutError, ValueError) as exc:  # nothing listening, a bad address
                raise FollicleSegError(
                    f"cannot reach the Dask scheduler at {options.scheduler} ({type(exc).__name__}: {brief(exc)}); "
                    "start it, or run without --executor dask (the files analysed so far are kept)"
                ) from None
        else:
            cluster = LocalCluster(n_workers=options.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, preload=[__name__])  # (dask_setup)
            client = Client(cluster)
        devices, pending = set(), {}
        try:
            if options.scheduler:  # (a LocalCluster's workers are this install)
                check_workers(client, options)
            # a task is released once its result is taken: a worker that died took with it the
            # results it held, and the cluster analysed those files again (7 files 14 times more)
            pending = dict(zip(client.map(analyse_on_worker, todo, options=options, pure=False), todo))
            for future in as_completed(list(pending)):
                item = pending.pop(future)
                try:
                    _, result, device = future.result()
                    devices.add(device)
                except OutputError:  # a full disk or a folder not writable: the run stops, as a local one does
                    raise
                except KilledWorker as exc:  # a crash outside an isolated decoder, on every try
                    result = ImageResult(item.record, item.path, "failed", f"the Dask worker analysing it died, on each of "
                                         f"{exc.allowed_failures + 1} tries (a crash in a codec or the network?)")  # fmt: skip
                except Exception as exc:  # noqa: BLE001 - a batch never dies on one file
                    result = ImageResult(item.record, item.path, "failed", f"{type(exc).__name__}: {exc}")
                future.release()
                on_result(item, result)
                if on_frames is not None:
                    assert item.record is not None  # (a file the header pass accepted)
                    on_frames(item.record.n_frames * item.record.n_panes)
        finally:
            if pending:  # stopped (a full disk, Ctrl-C): no task goes on writing into OUT after the run
                client.cancel(list(pending))
            client.close()
            if cluster is not None:
                cluster.close()
        return "; ".join(sorted(devices))
