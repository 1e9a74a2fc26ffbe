"""Beam-domain ultrasound rendering and scan conversion into a TVUS sector.

Pipeline for one frame (plane ``y = y0`` of a :class:`~follicle_seg.synth.anatomy.Scene`):

1. paint the scene's materials on the polar (sample x beam-line) grid;
2. backscatter = material level + random texture fields, times depth attenuation;
3. complex Gaussian scatterers (K-distributed for some styles) plus specular echoes where the
   impedance jumps along the beam (bright follicle back walls, gas surfaces);
4. axial/lateral Gaussian point-spread function (correlated speckle), electronic noise, time-gain
   compensation (with smooth errors) - fluid attenuates little, so tissue behind it is enhanced;
5. envelope, log compression, dynamic range, near-field reverberation, persistence;
6. style post-processing: edge-preserving speckle reduction and edge enhancement;
7. scan conversion (``cv2.remap``) into the fan's bounding box, gain and grey map.

Labels are evaluated from the same quadrics directly on the display grid (exact geometry, no
resampling loss), so truth masks agree with the analytic sections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from follicle_seg.synth.anatomy import MATERIALS, Scene
from follicle_seg.synth.geometry import cut
from follicle_seg.synth.materials import N_FIELDS, MaterialTable, random_materials
from follicle_seg.synth.styles import RenderParams


@dataclass(frozen=True)
class Probe:
    """Endocavity sector probe: radius of curvature, fan angle and imaging depth."""

    radius_mm: float
    fan_deg: float
    depth_mm: float

    def __post_init__(self) -> None:
        if not (0 < self.fan_deg < 180 and self.depth_mm > 0 and self.radius_mm > 0):
            raise ValueError("Probe needs 0 < fan_deg < 180, depth_mm > 0 and radius_mm > 0.")

    @property
    def half_angle(self) -> float:
        return float(np.deg2rad(self.fan_deg) / 2.0)


@dataclass(frozen=True)
class DisplayGrid:
    """Pixel grid of the fan's bounding box: pixel (row, col) sits at (x0 + col*s, z0 + row*s)."""

    spacing_mm: float
    rows: int
    cols: int
    x0_mm: float
    z0_mm: float

    def to_pixel(self, x_mm: float, z_mm: float) -> tuple[float, float]:
        """(row, col) of a point of the plane, in (fractional) pixels."""
        return ((z_mm - self.z0_mm) / self.spacing_mm, (x_mm - self.x0_mm) / self.spacing_mm)

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """x (1, cols) and z (rows, 1) of every pixel, float32 mm."""
        x = (self.x0_mm + self.spacing_mm * np.arange(self.cols, dtype=np.float32))[None, :]
        z = (self.z0_mm + self.spacing_mm * np.arange(self.rows, dtype=np.float32))[:, None]
        return x.astype(np.float32), z.astype(np.float32)


def display_grid(probe: Probe, spacing_mm: float) -> DisplayGrid:
    """The bounding box of the fan sampled every ``spacing_mm`` (square pixels)."""
    outer = probe.radius_mm + probe.depth_mm
    x0 = -outer * np.sin(probe.half_angle)
    z0 = probe.radius_mm * np.cos(probe.half_angle) - probe.radius_mm
    rows = int(np.floor((probe.depth_mm - z0) / spacing_mm)) + 1
    cols = int(np.floor(-2 * x0 / spacing_mm)) + 1
    return DisplayGrid(spacing_mm, rows, cols, float(x0), float(z0))


def _polar_of(probe: Probe, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rho = np.sqrt(x * x + (z + probe.radius_mm) ** 2)
    theta = np.arctan2(x, z + probe.radius_mm)
    return rho - probe.radius_mm, theta


@lru_cache(maxsize=4)
def _display_polar(probe: Probe, grid: DisplayGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth below the probe face, beam angle and fan mask of every display pixel (read-only)."""
    x, z = grid.coords()
    r, theta = _polar_of(probe, x, z)
    mask = (r >= 0) & (r <= probe.depth_mm) & (np.abs(theta) <= probe.half_angle)
    for a in (r, theta, mask):
        a.setflags(write=False)
    return r, theta, mask


def fan_mask(probe: Probe, grid: DisplayGrid) -> np.ndarray:
    """Boolean image of the pixels inside the fan."""
    return _display_polar(probe, grid)[2].copy()


Window = Callable[[tuple[float, float, float, float]], tuple[slice, slice]]


def _paint(scene: Scene, y0: float, x: np.ndarray, z: np.ndarray, values: np.ndarray, window: Window) -> np.ndarray:
    """Per-point value of the topmost shape (``values[i]`` for shape i, 0 where none).

    ``window`` turns a section's bounding box (mm) into the index slices worth evaluating.
    """
    out = np.zeros(np.broadcast_shapes(x.shape, z.shape), np.uint8)
    for i, shape in enumerate(scene.shapes):
        q = shape.quadric
        if np.linalg.det(q.matrix) > 1e-12:  # ellipsoid: only its section's bounding box
            sec = cut(q, y0)
            if sec is None:
                continue
            rs, cs = window(sec.bbox())
        else:  # cylinder: unbounded
            rs, cs = slice(None), slice(None)
        xs = x[rs, cs] if x.shape[0] > 1 else x[:, cs]
        zs = z[rs, cs] if z.shape[1] > 1 else z[rs, :]
        inside = q.values(y0, xs, zs) <= 1.0
        out[rs, cs][inside] = values[i]
    return out


def _display_window(grid: DisplayGrid) -> Window:
    def window(b: tuple[float, float, float, float]) -> tuple[slice, slice]:
        (r0, c0), (r1, c1) = grid.to_pixel(b[0], b[1]), grid.to_pixel(b[2], b[3])
        return (
            slice(max(int(np.floor(r0)), 0), max(int(np.ceil(r1)) + 1, 0)),
            slice(max(int(np.floor(c0)), 0), max(int(np.ceil(c1)) + 1, 0)),
        )

    return window


def label_map(scene: Scene, y0: float, probe: Probe, grid: DisplayGrid) -> np.ndarray:
    """uint8 labels (0 background, 1 ovary, 2 follicle) on the display grid, 0 outside the fan."""
    x, z = grid.coords()
    labels = np.array([s.label for s in scene.shapes], np.uint8)
    out = _paint(scene, y0, x, z, labels, _display_window(grid))
    out[~fan_mask(probe, grid)] = 0
    return out


@dataclass(frozen=True, eq=False)
class BeamGrid:
    """Polar sampling: ``n_samples`` along each of ``n_lines`` beams."""

    probe: Probe
    n_samples: int
    n_lines: int

    @property
    def dr_mm(self) -> float:
        return self.probe.depth_mm / (self.n_samples - 1)

    @property
    def dtheta(self) -> float:
        return 2 * self.probe.half_angle / (self.n_lines - 1)

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, z (n_samples, n_lines) in mm and r (n_samples, 1)."""
        r = (np.arange(self.n_samples, dtype=np.float32) * self.dr_mm)[:, None]
        th = (-self.probe.half_angle + np.arange(self.n_lines, dtype=np.float32) * self.dtheta)[None, :]
        rho = r + self.probe.radius_mm
        return rho * np.sin(th), rho * np.cos(th) - self.probe.radius_mm, r

    def window(self, b: tuple[float, float, float, float]) -> tuple[slice, slice]:
        """Sample and line slices covering a bounding box ``(x0, z0, x1, z1)`` in mm."""
        p = self.probe
        x0, z0, x1, z1 = b
        if z0 <= -p.radius_mm + 1e-3:
            return slice(None), slice(None)
        zc0, zc1 = z0 + p.radius_mm, z1 + p.radius_mm
        nearest_x = min(max(0.0, x0), x1)
        rho_min = float(np.hypot(nearest_x, zc0))
        rho_max = float(max(np.hypot(xx, zz) for xx in (x0, x1) for zz in (zc0, zc1)))
        th = [np.arctan2(xx, zz) for xx in (x0, x1) for zz in (zc0, zc1)]
        s0 = int(np.floor((rho_min - p.radius_mm) / self.dr_mm)) - 1
        s1 = int(np.ceil((rho_max - p.radius_mm) / self.dr_mm)) + 2
        l0 = int(np.floor((min(th) + p.half_angle) / self.dtheta)) - 1
        l1 = int(np.ceil((max(th) + p.half_angle) / self.dtheta)) + 2
        return slice(max(s0, 0), max(s1, 0)), slice(max(l0, 0), max(l1, 0))


def beam_grid(probe: Probe, spacing_mm: float, params: RenderParams) -> BeamGrid:
    """Axial samples a bit finer than the display pixels; lines by the style's line density."""
    n_samples = int(np.clip(probe.depth_mm / (spacing_mm * 0.8), 96, 1400))
    mid_arc = (probe.radius_mm + probe.depth_mm / 2) * 2 * probe.half_angle
    n_lines = int(np.clip(mid_arc * params.line_density, 64, 720))
    return BeamGrid(probe, n_samples, n_lines)


def texture_fields(
    rng: np.random.Generator, probe: Probe, grains_mm: tuple[float, ...], cell_mm: float = 0.4
) -> tuple[np.ndarray, float, float]:
    """Unit-variance random fields on a Cartesian mm grid covering the fan.

    Returns the stack (n, rows, cols), and the x, z (mm) of cell (0, 0). Drawn once per scene so a
    sweep's frames share their texture.
    """
    grid = display_grid(probe, cell_mm)
    out = np.empty((len(grains_mm), grid.rows, grid.cols), np.float32)
    for i, g in enumerate(grains_mm):
        f: np.ndarray = rng.standard_normal((grid.rows, grid.cols), dtype=np.float32)
        f = cv2.GaussianBlur(f, (0, 0), sigmaX=g / cell_mm, borderType=cv2.BORDER_REFLECT)
        out[i] = (f - f.mean()) / max(float(f.std()), 1e-6)
    return out, grid.x0_mm, grid.z0_mm


def _sample_field(field: np.ndarray, fx0: float, fz0: float, cell: float, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    mx = ((x - fx0) / cell).astype(np.float32)
    mz = ((z - fz0) / cell).astype(np.float32)
    return cv2.remap(field, mx, mz, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _psf_blur(a: np.ndarray, sig_lat: float, sig_ax: float) -> np.ndarray:
    return cv2.GaussianBlur(a, (0, 0), sigmaX=max(sig_lat, 0.3), sigmaY=max(sig_ax, 0.3), borderType=cv2.BORDER_REFLECT)


def _kernel_norm(sig_lat: float, sig_ax: float) -> float:
    def one(s: float) -> float:
        s = max(s, 0.3)
        k = cv2.getGaussianKernel(int(2 * round(4 * s) + 1), s)
        return float(np.sum(k**2))

    return float(np.sqrt(one(sig_lat) * one(sig_ax)))


@dataclass(frozen=True, eq=False)
class SceneTexture:
    """Texture fields of one scene (shared by all frames of a sweep)."""

    fields: np.ndarray
    x0_mm: float
    z0_mm: float
    cell_mm: float = 0.4


def render_beam(
    scene: Scene,
    y0: float,
    beams: BeamGrid,
    params: RenderParams,
    materials: MaterialTable,
    texture: SceneTexture,
    rng: np.random.Generator,
) -> np.ndarray:
    """Log-compressed, post-processed image on the polar grid, float32 about [0, 1]."""
    probe = beams.probe
    x, z, r = beams.points()
    mat_of = np.array([MATERIALS.index(s.material) for s in scene.shapes], np.uint8)
    mat = _paint(scene, y0, x, z, mat_of, beams.window)
    echo_db = materials.echo_db[mat]
    for k in range(N_FIELDS):
        f = _sample_field(texture.fields[k], texture.x0_mm, texture.z0_mm, texture.cell_mm, x, z)
        echo_db += materials.texture_db[mat, k] * f
    dr = beams.dr_mm
    att_db = -np.cumsum(materials.alpha_db_mm[mat], axis=0) * np.float32(dr)
    amp = np.power(np.float32(10.0), (echo_db + att_db) / np.float32(20.0)).astype(np.float32)

    # Speckle texture: complex Gaussian scatterers (gamma-modulated density = K-distributed for
    # some styles) seen through the speckle-forming PSF, multiplied onto the backscatter map. The
    # resolution blur applied afterwards is much narrower than the grain, so fluid keeps sharp
    # edges: a follicle looks as large as it is, as on stored scans.
    noise = rng.standard_normal((2,) + amp.shape, dtype=np.float32)
    if params.k_shape > 0:
        noise *= np.sqrt(rng.gamma(params.k_shape, 1.0 / params.k_shape, size=amp.shape)).astype(np.float32)
    mid_mm_per_line = (probe.radius_mm + probe.depth_mm / 2) * beams.dtheta
    sig_lat = params.grain_lat_mm / 1.8 / mid_mm_per_line
    sig_ax = params.grain_ax_mm / 1.5 / dr
    knorm = np.float32(1.0 / _kernel_norm(sig_lat, sig_ax))
    res_lat = rng.uniform(0.15, 0.35) / mid_mm_per_line
    res_ax = rng.uniform(0.08, 0.2) / dr

    def speckle(n_re: np.ndarray, n_im: np.ndarray) -> np.ndarray:
        re = _psf_blur(n_re, sig_lat, sig_ax) * knorm
        im = _psf_blur(n_im, sig_lat, sig_ax) * knorm
        return np.sqrt(re * re + im * im)

    grain = speckle(noise[0], noise[1])
    if params.persistence > 0.02:  # frame averaging: a decorrelated realisation (shifted noise)
        shift = (int(6 * sig_ax) + 3, int(6 * sig_lat) + 3)
        grain2 = speckle(np.roll(noise[0], shift, axis=(0, 1)), np.roll(noise[1], shift, axis=(0, 1)))
        grain = (1 - params.persistence) * grain + params.persistence * grain2
    # specular echoes where impedance jumps along the beam (follicle back walls, gas surfaces),
    # smoothed along the interface (across lines) so oblique walls stay continuous
    imp = materials.impedance[mat]
    jump = np.zeros_like(imp)
    jump[1:] = np.abs(np.diff(imp, axis=0))
    jump = cv2.GaussianBlur(jump, (0, 0), sigmaX=max(1.0, 1.5 * sig_lat), sigmaY=0.3)
    env = amp * (grain + np.float32(params.specular * 12.0) * jump)
    env = _psf_blur(env, res_lat, res_ax)

    alpha0 = float(materials.alpha_db_mm[MATERIALS.index("tissue")])
    noise_amp = np.float32(10 ** ((params.noise_db - alpha0 * probe.depth_mm) / 20.0))
    electronic = noise_amp * speckle(np.roll(noise[1], 7, axis=1), np.roll(noise[0], 11, axis=0))
    env = np.sqrt(env * env + electronic * electronic)
    edge = max(2, beams.n_lines // 20)  # transmit apodisation: the fan's outer lines are dimmer
    taper = np.ones(beams.n_lines, np.float32)
    ramp = np.linspace(10 ** (-rng.uniform(0.0, 8.0) / 20.0), 1.0, edge, dtype=np.float32)
    taper[:edge], taper[-edge:] = ramp, ramp[::-1]
    env *= _tgc(rng, r[:, 0], alpha0, params.tgc_error_db)[:, None] * taper[None, :]
    db = 20.0 * np.log10(env + np.float32(1e-12))
    ref = float(np.median(db[: db.shape[0] * 3 // 4]))
    img = ((db - ref) / np.float32(params.dynamic_range_db) + np.float32(0.7)).astype(np.float32)
    img += _reverberation(rng, r[:, 0], probe.depth_mm)[:, None]
    return _post_process(np.clip(img, -0.3, 1.4), params)


def _tgc(rng: np.random.Generator, r: np.ndarray, alpha0: float, err_db: float) -> np.ndarray:
    """Amplitude gain compensating tissue attenuation, with a smooth random error curve."""
    knots = rng.normal(0.0, err_db, 6)
    err = np.interp(r, np.linspace(0, r[-1], 6), knots)
    slope = alpha0 * rng.uniform(0.75, 1.1)  # often under-compensated: deep tissue darker
    return np.power(10.0, (slope * r + err) / 20.0).astype(np.float32)


def _reverberation(rng: np.random.Generator, r: np.ndarray, depth_mm: float) -> np.ndarray:
    """Bright decaying bands just below the probe face (in display units)."""
    out = np.zeros_like(r, dtype=np.float32)
    period = rng.uniform(0.8, 2.5)
    strength = rng.uniform(0.0, 0.35)
    for k in range(1, 6):
        out += strength * 0.6**k * np.exp(-((r - k * period) ** 2) / (2 * (0.15 + 0.05 * k) ** 2))
    if rng.random() < 0.5:  # bright ring-down just under the probe face
        out += rng.uniform(0.2, 0.6) * np.exp(-((r - rng.uniform(0.2, 0.8)) ** 2) / (2 * 0.25**2))
    out += rng.uniform(-0.1, 0.15) * np.exp(-r / max(0.05 * depth_mm, 1.0))
    return out.astype(np.float32)


def _post_process(img: np.ndarray, params: RenderParams) -> np.ndarray:
    """Scanner post-processing on the beam image: speckle reduction, then edge enhancement."""
    if params.smooth > 0.05:
        # speckle reduction: a median fills the dark speckle nulls, a bilateral filter smooths
        # while keeping walls sharp (log-domain bilateral alone would keep the nulls)
        img = cv2.medianBlur(img, 3 if params.smooth < 0.5 else 5)
        d = int(3 + 4 * params.smooth)
        passes = 1 if params.smooth < 0.75 else 2
        for _ in range(passes):
            img = cv2.bilateralFilter(img, d, 0.05 + 0.2 * params.smooth, 1.0 + 2.0 * params.smooth)
    if params.edge > 0.02:
        blur = cv2.GaussianBlur(img, (0, 0), 2.0)
        img = img + np.float32(params.edge) * (img - blur)
    return img


def scan_convert(beam: np.ndarray, beams: BeamGrid, grid: DisplayGrid) -> np.ndarray:
    """Beam image -> display grid (bilinear), 0 outside the fan."""
    r, theta, mask = _display_polar(beams.probe, grid)
    map_r = (r / beams.dr_mm).astype(np.float32)
    map_t = ((theta + beams.probe.half_angle) / beams.dtheta).astype(np.float32)
    out = cv2.remap(beam, map_t, map_r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    out[~mask] = 0.0
    return out


def grey_lut(gamma: float, s_curve: float) -> np.ndarray:
    """Grey map: 1024-entry table from display units [0, 1] to [0, 1] (gamma and S-curve)."""
    t = np.linspace(0.0, 1.0, 1024)
    g = t**gamma
    s = 0.5 - 0.5 * np.cos(np.pi * g)
    return ((1 - s_curve) * g + s_curve * s).astype(np.float32)


MEDIAN_WINDOW = (0.42, 0.78)  # where the fan's median tissue may sit inside the dynamic range


def to_grey(img: np.ndarray, mask: np.ndarray, params: RenderParams) -> np.ndarray:
    """Gain and grey map so that the fan's median grey becomes ``params.target_grey``; uint8 out.

    The gain puts the median inside :data:`MEDIAN_WINDOW` of the dynamic range (scanners keep
    tissue mid-window, so speckle is not clipped to black); where the style's grey map cannot
    then reach the target, its gamma is adjusted.
    """
    goal = params.target_grey / 255.0
    gamma = params.gamma
    lut = grey_lut(gamma, params.s_curve)
    t = np.linspace(0.0, 1.0, lut.size)
    want = float(np.interp(goal, lut, t))
    if not MEDIAN_WINDOW[0] <= want <= MEDIAN_WINDOW[1]:
        want = float(np.clip(want, *MEDIAN_WINDOW))
        lo, hi = 0.2, 5.0  # the map at ``want`` falls as gamma grows
        for _ in range(30):
            gamma = (lo + hi) / 2.0
            lo, hi = (gamma, hi) if float(np.interp(want, t, grey_lut(gamma, params.s_curve))) > goal else (lo, gamma)
        lut = grey_lut(gamma, params.s_curve)
    med = float(np.median(img[mask])) if mask.any() else 0.5
    idx = np.clip((img + np.float32(want - med)) * 1023.0, 0, 1023).astype(np.int32)
    out = np.rint(lut[idx] * 255.0).astype(np.uint8)
    out[~mask] = 0
    return out


def jpeg_round_trip(img: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decode with baseline JPEG (block artefacts of stored scans)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode a synthetic frame.")
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if out is None:
        raise RuntimeError("OpenCV could not decode a JPEG-encoded synthetic frame.")
    return out


@dataclass(frozen=True, eq=False)
class ScanSetup:
    """Everything fixed for one scan (a sweep or a still): geometry, style, materials, texture."""

    probe: Probe
    grid: DisplayGrid
    beams: BeamGrid
    params: RenderParams
    materials: MaterialTable
    texture: SceneTexture
    fan: np.ndarray


def prepare_scan(probe: Probe, spacing_mm: float, params: RenderParams, rng: np.random.Generator) -> ScanSetup:
    """Draw a scan's materials and texture fields (shared by all its frames)."""
    alpha0 = float(rng.uniform(0.35, 0.9))
    materials = random_materials(rng, tissue_alpha_db_mm=alpha0)
    grains = tuple(float(rng.uniform(lo, hi)) for lo, hi in ((0.3, 0.8), (1.2, 3.0), (4.0, 10.0)) * 2)
    fields, fx0, fz0 = texture_fields(rng, probe, grains)
    grid = display_grid(probe, spacing_mm)
    return ScanSetup(
        probe, grid, beam_grid(probe, spacing_mm, params), params, materials,
        SceneTexture(fields, fx0, fz0), fan_mask(probe, grid),
    )


def render_plane(setup: ScanSetup, scene: Scene, y0: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Grey uint8 image and uint8 labels of the plane ``y = y0`` on the scan's display grid."""
    beam = render_beam(scene, y0, setup.beams, setup.params, setup.materials, setup.texture, rng)
    grey = to_grey(scan_convert(beam, setup.beams, setup.grid), setup.fan, setup.params)
    return grey, label_map(scene, y0, setup.probe, setup.grid)
