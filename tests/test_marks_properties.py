"""Caliper marks found on grey pixels, against random marks, speckle and smooth fields
(property-based, metamorphic).

Each property is stated in the module docstring of :mod:`follicle_seg.io.marks` and in
docs/measurement.md ("Review flags"): a mark is a '+' or 'x' of four arms 1-3 px thick reaching
at least 5 px from its centre, each brighter by :data:`~follicle_seg.io.marks.MIN_CONTRAST` than
the lines 2 px beside it; its mask holds the pixels near its arms' axes, out to
:data:`~follicle_seg.io.marks.MAX_ARM_PX` from its centre, grown by 1 px. A rule of
local contrasts along fixed directions has no side: a flipped or transposed frame gives the
flipped or transposed marks. Smooth fields hold no mark.
"""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from follicle_seg.io.grey import COLOUR_SHARE
from follicle_seg.io.marks import MAX_ARM_PX, MIN_CONTRAST, caliper_marks, graphics_pixels
from test_marks import near  # tests/ is on sys.path

PROPERTIES = settings(max_examples=100)  # (deterministic: tests/conftest.py's profile)
MARGIN = MAX_ARM_PX + 4  # a mark's centre this far from the frame's edges


@st.composite
def speckled(draw) -> tuple[np.ndarray, int, int]:
    """(frame, lowest, highest): independent grains of lowest to highest grey."""
    rows, cols = draw(st.integers(2 * MARGIN + 1, 90)), draw(st.integers(2 * MARGIN + 1, 120))
    lowest = draw(st.integers(0, 90))
    highest = lowest + draw(st.integers(0, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.integers(lowest, highest + 1, (rows, cols)).astype(np.uint8), lowest, highest


@st.composite
def marked(draw) -> tuple[np.ndarray, np.ndarray, tuple[int, int], int]:
    """(frame, drawn, (row, col), width): a '+' or 'x' mark 1-3 px thick (2 for an 'x', as drawn
    by shifted lines), arms of 5-10 px, on speckle, so bright that its arms clear every grain of
    it by :data:`MIN_CONTRAST` and its half-contrast level clears the brightest grain; the mark's
    pixels; its centre; its thickness."""
    frame, lowest, highest = draw(speckled())
    value = draw(st.integers(max(highest + int(MIN_CONTRAST), 2 * highest - lowest) + 1, 255))
    row = draw(st.integers(MARGIN, frame.shape[0] - 1 - MARGIN))
    col = draw(st.integers(MARGIN, frame.shape[1] - 1 - MARGIN))
    size = draw(st.integers(5, 10))
    drawn = np.zeros(frame.shape, np.uint8)
    plus = draw(st.booleans())
    width = draw(st.integers(1, 3 if plus else 2))
    if plus:
        for k in range(width):
            cv2.line(drawn, (col - size, row + k - 1), (col + size, row + k - 1), 1, 1)
            cv2.line(drawn, (col + k - 1, row - size), (col + k - 1, row + size), 1, 1)
    else:  # 'x'
        for k in range(width):
            cv2.line(drawn, (col - size + k, row - size), (col + size + k, row + size), 1, 1)
            cv2.line(drawn, (col - size + k, row + size), (col + size + k, row - size), 1, 1)
    return np.where(drawn > 0, value, frame).astype(np.uint8), drawn > 0, (row, col), width


def grown(drawn: np.ndarray) -> np.ndarray:
    """The pixels less than 3 px from a drawn one (each way)."""
    return cv2.dilate(drawn.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


@PROPERTIES
@given(marked())
def test_a_mark_on_speckle_is_found_and_only_its_pixels(mark) -> None:
    frame, drawn, (row, col), _ = mark
    mask = caliper_marks(frame)
    assert near(mask, row, col)
    rr, cc = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    reach = np.hypot(rr - row, cc - col) <= MAX_ARM_PX  # (an 'x' of long arms is painted this far)
    assert mask[drawn & reach].mean() >= 0.9
    assert not (mask & ~grown(drawn)).any()  # nothing 2 px or more beyond the mark


@PROPERTIES
@given(marked(), st.floats(0.0, 2.5 * COLOUR_SHARE), st.booleans())
def test_graphics_are_the_marks_around_the_follicles_and_colour_under_its_share(mark, share: float,
                                                                                 follicle: bool) -> None:  # fmt: skip
    """A follicle beside the mark: its pixels are graphics; none without a follicle. The colour
    pixels are graphics when under COLOUR_SHARE of the frame (more is flow), whether or not."""
    frame, drawn, (row, col), _ = mark
    colour = np.zeros(frame.shape, bool)
    colour.flat[: int(share * frame.size)] = True
    follicles = np.zeros(frame.shape, bool)
    follicles[row - 3 : row + 4, col + MAX_ARM_PX : col + MAX_ARM_PX + 4] = follicle
    out = graphics_pixels(frame, colour, follicles)
    kept = colour if colour.mean() < COLOUR_SHARE else np.zeros(frame.shape, bool)
    if not follicle and not kept.any():  # (an empty colour mask may come back as it is)
        assert out is None or not out.any()
    else:
        assert np.array_equal(out & ~grown(drawn), kept & ~grown(drawn)) and not (kept & ~out).any()
        assert near(out, row, col) == follicle


@PROPERTIES
@given(st.one_of(marked(), speckled().map(lambda s: (s[0], None, None, 1))))
def test_a_flipped_or_transposed_frame_gives_the_flipped_or_transposed_marks(frame_and_mark) -> None:
    """Exactly, but for a mark of even thickness: its centre lies between two pixels of equal
    contrast, the first in reading order is taken, and its mask's pixels at the arms' far side
    may differ by 1 px (a 2-px 'x' flipped left-right: 2 of its 127 pixels)."""
    frame, _, _, width = frame_and_mark
    mask = caliper_marks(frame)
    for turn in (lambda a: a[:, ::-1], lambda a: a[::-1], lambda a: a.T):
        turned = caliper_marks(np.ascontiguousarray(turn(frame)))
        assert (turned is None) == (mask is None)
        if mask is None:
            continue
        if width % 2:
            assert np.array_equal(turned, turn(mask))
        else:
            both = cv2.dilate((turned & turn(mask)).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            assert not ((turned ^ turn(mask)) & ~both).any()


@st.composite
def smooth(draw) -> np.ndarray:
    """A blank frame, a ramp in any direction, or a sum of broad bright and dark blobs, with
    speckle fainter than a mark's contrast."""
    rows, cols = draw(st.integers(2 * MARGIN + 1, 90)), draw(st.integers(2 * MARGIN + 1, 120))
    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float64)
    base = draw(st.integers(0, 255))
    kind = draw(st.sampled_from(("blank", "ramp", "blobs")))
    field = np.full((rows, cols), float(base))
    if kind == "ramp":
        angle = draw(st.floats(0, 2 * np.pi))
        field += draw(st.floats(0.1, 8.0)) * (np.cos(angle) * rr + np.sin(angle) * cc)
    elif kind == "blobs":
        for _ in range(draw(st.integers(1, 4))):
            r, c = draw(st.integers(0, rows)), draw(st.integers(0, cols))
            sigma = draw(st.floats(6.0, 40.0))
            field += draw(st.integers(-200, 200)) * np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2 * sigma**2))
    grain = draw(st.integers(0, int(MIN_CONTRAST) - 1))  # speckle fainter than a mark's contrast
    field += np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, grain + 1, (rows, cols))
    return np.clip(np.rint(field), 0, 255).astype(np.uint8)


@PROPERTIES
@given(smooth())
def test_smooth_fields_hold_no_marks(frame: np.ndarray) -> None:
    assert caliper_marks(frame) is None
