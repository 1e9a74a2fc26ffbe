"""Scale-out: the per-file work of a run as tasks on a Dask distributed cluster.

Each task analyses one whole file on a worker (decode, segment, measure, write its overlays and
DICOM into the shared output folder) and returns its `ImageResult`; the client alone writes the
run state and the tables, so resume and the tables behave exactly as with the local executor.
Workers load the network once per process. A task whose worker dies (a codec crash kills the
worker process; Dask retries it elsewhere and then gives up) fails that file, not the run.
"""

from __future__ import annotations

import functools

from follicle_seg.errors import FollicleSegError, brief
from follicle_seg.intake import Input
from follicle_seg.memory import bound_caches
from follicle_seg.engine import Engine, load_segmenter
from follicle_seg.options import RunOptions
from follicle_seg.types import ImageResult


@functools.lru_cache(maxsize=2)
def _engine(options: RunOptions) -> Engine:
    bound_caches()
    return Engine(options, load_segmenter(options))


def analyse_on_worker(item: Input, options: RunOptions) -> tuple[Input, ImageResult, str]:
    engine = _engine(options)
    return item, engine.analyse_file(item), engine.segmenter.device


def run_on_dask(todo: list[Input], options: RunOptions, on_result, on_frames=None) -> str:
    """Run `todo` on the cluster at ``options.scheduler`` (or a local one); returns the device(s)
    used. ``on_frames(n)`` is told each finished file's frames (the progress bar's, as the local
    engine tells it each segmented batch's)."""
    from dask.distributed import Client, LocalCluster, as_completed

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
                               dashboard_address=None)
        client = Client(cluster)
    devices = set()
    try:
        futures = client.map(analyse_on_worker, todo, options=options, pure=False)
        items = dict(zip(futures, todo))
        for future in as_completed(futures):
            item = items[future]
            try:
                _, result, device = future.result()
                devices.add(device)
            except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by a codec crash
                result = ImageResult(item.record, item.path, "failed", f"{type(exc).__name__}: {exc}")
            on_result(item, result)
            if on_frames is not None:
                assert item.record is not None  # (a file the header pass accepted)
                on_frames(item.record.n_frames * item.record.n_panes)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return ",".join(sorted(devices))
