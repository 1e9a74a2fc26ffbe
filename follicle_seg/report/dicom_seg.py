"""DICOM Segmentation (SEG) of one single-frame ultrasound source image.

Two BINARY segments on the source frame's pixel grid: 1 ``ovary`` (the ovary including its
follicles, SCT 15497006) and 2 ``follicle`` (SCT 24162005 Ovarian follicle structure). The
segments overlap by design: the ovary is an anatomical structure that contains its follicles.

Multi-frame sources (cine sweeps) have no Frame of Reference, and highdicom 0.28 refuses a SEG
of a multi-frame image without one (highdicom issue #284). They are covered instead by the
Structured Report's planar outlines (SCOORD POLYLINE with ReferencedFrameNumber) on their key
frames; see :mod:`follicle_seg.report.dicom_sr`.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from follicle_seg import __version__
from follicle_seg.report.dicom_common import (
    ANATOMICAL_STRUCTURE,
    DEVICE_SERIAL,
    FOLLICLE,
    MANUFACTURER,
    MODEL_NAME,
    OVARY,
    algorithm_identification,
    derived_uid,
    read_source,
    save_atomic,
    strip_identity,
)
from follicle_seg.types import FOLLICLE as FOLLICLE_LABEL
from follicle_seg.types import OVARY as OVARY_LABEL

SEG_SERIES_NUMBER = 900
SEGMENT_LABELS = {1: "ovary", 2: "follicle"}


def segment_masks(labels: np.ndarray) -> np.ndarray:
    """Boolean segment masks ``(rows, columns, 2)`` from a 0/1/2 label map.

    Segment 1 (ovary) is every ovary or follicle pixel, segment 2 (follicle) every follicle pixel.

    Examples
    --------
    >>> segment_masks(np.array([[0, 1, 2]], np.uint8))[0].tolist()
    [[False, False], [True, False], [True, True]]
    """
    return np.stack(
        [(labels == OVARY_LABEL) | (labels == FOLLICLE_LABEL), labels == FOLLICLE_LABEL], axis=-1
    )


def seg_supported(source: Dataset) -> bool:
    """Whether a SEG can be written for this source: single-frame images only (module docstring)."""
    return int(source.get("NumberOfFrames", 1) or 1) == 1


def build_seg(source: Dataset, labels: np.ndarray) -> hd.seg.Segmentation:
    """Build the Segmentation dataset of ``labels`` (rows x columns, values 0/1/2) on ``source``.

    Raises
    ------
    ValueError
        When the source is multi-frame, or ``labels`` does not match the source frame's
        Rows (0028,0010) x Columns (0028,0011) or holds values other than 0, 1, 2.
    """
    if not seg_supported(source):
        raise ValueError(
            "A SEG is only written for single-frame sources; cover multi-frame sweeps with the "
            "SR's planar outlines (dicom_sr.write_sr)."
        )
    labels = np.asarray(labels)
    shape = (int(source.Rows), int(source.Columns))
    if labels.shape != shape:
        raise ValueError(f"Label map shape {labels.shape} differs from the source frame {shape}.")
    if not np.isin(labels, (0, OVARY_LABEL, FOLLICLE_LABEL)).all():
        raise ValueError("Label map values must be 0 (background), 1 (ovary) or 2 (follicle).")
    algorithm = algorithm_identification()
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=SEGMENT_LABELS[number],
            segmented_property_category=ANATOMICAL_STRUCTURE,
            segmented_property_type=concept,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, concept in ((1, OVARY), (2, FOLLICLE))
    ]
    source_uid = str(source.SOPInstanceUID)
    content = labels.astype(np.uint8).tobytes()
    seg = hd.seg.Segmentation(
        source_images=[source],
        pixel_array=segment_masks(labels)[np.newaxis],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=derived_uid(source_uid, "SEG series"),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=derived_uid(source_uid, "SEG", content),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=__version__,
        device_serial_number=DEVICE_SERIAL,
        omit_empty_frames=False,
        series_description="follicle_seg segmentation",
    )
    # General Image module, Type 2C: required when the image has neither Image Orientation
    # (Patient) nor a Frame of Reference, as for a projection-free ultrasound frame.
    seg.PatientOrientation = source.get("PatientOrientation", "")
    strip_identity(seg)
    return seg


def write_seg(
    source_path: str | Path, labels: np.ndarray, out_path: str | Path, *, patient_id: str | None = None
) -> Path:
    """Write the DICOM SEG of a single-frame source image and return its path.

    Parameters
    ----------
    source_path
        The source ultrasound DICOM file (single frame).
    labels
        Label map on the full source frame, ``(Rows, Columns)``, 0 background, 1 ovary,
        2 follicle.
    out_path
        Output file; written atomically (temporary file then rename).
    patient_id
        Replaces the source's PatientID (the pseudonym of a ``--pseudonymize`` run).

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    ValueError
        See :func:`build_seg`.
    """
    source = read_source(source_path)
    if patient_id is not None:
        source.PatientID = patient_id
    seg = build_seg(source, labels)
    return save_atomic(seg, Path(out_path))

