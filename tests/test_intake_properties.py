"""Which files a run analyses (io/discover.py, intake.py's header pass, outdir.py's ``superseded``)
against random inputs (property-based).

A pool of small DICOM files is written once per test: three SOP instances (A, B, C) under
several paths each (byte copies, and a copy of A with another header value), rejection notes
listing some of them, and a folder tree with hidden files, a DICOMDIR and linked folders and
files. Each example draws a subset of the pool in some order and checks what docs/batch.md
("Header pass", "Resume") and docs/ingestion.md ("What is read", "Rejection notes") promise: a
file found once whatever the inputs' order or overlap; each SOP instance analysed once, under the
first path in discovery order, every other path a rejected duplicate naming it; a rejection
note withdrawing exactly the images it lists, every copy, wherever it sits among the inputs;
and a resumed image's outputs never among those a run replaces.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import closing
from pathlib import Path

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.uid import generate_uid

from follicle_seg.intake import header_pass, withdrawn_uids
from follicle_seg.io import discover
from follicle_seg.outdir import superseded
from follicle_seg.state import StateStore
from follicle_seg.types import DUPLICATE, REJECTED_BY_NOTE, REJECTION_NOTE, ImageResult
from test_rejection_notes import SAMPLES, key_object_note  # tests/ is on sys.path

PROPERTIES = settings(max_examples=60)  # (deterministic: tests/conftest.py's profile; file work is slow)

# where each SOP instance lies in the pool: byte copies under names sorting before and after it
COPIES = {"A": ["a.dcm", "m/A copy.dcm", "z.dcm"], "B": ["b.dcm", "0 first.dcm"], "C": ["c/IM0001", ".hidden C"]}
OTHER_HEADER = "y other header.dcm"  # A with another PatientName: not a byte copy of it
NOTES = {"note AC.dcm": "AC", "m/note B.dcm": "B", "zz note A.dcm": "A"}


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> dict:
    """The pool: its folder, the SOP instance UID of each image path, and each note's UIDs."""
    root = tmp_path_factory.mktemp("pool")
    uids, images = {}, {}
    for name, paths in COPIES.items():
        ds = pydicom.dcmread(SAMPLES / "mono_left.dcm")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uids.setdefault(name, generate_uid())
        for rel in paths:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(root / rel)
            images[str(root / rel)] = uids[name]
        if name == "A":
            ds.PatientName = "Other^Name"
            ds.save_as(root / OTHER_HEADER)
            images[str(root / OTHER_HEADER)] = uids[name]
    notes = {}
    for rel, listed in NOTES.items():
        key_object_note(root / rel, [root / COPIES[k][0] for k in listed])
        notes[str(root / rel)] = {uids[k] for k in listed}
    return {"root": root, "images": images, "notes": notes}


def fresh_store() -> StateStore:
    return StateStore(Path(tempfile.mkdtemp()) / "s.sqlite")


def owners(items) -> dict[str, str]:
    """The path analysed (or resumed as analysed) for each SOP instance, by UID."""
    return {i.record.sop_instance_uid: i.path for i in items if i.record is not None}


def record_run(items, store: StateStore) -> None:
    """What a run stores of the header pass's items: its decided rows, and each file it analyses as ok."""
    for i in items:
        if i.result is not None:
            store.record(i.sha256, i.result)
        elif i.record is not None:
            store.record(i.sha256, ImageResult(i.record, i.path, "ok", ""))


def check_duplicates(items, uid_of: dict[str, str], owner: dict[str, str]) -> None:
    """Each path that is not its SOP instance's owner is a rejected duplicate naming the owner."""
    for i in items:
        uid = uid_of[i.path]
        if i.path != owner[uid]:
            assert i.record is None and i.result.status == "rejected", i
            assert i.result.reason.startswith(f"{DUPLICATE} {uid}: already analysed from {owner[uid]}"), i.result.reason
            assert i.duplicate_of == owner[uid]


@PROPERTIES
@given(st.data())
def test_each_sop_instance_is_analysed_once_under_its_first_path_and_every_other_path_names_it(pool, data):
    paths = data.draw(st.lists(st.sampled_from(sorted(pool["images"])), min_size=1, unique=True))
    uid_of = pool["images"]
    with closing(fresh_store()) as store:
        items = header_pass([Path(p) for p in paths], store, lambda r: r, 1)
    assert [i.path for i in items] == paths
    first = {}
    for p in paths:
        first.setdefault(uid_of[p], p)
    assert owners(items) == first  # every distinct SOP instance once, under its first path
    check_duplicates(items, uid_of, first)
    for i in items:  # a byte copy says nothing more; A under another header says how it differs
        tail = i.result.reason.split(first[uid_of[i.path]], 1)[1] if i.result is not None else ""
        other = (i.path == str(pool["root"] / OTHER_HEADER)) != (first[uid_of[i.path]] == str(pool["root"] / OTHER_HEADER))
        assert tail == (" (same pixel data, other header values)" if other else ""), (i.path, tail)


@PROPERTIES
@given(st.data())
def test_the_same_inputs_in_another_order_or_given_twice_give_the_same_files_and_the_same_choice(pool, data):
    """Inputs overlap: a folder and files inside it, a file given twice, spelt with "..". Discovery
    sorts, so the analysed path of each SOP instance is its first in sorted order, whatever the
    order of the inputs."""
    root = pool["root"]
    every = [root, root / "m", root / "c", *map(Path, sorted(pool["images"])), root / "m" / ".." / "a.dcm"]
    inputs = data.draw(st.lists(st.sampled_from(every), min_size=1))
    found = list(discover(inputs))
    assert found == sorted(set(found))  # each once, sorted
    assert found == list(discover(data.draw(st.permutations(inputs))))
    assert set(found) == {p for given in inputs for p in discover([given])}
    uid_of = {Path(p): uid for p, uid in pool["images"].items()}
    notes = [p for p in found if p not in uid_of]
    assert {str(p) for p in notes} <= set(pool["notes"])  # (the folders hold the notes too)
    images = [p for p in found if p in uid_of]
    with closing(fresh_store()) as store:
        items = header_pass(images, store, lambda r: r, 1)
    first = {}
    for p in sorted(images):
        first.setdefault(uid_of[p], str(p))
    assert owners(items) == first


@PROPERTIES
@given(st.data())
def test_a_rejection_note_withdraws_exactly_the_images_it_lists_wherever_it_sits(pool, data):
    images = data.draw(st.lists(st.sampled_from(sorted(pool["images"])), min_size=1, unique=True))
    notes = data.draw(st.lists(st.sampled_from(sorted(pool["notes"])), min_size=1, unique=True))
    paths = data.draw(st.permutations(images + notes))
    uid_of = pool["images"]
    with closing(fresh_store()) as store:
        items = {i.path: i for i in header_pass([Path(p) for p in paths], store, lambda r: r, 1)}
    listed = set().union(*(pool["notes"][n] for n in notes))
    present = {uid_of[p] for p in images}
    assert withdrawn_uids(list(items.values())) == listed & present
    for n in notes:
        assert items[n].record is None and items[n].result.reason.startswith(REJECTION_NOTE)
    for p in images:
        uid = uid_of[p]
        if uid in listed:  # every copy, naming the first note in the inputs' order that lists it
            note = next(n for n in paths if n in notes and uid in pool["notes"][n])
            assert items[p].record is None and items[p].result.reason.startswith(f"{REJECTED_BY_NOTE} {note} ("), p
    kept = [p for p in paths if p in images and uid_of[p] not in listed]
    first = {}
    for p in kept:
        first.setdefault(uid_of[p], p)
    assert owners(items.values()) == first  # the rest as without the notes
    check_duplicates([items[p] for p in kept], uid_of, first)


@PROPERTIES
@given(st.data())
def test_a_rerun_analyses_each_sop_instance_once_and_never_replaces_the_outputs_of_one_it_resumes(pool, data):
    """Two runs into one run state, the second over other files of the pool (some moved: a copy
    whose first path is gone keeps its analysis), in another order, a rejection note perhaps."""
    uid_of = pool["images"]
    first_run = data.draw(st.lists(st.sampled_from(sorted(uid_of)), min_size=1, unique=True))
    second = data.draw(st.lists(st.sampled_from(sorted(uid_of)), min_size=1, unique=True))
    notes = data.draw(st.lists(st.sampled_from(sorted(pool["notes"])), max_size=1))
    paths = data.draw(st.permutations(second + notes))
    with closing(fresh_store()) as store:
        record_run(header_pass([Path(p) for p in first_run], store, lambda r: r, 1), store)
        items = header_pass([Path(p) for p in paths], store, lambda r: r, 1)
        stored = {(path, sha): (uid, status) for path, sha, uid, status in store.sop_uids()}
        replaced = superseded(items, store.sop_uids())
    listed = set().union(*(pool["notes"][n] for n in notes))
    analysed = {}
    for i in items:
        if i.record is not None:
            analysed.setdefault(i.record.sop_instance_uid, []).append(i.path)
        elif i.done:
            uid, status = stored[(i.path, i.sha256)]
            assert status == "ok"
            analysed.setdefault(uid, []).append(i.path)
    # each SOP instance of the second run's files once (analysed now or resumed), but those withdrawn
    assert {uid: len(p) for uid, p in analysed.items()} == {uid: 1 for uid in {uid_of[p] for p in second} - listed}
    check_duplicates([i for i in items if i.path in uid_of and uid_of[i.path] not in listed], uid_of,
                     {uid: p for uid, (p,) in analysed.items()})  # fmt: skip
    resumed = {stored[(i.path, i.sha256)][0] for i in items if i.done}
    assert not replaced & resumed
    assert withdrawn_uids(items) <= replaced


@pytest.fixture(scope="module")
def linked(tmp_path_factory) -> Path:
    """A tree reached under several spellings: a linked folder, a link to a file, a DICOMDIR, a
    hidden file, a visit linked in from elsewhere."""
    root = tmp_path_factory.mktemp("linked")
    for rel in ("in/a.dcm", "in/.hidden", "in/DICOMDIR", "in/sub/IM1", "in/sub/deep/IM2", "elsewhere/visit/IM3"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    (root / "in" / "alias").symlink_to("sub")
    (root / "in" / "zz link").symlink_to("sub/IM1")
    (root / "in" / "visit").symlink_to(root / "elsewhere" / "visit")
    return root


@PROPERTIES
@given(st.data())
def test_a_file_reached_under_several_paths_is_found_once_whatever_the_inputs_and_their_order(linked, data):
    spellings = ["in", "in/sub", "in/alias", "in/alias/deep", "in/zz link", "in/sub/IM1", "in/DICOMDIR", "in/visit",
                 "elsewhere", "elsewhere/visit/IM3", "in/sub/../a.dcm"]  # fmt: skip
    inputs = data.draw(st.lists(st.sampled_from([linked / s for s in spellings]), min_size=1))
    found = list(discover(inputs))
    assert found == sorted(found) and found == list(discover(data.draw(st.permutations(inputs))))
    real = [os.path.realpath(p) for p in found]
    assert len(set(real)) == len(real)  # each file once
    assert set(real) == {os.path.realpath(p) for given in inputs for p in discover([given])}  # none lost
    assert not any(p.name == "DICOMDIR" for p in found)
