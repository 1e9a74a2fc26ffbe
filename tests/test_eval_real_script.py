"""scripts/eval_real.py: the paired comparison of two networks on the same real images."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "eval_real.py"


def _module():
    spec = importlib.util.spec_from_file_location("eval_real", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paired_comparison_matches_images_by_name_and_counts_changes_beyond_the_margin() -> None:
    paired = _module().paired
    new = [{"name": n, "ovary_dice": d} for n, d in (("a", 0.9), ("b", 0.5), ("c", 0.0), ("d", 0.7), ("x", 1.0))]
    old = [{"name": n, "ovary_dice": d} for n, d in (("a", 0.5), ("b", 0.52), ("c", 0.3), ("d", 0.6))]
    r = paired(new, old)
    # differences +0.4, -0.02, -0.3, +0.1 ("x" was scored once only and is left out)
    assert r["n_images"] == 4 and r["better"] == 2 and r["worse"] == 1
    assert r["mean_difference"] == pytest.approx(0.045)
    assert 0.0 < r["wilcoxon_p"] <= 1.0
    assert paired(old, old)["wilcoxon_p"] is None
    with pytest.raises(ValueError, match="no image"):
        paired(new, [{"name": "z", "ovary_dice": 0.1}])
