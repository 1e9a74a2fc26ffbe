"""DICOM Structured Report: TID 1500 Measurement Report of one analysed source image.

Content, built with :mod:`highdicom.sr` as a Comprehensive SR:

* one TID 1410 Planar ROI group per follicle: finding type SCT 24162005 (Ovarian follicle
  structure), finding site the ovary with its laterality, tracking identifier
  ``"follicle <follicle_id>"`` (the ``follicle_id`` of ``follicles.csv``), the follicle's outline
  on its largest section as SCOORD POLYLINE referencing the source image and, for multi-frame
  sources, the frame (ReferencedFrameNumber, 1-based); measurements Long axis (d1), Short axis
  (d2), Diameter with derivation Mean, Area, and Volume when the sweep gave it;
* one group for the ovary: Long axis, Short axis, Area, Volume (when known) and the number of
  follicles of the image; of an image where no ovary was found, the qualitative evaluation
  ``Ovary found in this image: No`` (its count of 0 is not of an ovary seen empty); a TID 1411
  group referencing the SEG's ovary segment when a SEG is given, else a TID 1410 group on the
  ovary outline;
* of a still that is a frame of a sweep stored one file per frame (``in_sweep``,
  :func:`follicle_seg.series.sweep_places`): each follicle's tracking identifier says the file's
  place, ``"follicle 2, file 3 of 6 of a sweep"``, and the ovary's count is the
  ``"Number of follicle sections in this file of a sweep"``: a follicle seen on several files of
  the sweep is in each one's SR (the tables track it across them and count it once), so these
  counts are not a number of follicles to add up;
* a follicle without an outline gets a TID 1501 group referencing the source image (and frame);
* of an image as a review decided it (``verified_by``, :mod:`follicle_seg.report.reviewed_sr`):
  VerificationFlag VERIFIED, each reviewer a Verifying Observer, and the SRs it replaces (the
  network's, an earlier review's) in the Predecessor Documents Sequence (``predecessors``).

Units are UCUM ``mm``, ``mm2``, ``ml``. Uncalibrated images (no mm per pixel) carry no length or
area measurement at all: the outlines (in pixels) and the follicle count are still written, each
group says why with the qualitative evaluation ``Image calibration: Uncalibrated: no mm per
pixel, sizes not measured`` (``99FSEG``), and the report's ``follicles.csv`` says
``calibrated = false``. Pixel units are deliberately not
used: a measurement in pixels would look like a physical size to a reader that ignores units.

SCOORD coordinates follow PS3.3 C.18.6.1.2: the top-left corner of the top-left pixel is
(0, 0), so the centre of source pixel ``(row r, column c)`` is ``(c + 0.5, r + 0.5)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from follicle_seg import __version__
from follicle_seg.series import place_words
from follicle_seg.report.dicom_common import (
    CALIBRATION,
    FOLLICLE_CODE,
    FOLLICLE_COUNT,
    FOLLICLE_SECTIONS,
    FOLLICLES_UNIT,
    LATERALITY_CODES,
    MANUFACTURER,
    derived_series_description,
    derived_series_uid,
    made_by,
    ML,
    MM,
    MM2,
    OVARY_CODE,
    OVARY_FOUND,
    STAND_INS,
    UNCALIBRATED,
    algorithm_parameters,
    declare_private_scheme,
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
    spells,
    strip_identity,
)
from follicle_seg.tracking import DIAMETER_DECIMALS
from follicle_seg.types import Follicle, ImageResult, Network, Section

SR_SERIES_NUMBER = 901
OVARY_OUTLINE_ID = 0

#: ``outlines[frame_index]`` = list of ``(follicle_id or 0 for the ovary, polygon)``, the polygon
#: ``(N, 2)`` in source ``(column, row)`` pixel-centre coordinates.
Outlines = Mapping[int, Sequence[tuple[int, np.ndarray]]]

_Group = (
    hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations
    | hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations
    | hd.sr.MeasurementsAndQualitativeEvaluations
)


def follicle_tracking_id(follicle_id: int, in_sweep: tuple[int, int] | None = None) -> str:
    """Tracking Identifier text of a follicle: ``"follicle <follicle_id>"``, and the place of its
    file in a sweep stored one file per frame.

    >>> follicle_tracking_id(2), follicle_tracking_id(2, (2, 6))
    ('follicle 2', 'follicle 2, file 3 of 6 of a sweep')
    """
    return f"follicle {follicle_id}" + (f", {place_words(in_sweep)}" if in_sweep else "")


def build_sr(
    source: Dataset,
    result: ImageResult,
    *,
    seg: Dataset | None,
    outlines: Outlines,
    pseudonymised: bool = False,
    network: Network | None = None,
    in_sweep: tuple[int, int] | None = None,
    verified_by: Sequence[str] = (),
    predecessors: Sequence[Dataset] = (),
) -> hd.sr.ComprehensiveSR:
    """Build the measurement report of ``result`` on ``source`` (see the module docstring;
    identity as :func:`~follicle_seg.report.dicom_common.strip_identity` leaves it;
    ``in_sweep``, ``verified_by`` and ``predecessors`` as :func:`sr_dataset`'s).

    Raises
    ------
    ValueError
        When ``result`` is not an analysed image (status other than ``"ok"``), or ``seg`` does
        not reference ``source``.
    """
    if result.status != "ok":
        raise ValueError(f"No SR for an image with status {result.status!r}.")
    # a retired class highdicom does not know: built on a stand-in, the references then renamed
    stand_in = STAND_INS.get(str(source.SOPClassUID))
    original, source = source, (header_view(source, stand_in) if stand_in else source)
    multi_frame = n_frames(source) > 1
    laterality = result.record.laterality if result.record is not None else "U"
    site = hd.sr.FindingSite(OVARY_CODE, laterality=LATERALITY_CODES.get(laterality))
    algorithm = (
        hd.sr.AlgorithmIdentification(name="follicle_seg", version=__version__) if network is None
        else hd.sr.AlgorithmIdentification(name="follicle_seg network", version=network.version,
                                           parameters=[f"{k}={v}" for k, v in algorithm_parameters(network).items()])
    )  # fmt: skip
    source_uid = str(source.SOPInstanceUID)
    # an uncalibrated image's groups say why they hold no size (else read as sizes left out)
    uncalibrated = result.record is not None and not result.record.calibration.calibrated
    evaluations = [hd.sr.QualitativeEvaluation(CALIBRATION, UNCALIBRATED)] if uncalibrated else []
    # built once: written in the groups and digested for the UID
    measured = [_follicle_measurements(f) for f in result.follicles]
    ovary_measured = _ovary_measurements(result, in_sweep is not None)
    groups: list[_Group] = []
    for follicle, measurements in zip(result.follicles, measured):
        polygon = _find_outline(outlines, follicle.best.frame_index, follicle.follicle_id)
        groups.append(
            _group(
                source,
                tracking=hd.sr.TrackingIdentifier(
                    uid=derived_uid(source_uid, follicle_tracking_id(follicle.follicle_id)),
                    identifier=follicle_tracking_id(follicle.follicle_id, in_sweep),
                ),
                finding=FOLLICLE_CODE,
                site=site,
                algorithm=algorithm,
                measurements=measurements,
                evaluations=evaluations,
                frame=follicle.best.frame_index if multi_frame else None,
                polygon=polygon,
                segment=None,
            )
        )
    # the ovary group is always written: "0 follicles" on an image is a finding too
    ovary_frame = result.ovary.frame_index if result.ovary is not None else None
    polygon = (
        _find_outline(outlines, ovary_frame, OVARY_OUTLINE_ID) if ovary_frame is not None else None
    )
    segment = _ovary_segment(seg, source) if seg is not None and result.ovary is not None else None
    not_found = [hd.sr.QualitativeEvaluation(OVARY_FOUND, codes.SCT.No)] if result.ovary is None else []
    groups.append(
        _group(
            source,
            tracking=hd.sr.TrackingIdentifier(uid=_ovary_tracking_uid(source, source_uid, laterality),
                                              identifier=f"ovary {laterality}"),
            finding=OVARY_CODE,
            site=site,
            algorithm=algorithm,
            measurements=ovary_measured,
            evaluations=evaluations + not_found,
            frame=ovary_frame if multi_frame else None,
            polygon=polygon,
            segment=segment,
        )
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=derived_uid("follicle_seg", "device"),
            name="follicle_seg",
            manufacturer_name=MANUFACTURER,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.USPelvis,
        imaging_measurements=groups,
    )
    evidence = [source] + ([seg] if seg is not None else [])
    # (a still's UID as it was; a sweep file's count concept too: it was ``follicle-sections``)
    items = _digest_items(result, measured, ovary_measured, outlines, seg) + (
        [(in_sweep, FOLLICLE_SECTIONS.value)] if in_sweep else [])
    items += [(laterality, tuple(verified_by))] if verified_by else []  # (a side given in review changes no figure)
    patient = patient_key(source, pseudonymised)
    series = derived_series_uid("SR", source, patient)

    def uid_naming(previous: Sequence[Dataset]) -> str:  # the SRs it replaces are its content too (A -> B -> A)
        named = [[str(p.SOPInstanceUID) for p in previous]] if previous else []
        return derived_uid(source_uid, f"SR {patient} in {series}",
                           hashlib.sha256(repr(items + named).encode() + made_by(network)).digest())

    if predecessors and uid_naming(predecessors[:-1]) == predecessors[-1].SOPInstanceUID:
        predecessors = predecessors[:-1]  # the SR it replaces is this one (a run stopped before its note)
    uid = uid_naming(predecessors)
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=series,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=uid,
        instance_number=source_instance_number(source),
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description=derived_series_description("measurements", source),
        previous_versions=list(predecessors) or None,
    )
    declare_private_scheme(sr)
    if verified_by:
        _verify(sr, verified_by, pseudonymised=pseudonymised)
    if stand_in:
        refer_to_source(sr, original)
    strip_identity(sr, pseudonymised=pseudonymised)
    return sr


def write_sr(source: str | Path | Source, result: ImageResult, *, seg_path: Path | None, out_path: str | Path,
             outlines: Outlines, pseudonymised: bool = False, network: Network | None = None,
             in_sweep: tuple[int, int] | None = None, verified_by: Sequence[str] = (),
             predecessors: Sequence[Dataset] = ()) -> Path:
    """Write the TID 1500 measurement report of one analysed image (:func:`sr_dataset`, the SEG
    it refers to read from ``seg_path``) to ``out_path``, atomically, and return its path."""
    seg = read_source(seg_path).header if seg_path is not None else None
    sr = sr_dataset(source, result, seg=seg, outlines=outlines, pseudonymised=pseudonymised, network=network,
                    in_sweep=in_sweep, verified_by=verified_by, predecessors=predecessors)
    return save_atomic(sr, Path(out_path))


def sr_dataset(
    source: str | Path | Source,
    result: ImageResult,
    *,
    seg: Dataset | None,
    outlines: Outlines,
    pseudonymised: bool = False,
    network: Network | None = None,
    in_sweep: tuple[int, int] | None = None,
    verified_by: Sequence[str] = (),
    predecessors: Sequence[Dataset] = (),
) -> hd.sr.ComprehensiveSR:
    """The TID 1500 measurement report of one analysed image.

    Parameters
    ----------
    source
        The source ultrasound DICOM file (single or multi-frame), or it as
        :func:`~follicle_seg.report.dicom_common.read_source` read it (for all the objects of one file).
    result
        The image's analysis (``status == "ok"``): its follicles and ovary section.
    seg
        The SEG written by :func:`follicle_seg.report.dicom_seg.write_seg` for this still, or
        ``None`` (a sweep's key-frame SEGs are not referenced by its ovary group).
    outlines
        ``outlines[frame_index]`` = list of ``(follicle_id, polygon)``, id 0 for the ovary,
        polygon ``(N, 2)`` in source ``(column, row)`` pixel-centre coordinates (for instance
        from ``cv2.findContours`` on the key frame's masks). Each follicle's outline is
        looked up on its best frame; a follicle without one gets a region-less group.
    pseudonymised
        A ``--pseudonymize`` run's: the study's accession number, referring physician and ID
        written empty too.
    network
        The network that made the results (the Algorithm Identification of every measurement);
        without it, this package's version.
    in_sweep
        Of a still that is a frame of a sweep stored one file per frame
        (:func:`follicle_seg.series.sweep_places`): its 0-based place and the sweep's number of
        files, which its follicles' tracking identifiers and its count say (module docstring).
    verified_by
        The reviewers whose decisions (``review.csv``) made ``result``: the report is then
        VERIFIED, each of them a Verifying Observer, and its SOP Instance UID another.
    predecessors
        The SRs this one replaces (of an image a review changed: the network's, and those earlier
        reviews wrote, in the order written): named in the Predecessor Documents Sequence (PS3.3
        C.17.2), so that a reader holding any of them knows which one is current. They enter its
        SOP Instance UID: a review gone back to earlier decisions (A -> B -> A) gets a UID of its
        own, not A's again with another list; the last of them left out where it is this SR
        already (written by a run stopped before the run state noted it).
    """
    source = source if isinstance(source, Source) else read_source(source)
    if result.record is not None:  # the pseudonym of a --pseudonymize run, else the same PatientID
        source.header.PatientID = result.record.patient_id
    sr = build_sr(source.header, result, seg=seg, outlines=outlines, pseudonymised=pseudonymised, network=network,
                  in_sweep=in_sweep, verified_by=verified_by, predecessors=predecessors)
    keep_source_charset(sr, source)
    return sr


def _verify(sr: Dataset, reviewers: Sequence[str], *, pseudonymised: bool = False) -> None:
    """Mark ``sr`` VERIFIED (and FINAL) by ``reviewers`` (PS3.3 C.17.2: each a Verifying Observer,
    at the report's content date and time; their organisation, Type 1, is not known:
    ``unknown``), named as ``review.csv`` names them (:func:`observer_name`), in UTF-8 when the
    source's character set cannot write a name; ``reviewer 1``, ``reviewer 2`` in a pseudonymised
    run, which names no person."""
    sr.VerificationFlag = "VERIFIED"
    sr.PreliminaryFlag = "FINAL"
    observers = []
    for k, name in enumerate(reviewers, start=1):
        item = Dataset()
        item.VerifyingObserverName = f"reviewer {k}" if pseudonymised else observer_name(name)
        item.VerifyingObserverIdentificationCodeSequence = []
        item.VerifyingOrganization = "unknown"
        item.VerificationDateTime = f"{sr.ContentDate}{sr.ContentTime}"
        observers.append(item)
    sr.VerifyingObserverSequence = observers
    names = "".join(str(o.VerifyingObserverName) for o in observers)
    if not spells(sr.get("SpecificCharacterSet"), names):  # a name the source's repertoire lacks
        sr.SpecificCharacterSet = "ISO_IR 192"


def observer_name(name: str) -> str:
    r"""A reviewer's name as one DICOM person name: a backslash (a value separator: two names) a
    space, control characters left out, 64 characters at most.

    >>> observer_name("Zoë Müller"), observer_name("A\\B"), observer_name("\t")
    ('Zoë Müller', 'A B', 'reviewer')
    """
    plain = "".join(c for c in name.replace("\\", " ") if c.isprintable()).strip()
    return plain[:64] or "reviewer"


def _ovary_tracking_uid(source: Dataset, source_uid: str, laterality: str) -> str:
    """The ovary's tracking UID: one per patient and side (a left ovary is the same finding at
    every image and visit, so a TID 1500 viewer can follow it over the trial); per image when the
    side or the patient is unknown."""
    patient = str(source.get("PatientID", ""))
    if laterality in ("L", "R") and patient:
        return derived_uid(f"patient {patient}", f"ovary {laterality}")
    return derived_uid(source_uid, "ovary")


def _group(
    source: Dataset,
    *,
    tracking: hd.sr.TrackingIdentifier,
    finding: object,
    site: hd.sr.FindingSite,
    algorithm: hd.sr.AlgorithmIdentification,
    measurements: list[hd.sr.Measurement],
    evaluations: list[hd.sr.QualitativeEvaluation],
    frame: int | None,
    polygon: np.ndarray | None,
    segment: hd.sr.ReferencedSegment | None,
) -> _Group:
    """One measurement group: TID 1411 on a SEG segment, else TID 1410 on an outline, else 1501.

    TID 1411 (not 1410) for the SEG reference because TID 1410's segment reference carries a
    frame number, which PS3.3 forbids next to a segment number.
    """
    frames = [frame + 1] if frame is not None else None
    common: dict[str, Any] = dict(
        tracking_identifier=tracking,
        finding_type=finding,
        finding_sites=[site],
        algorithm_id=algorithm,
        measurements=measurements or None,
        qualitative_evaluations=evaluations or None,
    )
    if segment is not None:
        return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            referenced_segment=segment, **common
        )
    if polygon is not None:
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=scoord_polyline(polygon),
            source_image=hd.sr.SourceImageForRegion(
                referenced_sop_class_uid=source.SOPClassUID,
                referenced_sop_instance_uid=source.SOPInstanceUID,
                referenced_frame_numbers=frames,
            ),
        )
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            referenced_region=region, **common
        )
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        source_images=[
            hd.sr.SourceImageForMeasurementGroup(
                referenced_sop_class_uid=source.SOPClassUID,
                referenced_sop_instance_uid=source.SOPInstanceUID,
                referenced_frame_numbers=frames,
            )
        ],
        **common,
    )


def scoord_polyline(polygon: np.ndarray) -> np.ndarray:
    """Closed SCOORD POLYLINE data from pixel-centre ``(column, row)`` points.

    Adds 0.5 (PS3.3 C.18.6.1.2 puts (0, 0) at the top-left corner of the top-left pixel) and
    repeats the first point at the end so the polyline is closed.

    Examples
    --------
    >>> scoord_polyline(np.array([[0, 0], [2, 0], [2, 1]])).tolist()
    [[0.5, 0.5], [2.5, 0.5], [2.5, 1.5], [0.5, 0.5]]
    """
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2) + 0.5
    if len(points) < 3:
        raise ValueError(f"An outline needs at least 3 points, got {len(points)}.")
    if not np.array_equal(points[0], points[-1]):
        points = np.vstack([points, points[:1]])
    return points


def _find_outline(outlines: Outlines, frame_index: int, structure_id: int) -> np.ndarray | None:
    """The outline of one structure on one frame, or ``None``."""
    for found_id, polygon in outlines.get(frame_index, ()):
        if found_id == structure_id and len(polygon) >= 3:
            return np.asarray(polygon)
    return None


def _ovary_segment(seg: Dataset, source: Dataset) -> hd.sr.ReferencedSegment:
    """Reference to the SEG's ovary segment (segment 1) derived from ``source``.

    By segment number only: PS3.3 forbids Referenced Frame Number next to Referenced Segment
    Number in an IMAGE reference to a Segmentation (dciodvfy flags it).
    """
    referenced = {
        str(item.ReferencedSOPInstanceUID)
        for series in seg.get("ReferencedSeriesSequence", [])
        for item in series.get("ReferencedInstanceSequence", [])
    }
    if str(source.SOPInstanceUID) not in referenced:
        raise ValueError("The SEG given does not reference the source image.")
    return hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID,
        sop_instance_uid=seg.SOPInstanceUID,
        segment_number=1,
        source_images=[
            hd.sr.SourceImageForSegmentation(
                referenced_sop_class_uid=source.SOPClassUID,
                referenced_sop_instance_uid=source.SOPInstanceUID,
            )
        ],
    )


def _lengths(section: Section, volume_ml: float | None, volume_decimals: int) -> list[hd.sr.Measurement]:
    """Long axis, short axis, area (and volume) of a calibrated section; none when uncalibrated.

    Values are rounded as in the tables (:mod:`follicle_seg.visits`), so the SR and the CSV
    files carry the same numbers.
    """
    if section.d1_mm is None or section.d2_mm is None or section.area_mm2 is None:
        return []
    found = [
        hd.sr.Measurement(name=codes.SCT.LongAxis, value=round(section.d1_mm, DIAMETER_DECIMALS), unit=MM),
        hd.sr.Measurement(name=codes.SCT.ShortAxis, value=round(section.d2_mm, DIAMETER_DECIMALS), unit=MM),
        hd.sr.Measurement(name=codes.SCT.Area, value=round(section.area_mm2, 2), unit=MM2),
    ]
    if volume_ml is not None:
        found.append(hd.sr.Measurement(name=codes.SCT.Volume, value=round(volume_ml, volume_decimals), unit=ML))
    return found


def _follicle_measurements(follicle: Follicle) -> list[hd.sr.Measurement]:
    """d1, d2, mean diameter, area and volume of a follicle (see :func:`_lengths`)."""
    found = _lengths(follicle.best, follicle.volume_ml, 5)
    if found and follicle.mean_diameter_mm is not None:
        found.insert(
            2,
            hd.sr.Measurement(
                name=codes.SCT.Diameter,
                value=round(follicle.mean_diameter_mm, DIAMETER_DECIMALS),
                unit=MM,
                derivation=codes.SCT.Mean,
            ),
        )
    return found


def _ovary_measurements(result: ImageResult, in_sweep: bool = False) -> list[hd.sr.Measurement]:
    """Ovary d1, d2, area, volume (calibrated only) and the image's follicle count (of a file
    of a sweep stored one file per frame, its count of follicle sections)."""
    found = _lengths(result.ovary, result.ovary_volume_ml, 3) if result.ovary is not None else []
    count = FOLLICLE_SECTIONS if in_sweep else FOLLICLE_COUNT
    found.append(hd.sr.Measurement(name=count, value=len(result.follicles), unit=FOLLICLES_UNIT))
    return found


def _digest_items(
    result: ImageResult, measured: list[list[hd.sr.Measurement]], ovary_measured: list[hd.sr.Measurement],
    outlines: Outlines, seg: Dataset | None,
) -> list[object]:
    """What the SR says, for its content-derived SOP Instance UID: each follicle's number, frame and
    measurements as written (``measured``, in the order of ``result.follicles``), the ovary's
    (``ovary_measured``), the outlines and the SEG it cites. Not a section's score
    nor its unrounded sizes, which it does not say: their last digits change with the other images
    of an inference batch (a run of part of an archive gave the same SR another UID)."""
    items: list[object] = [
        (f.follicle_id, f.best.frame_index, [m.value for m in found]) for f, found in zip(result.follicles, measured)
    ] + [result.ovary.frame_index if result.ovary is not None else None, [m.value for m in ovary_measured]]
    for frame in sorted(outlines):
        items += [(frame, i, np.asarray(p).round(3).tolist()) for i, p in outlines[frame]]
    items.append(str(seg.SOPInstanceUID) if seg is not None else None)
    return items
