"""What the DICOM SEG and SR writers share: coded concepts, identities, UIDs, privacy.

Codes are the standard ones (SNOMED CT via ``pydicom.sr.codedict``, UCUM units) except the
follicle count, for which neither SNOMED CT nor DICOM defines a laterality-free concept; it uses
the private coding scheme ``99FSEG`` (private schemes are allowed by PS3.3 section 8.2 when
declared, which :data:`PRIVATE_SCHEME` does through CodingSchemeIdentificationSequence).
"""

from __future__ import annotations

import codecs
import hashlib
import warnings
from copy import deepcopy
from pathlib import Path
from typing import NamedTuple

import highdicom as hd
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.charset import convert_encodings, default_encoding, python_encoding
from pydicom.multival import MultiValue
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid
from pydicom.valuerep import TM

from follicle_seg import __version__
from follicle_seg.atomic import atomic_write
from follicle_seg.io.dicom import iso_date
from follicle_seg.io.header import read_dicom
from follicle_seg.io.tags import uid_fault
from follicle_seg.types import Network

MANUFACTURER = "follicle_seg"
MODEL_NAME = "follicle_seg"
DEVICE_SERIAL = "0"

OVARY_CODE = codes.SCT.Ovary  # 15497006
FOLLICLE_CODE = codes.SCT.OvarianFollicleStructure  # 24162005
ANATOMICAL_STRUCTURE = codes.SCT.AnatomicalStructure  # 91723000

PRIVATE_SCHEME = "99FSEG"
FOLLICLE_COUNT = hd.sr.CodedConcept("follicle-count", PRIVATE_SCHEME, "Number of follicles")
#: The count of a file that is a frame of a sweep stored one file per frame: a follicle seen on
#: several of its files is in the count of each, so these counts are not to be added. (Its code
#: value fits the 16 characters of a Code Value: ``follicle-sections`` was written as a Long Code
#: Value, which highdicom 0.28 and readers of Code Value alone do not read.)
FOLLICLE_SECTIONS = hd.sr.CodedConcept("section-count", PRIVATE_SCHEME,
                                       "Number of follicle sections in this file of a sweep")  # fmt: skip
#: Of an image without mm per pixel (no ultrasound region, PixelSpacing or ImagerPixelSpacing
#: ingestion could use): the qualitative evaluation that says why its groups hold no size.
CALIBRATION = hd.sr.CodedConcept("calibration", PRIVATE_SCHEME, "Image calibration")
UNCALIBRATED = hd.sr.CodedConcept("uncalibrated", PRIVATE_SCHEME, "Uncalibrated: no mm per pixel, sizes not measured")
#: Of an image where the network found no ovary, said as "No" (SCT) in its ovary group: its count
#: of 0 is of an ovary not seen (follicles are counted inside an ovary only), not of one seen empty.
OVARY_FOUND = hd.sr.CodedConcept("ovary-found", PRIVATE_SCHEME, "Ovary found in this image")

MM = codes.UCUM.Millimeter
MM2 = codes.UCUM.SquareMillimeter
ML = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
FOLLICLES_UNIT = hd.sr.CodedConcept("{follicles}", "UCUM", "follicles")

LATERALITY_CODES = {"L": codes.SCT.Left, "R": codes.SCT.Right}

#: Patient attributes of Type 2 that would carry identity; written empty.
_BLANKED = ("PatientName", "PatientBirthDate", "PatientSex")
#: Identifying attributes a source may carry that the SEG/SR never keep (highdicom copies the
#: source's whole Patient module): those DICOM PS3.15's basic confidentiality profile removes
#: ("X") among the Patient, Patient Study and Clinical Trial Subject modules.
_REMOVED = (
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence", "PatientBirthTime", "PatientBirthName", "PatientMotherBirthName",
    "PatientAddress", "PatientTelephoneNumbers", "PatientTelecomInformation", "PatientComments",
    "ResponsiblePerson", "ResponsiblePersonRole", "ResponsibleOrganization", "PatientAge", "PatientSize",
    "PatientWeight", "EthnicGroup", "Occupation", "AdditionalPatientHistory", "MilitaryRank",
    "BranchOfService", "MedicalRecordLocator", "PatientReligiousPreference", "CountryOfResidence",
    "RegionOfResidence", "PregnancyStatus", "SmokingStatus", "MedicalAlerts", "Allergies", "PatientState",
    "PatientInsurancePlanCodeSequence", "PatientPrimaryLanguageCodeSequence", "ReferencedPatientSequence",
    "ReferencedPatientPhotoSequence", "PatientSexNeutered", "QualityControlSubject",
)  # fmt: skip
#: Study attributes that name people or orders, written empty in a pseudonymised run's objects.
_STUDY_BLANKED = ("AccessionNumber", "ReferringPhysicianName", "StudyID")
#: Free text and names of places and people (PS3.15 basic profile: removed) that highdicom
#: copies from the source, at the top level or in its Contributing Equipment items: a study
#: description may hold a record number, an institution names the clinic. Removed, wherever
#: they sit, from a pseudonymised run's objects.
_PSEUDONYMISED_REMOVED = (
    "StudyDescription", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
    "OperatorsName", "PerformingPhysicianName", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
    "RequestingPhysician", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "ConsultingPhysicianName", "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence", "AdmissionID",
    "IssuerOfAdmissionIDSequence", "ServiceEpisodeID", "ServiceEpisodeDescription", "IssuerOfServiceEpisodeIDSequence",
    "ReasonForPerformedProcedureCodeSequence", "PerformedProcedureStepDescription", "RequestAttributesSequence",
)  # fmt: skip
"""(Person Identification sequences, whose items require an institution, and the clinical trial
attributes, some required when others are present, go whole: :func:`_is_removed_whole`.)"""

#: What the SEG/SR keep of the patient and study attributes highdicom copies from the source
#: (Type 2 ones blanked as :func:`strip_identity` says).
_KEPT = frozenset({"PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                   "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
                   # a de-identified source's statement that it is, kept with it
                   "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence"})  # fmt: skip


#: The top-level attributes of the Patient, Patient Study and Clinical Trial Subject modules
#: (PS3.3 C.7.1.1, C.7.2.2, C.7.1.3), which highdicom copies from the source whole; of the
#: General Study and Clinical Trial Study modules (C.7.2.1, C.7.2.3). Written out, not read from
#: highdicom's private tables at run time (``tests/test_dicom_seg_sr.py`` compares them).
PATIENT_MODULES = (
    "ReferencedPatientSequence", "PatientName", "PatientID", "IssuerOfPatientID", "TypeOfPatientID",
    "IssuerOfPatientIDQualifiersSequence", "SourcePatientGroupIdentificationSequence",
    "GroupOfPatientsIdentificationSequence", "PatientBirthDate", "PatientBirthTime",
    "PatientBirthDateInAlternativeCalendar", "PatientDeathDateInAlternativeCalendar", "PatientAlternativeCalendar",
    "PatientSex", "QualityControlSubject", "StrainDescription", "StrainNomenclature", "StrainStockSequence",
    "StrainAdditionalInformation", "StrainCodeSequence", "GeneticModificationsSequence", "OtherPatientNames",
    "OtherPatientIDsSequence", "ReferencedPatientPhotoSequence", "EthnicGroupCodeSequence",
    "PatientSpeciesDescription", "PatientSpeciesCodeSequence", "PatientBreedDescription",
    "PatientBreedCodeSequence", "BreedRegistrationSequence", "ResponsiblePerson", "ResponsiblePersonRole",
    "ResponsibleOrganization", "PatientComments", "PatientIdentityRemoved", "DeidentificationMethod",
    "DeidentificationMethodCodeSequence", "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence",
    "PatientAge", "PatientSize", "PatientSizeCodeSequence", "PatientBodyMassIndex", "MeasuredAPDimension",
    "MeasuredLateralDimension", "PatientWeight", "MedicalAlerts", "Allergies", "Occupation", "SmokingStatus",
    "AdditionalPatientHistory", "PregnancyStatus", "LastMenstrualDate", "PatientSexNeutered", "ReasonForVisit",
    "ReasonForVisitCodeSequence", "AdmissionID", "IssuerOfAdmissionIDSequence", "ServiceEpisodeID",
    "ServiceEpisodeDescription", "IssuerOfServiceEpisodeIDSequence", "PatientState", "ClinicalTrialSponsorName",
    "ClinicalTrialProtocolID", "ClinicalTrialProtocolName", "IssuerOfClinicalTrialProtocolID",
    "OtherClinicalTrialProtocolIDsSequence", "ClinicalTrialSiteID", "ClinicalTrialSiteName",
    "IssuerOfClinicalTrialSiteID", "ClinicalTrialSubjectID", "IssuerOfClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID", "IssuerOfClinicalTrialSubjectReadingID",
    "ClinicalTrialProtocolEthicsCommitteeName", "ClinicalTrialProtocolEthicsCommitteeApprovalNumber"
)  # fmt: skip
STUDY_MODULES = (
    "StudyDate", "StudyTime", "AccessionNumber", "IssuerOfAccessionNumberSequence", "ReferringPhysicianName",
    "ReferringPhysicianIdentificationSequence", "ConsultingPhysicianName",
    "ConsultingPhysicianIdentificationSequence", "StudyDescription", "ProcedureCodeSequence", "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence", "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence", "ReferencedStudySequence", "StudyInstanceUID", "StudyID",
    "RequestingService", "RequestingServiceCodeSequence", "ReasonForPerformedProcedureCodeSequence",
    "ClinicalTrialTimePointID", "ClinicalTrialTimePointDescription", "LongitudinalTemporalOffsetFromEvent",
    "LongitudinalTemporalEventType", "ClinicalTrialTimePointTypeCodeSequence", "IssuerOfClinicalTrialTimePointID",
    "ConsentForClinicalTrialUseSequence"
)  # fmt: skip

#: Every patient attribute but the kept ones (alternative calendars, last menstrual date, reason
#: for visit, clinical trial subject...): never in the SEG/SR.
_PATIENT_REMOVED = frozenset(PATIENT_MODULES) - _KEPT
#: Every study attribute but the kept ones (referenced study, procedure codes, requesting service,
#: the accession number's issuer, clinical trial time point...): not in a pseudonymised run's.
_STUDY_REMOVED = frozenset(STUDY_MODULES) - _KEPT

#: The ultrasound image SOP classes highdicom is given in place of a source's: its IOD tables
#: lack the retired ultrasound classes, and it segments a multi-frame image only within a Frame
#: of Reference, which an ultrasound cine has not (highdicom issue #284).
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
STAND_INS = {"1.2.840.10008.5.1.4.1.1.6": US_IMAGE, "1.2.840.10008.5.1.4.1.1.3": "1.2.840.10008.5.1.4.1.1.3.1"}


def algorithm_identification(network: Network | None = None) -> hd.AlgorithmIdentificationSequence:
    """Algorithm Identification of the SEG segments: the network's version, its weights' hash and
    this package's version as parameters (without ``network``, this package and its version)."""
    if network is None:
        return hd.AlgorithmIdentificationSequence(
            name="follicle_seg", family=codes.DCM.ArtificialIntelligence, version=__version__
        )
    return hd.AlgorithmIdentificationSequence(
        name="follicle_seg network",
        family=codes.DCM.ArtificialIntelligence,
        version=network.version,
        parameters=algorithm_parameters(network),
    )


def derived_series_uid(kind: str, source: Dataset, patient: str) -> str:
    """The Series Instance UID of ``kind`` (``SEG``, ``SR``) objects of the source's series: one
    SEG and one SR series per source series, holding the objects of each of its files (a sweep
    stored as 6 files, or a series of stills, made 6 SEG and 6 SR series alike in a PACS), of the
    ``patient`` the objects name (:func:`patient_key`); a cine's SEGs, one per key frame numbered
    by frame, a series of their own (two cines of a series numbered their SEGs alike)."""
    if kind == "SEG" and n_frames(source) > 1:
        return derived_uid(str(source.SOPInstanceUID), f"{kind} series {patient}")
    return derived_uid(str(source.SeriesInstanceUID), f"{kind} series {patient}")


def patient_key(source: Dataset, pseudonymised: bool) -> str:
    """The patient the objects name, for their UIDs: a pseudonymised run's and a plain run's
    objects of one source must not share one (a PACS given both would hold one instance under
    two patients)."""
    return f"{source.get('PatientID', '')}{' pseudonymised' if pseudonymised else ''}"


def source_instance_number(source: Dataset) -> int:
    """The source's Instance Number (1 when it has none that is a positive number): its objects
    sort as the files of its series do.

    >>> source_instance_number(Dataset())
    1
    """
    try:
        number = int(source.get("InstanceNumber") or 1)
    except (TypeError, ValueError):
        return 1
    return number if number > 0 else 1


def derived_series_description(kind: str, source: Dataset) -> str:
    """``follicle_seg segmentation of series 3``: each source series' objects are a series of their
    own, and a PACS lists them by number and description (seven alike were told apart only by
    opening them). The source's series number only: its description may hold free text.

    >>> derived_series_description("measurements", Dataset())
    'follicle_seg measurements'
    """
    number = str(source.get("SeriesNumber", "") or "").strip()
    return f"follicle_seg {kind}" + (f" of series {number}" if number else "")


def made_by(network: Network | None) -> bytes:
    """What made an object, for its content-derived SOP Instance UID: a PACS keeps the first
    instance of a UID, so another network's object must not reuse one (the package version is
    in every derived UID already)."""
    return f"{network.version} {network.weights_sha256}".encode() if network is not None else b""


def algorithm_parameters(network: Network) -> dict[str, str]:
    """What names a network beyond its version (a fine-tuned copy may keep it)."""
    return {"weights_sha256": network.weights_sha256, "follicle_seg": __version__}


def derived_uid(source_uid: str, kind: str, content: bytes = b"") -> str:
    """A UID derived from a source UID (the SOP instance's; a series UID's for a derived series),
    the object kind and a content digest.

    Re-running the pipeline on the same input with the same result gives the same UID (a PACS
    then replaces rather than duplicates); different content gives a different UID, as the
    standard requires.
    """
    digest = hashlib.sha256(content).hexdigest()
    return str(generate_uid(entropy_srcs=[source_uid, kind, __version__, digest]))


#: Dates highdicom reads from the source: written ``YYYYMMDD`` (the ACR-NEMA ``2024-06-11`` and
#: ``2024.06.11`` that ingestion reads included), empty when not a calendar day.
_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
#: Times highdicom reads from the source: written ``HHMMSS.FFFFFF`` (``12:00:00`` read past, a
#: seventh fraction digit dropped), empty when not a time of day.
_TIMES = ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime")
#: Type 2 attributes highdicom reads from the source unguarded: present (maybe empty) in a valid
#: image, dropped by some de-identifying exports.
_TYPE2 = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
          "StudyDate", "StudyTime", "ReferringPhysicianName")  # fmt: skip


class UnfitSource(ValueError):
    """A source image that objects referring to it cannot be made of (a UID they need is missing)."""


#: What a SEG or SR needs of its source to name it (Type 1 in the objects' references and study).
_REFERENCED = {"SOPClassUID": "(0008,0016)", "SOPInstanceUID": "(0008,0018)",
               "StudyInstanceUID": "(0020,000D)", "SeriesInstanceUID": "(0020,000E)"}  # fmt: skip


class Source(NamedTuple):
    """A source image as :func:`read_source` read it, once for all the objects made of it."""

    header: Dataset
    """Its header, fit for highdicom; the objects share its elements (highdicom copies them by
    reference), so they replace them, never set them (:func:`strip_identity`)."""
    charset: str | MultiValue | None
    """Its Specific Character Set as the file spells it (:func:`keep_source_charset`)."""


def read_source(source_path: str | Path) -> Source:
    """Read a source image with its pixel data left undecoded (only the header is needed), its
    header made fit for highdicom: dates and times in the DICOM form (:data:`_DATES`, :data:`_TIMES`; one
    that is not a calendar day or time, ``20250231`` say, which ingestion reads past, empty), the
    patient's name, birth date and sex empty as the objects write them (:func:`strip_identity`:
    highdicom refused a birth date ``00000000`` or a sex ``W``), the Type 2 attributes it reads
    (:data:`_TYPE2`) present, a character set whose first value is empty (the default
    repertoire before code extensions) spelt out, and a misspelt one (``ISO_IR100``, ``UTF-8``)
    written as the defined term pydicom reads it as (:func:`_charset_term`).

    Raises
    ------
    UnfitSource
        When the source lacks a UID the objects must name it by (:data:`_REFERENCED`), or has one
        unfit to be one (:func:`~follicle_seg.io.tags.uid_fault`).
    """
    source = read_dicom(Path(source_path), defer_size="1 KB")
    missing = [f"{k} {tag}" for k, tag in _REFERENCED.items() if not str(source.get(k, "") or "").strip()]
    if missing:
        raise UnfitSource(f"the source has no {', '.join(missing)}: an object referring to it cannot name it")
    if faults := [f for k in _REFERENCED if (f := uid_fault(k, str(source.get(k, "") or "").strip()))]:
        # (a 5-million-character StudyInstanceUID made 10 MB objects no PACS takes)
        raise UnfitSource(f"the source's {'; '.join(faults)}: an object referring to it cannot name it by it")
    for keyword, form in (*((k, _dicom_date) for k in _DATES), *((k, _dicom_time) for k in _TIMES)):
        value = str(source.get(keyword, "") or "")
        if value:
            source.pop(keyword)
            setattr(source, keyword, form(value))
    for keyword in _BLANKED:
        source.pop(keyword, None)
        setattr(source, keyword, "")
    for keyword in _TYPE2:
        if keyword not in source:
            setattr(source, keyword, "")
    charset = source.get("SpecificCharacterSet")
    if charset is not None:  # (the text, not read yet, is then read in the term meant)
        fit = fit_charset(charset)
        del source.SpecificCharacterSet
        if fit is not None:
            source.SpecificCharacterSet = fit
    return Source(source, charset)


def fit_charset(charsets: str | MultiValue, *, spell_out: bool = True) -> str | list[str] | None:
    """A source's Specific Character Set as an object written from it may state it: a first value
    left empty (the default repertoire before code extensions) spelt out for highdicom (kept empty
    with ``spell_out=False``, as the objects are saved: :func:`keep_source_charset`), a misspelt
    single term (``ISO_IR100``, ``UTF-8``) written as the defined term pydicom reads it as
    (:func:`_charset_term`), ``None`` for none to write (empty, or the default repertoire).

    >>> fit_charset("ISO_IR100"), fit_charset(["", "ISO 2022 IR 100"]), fit_charset("ISO_IR 192"), fit_charset("")
    ('ISO_IR 100', ['ISO 2022 IR 6', 'ISO 2022 IR 100'], 'ISO_IR 192', None)
    >>> fit_charset(["", "ISO 2022 IR 87"], spell_out=False)
    ['', 'ISO 2022 IR 87']
    """
    if isinstance(charsets, (list, MultiValue)):
        values = list(charsets)
        if len(values) == 1:
            return fit_charset(values[0], spell_out=spell_out)
        if values and not values[0] and spell_out:
            return ["ISO 2022 IR 6", *values[1:]]  # PS3.3 C.12.1.1.2
        return values or None
    if not charsets:
        return None
    return charsets if charsets in _SINGLE_CHARSETS else _charset_term(charsets)


def spells(charsets: str | MultiValue | None, text: str) -> bool:
    """Whether an object whose Specific Character Set is ``charsets`` (as :func:`fit_charset`
    gives it) can write ``text``: ASCII always, other characters in one of its repertoires only
    (the default repertoire has none: pydicom wrote "José" in Latin-1 without saying so).

    >>> spells(None, "AB"), spells(None, "José"), spells("ISO_IR 100", "José"), spells("ISO_IR 100", "Łukasz")
    (True, False, True, False)
    """
    if text.isascii():
        return True
    for value in [charsets] if isinstance(charsets, str) else list(charsets or ()):
        codec = python_encoding.get(value)
        if codec is not None and codec != default_encoding:
            try:
                text.encode(codec)
                return True
            except UnicodeEncodeError:
                continue
    return False


#: The single character sets highdicom takes (code extensions need several values).
_SINGLE_CHARSETS = frozenset(v.value for v in hd.SpecificCharacterSetValues if not v.value.startswith("ISO 2022"))


def _charset_term(value: str) -> str | None:
    """The defined term of a single character set that pydicom reads and highdicom refuses: the
    one pydicom reads its text as (an unknown term as Latin-1, pydicom's default); None for
    ``ISO_IR 6``, the default repertoire.

    >>> _charset_term("ISO_IR100"), _charset_term("ISO-8859-1"), _charset_term("UTF-8"), _charset_term("ISO_IR 6")
    ('ISO_IR 100', 'ISO_IR 100', 'ISO_IR 192', None)
    """
    if python_encoding.get(value) == default_encoding:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's own note of the misspelling
        codec = convert_encodings([value])[0]
    try:
        name = codecs.lookup(codec).name
    except LookupError:  # read as pydicom's default
        name = codecs.lookup(default_encoding).name
    return next((term for term, known in python_encoding.items()
                 if term in _SINGLE_CHARSETS and codecs.lookup(known).name == name), None)  # fmt: skip


def _dicom_date(value: str) -> str:
    """DICOM DA of a date ingestion reads, ``""`` for one it does not.

    >>> _dicom_date("2024-06-11"), _dicom_date("20250231")
    ('20240611', '')
    """
    return iso_date(value).replace("-", "")


def _dicom_time(value: str) -> str:
    """DICOM TM of a time, colons and a seventh fraction digit dropped; ``""`` when not a time.

    >>> _dicom_time("12:00:00.5"), _dicom_time("120000.1234567"), _dicom_time("2500"), _dicom_time("noon")
    ('120000.5', '120000.123456', '', '')
    """
    whole, dot, fraction = value.strip().replace(":", "").partition(".")
    text = whole + dot + fraction[:6]
    try:
        TM(text)
    except ValueError:
        return ""
    return text


def strip_identity(ds: Dataset, *, pseudonymised: bool = False) -> None:
    """Keep of the source's patient only its PatientID: name, birth date and sex empty (Type 2:
    present, zero length), every other attribute of the Patient, Patient Study and Clinical
    Trial Subject modules (:data:`_REMOVED`, :data:`_PATIENT_REMOVED`) gone; in a pseudonymised
    run also the accession number, referring physician and study ID empty, the other General
    Study and Clinical Trial Study attributes (:data:`_STUDY_REMOVED`) gone, and the names of
    institutions and people (:data:`_PSEUDONYMISED_REMOVED`) gone from every level of the object.

    The objects are linked to the source by PatientID, StudyInstanceUID and the references to
    the source SOP instance.
    """
    for keyword in (*_BLANKED, *(_STUDY_BLANKED if pseudonymised else ())):
        if keyword in ds:  # a new element: this one may be the source's, which its other objects share
            ds[keyword] = DataElement(ds[keyword].tag, ds[keyword].VR, "")
    for keyword in (*_REMOVED, *_PATIENT_REMOVED, *(_STUDY_REMOVED if pseudonymised else ())):
        ds.pop(keyword, None)
    if pseudonymised:
        _remove_everywhere(ds, _PSEUDONYMISED_REMOVED)


#: Sequences of the Person Identification Macro (a doctor's staff code, phone, address; their
#: items require an institution): removed whole from a pseudonymised run's objects.
_PERSON_SEQUENCES = frozenset({
    "ReferringPhysicianIdentificationSequence", "ConsultingPhysicianIdentificationSequence",
    "PhysiciansOfRecordIdentificationSequence", "PhysiciansReadingStudyIdentificationSequence",
    "PerformingPhysicianIdentificationSequence", "OperatorIdentificationSequence",
    "RequestingPhysicianIdentificationSequence", "HumanPerformerCodeSequence",
})  # fmt: skip


def _is_removed_whole(keyword: str) -> bool:
    """Person Identification sequences (:data:`_PERSON_SEQUENCES`) and the Clinical Trial
    modules' attributes (site, subject ID, their issuers; some required when others are present):
    removed whole from a pseudonymised run's objects, at any depth."""
    return keyword in _PERSON_SEQUENCES or "ClinicalTrial" in keyword


def _remove_everywhere(ds: Dataset, keywords: tuple[str, ...]) -> None:
    """Remove ``keywords`` (and what :func:`_is_removed_whole` names) from ``ds`` and from the
    items of each of its sequences, at any depth."""
    for keyword in [*keywords, *(e.keyword for e in ds if e.keyword and _is_removed_whole(e.keyword))]:
        ds.pop(keyword, None)
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                _remove_everywhere(item, keywords)


def n_frames(source: Dataset) -> int:
    """The source's number of frames (1 for a single-frame image)."""
    return int(source.get("NumberOfFrames", 1) or 1)


def header_view(source: Dataset, sop_class: str) -> Dataset:
    """The source's header (no pixel data) as an image of ``sop_class``, for highdicom to build
    on (:data:`STAND_INS`); :func:`refer_to_source` then names the source's own class again."""
    view = Dataset()
    # by tag: iterating over the elements would read a deferred pixel data element (a whole
    # cine, once per key frame's SEG) only to drop it
    for tag in source.keys():
        if tag.group != 0x7FE0:
            view.add(source[tag])  # shared, not copied: the view only drops and replaces elements
    view.file_meta = source.file_meta
    view.pop("SOPClassUID")  # (setting a shared element would change the source's too)
    view.SOPClassUID = sop_class
    return view


def refer_to_source(ds: Dataset, source: Dataset, frame_number: int | None = None) -> None:
    """Make every reference of ``ds`` to ``source`` (anywhere in its sequences) name the source's
    own SOP class; with ``frame_number``, its Source Image Sequence items also that frame."""
    uid, cls = str(source.SOPInstanceUID), str(source.SOPClassUID)
    for element in list(ds):
        if element.VR != "SQ":
            continue
        for k, item in enumerate(element.value):
            if str(item.get("ReferencedSOPInstanceUID", "")) == uid:
                item = element.value[k] = deepcopy(item)  # highdicom shares items between sequences
                item.ReferencedSOPClassUID = cls
                if frame_number is not None and element.keyword == "SourceImageSequence":
                    item.ReferencedFrameNumber = frame_number
            refer_to_source(item, source, frame_number)


def declare_private_scheme(ds: Dataset) -> None:
    """Add the Coding Scheme Identification item that declares :data:`PRIVATE_SCHEME`."""
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = "follicle_seg local codes"
    item.CodingSchemeResponsibleOrganization = "follicle_seg developers"
    ds.CodingSchemeIdentificationSequence = pydicom.Sequence([item])


def keep_source_charset(ds: Dataset, source: Source) -> None:
    r"""Give ``ds`` its source's character set as the source spells it, where :func:`read_source`
    spelt out an empty first value for highdicom: Orthanc read ``ISO 2022 IR 6\ISO 2022 IR 87``
    as another encoding and showed a Japanese name copied from the source garbled."""
    original = source.charset
    written = ds.get("SpecificCharacterSet")  # (not when another was chosen: UTF-8 for a reviewer's name)
    if isinstance(original, MultiValue) and original and not original[0] and isinstance(written, MultiValue):
        ds.SpecificCharacterSet = list(original)


def save_atomic(ds: Dataset, out_path: Path) -> Path:
    """Save ``ds`` next to ``out_path`` under a temporary name, then rename it into place."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out_path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))
    return out_path
