"""Write ultrasound DICOM files (US Image Storage / US Multi-frame Image Storage).

Used by the synthetic study generator, the data samples and the tests. The files follow the
US Image module (Sequence of Ultrasound Regions, Frame Time, Frame Increment Pointer) so that any
viewer opens them. Encoders: pydicom's own RLE encoder, pyjpegls for JPEG-LS, pylibjpeg-openjpeg
for JPEG 2000 and Pillow for JPEG baseline (frames encapsulated one per fragment).

Pixel conventions:

* ``MONOCHROME2``: grey frames stored as they are; ``MONOCHROME1``: stored inverted
  (``255 - grey``) so that a correct reader gives the original grey back.
* ``RGB``: colour frames stored as they are. ``YBR_FULL``: colour frames converted to YCbCr
  (full range, ITU-R BT.601). ``YBR_FULL_422``: uncompressed, chroma averaged over pairs of
  columns (the number of columns must be even); with JPEG baseline, Pillow's 4:2:2 YCbCr.
* ``PALETTE COLOR``: grey frames stored as indices ``255 - grey`` with a palette of 16-bit entries
  mapping index ``j`` to grey ``255 - j`` (``(255 - j) * 257``), so a reader that forgets the
  palette gets an inverted image.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    JPEG2000,
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"

GREY_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")
COLOUR_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422")

#: Photometric interpretations each transfer syntax accepts in this writer.
SUPPORTED: dict[str, tuple[str, ...]] = {
    ExplicitVRLittleEndian: GREY_PHOTOMETRICS + COLOUR_PHOTOMETRICS,
    RLELossless: (*GREY_PHOTOMETRICS, "RGB", "YBR_FULL"),
    JPEGBaseline8Bit: ("MONOCHROME2", "YBR_FULL_422"),
    JPEGLSLossless: (*GREY_PHOTOMETRICS, "RGB"),
    JPEG2000Lossless: (*GREY_PHOTOMETRICS, "RGB"),
    JPEG2000: ("MONOCHROME2", "RGB"),
}

_JPEG_QUALITY = 95


def write_us_dicom(
    path: str | Path,
    frames: np.ndarray,
    *,
    patient_id: str,
    study_uid: str,
    study_date: str,
    series_uid: str,
    series_description: str = "",
    laterality: str | None = None,
    regions: Sequence[Mapping[str, Any]] = (),
    photometric: str = "MONOCHROME2",
    transfer_syntax: str = ExplicitVRLittleEndian,
    frame_time_ms: float | None = None,
    frame_spacing_mm: float | None = None,
    sop_instance_uid: str | None = None,
    manufacturer: str = "follicle_seg synth",
    image_comments: str | None = None,
    patient_name: str | None = None,
    instance_number: int = 1,
    acquired: str | None = None,
) -> str:
    """Write frames as an ultrasound DICOM file and return its SOP Instance UID.

    Parameters
    ----------
    path
        Output file; its folder must exist.
    frames
        ``(N, H, W)`` uint8 grey frames (``MONOCHROME1/2``, ``PALETTE COLOR``; ``MONOCHROME2``
        also accepts uint16 with lossless syntaxes) or ``(N, H, W, 3)`` uint8 RGB frames
        (``RGB``, ``YBR_FULL``, ``YBR_FULL_422``). One frame gives US Image Storage, several
        give US Multi-frame Image Storage.
    patient_id, study_uid, series_uid
        PatientID (0010,0020), StudyInstanceUID (0020,000D), SeriesInstanceUID (0020,000E).
    study_date
        ``YYYY-MM-DD``; written as StudyDate (0008,0020) ``YYYYMMDD``.
    series_description
        SeriesDescription (0008,103E).
    laterality
        ``"L"``, ``"R"`` or ``None`` (no ImageLaterality (0020,0062) tag; an empty Laterality
        (0020,0060) instead).
    regions
        Sequence of Ultrasound Regions items, each a mapping with ``min_col``, ``min_row``,
        ``max_col``, ``max_row`` (inclusive), ``delta_x_mm``, ``delta_y_mm`` and optionally
        ``spatial_format`` (default 1, 2D), ``data_type`` (default 1, tissue) and ``units``
        (default 3, cm: the mm deltas are divided by 10; with other units they are written as
        given).
    photometric
        One of ``MONOCHROME1``, ``MONOCHROME2``, ``RGB``, ``YBR_FULL``, ``YBR_FULL_422``,
        ``PALETTE COLOR`` (see the module docstring for how pixels are stored).
    transfer_syntax
        UID: Explicit VR Little Endian, RLE Lossless, JPEG Baseline 8-bit, JPEG-LS Lossless,
        JPEG 2000 Lossless or JPEG 2000 (see :data:`SUPPORTED` for the allowed combinations).
    frame_time_ms
        FrameTime (0018,1063), multi-frame only; defaults to 33.3 ms there.
    frame_spacing_mm
        SpacingBetweenSlices (0018,0088): distance between consecutive sweep frames.
    sop_instance_uid
        Generated when ``None``.
    manufacturer, image_comments, patient_name
        Manufacturer (0008,0070), ImageComments (0020,4000), PatientName (0010,0010; empty
        by default).
    instance_number
        InstanceNumber (0020,0013).
    acquired
        AcquisitionDateTime (0008,002A), ``YYYYMMDDHHMMSS[.FFFFFF]``; also written as
        ContentDate / ContentTime. ``None``: no time is written.

    Returns
    -------
    str
        The SOP Instance UID written.

    Raises
    ------
    ValueError
        On frames of the wrong shape or type, an unknown photometric, an unsupported
        photometric / transfer syntax pair, a bad date, laterality or region.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> frames = np.zeros((1, 64, 64), np.uint8)
    >>> out = os.path.join(tempfile.mkdtemp(), "a.dcm")
    >>> uid = write_us_dicom(out, frames, patient_id="P1", study_uid="1.2.3",
    ...                      study_date="2024-01-31", series_uid="1.2.3.4")
    >>> len(uid) > 0
    True
    """
    tsyntax = UID(transfer_syntax)
    stored = _stored_pixels(frames, photometric, tsyntax)
    n_frames, n_rows, n_cols = stored.shape[:3]
    uid = sop_instance_uid or generate_uid()

    ds = Dataset()
    _set_patient_study_series(
        ds,
        patient_id=patient_id,
        patient_name=patient_name,
        study_uid=study_uid,
        study_date=study_date,
        series_uid=series_uid,
        series_description=series_description,
        manufacturer=manufacturer,
    )
    ds.SOPClassUID = US_MULTIFRAME_IMAGE_STORAGE if n_frames > 1 else US_IMAGE_STORAGE
    ds.SOPInstanceUID = uid
    ds.InstanceNumber = int(instance_number)
    if acquired is not None:
        ds.AcquisitionDateTime = acquired
        ds.ContentDate, ds.ContentTime = acquired[:8], acquired[8:]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL", "0001"]
    ds.PatientOrientation = ""  # Type 2C, present (empty) in US images
    if laterality is not None:
        if laterality not in ("L", "R"):
            raise ValueError(f"laterality must be 'L', 'R' or None, not {laterality!r}.")
        ds.ImageLaterality = laterality
    else:
        ds.Laterality = ""  # Type 2C of the General Series module when ImageLaterality is absent
    if image_comments is not None:
        ds.ImageComments = image_comments
    if frame_spacing_mm is not None:
        ds.SpacingBetweenSlices = f"{float(frame_spacing_mm):.6g}"
    if n_frames > 1:
        ds.NumberOfFrames = n_frames
        ds.FrameTime = f"{float(frame_time_ms if frame_time_ms is not None else 33.3):.6g}"
        ds.FrameIncrementPointer = 0x00181063
    if regions:
        ds.SequenceOfUltrasoundRegions = DicomSequence(
            [_region_item(r, n_rows, n_cols) for r in regions]
        )
    _set_image_pixel_module(ds, stored, photometric)

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = uid  # type: ignore[assignment]  # (pydicom makes the str a UID)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if tsyntax == ExplicitVRLittleEndian and photometric == "YBR_FULL_422":
        ds.PixelData = _pack_ybr_full_422(stored)
    elif tsyntax == ExplicitVRLittleEndian:
        ds.PixelData = stored.tobytes()
    elif tsyntax == JPEGBaseline8Bit:
        _encode_jpeg_baseline(ds, stored, photometric)
    else:
        kwargs: dict[str, Any] = {"generate_instance_uid": False}
        if tsyntax == JPEG2000:
            kwargs["j2k_cr"] = [10]
        ds.compress(tsyntax, stored if n_frames > 1 else stored[0], **kwargs)
        if tsyntax == JPEG2000:
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionMethod = "ISO_15444_1"
    ds.save_as(Path(path), enforce_file_format=True)
    return str(uid)


def _stored_pixels(frames: np.ndarray, photometric: str, tsyntax: UID) -> np.ndarray:
    """Check the frames against the photometric and syntax; return the pixel values to store."""
    if tsyntax not in SUPPORTED:
        raise ValueError(f"Transfer syntax {tsyntax} is not one this writer encodes.")
    if photometric not in SUPPORTED[tsyntax]:
        raise ValueError(
            f"Photometric {photometric!r} cannot be written with {tsyntax.name}; "
            f"allowed: {', '.join(SUPPORTED[tsyntax])}."
        )
    arr = np.asarray(frames)
    colour = photometric in COLOUR_PHOTOMETRICS
    if colour and (arr.ndim != 4 or arr.shape[-1] != 3):
        raise ValueError(f"{photometric} needs frames of shape (N, H, W, 3), got {arr.shape}.")
    if not colour and arr.ndim != 3:
        raise ValueError(f"{photometric} needs frames of shape (N, H, W), got {arr.shape}.")
    lossless_16 = tsyntax not in (JPEGBaseline8Bit, JPEG2000)
    if arr.dtype == np.uint16 and not (photometric == "MONOCHROME2" and lossless_16):
        raise ValueError("uint16 frames are only written as MONOCHROME2 with a lossless syntax.")
    if arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"Frames must be uint8 (or uint16 for MONOCHROME2), got {arr.dtype}.")
    if min(arr.shape[:3]) < 1:
        raise ValueError(f"Frames must not be empty, got shape {arr.shape}.")
    if photometric in ("MONOCHROME1", "PALETTE COLOR"):
        return np.ascontiguousarray(255 - arr)
    if photometric == "YBR_FULL_422" and tsyntax == ExplicitVRLittleEndian and arr.shape[2] % 2:
        raise ValueError("Uncompressed YBR_FULL_422 needs an even number of columns.")
    if photometric == "YBR_FULL" or (photometric == "YBR_FULL_422" and tsyntax == ExplicitVRLittleEndian):
        # frame by frame: the conversion works in float64, 8 times the frames' size at once
        return np.stack([convert_color_space(frame, "RGB", "YBR_FULL") for frame in arr])
    return np.ascontiguousarray(arr)


def _pack_ybr_full_422(ybr: np.ndarray) -> bytes:
    """Uncompressed YBR_FULL_422 layout: ``Y1 Y2 Cb Cr`` per pair of columns (PS3.3 C.7.6.3.1.2)."""
    pairs = ybr.reshape(ybr.shape[0], ybr.shape[1], ybr.shape[2] // 2, 2, 3).astype(np.uint16)
    chroma = ((pairs[..., 0, 1:] + pairs[..., 1, 1:] + 1) // 2).astype(np.uint8)
    packed = np.concatenate([pairs[..., :, 0].astype(np.uint8), chroma], axis=-1)
    return np.ascontiguousarray(packed).tobytes()


def _set_patient_study_series(
    ds: Dataset,
    *,
    patient_id: str,
    patient_name: str | None,
    study_uid: str,
    study_date: str,
    series_uid: str,
    series_description: str,
    manufacturer: str,
) -> None:
    """Patient, General Study, General Series and General Equipment modules."""
    try:
        date = datetime.strptime(study_date, "%Y-%m-%d")
    except ValueError as exc:
        raise ValueError(f"study_date must be YYYY-MM-DD, got {study_date!r}.") from exc
    ds.PatientName = patient_name or ""
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = date.strftime("%Y%m%d")
    ds.StudyTime = "120000"
    ds.ContentDate = ds.StudyDate
    ds.ContentTime = "120000"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.Modality = "US"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 1
    ds.SeriesDescription = series_description
    ds.Manufacturer = manufacturer


def _region_item(region: Mapping[str, Any], n_rows: int, n_cols: int) -> Dataset:
    """One item of the Sequence of Ultrasound Regions (0018,6011)."""
    try:
        c0, r0 = int(region["min_col"]), int(region["min_row"])
        c1, r1 = int(region["max_col"]), int(region["max_row"])
        dx, dy = float(region["delta_x_mm"]), float(region["delta_y_mm"])
    except KeyError as exc:
        raise ValueError(f"Region is missing {exc.args[0]!r}.") from exc
    if not (0 <= c0 <= c1 < n_cols and 0 <= r0 <= r1 < n_rows):
        raise ValueError(
            f"Region ({c0}, {r0}, {c1}, {r1}) is not inside the {n_cols}x{n_rows} frame."
        )
    units = int(region.get("units", 3))
    scale = 0.1 if units == 3 else 1.0
    item = Dataset()
    item.RegionSpatialFormat = int(region.get("spatial_format", 1))
    item.RegionDataType = int(region.get("data_type", 1))
    item.RegionFlags = 0
    item.RegionLocationMinX0 = c0
    item.RegionLocationMinY0 = r0
    item.RegionLocationMaxX1 = c1
    item.RegionLocationMaxY1 = r1
    item.ReferencePixelX0 = (c0 + c1) // 2
    item.ReferencePixelY0 = r0
    item.PhysicalUnitsXDirection = units
    item.PhysicalUnitsYDirection = units
    item.PhysicalDeltaX = dx * scale
    item.PhysicalDeltaY = dy * scale
    return item


def _set_image_pixel_module(ds: Dataset, stored: np.ndarray, photometric: str) -> None:
    """Image Pixel module attributes (and the palette for PALETTE COLOR)."""
    bits = 16 if stored.dtype == np.uint16 else 8
    ds.SamplesPerPixel = 3 if photometric in COLOUR_PHOTOMETRICS else 1
    ds.PhotometricInterpretation = photometric
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.Rows = int(stored.shape[1])
    ds.Columns = int(stored.shape[2])
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    if photometric == "PALETTE COLOR":
        lut = ((255 - np.arange(256, dtype=np.uint16)) * 257).astype("<u2")  # 16-bit entries, as the descriptor says
        for colour in ("Red", "Green", "Blue"):
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            setattr(ds, f"{colour}PaletteColorLookupTableData", lut.tobytes())


def _encode_jpeg_baseline(ds: Dataset, stored: np.ndarray, photometric: str) -> None:
    """Encode each frame with Pillow (8-bit baseline) and encapsulate one frame per fragment."""
    from PIL import Image

    fragments = []
    for frame in stored:
        buf = io.BytesIO()
        if photometric == "MONOCHROME2":
            Image.fromarray(frame).save(buf, format="JPEG", quality=_JPEG_QUALITY)
        else:
            Image.fromarray(frame).save(buf, format="JPEG", quality=_JPEG_QUALITY, subsampling=1)
        fragments.append(buf.getvalue())
    raw_size = stored.nbytes
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = f"{raw_size / max(1, sum(map(len, fragments))):.4g}"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
