"""The display plane and the endocavity sector of the image-plane generators.

The layered scenes (:mod:`follicle_seg.synth.layered`) and the patchwork scenes
(:mod:`follicle_seg.synth.patchwork`) paint a frame on a square-pixel display plane in mm
(:class:`Plane`), then send it through a random sector (:class:`Fan`): onto the polar grid of the
beam lines and back (scan conversion), and into 8-bit grey.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def smooth_field(shape: tuple[int, int], sigma_px: float, rng: np.random.Generator,
           angle: float | None = None, stretch: float = 1.0) -> np.ndarray:
    """Smooth random field, zero mean and unit standard deviation; oriented (``angle``, ``stretch`` > 1) or not.

    The mean is removed: a field much smoother than its extent is nearly constant, and scaling
    that constant by the tiny standard deviation blew it up (a TGC error of hundreds of dB)."""
    noise = rng.standard_normal(shape).astype(np.float32)
    sx, sy = sigma_px * stretch, sigma_px
    out: np.ndarray = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(sx, 0.3), sigmaY=max(sy, 0.3))
    if angle is not None and stretch > 1.0:
        rows, cols = shape
        m = cv2.getRotationMatrix2D((cols / 2.0, rows / 2.0), float(np.degrees(angle)), 1.0)
        out = cv2.warpAffine(out, m, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out -= float(out.mean())
    return out / (float(out.std()) + 1e-6)


class Plane:
    """The display plane in mm: pixel (row, col) sits at x = (col - c0) * s, z = z0 + row * s."""

    def __init__(self, rows: int, cols: int, spacing: float, z0: float) -> None:
        self.rows, self.cols, self.s, self.z0 = rows, cols, spacing, z0
        self.c0 = (cols - 1) / 2.0
        self.x = ((np.arange(cols, dtype=np.float32) - self.c0) * spacing)[None, :]
        self.z = (z0 + np.arange(rows, dtype=np.float32) * spacing)[:, None]

    def ellipse(self, cx: float, cz: float, a: float, b: float, angle: float) -> np.ndarray:
        """Normalised elliptic radius (1 on the outline) of every pixel."""
        dx, dz = self.x - cx, self.z - cz
        c, s = np.cos(angle), np.sin(angle)
        u, v = dx * c + dz * s, -dx * s + dz * c
        return np.sqrt((u / a) ** 2 + (v / b) ** 2)

    def band(self, cx: float, cz: float, angle: float, curvature: float, half_width: float,
             half_length: float) -> np.ndarray:
        """Signed distance (mm, < 0 inside) to a curved band, ends rounded off."""
        dx, dz = self.x - cx, self.z - cz
        c, s = np.cos(angle), np.sin(angle)
        u, v = dx * c + dz * s, -dx * s + dz * c
        across = np.abs(v - 0.5 * curvature * u * u) - half_width
        along = np.abs(u) - half_length
        return np.maximum(across, along)

    def to_pixel(self, x: float, z: float) -> tuple[int, int]:
        return int(round((z - self.z0) / self.s)), int(round(x / self.s + self.c0))


def fan_point(plane: Plane, fan: np.ndarray, rng: np.random.Generator,
              depth: tuple[float, float] = (0.05, 0.95)) -> tuple[float, float]:
    """A random point (x, z mm) inside the fan, its depth kept between the given fractions of the fan's."""
    rows, cols = np.nonzero(fan)
    k = rng.integers(len(rows))
    z = float(plane.z[rows[k], 0])
    lo, hi = float(plane.z[rows.min(), 0]), float(plane.z[rows.max(), 0])
    z = float(np.clip(z, lo + depth[0] * (hi - lo), lo + depth[1] * (hi - lo)))
    return float(plane.x[0, cols[k]]), z


def _to_polar(plane: Plane, radius: float, depth: float, half: float, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Maps for ``cv2.remap`` from the polar grid (depth x beam) into the display plane."""
    n_r = int(np.ceil(depth / spacing))
    n_t = int(np.ceil(2 * half * (radius + 0.6 * depth) / spacing))
    rr = radius + np.arange(n_r, dtype=np.float32)[:, None] * spacing
    tt = (-half + (np.arange(n_t, dtype=np.float32) + 0.5) * (2 * half / n_t))[None, :]
    map_x = (rr * np.sin(tt)) / plane.s + plane.c0
    map_y = (rr * np.cos(tt) - plane.z0) / plane.s
    return map_x.astype(np.float32), map_y.astype(np.float32)


def _from_polar(plane: Plane, radius: float, depth: float, half: float, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maps from the display plane into the polar grid of ``shape`` (depth x beam), and the fan mask."""
    n_t = shape[1]
    r = np.hypot(plane.x, plane.z)
    t = np.arctan2(plane.x, plane.z)
    fan = (r >= radius) & (r <= radius + depth) & (np.abs(t) <= half)
    map_r = ((r - radius) / plane.s).astype(np.float32)
    map_t = ((t + half) / (2 * half / n_t) - 0.5).astype(np.float32)
    return map_t, map_r, fan


@dataclass(frozen=True)
class Fan:
    """A random endocavity sector on a square-pixel display plane, with the maps between the
    display plane and the polar (depth x beam-line) grid."""

    plane: Plane
    fan: np.ndarray  # bool (rows, cols): inside the sector
    radius: float
    depth: float
    to_polar: tuple[np.ndarray, np.ndarray]
    from_polar: tuple[np.ndarray, np.ndarray]

    @classmethod
    def draw(cls, rng: np.random.Generator, shift: float = 0.0) -> Fan:
        """Depth 45-100 mm (deeper with ``shift``), probe radius 4-11 mm, fan 110-165 degrees, 240-400 rows."""
        depth = float(rng.uniform(45.0, 100.0)) * (1.0 + shift * rng.uniform(0.0, 0.4))
        radius = float(rng.uniform(4.0, 11.0))
        half = float(np.deg2rad(rng.uniform(110.0, 165.0)) / 2)
        rows = int(rng.integers(240, 400))
        spacing = (radius + depth - radius * np.cos(half)) / rows
        cols = int(np.ceil(2 * (radius + depth) * np.sin(half) / spacing)) + 2
        plane = Plane(rows, cols, spacing, radius * float(np.cos(half)))
        map_x, map_y = _to_polar(plane, radius, depth, half, spacing)
        map_t, map_r, fan = _from_polar(plane, radius, depth, half, map_x.shape)
        return cls(plane, fan, radius, depth, (map_x, map_y), (map_t, map_r))

    def polar(self, image: np.ndarray) -> np.ndarray:
        """Display plane -> polar grid (rows along each beam line, from the probe outwards)."""
        return cv2.remap(image, *self.to_polar, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def cartesian(self, image: np.ndarray) -> np.ndarray:
        """Polar grid -> display plane (scan conversion), 0 outside the sector."""
        return cv2.remap(image, *self.from_polar, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)

    def display(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Display values 0-1 -> 8-bit grey through a random grey map; the probe's bright face; black outside."""
        t = np.linspace(0.0, 1.0, 256)
        gamma = rng.uniform(0.7, 1.5)
        lut = (t**gamma) if rng.random() < 0.5 else (0.5 - 0.5 * np.cos(np.pi * t**gamma))
        grey = np.rint(np.interp(img, t, lut) * 255).astype(np.uint8)
        arc = self.fan & (np.hypot(self.plane.x, self.plane.z) < self.radius + rng.uniform(0.4, 1.2))
        grey[arc] = np.maximum(grey[arc], int(rng.integers(150, 256)))
        grey[~self.fan] = 0
        return grey
