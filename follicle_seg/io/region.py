"""Find the scan sector of a frame that carries no Sequence of Ultrasound Regions.

Secondary captures, old scanners and screen grabs hold the image somewhere in a larger frame
with text, scale bars and logos around it. The scan sector (the fan, or the rectangle of a linear
probe) is the largest bright blob once thin strokes are removed:

1. non-black pixels (grey > ``threshold``);
2. closing with a small square, so dark structures inside the sector (follicles, shadows) do not
   cut it apart;
3. opening with a square wider than a text stroke or a line of small text, which removes text,
   tick marks and thin lines;
4. the largest connected component, its bounding box grown back by the opening margin and cut to
   the frame.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Smallest side, in pixels, of an image area worth analysing.
MIN_REGION_PX = 64


def find_scan_area(
    grey: np.ndarray, *, threshold: int = 12
) -> tuple[int, int, int, int] | None:
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
    close = max(3, min(n_rows, n_cols) // 100)
    opening = max(5, min(n_rows, n_cols) // 25)
    mask = ndimage.binary_closing(mask, structure=np.ones((close, close), bool), border_value=0)
    mask = ndimage.binary_opening(mask, structure=np.ones((opening, opening), bool))
    labels, n_labels = ndimage.label(mask)
    if n_labels == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    rows, cols = np.nonzero(labels == int(np.argmax(sizes)) + 1)
    grow = opening // 2
    box = (
        max(0, int(cols.min()) - grow),
        max(0, int(rows.min()) - grow),
        min(n_cols - 1, int(cols.max()) + grow),
        min(n_rows - 1, int(rows.max()) + grow),
    )
    # Growing back may overshoot a sector whose edge the opening kept: trim to bright pixels.
    bright = np.nonzero(grey[box[1] : box[3] + 1, box[0] : box[2] + 1] > threshold)
    return (
        box[0] + int(bright[1].min()),
        box[1] + int(bright[0].min()),
        box[0] + int(bright[1].max()),
        box[1] + int(bright[0].max()),
    )
