"""IHE IOCM rejection notes: Key Object Selection documents whose title rejects the instances they list.

A PACS export or a study folder copied from an archive may hold such a note beside the images a
sonographer withdrew (a poor image, one stored under the wrong patient's worklist entry): the
images it lists are not analysed (:func:`follicle_seg.intake.header_pass`). A Key Object Selection
of another title ("Of Interest") changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from follicle_seg.errors import RejectedInput
from follicle_seg.io.tags import tag_text
from follicle_seg.types import REJECTED_BY_NOTE, REJECTION_NOTE

KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"

#: The document titles (CID 7010, scheme DCM) of the rejection notes of IHE IOCM, by code value.
REJECTION_TITLES = {
    "113001": "Rejected for Quality Reasons",
    "113037": "Rejected for Patient Safety Reasons",
    "113038": "Incorrect Modality Worklist Entry",
    "113039": "Data Retention Policy Expired",
}


@dataclass(frozen=True)
class Rejection:
    """What a rejection note says: its title and the SOP instances it lists."""

    title: str
    sop_instance_uids: tuple[str, ...]

    def reason(self, note: str) -> str:
        """``images.csv``'s reason of an image the note at path ``note`` lists."""
        return f"{REJECTED_BY_NOTE} {note} ({self.title}): not analysed"


class RejectionNote(RejectedInput):
    """A file that is a rejection note: not an image; ``rejection`` says what it rejects."""

    def __init__(self, path: str, rejection: Rejection) -> None:
        self.rejection = rejection
        n = len(rejection.sop_instance_uids)
        super().__init__(path, f"{REJECTION_NOTE} ({rejection.title}) listing {n} instance(s): not an image; "
                               "the images it lists are not analysed")  # fmt: skip

    def __reduce__(self) -> tuple[type[RejectionNote], tuple[str, Rejection]]:  # type: ignore[override]
        return (type(self), (self.path, self.rejection))


def rejection_note(path: str, ds: Dataset) -> RejectionNote | None:
    """The note a Key Object Selection document titled as a rejection is (its instances listed in
    CurrentRequestedProcedureEvidenceSequence > ReferencedSeriesSequence > ReferencedSOPSequence);
    None for any other file."""
    if tag_text(ds, "SOPClassUID") != KEY_OBJECT_SELECTION:
        return None
    titles = ds.get("ConceptNameCodeSequence") or []
    title = titles[0] if titles else Dataset()
    if tag_text(title, "CodingSchemeDesignator") != "DCM" or tag_text(title, "CodeValue") not in REJECTION_TITLES:
        return None
    uids = [
        tag_text(item, "ReferencedSOPInstanceUID")
        for study in ds.get("CurrentRequestedProcedureEvidenceSequence") or []
        for series in study.get("ReferencedSeriesSequence") or []
        for item in series.get("ReferencedSOPSequence") or []
    ]
    listed = tuple(dict.fromkeys(uid for uid in uids if uid))
    return RejectionNote(path, Rejection(REJECTION_TITLES[tag_text(title, "CodeValue")], listed))
