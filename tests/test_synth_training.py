"""Training mode: random frames with labels, per style, deterministic by seed."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage as ndi

from follicle_seg.synth.training import LAYERED, PATCHWORK, STYLES, TrainingFrame, training_frame
from follicle_seg.types import FOLLICLE, OVARY


@functools.cache
def _frame(seed: int, **options) -> TrainingFrame:
    """``training_frame(seed, **options)`` rendered once for the whole file (the same seed and
    options give the same bytes: test_same_seed_same_bytes_and_different_seed_differs renders
    afresh to check it); its arrays read-only, so no test sees another's changes."""
    frame = training_frame(seed, **options)
    for array in (frame.pixels, frame.labels, frame.fan):
        array.flags.writeable = False
    return frame


@pytest.fixture(scope="module", autouse=True)
def _frames_let_go():
    """The rendered frames (about 200 MB) freed once this file's tests are done."""
    yield
    _frame.cache_clear()


def test_same_seed_same_bytes_and_different_seed_differs() -> None:
    a, b = training_frame(11), training_frame(11)
    assert a.pixels.tobytes() == b.pixels.tobytes() and a.labels.tobytes() == b.labels.tobytes()
    assert a.style == b.style and a.spacing_row_mm == b.spacing_row_mm
    c = training_frame(12)
    assert c.pixels.shape != a.pixels.shape or c.pixels.tobytes() != a.pixels.tobytes()


def test_at_least_six_named_styles() -> None:
    assert len(STYLES) >= 6 and len(set(STYLES)) == len(STYLES)
    with pytest.raises(ValueError, match="Unknown style"):
        training_frame(0, style="no_such_scanner")


@pytest.mark.parametrize("style", [*STYLES, LAYERED, PATCHWORK])
def test_every_style_renders_plausible_grey(style: str) -> None:
    meds, fol = [], []
    for seed in range(3):
        f = _frame(seed, style=style)
        assert f.pixels.dtype == np.uint8 and f.labels.dtype == np.uint8
        assert f.pixels.shape == f.labels.shape and f.pixels.ndim == 2
        assert set(np.unique(f.labels)) <= {0, OVARY, FOLLICLE}
        assert f.style == style and 0.07 <= f.spacing_row_mm <= 0.35
        assert f.spacing_row_mm == f.spacing_col_mm
        fan = f.fan
        assert fan.shape == f.pixels.shape and 0.4 < fan.mean() < 0.99  # a sector (or a zoom into one)
        assert not np.any(f.labels[~fan]) and np.median(f.pixels[~fan]) <= 3  # JPEG leaves near-black
        meds.append(np.median(f.pixels[fan]))
        big = ndi.binary_erosion(f.labels == FOLLICLE, iterations=int(1.5 / f.spacing_row_mm))
        if big.sum() > 30:  # the inside of follicles wider than about 4 mm (smaller ones blur)
            fol.append(np.median(f.pixels[big]))
    assert 35 <= np.median(meds) <= 120
    assert all(m < 35 for m in fol)


def test_distribution_has_empty_frames_poi_ovaries_and_sizes_in_range() -> None:
    no_ovary = no_follicle = framed = 0
    fractions = []
    for seed in range(40):
        f = _frame(seed)
        fan_px = np.sum(f.fan)
        framed += int(not f.fan[:, 0].any() or f.fan.all(axis=0).any())  # black margin or zoom crop
        ov = np.sum(f.labels > 0)
        if ov == 0:
            no_ovary += 1
        else:
            fractions.append(ov / fan_px)
            no_follicle += int(not np.any(f.labels == FOLLICLE))
    assert no_ovary >= 1 and no_follicle >= 1 and framed >= 5
    assert 0.01 < np.median(fractions) < 0.15


def test_shift_moves_outside_the_training_distribution() -> None:
    inside = [_frame(s) for s in range(8)]
    shifted = [training_frame(s, shift=1.5) for s in range(8)]
    assert all(40 <= f.depth_mm <= 100 for f in inside)
    assert sum(f.depth_mm < 39 or f.depth_mm > 101 for f in shifted) >= 5
    with pytest.raises(ValueError):
        training_frame(0, shift=-1.0)


@pytest.mark.parametrize("style", [*STYLES, LAYERED, PATCHWORK])
def test_follicles_look_as_large_as_their_labels(style: str) -> None:
    """The dark area around a >= 5 mm follicle matches its label (no systematic over/under-size)."""
    ratios = []
    for seed in range(12):
        f = _frame(seed, style=style)
        comp, n = ndi.label(f.labels == FOLLICLE)
        for k in range(1, n + 1):
            m = comp == k
            if m.sum() * f.spacing_row_mm**2 < 20.0:
                continue
            zone = ndi.binary_dilation(m, iterations=int(1.5 / f.spacing_row_mm))
            ring = zone & ~m & f.fan
            if ring.sum() < 50:
                continue
            threshold = (np.median(f.pixels[m]) + np.median(f.pixels[ring])) / 2.0
            ratios.append(np.sum((f.pixels < threshold) & zone) / m.sum())
    assert len(ratios) >= 2
    assert 0.8 <= np.median(ratios) <= 1.2


def test_realism_figures_of_a_hand_made_ovary() -> None:
    # A smooth dark disc (the stroma) in brighter, grainier tissue: the ovary is darker than its
    # ring (negative contrast) and smoother (texture ratio < 1); the same disc brighter and as
    # grainy as its surroundings flips the sign and gives a ratio near 1.
    from follicle_seg.synth.realism import image_stats

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:200, :200]
    ovary = (yy - 100) ** 2 + (xx - 100) ** 2 < 40**2
    fan = np.ones((200, 200), bool)
    grain = rng.normal(0, 0.08, (200, 200)).astype(np.float32)
    dark = np.where(ovary, 0.35 + 0.3 * grain, 0.55 + grain).astype(np.float32)
    bright = np.where(ovary, 0.75, 0.55).astype(np.float32) + grain
    d, b = image_stats(dark, fan, ovary), image_stats(bright, fan, ovary)
    assert d is not None and b is not None
    assert d["contrast"] < -1.0 and b["contrast"] > 1.0
    assert 0.2 < d["texture"] < 0.45 and 0.9 < b["texture"] < 1.1
    assert image_stats(dark, fan, np.zeros_like(ovary)) is None  # no ovary: no figures


def test_speckle_grain_scales_with_the_blur_and_the_pixel_size() -> None:
    """Speckle blurred twice as wide reads coarser by 1.4-2.4 times; the same pixels at twice the
    pixel size read twice as many mm; windows off the tissue or above the depth band are left out."""
    import cv2

    from follicle_seg.synth.realism import speckle_grain

    rng = np.random.default_rng(1)

    def speckle(sigma_rows: float, sigma_cols: float) -> np.ndarray:
        n = cv2.GaussianBlur(rng.standard_normal((500, 400)).astype(np.float32), (0, 0), sigma_cols, sigmaY=sigma_rows)
        return np.clip(100 + 25 * n / n.std(), 0, 255).astype(np.uint8)

    tissue = np.ones((500, 400), bool)
    fine_ax, fine_lat = speckle_grain(speckle(1.0, 2.0), tissue, 0.1)
    coarse_ax, coarse_lat = speckle_grain(speckle(2.0, 4.0), tissue, 0.1)
    assert 1.4 < coarse_ax / fine_ax < 2.4 and 1.4 < coarse_lat / fine_lat < 2.4  # the 6-px high-pass trims wide grain
    assert 1.4 < fine_lat / fine_ax < 2.4  # wider across the beam than along it, as drawn
    image = speckle(1.0, 2.0)
    at_01, at_02 = speckle_grain(image, tissue, 0.1), speckle_grain(image, tissue, 0.2, depth_mm=(50.0, 90.0))
    assert at_02[0] == pytest.approx(2 * at_01[0], rel=0.15)
    assert speckle_grain(image, np.zeros_like(tissue), 0.1) is None  # no tissue window
    assert speckle_grain(image, tissue, 0.1, depth_mm=(60.0, 80.0)) is None  # the band lies below the image


def test_layered_share_sets_the_mix_and_leaves_the_other_frames_alone() -> None:
    plain = [_frame(s) for s in range(30)]
    half = [training_frame(s, layered_share=0.5) for s in range(30)]
    assert not any(f.style == LAYERED for f in plain)  # the default: the shipped network's data
    assert 8 <= sum(f.style == LAYERED for f in half) <= 22
    for a, b in zip(plain, half):  # a seed not given to the layered generator renders as before
        assert b.style == LAYERED or b.pixels.tobytes() == a.pixels.tobytes()


def test_layered_ovary_is_visible_by_its_follicles_and_level() -> None:
    """Follicles are darker than the stroma around them; the stroma differs from the tissue
    just outside the ovary by more than a trace (an invisible ovary teaches nothing)."""
    follicle_vs_stroma, contrast = [], []
    for seed in range(16):
        f = _frame(seed, style=LAYERED)
        ovary, fol = f.labels == OVARY, f.labels == FOLLICLE
        if ovary.sum() < 400:
            continue
        ring = ndi.binary_dilation(f.labels > 0, iterations=int(3 / f.spacing_row_mm)) & (f.labels == 0) & f.fan
        stroma = float(np.median(f.pixels[ovary]))
        contrast.append(abs(stroma - float(np.median(f.pixels[ring]))))
        if fol.sum() > 100:
            follicle_vs_stroma.append(float(np.median(f.pixels[fol])) < stroma)
    assert len(contrast) >= 8 and np.median(contrast) >= 4
    assert all(follicle_vs_stroma) and len(follicle_vs_stroma) >= 5


def test_layered_smooth_fields_stay_bounded_even_when_smoother_than_their_extent() -> None:
    """A field far smoother than its extent is nearly constant; it must not be blown up by its
    tiny standard deviation (it once gave TGC errors of hundreds of dB)."""
    from follicle_seg.synth.sector import smooth_field

    rng = np.random.default_rng(0)
    fields = [smooth_field((300, 1), 300 / rng.uniform(2, 6), rng) for _ in range(500)]
    assert max(float(np.abs(f).max()) for f in fields) < 5.0
    assert all(abs(float(f.mean())) < 1e-3 and abs(float(f.std()) - 1.0) < 1e-2 for f in fields)


def test_layered_ovaries_without_follicles_still_show_an_edge_or_a_level_step() -> None:
    """An ovary labelled with no follicle >= 3 mm must differ from the tissue around it: a level
    step or a bright capsule of a few dB (the earlier generator left about one in eight of them
    1-2 dB off and without a capsule: labels with nothing to see)."""
    from follicle_seg.synth.layered import _Scene
    from follicle_seg.synth.sector import Plane

    plane = Plane(320, 420, 0.25, 2.0)
    fan = np.ones((320, 420), bool)
    cues = []
    for seed in range(300):
        scene = _Scene(plane, fan, np.random.default_rng(seed), 0.6)
        for _ in range(4):
            scene.tissue_band()
        ovary = scene.ovary()
        if any(d >= 3.0 for *_, d in ovary["follicles"]):  # type: ignore[union-attr]
            continue
        inside = scene.labels >= 1
        inner = ndi.binary_erosion(inside, iterations=4)
        ring = ndi.binary_dilation(inside, iterations=12) & ~ndi.binary_dilation(inside, iterations=4)
        edge = ndi.binary_dilation(inside, iterations=2) & ~ndi.binary_erosion(inside, iterations=2)
        around = float(np.median(scene.echo[ring]))
        step = abs(float(np.median(scene.echo[inner])) - around)
        rim = float(np.percentile(scene.echo[edge], 75)) - around
        cues.append(max(step, rim))
    assert len(cues) >= 60
    assert np.mean(np.array(cues) < 2.5) <= 0.03


def test_patchwork_share_takes_its_frames_from_the_3d_seeds_only() -> None:
    plain = [training_frame(s, layered_share=0.3) for s in range(40)]
    mixed = [training_frame(s, layered_share=0.3, patchwork_share=0.3) for s in range(40)]
    assert 5 <= sum(f.style == PATCHWORK for f in mixed) <= 20
    for a, b in zip(plain, mixed):  # layered frames stay; the rest render as before unless patchwork
        if a.style == LAYERED:
            assert b.style == LAYERED and b.pixels.tobytes() == a.pixels.tobytes()
        else:
            assert b.style == PATCHWORK or b.pixels.tobytes() == a.pixels.tobytes()
    with pytest.raises(ValueError, match="sum <= 1"):
        training_frame(0, layered_share=0.6, patchwork_share=0.5)


def test_patchwork_ovary_shows_its_follicles_and_a_cue_when_it_has_none() -> None:
    """Follicles are darker than their stroma; an ovary with no follicle >= 3 mm differs from the
    tissue around it by a level step or a bright capsule (else the label has nothing to see)."""
    from follicle_seg.synth.sector import Plane
    from follicle_seg.synth.patchwork import _Labels

    plane = Plane(320, 420, 0.25, 2.0)
    fan = np.ones((320, 420), bool)
    darker, cues = [], []
    for seed in range(150):
        scene = _Labels(plane, fan, np.random.default_rng(seed))
        ovary = scene.ovary(float(fan.sum()) * 0.25**2 * 0.05)
        echo, _ = scene.appearance()
        inside, fol = scene.labels >= 1, scene.labels == FOLLICLE
        if fol.sum() > 100:
            stroma = scene.labels == OVARY
            darker.append(float(np.median(echo[fol])) < 0.5 * float(np.median(echo[stroma])))
        if any(d >= 3.0 for *_, d in ovary["follicles"]):  # type: ignore[union-attr]
            continue
        inner = ndi.binary_erosion(inside, iterations=4)
        ring = ndi.binary_dilation(inside, iterations=12) & ~ndi.binary_dilation(inside, iterations=4)
        edge = ndi.binary_dilation(inside, iterations=2) & ~ndi.binary_erosion(inside, iterations=2)
        around = float(np.median(echo[ring]))
        step = abs(float(np.median(echo[inner])) - around)
        rim = float(np.percentile(echo[edge], 75)) - around
        cues.append(max(step, rim))
    assert len(darker) >= 40 and np.mean(darker) >= 0.95
    assert len(cues) >= 20 and np.mean(np.array(cues) < 0.05) <= 0.05


def test_poi_share_draws_small_flat_nearly_follicle_free_ovaries() -> None:
    """``poi_share`` 1 gives ovaries of a few per cent of the fan or less, flatter than the usual
    ones and mostly without follicles; 0 leaves every layered frame byte for byte as before."""
    from skimage.measure import regionprops

    def shape(f):  # (ovary share of the fan, minor / major axis, follicle count)
        props = regionprops((f.labels > 0).astype(np.uint8))
        if not props or props[0].area < 30:
            return None
        p = props[0]
        follicles = ndi.label(f.labels == FOLLICLE)[1]
        return p.area / f.fan.sum(), p.axis_minor_length / p.axis_major_length, follicles

    plain = [shape(_frame(s, style=LAYERED)) for s in range(24)]
    poi = [shape(training_frame(s, style=LAYERED, poi_share=1.0)) for s in range(24)]
    plain, poi = [x for x in plain if x], [x for x in poi if x]
    assert len(plain) >= 15 and len(poi) >= 15
    assert np.median([x[0] for x in poi]) < 0.025 < np.median([x[0] for x in plain])
    assert np.median([x[1] for x in poi]) < 0.6 and np.median([x[1] for x in poi]) < np.median([x[1] for x in plain])
    assert np.mean([x[2] == 0 for x in poi]) >= 0.4 and max(x[2] for x in poi) <= 3
    for s in range(6):
        a, b = _frame(s, style=LAYERED), training_frame(s, style=LAYERED, poi_share=0.0)
        assert a.pixels.tobytes() == b.pixels.tobytes()
    with pytest.raises(ValueError, match="poi_share"):
        training_frame(0, poi_share=1.5)


def test_poi_ovaries_still_show_a_cue_and_their_look_alike_stays_outside() -> None:
    """A small follicle-free ovary differs from the tissue around it by a level step or a bright
    capsule; the look-alike beside it is labelled background and leaves the ovary's echo alone."""
    from follicle_seg.synth.layered import _Scene
    from follicle_seg.synth.sector import Plane

    plane = Plane(320, 420, 0.25, 2.0)
    fan = np.ones((320, 420), bool)
    cues, moved = [], []
    for seed in range(120):
        scene = _Scene(plane, fan, np.random.default_rng(seed), 0.6)
        for _ in range(4):
            scene.tissue_band()
        ovary = scene.ovary(poi=True)
        inside = scene.labels >= 1
        if inside.sum() < 150 or any(d >= 3.0 for *_, d in ovary["follicles"]):  # type: ignore[union-attr]
            continue
        inner = ndi.binary_erosion(inside, iterations=2)
        ring = ndi.binary_dilation(inside, iterations=10) & ~ndi.binary_dilation(inside, iterations=3)
        edge = ndi.binary_dilation(inside, iterations=2) & ~ndi.binary_erosion(inside, iterations=2)
        around = float(np.median(scene.echo[ring]))
        rim = float(np.percentile(scene.echo[edge], 75)) - around
        cues.append(max(abs(float(np.median(scene.echo[inner])) - around), rim))
        labels, echo = scene.labels.copy(), scene.echo.copy()
        scene.keep_out = (scene.labels == 0).astype(np.float32)
        scene.look_alike(ovary)
        assert np.array_equal(scene.labels, labels)
        assert np.array_equal(scene.echo[inside], echo[inside])
        moved.append(float(np.mean(np.abs(scene.echo - echo) > 1.0)))
    assert len(cues) >= 40
    assert np.mean(np.array(cues) < 2.5) <= 0.03
    assert np.mean(np.array(moved) > 0.002) >= 0.8  # a look-alike of some size was painted
