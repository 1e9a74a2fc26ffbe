"""The files in: a header pass over every input, then their frames streamed in decoded chunks.

:func:`header_pass` hashes each file (one whose size, modification and change times and inode
are those an earlier run hashed it with is not read again: a rerun over a large archive, or one on
a network share, no longer reads every byte of it), reads its header (in an isolated decoder process when
``--workers`` processes are on) and resolves duplicate SOP instances; :func:`stream_frames` decodes
the accepted files in threads into a bounded queue that :class:`follicle_seg.engine.Engine`
consumes.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence, TypeVar

from follicle_seg.errors import RejectedInput
from follicle_seg.io import iter_frames, read_record
from follicle_seg.io.dicom import same_image
from follicle_seg.io.discover import not_read, shown
from follicle_seg.io.header import pixel_data_sha256
from follicle_seg.io.rejection import Rejection, RejectionNote
from follicle_seg.isolation import WorkerFailed, WorkerPool
from follicle_seg.filehash import file_sha256
from follicle_seg.state import StateStore
from follicle_seg.types import DIFFERENT_IMAGE, DUPLICATE, Frame, Identity, ImageRecord, ImageResult, withdrawn_images

log = logging.getLogger("follicle_seg")

END = object()
"""What :func:`stream_frames` yields with a file once its last chunk has been yielded."""

_Whose = TypeVar("_Whose", ImageRecord, Identity)


class Anonymise(Protocol):
    """How a run pseudonymises the patient of a header it read: an accepted file's
    :class:`~follicle_seg.types.ImageRecord` and a rejected one's
    :class:`~follicle_seg.types.Identity` alike, each given back as its own type."""

    def __call__(self, whose: _Whose, /) -> _Whose: ...


@dataclass(frozen=True)
class Input:
    """One discovered file after the header pass."""

    path: str
    sha256: str
    record: ImageRecord | None  # None when rejected or already done
    result: ImageResult | None  # set when the header pass already decided (rejected, duplicate)
    done: bool = False
    duplicate_of: str = ""  # the path of the file analysed for this one's SOP instance
    stat: tuple[int, int, int, int] | None = None  # when hashed: :func:`file_stat`, :func:`unchanged`
    hashed: bool = False  # its hash taken this run (not known from an earlier one's)
    redone: tuple[str, ...] = ()  # a resumed file analysed again for these outputs, which it lacks (:func:`reread`)
    # a still that is a frame of a sweep of single-frame files: its place, the sweep's files (series.sweep_places)
    in_sweep: tuple[int, int] | None = None
    rejects: Rejection | None = None  # a rejection note: the images it lists (io.rejection)


def _call(decoders: WorkerPool | None, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in an isolated decoder process, or here when isolation is off."""
    return fn(*args) if decoders is None else decoders.call(fn, *args)


def _header(
    path: Path,
    done: Callable[[str, str], bool],
    anonymise: Anonymise,
    decoders: WorkerPool | None = None,
    known: Mapping[str, tuple[tuple[int, int, int, int], str]] | None = None,
) -> Input:
    p = str(path)
    if reason := not_read(path):  # said, not read (hashing a pipe would wait for a writer for ever)
        return Input(shown(p), "", None, ImageResult(None, shown(p), "rejected", reason))
    try:
        seen = file_stat(p)
        before = (known or {}).get(p)
        hashed = before is None or before[0] != seen
        sha = file_sha256(path) if hashed else before[1]  # type: ignore[index]
    except OSError as exc:
        return Input(p, "", None, ImageResult(None, p, "rejected", f"cannot read ({exc.strerror})"))
    if done(p, sha):
        return Input(p, sha, None, None, done=True, stat=seen, hashed=hashed)
    try:
        record = anonymise(_call(decoders, read_record, path))
    except RejectionNote as note:
        return Input(p, sha, None, ImageResult(None, p, "rejected", note.reason), stat=seen, hashed=hashed,
                     rejects=note.rejection)  # fmt: skip
    except RejectedInput as exc:
        identity = anonymise(exc.identity) if exc.identity is not None else None
        return Input(p, sha, None, ImageResult(None, p, "rejected", exc.reason, identity=identity), stat=seen,
                     hashed=hashed)  # fmt: skip
    except WorkerFailed as exc:
        return Input(p, sha, None, ImageResult(None, p, "failed", f"reading the header: {exc}"), stat=seen,
                     hashed=hashed)  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - a batch never dies on one file
        return Input(p, sha, None, ImageResult(None, p, "failed", f"{type(exc).__name__}: {exc}"), stat=seen,
                     hashed=hashed)  # fmt: skip
    return Input(p, sha, record, None, stat=seen, hashed=hashed)


def file_stat(path: str) -> tuple[int, int, int, int]:
    """Size, modification and change times (ns) and inode of a file: a file replaced or written
    changes one (its change time even when a copy keeps the modification time, ``cp -p``)."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def unchanged(item: Input) -> bool:
    """Whether ``item``'s file still has the size, time and inode it had when hashed (a sync job
    that renamed another file over it while it was read changes them); True when not known."""
    if item.stat is None:
        return True
    try:
        return file_stat(item.path) == item.stat
    except OSError:
        return False


def reread(item: Input, lacking: tuple[str, ...], anonymise: Anonymise, decoders: WorkerPool | None = None) -> Input:
    """A resumed file (``done``) made a file to analyse again for the outputs it is ``lacking``,
    its header read anew (``redone``: its stored result stands should the analysis fail now); it
    stays resumed when that fails now."""
    try:
        record = anonymise(_call(decoders, read_record, Path(item.path)))
    except Exception:  # noqa: BLE001 - its result stands; the outputs stay missing
        return item
    return replace(item, record=record, done=False, redone=lacking)


def header_pass(
    paths: Sequence[Path],
    store: StateStore,
    anonymise: Anonymise,
    workers: int,
    decoders: WorkerPool | None = None,
) -> list[Input]:
    """Hash and read the header of every file (in parallel), then resolve duplicate SOP instances.

    A SOP instance met under several paths is analysed once, under the first path in discovery
    order (or the path of this run that analysed it in an earlier run, unless its file now holds
    another SOP instance); the others get a rejected row naming it, decided again each run. A
    path of an earlier run that is not among ``paths`` (a file moved or left out this time) owns
    nothing: its result is not in this run's tables. A file whose contents were analysed under
    such a path (moved, renamed, its archive mounted elsewhere) keeps that analysis. An image a
    rejection note among ``paths`` lists is rejected first (:func:`_rejected_by_notes`).
    """
    done_keys = store.keys()
    known = store.hashes()  # a file as it was hashed by an earlier run is not read again to hash it
    with ThreadPoolExecutor(max(1, workers)) as pool:
        inputs = list(pool.map(lambda p: _header(p, lambda a, b: (a, b) in done_keys, anonymise, decoders, known),
                               paths))  # fmt: skip
    store.keep_hashes([(i.path, i.stat, i.sha256) for i in inputs if i.hashed and i.stat is not None and i.sha256])
    inputs = _rejected_by_notes(inputs, store)
    current = {(i.path, i.sha256) for i in inputs}
    # an earlier owner still owns its SOP instance if its file is as it was analysed, or was
    # changed in place keeping that SOP instance; not if its file now holds another one
    now = {i.path: i.record.sop_instance_uid for i in inputs if i.record is not None}
    owner: dict[str, str] = {}
    for sop, path, sha in reversed(store.sop_owners()):  # the earliest analysed first
        if (path, sha) in current or now.get(path) == sop:
            owner.setdefault(sop, path)
    by_path = {i.path: i for i in inputs}
    resolved = []
    for item in inputs:
        if item.record is not None:
            sop = item.record.sop_instance_uid
            first = owner.setdefault(sop, item.path)
            if first != item.path:
                reason = duplicate_reason(sop, item.path, item.sha256, first, by_path[first].sha256, decoders)
                item = replace(item, result=ImageResult(item.record, item.path, "rejected", reason), record=None,
                               duplicate_of=first)  # fmt: skip
            else:  # the owner of its SOP instance: an analysis of its contents elsewhere is kept
                item = _moved(item, store, current)
        resolved.append(item)
    return resolved


def _rejected_by_notes(inputs: list[Input], store: StateStore) -> list[Input]:
    """``inputs``, each image a rejection note among them lists (IHE IOCM) rejected naming the
    first such note, every copy of it (a damaged one, rejected after its header was read, too),
    and one an earlier run analysed or rejected too (its result and outputs leave the run folder);
    a note's image that is not among the inputs is said in ``run.log``."""
    reasons: dict[str, str] = {}
    for item in inputs:
        if item.rejects is not None:
            for uid in item.rejects.sop_instance_uids:
                reasons.setdefault(uid, item.rejects.reason(item.path))
    if not reasons:
        return inputs
    stored = store.whose()
    earlier = {r.path: r for r in store.results({(i.path, i.sha256) for i in inputs
                                                 if i.done and stored.get((i.path, i.sha256)) in reasons})}  # fmt: skip
    found, resolved = set(), []
    for item in inputs:
        before = earlier.get(item.path) if item.done else item.result  # (a damaged copy's: whose, from its header)
        record = item.record if item.record is not None else before.record if before is not None else None
        identity = before.identity if before is not None else None
        who = record if record is not None else identity
        if who is not None and who.sop_instance_uid in reasons:  # a damaged copy: its ovary-visit not flagged for it
            found.add(who.sop_instance_uid)
            result = ImageResult(record, item.path, "rejected", reasons[who.sop_instance_uid], identity=identity)
            item = replace(item, record=None, done=False, result=result)
        resolved.append(item)
    if absent := len(reasons.keys() - found):
        log.info("%d image(s) listed by rejection notes are not among the inputs: nothing to leave out for them", absent)
    return resolved


def withdrawn_uids(items: Sequence[Input]) -> set[str]:
    """The SOP instance UIDs of the images a rejection note withdrew (:func:`_rejected_by_notes`)."""
    return set(withdrawn_images(i.result for i in items if i.result is not None))


def duplicate_reason(sop: str, path: str, sha256: str, first: str, first_sha256: str,
                     decoders: WorkerPool | None = None) -> str:
    """The reason of the row of ``path``, whose SOP instance ``sop`` is analysed from ``first``
    (the files' hashes tell a byte copy); ``inspect`` says it too."""
    return f"{DUPLICATE} {sop}: already analysed from {first}{_unlike(path, sha256, first, first_sha256, decoders)}"


def _unlike(path: str, sha256: str, first: str, first_sha256: str, decoders: WorkerPool | None) -> str:
    """What a duplicate's reason adds when its file is not a copy of ``first``: "same pixel
    data" when only their headers differ, "the same image, encoded otherwise" when their decoded
    frames agree (an archive that re-encoded it losslessly or nearly:
    :func:`~follicle_seg.io.dicom.same_image`), else "a different image" (a scanner or archive
    that gave two images one UID: this one is not analysed, its ovary-visit is flagged). Files
    that cannot be compared (a frame that does not decode, a decoder out of time) are taken for
    different images: an image lost in silence costs more than a look."""
    if sha256 == first_sha256:
        return ""
    try:
        if _call(decoders, pixel_data_sha256, path) == _call(decoders, pixel_data_sha256, first):
            return " (same pixel data, other header values)"
        if _call(decoders, same_image, path, first):
            return " (the same image, encoded otherwise)"
        why = "its pixel data differ"
    except Exception:  # noqa: BLE001 - a batch never dies on one file; not compared: taken as different
        why = "taken for one: the two could not be decoded to compare"
    return f", {DIFFERENT_IMAGE} ({why}): not analysed; the scanner or archive gave two images one SOP Instance UID"


def _moved(item: Input, store: StateStore, current: set[tuple[str, str]]) -> Input:
    """A file analysed before under another path (moved, renamed, mounted elsewhere) keeps that
    analysis under its new path instead of being analysed again (``item`` owns its SOP instance)."""
    result = store.moved(item.sha256, current, item.path)
    if result is None:
        return item
    store.record(item.sha256, result)
    return Input(item.path, item.sha256, None, None, done=True)


def decode_pixels(record: ImageRecord, start: int, stop: int) -> list[tuple]:
    """Grey region pixels of frames ``start`` to ``stop - 1`` with their decoding flags and colour
    pixels (``None`` without), each frame's panes in pane order (what a decoder process returns)."""
    return [(f.pixels, f.flags, f.colour) for f in iter_frames(record, start=start, stop=stop, panes=True)]


def chunks(record: ImageRecord, chunk: int, decoders: WorkerPool | None) -> Iterator[list[Frame]]:
    """The frames of a file, ``chunk`` at a time, decoded here or in an isolated process; each
    frame of a dual display is decoded once and gives a frame per pane, with that pane's record."""
    panes = record.pane_records()
    for start in range(0, record.n_frames, chunk):
        pixels = _call(decoders, decode_pixels, record, start, start + chunk)
        yield [
            Frame(record=panes[i % len(panes)], index=start + i // len(panes), pixels=px, flags=flags, colour=colour)
            for i, (px, flags, colour) in enumerate(pixels)
        ]


def _produce(todo: "queue.Queue[Input | None]", out: "queue.Queue", chunk: int, decoders: WorkerPool | None) -> None:
    """Decode files taken from `todo`, putting (input, frames) chunks and (input, END) on `out`.

    A file that fails mid-way ends with (input, exception) instead of END; the worker's own end
    marker (None) is always sent, so the consumer never waits for a thread that died.
    """
    try:
        while (item := todo.get()) is not None:
            try:
                assert item.record is not None  # (only accepted files are streamed)
                for batch in chunks(item.record, chunk, decoders):
                    out.put((item, batch))
                out.put((item, END))
            except WorkerFailed as exc:
                out.put((item, WorkerFailed(f"decoding: {exc}")))
            except Exception as exc:  # noqa: BLE001 - a batch never dies on one file
                out.put((item, exc))
    finally:
        out.put(None)


def stream_frames(
    inputs: Sequence[Input], *, workers: int, chunk: int, decoders: WorkerPool | None = None
) -> Iterator[tuple[Input, object]]:
    """Decode in `workers` threads into a bounded queue; yields (input, frames | END | exception).

    With ``decoders`` the codecs run in those isolated processes (the threads wait on them).

    Chunks of one file come in order; chunks of different files may interleave. At most about
    ``2 * workers`` chunks of ``chunk`` frames are decoded ahead, whatever the number of files.
    """
    todo: "queue.Queue[Input | None]" = queue.Queue()
    for item in inputs:
        todo.put(item)
    n = max(1, min(workers, len(inputs)))
    for _ in range(n):
        todo.put(None)
    out: "queue.Queue" = queue.Queue(maxsize=2 * n)
    threads = [threading.Thread(target=_produce, args=(todo, out, chunk, decoders), daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    finished = 0
    while finished < n:
        got = out.get()
        if got is None:
            finished += 1
            continue
        yield got
