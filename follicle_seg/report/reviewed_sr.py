"""The DICOM SR and SEGs of each image a review changed, written again as reviewed.

A review (``OUT/review.csv``, :mod:`follicle_seg.review`) changes the tables without analysing
again, and ``follicle-seg send`` stores ``OUT/dicom`` in a PACS, whose reader must not find there a
follicle the reviewer rejected. So the SR of each analysed image that a decision changes (a
follicle said ``not_follicle``, a candidate said ``follicle``, a side given) is written again from
the image as reviewed, with the outlines the run state keeps (``ImageResult.outlines``): its
follicles and their measurements as ``follicles.csv`` gives them, its count as theirs, its side as
decided, VERIFIED by the reviewers, every SR written for the image before it (the network's,
each earlier review's, as the run state notes them, with those the SR it replaces names; each
once, in the order written, never itself) its predecessors, under a new SOP
Instance UID; and so are its SEGs (:mod:`follicle_seg.report.reviewed_seg`), which a still's SR
refers to. In a sweep stored one file per frame, a decision about the follicle the tables name
(by the file of its largest section) is one about its section in every file of the sweep
(:func:`~follicle_seg.series.named_by`). An image no decision changes any more gets the network's
SR and SEGs back, under their UIDs as before (the SEGs byte for byte; the SR the network's
content, naming none, written anew with new creation times; a
reviewed SR a PACS holds stays current there until the next review's, which names it). The run
state notes what each SR written again says, so a run with the same review writes none again,
and every SR written for each image, which outlives the network's given back, the image
analysed again and ``--no-resume`` (never forgotten: about 240 bytes an SR; a damaged note is
taken for none, and said). An image whose SR and SEGs cannot all be written gets back the files
the write changed, renamed into place together; should that fail too (a full disk), the line
says ``dicom/`` holds some of each, which the next run writes again.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from follicle_seg.artefacts import seg_filename, write_measurements
from follicle_seg.atomic import atomic_write_all
from follicle_seg.outnames import sr_uid
from follicle_seg.report.reviewed_seg import NETWORK_SEG, forget_kept_segs, kept_segs, network_segs, write_reviewed_segs
from follicle_seg.review import Review
from follicle_seg.series import named_in_sweeps
from follicle_seg.state import StateStore
from follicle_seg.types import Follicle, ImageResult, Network

#: + SOP instance UID: what the image's SR written as reviewed says (a run-state note).
REVIEWED_SR = "SR written as reviewed: "
#: + SOP instance UID: every SR written in ``dicom/`` for the image, the network's and each
#: review's, in the order written (JSON: [study, series, SOP class, SOP instance UID]s; a run-state note).
SRS_WRITTEN = "SRs written: "


def write_reviewed_srs(
    out: Path, results: Sequence[ImageResult], review: Review, store: StateStore, *,
    places: dict[str, tuple[int, int]], pseudonymised: bool = False, network: Network | None = None,
    named: Mapping[tuple[str, int], Follicle] | None = None,
) -> tuple[int, list[str]]:
    """Write again the SR and SEGs in ``out/dicom`` of each of ``results`` whose review is not the
    one its SR says: as ``review`` makes them, or as the network found them once no decision changes them;
    ``places``: the stills' places in a sweep of single-frame files, as their SRs say; ``named``:
    :func:`~follicle_seg.series.named_in_sweeps` of ``results`` as sided (tracked here if not given). Returns
    how many images' were written, and a line for each image whose SR stays as it was though the
    review changes it (an SR that could not be written: the tables are built all the same), and
    for each whose SR in ``out/dicom`` could not be read (the one written as reviewed names no
    predecessor)."""
    said = store.notes(REVIEWED_SR)
    kept = kept_segs(store)
    named = named_in_sweeps(review.sided(results)) if named is None else named
    written, left = 0, []
    for r in results:
        if r.status != "ok" or r.record is None:
            continue
        uid = r.record.sop_instance_uid
        sr = out / "dicom" / f"{uid}_sr.dcm"
        if not sr.is_file():
            continue
        reviewed, reviewers = review.of_image(r, named)
        side = reviewed.analysed_record().laterality
        says = repr(([f.follicle_id for f in reviewed.follicles], side, reviewers)) if reviewers else None
        standing = "the network's" if said.get(uid) is None and uid not in kept else "as an earlier review wrote them"
        if said.get(uid) == says and (says is not None or uid not in kept):  # (a network's SEG left to give back)
            continue
        files = [sr, *(out / "dicom" / seg_filename(r.record, frame) for frame in r.key_frames)]
        before = {path: path.read_bytes() if path.is_file() else None for path in files}
        kept_before = store.notes(f"{NETWORK_SEG}{uid}_")
        earlier = written_srs(store, uid)
        if earlier is None:
            left.append(f"{r.path}: the run state's note of the SRs written for it cannot be read: the SR written as "
                        "reviewed names those dicom/ holds only")  # fmt: skip
            earlier = []
        try:
            earlier = once([*earlier, *predecessors(before[sr])])
        except Exception as exc:  # noqa: BLE001 - a damaged file, whatever pydicom makes of it
            left.append(f"{r.path}: its SR in dicom/ cannot be read ({type(exc).__name__}: {exc}): the SR written as "
                        f"reviewed names {'only the SRs the run state notes' if earlier else 'no predecessor'}")  # fmt: skip
        replaced = earlier if reviewers else []
        try:
            segs = network_segs(out, r, store)
            write_reviewed_segs(out, r, reviewed, segs, store, pseudonymised=pseudonymised, network=network)
            write_measurements(out, reviewed, pseudonymised=pseudonymised, network=network, in_sweep=places.get(uid),
                               verified_by=reviewers, predecessors=replaced)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one image's SR, as the engine's DICOM_NOT_WRITTEN
            failed = f"{r.path}: its SR and SEGs could not be written as reviewed ({type(exc).__name__}: {exc})"
            try:
                _put_back(store, uid, before, kept_before)
            except OSError as again:
                left.append(f"{failed}, nor put back as they were ({again.strerror or again}): dicom/ holds some of "
                            "each, written again by the next run")  # fmt: skip
                continue
            left.append(f"{failed}: they stay {standing}")
            continue
        _note_written(store, uid, once([*earlier, *predecessors(sr.read_bytes())]))
        if says is None:
            store.forget(REVIEWED_SR + uid)
        else:
            store.note(REVIEWED_SR + uid, says)
        written += 1
    return written, left


def predecessors(sr: bytes | None) -> list[Dataset]:
    """What an SR written as reviewed in place of ``sr`` (the network's, or one an earlier review
    wrote) names in its Predecessor Documents Sequence: every SR ``sr`` names there (the network's
    and each earlier review's, one of them perhaps sent to a PACS already), then ``sr``; each once."""
    if sr is None:
        return []
    ds = pydicom.dcmread(io.BytesIO(sr), stop_before_pixels=True)
    named = [_instance(study.StudyInstanceUID, series.SeriesInstanceUID, item.ReferencedSOPClassUID,
                       item.ReferencedSOPInstanceUID)
             for study in ds.get("PredecessorDocumentsSequence", ()) for series in study.ReferencedSeriesSequence
             for item in series.ReferencedSOPSequence]  # fmt: skip
    named.append(_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPClassUID, ds.SOPInstanceUID))
    return once(named)


def once(srs: Sequence[Dataset]) -> list[Dataset]:
    """``srs`` each once (by SOP Instance UID), in the order first named."""
    first: dict[str, Dataset] = {}
    for item in srs:
        first.setdefault(str(item.SOPInstanceUID), item)
    return list(first.values())


def written_srs(store: StateStore, uid: str) -> list[Dataset] | None:
    """Every SR the run state notes written for image ``uid`` (:data:`SRS_WRITTEN`), in the order
    written; None when the note is not one the run writes (damaged: taken for none)."""
    noted = store.noted(SRS_WRITTEN + uid)
    try:
        items = json.loads(noted) if noted else []
    except ValueError:
        return None
    if not isinstance(items, list) or not all(isinstance(item, list) and len(item) == 4
                                              and all(isinstance(v, str) for v in item) for item in items):  # fmt: skip
        return None
    return [_instance(*item) for item in items]


def note_srs_on_disk(out: Path, store: StateStore) -> None:
    """Note, for each image with an SR in ``out/dicom`` of which the run state notes none written
    (:data:`SRS_WRITTEN`: a folder written before they were noted; a damaged note, taken for none),
    the SRs that one is and names, before ``--no-resume`` removes it: the next SR written as
    reviewed names them all. An SR that cannot be read gives none."""
    noted = store.notes(SRS_WRITTEN)
    for sr in sorted((out / "dicom").glob("*_sr.dcm")):
        uid = sr_uid(sr.name)
        if uid in noted and written_srs(store, uid) is not None:
            continue
        try:
            srs = predecessors(sr.read_bytes())
        except Exception:  # noqa: BLE001 - a damaged file, whatever pydicom makes of it
            continue
        _note_written(store, uid, srs)


def _note_written(store: StateStore, uid: str, srs: Sequence[Dataset]) -> None:
    store.note(SRS_WRITTEN + uid, json.dumps([[str(s.StudyInstanceUID), str(s.SeriesInstanceUID), str(s.SOPClassUID),
                                              str(s.SOPInstanceUID)] for s in srs]))  # fmt: skip


def _instance(study: str, series: str, sop_class: str, sop_instance: str) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPClassUID, ds.SOPInstanceUID = study, series, sop_class, sop_instance
    return ds


def _put_back(store: StateStore, uid: str, files: dict[Path, bytes | None], kept: dict[str, str]) -> None:
    """The SR and SEGs of image ``uid`` as they were (``files``, None for none), with the network
    SEGs the run state kept then (``kept``), after they could not all be written as reviewed: those
    a write changed, all renamed into place together once each is written beside its own (a
    write that failed left its file as it was; a full disk may leave no room for the others)."""
    changed = {path: data for path, data in files.items() if (path.read_bytes() if path.is_file() else None) != data}
    atomic_write_all([(path, _writing(data)) for path, data in changed.items() if data is not None])
    for path in (path for path, data in changed.items() if data is None):
        path.unlink(missing_ok=True)
    forget_kept_segs(store, uid)
    for name, value in kept.items():
        store.note(f"{NETWORK_SEG}{uid}_{name}", value)


def _writing(data: bytes) -> Callable[[str], object]:
    return lambda tmp: Path(tmp).write_bytes(data)


def under_review(store: StateStore) -> set[str]:
    """The SOP instance UIDs of the images whose SR or SEGs a review wrote again."""
    return set(store.notes(REVIEWED_SR)) | kept_segs(store)


def analysed_again(store: StateStore, uid: str) -> None:
    """Forget what a review wrote of image ``uid``: analysed again, it wrote the network's SR and SEGs anew."""
    store.forget(REVIEWED_SR + uid)
    forget_kept_segs(store, uid)
