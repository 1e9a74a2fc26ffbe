"""The calipers' outline (docs/model.md, "Inference", "The sonographer's calipers"): where a
sonographer measured a section by two crossing diameters (four caliper marks), the ellipse they
span (``io.marks.measured_outline``) is the ovary kept, unless it is a follicle's or something
small inside the network's ovary (``instances.measures_the_ovary``), with the network's follicles
touching it (``instances.labels_from_probs(outline=...)``, ``Segmenter.segment``).

As properties: the ellipse's axes are the two segments, whatever order the marks are found in and
wherever the crossing lies within the middle of both (centred on the longer's midpoint, its long
axis along it); no ellipse from three marks, five but for a fifth where the two cross, segments
meeting near an end or at a shallow angle, or marks outside the scan area; a mirrored frame
gives the mirrored ellipse; an outline as booleans or bytes gives the same labels, whatever
``hull`` and ``marked``, and one of zeros is none. End to end, a calibrated still measured so
gives the calipers' lengths as the ovary's d1 and d2 in ``ovaries.csv``; an ellipse cut by the
scan area is the ovary at its edge; calipers where no ovary is kept raise no flag.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_model_infer import record  # tests/ is on sys.path

from follicle_seg.instances import (
    OUTLINE_FOLLICLE_MAX,
    OUTLINE_SMALL,
    class_labels,
    labels_from_probs,
    measures_the_ovary,
    outlined_ovary,
)
from follicle_seg.io.marks import (
    CROSS_MARGIN,
    CROSS_MIN_DEGREES,
    MAX_ARM_PX,
    _diameters,
    measured_outline,
)
from follicle_seg.measure import measure_frame
from follicle_seg.model.infer import Segmenter, calipers
from follicle_seg.model.preprocess import fan_mask
from follicle_seg.model.train import dice
from follicle_seg.synth.canvas import caliper
from follicle_seg.synth.training import training_frame
from follicle_seg.types import (
    FOLLICLE,
    OVARY,
    OVARY_BY_CALIPERS,
    UNCALIBRATED,
    Calibration,
    Frame,
)

PROPERTIES = settings(max_examples=60)
SHAPE = (200, 300)


def marks_at(points: list[tuple[float, float]], shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """A mark mask with one pixel at each ``(row, col)``."""
    marks = np.zeros(shape, bool)
    for r, c in points:
        marks[round(r), round(c)] = True
    return marks


def diameters(centre: tuple[float, float], length: float, width: float, angle: float,
              at: tuple[float, float] = (0.5, 0.5)) -> list[tuple[float, float]]:
    """``(row, col)`` ends of two perpendicular segments of ``length`` and ``width`` px, the first
    at ``angle`` radians, crossing at the shares ``at`` of their lengths; the first's midpoint
    at ``centre``."""
    u = np.array([np.sin(angle), np.cos(angle)])
    v = np.array([np.cos(angle), -np.sin(angle)])
    c = np.asarray(centre, float)
    crossing = c + (at[0] - 0.5) * length * u
    first = [c - length / 2 * u, c + length / 2 * u]
    second = [crossing - at[1] * width * v, crossing + (1 - at[1]) * width * v]
    return [tuple(p) for p in first + second]


def ellipse_area(length: float, width: float) -> float:
    return np.pi / 4 * length * width


@PROPERTIES
@given(st.floats(60, 160), st.floats(0.45, 1.0), st.floats(0, np.pi), st.permutations(range(4)))
def test_two_crossing_diameters_outline_the_ellipse_on_them(length, ratio, angle, order) -> None:
    width = length * ratio
    points = diameters((100, 150), length, width, angle)
    outline = measured_outline(marks_at([points[k] for k in order]), np.ones(SHAPE, bool))
    assert outline is not None
    assert abs(outline.sum() - ellipse_area(length, width)) <= np.pi * (length + width) / 2  # a pixel along its edge
    for r, c in points:  # its ends lie on the outline (to a pixel)
        near = outline[round(r) - 1 : round(r) + 2, round(c) - 1 : round(c) + 2]
        assert near.any() and not near.all()
    rows, cols = np.nonzero(outline)
    assert abs(rows.mean() - 100) < 1.0 and abs(cols.mean() - 150) < 1.0


@PROPERTIES
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_the_segments_must_cross_in_their_middles(t, s) -> None:
    """Segments crossing at shares (t, s) of their lengths: an outline exactly when both lie in
    ``[CROSS_MARGIN, 1 - CROSS_MARGIN]`` (a little slack for the marks' whole pixels)."""
    inside = CROSS_MARGIN + 0.02 <= min(t, s) and max(t, s) <= 1 - CROSS_MARGIN - 0.02
    outside = min(t, s) < CROSS_MARGIN - 0.02 or max(t, s) > 1 - CROSS_MARGIN + 0.02
    found = measured_outline(marks_at(diameters((100, 150), 120, 80, 0.3, at=(t, s))), np.ones(SHAPE, bool)) is not None
    if inside:
        assert found
    if outside:
        assert not found


@pytest.mark.parametrize("degrees, found", [(90, True), (CROSS_MIN_DEGREES + 3, True), (CROSS_MIN_DEGREES - 3, False), (20, False)])
def test_the_segments_must_cross_at_a_steep_angle(degrees: float, found: bool) -> None:
    c = np.array([100.0, 150.0])
    first = [c + 60 * np.array([0.0, -1.0]), c + 60 * np.array([0.0, 1.0])]
    a = np.radians(degrees)
    second = [c - 40 * np.array([np.sin(a), np.cos(a)]), c + 40 * np.array([np.sin(a), np.cos(a)])]
    outline = measured_outline(marks_at([tuple(p) for p in first + second]), np.ones(SHAPE, bool))
    assert (outline is not None) is found


@PROPERTIES
@given(st.floats(60, 120), st.floats(0.45, 0.9), st.floats(0, np.pi), st.floats(0.25, 0.75), st.floats(0.25, 0.75),
       st.permutations(range(4)))
def test_the_ellipse_lies_on_the_longer_diameter_wherever_the_shorter_crosses_it(length, ratio, angle, t, s, order) -> None:
    """Crossing off the middles (and the marks in any order): the ellipse is centred on the longer
    segment's midpoint, its long axis along it, the shorter's length across."""
    shape = (300, 400)
    points = diameters((150, 200), length, length * ratio, angle, at=(t, s))
    outline = measured_outline(marks_at([points[k] for k in order], shape), np.ones(shape, bool))
    assert outline is not None
    rows, cols = np.nonzero(outline)
    assert abs(rows.mean() - 150) < 1.0 and abs(cols.mean() - 200) < 1.0
    major = np.linalg.eigh(np.cov(np.stack([rows, cols])))[1][:, 1]
    assert abs(major @ np.array([np.sin(angle), np.cos(angle)])) > np.cos(np.radians(4))
    assert abs(outline.sum() - ellipse_area(length, length * ratio)) <= np.pi * length * (1 + ratio) / 2


@PROPERTIES
@given(st.floats(0, 2 * np.pi), st.floats(0, MAX_ARM_PX - 2), st.floats(MAX_ARM_PX + 2, 28), st.permutations(range(5)))
def test_a_fifth_mark_is_left_out_where_the_diameters_cross_only(direction, near, far, order) -> None:
    """A fifth mark within ``MAX_ARM_PX`` of the crossing (the dotted lines meeting) leaves the
    four's outline as it is; one farther off leaves the pairs unknown: no outline."""
    points = diameters((100, 150), 120, 80, 0.3, at=(0.4, 0.6))
    crossing = np.asarray(points[0]) + 0.4 * (np.asarray(points[1]) - np.asarray(points[0]))
    step = np.array([np.sin(direction), np.cos(direction)])
    four = measured_outline(marks_at(points), np.ones(SHAPE, bool))
    assert four is not None
    for distance, kept in ((near, True), (far, False)):
        five = points + [tuple(crossing + distance * step)]
        outline = measured_outline(marks_at([five[k] for k in order]), np.ones(SHAPE, bool))
        assert np.array_equal(outline, four) if kept else outline is None


def test_three_or_five_marks_or_marks_outside_the_scan_area_outline_nothing() -> None:
    points = diameters((100, 150), 120, 80, 0.0)
    within = np.ones(SHAPE, bool)
    assert measured_outline(marks_at(points[:3]), within) is None
    assert measured_outline(marks_at(points + [(20, 20)]), within) is None
    assert measured_outline(None, within) is None
    within[:, :40] = False  # a fifth '+' in the text beside the fan is left out
    assert measured_outline(marks_at(points + [(20, 20)]), within) is not None
    within[:, 200:] = False  # one of the four outside: three left
    assert measured_outline(marks_at(points), within) is None


@pytest.mark.parametrize("flip", [np.fliplr, np.flipud, np.transpose])
def test_a_mirrored_frame_gives_the_mirrored_outline(flip) -> None:
    marks = marks_at(diameters((90, 140), 110, 70, 0.4))
    outline = measured_outline(marks, np.ones(SHAPE, bool))
    other = measured_outline(np.ascontiguousarray(flip(marks)), np.ones(flip(marks).shape, bool))
    assert outline is not None and other is not None
    assert (flip(outline) ^ other).sum() <= 0.02 * outline.sum()  # to a pixel of rasterisation at its edge


def test_drawn_calipers_are_found_and_outline_the_section_they_measure() -> None:
    """'+' calipers drawn as the generators (and scanners) draw them, two pairs across an
    ellipse: the marks are found and their outline is the ellipse."""
    pixels = np.random.default_rng(3).integers(50, 70, SHAPE).astype(np.uint8)
    truth = np.zeros(SHAPE, np.uint8)
    cv2.ellipse(truth, ((150, 100), (120, 70), 20), 1, -1)
    ends = diameters((100, 150), 120, 70, np.radians(20))
    caliper(pixels, [(round(c), round(r)) for r, c in ends[:2]], 6, 4, 230)
    caliper(pixels, [(round(c), round(r)) for r, c in ends[2:]], 6, 4, 230)
    outline = calipers(pixels, np.ones(SHAPE, bool)).outline
    assert outline is not None and dice(outline, truth > 0) > 0.95


def probabilities(*regions: tuple[slice, slice, tuple[float, float, float]]) -> np.ndarray:
    p = np.zeros((3, *SHAPE), np.float32)
    p[0] = 1.0
    for rows, cols, value in regions:
        p[:, rows, cols] = np.array(value)[:, None, None]
    return p


def box(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    m = np.zeros(SHAPE, bool)
    m[r0:r1, c0:c1] = True
    return m


def test_an_outline_the_network_sees_as_follicle_or_small_inside_its_ovary_is_not_the_ovary() -> None:
    ovary = probabilities((slice(40, 160), slice(60, 240), (0.1, 0.9, 0.0)))
    kept = box(40, 160, 60, 240)
    small = box(90, 110, 140, 160)  # 400 px of 21600
    assert small.sum() < OUTLINE_SMALL * kept.sum()
    assert not measures_the_ovary(ovary, kept, small)  # a follicle (or cyst) measured in the ovary
    assert measures_the_ovary(ovary, kept, box(30, 170, 50, 250))  # the ovary, a little larger
    elsewhere = box(10, 30, 10, 30)  # small, but not inside the network's region: an ovary it missed
    assert measures_the_ovary(ovary, kept, elsewhere)
    follicle = probabilities((slice(0, 200), slice(0, 300), (0.5 - OUTLINE_FOLLICLE_MAX / 2, 0.5 - OUTLINE_FOLLICLE_MAX / 2, OUTLINE_FOLLICLE_MAX)))
    assert not measures_the_ovary(follicle, kept, box(30, 170, 50, 250))
    assert not measures_the_ovary(ovary, kept, np.zeros(SHAPE, bool))


def test_the_outline_is_the_ovary_kept_with_the_follicles_touching_it() -> None:
    """The network's ovary lies on the left; the calipers outline one on the right, with a
    follicle crossing its edge and another well away from it."""
    p = probabilities((slice(60, 140), slice(20, 100), (0.1, 0.9, 0.0)),   # the network's region
                      (slice(90, 110), slice(170, 190), (0.1, 0.2, 0.7)),  # a follicle inside the outline
                      (slice(40, 56), slice(200, 216), (0.1, 0.2, 0.7)),   # one crossing its edge
                      (slice(170, 185), slice(150, 165), (0.1, 0.2, 0.7)))  # one well away from it
    outline = measured_outline(marks_at(diameters((100, 200), 120, 90, np.pi / 2)), np.ones(SHAPE, bool))
    assert outline is not None
    labels = labels_from_probs(p, marked=outline, outline=outline)
    assert not labels[60:140, 20:100].any()
    assert (labels[90:110, 170:190] == FOLLICLE).all() and (labels[40:56, 200:216] == FOLLICLE).all()
    assert not labels[170:185, 150:165].any()
    assert ((labels > 0) == (outline | box(40, 56, 200, 216))).all()
    assert (labels[outline & ~box(90, 110, 170, 190) & ~box(40, 56, 200, 216)] == OVARY).all()
    without = labels_from_probs(p, marked=outline)
    small = measured_outline(marks_at(diameters((100, 60), 16, 12, 0.0)), np.ones(SHAPE, bool))
    assert small is not None  # a small section measured inside the network's ovary: the network's region stays
    assert np.array_equal(labels_from_probs(p, outline=small), labels_from_probs(p))
    assert not np.array_equal(without, labels)


@pytest.mark.parametrize("hull", [True, False])
def test_an_outline_taken_is_the_same_whatever_its_type_the_hull_or_the_marked_area(hull: bool) -> None:
    """An outline as booleans, 0/1 or 0/255 bytes gives the same labels; once taken they are the
    outline and the follicles touching it, whatever ``hull`` and ``marked``; an outline of zeros
    is none."""
    p = probabilities((slice(60, 140), slice(20, 100), (0.1, 0.9, 0.0)),
                      (slice(100, 140), slice(20, 60), (1.0, 0.0, 0.0)),    # the network's region an L: its hull differs
                      (slice(40, 56), slice(200, 216), (0.1, 0.2, 0.7)))   # a follicle crossing the outline's edge
    outline = measured_outline(marks_at(diameters((100, 200), 120, 90, np.pi / 2)), np.ones(SHAPE, bool))
    assert outline is not None
    taken = labels_from_probs(p, hull=hull, outline=outline)
    assert np.array_equal(taken, outlined_ovary(class_labels(p) == FOLLICLE, outline))
    for other in (outline.astype(np.uint8), outline.astype(np.uint8) * 255):
        assert np.array_equal(labels_from_probs(p, hull=hull, outline=other), taken)
    for marked in (outline, box(60, 140, 20, 100)):
        assert np.array_equal(labels_from_probs(p, hull=not hull, marked=marked, outline=outline), taken)
    plain = labels_from_probs(p, hull=hull)
    assert not np.array_equal(plain, labels_from_probs(p, hull=not hull))  # the hull matters where no outline is taken
    assert np.array_equal(labels_from_probs(p, hull=hull, outline=np.zeros(SHAPE, np.uint8)), plain)


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter(device="cpu", threads=1)


def test_segment_keeps_the_outline_where_the_network_saw_no_ovary_and_flags_it(segmenter: Segmenter, monkeypatch) -> None:
    pixels = np.random.default_rng(1).integers(50, 70, SHAPE).astype(np.uint8)
    ends = diameters((100, 200), 100, 70, np.pi / 2)
    caliper(pixels, [(round(c), round(r)) for r, c in ends[:2]], 6, 4, 230)
    caliper(pixels, [(round(c), round(r)) for r, c in ends[2:]], 6, 4, 230)
    p = probabilities((slice(70, 130), slice(30, 90), (0.1, 0.9, 0.0)))
    monkeypatch.setattr(Segmenter, "_predict_readings", lambda self, images: [(p, ()) for _ in images])
    marks = calipers(pixels)
    assert marks.outline is not None
    for calibration in (Calibration(0.2, 0.2, "ultrasound_region"), UNCALIBRATED):
        out = segmenter.segment([Frame(record(SHAPE, calibration), 0, pixels)])[0]
        spacing = calibration.spacing_row_mm, calibration.spacing_col_mm
        probs, _ = segmenter.predict([(pixels, *spacing, fan_mask(pixels), marks.area)])[0]
        assert np.array_equal(out.labels, labels_from_probs(probs, marked=marks.area, outline=marks.outline))
        assert np.array_equal(out.labels > 0, marks.outline) and OVARY_BY_CALIPERS in out.flags


def test_calipers_where_nothing_is_kept_raise_no_flag(segmenter: Segmenter, monkeypatch) -> None:
    """Calipers on a frame where the network sees nothing: one pair outlines nothing, no ovary is
    kept, and none is kept by the calipers (the flag used to say so on every such frame once the
    marks were looked for on every frame); two crossing pairs outline the ovary kept, flagged."""
    one = np.random.default_rng(1).integers(50, 70, SHAPE).astype(np.uint8)
    caliper(one, [(150, 60), (150, 140)], 6, 4, 230)  # (col, row)
    two = one.copy()
    caliper(two, [(110, 100), (190, 100)], 6, 4, 230)
    assert calipers(one).area is not None and calipers(one).outline is None and calipers(two).outline is not None
    monkeypatch.setattr(Segmenter, "_predict_readings", lambda self, images: [(probabilities(), ()) for _ in images])
    for calibration in (Calibration(0.2, 0.2, "ultrasound_region"), UNCALIBRATED):
        out = segmenter.segment([Frame(record(SHAPE, calibration), 0, one), Frame(record(SHAPE, calibration), 1, two)])
        assert not out[0].labels.any() and OVARY_BY_CALIPERS not in out[0].flags
        assert np.array_equal(out[1].labels > 0, calipers(two).outline) and OVARY_BY_CALIPERS in out[1].flags


@pytest.mark.parametrize("seed", [1_000_025, 1_000_061])
def test_calipers_measuring_the_true_ovary_outline_it(segmenter: Segmenter, seed: int) -> None:
    """Held-out frames without graphics on which the shipped network's plain pick keeps a
    look-alike: with two crossing diameters of the true ovary drawn, the kept ovary is it."""
    frame = training_frame(seed, graphics=False)
    truth = frame.labels > 0
    rows, cols = np.nonzero(truth)
    points = np.stack([rows, cols], 1).astype(np.float64)
    centre = points.mean(0)
    axes = np.linalg.svd(points - centre, full_matrices=False)[2]
    pixels = frame.pixels.copy()
    for axis in axes:  # each diameter's ends, 2 px inside the outline
        along = (points - centre) @ axis
        ends = [centre + t * axis for t in (along.min() + 2, along.max() - 2)]
        caliper(pixels, [(round(e[1]), round(e[0])) for e in ends], 6, 4, 230)
    marks = calipers(pixels)
    assert marks.outline is not None
    probs, _ = segmenter.predict([(pixels, frame.spacing_row_mm, frame.spacing_col_mm)])[0]
    assert dice(labels_from_probs(probs) > 0, truth) < 0.1, "the plain pick finds the ovary here now: take a seed where it does not"
    assert dice(labels_from_probs(probs, marked=marks.area, outline=marks.outline) > 0, truth) > 0.85


def test_two_marks_at_one_point_pair_into_no_segment() -> None:
    """Four centres of which two coincide (a degenerate drawing): no outline, no warning."""
    points = np.array([[10.0, 10.0], [10.0, 10.0], [5.0, 20.0], [15.0, 0.0]])
    with np.errstate(all="raise"):
        assert _diameters(points) is None


def test_a_run_reports_the_sonographers_two_diameters_as_the_ovarys(tmp_path) -> None:
    """A calibrated still whose network pick is a look-alike (held-out seed 1_000_025), with the
    true ovary measured by two crossing diameters: ``follicle-seg run`` reports the ovary's d1
    and d2 as the calipers' lengths in mm, and says the calipers overruled the network."""
    import pandas as pd

    from follicle_seg.io.write import write_us_dicom
    from follicle_seg.options import RunOptions
    from follicle_seg.pipeline import run

    frame = training_frame(1_000_025, graphics=False)
    truth = frame.labels > 0
    rows, cols = np.nonzero(truth)
    points = np.stack([rows, cols], 1).astype(np.float64)
    centre = points.mean(0)
    pixels = frame.pixels.copy()
    lengths_mm = []
    for axis in np.linalg.svd(points - centre, full_matrices=False)[2]:
        along = (points - centre) @ axis
        ends = [np.rint(centre + t * axis) for t in (along.min() + 2, along.max() - 2)]
        caliper(pixels, [(int(e[1]), int(e[0])) for e in ends], 6, 4, 230)
        (dr, dc) = ends[1] - ends[0]
        lengths_mm.append(float(np.hypot(dr * frame.spacing_row_mm, dc * frame.spacing_col_mm)))
    (tmp_path / "in").mkdir()
    write_us_dicom(tmp_path / "in" / "still.dcm", pixels[None], patient_id="P1", study_uid="1.2.826.0.1.1",
                   study_date="2025-01-02", series_uid="1.2.826.0.1.2", laterality="L",
                   regions=[dict(min_col=0, min_row=0, max_col=pixels.shape[1] - 1, max_row=pixels.shape[0] - 1,
                                 delta_x_mm=frame.spacing_col_mm, delta_y_mm=frame.spacing_row_mm)])
    run([tmp_path / "in"], RunOptions(out=tmp_path / "out", device="cpu", overlays=False, dicom=False, report=False,
                                      isolate=False))
    ovary = pd.read_csv(tmp_path / "out" / "ovaries.csv").iloc[0]
    assert ovary.ovary_d1_mm == pytest.approx(max(lengths_mm), abs=1.0)
    assert ovary.ovary_d2_mm == pytest.approx(min(lengths_mm), abs=1.0)
    reasons = pd.read_csv(tmp_path / "out" / "review_reasons.csv")
    assert OVARY_BY_CALIPERS in set(reasons["flag"])


def test_an_outline_running_past_the_scan_area_is_cut_at_its_edge() -> None:
    """Calipers on an ovary at the fan's side: the ellipse through them bulges past the scan
    area, where nothing is labelled; the outline stops at its edge."""
    marks = marks_at(diameters((100, 150), 120, 80, 0.0))  # ends at cols 90 and 210, rows 60 and 140
    whole = measured_outline(marks, np.ones(SHAPE, bool))
    within = np.ones(SHAPE, bool)
    within[:80, :120] = False  # a corner of the ellipse, none of the marks
    cut = measured_outline(marks, within)
    assert whole is not None and cut is not None and whole[75, 110]
    assert np.array_equal(cut, whole & within)


def test_an_outline_cut_by_the_scan_area_is_measured_as_the_ovary_at_its_edge(segmenter: Segmenter, monkeypatch) -> None:
    """Through ``segment`` and ``measure_frame``: an outline whose ellipse runs past the scan area
    (a black corner of the frame) is labelled inside it only and its ovary is ``at_edge`` (``ovary
    at scan edge``); the same outline clear of the edge is not, and its d1 and d2 are the
    calipers' lengths (the marks' centres 120 and 80 px apart, measured pixel edge to edge)."""
    inside = np.random.default_rng(2).integers(50, 70, SHAPE).astype(np.uint8)
    ends = diameters((100, 150), 120, 80, 0.0)  # marks at cols 90 and 210, rows 60 and 140
    caliper(inside, [(round(c), round(r)) for r, c in ends[:2]], 6, 4, 230)
    caliper(inside, [(round(c), round(r)) for r, c in ends[2:]], 6, 4, 230)
    cut = inside.copy()
    cut[:80, :120] = 0  # a corner of the ellipse, none of the marks
    monkeypatch.setattr(Segmenter, "_predict_readings", lambda self, images: [(probabilities(), ()) for _ in images])
    calibration = Calibration(0.2, 0.2, "ultrasound_region")
    out = segmenter.segment([Frame(record(SHAPE, calibration), 0, inside), Frame(record(SHAPE, calibration), 1, cut)])
    whole, edged = (calipers(px).outline for px in (inside, cut))
    assert whole is not None and edged is not None and whole[75, 110] and not edged[75, 110]
    assert np.array_equal(out[0].labels > 0, whole) and np.array_equal(out[1].labels > 0, edged)
    assert out[1].scan is not None and not (out[1].labels > 0)[~out[1].scan].any()
    free, at_edge = (measure_frame(s).ovary for s in out)
    assert free is not None and at_edge is not None
    assert not free.at_edge and at_edge.at_edge
    assert free.d1_mm == pytest.approx(0.2 * 121, abs=0.3) and free.d2_mm == pytest.approx(0.2 * 81, abs=0.3)
