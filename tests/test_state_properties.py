"""The run state's round trip against random results (property-based).

A resumed run builds its tables from the results it reads back from ``run_state.sqlite``
(:class:`follicle_seg.state.StateStore`), so every result a run can store must come back equal:
random records (any unicode text, ids with leading zeros or only spaces, empty strings, ``None``
where a field allows it, calibrated or not, the panes of a dual display, notes), follicles and
sections (floats tiny, huge, negative zero), unsure candidates and tubes, flags and where they
were raised, outlines, rejected and failed files with or without their identity. Two fields
are, by design, not kept (:func:`follicle_seg.state.result_to_dict`): the series description
(free text a name may be typed into) and ``seen_in`` (only the file's own DICOM SEG needs it).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from follicle_seg.errors import OutputError
from follicle_seg.state import StateStore
from follicle_seg.types import (CANDIDATE_KINDS, UNCALIBRATED, Calibration, Follicle, Identity, ImageRecord,
                                ImageResult, Pane, Section)

PROPERTIES = settings(max_examples=150)  # (deterministic: tests/conftest.py's profile)

# text as DICOM headers, file names and reasons give it: any unicode a JSON string and SQLite keep
# (lone surrogates aside: a name that is not UTF-8 is rejected, io.discover.not_read, and shown as \xNN)
TEXT = st.one_of(st.sampled_from(("", " ", "007", "P 1,\"x\"\n", "Müller^Zoë", "患者", "=1+1", "NA", "null")),
                 st.text(st.characters(exclude_categories=("Cs",)), max_size=12))
# finite floats of every size (JSON keeps each exactly: repr round-trips); NaN is not stored
FLOATS = st.one_of(st.sampled_from((0.0, -0.0, 5e-324, 1e-300, 1.7976931348623157e308, 0.1, 2.675)),
                   st.floats(allow_nan=False, allow_infinity=False))
OPTIONAL = st.none() | FLOATS
COUNT = st.integers(0, 2**40)
BOX = st.tuples(COUNT, COUNT, COUNT, COUNT)
CALIBRATIONS = st.one_of(st.just(UNCALIBRATED), st.builds(Calibration, OPTIONAL, OPTIONAL, TEXT))
SECTIONS = st.builds(Section, frame_index=COUNT, centroid_row=FLOATS, centroid_col=FLOATS, area_px=COUNT,
                     d1_px=FLOATS, d2_px=FLOATS, d1_mm=OPTIONAL, d2_mm=OPTIONAL, area_mm2=OPTIONAL, score=FLOATS,
                     bbox=BOX, at_edge=st.booleans(), dent_px=FLOATS, dent_mm=OPTIONAL)  # fmt: skip
RECORDS = st.builds(
    ImageRecord, path=TEXT, sop_instance_uid=TEXT, sop_class_uid=TEXT, modality=TEXT, patient_id=TEXT,
    study_instance_uid=TEXT, study_date=TEXT, series_instance_uid=TEXT, series_description=TEXT,
    laterality=st.sampled_from("LRU"), laterality_source=TEXT, n_frames=COUNT, rows=COUNT, columns=COUNT,
    photometric=TEXT, transfer_syntax=TEXT, calibration=CALIBRATIONS, region=BOX, region_source=TEXT,
    frame_time_ms=OPTIONAL, frame_spacing_mm=OPTIONAL, manufacturer=TEXT, instance_number=st.none() | COUNT,
    acquired_s=OPTIONAL, other_panes=st.lists(st.builds(Pane, BOX, CALIBRATIONS), max_size=3).map(tuple),
    pane=st.integers(0, 3), date_tag=TEXT, note=TEXT,
)  # fmt: skip


def follicles(kinds):
    return st.lists(st.builds(Follicle, follicle_id=COUNT, sop_instance_uid=TEXT, best=SECTIONS, n_frames=COUNT,
                              d3_mm=OPTIONAL, volume_ml=OPTIONAL, kind=kinds), max_size=3).map(tuple)  # fmt: skip


RESULTS = st.builds(
    ImageResult, record=st.none() | RECORDS, path=TEXT, status=st.sampled_from(("ok", "rejected", "failed")),
    reason=TEXT, follicles=follicles(st.just("")), ovary=st.none() | SECTIONS, ovary_d3_mm=OPTIONAL,
    ovary_volume_ml=OPTIONAL, key_frames=st.lists(COUNT, max_size=3).map(tuple),
    flags=st.lists(TEXT, max_size=3).map(tuple), unreported=st.lists(SECTIONS, max_size=2).map(tuple),
    unsure=follicles(st.sampled_from(CANDIDATE_KINDS)),
    flag_where=st.lists(st.tuples(TEXT, COUNT, TEXT), max_size=2).map(tuple),
    identity=st.none() | st.builds(Identity, TEXT, TEXT, TEXT, st.sampled_from("LRU")),
    outlines=st.none() | st.lists(st.tuples(COUNT, COUNT, st.lists(COUNT, max_size=6).map(tuple)), max_size=2).map(tuple),
)  # fmt: skip


def _as_kept(result: ImageResult) -> ImageResult:
    """``result`` as the run state keeps it: no series description, no ``seen_in``."""
    record = None if result.record is None else replace(result.record, series_description="")
    return replace(result, record=record, seen_in=())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("state")


@PROPERTIES
@given(results=st.lists(RESULTS, min_size=1, max_size=4), seen=st.lists(st.tuples(COUNT, SECTIONS), max_size=2))
def test_every_stored_result_is_read_back_equal_after_the_store_is_closed(folder, results, seen) -> None:
    path = folder / "run_state.sqlite"
    path.unlink(missing_ok=True)
    store = StateStore(path)
    results = [replace(r, seen_in=tuple(seen)) for r in results]
    for k, result in enumerate(results):
        store.record(f"sha{k}", result)  # one key each: a path may repeat
    store.close()
    again = StateStore(path)
    read = again.results()
    again.close()
    # sorted by path, then in the order stored
    assert read == [_as_kept(r) for _, _, r in sorted((r.path, k, r) for k, r in enumerate(results))]


@PROPERTIES
@given(result=RESULTS, field=st.sampled_from(("ovary_d3_mm", "ovary_volume_ml")),
       bad=st.sampled_from((float("nan"), float("inf"), -float("inf"))))  # fmt: skip
def test_a_result_holding_nan_or_infinity_is_refused_before_anything_is_stored(folder, result, field, bad) -> None:
    """JSON has no NaN (``allow_nan=False``): such a result is refused, not stored as one that
    cannot be read back, and the store keeps what it held."""
    path = folder / "run_state.sqlite"
    path.unlink(missing_ok=True)
    store = StateStore(path)
    with pytest.raises(ValueError, match="JSON compliant"):
        store.record("sha", replace(result, **{field: bad}))
    assert len(store) == 0
    store.close()


def test_a_stored_result_that_cannot_be_read_stops_the_run_naming_the_file(tmp_path) -> None:
    """(the plain example behind the property above's "never stored": a damaged row is an
    OutputError naming run_state.sqlite and --no-resume, not a traceback)"""
    store = StateStore(tmp_path / "run_state.sqlite")
    store.record("sha", ImageResult(None, "a.dcm", "rejected", "truncated"))
    store._db.execute("UPDATE inputs SET result = json_set(result, '$.follicles', json('[{\"x\": 1}]'))")
    with pytest.raises(OutputError, match=r"run_state\.sqlite: a stored result cannot be read .*--no-resume"):
        store.results()
    store.close()
