"""follicle_seg.io.marks: sonographers' '+' and 'x' caliper marks found on grey pixels alone, and
not the thin bright things of the anatomy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from follicle_seg.io.grey import COLOUR_SHARE
from follicle_seg.io.marks import AROUND_PX, MARKED_REACH_PX, MAX_MARKS, caliper_marks, graphics_pixels, marked_area
from follicle_seg.synth.canvas import caliper
from follicle_seg.synth.training import training_frame


def speckle(seed: int = 1_000_003) -> np.ndarray:
    """A held-out synthetic frame without graphics (3-D renderer, speckle and anatomy)."""
    return training_frame(seed, style="samsung_warm", graphics=False).pixels.copy()


def near(mask: np.ndarray | None, row: int, col: int, px: int = 2) -> bool:
    return mask is not None and bool(mask[row - px:row + px + 1, col - px:col + px + 1].any())


def test_a_frame_of_one_grey_and_frames_without_graphics_have_none() -> None:
    assert caliper_marks(np.full((120, 160), 80, np.uint8)) is None
    for seed, style in ((1_000_003, "samsung_warm"), (1_000_004, "layered"), (1_000_011, None)):
        assert caliper_marks(training_frame(seed, style=style, graphics=False).pixels) is None


@pytest.mark.parametrize(("size", "value"), [(3, 200), (6, 230), (10, 180)])
def test_a_white_plus_drawn_on_speckle_is_found_and_only_its_pixels(size: int, value: int) -> None:
    img = speckle()
    row, col = img.shape[0] // 2, img.shape[1] // 2
    drawn = np.zeros(img.shape, np.uint8)
    caliper(img, [(col, row)], size, None, value)
    caliper(drawn, [(col, row)], size, None, 1)
    mask = caliper_marks(img)
    assert near(mask, row, col)
    assert mask[drawn > 0].mean() >= 0.9  # the mark's pixels
    grown = cv2.dilate(drawn, np.ones((5, 5), np.uint8)) > 0
    assert not (mask & ~grown).any()  # and nothing 2 px or more beyond them


def test_a_two_pixel_x_is_found() -> None:
    img = speckle()
    row, col = img.shape[0] // 2, img.shape[1] // 3
    for k in range(2):
        cv2.line(img, (col - 5 + k, row - 5), (col + 5 + k, row + 5), 220, 1)
        cv2.line(img, (col - 5 + k, row + 5), (col + 5 + k, row - 5), 220, 1)
    assert near(caliper_marks(img), row, col)


def test_bright_walls_curves_and_discs_are_not_marks() -> None:
    img = np.full((200, 260), 60, np.uint8)
    cv2.circle(img, (70, 60), 30, 20, -1)  # a dark follicle
    cv2.ellipse(img, (70, 60), (31, 31), 0, 20, 160, 230, 2)  # its bright back wall
    cv2.ellipse(img, (180, 20), (120, 60), 0, 40, 140, 220, 1)  # a thin bright curve (fascia)
    cv2.ellipse(img, (180, 24), (120, 60), 0, 40, 140, 220, 1)  # and a second beside it
    cv2.circle(img, (200, 150), 6, 240, -1)  # a bright disc
    cv2.line(img, (20, 180), (240, 170), 230, 2)  # a straight bright line
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    assert caliper_marks(img) is None and caliper_marks(noisy) is None


def test_graphics_are_the_colour_pixels_of_calipers_and_the_marks_found_around_the_follicles() -> None:
    """What a follicle's dent is measured past: the frame's pixels in colour under COLOUR_SHARE of
    it (calipers, text; more is a Doppler box, flow: none of it), and the grey caliper marks,
    looked for around the follicles only."""
    img = speckle()
    row, col = img.shape[0] // 2, img.shape[1] // 2
    caliper(img, [(col, row)], 6, None, 230)
    follicles = np.zeros(img.shape, bool)
    follicles[row + 3 : row + 20, col - 8 : col + 8] = True  # the mark on the follicle's top wall
    found = graphics_pixels(img, None, follicles)
    assert found is not None and np.array_equal(found, caliper_marks(img) & found)
    assert near(found, row, col)
    far = np.zeros(img.shape, bool)
    far[row + 8 + 2 * AROUND_PX :, :] = True  # follicles only more than AROUND_PX below the mark
    assert graphics_pixels(img, None, far) is None and graphics_pixels(img, None, far & False) is None
    text = np.zeros(img.shape, bool)
    text[10:14, 10:40] = True  # a colour label, well under COLOUR_SHARE
    joined = graphics_pixels(img, text, follicles)
    assert joined[text].all() and near(joined, row, col) and joined.sum() == text.sum() + found.sum()
    assert graphics_pixels(img, text, far) is text
    doppler = np.zeros(img.shape, bool)
    doppler[: int(img.shape[0] * COLOUR_SHARE * 2), :] = True  # a box over 2 % of the frame: flow
    assert np.array_equal(graphics_pixels(img, doppler, follicles), found)
    assert graphics_pixels(img, doppler, far) is None


def crosses(n: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A dark frame with ``n`` white '+' marks 20 px apart, 8 to a row, and their ``(col, row)``."""
    centres = [(15 + 20 * (k % 8), 15 + 20 * (k // 8)) for k in range(n)]
    img = np.full((30 + 20 * ((n + 7) // 8), 180), 50, np.uint8)
    caliper(img, centres, 5, None, 230)
    return img, centres


def test_a_frame_of_more_crosses_than_a_sonographer_draws_is_a_texture_with_no_marks() -> None:
    """Up to MAX_MARKS marks are found; more (a grid, a checkerboard: crosses at every line's
    meeting) are no sonographer's: none is taken, and the search stops there instead of
    painting thousands."""
    img, centres = crosses(MAX_MARKS)
    mask = caliper_marks(img)
    assert all(near(mask, row, col) for col, row in centres)
    assert caliper_marks(crosses(MAX_MARKS + 1)[0]) is None
    grid = np.full((200, 260), 40, np.uint8)
    grid[::6, :] = grid[:, ::6] = 230
    yy, xx = np.indices((200, 260))
    checkerboard = ((yy // 3 + xx // 3) % 2 * 230).astype(np.uint8)
    assert caliper_marks(grid) is None and caliper_marks(checkerboard) is None


def test_the_area_calipers_span_covers_what_they_measure_and_ignores_marks_outside_the_scan() -> None:
    """Two pairs of calipers across an ovary on speckle: the area is their hull (the ovary's centre
    inside it, grown by MARKED_REACH_PX, no further); a '+' in the text beside the fan is left out."""
    frame = speckle()
    ends = [(130, 150), (210, 150), (170, 115), (170, 185)]  # (col, row): a length and a width
    caliper(frame, ends[:2], 6, 5, 235)
    caliper(frame, ends[2:], 6, 5, 235)
    within = np.ones(frame.shape, bool)
    within[:, :40] = False  # the text column beside the fan
    caliper(frame, [(20, 60), (20, 90)], 6, None, 235)
    area = marked_area(caliper_marks(frame), within)
    assert area is not None and area[150, 170] and area[140, 160]
    for col, row in ends:  # each mark's centre, and a reach of MARKED_REACH_PX beyond it, no more
        assert area[row, col]
    assert area[150, 130 - MARKED_REACH_PX] and not area[150, 130 - MARKED_REACH_PX - 2]
    assert not area[:, :60].any()  # the marks outside the scan area span nothing
    assert marked_area(None, within) is None
    assert marked_area(caliper_marks(frame), np.zeros(frame.shape, bool)) is None
