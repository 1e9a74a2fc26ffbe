"""The calipers rule (docs/model.md, "Inference", "The sonographer's calipers"), property-based and
metamorphic.

Where a frame holds more than one ovary candidate, the area its caliper marks span inside the scan
area (``io.marks.marked_area``, ``infer.calipers``) decides the kept candidate
(``instances.labels_from_probs(marked=...)``) and the reading among an uncalibrated frame's depths
(``instances.ovary_score``, ``infer.pick_reading``). As properties:

* an area touching no candidate changes nothing, nor does one touching the candidate kept without
  it; one touching a single candidate keeps it, whatever its score, and the pick among readings
  takes a reading whose kept region touches it wherever one has;
* the rule has no side: a frame mirrored left-right (or transposed) gives the mirrored area (to a
  pixel of rasterisation at its edge) and the mirrored labels;
* marks outside the scan area span nothing (on a frame with no fan, none), nor does a texture of
  more than ``MAX_MARKS`` crosses; one mark spans a disc of ``MARKED_REACH_PX``, three their hull
  (three in a row the segment of the outer two), and a mark centred on the scan area's last pixel
  counts;
* ``Segmenter.segment`` keeps what ``predict`` (given the frame's caliper area) and
  ``labels_from_probs`` keep;
* on held-out synthetic frames whose plain pick keeps a look-alike, calipers drawn across the true
  ovary make the ovary the kept region (the shipped network, on CPU).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from follicle_seg.instances import labels_from_probs, ovary_score
from follicle_seg.io.marks import MARKED_REACH_PX, MAX_MARKS, caliper_marks, marked_area
from follicle_seg.model.infer import Segmenter, calipers, pick_reading
from follicle_seg.model.preprocess import fan_mask
from follicle_seg.model.train import dice
from follicle_seg.synth.canvas import caliper
from follicle_seg.synth.training import training_frame
from follicle_seg.types import UNCALIBRATED, Calibration, Frame
from test_model_infer import record  # tests/ is on sys.path

PROPERTIES = settings(max_examples=60)  # (deterministic: tests/conftest.py's profile)
CELL = 24  # candidates lie one to a cell of a grid, 2 px or more apart: never 8-connected


@st.composite
def candidates(draw) -> tuple[np.ndarray, list[np.ndarray], np.random.Generator]:
    """(probs, blobs, rng): 2-5 rectangular ovary candidates of random size, place and confidence
    (some with follicle pixels), one to a cell of a grid, on background; ``blobs[j]`` is candidate
    j's pixels; ``rng`` draws the rest of an example."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    grid = draw(st.integers(2, 4)), draw(st.integers(2, 5))
    probs = np.zeros((3, grid[0] * CELL, grid[1] * CELL), np.float32)
    probs[0] = 1.0
    blobs = []
    for cell in rng.choice(grid[0] * grid[1], draw(st.integers(2, min(5, grid[0] * grid[1]))), replace=False):
        height, width = rng.integers(3, CELL - 3, 2)
        top = int(cell) // grid[1] * CELL + 1 + rng.integers(0, CELL - 1 - height)
        left = int(cell) % grid[1] * CELL + 1 + rng.integers(0, CELL - 1 - width)
        q = rng.uniform(0.55, 1.0)
        probs[:, top : top + height, left : left + width] = np.array([1 - q, q, 0.0])[:, None, None]
        if rng.random() < 0.5:  # a follicle inside it
            probs[:, top + 1 : top + height - 1, left + 1 : left + width - 1] = np.array([1 - q, 0.0, q])[:, None, None]
        blob = np.zeros(probs.shape[1:], bool)
        blob[top : top + height, left : left + width] = True
        blobs.append(blob)
    return probs, blobs, rng


def touching(blobs: list[np.ndarray], which: list[int], rng: np.random.Generator) -> np.ndarray:
    """An area touching candidates ``which`` (one random pixel of each) and no other, with random
    background pixels."""
    area = (rng.random(blobs[0].shape) < 0.2) & ~np.any(blobs, axis=0)
    for j in which:
        rows, cols = np.nonzero(blobs[j])
        k = rng.integers(len(rows))
        area[rows[k], cols[k]] = True
    return area


def kept(labels: np.ndarray, blobs: list[np.ndarray]) -> int:
    """Which candidate ``labels`` keep (its region is exactly that candidate's rectangle)."""
    (j,) = [j for j, blob in enumerate(blobs) if (labels[blob] > 0).all()]
    assert np.array_equal(labels > 0, blobs[j])
    return j


@PROPERTIES
@given(candidates())
def test_an_area_touching_no_candidate_changes_nothing(case) -> None:
    probs, blobs, rng = case
    plain = labels_from_probs(probs)
    for area in (np.zeros(plain.shape, bool), touching(blobs, [], rng)):
        assert np.array_equal(labels_from_probs(probs, marked=area), plain)
        assert ovary_score(probs, area) == ovary_score(probs) < 1


@PROPERTIES
@given(candidates())
def test_the_candidate_the_area_touches_is_kept_whatever_its_score(case) -> None:
    probs, blobs, rng = case
    for j in range(len(blobs)):
        area = touching(blobs, [j], rng)
        assert kept(labels_from_probs(probs, marked=area), blobs) == j
        assert ovary_score(probs, area) > 1


@PROPERTIES
@given(candidates())
def test_an_area_touching_the_plain_pick_changes_nothing(case) -> None:
    """Whatever other candidates it touches too."""
    probs, blobs, rng = case
    plain = labels_from_probs(probs)
    others = [j for j in range(len(blobs)) if j != kept(plain, blobs) and rng.random() < 0.5]
    area = touching(blobs, [kept(plain, blobs), *others], rng)
    assert np.array_equal(labels_from_probs(probs, marked=area), plain)


@PROPERTIES
@given(candidates())
def test_a_mirrored_frame_keeps_the_mirrored_candidate(case) -> None:
    probs, blobs, rng = case
    area = touching(blobs, [j for j in range(len(blobs)) if rng.random() < 0.4], rng)
    for marked in (None, area):
        mirrored = labels_from_probs(probs[:, :, ::-1], marked=None if marked is None else marked[:, ::-1])
        assert np.array_equal(mirrored, labels_from_probs(probs, marked=marked)[:, ::-1])


@PROPERTIES
@given(candidates())
def test_the_pick_among_readings_takes_one_whose_kept_region_the_area_touches(case) -> None:
    """Readings of one frame that each see some of its candidates, more or less sure of them: the
    pick is a reading whose kept region touches the area wherever one has such a region, and the
    plain pick where none has."""
    probs, blobs, rng = case
    readings = []
    for _ in range(3):
        reading = probs.copy()
        for blob in blobs:
            if rng.random() < 0.4:  # this reading does not see it
                reading[:, blob] = np.array([1.0, 0.0, 0.0])[:, None]
            else:
                reading[1:, blob] *= rng.uniform(0.9, 1.0)
                reading[0, blob] = 1 - reading[1:, blob].sum(0)
        readings.append((reading, ()))
    area = touching(blobs, [int(rng.integers(len(blobs)))], rng)
    chosen, _ = pick_reading(readings, area)
    if any((labels_from_probs(r, marked=area)[area] > 0).any() for r, _ in readings):
        assert (labels_from_probs(chosen, marked=area)[area] > 0).any()
    else:
        assert chosen is pick_reading(readings)[0]


@PROPERTIES
@given(candidates())
def test_a_mask_of_ones_and_zeros_or_of_grey_levels_marks_as_a_boolean_one(case) -> None:
    """A uint8 mask (OpenCV's) is read as where it is not zero, not as indices: it once raised
    the last candidate's score where it touched nothing."""
    probs, blobs, rng = case
    area = touching(blobs, [j for j in range(len(blobs)) if rng.random() < 0.4], rng)
    for same in (area.astype(np.uint8), area.astype(np.uint8) * 255):
        assert np.array_equal(labels_from_probs(probs, marked=same), labels_from_probs(probs, marked=area))
        assert ovary_score(probs, same) == ovary_score(probs, area)


def test_one_mark_spans_a_disc_two_a_segment_and_three_their_hull() -> None:
    within = np.ones((60, 90), bool)
    one = np.zeros(within.shape, bool)
    one[30, 40] = True
    distance = ndi.distance_transform_edt(~one)
    area = marked_area(one, within)
    assert area[distance <= MARKED_REACH_PX].all() and not area[distance > MARKED_REACH_PX + 1].any()
    for ends in ([(30, 10), (30, 80)], [(8, 10), (52, 80)]):  # (row, col): along a row, and slanted
        two = np.zeros(within.shape, bool)
        for row, col in ends:
            two[row, col] = True
        three = two.copy()
        three[(ends[0][0] + ends[1][0]) // 2, (ends[0][1] + ends[1][1]) // 2] = True  # the midpoint
        segment = marked_area(two, within)
        assert np.array_equal(marked_area(three, within), segment)
        assert segment[(ends[0][0] + ends[1][0]) // 2, (ends[0][1] + ends[1][1]) // 2]
    triangle = np.zeros(within.shape, bool)
    triangle[10, 10] = triangle[10, 80] = triangle[50, 45] = True
    assert marked_area(triangle, within)[(10 + 10 + 50) // 3, (10 + 80 + 45) // 3]  # its centroid
    assert marked_area(None, within) is None


def test_a_mark_centred_on_the_scan_areas_last_pixel_counts_and_one_beyond_it_does_not() -> None:
    frame = np.random.default_rng(2).integers(50, 70, (80, 120)).astype(np.uint8)
    caliper(frame, [(60, 40)], 6, None, 230)  # (col, row)
    marks = caliper_marks(frame)
    row, col = np.rint(ndi.center_of_mass(marks)).astype(int)
    assert (row, col) == (40, 60)
    within = np.zeros(frame.shape, bool)
    within[:, 60:] = True  # the scan area begins at the mark's centre column
    assert marked_area(marks, within)[40, 60]
    within[:, 60] = False
    assert marked_area(marks, within) is None


@pytest.mark.parametrize("seed", [1_000_000, 1_000_014, 1_000_030])
def test_a_mirrored_or_transposed_frame_spans_the_mirrored_or_transposed_area(seed: int) -> None:
    """Held-out frames with the generators' graphics (calipers on the ovary or a follicle, text):
    the area of the flipped frame is the flipped area but for the rounding of a mark's centre and
    the drawing of the hull's edge: within one pixel of each other."""
    pixels = training_frame(seed, graphics=True).pixels
    area = calipers(pixels).area
    assert area is not None
    grown = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    for flip in (lambda a: a[:, ::-1], lambda a: a.T):
        other = calipers(np.ascontiguousarray(flip(pixels))).area
        assert other is not None
        other = flip(other)
        assert not (other & ~cv2.dilate(area.astype(np.uint8), grown).astype(bool)).any()
        assert not (area & ~cv2.dilate(other.astype(np.uint8), grown).astype(bool)).any()


def test_marks_outside_the_scan_area_span_nothing() -> None:
    """Calipers drawn in the black beside a held-out frame's fan add nothing to the area of those
    on its ovary, and alone span none."""
    frame = training_frame(1_000_001, graphics=False)
    black = ndi.distance_transform_edt(~frame.fan) > 30
    row, col = np.argwhere(black)[len(np.argwhere(black)) // 2]
    outside = frame.pixels.copy()
    caliper(outside, [(int(col) - 12, int(row)), (int(col) + 12, int(row))], 6, None, 230)  # (col, row)
    assert caliper_marks(outside) is not None and calipers(outside).area is None
    rows, cols = np.nonzero(frame.labels > 0)
    ends = [(int(cols.min()) + 6, int(rows.mean())), (int(cols.max()) - 6, int(rows.mean()))]
    inside, both = frame.pixels.copy(), outside.copy()
    caliper(inside, ends, 6, 4, 230)
    caliper(both, ends, 6, 4, 230)
    assert calipers(inside).area is not None
    assert np.array_equal(calipers(both).area, calipers(inside).area)


def test_calipers_on_a_frame_with_no_fan_span_nothing() -> None:
    """Black but for the calipers: no scan area, so no area; the same calipers on a lit frame span one."""
    for grey, spans in ((0, False), (60, True)):
        frame = np.full((100, 150), grey, np.uint8)
        caliper(frame, [(40, 50), (100, 50)], 6, None, 230)  # (col, row)
        assert caliper_marks(frame) is not None and (calipers(frame).area is not None) is spans


def test_more_crosses_than_max_marks_span_nothing() -> None:
    """Calipers on the weaker of two candidates keep it until a texture of crosses brings the
    frame's marks past MAX_MARKS: then none is taken and the stronger one is kept again."""
    shape = (260, 420)
    probs = np.zeros((3, *shape), np.float32)
    probs[0] = 1.0
    probs[:, 30:90, 40:120] = np.array([0.1, 0.9, 0.0])[:, None, None]  # strong, on the left
    probs[:, 45:75, 300:360] = np.array([0.4, 0.6, 0.0])[:, None, None]  # weak, on the right
    base = np.random.default_rng(3).integers(50, 70, shape).astype(np.uint8)
    caliper(base, [(296, 60), (364, 60)], 6, None, 230)  # (col, row): across the weak one
    grid = [(col, row) for row in range(130, 250, 30) for col in range(190, 400, 25)]  # below the weak one
    for crosses, weak_kept in ((MAX_MARKS - 2, True), (MAX_MARKS - 1, False)):
        frame = base.copy()
        caliper(frame, grid[:crosses], 6, None, 230)
        marks = caliper_marks(frame)
        if weak_kept:
            assert ndi.label(marks, np.ones((3, 3), bool))[1] == MAX_MARKS
        area = calipers(frame).area
        assert (area is not None) is weak_kept
        labels = labels_from_probs(probs, marked=area)
        assert bool(labels[60, 330]) is weak_kept and bool(labels[60, 80]) is not weak_kept


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter(device="cpu", threads=1)


#: Which candidates each reading sees (its depth in mm: 40 the calibrated frame's, else those of
#: ``UNCALIBRATED_DEPTHS_MM``): both everywhere; one in all (the calipers touch none: nothing to choose);
#: the weak one in the deepest reading only, so that the calipers choose the depth too.
SIGHTINGS = {"both": lambda depth: (True, True), "one in all": lambda depth: (depth in (40, 70), False),
             "weak one deepest": lambda depth: (depth != 100, depth in (40, 100))}


@pytest.mark.parametrize("sighting", sorted(SIGHTINGS))
def test_segment_keeps_what_predict_with_the_caliper_area_keeps(segmenter: Segmenter, monkeypatch, sighting: str) -> None:
    """Calibrated and uncalibrated frames, with and without calipers across the weaker candidate."""
    shape = (200, 300)
    plain = np.random.default_rng(1).integers(50, 70, shape).astype(np.uint8)
    marked = plain.copy()
    caliper(marked, [(212, 100), (258, 100)], 6, 4, 230)  # (col, row): across the weak one

    def reading(depth: int) -> np.ndarray:
        strong, weak = SIGHTINGS[sighting](depth)
        p = np.zeros((3, *shape), np.float32)
        p[0] = 1.0
        if strong:
            p[:, 70:130, 120:180] = np.array([0.1, 0.9, 0.0])[:, None, None]
        if weak:
            p[:, 90:110, 215:255] = np.array([0.4 + depth / 2000, 0.6 - depth / 2000, 0.0])[:, None, None]
        return p

    monkeypatch.setattr(Segmenter, "_predict_readings", lambda self, images: [
        (reading(round(sr * shape[0])), ()) for _, sr, *_ in images])
    for pixels in (plain, marked):
        area = calipers(pixels).area
        for calibration in (Calibration(0.2, 0.2, "ultrasound_region"), UNCALIBRATED):
            out = segmenter.segment([Frame(record(shape, calibration), 0, pixels)])[0]
            spacing = calibration.spacing_row_mm, calibration.spacing_col_mm
            probs, _ = segmenter.predict([(pixels, *spacing, fan_mask(pixels), area)])[0]
            assert np.array_equal(out.labels, labels_from_probs(probs, marked=area))


def test_predict_names_an_image_whose_masks_are_not_its_shape(segmenter: Segmenter) -> None:
    pixels = np.full((40, 60), 80, np.uint8)
    fan = np.ones(pixels.shape, bool)
    with pytest.raises(ValueError, match=r"^image 2: caliper area of shape \(40, 59\): give one of the "
                                         r"pixels' shape \(40, 60\)\.$"):
        segmenter.predict([(pixels, None, None, fan, None), (pixels, None, None, fan, fan[:, 1:])])
    with pytest.raises(ValueError, match=r"^image 1: fan mask of shape \(39, 60\)"):
        segmenter.predict([(pixels, 0.2, 0.2, fan[1:])])


def ends_inside(truth: np.ndarray, inset: int = 4) -> list[tuple[int, int]]:
    """``(col, row)`` ends of a region's longest axis, ``inset`` px inside its outline: where a
    sonographer sets the calipers that measure it."""
    rows, cols = np.nonzero(truth)
    points = np.stack([cols, rows], 1).astype(np.float64)
    centre = points.mean(0)
    axis = np.linalg.svd(points - centre, full_matrices=False)[2][0]
    along = (points - centre) @ axis
    return [tuple(int(v) for v in np.rint(centre + t * axis)) for t in (along.min() + inset, along.max() - inset)]


@pytest.mark.parametrize("seed", [1_000_025, 1_000_061])
def test_calipers_across_the_true_ovary_make_it_the_kept_region(segmenter: Segmenter, seed: int) -> None:
    """Held-out frames without graphics on which the shipped network's plain pick keeps a
    look-alike: with calipers drawn across the true ovary the kept region is the ovary, on the
    same probabilities."""
    frame = training_frame(seed, graphics=False)
    truth = frame.labels > 0
    pixels = frame.pixels.copy()
    caliper(pixels, ends_inside(truth), 6, 4, 230)
    area = calipers(pixels).area
    assert area is not None and (area & truth).any()
    probs, _ = segmenter.predict([(pixels, frame.spacing_row_mm, frame.spacing_col_mm)])[0]
    assert dice(labels_from_probs(probs) > 0, truth) < 0.1, "the plain pick finds the ovary here now: take a seed where it does not"
    assert dice(labels_from_probs(probs, marked=area) > 0, truth) > 0.7
