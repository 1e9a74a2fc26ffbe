"""Training mode: one random frame and its label map at a time, fast, no DICOM.

Every sample draws a new scene (ovary size and follicles, surroundings), probe geometry, pixel
spacing, style and per-structure materials, so that neither grey level nor texture alone
identifies a class. About 10 % of frames show no ovary, some ovaries hold no follicle (POI), and
vessels, bowel and free fluid appear as background look-alikes.

Examples
--------
>>> from follicle_seg.synth.training import training_frame
>>> f = training_frame(0)
>>> f.pixels.dtype, f.pixels.shape == f.labels.shape
(dtype('uint8'), True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from follicle_seg.synth.anatomy import Scene, ovary_radius, place_ovary, scene, surroundings
from follicle_seg.synth.canvas import annotate, burn
from follicle_seg.synth.geometry import extent_along
from follicle_seg.synth.layered import layered_frame
from follicle_seg.synth.patchwork import patchwork_frame
from follicle_seg.synth.render import Probe, jpeg_round_trip, prepare_scan, render_plane
from follicle_seg.synth.styles import STYLES, family, outside, sample_params

__all__ = ["LAYERED", "PATCHWORK", "STYLES", "TrainingFrame", "training_frame", "follicle_diameters"]

LAYERED = "layered"
"""Style name of frames from the image-plane generator (:mod:`follicle_seg.synth.layered`)."""
PATCHWORK = "patchwork"
"""Style name of frames from the random-appearance label-map generator (:mod:`follicle_seg.synth.patchwork`)."""
DEPTH_MM = (40.0, 100.0)  # training range of imaging depth
FAN_DEG = (115.0, 165.0)
REGION_ROWS = (280, 560)  # region height in pixels; spacing follows from the depth


@dataclass(frozen=True, eq=False)
class TrainingFrame:
    """A rendered ultrasound region and its truth on the same pixel grid."""

    pixels: np.ndarray  # uint8 (rows, cols) grey, fan with black outside it
    labels: np.ndarray  # uint8 (rows, cols): 0 background, 1 ovary, 2 follicle
    spacing_row_mm: float
    spacing_col_mm: float
    style: str
    fan: np.ndarray  # bool (rows, cols): inside the scan sector
    depth_mm: float  # imaging depth of the sector


def follicle_diameters(rng: np.random.Generator) -> np.ndarray:
    """Random follicle diameters (mm) for one ovary: none (POI) to many antral, some dominant."""
    if rng.random() < 0.15:
        return np.zeros(0)
    n = int(min(1 + rng.poisson(rng.uniform(0.3, 8.0)), 25))
    d = np.exp(rng.normal(np.log(4.5), 0.45, n)).clip(2.5, 12.0)
    if rng.random() < 0.15:
        d[0] = rng.uniform(10.0, 25.0)
    if rng.random() < 0.2:  # a few too small to count (< 2 mm)
        d = np.concatenate([d, rng.uniform(1.2, 2.0, int(rng.integers(1, 3)))])
    return d


def _probe_and_ovary(rng: np.random.Generator, shift: float) -> tuple[Probe, float]:
    """Probe geometry and ovary length: the ovary fills about 2-15 % of the fan."""
    length = float(rng.uniform(10.0, 42.0))
    ratio = float(rng.uniform(0.22, 0.7))  # ovary length / depth
    if shift > 0:
        depth = max(outside(rng, DEPTH_MM, shift, (15.0, 40.0)), 22.0)
        length = float(np.clip(depth * ratio, 8.0, 45.0))
    else:
        depth = float(np.clip(length / ratio, *DEPTH_MM))
    length = min(length, depth * 0.6)
    probe = Probe(radius_mm=float(rng.uniform(3.0, 9.0)), fan_deg=float(rng.uniform(*FAN_DEG)), depth_mm=depth)
    return probe, length


def _scene(rng: np.random.Generator, probe: Probe, length: float) -> tuple[Scene, float]:
    """A scene and the plane to cut it with."""
    half = length / 2.0
    z = float(rng.uniform(half + 3.0, max(half + 3.5, probe.depth_mm - half - 3.0)))
    theta = rng.uniform(-0.7, 0.7) * probe.half_angle
    x = float(np.tan(theta) * (z + probe.radius_mm))
    centre = np.array([x, 0.0, z])
    ovary = place_ovary(rng, centre, length, follicle_diameters(rng), capsule_mm=float(rng.uniform(0.4, 1.2)))
    around = surroundings(rng, centre, ovary_radius(ovary.body), busy=float(rng.uniform(0.3, 1.6)))
    ext_y = extent_along(ovary.body, 1)
    if rng.random() < 0.08:  # no ovary in view (with ovaries cut off by the fan or a zoom: ~12 %)
        y0 = float(rng.choice([-1.0, 1.0]) * (ext_y + rng.uniform(0.5, 12.0)))
    else:
        y0 = float(np.clip(rng.normal(0.0, 0.4), -0.9, 0.9) * ext_y)  # sonographers aim at the middle
    return scene(ovary, around), y0


def reframe(
    rng: np.random.Generator, pixels: np.ndarray, labels: np.ndarray, fan: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Region framing as scanners store it: sometimes black margins around the fan (a region
    larger than the sector), sometimes a zoomed crop (a region inside the sector)."""
    u = rng.random()
    if u < 0.3:
        rows, cols = pixels.shape
        pad = [(int(rng.integers(0, rows // 12 + 1)), int(rng.integers(0, rows // 12 + 1))),
               (int(rng.integers(0, cols // 12 + 1)), int(rng.integers(0, cols // 12 + 1)))]
        return np.pad(pixels, pad), np.pad(labels, pad), np.pad(fan, pad)
    if u < 0.65:  # zoomed display: often keeps the probe arc at the top
        rows, cols = pixels.shape
        h, w = int(rows * rng.uniform(0.5, 0.9)), int(cols * rng.uniform(0.4, 0.85))
        fg = np.argwhere(labels > 0)
        centre = fg.mean(axis=0) if fg.size else np.array([rows / 2, cols / 2])
        top = rng.random() < 0.6
        r0 = 0 if top else int(np.clip(centre[0] - h / 2 + rng.normal(0, h / 8), 0, rows - h))
        c0 = int(np.clip(centre[1] - w / 2 + rng.normal(0, w / 8), 0, cols - w))
        window = (slice(r0, r0 + h), slice(c0, c0 + w))
        return pixels[window].copy(), labels[window].copy(), fan[window].copy()
    return pixels, labels, fan


def training_frame(seed: int, *, style: str | None = None, shift: float = 0.0, layered_share: float = 0.0,
                   patchwork_share: float = 0.0, poi_share: float = 0.0, graphics: bool | None = None) -> TrainingFrame:
    """Render one random training frame.

    Parameters
    ----------
    seed
        Same seed (and arguments), same bytes.
    style
        One of :data:`STYLES`, :data:`LAYERED` (the image-plane generator), :data:`PATCHWORK`
        (the random-appearance label maps), or ``None``: the layered generator for a share
        ``layered_share`` of seeds, the patchwork one for a share ``patchwork_share``, else a
        random family of the 3-D renderer with random perturbation.
    shift
        0 samples the training distribution; > 0 pushes depth, noise, speckle grain and gain
        outside the training ranges (held-out evaluation), further as it grows (1 = clearly out).
    layered_share
        With ``style=None``, the share of seeds drawn by the layered generator (0: none, the
        shipped network's data). The choice has a generator of its own, so every other seed
        renders the same 3-D frame whatever the share.
    patchwork_share
        With ``style=None``, the share of seeds drawn by the patchwork generator, taken from the
        3-D renderer's seeds: a layered frame stays the same whatever this share.
    poi_share
        The share of layered frames whose ovary is small, flat and nearly follicle-free, often
        beside a rounder look-alike (see :func:`~follicle_seg.synth.layered.layered_frame`);
        0 leaves every frame as it was without the option.
    graphics
        ``None``: sonographer graphics (calipers, labels, measurement text) on the generators'
        share of frames (30 % of 3-D frames, 60 % of layered and patchwork ones); ``True``: on
        every frame; ``False``: on none. ``True`` and ``False`` give the same scene, framing and
        compression, with and without graphics (``None`` another draw of the same scene).

    Returns
    -------
    TrainingFrame
        The ultrasound region crop (what ingestion hands the model) and its labels.
    """
    if shift < 0:
        raise ValueError("shift must be >= 0 (0 = training distribution).")
    if not 0 <= poi_share <= 1:
        raise ValueError(f"poi_share must lie in [0, 1], not {poi_share}.")
    if layered_share < 0 or patchwork_share < 0 or layered_share + patchwork_share > 1:
        raise ValueError(f"layered_share and patchwork_share must be >= 0 with a sum <= 1, "
                         f"not {layered_share} and {patchwork_share}.")
    rng = np.random.default_rng([int(seed), int(round(shift * 1000))])
    u = np.random.default_rng([int(seed), int(round(shift * 1000)), 1]).random() if style is None else 1.0
    planar: dict[str, Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, float, float]]] = {
        LAYERED: partial(layered_frame, poi_share=poi_share), PATCHWORK: patchwork_frame}
    if style is None and u < layered_share + patchwork_share:
        style = LAYERED if u < layered_share else PATCHWORK
    if style in planar:
        pixels, labels, fan, spacing, depth = planar[style](rng, shift=shift, graphics=graphics)
        pixels, labels, fan = reframe(rng, pixels, labels, fan)
        if rng.random() < 0.6:
            pixels = jpeg_round_trip(pixels, int(rng.integers(60, 96)))
        return TrainingFrame(pixels, labels, spacing, spacing, style, fan, depth)
    params = sample_params(family(style, rng), rng, shift=shift)
    probe, length = _probe_and_ovary(rng, shift)
    rows = rng.integers(*REGION_ROWS)
    spacing = float(np.clip(probe.depth_mm / rows, 0.07, 0.35))
    sc, y0 = _scene(rng, probe, length)
    setup = prepare_scan(probe, spacing, params, rng)
    pixels, labels = render_plane(setup, sc, y0, rng)
    burn(pixels, rng.random() < 0.3, graphics, lambda img: annotate(img, sc, y0, setup.grid, rng))
    pixels, labels, fan = reframe(rng, pixels, labels, setup.fan)
    if params.jpeg_quality and rng.random() < 0.7:
        pixels = jpeg_round_trip(pixels, params.jpeg_quality)
    return TrainingFrame(pixels, labels, spacing, spacing, params.style, fan, probe.depth_mm)
