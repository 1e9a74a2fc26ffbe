"""One input file from segmented frames to its `ImageResult`, with bounded memory.

Frames arrive in order, a batch at a time. Each frame is measured at once
(:func:`analyse_frame`, thread-safe: the run does it on a thread pool); only its label map and
follicle instance map are kept, PNG-compressed (a few kB a frame), and a sweep frame's look
(:func:`~follicle_seg.passes.frame_look`, about 4 MB per 600 frames), so a 500-frame cine costs
a few MB, not gigabytes. When the last frame is in, the sweep is tracked and the key frames
(where the follicles are largest) are kept for overlays and DICOM outputs. A cine that turns back
(:mod:`follicle_seg.passes`) is tracked pass by pass, and the pass with the most follicles stands
for it: its follicles, ovary and flags (each follicle is in every pass; their sum would count it
twice). The turns are told once a file, from its first pane: each pane of a dual display is split
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import cv2
import numpy as np

from follicle_seg.instances import bounding_box
from follicle_seg.measure import measure_frame
from follicle_seg.passes import differences, pass_bounds, turning_points, usable
from follicle_seg.tracking import FLAG_TURNS, choose_pane, frame_words, summarise_image
from follicle_seg.types import FrameMeasurement, FrameSegmentation, ImageRecord, ImageResult, Section

#: The longest list of passes an images.csv reason quotes (a cine turning back many times).
MAX_SAID = 200

FrameEntry = tuple[FrameMeasurement, bytes, bytes, "tuple[np.ndarray, np.ndarray] | None"]
"""What a file keeps of a frame: its measurement (without the instance map), its label map and
follicle instance map, compressed, and its look (``FrameSegmentation.look``)."""


# PNG's row filters cost ten times the compression itself on label maps and gain nothing there
# (5.5 against 0.6 ms for a 408 x 804 map, the same size); OpenCV before 4.10 has no such option
_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1]
if hasattr(cv2, "IMWRITE_PNG_FILTER"):
    _PNG += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]


def _pack(arr: np.ndarray) -> bytes:
    """A label map as its shape, the corner of the box around its non-zero pixels, and that box
    PNG-compressed: the map is mostly background, and compressing only the box is several times
    faster than the whole frame (:func:`_unpack` restores the map exactly)."""
    box = bounding_box(arr) or (slice(0, 1), slice(0, 1))
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr[box]), _PNG)
    if not ok:  # pragma: no cover - opencv failure
        raise RuntimeError("could not compress a label map")
    return np.array([*arr.shape, box[0].start, box[1].start], np.uint32).tobytes() + buf.tobytes()


def _unpack(data: bytes) -> np.ndarray:
    rows, cols, r0, c0 = (int(v) for v in np.frombuffer(data[:_HEADER], np.uint32))
    box = cv2.imdecode(np.frombuffer(data[_HEADER:], np.uint8), cv2.IMREAD_UNCHANGED)
    assert box is not None  # (what :func:`_pack` wrote)
    out = np.zeros((rows, cols), box.dtype)
    out[r0 : r0 + box.shape[0], c0 : c0 + box.shape[1]] = box
    return out


_HEADER = 16  # four uint32: rows, columns, box top, box left


def analyse_frame(seg: FrameSegmentation) -> FrameEntry:
    """Measure one segmented frame (:func:`~follicle_seg.measure.measure_frame`) and compress its
    maps for :meth:`FileAnalysis.add`."""
    m = measure_frame(seg)
    instances = m.instances if m.instances is not None else np.zeros(seg.labels.shape, np.int32)
    if instances.max(initial=0) > 65535:  # pragma: no cover - absurd follicle count
        raise ValueError("more than 65535 follicle instances in one frame")
    return replace(m, instances=None), _pack(seg.labels.astype(np.uint8)), _pack(instances.astype(np.uint16)), seg.look


@dataclass(frozen=True)
class KeyFrame:
    """What the review outputs need of one frame: its label map and follicle-id map (region grid)."""

    frame_index: int
    labels: np.ndarray  # uint8 0/1/2 on the region grid
    follicle_ids: np.ndarray  # int32, value = follicle_id of follicles whose largest section is here
    unsure_ids: np.ndarray  # int32, value = follicle_id of the ``ImageResult.unsure`` candidates' sections here
    # (largest here, or tracked here on a key frame; the overlay draws a candidate on its largest only)
    reported_ids: np.ndarray  # int32, value = follicle_id of every reported follicle's section here
    # a dual display: the other panes at this frame, each with its own (not counted) result
    others: tuple[tuple[ImageResult, KeyFrame], ...] = ()


class FileAnalysis:
    """Accumulates the frames of one file and turns them into an `ImageResult`.

    The frames of each image pane of a dual display are kept apart (by their record's ``pane``)
    and tracked as images of their own; the pane that stands for the file is chosen when the file
    is finished (:func:`~follicle_seg.tracking.choose_pane`).
    """

    def __init__(self, record: ImageRecord) -> None:
        self.record = record
        self._frames: dict[int, list[FrameEntry]] = {}  # by pane, each in frame order
        self.error: str | None = None  # why the file failed part-way (set by the run), else None

    def add(self, entry: FrameEntry) -> None:
        """Keep one frame, as :func:`analyse_frame` made it (each pane's frames in order)."""
        self._frames.setdefault(entry[0].record.pane, []).append(entry)

    def labels(self) -> Iterator[tuple[int, list[tuple[ImageRecord, np.ndarray]]]]:
        """(frame_index, [(pane record, label map on its region grid), ...]) for every frame, in
        order: one map for a single-pane image, one per pane for a dual display."""
        panes = [self._frames.get(k, []) for k in range(self.record.n_panes)]
        for entries in zip(*panes):
            yield entries[0][0].frame_index, [(m.record, _unpack(labels)) for m, labels, *_ in entries]

    def finish(self) -> tuple[ImageResult, list[KeyFrame]]:
        """Track through the sweep (or take the still) of each pane, choose the pane that stands
        for the file, and build its key frames: the result's ``key_frames`` and the frames of its
        unsure follicles (shown on the overlays only)."""
        turns = self._turns()
        results = [self._summarise(pane, turns) for pane in self.record.pane_records()]
        result = choose_pane(results)
        assert result.record is not None  # (each pane's result has its pane's record)
        entries = self._frames.get(result.record.pane, [])
        if not result.key_frames and entries:  # nothing found: still show the image reviewed
            result = replace(result, key_frames=(entries[len(entries) // 2][0].frame_index,))
        shown = sorted({*result.key_frames, *(u.best.frame_index for u in result.unsure)})
        others = [(r, self._key_frames(r, shown)) for r in results if _pane(r) != _pane(result)]
        keys = [
            replace(key, others=tuple((r, pane_keys[i]) for r, pane_keys in others))
            for i, key in enumerate(self._key_frames(result, shown))
        ]
        return result, keys

    def _key_frames(self, result: ImageResult, indices: list[int]) -> list[KeyFrame]:
        """The key frames at ``indices`` of the pane ``result`` stands for."""
        by_index = {m.frame_index: (m, labels, inst) for m, labels, inst, _ in self._frames.get(_pane(result), [])}
        keys = []
        for k in indices:
            m, labels, inst = by_index[k]
            instances = _unpack(inst).astype(np.int32)
            ids = _paint(instances, m, [(f.best, f.follicle_id) for f in result.follicles])
            n = len(result.follicles)  # (seen_in: the follicles' sections, then the candidates')
            unsure = _paint(instances, m, [(u.best, u.follicle_id) for u in result.unsure]
                            + [(s, i) for i, s in result.seen_in if i > n])  # fmt: skip
            reported = _paint(instances, m, [(s, i) for i, s in result.seen_in if i <= n])  # (largest sections among them)
            keys.append(KeyFrame(k, _unpack(labels), ids, unsure, reported))
        return keys

    def _turns(self) -> list[tuple[int, int]]:
        """Where the cine turns back (:func:`~follicle_seg.passes.turning_points`), told once for
        the file from the looks of the pane that moves most (a dual display's other pane may be a
        frozen reference): each pane is split the same way."""
        moving = []  # each pane's looks, if every frame has one (a still's frame has none)
        for entries in self._frames.values():
            looks = [look for *_, look in entries if look is not None]
            if len(looks) > 1 and len(looks) == len(entries):
                moving.append((_travel(looks), looks))
        return turning_points(max(moving, key=lambda m: m[0])[1]) if moving else []

    def _summarise(self, pane: ImageRecord, turns: list[tuple[int, int]]) -> ImageResult:
        """The pane's result; of a cine that turns back, its pass with the most follicles (then
        one with the ovary, then the longest, then the first), the record's note saying the passes."""
        entries = self._frames.get(pane.pane, [])
        if not entries:  # (no frame: summarise_image says so)
            return summarise_image(pane, ())
        passes = [entries[a : b + 1] for a, b in pass_bounds(len(entries), turns)]
        results = [
            summarise_image(pane, (replace(m, instances=_unpack(inst).astype(np.int32)) for m, _, inst, _ in part),
                            ends=(part[0][0].frame_index, part[-1][0].frame_index))
            for part in passes
        ]  # fmt: skip
        if len(results) == 1:
            return results[0]
        best = max(range(len(results)),
                   key=lambda k: (len(results[k].follicles), results[k].ovary is not None, len(passes[k]), -k))  # fmt: skip
        said = ", ".join(f"{frame_words(p[0][0].frame_index, p[-1][0].frame_index)}: {len(r.follicles)}"
                         for p, r in zip(passes, results))  # fmt: skip
        if len(said) > MAX_SAID:
            said = f"{said[: MAX_SAID - 5].rsplit(', ', 1)[0]}, ..."  # (whole passes; the counted one named after)
        note = f"a sweep that turns back, tracked as {len(passes)} passes ({said}); pass {best + 1} counted"
        return replace(results[best], record=replace(pane, note="; ".join(w for w in (pane.note, note) if w)),
                       flags=(*results[best].flags, FLAG_TURNS))  # (a split judged from grey levels alone: checked)


def _travel(looks: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """How much a pane's frames change from one to the next (the mean difference of neighbours
    among the frames a turn is told from: a blank pane, all of them flat, does not move)."""
    kept = [looks[i] for i in usable(looks)]
    return float(np.mean([differences([a, b])[0, 1] for a, b in zip(kept, kept[1:])])) if len(kept) > 1 else 0.0


def _paint(instances: np.ndarray, m: FrameMeasurement, sections: list[tuple[Section, int]]) -> np.ndarray:
    """A map of ``value`` over the instance of each ``(section, value)`` that lies on frame ``m``."""
    out = np.zeros_like(instances)
    for s, value in sections:
        if s.frame_index == m.frame_index and s in m.follicles:
            out[instances == m.follicles.index(s) + 1] = value
    return out


def _pane(result: ImageResult) -> int:
    """Which pane of the display a pane's result (:meth:`FileAnalysis._summarise`) is of."""
    assert result.record is not None
    return result.record.pane
