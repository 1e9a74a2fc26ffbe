"""Scale-out: the per-file work of a run as tasks on a Dask distributed cluster.

Each task analyses one whole file on a worker (decode, segment, measure, write its overlays and
DICOM into the shared output folder) and returns its `ImageResult`; the client alone writes the
run state and the tables, so resume and the tables behave exactly as with the local executor.
Workers load the network once per process.
"""

from __future__ import annotations

import functools

from follicle_seg.heap import return_freed_memory
from follicle_seg.pipeline import Engine, Input, RunOptions, load_segmenter
from follicle_seg.types import ImageResult


@functools.lru_cache(maxsize=2)
def _engine(options: RunOptions) -> Engine:
    return_freed_memory()
    return Engine(options, load_segmenter(options))


def analyse_on_worker(item: Input, options: RunOptions) -> tuple[Input, ImageResult, str]:
    engine = _engine(options)
    return item, engine.analyse_file(item), engine.segmenter.device


def run_on_dask(todo: list[Input], options: RunOptions, on_result) -> str:
    """Run `todo` on the cluster at ``options.scheduler`` (or a local one); returns the device(s) used."""
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if options.scheduler:
        client = Client(options.scheduler)
    else:
        cluster = LocalCluster(n_workers=options.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    devices = set()
    try:
        futures = client.map(analyse_on_worker, todo, options=options, pure=False)
        for future in as_completed(futures):
            item, result, device = future.result()
            devices.add(device)
            on_result(item, result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return ",".join(sorted(devices))
