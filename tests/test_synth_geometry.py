"""Exact plane cuts and label maps of the synthetic scene geometry."""

from __future__ import annotations

import numpy as np
import pytest

from follicle_seg.synth.anatomy import Scene, Shape, place_ovary
from follicle_seg.synth.geometry import cut, cylinder, ellipsoid, rotation
from follicle_seg.synth.render import Probe, display_grid, label_map
from follicle_seg.types import FOLLICLE, OVARY


def test_sphere_cut_has_chord_diameter() -> None:
    q = ellipsoid(np.array([0.0, 2.0, 30.0]), np.array([3.0, 3.0, 3.0]), np.eye(3))
    sec = cut(q, 3.0)
    assert sec is not None
    assert sec.d1_mm == pytest.approx(2 * np.sqrt(8.0))
    assert sec.d2_mm == pytest.approx(2 * np.sqrt(8.0))
    assert (sec.centre_x_mm, sec.centre_z_mm) == pytest.approx((0.0, 30.0))
    assert cut(q, 5.5) is None


def test_rotated_ellipsoid_cut_matches_monte_carlo_area() -> None:
    rng = np.random.default_rng(1)
    q = ellipsoid(np.array([1.0, 0.5, 20.0]), np.array([6.0, 3.0, 4.0]), rotation(0.4, -0.3, 0.7))
    sec = cut(q, 1.2)
    assert sec is not None and sec.d1_mm >= sec.d2_mm
    x0, z0, x1, z1 = sec.bbox()
    x = rng.uniform(x0, x1, 200_000).astype(np.float32)
    z = rng.uniform(z0, z1, 200_000).astype(np.float32)
    frac = float(np.mean(q.values(1.2, x, z) <= 1.0))
    assert frac * (x1 - x0) * (z1 - z0) == pytest.approx(sec.area_mm2, rel=0.02)


def test_label_map_follicle_area_matches_analytic_section() -> None:
    probe = Probe(radius_mm=8.0, fan_deg=140.0, depth_mm=60.0)
    grid = display_grid(probe, 0.1)
    fol = ellipsoid(np.array([4.0, 0.0, 30.0]), np.array([4.0, 3.0, 3.5]), rotation(0.3, 0.2, 0.1))
    ov = ellipsoid(np.array([4.0, 0.0, 30.0]), np.array([10.0, 8.0, 7.0]), np.eye(3))
    scene = Scene((Shape("stroma", OVARY, ov), Shape("follicle", FOLLICLE, fol)), ov, (fol,))
    labels = label_map(scene, 0.8, probe, grid)
    sec = cut(fol, 0.8)
    assert sec is not None
    area_mm2 = np.sum(labels == FOLLICLE) * 0.1 * 0.1
    assert area_mm2 == pytest.approx(sec.area_mm2, rel=0.02)
    rows, cols = np.nonzero(labels == FOLLICLE)
    row, col = grid.to_pixel(sec.centre_x_mm, sec.centre_z_mm)
    assert rows.mean() == pytest.approx(row, abs=0.5) and cols.mean() == pytest.approx(col, abs=0.5)
    assert np.sum(labels == OVARY) > 0


def test_cylinder_cut_across_plane_is_a_disc() -> None:
    q = cylinder(np.array([0.0, 0.0, 25.0]), np.array([0.0, 1.0, 0.0]), 4.0)
    sec = cut(q, 17.0)
    assert sec is not None and sec.d1_mm == pytest.approx(8.0) and sec.d2_mm == pytest.approx(8.0)


def test_place_ovary_follicles_inside_and_disjoint() -> None:
    rng = np.random.default_rng(3)
    ov = place_ovary(rng, np.array([0.0, 0.0, 30.0]), 22.0, [9.0, 6.0, 5.0, 4.0, 3.0, 3.0, 2.5])
    assert len(ov.follicles) >= 5
    centres = [f.centre for f in ov.follicles]
    radii = [1.0 / np.sqrt(np.linalg.eigvalsh(f.matrix).min()) for f in ov.follicles]
    for i in range(len(centres)):
        d = centres[i] - ov.body.centre
        assert d @ ov.body.matrix @ d < 1.0
        for j in range(i):
            assert np.linalg.norm(centres[i] - centres[j]) >= radii[i] + radii[j] - 1e-6


def test_bad_geometry_is_refused() -> None:
    with pytest.raises(ValueError, match="semi-axes"):
        ellipsoid(np.zeros(3), np.array([1.0, 0.0, 1.0]), np.eye(3))
    with pytest.raises(ValueError, match="fan_deg"):
        Probe(radius_mm=5.0, fan_deg=200.0, depth_mm=50.0)
