"""NIfTI images and masks for fine-tuning, as ITK-SNAP, 3D Slicer or MONAI Label save them.

A NIfTI file holds one frame (2-D, or 3-D with one slice) or a stack of frames (3-D: a sweep,
one frame per slice along the third axis). Voxels are read in ITK's index order, the order those
tools write: the first index runs along the columns of the frame, the second along its rows, so
frame ``k`` is ``data[:, :, k].T`` with row 0 at the top, as the source image was shown. The
affine is not applied (no reorientation): the image and its mask are read the same way, so they
always agree, and a frame keeps the orientation in which it was annotated.

The pixel size comes from the header (``pixdim``) when its spatial unit is stated (mm, micron or
metre); a header whose unit is unknown (nibabel's default) gives none, and the frames take the
``spacing.csv`` entry or the assumed scale of uncalibrated frames, as PNG frames do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from follicle_seg.errors import RejectedInput, brief
from follicle_seg.io.calibration import implausible_spacing
from follicle_seg.types import Calibration

SUFFIXES = (".nii.gz", ".nii")
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
        the plausible ultrasound range.
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
    frames = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
    unit = image.header.get_xyzt_units()[0]
    if unit not in _TO_MM:
        return frames, None, None
    col_mm, row_mm = (float(z) * _TO_MM[unit] for z in image.header.get_zooms()[:2])
    reason = implausible_spacing(Calibration(row_mm, col_mm, "the NIfTI header"))
    if reason:
        raise RejectedInput(str(path), f"pixel size {row_mm:g} x {col_mm:g} mm in its header: {reason}.")
    return frames, row_mm, col_mm


def to_grey(frames: np.ndarray) -> np.ndarray:
    """Image voxels as 8-bit grey: kept when they are whole numbers 0-255, else stretched from
    their minimum to their maximum over the whole file."""
    values = frames.astype(np.float64)
    if values.min() >= 0 and values.max() <= 255 and np.all(values == np.round(values)):
        return values.astype(np.uint8)
    lo, hi = values.min(), values.max()
    return np.round((values - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
