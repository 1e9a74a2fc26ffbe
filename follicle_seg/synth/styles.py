"""Named scanner style families and random mixing.

A :class:`StyleFamily` is a coherent preset of ranges (speckle statistics and grain, speckle
reduction, edge enhancement, persistence, dynamic range, grey map, gain, noise, TGC errors, JPEG
quality, colour tint). :func:`sample_params` draws one concrete :class:`RenderParams` from a
family, or from a random blend of two families with every range widened (``style=None``).
The names describe a look, not a vendor's exact processing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

Range = tuple[float, float]


@dataclass(frozen=True)
class StyleFamily:
    """Ranges (lo, hi) a style draws its rendering parameters from."""

    name: str
    description: str
    k_shape: Range  # K-distribution shape of scatterer density; 0 = Rayleigh (fully developed)
    grain_lat_mm: Range  # speckle grain (PSF FWHM) across beams at mid depth
    grain_ax_mm: Range  # speckle grain along beams
    line_density: Range  # beam lines per mm of arc at mid depth (scan-line sampling)
    smooth: Range  # speckle reduction strength, 0..1 (edge-preserving)
    edge: Range  # edge enhancement (unsharp amount)
    persistence: Range  # frame averaging weight, 0..0.7
    dynamic_range_db: Range
    gamma: Range  # grey map exponent (> 1 darkens mid greys)
    s_curve: Range  # grey map contrast S-curve, 0..1
    target_grey: Range  # median grey of the fan (overall gain)
    noise_db: Range  # electronic noise relative to the deepest tissue echo
    tgc_error_db: Range  # amplitude of smooth time-gain-compensation errors
    specular: Range  # strength of wall echoes
    jpeg_quality: Range  # 0 = no JPEG round trip
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # RGB display tint (study mode)


STYLE_FAMILIES: dict[str, StyleFamily] = {
    s.name: s
    for s in (
        StyleFamily(
            "raw_speckle", "Unprocessed fully developed speckle: fine grain, no smoothing.",
            k_shape=(0, 0), grain_lat_mm=(0.5, 0.9), grain_ax_mm=(0.35, 0.65), line_density=(2.0, 3.0),
            smooth=(0.0, 0.1), edge=(0.0, 0.2), persistence=(0.0, 0.1), dynamic_range_db=(50, 65),
            gamma=(0.9, 1.2), s_curve=(0.0, 0.2), target_grey=(50, 85), noise_db=(-25, -12),
            tgc_error_db=(0, 3), specular=(0.6, 1.4), jpeg_quality=(0, 0),
        ),
        StyleFamily(
            "ge_sri_smooth", "Strong speckle reduction (SRI-like), persistence, dark grey map.",
            k_shape=(0, 8), grain_lat_mm=(0.7, 1.2), grain_ax_mm=(0.6, 1.0), line_density=(1.5, 2.5),
            smooth=(0.6, 1.0), edge=(0.1, 0.4), persistence=(0.2, 0.5), dynamic_range_db=(60, 78),
            gamma=(1.1, 1.5), s_curve=(0.1, 0.4), target_grey=(45, 75), noise_db=(-30, -15),
            tgc_error_db=(0, 3), specular=(0.8, 1.6), jpeg_quality=(80, 95), tint=(1.04, 1.0, 0.93),
        ),
        StyleFamily(
            "philips_xres_sharp", "Moderate smoothing with strong edge enhancement (XRES-like), contrasty.",
            k_shape=(0, 0), grain_lat_mm=(0.6, 1.0), grain_ax_mm=(0.45, 0.75), line_density=(2.0, 3.0),
            smooth=(0.35, 0.7), edge=(0.6, 1.2), persistence=(0.1, 0.3), dynamic_range_db=(50, 65),
            gamma=(1.0, 1.3), s_curve=(0.3, 0.6), target_grey=(50, 80), noise_db=(-30, -15),
            tgc_error_db=(0, 2), specular=(0.8, 1.5), jpeg_quality=(0, 0), tint=(0.97, 1.0, 1.05),
        ),
        StyleFamily(
            "samsung_warm", "Smooth, bright-ish grey map with a warm tint.",
            k_shape=(0, 0), grain_lat_mm=(0.7, 1.1), grain_ax_mm=(0.5, 0.85), line_density=(1.8, 2.8),
            smooth=(0.4, 0.8), edge=(0.2, 0.6), persistence=(0.2, 0.4), dynamic_range_db=(55, 70),
            gamma=(0.8, 1.1), s_curve=(0.2, 0.5), target_grey=(60, 95), noise_db=(-30, -15),
            tgc_error_db=(0, 3), specular=(0.6, 1.3), jpeg_quality=(75, 92), tint=(1.08, 1.0, 0.88),
        ),
        StyleFamily(
            "mindray_iclear", "Heavier-tailed speckle, smoothing plus enhancement, high persistence.",
            k_shape=(3, 10), grain_lat_mm=(0.7, 1.1), grain_ax_mm=(0.6, 0.9), line_density=(1.5, 2.5),
            smooth=(0.5, 0.9), edge=(0.3, 0.7), persistence=(0.3, 0.6), dynamic_range_db=(60, 75),
            gamma=(1.0, 1.4), s_curve=(0.1, 0.4), target_grey=(50, 80), noise_db=(-30, -15),
            tgc_error_db=(0, 4), specular=(0.8, 1.5), jpeg_quality=(0, 0), tint=(0.98, 1.0, 1.02),
        ),
        StyleFamily(
            "old_console_grainy", "Coarse grain, low dynamic range, visible noise, sparse lines, heavy JPEG.",
            k_shape=(1.5, 5), grain_lat_mm=(0.9, 1.5), grain_ax_mm=(0.65, 1.1), line_density=(0.9, 1.5),
            smooth=(0.0, 0.3), edge=(0.0, 0.3), persistence=(0.0, 0.2), dynamic_range_db=(40, 52),
            gamma=(0.8, 1.2), s_curve=(0.0, 0.3), target_grey=(55, 100), noise_db=(-20, -8),
            tgc_error_db=(1, 5), specular=(0.5, 1.2), jpeg_quality=(35, 70), tint=(1.0, 1.0, 1.0),
        ),
    )
}

#: The named style families, in a fixed order.
STYLES: tuple[str, ...] = tuple(STYLE_FAMILIES)


@dataclass(frozen=True)
class RenderParams:
    """One concrete draw of a style: everything the renderer needs besides geometry."""

    style: str
    k_shape: float
    grain_lat_mm: float
    grain_ax_mm: float
    line_density: float
    smooth: float
    edge: float
    persistence: float
    dynamic_range_db: float
    gamma: float
    s_curve: float
    target_grey: float
    noise_db: float
    tgc_error_db: float
    specular: float
    jpeg_quality: int
    tint: tuple[float, float, float]


_RANGE_FIELDS = tuple(f.name for f in fields(StyleFamily) if f.name not in ("name", "description", "tint"))
_LIMITS: dict[str, Range] = {
    "smooth": (0.0, 1.0),
    "persistence": (0.0, 0.7),
    "edge": (0.0, 1.5),
    "s_curve": (0.0, 1.0),
    "k_shape": (0.0, 20.0),
    "jpeg_quality": (0.0, 98.0),
    "tgc_error_db": (0.0, 8.0),
    "specular": (0.1, 3.0),
    "grain_lat_mm": (0.3, 3.0),
    "grain_ax_mm": (0.15, 1.5),
    "line_density": (0.6, 4.0),
    "dynamic_range_db": (30.0, 90.0),
    "gamma": (0.5, 2.0),
}


def _widen(r: Range, factor: float) -> Range:
    mid, half = (r[0] + r[1]) / 2.0, (r[1] - r[0]) / 2.0
    half = half * factor + abs(mid) * (factor - 1.0) * 0.15
    return (mid - half, mid + half)


def mixed_family(rng: np.random.Generator) -> StyleFamily:
    """A random family: one preset, sometimes blended with a second, every range widened."""
    a = STYLE_FAMILIES[STYLES[int(rng.integers(len(STYLES)))]]
    b = STYLE_FAMILIES[STYLES[int(rng.integers(len(STYLES)))]]
    w = rng.uniform(0.0, 1.0) if (rng.random() < 0.5 and b.name != a.name) else 0.0
    name = a.name if w == 0.0 else f"{a.name}+{b.name}"
    ranges: dict[str, Range] = {}
    for key in _RANGE_FIELDS:
        ra, rb = getattr(a, key), getattr(b, key)
        r = ((1 - w) * ra[0] + w * rb[0], (1 - w) * ra[1] + w * rb[1])
        lo, hi = _widen(r, 1.35)
        lim = _LIMITS.get(key)
        if lim is not None:
            lo, hi = max(lo, lim[0]), min(hi, lim[1])
        ranges[key] = (lo, hi)
    tint = tuple(float(t) for t in (1 - w) * np.array(a.tint) + w * np.array(b.tint))
    return StyleFamily(name, "random mix", tint=tint, **ranges)  # type: ignore[arg-type]


def family(style: str | None, rng: np.random.Generator) -> StyleFamily:
    """The family called ``style``, or a random mix when ``style`` is ``None``."""
    if style is None:
        return mixed_family(rng)
    if style not in STYLE_FAMILIES:
        raise ValueError(f"Unknown style {style!r}; known styles: {', '.join(STYLES)}.")
    return STYLE_FAMILIES[style]


def outside(rng: np.random.Generator, r: Range, shift: float, span: Range) -> float:
    """A value pushed beyond ``r`` by ``shift`` times ``span`` (below by span[0], above by span[1]).

    With ``shift == 0`` the value is uniform inside ``r``.
    """
    if shift <= 0:
        return float(rng.uniform(*r))
    if rng.random() < 0.5:
        return float(r[0] - shift * span[0] * rng.uniform(0.3, 1.0))
    return float(r[1] + shift * span[1] * rng.uniform(0.3, 1.0))


def sample_params(fam: StyleFamily, rng: np.random.Generator, *, shift: float = 0.0) -> RenderParams:
    """Draw concrete parameters from a family.

    ``shift > 0`` moves noise, speckle grain and gain outside the family's ranges (held-out
    evaluation); ``shift == 0`` samples inside them.
    """
    values = {key: float(rng.uniform(*getattr(fam, key))) for key in _RANGE_FIELDS}
    if shift > 0:
        values["noise_db"] = fam.noise_db[1] + 8.0 * shift * rng.uniform(0.5, 1.0)
        grow = 1.0 + 0.6 * shift * rng.uniform(0.5, 1.0)
        if rng.random() < 0.3:
            grow = 1.0 / (1.0 + 0.35 * shift)
        values["grain_lat_mm"] = fam.grain_lat_mm[1 if grow > 1 else 0] * grow
        values["grain_ax_mm"] = fam.grain_ax_mm[1 if grow > 1 else 0] * grow
        values["target_grey"] = outside(rng, fam.target_grey, shift, (20.0, 45.0))
    if values["k_shape"] < 1.0:  # below 1 the K law is extreme; treat as fully developed speckle
        values["k_shape"] = 0.0
    params = RenderParams(
        style=fam.name,
        tint=fam.tint,
        **{k: v for k, v in values.items() if k != "jpeg_quality"},
        jpeg_quality=int(round(values["jpeg_quality"])) if values["jpeg_quality"] >= 20 else 0,
    )
    return replace(params, target_grey=float(np.clip(params.target_grey, 12.0, 200.0)))
