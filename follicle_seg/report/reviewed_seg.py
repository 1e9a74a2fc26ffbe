"""The DICOM SEGs of an image a review changed, written again as reviewed.

The SEG of a still, and of each key frame of a cine, holds in its follicle segment the follicles
the network reported and, in its segments' property type, the side as analysed: a PACS sent it
after a review showed a follicle the reviewer rejected, and the side they corrected. So each SEG
of an image a decision changes (:mod:`follicle_seg.report.reviewed_sr`, which writes its SR
again at the same time) is written again from the network's: the sections of a follicle said
``not_follicle`` drawn as the ovary they lie in (as an unsure candidate is), a candidate said
``follicle`` filled from its kept outlines on the SEG's frame (its sections on a cine's key
frames, as a follicle's: :func:`~follicle_seg.artefacts.outlines`), the side as
decided; its segments SEMIAUTOMATIC, under a new SOP Instance UID. A SEG the decisions do not
change (a cine's key frame not showing the rejected follicle) stays the network's. The network's
SEG is kept in the run state (compressed, a few kB) while a reviewed one stands in its place,
and written back, byte for byte, once no decision changes it.
"""

from __future__ import annotations

import base64
import io
import zlib
from pathlib import Path

import cv2
import numpy as np
import pydicom

from follicle_seg.artefacts import seg_filename, without_follicles
from follicle_seg.atomic import atomic_write_bytes
from follicle_seg.report.dicom_seg import seg_labels, write_seg
from follicle_seg.state import StateStore
from follicle_seg.types import FOLLICLE, ImageResult, Network

#: + the SEG's file name: the network's SEG (zlib, base64) while a reviewed one replaces it (a run-state note).
NETWORK_SEG = "network SEG under review: "


def network_segs(out: Path, r: ImageResult, store: StateStore) -> dict[int, bytes]:
    """The network's SEG of each key frame of analysed image ``r`` that has one: kept in the run
    state while a reviewed one replaces it, else the one in ``out/dicom``; by frame."""
    record = r.analysed_record()
    found = {}
    for frame in r.key_frames:
        path = out / "dicom" / seg_filename(record, frame)
        kept = store.noted(NETWORK_SEG + path.name)
        if kept is not None:
            found[frame] = zlib.decompress(base64.b64decode(kept))
        elif path.is_file():
            found[frame] = path.read_bytes()
    return found


def write_reviewed_segs(out: Path, r: ImageResult, reviewed: ImageResult, segs: dict[int, bytes], store: StateStore, *,
                        pseudonymised: bool = False, network: Network | None = None) -> None:
    """Write each of ``segs`` (:func:`network_segs`) of analysed image ``r`` again as ``reviewed``
    (``r`` as a review decided it) makes it, or give the network's back where it makes none
    differ; its name kept in ``store`` while a reviewed one replaces it."""
    record = r.analysed_record()
    ids = {f.follicle_id for f in r.follicles}
    kept_ids = {f.follicle_id for f in reviewed.follicles}
    side = reviewed.analysed_record().laterality
    for frame, data in segs.items():
        path = out / "dicom" / seg_filename(record, frame)
        labels = seg_labels(pydicom.dcmread(io.BytesIO(data)))
        shapes = [(i, points) for f, i, points in r.outlines or () if f == frame]
        decided = _filled(labels.shape, shapes, kept_ids - ids)
        new = without_follicles(labels, _filled(labels.shape, shapes, ids - kept_ids)).copy()
        new[decided] = FOLLICLE
        kept = store.noted(NETWORK_SEG + path.name)
        if side == record.laterality and np.array_equal(new, labels):
            if kept is not None:  # the network's back
                atomic_write_bytes(path, data)
                store.forget(NETWORK_SEG + path.name)
            continue
        if kept is None:  # (before it is replaced)
            store.note(NETWORK_SEG + path.name, base64.b64encode(zlib.compress(data, 9)).decode())
        write_seg(record.path, new, path, patient_id=record.patient_id, frame_index=frame, pseudonymised=pseudonymised,
                  network=network, laterality=side, reviewed=True)  # fmt: skip


def _filled(shape: tuple[int, ...], shapes: list[tuple[int, tuple[int, ...]]], ids: set[int]) -> np.ndarray:
    """The pixels inside the kept outlines of ``ids`` among ``shapes`` ((id, (col, row, ...)))."""
    mask = np.zeros(shape, np.uint8)
    contours = [np.array(points, np.int32).reshape(-1, 1, 2) for i, points in shapes if i in ids]
    if contours:
        cv2.drawContours(mask, contours, -1, 1, thickness=cv2.FILLED)
    return mask.astype(bool)


def kept_segs(store: StateStore) -> set[str]:
    """The SOP instance UIDs of the images whose network SEGs are kept (:data:`NETWORK_SEG`)."""
    return {name.split("_", 1)[0] for name in store.notes(NETWORK_SEG)}


def forget_kept_segs(store: StateStore, uid: str) -> None:
    """Forget the network SEGs kept of image ``uid``: analysed again, it wrote the network's anew."""
    for name in store.notes(NETWORK_SEG + uid + "_"):
        store.forget(f"{NETWORK_SEG}{uid}_{name}")
