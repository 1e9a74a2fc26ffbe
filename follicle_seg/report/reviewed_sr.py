"""The DICOM SR of each image a review changed, written again as reviewed.

A review (``OUT/review.csv``, :mod:`follicle_seg.review`) changes the tables without analysing
again, and ``follicle-seg send`` stores ``OUT/dicom`` in a PACS, whose reader must not find there a
follicle the reviewer rejected. So the SR of each analysed image that a decision changes (a
follicle said ``not_follicle``, a candidate said ``follicle``, a side given) is written again from
the image as reviewed, with the outlines the run state keeps (``ImageResult.outlines``): its
follicles and their measurements as ``follicles.csv`` gives them, its count as theirs, its side as
decided (its ovary then on its outline, not the SEG's ovary segment, which says the side as
analysed), VERIFIED by the reviewers, under a new SOP Instance UID. An image no decision changes any
more gets the network's SR back, under its UID as before. The run state notes what each SR written
again says, so a run with the same review writes none again. The SEGs stay the network's: the
masks are not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from follicle_seg.artefacts import write_measurements
from follicle_seg.review import Review
from follicle_seg.state import StateStore
from follicle_seg.types import ImageResult, Network

#: + SOP instance UID: what the image's SR written as reviewed says (a run-state note).
REVIEWED_SR = "SR written as reviewed: "


def write_reviewed_srs(
    out: Path, results: Sequence[ImageResult], review: Review, store: StateStore, *,
    places: dict[str, tuple[int, int]], pseudonymised: bool = False, network: Network | None = None,
) -> tuple[int, list[str]]:
    """Write again the SR in ``out/dicom`` of each of ``results`` whose review is not the one it
    says: as ``review`` makes it, or as the network found it once no decision changes it;
    ``places``: the stills' places in a sweep of single-frame files, as their SRs say. Returns
    how many were written, and a line for each image whose SR stays as it was though the review
    changes it (analysed by a version that kept no outlines; an SR that could not be written:
    the tables are built all the same)."""
    said = store.notes(REVIEWED_SR)
    written, left = 0, []
    for r in results:
        if r.status != "ok" or r.record is None:
            continue
        uid = r.record.sop_instance_uid
        if not (out / "dicom" / f"{uid}_sr.dcm").is_file():
            continue
        reviewed, reviewers = review.of_image(r)
        side = reviewed.analysed_record().laterality
        moved = side != r.analysed_record().laterality  # not citing the SEG's ovary segment, of the side as analysed
        says = repr(([f.follicle_id for f in reviewed.follicles], side, reviewers, not moved)) if reviewers else None
        if said.get(uid) == says:
            continue
        if r.outlines is None:  # analysed before outlines were kept
            left.append(f"{r.path}: its SR stays the network's (analysed before outlines were kept: --no-resume)")
            continue
        try:
            write_measurements(out, reviewed, pseudonymised=pseudonymised, network=network, in_sweep=places.get(uid),
                               verified_by=reviewers, cite_seg=not moved)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one image's SR, as the engine's DICOM_NOT_WRITTEN
            left.append(f"{r.path}: its SR could not be written as reviewed ({type(exc).__name__}: {exc})")
            continue
        if says is None:
            store.forget(REVIEWED_SR + uid)
        else:
            store.note(REVIEWED_SR + uid, says)
        written += 1
    return written, left
