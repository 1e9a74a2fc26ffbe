"""Training data: a cache of frames at the network scale, user PNG pairs, and the transforms.

A sample is a dict of channel-first arrays at :data:`~follicle_seg.model.preprocess.TARGET_MM`:
``image`` (float32 grey 0-1, not yet normalised), ``fan`` (0/1) and ``label`` (0 background,
1 ovary, 2 follicle, 3 ovary outline with follicles not drawn: :data:`~follicle_seg.model.loss.OUTLINE`).
Intensity augmentation happens on the raw grey; the last transform normalises it inside the fan
exactly as inference does (:func:`~follicle_seg.model.preprocess.normalise_intensity`).

Augmentation is deliberately intensity-agnostic (after SynthSeg, Billot et al. 2023): random
monotone grey maps, gamma, gain, smoothing / sharpening, multiplicative low-frequency texture and
bias fields and noise, so that no grey level or texture alone identifies a class; geometry gets
horizontal flips, small rotations and scaling (no vertical flip: acoustic shadowing and
enhancement point away from the probe), and optionally a wide rescaling of the whole frame
(:class:`RandFrameZoomd`) for scans whose scale is not known.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monai.transforms import (
    Compose,
    EnsureTyped,
    MapTransform,
    RandAdjustContrastd,
    RandAffined,
    RandBiasFieldd,
    RandCropByLabelClassesd,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSharpend,
    RandGaussianSmoothd,
    RandomizableTransform,
    RandScaleIntensityd,
    SpatialPadd,
)
from PIL import Image
from scipy import ndimage

from follicle_seg.errors import RejectedInput, brief
from follicle_seg.io.calibration import SPACING_RANGE_MM, implausible_extent, implausible_spacing
from follicle_seg.model import nifti
from follicle_seg.model.loss import OUTLINE
from follicle_seg.model.preprocess import normalise_intensity, resample, to_network_scale
from follicle_seg.types import FOLLICLE, OVARY, Calibration

Sample = dict[str, np.ndarray]


def make_sample(
    pixels: np.ndarray,
    labels: np.ndarray,
    spacing_row_mm: float | None,
    spacing_col_mm: float | None,
) -> Sample:
    """A region crop and its label map -> a sample at the network scale.

    Labels are resampled nearest-neighbour (never interpolated).
    """
    image, fan, geom = to_network_scale(pixels, spacing_row_mm, spacing_col_mm)
    label = resample(labels.astype(np.float32), geom.scaled_shape, mode="nearest")
    return {
        "image": (image[None] / 255.0).astype(np.float32),
        "fan": fan[None].astype(np.float32),
        "label": np.rint(label)[None].astype(np.float32),
    }


def save_samples(samples: Sequence[Sample], path: Path) -> None:
    """Write samples as one compressed ``.npz`` (uint8 storage)."""
    arrays: dict[str, np.ndarray] = {}
    for i, s in enumerate(samples):
        arrays[f"image_{i}"] = np.rint(s["image"][0] * 255).astype(np.uint8)
        arrays[f"fan_{i}"] = s["fan"][0].astype(np.uint8)
        arrays[f"label_{i}"] = s["label"][0].astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, n=np.int64(len(samples)), **arrays)  # type: ignore[arg-type]  # (numpy's hints: **arrays could fill allow_pickle; its keys never do)


def load_samples(path: Path) -> list[Sample]:
    """Read samples written by :func:`save_samples`."""
    with np.load(path) as data:
        return [
            {
                "image": (data[f"image_{i}"][None] / 255.0).astype(np.float32),
                "fan": data[f"fan_{i}"][None].astype(np.float32),
                "label": data[f"label_{i}"][None].astype(np.float32),
            }
            for i in range(int(data["n"]))
        ]


def synthetic_samples(
    seeds: Sequence[int], *, style: str | None = None, shift: float = 0.0, layered_share: float = 0.0,
    patchwork_share: float = 0.0, poi_share: float = 0.0,
) -> list[Sample]:
    """Samples from the synthetic generator (``follicle_seg.synth.training.training_frame``)."""
    from follicle_seg.synth.training import training_frame

    out = []
    for seed in seeds:
        frame = training_frame(int(seed), style=style, shift=shift, layered_share=layered_share,
                               patchwork_share=patchwork_share, poi_share=poi_share)
        out.append(
            make_sample(frame.pixels, frame.labels, frame.spacing_row_mm, frame.spacing_col_mm)
        )
    return out


Pair = tuple[str, np.ndarray, np.ndarray, "float | None", "float | None"]
"""An annotated frame: name, grey pixels (uint8), labels 0-3 on the same grid, and the pixel
size (rows, columns) in mm or ``None``."""


def follicles_without_ovary(labels: np.ndarray) -> bool:
    """Whether a frame's labels hold follicles (2) and no ovary (1, or the outline 3): a mask that
    teaches the tissue around them is background (refused, naming the file and frame)."""
    return bool(FOLLICLE in labels and not np.isin(labels, (OVARY, OUTLINE)).any())


_MASK_VALUES = "mask values must be 0, 1 (ovary), 2 (follicle) or 3 (ovary outline, follicles not drawn)."
_LOSSY = (".jpg", ".jpeg")
"""Image files read beside PNG and NIfTI; refused as masks (lossy compression blurs label values)."""
_SPACING_COLUMNS = ("name", "spacing_row_mm", "spacing_col_mm")


def _open(path: Path) -> Image.Image:
    """A decoded image; a file that is not one (corrupt, truncated, another format) or an animated
    PNG of several frames (which one was annotated?) is refused."""
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise RejectedInput(str(path), f"cannot read the image: {brief(exc)}") from None
    if image.format == "PNG" and (n_frames := getattr(image, "n_frames", 1)) > 1:
        raise RejectedInput(str(path), f"an animated PNG of {n_frames} frames: one frame per PNG file (the "
                                       "annotated one), or a sweep as a NIfTI stack.")  # fmt: skip
    return image


def _grey(path: Path) -> np.ndarray:
    """An image file as 8-bit grey: 8-bit grey kept, colour (RGB, palette) made grey by luminance,
    and 16-bit or float images kept when whole numbers 0-255, else stretched from their minimum to
    their maximum (as NIfTI images are: :func:`~follicle_seg.model.nifti.to_grey`), never clipped."""
    with _open(path) as im:
        if im.mode.startswith(("I", "F")):  # I;16, I;16B, I (32-bit), F
            return nifti.to_grey(np.asarray(im))
        return np.asarray(im.convert("L"))


def _mask_values(values: np.ndarray, path: Path) -> np.ndarray:
    """Label values 0-3 as uint8, or :class:`RejectedInput` naming the values found."""
    values = np.asarray(values)
    if values.dtype == bool:
        values = values.astype(np.uint8)
    if values.size and (values.min() < 0 or values.max() > OUTLINE or np.any(values != np.round(values))):
        found = np.unique(values)
        shown = ", ".join(f"{v:g}" for v in found[:6].astype(float)) + (", ..." if len(found) > 6 else "")
        raise RejectedInput(str(path), f"{_MASK_VALUES[:-1]}; found {shown}.")
    return values.astype(np.uint8)


def _mask(path: Path) -> np.ndarray:
    """A PNG mask's label values: grey (8- or 16-bit) as stored; palette (indexed) by its indices,
    or by its grey levels when every palette entry used is grey; RGB only when its channels agree."""
    with _open(path) as im:
        values = np.asarray(im)
        if im.mode == "P":
            palette = np.asarray(im.getpalette() or [], dtype=np.int64)
            rgb = palette[: len(palette) // 3 * 3].reshape(-1, 3)
            used = np.unique(values)
            if used.max() < len(rgb) and np.all(rgb[used, 0] == rgb[used, 1]) and np.all(rgb[used, 1] == rgb[used, 2]):
                values = rgb[:, 0][values]  # a grey palette: the grey levels are the labels
        elif im.mode in ("RGB", "RGBA", "LA", "RGBX"):
            if im.mode != "LA":
                colour = values[..., :3]
                if np.any(colour[..., 0] != colour[..., 1]) or np.any(colour[..., 1] != colour[..., 2]):
                    raise RejectedInput(str(path), "a colour mask (its R, G and B differ): labels are read as values, "
                                                   "not colours; save 0-3 as a grey or indexed (palette) PNG.")  # fmt: skip
            values = values[..., 0]
        elif im.mode not in ("1", "L") and not im.mode.startswith(("I", "F")):
            raise RejectedInput(str(path), f"a {im.mode} image; a mask is a grey or indexed PNG of the values 0-3.")
    return _mask_values(values, path)


def _frames(path: Path, mask: bool) -> tuple[np.ndarray, float | None, float | None]:
    """Frames ``(n, rows, columns)`` uint8 of a PNG (one) or NIfTI file, and the NIfTI's spacing."""
    if not nifti.is_nifti(path):
        return (_mask(path) if mask else _grey(path))[None], None, None
    frames, row_mm, col_mm = nifti.read_nifti(path)
    if not mask:
        return nifti.to_grey(frames), row_mm, col_mm
    return _mask_values(frames, path), row_mm, col_mm


def _name(path: Path) -> str:
    return nifti.stem(path) if nifti.is_nifti(path) else path.stem


def _annotation_files(folder: Path) -> dict[str, Path]:
    """The PNG, JPEG and NIfTI files of ``folder`` by name; two files of one name are refused."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not _is_image(path):
            continue
        name = _name(path)
        if name in files:
            raise RejectedInput(str(path), f"{files[name].name} has the same name {name!r}; keep one file per frame.")
        files[name] = path
    return files


def _is_image(path: Path) -> bool:
    """An image or mask file by its extension; hidden files (macOS's ``._NAME.png`` resource
    forks, copied beside each file onto a shared drive) are not."""
    return not path.name.startswith(".") and (path.suffix.lower() in (".png", *_LOSSY) or nifti.is_nifti(path))


def _case_of(name: str, paths: dict[str, Path]) -> str:
    """What a refusal adds when ``paths`` holds ``name`` but for case (names are matched exactly)."""
    alike = [path.name for other, path in paths.items() if other.lower() == name.lower()]
    return f" ({alike[0]} is there: names are matched with their case)" if alike else ""


def passed_over(folder: Path) -> str:
    """What ``images/`` and ``masks/`` of ``folder`` hold that :func:`read_image_pairs` does not
    read, said in words (``""`` when nothing): sub-folders (``images/NAME/``) and files of other
    kinds (``.tif``, ``.bmp``), the first five named; hidden files aside."""
    folder = Path(folder)
    skipped = [f"{sub}/{path.name}{'/' if path.is_dir() else ''}" for sub in ("images", "masks") if (folder / sub).is_dir()
               for path in sorted((folder / sub).iterdir()) if not path.name.startswith(".") and not _is_image(path)]
    if not skipped:
        return ""
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return (f"passed over {', '.join(skipped[:5])}{more} (frames are read from images/ and masks/ themselves, as PNG, "
            "JPEG or NIfTI files)")


def read_spacing(path: Path) -> dict[str, tuple[float, float, int]]:
    """``spacing.csv``: pixel size (rows, columns) in mm and the line giving it, by frame name.

    A name may carry its image's extension (``NAME.png``, ``NAME.nii.gz``: read as ``NAME``).

    Raises
    ------
    RejectedInput
        One line naming the file and its line: a header without the columns ``name,
        spacing_row_mm, spacing_col_mm``, a value that is not a number, a pixel size outside
        0.01-2 mm (as a NIfTI header's), or a name given twice.
    """
    path = Path(path)
    spacing: dict[str, tuple[float, float, int]] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip() for f in reader.fieldnames or []]
            if any(column not in fields for column in _SPACING_COLUMNS):
                raise RejectedInput(str(path), f"line 1: the header must name the columns {','.join(_SPACING_COLUMNS)}; "
                                               f"found {','.join(fields) or 'nothing'}.")  # fmt: skip
            reader.fieldnames = fields
            for row in reader:
                line, name = reader.line_num, (row["name"] or "").strip()
                name = _name(Path(name)) if _is_image(Path(name)) else name
                raw = (row["spacing_row_mm"], row["spacing_col_mm"])
                try:
                    row_mm, col_mm = (float(v) for v in raw)
                except (TypeError, ValueError):
                    raise RejectedInput(str(path), f"line {line}: pixel size {', '.join(repr(v) for v in raw)} of "
                                                   f"{name!r} is not a pair of numbers (mm).") from None  # fmt: skip
                reason = implausible_spacing(Calibration(row_mm, col_mm, "spacing.csv"))
                if reason or not np.isfinite([row_mm, col_mm]).all():
                    lo, hi = SPACING_RANGE_MM
                    raise RejectedInput(str(path), f"line {line}: pixel size {row_mm:g} x {col_mm:g} mm of {name!r}; "
                                                   f"expected {lo:g}-{hi:g} mm/pixel.")  # fmt: skip
                if name in spacing:
                    raise RejectedInput(str(path), f"line {line}: {name!r} is given twice.")
                spacing[name] = (row_mm, col_mm, line)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RejectedInput(str(path), f"cannot read it: {brief(exc)}") from None
    return spacing


_FRAME_SUFFIX = re.compile(r"(_f?\d+)?(_pane\d+)?$")


def source_of(name: str) -> str:
    """The source (file, sweep, cine) a frame's name says it comes from: the name without a final
    frame number ``_<digits>`` or ``_f<digits>`` and pane ``_pane<k>``.

    Those are the names of the frames of one NIfTI stack (``NAME_k``), of one DICOM cine read from
    its SEGs (``<uid>_f<frame>``) and of ``scripts/export_pairs.py`` (``<sop>_<frame>``,
    ``<sop>_<frame>_pane<k>``); the held-out split keeps the frames of one source on one side
    (:func:`~follicle_seg.model.train.split_holdout`).

    Examples
    --------
    >>> source_of("1.2.3_40_pane2"), source_of("1.2.3_f007"), source_of("sweep_12"), source_of("f0")
    ('1.2.3', '1.2.3', 'sweep', 'f0')
    """
    return _FRAME_SUFFIX.sub("", name, count=1) or name


def read_image_pairs(folder: Path) -> list[Pair]:
    """Annotated frames for fine-tuning: ``images/NAME.png`` + ``masks/NAME.png``, or NIfTI files
    (``.nii``/``.nii.gz``, :mod:`follicle_seg.model.nifti`) in either folder.

    Masks hold 0 background, 1 ovary, 2 follicle on the image grid, or 3 for the inside of an ovary
    outline whose follicles are not drawn (trained with the marginal loss of
    :mod:`follicle_seg.model.loss`). A NIfTI stack (3-D) gives one frame per slice that holds a
    label, named ``NAME_k`` (k from 0); its slices without a label were not annotated and are left
    out. An optional ``spacing.csv`` (columns ``name, spacing_row_mm, spacing_col_mm``) gives the
    pixel size, before a NIfTI header's (a name may carry its image's extension; one that matches
    no image is refused); without either the assumed scale of uncalibrated frames is used.

    Images may be 8-bit grey, colour (made grey by luminance), 16-bit (kept when 0-255, else
    stretched from their minimum to their maximum) or JPEG. A PNG mask is read by its values:
    grey, an indexed (palette) PNG by its indices (its grey levels when its palette is grey), RGB
    only when its three channels agree.

    Returns
    -------
    list
        ``(name, pixels uint8, labels uint8, spacing_row_mm, spacing_col_mm)`` sorted by name.

    Raises
    ------
    RejectedInput
        Missing folders, an image without a mask or a mask without an image, two files of one
        name, a file that cannot be read, a JPEG or colour mask, mismatched shapes, a frame under
        32 px on a side, labels outside 0-3, a frame with follicles (2) but no ovary (1 or 3), a
        NIfTI file that cannot be read, a NIfTI image and mask of different geometry
        (:func:`~follicle_seg.model.nifti.geometry_mismatch`), a bad ``spacing.csv``
        (:func:`read_spacing`) or a name in it that matches no image, or a pixel size (of
        ``spacing.csv`` or a NIfTI header) that makes a frame deeper than 30 cm or wider than 50 cm.
    """
    folder = Path(folder)
    images, masks = folder / "images", folder / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise RejectedInput(str(folder), "expected sub-folders images/ and masks/ of PNG or NIfTI files.")
    spacing_csv = folder / "spacing.csv"
    spacing = read_spacing(spacing_csv) if spacing_csv.is_file() else {}
    image_paths, mask_paths = _annotation_files(images), _annotation_files(masks)
    if unknown := [name for name in spacing if name not in image_paths]:
        name = unknown[0]
        raise RejectedInput(str(spacing_csv), f"line {spacing[name][2]}: {name!r} matches no image in images/"
                                              f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}: a name "
                                              "is its image's file name, with or without the extension; delete the "
                                              "line of a frame left out.")  # fmt: skip
    if lossy := [p for p in mask_paths.values() if p.suffix.lower() in _LOSSY]:
        raise RejectedInput(str(lossy[0]), "a JPEG mask: lossy compression changes label values along every "
                                           "edge; save masks as PNG or NIfTI.")  # fmt: skip
    if orphans := sorted(set(mask_paths) - set(image_paths)):
        name = orphans[0]
        raise RejectedInput(str(mask_paths[name]), f"no image {name}.png, .jpg or .nii(.gz) in images/ for this mask"
                                                   f"{_case_of(name, image_paths)}"
                                                   f"{f' (and {len(orphans) - 1} more)' if len(orphans) > 1 else ''}.")  # fmt: skip
    pairs: list[Pair] = []
    made: dict[str, Path] = {}  # each frame's name -> the file it came from
    for name, image_path in image_paths.items():
        if name not in mask_paths:
            raise RejectedInput(str(image_path), f"no mask {name}.png or {name}.nii(.gz) in masks/"
                                                 f"{_case_of(name, mask_paths)}.")  # fmt: skip
        mask_path = mask_paths[name]
        pixels, row_mm, col_mm = _frames(image_path, mask=False)
        if min(pixels.shape[1:]) < nifti.MIN_FRAME_PX:  # (a NIfTI's own reading says why in its terms)
            raise RejectedInput(str(image_path), f"a frame of {pixels.shape[1]} x {pixels.shape[2]} px: no scan "
                                                 f"is under {nifti.MIN_FRAME_PX} px on a side.")  # fmt: skip
        labels, *_ = _frames(mask_path, mask=True)
        if pixels.shape != labels.shape:
            raise RejectedInput(str(mask_path), f"mask {labels.shape} and image {pixels.shape} differ in size.")
        if nifti.is_nifti(image_path) and nifti.is_nifti(mask_path):
            if reason := nifti.geometry_mismatch(image_path, mask_path):
                raise RejectedInput(str(mask_path), reason + ".")
        if bare := [k for k, frame in enumerate(labels) if follicles_without_ovary(frame)]:
            where = f"its frame {name}_{bare[0]}" if len(labels) > 1 else "it"
            raise RejectedInput(str(mask_path), f"follicles (2) without an ovary (1 or 3) in {where}: the ovary is drawn "
                                                "around its follicles (1 for the rest of it); outline the ovary too.")  # fmt: skip
        row_mm, col_mm = _pixel_size(pixels.shape[1:], (row_mm, col_mm), image_path, spacing.get(name), spacing_csv)
        frames = [(name, 0)] if len(pixels) == 1 else [(f"{name}_{k}", k) for k in range(len(pixels)) if labels[k].any()]
        for frame, k in frames:
            if frame in made:  # (a stack's frame "img_0" beside a file img_0.png)
                raise RejectedInput(str(image_path), f"its frame {frame} has the name of the frame of "
                                                     f"{made[frame].name}: rename one of them.")  # fmt: skip
            made[frame] = image_path
            pairs.append((frame, pixels[k], labels[k], row_mm, col_mm))
    if not pairs:
        skipped = passed_over(folder)
        raise RejectedInput(str(images), f"no annotated PNG or NIfTI images found{f'; {skipped}' if skipped else ''}.")
    return sorted(pairs, key=lambda pair: pair[0])


def _pixel_size(
    shape: tuple[int, ...], header: tuple[float | None, float | None], image_path: Path,
    entry: tuple[float, float, int] | None, spacing_csv: Path,
) -> tuple[float | None, float | None]:
    """A frame's pixel size, from ``spacing.csv`` (its ``entry``) or else the NIfTI header; refused
    (naming the file, and the line of ``spacing.csv``) when the frame would be deeper or wider than
    any ultrasound region (:func:`~follicle_seg.io.calibration.implausible_extent`)."""
    box = (0, 0, shape[1] - 1, shape[0] - 1)
    if entry is not None:
        row_mm, col_mm, line = entry
        if reason := implausible_extent(Calibration(row_mm, col_mm, "spacing.csv"), box):
            raise RejectedInput(str(spacing_csv), f"line {line}: pixel size {row_mm:g} x {col_mm:g} mm of "
                                                  f"{_name(image_path)!r} ({shape[0]} x {shape[1]} px): {reason}.")  # fmt: skip
        return row_mm, col_mm
    if reason := implausible_extent(Calibration(*header, "its NIfTI header"), box):
        raise RejectedInput(str(image_path), f"pixel size {header[0]:g} x {header[1]:g} mm in its header "
                                             f"({shape[0]} x {shape[1]} px): {reason}; give the true pixel size in "
                                             "the header or in spacing.csv.")  # fmt: skip
    return header


def read_pairs(folder: Path) -> list[Pair]:
    """Annotated frames from ``images/`` + ``masks/`` PNG or NIfTI pairs (:func:`read_image_pairs`) or, in a
    folder without those, from DICOM images and DICOM SEG objects on them
    (:func:`follicle_seg.model.dicom_pairs.read_dicom_seg_pairs`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RejectedInput(str(folder), "no such folder.")
    if (folder / "images").is_dir() or (folder / "masks").is_dir():
        return read_image_pairs(folder)
    from follicle_seg.model.dicom_pairs import read_dicom_seg_pairs

    return read_dicom_seg_pairs(folder)


# -- intensity-agnostic augmentation: pure functions, then dictionary transforms --------------


def grey_map(image: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Apply a monotone piecewise-linear grey map given by its values at equally spaced inputs.

    Examples
    --------
    >>> [round(float(v), 3) for v in grey_map(np.array([0.0, 0.25, 0.5, 1.0]), np.array([0.0, 0.9, 1.0]))]
    [0.0, 0.45, 0.9, 1.0]
    """
    xs = np.linspace(0.0, 1.0, len(knots))
    return np.interp(np.clip(image, 0.0, 1.0), xs, knots).astype(np.float32)


def texture_field(shape: tuple[int, ...], cell: float, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth positive multiplicative field ``exp(strength * N(0,1) smoothed over ~cell px)``."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=cell)
    noise /= max(float(noise.std()), 1e-6)
    return np.exp(strength * noise).astype(np.float32)


class RandGreyMapd(RandomizableTransform, MapTransform):
    """Remap grey levels through a random monotone curve (histogram randomisation)."""

    def __init__(self, keys: Sequence[Hashable], prob: float = 0.5, n_knots: int = 6) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.n_knots = n_knots
        self._knots = np.linspace(0.0, 1.0, n_knots)

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        steps = self.R.gamma(2.0, size=self.n_knots - 1)
        self._knots = np.concatenate([[0.0], np.cumsum(steps) / steps.sum()])

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        if self._do_transform:
            for key in self.key_iterator(d):
                d[key] = grey_map(np.asarray(d[key]), self._knots)
        return d


class RandTextureFieldd(RandomizableTransform, MapTransform):
    """Multiply by a random smooth texture field (cell size and strength drawn per sample)."""

    def __init__(
        self,
        keys: Sequence[Hashable],
        prob: float = 0.5,
        cell: tuple[float, float] = (1.0, 8.0),
        strength: tuple[float, float] = (0.05, 0.4),
    ) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.cell, self.strength = cell, strength
        self._seed = 0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        if self._do_transform:
            rng = np.random.default_rng(self._seed)
            cell = rng.uniform(*self.cell)
            strength = rng.uniform(*self.strength)
            for key in self.key_iterator(d):
                img = np.asarray(d[key])
                d[key] = (img * texture_field(img.shape, cell, strength, rng)).astype(np.float32)
        return d


class RandFrameZoomd(RandomizableTransform, MapTransform):
    """Rescale whole frames by one factor drawn log-uniformly from ``[1 / max_zoom, max_zoom]``.

    Stands for a screen capture read at the wrong depth: ovary, speckle and tissue all change
    size together. Resampled as frames are brought to the network scale
    (:func:`~follicle_seg.model.preprocess.resample`): ``image`` bilinear, every other key
    nearest-neighbour (labels are never blended). Frames change size; the crop that follows
    pads small ones.
    """

    def __init__(self, keys: Sequence[Hashable], max_zoom: float, prob: float = 0.8, image_key: str = "image") -> None:
        if max_zoom < 1.0:
            raise ValueError(f"max_zoom must be >= 1, not {max_zoom}.")
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.max_zoom, self.image_key = max_zoom, image_key
        self.factor = 1.0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self.factor = float(np.exp(self.R.uniform(-np.log(self.max_zoom), np.log(self.max_zoom))))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        if not self._do_transform:
            return d
        for key in self.key_iterator(d):
            img = np.asarray(d[key])
            shape = (max(1, round(img.shape[-2] * self.factor)), max(1, round(img.shape[-1] * self.factor)))
            d[key] = resample(img, shape, mode="bilinear" if key == self.image_key else "nearest")
        return d


class NormaliseInFand(MapTransform):
    """Percentile normalisation inside the fan (the inference preprocessing), then drop ``fan``."""

    def __init__(self, keys: Sequence[Hashable], fan_key: str = "fan") -> None:
        super().__init__(keys)
        self.fan_key = fan_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        fan = np.asarray(d.pop(self.fan_key))[0] > 0.5
        for key in self.key_iterator(d):
            img = np.asarray(d[key])
            d[key] = normalise_intensity(img[0], fan)[None]
        return d


def train_transforms(crop: int, background_crops: float | None = None, frame_zoom: float | None = None) -> Compose:
    """Random crop biased to the ovary, geometric and intensity-agnostic augmentation, normalisation.

    Crops are centred on a pixel of background, ovary, follicle or outline (mask value 3) drawn
    at weights 1 : 2 : 2 : 2 among the classes a frame holds; background centres may fall
    outside the scan sector. ``background_crops`` sets the background weight instead and draws
    every centre inside the sector (``fan``), so that more crops show the tissue around the
    ovary rather than the black surround. ``frame_zoom`` (>= 1) first rescales 80 % of the
    frames by a factor between ``1 / frame_zoom`` and ``frame_zoom`` (:class:`RandFrameZoomd`).
    """
    keys = ["image", "fan", "label"]
    zoom = [] if frame_zoom is None else [RandFrameZoomd(keys, frame_zoom)]
    weight = 1.0 if background_crops is None else background_crops
    return Compose(
        [
            *zoom,
            SpatialPadd(keys, spatial_size=(crop, crop)),
            RandCropByLabelClassesd(
                keys, label_key="label", spatial_size=(crop, crop), ratios=[weight, 2, 2, 2], num_classes=4,
                image_key=None if background_crops is None else "fan", image_threshold=0.0, warn=False,
            ),
            RandAffined(
                keys,
                prob=0.7,
                rotate_range=0.25,
                scale_range=0.2,
                mode=("bilinear", "nearest", "nearest"),
                padding_mode="zeros",
            ),
            RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandGreyMapd(["image"], prob=0.8),
            RandAdjustContrastd(["image"], prob=0.5, gamma=(0.5, 2.0)),
            RandScaleIntensityd(["image"], prob=0.5, factors=0.4),
            RandGaussianSmoothd(["image"], prob=0.3, sigma_x=(0.3, 1.5), sigma_y=(0.3, 1.5)),
            RandGaussianSharpend(["image"], prob=0.2),
            RandTextureFieldd(["image"], prob=0.6),
            RandBiasFieldd(["image"], prob=0.3, coeff_range=(0.0, 0.3)),
            RandGaussianNoised(["image"], prob=0.3, std=0.05),
            NormaliseInFand(["image"]),
            EnsureTyped(["image", "label"], data_type="tensor", track_meta=False),
        ]
    ).set_random_state(seed=0)


def eval_transforms() -> NormaliseInFand:
    """Validation: normalisation only (whole frames, padded by the caller)."""
    return NormaliseInFand(["image"])


CACHE_TASK_SEEDS = 50
"""Frames rendered per worker task when a cache is built in parallel."""


def cached_synthetic_samples(
    seeds: Sequence[int],
    path: Path,
    *,
    style: str | None = None,
    shift: float = 0.0,
    layered_share: float = 0.0,
    patchwork_share: float = 0.0,
    poi_share: float = 0.0,
    workers: int = 1,
) -> list[Sample]:
    """Synthetic samples, generated once into ``path`` (``.npz``) and read back afterwards.

    The cache is keyed by nothing but its path: use one path per seed range, style, shift and
    generator shares.
    """
    path = Path(path)
    if path.is_file():
        return load_samples(path)
    seeds = [int(s) for s in seeds]
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from functools import partial

        # Spawned workers (not forks of a parent that may already hold gigabytes of frames) and
        # small tasks, so frames come back a few at a time: a fork per worker and one task per
        # worker once held every frame twice over and ran a 24 GiB machine out of memory.
        chunks = [seeds[i : i + CACHE_TASK_SEEDS] for i in range(0, len(seeds), CACHE_TASK_SEEDS)]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = pool.map(partial(synthetic_samples, style=style, shift=shift, layered_share=layered_share,
                                     patchwork_share=patchwork_share, poi_share=poi_share), chunks)
            samples = [sample for part in parts for sample in part]
    else:
        samples = synthetic_samples(seeds, style=style, shift=shift, layered_share=layered_share,
                                    patchwork_share=patchwork_share, poi_share=poi_share)
    save_samples(samples, path)
    return samples
