"""NIfTI images and masks for fine-tuning, as ITK-SNAP, 3D Slicer or MONAI Label save them.

A NIfTI file holds one frame (2-D, or 3-D with one slice) or a stack of frames (3-D: a sweep,
one frame per slice along the third axis). Voxels are read in ITK's index order, the order those
tools write: the first index runs along the columns of the frame, the second along its rows, so
frame ``k`` is ``data[:, :, k].T`` with row 0 at the top, as the source image was shown. A
frame under 32 px on a side is refused: an array saved straight from numpy as
``(n, rows, columns)`` reads as strips of a few pixels (a long sweep may hold more frames than
rows: that is no sign). The
affine is not applied (no reorientation), so a frame keeps the orientation in which it was
annotated; an image and its mask agree only when their grids lie in one place, and a pair
whose geometry differs (a mask flipped with a matching affine, another pixel size) is refused
(:func:`geometry_mismatch`).

The pixel size comes from the header (``pixdim``) when its spatial unit is stated (mm, micron or
metre); a header whose unit is unknown (nibabel's default) gives none, and the frames take the
``spacing.csv`` entry or the assumed scale of uncalibrated frames, as PNG frames do.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np

from follicle_seg.errors import RejectedInput, brief
from follicle_seg.io.calibration import implausible_spacing
from follicle_seg.types import Calibration

SUFFIXES = (".nii.gz", ".nii")
MIN_FRAME_PX = 32
"""A frame narrower or shorter than this is not an ultrasound frame but a stack read in the wrong axis order."""
_ORDER = ("a NIfTI frame is stored columns first, then rows, then frames (ITK's order, as ITK-SNAP and "
          "3D Slicer write it); write a numpy array (n, rows, columns) as np.transpose(array, (2, 1, 0))")
_TO_MM = {"mm": 1.0, "micron": 1e-3, "meter": 1e3}


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(SUFFIXES)


def stem(path: Path) -> str:
    """``NAME`` of ``NAME.nii.gz`` or ``NAME.nii`` (any case)."""
    name = path.name
    suffix = next(s for s in SUFFIXES if name.lower().endswith(s))
    return name[: -len(suffix)]


def read_nifti(path: Path) -> tuple[np.ndarray, float | None, float | None]:
    """The frames of a NIfTI file and its pixel size.

    Returns
    -------
    tuple
        ``(frames, spacing_row_mm, spacing_col_mm)``: frames ``(n, rows, columns)`` as stored
        (RGB voxels made grey), the spacing ``None`` when the header states no spatial unit.

    Raises
    ------
    RejectedInput
        Not readable as NIfTI, more than three dimensions of data, or a stated pixel size outside
        the plausible ultrasound range, or frames under :data:`MIN_FRAME_PX` on a side (another
        axis order).
    """
    import nibabel as nib

    try:
        image = nib.load(str(path))
        if not isinstance(image, nib.Nifti1Pair):  # what .nii and .nii.gz load as (NIfTI-1 and -2)
            raise TypeError(f"read as {type(image).__name__}")
        data = np.asanyarray(image.dataobj)
    except Exception as exc:
        raise RejectedInput(str(path), f"cannot read as NIfTI: {brief(exc)}") from None
    if data.dtype.names and {"R", "G", "B"} <= set(data.dtype.names):  # RGB24 voxels: luma
        data = np.round(0.299 * data["R"] + 0.587 * data["G"] + 0.114 * data["B"])
    elif data.ndim == 5 and data.shape[3] == 1 and data.shape[4] in (3, 4):  # ITK's RGB(A) vectors
        data = np.round(data[..., 0, :3] @ np.array([0.299, 0.587, 0.114]))
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise RejectedInput(str(path), f"{data.ndim}-D data {data.shape}; expected a frame (2-D) "
                                       "or a stack of frames (3-D).")  # fmt: skip
    columns, rows, n = data.shape
    if min(rows, columns) < MIN_FRAME_PX:  # (a long sweep may hold more frames than rows: not a sign)
        raise RejectedInput(str(path), f"{n} frame(s) of {rows} x {columns} px (rows x columns) in {data.shape}: "
                                       f"{_ORDER}.")  # fmt: skip
    frames = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
    unit = image.header.get_xyzt_units()[0]
    if unit not in _TO_MM:
        return frames, None, None
    col_mm, row_mm = (float(z) * _TO_MM[unit] for z in image.header.get_zooms()[:2])
    reason = implausible_spacing(Calibration(row_mm, col_mm, "the NIfTI header"))
    if reason:
        raise RejectedInput(str(path), f"pixel size {row_mm:g} x {col_mm:g} mm in its header: {reason}.")
    return frames, row_mm, col_mm


def geometry_mismatch(image_path: Path, mask_path: Path) -> str | None:
    """A one-line reason when a NIfTI mask's voxels do not lie on its NIfTI image's, else ``None``.

    Frames are read without their affine, so a mask stored in another orientation (flipped, with an
    affine that flips it back) or at another pixel size would lie misaligned on its image. The
    corners of the image's grid are placed by both affines: apart by more than a tenth of a voxel,
    or voxel sizes 0.1 % apart, is a mismatch (one file's affine from its sform, the other's from
    its qform, differ by rounding, not in place).
    """
    (image_affine, image_zooms, shape), (mask_affine, mask_zooms, _) = _geometry(image_path), _geometry(mask_path)
    n = min(len(image_zooms), len(mask_zooms), 3)
    ends = [(0, size - 1) for size in (*shape[:3], 1, 1)[:3]]
    corners = np.array([[i, j, k, 1.0] for i in ends[0] for j in ends[1] for k in ends[2]])
    apart = float(np.abs((corners @ image_affine.T - corners @ mask_affine.T)[:, :3]).max())
    voxel = min(image_zooms[:n]) or 1.0
    if apart <= 0.1 * voxel and np.allclose(image_zooms[:n], mask_zooms[:n], rtol=1e-3, atol=0):
        return None
    return (f"its voxels (size {_numbers(mask_zooms[:n])}) lie up to {apart:.3g} in the header's units from its image "
            f"{image_path.name}'s (size {_numbers(image_zooms[:n])}): frames are read without their affine, so the "
            "mask would lie misaligned; save it on the image's grid with the image's header")


def _geometry(path: Path) -> tuple[np.ndarray, tuple[float, ...], tuple[int, ...]]:
    """The affine, voxel size and data shape of a NIfTI file that :func:`read_nifti` has read."""
    import nibabel as nib

    image = cast("nib.Nifti1Pair", nib.load(str(path)))
    return np.asarray(image.affine), tuple(float(z) for z in image.header.get_zooms()), tuple(image.shape)


def _numbers(values: tuple[float, ...]) -> str:
    return " x ".join(f"{v:g}" for v in values)


def to_grey(frames: np.ndarray) -> np.ndarray:
    """Image voxels as 8-bit grey: kept when they are whole numbers 0-255, else stretched from
    their minimum to their maximum over the whole file."""
    values = frames.astype(np.float64)
    if values.min() >= 0 and values.max() <= 255 and np.all(values == np.round(values)):
        return values.astype(np.uint8)
    lo, hi = values.min(), values.max()
    return np.round((values - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
