"""Read ultrasound DICOM: the header into an :class:`ImageRecord`, the pixels frame by frame.

With its helpers (:mod:`~follicle_seg.io.header` parses a header without trusting it,
:mod:`~follicle_seg.io.pixel_data` checks the pixel data against it, :mod:`~follicle_seg.io.grey`
turns decoded frames into grey levels) the only code of the package that reads DICOM with pydicom.
Every reason a file cannot be analysed becomes a :class:`~follicle_seg.errors.RejectedInput`
naming the file and the reason in one line; nothing is decoded before the header has been checked
(sizes, syntax, decoder).
"""

from __future__ import annotations

import os
import re
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TypedDict

import numpy as np
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException
from pydicom.pixels import get_decoder, iter_pixels, pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, JPEGExtended12Bit, generate_uid
from pydicom.valuerep import DT

from follicle_seg.errors import RejectedInput, brief, one_line
from follicle_seg.io.calibration import (
    UltrasoundRegion,
    choose_calibration,
    choose_region,
    implausible_extent,
    implausible_spacing,
    misfit_regions,
    other_panes,
    rival_regions,
    unused_regions,
)
from follicle_seg.io.grey import COLOUR_PHOTOMETRICS, COLOUR_SHARE, colour_pixels, grey_converter, grey_note
from follicle_seg.io.header import MAX_PIXEL_BYTES, PIXELS_CUT, pixel_data_sha256, read_dicom, read_header
from follicle_seg.io.laterality import choose_laterality
from follicle_seg.io.pixel_data import check_pixel_length
from follicle_seg.io.region import MIN_REGION_PX, find_scan_areas
from follicle_seg.io.rejection import RejectionNote, rejection_note
from follicle_seg.io.tags import (
    PIXEL_DATA,
    float_list,
    positive_float,
    tag_int,
    tag_optional_int,
    tag_text,
    to_float,
    uid_fault,
)
from follicle_seg.io.truncation import HEADER_CUT, where_cut
from follicle_seg.types import COLOUR_IN_SCAN, Calibration, Frame, Identity, ImageRecord, Pane

#: Largest decoded size of one frame: 256 MiB (16384 x 16384 grey), far above any scanner's;
#: largest number of frames of a file (the whole file: ``header.MAX_PIXEL_BYTES``).
MAX_FRAME_BYTES = 2**28
MAX_FRAMES = 10_000
#: Longest PatientID read (DICOM's LO holds 64 characters; longer ones are read up to this): a
#: 20-million-character one went into every table row and report page, the run past 16 GB.
MAX_PATIENT_ID_CHARS = 1024
#: Frames of a file without ultrasound regions looked at, at most, to find its scan area.
AUTO_REGION_FRAMES = 16

#: SOP classes read: US Image (and retired), US Multi-frame (and retired), Secondary Capture and
#: the multi-frame Secondary Captures (grey byte / word, true colour).
US_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "US Image Storage",
    "1.2.840.10008.5.1.4.1.1.6": "US Image Storage (retired)",
    "1.2.840.10008.5.1.4.1.1.3.1": "US Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.3": "US Multi-frame Image Storage (retired)",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte SC Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word SC Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color SC Image Storage",
}

#: Ultrasound objects that are not 2-D images, and what to export instead (rejection reasons).
US_NOT_2D = {
    "1.2.840.10008.5.1.4.1.1.6.2": "a 3-D volume (Enhanced US Volume Storage) is not analysed: "
    "export its planes as a 2-D cine (US Multi-frame) or as stills",
    "1.2.840.10008.5.1.4.1.1.6.3": "a photoacoustic image (Photoacoustic Image Storage) is not analysed: "
    "export the B-mode image as a US Image",
}

#: How the names of the SOP classes of images end (US Image Storage (retired) included).
IMAGE_CLASS_ENDINGS = ("Image Storage", "Image Storage (retired)", "Volume Storage")

#: The SOP class of a DICOMDIR (Media Storage Directory Storage): an index of other files.
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"

#: The root of the UIDs the DICOM standard defines.
DICOM_ROOT = "1.2.840.10008."

#: Standard transfer syntaxes newer than pydicom's table (PS3.6 Table A-1), named in reasons.
NEWER_SYNTAXES = {
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
    "1.2.840.10008.1.2.8.1": "Deflated Image Frame Compression",
}

#: The package that decodes each compressed transfer syntax (named in rejection reasons).
DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": "pillow",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": "pillow",  # JPEG Extended 12-bit
    "1.2.840.10008.1.2.4.57": "python-gdcm",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": "python-gdcm",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": "pyjpegls",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": "pyjpegls",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg",  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pylibjpeg-openjpeg",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": "pylibjpeg-openjpeg",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": "pylibjpeg-openjpeg",  # HTJ2K
    "1.2.840.10008.1.2.5": "pydicom",  # RLE Lossless
}

#: The decoder used for each compressed syntax when it is installed (pydicom would try GDCM first,
#: which aborts the whole process on some corrupt JPEG streams).
DECODING_PLUGINS = {
    "1.2.840.10008.1.2.4.50": "pillow",
    "1.2.840.10008.1.2.4.51": "pillow",
    "1.2.840.10008.1.2.4.80": "pyjpegls",
    "1.2.840.10008.1.2.4.81": "pyjpegls",
    "1.2.840.10008.1.2.4.90": "pylibjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg",
    "1.2.840.10008.1.2.4.201": "pylibjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg",
}

#: What a malformed header value makes pydicom or the checks raise (besides RejectedInput).
HEADER_VALUE_ERRORS = (
    TypeError,
    ValueError,
    ArithmeticError,  # OverflowError, ZeroDivisionError (a segmented palette)
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    RecursionError,
    struct.error,
    BytesLengthException,
)

PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", *COLOUR_PHOTOMETRICS)


def read_record(path: str | Path) -> ImageRecord:
    """Read and check one file's header; choose its region, calibration and side.

    Only the header is parsed (pixel data is deferred), except for a file without a Sequence
    of Ultrasound Regions, whose first frame is decoded to find the scan sector.

    Parameters
    ----------
    path
        A file.

    Returns
    -------
    ImageRecord

    Raises
    ------
    RejectedInput
        Not DICOM, truncated, no pixel data, not ultrasound, an unsupported pixel format, a
        transfer syntax without an installed decoder, implausible frame sizes, absurd
        calibration, a region smaller than 64 pixels; a :class:`~follicle_seg.io.rejection.RejectionNote`
        for an IHE IOCM rejection note (the images it lists are not analysed).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> record = read_record(get_testdata_file("examples_palette.dcm"))
    >>> record.n_frames, round(record.calibration.spacing_row_mm, 4), record.region
    (1, 0.2623, (120, 60, 799, 349))
    """
    path_str = str(path)
    try:
        ds = read_header(path_str)
    except RejectedInput as exc:
        if exc.reason != PIXELS_CUT:
            raise
        raise RejectedInput(path_str, exc.reason, _identity_of_cut_file(path_str)) from exc
    try:
        return _record_from_header(path_str, ds)
    except RejectionNote:
        raise
    except RejectedInput as exc:  # (a header cut short says nothing: what followed the cut is unknown;
        # a file of another modality, a CT in the folder, is no ovary's image)
        known = not exc.reason.startswith(HEADER_CUT) and tag_text(ds, "Modality") == "US"
        raise RejectedInput(path_str, exc.reason, _identity(ds) if known else None) from exc
    except HEADER_VALUE_ERRORS as exc:  # a tag value that is not what it should be
        raise RejectedInput(path_str, f"unreadable header value ({brief(exc)})", _identity(ds)) from exc


def _side(ds: Dataset) -> tuple[str, str]:
    """(side, where it was read) from the header (:func:`~follicle_seg.io.laterality.choose_laterality`)."""
    return choose_laterality(
        image_laterality=tag_text(ds, "ImageLaterality"),
        laterality=tag_text(ds, "Laterality"),
        series_description=tag_text(ds, "SeriesDescription"),
        image_comments=tag_text(ds, "ImageComments"),
    )


def _identity_of_cut_file(path: str) -> Identity | None:
    """:func:`_identity` of a file cut inside its pixel data (its header is whole): the header
    read again up to the pixel data, those tags only, long values left unread (a vendor's large
    private data before the pixels)."""
    tags = ["SOPInstanceUID", "PatientID", *DATE_TAGS, "ImageLaterality", "Laterality", "SeriesDescription",
            "ImageComments", "SpecificCharacterSet"]  # fmt: skip
    try:
        who = _identity(read_dicom(path, stop_before_pixels=True, defer_size=1024, specific_tags=tags))
    except Exception:  # noqa: BLE001 - rejected all the same, without whose image it is
        return None
    return who if who is not None and who.sop_instance_uid else None  # (an empty read: nothing known)


def _identity(ds: Dataset) -> Identity | None:
    """Whose image a rejected file is, when its header says (None when even that is unreadable; a
    SOPInstanceUID unfit to be one, or a PatientID longer than :data:`MAX_PATIENT_ID_CHARS`, left
    out)."""
    try:
        side, _ = _side(ds)
        uid, patient = tag_text(ds, "SOPInstanceUID"), tag_text(ds, "PatientID")
        return Identity("" if uid_fault("SOPInstanceUID", uid) else uid, "" if len(patient) > MAX_PATIENT_ID_CHARS else patient,
                        visit_date(ds), side or "U")  # fmt: skip
    except HEADER_VALUE_ERRORS:
        return None


def _no_pixel_data(path: str, ds: Dataset) -> str:
    """The reason of a file without pixel data that does not end inside its header: an image's
    (by its SOP class, in the data set or the file meta; by Rows and Columns when the class is
    not known) ends where its pixel data should begin; a report's, a PDF's is not an image."""
    sop_class = tag_text(ds, "SOPClassUID") or str(ds.file_meta.get("MediaStorageSOPClassUID", ""))
    name = sop_class_name(sop_class) if sop_class else ""
    what = f" ({name})" if name else ""
    known = name != sop_class  # (the name of a class pydicom does not know is its UID)
    if name.endswith(IMAGE_CLASS_ENDINGS) if known else "Rows" in ds and "Columns" in ds:
        return f"no pixel data (7FE0,0010) in an image file{what}: cut short at byte {os.path.getsize(path)}?"
    return f"no pixel data (7FE0,0010): not an image{what}"


def _record_from_header(path_str: str, ds: Dataset) -> ImageRecord:
    """The body of :func:`read_record`, on a parsed header."""
    if ds.file_meta.get("MediaStorageSOPClassUID") == MEDIA_DIRECTORY or "DirectoryRecordSequence" in ds:
        raise RejectedInput(path_str, "a DICOMDIR (media index), not an image: its images are the files it lists")
    if (note := rejection_note(path_str, ds)) is not None:
        raise note
    if PIXEL_DATA not in ds:
        raise RejectedInput(path_str, where_cut(path_str) or _no_pixel_data(path_str, ds))
    _check_ultrasound(path_str, ds)
    if fault := uid_fault("SOPInstanceUID", tag_text(ds, "SOPInstanceUID")):
        # it names the output files (masks/<uid>_0.png, dicom/<uid>_sr.dcm): a '/' wrote them
        # outside the output folder, 300 characters stopped the run ("File name too long")
        raise RejectedInput(path_str, f"{fault}: a UID is digits and dots, it names the output files")
    if len(patient := tag_text(ds, "PatientID")) > MAX_PATIENT_ID_CHARS:
        raise RejectedInput(path_str, f"PatientID of {len(patient)} characters (DICOM's LO holds 64; at most "
                            f"{MAX_PATIENT_ID_CHARS} are read)")  # fmt: skip
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    _check_syntax_known(path_str, syntax)
    n_frames, n_rows, n_cols = _check_geometry(path_str, ds)
    check_pixel_length(path_str, ds, n_frames)
    _check_decoder(path_str, syntax, tag_int(ds, "BitsStored", 8))
    _checked_grey_converter(path_str, ds)

    regions = [_parse_region(item) for item in ds.get("SequenceOfUltrasoundRegions", [])]
    misfit = misfit_regions(regions, n_rows, n_cols)
    if misfit:  # written for a larger image: none of the scan's regions is this image's
        regions = []
    chosen = choose_region(regions, n_rows, n_cols)
    box = chosen.clipped(n_rows, n_cols) if chosen is not None else None
    pane_sources: list[tuple[tuple[int, int, int, int] | None, UltrasoundRegion | None]]
    if box is not None:
        assert chosen is not None  # (its box)
        region, region_source = box, "ultrasound_region"
        pane_sources = [(r.clipped(n_rows, n_cols), r) for r in other_panes(regions, chosen, n_rows, n_cols)]
    else:  # found in the pixels; the panes of a dual display share the file's calibration
        (region, *more), region_source = _auto_regions(path_str, ds), "auto"
        pane_sources = [(pane_box, None) for pane_box in more]
    spacings = float_list(ds.get("PixelSpacing")), float_list(ds.get("ImagerPixelSpacing"))
    rivals = rival_regions(regions, chosen, n_rows, n_cols) if chosen is not None else ""
    unused = unused_regions(regions, chosen, n_rows, n_cols)
    if rivals:  # which region's pixel size holds is unknown: none is guessed
        chosen, spacings = None, (None, None)
    calibration = _checked_calibration(path_str, chosen, *spacings, box=region)
    height, width = _box_shape(region)
    if min(height, width) < MIN_REGION_PX:
        raise RejectedInput(
            path_str,
            f"image region {width}x{height} px ({region_source}) is smaller than "
            f"{MIN_REGION_PX} px",
        )
    panes: list[Pane] = []  # a dual (or quad) display's other panes, each analysed as an image
    for pane_box, r in pane_sources:
        if pane_box is not None and min(_box_shape(pane_box)) >= MIN_REGION_PX:
            # a pane's own rivals (its zoom changed) leave it uncalibrated, as the chosen one's leave that
            pane_rivals = rival_regions(regions, r, n_rows, n_cols) if r is not None else ""
            rivals = "; ".join(words for words in (rivals, pane_rivals) if words)
            pane_region, pane_spacings = (None, (None, None)) if pane_rivals else (r, spacings)
            calibration_of_pane = _checked_calibration(path_str, pane_region, *pane_spacings, box=pane_box, pane=len(panes) + 2)
            panes.append(Pane(pane_box, calibration_of_pane))
    side, side_source = _side(ds)
    study_date, date_tag = dated_by(ds)
    sop_uid, named = tag_text(ds, "SOPInstanceUID"), ""
    if not sop_uid:
        sop_uid, named = stand_in_uid(path_str, ds, n_frames, n_rows, n_cols)
    return ImageRecord(
        path=path_str,
        sop_instance_uid=sop_uid,
        sop_class_uid=tag_text(ds, "SOPClassUID"),
        modality=tag_text(ds, "Modality"),
        patient_id=tag_text(ds, "PatientID"),
        study_instance_uid=tag_text(ds, "StudyInstanceUID"),
        study_date=study_date,
        series_instance_uid=tag_text(ds, "SeriesInstanceUID"),
        series_description=tag_text(ds, "SeriesDescription"),
        laterality=side,
        laterality_source=side_source,
        n_frames=n_frames,
        rows=n_rows,
        columns=n_cols,
        photometric=tag_text(ds, "PhotometricInterpretation"),
        transfer_syntax=str(syntax),
        calibration=calibration,
        region=region,
        region_source=region_source,
        frame_time_ms=_frame_time_ms(ds),
        frame_spacing_mm=positive_float(ds.get("SpacingBetweenSlices")),
        manufacturer=tag_text(ds, "Manufacturer"),
        instance_number=tag_optional_int(ds, "InstanceNumber"),
        acquired_s=acquired_at(ds),
        other_panes=tuple(panes),
        date_tag=date_tag,
        note="; ".join(words for words in (named, misfit, rivals, unused, grey_note(ds)) if words),
    )


def stand_in_uid(path: str, ds: Dataset, n_frames: int, n_rows: int, n_cols: int) -> tuple[str, str]:
    """The SOP instance UID of an image whose header has none, and how it was found: its outputs,
    run-state rows and review decisions are named by it (with none, two such images of two
    patients were one SOP instance, the second rejected as a duplicate of the first). The file
    meta's MediaStorageSOPInstanceUID when it has a fit one, else one made from its pixel data and
    size: a header edited in place (a PatientID corrected) keeps it, and a copy of the image is the
    same image. No DICOM object is written for such an image (none could refer to it in an
    archive)."""
    meta = str(ds.file_meta.get("MediaStorageSOPInstanceUID", "") or "").strip()
    if meta and not uid_fault("MediaStorageSOPInstanceUID", meta):
        return meta, "no SOPInstanceUID (0008,0018): named by its MediaStorageSOPInstanceUID (0002,0003)"
    pixels = pixel_data_sha256(path)
    uid = str(generate_uid(entropy_srcs=["no SOPInstanceUID", pixels, f"{n_frames}x{n_rows}x{n_cols}"]))
    return uid, f"no SOPInstanceUID (0008,0018): named {uid} from its pixel data"


def _checked_calibration(
    path_str: str, region: UltrasoundRegion | None, pixel_spacing, imager_pixel_spacing, *,
    box: tuple[int, int, int, int], pane: int = 0,
) -> Calibration:
    """The calibration rules of :mod:`follicle_seg.io.calibration` for the image region ``box``;
    an absurd spacing, or one giving an absurd size of ``box``, rejects the file (naming the pane
    of a dual display when it is not the first)."""
    calibration = choose_calibration(region, pixel_spacing, imager_pixel_spacing)
    reason = implausible_spacing(calibration) or implausible_extent(calibration, box)
    if reason:
        raise RejectedInput(path_str, f"{reason} (image pane {pane})" if pane else reason)
    return calibration


def _box_shape(box: tuple[int, int, int, int]) -> tuple[int, int]:
    return (box[3] - box[1] + 1, box[2] - box[0] + 1)


def iter_frames(
    record: ImageRecord, *, start: int = 0, stop: int | None = None, panes: bool = False
) -> Iterator[Frame]:
    """Decode frames ``start`` to ``stop - 1`` one at a time, as grey uint8 of the region, with
    the region's pixels stored in colour (``Frame.colour``, ``None`` when none is).

    The header is parsed once and each frame decoded on its own from the open file
    (``pydicom.pixels.iter_pixels``): a long cine is never held whole in memory, and a long
    header is not parsed again for every frame. With ``panes`` each decoded frame gives one
    ``Frame`` per image pane of a dual display (:meth:`ImageRecord.pane_records`), in pane order.

    Raises
    ------
    RejectedInput
        When a frame cannot be decoded or has an unexpected shape.
    """
    header = read_header(record.path, pixels=False)
    source = _pixel_source(record.path, record.transfer_syntax)
    to_grey = _checked_grey_converter(record.path, header, source)
    in_colour = colour_pixels(header)  # (after the converter: a palette it cannot use rejects the file there)
    targets = record.pane_records() if panes else (record,)
    first = max(0, start)
    end = record.n_frames if stop is None else min(stop, record.n_frames)
    if first >= end:
        return
    # pydicom 3.0 iter_pixels miscounts the bytes of native YBR_FULL_422 frames after the first
    native_422 = record.photometric == "YBR_FULL_422" and not UID(record.transfer_syntax).is_compressed
    decoded = iter_pixels(source, indices=range(first, end), **_decoding(header))
    for index in range(first, end):
        if native_422:
            arr = _decode_frame(record.path, source, index, header)
        else:
            arr = _next_frame(record.path, decoded, index, header)
        grey = to_grey(arr)
        for target in targets:
            c0, r0, c1, r1 = target.region
            colour = in_colour(arr[r0 : r1 + 1, c0 : c1 + 1])
            if colour is not None and not colour.any():
                colour = None
            flags = (COLOUR_IN_SCAN,) if colour is not None and colour.mean() >= COLOUR_SHARE else ()
            yield Frame(target, index, np.ascontiguousarray(grey[r0 : r1 + 1, c0 : c1 + 1]), flags, colour)


def frames_at(record: ImageRecord, index: int, panes: bool = False) -> list[Frame]:
    """Frame ``index`` of a file (each pane's with ``panes``), as :func:`iter_frames` decodes it:
    a key frame for the overlays, a function of its own so that it can run in a decoder process."""
    return list(iter_frames(record, start=index, stop=index + 1, panes=panes))


#: Two decodings of one image (another transfer syntax, a near-lossless re-compression) differ by
#: at most this mean absolute grey level in any frame of its scan area. Heavier lossy compression
#: is not told from another image: JPEG 2000 at 5:1 of the sample cine differs by 3.4, at 10:1 by
#: 8.7, and two neighbouring frames of it by 19.4: such a copy is called different (and flagged).
SAME_IMAGE_MEAN_DIFF = 4.0


def same_image(a: str, b: str) -> bool:
    """Whether files ``a`` and ``b`` hold one image, whatever its lossless (or near-lossless)
    encoding: the same frames, size and scan area, every frame's grey pixels as analysed
    (:func:`iter_frames`) within :data:`SAME_IMAGE_MEAN_DIFF` of each other on average (the first
    frame that is not ends the comparison). Two files of one SOP instance whose
    stored pixel data differ may be one image re-encoded by an archive, or two images a scanner
    gave one UID: only the second loses an image. Frames are decoded one at a time."""
    first, second = read_record(a), read_record(b)
    if (first.n_frames, first.rows, first.columns, first.region) != (second.n_frames, second.rows, second.columns,
                                                                      second.region):  # fmt: skip
        return False
    for x, y in zip(iter_frames(first), iter_frames(second)):
        if np.abs(x.pixels.astype(np.int16) - y.pixels).mean() > SAME_IMAGE_MEAN_DIFF:
            return False
    return True


def whole_frame(path: str, index: int = 0) -> np.ndarray:
    """Frame ``index`` of a file as grey ``uint8``, the whole of it: the text burned in around the
    scan area included (where a machine writes "LT OV"), which :func:`iter_frames` crops away.

    Raises
    ------
    RejectedInput
        When the header or the frame cannot be read.
    """
    return _grey_frame(path, read_header(path, pixels=False), index)


def _grey_frame(path: str, ds: Dataset, index: int) -> np.ndarray:
    """Frame ``index`` of the file whose header is ``ds``, decoded on its own, as grey uint8."""
    source = _pixel_source(path, str(ds.file_meta.TransferSyntaxUID))
    frame = _decode_frame(path, source, index, ds)
    return _checked_grey_converter(path, ds, source)(frame)


def sop_class_name(uid: str) -> str:
    """A readable name of a SOP class UID (the UID itself when unknown)."""
    return US_SOP_CLASSES.get(uid) or UID(uid).name


def transfer_syntax_name(uid: str) -> str:
    """A readable name of a transfer syntax UID (the UID itself when unknown)."""
    return NEWER_SYNTAXES.get(uid) or UID(uid).name


def iso_date(value: str) -> str:
    """DICOM DA ``YYYYMMDD`` (or already ``YYYY-MM-DD``) as ``YYYY-MM-DD``; ``""`` if unusable
    (not eight digits, or not a day of the calendar).

    Examples
    --------
    >>> iso_date("20240131"), iso_date("2024.01.31"), iso_date(""), iso_date("20250231")
    ('2024-01-31', '2024-01-31', '', '')
    """
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) != 8:
        return ""
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:])).isoformat()
    except ValueError:
        return ""


#: Where a visit's date is read, first usable one kept: exports that blank the StudyDate (some
#: de-identifiers do) often keep the series, acquisition or content date of the same exam (an
#: enhanced multi-frame image its acquisition date-time only).
DATE_TAGS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime")


def visit_date(ds: Dataset) -> str:
    """The first usable date of :data:`DATE_TAGS` as ``YYYY-MM-DD`` (of a date-time, its date);
    ``""`` when none is."""
    return dated_by(ds)[0]


def dated_by(ds: Dataset) -> tuple[str, str]:
    """:func:`visit_date` and the tag it was read from (``("", "")`` when none is usable)."""
    for tag in DATE_TAGS:
        value = tag_text(ds, tag)
        if day := iso_date(value[:8] if tag.endswith("DateTime") else value):
            return day, tag
    return "", ""


def acquired_at(ds: Dataset) -> float | None:
    """When the image was acquired, in seconds since 1970-01-01 (time zone ignored), or ``None``.

    From AcquisitionDateTime, else a date (AcquisitionDate, ContentDate, StudyDate) with a time
    (AcquisitionTime, else ContentTime); fractions of a second are kept.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> a, b = Dataset(), Dataset()
    >>> a.ContentDate, a.ContentTime = "20240131", "101530.25"
    >>> b.AcquisitionDateTime = "20240131101531+0100"
    >>> acquired_at(b) - acquired_at(a)
    0.75
    >>> acquired_at(Dataset()) is None
    True
    """
    stamp = tag_text(ds, "AcquisitionDateTime")
    if not stamp:
        day = next((d for d in (tag_text(ds, k) for k in ("AcquisitionDate", "ContentDate", "StudyDate")) if d), "")
        clock = next((t for t in (tag_text(ds, k) for k in ("AcquisitionTime", "ContentTime")) if t), "")
        if not day or not clock:
            return None
        stamp = day.replace(".", "").replace("-", "") + clock.replace(":", "")
    try:
        moment: datetime = DT(stamp).replace(tzinfo=None)  # a UTC offset is parsed, then dropped
    except (TypeError, ValueError, OverflowError):
        return None
    return (moment - datetime(1970, 1, 1)).total_seconds()


# ----------------------------------------------------------------------------- header checks


def _check_ultrasound(path: str, ds: Dataset) -> None:
    modality = tag_text(ds, "Modality")
    sop_class = tag_text(ds, "SOPClassUID")
    if modality != "US":
        raise RejectedInput(
            path, f"not ultrasound: Modality is {modality or 'missing'!s}, expected US"
        )
    if sop_class in US_NOT_2D:
        raise RejectedInput(path, US_NOT_2D[sop_class])
    if sop_class not in US_SOP_CLASSES:
        raise RejectedInput(
            path,
            f"not an ultrasound image: SOP class {sop_class_name(sop_class)} is not US Image, "
            "US Multi-frame or Secondary Capture",
        )


def _check_geometry(path: str, ds: Dataset) -> tuple[int, int, int]:
    """Frames, rows and columns, checked against the limits before anything is decoded."""
    try:
        n_frames = tag_int(ds, "NumberOfFrames", 1)
        n_rows, n_cols = tag_int(ds, "Rows", 0), tag_int(ds, "Columns", 0)
        samples = tag_int(ds, "SamplesPerPixel", 1)
        bits = tag_int(ds, "BitsAllocated", 0)
    except (TypeError, ValueError) as exc:
        raise RejectedInput(path, f"unreadable image size tags ({brief(exc)})") from exc
    photometric = tag_text(ds, "PhotometricInterpretation")
    if n_rows < 1 or n_cols < 1 or n_frames < 1:
        raise RejectedInput(
            path, f"implausible image size: {n_rows} rows x {n_cols} columns x {n_frames} frames"
        )
    if n_frames > MAX_FRAMES:
        raise RejectedInput(path, f"implausible number of frames: {n_frames} (limit {MAX_FRAMES})")
    decoded = n_rows * n_cols * n_frames * max(samples, 1) * max(bits, 8) // 8
    if decoded > MAX_PIXEL_BYTES:
        raise RejectedInput(
            path,
            f"implausible image size: {n_rows} x {n_cols} x {n_frames} frames would need "
            f"{decoded / 2**30:.1f} GiB decoded (limit {MAX_PIXEL_BYTES / 2**30:.0f} GiB)",
        )
    if decoded // n_frames > MAX_FRAME_BYTES:
        raise RejectedInput(
            path,
            f"implausible image size: one {n_rows} x {n_cols} frame would need "
            f"{decoded // n_frames / 2**20:.0f} MiB decoded (limit {MAX_FRAME_BYTES // 2**20} MiB)",
        )
    if bits not in (8, 16):
        raise RejectedInput(path, f"unsupported pixel format: {bits} bits allocated (need 8 or 16)")
    stored = tag_int(ds, "BitsStored", bits)
    if not 1 <= stored <= bits:
        raise RejectedInput(
            path, f"unsupported pixel format: {stored} bits stored in {bits} bits allocated"
        )
    _check_high_bit(path, ds, stored, bits)
    if photometric not in PHOTOMETRICS:
        raise RejectedInput(
            path, f"unsupported photometric interpretation {photometric or 'missing'}"
        )
    if samples != (3 if photometric in COLOUR_PHOTOMETRICS else 1):
        raise RejectedInput(path, f"{samples} samples per pixel do not fit {photometric}")
    return n_frames, n_rows, n_cols


def _check_syntax_known(path: str, syntax: UID) -> None:
    """Reject a transfer syntax pydicom does not know: a standard one newer than its table (named
    when :data:`NEWER_SYNTAXES` holds it), or a vendor's private one, whose encoding is unknown;
    no decoder reads them."""
    try:
        known = syntax.is_transfer_syntax
    except ValueError:  # pydicom cannot tell of a UID not in its table
        known = False
    if known and syntax not in NEWER_SYNTAXES:  # (importing pynetdicom adds them to pydicom's table)
        return
    if syntax.startswith(DICOM_ROOT):
        name = NEWER_SYNTAXES.get(syntax)
        raise RejectedInput(
            path,
            f"transfer syntax {f'{name} ({syntax})' if name else syntax} cannot be decoded: a DICOM transfer "
            "syntax this build cannot decode; export the images uncompressed or as JPEG",
        )
    raise RejectedInput(path, f"unknown (private?) transfer syntax {syntax}: no decoder")


def _check_high_bit(path: str, ds: Dataset, stored: int, bits: int) -> None:
    """HighBit between BitsStored - 1 (the usual) and BitsAllocated - 1; above the low bits only in
    native pixel data, whose values :func:`_decoded` shifts down (a decoder returns a
    codestream's values as it holds them: where they would lie is unknown)."""
    high = tag_int(ds, "HighBit", stored - 1)
    if not stored - 1 <= high <= bits - 1:
        raise RejectedInput(
            path, f"unsupported pixel format: HighBit {high} with {stored} bits stored in {bits} bits allocated"
        )
    if high != stored - 1 and UID(ds.file_meta.TransferSyntaxUID).is_compressed:
        raise RejectedInput(
            path, f"unsupported pixel format: HighBit {high} with {stored} bits stored in compressed pixel data"
        )


def _check_decoder(path: str, syntax: UID, bits_stored: int = 8) -> None:
    """Reject a transfer syntax that no installed package decodes, naming the one that would
    (JPEG Extended of more than 8 bits: Pillow and GDCM refuse it, pylibjpeg-libjpeg decodes it)."""
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise RejectedInput(
            path,
            f"transfer syntax {syntax.name} ({syntax}) cannot be decoded: pydicom has no decoder "
            "for it; export the images uncompressed or as JPEG",
        ) from None
    if not decoder.is_available:
        package = DECODER_PACKAGES.get(str(syntax), "a pydicom pixel data plugin")
        raise RejectedInput(
            path,
            f"transfer syntax {syntax.name} needs a decoder that is not installed: "
            f"pip install {package}",
        )
    if syntax == JPEGExtended12Bit and bits_stored > 8 and _decoding_plugin(syntax, bits_stored) != "pylibjpeg":
        raise RejectedInput(
            path,
            f"transfer syntax {syntax.name} with {bits_stored}-bit samples needs a decoder that is not "
            "installed: pip install pylibjpeg-libjpeg (GPLv3; Pillow and GDCM decode 8-bit samples only)",
        )


def _auto_regions(path: str, ds: Dataset) -> list[tuple[int, int, int, int]]:
    """The scan sector found on the first frame that shows one (files without ultrasound regions),
    then the other panes of a dual display (:func:`~follicle_seg.io.region.find_scan_areas`).

    A cine may begin black, or with its text and no image yet (the probe not on the body): up to
    :data:`AUTO_REGION_FRAMES` frames spread over it are looked at, in order, until one holds an
    area of :data:`MIN_REGION_PX` each way; none does, the first frame's areas that show any (too
    small: said by the caller)."""
    n_frames = tag_int(ds, "NumberOfFrames", 1)
    indices = sorted({int(i) for i in np.linspace(0, n_frames - 1, min(n_frames, AUTO_REGION_FRAMES))})
    first: list[tuple[int, int, int, int]] = []
    for index in indices:
        boxes = find_scan_areas(_grey_frame(path, ds, index))
        if boxes and min(_box_shape(boxes[0])) >= MIN_REGION_PX:
            return boxes
        first = first or boxes
    if first:
        return first
    frames = "the first frame is" if n_frames == 1 else f"{len(indices)} frames of {n_frames} looked at are"
    raise RejectedInput(path, f"no image area found: {frames} black")


# ----------------------------------------------------------------------------- pixels


def _decoding_plugin(syntax: str, bits_stored: int = 8) -> str:
    """The plugin of :data:`DECODING_PLUGINS` for this syntax when installed, else pydicom's pick;
    for JPEG Extended of more than 8 bits, pylibjpeg (with pylibjpeg-libjpeg), the one plugin
    that decodes it (:func:`_check_decoder` rejects the file when it is not installed)."""
    plugin = DECODING_PLUGINS.get(syntax, "")
    if syntax == JPEGExtended12Bit and bits_stored > 8:
        plugin = "pylibjpeg"
    try:
        return plugin if plugin in get_decoder(UID(syntax)).available_plugins else ""
    except NotImplementedError:
        return ""


def _pixel_source(path: str, syntax: str) -> str | Dataset:
    """What frames are decoded from: the file itself, or its whole data set when Deflated.

    pydicom reads single frames straight from a file, except from a deflated one, which is
    inflated once (its inflated size was bounded by :func:`~follicle_seg.io.header.read_header`).
    """
    if syntax != DeflatedExplicitVRLittleEndian:
        return path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return read_dicom(path)
    except Exception as exc:  # the header was read before: this is a corrupt deflated stream
        raise RejectedInput(path, f"corrupt deflated data set ({brief(exc)})") from exc


class _Decoding(TypedDict, total=False):
    """pydicom's decoding options (keyword arguments of ``iter_pixels`` and ``pixel_array``)."""

    decoding_plugin: str
    planar_configuration: int
    bits_stored: int


def _decoding(ds: Dataset) -> _Decoding:
    """pydicom's decoding options for the file whose header is ``ds``: the plugin
    (:func:`_decoding_plugin`); for compressed data PlanarConfiguration 0, as for native colour
    data without the tag (what viewers assume; pydicom refused the file). That tag describes
    native pixel data only (PS3.5 8.2): a JPEG or JPEG 2000 codestream decodes colour-by-pixel
    whatever a header says, and pydicom followed a stray 1. Native values stored above the low
    bits (HighBit above BitsStored - 1) are read whole, then shifted down (:func:`_decoded`):
    pydicom kept the low bits, noise."""
    syntax = str(ds.file_meta.TransferSyntaxUID)
    options: _Decoding = {"decoding_plugin": _decoding_plugin(syntax, tag_int(ds, "BitsStored", 8))}
    colour = tag_int(ds, "SamplesPerPixel", 1) > 1
    if UID(syntax).is_compressed or (colour and tag_optional_int(ds, "PlanarConfiguration") is None):
        options["planar_configuration"] = 0
    if _high_bit_shift(ds):
        options["bits_stored"] = tag_int(ds, "BitsAllocated", 16)
    return options


def _high_bit_shift(ds: Dataset) -> int:
    """How far above the low bits a value is stored: HighBit - BitsStored + 1 (0 as usual)."""
    stored = tag_int(ds, "BitsStored", tag_int(ds, "BitsAllocated", 8))
    return tag_int(ds, "HighBit", stored - 1) - stored + 1


def _decode_frame(path: str, source: str | Dataset, index: int, ds: Dataset) -> np.ndarray:
    """One decoded frame (RGB for colour files) of the file whose header is ``ds``, read from
    ``source`` on its own."""
    return _decoded(path, index, ds, lambda: pixel_array(source, index=index, **_decoding(ds)))


def _next_frame(path: str, decoded: Iterator[np.ndarray], index: int, ds: Dataset) -> np.ndarray:
    """Frame ``index``: the next one of a ``pydicom.pixels.iter_pixels`` iterator."""
    return _decoded(path, index, ds, lambda: next(decoded))


def _decoded(path: str, index: int, ds: Dataset, decode: Callable[[], np.ndarray]) -> np.ndarray:
    """``decode()``, frame ``index`` of the file whose header is ``ds``, its stored values shifted
    down to the low bits (:func:`_high_bit_shift`); its decoder's failure or a frame of another
    size a rejection of the file (never the batch's problem), its warnings silenced."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = decode()
    except Exception as exc:  # any decoder failure is this file's problem, not the batch's
        raise RejectedInput(path, f"frame {index} cannot be decoded ({decoder_failure(exc)})") from exc
    if shift := _high_bit_shift(ds):
        arr = arr >> shift  # (signed values: an arithmetic shift keeps their sign)
    return _checked_shape(path, arr, index, tag_int(ds, "Rows", 0), tag_int(ds, "Columns", 0))


#: What pydicom writes before its plugins' messages when a frame cannot be decoded.
_ALL_PLUGINS_FAILED = "Unable to decode as exceptions were raised by all available plugins:"
#: Words of Python's own errors: a plugin tripping on data it did not expect (gdcm's
#: "'NoneType' object has no attribute 'encode'"), nothing a person can act on.
_PYTHON_ERROR = re.compile(
    r"object has no attribute|object is not|'NoneType'|unsupported operand|index out of range|"
    r"not subscriptable|positional argument|unexpected keyword|referenced before assignment"
)


def decoder_failure(exc: BaseException) -> str:
    r"""A decoder's failure in a person's words, for ``frame N cannot be decoded (...)``: pydicom's
    preamble left out, object reprs dropped (:func:`~follicle_seg.errors.one_line`), and a
    plugin's own Python error said as that plugin failing on the data.

    >>> decoder_failure(RuntimeError(_ALL_PLUGINS_FAILED + "\n  gdcm: 'NoneType' object has no attribute 'encode'"))
    'gdcm failed on its compressed data'
    >>> decoder_failure(RuntimeError(_ALL_PLUGINS_FAILED + "\n  pillow: cannot identify image file <_io.BytesIO object at 0x7f4c>"))
    'pillow: cannot identify image file'
    """
    text = one_line(" ".join(str(exc).split()).removeprefix(_ALL_PLUGINS_FAILED).strip())
    if not _PYTHON_ERROR.search(text):
        return text or type(exc).__name__
    plugin, _, _ = text.partition(": ")
    return f"{plugin} failed on its compressed data" if plugin.isidentifier() else "its decoder failed on the data"


def _checked_shape(path: str, arr: np.ndarray, index: int, n_rows: int, n_cols: int) -> np.ndarray:
    if arr.shape[:2] != (n_rows, n_cols):
        raise RejectedInput(
            path, f"frame {index} decodes to shape {arr.shape}, expected {n_rows}x{n_cols}"
        )
    return arr


def _checked_grey_converter(path: str, ds: Dataset, source: str | Dataset | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`grey_converter`, a header it cannot use (a broken palette...) as a rejection; with
    the pixel ``source``, the file's grey range (:func:`_value_range`) when it must come from the
    pixels."""
    value_range = None if source is None else (lambda: _value_range(path, source, ds))
    try:
        return grey_converter(ds, value_range)
    except HEADER_VALUE_ERRORS as exc:
        raise RejectedInput(path, f"unusable grey-level tags ({brief(exc)})") from exc


#: Grey ranges found by :func:`_value_range`, by the file's path and identity (inode, size,
#: modification and change times): each chunk of a file's frames and each overlay key frame
#: builds a converter; the first frames are decoded once. Decoder threads share it: a lock.
_VALUE_RANGES: dict[tuple, tuple[int, int] | None] = {}
_VALUE_RANGES_LOCK = threading.Lock()


def _value_range(path: str, source: str | Dataset, ds: Dataset) -> tuple[int, int] | None:
    """(lowest, highest) stored value of the file's first frame that is not blank, None when every
    frame is: the grey range of an image of more than 8 bits without a window."""
    stat = os.stat(path)
    key = (path, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    with _VALUE_RANGES_LOCK:
        if key in _VALUE_RANGES:
            return _VALUE_RANGES[key]
    found = None
    for index in range(max(1, tag_int(ds, "NumberOfFrames", 1))):
        frame = _decode_frame(path, source, index, ds)
        if frame.size and frame.min() < frame.max():
            found = (int(frame.min()), int(frame.max()))
            break
    with _VALUE_RANGES_LOCK:
        while len(_VALUE_RANGES) >= 256:
            _VALUE_RANGES.pop(next(iter(_VALUE_RANGES)))
        _VALUE_RANGES[key] = found
    return found


# ----------------------------------------------------------------------------- header values


def _parse_region(item: Dataset) -> UltrasoundRegion:
    return UltrasoundRegion(
        min_col=tag_int(item, "RegionLocationMinX0", 0),
        min_row=tag_int(item, "RegionLocationMinY0", 0),
        max_col=tag_int(item, "RegionLocationMaxX1", -1),
        max_row=tag_int(item, "RegionLocationMaxY1", -1),
        spatial_format=tag_optional_int(item, "RegionSpatialFormat"),
        data_type=tag_optional_int(item, "RegionDataType"),
        units_x=tag_optional_int(item, "PhysicalUnitsXDirection"),
        units_y=tag_optional_int(item, "PhysicalUnitsYDirection"),
        delta_x=to_float(item.get("PhysicalDeltaX")),
        delta_y=to_float(item.get("PhysicalDeltaY")),
    )


def _frame_time_ms(ds: Dataset) -> float | None:
    """FrameTime, else the mean of FrameTimeVector's increments (its first value, 0, is the first
    frame's), else 1000 / CineRate or RecommendedDisplayFrameRate; None when none is usable."""
    frame_time = positive_float(ds.get("FrameTime"))
    if frame_time is not None:
        return frame_time
    steps = float_list(ds.get("FrameTimeVector"))
    if steps and len(steps) > 1 and (mean := positive_float(sum(steps[1:]) / (len(steps) - 1))) is not None:
        return mean
    rate = positive_float(ds.get("CineRate")) or positive_float(
        ds.get("RecommendedDisplayFrameRate")
    )
    return 1000.0 / rate if rate else None
