"""Sections measured from masks: diameters, area, centroid, frames with instances and ovary."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from scipy import ndimage as ndi
from skimage.measure import find_contours

from follicle_seg.measure import feret_diameters, filled_graphics, hull_candidates, measure_frame, measure_mask
from follicle_seg.types import (
    FOLLICLE,
    OVARY,
    UNCALIBRATED,
    Calibration,
    FrameSegmentation,
    ImageRecord,
)


def record(spacing=(0.2, 0.2), region=(30, 10, 329, 209)):
    cal = Calibration(*spacing, "ultrasound_region") if spacing else UNCALIBRATED
    return ImageRecord(
        path="a.dcm", sop_instance_uid="1.2.3", sop_class_uid="1.2.840.10008.5.1.4.1.1.6.1",
        modality="US", patient_id="P1", study_instance_uid="1.2", study_date="2026-01-05",
        series_instance_uid="1.2.4", series_description="", laterality="L",
        laterality_source="ImageLaterality", n_frames=1, rows=240, columns=360,
        photometric="MONOCHROME2", transfer_syntax="1.2.840.10008.1.2.1", calibration=cal,
        region=region, region_source="ultrasound_region",
    )  # fmt: skip


def ellipse(shape, centre, axes, spacing=(1.0, 1.0), angle=0.0):
    """Pixels whose centres fall in an ellipse of semi-axes ``axes`` (physical units)."""
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    y = (rr - centre[0]) * spacing[0]
    x = (cc - centre[1]) * spacing[1]
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    return (u / axes[0]) ** 2 + (v / axes[1]) ** 2 <= 1.0


@pytest.mark.parametrize("angle", [0.0, 0.3, math.pi / 4, 1.2, 2.0])
@pytest.mark.parametrize("axes", [(20.3, 10.6), (30.2, 12.4), (9.7, 9.7), (6.4, 3.3)])
def test_ellipse_diameters_and_area_within_one_pixel(axes, angle):
    a, b = axes
    mask = ellipse((100, 100), (50.37, 49.61), axes, angle=angle)
    s = measure_mask(mask, 1.0, 1.0)
    assert abs(s.d1_px - 2 * a) <= 1.0
    assert abs(s.d2_px - 2 * b) <= 1.0
    assert abs(s.d1_mm - 2 * a) <= 1.0 and abs(s.d2_mm - 2 * b) <= 1.0
    # area within half a pixel along the outline (perimeter by Ramanujan)
    perimeter = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))
    assert abs(s.area_mm2 - math.pi * a * b) <= 0.5 * perimeter
    assert s.d1_px >= s.d2_px


@pytest.mark.parametrize("angle", [0.0, 0.7, math.pi / 2, 2.4])
def test_ellipse_with_anisotropic_spacing(angle):
    spacing = (0.3, 0.12)  # rows 0.3 mm apart, columns 0.12 mm apart
    a, b = 6.1, 3.2  # mm
    mask = ellipse((90, 220), (45.3, 110.6), (a, b), spacing, angle)
    s = measure_mask(mask, *spacing)
    coarse = max(spacing)
    assert abs(s.d1_mm - 2 * a) <= coarse
    assert abs(s.d2_mm - 2 * b) <= coarse
    assert s.area_mm2 == pytest.approx(mask.sum() * 0.3 * 0.12)
    assert abs(s.area_mm2 - math.pi * a * b) <= 0.5 * coarse * 2 * math.pi * a


def test_anisotropy_changes_mm_not_pixels():
    bar = np.zeros((20, 20), bool)
    bar[10, 5:15] = True  # one row, ten columns
    wide = measure_mask(bar, 0.1, 0.5)  # columns 0.5 mm apart: 5 mm long, 0.1 mm thick
    narrow = measure_mask(bar, 0.5, 0.1)  # columns 0.1 mm apart: 1 mm long, 0.5 mm thick
    assert wide.d1_px == narrow.d1_px == pytest.approx(10.0)
    assert wide.d1_mm == pytest.approx(5.0)
    assert wide.d2_mm == pytest.approx(0.1)
    assert narrow.d1_mm == pytest.approx(1.0, abs=0.05)
    assert narrow.d2_mm == pytest.approx(0.5, abs=0.1)


def test_offset_centroid_bbox_and_score():
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    prob = np.zeros((10, 12), np.float32)
    prob[2:5, 3:6] = 1.0
    s = measure_mask(mask, 0.5, 0.25, offset=(100, 200), frame_index=7, prob=prob)
    assert (s.centroid_row, s.centroid_col) == (103.0, 205.5)
    assert s.bbox == (102, 203, 105, 209)
    assert s.area_px == 18 and s.area_mm2 == pytest.approx(18 * 0.125)
    assert s.score == pytest.approx(0.5)
    assert s.frame_index == 7


def test_uncalibrated_mask_has_no_mm():
    mask = ellipse((50, 50), (25, 25), (10, 6))
    s = measure_mask(mask, None, None)
    assert s.d1_mm is None and s.d2_mm is None and s.area_mm2 is None
    assert s.mean_diameter_mm is None
    assert abs(s.d1_px - 20) <= 1 and abs(s.d2_px - 12) <= 1


def test_empty_mask_raises():
    with pytest.raises(ValueError, match="empty"):
        measure_mask(np.zeros((5, 5), bool), 0.1, 0.1)


def test_feret_of_known_points():
    d1, d2 = feret_diameters(np.array([[0, 0], [0, 10], [3, 5], [-1, 5]], float))
    assert (d1, d2) == (10.0, 4.0)
    # a 2 x 4 rectangle: d1 the diagonal, d2 the chord perpendicular to it through the centre
    d1, d2 = feret_diameters(np.array([[0, 0], [0, 4], [2, 0], [2, 4]], float))
    assert d1 == pytest.approx(math.sqrt(20)) and d2 == pytest.approx(math.sqrt(5))
    assert feret_diameters(np.array([[0, 0], [0, 4], [0, 2]], float)) == (4.0, 0.0)


def test_hull_candidates_give_the_whole_iso_contours_diameters():
    """The row and column extremes stand for the marching-squares outline: same d1 and d2 on
    random blobs (with holes, several parts, one-pixel lines), on unit and anisotropic spacing,
    whatever the order of the points."""
    rng = np.random.default_rng(0)
    masks = [np.ones((1, 1), bool), np.ones((1, 7), bool), np.eye(6, dtype=bool)]
    for k in range(40):
        noise = ndi.gaussian_filter(rng.normal(size=(40 + k, 70 - k)), sigma=1 + k % 5)
        masks.append(noise > np.quantile(noise, rng.uniform(0.5, 0.95)))
    for mask in masks:
        outline = np.concatenate(find_contours(np.pad(mask, 1).astype(np.float32), 0.5))
        candidates = hull_candidates(mask)
        shuffled = rng.permutation(outline)  # chords tied for d1 must not be chosen by order
        for spacing in ((1.0, 1.0), (0.137, 0.211)):
            expected = feret_diameters(outline * spacing)
            assert feret_diameters(candidates * spacing) == pytest.approx(expected, rel=1e-12, abs=1e-12)
            assert feret_diameters(shuffled * spacing) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def segmentation(rec, labels, prob_value=0.9, index=0):
    prob = np.where(labels == FOLLICLE, prob_value, 0.0).astype(np.float32)
    return FrameSegmentation(rec, index, labels, prob, (labels > 0).astype(np.float32))


def test_measure_frame_sorts_largest_first_and_maps_instances():
    rec = record()
    shape = rec.region_shape
    labels = np.zeros(shape, np.uint8)
    labels[ellipse(shape, (100, 150), (130, 90))] = OVARY
    labels[ellipse(shape, (100, 90), (10, 10))] = FOLLICLE  # 4 mm at 0.2 mm/px
    labels[ellipse(shape, (100, 190), (25, 25))] = FOLLICLE  # 10 mm
    labels[ellipse(shape, (60, 150), (3, 3))] = FOLLICLE  # 1.2 mm: a section, kept for tracking
    m = measure_frame(segmentation(rec, labels, index=4))
    assert [round(f.mean_diameter_mm) for f in m.follicles] == [10, 4, 1]
    assert m.frame_index == 4 and all(f.frame_index == 4 for f in m.follicles)
    for k, f in enumerate(m.follicles, start=1):
        assert int((m.instances == k).sum()) == f.area_px
    # centroids in source-frame pixels: region starts at row 10, column 30
    big = m.follicles[0]
    assert (big.centroid_row, big.centroid_col) == pytest.approx((110.0, 220.0))
    assert big.score == pytest.approx(0.9)
    assert m.ovary is not None
    assert m.ovary.d1_mm == pytest.approx(2 * 130 * 0.2, abs=0.21)
    assert m.ovary.d2_mm == pytest.approx(2 * 90 * 0.2, abs=0.21)
    assert m.ovary.area_px == int((labels > 0).sum())
    assert m.flags == ()


def test_measure_frame_ovary_is_largest_component_holding_ovary_pixels():
    rec = record(spacing=None)
    shape = rec.region_shape
    labels = np.zeros(shape, np.uint8)
    labels[ellipse(shape, (100, 80), (30, 30))] = OVARY
    labels[ellipse(shape, (100, 80), (10, 10))] = FOLLICLE
    labels[ellipse(shape, (100, 230), (45, 45))] = FOLLICLE  # big follicle-only blob: not an ovary
    m = measure_frame(segmentation(rec, labels))
    assert m.ovary is not None
    assert m.ovary.centroid_col == pytest.approx(80 + 30)
    assert len(m.follicles) == 1  # the blob has no ovary next to it
    assert m.flags == ("uncalibrated",)
    assert m.follicles[0].d1_mm is None


def test_a_hole_the_network_leaves_in_the_ovary_counts_as_ovary():
    rec = record(spacing=None)
    shape = rec.region_shape
    labels = np.zeros(shape, np.uint8)
    labels[ellipse(shape, (100, 80), (30, 20))] = OVARY
    filled = int((labels > 0).sum())
    labels[ellipse(shape, (100, 80), (4, 4))] = 0  # a speckle hole, background inside the ovary
    assert int((labels > 0).sum()) < filled
    assert measure_frame(segmentation(rec, labels)).ovary.area_px == filled


def test_measure_frame_without_anything():
    rec = record()
    m = measure_frame(segmentation(rec, np.zeros(rec.region_shape, np.uint8)))
    assert m.follicles == () and m.ovary is None
    assert m.instances.shape == rec.region_shape and m.instances.max() == 0


def test_a_follicle_cut_by_the_scan_area_is_at_edge():
    """A follicle reaching the black around the fan, or the region's border, is cut (its size a
    lower bound); one three pixels inside the scan area is not."""
    rec = record()
    shape = rec.region_shape
    scan = ellipse(shape, (0, 150), (190, 190))  # a fan from the probe at the top
    labels = np.zeros(shape, np.uint8)
    labels[ellipse(shape, (100, 150), (130, 90))] = OVARY
    labels[ellipse(shape, (185, 150), (15, 15)) & scan] = FOLLICLE  # cut by the fan's arc
    labels[ellipse(shape, (100, 100), (15, 15))] = FOLLICLE
    inside = ellipse(shape, (100, 200), (15, 15))
    labels[inside] = FOLLICLE
    seg = replace(segmentation(rec, labels), scan=scan)
    cut = {round(f.centroid_col - 30): f.at_edge for f in measure_frame(seg).follicles}
    assert cut == {150: True, 100: False, 200: False}
    # moved to three pixels from the fan's edge: not cut
    labels[labels == FOLLICLE] = OVARY
    labels[ellipse(shape, (172, 150), (15, 15))] = FOLLICLE
    assert not ndi.binary_dilation(labels == FOLLICLE, iterations=2)[~scan].any()
    assert [f.at_edge for f in measure_frame(replace(seg, labels=labels)).follicles] == [False]
    # no scan mask: the region grid's border is the edge
    labels[labels == FOLLICLE] = OVARY
    labels[ellipse(shape, (100, 5), (15, 15))] = FOLLICLE
    assert [f.at_edge for f in measure_frame(segmentation(rec, labels)).follicles] == [True]


def test_the_dent_of_two_joined_discs_in_pixels_and_mm_and_none_for_an_ovary() -> None:
    """Two discs joined at a waist dent in on both sides; square pixels give the pixel dent
    scaled, pixels not square their own (the waist runs along the rows: 0.2 mm a pixel); an ovary's outline is not measured for it."""
    from follicle_seg.measure import deepest_dent, dent_outline

    yy, xx = np.mgrid[:40, :70]
    pair = ((yy - 20) ** 2 + (xx - 20) ** 2 <= 15**2) | ((yy - 20) ** 2 + (xx - 48) ** 2 <= 15**2)
    square = measure_mask(pair, 0.2, 0.2)
    assert square.dent_px == pytest.approx(15 - math.sqrt(15**2 - 14**2), abs=1.0)  # the waist's half-height: 5.4 px
    assert square.dent_mm == pytest.approx(0.2 * square.dent_px)
    tall = measure_mask(pair, 0.2, 0.3)
    assert tall.dent_mm == pytest.approx(deepest_dent(dent_outline(pair) * [0.2, 0.3]))
    skipped = measure_mask(pair, 0.2, 0.2, dent=False)
    assert (skipped.dent_px, skipped.dent_mm) == (0.0, None) and skipped.d1_mm == square.d1_mm
    assert measure_mask(pair, None, None).dent_px == square.dent_px
    holed = pair.copy()
    holed[18:23, 18:23] = False  # a hole inside is no dent
    assert measure_mask(holed, None, None).dent_px == square.dent_px
    assert measure_mask(pair[20:21, 20:21], None, None).dent_px == 0.0  # a pixel: no outline left to dent


def plus(shape, centre, arm):
    """A 1-pixel '+' with arms of ``arm`` pixels at ``(row, col)``: a caliper as a scanner draws it."""
    mark = np.zeros(shape, bool)
    r, c = centre
    mark[r - arm : r + arm + 1, c] = mark[r, c - arm : c + arm + 1] = True
    return mark


def test_a_colour_calipers_bite_in_a_follicle_is_no_notch_and_a_waist_stays_one() -> None:
    """A sonographer's '+' caliper on a follicle's wall: the network leaves its pixels (and their
    rim) out of the follicle, a bite that raised ``follicle notched``. The frame's colour pixels
    fill the bite before the dent is measured (the arms outside the follicle add nothing); the
    same bite without them is a notch, and two discs one radius apart stay notched with a caliper
    elsewhere. Diameters, area and score are those of the mask the network gave."""
    from follicle_seg.tracking import FLAG_NOTCHED, follicle_raises

    rec = record()
    shape = rec.region_shape
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disc = (yy - 100) ** 2 + (xx - 150) ** 2 <= 20**2
    caliper = plus(shape, (80, 150), 5)  # on the top wall: half its arms inside the disc
    bite = ndi.binary_dilation(caliper, np.ones((3, 3), bool))
    labels = np.where((yy - 100) ** 2 + (xx - 150) ** 2 <= 60**2, OVARY, 0).astype(np.uint8)
    labels[disc & ~bite] = FOLLICLE
    plain = measure_frame(segmentation(rec, labels)).follicles[0]
    coloured = measure_frame(replace(segmentation(rec, labels), graphics=caliper)).follicles[0]
    assert follicle_raises(FLAG_NOTCHED, plain) and not follicle_raises(FLAG_NOTCHED, coloured)
    assert coloured.dent_px == pytest.approx(measure_mask(disc, None, None).dent_px, abs=0.05)
    assert replace(coloured, dent_px=0.0, dent_mm=None) == replace(plain, dent_px=0.0, dent_mm=None)
    # two discs one radius apart, a caliper bite on the far wall of one: still notched at the waist
    pair = ((yy - 100) ** 2 + (xx - 140) ** 2 <= 20**2) | ((yy - 100) ** 2 + (xx - 160) ** 2 <= 20**2)
    caliper = plus(shape, (100, 120), 5)
    labels[labels == FOLLICLE] = OVARY
    labels[pair & ~ndi.binary_dilation(caliper, np.ones((3, 3), bool))] = FOLLICLE
    joined = measure_frame(replace(segmentation(rec, labels), graphics=caliper)).follicles
    assert len(joined) == 1 and follicle_raises(FLAG_NOTCHED, joined[0])
    assert joined[0].dent_px == pytest.approx(measure_mask(pair, None, None).dent_px, abs=0.05)


def test_graphics_are_filled_in_only_where_the_pixel_centres_lie_inside_the_hull() -> None:
    """A triangle of pixels whose long side runs 1 row down for 2 columns: the pixels just beyond
    it (rasterising the hull takes them, its edge passing through them) lie outside the hull of
    the mask's pixel centres, and graphics there are a caliper's arm outside the follicle, no bite.
    The hull's own pixels not in the mask are filled in; a line or a pixel has no inside."""
    triangle = np.zeros((6, 9), bool)
    for row in range(4):
        triangle[row, : 7 - 2 * row] = True  # centres (row, col) with col + 2 row <= 6
    everywhere = np.ones_like(triangle)
    np.testing.assert_array_equal(filled_graphics(triangle, everywhere), triangle)
    bitten = triangle.copy()
    bitten[1, 2:4] = False  # a bite inside the hull is filled
    np.testing.assert_array_equal(filled_graphics(bitten, everywhere), triangle)
    line = np.zeros((5, 9), bool)
    line[2, 1:8] = True
    np.testing.assert_array_equal(filled_graphics(line, np.ones_like(line)), line)
    np.testing.assert_array_equal(filled_graphics(line[1:4, 3:6], np.ones((3, 3), bool)), line[1:4, 3:6])
    pixel = np.zeros((3, 3), bool)
    pixel[1, 1] = True
    np.testing.assert_array_equal(filled_graphics(pixel, np.ones_like(pixel)), pixel)
