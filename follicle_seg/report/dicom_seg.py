"""DICOM Segmentation (SEG) of one frame of an ultrasound source image.

Two BINARY segments on the source frame's pixel grid: 1 ``ovary`` (the ovary including its
follicles, SCT 15497006) and 2 ``follicle`` (SCT 24162005 Ovarian follicle structure). The
segments overlap by design: the ovary is an anatomical structure that contains its follicles.

A multi-frame source (a cine sweep) gets one SEG per key frame: it has no Frame of Reference,
and highdicom 0.28 segments a multi-frame image only within one (highdicom issue #284), so the
SEG is built on a single-frame view of the source (its header, US Image Storage) and its
references are then made to name the cine and the frame (SOP Class US Multi-frame, Referenced
Frame Number), as PS3.3's Image SOP Instance Reference macro allows. Every source is read so
(a one-frame file of a multi-frame class, the retired ultrasound classes highdicom does not
know), its own class named in the references. The Structured Report's
planar outlines cover the same frames (:mod:`follicle_seg.report.dicom_sr`).
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
    FOLLICLE_CODE,
    LATERALITY_CODES,
    MANUFACTURER,
    derived_series_description,
    derived_series_uid,
    made_by,
    MODEL_NAME,
    OVARY_CODE,
    US_IMAGE,
    algorithm_identification,
    derived_uid,
    header_view,
    n_frames,
    keep_source_charset,
    patient_key,
    read_source,
    Source,
    refer_to_source,
    save_atomic,
    source_instance_number,
    strip_identity,
)
from follicle_seg.types import FOLLICLE as FOLLICLE_LABEL
from follicle_seg.types import Network
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
    # stacked plane by plane, seen as (rows, columns, 2): highdicom's overlap test (a sum over the
    # last axis) and its copy of each segment then read whole planes, a third of a SEG's time less
    return np.stack(
        [(labels == OVARY_LABEL) | (labels == FOLLICLE_LABEL), labels == FOLLICLE_LABEL]
    ).transpose(1, 2, 0)


def seg_labels(seg: Dataset) -> np.ndarray:
    """The 0/1/2 label map a SEG of :func:`build_seg` holds (:func:`segment_masks` undone)."""
    planes = seg.pixel_array.reshape(-1, int(seg.Rows), int(seg.Columns))
    numbers = [int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) for f in seg.PerFrameFunctionalGroupsSequence]
    segments = dict(zip(numbers, planes))
    return np.where(segments[2] > 0, FOLLICLE_LABEL, np.where(segments[1] > 0, OVARY_LABEL, 0)).astype(np.uint8)


#: What a single ultrasound frame does not carry of its cine's header.
_CINE_ONLY = ("NumberOfFrames", "FrameIncrementPointer", "FrameTime", "FrameTimeVector", "CineRate")


def build_seg(
    source: Dataset, labels: np.ndarray, frame_index: int = 0, *, pseudonymised: bool = False,
    network: Network | None = None, laterality: str | None = None, reviewed: bool = False,
) -> hd.seg.Segmentation:
    """Build the Segmentation dataset of ``labels`` (rows x columns, values 0/1/2) on frame
    ``frame_index`` (0-based) of ``source`` (identity as :func:`~follicle_seg.report.dicom_common.strip_identity`
    leaves it), its segments' algorithm the ``network`` that made them; of the ``laterality``
    (``L``, ``R``) ingestion found, each segment's property type modified Left or Right (an
    ovary is a paired organ: the SR said the side, the SEG did not). ``reviewed``: the network's
    segments as a review decided them (:mod:`follicle_seg.report.reviewed_seg`), algorithm type
    SEMIAUTOMATIC (the network's, with a person's decisions) and another SOP Instance UID.

    Raises
    ------
    ValueError
        When ``frame_index`` is not a frame of the source, or ``labels`` does not match the
        source frame's Rows (0028,0010) x Columns (0028,0011) or holds values other than 0, 1, 2.
    """
    if not 0 <= frame_index < n_frames(source):
        raise ValueError(f"Frame {frame_index} is not a frame of the source ({n_frames(source)} frame(s)).")
    labels = np.asarray(labels)
    shape = (int(source.Rows), int(source.Columns))
    if labels.shape != shape:
        raise ValueError(f"Label map shape {labels.shape} differs from the source frame {shape}.")
    if not np.isin(labels, (0, OVARY_LABEL, FOLLICLE_LABEL)).all():
        raise ValueError("Label map values must be 0 (background), 1 (ovary) or 2 (follicle).")
    algorithm = algorithm_identification(network)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=SEGMENT_LABELS[number],
            segmented_property_category=ANATOMICAL_STRUCTURE,
            segmented_property_type=concept,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC if reviewed
            else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, concept in ((1, OVARY_CODE), (2, FOLLICLE_CODE))
    ]
    if laterality in LATERALITY_CODES:
        for description in descriptions:
            description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                hd.sr.CodedConcept.from_code(LATERALITY_CODES[laterality])]  # fmt: skip
    source_uid = str(source.SOPInstanceUID)
    cine = n_frames(source) > 1
    content = (labels.astype(np.uint8).tobytes() + (f"frame {frame_index}".encode() if cine else b"")
               + (f"side {laterality}".encode() if laterality in LATERALITY_CODES else b"") + made_by(network)
               + (b"reviewed" if reviewed else b""))
    patient = patient_key(source, pseudonymised)
    series = derived_series_uid("SEG", source, patient)
    # built on the frame as a single-frame US image; its references then name the source's own
    # class (a cine, a one-frame multi-frame file, a retired class) and frame
    view = header_view(source, US_IMAGE)
    for keyword in _CINE_ONLY:
        view.pop(keyword, None)
    seg = hd.seg.Segmentation(
        source_images=[view],
        pixel_array=segment_masks(labels)[np.newaxis],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series,
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=derived_uid(source_uid, f"SEG {patient} in {series}", content),
        # a cine's key frames sort by frame in a viewer, stills as their sources
        instance_number=frame_index + 1 if cine else source_instance_number(source),
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=__version__,
        device_serial_number=DEVICE_SERIAL,
        omit_empty_frames=False,
        # a cine's SEGs are a series of their own: which file of the source series it is
        series_description=derived_series_description("segmentation", source)
        + (f", image {source_instance_number(source)}" if cine else ""),
    )
    # highdicom draws the Dimension Organization UID at random: a rerun wrote other bytes under
    # the same SOP Instance UID. Derived like the instance's own.
    dimensions = derived_uid(source_uid, f"SEG dimensions {patient}", content)
    for item in (*seg.DimensionOrganizationSequence, *seg.DimensionIndexSequence):
        item.DimensionOrganizationUID = dimensions
    # General Image module, Type 2C: required when the image has neither Image Orientation
    # (Patient) nor a Frame of Reference, as for a projection-free ultrasound frame.
    seg.PatientOrientation = source.get("PatientOrientation", "")
    refer_to_source(seg, source, frame_index + 1 if cine else None)
    strip_identity(seg, pseudonymised=pseudonymised)
    return seg


def write_seg(
    source: str | Path | Source, labels: np.ndarray, out_path: str | Path, *, patient_id: str | None = None,
    frame_index: int = 0, pseudonymised: bool = False, network: Network | None = None,
    laterality: str | None = None, reviewed: bool = False,
) -> Path:
    """Write the DICOM SEG of one frame of a source image and return its path.

    Parameters
    ----------
    source
        The source ultrasound DICOM file, or it as :func:`~follicle_seg.report.dicom_common.read_source`
        read it (for all the objects of one file).
    labels
        Label map on the full source frame, ``(Rows, Columns)``, 0 background, 1 ovary,
        2 follicle.
    out_path
        Output file; written atomically (temporary file then rename).
    patient_id
        Replaces the source's PatientID (the pseudonym of a ``--pseudonymize`` run).
    frame_index
        The frame segmented (0-based; a cine's key frame).
    pseudonymised
        A ``--pseudonymize`` run's: the study's accession number, referring physician and ID
        written empty too.
    network
        The network that made ``labels`` (the segments' Algorithm Identification); without it,
        this package's version.
    laterality
        The image's side as ingestion found it, or a review gave it (``L``, ``R``; else none is
        written).
    reviewed
        The segments as a review decided them (:func:`build_seg`).

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    ValueError
        See :func:`build_seg`.
    """
    source = source if isinstance(source, Source) else read_source(source)
    if patient_id is not None:
        source.header.PatientID = patient_id
    seg = build_seg(source.header, labels, frame_index, pseudonymised=pseudonymised, network=network,
                    laterality=laterality, reviewed=reviewed)
    keep_source_charset(seg, source)
    return save_atomic(seg, Path(out_path))

