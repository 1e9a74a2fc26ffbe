"""Agreement with truth of `follicle-seg run` for several reporting thresholds of follicle score.

Runs the pipeline (tables only) on a generated study once per value of
``tracking.MIN_FOLLICLE_SCORE`` and prints ``scripts/agreement.py``'s figures for each. Use a
study that is not the one the agreement is reported on.

Example (about 3 min on the 2-core CPU)::

    follicle-seg synth runs/thr/study --patients 4 --visits 3 --seed 123 --frames 12
    python scripts/score_threshold.py runs/thr/study 0.65 0.75 0.85 0.90 0.95 [--weights W]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import follicle_seg.tracking as tracking
from follicle_seg.pipeline import RunOptions, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", type=Path, help="a folder written by `follicle-seg synth`")
    ap.add_argument("thresholds", type=float, nargs="+")
    ap.add_argument("--weights", type=Path, help="models/model.pt of a bundle (default: shipped)")
    args = ap.parse_args()
    print("threshold  exact  within_one  mean_error  precision  recall")
    for t in args.thresholds:
        tracking.MIN_FOLLICLE_SCORE = t
        out = args.study.parent / f"run_{t}"
        run([args.study / "dicom"], RunOptions(out=out, cohort=args.study / "cohort.csv", overlays=False,
                                              dicom=False, report=False, resume=False,
                                              weights=args.weights))
        agreement = Path(__file__).with_name("agreement.py")
        done = subprocess.run([sys.executable, str(agreement), str(args.study), str(out)],
                              capture_output=True, text=True, check=True)
        print(row(t, json.loads(done.stdout)), flush=True)


def row(threshold: float, r: dict) -> str:
    """One line of the table; a figure agreement.py leaves undefined (``null``: precision of a run
    that reports nothing, recall of a study without follicles) is ``-``.

    >>> row(0.999, {"count_exact": 0.5, "count_within_one": 1.0, "count_mean_error": -1.0, "precision": None, "recall": 0.0})
    '     1.00    50%        100%       -1.00          -    0.00'
    """
    def cell(key: str, spec: str, width: int) -> str:
        return ("-" if r[key] is None else format(r[key], spec)).rjust(width)

    return (f"{threshold:9.2f}  {cell('count_exact', '.0%', 5)}  {cell('count_within_one', '.0%', 10)}  "
            f"{cell('count_mean_error', '+.2f', 10)}  {cell('precision', '.2f', 9)}  {cell('recall', '.2f', 6)}")


if __name__ == "__main__":
    main()
