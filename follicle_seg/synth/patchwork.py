"""Patchwork scenes: a third training-frame generator, label maps with random appearance.

The 3-D renderer (:mod:`follicle_seg.synth.render`) and the layered generator
(:mod:`follicle_seg.synth.layered`) both model the echo physically: an echo level in dB per
structure, speckle from scatterers, log compression. Each leaves its own fingerprint, and a network
trained on either alone learns it (real ovary Dice 0.42 and 0.40; 0.56 on the two together). This
generator keeps only what every transvaginal frame shares, the geometry (a sector, beam lines from
the probe, an ovary holding round black follicles), and draws the rest as SynthSeg does (Billot et
al., Medical Image Analysis 2023), from a label map with every appearance random:

1. a label map: the sector cut into 4-16 irregular patches (the arg-max of smooth random fields,
   some stretched), then dark round and tubular vessels, irregular dark fluid, thin bright lines,
   bowel-like bright rings (dark, mixed or gas content), ovary-sized patches with no follicle
   (decoys), and the ovary: a lobed outline 1.5-20 % of the sector holding 0-25 follicles, with
   vessels and bowel beside it;
2. appearance per label: a mean drawn uniformly (the ovary's mostly near its surroundings', as on
   real scans), a texture mixed from shared random fields, a random amount of it; follicles,
   vessels and fluid near black;
3. along each beam line: enhancement behind fluid, shadow behind gas, multiplicative noise of a
   random law (Rayleigh, gamma, log-normal or Gaussian) and grain, elongated across the beam;
4. blur or speckle reduction, edge enhancement, a smooth bias field, range compression, the grey
   map, the probe's bright face and often sonographer graphics.

Examples
--------
>>> f = patchwork_frame(np.random.default_rng(0))
>>> pixels, labels, fan, spacing_mm, depth_mm = f
>>> pixels.dtype, pixels.shape == labels.shape == fan.shape
(dtype('uint8'), True)
"""

from __future__ import annotations

import cv2
import numpy as np

from follicle_seg.synth.canvas import OvaryGeometry, burn, draw_graphics
from follicle_seg.synth.layered import ovary_axes, place_follicles
from follicle_seg.synth.sector import Fan, Plane, fan_point, smooth_field

_LAWS = ("rayleigh", "gamma", "lognormal", "gauss", "none")


def _smooth(shape: tuple[int, int], sigma_px: float, rng: np.random.Generator, **kwargs: float) -> np.ndarray:
    """A smooth random field (as :func:`~follicle_seg.synth.sector.smooth_field`) drawn on a grid 8 times
    coarser and resized: the same look for wide fields at a fraction of the cost."""
    small = (shape[0] // 8 + 2, shape[1] // 8 + 2)
    out = smooth_field(small, sigma_px / 8.0, rng, **kwargs)
    return cv2.resize(out, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


class _Labels:
    """Region map (one id per painted structure) with each region's mean, texture amount and
    attenuation, and the class labels (0 background, 1 ovary, 2 follicle)."""

    def __init__(self, plane: Plane, fan: np.ndarray, rng: np.random.Generator) -> None:
        self.p, self.fan, self.rng = plane, fan, rng
        shape = (plane.rows, plane.cols)
        px = 1.0 / plane.s
        n = int(rng.integers(4, 17))
        fields = [_smooth(shape, rng.uniform(4.0, 25.0) * px, rng, angle=rng.uniform(-np.pi, np.pi),
                          stretch=rng.uniform(1.0, 4.0)) + rng.normal(0.0, 0.7) for _ in range(n)]
        self.region = np.argmax(np.stack(fields), axis=0).astype(np.int32)
        self.means = list(rng.uniform(0.05, 1.0, n))
        self.texture = list(rng.uniform(0.0, 0.6, n))
        self.alpha = list(rng.uniform(0.01, 0.05, n))
        self.labels = np.zeros(shape, np.uint8)

    def add(self, mask: np.ndarray, mean: float, texture: float, alpha: float) -> None:
        """Paint a new region where ``mask`` is true, outside the ovary once one is painted."""
        mask = mask & (self.labels == 0)
        self.region[mask] = len(self.means)
        self.means.append(mean)
        self.texture.append(texture)
        self.alpha.append(alpha)

    def point(self, depth: tuple[float, float] = (0.05, 0.95)) -> tuple[float, float]:
        return fan_point(self.p, self.fan, self.rng, depth)

    def vessel(self, near: tuple[float, float] | None = None) -> None:
        rng, p = self.rng, self.p
        cx, cz = near or self.point()
        if rng.random() < 0.5:
            a, b = rng.uniform(1.0, 5.0) * np.array([1.0, rng.uniform(0.7, 1.0)])
            mask = p.ellipse(cx, cz, a, b, rng.uniform(-np.pi, np.pi)) < 1.0
        else:
            mask = p.band(cx, cz, rng.uniform(-np.pi, np.pi), rng.uniform(-0.05, 0.05), rng.uniform(1.0, 4.0),
                          rng.uniform(5.0, 25.0)) < 0
        self.add(mask, rng.uniform(0.0, 0.1), rng.uniform(0.0, 0.2), rng.uniform(0.0, 0.01))

    def fluid(self, near: tuple[float, float] | None = None, size: tuple[float, float] = (5.0, 25.0)) -> None:
        rng, p = self.rng, self.p
        cx, cz = near or self.point()
        a = rng.uniform(*size)
        r = p.ellipse(cx, cz, a, a * rng.uniform(0.3, 1.0), rng.uniform(-np.pi, np.pi))
        ragged = 1.0 + 0.25 * smooth_field(r.shape, rng.uniform(1.0, 4.0) / p.s, rng)
        self.add(r < ragged, rng.uniform(0.0, 0.12), rng.uniform(0.0, 0.3), 0.0)

    def line(self) -> None:
        rng, p = self.rng, self.p
        cx, cz = self.point()
        d = p.band(cx, cz, rng.uniform(-np.pi, np.pi), rng.uniform(-0.08, 0.08), rng.uniform(0.2, 0.9),
                   rng.uniform(8.0, 40.0))
        self.add(d < 0, rng.uniform(0.6, 1.0), rng.uniform(0.0, 0.4), rng.uniform(0.03, 0.1))

    def bowel(self, near: tuple[float, float] | None = None) -> None:
        rng, p = self.rng, self.p
        cx, cz = near or self.point()
        a = rng.uniform(4.0, 15.0)
        r = p.ellipse(cx, cz, a, a * rng.uniform(0.5, 1.0), rng.uniform(-np.pi, np.pi))
        wall = rng.uniform(0.8, 2.5) / a
        content = rng.random()
        if content < 0.35:  # gas: bright, casting a shadow
            self.add(r < 1.0 - wall, rng.uniform(0.7, 1.0), rng.uniform(0.1, 0.5), rng.uniform(0.3, 1.0))
        elif content < 0.65:  # fluid
            self.add(r < 1.0 - wall, rng.uniform(0.0, 0.15), rng.uniform(0.0, 0.4), 0.0)
        else:  # mixed
            self.add(r < 1.0 - wall, rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.8), rng.uniform(0.02, 0.1))
        self.add((r >= 1.0 - wall) & (r < 1.0), rng.uniform(0.55, 1.0), rng.uniform(0.0, 0.4), rng.uniform(0.03, 0.1))

    def decoy(self, area: float) -> None:
        """An ovary-sized patch with an appearance of its own and no follicle."""
        rng, p = self.rng, self.p
        cx, cz = self.point((0.1, 0.85))
        a = np.sqrt(area / np.pi) * rng.uniform(0.7, 1.4)
        q = rng.uniform(0.4, 1.0)
        self.add(p.ellipse(cx, cz, a, a * q, rng.uniform(-np.pi, np.pi)) < 1.0, rng.uniform(0.05, 1.0),
                 rng.uniform(0.0, 0.6), rng.uniform(0.01, 0.05))

    def ovary(self, area: float) -> OvaryGeometry:
        """Paint the ovary (stroma, medulla, capsule) and its follicles; returns its geometry for graphics."""
        rng, p = self.rng, self.p
        a, b, diam = ovary_axes(rng, area)
        cx, cz = self.point((0.12, 0.75))
        angle = rng.uniform(-np.pi, np.pi)
        theta = np.arctan2(p.z - cz, p.x - cx)
        wobble = sum(rng.uniform(0, 0.08) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4, 5))
        r = p.ellipse(cx, cz, a, b, angle) / (1.0 + wobble)
        ring = (r >= 1.0) & (r < 1.6) & self.fan
        around = float(np.median(np.asarray(self.means)[self.region[ring]])) if ring.any() else 0.5
        # on real scans the ovary's mean grey is close to its surroundings' (REALISM.md), and never
        # near black: its follicles show against it
        step = rng.uniform(0.03, 0.15) * rng.choice([-1.0, 1.0])
        mean = float(np.clip(around + step, 0.2, 1.0)) if rng.random() < 0.7 else float(rng.uniform(0.2, 1.0))
        self.add(r < 1.0, mean, rng.uniform(0.0, 0.6), rng.uniform(0.01, 0.05))
        if rng.random() < 0.4:  # a brighter or darker medulla
            self.add(r < rng.uniform(0.4, 0.7), float(np.clip(mean + rng.uniform(-0.15, 0.15), 0.2, 1.0)),
                     rng.uniform(0.0, 0.6), rng.uniform(0.01, 0.05))
        # every labelled ovary shows a cue: a follicle >= 3 mm, a clear step in level or a capsule
        faint = not (diam.size and diam.max() >= 3.0) and abs(mean - around) < 0.1
        if faint or rng.random() < 0.5:
            rim = np.abs(r - 1.0) * a < rng.uniform(0.2, 0.7)
            if not faint and rng.random() < 0.5:
                rim &= smooth_field(r.shape, rng.uniform(1.0, 4.0) / p.s, rng) > rng.uniform(-0.8, 0.3)
            self.add(rim, float(np.clip(max(mean, around) + rng.uniform(0.2, 0.5), 0.0, 1.0)),
                     rng.uniform(0.0, 0.3), rng.uniform(0.03, 0.08))
        self.labels[r < 1.0] = 1
        placed = place_follicles(rng, diam, cx, cz, a, b, angle)
        for fx, fz, rad, _ in placed:
            fr = p.ellipse(fx, fz, rad, rad * rng.uniform(0.7, 1.0), rng.uniform(-np.pi, np.pi))
            self.region[fr < 1.0] = len(self.means)
            self.means.append(rng.uniform(0.0, 0.06))
            self.texture.append(rng.uniform(0.0, 0.3))
            self.alpha.append(0.0)
            self.labels[fr < 1.0] = 2
        return {"centre": (cx, cz), "a": a, "b": b, "angle": angle, "follicles": placed}

    def appearance(self) -> tuple[np.ndarray, np.ndarray]:
        """Echo level (about 0-1) and attenuation (1/mm) of every pixel from its region's draw."""
        rng, p = self.rng, self.p
        shape = self.region.shape
        px = 1.0 / p.s
        fields = np.stack([
            smooth_field(shape, rng.uniform(0.3, 1.0) * px, rng),
            smooth_field(shape, rng.uniform(1.5, 5.0) * px, rng),
            smooth_field(shape, rng.uniform(0.5, 2.0) * px, rng, angle=rng.uniform(-np.pi, np.pi), stretch=rng.uniform(3, 10)),
            smooth_field(shape, rng.uniform(0.5, 2.0) * px, rng, angle=rng.uniform(-np.pi, np.pi), stretch=rng.uniform(2, 8)),
        ])
        mix = rng.dirichlet(np.full(len(fields), 0.6), len(self.means))  # (regions, fields)
        echo = np.empty(shape, np.float32)
        for k in np.unique(self.region):
            m = self.region == k
            echo[m] = self.means[k] * (1.0 + self.texture[k] * (mix[k] @ fields[:, m]))
        alpha = np.asarray(self.alpha, np.float32)[self.region]
        return np.clip(echo, 0.0, None), alpha


def _speckle(shape: tuple[int, int], rng: np.random.Generator, spacing: float) -> np.ndarray:
    """Multiplicative noise, mean 1, of a random law and grain, longer across the beam than along it."""
    law = _LAWS[int(rng.choice(len(_LAWS), p=[0.35, 0.2, 0.15, 0.15, 0.15]))]
    if law == "none":
        return np.ones(shape, np.float32)
    sig_ax = rng.uniform(0.08, 0.35) / spacing  # real grain: about 1 x 0.5 mm (REALISM.md)
    sig_lat = sig_ax * rng.uniform(1.0, 2.5)

    def blurred(noise: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(noise.astype(np.float32), (0, 0), sig_lat, sigmaY=sig_ax)

    if law == "rayleigh":
        out = np.hypot(blurred(rng.standard_normal(shape)), blurred(rng.standard_normal(shape)))
    elif law == "gamma":
        out = blurred(rng.gamma(rng.uniform(0.5, 4.0), 1.0, shape))
    else:
        z = blurred(rng.standard_normal(shape))
        z /= float(z.std()) + 1e-6
        s = rng.uniform(0.2, 0.6)
        out = np.exp(s * z) if law == "lognormal" else np.clip(1.0 + s * z, 0.0, None)
    return (out / (float(out.mean()) + 1e-6)).astype(np.float32)


def patchwork_frame(rng: np.random.Generator, *, shift: float = 0.0,
                    graphics: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Render one frame; ``shift`` > 0 goes deeper and noisier than the training ranges;
    ``graphics`` as :func:`~follicle_seg.synth.layered.layered_frame` takes it.

    Returns
    -------
    tuple
        ``(pixels uint8, labels uint8 0/1/2, fan bool, spacing mm/px, depth mm)``, as
        :func:`~follicle_seg.synth.layered.layered_frame` gives them.
    """
    g = Fan.draw(rng, shift)
    p, fan = g.plane, g.fan
    scene = _Labels(p, fan, rng)
    fan_mm2 = float(fan.sum()) * p.s**2
    area = fan_mm2 * float(np.exp(rng.uniform(np.log(0.015), np.log(0.2))))
    steps = ([scene.vessel] * int(rng.integers(0, 5)) + [scene.fluid] * int(rng.integers(0, 2))
             + [scene.line] * int(rng.integers(0, 7)) + [scene.bowel] * int(rng.integers(0, 4))
             + [lambda: scene.decoy(area)] * int(rng.integers(0, 3)))
    for k in rng.permutation(len(steps)):
        steps[int(k)]()
    ovary = scene.ovary(area) if rng.random() < 0.9 else None
    if ovary is not None:  # vessels, bowel and fluid right beside the ovary
        for _ in range(int(rng.integers(0, 5))):
            near = np.asarray(ovary["centre"]) + rng.normal(0, 1, 2) * float(ovary["a"])
            kind = rng.random()
            if kind < 0.5:
                scene.vessel((float(near[0]), float(near[1])))
            elif kind < 0.8:
                scene.bowel((float(near[0]), float(near[1])))
            else:
                scene.fluid((float(near[0]), float(near[1])), size=(3.0, 12.0))

    echo, alpha = scene.appearance()
    echo, alpha = g.polar(echo), g.polar(alpha)
    path = np.cumsum(alpha - float(np.median(alpha)), axis=0) * p.s  # enhancement behind fluid, shadow behind gas
    beam = echo * np.exp(-rng.uniform(0.3, 1.5) * np.clip(path, -0.6, 4.0)) * _speckle(echo.shape, rng, p.s) ** rng.uniform(0.3, 0.9)
    beam += rng.uniform(0.0, 0.08) * (1.0 + 2 * shift) * np.abs(rng.standard_normal(beam.shape)).astype(np.float32)
    img = g.cartesian(beam.astype(np.float32))

    smooth = rng.random()
    if smooth < 0.35:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
    elif smooth < 0.7:
        img = cv2.bilateralFilter(img, int(rng.integers(3, 8)), float(rng.uniform(0.05, 0.3)), float(rng.uniform(1.0, 3.0)))
    if rng.random() < 0.4:
        img = img + np.float32(rng.uniform(0.2, 1.0)) * (img - cv2.GaussianBlur(img, (0, 0), 2.0))
    img = np.clip(img, 0.0, None) * np.exp(rng.uniform(0.0, 0.5) * _smooth(img.shape, rng.uniform(15, 40) / p.s, rng))
    img = img / (float(np.median(img[fan])) + 1e-6)
    if rng.random() < 0.5:  # log-like range compression
        c = rng.uniform(1.0, 20.0)
        img = np.log1p(c * img) / np.log1p(c)
    img = np.clip(img * rng.uniform(0.2, 0.45) / (float(np.median(img[fan])) + 1e-6), 0.0, 1.0)
    grey = g.display(img.astype(np.float32), rng)
    labels = np.where(fan, scene.labels, 0).astype(np.uint8)
    burn(grey, rng.random() < 0.6, graphics, lambda img: draw_graphics(img, p, ovary, rng))
    return grey, labels, fan, float(p.s), g.depth
