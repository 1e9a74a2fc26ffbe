"""Overlay files: their names (patient, date, side, a token of the image's UID, the frame), the
PNG writer, and the small crops of each follicle that the report's review gallery shows.

Every file is written atomically (a temporary name in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from follicle_seg.atomic import atomic_write_bytes
from follicle_seg.report.overlay import LABEL_FILL, colour_mask, layout_for, overlay_font
from follicle_seg.types import Follicle, ImageRecord


def uid_token(sop_instance_uid: str) -> str:
    """The part of an overlay file name that identifies its image.

    ``<last 8 UID characters>-<6 hex of the UID's SHA-1>``, sanitized; the hash keeps names
    unique when UID tails repeat.

    Examples
    --------
    >>> uid_token("1.2.3.45678")
    '.3.45678-0967ce'
    """
    digest = hashlib.sha1(sop_instance_uid.encode()).hexdigest()[:6]
    return f"{_safe(sop_instance_uid[-8:])}-{digest}"


#: The longest patient part of a file name: a 250-character PatientID made overlay names longer
#: than a file system allows ("File name too long" stopped the run).
MAX_PATIENT_TOKEN = 64


def patient_token(patient_id: str) -> str:
    """A patient id as file names write it (overlays, the report's patient pages): reduced to
    ``[A-Za-z0-9.-]`` characters without leading dots or dashes (a name beginning with ``.`` is
    hidden in file browsers, one with ``-`` taken for an option), ``unknown`` when empty; a long
    one cut to :data:`MAX_PATIENT_TOKEN` characters, a hash of the whole id at its end.

    >>> patient_token("P 01/b"), patient_token(""), patient_token("P" * 100)[-10:], len(patient_token("P" * 100))
    ('P-01-b', 'unknown', 'PPP-48eb68', 64)
    >>> patient_token(".P1"), patient_token("..")
    ('P1', 'x')
    """
    token = _safe(patient_id or "unknown").lstrip(".-") or "x"
    if len(token) <= MAX_PATIENT_TOKEN:
        return token
    return f"{token[: MAX_PATIENT_TOKEN - 7]}-{hashlib.sha1(patient_id.encode()).hexdigest()[:6]}"


def overlay_stem(sop_instance_uid: str, *, patient_id: str, study_date: str, laterality: str) -> str:
    """File-name stem shared by every overlay of one image (no frame part).

    ``<patient_id>_<YYYYMMDD>_<side>_<uid_token>``, reduced to ``[A-Za-z0-9.-]`` characters.

    Examples
    --------
    >>> overlay_stem("1.2.3.45678", patient_id="P 01", study_date="2026-01-14", laterality="L")
    'P-01_20260114_L_.3.45678-0967ce'
    """
    parts = [study_date.replace("-", "") or "nodate", laterality or "U"]
    return "_".join([patient_token(patient_id), *(_safe(p) for p in parts)]) + f"_{uid_token(sop_instance_uid)}"


_NAME_RE = re.compile(r"_(?P<token>[^_]+)_f(?P<frame>\d+)(?:_\d+)?\.(?:png|jpg)$")


def parse_name(name: str) -> tuple[str, int] | None:
    """(uid token, frame index) of an overlay, crop or thumbnail file name; None for another name.

    >>> parse_name("P1_20250101_L_0123abcd-a1b2c3_f004_3.jpg")
    ('0123abcd-a1b2c3', 4)
    """
    match = _NAME_RE.search(name)
    return (match["token"], int(match["frame"])) if match else None


def named_day(overlay: str) -> str:
    """The day an overlay's file name gives (``YYYYMMDD`` or ``nodate``: :func:`overlay_stem`; no
    part of it holds ``_``).

    >>> named_day("P-01_20260114_L_.3.45678-0967ce_f004.png")
    '20260114'
    """
    return overlay.split("_")[-4]


def overlay_filename(record: ImageRecord, frame_index: int) -> str:
    """Overlay file name of one frame: ``<overlay_stem>_f<frame, 3 digits>.png``."""
    stem = overlay_stem(
        record.sop_instance_uid,
        patient_id=record.patient_id,
        study_date=record.study_date,
        laterality=record.laterality,
    )
    return f"{stem}_f{frame_index:03d}.png"


# every row filtered against the row above ("up"): an overlay's rows come in repeated pairs
# (pixels upscaled), which this filter turns into zeros; zlib then looks for runs only (Z_RLE,
# where the level does not matter). On the demo's 84 overlays: 10.3 ms and 207 kB a file, against
# 13.3 ms and 193 kB at level 3 with every match searched (Pillow at level 3, which tries every
# filter on every row, was twice that time); OpenCV before 4.10 has no filter option (then its default).
_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
if hasattr(cv2, "IMWRITE_PNG_FILTER"):
    _PNG += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]


def write_overlay(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB overlay as PNG atomically (temporary file in the same folder, then rename)."""
    return write_image(Path(path), rgb, ".png", _PNG)


#: Folder of the follicles' crops, inside ``overlays/``.
CROPS = "crops"
#: Folder inside overlays/ of the reviewed copies (report/reviewed.py).
REVIEWED = "reviewed"
#: Folder inside overlays/ of whole first frames for side decisions (report/whole_frames.py).
WHOLE_FRAMES = "frames"
#: Side of a follicle's crop (``crops/``): two and a half times its longest diameter on the
#: overlay, within these bounds, yet at least :data:`CROP_FIT` times it (the whole outline: an
#: 18 mm follicle at 0.07 mm/px, 514 px long on the overlay, lost its outline's ends in a 480 px
#: crop; one of 22 mm showed no outline at all), then scaled down to at most :data:`CROP_PX` (by
#: half at most, so that outlines stay visible: the crop of a larger follicle is larger).
CROP_MIN_PX, CROP_MAX_PX, CROP_PX = 160, 480, 240
CROP_FIT = 1.3
# colour at full resolution (no 4:2:0 subsampling), so that thin coloured outlines stay sharp
_JPEG = [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]


def crop_filename(overlay_name: str, follicle_id: int) -> str:
    """``<overlay stem>_<follicle_id>.jpg``: a follicle's (or candidate's) crop of an overlay.

    >>> crop_filename("P1_20250101_L_0123abcd-a1b2c3_f004.png", 3)
    'P1_20250101_L_0123abcd-a1b2c3_f004_3.jpg'
    """
    return f"{Path(overlay_name).stem}_{follicle_id}.jpg"


def write_crops(folder: Path, overlay_name: str, rgb: np.ndarray, record: ImageRecord, frame_index: int,
                follicles: Sequence[Follicle], unsure: Sequence[Follicle] = ()) -> list[Path]:
    """A small JPEG around each of ``follicles`` and ``unsure`` candidates whose largest section
    is on this frame, cut from its rendered overlay ``rgb`` (outline and label included), for the
    report's review gallery. The overlay's label often lies outside the crop, or another's inside
    it: each crop is tagged with its own number (``4``, a candidate ``4?``) in its top left corner,
    and ticks on its sides point at the follicle's centre, none over the tag or a label.
    """
    layout = layout_for(record)
    s = max(layout.scale_row, layout.scale_col)  # output pixels to a source pixel, at most
    written = []
    for f, mark in [*((f, "") for f in follicles), *((f, "?") for f in unsure)]:
        if f.best.frame_index != frame_index:
            continue
        y, x = (int(v) for v in layout.to_overlay(f.best.centroid_row, f.best.centroid_col, record))
        d1 = f.best.d1_px * s
        half = int(max(np.clip(2.5 * d1, CROP_MIN_PX, CROP_MAX_PX), CROP_FIT * d1)) // 2
        top, left = max(layout.top, y - half), max(0, x - half)
        crop = rgb[top : min(layout.top + layout.height, y + half), left : min(layout.width, x + half)]
        if crop.size == 0:
            continue
        shrink = min(1.0, max(0.5, CROP_PX / max(crop.shape[:2])))
        if shrink < 1:
            crop = cv2.resize(crop, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        else:
            crop = crop.copy()
        tag_crop(crop, f"{f.follicle_id}{mark}", (int((y - top) * shrink), int((x - left) * shrink)))
        written.append(write_image(folder / crop_filename(overlay_name, f.follicle_id), crop, ".jpg", _JPEG))
    return written


#: Height of a crop's number tag, pixels of the stored crop (the report shows crops at half size).
CROP_TAG_PX = 30
_TICK = 12
_TICK_HALF = 3  # half a tick's width (5 px), and a pixel clear of what it must not cover
#: The smallest label box a crop finds (:func:`label_text`): half a label's height, a crop of
#: an overlay being scaled down by half at most.
_LABEL_MIN_PX = 10


def tag_crop(crop: np.ndarray, number: str, centre: tuple[int, int]) -> None:
    """Write ``number`` in a white box in the crop's top left corner and draw ticks on its four
    sides at the row and column of ``centre`` (in place); a tick that would cover the tag or a
    label of the overlay (:func:`label_text`) is left out."""
    text = label_text(crop)
    image = Image.fromarray(crop)
    draw = ImageDraw.Draw(image)
    font = overlay_font(CROP_TAG_PX - 8, bold=True)
    width = int(draw.textlength(number, font=font)) + 10
    draw.rectangle((0, 0, width, CROP_TAG_PX), fill=(255, 255, 255), outline=(0, 0, 0))
    draw.text((5, 3), number, font=font, fill=(0, 0, 0))
    text[: CROP_TAG_PX + 1, : width + 1] = True
    cy, cx = centre
    h, w = crop.shape[:2]
    ticks = [((0, cy), (_TICK, cy)), ((w - 1 - _TICK, cy), (w - 1, cy)), ((cx, 0), (cx, _TICK)),
             ((cx, h - 1 - _TICK), (cx, h - 1))]  # fmt: skip
    for (x0, y0), (x1, y1) in ticks:
        if text[max(0, y0 - _TICK_HALF) : y1 + _TICK_HALF + 1, max(0, x0 - _TICK_HALF) : x1 + _TICK_HALF + 1].any():
            continue
        for thickness, fill in ((5, (0, 0, 0)), (3, (255, 255, 255))):
            draw.line(((x0, y0), (x1, y1)), fill=fill, width=thickness)
    crop[...] = np.asarray(image)


def label_text(crop: np.ndarray) -> np.ndarray:
    """Where an overlay's crop shows a label, text included: each area filled
    :data:`~follicle_seg.report.overlay.LABEL_FILL` that is a rectangle once the text in it is
    filled too (nine tenths of it at least) and at least :data:`_LABEL_MIN_PX` high and wide; a
    label the crop cuts goes on past the crop's side, which closes its cut letters, and it needs
    that length along the side only (a few pixels of it in the crop were struck through by the
    tick there). Bright echoes are seldom exactly that white, and never so square: on the demo's
    overlays their areas fill 0.68 of their boxes at most, the labels 1.0."""
    white = colour_mask(crop, LABEL_FILL)
    labelled, _ = ndimage.label(white)
    text = np.zeros(white.shape, bool)
    for k, box in enumerate(ndimage.find_objects(labelled), start=1):
        part = labelled[box] == k
        top, bottom = int(box[0].start == 0), int(box[0].stop == white.shape[0])  # the sides cutting it
        left, right = int(box[1].start == 0), int(box[1].stop == white.shape[1])
        padded = np.pad(part, ((top, bottom), (left, right)), constant_values=True)
        filled = ndimage.binary_fill_holes(padded)[top : padded.shape[0] - bottom, left : padded.shape[1] - right]
        high, wide = (n >= _LABEL_MIN_PX for n in part.shape)
        if (high and wide or high and (left or right) or wide and (top or bottom)) and filled.mean() >= 0.9:
            text[box] = True
    return text


def write_image(path: Path, rgb: np.ndarray, ext: str = ".png", params: list[int] | None = None) -> Path:
    """Encode an RGB (or grey) ``uint8`` image (``ext``: ``.png``, ``.jpg``, with OpenCV's
    ``params``) and write it atomically."""
    pixels = np.ascontiguousarray(rgb, np.uint8)
    # OpenCV's channel swap: a twentieth of numpy's reversed copy's time on an overlay
    ok, data = cv2.imencode(ext, cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if pixels.ndim == 3 else pixels, params or [])
    if not ok:  # pragma: no cover - opencv failure
        raise OSError(f"could not encode {path.name}")
    return atomic_write_bytes(path, data.tobytes())


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "x"
