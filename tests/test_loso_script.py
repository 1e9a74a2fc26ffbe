"""scripts/loso.py: the mean drop over style families."""

from __future__ import annotations

import pytest

from script_module import load_script  # tests/ is on sys.path


def test_mean_drop_leaves_out_a_family_whose_network_found_no_follicle() -> None:
    mean_drop_of = load_script("loso").mean_drop_of
    table = {"a": {"in_style": {"precision": 0.6, "ovary_dice": 0.5}, "held_out": {"precision": 0.4, "ovary_dice": 0.3}},
             "b": {"in_style": {"precision": 0.5, "ovary_dice": 0.5}, "held_out": {"precision": None, "ovary_dice": 0.4}}}
    assert mean_drop_of(table, "precision") == pytest.approx(0.2)
    assert mean_drop_of(table, "ovary_dice") == pytest.approx(0.15)
    assert mean_drop_of({"b": table["b"]}, "precision") is None
