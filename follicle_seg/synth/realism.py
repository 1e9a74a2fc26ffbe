"""Appearance statistics of an ovary image, to compare synthetic frames with real scans.

Used by ``scripts/realism_stats.py`` (the measured comparison in docs/synthetic.md); tested on hand-made
images. Inputs are plain arrays; the caller brings the image to the network scale
(0.3 mm/px, normalised 0-1 inside the fan) for :func:`image_stats` and keeps the stored 8-bit grey
for :func:`grey_stats`.

Per image, at the network scale:

- ``contrast``: median of the ovary's stroma (its outline eroded by about 1 mm, anechoic pixels
  left out) minus the median of a ring 1-5 mm outside the outline, both after a 0.6 mm blur, in
  units of the standard deviation of the background (fan outside the ovary). Negative = the
  ovary is darker than the tissue right around it.
- ``texture``: fine texture (image minus its 0.6 mm blur) standard deviation inside the stroma
  over the same in the ring (< 1: the stroma is smoother than its surroundings).
- ``heterogeneity``: standard deviation of the 1.5 mm local mean over the background tissue (how
  structured the surroundings are).

and, on the 8-bit grey of the region as stored (the figures of ``../shared/REALISM.md``): mean
grey inside the ovary outline (``ovary_grey``) and of the rest of the fan (``around_grey``), the
ovary's share darker than 30 (``dark_share``) and the ovary's area over the fan's (``area_share``).
Where the stored grid's pixel size is known, :func:`speckle_grain` adds the speckle grain in mm
(``grain_axial_mm``, ``grain_lateral_mm``) at a fixed depth below the probe.
"""

from __future__ import annotations

import cv2
import numpy as np

ANECHOIC = 0.12  # normalised grey below which a stroma pixel counts as fluid (follicle)


def image_stats(x: np.ndarray, fan: np.ndarray, ovary: np.ndarray) -> dict[str, float] | None:
    """The three figures for one normalised image at 0.3 mm/px; ``None`` without a usable ovary."""
    if ovary.sum() < 50:
        return None
    k = np.ones((3, 3), np.uint8)
    ov = ovary.astype(np.uint8)
    ring = (cv2.dilate(ov, k, iterations=17) > 0) & ~(cv2.dilate(ov, k, iterations=3) > 0) & fan
    stroma = (cv2.erode(ov, k, iterations=3) > 0) & (x > ANECHOIC)
    background = fan & ~ovary
    tissue = cv2.erode(background.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    if stroma.sum() < 30 or ring.sum() < 30 or tissue.sum() < 100:
        return None
    smooth = cv2.GaussianBlur(x, (0, 0), 2.0)
    fine = x - smooth
    weight = cv2.GaussianBlur(fan.astype(np.float32), (0, 0), 5.0)
    local_mean = cv2.GaussianBlur(x, (0, 0), 5.0) / np.maximum(weight, 1e-3)
    return {
        "contrast": float((np.median(smooth[stroma]) - np.median(smooth[ring])) / (x[background].std() + 1e-6)),
        "texture": float(fine[stroma].std() / max(float(fine[ring].std()), 1e-6)),
        "heterogeneity": float(local_mean[tissue].std()),
    }


def grey_stats(grey: np.ndarray, fan: np.ndarray, ovary: np.ndarray) -> dict[str, float]:
    """REALISM.md's figures on the stored 8-bit grey of a region (source grid)."""
    inside, around = grey[ovary & fan], grey[fan & ~ovary]
    return {"ovary_grey": float(inside.mean()), "around_grey": float(around.mean()),
            "dark_share": float(np.mean(inside < 30)), "area_share": float(inside.size / max(int(fan.sum()), 1))}


GRAIN_WINDOW = 48
"""Side, in stored pixels, of the tissue windows :func:`speckle_grain` measures."""


def speckle_grain(grey: np.ndarray, tissue: np.ndarray, spacing_mm: float,
                  depth_mm: tuple[float, float] = (25.0, 45.0)) -> tuple[float, float] | None:
    """Speckle grain of the stored image: autocorrelation half-width along and across the beam, mm.

    Windows of :data:`GRAIN_WINDOW` pixels, wholly on ``tissue`` (no ovary, inside the fan), mean
    grey 40-180, starting ``depth_mm`` below the top of the region (a fixed depth, since grain
    widens with depth), each with its structure above the grain removed (minus a 6-pixel Gaussian
    blur); per window, the lag at which the autocorrelation falls to half along the rows (axial)
    and the columns (lateral). Returns the medians over windows times ``spacing_mm``, or ``None``
    with fewer than 3 windows.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = cv2.GaussianBlur(rng.standard_normal((400, 400)).astype(np.float32), (0, 0), 3.0, sigmaY=1.0)
    >>> grey = np.clip(110 + 25 * noise / noise.std(), 0, 255).astype(np.uint8)
    >>> axial, lateral = speckle_grain(grey, np.ones(grey.shape, bool), 0.1)
    >>> bool(lateral > 2.2 * axial)
    True
    """
    win = GRAIN_WINDOW
    top, bottom = int(depth_mm[0] / spacing_mm), min(grey.shape[0] - win, int(depth_mm[1] / spacing_mm))
    found = []
    for r in range(top, bottom, win // 4):
        for c in range(0, grey.shape[1] - win, win // 2):
            patch = grey[r : r + win, c : c + win].astype(np.float32)
            if not tissue[r : r + win, c : c + win].all() or not 40 < patch.mean() < 180:
                continue
            fine = patch - cv2.GaussianBlur(patch, (0, 0), 6.0)
            spectrum = np.fft.fft2(fine - fine.mean())
            corr = np.fft.ifft2(spectrum * np.conj(spectrum)).real
            corr /= corr[0, 0]
            found.append((_half_width(corr[:, 0]), _half_width(corr[0, :])))
    if len(found) < 3:
        return None
    widths = np.array(found, dtype=float)
    return float(np.nanmedian(widths[:, 0]) * spacing_mm), float(np.nanmedian(widths[:, 1]) * spacing_mm)


def _half_width(corr: np.ndarray) -> float:
    """First lag (interpolated) at which a normalised autocorrelation falls below 0.5."""
    for lag in range(1, len(corr) // 2):
        if corr[lag] < 0.5:
            return lag - 1 + (corr[lag - 1] - 0.5) / (corr[lag - 1] - corr[lag])
    return float("nan")


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Medians, 10th-90th percentiles and the share of ovaries darker than their ring."""
    if not rows:
        return {"n": 0}
    c = np.array([r["contrast"] for r in rows])
    out: dict[str, float] = {"n": len(rows), "share_darker_than_ring": float(np.mean(c < 0)),
                             "share_brighter_than_ring_by_0_3": float(np.mean(c > 0.3))}
    for key in ("contrast", "texture", "heterogeneity", "ovary_grey", "around_grey", "dark_share", "area_share",
                "grain_axial_mm", "grain_lateral_mm"):
        v = np.array([r[key] for r in rows if key in r])  # grain: only where the pixel size is known
        if v.size:
            out[f"{key}_median"] = float(np.median(v))
            out[f"{key}_p10"], out[f"{key}_p90"] = (float(p) for p in np.percentile(v, [10, 90]))
    out["n_grain"] = sum("grain_axial_mm" in r for r in rows)
    return out
