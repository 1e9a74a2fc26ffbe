"""Per-file review outputs: overlays, label-map PNGs and DICOM SEG/SR.

Every file is written atomically (temporary name in the same folder, then ``os.replace``), so an
interrupted run never leaves half a PNG or half a DICOM object behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset
from scipy import ndimage as ndi

from follicle_seg.analyse import FileAnalysis, KeyFrame
from follicle_seg.io.dicom import frames_at
from follicle_seg.outnames import mask_uid, seg_uid, sr_uid
from follicle_seg.report.dicom_common import Source, read_source
from follicle_seg.report.dicom_seg import write_seg
from follicle_seg.report.dicom_sr import write_sr
from follicle_seg.report.overlay import render_overlay, side_by_side
from follicle_seg.report.overlay_files import (CROPS, REVIEWED, WHOLE_FRAMES, overlay_filename, parse_name,
                                               uid_token, write_crops, write_image, write_overlay)
from follicle_seg.types import FOLLICLE, OVARY, Frame, ImageRecord, ImageResult, Network


def _token(name: str) -> str | None:
    parsed = parse_name(name)
    return parsed[0] if parsed else None


def _reviewed_token(name: str) -> str | None:
    return _token(name.removesuffix("_reviewed.png") + ".png")  # report/reviewed.py's copies


#: What a run writes per image: (folder inside OUT, file pattern, the name's image key: its
#: overlay token (`uid_token`) or its SOP instance UID).
PER_IMAGE_OUTPUTS = (
    ("overlays", "*.png", _token), (f"overlays/{CROPS}", "*.jpg", _token), (f"overlays/{REVIEWED}", "*.png", _reviewed_token),
    (f"overlays/{WHOLE_FRAMES}", "*.jpg", _token), ("report/thumbs", "*.jpg", _token),
    ("masks", "*.png", mask_uid), ("dicom", "*_seg.dcm", seg_uid), ("dicom", "*_sr.dcm", sr_uid),
)  # fmt: skip


#: The folders of each kind of output an analysis writes (``--save-masks``, overlays, DICOM).
OUTPUT_KINDS = {"overlays": ("overlays", f"overlays/{CROPS}"), "masks": ("masks",), "dicom": ("dicom",)}


def images_with_outputs(out: Path) -> dict[str, set[str | None]]:
    """The image keys (overlay token or SOP instance UID) that have an overlay (``overlays``),
    a DICOM SR (``dicom``: written last, after the SEGs) and label-map PNGs (``masks``) in
    ``out``: one listing of each folder, however many images."""
    return {
        "overlays": {_token(p.name) for p in (out / "overlays").glob("*.png")},
        "dicom": {sr_uid(p.name) for p in (out / "dicom").glob("*_sr.dcm")},
        "masks": {mask_uid(p.name) for p in (out / "masks").glob("*.png")},
    }


def per_image_outputs(out: Path, uids: Iterable[str] | None = None, kinds: Iterable[str] | None = None) -> list[Path]:
    """The per-image outputs in ``out`` (overlays, crops, report thumbnails, masks, SEG/SR): every
    one, or those of the images whose SOP instance UIDs are ``uids``, of every kind or of ``kinds``
    (:data:`OUTPUT_KINDS`: what an analysis writes; reviewed copies, whole frames and thumbnails
    are made from the tables)."""
    keys = None if uids is None else {k for u in uids for k in (u, uid_token(u))}
    unknown = set(kinds or ()) - set(OUTPUT_KINDS)
    assert not unknown, f"no output kind {unknown}"
    folders = None if kinds is None else {f for k in kinds for f in OUTPUT_KINDS[k]}
    return [
        path
        for folder, pattern, key in PER_IMAGE_OUTPUTS
        if folders is None or folder in folders
        for path in sorted((out / folder).glob(pattern))
        if keys is None or key(path.name) in keys
    ]


def embed(region_map: np.ndarray, record: ImageRecord, into: np.ndarray | None = None) -> np.ndarray:
    """Place a region-grid map onto the full source-frame grid: a new one, zeros outside the
    region, or ``into`` (another pane's map of the same frame)."""
    c0, r0, c1, r1 = record.region
    full = np.zeros((record.rows, record.columns), region_map.dtype) if into is None else into
    full[r0 : r1 + 1, c0 : c1 + 1] = region_map
    return full


def mask_filename(record: ImageRecord, frame_index: int) -> str:
    return f"{record.sop_instance_uid}_{frame_index}.png"


def write_masks(out: Path, analysis: FileAnalysis) -> None:
    """``masks/<sop_instance_uid>_<frame_index>.png``: every analysed frame, source-frame grid
    (every pane of a dual display in its region)."""
    for index, panes in analysis.labels():
        full: np.ndarray | None = None
        for record, labels in panes:
            full = embed(labels, record, into=full)
        assert full is not None  # (a frame has a pane at least)
        write_image(out / "masks" / mask_filename(analysis.record, index), full)


def with_outlines(result: ImageResult, keys: list[KeyFrame]) -> ImageResult:
    """``result`` with the outlines of its key frames (:func:`outlines`): the run state keeps
    them, and a review writes the SR again from them (:mod:`follicle_seg.report.reviewed_sr`)."""
    record = result.analysed_record()
    return replace(result, outlines=tuple(o for k in keys for o in outlines(k, record)))


def outlines(key: KeyFrame, record: ImageRecord) -> list[tuple[int, int, tuple[int, ...]]]:
    """(frame_index, follicle_id or 0 for the ovary, outline as (col, row, col, row, ...) source
    pixels) on one key frame: the ovary's, the unsure candidates' (a reviewer may accept one:
    :func:`write_measurements` draws it then, and the reviewed SEGs of the key frames its sections
    lie on) and every reported follicle's section there, one measured on another frame too (a review takes a rejected follicle out of the DICOM SEG of each
    key frame showing it: :mod:`follicle_seg.report.reviewed_seg`). A follicle's or candidate's
    section in pieces gives each piece, the largest first (the one an SR draws); the ovary its
    largest piece only."""
    c0, r0 = record.region[0], record.region[1]
    shapes = [(0, np.isin(key.labels, (OVARY, FOLLICLE)))]
    shapes += [(int(i), ids == i) for ids in (key.reported_ids, key.unsure_ids) for i in np.unique(ids) if i]
    found = []
    for ident, mask in shapes:
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        pieces = sorted(contours, key=cv2.contourArea, reverse=True)
        if ident == 0:
            pieces = [p for p in pieces[:1] if len(p) >= 3]
        found += [(key.frame_index, ident, tuple(int(v) for v in (p[:, 0, :] + (c0, r0)).ravel())) for p in pieces]
    return found


def write_overlays(
    out: Path, result: ImageResult, keys: list[KeyFrame], decode: Callable[..., list[Frame]] = frames_at,
    in_sweep: tuple[int, int] | None = None,
) -> None:
    """One overlay PNG per key frame, in ``overlays/`` (names from `overlay_filename`); a dual
    display's panes side by side in it, as on the screen, each with its own outlines. Each
    follicle and unsure candidate drawn on it also gets a small crop of it in ``overlays/crops/``
    (`crop_filename`), the report's review gallery. ``decode(record, index, panes=...)`` gives a
    key frame (:func:`~follicle_seg.io.dicom.frames_at`; a run's in a decoder process, where a
    codec that crashes fails the file, not the run). ``in_sweep``: a still's place in the sweep
    of single-frame files it is a frame of, and that sweep's files (the header says so)."""
    record = result.record
    assert record is not None
    for key in keys:  # each key frame decoded on its own: never the frames between them
        panes = sorted([(result, key), *key.others], key=lambda p: p[0].record.region)  # type: ignore[union-attr]
        base = min((r.record for r, _ in panes), key=lambda rec: rec.pane)  # type: ignore[union-attr]
        frames = {f.record.pane: f for f in decode(base, key.frame_index, panes=len(panes) > 1)}
        images = [_render(r, k, frames[r.record.pane], counted=r is result, in_sweep=in_sweep)  # type: ignore[union-attr]
                  for r, k in panes]
        rgb = images[0] if len(images) == 1 else side_by_side(images)
        name = overlay_filename(record, key.frame_index)
        write_overlay(out / "overlays" / name, rgb)
        counted = images[next(i for i, (r, _) in enumerate(panes) if r is result)]  # the pane the tables number
        write_crops(out / "overlays" / CROPS, name, counted, record, key.frame_index, result.follicles, result.unsure)


def _render(result: ImageResult, key: KeyFrame, frame: Frame, counted: bool,
            in_sweep: tuple[int, int] | None = None) -> np.ndarray:
    record = frame.record
    return render_overlay(
        frame.pixels,
        ovary_mask=np.isin(key.labels, (OVARY, FOLLICLE)),
        follicle_ids=key.follicle_ids,
        follicles=result.follicles,
        unsure_ids=key.unsure_ids,
        unsure=result.unsure,
        record=record,
        frame_index=frame.index,
        patient_label=record.patient_id,
        counted=counted,
        ovary=result.ovary,
        in_sweep=in_sweep,
    )


def seg_filename(record: ImageRecord, frame_index: int) -> str:
    """``<uid>_seg.dcm`` for a still, ``<uid>_f<frame, 3 digits>_seg.dcm`` for a cine's key frame."""
    frame = f"_f{frame_index:03d}" if record.n_frames > 1 else ""
    return f"{record.sop_instance_uid}{frame}_seg.dcm"


def reported_labels(key: KeyFrame) -> np.ndarray:
    """The key frame's label map with only the reported follicles as follicle (the SEG's follicle
    segment showed eight blobs beside the SR's three follicles): an unsure candidate or a speck
    under 2 mm reads as the ovary it lies in, one touching no ovary pixel as background.

    >>> key = KeyFrame(0, np.array([[1, 2, 2, 0, 2]], np.uint8), None, None, np.array([[0, 3, 3, 0, 0]]))
    >>> reported_labels(key).tolist()
    [[1, 2, 2, 0, 0]]
    """
    return without_follicles(key.labels, key.reported_ids == 0)


def without_follicles(labels: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``labels`` with its follicle pixels under ``where`` drawn as the ovary they lie in, as
    background those of a piece touching no ovary pixel (:func:`reported_labels`; a follicle
    rejected in review: :mod:`follicle_seg.report.reviewed_seg`)."""
    dropped, n = ndi.label((labels == FOLLICLE) & where, structure=np.ones((3, 3)))
    if not n:
        return labels
    touching = np.unique(dropped[ndi.binary_dilation(labels == OVARY, structure=np.ones((3, 3)))])
    out = labels.copy()
    out[dropped > 0] = 0
    out[np.isin(dropped, touching[touching > 0])] = OVARY
    return out


def write_dicom(
    out: Path, result: ImageResult, keys: list[KeyFrame], *, pseudonymised: bool = False, network: Network | None = None,
    in_sweep: tuple[int, int] | None = None,
) -> None:
    """A DICOM SEG of each key frame (a still's one frame, a sweep's frames of its counted
    follicles and largest ovary section) and a TID 1500 SR referencing source and SEG, their
    algorithm the ``network``; of a ``pseudonymised`` run, without the study's accession
    number, referring physician and ID; ``in_sweep``: a still's place in the sweep of single-frame
    files it is a frame of, and that sweep's files, which its SR says. The SR's outlines are the
    result's (:func:`with_outlines`)."""
    record = result.record
    assert record is not None
    folder = out / "dicom"
    folder.mkdir(parents=True, exist_ok=True)
    source = read_source(record.path)  # once for its SEGs and SR
    for k in keys:
        if k.frame_index in result.key_frames:  # (not the unsure follicles' frames)
            write_seg(source, embed(reported_labels(k), record), folder / seg_filename(record, k.frame_index),
                      patient_id=record.patient_id, frame_index=k.frame_index, pseudonymised=pseudonymised,
                      network=network, laterality=record.laterality)  # fmt: skip
    write_measurements(out, result, pseudonymised=pseudonymised, network=network, in_sweep=in_sweep, source=source)


def write_measurements(
    out: Path, result: ImageResult, *, pseudonymised: bool = False, network: Network | None = None,
    in_sweep: tuple[int, int] | None = None, verified_by: Sequence[str] = (), predecessors: Sequence[Dataset] = (),
    source: Source | None = None,
) -> Path:
    """``dicom/<uid>_sr.dcm``, the SR of ``result`` drawn with its kept outlines (those of its
    follicles and ovary on its key frames and its follicles' frames), referring to a still's SEG
    (:func:`still_seg`); ``verified_by``: the reviewers whose decisions made ``result`` (the SR is
    then VERIFIED by them, :func:`~follicle_seg.report.dicom_sr.write_sr`), ``predecessors`` the SRs
    it replaces; ``source``: the image as :func:`~follicle_seg.report.dicom_common.read_source` read
    it (else read here)."""
    record = result.analysed_record()
    return write_sr(source or record.path, result, seg_path=still_seg(out, result), outlines=_drawn(result),
                    out_path=out / "dicom" / f"{record.sop_instance_uid}_sr.dcm", pseudonymised=pseudonymised,
                    network=network, in_sweep=in_sweep, verified_by=verified_by, predecessors=predecessors)  # fmt: skip


def still_seg(out: Path, result: ImageResult) -> Path | None:
    """``dicom/<uid>_seg.dcm``, the SEG of a still that its SR's ovary group refers to, when written."""
    record = result.analysed_record()
    seg = out / "dicom" / seg_filename(record, 0)
    return seg if record.n_frames == 1 and 0 in result.key_frames and seg.is_file() else None


def _drawn(result: ImageResult) -> dict[int, list[tuple[int, np.ndarray]]]:
    """The kept outlines an SR draws: each follicle's on its largest section, the ovary's on each
    key frame and follicle frame (of a section in pieces, its largest: :func:`outlines`)."""
    if result.outlines is None:  # (with_outlines): an SR without outlines, and no word of it
        raise ValueError(f"{result.path}: no outlines kept to draw its SR with")
    best = {f.follicle_id: f.best.frame_index for f in result.follicles}
    frames = {*result.key_frames, *best.values()}
    drawn: dict[int, list[tuple[int, np.ndarray]]] = {}
    for frame, ident, points in result.outlines:
        shapes = drawn.get(frame, [])
        if (frame in frames if ident == 0 else best.get(ident) == frame) and all(i != ident for i, _ in shapes):
            drawn[frame] = [*shapes, (ident, np.array(points, np.float64).reshape(-1, 2))]
    return drawn
