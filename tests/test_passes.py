"""A cine that sweeps through the ovary and back: split into passes, each follicle counted once."""

from __future__ import annotations

import numpy as np
import pytest

from follicle_seg.analyse import FileAnalysis, analyse_frame
from follicle_seg.passes import frame_look, pass_bounds, turning_points
from follicle_seg.synth.render import prepare_scan, render_plane
from follicle_seg.synth.study import _ovary_scene
from follicle_seg.synth.styles import STYLE_FAMILIES, sample_params
from follicle_seg.tracking import FLAG_TURNS
from follicle_seg.types import FOLLICLE, Calibration, FrameSegmentation, ImageRecord

SPACING = 0.25  # mm per pixel: small frames, fast to render
STEP = 1.0  # mm between the planes of a sweep
N = 12  # frames of the one-way sweep


@pytest.fixture(scope="module")
def sweeps():
    """Frames (grey, labels) of one ovary: a one-way sweep, the way back with speckle drawn
    again, and a slow sweep (a third of the step) across its middle."""
    rng = np.random.default_rng(7)
    scene, probe, _ = _ovary_scene(rng, 16.0, [4.0, 6.0, 8.0, 5.0, 3.0])
    setup = prepare_scan(probe, SPACING, sample_params(STYLE_FAMILIES["raw_speckle"], rng), rng)
    centre = float(scene.ovary.centre[1])
    planes = [centre + (k - (N - 1) / 2) * STEP for k in range(N)]
    there = [render_plane(setup, scene, y, rng) for y in planes]
    back = [render_plane(setup, scene, y, rng) for y in planes[::-1]]
    slow = [render_plane(setup, scene, centre + (k - 11.5) * STEP / 3, rng) for k in range(24)]
    return {"there": there, "back": back, "slow": slow, "scan": setup.fan}


def record(n_frames: int, shape: tuple[int, int]) -> ImageRecord:
    return ImageRecord(
        path="cine.dcm", sop_instance_uid="1.2.3.9", sop_class_uid="1.2.840.10008.5.1.4.1.1.3.1",
        modality="US", patient_id="P1", study_instance_uid="1.2", study_date="2026-01-05",
        series_instance_uid="1.2.4", series_description="", laterality="L",
        laterality_source="ImageLaterality", n_frames=n_frames, rows=shape[0], columns=shape[1],
        photometric="MONOCHROME2", transfer_syntax="1.2.840.10008.1.2.1",
        calibration=Calibration(SPACING, SPACING, "ultrasound_region"),
        region=(0, 0, shape[1] - 1, shape[0] - 1), region_source="ultrasound_region", frame_spacing_mm=STEP,
    )  # fmt: skip


def analysed(frames, scan):
    """The cine's result, each frame's truth labels taken for the network's (follicles sure)."""
    rec = record(len(frames), frames[0][0].shape)
    analysis = FileAnalysis(rec)
    for index, (grey, labels) in enumerate(frames):
        prob = np.where(labels == FOLLICLE, 0.97, 0.0).astype(np.float32)
        look = frame_look(grey, scan, SPACING, SPACING)
        analysis.add(analyse_frame(FrameSegmentation(rec, index, labels, prob, (labels > 0).astype(np.float32),
                                                     scan=scan, look=look)))  # fmt: skip
    result, _ = analysis.finish()
    return result


def test_a_cine_there_and_back_counts_each_follicle_once(sweeps):
    one_way = analysed(sweeps["there"], sweeps["scan"])
    there_and_back = analysed(sweeps["there"] + sweeps["back"][1:], sweeps["scan"])
    assert len(one_way.follicles) >= 3
    assert len(there_and_back.follicles) == len(one_way.follicles)
    assert {f.best.frame_index for f in there_and_back.follicles} <= set(range(N))  # the first pass, source frames
    assert "tracked as 2 passes (frames 1-12 (index 0-11)" in there_and_back.said
    assert "pass 1 counted" in there_and_back.said
    assert FLAG_TURNS in there_and_back.flags and FLAG_TURNS not in one_way.flags  # a split is checked by a reviewer


def test_a_pause_at_the_turn_is_one_turn(sweeps):
    there = sweeps["there"]
    paused = there + [sweeps["back"][0]] * 3 + sweeps["back"][1:]
    result = analysed(paused, sweeps["scan"])
    assert len(result.follicles) == len(analysed(there, sweeps["scan"]).follicles)
    assert "tracked as 2 passes" in result.said


@pytest.mark.parametrize("cine", ["there", "slow", "held"])
def test_a_one_way_slow_or_paused_sweep_is_one_pass(sweeps, cine):
    frames = {
        "there": sweeps["there"],
        "slow": sweeps["slow"],
        "held": sweeps["there"][:6] + [sweeps["there"][5]] * 6 + sweeps["there"][6:],
    }[cine]
    looks = [frame_look(grey, sweeps["scan"], SPACING, SPACING) for grey, _ in frames]
    assert turning_points(looks) == []
    assert "passes" not in analysed(frames, sweeps["scan"]).said


def test_the_turn_is_found_on_the_frame_or_between_two():
    rng = np.random.default_rng(0)
    planes = [rng.normal(size=(12, 16)).astype(np.float32) for _ in range(3)]
    # a sweep: each frame a blend moving from one random scene to the next
    sweep = [((1 - t) * planes[i] + t * planes[i + 1], np.ones((12, 16), bool))
             for i in range(2) for t in np.linspace(0, 1, 6, endpoint=False)]  # fmt: skip
    assert turning_points(sweep) == []
    assert turning_points(sweep + sweep[::-1]) == [(11, 12)]
    assert turning_points(sweep + sweep[-2::-1]) == [(11, 11)]
    assert pass_bounds(24, [(11, 12)]) == [(0, 11), (12, 23)]
