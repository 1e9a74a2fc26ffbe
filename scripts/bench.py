#!/usr/bin/env python
"""Throughput and memory of the pipeline, stage by stage, on a generated study.

Reports frames/s for (a) the network alone (pre-processing, forward, mapping back) on frames
decoded beforehand, (b) decoding alone, (c) measurement and tracking alone on segmentations made
beforehand, (d) the full `run` (tables, no overlays/DICOM/report; and once more with them) with
where its main thread spent the time (its run.log's timing line, ``d_timing_s``; with
--workers-sweep once more per worker count), the serial bound 1/(1/a + 1/b + 1/c), and the peak
RSS of full runs on few and on many files (the few include the file with the archive's largest
frame, so the two differ in number only); on CUDA also the GPU memory that stage (a) allocated at
most.
The same command runs on a CUDA machine (--device cuda: batches, autocast).

    python scripts/bench.py --files 200 --frames 30 --batch-size 8 --device auto
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from follicle_seg import __version__
from follicle_seg.analyse import FileAnalysis, analyse_frame
from follicle_seg.cpus import usable_cpus
from follicle_seg.io import discover, iter_frames, read_record
from follicle_seg.model.infer import Segmenter, resolve_device
from follicle_seg.model.preprocess import TARGET_MM
from follicle_seg.options import RunOptions, network_of
from follicle_seg.pipeline import read_timing


def make_archive(root: Path, files: int, frames: int, seed: int, stills: bool = False) -> Path:
    """`files` cine files of `frames` frames (whole synthetic visits, trimmed to the count); with
    `stills`, the same sweeps stored as single-frame files, one per frame (`files` x `frames`).

    An archive already in ``root`` (from an earlier run with the same --work) is reused when it
    was made with the same files, frames, seed and stills; any other is replaced.
    """
    from follicle_seg.synth.study import write_study

    made_with = {"files": files, "frames": frames, "seed": seed, "stills": stills}
    stamp = root / "bench_archive.json"
    if (root / "dicom").is_dir() and stamp.is_file() and json.loads(stamp.read_text()) == made_with:
        return root / "dicom"
    stamp.unlink(missing_ok=True)  # a rebuild cut short is never taken for the archive it replaced
    patients = max(1, -(-files // 4))  # 2 sides x 2 visits = 4 sweeps per patient
    write_study(root, patients=patients, visits=2, seed=seed, frames_per_sweep=frames, stills_per_ovary=0,
                sweep_files="frames" if stills else "cine")  # fmt: skip
    sweeps = sorted({p.parent / p.name.split("_sweep")[0] for p in discover([root / "dicom"])})
    for extra in sweeps[files:]:
        for path in extra.parent.glob(f"{extra.name}_sweep*.dcm"):
            path.unlink()
    stamp.write_text(json.dumps(made_with) + "\n")  # last: an archive cut short is not reused
    return root / "dicom"


def copy_small_set(paths: list[Path], archive: Path, small: Path, n: int) -> list[Path]:
    """The archive's file with the largest frame and the first others, ``n`` in all, copied into
    ``small`` (emptied first: files of an earlier run there would be counted too); returns them.

    Peak memory follows the largest frame, so the small set holds the archive's largest one too:
    the runs on the two sets then differ in the number of files only.
    """
    largest = max(paths, key=network_pixels)
    chosen = [largest] + [p for p in paths if p != largest][: n - 1]
    shutil.rmtree(small, ignore_errors=True)
    small.mkdir(parents=True)
    for p in chosen:  # sweeps of different visits share a name: keep the folders in it
        (small / "_".join(p.relative_to(archive).parts)).write_bytes(p.read_bytes())
    return chosen


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what :mod:`platform` knows ("x86_64")."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def network_pixels(path: Path) -> float:
    """Pixels of a file's frames at the network scale (its region in mm over 0.3 mm/px, squared)."""
    record = read_record(path)
    c0, r0, c1, r1 = record.region
    cal = record.calibration
    return (r1 - r0 + 1) * (cal.spacing_row_mm or TARGET_MM) * (c1 - c0 + 1) * (cal.spacing_col_mm or TARGET_MM) / TARGET_MM**2


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


def bench_decode(paths) -> tuple[int, float, list]:
    t = time.perf_counter()
    n = 0
    for p in paths:
        for _ in iter_frames(read_record(p)):
            n += 1
    return n, time.perf_counter() - t, []


def bench_model(paths, segmenter: Segmenter, batch: int, limit_frames: int):
    frames = []
    for p in paths:
        frames.extend(iter_frames(read_record(p)))
        if len(frames) >= limit_frames:
            break
    frames = frames[:limit_frames]
    segmenter.segment(frames[:batch])  # warm-up
    if segmenter.device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    segs = []
    for i in range(0, len(frames), batch):
        segs.extend(segmenter.segment(frames[i : i + batch]))
    if segmenter.device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(frames), time.perf_counter() - t, segs


def bench_measure(segs) -> tuple[int, float]:
    t = time.perf_counter()
    by_file: dict[str, FileAnalysis] = {}
    for seg in segs:
        analysis = by_file.setdefault(seg.record.path, FileAnalysis(seg.record))
        analysis.add(analyse_frame(seg))
    for analysis in by_file.values():
        analysis.finish()
    return len(segs), time.perf_counter() - t


def full_run(inputs: Path, out: Path, args, extra: list[str], workers: int | None = None) -> tuple[float, float, int]:
    """Run `follicle-seg run` in a child process (``--workers`` from ``args`` unless given);
    returns (seconds, peak RSS MiB, frames)."""
    cmd = [sys.executable, "-m", "follicle_seg", "run", str(inputs), "--out", str(out), "--quiet",
           "--device", args.device, "--batch-size", str(args.batch_size), "--workers", str(workers or args.workers),
           "--no-resume", *extra]
    # a fresh wrapper process per run, so its RUSAGE_CHILDREN peak belongs to this run alone
    wrapper = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", wrapper, *cmd], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    peak_kib = int(done.stdout.strip().splitlines()[-1])
    import pandas as pd

    frames = int(pd.read_csv(out / "images.csv").query("status == 'ok'").n_frames.sum())
    return seconds, peak_kib / 1024, frames


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--small-files", type=int, default=10)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--stills", action="store_true",
                    help="store each sweep as single-frame files, one per frame (an archive of stills)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model-frames", type=int, default=480, help="frames timed for (a) and (c)")
    ap.add_argument("--workers-sweep", type=int, nargs="*", default=[],
                    help="also time the full run (d) with each of these --workers counts (d_workers_N)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work", type=Path, default=None, help="folder for the study and outputs (default: temp)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    try:  # before minutes of writing the archive
        resolve_device(args.device)
    except ValueError as exc:
        ap.error(f"--device {args.device}: {exc}")

    started = time.perf_counter()
    # absolute: the files found under the archive are, and paths are taken relative to it
    work = (args.work or Path(tempfile.mkdtemp(prefix="follicle_bench_"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    archive = make_archive(work / "study", args.files, args.frames, args.seed, args.stills)
    paths = sorted(discover([archive]))
    small = work / "small"
    chosen = copy_small_set(paths, archive, small, args.small_files)
    largest = chosen[0]

    segmenter = Segmenter(device=args.device, batch_size=args.batch_size)
    figures = {
        # what a rerun needs to measure the same thing: the options (seed and --stills make the
        # archive), the code, the network, and the precision the device ran in
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "follicle_seg": __version__,
        "network": dataclasses.asdict(network_of(RunOptions(out=work))),
        "torch": torch.__version__,
        "device": segmenter.device,
        "precision": segmenter.precision,
        "device_name": torch.cuda.get_device_name(segmenter.device) if segmenter.device.startswith("cuda") else cpu_name(),
        # a GPU run is bound by its CPU side: say which CPU, and how many cores this process may use
        "cpu": cpu_name(),
        "cpu_count": usable_cpus(),
        "torch_threads": torch.get_num_threads(),
        "files": len(paths), "frames_per_file": 1 if args.stills else args.frames, "batch_size": args.batch_size,
        "workers": args.workers,
        # rates of a loaded machine are not the code's: say how loaded it was (1-minute average)
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    stage = Stages(figures, args.json)
    stage.done(archive_and_model_load_s=round(time.perf_counter() - started, 1))
    n_b, t_b, _ = bench_decode(paths)
    b = rate(n_b, t_b)
    stage.done(b_decode_fps=round(b, 2))
    n_a, t_a, segs = bench_model(paths, segmenter, args.batch_size, args.model_frames)
    a = rate(n_a, t_a)
    stage.done(a_model_fps=round(a, 2))
    if segmenter.batch_size != args.batch_size:  # the GPU ran out of memory: passes were split
        stage.done(a_batch_size_after_out_of_memory=segmenter.batch_size)
    if segmenter.device.startswith("cuda"):  # of stage (a), in this process
        stage.done(cuda_peak_allocated_mib=round(torch.cuda.max_memory_allocated(segmenter.device) / 2**20, 1))
    n_c, t_c = bench_measure(segs)
    c = rate(n_c, t_c)
    serial = 1.0 / (1.0 / a + 1.0 / b + 1.0 / c)
    stage.done(c_measure_fps=round(c, 2), serial_bound_fps=round(serial, 2))
    t_d, rss_many, n_d = full_run(archive, work / "out_many", args, ["--no-overlays", "--no-dicom", "--no-report"])
    d = rate(n_d, t_d)
    stage.done(d_full_fps=round(d, 2), d_over_serial_bound=round(d / serial, 3),
               **{f"peak_rss_mib_{len(paths)}_files": round(rss_many, 1)})
    # where the run's main thread spent (d); the rest of its wall time is process start-up
    stage.done(d_seconds=round(t_d, 1), d_timing_s=read_timing((work / "out_many" / "run.log").read_text()))
    for w in args.workers_sweep:  # does the CPU side scale with more threads and decoder processes?
        t_w, _, n_w = full_run(archive, work / f"out_w{w}", args, ["--no-overlays", "--no-dicom", "--no-report"], w)
        stage.done(**{f"d_workers_{w}": {"fps": round(rate(n_w, t_w), 2), "seconds": round(t_w, 1),
                                         "timing_s": read_timing((work / f"out_w{w}" / "run.log").read_text())}})
    _, rss_small, _ = full_run(small, work / "out_small", args, ["--no-overlays", "--no-dicom", "--no-report"])
    stage.done(**{f"peak_rss_mib_{len(chosen)}_files": round(rss_small, 1),
                  "largest_frame_network_pixels_in_both": round(network_pixels(largest))})
    t_full, _, n_full = full_run(small, work / "out_small_all", args, [])
    stage.done(full_with_overlays_dicom_report_fps=round(rate(n_full, t_full), 2))
    stage.done(load_average_at_end=round(os.getloadavg()[0], 2))
    print(json.dumps(figures, indent=2))


class Stages:
    """Adds each stage's figures as it ends: a line on stderr, and the --json file rewritten, so a
    run stopped part-way (a time limit on a lent GPU) keeps what it measured."""

    def __init__(self, figures: dict, path: Path | None) -> None:
        self.figures, self.path, self.t0 = figures, path, time.perf_counter()
        self.done()

    def done(self, **new) -> None:
        self.figures.update(new)
        if new:
            print(f"[{time.perf_counter() - self.t0:6.1f} s] " + ", ".join(f"{k} {v}" for k, v in new.items()),
                  file=sys.stderr, flush=True)
        if self.path:
            self.path.write_text(json.dumps(self.figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
