"""The scan sector found in a frame's pixels, against random fans and graphics (property-based,
metamorphic).

Each property is stated in the module docstring of :mod:`follicle_seg.io.region`: the largest
bright blob once thin strokes are removed, its box never holding text, the narrow tip of a fan
shaved by a few pixels at most; image is a grey above the threshold, so only which pixels are
above it counts.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from scipy import ndimage

from follicle_seg.io.region import MIN_TEXT_GAP_PX, find_scan_area

PROPERTIES = settings(max_examples=25)  # (deterministic: tests/conftest.py's profile)
THRESHOLD = 12  # find_scan_area's default
GAP_PX = 8  # black between the fan and the graphics around it: wider than the closing (3-5 px here)


@st.composite
def fans(draw) -> tuple[np.ndarray, np.ndarray, int]:
    """(frame, fan, half angle): a speckled sector on black, apex above or inside the frame, with
    dark follicles inside it, the sector's pixels and its half angle (degrees)."""
    rows, cols = draw(st.integers(160, 360)), draw(st.integers(200, 480))
    rr, cc = np.mgrid[0:rows, 0:cols]
    apex = (draw(st.integers(-40, rows // 4)), draw(st.integers(cols // 3, 2 * cols // 3)))
    inner = draw(st.integers(0, 40))
    outer = draw(st.integers(max(inner, apex[0]) + 100, max(inner, apex[0]) + rows))
    half_angle = draw(st.integers(25, 60))
    radius = np.hypot(rr - apex[0], cc - apex[1])
    angle = np.degrees(np.arctan2(cc - apex[1], rr - apex[0]))
    fan = (radius >= inner) & (radius <= outer) & (np.abs(angle) <= half_angle)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frame = np.where(fan, rng.integers(THRESHOLD + 1, 220, (rows, cols)), 0).astype(np.uint8)
    for _ in range(draw(st.integers(0, 3))):  # anechoic follicles: dark holes inside the fan
        r, c = rng.integers(0, rows), rng.integers(0, cols)
        if fan[r, c]:
            frame[(np.hypot(rr - r, cc - c) < rng.integers(4, 20)) & fan] = 3
    return frame, fan, half_angle


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


@st.composite
def graphics(draw, shape: tuple[int, int]) -> np.ndarray:
    """Grey levels of text, lines, tick marks and small logos (0 elsewhere)."""
    image = Image.new("L", shape[::-1])
    pen = ImageDraw.Draw(image)
    for _ in range(draw(st.integers(1, 8))):
        x, y = draw(st.integers(0, shape[1] - 1)), draw(st.integers(0, shape[0] - 1))
        fill = draw(st.integers(THRESHOLD + 1, 255))
        kind = draw(st.sampled_from(("text", "line", "logo", "ticks")))
        if kind == "text":
            pen.text((x, y), draw(st.sampled_from(("HOSPITAL 12/03/2024", "MI 1.1 TIS 0.4", "L OV", "GAIN 55"))), fill=fill)
        elif kind == "line":
            pen.line([(x, y), (draw(st.integers(0, shape[1] - 1)), draw(st.integers(0, shape[0] - 1)))], fill=fill,
                     width=draw(st.integers(1, 3)))  # fmt: skip
        elif kind == "logo":
            pen.rectangle([(x, y), (x + draw(st.integers(2, 30)), y + draw(st.integers(2, 30)))], fill=fill)
        else:
            for k in range(10):
                pen.line([(x, y + 10 * k), (x + 4, y + 10 * k)], fill=fill)
    return np.asarray(image)


@PROPERTIES
@given(fans(), st.data())
def test_the_box_is_the_fans_and_graphics_around_it_change_nothing(fan_frame, data) -> None:
    frame, fan, half_angle = fan_frame
    box = find_scan_area(frame)
    assert box is not None
    c0, r0, c1, r1 = box
    t0, s0, t1, s1 = box_of(fan)
    assert t0 <= c0 and s0 <= r0 and c1 <= t1 and r1 <= s1, (box, (t0, s0, t1, s1))
    # The opening shaves the fan's corners by up to its size, and its tip down to where the fan
    # is as wide as the opening.
    opening = max(MIN_TEXT_GAP_PX, min(frame.shape) // 20)
    tip = max(opening, opening / (2 * np.tan(np.radians(half_angle)))) + 2
    assert c0 - t0 <= opening and t1 - c1 <= opening and s1 - r1 <= opening and r0 - s0 <= tip, (box, (t0, s0, t1, s1))
    near_fan = ndimage.binary_dilation(fan, iterations=GAP_PX)
    around = np.where(near_fan, 0, data.draw(graphics(frame.shape)))
    assert find_scan_area(np.maximum(frame, around)) == box


@PROPERTIES
@given(fans())
def test_a_flipped_or_transposed_frame_gives_the_flipped_or_transposed_box(fan_frame) -> None:
    frame = fan_frame[0]
    box = find_scan_area(frame)
    assert box is not None
    c0, r0, c1, r1 = box
    n_rows, n_cols = frame.shape
    assert find_scan_area(frame[:, ::-1]) == (n_cols - 1 - c1, r0, n_cols - 1 - c0, r1)
    assert find_scan_area(frame[::-1]) == (c0, n_rows - 1 - r1, c1, n_rows - 1 - r0)
    assert find_scan_area(np.ascontiguousarray(frame.T)) == (r0, c0, r1, c1)


@PROPERTIES
@given(fans(), st.integers(THRESHOLD + 1, 254), st.integers(THRESHOLD + 2, 255), st.integers(0, THRESHOLD))
def test_only_which_pixels_are_above_the_threshold_counts(fan_frame, low: int, high: int, black: int) -> None:
    """Any grey levels above the threshold (mapped in order or not) and any below it: the same box."""
    frame = fan_frame[0]
    low, high = min(low, high - 1), high
    dim = np.arange(frame.size).reshape(frame.shape) * 7919 % (black + 1)  # faint noise in the black
    scaled = np.where(frame > THRESHOLD, low + (frame.astype(int) * 7919) % (high - low + 1), dim)
    assert find_scan_area(scaled.astype(np.uint8)) == find_scan_area(frame)
