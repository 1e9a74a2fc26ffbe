"""How a site's annotated frames reach ``train --data`` (model/data.py, model/nifti.py,
model/dicom_pairs.py) against random frames (property-based).

Each example draws a frame (size, odd or even, an ovary box with a follicle box or an outline
alone, a bright marker over the follicle, calibrated or not) and an encoding docs/model.md
("Fine-tuning on your own scans") accepts, writes it, and checks what that section promises:
the pair read back holds the pixels and the label map written (classes where they were, nothing
else) with the pixel size given; at the network scale (0.3 mm/px, or the assumed 70 mm depth of
an uncalibrated frame) the label stays on its image pixels; the frame written as PNG, NIfTI and
DICOM + SEG reads to one training sample; pairs go by name whatever the listing order and the
files beside them; the held-out split is by source, disjoint and the same for a seed; and a bad
pair is one line naming its file.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.sr.codedict import codes

from follicle_seg.errors import RejectedInput
from follicle_seg.io.write import write_us_dicom
from follicle_seg.model.data import make_sample, read_image_pairs, read_pairs, source_of
from follicle_seg.model.loss import OUTLINE
from follicle_seg.model.preprocess import ASSUMED_DEPTH_MM, TARGET_MM
from follicle_seg.model.train import split_holdout
from follicle_seg.types import FOLLICLE, OVARY
from test_dicom_pairs import _seg_of  # tests/ is on sys.path
from test_nifti_pairs import _folders, _save

PROPERTIES = settings(max_examples=80)  # (deterministic: tests/conftest.py's profile; file work is slow)
BACKGROUND, MARKER = 70, 250

IMAGE_ENCODINGS = ("grey", "rgb", "grey16", "grey16 wide")
MASK_ENCODINGS = ("grey", "grey16", "palette", "grey palette", "rgb")


@st.composite
def frames(draw, min_side: int = 32, max_side: int = 90) -> dict:
    """A frame: grey pixels (speckle around ``BACKGROUND``, ``MARKER`` over the follicle or, for
    an outline, over a box inside it), labels 0/1/2 or 0/3, and a pixel size or none."""
    rows, cols = draw(st.integers(min_side, max_side)), draw(st.integers(min_side, max_side))
    r0, c0 = draw(st.integers(0, rows - 12)), draw(st.integers(0, cols - 12))
    r1, c1 = draw(st.integers(r0 + 12, rows)), draw(st.integers(c0 + 12, cols))
    fr0, fc0 = draw(st.integers(r0 + 1, r1 - 8)), draw(st.integers(c0 + 1, c1 - 8))
    fr1, fc1 = draw(st.integers(fr0 + 6, r1 - 1)), draw(st.integers(fc0 + 6, c1 - 1))
    outline = draw(st.booleans())
    labels = np.zeros((rows, cols), np.uint8)
    labels[r0:r1, c0:c1] = OUTLINE if outline else OVARY
    if not outline:
        labels[fr0:fr1, fc0:fc1] = FOLLICLE
    seed = draw(st.integers(0, 2**16))
    pixels = np.random.default_rng(seed).integers(BACKGROUND - 10, BACKGROUND + 11, (rows, cols)).astype(np.uint8)
    pixels[fr0:fr1, fc0:fc1] = MARKER
    # a pixel size k / 256 mm: the same number in a CSV, a DICOM header and a NIfTI header (float32)
    calibrated = draw(st.booleans())
    spacing = tuple(draw(st.integers(20, 128)) / 256 for _ in range(2)) if calibrated else (None, None)
    return {"pixels": pixels, "labels": labels, "marker": (fr0, fr1, fc0, fc1), "spacing": spacing}


def write_png_image(path: Path, pixels: np.ndarray, encoding: str) -> np.ndarray:
    """``pixels`` saved as ``encoding``; returns the grey the docs say is read back."""
    if encoding == "grey":
        Image.fromarray(pixels).save(path)
        return pixels
    if encoding == "rgb":  # a grey picture saved as RGB: luminance of equal channels is the grey
        Image.fromarray(np.stack([pixels] * 3, axis=-1)).save(path)
        return pixels
    if encoding == "grey16":  # 16-bit of values 0-255: kept
        Image.fromarray(pixels.astype(np.uint16)).save(path)
        return pixels
    wide = pixels.astype(np.uint16) * 200 + 7  # 16-bit beyond 255: stretched from its minimum to its maximum
    Image.fromarray(wide).save(path)
    return np.round((wide - wide.min()) / (wide.max() - wide.min()) * 255).astype(np.uint8)


def write_png_mask(path: Path, labels: np.ndarray, encoding: str) -> None:
    """``labels`` saved as a mask in one of the encodings the docs accept."""
    if encoding == "grey":
        Image.fromarray(labels).save(path)
    elif encoding == "grey16":
        Image.fromarray(labels.astype(np.uint16)).save(path)
    elif encoding == "rgb":
        Image.fromarray(np.stack([labels] * 3, axis=-1)).save(path)
    else:
        indexed = Image.fromarray(labels, mode="P")
        if encoding == "palette":  # GIMP's indexed mode: colours, read by index
            indexed.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [9] * 252 * 3)
        else:  # grey levels stored at other indices: read by grey level
            order = np.array([3, 0, 2, 1], np.uint8)  # index i holds grey level order[i]
            indexed = Image.fromarray(np.argsort(order).astype(np.uint8)[labels], mode="P")
            indexed.putpalette([int(g) for g in order for _ in range(3)] + [0] * 252 * 3)
        indexed.save(path)


def spacing_csv(root: Path, spacing: dict[str, tuple]) -> None:
    lines = [f"{name},{row!r},{col!r}" for name, (row, col) in spacing.items() if row is not None]
    if lines:
        (root / "spacing.csv").write_text("name,spacing_row_mm,spacing_col_mm\n" + "\n".join(lines) + "\n")


@PROPERTIES
@given(frame=frames(), image=st.sampled_from(IMAGE_ENCODINGS), mask=st.sampled_from(MASK_ENCODINGS),
       ext=st.sampled_from(["", ".png", ".PNG"]))
def test_a_png_pair_reads_back_as_written_at_the_promised_scale_and_aligned(frame, image, mask, ext) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = _folders(Path(tmp))
        expected = write_png_image(root / "images" / "f0.png", frame["pixels"], image)
        write_png_mask(root / "masks" / "f0.png", frame["labels"], mask)
        spacing_csv(root, {f"f0{ext}": frame["spacing"]})
        ((name, pixels, labels, row_mm, col_mm),) = read_pairs(root)
    assert name == "f0" and pixels.dtype == labels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, expected)
    np.testing.assert_array_equal(labels, frame["labels"])
    assert (row_mm, col_mm) == frame["spacing"]
    _check_sample(frame, make_sample(pixels, labels, row_mm, col_mm))


def _check_sample(frame: dict, sample: dict) -> None:
    """The sample is at 0.3 mm/px (the assumed 70 mm depth when uncalibrated), holds only the
    classes written, and its marker (image) and the box it marks (labels) lie on each other."""
    rows, cols = frame["labels"].shape
    row_mm, col_mm = frame["spacing"] if frame["spacing"][0] else (ASSUMED_DEPTH_MM / rows,) * 2
    label, image = sample["label"][0], sample["image"][0]
    assert label.shape == image.shape
    assert abs(label.shape[0] * TARGET_MM - rows * row_mm) <= TARGET_MM / 2 + 1e-9
    assert abs(label.shape[1] * TARGET_MM - cols * col_mm) <= TARGET_MM / 2 + 1e-9
    assert set(np.unique(label)) <= set(np.unique(frame["labels"]))
    fr0, fr1, fc0, fc1 = frame["marker"]
    marked = FOLLICLE if FOLLICLE in frame["labels"] else OUTLINE
    box = label == marked
    bright = image > (BACKGROUND + MARKER) / 2 / 255
    if min((fr1 - fr0) * row_mm, (fc1 - fc0) * col_mm) >= 3 * TARGET_MM:  # 3 network pixels across at least
        assert box.any() and bright.any()
        # the marker's bright pixels inside the marked class: a mask pixel on its image pixel
        assert (bright & ~box).sum() <= 0.1 * bright.sum(), "the marker fell off its label"
        if marked == FOLLICLE:  # the box is the marker's: their centres within a network pixel
            assert np.abs(np.argwhere(box).mean(axis=0) - np.argwhere(bright).mean(axis=0)).max() <= 1.0


BORDER = 6
"""Black columns and rows around a DICOM frame's ultrasound region (the region crop is the frame)."""


def write_dicom_pair(root: Path, frame: dict) -> tuple[str, np.ndarray]:
    """The frame as the ultrasound region of a DICOM image (calibrated: its region and pixel size
    in the header) and a DICOM SEG of its ovary and follicle segments on it; returns the image's
    SOP Instance UID and the labels on its whole grid."""
    (rows, cols), (row_mm, col_mm) = frame["labels"].shape, frame["spacing"]
    full = np.zeros((rows + 2 * BORDER, cols + 2 * BORDER), np.uint8)
    inside = (slice(BORDER, BORDER + rows), slice(BORDER, BORDER + cols))
    full[inside] = frame["pixels"]
    regions = [] if row_mm is None else [dict(min_col=BORDER, min_row=BORDER, max_col=BORDER + cols - 1,
                                              max_row=BORDER + rows - 1, delta_x_mm=col_mm, delta_y_mm=row_mm)]
    source = root / "image.dcm"
    sop = write_us_dicom(source, full[None], patient_id="P1", study_uid="1.2.826.0.1.3680043.8.498.71",
                   series_uid="1.2.826.0.1.3680043.8.498.81", study_date="2026-03-04", laterality="L",
                   regions=regions)  # fmt: skip
    labels = np.zeros_like(full)
    labels[inside] = frame["labels"]
    ovary = [("Ovary", codes.SCT.Ovary, labels > 0)]
    follicle = [("Follicle", codes.SCT.OvarianFollicleStructure, labels == FOLLICLE)] if FOLLICLE in labels else []
    _seg_of(source, root / "seg.dcm", ovary + follicle)
    return sop, labels


@settings(max_examples=25)  # (DICOM and SEG writing and ingestion: slow; ingestion reads regions of 64 px up)
@given(frame=frames(min_side=64, max_side=110), nifti_spacing=st.sampled_from(["header", "spacing.csv"]))
def test_one_frame_as_png_nifti_and_dicom_seg_reads_to_one_training_sample(frame, nifti_spacing) -> None:
    """PNG + spacing.csv, NIfTI (pixel size in the header or spacing.csv) and DICOM + SEG (pixel
    size of the region) carry the same frame: the same pair, the same sample."""
    row_mm, col_mm = frame["spacing"]
    with tempfile.TemporaryDirectory() as tmp:
        png, nii, dcm = _folders(Path(tmp) / "png"), _folders(Path(tmp) / "nii"), Path(tmp) / "dcm"
        Image.fromarray(frame["pixels"]).save(png / "images" / "f.png")
        Image.fromarray(frame["labels"]).save(png / "masks" / "f.png")
        spacing_csv(png, {"f": frame["spacing"]})
        in_header = nifti_spacing == "header" and row_mm is not None
        zooms, unit = ((col_mm, row_mm), "mm") if in_header else ((1.0, 1.0), "unknown")
        _save(nii / "images" / "f.nii.gz", frame["pixels"], zooms=zooms, unit=unit)
        _save(nii / "masks" / "f.nii.gz", frame["labels"], zooms=zooms, unit=unit)
        if not in_header:
            spacing_csv(nii, {"f.nii.gz": frame["spacing"]})
        dcm.mkdir()
        write_dicom_pair(dcm, frame)
        read = {kind: read_pairs(folder) for kind, folder in (("png", png), ("nifti", nii), ("dicom", dcm))}
    for kind, ((_, pixels, labels, *spacing),) in read.items():
        np.testing.assert_array_equal(pixels, frame["pixels"], err_msg=kind)
        np.testing.assert_array_equal(labels, frame["labels"], err_msg=kind)
        assert tuple(spacing) == frame["spacing"], kind
    samples = {kind: make_sample(*pair[1:]) for kind, (pair,) in read.items()}
    for kind in ("nifti", "dicom"):
        for key in ("image", "fan", "label"):
            np.testing.assert_array_equal(samples[kind][key], samples["png"][key], err_msg=f"{kind} {key}")


def small_pair(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``k`` of a folder: 32 x 40 px, its ovary and follicle where no other frame's are."""
    pixels = np.random.default_rng(k).integers(20, 200, (32, 40)).astype(np.uint8)
    labels = np.zeros((32, 40), np.uint8)
    labels[2 + k % 7 : 20 + k % 7, 3 + k % 11 : 25 + k % 11] = OVARY
    labels[6 + k % 7 : 12 + k % 7, 8 + k % 11 : 16 + k % 11] = FOLLICLE
    return pixels, labels


def write_any(path: Path, frame: np.ndarray) -> np.ndarray:
    """A frame as PNG, JPEG or NIfTI, by the extension of ``path`` (any case); returns what it holds."""
    if path.name.lower().endswith((".nii", ".nii.gz")):
        _save(path, frame)
    elif path.suffix.lower() in (".jpg", ".jpeg"):
        Image.fromarray(frame).save(path, format="JPEG")
        return np.asarray(Image.open(path).convert("L"))  # lossy: what the reader decodes
    else:
        Image.fromarray(frame).save(path, format="PNG")
    return frame


NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), min_size=1, max_size=5, unique=True)
EXTRAS = ("._{}.png", ".DS_Store", "notes.txt", "Thumbs.db", "{}.png.bak", "{}.csv")
"""Files beside the pairs that are no frame: macOS's resource forks, system files, notes, backups."""


@PROPERTIES
@given(names=NAMES, image_exts=st.lists(st.sampled_from([".png", ".PNG", ".nii.gz", ".NII", ".JPG", ".jpeg"]), min_size=5, max_size=5),
       mask_exts=st.lists(st.sampled_from([".png", ".Png", ".nii.gz"]), min_size=5, max_size=5),
       extras=st.sets(st.sampled_from(EXTRAS)), orphan=st.sampled_from([None, "images", "masks"]),
       order=st.randoms(use_true_random=False))
def test_pairs_go_by_name_whatever_the_listing_order_and_the_files_beside_them(
        names, image_exts, mask_exts, extras, orphan, order) -> None:
    """docs/model.md: images/NAME.png with masks/NAME.png, either file NIfTI, the image JPEG too; "an image without a
    mask, a mask without an image" refused naming the file; hidden files and other files passed
    over (data._is_image)."""
    listing = Path.iterdir

    def shuffled(folder: Path):  # the file system's order is no order
        paths = list(listing(folder))
        order.shuffle(paths)
        return iter(paths)

    with tempfile.TemporaryDirectory() as tmp:
        root = _folders(Path(tmp))
        written = {}
        for k, name in enumerate(names):
            pixels, labels = small_pair(k)
            written[name] = (write_any(root / "images" / f"{name}{image_exts[k]}", pixels), labels)
            write_any(root / "masks" / f"{name}{mask_exts[k]}", labels)
        for folder in ("images", "masks"):
            for extra in extras:
                (root / folder / extra.format(names[0])).write_bytes(b"\x00\x05\x16\x07 not a frame")
        lone = None
        if orphan is not None:  # a frame with one file of its pair: "zz" sorts after every name drawn
            lone = root / orphan / "zz_lone.png"
            write_any(lone, small_pair(0)[orphan == "masks"])
        with mock.patch.object(Path, "iterdir", shuffled):
            if lone is not None:
                with pytest.raises(RejectedInput, match="no mask|no image") as raised:
                    read_image_pairs(root)
                assert raised.value.path == str(lone) and "\n" not in str(raised.value)
                return
            pairs = read_image_pairs(root)
    assert [p[0] for p in pairs] == sorted(names)
    for name, pixels, labels, *_ in pairs:
        np.testing.assert_array_equal(pixels, written[name][0])
        np.testing.assert_array_equal(labels, written[name][1])


FRAME_NAMES = st.lists(
    st.tuples(st.sampled_from(["sweep3", "1.2.840.5", "img", "f", "left_ov"]),
              st.sampled_from(["", "_0", "_1", "_2", "_f007", "_f008", "_12_pane2", "_12", "_pane2"])),
    min_size=1, max_size=30, unique=True,
).map(lambda parts: [stem + suffix for stem, suffix in parts])


@settings(max_examples=300)
@given(names=FRAME_NAMES, fraction=st.sampled_from([0.0, 0.1, 0.2, 0.5, 0.9]), seed=st.integers(0, 2**32 - 1),
       order=st.randoms(use_true_random=False))
def test_the_held_out_split_is_by_source_disjoint_and_the_same_for_a_seed(names, fraction, seed, order) -> None:
    """docs/model.md: "The split is by source ... never every source; the same seed gives the same
    split"; 0 holds out nothing. The frames held out are the same whatever order they came in."""
    sources = [source_of(name) for name in names]
    train, held = split_holdout(len(names), fraction, seed, sources)
    assert sorted(train + held) == list(range(len(names))) and not set(train) & set(held)
    assert (train, held) == split_holdout(len(names), fraction, seed, sources)
    assert not {sources[i] for i in train} & {sources[i] for i in held}, "a source on both sides"
    if fraction == 0 or len(set(sources)) == 1:
        assert held == []
    else:
        assert held and train, "nothing held out, or every source"
        # "each that keeps the held-out frames within the share, then, if they fall short, the one
        # source that brings them closest": past the share only by one source, taken because it
        # ends nearer the share than the frames held without it (or because none was held)
        target, n_held = max(1, round(len(names) * fraction)), len(held)
        sizes = Counter(sources[i] for i in held).values()
        assert n_held <= target or any(n_held - m <= target and (n_held == m or n_held - target < target - (n_held - m))
                                       for m in sizes), (n_held, target, sorted(sizes))
    shuffled = names[:]
    order.shuffle(shuffled)
    _, held_again = split_holdout(len(names), fraction, seed, [source_of(name) for name in shuffled])
    assert sorted(shuffled[i] for i in held_again) == sorted(names[i] for i in held)


BAD = ("sizes", "label value", "truncated image", "truncated mask", "not an image", "twin name", "empty")


@PROPERTIES
@given(bad=st.sampled_from(BAD), n=st.integers(1, 4), which=st.integers(0, 3), fmt=st.sampled_from(["png", "nifti"]),
       value=st.integers(4, 65535), cut=st.floats(0.0, 1.0), delta=st.tuples(st.integers(0, 3), st.integers(0, 3)))
def test_a_bad_pair_is_one_line_naming_its_file_and_the_reason(bad, n, which, fmt, value, cut, delta) -> None:
    """docs/model.md: "Refused as well, naming the file": mismatched sizes, mask values other than
    0-3 (the values found are said), a file that cannot be decoded, two files of one name; an
    empty folder has no frames."""
    ext = ".png" if fmt == "png" else ".nii.gz"
    with tempfile.TemporaryDirectory() as tmp:
        root = _folders(Path(tmp))
        for k in range(0 if bad == "empty" else n):
            for folder, frame in zip(("images", "masks"), small_pair(k)):
                write_any(root / folder / f"f{k}{ext}", frame)
        k = which % n
        image, mask = root / "images" / f"f{k}{ext}", root / "masks" / f"f{k}{ext}"
        if bad == "empty":
            culprit, reason = root / "images", "no annotated PNG or NIfTI images found"
        elif bad == "sizes":
            if delta == (0, 0):  # (larger, not smaller: a NIfTI frame under 32 px is refused as another axis order)
                delta = (1, 0)
            labels = np.zeros((32 + delta[0], 40 + delta[1]), np.uint8)
            labels[5:25, 5:30] = OVARY
            write_any(mask, labels)
            culprit, reason = mask, r"mask \(.*\) and image \(.*\) differ in size"
        elif bad == "label value":
            labels = small_pair(k)[1].astype(np.uint16)
            labels[which, which] = value if fmt == "nifti" or value < 256 else value % 252 + 4
            write_any(mask, labels if labels.max() > 255 else labels.astype(np.uint8))
            culprit, reason = mask, rf"mask values must be 0, 1 .*; found 0, 1, 2, {labels.max()}\."
        elif bad.startswith("truncated"):
            culprit = image if bad == "truncated image" else mask
            data = culprit.read_bytes()
            # (a PNG cut in its last 20 bytes, the end chunk, a CRC and the zlib checksum, still holds
            # every pixel and reads whole: a NIfTI's gzip cut so is refused, but a cut that deep is no damage)
            culprit.write_bytes(data[: int(cut * (len(data) - 21))])
            reason = "cannot read"
        elif bad == "not an image":
            culprit = image if which % 2 else mask
            culprit.write_text("name,spacing_row_mm\n")  # a spreadsheet saved under the frame's name
            reason = "cannot read"
        else:  # twin name: the same frame as PNG and NIfTI, or with an upper-case extension
            culprit = root / "images" / f"f{k}{'.PNG' if fmt == 'png' else '.png'}"
            write_any(culprit, small_pair(k)[0])
            reason = f"same name 'f{k}'"
        with pytest.raises(RejectedInput) as raised:
            read_pairs(root)
    error = raised.value
    assert "\n" not in str(error)
    assert error.path == str(culprit) or (bad == "twin name" and error.path in (str(culprit), str(image)))
    assert re.search(reason, error.reason), error.reason


@settings(max_examples=15)  # (DICOM writing and ingestion: slow; ingestion reads regions of 64 px up)
@given(frame=frames(min_side=64, max_side=110).filter(lambda f: FOLLICLE in f["labels"]))
def test_export_pairs_writes_the_region_crop_a_run_read_and_its_map_as_a_pair(frame) -> None:
    """docs/model.md "Starting from the pipeline's own maps": images/<sop>_<frame>.png (the grey frame
    cropped to the region), masks/<sop>_<frame>.png (the run's labels on the same crop) and
    spacing.csv (calibrated sources only), read back by train --data as the frame and map written."""
    from script_module import load_script

    with tempfile.TemporaryDirectory() as tmp:
        sources, run, out = Path(tmp) / "study", Path(tmp) / "run", Path(tmp) / "pairs"
        sources.mkdir()
        (run / "masks").mkdir(parents=True)
        sop, labels = write_dicom_pair(sources, frame)
        (sources / "seg.dcm").unlink()
        Image.fromarray(labels).save(run / "masks" / f"{sop}_0.png")  # as run --save-masks: the source-frame grid
        script = load_script("export_pairs")
        assert script.export(run, script.sources_by_sop([sources]), out, say=lambda line: None) == 1
        ((name, pixels, got, *spacing),) = read_pairs(out)
    assert name == f"{sop}_0"
    np.testing.assert_array_equal(pixels, frame["pixels"])
    np.testing.assert_array_equal(got, frame["labels"])
    assert tuple(spacing) == frame["spacing"]
