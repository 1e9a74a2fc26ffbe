"""What the "low confidence" review band costs and catches, for several starts of the band.

A candidate follicle scoring from ``tracking.LOW_CONFIDENCE_SCORE`` up to the reporting threshold
``tracking.MIN_FOLLICLE_SCORE`` is not reported, but flags its ovary-visit for review so that a
sonographer looks at it. For each band start given, on a generated study with truth:

- ``flagged``: ovary-visits the band flags (of all ovary-visits), and ``needing review``: those
  needing review for this or any other reason (the other reasons from a run as shipped);
- ``band true`` (of the true follicles the report missed) and ``band false``: band candidates
  that are such a follicle, and the others (a candidate is matched to truth as
  ``scripts/agreement.py`` matches follicles, after the reported follicles have taken theirs;
  the follicles of an uncalibrated image, unmatchable in mm, are left out).

Runs the pipeline (tables only) twice: as shipped, and with the reporting threshold lowered to
the lowest start (so that every candidate down to it is in ``follicles.csv`` with its score).
Use a study that is not the one the agreement is reported on.

Example (about 4 min on the 2-core CPU)::

    follicle-seg synth runs/s123 --patients 4 --visits 3 --seed 123
    python scripts/review_band.py runs/s123 0.5 0.6 0.7 0.8 [--weights W]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import follicle_seg.tracking as tracking
from follicle_seg.pipeline import RunOptions, run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agreement import KEY, image_ids, match_image  # noqa: E402


def _run(study: Path, out: Path, weights: Path | None) -> Path:
    run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv", overlays=False, dicom=False,
                                      report=False, resume=False, weights=weights))
    return out


def candidates(study: Path, low_run: Path, threshold: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every candidate of ``low_run`` (a run reporting down to a lower threshold) with
    ``reported`` (score >= ``threshold``) and ``true`` (matched to a truth follicle of its image:
    the reported ones first, then the others against the truth follicles left), and the truth
    follicles with ``reported`` (matched by a reported candidate)."""
    image_of = image_ids(study)
    found = pd.read_csv(low_run / "follicles.csv", dtype={"patient_id": str})
    truth = pd.read_csv(study / "truth" / "follicles.csv", dtype={"patient_id": str})
    truth = truth[truth.mean_diameter_mm >= tracking.MIN_FOLLICLE_DIAMETER_MM]
    images = pd.read_csv(low_run / "images.csv", dtype={"patient_id": str})
    ok = images[images.status == "ok"]
    spacing = {r.sop_instance_uid: (float(r.spacing_row_mm), float(r.spacing_col_mm))
               for r in ok.itertuples() if r.spacing_row_mm > 0 and r.spacing_col_mm > 0}
    # an uncalibrated image's follicles cannot be matched in mm: left out, not scored as false or missed
    uncalibrated = {image_of.get(u, u) for u in set(ok.sop_instance_uid) - set(spacing)}
    found = found.assign(image_id=found.sop_instance_uid.map(lambda u: image_of.get(u, u)),
                         reported=found.score >= threshold, true=False)
    truth = truth.assign(image_id=truth.sop_instance_uid.map(lambda u: image_of.get(u, u)), reported=False)
    found, truth = found[~found.image_id.isin(uncalibrated)], truth[~truth.image_id.isin(uncalibrated)]
    for image, f in found.groupby("image_id"):
        t = truth[truth.image_id == image]
        mm = spacing[f.sop_instance_uid.iloc[0]]
        first = match_image(f[f.reported], t, mm)
        later = match_image(f[~f.reported], t.drop(index=[j for _, j in first]), mm)
        found.loc[[i for i, _ in first + later], "true"] = True
        truth.loc[[j for _, j in first], "reported"] = True
    return found, truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", type=Path, help="a folder written by `follicle-seg synth`")
    ap.add_argument("starts", type=float, nargs="+", help="band starts to compare (below the reporting threshold)")
    ap.add_argument("--weights", type=Path, help="models/model.pt of a bundle (default: shipped)")
    args = ap.parse_args()
    threshold = tracking.MIN_FOLLICLE_SCORE
    shipped = _run(args.study, args.study.parent / f"{args.study.name}_band_shipped", args.weights)
    tracking.MIN_FOLLICLE_SCORE = min(args.starts)
    low = _run(args.study, args.study.parent / f"{args.study.name}_band_low", args.weights)
    tracking.MIN_FOLLICLE_SCORE = threshold
    found, truth = candidates(args.study, low, threshold)
    reasons = pd.read_csv(shipped / "review_reasons.csv", dtype={"patient_id": str})
    low_confidence = reasons.flag == tracking.FLAG_LOW_CONFIDENCE
    other = set(map(tuple, reasons.loc[~low_confidence, KEY].values))
    n_visits = len(pd.read_csv(shipped / "ovaries.csv"))
    missed = int((~truth.reported).sum())
    print(f"{n_visits} ovary-visits; {len(truth)} true follicles, {missed} not reported at {threshold:.2f}; "
          f"as shipped (band from {tracking.LOW_CONFIDENCE_SCORE:.2f}) {reasons.loc[low_confidence, KEY].drop_duplicates().shape[0]} "
          f"ovary-visits flagged low confidence, {len(other)} for other reasons")
    print("start  flagged  needing_review  band_true  band_false")
    for start in args.starts:
        band = found[~found.reported & (found.score >= start)]
        flagged = set(map(tuple, band[KEY].values))
        print(f"{start:5.2f}  {len(flagged):7d}  {len(flagged | other):14d}  {int(band.true.sum()):5d} of {missed}"
              f"  {int((~band.true).sum()):10d}", flush=True)

if __name__ == "__main__":
    main()
