"""The Dask executor's tasks: one engine per worker thread, decoding isolated as the local
executor's, each result let go of once taken."""

from __future__ import annotations

import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest

from follicle_seg import distributed, intake
from follicle_seg.engine import Engine
from follicle_seg.intake import Input
from follicle_seg.io import read_record
from follicle_seg.options import RunOptions
from follicle_seg.types import FrameSegmentation, ImageResult
from test_engine import _cine


class SlowSegmenter:
    """Empty label maps after a random wait, as a network's call lets other threads run."""

    runs_on = "cpu, float32"

    def segment(self, frames):
        time.sleep(random.random() * 0.01)
        return [FrameSegmentation(f.record, f.index, np.zeros(f.pixels.shape, np.uint8),
                                  np.zeros(f.pixels.shape, np.float32), np.zeros(f.pixels.shape, np.float32))
                for f in frames]  # fmt: skip


def hang_on_the_first_cine(record, start, stop):
    from follicle_seg.io import iter_frames

    if record.path.endswith("c0.dcm"):
        time.sleep(20)
    return [(frame.pixels, frame.flags) for frame in iter_frames(record, start=start, stop=stop, panes=True)]


@pytest.fixture
def fake_network(monkeypatch):
    monkeypatch.setattr(distributed, "load_segmenter", lambda options: SlowSegmenter())
    distributed._segmenter.cache_clear()
    yield
    distributed._segmenter.cache_clear()


def test_tasks_on_the_threads_of_one_worker_keep_every_frame(tmp_path, monkeypatch, fake_network):
    """A worker runs tasks on several threads (``dask worker`` starts one per core): they shared
    one engine, whose batch in measurement one thread replaced by its own, and sweeps lost
    frames (2 to 7 of 24 files here, 2 to 6 of their 12 frames) without a word."""
    monkeypatch.setattr(Engine, "_write", lambda self, item, analysis: ImageResult(
        item.record, item.path, "ok", reason=str(len(list(analysis.labels())))))
    records = [read_record(_cine(tmp_path / f"c{k}.dcm", frames=12, rows=80, cols=100, sop=f"1.2.3.{k}"))
               for k in range(8)]  # fmt: skip
    options = RunOptions(out=tmp_path / "out", workers=2, batch_size=2, isolate=False)
    with ThreadPoolExecutor(4) as threads:
        done = list(threads.map(lambda r: distributed.analyse_on_worker(Input(r.path, "", r, None), options),
                                records * 4))  # fmt: skip
    assert [result.reason for _, result, _ in done] == ["12"] * 32


def test_a_decoder_that_hangs_on_a_worker_fails_its_file_not_the_run(tmp_path, monkeypatch, fake_network):
    """Frames were decoded in the worker's own process, without a time limit: a codec that hung
    held the run for ever (a crash killed the worker and every result it held, analysed again)."""
    monkeypatch.setattr(intake, "decode_pixels", hang_on_the_first_cine)
    record = read_record(_cine(tmp_path / "c0.dcm", frames=2, rows=80, cols=100))
    options = RunOptions(out=tmp_path / "out", workers=1, decode_timeout_s=2.0, overlays=False, dicom=False)
    t = time.monotonic()
    _, result, _ = distributed.analyse_on_worker(Input(record.path, "", record, None), options)
    assert (result.status, result.reason) == ("failed", "decoding: no answer within 2 s: decoder process killed")
    assert time.monotonic() - t < 15


def test_a_dask_run_lets_go_of_each_result_it_took_and_says_a_lost_worker_in_one_line(tmp_path, monkeypatch):
    """The client held every task to the end: a worker that died took the results it held with
    it, and the cluster analysed those files again (7 files analysed 14 more times for one file
    that crashed its workers); that file's reason was Dask's paragraph with a task key."""
    dd = pytest.importorskip("dask.distributed")
    from distributed import KilledWorker

    local_cluster = dd.LocalCluster
    monkeypatch.setattr(dd, "LocalCluster", lambda **kw: local_cluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None))
    held = []

    def analyse(item, options):
        if item.path == "crash":
            raise KilledWorker("analyse_on_worker-1", SimpleNamespace(address="tcp://127.0.0.1:1"), 3)
        return item, ImageResult(None, item.path, "ok"), "cpu"

    def on_result(item, result):
        time.sleep(0.2)  # (a task is let go of on the client's event loop)
        held.append(len(dd.default_client().refcount))
        results.append(result)

    monkeypatch.setattr(distributed, "analyse_on_worker", analyse)
    results: list[ImageResult] = []
    todo = [Input(str(k), "", None, None) for k in range(5)] + [Input("crash", "", None, None)]
    distributed.run_on_dask(todo, RunOptions(out=tmp_path / "out", executor="dask"), on_result)
    assert len(results) == 6 and held[-1] == 0
    (crashed,) = [r for r in results if r.path == "crash"]
    assert (crashed.status, crashed.reason) == (
        "failed", "the Dask worker analysing it died, on each of 4 tries (a crash in a codec or the network?)")


def test_a_full_disk_on_a_worker_stops_a_dask_run_as_it_stops_a_local_one(tmp_path, monkeypatch):
    """An OutputError on a worker (the disk full while writing a file's outputs) became a failed
    result for that file and every one after it, and the run went on to its tables."""
    from follicle_seg.errors import OutputError

    dd = pytest.importorskip("dask.distributed")
    local_cluster = dd.LocalCluster
    monkeypatch.setattr(dd, "LocalCluster", lambda **kw: local_cluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None))

    def analyse(item, options):
        raise OutputError(f"{options.out}: cannot write outputs (No space left on device)")

    monkeypatch.setattr(distributed, "analyse_on_worker", analyse)
    results: list[ImageResult] = []
    todo = [Input(str(k), "", None, None) for k in range(3)]
    with pytest.raises(OutputError, match="No space left on device"):
        distributed.run_on_dask(todo, RunOptions(out=tmp_path / "out", executor="dask"), lambda i, r: results.append(r))
    assert results == []


def _sigint_ignored() -> bool:
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_the_workers_of_a_runs_local_cluster_leave_ctrl_c_to_the_run(tmp_path, monkeypatch):
    """Ctrl-C reaches the whole process group: each worker process of the LocalCluster stopped on
    it with two tracebacks (70 lines for 2 workers under the run's "interrupted" line); the run
    itself cancels the tasks and closes the cluster."""
    dd = pytest.importorskip("dask.distributed")
    local_cluster = dd.LocalCluster
    monkeypatch.setattr(dd, "LocalCluster", lambda **kw: local_cluster(**{**kw, "n_workers": 1}))
    seen = []

    def as_completed(futures):  # asked of the workers while the run holds its cluster
        seen.extend(dd.default_client().run(_sigint_ignored).values())
        return []

    monkeypatch.setattr(dd, "as_completed", as_completed)
    # as in a terminal, whatever this test process was started with (in the background of a
    # script, SIGINT is ignored from the start, and the workers would inherit that)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    environ = dict(os.environ)  # (Dask's nanny sets MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS, ... in it)
    try:
        distributed.run_on_dask([], RunOptions(out=tmp_path / "out", executor="dask", workers=1), lambda i, r: None)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the run's own Ctrl-C is its own
    finally:
        signal.signal(signal.SIGINT, before)
        os.environ.clear()
        os.environ.update(environ)
    assert seen == [True]


def test_workers_of_a_scheduler_that_analyse_with_another_build_stop_the_run(tmp_path, monkeypatch):
    """The run state's analysis identity is the client's build and weights: workers of a remote
    cluster left on an older install analysed the files, their results kept as this build's."""
    import threading

    from follicle_seg.errors import FollicleSegError

    dd = pytest.importorskip("dask.distributed")
    here = threading.main_thread()
    monkeypatch.setattr(distributed, "build_sha256", lambda: ("0" if threading.current_thread() is here else "1") * 64)
    monkeypatch.setattr(distributed, "analyse_on_worker",
                        lambda item, options: (item, ImageResult(None, item.path, "ok"), "cpu"))  # fmt: skip
    results: list[ImageResult] = []
    with dd.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        options = RunOptions(out=tmp_path / "out", executor="dask", scheduler=cluster.scheduler_address)
        with pytest.raises(FollicleSegError, match=r"^the Dask worker \S+ analyses with follicle_seg source 1{16}, "
                                                   r"weights [0-9a-f]{16}, network_def [0-9a-f]{16}; this run with "
                                                   r"source 0{16}, weights [0-9a-f]{16}, network_def [0-9a-f]{16}: "
                                                   r"install the same build and bundle on every worker$"):  # fmt: skip
            distributed.run_on_dask([Input("a.dcm", "", None, None)], options, lambda i, r: results.append(r))
        assert results == []
        monkeypatch.setattr(distributed, "build_sha256", lambda: "0" * 64)  # the same build: the files are analysed
        distributed.run_on_dask([Input("a.dcm", "", None, None)], options, lambda i, r: results.append(r))
        assert [r.status for r in results] == ["ok"]


def test_a_worker_of_a_build_before_network_def_stops_the_run_with_the_message(tmp_path):
    """A worker left on the build before ``network_def`` joined the identity says its source and
    weights only: the refusal unpacked three fields and stopped with a ValueError traceback."""
    from follicle_seg.errors import FollicleSegError

    class Client:  # (client.run runs the worker's own analysed_with)
        def run(self, fn, options):
            return {"tcp://10.0.0.2:4000": ("1" * 16, "2" * 16)}

    options = RunOptions(out=tmp_path / "out", executor="dask", scheduler="tcp://10.0.0.1:8786")
    with pytest.raises(FollicleSegError, match=r"^the Dask worker tcp://10.0.0.2:4000 analyses with follicle_seg "
                                               r"source 1{16}, weights 2{16}, network_def unknown; this run with "
                                               r"source [0-9a-f]{16}, weights [0-9a-f]{16}, network_def [0-9a-f]{16}: "
                                               r"install the same build and bundle on every worker$"):  # fmt: skip
        distributed.check_workers(Client(), options)
