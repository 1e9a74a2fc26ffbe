"""Stills that are the frames of one sweep: joined by acquisition time, follicles tracked once."""

from __future__ import annotations

from dataclasses import replace

from follicle_seg.review import FOLLICLE, Decision, Review
from follicle_seg.series import MAX_FRAME_GAP_S, join_sweeps, sweep_frames, sweep_places
from follicle_seg.tracking import FLAG_LOW_CONFIDENCE, FLAG_TUBE, KIND_UNSURE
from follicle_seg.types import Calibration, Follicle, ImageRecord, ImageResult, Section
from follicle_seg.visits import build_tables

T0 = 1_767_600_000.0  # some morning in 2026


def record(uid, t, series="se", region=(0, 0, 99, 99), spacing=None):
    return ImageRecord(
        path=f"/in/{uid}.dcm", sop_instance_uid=uid, sop_class_uid="1.2.840.10008.5.1.4.1.1.6.1",
        modality="US", patient_id="P1", study_instance_uid="st", study_date="2026-01-05",
        series_instance_uid=series, series_description="", laterality="L",
        laterality_source="ImageLaterality", n_frames=1, rows=100, columns=100,
        photometric="MONOCHROME2", transfer_syntax="1.2.840.10008.1.2.1",
        calibration=Calibration(0.2, 0.2, "ultrasound_region"), region=region,
        region_source="ultrasound_region", frame_spacing_mm=spacing,
        acquired_s=None if t is None else T0 + t,
    )  # fmt: skip


def section(r0, c0, size_px, score=0.95):
    """A round follicle section of ``size_px`` pixels across, top-left corner at (r0, c0)."""
    d_mm = size_px * 0.2
    return Section(0, r0 + size_px / 2, c0 + size_px / 2, int(size_px**2 * 0.785), size_px, size_px,
                   d_mm, d_mm, d_mm * d_mm * 0.785, score, (r0, c0, r0 + size_px, c0 + size_px))  # fmt: skip


def still(uid, t, boxes, flags=(), unsure=(), **kw):
    """A still reporting follicles at ``boxes`` (r0, c0, size) and leaving out those at ``unsure``
    (score 0.8, under the reporting threshold)."""
    rec = record(uid, t, **kw)
    ordered = sorted(boxes, key=lambda b: -b[2])
    fols = tuple(Follicle(i, uid, section(*b), 1, None, None) for i, b in enumerate(ordered, 1))
    ovary = Section(0, 50.0, 50.0, 4000, 80, 60, 16.0, 12.0, 150.0)
    left_out = tuple(section(*b, score=0.8) for b in unsure)
    candidates = tuple(Follicle(i, uid, s, 1, None, None, KIND_UNSURE) for i, s in enumerate(left_out, len(fols) + 1))
    return ImageResult(rec, rec.path, "ok", follicles=fols, ovary=ovary, flags=tuple(flags), unreported=left_out,
                       unsure=candidates)  # fmt: skip


# follicle A is cut by all three frames (largest in the middle one), C only by the first, B only
# by the last: each still shows two or one, the sweep three
A0, A1, A2 = (20, 20, 15), (19, 19, 20), (21, 21, 14)
B, C = (60, 60, 13), (60, 20, 12)


def three_frames(gap=0.04, **kw):
    return [
        still("s1", 0.0, [A0, C], **kw),
        still("s2", gap, [A1], **kw),
        still("s3", 2 * gap, [A2, B], **kw),
    ]


def test_frames_a_frame_time_apart_are_one_sweep_and_each_follicle_counts_once():
    frames = three_frames()
    [sweep] = join_sweeps(frames)
    assert sweep.record.n_frames == 3 and sweep.record.is_sweep
    got = {(f.sop_instance_uid, f.follicle_id): f.n_frames for f in sweep.follicles}
    # A is measured on its largest section (s2, its follicle 1) and spans the three frames
    assert got == {("s2", 1): 3, ("s3", 2): 1, ("s1", 2): 1}
    assert [f.sop_instance_uid for f in sweep.follicles] == ["s2", "s3", "s1"]  # largest first

    tables = build_tables(frames)
    ovary = tables["ovaries"].iloc[0]
    assert ovary["follicle_count"] == 3 and ovary["n_images"] == 3  # the stills alone: 2
    fol = tables["follicles"]
    assert len(fol) == 3 and fol["counted"].all()
    assert sorted(fol["n_frames"]) == [1, 1, 3]
    assert list(tables["images"]["follicle_count"]) == [2, 1, 2]  # files stay per file


def test_stills_seconds_apart_stay_separate_images():
    frames = three_frames(gap=MAX_FRAME_GAP_S + 2.0)
    assert sweep_frames(frames) == []
    assert join_sweeps(frames) == frames
    tables = build_tables(frames)
    assert tables["ovaries"].iloc[0]["follicle_count"] == 2  # the largest per-image count
    assert len(tables["follicles"]) == 5


def test_no_acquisition_time_or_one_time_for_all_no_join():
    frames = [replace(r, record=replace(r.record, acquired_s=None)) for r in three_frames()]
    assert join_sweeps(frames) == frames
    same = three_frames(gap=0.0)  # a de-identified series: one dummy time on every image
    assert join_sweeps(same) == same
    assert build_tables(same)["ovaries"].iloc[0]["follicle_count"] == 2
    # whole-second times: frames 1-2 share one second, frame 3 the next; not joined at all
    coarse = three_frames(gap=0.0)
    coarse[2] = replace(coarse[2], record=replace(coarse[2].record, acquired_s=T0 + 1.0))
    assert sweep_frames(coarse) == []


def test_other_series_or_geometry_is_not_a_frame_of_the_sweep():
    frames = three_frames()
    frames[1] = replace(frames[1], record=replace(frames[1].record, series_instance_uid="other"))
    assert [[r.record.sop_instance_uid for r in run] for run in sweep_frames(frames)] == [["s1", "s3"]]
    moved = three_frames()
    moved[2] = replace(moved[2], record=replace(moved[2].record, region=(20, 0, 99, 99)))
    assert [[r.record.sop_instance_uid for r in run] for run in sweep_frames(moved)] == [["s1", "s2"]]
    jitter = three_frames()  # a scan area found in the pixels, a pixel off in one frame
    jitter[1] = replace(jitter[1], record=replace(jitter[1].record, region=(1, 0, 99, 98)))
    assert len(join_sweeps(jitter)) == 1
    resized = three_frames()
    resized[1] = replace(resized[1], record=replace(resized[1].record, rows=120))
    assert [[r.record.sop_instance_uid for r in run] for run in sweep_frames(resized)] == [["s1", "s3"]]


def test_a_pause_splits_two_sweeps_and_spacing_gives_the_third_axis():
    frames = three_frames(spacing=0.5) + [
        still("s4", 10.0, [A0], spacing=0.5),
        still("s5", 10.04, [A1], spacing=0.5),
    ]
    runs = sweep_frames(frames)
    assert [[r.record.sop_instance_uid for r in run] for run in runs] == [["s1", "s2", "s3"], ["s4", "s5"]]
    first, second = join_sweeps(frames)
    a = first.follicles[0]
    # on every still, so on the sweep's ends: the frames' 1.5 mm or d2, the larger
    assert a.n_frames == 3 and abs(a.d3_mm - max(1.5, a.best.d2_mm)) < 1e-9 and a.volume_ml is not None
    assert first.ovary_d3_mm == max(1.5, first.ovary.d2_mm) and second.record.n_frames == 2


def test_reasons_of_stills_joined_into_a_sweep_name_no_sweep_follicle_or_frame():
    """The joined sweep's follicle numbers and frames are drawn on no overlay (each still shows its
    own): its reasons say what, not where."""
    from follicle_seg.tracking import FLAG_REASONS

    frames = [still("s1", 0.0, [A0, C], flags=("network: unsure",), unsure=[(70, 70, 12)]), still("s2", 0.04, [A1]),
              still("s3", 0.08, [A2, B], unsure=[(75, 20, 11)])]  # fmt: skip
    reasons = build_tables(frames)["review_reasons"]
    said = set(zip(reasons["sop_instance_uid"], reasons["reason"]))
    assert said == {("s1", FLAG_REASONS["network: unsure"]), ("s1", FLAG_REASONS["low confidence"] + " (3?)"),
                    ("s3", FLAG_REASONS["low confidence"] + " (3?)")}  # each still's own number  # fmt: skip


def test_a_vessel_through_stills_joined_into_a_sweep_names_its_still_and_number():
    """A 2.4 mm vessel on each of 10 stills 1 mm apart is a tube of the joined sweep (tracking.is_tube):
    not counted, a candidate under the number its still (analysed alone, counting it) gives it.
    The reason named neither the still nor the number; it now names both and says the still counts it."""
    frames = [still(f"s{k}", 0.04 * k, [(20, 20, 12 + (k == 3))], spacing=1.0) for k in range(10)]
    [sweep] = join_sweeps(frames)
    assert sweep.follicles == () and [(u.sop_instance_uid, u.follicle_id) for u in sweep.unsure] == [("s3", 1)]
    tables = build_tables(frames)
    assert tables["ovaries"].iloc[0]["follicle_count"] == 0 and tables["candidates"]["kind"].tolist() == ["tube"]
    reasons = tables["review_reasons"]
    assert list(zip(reasons["sop_instance_uid"], reasons["flag"])) == [("s3", FLAG_TUBE)]
    assert reasons["reason"].iloc[0].endswith("(follicle 1 of this still, counted on its own, not in the joined sweep)")


def test_stills_that_disagree_on_the_frame_spacing_give_a_sweep_without_a_third_axis():
    frames = three_frames(spacing=0.5)
    frames[2] = still("s3", 0.08, [A2, B], spacing=0.6)  # one still says another spacing
    [sweep] = join_sweeps(frames)
    assert sweep.record.frame_spacing_mm is None and sweep.ovary_d3_mm is None
    assert all(f.d3_mm is None for f in sweep.follicles)


def test_sections_a_still_left_out_are_tracked_as_a_cines_are():
    # A reported in the first and last of four frames, unsure in the two between: one follicle,
    # as in a cine (two missed frames would break the track in two)
    frames = [
        still("s1", 0.00, [A0]),
        still("s2", 0.04, [], unsure=[(22, 22, 11)]),
        still("s3", 0.08, [], unsure=[(22, 22, 11)]),
        still("s4", 0.12, [A2]),
    ]
    [sweep] = join_sweeps(frames)
    assert [(f.sop_instance_uid, f.n_frames) for f in sweep.follicles] == [("s1", 4)]
    assert FLAG_LOW_CONFIDENCE not in sweep.flags  # its largest section is sure
    # a follicle whose largest section is unsure is not reported, as in a cine, though a smaller
    # section of it was sure in another still; the unsure largest section asks for review
    frames = [still("s1", 0.0, [A0]), still("s2", 0.04, [], unsure=[A1])]
    [sweep] = join_sweeps(frames)
    assert sweep.follicles == () and FLAG_LOW_CONFIDENCE in sweep.flags
    assert build_tables(frames)["ovaries"].iloc[0]["follicle_count"] == 0
    # the candidate keeps the number its still's overlay shows and takes the track's frames, so a
    # reviewer who accepts it counts the follicle once, seen in both stills
    assert [(u.sop_instance_uid, u.follicle_id, u.n_frames) for u in sweep.unsure] == [("s2", 1, 2)]
    review = Review([Decision(2, FOLLICLE, "AB", sop_instance_uid="s2", follicle_id=1,
                              centroid=(sweep.unsure[0].best.centroid_row, sweep.unsure[0].best.centroid_col))])  # fmt: skip
    tables = build_tables(frames, review=review)
    assert tables["ovaries"].iloc[0]["follicle_count"] == 1 and tables["follicles"]["n_frames"].tolist() == [2]


def test_a_left_out_section_the_still_did_not_list_as_unsure_does_not_fail_the_tables():
    # results not made by one analysis (an unsure section without its candidate): the sweep's
    # candidate keeps its still's UID instead of stopping the run's tables
    frames = [still("s1", 0.0, [A0]), replace(still("s2", 0.04, [], unsure=[A1]), unsure=())]
    [sweep] = join_sweeps(frames)
    assert [u.sop_instance_uid for u in sweep.unsure] == ["s2"]
    assert build_tables(frames)["ovaries"].iloc[0]["follicle_count"] == 0


def test_network_flags_of_the_frames_a_result_rests_on_carry_over():
    frames = three_frames()
    frames[0] = replace(frames[0], flags=(FLAG_LOW_CONFIDENCE, "network: follicle shape"))
    [sweep] = join_sweeps(frames)
    # s1 holds follicle C, a counted track: its network flag counts; its own "low confidence"
    # was the still's verdict, made again for the sweep (nothing unsure here)
    assert "network: follicle shape" in sweep.flags and FLAG_LOW_CONFIDENCE not in sweep.flags
    assert build_tables(frames)["ovaries"].iloc[0]["needs_review"]


def test_a_joined_sweeps_review_reasons_name_the_stills_that_raise_them():
    # still s3 carries the network's shape flag and holds follicle B, a counted track: the reason
    # names s3, not the sweep's first still
    frames = three_frames()
    frames[2] = replace(frames[2], flags=("network: follicle shape",))
    reasons = build_tables(frames)["review_reasons"]
    assert list(zip(reasons["sop_instance_uid"], reasons["flag"])) == [("s3", "network: follicle shape")]
    # an unsure largest section in s2 raises "low confidence" for the sweep: the reason names s2
    # (s2's own result was made without the flag: the sweep's verdict decides)
    frames = [still("s1", 0.0, [A0]), still("s2", 0.04, [], unsure=[A1])]
    reasons = build_tables(frames)["review_reasons"]
    assert list(zip(reasons["sop_instance_uid"], reasons["flag"])) == [("s2", FLAG_LOW_CONFIDENCE)]
    # a flag of the whole sweep (no ovary found) names its first still, once, though each still
    # carries it too
    frames = [replace(r, ovary=None, flags=("no ovary found",)) for r in three_frames()]
    reasons = build_tables(frames)["review_reasons"]
    assert list(reasons.loc[reasons.flag == "no ovary found", "sop_instance_uid"]) == ["s1"]


def test_the_places_read_from_the_headers_are_those_of_the_stills_the_tables_join():
    """A run gives each still's overlay its place in its sweep before the tables join the stills."""
    frames = [*three_frames(), still("s4", 5.0, [B]), still("s5", 0.02, [B], series="other")]
    places = sweep_places(r.record for r in reversed(frames))
    assert places == {"s1": (0, 3), "s2": (1, 3), "s3": (2, 3)}  # s4 seconds later, s5 of another series
    assert [[r.record.sop_instance_uid for r in run] for run in sweep_frames(frames)] == [["s1", "s2", "s3"]]


def test_a_joined_sweeps_follicle_and_ovary_at_the_scan_edge_name_the_still_they_are_measured_on():
    """Follicle 2 of still s3 (a track of its own) and the ovary's largest section, on s3 (s2's
    larger one confirms it), reach the scan edge: both reasons named the sweep's first still s1,
    whose overlay shows neither, and did not say which follicle; a follicle the reviewer dropped
    raises nothing."""
    from follicle_seg.review import NOT_FOLLICLE

    frames = three_frames()
    frames[1] = replace(frames[1], ovary=replace(frames[1].ovary, area_px=5200, area_mm2=208.0))
    s3 = frames[2]
    cut = replace(s3.follicles[1], best=replace(s3.follicles[1].best, at_edge=True))
    frames[2] = replace(s3, follicles=(s3.follicles[0], cut), ovary=replace(s3.ovary, area_px=5000, area_mm2=200.0,
                                                                            at_edge=True))  # fmt: skip
    reasons = build_tables(frames)["review_reasons"]
    assert list(zip(reasons["sop_instance_uid"], reasons["flag"])) == [("s3", "follicle at scan edge"),
                                                                       ("s3", "ovary at scan edge")]  # fmt: skip
    assert reasons["reason"].iloc[0].endswith("(follicle 2)")
    review = Review([Decision(2, NOT_FOLLICLE, "AB", sop_instance_uid="s3", follicle_id=2,
                              centroid=(cut.best.centroid_row, cut.best.centroid_col))])  # fmt: skip
    reasons = build_tables(frames, review=review)["review_reasons"]
    assert list(reasons["flag"]) == ["ovary at scan edge"]


def test_the_follicle_a_review_decides_for_each_still_is_the_one_the_tables_name():
    """``named_by`` tracked the stills again with a tracker of its own, over the whole run, beside
    the tables' tracking per ovary-visit: one change to either would have a review decide another
    follicle than the one the tables list. Both come of one tracking now; over a run of two sweeps
    (two series) each still's follicle and candidate maps to a follicle the tables list. A
    regression guard: it passed on the two trackings too, while they were alike."""
    from follicle_seg.series import named_by

    frames = [*three_frames(), *(replace(r, record=replace(r.record, sop_instance_uid=f"t{k}", series_instance_uid="se2"),
                                         follicles=tuple(replace(f, sop_instance_uid=f"t{k}") for f in r.follicles))
                                 for k, r in enumerate(three_frames(), 1))]  # fmt: skip
    frames.append(still("s4", 0.12, [], unsure=[(22, 22, 11)]))  # a candidate of A, smaller than its sections
    named = {key: f for run in sweep_frames(frames) for key, f in named_by(run).items()}
    listed = build_tables(frames)["follicles"]
    heads = {(f.sop_instance_uid, f.follicle_id) for f in named.values()}
    assert heads == set(zip(listed.sop_instance_uid, listed.follicle_id))
    assert named[("s1", 1)].sop_instance_uid == "s2" and named[("s4", 1)] is named[("s2", 1)]
    assert named[("t1", 1)].sop_instance_uid == "t2" and {k for k in named if k[0].startswith("t")} == {
        ("t1", 1), ("t1", 2), ("t2", 1), ("t3", 1), ("t3", 2)}


def test_a_joined_sweeps_notched_follicle_names_the_still_it_is_measured_on():
    """A follicle whose largest section, on still s3, dents in as two touching follicles do: the
    reason names s3 and the follicle's number there, as for a follicle elongated. Follicle A's
    section on s1, notched too and flagged there, is not its largest (s2's): the sweep raises nothing for it."""

    def notched(f: Follicle) -> Follicle:
        return replace(f, best=replace(f.best, dent_px=f.best.d2_px / 4, dent_mm=f.best.d2_mm / 4))

    frames = three_frames()
    s1, s3 = frames[0], frames[2]
    frames[0] = replace(s1, follicles=(notched(s1.follicles[0]), s1.follicles[1]), flags=("follicle notched",))
    frames[2] = replace(s3, follicles=(s3.follicles[0], notched(s3.follicles[1])))
    reasons = build_tables(frames)["review_reasons"]
    assert list(zip(reasons["sop_instance_uid"], reasons["flag"])) == [("s3", "follicle notched")]
    assert reasons["reason"].iloc[0].endswith("(follicle 2)")
    frames[2] = s3  # s1's own flag alone: not the sweep's
    assert "follicle notched" not in join_sweeps(frames)[0].flags
