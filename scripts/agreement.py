#!/usr/bin/env python
"""Agreement of a `follicle-seg run` with the truth of the synthetic study it ran on.

Per ovary-visit: follicle count exact / within one. Per follicle (each analysed image against the
truth follicles of that image, counted ones >= 2 mm; the truth follicles of an image the run
rejected or failed count as missed; an image the run found uncalibrated is left out, its
follicles unmatchable in mm, and counted in ``images_uncalibrated``): precision, recall, and the
bias and 95 % limits of agreement of the mean diameter of matched follicles (``null`` where
undefined: no follicle found, none true, none matched, limits of fewer than two). Per review
flag: the ovary-visits it marks and how many of them have a wrong count. Per ovary-visit with an
ovary size in both: the bias and limits of agreement of d1 and d2 (the run's largest measured
ovary section of its images against the truth's largest section in the image its count comes
from). A found follicle
matches a truth follicle of the same image when their centroids (on the frame where each is
largest) are closer than half the truth mean diameter or 2 mm, whichever is larger; pairs are
taken nearest first.
An image is a still or a whole sweep, also a sweep stored one file per frame (`follicle-seg
synth --sweep-files frames`): the truth's `images.csv` names the image of every file.

    follicle-seg synth study --patients 4 --visits 3 --seed 123
    follicle-seg run study/dicom --out run --cohort study/cohort.csv
    python scripts/agreement.py study run
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from follicle_seg.model.evaluate import limits_of_agreement
from follicle_seg.tracking import large_enough_mm

KEY = ["patient_id", "study_date", "laterality"]


def match_image(found: pd.DataFrame, truth: pd.DataFrame, spacing_mm: tuple[float, float]) -> list[tuple[int, int]]:
    """Nearest-first one-to-one matches (found index, truth index) within the distance rule, in mm
    by the image's (row, column) pixel spacing (one spacing for both, their geometric mean, put a
    centroid 14 px off in columns at 0.1 x 0.4 mm/px 2.8 mm away instead of 5.6)."""
    pairs = []
    for i, f in found.iterrows():
        for j, t in truth.iterrows():
            dist_mm = np.hypot((f.centroid_row - t.centroid_row) * spacing_mm[0],
                               (f.centroid_col - t.centroid_col) * spacing_mm[1])
            if dist_mm <= max(2.0, 0.5 * t.mean_diameter_mm):
                pairs.append((dist_mm, i, j))
    used_f, used_t, matches = set(), set(), []
    for _, i, j in sorted(pairs):
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            matches.append((i, j))
    return matches


def image_ids(study: Path) -> dict[str, str]:
    """SOP Instance UID of every file -> the image (still or sweep) it belongs to; empty for a
    study written before the truth listed its images (each file its own image then)."""
    path = study / "truth" / "images.csv"
    if not path.exists():
        return {}
    table = pd.read_csv(path, dtype=str)
    return dict(zip(table.sop_instance_uid, table.image_id))


def agreement(study: Path, run: Path) -> dict:
    ovaries = pd.read_csv(run / "ovaries.csv", dtype={"patient_id": str})
    truth_ov = pd.read_csv(study / "truth" / "ovaries.csv", dtype={"patient_id": str})
    both = ovaries.merge(truth_ov, on=KEY, suffixes=("", "_truth"), how="outer", indicator=True)
    merged = both[both._merge == "both"].drop(columns="_merge").reset_index(drop=True)
    if not len(merged):
        raise SystemExit(f"{run}: no ovary-visit matches the truth of {study} by patient, date and side "
                         "(a pseudonymised run? another study?)")
    diff = merged.follicle_count - merged.follicle_count_truth

    images = pd.read_csv(run / "images.csv", dtype={"patient_id": str})
    found = pd.read_csv(run / "follicles.csv", dtype={"patient_id": str})
    truth = pd.read_csv(study / "truth" / "follicles.csv", dtype={"patient_id": str})
    truth = truth[truth.mean_diameter_mm.map(large_enough_mm)]  # the pipeline's counting rule
    image_of = image_ids(study)

    def with_image(table: pd.DataFrame) -> pd.DataFrame:
        return table.assign(image_id=table.sop_instance_uid.map(lambda u: image_of.get(u, u)))

    found, truth = with_image(found), with_image(truth)
    ok = with_image(images[images.status == "ok"]).drop_duplicates("image_id")
    # images the run lists but did not analyse (rejected, failed): their true follicles were missed
    not_analysed = set(with_image(images).image_id) - set(ok.image_id)
    tp = n_found = uncalibrated = 0
    n_truth = int(truth.image_id.isin(not_analysed).sum())
    diam = []
    for _, im in ok.iterrows():
        if not (im.spacing_row_mm > 0 and im.spacing_col_mm > 0):  # empty: no mm to match in
            uncalibrated += 1
            continue
        f = found[found.image_id == im.image_id]
        t = truth[truth.image_id == im.image_id]
        matches = match_image(f, t, (float(im.spacing_row_mm), float(im.spacing_col_mm)))
        tp += len(matches)
        n_found += len(f)
        n_truth += len(t)
        diam += [f.loc[i, "mean_diameter_mm"] - t.loc[j, "mean_diameter_mm"] for i, j in matches]
    review = _review(run, merged.assign(wrong=diff != 0))
    loa = limits_of_agreement(diam)
    unmatched = {side: [" ".join(map(str, k)) for k in both.loc[both._merge == which, KEY].itertuples(index=False)]
                 for side, which in (("run", "left_only"), ("truth", "right_only"))}  # fmt: skip
    return {
        "ovary_visits": int(len(merged)),
        # ovary-visits of one side only (a side-unknown image's "U" row, a visit whose files were
        # all rejected): left out of every figure below, so listed
        "unmatched_ovary_visits": unmatched,
        "count_exact": round(float((diff == 0).mean()), 3),
        "count_within_one": round(float((diff.abs() <= 1).mean()), 3),
        "count_mean_error": round(float(diff.mean()), 2),
        "images_not_analysed": len(not_analysed),
        # analysed without a mm scale: their follicles cannot be matched (the distance rule is in
        # mm), so they are left out of the follicle figures below, not scored as all wrong
        "images_uncalibrated": uncalibrated,
        "follicles_found": n_found,
        "follicles_true": n_truth,
        "precision": round(tp / n_found, 3) if n_found else None,
        "recall": round(tp / n_truth, 3) if n_truth else None,
        "diameter_bias_mm": _round(loa["bias_mm"]),
        "diameter_loa_mm": [_round(loa["loa_low_mm"]), _round(loa["loa_high_mm"])],
        **_ovary_size(merged),
        **review,
    }


def _ovary_size(merged: pd.DataFrame) -> dict:
    """Bias and 95 % limits of agreement of the ovary's d1 and d2 (mm) over the ovary-visits that
    have both (a truth written before it had them: none)."""
    said = {}
    for axis in ("ovary_d1_mm", "ovary_d2_mm"):
        if f"{axis}_truth" not in merged:
            continue
        both = merged[[axis, f"{axis}_truth"]].dropna()
        loa = limits_of_agreement(list(both[axis] - both[f"{axis}_truth"]))
        name = axis.removesuffix("_mm")
        said |= {f"{name}_n": len(both), f"{name}_bias_mm": _round(loa["bias_mm"]),
                 f"{name}_loa_mm": [_round(loa["loa_low_mm"]), _round(loa["loa_high_mm"])]}
    return said


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _review(run: Path, merged: pd.DataFrame) -> dict:
    """Whether ``needs_review`` marks the ovary-visits whose count is wrong: how many it marks,
    how many counts are wrong, how many of those it marks, and the same per review flag (from
    ``review_reasons.csv``: ``[ovary-visits flagged, of them wrong]``)."""
    wrong = merged[merged.wrong]
    out = {"needs_review": int(merged.needs_review.sum()), "counts_wrong": len(wrong),
           "counts_wrong_needing_review": int(wrong.needs_review.sum())}
    path = run / "review_reasons.csv"
    if path.exists():
        reasons = pd.read_csv(path, dtype={"patient_id": str})[[*KEY, "flag"]].drop_duplicates()
        flagged = reasons.merge(merged[[*KEY, "wrong"]], on=KEY)
        out["review_flags"] = {flag: [len(g), int(g.wrong.sum())] for flag, g in flagged.groupby("flag")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", type=Path, help="folder written by follicle-seg synth")
    ap.add_argument("run", type=Path, help="folder written by follicle-seg run")
    print(json.dumps(agreement(**vars(ap.parse_args())), indent=2))


if __name__ == "__main__":
    main()
