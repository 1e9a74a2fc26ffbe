"""scripts/agreement.py: follicles matched per still or per sweep, also a sweep stored frame by frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from script_module import load_script  # tests/ is on sys.path

agreement = load_script("agreement")
KEY = {"patient_id": "P1", "study_date": "2026-01-05", "laterality": "L"}


def _write(study: Path, run: Path, *, with_images: bool) -> None:
    (study / "truth").mkdir(parents=True)
    run.mkdir()
    # a sweep stored as two files f1, f2: the truth's follicle is largest on f1, the run's on f2
    pd.DataFrame([{**KEY, "follicle_count": 1}]).to_csv(study / "truth" / "ovaries.csv", index=False)
    pd.DataFrame([{**KEY, "sop_instance_uid": "f1", "centroid_row": 50.0, "centroid_col": 50.0,
                   "mean_diameter_mm": 6.0}]).to_csv(study / "truth" / "follicles.csv", index=False)  # fmt: skip
    if with_images:
        pd.DataFrame({"sop_instance_uid": ["f1", "f2"], "image_id": ["f1", "f1"], "image_kind": ["sweep"] * 2}).to_csv(
            study / "truth" / "images.csv", index=False)  # fmt: skip
    pd.DataFrame([{**KEY, "follicle_count": 1, "needs_review": False}]).to_csv(run / "ovaries.csv", index=False)
    pd.DataFrame([{**KEY, "sop_instance_uid": sop, "status": "ok", "spacing_row_mm": 0.2, "spacing_col_mm": 0.2}
                  for sop in ("f1", "f2")]).to_csv(run / "images.csv", index=False)  # fmt: skip
    pd.DataFrame([{**KEY, "sop_instance_uid": "f2", "centroid_row": 52.0, "centroid_col": 50.0,
                   "mean_diameter_mm": 6.5}]).to_csv(run / "follicles.csv", index=False)  # fmt: skip


def test_a_follicle_largest_on_another_frame_file_of_the_sweep_matches(tmp_path: Path) -> None:
    _write(tmp_path / "study", tmp_path / "run", with_images=True)
    got = agreement.agreement(tmp_path / "study", tmp_path / "run")
    assert got["count_exact"] == 1.0
    assert (got["follicles_found"], got["follicles_true"], got["precision"], got["recall"]) == (1, 1, 1.0, 1.0)
    assert got["diameter_bias_mm"] == 0.5


def test_without_the_truths_image_list_each_file_is_its_own_image(tmp_path: Path) -> None:
    _write(tmp_path / "study", tmp_path / "run", with_images=False)
    got = agreement.agreement(tmp_path / "study", tmp_path / "run")
    assert (got["precision"], got["recall"]) == (0.0, 0.0)


def test_review_flags_are_scored_against_the_wrong_counts(tmp_path: Path) -> None:
    study, run = tmp_path / "study", tmp_path / "run"
    _write(study, run, with_images=True)
    right, wrong, missed = ({**KEY, "laterality": side} for side in ("L", "R", "U"))
    pd.DataFrame([{**right, "follicle_count": 1}, {**wrong, "follicle_count": 2}, {**missed, "follicle_count": 0}]).to_csv(
        study / "truth" / "ovaries.csv", index=False)  # fmt: skip
    pd.DataFrame([{**right, "follicle_count": 1, "needs_review": True}, {**wrong, "follicle_count": 1, "needs_review": True},
                  {**missed, "follicle_count": 1, "needs_review": False}]).to_csv(run / "ovaries.csv", index=False)  # fmt: skip
    pd.DataFrame([{**right, "sop_instance_uid": "f1", "flag": "low confidence", "reason": ""},
                  {**wrong, "sop_instance_uid": "a", "flag": "low confidence", "reason": ""},
                  {**wrong, "sop_instance_uid": "b", "flag": "low confidence", "reason": ""},  # two images, one visit
                  {**wrong, "sop_instance_uid": "", "flag": "counts disagree", "reason": ""}]).to_csv(
        run / "review_reasons.csv", index=False)  # fmt: skip
    got = agreement.agreement(study, run)
    assert (got["needs_review"], got["counts_wrong"], got["counts_wrong_needing_review"]) == (2, 2, 1)
    assert got["review_flags"] == {"counts disagree": [1, 1], "low confidence": [2, 1]}


def test_ovary_visits_of_one_side_only_are_listed_and_a_run_matching_nothing_stops(tmp_path: Path) -> None:
    """The merge dropped them in silence (a "U" row of the run, a visit whose files were all
    rejected); a pseudonymised run scored NaN on no ovary-visit at all."""
    import pytest

    study, run = tmp_path / "study", tmp_path / "run"
    _write(study, run, with_images=True)
    pd.DataFrame([{**KEY, "follicle_count": 1}, {**KEY, "laterality": "R", "follicle_count": 2}]).to_csv(
        study / "truth" / "ovaries.csv", index=False)  # fmt: skip
    pd.DataFrame([{**KEY, "follicle_count": 1, "needs_review": False},
                  {**KEY, "laterality": "U", "follicle_count": 3, "needs_review": True}]).to_csv(run / "ovaries.csv", index=False)  # fmt: skip
    got = agreement.agreement(study, run)
    assert got["ovary_visits"] == 1 and got["count_exact"] == 1.0
    assert got["unmatched_ovary_visits"] == {"run": ["P1 2026-01-05 U"], "truth": ["P1 2026-01-05 R"]}
    pd.DataFrame([{**KEY, "patient_id": "P3f2a", "follicle_count": 1, "needs_review": False}]).to_csv(run / "ovaries.csv", index=False)
    with pytest.raises(SystemExit, match="no ovary-visit matches the truth"):
        agreement.agreement(study, run)


def test_undefined_diameter_agreement_is_null_not_nan(tmp_path: Path) -> None:
    """One matched follicle gave limits of agreement [NaN, NaN] and none a NaN bias: the printed
    JSON was not JSON (``NaN``), and jq or a browser refused it."""
    import json

    _write(tmp_path / "study", tmp_path / "run", with_images=True)
    got = agreement.agreement(tmp_path / "study", tmp_path / "run")
    assert got["diameter_bias_mm"] == 0.5 and got["diameter_loa_mm"] == [None, None]
    json.dumps(got, allow_nan=False)
    _write(tmp_path / "study2", tmp_path / "run2", with_images=False)
    got = agreement.agreement(tmp_path / "study2", tmp_path / "run2")
    assert got["diameter_bias_mm"] is None and got["diameter_loa_mm"] == [None, None]


def test_true_follicles_of_an_image_the_run_failed_count_as_missed(tmp_path: Path) -> None:
    """An image the run rejected or failed dropped out of recall: its true follicles vanished
    from the denominator, and recall stayed 1.0 however many images failed."""
    study, run = tmp_path / "study", tmp_path / "run"
    _write(study, run, with_images=True)
    pd.DataFrame([{**KEY, "sop_instance_uid": "f1", "centroid_row": 50.0, "centroid_col": 50.0, "mean_diameter_mm": 6.0},
                  {**KEY, "sop_instance_uid": "s2", "centroid_row": 40.0, "centroid_col": 40.0, "mean_diameter_mm": 5.0},
                  {**KEY, "sop_instance_uid": "s2", "centroid_row": 80.0, "centroid_col": 80.0, "mean_diameter_mm": 1.5}]).to_csv(
        study / "truth" / "follicles.csv", index=False)  # fmt: skip
    images = pd.read_csv(run / "images.csv", dtype=str)
    failed = {**KEY, "sop_instance_uid": "s2", "status": "failed", "spacing_row_mm": "", "spacing_col_mm": ""}
    pd.concat([images, pd.DataFrame([failed])]).to_csv(run / "images.csv", index=False)
    got = agreement.agreement(study, run)
    assert got["images_not_analysed"] == 1
    assert (got["follicles_found"], got["follicles_true"], got["precision"], got["recall"]) == (1, 2, 1.0, 0.5)


def test_an_uncalibrated_image_is_left_out_of_the_follicle_figures_and_counted(tmp_path: Path) -> None:
    """An image without a mm scale matched nothing (its distance in mm was NaN): a run that found
    every follicle scored precision 0.0 and recall 0.0."""
    study, run = tmp_path / "study", tmp_path / "run"
    _write(study, run, with_images=True)
    pd.DataFrame([{**KEY, "sop_instance_uid": sop, "status": "ok", "spacing_row_mm": None, "spacing_col_mm": None}
                  for sop in ("f1", "f2")]).to_csv(run / "images.csv", index=False)  # fmt: skip
    got = agreement.agreement(study, run)
    assert (got["follicles_found"], got["follicles_true"], got["precision"], got["recall"]) == (0, 0, None, None)
    assert got["images_uncalibrated"] == 1 and got["count_exact"] == 1.0


def test_ovary_sizes_are_scored_when_the_truth_has_them(tmp_path: Path) -> None:
    """The truth's ovaries.csv has ovary_d1_mm / ovary_d2_mm: the run's are scored against them
    (bias, limits of agreement); a truth without them scores none."""
    study, run = tmp_path / "study", tmp_path / "run"
    _write(study, run, with_images=True)
    assert not any(k.startswith("ovary_d") for k in agreement.agreement(study, run))
    sides = [{**KEY, "laterality": side} for side in ("L", "R")]
    pd.DataFrame([{**sides[0], "follicle_count": 1, "ovary_d1_mm": 30.0, "ovary_d2_mm": 20.0},
                  {**sides[1], "follicle_count": 0, "ovary_d1_mm": 25.0, "ovary_d2_mm": None}]).to_csv(
        study / "truth" / "ovaries.csv", index=False)  # fmt: skip
    pd.DataFrame([{**sides[0], "follicle_count": 1, "needs_review": False, "ovary_d1_mm": 31.0, "ovary_d2_mm": 19.5},
                  {**sides[1], "follicle_count": 0, "needs_review": False, "ovary_d1_mm": 26.0, "ovary_d2_mm": 21.0}]).to_csv(
        run / "ovaries.csv", index=False)  # fmt: skip
    got = agreement.agreement(study, run)
    assert (got["ovary_d1_n"], got["ovary_d1_bias_mm"], got["ovary_d1_loa_mm"]) == (2, 1.0, [1.0, 1.0])
    assert (got["ovary_d2_n"], got["ovary_d2_bias_mm"], got["ovary_d2_loa_mm"]) == (1, -0.5, [None, None])


def test_centroids_are_matched_in_mm_by_each_axis_spacing(tmp_path: Path) -> None:
    # one spacing for both axes (their geometric mean, 0.2 mm at 0.1 x 0.4) put a centroid 14 px
    # off in columns (5.6 mm) 2.8 mm away: a match for a 6 mm follicle (limit 3 mm)
    study, run = tmp_path / "study", tmp_path / "run"
    _write(study, run, with_images=True)
    images = pd.read_csv(run / "images.csv")
    pd.DataFrame(images.assign(spacing_row_mm=0.1, spacing_col_mm=0.4)).to_csv(run / "images.csv", index=False)
    found = pd.read_csv(run / "follicles.csv")
    found.assign(centroid_row=50.0, centroid_col=64.0).to_csv(run / "follicles.csv", index=False)
    assert agreement.agreement(study, run)["precision"] == 0.0
    found.assign(centroid_row=64.0, centroid_col=50.0).to_csv(run / "follicles.csv", index=False)  # 1.4 mm off
    assert agreement.agreement(study, run)["precision"] == 1.0
