"""scripts/score_threshold.py: its table line."""

from __future__ import annotations

from script_module import load_script

score_threshold = load_script("score_threshold")


def test_a_threshold_nothing_reaches_prints_a_dash_for_precision() -> None:
    """agreement.py writes precision null when the run reports no follicle: the line crashed
    (TypeError formatting None) and the thresholds after it were never run."""
    line = score_threshold.row(0.999, {"count_exact": 0.5, "count_within_one": 1.0, "count_mean_error": -1.0,
                                       "precision": None, "recall": 0.0})
    assert line.split() == ["1.00", "50%", "100%", "-1.00", "-", "0.00"]
    full = score_threshold.row(0.9, {"count_exact": 0.625, "count_within_one": 0.92, "count_mean_error": 0.17,
                                     "precision": 0.78, "recall": 0.83})
    assert full == "     0.90    62%         92%       +0.17       0.78    0.83"
