"""scripts/measure_turns.py: the cines' true turns, the outcomes it counts and the settings it tries."""

from __future__ import annotations

import numpy as np
import pytest

from follicle_seg import passes
from script_module import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("measure_turns")


def test_the_true_turn_follows_frames_held_dropped_or_stored_twice(script) -> None:
    planes, turn = script.there_and_back(0.0, 1.0, 10, 6)
    assert planes[8:12] == [8.0, 9.0, 8.0, 7.0] and turn == (9, 9)
    back = script.Cine("back", planes, turn=turn)
    held = script.with_nuisance(back, "pause", np.random.default_rng(0))
    assert held.planes[9:15] == [9.0] * 5 + [8.0] and held.turn == (9, 13)
    dropped = back.frames([k for k in range(16) if k != 9], "back dropped")  # the turn's own frame left out
    assert dropped.turn == (8, 9) and dropped.planes[8:10] == [8.0, 8.0]
    twice = back.frames(sorted([*range(16), 9, 3]), "back duplicated")
    assert twice.turn == (10, 11) and twice.copies == {4, 11}
    for name in ("dropped", "duplicated", "tremor", "breathing", "gain", "tilt"):
        cine = script.with_nuisance(back, name, np.random.default_rng(1))
        assert cine.planes[cine.turn[0]] == pytest.approx(9.0, abs=0.5)  # (tremor moves the plane 0.1 mm)
        assert len(cine.planes) == len(cine.shifts) == len(cine.gains)


def test_outcomes(script) -> None:
    assert script.judge([], None) == ("ok", None)
    assert script.judge([(5, 6)], None) == ("split", None)
    assert script.judge([], (9, 9)) == ("missed", None)
    assert script.judge([(9, 10)], (9, 9)) == ("told", 0.5)
    assert script.judge([(14, 14)], (9, 13)) == ("told", 3.0)  # within the pause held at the turn
    assert script.judge([(14, 14)], (9, 9)) == ("misplaced", 5.0)
    assert script.judge([(9, 9), (20, 20)], (9, 9)) == ("extra", 0.0)


def test_a_setting_is_the_detectors_for_the_call_only(script) -> None:
    before = passes.TURN_SCALES, passes.TURN_RATIO
    assert script.with_setting(((4, 8), 0.5), lambda: [(passes.TURN_SCALES[0], int(passes.TURN_RATIO * 10))]) == [(4, 5)]
    with pytest.raises(ZeroDivisionError):
        script.with_setting(((4,), 0.5), lambda: [(1 // 0, 0)])
    assert (passes.TURN_SCALES, passes.TURN_RATIO) == before
    assert script.parse_setting("4,8,16:0.35") == ((4, 8, 16), 0.35)


def test_kept_speckle_comes_back_with_its_plane(script) -> None:
    """``--keep-speckle``: a return to a plane renders it as before; planes 2 mm apart, and every
    plane without the option, get speckle drawn anew."""
    from follicle_seg.synth.render import prepare_scan
    from follicle_seg.synth.study import _ovary_scene
    from follicle_seg.synth.styles import STYLE_FAMILIES, sample_params

    rng = np.random.default_rng(0)
    scene, probe, _ = _ovary_scene(rng, 16.0, [4.0, 6.0, 8.0, 5.0, 3.0])
    setup = prepare_scan(probe, 0.5, sample_params(STYLE_FAMILIES["raw_speckle"], rng), rng)
    cine = script.Cine("back", [0.0, 2.0, 0.0])
    kept = [f.astype(float) for f in script.render(cine, setup, scene, rng, keep_speckle=True)]
    anew = [f.astype(float) for f in script.render(cine, setup, scene, rng)]
    assert np.array_equal(kept[0], kept[2]) and not np.array_equal(anew[0], anew[2])
    assert np.corrcoef(kept[0].ravel(), kept[1].ravel())[0, 1] < 0.9
