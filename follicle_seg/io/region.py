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

from follicle_seg.io.calibration import MAX_PANE_OVERLAP, MIN_PANE_SHARE, box_area, box_intersection

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
    areas = find_scan_areas(grey, threshold=threshold)
    return areas[0] if areas else None


def find_scan_areas(grey: np.ndarray, *, threshold: int = 12) -> list[tuple[int, int, int, int]]:
    """The scan sector's box, then those of the other image panes of a dual (or quad) display.

    A pane is another blob of at least :data:`~follicle_seg.io.calibration.MIN_PANE_SHARE` of the
    largest one's pixels, at least :data:`MIN_REGION_PX` each way, whose box overlaps the boxes
    kept before it by at most :data:`~follicle_seg.io.calibration.MAX_PANE_OVERLAP` (the rule
    for ultrasound regions). Largest first; empty when nothing bright and large enough is found.

    Examples
    --------
    >>> frame = np.zeros((200, 400), np.uint8)
    >>> frame[40:180, 10:190] = 120      # the left pane
    >>> frame[40:180, 210:390] = 110     # the right pane
    >>> frame[5:12, 5:100] = 255         # a line of text
    >>> find_scan_areas(frame)
    [(10, 40, 189, 179), (210, 40, 389, 179)]
    """
    if grey.ndim != 2:
        raise ValueError(f"find_scan_area needs a 2-D frame, got shape {grey.shape}.")
    n_rows, n_cols = grey.shape
    mask = grey > threshold
    if not mask.any():
        return []
    closing = max(3, min(n_rows, n_cols) // 100)
    opening = max(MIN_TEXT_GAP_PX, min(n_rows, n_cols) // 20)
    # Padded so that the closing keeps a sector that touches the frame's edge.
    padded = np.pad(mask, closing)
    closed = ndimage.binary_closing(padded, structure=np.ones((closing, closing), bool))
    mask = closed[closing:-closing, closing:-closing]
    mask = ndimage.binary_opening(mask, structure=np.ones((opening, opening), bool))
    labels, n_labels = ndimage.label(mask)
    if n_labels == 0:
        return []
    sizes = np.bincount(labels.ravel())[1:]
    boxes: list[tuple[int, int, int, int]] = []
    for k, slices in sorted(enumerate(ndimage.find_objects(labels)), key=lambda item: -sizes[item[0]]):
        if boxes and sizes[k] < MIN_PANE_SHARE * sizes.max():
            break
        rows, cols = slices
        box = (cols.start, rows.start, cols.stop - 1, rows.stop - 1)
        if boxes and min(rows.stop - rows.start, cols.stop - cols.start) < MIN_REGION_PX:
            continue
        area = box_area(box)
        if all(box_area(box_intersection(box, b)) <= MAX_PANE_OVERLAP * min(area, box_area(b)) for b in boxes):
            boxes.append(box)
    return boxes
