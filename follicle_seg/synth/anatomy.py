"""Random pelvic scenes: an ovary with follicles and the anatomy around it.

A scene is an ordered tuple of :class:`Shape` (later shapes paint over earlier ones) holding the
material each structure is rendered with and the label it carries. Only the ovary (label 1) and
its follicles (label 2) are foreground; every look-alike (iliac vessels, fluid-filled bowel, free
fluid, bladder, uterus) is background and is painted *before* the ovary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from follicle_seg.synth.geometry import (
    Quadric,
    cylinder,
    ellipsoid,
    extent_along,
    inside_fraction,
    random_rotation,
    scaled,
)
from follicle_seg.types import BACKGROUND, FOLLICLE, OVARY

#: Material keys a shape can carry (see :mod:`follicle_seg.synth.materials`).
MATERIALS: tuple[str, ...] = (
    "tissue",
    "fascia",
    "tissue_patch",
    "uterus",
    "endometrium",
    "bladder",
    "bowel_wall",
    "bowel_fluid",
    "bowel_mixed",
    "gas",
    "free_fluid",
    "vessel_wall",
    "blood",
    "capsule",
    "stroma",
    "follicle",
)


@dataclass(frozen=True)
class Shape:
    """One solid of the scene: its material, its label and its geometry."""

    material: str
    label: int
    quadric: Quadric


@dataclass(frozen=True)
class Scene:
    """A pelvic scene in probe coordinates (mm); ``shapes`` in painting order."""

    shapes: tuple[Shape, ...]
    ovary: Quadric | None
    follicles: tuple[Quadric, ...]


@dataclass(frozen=True)
class Ovary:
    """An ovary's solids: capsule, stroma and follicles (painting order)."""

    shapes: tuple[Shape, ...]
    body: Quadric
    follicles: tuple[Quadric, ...]


def _fits(body: Quadric, placed: list[tuple[np.ndarray, float]], c: np.ndarray, r: float) -> np.ndarray:
    """Which candidate centres (n, 3) hold a sphere of radius r inside ``body``, clear of the others."""
    ok = inside_fraction(body, c, r) <= 1.0
    for c2, r2 in placed:
        ok &= np.linalg.norm(np.atleast_2d(c) - c2, axis=1) >= r + r2
    return ok


def _in_ball(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v * rng.uniform(0.0, 1.0, (n, 1)) ** (1 / 3)


def place_ovary(
    rng: np.random.Generator,
    centre: np.ndarray,
    length_mm: float,
    follicle_diameters_mm: list[float] | np.ndarray,
    *,
    capsule_mm: float = 0.5,
    tilt: float = 0.35,
) -> Ovary:
    """Ovary ellipsoid ``length_mm`` long holding non-overlapping ellipsoidal follicles.

    Follicles are placed largest first; some are pushed outwards until they touch the wall or a
    neighbour. The ovary grows when a follicle would not fit (a dominant follicle stretches it).
    A follicle that still finds no room after many tries is left out, so the returned
    ``follicles`` are the truth.
    """
    diam = np.sort(np.asarray(follicle_diameters_mm, dtype=float))[::-1]
    half = length_mm / 2.0
    if diam.size:
        half = max(half, diam[0] / 2.0 * 1.15 + 1.0)
    axes = np.array([half, half * rng.uniform(0.6, 0.85), half * rng.uniform(0.55, 0.85)])
    if diam.size:
        axes[1:] = np.maximum(axes[1:], diam[0] / 2.0 * 1.1 + 0.8)
    rot = random_rotation(rng, tilt=tilt)
    body = ellipsoid(centre, axes, rot)
    placed: list[tuple[np.ndarray, float]] = []
    follicles: list[Quadric] = []
    for d in diam:
        r = d / 2.0
        semi = r * np.array([1.0, rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0)])
        r_max = float(semi.max())
        for _ in range(3):
            cands = centre + _in_ball(rng, 100) * axes @ rot.T
            ok = np.flatnonzero(_fits(body, placed, cands, r_max))
            if ok.size:
                break
        else:
            continue
        c = cands[ok[0]]
        if rng.random() < 0.35:  # push outwards until it touches the wall or a neighbour
            lo, hi = 1.0, 1.0 / max(float(np.linalg.norm((c - centre) @ rot / axes)), 1e-3)
            for _ in range(12):
                mid = (lo + hi) / 2.0
                lo, hi = (mid, hi) if _fits(body, placed, centre + mid * (c - centre), r_max)[0] else (lo, mid)
            c = centre + lo * (c - centre)
        placed.append((c, r_max))
        follicles.append(ellipsoid(c, semi, random_rotation(rng, tilt=np.pi)))
    stroma = scaled(body, max(0.5, 1.0 - capsule_mm / axes.min()))
    shapes = [Shape("capsule", OVARY, body), Shape("stroma", OVARY, stroma)]
    shapes += [Shape("follicle", FOLLICLE, f) for f in follicles]
    return Ovary(tuple(shapes), body, tuple(follicles))


def _away(rng: np.random.Generator, anchor: np.ndarray, gap: float, spread: float) -> np.ndarray:
    ang = rng.uniform(0, 2 * np.pi)
    dist = gap + rng.uniform(0.0, spread)
    return anchor + np.array([dist * np.cos(ang), rng.normal(0, 3.0), dist * np.sin(ang)])


def surroundings(
    rng: np.random.Generator,
    ovary_centre: np.ndarray,
    ovary_radius_mm: float,
    *,
    busy: float = 1.0,
) -> list[Shape]:
    """Background anatomy around an ovary: vessels, bowel, free fluid, uterus, bladder.

    ``busy`` scales how many look-alikes appear (0 = plain tissue only).
    """
    shapes: list[Shape] = []
    for _ in range(int(rng.poisson(4.0 * busy))):  # fat planes and fascia: thin bright streaks
        semi = np.array([rng.uniform(10, 60), rng.uniform(8, 40), rng.uniform(0.3, 1.5)])
        c = _away(rng, ovary_centre, ovary_radius_mm + 2.0, 40.0)
        shapes.append(Shape("fascia", BACKGROUND, ellipsoid(c, semi, random_rotation(rng, tilt=0.3))))
    for _ in range(int(rng.poisson(5.0 * busy))):  # echogenic clutter: fat lobules, bowel folds
        semi = rng.uniform(1.5, 7.0, 3) * np.array([1.0, 1.0, rng.uniform(0.3, 1.0)])
        c = _away(rng, ovary_centre, ovary_radius_mm + semi.max(), 45.0)
        shapes.append(Shape("fascia", BACKGROUND, ellipsoid(c, semi, random_rotation(rng, tilt=np.pi))))
    for _ in range(int(rng.poisson(1.5 * busy))):  # ovary-sized patches of other soft tissue
        semi = np.array([rng.uniform(5, 20), rng.uniform(5, 20), rng.uniform(4, 14)])
        c = _away(rng, ovary_centre, ovary_radius_mm * 0.6 + semi.max(), 35.0)
        shapes.append(Shape("tissue_patch", BACKGROUND, ellipsoid(c, semi, random_rotation(rng, tilt=np.pi))))
    if rng.random() < 0.5 * busy:  # uterus, mostly off to one side, partly in view
        side = rng.choice([-1.0, 1.0])
        semi = np.array([rng.uniform(22, 40), rng.uniform(18, 30), rng.uniform(14, 24)])
        c = ovary_centre + np.array(
            [side * (ovary_radius_mm + semi[0] * rng.uniform(0.8, 1.3)), 0.0, rng.uniform(-10, 15)]
        )
        rot = random_rotation(rng, tilt=0.2)
        shapes.append(Shape("uterus", BACKGROUND, ellipsoid(c, semi, rot)))
        endo = semi * np.array([0.75, 0.6, rng.uniform(0.06, 0.2)])
        shapes.append(Shape("endometrium", BACKGROUND, ellipsoid(c, endo, rot)))
    if rng.random() < 0.15 * busy:  # bladder near the probe
        semi = np.array([rng.uniform(15, 35), rng.uniform(15, 30), rng.uniform(8, 18)])
        c = np.array([rng.uniform(-40, 40), ovary_centre[1], -semi[2] * rng.uniform(0.1, 0.6)])
        shapes.append(Shape("bladder", BACKGROUND, ellipsoid(c, semi, random_rotation(rng, tilt=0.1))))
    if rng.random() < 0.35 * busy:  # free fluid, often hugging the ovary
        anchor = ovary_centre + np.array([0.0, 0.0, ovary_radius_mm * rng.uniform(0.6, 1.4)])
        for _ in range(int(rng.integers(1, 4))):
            semi = np.array([rng.uniform(4, 18), rng.uniform(4, 12), rng.uniform(1.5, 6)])
            c = anchor + rng.normal(0, 5.0, size=3)
            shapes.append(Shape("free_fluid", BACKGROUND, ellipsoid(c, semi, random_rotation(rng, tilt=0.6))))
    for _ in range(int(rng.poisson(1.3 * busy))):  # bowel loops
        semi = np.array([rng.uniform(5, 15), rng.uniform(5, 15), rng.uniform(4, 10)])
        wall = rng.uniform(0.8, 2.5)
        c = _away(rng, ovary_centre, ovary_radius_mm + semi.max(), 30.0)
        rot = random_rotation(rng, tilt=np.pi)
        outer = ellipsoid(c, semi + wall, rot)
        content = str(rng.choice(["bowel_fluid", "bowel_mixed", "gas"], p=[0.4, 0.45, 0.15]))
        shapes.append(Shape("bowel_wall", BACKGROUND, outer))
        shapes.append(Shape(content, BACKGROUND, ellipsoid(c, semi, rot)))
    for _ in range(int(rng.poisson(1.2 * busy))):  # iliac vessels and smaller pelvic vessels
        radius = rng.uniform(1.5, 6.0)
        c = _away(rng, ovary_centre, ovary_radius_mm + radius + 0.5, 25.0)
        if rng.random() < 0.7:  # across the plane: a round section in every sweep frame
            direction = np.array([rng.normal(0, 0.3), 1.0, rng.normal(0, 0.3)])
        else:  # along the plane: a tubular band
            direction = np.array([1.0, rng.normal(0, 0.15), rng.normal(0, 0.4)])
        wall = rng.uniform(0.3, 1.0)
        shapes.append(Shape("vessel_wall", BACKGROUND, cylinder(c, direction, radius + wall)))
        shapes.append(Shape("blood", BACKGROUND, cylinder(c, direction, radius)))
    return shapes


def ovary_radius(body: Quadric) -> float:
    """Largest in-plane half-extent of an ovary ellipsoid (mm)."""
    return max(extent_along(body, 0), extent_along(body, 2))


def scene(ovary: Ovary | None, around: list[Shape]) -> Scene:
    """Assemble a scene: the surroundings first, the ovary on top."""
    if ovary is None:
        return Scene(tuple(around), None, ())
    return Scene(tuple(around) + ovary.shapes, ovary.body, ovary.follicles)
