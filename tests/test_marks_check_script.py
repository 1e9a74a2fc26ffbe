"""scripts/marks_check.py: its drawn marks are the crosses it says, and it counts a real capture's
detections on and off its colour graphics."""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image
from script_module import load_script  # tests/ is on sys.path

marks_check = load_script("marks_check")


def test_a_drawn_mark_is_a_cross_of_the_arms_and_thickness_asked() -> None:
    img = np.zeros((40, 40), np.uint8)
    marks_check.draw_mark(img, 20, 20, 6, 2, "+", 200)
    assert img[20, 14:27].all() and img[21, 14:27].all() and img[14:27, 20].all() and img[14:27, 21].all()
    assert (img > 0).sum() == 2 * 13 * 2 - 4
    img[:] = 0
    marks_check.draw_mark(img, 20, 20, 3, 1, "x", 200)  # at least 3 diagonal steps
    assert img[17, 17] and img[23, 23] and img[17, 23] and img[23, 17] and not img[20, 17]


def test_it_counts_detections_on_and_off_colour(tmp_path, monkeypatch, capsys) -> None:
    rng = np.random.default_rng(0)
    grey = rng.normal(70, 6, (120, 160)).clip(0, 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[40, 24:37] = rgb[34:47, 30] = (230, 230, 40)  # a yellow '+'
    rgb[80, 104:117] = rgb[74:87, 110] = (225, 225, 225)  # a white '+' (no colour: counted off it)
    Image.fromarray(rgb).save(tmp_path / "capture.png")
    monkeypatch.setattr(sys, "argv", ["marks_check.py", "--n", "1", "--real", str(tmp_path)])
    marks_check.main()
    synthetic, real = capsys.readouterr().out.splitlines()
    assert synthetic.startswith("synthetic, 1 frames (seeds 1000000-1000000): drawn marks found ")
    assert real == "real, 1 images: detections on colour 1, off colour on tissue 1, on black 0"
