"""How a frame's stored values become the grey the network sees, against random headers and
pixels (property-based, metamorphic).

Each property is stated in docs/ingestion.md ("Grey levels") and the module docstring of
:mod:`follicle_seg.io.grey`: ``MONOCHROME2`` 8-bit as stored, ``MONOCHROME1`` inverted; more than 8
bits: rescale, then the first usable VOI window (the DICOM linear function), else the VOI LUT,
else the range of the image's values, mapped to 0-255; colour: luma 0.299 R + 0.587 G + 0.114 B;
a palette applied, then luma; a pixel is in colour when its channels are 64 of 255 apart.
"""

from __future__ import annotations

import numpy as np
import pydicom
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian

from follicle_seg.io.grey import MIN_CHROMA, colour_mask, colour_pixels, grey_converter, monochrome_table
from test_io_dicom import COLS, ROWS, build, grey_of  # tests/ is on sys.path

PROPERTIES = settings(max_examples=60)  # (deterministic: tests/conftest.py's profile)
FILES = settings(max_examples=15)  # each example writes and reads DICOM files


def header(photometric: str = "MONOCHROME2", bits: int = 8, **tags) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation, ds.BitsStored = photometric, bits
    ds.BitsAllocated = 8 if bits <= 8 else 16
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return ds


@st.composite
def monochrome(draw) -> dict:
    """The arguments of :func:`monochrome_table`: bits, sign, a positive rescale, and a window,
    a VOI LUT (non-decreasing entries), a stored range, or none of them."""
    bits = draw(st.sampled_from((8, 10, 12, 16)))
    signed = draw(st.booleans())
    lo_stored = -(2 ** (bits - 1)) if signed else 0
    hi_stored = lo_stored + 2**bits - 1
    slope = draw(st.sampled_from((1.0, 0.5, 2.0, 0.1, 3.7)))
    intercept = draw(st.sampled_from((0.0, -1024.0, 100.0, 0.25)))
    values = (lo_stored * slope + intercept, hi_stored * slope + intercept)
    kind = draw(st.sampled_from(("window", "lut", "range", "none")))
    args = dict(bits=bits, signed=signed, slope=slope, intercept=intercept, window=None,
                invert=False, stored_range=None, voi_lut=None)  # fmt: skip
    if kind == "window":
        centre = draw(st.floats(values[0], values[1], allow_nan=False))
        args["window"] = (centre, draw(st.floats(1.0, 2.0 * (values[1] - values[0]) + 2, allow_nan=False)))
    elif kind == "lut":
        entry_bits = draw(st.sampled_from((8, 12, 16)))
        steps = draw(st.lists(st.integers(0, 3), min_size=2, max_size=64))
        entries = np.minimum(np.cumsum(steps) * (2**entry_bits // 64), 2**entry_bits - 1).astype(np.float64)
        args["voi_lut"] = (draw(st.integers(int(values[0]), int(values[1]))), entries, entry_bits)
    elif kind == "range":
        a, b = sorted(draw(st.lists(st.integers(lo_stored, hi_stored), min_size=2, max_size=2)))
        args["stored_range"] = (a, b)
    return args


@PROPERTIES
@given(monochrome())
def test_monochrome2_is_uint8_and_non_decreasing_in_the_stored_value(args: dict) -> None:
    table = monochrome_table(**args)
    assert table.dtype == np.uint8 and table.size == 2 ** args["bits"]
    assert np.all(np.diff(table.astype(int)) >= 0)  # index order is stored value order, signed too


@PROPERTIES
@given(monochrome())
def test_monochrome1_is_the_inverse_of_monochrome2(args: dict) -> None:
    grey2 = monochrome_table(**args)
    grey1 = monochrome_table(**{**args, "invert": True})
    assert np.array_equal(grey1.astype(int), 255 - grey2.astype(int))


@PROPERTIES
@given(st.floats(-5000, 5000, allow_nan=False), st.floats(1.0, 4000, allow_nan=False))
def test_a_window_is_the_dicom_linear_function(centre: float, width: float) -> None:
    """PS3.3 C.11.2.1.2.1: at or below c - 0.5 - (w-1)/2 the lowest grey, above c - 0.5 + (w-1)/2
    the highest, and linear between."""
    table = monochrome_table(bits=16, signed=True, slope=1.0, intercept=0.0, window=(centre, width), invert=False)
    values = np.arange(2**16) - 2**15
    below = values <= centre - 0.5 - (width - 1) / 2
    above = values > centre - 0.5 + (width - 1) / 2
    assert np.all(table[below] == 0) and np.all(table[above] == 255)
    between = ~below & ~above
    expected = np.rint((((values[between] - (centre - 0.5)) / (width - 1)) + 0.5) * 255)
    assert np.array_equal(table[between], expected)


@PROPERTIES
@given(st.sampled_from(("MONOCHROME1", "MONOCHROME2")), st.sampled_from((8, 12, 16)), st.booleans(), st.data())
def test_the_image_values_range_is_spread_over_0_to_255(photometric: str, bits: int, signed: bool, data) -> None:
    """Without window or VOI LUT, the lowest value of the first frame is black and its highest
    white (MONOCHROME2; the other way round for MONOCHROME1); a declared range likewise."""
    lo_stored = -(2 ** (bits - 1)) if signed else 0
    lo, hi = sorted(data.draw(st.lists(st.integers(lo_stored, lo_stored + 2**bits - 1), min_size=2, max_size=2,
                                       unique=True)))  # fmt: skip
    frame = np.array([lo, (lo + hi) // 2, hi])
    inverted = photometric == "MONOCHROME1"
    ds = header(photometric, bits, PixelRepresentation=int(signed))
    if bits > 8:
        grey = grey_converter(ds, lambda: (lo, hi))(frame)
        assert (grey[0], grey[2]) == ((255, 0) if inverted else (0, 255))
        declared = header(photometric, bits, PixelRepresentation=int(signed), SmallestImagePixelValue=lo,
                          LargestImagePixelValue=hi)  # fmt: skip
        assert np.array_equal(grey_converter(declared, lambda: (lo_stored, lo_stored + 1))(frame), grey)
    else:  # 8 bits: as stored (inverted)
        grey = grey_converter(ds)(frame)
        stored = frame - lo_stored
        assert np.array_equal(grey.astype(int), 255 - stored if inverted else stored)


@PROPERTIES
@given(st.lists(st.integers(0, 255), min_size=1, max_size=64), st.sampled_from((8, 16)))
def test_a_grey_rgb_pixel_converts_to_its_grey(values: list[int], bits: int) -> None:
    """R = G = B: luma is that grey (on a 0-255 scale: 16-bit samples are scaled from 0-65535)."""
    grey = np.array(values)
    stored = grey * 257 if bits == 16 else grey
    rgb = np.repeat(stored[:, None], 3, axis=1)
    for photometric in ("RGB", "YBR_FULL"):
        out = grey_converter(header(photometric, bits, SamplesPerPixel=3))(rgb)
        assert out.dtype == np.uint8 and np.array_equal(out, grey)
    assert not colour_mask(rgb, bits).any()


@PROPERTIES
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)), min_size=1, max_size=64))
def test_colour_mask_is_channels_64_apart(pixels: list[tuple[int, int, int]]) -> None:
    rgb = np.array(pixels, np.uint8)
    spread = rgb.max(axis=1).astype(int) - rgb.min(axis=1)
    assert np.array_equal(colour_mask(rgb), spread >= MIN_CHROMA)
    assert np.array_equal(colour_mask(rgb.astype(np.uint16) * 257, 16), colour_mask(rgb))
    saturated = np.where(rgb >= 128, 255, 0).astype(np.uint8)  # full colour or black/white
    pure = saturated.max(axis=1) != saturated.min(axis=1)
    assert colour_mask(saturated)[pure].all() and not colour_mask(saturated)[~pure].any()


def palette_tags(entries: np.ndarray, depth: int, big_endian: bool = False) -> dict:
    """The same entries (grey: red = green = blue) in the three palettes, as OW data."""
    data = entries.astype("<u2" if depth == 16 else "u1")
    if big_endian:  # words in the file's byte order; 8-bit entries packed two a word
        data = (data if depth == 16 else data.view("<u2")).astype(">u2")
    tags = {}
    for colour in ("Red", "Green", "Blue"):
        tags[f"{colour}PaletteColorLookupTableDescriptor"] = [entries.size, 0, depth]
        tags[f"{colour}PaletteColorLookupTableData"] = data.tobytes()
    return tags


GREY_ENTRIES = st.lists(st.integers(0, 255), min_size=256, max_size=256).map(np.array)


@FILES
@given(GREY_ENTRIES, st.sampled_from((8, 16)), st.booleans(), st.booleans())
def test_a_palette_of_grey_entries_gives_its_grey_and_no_colour(tmp_path_factory, entries: np.ndarray, depth: int,
                                                                 big_endian: bool, scaled: bool) -> None:  # fmt: skip
    """A palette whose entries are grey gives the MONOCHROME2 image of its entries at the indices
    (16-bit entries scaled from 0-65535, or, never over 255, taken as 8-bit values), in either
    byte order; none of its pixels is in colour."""
    index = np.tile(np.arange(COLS, dtype=np.uint8), (ROWS, 1)) * 2
    tags = palette_tags(entries * 257 if depth == 16 and scaled else entries, depth, big_endian)
    syntax = ExplicitVRBigEndian if big_endian else ExplicitVRLittleEndian
    path = build(tmp_path_factory.mktemp("p") / "p.dcm", index, syntax=syntax, photometric="PALETTE COLOR", **tags)
    assert np.array_equal(grey_of(path)[0], entries[index])
    assert not colour_pixels(pydicom.dcmread(path))(index).any()


@FILES
@given(st.sampled_from(("MONOCHROME1", "MONOCHROME2")), st.sampled_from((8, 12, 16)),
       st.lists(st.integers(0, 2**16 - 1), min_size=2, max_size=8))  # fmt: skip
def test_the_same_stored_values_give_the_same_grey_in_either_byte_order(tmp_path_factory, photometric: str,
                                                                        bits: int, seeds: list[int]) -> None:  # fmt: skip
    values = np.resize(np.array(seeds) % 2**bits, ROWS * COLS).reshape(ROWS, COLS)
    folder = tmp_path_factory.mktemp("e")
    dtype = np.uint8 if bits == 8 else np.uint16
    little, big = (build(folder / f"{name}.dcm", values.astype(dtype), syntax=syntax, photometric=photometric, stored=bits)
                   for name, syntax in (("le", ExplicitVRLittleEndian), ("be", ExplicitVRBigEndian)))  # fmt: skip
    assert np.array_equal(grey_of(little), grey_of(big))
    if bits == 8:  # 8 bits stored in 16 allocated: the same values, as stored
        wide = build(folder / "wide.dcm", values.astype(np.uint16), photometric=photometric, stored=8)
        assert np.array_equal(grey_of(wide), grey_of(little))
