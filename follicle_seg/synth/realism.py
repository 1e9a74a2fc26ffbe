"""Appearance statistics of an ovary image, to compare synthetic frames with real scans.

Used by ``scripts/realism_stats.py`` (the measured comparison in the README); tested on hand-made
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


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Medians, 10th-90th percentiles and the share of ovaries darker than their ring."""
    if not rows:
        return {"n": 0}
    c = np.array([r["contrast"] for r in rows])
    out: dict[str, float] = {"n": len(rows), "share_darker_than_ring": float(np.mean(c < 0)),
                             "share_brighter_than_ring_by_0_3": float(np.mean(c > 0.3))}
    for key in ("contrast", "texture", "heterogeneity", "ovary_grey", "around_grey", "dark_share", "area_share"):
        v = np.array([r[key] for r in rows])
        out[f"{key}_median"] = float(np.median(v))
        out[f"{key}_p10"], out[f"{key}_p90"] = (float(p) for p in np.percentile(v, [10, 90]))
    return out
