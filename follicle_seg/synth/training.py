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

from dataclasses import dataclass

import numpy as np

from follicle_seg.synth.anatomy import Scene, ovary_radius, place_ovary, scene, surroundings
from follicle_seg.synth.canvas import draw_calipers, draw_text_block
from follicle_seg.synth.geometry import EllipseCut, cut, extent_along
from follicle_seg.synth.materials import random_materials
from follicle_seg.synth.render import (
    DisplayGrid,
    Probe,
    SceneTexture,
    beam_grid,
    display_grid,
    fan_mask,
    jpeg_round_trip,
    label_map,
    render_beam,
    scan_convert,
    texture_fields,
    to_grey,
)
from follicle_seg.synth.styles import STYLES, RenderParams, family, outside, sample_params

__all__ = ["STYLES", "TrainingFrame", "training_frame", "follicle_diameters"]

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


def follicle_diameters(rng: np.random.Generator) -> np.ndarray:
    """Random follicle diameters (mm) for one ovary: none (POI) to many antral, some dominant."""
    if rng.random() < 0.15:
        return np.zeros(0)
    n = int(min(1 + rng.poisson(rng.uniform(0.5, 14.0)), 25))
    d = np.exp(rng.normal(np.log(5.0), 0.45, n)).clip(2.5, 12.0)
    if rng.random() < 0.3:
        d[0] = rng.uniform(10.0, 25.0)
    if rng.random() < 0.2:  # a few too small to count (< 2 mm)
        d = np.concatenate([d, rng.uniform(1.2, 2.0, int(rng.integers(1, 3)))])
    return d


def _probe_and_ovary(rng: np.random.Generator, shift: float) -> tuple[Probe, float]:
    """Probe geometry and ovary length: the ovary fills about 2-15 % of the fan."""
    length = float(rng.uniform(10.0, 42.0))
    ratio = float(rng.uniform(0.2, 0.6))  # ovary length / depth
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
    if rng.random() < 0.1:  # no ovary in view
        y0 = float(rng.choice([-1.0, 1.0]) * (ext_y + rng.uniform(0.5, 12.0)))
    else:
        y0 = float(rng.uniform(-0.85, 0.85) * ext_y)
    return scene(ovary, around), y0


def _annotate(img: np.ndarray, sc: Scene, y0: float, grid: DisplayGrid, rng: np.random.Generator) -> None:
    """Calipers across a follicle or the ovary, and their measurement text (in place)."""
    sections: list[EllipseCut] = [s for s in (cut(f, y0) for f in sc.follicles) if s is not None]
    if sc.ovary is not None:
        o = cut(sc.ovary, y0)
        if o is not None:
            sections.append(o)
    lines: list[str] = []
    value = int(rng.integers(170, 256))
    for k in rng.permutation(len(sections))[: int(rng.integers(1, 3))]:
        lines += draw_calipers(img, sections[int(k)], grid, rng, value=value)
    draw_text_block(img, lines or [f"Dist {rng.uniform(3, 40):.1f} mm"], rng, value=value)


def render_region(
    sc: Scene, y0: float, probe: Probe, spacing_mm: float, params: RenderParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey region image, labels and fan mask of one plane of a scene (fresh materials and texture)."""
    grid = display_grid(probe, spacing_mm)
    beams = beam_grid(probe, spacing_mm, params)
    alpha0 = float(rng.uniform(0.35, 0.9))
    materials = random_materials(rng, tissue_alpha_db_mm=alpha0)
    grains = tuple(float(rng.uniform(lo, hi)) for lo, hi in ((0.3, 0.8), (1.2, 3.0), (4.0, 10.0)) * 2)
    fields, fx0, fz0 = texture_fields(rng, probe, grains)
    beam = render_beam(sc, y0, beams, params, materials, SceneTexture(fields, fx0, fz0), rng)
    mask = fan_mask(probe, grid)
    grey = to_grey(scan_convert(beam, beams, grid), mask, params)
    return grey, label_map(sc, y0, probe, grid), mask


def training_frame(seed: int, *, style: str | None = None, shift: float = 0.0) -> TrainingFrame:
    """Render one random training frame.

    Parameters
    ----------
    seed
        Same seed (and arguments), same bytes.
    style
        One of :data:`STYLES`, or ``None`` for a random family with random perturbation.
    shift
        0 samples the training distribution; > 0 pushes depth, noise, speckle grain and gain
        outside the training ranges (held-out evaluation), further as it grows (1 = clearly out).

    Returns
    -------
    TrainingFrame
        The ultrasound region crop (what ingestion hands the model) and its labels.
    """
    if shift < 0:
        raise ValueError("shift must be >= 0 (0 = training distribution).")
    rng = np.random.default_rng([int(seed), int(round(shift * 1000))])
    params = sample_params(family(style, rng), rng, shift=shift)
    probe, length = _probe_and_ovary(rng, shift)
    rows = rng.integers(*REGION_ROWS)
    spacing = float(np.clip(probe.depth_mm / rows, 0.07, 0.35))
    sc, y0 = _scene(rng, probe, length)
    pixels, labels, fan = render_region(sc, y0, probe, spacing, params, rng)
    if rng.random() < 0.3:
        _annotate(pixels, sc, y0, display_grid(probe, spacing), rng)
    if params.jpeg_quality and rng.random() < 0.7:
        pixels = jpeg_round_trip(pixels, params.jpeg_quality)
    return TrainingFrame(pixels, labels, spacing, spacing, params.style, fan)
