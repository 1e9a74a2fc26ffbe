"""Network input at a fixed physical scale, and the exact way back to the region grid.

Pure functions; nothing here keeps state or modifies its inputs.

* The ultrasound region crop is resampled (bilinear, anti-aliased when shrinking) to
  :data:`TARGET_MM` mm per pixel along rows and columns, honouring anisotropic spacing.
  At 0.3 mm/px a 2 mm follicle spans about 7 px.
* Uncalibrated frames get an *assumed* spacing, :data:`ASSUMED_DEPTH_MM` over the region height,
  used only to size the network input, never for measurements.
* Grey levels are normalised by percentiles of the pixels inside the scan fan (robust to gain and
  dynamic range; stretched over :data:`MIN_SPAN` of their level at least); pixels outside the fan are set to 0.
* The scaled image is zero-padded at the bottom and right to a multiple of :data:`DIVISOR`.
* :func:`restore_probabilities` crops the padding and resamples class probabilities (bilinear,
  same pixel-centre convention) back onto the region grid, so ``argmax`` of its output aligns
  pixel for pixel with ``Frame.pixels``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from follicle_seg.instances import fill_holes

TARGET_MM = 0.3
"""Pixel size (mm) of the network input along rows and columns."""

DIVISOR = 16
"""Network input sides are padded to a multiple of this (four 2x down-samplings)."""

ASSUMED_DEPTH_MM = 70.0
"""Depth (mm) assumed for the region height of an uncalibrated frame, for resampling only.

Typical endocavity (TVUS) frames image 60-90 mm; real screen captures of ~545-px-tall regions
are about 0.1-0.15 mm/px, i.e. 55-80 mm deep.
"""

LOW_PERCENTILE, HIGH_PERCENTILE = 1.0, 99.0

MIN_SPAN = 1e-3
"""Least span the percentiles are stretched over, as a share of the larger of their magnitudes: a
fan with less contrast (one grey level nearly everywhere) stays near 0, where its resampling's
float rounding (about 1e-7 of the grey level) used to be stretched to 0 or 1 pixel by pixel.
Relative, so that a gain leaves the result as it is: training normalises grey 0-1
(``model.data``), inference grey 0-255."""


@dataclass(frozen=True)
class InputGeometry:
    """How a region crop maps onto the network input.

    Attributes
    ----------
    source_shape
        (rows, columns) of the region crop.
    scaled_shape
        (rows, columns) after resampling to :data:`TARGET_MM`, before padding.
    padded_shape
        (rows, columns) after padding to a multiple of :data:`DIVISOR`.
    spacing_row_mm, spacing_col_mm
        Spacing used for resampling (the calibration, or the assumed one).
    assumed
        True when the spacing was assumed (uncalibrated frame).
    """

    source_shape: tuple[int, int]
    scaled_shape: tuple[int, int]
    padded_shape: tuple[int, int]
    spacing_row_mm: float
    spacing_col_mm: float
    assumed: bool


def resampling_spacing(
    source_shape: tuple[int, int],
    spacing_row_mm: float | None,
    spacing_col_mm: float | None,
) -> tuple[float, float, bool]:
    """Spacing used to resample a region: its calibration, else the assumed one.

    Parameters
    ----------
    source_shape
        (rows, columns) of the region crop.
    spacing_row_mm, spacing_col_mm
        Calibration (PhysicalDeltaY, PhysicalDeltaX) or ``None``.

    Returns
    -------
    tuple
        ``(row_mm, col_mm, assumed)``; an assumed spacing is isotropic,
        ``ASSUMED_DEPTH_MM / rows``.

    Examples
    --------
    >>> resampling_spacing((500, 600), None, None)
    (0.14, 0.14, True)
    >>> resampling_spacing((500, 600), 0.2, 0.25)
    (0.2, 0.25, False)
    """
    if spacing_row_mm is not None and spacing_col_mm is not None:
        return float(spacing_row_mm), float(spacing_col_mm), False
    mm = ASSUMED_DEPTH_MM / max(source_shape[0], 1)
    return mm, mm, True


def input_geometry(
    source_shape: tuple[int, int],
    spacing_row_mm: float | None,
    spacing_col_mm: float | None,
) -> InputGeometry:
    """Shapes of the scaled and padded network input for a region crop.

    Examples
    --------
    >>> g = input_geometry((300, 400), 0.15, 0.15)
    >>> g.scaled_shape, g.padded_shape
    ((150, 200), (160, 208))
    """
    row_mm, col_mm, assumed = resampling_spacing(source_shape, spacing_row_mm, spacing_col_mm)
    scaled = (
        max(1, int(round(source_shape[0] * row_mm / TARGET_MM))),
        max(1, int(round(source_shape[1] * col_mm / TARGET_MM))),
    )
    padded = (-(-scaled[0] // DIVISOR) * DIVISOR, -(-scaled[1] // DIVISOR) * DIVISOR)
    return InputGeometry(
        (int(source_shape[0]), int(source_shape[1])), scaled, padded, row_mm, col_mm, assumed
    )


def fan_mask(pixels: np.ndarray) -> np.ndarray:
    """Pixels inside the scan fan (not the black surround of a sector image).

    A pixel is lit when more than 20 % of its 9 x 9 neighbourhood is brighter than 4 grey
    levels. The fan is the largest lit region and every lit region at least a tenth of its
    size, holes (near-black follicles, fluid) filled; small lit islands in the black surround
    (depth rulers, focus marks, text, logos) are left out.

    Parameters
    ----------
    pixels
        2-D grey image (any numeric dtype, 0-255 scale).

    Returns
    -------
    numpy.ndarray
        Boolean mask, same shape.
    """
    lit: np.ndarray = (np.asarray(pixels) > 4).astype(np.uint8)
    # lit pixels counted over each 9 x 9 window (mirrored at the border); > 20 % means 17 of 81
    lit = cv2.boxFilter(lit, cv2.CV_32F, (9, 9), normalize=False, borderType=cv2.BORDER_REFLECT) > 0.2 * 81
    # the regions' sizes by bincount: OpenCV's statistics (boxes, centroids too) cost twice the labelling
    n, regions = cv2.connectedComponents(lit.view(np.uint8), connectivity=4)
    if n > 2:  # label 0 is the unlit rest
        sizes = np.bincount(regions.ravel(), minlength=n)
        sizes[0] = 0
        lit = (sizes >= 0.1 * sizes.max())[regions]
    return fill_holes(lit)


#: How far :func:`fan_mask` reaches into the black around the fan: a pixel 3 from the lit edge
#: still has 2 lit columns of its 9 x 9 window (18 of 81, over 20 %).
FAN_REACH_PX = 3


def scan_area(pixels: np.ndarray, fan: np.ndarray | None = None) -> np.ndarray:
    """The lit scan area: :func:`fan_mask` drawn back by :data:`FAN_REACH_PX` (eroded; the grid's
    border stays), so that its edge is where the image's lit pixels end, for the follicles cut
    by it (``Section.at_edge``).

    >>> frame = np.zeros((40, 60), np.uint8); frame[:, 20:] = 120
    >>> area = scan_area(frame)
    >>> int(area[0].argmax()), bool(area[:, 20:].all())
    (20, True)
    """
    kernel = np.ones((2 * FAN_REACH_PX + 1,) * 2, np.uint8)
    fan = fan_mask(pixels) if fan is None else fan
    return cv2.erode(fan.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)


def normalise_intensity(image: np.ndarray, fan: np.ndarray) -> np.ndarray:
    """Map the 1st-99th grey percentiles inside the fan to 0-1 (clipped); 0 outside the fan.

    Percentiles closer than :data:`MIN_SPAN` of their magnitude are stretched over that span.

    Parameters
    ----------
    image
        2-D float or integer image.
    fan
        Boolean mask of the scan fan, same shape.

    Returns
    -------
    numpy.ndarray
        float32 image in [0, 1].

    Examples
    --------
    >>> img = np.tile(np.arange(101, dtype=np.float32), (3, 1))
    >>> out = normalise_intensity(img, np.ones_like(img, bool))
    >>> float(out[0, 1]), float(out[0, 50]), float(out[0, 100])
    (0.0, 0.5, 1.0)
    """
    img = np.asarray(image, dtype=np.float32)
    inside = img[fan] if fan.any() else img.ravel()
    lo, hi = np.percentile(inside, [LOW_PERCENTILE, HIGH_PERCENTILE])
    span = max(float(hi - lo), MIN_SPAN * max(abs(float(lo)), abs(float(hi))), 1e-12)
    out = np.clip((img - lo) / span, 0.0, 1.0)
    out[~fan] = 0.0
    return out.astype(np.float32)


def resample(array: np.ndarray, shape: tuple[int, int], *, mode: str = "bilinear") -> np.ndarray:
    """Resample a 2-D (or channel-first 3-D) array onto ``shape``, pixel-centre aligned.

    ``mode="bilinear"`` anti-aliases when shrinking; ``mode="nearest"`` is for label maps
    (never interpolated).
    """
    arr = np.asarray(array)
    tensor = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    tensor = tensor[None, None] if arr.ndim == 2 else tensor[None]
    if tuple(tensor.shape[-2:]) == tuple(shape):
        out = tensor
    elif mode == "nearest":
        out = F.interpolate(tensor, size=shape, mode="nearest-exact")
    else:
        out = F.interpolate(tensor, size=shape, mode="bilinear", align_corners=False, antialias=True)
    result = out[0, 0] if arr.ndim == 2 else out[0]
    return result.numpy()


def to_network_scale(
    pixels: np.ndarray,
    spacing_row_mm: float | None,
    spacing_col_mm: float | None,
    fan_full: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, InputGeometry]:
    """Resample a region crop and its fan mask to the network scale (no normalisation, no padding).

    Returns
    -------
    tuple
        ``(image float32 0-255, fan bool, geometry)``.
    """
    geom = input_geometry(pixels.shape[:2], spacing_row_mm, spacing_col_mm)
    image = resample(pixels.astype(np.float32), geom.scaled_shape)
    fan_full = fan_mask(pixels) if fan_full is None else fan_full
    fan = resample(fan_full.astype(np.float32), geom.scaled_shape, mode="nearest") > 0.5
    return image, fan, geom


def pad_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Zero-pad a 2-D array at the bottom and right to ``shape``."""
    out = np.zeros(shape, dtype=image.dtype)
    out[: image.shape[0], : image.shape[1]] = image
    return out


def prepare(
    pixels: np.ndarray,
    spacing_row_mm: float | None,
    spacing_col_mm: float | None,
    fan_full: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, InputGeometry]:
    """Region crop -> normalised, padded network input ``(rows, cols)`` float32, and its fan mask.

    The fan mask (bool, same padded shape, False on the padding) tells the caller where the
    network's answer means anything: nothing is ever found outside the scan sector.

    Examples
    --------
    >>> x, fan, g = prepare(np.full((90, 120), 80, np.uint8), 0.2, 0.2)
    >>> x.shape, fan.shape, bool(fan[:60, :80].all()), bool(fan[60:].any()), g.scaled_shape
    ((64, 80), (64, 80), True, False, (60, 80))
    """
    image, fan, geom = to_network_scale(pixels, spacing_row_mm, spacing_col_mm, fan_full)
    return pad_to(normalise_intensity(image, fan), geom.padded_shape), pad_to(fan, geom.padded_shape), geom


def restore_probabilities(probs: torch.Tensor, geom: InputGeometry) -> torch.Tensor:
    """Class probabilities on the padded network grid -> the region grid.

    Parameters
    ----------
    probs
        ``(classes, rows, cols)`` tensor on the padded network grid (any device).
    geom
        The geometry from :func:`prepare`.

    Returns
    -------
    torch.Tensor
        ``(classes, *geom.source_shape)`` float32; ``argmax(0)`` gives labels on the region grid.
    """
    rows, cols = geom.scaled_shape
    cropped = probs[None, :, :rows, :cols].float()
    if (rows, cols) == geom.source_shape:
        return cropped[0]
    return F.interpolate(cropped, size=geom.source_shape, mode="bilinear", align_corners=False, antialias=True)[0]
