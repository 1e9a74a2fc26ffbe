"""3-D scene primitives and their exact cuts by an imaging plane.

Every structure of a synthetic scene is a quadric ``(p - c)^T A (p - c) <= 1`` in millimetres:
an ellipsoid (``A`` positive definite) or an infinite cylinder (``A`` of rank 2). Coordinates:
``x`` lateral, ``y`` elevational (the sweep direction), ``z`` depth below the probe face. An
imaging plane is ``y = y0``; inside it a point is ``(x, z)``.

Cutting a quadric by a plane gives a 2-D quadratic whose zero set is the section's outline, so the
renderer, the label maps and the ground-truth tables all come from the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Quadric:
    """The solid ``(p - centre)^T matrix (p - centre) <= 1`` (mm)."""

    centre: np.ndarray  # (3,) x, y, z in mm
    matrix: np.ndarray  # (3, 3) symmetric positive semi-definite

    def values(self, y0: float, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Quadratic form at in-plane points ``(x, z)`` of the plane ``y = y0`` (< 1 inside)."""
        a = self.matrix
        dx = x - np.float32(self.centre[0])
        dz = z - np.float32(self.centre[2])
        dy = float(y0 - self.centre[1])
        c0 = np.float32(a[1, 1] * dy * dy)
        bx = np.float32(2.0 * a[0, 1] * dy)
        bz = np.float32(2.0 * a[1, 2] * dy)
        return (
            np.float32(a[0, 0]) * dx * dx
            + np.float32(2.0 * a[0, 2]) * dx * dz
            + np.float32(a[2, 2]) * dz * dz
            + bx * dx
            + bz * dz
            + c0
        )


@dataclass(frozen=True)
class EllipseCut:
    """Exact section of an ellipsoid by the plane ``y = y0``.

    ``d1_mm`` >= ``d2_mm`` are the full axis lengths; ``angle_rad`` is the direction of ``d1`` from
    the +x axis towards +z.
    """

    centre_x_mm: float
    centre_z_mm: float
    d1_mm: float
    d2_mm: float
    angle_rad: float

    @property
    def area_mm2(self) -> float:
        return float(np.pi * self.d1_mm * self.d2_mm / 4.0)

    @property
    def mean_diameter_mm(self) -> float:
        return (self.d1_mm + self.d2_mm) / 2.0

    def bbox(self) -> tuple[float, float, float, float]:
        """``(min_x, min_z, max_x, max_z)`` in mm."""
        a, b = self.d1_mm / 2.0, self.d2_mm / 2.0
        c, s = np.cos(self.angle_rad), np.sin(self.angle_rad)
        hx = float(np.hypot(a * c, b * s))
        hz = float(np.hypot(a * s, b * c))
        return (self.centre_x_mm - hx, self.centre_z_mm - hz, self.centre_x_mm + hx, self.centre_z_mm + hz)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation matrix from three angles in radians (about z, then y, then x)."""
    cz, sz = np.cos(yaw), np.sin(yaw)
    cy, sy = np.cos(pitch), np.sin(pitch)
    cx, sx = np.cos(roll), np.sin(roll)
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    return rz @ ry @ rx


def random_rotation(rng: np.random.Generator, *, tilt: float = 0.35) -> np.ndarray:
    """A rotation free in the image plane (about y) and tilted by up to ``tilt`` rad otherwise."""
    in_plane = rng.uniform(-np.pi, np.pi)
    ry = np.array(
        [[np.cos(in_plane), 0.0, np.sin(in_plane)], [0.0, 1.0, 0.0], [-np.sin(in_plane), 0.0, np.cos(in_plane)]]
    )
    return ry @ rotation(rng.uniform(-tilt, tilt), 0.0, rng.uniform(-tilt, tilt))


def ellipsoid(centre: np.ndarray, semi_axes: np.ndarray, rot: np.ndarray) -> Quadric:
    """Ellipsoid with semi-axes (mm) along the columns of ``rot``.

    Examples
    --------
    >>> q = ellipsoid(np.zeros(3), np.array([2.0, 2.0, 2.0]), np.eye(3))
    >>> round(cut(q, 0.0).d1_mm, 6)
    4.0
    """
    axes = np.asarray(semi_axes, dtype=float)
    if np.any(axes <= 0):
        raise ValueError("Ellipsoid semi-axes must be positive millimetres.")
    mat = rot @ np.diag(1.0 / axes**2) @ rot.T
    return Quadric(np.asarray(centre, dtype=float), (mat + mat.T) / 2.0)


def cylinder(point: np.ndarray, direction: np.ndarray, radius: float) -> Quadric:
    """Infinite circular cylinder of ``radius`` mm around the line through ``point``."""
    if radius <= 0:
        raise ValueError("Cylinder radius must be a positive number of millimetres.")
    u = np.asarray(direction, dtype=float)
    u = u / np.linalg.norm(u)
    mat = (np.eye(3) - np.outer(u, u)) / radius**2
    return Quadric(np.asarray(point, dtype=float), mat)


def scaled(q: Quadric, factor: float) -> Quadric:
    """The same quadric grown (factor > 1) or shrunk about its centre."""
    return Quadric(q.centre, q.matrix / factor**2)


def cut(q: Quadric, y0: float) -> EllipseCut | None:
    """Exact section of an ellipsoid by the plane ``y = y0``; ``None`` when the plane misses it."""
    a = q.matrix
    dy = y0 - q.centre[1]
    m = np.array([[a[0, 0], a[0, 2]], [a[0, 2], a[2, 2]]])
    b = dy * np.array([a[0, 1], a[1, 2]])
    det = float(np.linalg.det(m))
    if det <= 1e-12:
        return None  # a cylinder lying in the plane: not an ellipse
    u = -np.linalg.solve(m, b)
    qmin = float(a[1, 1] * dy * dy + b @ u)
    level = 1.0 - qmin
    if level <= 0:
        return None
    evals, evecs = np.linalg.eigh(m)  # ascending: the smallest eigenvalue is the longest axis
    d1 = 2.0 * np.sqrt(level / evals[0])
    d2 = 2.0 * np.sqrt(level / evals[1])
    major = evecs[:, 0]
    return EllipseCut(
        centre_x_mm=float(q.centre[0] + u[0]),
        centre_z_mm=float(q.centre[2] + u[1]),
        d1_mm=float(d1),
        d2_mm=float(d2),
        angle_rad=float(np.arctan2(major[1], major[0])),
    )


def extent_along(q: Quadric, axis: int) -> float:
    """Half-extent of an ellipsoid along a coordinate axis (0 x, 1 y, 2 z), in mm."""
    return float(np.sqrt(np.linalg.inv(q.matrix)[axis, axis]))


_DIRS = np.array(
    [[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if (i, j, k) != (0, 0, 0)],
    dtype=float,
)
_DIRS /= np.linalg.norm(_DIRS, axis=1, keepdims=True)


def inside_fraction(outer: Quadric, centres: np.ndarray, radius: float) -> np.ndarray:
    """Largest quadratic-form value of ``outer`` over spheres (sampled on 26 directions).

    ``centres`` is (n, 3) (or (3,)); a value <= 1 means that sphere lies inside the ellipsoid.
    """
    c = np.atleast_2d(centres)
    pts = c[:, None, :] + radius * _DIRS[None, :, :] - outer.centre
    return np.einsum("cni,ij,cnj->cn", pts, outer.matrix, pts).max(axis=1)
