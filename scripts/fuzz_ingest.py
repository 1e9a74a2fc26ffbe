"""Fuzz ingestion: mutated ultrasound DICOMs must end ``ok`` or rejected, never crash or hang.

Every case (``scripts/fuzz_cases.py``: one seed file, one mutation kind, its own seeded random
generator) is written to a file, and ``read_record`` and ``iter_frames`` run over every frame of it.

Outcomes:

* ``ok``: a record whose calibration is plausible and whose frames are grey uint8 of the region;
* ``rejected``: :class:`~follicle_seg.errors.RejectedInput` for this path with a one-line reason;
* findings: ``error`` (any other exception, or a rejection without a proper reason), ``memory``
  (MemoryError, or the worker grew past ``--max-rss-mb``), ``timeout`` (no answer within the per
  case limit), ``crash`` (the worker process died), ``bad_record`` (an ``ok`` that breaks the
  record's promises).

Cases run in one worker process (``--worker``) under an address-space limit (RLIMIT_AS); the
parent sends case numbers on stdin, reads one JSON line per case and kills and restarts the
worker when a case runs past the time limit or the worker dies. Findings are kept (mutated file
plus a JSON line) under ``--findings``. Case ``i`` is the same file in every run with the same
``--seed``: ``--cases 17,42`` replays cases.

Usage::

    python scripts/fuzz_ingest.py --n 10000 --seed 1            # the full run (one worker)
    python scripts/fuzz_ingest.py --cases 123 --seed 1 --keep   # replay one case, keep its file
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fuzz_cases import KINDS, REPO, build_seeds, make_case  # scripts/ is on sys.path

FINDINGS = ("error", "memory", "timeout", "crash", "bad_record")
OUTCOMES = ("ok", "rejected", *FINDINGS)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 2048
DEFAULT_MAX_RSS_MB = 1024

# =============================================================================== running one case


class _Alarm(BaseException):
    """Raised by SIGALRM: a case ran past its time limit inside Python code."""


def run_case(path: str) -> tuple[str, str]:
    """Ingest one file as the pipeline does: ``(outcome, detail)``, outcome from :data:`OUTCOMES`."""
    from follicle_seg.errors import RejectedInput
    from follicle_seg.io import iter_frames, read_record

    try:
        record = read_record(path)
        n = 0
        for frame in iter_frames(record):
            if frame.pixels.dtype.name != "uint8" or frame.pixels.shape != record.region_shape:
                return "bad_record", f"frame {frame.index} {frame.pixels.dtype} {frame.pixels.shape}"
            n += 1
    except RejectedInput as exc:
        if _memory_error(exc):
            return "memory", f"rejected after MemoryError: {exc.reason}"
        name = os.path.basename(path)
        if exc.path != path or name not in str(exc) or not exc.reason or "\n" in exc.reason:
            return "error", f"rejection without a one-line reason for the file: {exc!r}"
        return "rejected", exc.reason
    except MemoryError:
        return "memory", "MemoryError: " + _where()
    except _Alarm:
        return "timeout", "time limit (SIGALRM): " + _where()
    except Exception as exc:  # noqa: BLE001 - the finding itself
        return "error", f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]} @ {_where()}"
    return _check_record(record, n)


def _check_record(record, n_frames: int) -> tuple[str, str]:
    cal = record.calibration
    spacings = [s for s in (cal.spacing_row_mm, cal.spacing_col_mm) if s is not None]
    if any(not (math.isfinite(s) and 0.01 <= s <= 2.0) for s in spacings):
        return "bad_record", f"implausible calibration passed: {cal}"
    c0, r0, c1, r1 = record.region
    if not (0 <= c0 <= c1 < record.columns and 0 <= r0 <= r1 < record.rows):
        return "bad_record", f"region {record.region} outside {record.rows}x{record.columns}"
    if n_frames != record.n_frames:
        return "bad_record", f"{n_frames} frames decoded, {record.n_frames} declared"
    return "ok", f"{record.n_frames} frames, {record.photometric}, {cal.source}"


def _memory_error(exc: BaseException) -> bool:
    seen = exc
    while seen is not None:
        if isinstance(seen, MemoryError) or "MemoryError" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return False


def _where() -> str:
    frames = traceback.extract_tb(sys.exc_info()[2])
    ours = [f for f in frames if "follicle_seg" in f.filename] or frames
    last = frames[-1] if frames else None
    mine = ours[-1] if ours else None
    parts = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in (mine, last) if f is not None]
    return " <- ".join(dict.fromkeys(reversed(parts)))


# =============================================================================== worker process


def peak_rss_mb() -> float:
    """This process's own peak resident set size in MB.

    Linux's ``ru_maxrss`` survives ``execve``: a worker started from a 1.2 GB pytest process
    reports 1.2 GB before it reads a byte. ``VmHWM`` is the peak of the process's own memory map.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 1024)


def worker_main(master_seed: int, workdir: Path, memory_mb: int, case_timeout: float) -> None:
    """Read case numbers on stdin, answer one JSON line each on the original stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the answers
    seeds = build_seeds(workdir)
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def alarm(signum: int, frame: object) -> None:
        raise _Alarm()

    signal.signal(signal.SIGALRM, alarm)
    for line in sys.stdin:
        index = int(line)
        case = make_case(index, master_seed, seeds)
        path = str(workdir / f"case_{index:06d}_{case.kind}.dcm")
        Path(path).write_bytes(case.data)
        seed_name = case.seed
        del case
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, case_timeout * 0.8)
        try:
            outcome, detail = run_case(path)
        except _Alarm:
            outcome, detail = "timeout", "time limit (SIGALRM) outside the reader"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        answer = dict(index=index, seed=seed_name, outcome=outcome, detail=detail,
                      seconds=round(time.perf_counter() - start, 4), rss_mb=round(peak_rss_mb()))
        out.write(json.dumps(answer) + "\n")


# =============================================================================== the parent


@dataclass
class Result:
    """What one case ended as."""

    index: int
    kind: str
    seed: str
    outcome: str
    detail: str
    seconds: float


class Runner:
    """Feeds cases to one worker process; restarts it after a timeout, a crash or a memory bloat."""

    def __init__(self, master_seed: int, workdir: Path, *, timeout: float = DEFAULT_TIMEOUT_S,
                 memory_mb: int = DEFAULT_MEMORY_MB, max_rss_mb: int = DEFAULT_MAX_RSS_MB) -> None:
        self.master_seed, self.workdir, self.timeout = master_seed, workdir, timeout
        self.memory_mb, self.max_rss_mb = memory_mb, max_rss_mb
        self.proc: subprocess.Popen[bytes] | None = None
        self.buffer = b""
        self.restarts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seed",
               str(self.master_seed), "--workdir", str(self.workdir), "--memory-mb",
               str(self.memory_mb), "--timeout", str(self.timeout)]
        self.buffer = b""
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env, cwd=REPO)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, index: int) -> dict[str, object]:
        """The worker's answer for case ``index``: seed, outcome, detail, seconds, rss_mb."""
        if self.proc is None:
            self.proc = self._start()
            first = True
        else:
            first = False
        assert self.proc.stdin is not None and self.proc.stdout is not None
        start = time.perf_counter()
        try:
            self.proc.stdin.write(f"{index}\n".encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._lost("crash", "worker gone before the case", start)
        # The first case also waits for the worker to start and build its seeds.
        deadline = start + self.timeout + (120 if first else 0)
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self.buffer:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return self._lost("timeout", f"no answer in {self.timeout:g} s", start)
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    code = self.proc.wait()
                    return self._lost("crash", f"worker died (exit {code})", start)
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        answer = json.loads(line)
        if answer["rss_mb"] > self.max_rss_mb:
            self.stop()
            self.restarts += 1
            if answer["outcome"] in ("ok", "rejected"):
                answer["outcome"] = "memory"
                answer["detail"] = f"worker grew to {answer['rss_mb']} MB: {answer['detail']}"
        return answer

    def _lost(self, outcome: str, detail: str, start: float) -> dict[str, object]:
        self.stop()
        self.restarts += 1
        return dict(seed="?", outcome=outcome, detail=detail,
                    seconds=round(time.perf_counter() - start, 4), rss_mb=0)


def run_cases(indices: Iterable[int], master_seed: int, workdir: Path, *,
              timeout: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
              max_rss_mb: int = DEFAULT_MAX_RSS_MB,
              findings: Path | None = None, keep: bool = False) -> Iterator[Result]:
    """Run cases in one worker; yield each :class:`Result` (findings saved under ``findings``)."""
    runner = Runner(master_seed, workdir, timeout=timeout, memory_mb=memory_mb,
                    max_rss_mb=max_rss_mb)
    try:
        for index in indices:
            answer = runner.run(index)
            kind = KINDS[index % len(KINDS)]
            result = Result(index, kind, str(answer["seed"]), str(answer["outcome"]),
                            str(answer["detail"]), float(answer["seconds"]))  # type: ignore[arg-type]
            path = workdir / f"case_{index:06d}_{kind}.dcm"
            if result.outcome in FINDINGS and findings is not None:
                findings.mkdir(parents=True, exist_ok=True)
                if path.is_file():
                    (findings / path.name).write_bytes(path.read_bytes())
                with open(findings / "findings.jsonl", "a", encoding="utf-8") as log:
                    log.write(json.dumps(dict(vars(result), master_seed=master_seed)) + "\n")
            if not keep and path.is_file():
                path.unlink()
            yield result
    finally:
        runner.stop()


def summary(results: list[Result], elapsed: float) -> str:
    """Counts by kind and outcome, as a text table."""
    counts = Counter((r.kind, r.outcome) for r in results)
    head = f"{'kind':16}" + "".join(f"{o:>11}" for o in OUTCOMES) + f"{'total':>8}{'mean s':>8}"
    lines = [head]
    for kind in KINDS:
        mine = [r for r in results if r.kind == kind]
        if not mine:
            continue
        mean = sum(r.seconds for r in mine) / len(mine)
        lines.append(f"{kind:16}" + "".join(f"{counts[kind, o]:>11}" for o in OUTCOMES)
                     + f"{len(mine):>8}{mean:>8.3f}")
    totals = Counter(r.outcome for r in results)
    lines.append(f"{'all':16}" + "".join(f"{totals[o]:>11}" for o in OUTCOMES)
                 + f"{len(results):>8}")
    slowest = max(results, key=lambda r: r.seconds, default=None)
    lines.append(f"{len(results)} cases in {elapsed:.0f} s ({elapsed / max(1, len(results)):.3f} "
                 f"s/case); slowest case {slowest.index if slowest else '-'} "
                 f"{slowest.seconds if slowest else 0:.2f} s; "
                 f"findings: {sum(totals[o] for o in FINDINGS)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of cases (0 .. n-1)")
    parser.add_argument("--start", type=int, default=0, help="first case number")
    parser.add_argument("--cases", help="comma-separated case numbers to replay instead")
    parser.add_argument("--seed", type=int, default=1, help="master seed")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="s per case")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB, help="RLIMIT_AS")
    parser.add_argument("--max-rss-mb", type=int, default=DEFAULT_MAX_RSS_MB)
    parser.add_argument("--findings", type=Path,
                        help="where finding files are kept (default: WORKDIR/findings)")
    parser.add_argument("--workdir", type=Path, help="where case files are written")
    parser.add_argument("--keep", action="store_true", help="keep every case file")
    parser.add_argument("--progress", type=int, default=500, help="print counts every N cases")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.seed, args.workdir, args.memory_mb, args.timeout)
        return 0
    indices = ([int(c) for c in args.cases.split(",")] if args.cases
               else range(args.start, args.start + args.n))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fuzz_ingest_"))
    workdir.mkdir(parents=True, exist_ok=True)
    findings = args.findings or workdir / "findings"
    results: list[Result] = []
    start = time.perf_counter()
    for result in run_cases(indices, args.seed, workdir, timeout=args.timeout,
                            memory_mb=args.memory_mb, max_rss_mb=args.max_rss_mb,
                            findings=findings, keep=args.keep):
        results.append(result)
        if result.outcome in FINDINGS or args.cases:
            print(f"case {result.index} [{result.kind} of {result.seed}] {result.outcome}: "
                  f"{result.detail}",
                  flush=True)
        if args.progress and len(results) % args.progress == 0:
            print(summary(results, time.perf_counter() - start), flush=True)
    print(summary(results, time.perf_counter() - start), flush=True)
    print(f"case files under {workdir}; findings under {findings}")
    return 1 if any(r.outcome in FINDINGS for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
