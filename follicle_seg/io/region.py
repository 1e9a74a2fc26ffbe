"""Find the scan sector of a frame that carries no Sequence of Ultrasound Regions.

Secondary captures, old scanners and screen grabs hold the image somewhere in a larger frame
with text, scale bars and logos around it. The scan sector (the fan, or the rectangle of a linear
probe) is the largest bright blob once thin strokes are removed:

1. non-black pixels (grey > ``threshold``);
2. closing with a small square, so dark structures inside the sector (follicles, shadows) do not
   cut it apart;
3. opening with a square taller than a line of burned-in text (15 px, or 1/20 of the frame's
   smaller side), which removes text, tick marks, scale bars and thin lines;
4. the bounding box of the largest connected component. The opening may shave the narrow tip
   of a fan by a few pixels; it never adds text to the box.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Smallest side, in pixels, of an image area worth analysing.
MIN_REGION_PX = 64
#: Smallest opening, in pixels: wider than a line of burned-in text.
MIN_TEXT_GAP_PX = 15


def find_scan_area(grey: np.ndarray, *, threshold: int = 12) -> tuple[int, int, int, int] | None:
    """Bounding box ``(min_col, min_row, max_col, max_row)`` (inclusive) of the scan sector.

    Parameters
    ----------
    grey
        2-D uint8 frame (the whole source frame).
    threshold
        Grey level above which a pixel counts as image rather than black background.

    Returns
    -------
    tuple of int or None
        The box, or ``None`` when nothing bright and large enough is found.

    Examples
    --------
    >>> frame = np.zeros((200, 300), np.uint8)
    >>> frame[40:180, 60:260] = 120      # the sector
    >>> frame[5:12, 5:100] = 255         # a line of text
    >>> find_scan_area(frame)
    (60, 40, 259, 179)
    """
    if grey.ndim != 2:
        raise ValueError(f"find_scan_area needs a 2-D frame, got shape {grey.shape}.")
    n_rows, n_cols = grey.shape
    mask = grey > threshold
    if not mask.any():
        return None
    closing = max(3, min(n_rows, n_cols) // 100)
    opening = max(MIN_TEXT_GAP_PX, min(n_rows, n_cols) // 20)
    # Padded so that the closing keeps a sector that touches the frame's edge.
    padded = np.pad(mask, closing)
    closed = ndimage.binary_closing(padded, structure=np.ones((closing, closing), bool))
    mask = closed[closing:-closing, closing:-closing]
    mask = ndimage.binary_opening(mask, structure=np.ones((opening, opening), bool))
    labels, n_labels = ndimage.label(mask)
    if n_labels == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    rows, cols = np.nonzero(labels == int(np.argmax(sizes)) + 1)
    return (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))
