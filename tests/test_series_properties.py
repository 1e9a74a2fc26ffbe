"""Which stills are the frames of one sweep (series.py) against random runs (property-based).

Random header records of single-frame stills (a few series and sides, frame sizes, calibrations,
scan areas each side of :data:`MIN_REGION_OVERLAP`, acquisition times a frame time, exactly
:data:`MAX_FRAME_GAP_S`, just over it or seconds apart, shared or missing, and a cine among them)
are checked against the rule of series.py's module docstring: stills of one patient, study,
series and side with the same frame size and calibration (a "group" here), none where two of
the group share a time, in order of acquisition time, each at most :data:`MAX_FRAME_GAP_S` after
the one before with nearly the same scan area. Also the pseudonyms of privacy.py.
"""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from follicle_seg.privacy import pseudonym
from follicle_seg.series import MAX_FRAME_GAP_S, MIN_REGION_OVERLAP, region_overlap, sweep_files, sweep_places
from follicle_seg.types import Calibration
from test_series import record  # tests/ is on sys.path

PROPERTIES = settings(max_examples=150)  # (deterministic: tests/conftest.py's profile)

# scan areas against (0, 0, 99, 99): the same, a pixel off (0.99), exactly the least overlap
# (0.9), just under it (0.89), half of it; or the least overlap with the still before's (a scan
# area drifting: each frame overlaps the one before enough, not the first)
REGIONS = ((0, 0, 99, 99), (0, 0, 99, 99), (1, 0, 99, 99), (0, 0, 89, 99), (0, 0, 88, 99), (50, 0, 99, 99), *("drift",) * 4)
# the time after the still before: a frame time, the longest gap, just over it, seconds, the same
STEPS = (*(0.04,) * 6, MAX_FRAME_GAP_S, MAX_FRAME_GAP_S + 1e-6, 3.0, 0.0)


@st.composite
def stills(draw):
    t, recs, region = 0.0, [], REGIONS[0]
    for k in draw(st.permutations(range(draw(st.integers(0, 10))))):  # UIDs not in time order
        t += draw(st.sampled_from(STEPS))
        drawn = draw(st.sampled_from(REGIONS))
        if drawn == "drift":  # as narrow as still overlaps enough
            drawn = (0, 0, next(w for w in range(1, region[2] + 2) if w / (region[2] + 1) >= MIN_REGION_OVERLAP) - 1, 99)
        region = drawn
        rec = replace(
            record(f"1.2.{k}", None if draw(st.integers(0, 9)) == 0 else t,
                   series=draw(st.sampled_from(("se", "se", "se", "se2"))), region=region),
            laterality=draw(st.sampled_from("LLLR")),
            n_frames=draw(st.sampled_from((1,) * 9 + (12,))),
            rows=draw(st.sampled_from((100,) * 9 + (120,))),
            calibration=draw(st.sampled_from((Calibration(0.2, 0.2, "ultrasound_region"),) * 9
                                             + (Calibration(0.25, 0.25, "ultrasound_region"),))),
        )  # fmt: skip
        recs.append(rec)
    return recs


def group(rec):
    return (rec.patient_id, rec.study_instance_uid, rec.series_instance_uid, rec.laterality, rec.rows, rec.columns,
            rec.calibration)  # fmt: skip


def joinable(a, b) -> bool:
    """``b`` may follow ``a`` in one sweep (the docstring's rule for consecutive frames)."""
    return (0 < b.acquired_s - a.acquired_s <= MAX_FRAME_GAP_S
            and region_overlap(a.region, b.region) >= MIN_REGION_OVERLAP)  # fmt: skip


@PROPERTIES
@given(stills(), st.randoms(use_true_random=False))
def test_the_sweeps_follow_the_rule_whatever_the_order_of_the_files(recs, rnd):
    sweeps = sweep_files(recs)
    shuffled = list(recs)
    rnd.shuffle(shuffled)
    assert sorted(sweep_files(shuffled)) == sorted(sweeps)
    assert sweep_places(shuffled) == sweep_places(recs)
    by_uid = {r.sop_instance_uid: r for r in recs}
    joined = [uid for files in sweeps for uid in files]
    assert len(joined) == len(set(joined))  # each file in one sweep at most
    next_of = {}
    for files in sweeps:
        assert len(files) >= 2
        members = [by_uid[uid] for uid in files]
        for a, b in zip(members, members[1:]):
            assert a.n_frames == b.n_frames == 1 and group(a) == group(b) and joinable(a, b)
            next_of[a.sop_instance_uid] = b.sop_instance_uid
    # and every pair of consecutive stills of a group the rule allows is joined
    groups = {}
    for r in recs:
        if r.n_frames == 1 and r.acquired_s is not None:
            groups.setdefault(group(r), []).append(r)
    for members in groups.values():
        if len({r.acquired_s for r in members}) < len(members):  # two share a time: none joined
            assert not {r.sop_instance_uid for r in members} & set(joined)
            continue
        members.sort(key=lambda r: r.acquired_s)
        for a, b in zip(members, members[1:]):
            assert (next_of.get(a.sop_instance_uid) == b.sop_instance_uid) == joinable(a, b)
    assert not {r.sop_instance_uid for r in recs if r.acquired_s is None or r.n_frames != 1} & set(joined)


@PROPERTIES
@given(stills())
def test_sweep_places_number_the_files_of_sweep_files(recs):
    places = sweep_places(recs)
    assert places == {uid: (k, len(files)) for files in sweep_files(recs) for k, uid in enumerate(files)}


@PROPERTIES
@given(stills(), st.data())
def test_a_still_moved_to_another_series_or_side_is_in_no_sweep_with_the_stills_of_its_old_one(recs, data):
    if not recs:
        return
    k = data.draw(st.integers(0, len(recs) - 1))
    still = recs[k]
    moved = data.draw(st.sampled_from((
        replace(still, series_instance_uid="se-other"),
        replace(still, laterality={"L": "R", "R": "L"}[still.laterality]),
    )))  # fmt: skip
    mates = {r.sop_instance_uid for j, r in enumerate(recs) if j != k and group(r) == group(still)}
    sweeps = sweep_files([*recs[:k], moved, *recs[k + 1:]])
    for files in sweeps:
        if still.sop_instance_uid in files:
            assert moved.series_instance_uid != "se-other" and not mates & set(files)


BOXES = st.tuples(st.integers(0, 200), st.integers(0, 200), st.integers(0, 200), st.integers(0, 200)).map(
    lambda b: (min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])))


@PROPERTIES
@given(BOXES, BOXES)
def test_region_overlap_is_symmetric_and_a_share(a, b):
    """Intersection over union (the docstring): the same either way, 1 for the same area."""
    assert region_overlap(a, b) == region_overlap(b, a)
    assert 0.0 <= region_overlap(a, b) <= 1.0
    assert region_overlap(a, a) == 1.0
    assert (region_overlap(a, b) == 0.0) == (a[0] > b[2] or b[0] > a[2] or a[1] > b[3] or b[1] > a[3])


KEYS = st.binary(min_size=16, max_size=40)


@PROPERTIES
@given(st.text(min_size=1, max_size=70), st.text(min_size=1, max_size=70), KEYS, KEYS)
def test_a_pseudonym_is_stable_keyed_opaque_and_fit_for_a_file_name(a, b, key, other):
    """``P`` + 12 hex digits (privacy.py): a file name anywhere, one per PatientID and key. It can
    hold the PatientID only where that is itself a short run of those characters (``"1"``, ``"P"``):
    by chance, telling nothing."""
    p = pseudonym(a, key)
    assert p == pseudonym(a, key) and re.fullmatch(r"P[0-9a-f]{12}", p)
    assert (pseudonym(b, key) == p) == (a == b)
    assert (pseudonym(a, other) == p) == (key == other)
    if not re.fullmatch(r"P?[0-9a-f]{1,12}", a):
        assert a not in p
