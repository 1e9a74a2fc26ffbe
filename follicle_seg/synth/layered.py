"""Layered scenes: a second training-frame generator, painted in the image plane.

The 3-D generator (:mod:`follicle_seg.synth.render`) cuts a few soft structures around the ovary
and, on many frames, leaves the ovary hard to see. Real pelvic scans are busy: layers of tissue
with oriented texture, bright interfaces, vessels, bowel and the uterus crowd around an ovary that
is nonetheless visible, bounded by a change of texture and level, often a thin bright capsule, and
marked by the black follicles inside it. This generator draws that picture directly:

1. a label map and an echo map (dB) in the display plane: a smooth tissue level, 4-16 random
   curved bands and lobules each with its own level and oriented texture, thin bright
   interfaces, vessels (round or tubular, anechoic), bowel loops (bright wall; fluid, mixed or gas
   content), free fluid, sometimes a uterus with its endometrial stripe, ovary-sized decoy patches;
   then the ovary: a perturbed ellipse 1.5-20 % of the fan, stroma a few dB darker (mostly) or
   brighter than the tissue around it, its own texture, an optional capsule and fluid halo, and
   follicles (anechoic, bright back wall) that never overlap;
2. the beam: the echo and attenuation maps are resampled onto the polar (depth x beam-line) grid,
   attenuation accumulates along each line and time-gain compensation undoes the tissue average
   (so fluid leaves enhancement behind it and gas a shadow); complex Gaussian speckle correlated
   by an anisotropic point-spread function multiplies it; near-field reverberation, noise,
   log compression, speckle reduction and edge enhancement follow;
3. scan conversion to the fan, a grey map, and often sonographer graphics: '+' calipers joined by
   dotted lines across the ovary or a follicle, side labels ("RT OVARY"), measurement text.

Every quantity is drawn at random for every frame (SynthSeg-like): only shape, context and the
follicles inside tell the ovary, not one grey level or texture.

Examples
--------
>>> f = layered_frame(np.random.default_rng(0))
>>> pixels, labels, fan, spacing_mm, depth_mm = f
>>> pixels.dtype, pixels.shape == labels.shape == fan.shape
(dtype('uint8'), True)
"""

from __future__ import annotations

import cv2
import numpy as np

from follicle_seg.synth.canvas import OvaryGeometry, burn, draw_graphics
from follicle_seg.synth.sector import Fan, Plane, fan_point, smooth_field

def _soft(distance: np.ndarray, edge_mm: float) -> np.ndarray:
    """Inside weight 1 -> 0 across an edge of ``edge_mm`` (distance < 0 inside)."""
    return np.clip(0.5 - distance / max(edge_mm, 1e-3), 0.0, 1.0).astype(np.float32)


class _Scene:
    """Label, echo (dB) and attenuation (dB/mm) maps of one frame, painted back to front."""

    def __init__(self, plane: Plane, fan: np.ndarray, rng: np.random.Generator, tissue_alpha: float) -> None:
        self.p, self.fan, self.rng, self.tissue_alpha = plane, fan, rng, tissue_alpha
        shape = (plane.rows, plane.cols)
        px = 1.0 / plane.s
        self.textures = [
            smooth_field(shape, rng.uniform(0.4, 1.2) * px, rng),
            smooth_field(shape, rng.uniform(1.5, 4.0) * px, rng),
            smooth_field(shape, rng.uniform(0.6, 2.0) * px, rng, angle=rng.uniform(-0.6, 0.6), stretch=rng.uniform(3, 10)),
            smooth_field(shape, rng.uniform(0.6, 2.0) * px, rng, angle=rng.uniform(-np.pi, np.pi), stretch=rng.uniform(2, 8)),
        ]
        self.echo = (rng.uniform(1.5, 5.0) * smooth_field(shape, rng.uniform(5, 20) * px, rng)).astype(np.float32)
        self.echo += self._texture(rng.uniform(1.0, 4.0))
        self.alpha = np.full(shape, tissue_alpha, np.float32)
        self.labels = np.zeros(shape, np.uint8)
        self.keep_out: np.ndarray | float = 1.0  # weight multiplier: 0 where nothing may be painted

    def paint(self, weight: np.ndarray, level_db: np.ndarray | float, alpha_db_mm: float) -> None:
        """Blend a structure's level and attenuation in with its soft inside weight."""
        weight = weight * self.keep_out
        self.echo += weight * (level_db - self.echo)
        self.alpha += weight * (alpha_db_mm - self.alpha)

    def _texture(self, amplitude_db: float) -> np.ndarray:
        w = self.rng.dirichlet(np.full(len(self.textures), 0.6))
        return (amplitude_db * sum(wi * t for wi, t in zip(w, self.textures))).astype(np.float32)

    def _point(self, depth: tuple[float, float] = (0.05, 0.95)) -> tuple[float, float]:
        return fan_point(self.p, self.fan, self.rng, depth)

    def tissue_band(self, thin: bool = False) -> None:
        rng = self.rng
        cx, cz = self._point()
        angle = rng.normal(0, 0.45) if rng.random() < 0.7 else rng.uniform(-np.pi, np.pi)
        width = rng.uniform(0.2, 1.0) if thin else rng.uniform(1.0, 12.0)
        d = self.p.band(cx, cz, angle, rng.uniform(-0.04, 0.04), width, rng.uniform(8, 60))
        w = _soft(d, rng.uniform(0.2, 0.8) if thin else rng.uniform(0.3, 3.0))
        level = rng.uniform(4, 15) if thin else rng.normal(0, 4) + self._texture(rng.uniform(1, 5))
        self.paint(w, level, self.tissue_alpha * rng.uniform(0.7, 1.5))

    def lobule(self, size: tuple[float, float] = (3.0, 20.0)) -> None:
        rng = self.rng
        cx, cz = self._point()
        a = rng.uniform(*size)
        r = self.p.ellipse(cx, cz, a, a * rng.uniform(0.4, 1.0), rng.uniform(-np.pi, np.pi))
        w = _soft((r - 1.0) * a, rng.uniform(0.3, 2.5))
        level = rng.normal(0, 5) + self._texture(rng.uniform(1, 5))
        self.paint(w, level, self.tissue_alpha * rng.uniform(0.6, 1.4))

    def vessel(self, near: tuple[float, float] | None = None) -> None:
        rng = self.rng
        cx, cz = near if near is not None else self._point()
        if rng.random() < 0.5:
            a = rng.uniform(1.5, 6.0)
            d = (self.p.ellipse(cx, cz, a, a * rng.uniform(0.6, 1.0), rng.uniform(-np.pi, np.pi)) - 1.0) * a
        else:
            d = self.p.band(cx, cz, rng.uniform(-np.pi, np.pi), rng.uniform(-0.05, 0.05),
                            rng.uniform(1.0, 4.0), rng.uniform(5, 20))
        if rng.random() < 0.5:  # bright wall
            self.paint(_soft(np.abs(d) - rng.uniform(0.2, 0.6), 0.3), rng.uniform(5, 14),
                   self.tissue_alpha)
        self.paint(_soft(d, rng.uniform(0.3, 1.0)), rng.uniform(-45, -15), 0.05)

    def bowel(self, near: tuple[float, float] | None = None) -> None:
        rng = self.rng
        cx, cz = near if near is not None else self._point()
        a = rng.uniform(5, 16)
        d = (self.p.ellipse(cx, cz, a, a * rng.uniform(0.4, 0.9), rng.uniform(-np.pi, np.pi)) - 1.0) * a
        wall = rng.uniform(1.0, 3.0)
        self.paint(_soft(d, 0.5), rng.uniform(6, 16), self.tissue_alpha)
        inner = _soft(d + wall, 0.5)
        content = rng.random()
        if content < 0.35:  # fluid
            self.paint(inner, rng.uniform(-45, -25), 0.05)
        elif content < 0.7:  # mixed
            self.paint(inner, rng.uniform(-10, 5) + self._texture(rng.uniform(5, 12)),
                   self.tissue_alpha)
        else:  # gas: a bright near surface, then a shadow
            self.paint(inner, rng.uniform(10, 20), rng.uniform(2.0, 6.0))

    def fluid(self, near: tuple[float, float] | None = None, size: tuple[float, float] = (6, 30)) -> None:
        rng = self.rng
        cx, cz = near if near is not None else self._point((0.0, 0.5))
        a = rng.uniform(*size)
        r = self.p.ellipse(cx, cz, a, a * rng.uniform(0.3, 0.8), rng.normal(0, 0.4))
        r = r * (1.0 + 0.15 * self.textures[1])
        self.paint(_soft((r - 1.0) * a, 0.5), rng.uniform(-50, -30), 0.02)

    def uterus(self) -> None:
        rng = self.rng
        cx, cz = self._point((0.1, 0.7))
        a, angle = rng.uniform(20, 45), rng.normal(0, 0.6)
        b = a * rng.uniform(0.4, 0.7)
        r = self.p.ellipse(cx, cz, a, b, angle)
        striae = smooth_field(self.echo.shape, rng.uniform(0.6, 1.5) / self.p.s, rng, angle=angle, stretch=rng.uniform(4, 10))
        self.paint(_soft((r - 1.0) * a, 1.5), rng.normal(2, 4) + rng.uniform(1, 5) * striae,
               self.tissue_alpha * 1.1)
        stripe = self.p.band(cx, cz, angle, 0.0, b * rng.uniform(0.05, 0.2), a * 0.7)
        self.paint(_soft(stripe, 0.8), rng.uniform(-8, 14), self.tissue_alpha)

    def ovary(self, poi: bool = False) -> OvaryGeometry:
        """Paint the ovary and its follicles; returns its geometry for graphics.

        ``poi``: a small, flat, homogeneous ovary with few or no follicles (0.5-4 % of the fan),
        as in primary ovarian insufficiency."""
        rng, p = self.rng, self.p
        fan_mm2 = float(self.fan.sum()) * p.s**2
        if poi:
            a, b, diam = poi_ovary_axes(rng, fan_mm2 * float(np.exp(rng.uniform(np.log(0.005), np.log(0.04)))))
        else:
            a, b, diam = ovary_axes(rng, fan_mm2 * float(np.exp(rng.uniform(np.log(0.015), np.log(0.2)))))
        cx, cz = self._point((0.12, 0.75))
        angle = rng.uniform(-np.pi, np.pi)
        r = p.ellipse(cx, cz, a, b, angle)
        theta = np.arctan2(p.z - cz, p.x - cx)
        wobble = sum(rng.uniform(0, 0.05) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4))
        r = r / (1.0 + wobble)
        inside = r < 1.0
        ring = (r >= 1.0) & (r < 1.6) & self.fan
        ring_echo = self.echo[ring]
        tissue = ring_echo[ring_echo > -12.0]  # the tissue around it, not fluid beside it
        around = float(np.clip(np.median(tissue), -6.0, 10.0)) if tissue.size else 0.0
        if rng.random() < 0.3:  # free fluid hugging the ovary
            halo = _soft((r - 1.0 - rng.uniform(0.03, 0.15)) * a, 0.4) * (self.textures[1] > rng.uniform(-0.5, 0.8))
            self.paint(halo.astype(np.float32), rng.uniform(-45, -25), 0.02)
        # Real stroma is a little darker (87 % of scans) and smoother than the tissue around it,
        # with a texture of its own, not the surroundings' fields at another level.
        offset = -rng.uniform(2.0, 8.0) if rng.random() < 0.85 else rng.uniform(1.5, 5.0)
        grain = smooth_field(self.echo.shape, rng.uniform(0.4, 1.5) / p.s, rng)
        stroma = around + offset + (rng.uniform(0.3, 1.5) if poi else rng.uniform(0.5, 3.0)) * grain
        if rng.random() < 0.4:  # a brighter or darker medulla
            stroma = stroma + rng.uniform(-3, 3) * np.clip(1.0 - r, 0, 1) ** 2
        self.paint(_soft((r - 1.0) * a, rng.uniform(0.2, 0.8)), stroma, self.tissue_alpha * 0.9)
        # Every labelled ovary shows a cue: a follicle >= 3 mm, a clear level step or a whole capsule.
        faint = not (diam.size and diam.max() >= 3.0) and abs(offset) < 4.0
        if faint or rng.random() < 0.6:  # thin bright capsule, sometimes only in parts
            rim = _soft(np.abs(r - 1.0) * a - rng.uniform(0.15, 0.6), 0.3)
            if not faint and rng.random() < 0.5:
                rim = rim * (self.textures[1] > rng.uniform(-0.8, 0.3))
            self.echo += rim * np.float32(rng.uniform(4.0, 10.0) if faint else rng.uniform(3.0, 10.0))
        self.labels[inside] = 1
        follicles = self._follicles(diam, cx, cz, a, b, angle, r)
        return {"centre": (cx, cz), "a": a, "b": b, "angle": angle, "follicles": follicles}

    def look_alike(self, ovary: OvaryGeometry) -> None:
        """A rounder structure right beside the ovary, labelled background: a lobule of busy texture
        1-2.5 times the ovary's length (sometimes rimmed), or a dark cyst with a bright wall of
        about the ovary's size. Painted around the ovary (``keep_out``), never over it."""
        rng, p = self.rng, self.p
        cx, cz = ovary["centre"]
        a = float(ovary["a"])
        cyst = rng.random() < 0.4
        size = float(np.clip(a * (rng.uniform(0.5, 1.2) if cyst else rng.uniform(1.0, 2.5)), 3.0, 25.0))
        for _ in range(10):  # a centre inside the fan
            t = rng.uniform(0, 2 * np.pi)
            dist = a * rng.uniform(0.6, 1.0) + size * rng.uniform(1.0, 1.6)
            bx, bz = cx + dist * np.cos(t), cz + dist * np.sin(t)
            row, col = p.to_pixel(bx, bz)
            if 0 <= row < p.rows and 0 <= col < p.cols and self.fan[row, col]:
                break
        else:
            return
        d = (p.ellipse(bx, bz, size, size * rng.uniform(0.7, 1.0), rng.uniform(-np.pi, np.pi)) - 1.0) * size
        if cyst:
            self.paint(_soft(np.abs(d) - rng.uniform(0.3, 1.0), 0.3), rng.uniform(6, 16), self.tissue_alpha)
            self.paint(_soft(d, 0.4), rng.uniform(-50, -30), 0.02)
            return
        level = rng.normal(0, 4) + self._texture(rng.uniform(3.0, 8.0))
        self.paint(_soft(d, rng.uniform(0.3, 1.5)), level, self.tissue_alpha * rng.uniform(0.8, 1.3))
        if rng.random() < 0.4:
            self.echo += self.keep_out * _soft(np.abs(d) - rng.uniform(0.15, 0.6), 0.3) * np.float32(rng.uniform(3.0, 8.0))

    def clear_beam_path(self) -> None:
        """No gas shadow over the ovary: a sonographer moves the probe until it is not shadowed
        (a shadowed ovary would be a label with nothing to see). Attenuation in front of the ovary,
        along the beam lines through it, is capped at a tissue's."""
        inside = self.labels > 0
        if not inside.any():
            return
        t = np.arctan2(self.p.x, self.p.z)  # (1, cols) with (rows, 1): the whole plane
        r = np.hypot(self.p.x, self.p.z)
        front = (t >= t[inside].min()) & (t <= t[inside].max()) & (r <= r[inside].max())
        self.alpha[front] = np.minimum(self.alpha[front], 1.5 * self.tissue_alpha)

    def _follicles(self, diam: np.ndarray, cx: float, cz: float, a: float, b: float, angle: float,
                   r: np.ndarray) -> list[tuple[float, float, float, float]]:
        rng, p = self.rng, self.p
        placed = place_follicles(rng, diam, cx, cz, a, b, angle)
        for fx, fz, rad, _ in placed:
            q = rng.uniform(0.7, 1.0)
            fr = p.ellipse(fx, fz, rad, rad * q, rng.uniform(-np.pi, np.pi))
            inside = fr < 1.0
            # bright back wall: the rim on the far side from the probe (the apex is at x = z = 0)
            rim = (fr >= 1.0) & (fr < 1.0 + rng.uniform(0.15, 0.35))
            far = ((p.x - fx) * fx + (p.z - fz) * fz) > 0
            self.echo[rim & far] += rng.uniform(4.0, 12.0)
            self.paint(inside.astype(np.float32), rng.uniform(-50, -30), 0.02)
            self.labels[inside] = 2
        self.labels[(self.labels == 0) & (r < 1.0)] = 1
        return placed

def ovary_axes(rng: np.random.Generator, area: float) -> tuple[float, float, np.ndarray]:
    """Semi-axes (mm) of an ovary of about ``area`` mm2 and its follicle diameters; a dominant
    follicle stretches the ovary to hold it."""
    q = rng.uniform(0.45, 0.9)
    a = float(np.clip(np.sqrt(area / (np.pi * q)), 6.0, 28.0))
    diam = _follicle_diameters(rng)
    if diam.size and diam.max() / 2 + 1.5 > a * q:
        q = min(0.95, (diam.max() / 2 + 1.5) / a)
        a = max(a, (diam.max() / 2 + 1.5) / q)
    return a, a * q, diam


def poi_ovary_axes(rng: np.random.Generator, area: float) -> tuple[float, float, np.ndarray]:
    """Semi-axes (mm) of a small, flat ovary of about ``area`` mm2 (minor / major 0.3-0.6) and its
    follicle diameters: none in 60 % of ovaries, else one to three small ones (2-5 mm) that fit."""
    q = rng.uniform(0.3, 0.6)
    a = float(np.clip(np.sqrt(area / (np.pi * q)), 4.0, 20.0))
    b = a * q
    if rng.random() < 0.6 or 2 * b - 1.0 < 2.0:
        return a, b, np.zeros(0)
    return a, b, rng.uniform(2.0, min(5.0, 2 * b - 1.0), int(rng.integers(1, 4)))


def place_follicles(rng: np.random.Generator, diam: np.ndarray, cx: float, cz: float, a: float, b: float,
                    angle: float) -> list[tuple[float, float, float, float]]:
    """Follicle centres (mm) inside an ellipse, largest first, never overlapping: ``(x, z, radius, diameter)``
    for each one placed (a follicle with no room after 40 tries is left out)."""
    placed: list[tuple[float, float, float, float]] = []
    c, s = np.cos(angle), np.sin(angle)
    for d in sorted(diam, reverse=True):
        rad = d / 2.0
        for _ in range(40):
            u, v = rng.uniform(-1, 1, 2)
            if u * u + v * v > 1:
                continue
            # keep the follicle inside the outline, allowing it to bulge a little
            room_a, room_b = max(a - 0.7 * rad, 0.1), max(b - 0.7 * rad, 0.1)
            fx, fz = cx + u * room_a * c - v * room_b * s, cz + u * room_a * s + v * room_b * c
            if all(np.hypot(fx - x, fz - z) > rad + rr + 0.5 for x, z, rr, _ in placed):
                placed.append((fx, fz, rad, d))
                break
    return placed


def _follicle_diameters(rng: np.random.Generator) -> np.ndarray:
    """Follicle diameters (mm) of one ovary: none (POI) to many antral, some dominant or cystic.

    A quarter of ovaries have none and the mean count is drawn log-uniformly, so that few-follicle
    ovaries (the trial's POI patients), told only by their stroma and outline, are common."""
    if rng.random() < 0.25:
        return np.zeros(0)
    n = int(min(1 + rng.poisson(np.exp(rng.uniform(np.log(0.3), np.log(10.0)))), 25))
    d = np.exp(rng.normal(np.log(4.5), 0.5, n)).clip(2.0, 14.0)
    if rng.random() < 0.12:
        d[0] = rng.uniform(14.0, 28.0)
    if rng.random() < 0.25:
        d = np.concatenate([d, rng.uniform(1.0, 2.0, int(rng.integers(1, 4)))])
    return d


def _beam(echo: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, spacing: float, noise: float) -> np.ndarray:
    """Echo and attenuation on the polar grid -> log-compressed, post-processed display values 0-1."""
    n_r = echo.shape[0]
    r_mm = np.arange(n_r, dtype=np.float32)[:, None] * spacing
    path = np.cumsum(alpha, axis=0) * spacing  # two-way attenuation, dB
    tissue = float(np.median(alpha))
    tgc = tissue * r_mm + rng.uniform(0, 6) * smooth_field((n_r, 1), n_r / rng.uniform(2, 6), rng)
    tgc -= rng.uniform(0, 0.3) * tissue * r_mm  # frequent under-compensation
    db = echo - path + tgc
    amp: np.ndarray = np.power(10.0, db / 20.0).astype(np.float32)
    sig_ax = rng.uniform(0.15, 0.45) / spacing
    sig_lat = sig_ax * rng.uniform(1.5, 3.0)
    re = cv2.GaussianBlur(rng.standard_normal(echo.shape).astype(np.float32), (0, 0), sig_lat, sigmaY=sig_ax)
    im = cv2.GaussianBlur(rng.standard_normal(echo.shape).astype(np.float32), (0, 0), sig_lat, sigmaY=sig_ax)
    speckle = np.hypot(re, im)
    speckle /= float(speckle.mean()) + 1e-6
    if rng.random() < 0.3:  # heavier-tailed (K-distributed) speckle
        speckle *= np.sqrt(rng.gamma(rng.uniform(1, 6), 1.0, echo.shape).astype(np.float32) / 3.0)
    amp = amp * speckle ** rng.uniform(0.7, 1.0)
    near = np.exp(-r_mm / rng.uniform(2, 6)) * (0.6 + 0.4 * np.cos(2 * np.pi * r_mm / rng.uniform(1.5, 4)))
    amp += rng.uniform(0.5, 3.0) * near * float(np.median(amp))  # near-field reverberation
    amp += noise * float(np.median(amp)) * np.abs(rng.standard_normal(amp.shape)).astype(np.float32)
    log = 20 * np.log10(amp + 1e-6)
    median = float(np.median(log))  # gain: the median echo sits at 20-50 % of the display range
    dynamic_range = rng.uniform(40, 70)
    img: np.ndarray = np.clip((log - median) / dynamic_range + rng.uniform(0.2, 0.5), 0, 1).astype(np.float32)
    smooth = rng.uniform(0, 1)
    if smooth > 0.3:
        img = cv2.medianBlur(img, 3 if smooth < 0.7 else 5)
        d = int(3 + 4 * smooth)
        img = cv2.bilateralFilter(img, d, 0.05 + 0.2 * smooth, 1.0 + 2.0 * smooth)
    if rng.random() < 0.5:
        img = img + np.float32(rng.uniform(0.2, 1.0)) * (img - cv2.GaussianBlur(img, (0, 0), 2.0))
    return np.clip(img, 0, 1)


def layered_frame(rng: np.random.Generator, *, shift: float = 0.0, poi_share: float = 0.0,
                  graphics: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Render one frame; ``shift`` > 0 goes deeper and noisier than the training ranges.

    With probability ``poi_share`` the ovary is small, flat and nearly follicle-free, and in 80 %
    of those frames a rounder look-alike lies beside it (:meth:`_Scene.look_alike`). With
    ``poi_share`` 0 no random number is drawn for it: the frames are those of before the option.
    ``graphics``: sonographer graphics on 60 % of frames (``None``), on all (``True``) or none
    (``False``), the same scene either way (:func:`~follicle_seg.synth.canvas.burn`).

    Returns
    -------
    tuple
        ``(pixels uint8, labels uint8 0/1/2, fan bool, spacing mm/px, depth mm)``: the fan's
        bounding box with black outside the fan, square pixels.
    """
    g = Fan.draw(rng, shift)
    plane, fan, spacing, depth = g.plane, g.fan, g.plane.s, g.depth

    scene = _Scene(plane, fan, rng, tissue_alpha=float(rng.uniform(0.3, 1.0)))
    steps = ([scene.tissue_band] * int(rng.integers(3, 13)) + [lambda: scene.tissue_band(thin=True)] * int(rng.integers(1, 8))
             + [scene.lobule] * int(rng.integers(1, 6)) + [scene.vessel] * int(rng.integers(0, 4))
             + [scene.bowel] * int(rng.integers(0, 4)) + [lambda: scene.lobule((8.0, 20.0))] * int(rng.integers(0, 3)))
    if rng.random() < 0.3:
        steps.append(scene.fluid)
    if rng.random() < 0.4:
        steps.insert(0, scene.uterus)
    for k in rng.permutation(len(steps)):
        steps[int(k)]()
    poi = poi_share > 0 and rng.random() < poi_share
    ovary = scene.ovary(poi) if rng.random() < 0.9 else None
    if ovary is not None:  # vessels, bowel and fluid right beside the ovary, never over it
        scene.keep_out = (scene.labels == 0).astype(np.float32)
        if poi and rng.random() < 0.8:
            scene.look_alike(ovary)
        for _ in range(int(rng.integers(0, 5))):
            at = ovary["centre"] + rng.normal(0, 1, 2) * ovary["a"]
            near = (float(at[0]), float(at[1]))
            kind = rng.random()
            if kind < 0.5:
                scene.vessel(near=near)
            elif kind < 0.8:
                scene.bowel(near=near)
            else:
                scene.fluid(near=near, size=(3, 12))
        scene.clear_beam_path()

    beam = _beam(g.polar(scene.echo), g.polar(scene.alpha), rng, spacing,
                 noise=float(rng.uniform(0.0, 0.15)) * (1.0 + 2 * shift))
    grey = g.display(g.cartesian(beam), rng)
    labels = np.where(fan, scene.labels, 0).astype(np.uint8)
    burn(grey, rng.random() < 0.6, graphics, lambda img: draw_graphics(img, plane, ovary, rng))
    return grey, labels, fan, float(spacing), depth
