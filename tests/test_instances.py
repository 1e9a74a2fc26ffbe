"""Follicle instances from label masks: splitting, ovary rule, size filter, holes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

from follicle_seg.instances import (class_labels, convex_hull_mask, fill_holes, find_boxes, follicle_instances,
                                    labels_from_probs)
from follicle_seg.types import FOLLICLE, OVARY


def ellipse(shape, centre, axes_mm, spacing=(1.0, 1.0), angle=0.0):
    """Boolean ellipse with semi-axes in mm on a grid of the given (row, col) spacing."""
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    y = (rr - centre[0]) * spacing[0]
    x = (cc - centre[1]) * spacing[1]
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    return (u / axes_mm[0]) ** 2 + (v / axes_mm[1]) ** 2 <= 1.0


def in_ovary(*follicles, shape=(160, 200)):
    labels = np.full(shape, OVARY, np.uint8)
    for f in follicles:
        labels[f] = FOLLICLE
    return labels


def count(labels, spacing=(0.2, 0.2), **kw):
    return int(follicle_instances(labels, spacing_row_mm=spacing[0], spacing_col_mm=spacing[1], **kw).max())


def test_two_touching_follicles_are_two():
    a = ellipse((160, 200), (80, 80), (3.0, 3.0), (0.2, 0.2))
    b = ellipse((160, 200), (80, 108), (3.0, 3.0), (0.2, 0.2))  # centres 5.6 mm apart, r 3 mm
    assert (a & b).any()  # they do touch: one connected component
    inst = follicle_instances(in_ovary(a | b), spacing_row_mm=0.2, spacing_col_mm=0.2)
    assert inst.max() == 2
    assert inst.dtype == np.int32
    # each instance sits on one disc
    assert {int(inst[80, 80]), int(inst[80, 108])} == {1, 2}


def test_two_touching_follicles_with_anisotropic_spacing():
    spacing = (0.3, 0.15)
    a = ellipse((120, 240), (60, 100), (3.0, 3.0), spacing)
    b = ellipse((120, 240), (60, 137), (3.0, 3.0), spacing)  # 5.55 mm apart along columns
    assert (a & b).any()
    assert count(in_ovary(a | b, shape=(120, 240)), spacing) == 2


@pytest.mark.parametrize("angle", [0.0, 0.5, 1.1])
@pytest.mark.parametrize("axes", [(12.0, 4.0), (16.0, 2.0), (8.0, 6.0)])
def test_one_elongated_follicle_is_not_split(axes, angle):
    f = ellipse((160, 200), (80, 100), axes, (0.2, 0.2), angle)
    assert count(in_ovary(f)) == 1


def test_ragged_follicle_wall_is_not_split():
    rng = np.random.default_rng(3)
    f = ellipse((160, 200), (80, 100), (9.0, 6.0), (0.2, 0.2), 0.3)
    bites = rng.random(f.shape) < 0.15
    ragged = f & ~(bites & ~ellipse((160, 200), (80, 100), (8.4, 5.4), (0.2, 0.2), 0.3))
    assert count(in_ovary(ragged)) == 1


def test_follicles_outside_the_ovary_are_dropped():
    labels = np.zeros((160, 200), np.uint8)
    ovary = ellipse((160, 200), (80, 60), (8.0, 8.0), (0.2, 0.2))
    labels[ovary] = OVARY
    inside = ellipse((160, 200), (80, 60), (2.0, 2.0), (0.2, 0.2))
    touching = ellipse((160, 200), (80, 104), (1.5, 1.5), (0.2, 0.2))  # overlaps the ovary edge
    far = ellipse((160, 200), (80, 170), (2.0, 2.0), (0.2, 0.2))
    labels[inside | touching | far] = FOLLICLE
    inst = follicle_instances(labels, spacing_row_mm=0.2, spacing_col_mm=0.2)
    assert inst.max() == 2
    assert inst[80, 60] > 0 and inst[80, 104] > 0
    assert inst[80, 170] == 0


def test_no_ovary_no_follicles():
    labels = np.zeros((160, 200), np.uint8)
    labels[ellipse((160, 200), (80, 100), (3.0, 3.0), (0.2, 0.2))] = FOLLICLE
    assert count(labels) == 0


def test_small_components_dropped_by_physical_size():
    small = ellipse((160, 200), (80, 50), (0.8, 0.8), (0.2, 0.2))  # 1.6 mm across
    big = ellipse((160, 200), (80, 120), (1.2, 1.2), (0.2, 0.2))  # 2.4 mm across
    labels = in_ovary(small, big)
    assert count(labels, min_diameter_mm=2.0) == 1
    assert count(labels, min_diameter_mm=1.0) == 2
    # the same pixels at a coarser spacing are physically larger: both kept
    assert count(labels, (0.4, 0.4), min_diameter_mm=2.0) == 2


def test_uncalibrated_uses_pixel_minimum():
    small = ellipse((160, 200), (80, 50), (2.0, 2.0))  # 13 pixels
    big = ellipse((160, 200), (80, 120), (5.0, 5.0))  # 81 pixels
    inst = follicle_instances(in_ovary(small, big), spacing_row_mm=None, spacing_col_mm=None, min_area_px=20)
    assert inst.max() == 1
    assert inst[80, 120] == 1


def test_holes_are_filled():
    f = ellipse((160, 200), (80, 100), (3.0, 3.0), (0.2, 0.2))
    labels = in_ovary(f)
    labels[78:83, 98:103] = OVARY  # an echogenic spot labelled ovary inside the follicle
    inst = follicle_instances(labels, spacing_row_mm=0.2, spacing_col_mm=0.2)
    assert inst.max() == 1
    assert (inst[78:83, 98:103] == 1).all()



def test_a_transposed_label_map_is_read_as_any_other():
    """A transposed view (Fortran order) padded to Fortran order, which OpenCV's flood fill refused
    (``cv2.error: Layout of the output array image is incompatible``)."""
    f = ellipse((160, 200), (80, 100), (3.0, 3.0), (0.2, 0.2))
    labels = in_ovary(f)
    labels[78:83, 98:103] = OVARY
    assert np.array_equal(fill_holes(f.T), ndi.binary_fill_holes(f.T))
    inst = follicle_instances(labels.T, spacing_row_mm=0.2, spacing_col_mm=0.2)
    assert np.array_equal(inst, follicle_instances(labels, spacing_row_mm=0.2, spacing_col_mm=0.2).T)

def disc_mm(shape, centre_mm, diameter_mm, spacing=0.2):
    """A disc given in mm (centre, diameter) on a grid of ``spacing`` mm (pixel centres at 0.03 mm
    off the grid's origin, so no disc is symmetric to the pixel)."""
    rr, cc = np.mgrid[: shape[0], : shape[1]] * spacing + 0.03
    return (rr - centre_mm[0]) ** 2 + (cc - centre_mm[1]) ** 2 <= (diameter_mm / 2) ** 2


def instance_sizes(labels, spacing=0.2):
    """Area-equivalent diameters (mm, 1 decimal) of the instances, largest first."""
    inst = follicle_instances(labels, spacing_row_mm=spacing, spacing_col_mm=spacing, min_diameter_mm=1.0)
    areas = np.bincount(inst.ravel())[1:] * spacing**2
    return sorted((round(float(2 * np.sqrt(a / np.pi)), 1) for a in areas), reverse=True)


def test_a_small_follicle_touching_a_large_one_is_split_from_it():
    """The depth a peak needs was a fraction of the component's largest radius, which the large
    follicle set: a 5 mm follicle meeting a 15 mm one at a 1.7 mm neck was merged into a 17.5 mm
    one (an 18 and a 6 mm: one >= 18 mm, one follicle lost)."""
    shape = (250, 250)
    sizes = instance_sizes(in_ovary(disc_mm(shape, (25, 20), 15), disc_mm(shape, (25, 29.8), 5), shape=shape))
    assert len(sizes) == 2 and 14.5 <= sizes[0] <= 15.2 and 4.3 <= sizes[1] <= 5.2
    sizes = instance_sizes(in_ovary(disc_mm(shape, (25, 20), 18), disc_mm(shape, (25, 31.8), 6), shape=shape))
    assert len(sizes) == 2 and sizes[0] <= 18.2 and 5.3 <= sizes[1] <= 6.2


@pytest.mark.parametrize("seed", range(4))
def test_a_follicle_with_echogenic_spots_in_it_stays_one(seed):
    """Spots inside one follicle must not cut it in pieces (an elongated one with a spot across
    most of its width included; a disc with four to six small spots was cut into wedges when
    holes were filled after splitting)."""
    rng = np.random.default_rng(seed)
    for _ in range(10):
        axes = (rng.uniform(2.0, 7.0), rng.uniform(2.0, 7.0))
        f = ellipse((160, 200), (80, 100), axes, (0.2, 0.2), rng.uniform(0, np.pi))
        labels = in_ovary(f)
        rows, cols = np.nonzero(f)
        for k in rng.integers(len(rows), size=2):
            spot = ellipse((160, 200), (rows[k], cols[k]), (0.4, 0.4), (0.2, 0.2)) & f
            labels[spot] = OVARY
        assert count(labels) == 1, axes
    f = ellipse((160, 200), (80, 100), (7.0, 1.6), (0.2, 0.2))
    labels = in_ovary(f)
    labels[ellipse((160, 200), (80, 100), (0.5, 0.5), (0.2, 0.2))] = OVARY  # 1 mm of its 3.2 mm width
    assert count(labels) == 1
    for n_spots in (4, 5, 6):
        labels = in_ovary(ellipse((160, 200), (80, 100), (5.0, 5.0), (0.2, 0.2)))
        for k in range(n_spots):
            a = 2 * np.pi * k / n_spots
            r, c = int(80 + 12 * np.sin(a)), int(100 + 12 * np.cos(a))
            labels[r : r + 2, c : c + 2] = OVARY  # 0.4 mm spots on a ring inside a 10 mm follicle
        assert count(labels) == 1, n_spots


@pytest.mark.parametrize("spacing_mm", [4.6, 4.8])
def test_three_or_four_follicles_that_all_touch_are_each_one(spacing_mm):
    """5 mm follicles 4.6-4.8 mm apart in a triangle or a square: the gap they enclose was filled
    as a hole before splitting, and the filled union, with no neck inside, came out as one
    follicle of 9.5-11.8 mm (a false follicle >= 10 mm, three or four lost)."""
    shape = (200, 200)
    for centres in (
        [(20 - spacing_mm * np.sqrt(3) / 4, 20), (20 + spacing_mm * np.sqrt(3) / 4, 20 - spacing_mm / 2),
         (20 + spacing_mm * np.sqrt(3) / 4, 20 + spacing_mm / 2)],
        [(20 + dy, 20 + dx) for dy in (-spacing_mm / 2, spacing_mm / 2) for dx in (-spacing_mm / 2, spacing_mm / 2)],
    ):
        labels = in_ovary(*(disc_mm(shape, c, 5.0) for c in centres), shape=shape)
        assert (fill_holes(labels == FOLLICLE) & (labels != FOLLICLE)).any()  # they do enclose a gap
        sizes = instance_sizes(labels)
        assert len(sizes) == len(centres), sizes
        assert all(4.4 <= d <= 5.1 for d in sizes), sizes


def test_a_ring_of_follicles_around_tissue_is_each_one():
    """Six 4 mm follicles touching around ovary tissue: one 11 mm candidate before."""
    shape = (200, 200)
    centres = [(20 + 3.9 * np.sin(a), 20 + 3.9 * np.cos(a)) for a in np.arange(6) * np.pi / 3 + 0.2]
    sizes = instance_sizes(in_ovary(*(disc_mm(shape, c, 4.0) for c in centres), shape=shape))
    assert len(sizes) == 6 and all(3.4 <= d <= 4.1 for d in sizes), sizes


def test_a_follicle_with_one_large_spot_near_its_wall_stays_one():
    """Splitting around a hole is taken only when the cuts meet the outline at notches: a spot
    near a follicle's wall leaves a thin bridge, cut from the spot to the smooth wall."""
    shape = (200, 200)
    labels = in_ovary(disc_mm(shape, (20, 20), 10.0), shape=shape)
    labels[disc_mm(shape, (20, 22.6), 3.0)] = OVARY  # 1 mm of follicle left between spot and wall
    assert len(instance_sizes(labels)) == 1


def test_a_follicle_cut_by_the_edge_with_a_spot_stays_one():
    """The array's edge was no outline to the notch test: a follicle cut by the frame's top edge,
    with a spot by the edge, was cut in two (the same shape a row lower: one)."""
    rr, cc = np.mgrid[:90, :90]
    labels = np.full((90, 90), OVARY, np.uint8)
    labels[(rr + 3.17) ** 2 + (cc - 45) ** 2 <= 19.3**2] = FOLLICLE
    labels[2, 48] = OVARY
    labels[11:14, 52:55] = OVARY
    assert count(labels) == 1
    assert count(np.pad(labels, ((1, 0), (0, 0)), constant_values=OVARY)) == 1


def test_input_is_not_modified_and_shapes_checked():
    labels = in_ovary(ellipse((160, 200), (80, 100), (3.0, 3.0), (0.2, 0.2)))
    before = labels.copy()
    follicle_instances(labels, np.zeros(labels.shape, np.float32), spacing_row_mm=0.2, spacing_col_mm=0.2)
    assert (labels == before).all()
    with pytest.raises(ValueError, match="shape"):
        follicle_instances(labels, np.zeros((3, 3), np.float32), spacing_row_mm=0.2, spacing_col_mm=0.2)


def probs_of(labels):
    """Confident one-hot probabilities of a label map."""
    p = np.zeros((3, *labels.shape), np.float32)
    for k in range(3):
        p[k][labels == k] = 0.9
    return p + 0.05


def test_labels_from_probs_keeps_the_strongest_region_and_fills_its_convex_hull():
    rows, cols = np.mgrid[:60, :80]
    labels = np.zeros((60, 80), np.uint8)
    ovary = ellipse(labels.shape, (30, 25), (18, 12))
    labels[ovary] = OVARY
    bite = ovary & (rows < 24) & (np.abs(cols - 25) < 5)  # a bite open to the outside, not a hole
    labels[bite] = 0
    labels[ellipse(labels.shape, (32, 18), (4, 4))] = FOLLICLE
    labels[ellipse(labels.shape, (30, 70), (3, 3))] = OVARY  # a weaker look-alike elsewhere
    out = labels_from_probs(probs_of(labels))
    assert bite.sum() > 30 and (out[bite] == OVARY).mean() > 0.8  # the bite is ovary again
    assert (out[ellipse(labels.shape, (32, 18), (4, 4))] == FOLLICLE).all()  # follicles untouched
    assert out[:, 60:].max() == 0  # the look-alike is gone, and the hull does not reach it
    plain = labels_from_probs(probs_of(labels), hull=False)
    assert (plain[bite] == 0).all() and plain[:, 60:].max() == 0


def test_labels_from_probs_prefers_the_candidate_near_the_centre_line():
    """Of two equal candidates the one a sonographer would have centred wins; a candidate off
    to the side still wins when it is clearly the stronger (several times the mass)."""
    labels = np.zeros((100, 200), np.uint8)
    centre, side = ellipse(labels.shape, (50, 100), (10, 10)), ellipse(labels.shape, (50, 170), (10, 10))
    labels[centre | side] = OVARY
    out = labels_from_probs(probs_of(labels), hull=False)
    assert (out[centre] == OVARY).all() and out[side].max() == 0
    labels[side] = 0
    big_side = ellipse(labels.shape, (50, 165), (25, 25))  # 0.65 half-widths off the line
    labels[big_side] = OVARY
    out = labels_from_probs(probs_of(labels), hull=False)
    assert (out[big_side] == OVARY).all() and out[centre].max() == 0
    mirrored = labels_from_probs(probs_of(labels[:, ::-1].copy()), hull=False)
    np.testing.assert_array_equal(mirrored, out[:, ::-1])  # the weight is symmetric about the line


def test_candidate_scores_are_centre_weighted_probability_sums():
    """Each candidate's score is its summed 1 - p(background) times the centre-line weight of its
    centroid column, as scipy's labelled sums compute them."""
    from scipy import ndimage

    from follicle_seg.instances import CENTRE_SIGMA, _candidates

    rng = np.random.default_rng(3)
    probs = rng.dirichlet([6.0, 1.0, 1.0], size=(70, 90)).transpose(2, 0, 1).astype(np.float32)
    regions, score = _candidates(probs, probs.argmax(0))
    index = np.arange(1, regions.max() + 1)
    assert index.size > 5
    mass = ndimage.sum(1.0 - probs[0], regions, index)
    cols = np.array([c for _, c in ndimage.center_of_mass(regions > 0, regions, index)])
    offset = (cols + 0.5 - 45) / 45
    np.testing.assert_allclose(score, mass * np.exp(-0.5 * (offset / CENTRE_SIGMA) ** 2), rtol=1e-9)


@pytest.mark.parametrize("decimals", [None, 1])
def test_class_labels_are_numpys_argmax_ties_included(decimals: int | None) -> None:
    probs = np.random.default_rng(3).random((3, 41, 57)).astype(np.float32)
    if decimals is not None:
        probs = np.round(probs, decimals)  # many ties: the first class must win them
    labels = class_labels(probs)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, probs.argmax(0))


def test_find_boxes_is_scipys_find_objects() -> None:
    rng = np.random.default_rng(5)
    for k in range(20):
        ids = np.zeros((60, 90), np.int32)
        for label in rng.permutation(np.arange(1, 1 + k % 6)):
            r, c = rng.integers(0, 55), rng.integers(0, 85)
            ids[r : r + rng.integers(1, 6), c : c + rng.integers(1, 6)] = label
        for max_label in (0, 3, 8):
            assert find_boxes(ids, max_label) == ndi.find_objects(ids, max_label=max_label)


def test_convex_hull_mask_is_skimages_convex_hull_image() -> None:
    """Pixel for pixel, edge and corner pixels included, on random blobs, lines and diagonals."""
    rng = np.random.default_rng(0)
    masks = [np.ones((1, 1), bool), np.ones((1, 7), bool), np.ones((5, 1), bool), np.eye(6, dtype=bool),
             np.eye(6, dtype=bool)[::-1]]  # fmt: skip
    for k in range(400):
        noise = ndi.gaussian_filter(rng.normal(size=(20 + k % 60, 90 - k % 50)), sigma=1 + k % 7)
        masks.append(noise > np.quantile(noise, rng.uniform(0.5, 0.98)))
    for mask in masks:
        np.testing.assert_array_equal(convex_hull_mask(mask), convex_hull_image(mask))
    assert not convex_hull_mask(np.zeros((3, 4), bool)).any()  # skimage warns and gives the same
