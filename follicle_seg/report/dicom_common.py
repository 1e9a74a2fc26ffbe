"""What the DICOM SEG and SR writers share: coded concepts, identities, UIDs, privacy.

Codes are the standard ones (SNOMED CT via ``pydicom.sr.codedict``, UCUM units) except the
follicle count, for which neither SNOMED CT nor DICOM defines a laterality-free concept; it uses
the private coding scheme ``99FSEG`` (private schemes are allowed by PS3.3 section 8.2 when
declared, which :data:`PRIVATE_SCHEME` does through CodingSchemeIdentificationSequence).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import highdicom as hd
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from follicle_seg import __version__
from follicle_seg.atomic import atomic_write

MANUFACTURER = "follicle_seg"
MODEL_NAME = "follicle_seg"
DEVICE_SERIAL = "0"

OVARY = codes.SCT.Ovary  # 15497006
FOLLICLE = codes.SCT.OvarianFollicleStructure  # 24162005
ANATOMICAL_STRUCTURE = codes.SCT.AnatomicalStructure  # 91723000

PRIVATE_SCHEME = "99FSEG"
FOLLICLE_COUNT = hd.sr.CodedConcept("follicle-count", PRIVATE_SCHEME, "Number of follicles")

MM = codes.UCUM.Millimeter
MM2 = codes.UCUM.SquareMillimeter
ML = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
FOLLICLES_UNIT = hd.sr.CodedConcept("{follicles}", "UCUM", "follicles")

LATERALITY_CODES = {"L": codes.SCT.Left, "R": codes.SCT.Right}

#: Patient attributes of Type 2 that would carry identity; written empty.
_BLANKED = ("PatientName", "PatientBirthDate")


def algorithm_identification() -> hd.AlgorithmIdentificationSequence:
    """Algorithm Identification of the SEG segments: this package and its version."""
    return hd.AlgorithmIdentificationSequence(
        name="follicle_seg",
        family=codes.DCM.ArtificialIntelligence,
        version=__version__,
    )


def derived_uid(source_uid: str, kind: str, content: bytes = b"") -> str:
    """A UID derived from the source SOP instance, the object kind and a content digest.

    Re-running the pipeline on the same input with the same result gives the same UID (a PACS
    then replaces rather than duplicates); different content gives a different UID, as the
    standard requires.
    """
    digest = hashlib.sha256(content).hexdigest()
    return str(generate_uid(entropy_srcs=[source_uid, kind, __version__, digest]))


def read_source(source_path: str | Path) -> Dataset:
    """Read a source image with its pixel data left undecoded (only the header is needed)."""
    return pydicom.dcmread(Path(source_path), defer_size="1 KB")


def strip_identity(ds: Dataset) -> None:
    """Empty PatientName and PatientBirthDate (Type 2: present, zero length).

    The objects are linked to the source by PatientID, StudyInstanceUID and the references to
    the source SOP instance; the name and birth date are never written by default.
    """
    for keyword in _BLANKED:
        if keyword in ds:
            setattr(ds, keyword, "")


def declare_private_scheme(ds: Dataset) -> None:
    """Add the Coding Scheme Identification item that declares :data:`PRIVATE_SCHEME`."""
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = "follicle_seg local codes"
    item.CodingSchemeResponsibleOrganization = "follicle_seg developers"
    ds.CodingSchemeIdentificationSequence = pydicom.Sequence([item])


def save_atomic(ds: Dataset, out_path: Path) -> Path:
    """Save ``ds`` next to ``out_path`` under a temporary name, then rename it into place."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out_path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))
    return out_path
