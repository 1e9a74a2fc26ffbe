"""Sections measured from masks against random masks (property-based, metamorphic).

The masks are the random follicles of ``tests/test_instances_properties.py`` (discs and tilted
ellipses of 2-25 mm at 0.1-0.3 mm a pixel, square or not, apart or pressed together), each measured
as :func:`follicle_seg.measure.measure_mask` and :func:`~follicle_seg.measure.measure_frame` do.
docs/measurement.md ("Diameters", "Area", "Review flags") defines every figure on the pixels and
their physical coordinates: ``d1`` the longest distance between two outline points, ``d2`` the
longest chord perpendicular to it, the area the pixel count x pixel area, the dent the deepest
point of the smoothed outline inside its hull. So a turn or a mirror of the grid (with the row and
column spacings traded where rows and columns are) changes no figure, nor does moving the frame's
labels on the grid (but the centroids and boxes, by the move); lengths in another unit scale
every length by k and every area by k^2; and ``d2 <= d1`` (no chord of a convex outline is longer
than its diameter).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from follicle_seg.measure import measure_frame, measure_mask
from follicle_seg.types import FrameSegmentation
from test_instances_properties import SYMMETRIES, Scene, instances, scenes  # tests/ is on sys.path
from test_measure import record

PROPERTIES = settings(max_examples=20)  # (deterministic: tests/conftest.py's profile)

FLOAT = 1e-9  # relative: the same lengths summed in another order


def masks(scene: Scene) -> list[np.ndarray]:
    """Every follicle instance of the scene, in a box one pixel larger than it."""
    ids = instances(scene.labels(), scene.spacing, min_diameter_mm=1.0)
    out = []
    for k in range(1, int(ids.max()) + 1):
        rows, cols = np.nonzero(ids == k)
        out.append((ids == k)[rows.min() - 1 : rows.max() + 2, cols.min() - 1 : cols.max() + 2])
    return out


@PROPERTIES
@given(scenes(), st.sampled_from(sorted(SYMMETRIES)))
def test_a_turned_or_mirrored_mask_measures_the_same(scene: Scene, name: str) -> None:
    turn, swaps = SYMMETRIES[name]
    sr, sc = scene.spacing
    for mask in masks(scene):
        a = measure_mask(mask, sr, sc)
        b = measure_mask(turn(mask), *((sc, sr) if swaps else (sr, sc)))  # a view, as it comes
        assert b.area_px == a.area_px and b.area_mm2 == pytest.approx(a.area_mm2, rel=FLOAT)
        assert (b.d1_mm, b.d2_mm) == pytest.approx((a.d1_mm, a.d2_mm), rel=FLOAT)
        assert (b.d1_px, b.d2_px) == pytest.approx((a.d1_px, a.d2_px), rel=FLOAT)
        # the dent's outline comes of a float32 Gaussian, summed in another order when turned
        assert b.dent_px == pytest.approx(a.dent_px, abs=1e-4)
        assert b.dent_mm == pytest.approx(a.dent_mm, abs=1e-4 * max(sr, sc))
        # each turned pixel's place before the turn is affine in its place after it
        before = [np.ascontiguousarray(turn(grid)).astype(float) for grid in np.indices(mask.shape)]
        back = [g[0, 0] + (g[1, 0] - g[0, 0]) * b.centroid_row + (g[0, 1] - g[0, 0]) * b.centroid_col for g in before]
        assert (a.centroid_row, a.centroid_col) == pytest.approx(tuple(back))


@PROPERTIES
@given(scenes(), st.sampled_from((0.5, 0.7, 1.5, 2.0, 3.3)))
def test_lengths_in_another_unit_scale_every_figure(scene: Scene, k: float) -> None:
    sr, sc = scene.spacing
    for mask in masks(scene):
        a = measure_mask(mask, sr, sc)
        b = measure_mask(mask, k * sr, k * sc)
        assert (b.d1_mm, b.d2_mm, b.dent_mm) == pytest.approx((k * a.d1_mm, k * a.d2_mm, k * a.dent_mm), rel=FLOAT, abs=1e-12)
        assert b.area_mm2 == pytest.approx(k * k * a.area_mm2, rel=FLOAT)
        assert (b.area_px, b.d1_px, b.d2_px, b.dent_px) == (a.area_px, a.d1_px, a.d2_px, a.dent_px)
        assert a.mean_diameter_mm == pytest.approx((a.d1_mm + a.d2_mm) / 2)


@PROPERTIES
@given(scenes())
def test_no_chord_across_is_longer_than_the_diameter(scene: Scene) -> None:
    """``d2 <= d1``, in mm and in pixels, and a follicle's ``d1`` reaches its area-equivalent
    diameter less the pixel staircase (the area of a set is at most that of the disc of its
    diameter; the outline's hull, pixel-edge midpoints, lies up to half a pixel inside the pixels)."""
    sr, sc = scene.spacing
    for mask in masks(scene):
        s = measure_mask(mask, sr, sc)
        assert s.d2_mm <= s.d1_mm * (1 + FLOAT) and s.d2_px <= s.d1_px * (1 + FLOAT)
        assert s.d1_mm + max(sr, sc) >= math.sqrt(4 * s.area_mm2 / math.pi)


@PROPERTIES
@given(scenes(), st.integers(-6, 6), st.integers(-6, 6))
def test_labels_moved_on_the_region_grid_measure_the_same_but_where(scene: Scene, down: int, right: int) -> None:
    """measure_frame: the same follicles and ovary, in the same order, their centroids and boxes
    moved by as much (no follicle or ovary near the region's border, so ``at_edge`` stays)."""
    labels = np.pad(scene.labels(), 8)
    rec = record(spacing=scene.spacing, region=(30, 10, 30 + labels.shape[1] - 1, 10 + labels.shape[0] - 1))
    moved = np.roll(labels, (down, right), axis=(0, 1))

    def frame(lab: np.ndarray):
        prob = np.where(lab == 2, 0.93, 0.0).astype(np.float32)
        return measure_frame(FrameSegmentation(rec, 0, lab, prob, (lab > 0).astype(np.float32)))

    a, b = frame(labels), frame(moved)
    assert np.array_equal(b.instances, np.roll(a.instances, (down, right), axis=(0, 1)))
    pairs = list(zip(a.follicles, b.follicles)) + [(a.ovary, b.ovary)]
    assert len(a.follicles) == len(b.follicles) and a.ovary is not None and b.ovary is not None
    for x, y in pairs:
        assert (y.centroid_row, y.centroid_col) == pytest.approx((x.centroid_row + down, x.centroid_col + right))
        assert y.bbox == (x.bbox[0] + down, x.bbox[1] + right, x.bbox[2] + down, x.bbox[3] + right)
        same = ("area_px", "d1_mm", "d2_mm", "area_mm2", "score", "dent_px", "dent_mm", "at_edge")
        assert [getattr(y, f) for f in same] == [getattr(x, f) for f in same]
