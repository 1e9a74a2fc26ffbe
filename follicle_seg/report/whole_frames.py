"""Whole first frames of the images whose side is unknown: ``overlays/frames/<overlay stem>_f000.jpg``.

An overlay shows the ultrasound region only; the side of an image without a laterality tag is
often burned in outside it, beside the machine's other text ("LT OV"). The review worksheet's
line asking for such an image's side (``left`` or ``right``) links to this picture of the whole
frame instead, so the reviewer reads the side where the sonographer wrote it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from follicle_seg.report.overlay_files import WHOLE_FRAMES, overlay_stem, write_image

log = logging.getLogger("follicle_seg")

MAX_WIDTH = 1000  # px: a burned-in label stays readable, the file small
MIN_WIDTH = 640


def write_whole_frames(
    overlays_dir: Path, images: pd.DataFrame, decode: Callable[[str], np.ndarray] | None
) -> dict[str, str]:
    """The whole first frame of each ``ok`` image of unknown side (``images.csv`` rows), written
    once (``decode(path)`` gives it grey, :func:`follicle_seg.io.dicom.whole_frame`; without
    ``decode`` none is drawn, those there are kept); returns the file names inside
    ``overlays_dir`` by SOP Instance UID. A file that cannot be decoded now is left out, logged;
    the frames of images no longer of unknown side are removed."""
    written: dict[str, str] = {}
    unsided = images[(images["status"] == "ok") & (images["laterality"] == "U")]
    for row in unsided.itertuples():
        text = {k: "" if pd.isna(v) else str(v) for k, v in row._asdict().items()}
        stem = overlay_stem(text["sop_instance_uid"], patient_id=text["patient_id"], study_date=text["study_date"],
                            laterality="U")  # fmt: skip
        name = f"{WHOLE_FRAMES}/{stem}_f000.jpg"
        target = overlays_dir / name
        if not target.is_file():
            if decode is None:
                continue
            try:
                grey = decode(text["path"])
            except Exception as exc:  # noqa: BLE001 - a picture for the review, never the run's end
                log.warning("%s: its whole frame for the side review cannot be drawn (%s)", text["path"], exc)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            write_image(target, _fit(grey), ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 85])
        written[text["sop_instance_uid"]] = name
    for path in sorted((overlays_dir / WHOLE_FRAMES).glob("*.jpg")):  # images since given a side, or gone
        if f"{WHOLE_FRAMES}/{path.name}" not in written.values():
            path.unlink()
    return written


def _fit(grey: np.ndarray) -> np.ndarray:
    """At most :data:`MAX_WIDTH` pixels wide (area-averaged); a small frame enlarged by a whole
    factor (each pixel a block) to at least :data:`MIN_WIDTH`, so that small text stays legible."""
    height, width = grey.shape[:2]
    if width > MAX_WIDTH:
        return cv2.resize(grey, (MAX_WIDTH, round(height * MAX_WIDTH / width)), interpolation=cv2.INTER_AREA)
    factor = -(-MIN_WIDTH // width)
    return np.repeat(np.repeat(grey, factor, axis=0), factor, axis=1) if factor > 1 else grey
