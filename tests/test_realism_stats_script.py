"""scripts/realism_stats.py: appearance figures of real captures and synthetic frames, speckle grain in mm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from script_module import SCRIPTS, load_script
from test_few_shot_real_script import _capture  # a made-up capture with its outline (tests/ is on sys.path)
from test_ruler_scale_script import _with_ruler


@pytest.fixture()
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # it imports eval_real and ruler_scale, as when run from scripts/
    return load_script("realism_stats")


def test_grain_in_mm_only_for_captures_with_a_ruler(script, tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i, interval in enumerate((6, None)):  # a mark every 6 rows: 0.83 mm a pixel, the band 25-45 mm in rows 30-54
        grey, outline = _capture(i)
        outline[:] = False
        outline[5:25, 90:110] = True  # a small ovary near the top, out of the way of the grain windows
        Image.fromarray(_with_ruler(grey, interval)).save(tmp_path / "images" / f"{i}.jpg", quality=95)
        Image.fromarray(_with_ruler(outline.astype(np.uint8) * 255, None, smooth=False)).save(tmp_path / "masks" / f"{i}.png")
    rows = script.real_stats(tmp_path)
    assert len(rows) == 2
    assert "grain_axial_mm" not in rows[1]
    axial, lateral = rows[0]["grain_axial_mm"], rows[0]["grain_lateral_mm"]
    assert 0 < axial < 5 * 0.83 and 0 < lateral < 5 * 0.83
    summary = script.summarise(rows)
    assert summary["n"] == 2 and summary["n_grain"] == 1 and summary["grain_axial_mm_median"] == pytest.approx(axial)
