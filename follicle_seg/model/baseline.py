"""A classical scikit-image segmenter, the yardstick the network is compared with.

At the network scale (0.3 mm/px, fan-percentile normalised):

1. speckle reduction: 5 x 5 median, then Gaussian (sigma 1 px);
2. follicles: pixels darker than :data:`DARK_LEVEL` inside the fan (away from its edge), holes
   filled, touching ones split by a distance-transform watershed; kept when 2-30 mm across,
   solidity >= 0.85 and eccentricity <= 0.9 (round, fluid-filled);
3. ovary: follicles closed into clusters (5 mm disc), the convex hull of the cluster holding
   most follicle area, dilated by 2 mm (an ovary is found by the follicles it holds).

Labels are mapped back nearest-neighbour onto the region grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage import measure, morphology, segmentation

from follicle_seg.model.preprocess import TARGET_MM, normalise_intensity, resample, to_network_scale
from follicle_seg.types import FOLLICLE, OVARY

DARK_LEVEL = 0.12
"""Normalised grey below which a smoothed pixel is fluid (follicle candidate)."""

MIN_SOLIDITY, MAX_ECCENTRICITY = 0.85, 0.9
MIN_DIAMETER_MM, MAX_DIAMETER_MM = 2.0, 30.0


def segment_baseline(
    pixels: np.ndarray, spacing_row_mm: float | None, spacing_col_mm: float | None
) -> np.ndarray:
    """Label one region crop (0 background, 1 ovary, 2 follicle) on its own grid.

    Examples
    --------
    >>> img = np.full((200, 200), 90, np.uint8); img[90:110, 90:110] = 5
    >>> labels = segment_baseline(img, 0.2, 0.2)
    >>> int(labels[100, 100]), int(labels[0, 0])
    (2, 0)
    """
    image, fan, _ = to_network_scale(np.asarray(pixels), spacing_row_mm, spacing_col_mm)
    norm = normalise_intensity(image, fan)
    smooth = ndimage.gaussian_filter(ndimage.median_filter(norm, size=5), sigma=1.0)
    inner = ndimage.binary_erosion(fan, iterations=int(round(3.0 / TARGET_MM)))
    dark = ndimage.binary_fill_holes(ndimage.binary_opening((smooth < DARK_LEVEL) & inner, structure=morphology.disk(1)))
    distance = ndimage.distance_transform_edt(dark)
    peaks = morphology.h_maxima(distance, 2.0)
    split = segmentation.watershed(-distance, measure.label(peaks), mask=dark)
    follicles = np.zeros(dark.shape, bool)
    for region in measure.regionprops(split):
        diameter = region.equivalent_diameter_area * TARGET_MM
        if (
            MIN_DIAMETER_MM <= diameter <= MAX_DIAMETER_MM
            and region.solidity >= MIN_SOLIDITY
            and region.eccentricity <= MAX_ECCENTRICITY
        ):
            follicles[split == region.label] = True
    labels = np.zeros(dark.shape, np.uint8)
    if follicles.any():
        clusters = measure.label(ndimage.binary_closing(follicles, structure=morphology.disk(int(5.0 / TARGET_MM))))
        areas = ndimage.sum(follicles, clusters, index=np.arange(1, clusters.max() + 1))
        main = clusters == (int(np.argmax(areas)) + 1)
        ovary = ndimage.binary_dilation(
            morphology.convex_hull_image(main), structure=morphology.disk(int(2.0 / TARGET_MM))
        )
        labels[ovary & fan] = OVARY
        labels[follicles & ovary] = FOLLICLE
    return np.rint(resample(labels.astype(np.float32), pixels.shape[:2], mode="nearest")).astype(np.uint8)


def segment_baseline_batch(
    items: Sequence[tuple[np.ndarray, float | None, float | None]],
) -> list[np.ndarray]:
    """:func:`segment_baseline` over ``(pixels, spacing_row_mm, spacing_col_mm)`` items."""
    return [segment_baseline(px, sr, sc) for px, sr, sc in items]
