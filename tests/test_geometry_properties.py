"""The network's input and output geometry, against random frame sizes and pixel sizes
(property-based, metamorphic).

Each property is stated in docs/model.md ("Input and output geometry", "Inference") and the
docstrings of :mod:`follicle_seg.model.preprocess` and :mod:`follicle_seg.model.infer`: the region
resampled to 0.3 mm/px along rows and columns (an uncalibrated frame's height taken as 70, 50
and 100 mm deep, the reading that finds the most ovary kept), padded at the bottom and right to a
multiple of 16; grey levels mapped by the fan's 1st-99th percentiles (robust to gain); the
probabilities cropped and resampled back onto the frame's own grid; a forward pass holding at
most ``batch_size`` typical frames of one input shape, a frame's result not depending on its
company. Not promised, so not tested: that a frame flipped left-right reads flipped (flips are a
training augmentation only; the network is not equivariant).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from follicle_seg.instances import ovary_score
from follicle_seg.measure import measure_frame
from follicle_seg.model.infer import FRAME_PIXELS, UNCALIBRATED_DEPTHS_MM, Segmenter, frames_per_pass
from follicle_seg.model.preprocess import (
    ASSUMED_DEPTH_MM,
    DIVISOR,
    TARGET_MM,
    fan_mask,
    input_geometry,
    normalise_intensity,
    prepare,
    resampling_spacing,
    restore_probabilities,
)
from follicle_seg.types import UNCALIBRATED, Calibration, Frame
from test_model_infer import record  # tests/ is on sys.path

PROPERTIES = settings(max_examples=60)  # (deterministic: tests/conftest.py's profile)
FRAMES = settings(max_examples=40)  # each example resamples frames up to 900 x 900
NETWORK = settings(max_examples=5)  # each example runs the shipped network on CPU several times

sides = st.integers(40, 900)
mm = st.floats(0.05, 0.5)


@st.composite
def spacings(draw) -> tuple[float | None, float | None]:
    """A pixel size: isotropic, anisotropic, or none (uncalibrated)."""
    kind = draw(st.sampled_from(("isotropic", "anisotropic", "uncalibrated")))
    if kind == "uncalibrated":
        return None, None
    row = draw(mm)
    return (row, row) if kind == "isotropic" else (row, draw(mm))


class StandIn(torch.nn.Module):
    """A network reading each pixel alone (1x1 convolution): follicle where the normalised input
    is above 0.5, background below, never ovary; sharp (logits 40 (x - 0.5))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 1)
        with torch.no_grad():
            self.conv.weight[:] = torch.tensor([0.0, 0.0, 40.0])[:, None, None, None]
            self.conv.bias[:] = torch.tensor([0.0, -50.0, -20.0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@functools.cache
def segmenter(batch_size: int, stand_in: bool = False) -> Segmenter:
    seg = Segmenter(device="cpu", batch_size=batch_size, threads=1)
    if stand_in:
        seg.network = StandIn()
    return seg


def speckle(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Grey levels 20-220 in a fan (the right three quarters), black beside it."""
    px = np.random.default_rng(seed).integers(20, 221, shape, dtype=np.uint8)
    px[:, : shape[1] // 4] = 0
    return px


@PROPERTIES
@given(sides, sides, spacings())
def test_the_input_is_at_the_target_scale_and_padded_to_the_divisor(rows: int, cols: int, spacing) -> None:
    g = input_geometry((rows, cols), *spacing)
    row_mm, col_mm, assumed = resampling_spacing((rows, cols), *spacing)
    assert (g.spacing_row_mm, g.spacing_col_mm, g.assumed) == (row_mm, col_mm, assumed)
    if spacing == (None, None):  # the region height taken as 70 mm deep, isotropic
        assert assumed and row_mm == col_mm == ASSUMED_DEPTH_MM / rows
    else:
        assert not assumed and (row_mm, col_mm) == spacing
    assert g.source_shape == (rows, cols)
    for source, spacing_mm, scaled, padded in zip((rows, cols), (row_mm, col_mm), g.scaled_shape, g.padded_shape):
        assert abs(scaled * TARGET_MM - source * spacing_mm) <= TARGET_MM / 2 + 1e-9  # the same extent, to half a pixel
        assert padded % DIVISOR == 0 and scaled <= padded < scaled + DIVISOR


@FRAMES
@given(sides, sides, spacings(), st.integers(0, 2**16))
def test_the_prepared_input_is_zero_outside_the_fan_and_on_the_padding(rows: int, cols: int, spacing, seed: int) -> None:
    px = speckle((rows, cols), seed)
    x, fan, g = prepare(px, *spacing)
    assert x.shape == fan.shape == g.padded_shape and x.dtype == np.float32 and fan.dtype == bool
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0  # percentiles of the fan to 0-1
    assert not x[~fan].any()
    r, c = g.scaled_shape
    assert not fan[r:].any() and not fan[:, c:].any()  # the padding is outside the fan
    edge = (cols // 4) * g.spacing_col_mm / TARGET_MM  # the lit pixels' edge; the fan reaches 3 px past it
    assert fan[:r, int(np.ceil(edge)) + 1 : c].all() and not fan[:, : max(0, int(edge - 4 * g.spacing_col_mm / TARGET_MM) - 1)].any()


@FRAMES
@given(sides, sides, spacings(), st.integers(5, 255))
def test_a_uniform_fan_reaches_the_network_uniform(rows: int, cols: int, spacing, grey: int) -> None:
    """No contrast in, none out: the resampling's float rounding is not stretched to 0-1 (it was,
    until the percentiles' span was floored at ``MIN_SPAN`` of their level)."""
    x, fan, _ = prepare(np.full((rows, cols), grey, np.uint8), *spacing)
    assert fan.any() and x.max() < 1e-3


@PROPERTIES
@given(st.integers(2, 60), st.integers(2, 60), st.integers(0, 2**16), st.floats(1 / 255, 10.0), st.floats(-100.0, 100.0))
def test_normalisation_ignores_gain_and_offset(rows: int, cols: int, seed: int, gain: float, offset: float) -> None:
    """The fan's 1st-99th percentiles map to 0-1: an increasing linear map of the grey levels
    (a x + b, a > 0; 1/255 is training's grey 0-1) moves the percentiles with them and the result
    stays, to float rounding."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(0, 255, (rows, cols)).astype(np.float32)
    fan = rng.random((rows, cols)) < 0.7
    np.testing.assert_allclose(normalise_intensity(gain * img + offset, fan), normalise_intensity(img, fan), atol=2e-4)


@FRAMES
@given(sides, sides, spacings(), st.integers(0, 2**16), st.floats(0.5, 4.0), st.floats(-100.0, 100.0))
def test_the_prepared_input_ignores_gain_and_offset(rows: int, cols: int, spacing, seed: int, gain: float, offset: float) -> None:
    """Resampling is linear and the percentiles follow the gain: the network sees the same input
    (the fan given, as ``Segmenter.segment`` gives it: it is found on the grey levels)."""
    px = speckle((rows, cols), seed)
    fan = fan_mask(px)
    x, in_fan, _ = prepare(px, *spacing, fan)
    y, _, _ = prepare(gain * px.astype(np.float32) + offset, *spacing, fan)
    np.testing.assert_allclose(y, x, atol=2e-4)
    assert not y[~in_fan].any()


@PROPERTIES
@given(sides, sides, spacings(), st.integers(0, 2**16))
def test_restored_probabilities_lie_on_the_frame_grid_and_never_read_the_padding(rows: int, cols: int, spacing, seed: int) -> None:
    rows, cols = rows // 3, cols // 3  # (a smaller grid: this is about shapes and the padding)
    g = input_geometry((rows, cols), *spacing)
    rng = np.random.default_rng(seed)
    probs = torch.softmax(torch.from_numpy(rng.normal(0, 3, (3, *g.padded_shape)).astype(np.float32)), 0)
    r, c = g.scaled_shape
    garbage = probs.clone()
    garbage[:, r:] = 1e6
    garbage[:, :, c:] = float("nan")
    back = restore_probabilities(probs, g)
    assert tuple(back.shape) == (3, rows, cols) and back.dtype == torch.float32
    torch.testing.assert_close(restore_probabilities(garbage, g), back, rtol=0, atol=0)
    torch.testing.assert_close(back.sum(0), torch.ones(rows, cols), rtol=0, atol=1e-5)  # still probabilities
    assert back.min() >= 0


@PROPERTIES
@given(st.integers(40, 300), st.integers(40, 300), st.integers(0, 2**16))
def test_at_the_target_scale_the_round_trip_is_the_identity(rows: int, cols: int, seed: int) -> None:
    """A frame already at 0.3 mm/px is not resampled: the network reads its own pixels (only
    normalised and padded) and its output is only cropped."""
    px = speckle((rows, cols), seed)
    x, _, g = prepare(px, TARGET_MM, TARGET_MM)
    assert g.scaled_shape == (rows, cols)
    np.testing.assert_array_equal(x[:rows, :cols], normalise_intensity(px, fan_mask(px)))
    probs = torch.rand(3, *g.padded_shape)
    torch.testing.assert_close(restore_probabilities(probs, g), probs[:, :rows, :cols], rtol=0, atol=0)


@st.composite
def disc_frames(draw) -> tuple[np.ndarray, float, float, np.ndarray]:
    """A bright disc (round in mm) on a uniform grey region, covering 2-60 % of it (so that the
    fan's 1st and 99th percentiles are the two grey levels), anywhere but at the border."""
    rows, cols = draw(sides), draw(sides)
    row_mm, col_mm = draw(spacings().filter(lambda s: s != (None, None)))
    radius = draw(st.floats(0.1, 0.4)) * min(rows * row_mm, cols * col_mm)
    cy, cx = draw(st.floats(0.4, 0.6)) * rows, draw(st.floats(0.4, 0.6)) * cols
    rr, cc = np.mgrid[:rows, :cols]
    disc = ((rr - cy) * row_mm) ** 2 + ((cc - cx) * col_mm) ** 2 < radius**2
    px = np.where(disc, 200, 40).astype(np.uint8)
    return px, row_mm, col_mm, disc


@FRAMES
@given(disc_frames())
def test_a_disc_comes_back_where_it_was(frame) -> None:
    """Through the stand-in network the disc's mask comes back on the frame's own grid, its
    centre and its area-equivalent radius within half a network pixel (0.15 mm) of the disc
    drawn: no shift, no scale error (at most 0.19 and 0.11 network pixel on the discs of 300
    random frames, 40-900 px a side, 0.05-0.5 mm/px)."""
    px, row_mm, col_mm, disc = frame
    assume(0.02 < disc.mean() < 0.6)  # (else the percentiles would not be the two grey levels)
    probs, _ = segmenter(1, stand_in=True).predict([(px, row_mm, col_mm)])[0]
    assert probs.shape == (3, *px.shape)
    back = probs.argmax(0) == 2
    shift = (np.argwhere(back).mean(0) - np.argwhere(disc).mean(0)) * (row_mm, col_mm)
    assert np.abs(shift).max() <= TARGET_MM / 2
    radius = np.sqrt(np.array([back.sum(), disc.sum()]) * row_mm * col_mm / np.pi)
    assert abs(radius[0] - radius[1]) <= TARGET_MM / 2


@FRAMES
@given(sides, sides, spacings(), st.floats(0.2, 0.8), st.booleans())
def test_a_step_edge_comes_back_where_it_was(rows: int, cols: int, spacing, where: float, across: bool) -> None:
    """A straight grey step (dark to bright) comes back on every line within one network pixel
    (0.3 mm) of where it was (measured at most 0.65 network pixel over 300 random frames)."""
    if across:  # a horizontal edge: the same property with rows and columns exchanged
        rows, cols = cols, rows
    edge = int(where * cols)
    px = np.full((rows, cols), 40, np.uint8)
    px[:, edge:] = 200
    px = px.T.copy() if across else px
    sr, sc = spacing
    probs, _ = segmenter(1, stand_in=True).predict([(px, sr, sc)])[0]
    assert probs.shape == (3, *px.shape)
    bright = probs.argmax(0) == 2
    bright, along_mm = (bright.T, sr) if across else (bright, sc)
    along_mm = along_mm if along_mm is not None else ASSUMED_DEPTH_MM / px.shape[0]
    found = cols - bright.sum(1)  # the first bright column on each line, when the rest is bright
    assert np.abs(found - edge).max() * along_mm <= TARGET_MM


@FRAMES
@given(sides, sides, st.integers(0, 2**16))
def test_an_uncalibrated_frame_is_its_best_reading_at_the_documented_depths(rows: int, cols: int, seed: int) -> None:
    rows, cols = rows // 2, cols // 2
    px = np.full((rows, cols), 40, np.uint8)
    rng = np.random.default_rng(seed)
    r0, c0 = rng.integers(0, rows // 2), rng.integers(0, cols // 2)
    px[r0 : r0 + rows // 3, c0 : c0 + cols // 3] = 200  # something to score
    seg = segmenter(2, stand_in=True)
    readings = seg.predict([(px, d / rows, d / rows) for d in UNCALIBRATED_DEPTHS_MM])
    probs, flags = seg.predict([(px, None, None)])[0]
    best = int(np.argmax([ovary_score(p) for p, _ in readings]))  # the first of equal scores
    np.testing.assert_array_equal(probs, readings[best][0])
    assert flags == readings[best][1]


@PROPERTIES
@given(st.integers(1, 200).map(lambda k: k * DIVISOR), st.integers(1, 200).map(lambda k: k * DIVISOR), st.integers(1, 64))
def test_a_pass_holds_at_most_batch_size_typical_frames(rows: int, cols: int, batch_size: int) -> None:
    n = frames_per_pass((rows, cols), batch_size)
    assert 1 <= n <= batch_size
    assert n == 1 or n * rows * cols <= batch_size * FRAME_PIXELS  # memory bounded by the batch size
    assert n == batch_size or (n + 1) * rows * cols > batch_size * FRAME_PIXELS  # and no fewer than fit


@st.composite
def crops(draw) -> list[Frame]:
    """2-4 windows of held-out synthetic frames, 40-200 px a side, some uncalibrated."""
    from follicle_seg.synth.training import training_frame

    frames = []
    for i in range(draw(st.integers(2, 4))):
        full = training_frame(draw(st.sampled_from((1_000_003, 1_000_004, 1_000_007))))
        rows, cols = draw(st.integers(40, 200)), draw(st.integers(40, 200))
        r0 = draw(st.integers(0, full.pixels.shape[0] - rows))
        c0 = draw(st.integers(0, full.pixels.shape[1] - cols))
        px = np.ascontiguousarray(full.pixels[r0 : r0 + rows, c0 : c0 + cols])
        cal = UNCALIBRATED if draw(st.booleans()) else Calibration(full.spacing_row_mm, full.spacing_col_mm, "ultrasound_region")
        frames.append(Frame(record(px.shape, cal), i, px))
    return frames


@NETWORK
@given(crops(), st.integers(1, 5), st.randoms(use_true_random=False))
def test_a_frames_result_does_not_depend_on_its_company_nor_the_batch_size(frames: list[Frame], batch_size: int, rnd) -> None:
    """The shipped network: frames of different sizes in any order and batch size read as each
    read alone (to float rounding), with the same labels and the same stored follicle scores."""
    order = list(range(len(frames)))
    rnd.shuffle(order)
    together = segmenter(batch_size).segment([frames[i] for i in order])
    for i, seg in zip(order, together):
        alone = segmenter(1).segment([frames[i]])[0]
        assert seg.index == alone.index == i
        np.testing.assert_allclose(seg.follicle_prob, alone.follicle_prob, atol=1e-5)
        np.testing.assert_allclose(seg.ovary_prob, alone.ovary_prob, atol=1e-5)
        np.testing.assert_array_equal(seg.labels, alone.labels)
        assert seg.flags == alone.flags
        assert [f.score for f in measure_frame(seg).follicles] == [f.score for f in measure_frame(alone).follicles]
