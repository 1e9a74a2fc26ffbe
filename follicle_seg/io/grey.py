"""Decoded frames to grey ``uint8``: one table or formula per file, the same for every frame.

* ``MONOCHROME2`` 8-bit: as stored. ``MONOCHROME1``: inverted.
* more than 8 bits: Modality rescale (RescaleSlope/Intercept), then the first VOI window
  (WindowCenter/Width, DICOM linear function) when usable (finite, width at least 1), else the
  first VOI LUT (VOILUTSequence, its output range 0 to 2^bits - 1 mapped to 0-255), else the
  range of the values the image holds (Smallest/LargestImagePixelValue, or its first frame's: a
  viewer's default), mapped to 0-255. The full range of the stored bits would leave a 12-bit
  image stored in 16 bits with 16 grey levels.
* ``RGB`` / ``YBR_*``: pydicom converts YBR to RGB while decoding (once: JPEG decoders already
  return RGB), then luma ``0.299 R + 0.587 G + 0.114 B``.
* ``PALETTE COLOR``: the palette (8- or 16-bit entries, segmented or not) applied, then luma;
  16-bit entries that never exceed 255 are taken as 8-bit values (a quirk of real files); the
  entries in the file's byte order (Big Endian too).

:func:`colour_pixels` finds the pixels of a frame in colour (a Doppler box, calipers drawn in
colour), for colour and palette images alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

from follicle_seg.io.tags import first_number, tag_int, tag_number, tag_text

COLOUR_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420")


def grey_converter(
    ds: Dataset, value_range: Callable[[], tuple[int, int] | None] | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """A function turning one decoded frame of this file into grey uint8 (see the module docstring).

    Built from the header: a lookup table for monochrome and palette images, luma for colour
    ones. An image of more than 8 bits without a window or declared range takes the range of the
    stored values of its first frame that is not blank, ``value_range()`` (called only then), so
    that every converter of the file maps alike however its frames are read in chunks; without
    ``value_range`` (a converter built to check the header), the stored bits' range.
    """
    photometric = tag_text(ds, "PhotometricInterpretation")
    bits = tag_int(ds, "BitsStored", tag_int(ds, "BitsAllocated", 8))
    if photometric in COLOUR_PHOTOMETRICS:
        scale = 255.0 / (2**bits - 1)
        return lambda arr: _luma(arr.astype(np.float32) * scale)
    if photometric == "PALETTE COLOR":
        table = _palette_table(ds, bits)
        return lambda arr: table[np.clip(arr, 0, table.size - 1)]
    signed = tag_int(ds, "PixelRepresentation", 0) == 1
    offset = 2 ** (bits - 1) if signed else 0

    window = _voi_window(ds) if bits > 8 else None
    voi_lut = _voi_lut(ds, signed) if bits > 8 and window is None else None

    def table_for(stored_range: tuple[int, int] | None) -> np.ndarray:
        return monochrome_table(
            bits=bits,
            signed=signed,
            slope=tag_number(ds, "RescaleSlope", 1.0) or 1.0,
            intercept=tag_number(ds, "RescaleIntercept", 0.0),
            window=window,
            invert=photometric == "MONOCHROME1",
            stored_range=stored_range,
            voi_lut=voi_lut,
        )

    whole = table_for(None)  # built now: a rescale that overflows rejects the file here
    if bits <= 8 or window is not None or voi_lut is not None:
        return lambda arr: whole[np.clip(arr.astype(np.int64) + offset, 0, whole.size - 1)]
    tables = [table_for(r)] if (r := _declared_range(ds)) else []

    def convert(arr: np.ndarray) -> np.ndarray:
        if not tables:
            found = value_range() if value_range is not None else None
            tables.append(table_for(found) if found else whole)  # every frame blank: the stored bits' range
        return tables[0][np.clip(arr.astype(np.int64) + offset, 0, tables[0].size - 1)]

    return convert


def monochrome_table(
    *,
    bits: int,
    signed: bool,
    slope: float,
    intercept: float,
    window: tuple[float, float] | None,
    invert: bool,
    stored_range: tuple[int, int] | None = None,
    voi_lut: tuple[int, np.ndarray, int] | None = None,
) -> np.ndarray:
    """Grey uint8 for every stored value (index = stored value + 2**(bits-1) when signed).

    Rescale ``v * slope + intercept``; then the DICOM linear VOI window ``(center, width)`` when
    given (finite, width at least 1), else the VOI LUT ``(first value mapped, entries, bits per
    entry)`` when given (values below the first take the first entry, above the last the last;
    0 to 2**bits - 1 mapped to 0-255), else the rescaled ``stored_range`` (lowest, highest
    stored value) when given and not a single value, else the rescaled range of the stored bits;
    mapped to 0-255; inverted for MONOCHROME1. Raises ValueError when the rescale is not finite.

    Examples
    --------
    >>> t = monochrome_table(bits=12, signed=False, slope=1, intercept=0,
    ...                      window=(1000.0, 400.0), invert=False)
    >>> int(t[700]), int(t[1000]), int(t[1300])
    (0, 128, 255)
    """
    stored = np.arange(2**bits, dtype=np.float64) - (2 ** (bits - 1) if signed else 0)
    with np.errstate(over="ignore", invalid="ignore"):
        values = stored * slope + intercept
    if not np.all(np.isfinite(values)):
        raise ValueError(f"rescale slope {slope:g} and intercept {intercept:g} overflow")
    if window is not None and all(np.isfinite(window)) and window[1] >= 1:
        center, width = window  # PS3.3 C.11.2.1.2.1: a step at center - 0.5 when the width is 1
        lowest, span = center - 0.5 - (width - 1.0) / 2, width - 1.0
        with np.errstate(over="ignore"):
            linear = (values - lowest) / span if span > 0 else np.zeros_like(values)
        unit = np.where(values > lowest + span, 1.0, linear)
    elif voi_lut is not None:
        first, entries, entry_bits = voi_lut
        index = np.clip(np.floor(values) - first, 0, entries.size - 1).astype(np.int64)
        unit = entries[index] / max(2.0**entry_bits - 1, float(entries.max()))
    else:
        in_range = values
        if stored_range is not None and stored_range[1] > stored_range[0]:
            lo_stored, hi_stored = stored_range
            in_range = np.array([lo_stored, hi_stored], dtype=np.float64) * slope + intercept
        lo, hi = float(in_range.min()), float(in_range.max())
        unit = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    grey = np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)
    return 255 - grey if invert else grey


def _palette_table(ds: Dataset, bits: int) -> np.ndarray:
    """Grey uint8 for every palette index (PALETTE COLOR, 8- or 16-bit entries)."""
    return _luma(_palette_rgb(ds, bits))


def _palette_rgb(ds: Dataset, bits: int) -> np.ndarray:
    """The palette's colour of every index, (entries, 3) on a 0-255 scale."""
    n_entries = min(2**bits, 2**16)
    dtype = np.uint16 if bits > 8 else np.uint8
    rgb = apply_color_lut(np.arange(n_entries, dtype=dtype), _palette_in_machine_order(ds))
    # 16-bit entries holding 8-bit values (seen in real files) are read as 8-bit.
    scale = 255.0 / 65535.0 if rgb.dtype == np.uint16 and int(rgb.max()) > 255 else 1.0
    return rgb.astype(np.float32) * scale


_PALETTE_DATA = tuple(f"{colour}PaletteColorLookupTableData" for colour in ("Red", "Green", "Blue", "Alpha"))


def _palette_in_machine_order(ds: Dataset) -> Dataset:
    """The palette tags of ``ds`` with the words of its (not segmented) LUT data in the machine's
    byte order: pydicom reads them as the machine's words whatever the file's order, so a Big
    Endian file's 16-bit entries came out byte-swapped (a flat grey image). 8-bit entries,
    packed two a word, are put back in file order the same way. ``ds`` itself when Little Endian."""
    little_endian = getattr(ds, "original_encoding", (None, True))[1]
    if little_endian is not False or "RedPaletteColorLookupTableData" not in ds:
        return ds
    palette = Dataset()  # (a new data set: the file's own stays as read)
    for elem in ds:
        if "PaletteColorLookupTable" in elem.keyword or elem.keyword == "PixelPresentation":
            palette.add(elem)
    n_entries = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 2**16
    for keyword in _PALETTE_DATA:
        data = ds.get(keyword)
        if isinstance(data, bytes) and len(data) % 2 == 0:
            order = "=u2" if len(data) == 2 * n_entries else "<u2"  # 16-bit entries, else 8-bit packed
            palette.add_new(ds[keyword].tag, "OW", np.frombuffer(data, ">u2").astype(order).tobytes())
    return palette


#: Share of a frame's scan area in colour above which it is flagged (:func:`colour_mask`'s mean):
#: colour Doppler flow fills a box of the scan; calipers, marks and text drawn in colour stay
#: well under it (0.000 of the RGB and YBR sample images' regions).
COLOUR_SHARE = 0.02
#: A pixel is in colour when its channels differ by this much (of 255).
MIN_CHROMA = 64


def colour_mask(rgb: np.ndarray, bits: int = 8) -> np.ndarray:
    """Which pixels of an RGB frame (rows, columns, 3) are in colour, not grey: their channels
    differ by at least :data:`MIN_CHROMA` of 255.

    >>> frame = np.full((10, 10, 3), 90, np.uint8); frame[:2, :5] = (200, 30, 30)
    >>> mask = colour_mask(frame)
    >>> mask.shape, float(mask.mean())
    ((10, 10), 0.1)
    """
    return _in_colour(rgb, 255.0 / (2**bits - 1))


def colour_pixels(ds: Dataset) -> Callable[[np.ndarray], np.ndarray | None]:
    """A function giving which pixels of a decoded frame of this file (or of a crop of it) are in
    colour (:func:`colour_mask`, boolean, the frame's shape): of its RGB pixels for colour
    photometrics, of its indices' palette colours for ``PALETTE COLOR`` (a colour Doppler box or
    calipers stored with a palette); ``None`` for grey images, which have none."""
    photometric = tag_text(ds, "PhotometricInterpretation")
    bits = tag_int(ds, "BitsStored", tag_int(ds, "BitsAllocated", 8))
    if photometric in COLOUR_PHOTOMETRICS:
        return lambda arr: colour_mask(arr, bits)
    if photometric == "PALETTE COLOR":
        coloured = _in_colour(_palette_rgb(ds, bits))
        return lambda arr: coloured[np.clip(arr, 0, coloured.size - 1)]
    return lambda arr: None


def _in_colour(rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Whether each pixel of ``rgb`` (..., 3), its values times ``scale`` on a 0-255 scale, is in
    colour: its channels at least :data:`MIN_CHROMA` apart."""
    chroma = rgb.max(axis=-1).astype(np.float64) - rgb.min(axis=-1)
    return chroma * scale >= MIN_CHROMA


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB array on a 0-255 scale, as uint8."""
    grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.rint(np.clip(grey, 0.0, 255.0)).astype(np.uint8)


def _declared_range(ds: Dataset) -> tuple[int, int] | None:
    """(SmallestImagePixelValue, LargestImagePixelValue) when both are given and differ."""
    lo, hi = first_number(ds.get("SmallestImagePixelValue")), first_number(ds.get("LargestImagePixelValue"))
    return (int(lo), int(hi)) if lo is not None and hi is not None and hi > lo else None


def _voi_window(ds: Dataset) -> tuple[float, float] | None:
    """The first VOI window (WindowCenter, WindowWidth), when both are usable: finite numbers, a
    width of at least 1 (PS3.3 C.11.2.1.2). An unusable one is no window: the image's value
    range, not the whole range of its stored bits, gives its grey levels."""
    center, width = first_number(ds.get("WindowCenter")), first_number(ds.get("WindowWidth"))
    if center is None or width is None or not np.isfinite(center) or not np.isfinite(width) or width < 1:
        return None
    return center, width


def grey_note(ds: Dataset) -> str:
    """What a reader of the results should know of the file's grey levels: ``""``, or that its
    VOI LUT was passed over (it does not fit its descriptor), so the grey levels come from the
    image's values, not the table the scanner may have shown."""
    bits = tag_int(ds, "BitsStored", tag_int(ds, "BitsAllocated", 8))
    photometric = tag_text(ds, "PhotometricInterpretation")
    if photometric in COLOUR_PHOTOMETRICS or photometric == "PALETTE COLOR":  # (a VOI LUT is for grey images)
        return ""
    if bits <= 8 or not ds.get("VOILUTSequence") or _voi_window(ds) is not None:
        return ""
    if _voi_lut(ds, tag_int(ds, "PixelRepresentation", 0) == 1) is not None:
        return ""
    return "its VOI LUT does not fit its descriptor: grey levels from the image's values"


def _voi_lut(ds: Dataset, signed: bool) -> tuple[int, np.ndarray, int] | None:
    """The first VOI LUT of the VOILUTSequence: (first value mapped, entries, bits per entry);
    None without one, or when its descriptor and data do not fit (PS3.3 C.11.2.1.1: entries 0
    meaning 65536, the first value signed for signed pixels, 8 or 10-16 bits; OW data in the
    file's byte order): the image's value range is used then, as for an unusable window (the
    file was rejected for it, an image a viewer shows)."""
    items = ds.get("VOILUTSequence")
    if not items:
        return None
    item = items[0]
    try:
        descriptor = [int(v) for v in item.get("LUTDescriptor") or ()]
    except (TypeError, ValueError):
        return None
    if len(descriptor) != 3 or not (descriptor[2] == 8 or 10 <= descriptor[2] <= 16):
        return None
    n_entries, first, entry_bits = descriptor[0] or 2**16, descriptor[1], descriptor[2]
    if signed and first >= 2**15:
        first -= 2**16
    data = item.get("LUTData")
    if isinstance(data, bytes):
        little_endian = getattr(ds, "original_encoding", (None, True))[1] is not False
        entries = np.frombuffer(data[: len(data) // 2 * 2], "<u2" if little_endian else ">u2")
    else:
        try:
            entries = np.atleast_1d(np.asarray(data if data is not None else [], dtype=np.float64))
        except (TypeError, ValueError):  # text where numbers belong
            return None
    if entries.size < n_entries:
        return None
    return first, entries[:n_entries].astype(np.float64), entry_bits
