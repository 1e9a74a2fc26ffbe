"""Annotated frames for fine-tuning from DICOM: source images and the DICOM SEG objects on them.

A site's annotations often live in its PACS rather than in PNG files: outlines drawn in a viewer
(3D Slicer, OHIF, ...) and stored as DICOM Segmentation objects, or this pipeline's own SEG
corrected by a sonographer. A folder holding such SEG objects (binary, fractional: a pixel is
in a segment from half the maximum value, or label map) and the source images they reference is
read here into the same pairs as ``images/`` + ``masks/`` PNG files
(:func:`follicle_seg.model.data.read_image_pairs`), with the pixel size of each source's
ultrasound region instead of a ``spacing.csv``.

Segments are read by what they are: an ovary (SCT 15497006 Ovary, or a label naming the ovary)
or a follicle (SCT 24162005 Ovarian follicle structure, or a label naming a follicle; either
code wins over the label, which is read under any other code, such as 3D Slicer's generic SCT
85756007 Tissue: :func:`segment_class`); other segments (a uterus, a cyst) are background here.
A SEG with ovary and follicle segments gives labels 1 and 2 (follicles over the ovary); one with
only ovary segments is an outline whose follicles were not drawn (label 3, trained with the
marginal loss of :mod:`follicle_seg.model.loss`). Source images are read by the pipeline's own ingestion, so a
frame is cropped to the ultrasound region and converted to grey exactly as in a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from follicle_seg.errors import RejectedInput, brief
from follicle_seg.io import discover, iter_frames, read_record
from follicle_seg.io.header import read_dicom
from follicle_seg.model.data import Pair, follicles_without_ovary
from follicle_seg.model.loss import OUTLINE
from follicle_seg.report.dicom_common import FOLLICLE_CODE, OVARY_CODE
from follicle_seg.types import FOLLICLE as FOLLICLE_LABEL
from follicle_seg.types import OVARY as OVARY_LABEL
from follicle_seg.types import ImageRecord

#: How a segment was read, in the refusal that lists them.
_READ_AS: dict[int | None, str] = {OVARY_LABEL: "ovary", FOLLICLE_LABEL: "follicle", None: "neither"}


def segment_class(code_value: str, scheme: str, label: str) -> int | None:
    """The class a SEG segment stands for: 1 ovary, 2 follicle, ``None`` for anything else.

    >>> segment_class("15497006", "SCT", "Left"), segment_class("T-1234", "99X", "Follicle 3")
    (1, 2)
    >>> segment_class("35039007", "SCT", "Uterus") is None
    True

    A known code wins over the label: an ovary segment labelled "Left ovary with follicles" is
    the ovary. The label is read only when the code is not one of the two (3D Slicer's generic
    "Tissue", SCT 85756007, for one): a cyst or vessel is neither; a label naming a follicle is a
    follicle ("Ovarian follicle 2", "Right ovary follicle"), unless it is the ovary with its
    follicles ("Left ovary with follicles"); else one naming the ovary ("Ovarian tissue") is the
    ovary.

    >>> segment_class("15497006", "SCT", "Left ovary with follicles")
    1
    >>> labels = ("Left ovary with follicles", "Ovarian follicle 2", "Right ovary follicle 1", "Follicle of right ovary",
    ...           "Ovarian tissue", "Ovarian cyst", "Paraovarian cyst", "Ovarian artery", "Uterus")
    >>> [segment_class("85756007", "SCT", label) for label in labels]
    [1, 2, 2, 2, 1, None, None, None, None]
    """
    code = (scheme, code_value)
    if code == (FOLLICLE_CODE.scheme_designator, FOLLICLE_CODE.value):
        return FOLLICLE_LABEL
    if code == (OVARY_CODE.scheme_designator, OVARY_CODE.value):
        return OVARY_LABEL
    label = label.lower()
    if re.search(r"cyst|arter|\bvein|vessel|\bpara", label):  # an ovarian cyst, a paraovarian one, a vessel
        return None
    if "follicle" in label and not re.search(r"ovar(y|ies)\b.*(\b(with|incl\w*|and)\b|\+)", label):
        return FOLLICLE_LABEL  # "Right ovary follicle 2", "Follicle of right ovary"
    if "ovar" in label:  # "Left ovary with follicles", "Ovarian tissue"
        return OVARY_LABEL
    return None


def read_dicom_seg_pairs(folder: Path) -> list[Pair]:
    """Every frame annotated by a DICOM SEG under ``folder``, with its source under ``folder``.

    Returns
    -------
    list
        ``(name, pixels uint8, labels uint8, spacing_row_mm, spacing_col_mm)`` on the source's
        ultrasound region, sorted by name (the source's SOP Instance UID, ``<uid>_f<frame>`` for
        a cine's frame (0-based, 3 digits); each other outlined pane of a dual display
        ``..._pane<k>``, on its own region); the spacing is ``None`` for an uncalibrated source.

    Raises
    ------
    RejectedInput
        No SEG under ``folder``; a SEG that cannot be read, has no ovary or follicle segment,
        has follicles without an ovary, or references a source that is missing, of another
        size or rejected by ingestion, or a cine without naming the frames it outlines (each
        outlined frame is a pair); two SEGs on one frame.
    """
    folder = Path(folder)
    segs, sources = [], {}
    for path in discover([folder]):
        try:
            ds = read_dicom(path, stop_before_pixels=True)
        except InvalidDicomError:  # not DICOM (notes, thumbnails): not part of the annotations
            continue
        except (OSError, ValueError, EOFError) as exc:  # unreadable: an annotation must not vanish unsaid
            raise RejectedInput(str(path), f"cannot read the file: {brief(exc)}") from None
        if ds.get("SOPClassUID") in hd.seg.SOP_CLASS_UIDS:  # a SEG, or a label map SEG
            segs.append(path)
        elif "SOPInstanceUID" in ds:
            sources[str(ds.SOPInstanceUID)] = path
    if not segs:
        raise RejectedInput(str(folder), "no DICOM SEG objects found (expected images/ and masks/ "
                                         "PNG pairs, or DICOM images with DICOM SEG objects on them).")  # fmt: skip
    pairs: dict[str, Pair] = {}
    annotated_by: dict[str, Path] = {}
    for seg_path in segs:
        for pair in _seg_pairs(seg_path, sources):
            if pair[0] in pairs:
                raise RejectedInput(str(seg_path), f"source {pair[0]} is annotated by {annotated_by[pair[0]]} "
                                                   "too; keep one SEG per image.")  # fmt: skip
            pairs[pair[0]] = pair
            annotated_by[pair[0]] = seg_path
    return [pairs[name] for name in sorted(pairs)]


def _seg_pairs(seg_path: Path, sources: dict[str, Path]) -> list[Pair]:
    try:
        seg = hd.seg.Segmentation.from_dataset(read_dicom(seg_path), copy=False)  # segread, without preamble too
    except Exception as exc:  # highdicom raises many kinds on a SEG it cannot take
        raise RejectedInput(str(seg_path), f"cannot read the SEG: {brief(exc)}") from None
    classes, readings = {}, []
    for number in seg.segment_numbers:
        description = seg.get_segment_description(number)
        code = description.segmented_property_type
        classes[number] = segment_class(code.value, code.scheme_designator, description.segment_label)
        readings.append(f"{number} {description.segment_label!r} ({code.scheme_designator} {code.value} "
                        f"{code.meaning!r}): {_READ_AS[classes[number]]}")
    ovary = [n for n, c in classes.items() if c == OVARY_LABEL]
    follicle = [n for n, c in classes.items() if c == FOLLICLE_LABEL]
    if not ovary:
        why = "follicle segments without an ovary segment: outline the ovary too" if follicle else \
            "no segment is an ovary (SCT 15497006) or a follicle (SCT 24162005), nor labelled as one"  # fmt: skip
        more = f" and {len(readings) - 10} more" if len(readings) > 10 else ""
        raise RejectedInput(str(seg_path), f"{why}; its segments read: {', '.join(readings[:10])}{more}.")
    pairs = []
    for _, _, sop in seg.get_source_image_uids():
        if sop not in sources:
            raise RejectedInput(str(seg_path), f"its source image {sop} is not in the folder.")
        record = read_record(sources[sop])  # RejectedInput names the source and the reason
        frames: Sequence[int | None] = [None]
        if record.n_frames != 1:  # a cine: the SEG names the frames it outlines (this pipeline's: one key frame)
            named = _referenced_frames(seg, sop)
            if not named or not 1 <= min(named) <= max(named) <= record.n_frames:
                raise RejectedInput(str(seg_path), f"its source {sources[sop].name} has {record.n_frames} frames "
                                                   "and it names none of them (Referenced Frame Number)"
                                                   f"{f': {sorted(named)}' if named else ''}.")  # fmt: skip
            frames = sorted(named)
        for frame in frames:
            try:
                masks = _segment_masks(seg, sop, ovary + follicle, frame)
            except Exception as exc:  # highdicom decodes the frames only now: pixel data cut short, ...
                raise RejectedInput(str(seg_path), f"cannot read the SEG's segments: {brief(exc)}") from None
            if masks.shape[:2] != (record.rows, record.columns):
                raise RejectedInput(str(seg_path), f"its frames are {masks.shape[:2]}, its source's "
                                                   f"{(record.rows, record.columns)}.")  # fmt: skip
            full = np.zeros(masks.shape[:2], np.uint8)
            full[masks[..., : len(ovary)].any(axis=-1)] = OVARY_LABEL if follicle else OUTLINE
            full[masks[..., len(ovary) :].any(axis=-1)] = FOLLICLE_LABEL
            made = _pane_pairs(record, sop, full, 0 if frame is None else frame - 1)
            if bare := [name for name, _, labels, *_ in made if follicles_without_ovary(labels)]:  # (each pane's)
                where = f"frame {frame} of {sources[sop].name}" if frame is not None else sources[sop].name
                pane = f" (pane {bare[0].partition('_pane')[2] or 1})" if record.n_panes > 1 else ""
                raise RejectedInput(str(seg_path), f"follicles without an ovary on {where}{pane}: the ovary segment is "
                                                   "drawn there too; outline the ovary around them.")  # fmt: skip
            pairs += made
    return pairs


def _pane_pairs(record: ImageRecord, sop: str, full: np.ndarray, index: int) -> list[Pair]:
    """The pairs of frame ``index`` of source ``sop`` (``record``) labelled ``full`` (the whole
    frame): its region, or each outlined pane of a dual display on its own region."""
    pairs = []
    for frame in iter_frames(record, start=index, stop=index + 1, panes=True):
        pane = frame.record
        c0, r0, c1, r1 = pane.region
        labels = full[r0 : r1 + 1, c0 : c1 + 1]
        if record.n_panes > 1 and not labels.any():
            continue  # a pane nobody outlined is not annotated, not empty
        cal = pane.calibration
        name = sop + (f"_f{index:03d}" if record.n_frames > 1 else "") + (f"_pane{pane.pane + 1}" if pane.pane else "")
        pairs.append((name, frame.pixels, labels, cal.spacing_row_mm, cal.spacing_col_mm))
    return pairs


def _segment_masks(seg: hd.seg.Segmentation, sop: str, segments: list[int], frame: int | None) -> np.ndarray:
    """The masks ``(rows, columns, segments)`` of ``segments`` on source ``sop`` (on its 1-based
    ``frame``, a cine's); a fractional SEG's pixel is in a segment from half its maximum value
    (probability or occupancy)."""
    fractional = seg.segmentation_type == hd.seg.SegmentationTypeValues.FRACTIONAL
    dtype = np.float32 if fractional else bool
    if frame is None:
        masks = seg.get_pixels_by_source_instance([sop], segment_numbers=segments, dtype=dtype)[0]
    else:
        masks = seg.get_pixels_by_source_frame(sop, [frame], segment_numbers=segments, dtype=dtype)[0]
    return masks >= 0.5 if fractional else masks


def _referenced_frames(seg: hd.seg.Segmentation, sop: str) -> set[int]:
    """The 1-based frames of source ``sop`` that ``seg``'s frames outline, as their derivation
    references say (its top-level source references when its frames give none)."""
    per_frame = [item for group in seg.get("PerFrameFunctionalGroupsSequence", [])
                 for derivation in group.get("DerivationImageSequence", [])
                 for item in derivation.get("SourceImageSequence", [])]  # fmt: skip
    return _frame_numbers(per_frame, sop) or _frame_numbers(seg.get("SourceImageSequence", []), sop)


def _frame_numbers(items: Iterable[Any], sop: str) -> set[int]:
    """The Referenced Frame Numbers of the source references ``items`` to ``sop``."""
    numbers: set[int] = set()
    for item in items:
        value = item.get("ReferencedFrameNumber")
        if str(item.get("ReferencedSOPInstanceUID", "")) == sop and value not in (None, ""):
            numbers.update(int(n) for n in (value if isinstance(value, MultiValue) else [value]))
    return numbers
