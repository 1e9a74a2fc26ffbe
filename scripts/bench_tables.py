#!/usr/bin/env python
"""Time and peak memory of what follows the network, on generated trials of growing size.

For each size (``PATIENTSxVISITS``; the demo's is 3x3) a synthetic study is written
(``follicle_seg.synth.study.write_study``, one still per ovary-visit, sweeps of ``--frames``
frames) and analysed once by ``follicle-seg run`` with a stand-in for the network that returns
the study's own truth masks (no weights run; everything after the network is the real code).
Then each stage runs in a fresh process, so its peak RSS is its own:

* ``read state``: every result read back from ``run_state.sqlite``;
* ``build_tables``: the tables from those results (with the cohort);
* ``worksheet``: ``review_worksheet.csv``'s lines;
* ``write_report``: the HTML report, its pages and figures;
* ``resumed run``: ``follicle-seg run`` again, nothing to analyse (tables, worksheet, report);
* ``review run``: the same with a ``review.csv`` of ``--decisions`` decisions taken from the
  worksheet (confirmations, follicles dropped, candidates accepted).

Prints one line per stage and size: stage, size, files, seconds, peak MB (the process's, Python
and pandas included).

    python scripts/bench_tables.py --sizes 3x3 6x6 12x12 --work bench_tables
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("read state", "build_tables", "worksheet", "write_report", "resumed run", "review run")


def size_of(text: str) -> tuple[int, int]:
    """``"12x12"`` -> (12, 12): patients and visits."""
    try:
        patients, visits = (int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PATIENTSxVISITS, e.g. 3x3") from None
    if patients < 1 or visits < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: patients and visits must be at least 1")
    return patients, visits


def truth_network(truth: Path) -> None:
    """Make :class:`~follicle_seg.model.infer.Segmenter` return the study's truth masks (one-hot,
    0.9 on the true class) in place of the network's probabilities."""
    import numpy as np
    from PIL import Image

    from follicle_seg.model.infer import Segmenter

    real_segment = Segmenter.segment

    def segment(self, frames):
        probs = []
        for f in frames:
            mask = np.asarray(Image.open(truth / "masks" / f"{f.record.sop_instance_uid}_{f.index}.png"))
            c0, r0, c1, r1 = f.record.region
            mask = mask[r0 : r1 + 1, c0 : c1 + 1]
            probs.append((np.stack([(mask == k) * 0.9 + 0.05 for k in range(3)]).astype(np.float32), ()))
        self._truth = probs
        return real_segment(self, frames)

    Segmenter.segment = segment
    Segmenter._readings = lambda self, items: [[reading] for reading in self._truth]  # one reading a frame


def make_trial(work: Path, patients: int, visits: int, frames: int, seed: int, sweep_files: str) -> None:
    """The study and its analysed run folder under ``work``, unless made there with the same
    options; in a process of its own (the network stood in for once a process)."""
    made_with = {"patients": patients, "visits": visits, "frames": frames, "seed": seed, "sweep_files": sweep_files}
    stamp = work / "bench_trial.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == made_with:
        return
    stamp.unlink(missing_ok=True)
    subprocess.run([sys.executable, __file__, "--analyse", json.dumps(made_with), "--work", str(work)], check=True)
    stamp.write_text(json.dumps(made_with) + "\n")


def analyse(work: Path, made_with: dict) -> None:
    """Write the study and analyse it with the truth for the network (:func:`truth_network`)."""
    from follicle_seg.options import RunOptions
    from follicle_seg.pipeline import run
    from follicle_seg.synth.study import write_study

    study = work / "study"
    write_study(study, patients=made_with["patients"], visits=made_with["visits"], seed=made_with["seed"],
                frames_per_sweep=made_with["frames"], sweep_files=made_with["sweep_files"])  # fmt: skip
    truth_network(study / "truth")
    summary = run([study / "dicom"], RunOptions(out=work / "out", cohort=study / "cohort.csv", resume=False))
    if summary.ok != summary.inputs:
        sys.exit(f"{work / 'out'}: {summary.inputs - summary.ok} of {summary.inputs} files not analysed (run.log)")


def review_lines(sheet, decisions: int):
    """``decisions`` lines of a worksheet decided: whole ovary-visits in turn, the first
    confirmed as they are, the next with every follicle line ``not_follicle`` and candidate
    ``follicle`` (no confirmation: its count changes), alternately."""
    from follicle_seg.review import candidate_lines

    sheet = sheet.copy()
    sheet["reviewer"] = "bench"
    key = ["patient_id", "study_date", "laterality"]
    is_candidate = candidate_lines(sheet)
    decided = 0
    for n, (_, lines) in enumerate(sheet.groupby(key, sort=False)):
        if decided >= decisions:
            break
        ovary = lines.index[lines["sop_instance_uid"] == ""]
        follicles = lines.index[(lines["follicle_id"] != "")]
        if n % 2 == 0 or follicles.empty:
            sheet.loc[ovary, "decision"] = "confirmed"
            decided += len(ovary)
        else:
            chosen = follicles[: decisions - decided]
            sheet.loc[chosen, "decision"] = ["follicle" if is_candidate[i] else "not_follicle" for i in chosen]
            decided += len(chosen)
    return sheet[sheet["decision"] != ""]


def stage(name: str, work: Path, decisions: int = 100) -> float:
    """Run one stage on the analysed trial in ``work``; its seconds."""
    import pandas as pd

    from follicle_seg.io.tables import read_cohort, write_csv
    from follicle_seg.outdir import out_state
    from follicle_seg.review import REVIEW_FILE, WORKSHEET_FILE, Review, worksheet
    from follicle_seg.state import StateStore
    from follicle_seg.visits import build_tables

    out, study = work / "out", work / "study"
    if name in ("resumed run", "review run"):
        from follicle_seg.options import RunOptions
        from follicle_seg.pipeline import run

        (out / REVIEW_FILE).unlink(missing_ok=True)
        if name == "review run":
            sheet = pd.read_csv(out / WORKSHEET_FILE, dtype=str, keep_default_na=False)
            write_csv(review_lines(sheet, decisions), out / REVIEW_FILE)
        t = time.perf_counter()
        run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv"))
        seconds = time.perf_counter() - t
        if name == "review run":  # back to the outputs without a review, as the next stages begin from
            (out / REVIEW_FILE).unlink()
            run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv"))
        return seconds
    t = time.perf_counter()
    store = StateStore(out_state(out))
    results = store.results({(path, sha) for path, sha in store.keys() if Path(path).is_relative_to(study)})
    store.close()
    if name == "read state":
        return time.perf_counter() - t
    cohort = read_cohort(study / "cohort.csv")
    review = Review.read(out / REVIEW_FILE)
    t = time.perf_counter()
    tables = build_tables(results, cohort, review)
    if name == "build_tables":
        return time.perf_counter() - t
    from follicle_seg.report.thumbnails import scan_overlays

    analysed = tables["images"].loc[tables["images"]["status"] == "ok", "sop_instance_uid"]
    overlays = scan_overlays(out / "overlays", analysed)
    t = time.perf_counter()
    sheet = worksheet(tables, overlays, review)
    if name == "worksheet":
        return time.perf_counter() - t
    from follicle_seg.report.html import write_report
    from follicle_seg.series import sweep_files

    sweeps = sweep_files(r.record for r in results if r.status == "ok" and r.record is not None)
    t = time.perf_counter()
    write_report(out, tables, overlay_index=overlays, sheet=sheet, notes=[], sweeps=sweeps)
    return time.perf_counter() - t


def peak_mb() -> float:
    """This process's peak resident memory in MB (Linux's VmHWM: unlike ``ru_maxrss`` it does
    not start from the memory of the process that started this one)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measured(name: str, work: Path, decisions: int) -> tuple[float, float]:
    """(seconds, peak MB) of one stage, run in a process of its own."""
    done = subprocess.run([sys.executable, __file__, "--stage", name, "--work", str(work), "--decisions", str(decisions)],
                          check=True, stdout=subprocess.PIPE, text=True)  # fmt: skip
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), float(peak)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=size_of, nargs="+", default=[(3, 3), (6, 6), (12, 12)],
                    help="trials as PATIENTSxVISITS (default: 3x3 6x6 12x12, the demo's size, 4x and 16x)")
    ap.add_argument("--frames", type=int, default=4, help="frames of each sweep (default 4)")
    ap.add_argument("--sweep-files", choices=("cine", "frames"), default="cine",
                    help="each sweep one multi-frame file (cine) or one file per frame (frames)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--decisions", type=int, default=100, help="decisions of the review applied (default 100)")
    ap.add_argument("--work", type=Path, required=True, help="folder for the studies and runs (reused)")
    ap.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # (one stage, in its own process)
    ap.add_argument("--analyse", type=json.loads, help=argparse.SUPPRESS)  # (a trial made, in its own process)
    args = ap.parse_args(argv)
    if args.analyse:
        analyse(args.work, args.analyse)
        return
    if args.stage:
        seconds = stage(args.stage, args.work.resolve(), args.decisions)
        print(seconds, peak_mb())
        return
    print(f"{'stage':<14}{'size':>8}{'files':>7}{'seconds':>9}{'peak MB':>9}")
    for patients, visits in args.sizes:
        folder = (args.work / f"{patients}x{visits}_{args.sweep_files}").resolve()
        make_trial(folder, patients, visits, args.frames, args.seed, args.sweep_files)
        files = sum(1 for p in (folder / "study" / "dicom").rglob("*.dcm"))
        for name in STAGES:
            seconds, peak = measured(name, folder, args.decisions)
            print(f"{name:<14}{f'{patients}x{visits}':>8}{files:>7}{seconds:>9.2f}{peak:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
