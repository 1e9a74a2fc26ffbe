"""Automatic scan-sector detection for files without ultrasound regions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from follicle_seg.io.region import find_scan_area


def fan_frame(rows: int = 300, cols: int = 400) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A speckled fan with a dark follicle, and text, a scale bar and a logo around it."""
    rng = np.random.default_rng(3)
    rr, cc = np.mgrid[0:rows, 0:cols]
    apex = (20, cols // 2)
    radius = np.hypot(rr - apex[0], cc - apex[1])
    angle = np.degrees(np.arctan2(cc - apex[1], rr - apex[0]))
    fan = (radius > 30) & (radius < 260) & (np.abs(angle) < 40)
    frame = np.where(fan, rng.integers(30, 200, (rows, cols)), 0).astype(np.uint8)
    frame[np.hypot(rr - 150, cc - 200) < 25] = 3  # an anechoic follicle inside
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    draw.text((5, 5), "HOSPITAL  12/03/2024  MI 1.1", fill=255)
    draw.text((5, 280), "TIS 0.4  GAIN 55", fill=255)
    draw.line([(380, 40), (380, 260)], fill=200, width=2)  # depth scale
    draw.rectangle([(360, 5), (395, 20)], fill=180)  # logo
    ys, xs = np.nonzero(fan)
    return np.asarray(image), (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))


def test_finds_the_fan_not_the_text() -> None:
    frame, truth = fan_frame()
    box = find_scan_area(frame)
    assert box is not None
    c0, r0, c1, r1 = box
    t0, s0, t1, s1 = truth
    assert t0 <= c0 and s0 <= r0 and c1 <= t1 and r1 <= s1, "box leaves the fan (text included?)"
    assert (c1 - c0) >= 0.95 * (t1 - t0) and (r1 - r0) >= 0.95 * (s1 - s0), "box misses the fan"


def test_rectangle_touching_the_border() -> None:
    frame = np.zeros((200, 300), np.uint8)
    frame[0:200, 50:250] = 90
    assert find_scan_area(frame) == (50, 0, 249, 199)


def test_black_or_text_only_frame_gives_none() -> None:
    assert find_scan_area(np.zeros((100, 100), np.uint8)) is None
    image = Image.new("L", (200, 100))
    ImageDraw.Draw(image).text((5, 5), "ONLY TEXT HERE", fill=255)
    assert find_scan_area(np.asarray(image)) is None


def test_needs_a_2d_frame() -> None:
    with pytest.raises(ValueError, match="2-D"):
        find_scan_area(np.zeros((4, 4, 3), np.uint8))
