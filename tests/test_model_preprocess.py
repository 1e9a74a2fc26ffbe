"""Fixed-scale preprocessing and its exact inverse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from follicle_seg.instances import fill_holes
from follicle_seg.model.preprocess import (
    ASSUMED_DEPTH_MM,
    DIVISOR,
    TARGET_MM,
    fan_mask,
    input_geometry,
    normalise_intensity,
    prepare,
    resample,
    restore_probabilities,
)


def test_geometry_honours_anisotropic_spacing_and_pads_to_divisor() -> None:
    g = input_geometry((200, 300), 0.15, 0.45)
    assert g.scaled_shape == (100, 450)
    assert g.padded_shape == (112, 464)
    assert all(s % DIVISOR == 0 for s in g.padded_shape)
    assert not g.assumed


def test_uncalibrated_frames_get_the_documented_assumed_scale() -> None:
    g = input_geometry((500, 400), None, None)
    assert g.assumed
    assert g.spacing_row_mm == pytest.approx(ASSUMED_DEPTH_MM / 500)
    assert g.scaled_shape == (round(ASSUMED_DEPTH_MM / TARGET_MM), round(400 * ASSUMED_DEPTH_MM / 500 / TARGET_MM))


def test_two_mm_follicle_stays_at_least_six_pixels() -> None:
    assert 2.0 / TARGET_MM >= 6


def test_normalisation_uses_fan_percentiles_and_ignores_gain() -> None:
    rng = np.random.default_rng(0)
    img = rng.uniform(20, 120, (60, 60)).astype(np.float32)
    fan = np.zeros_like(img, bool)
    fan[10:50, 10:50] = True
    img[~fan] = 250.0  # bright text outside the fan must not set the scale
    out = normalise_intensity(img, fan)
    assert out[~fan].max() == 0.0
    inside = out[fan]
    assert np.mean(inside <= 0.0) == pytest.approx(0.01, abs=0.01)
    assert np.mean(inside >= 1.0) == pytest.approx(0.01, abs=0.01)
    np.testing.assert_allclose(normalise_intensity(img * 1.7, fan)[fan], inside, atol=1e-5)


@pytest.mark.parametrize("shape,spacing", [((54, 875), (0.2946, 0.4708)), ((90, 120), (0.2, 0.2)), ((100, 100), (0.17, 0.17))])
def test_a_uniform_fan_reaches_the_network_uniform(shape: tuple[int, int], spacing: tuple[float, float]) -> None:
    """The resampling's float rounding (39.999996-40.000004 grey) was stretched to 0 or 1 pixel by
    pixel: these uniform frames reached the network with 6 %, 26 % and 66 % of their fan at 1."""
    x, fan, _ = prepare(np.full(shape, 40, np.uint8), *spacing)
    assert fan.any() and x.max() < 1e-3


def test_training_s_grey_0_1_normalises_as_inference_s_0_255() -> None:
    """Training normalises its crops as grey 0-1 (``model.data``), inference as 0-255: the same
    input to the network (a floor of one grey level on the percentiles' span squashed every
    training crop, whose span is at most 1)."""
    rng = np.random.default_rng(3)
    img = rng.uniform(20, 120, (60, 60)).astype(np.float32)
    fan = np.ones(img.shape, bool)
    np.testing.assert_allclose(normalise_intensity(img / 255.0, fan), normalise_intensity(img, fan), atol=1e-5)


def test_fan_mask_excludes_black_surround_but_keeps_dark_follicles() -> None:
    img = np.zeros((100, 100), np.uint8)
    rr, cc = np.mgrid[:100, :100]
    sector = (rr - 0) ** 2 + (cc - 50) ** 2 < 90**2
    img[sector] = 60
    img[(rr - 50) ** 2 + (cc - 50) ** 2 < 8**2] = 2  # near-black follicle inside
    fan = fan_mask(img)
    assert fan[50, 50] and fan[20, 50]
    assert not fan[99, 0] and not fan[99, 99]


@pytest.mark.parametrize("seed", range(5))
def test_fill_holes_is_scipys_binary_fill_holes(seed: int) -> None:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    mask = ndimage.uniform_filter(rng.random((97, 131)), 5) > 0.5  # blobs, rings, holes, border contact
    assert (ndimage.binary_fill_holes(mask) != mask).any()  # there are holes to fill
    np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
    np.testing.assert_array_equal(fill_holes(np.zeros((4, 6), bool)), np.zeros((4, 6), bool))


@pytest.mark.parametrize("seed", range(8))
def test_fan_mask_follows_its_rule_as_scipy_computes_it(seed: int) -> None:
    from scipy import ndimage

    rng = np.random.default_rng(seed)  # scattered lit pixels: many regions, of every size, and holes
    img = (rng.random((83, 117)) < rng.uniform(0.12, 0.3)) * rng.integers(0, 256, (83, 117))
    lit = ndimage.uniform_filter((img > 4).astype(np.float32), size=9) > 0.2
    regions, n = ndimage.label(lit)
    if n > 1:
        sizes = np.bincount(regions.ravel())
        sizes[0] = 0
        lit = (sizes >= 0.1 * sizes.max())[regions]
    expected = ndimage.binary_fill_holes(lit)
    assert n > 1 and 0 < expected.mean() < 1
    np.testing.assert_array_equal(fan_mask(img.astype(np.uint8)), expected)


def test_fan_mask_leaves_out_rulers_and_text_beside_the_sector() -> None:
    rr, cc = np.mgrid[:200, :240]
    img = np.zeros((200, 240), np.uint8)
    sector = ((rr + 20) ** 2 + (cc - 120) ** 2 < 215**2) & (np.abs(cc - 120) < (rr + 20) * 0.5)
    img[sector] = 70
    img[sector & (np.abs(rr - 120) < 15)] = 0  # a dark band right across the sector
    img[10:190:12, 2:6] = 200  # depth-ruler ticks in the black surround
    img[5:15, 200:236] = 220  # a text label
    fan = fan_mask(img)
    assert fan[60, 120] and fan[170, 120]  # both halves of a sector cut by a dark band
    assert not fan[10:190, :8].any() and not fan[5:15, 200:236].any()


@pytest.mark.parametrize("shape,spacing", [((181, 237), (0.11, 0.13)), ((97, 120), (0.5, 0.4))])
def test_restore_maps_back_onto_the_source_grid(shape: tuple[int, int], spacing: tuple[float, float]) -> None:
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int64)
    labels[(rr - shape[0] * 0.5) ** 2 / (shape[0] * 0.3) ** 2 + (cc - shape[1] * 0.4) ** 2 / (shape[1] * 0.3) ** 2 < 1] = 1
    labels[(rr - shape[0] * 0.5) ** 2 + (cc - shape[1] * 0.4) ** 2 < (shape[0] * 0.1) ** 2] = 2
    _, _, geom = prepare(np.full(shape, 80, np.uint8), *spacing)
    onehot = np.stack([(labels == k).astype(np.float32) for k in range(3)])
    scaled = resample(onehot, geom.scaled_shape)
    padded = np.zeros((3, *geom.padded_shape), np.float32)
    padded[:, : geom.scaled_shape[0], : geom.scaled_shape[1]] = scaled
    restored = restore_probabilities(torch.from_numpy(padded), geom)
    assert tuple(restored.shape) == (3, *shape)
    back = restored.argmax(0).numpy()
    assert np.mean(back == labels) > 0.98
    for k in (1, 2):  # structures stay where they were (no shift of the grid)
        np.testing.assert_allclose(np.argwhere(back == k).mean(0), np.argwhere(labels == k).mean(0), atol=0.5)


def test_prepare_outputs_padded_float_in_unit_range() -> None:
    rng = np.random.default_rng(1)
    x, _, g = prepare(rng.integers(0, 255, (150, 170), dtype=np.uint8), 0.2, 0.2)
    assert x.shape == g.padded_shape and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert not x[g.scaled_shape[0] :].any()
