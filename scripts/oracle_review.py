#!/usr/bin/env python
"""Decide a run's review worksheet from the truth of the synthetic study it ran on.

What the review path can give when every decision is right: each follicle line of
``review_worksheet.csv`` (a reported follicle or a candidate the network was unsure of, of an
ovary-visit that needs review) is decided by matching the image's reported follicles and
candidates together against its truth follicles, as ``scripts/agreement.py`` matches: a matched
candidate is ``follicle``, an unmatched one ``not_follicle``, an unmatched reported follicle
``not_follicle``; a matched reported follicle is left undecided, and no ovary-visit is
confirmed. ``--no-candidates`` leaves the candidates out (undecided and unmatched): the review
as it was before a candidate could be accepted. The decisions are written to ``RUN/review.csv``
(an existing one is refused) with
reviewer ``truth``; run the same ``follicle-seg run`` again to apply them, then
``scripts/agreement.py STUDY RUN``. A person's review will be slower and less right than this.

    follicle-seg run study/dicom --out run --cohort study/cohort.csv --no-overlays --no-dicom --no-report
    python scripts/oracle_review.py study run
    follicle-seg run study/dicom --out run --cohort study/cohort.csv --no-overlays --no-dicom --no-report
    python scripts/agreement.py study run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agreement import image_ids, match_image  # noqa: E402

from follicle_seg.tracking import large_enough_mm  # noqa: E402
from follicle_seg.review import FOLLICLE, NOT_FOLLICLE, REVIEW_FILE, WORKSHEET_FILE, candidate_lines  # noqa: E402


def decide(study: Path, run: Path, candidates: bool = True) -> pd.DataFrame:
    """The worksheet with its follicle lines decided from the truth (module docstring)."""
    sheet = pd.read_csv(run / WORKSHEET_FILE, dtype=str, keep_default_na=False)
    images = pd.read_csv(run / "images.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(study / "truth" / "follicles.csv", dtype={"sop_instance_uid": str})
    truth = truth[truth.mean_diameter_mm.map(large_enough_mm)]  # the pipeline's counting rule
    image_of = image_ids(study)
    spacing = {r.sop_instance_uid: (float(r.spacing_row_mm), float(r.spacing_col_mm))
               for r in images.itertuples() if r.status == "ok" and r.spacing_row_mm}  # fmt: skip
    lines = sheet[sheet.sop_instance_uid != ""].copy()
    lines["candidate"] = candidate_lines(lines)
    if not candidates:
        lines = lines[~lines.candidate]
    lines["image_id"] = lines.sop_instance_uid.map(lambda u: image_of.get(u, u))
    truth = truth.assign(image_id=truth.sop_instance_uid.map(lambda u: image_of.get(u, u)))
    for image_id, group in lines.groupby("image_id"):
        uid = group.sop_instance_uid.iloc[0]
        if uid not in spacing:  # uncalibrated: the truth cannot be matched in mm; left undecided
            continue
        found = pd.DataFrame({"centroid_row": group.centroid_row.astype(float),
                              "centroid_col": group.centroid_col.astype(float)}, index=group.index)  # fmt: skip
        matched = {i for i, _ in match_image(found, truth[truth.image_id == image_id], spacing[uid])}
        for i in group.index:
            if group.loc[i, "candidate"]:
                sheet.loc[i, "decision"] = FOLLICLE if i in matched else NOT_FOLLICLE
            elif i not in matched:
                sheet.loc[i, "decision"] = NOT_FOLLICLE
    decided = sheet.decision != ""
    sheet.loc[decided, "reviewer"] = "truth"
    return sheet[decided]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", type=Path, help="folder written by follicle-seg synth")
    ap.add_argument("run", type=Path, help="folder written by follicle-seg run (holds review_worksheet.csv)")
    ap.add_argument("--no-candidates", dest="candidates", action="store_false",
                    help="decide the reported follicles only (the candidates left undecided)")
    args = ap.parse_args()
    if (args.run / REVIEW_FILE).exists():
        sys.exit(f"{args.run / REVIEW_FILE} exists: remove it first (a truth review replaces none)")
    review = decide(args.study, args.run, args.candidates)
    review.to_csv(args.run / REVIEW_FILE, index=False)
    print(json.dumps(review.decision.value_counts().to_dict()))


if __name__ == "__main__":
    main()
