"""Region choice and pixel spacing against random Sequences of Ultrasound Regions (property-based).

Random regions (2D or not, tissue, colour or spectral, cm or other units, deltas plausible,
absurd, 0, missing or negative; inside the frame, cut by it, past it or written the wrong way
round) on frames of several sizes. Each property is stated in docs/ingestion.md ("Region and
calibration", the calibration paragraph under "Rejections") and SPEC "Inputs":

- the chosen region is the largest 2D tissue region inside the frame (else the largest 2D one);
  the order of the sequence matters only between regions of equal area, where the first in file
  order wins (the documented tie rule: "the first of equal panes");
- a region outside the frame, one that is not tissue or not 2D, never displaces a tissue region, nor
  changes the panes beside it or the note of rival regions; unless it is a 2D region reaching
  more than 2 px past the frame both down and across: then the file's regions were written for a
  larger image and none is used (``misfit_regions``, documented), which is asserted too;
- mm per pixel is 10x the cm delta, rows from Y and columns from X, never from other units;
- scaling the deltas by k scales the spacing by k; the spacing check holds on one interval of k
  and the extent check below one k (monotone verdicts).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from follicle_seg.io.calibration import (
    DATA_TYPE_TISSUE,
    SPACING_RANGE_MM,
    SPATIAL_FORMAT_2D,
    UltrasoundRegion,
    box_area,
    box_intersection,
    choose_calibration,
    choose_region,
    implausible_extent,
    implausible_spacing,
    misfit_regions,
    other_panes,
    region_calibration,
    rival_regions,
    spacing_calibration,
)
from follicle_seg.types import UNCALIBRATED, Calibration
from test_io_calibration import region  # tests/ is on sys.path

PROPERTIES = settings(max_examples=60)  # (deterministic: tests/conftest.py's profile)

FRAMES = st.sampled_from(((480, 640), (240, 320), (600, 800), (768, 1024), (100, 90)))
# deltas in cm as a file writes them: decimals of a few places, absurd ones, none
DECIMAL_DELTAS = st.decimals(min_value=Decimal("0.0005"), max_value=Decimal("0.3"), places=5)
DELTAS = st.one_of(DECIMAL_DELTAS.map(float), st.sampled_from((0.02, 0.02, 0.03, 0.0, -0.02, 1.5, None)))


@st.composite
def regions(draw, frame: tuple[int, int], *, tissue: bool | None = None, fit: bool = True) -> UltrasoundRegion:
    """One region on a ``frame`` of (rows, columns); ``fit``: never written for a larger image."""
    n_rows, n_cols = frame
    c0, r0 = draw(st.integers(0, n_cols + 20)), draw(st.integers(0, n_rows + 20))
    c1, r1 = c0 + draw(st.integers(-30, n_cols)), r0 + draw(st.integers(-30, n_rows))  # (may run the wrong way)
    if fit and min(r1 - (n_rows - 1), c1 - (n_cols - 1)) > 2:  # past the frame both ways: cut one back
        c1 = min(c1, n_cols + 1)
    kind = DATA_TYPE_TISSUE if tissue else draw(st.sampled_from((1, 1, 1, 2, 3, 5)))
    if tissue is False and kind == DATA_TYPE_TISSUE:
        kind = 2
    out = region(c0, r0, c1, r1, fmt=draw(st.sampled_from((1, 1, 1, 1, 3, 4))), kind=kind,
                 units=draw(st.sampled_from((3, 3, 3, 3, 0, 1, 4))), dx=draw(DELTAS), dy=draw(DELTAS))  # fmt: skip
    return replace(out, spatial_format=SPATIAL_FORMAT_2D) if tissue else out


@st.composite
def sequences(draw, **kw) -> tuple[tuple[int, int], list[UltrasoundRegion]]:
    frame = draw(FRAMES)
    found = [draw(regions(frame, **kw)) for _ in range(draw(st.integers(0, 5)))]
    if draw(st.integers(0, 3)) == 0:  # a dual display: two tissue panes side by side, pixel sizes of their own
        n_rows, n_cols = frame
        half = draw(st.integers(n_cols // 8, n_cols // 2))  # the narrower one under a quarter at times
        found.insert(draw(st.integers(0, len(found))), region(0, 0, half - 1, n_rows - 1, dx=draw(DELTAS), dy=draw(DELTAS)))
        found.insert(draw(st.integers(0, len(found))), region(half, 0, n_cols - 1, n_rows - 1, dx=draw(DELTAS), dy=draw(DELTAS)))
    if draw(st.booleans()):  # a copy of one: equal areas (a tie), or a zoom's second region
        if found:
            twin = draw(st.sampled_from(found))
            found.append(replace(twin, delta_x=draw(DELTAS), delta_y=draw(DELTAS)))
    return frame, found


def area(r: UltrasoundRegion, frame: tuple[int, int]) -> int:
    return r.area_in_frame(*frame)


def pool(found: list[UltrasoundRegion], frame: tuple[int, int]) -> list[UltrasoundRegion]:
    """The oracle's candidates: 2D regions with pixels in the frame, tissue ones when there are."""
    two_d = [r for r in found if r.spatial_format == SPATIAL_FORMAT_2D and area(r, frame) > 0]
    return [r for r in two_d if r.data_type == DATA_TYPE_TISSUE] or two_d


@PROPERTIES
@given(sequences(), st.randoms(use_true_random=False))
def test_choice_is_the_largest_and_order_only_breaks_ties(drawn, rnd) -> None:
    frame, found = drawn
    shuffled = list(found)
    rnd.shuffle(shuffled)
    for seq in (found, shuffled):
        chosen, candidates = choose_region(seq, *frame), pool(seq, frame)
        if not candidates:
            assert chosen is None
            continue
        best = max(area(r, frame) for r in candidates)
        assert chosen is next(r for r in seq if r in candidates and area(r, frame) == best)  # the first of equal ones
        assert area(chosen, frame) > 0 and chosen.spatial_format == SPATIAL_FORMAT_2D  # never outside the frame
    first, second = choose_region(found, *frame), choose_region(shuffled, *frame)
    if first is not None and sum(area(r, frame) == area(first, frame) for r in pool(found, frame)) == 1:
        assert second is first  # a unique largest region: the order is irrelevant


@PROPERTIES
@given(st.data())
def test_a_region_outside_the_frame_or_not_tissue_changes_nothing_of_a_tissue_choice(data) -> None:
    frame, found = data.draw(sequences())
    chosen = choose_region(found, *frame)
    if chosen is None or chosen.data_type != DATA_TYPE_TISSUE:
        found.append(data.draw(regions(frame, tissue=True)))  # a tissue region to keep
        chosen = choose_region(found, *frame)
    if chosen is None:  # the tissue region drawn lies outside the frame too
        return
    extra = data.draw(st.one_of(regions(frame, tissue=False), regions(frame).filter(lambda r: area(r, frame) == 0),
                                regions(frame, tissue=True).map(lambda r: replace(r, spatial_format=2)),  # M-mode
                                # over the chosen image itself, pixels of another size: an M-mode trace, a colour box
                                st.builds(lambda fmt, kind, d: replace(chosen, spatial_format=fmt, data_type=kind, delta_x=d),
                                          st.sampled_from((2, 3)), st.sampled_from((1, 2, 3)), DELTAS),
                                st.builds(lambda d: replace(chosen, data_type=2, delta_x=d), DELTAS)))
    more = list(found)
    more.insert(data.draw(st.integers(0, len(more))), extra)
    assert choose_region(more, *frame) is chosen
    assert other_panes(more, chosen, *frame) == other_panes(found, chosen, *frame)
    assert rival_regions(more, chosen, *frame) == rival_regions(found, chosen, *frame)
    assert misfit_regions(more, *frame) == misfit_regions(found, *frame)  # (drawn to fit the frame)


def test_a_region_not_2d_over_the_image_is_no_rival() -> None:
    """The drawn case made plain: an M-mode region of tissue data over the B-mode image."""
    bmode = region(0, 0, 319, 239)
    m_mode = replace(bmode, spatial_format=2, delta_x=0.05)
    assert rival_regions([bmode, m_mode], bmode, 240, 320) == ""
    assert rival_regions([bmode, replace(m_mode, spatial_format=SPATIAL_FORMAT_2D)], bmode, 240, 320) != ""


def test_a_region_written_for_a_larger_image_voids_every_region() -> None:
    """The documented exception: a colour box past the 320x240 frame both ways is a resized file's."""
    bmode, colour_box = region(0, 0, 319, 239), region(200, 150, 500, 400, kind=2)
    assert misfit_regions([bmode], 240, 320) == ""
    assert "no region of the file used" in misfit_regions([bmode, colour_box], 240, 320)


@PROPERTIES
@given(sequences(), st.randoms(use_true_random=False))
def test_panes_are_big_apart_tissue_and_order_free_but_for_ties(drawn, rnd) -> None:
    frame, found = drawn
    chosen = choose_region(found, *frame)
    if chosen is None:
        return
    panes = other_panes(found, chosen, *frame)
    boxes = [b for b in (r.clipped(*frame) for r in (chosen, *panes)) if b is not None]
    assert len(boxes) == 1 + len(panes) and chosen not in panes
    for r in panes:
        assert r.spatial_format == SPATIAL_FORMAT_2D and r.data_type == DATA_TYPE_TISSUE
        assert area(r, frame) >= 0.25 * area(chosen, frame)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert box_area(box_intersection(a, b)) <= 0.1 * min(box_area(a), box_area(b))
    assert [area(r, frame) for r in panes] == sorted((area(r, frame) for r in panes), reverse=True)
    shuffled = list(found)
    rnd.shuffle(shuffled)
    areas = [area(r, frame) for r in found if r.data_type == DATA_TYPE_TISSUE and r.spatial_format == SPATIAL_FORMAT_2D]
    if len(set(areas)) == len(areas):  # no ties: the same panes whatever the order
        assert other_panes(shuffled, chosen, *frame) == panes
        assert bool(rival_regions(shuffled, chosen, *frame)) == bool(rival_regions(found, chosen, *frame))


@PROPERTIES
@given(st.tuples(DECIMAL_DELTAS, DECIMAL_DELTAS), st.sampled_from((1, -1)), st.sampled_from((1, -1)))
def test_mm_per_pixel_is_ten_times_the_cm_delta_rows_from_y(deltas, sign_x, sign_y) -> None:
    dx, dy = deltas
    calibration = region_calibration(region(0, 0, 99, 99, dx=sign_x * float(dx), dy=sign_y * float(dy)))
    assert calibration == Calibration(float(dy * 10), float(dx * 10), "ultrasound_region")  # exactly, either sign


@PROPERTIES
@given(st.sampled_from((None, 0, 1, 2, 4, 7, 12)), st.sampled_from((3, None, 0, 1, 4)), DELTAS, DELTAS,
       st.sampled_from((None, [0.3, 0.2], [0.0, 0.0])), st.sampled_from((None, [0.1, 0.12])))  # fmt: skip
def test_calibration_never_from_other_units_and_never_guessed(units_x, units_y, dx, dy, spacing, imager) -> None:
    r = replace(region(0, 0, 99, 99, dx=dx, dy=dy), units_x=units_x, units_y=units_y)  # units_x is never cm
    assert region_calibration(r) is None
    chosen = choose_calibration(r, spacing, imager)
    expected = spacing_calibration(spacing, "PixelSpacing") or spacing_calibration(imager, "ImagerPixelSpacing")
    assert chosen == (expected or UNCALIBRATED) and chosen.source != "ultrasound_region"
    if spacing == [0.3, 0.2]:
        assert (chosen.spacing_row_mm, chosen.spacing_col_mm) == (0.3, 0.2)  # [row, column]


@PROPERTIES
@given(st.tuples(DECIMAL_DELTAS, DECIMAL_DELTAS), st.lists(st.decimals(Decimal("0.01"), Decimal("40"), places=2),
       min_size=3, max_size=3), st.integers(64, 1024), st.integers(64, 1024))  # fmt: skip
def test_scaling_the_deltas_scales_the_spacing_and_the_verdicts_are_monotone(deltas, ks, height, width) -> None:
    k1, k2, k3 = sorted(ks)
    box = (0, 0, width - 1, height - 1)
    found = []
    for k in (k1, k2, k3):
        calibration = region_calibration(region(0, 0, 9, 9, dx=float(deltas[0] * k), dy=float(deltas[1] * k)))
        assert calibration is not None
        assert calibration.spacing_col_mm == pytest.approx(float(deltas[0] * k * 10), rel=1e-12)
        assert calibration.spacing_row_mm == pytest.approx(float(deltas[1] * k * 10), rel=1e-12)
        found.append((implausible_spacing(calibration) is None, implausible_extent(calibration, box) is None))
    (spacing1, extent1), (spacing2, extent2), (spacing3, extent3) = found
    assert not (spacing1 and spacing3) or spacing2  # plausible at both ends: plausible between
    assert not extent3 or extent2, "fits at a larger k but not a smaller"
    assert not extent2 or extent1, "fits at a larger k but not a smaller"


@PROPERTIES
@example((Decimal("0.001"), Decimal("0.2")))  # both bounds are plausible
@example((Decimal("0.0009"), Decimal("0.2")))
@example((Decimal("0.001"), Decimal("0.20001")))
@given(st.tuples(DECIMAL_DELTAS, DECIMAL_DELTAS))
def test_deltas_in_the_documented_range_are_plausible_and_outside_it_are_not(deltas) -> None:
    lo, hi = SPACING_RANGE_MM
    calibration = region_calibration(region(0, 0, 9, 9, dx=float(deltas[0]), dy=float(deltas[1])))
    assert calibration is not None
    inside = all(Decimal(str(lo)) <= d * 10 <= Decimal(str(hi)) for d in deltas)  # 0.01-2 mm, inclusive
    assert (implausible_spacing(calibration) is None) == inside
