"""Reading annotated frames for training: what is refused, what is said, how frames are grouped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from follicle_seg.errors import RejectedInput
from follicle_seg.model.data import read_image_pairs
from follicle_seg.model.dicom_pairs import segment_class
from follicle_seg.types import FOLLICLE, OVARY


def test_a_known_segment_code_wins_over_its_label() -> None:
    assert segment_class("15497006", "SCT", "Left ovary with follicles") == OVARY
    assert segment_class("24162005", "SCT", "follicle in the ovary") == FOLLICLE
    assert segment_class("T-1234", "99X", "Left ovary") == OVARY  # an unknown code: the label says
    assert segment_class("T-1234", "99X", "Follicle 3") == FOLLICLE


def test_a_generic_code_is_read_by_its_label() -> None:
    """3D Slicer's generic "Tissue" (SCT 85756007): "Left ovary with follicles" was read as a
    follicle and "Ovarian tissue" as nothing; then "Right ovary follicle 1" as an ovary and
    "Ovarian cyst" as part of it."""
    tissue = ("85756007", "SCT")
    assert segment_class(*tissue, "Left ovary with follicles") == OVARY
    assert segment_class(*tissue, "Ovarian tissue") == OVARY
    assert segment_class(*tissue, "Both ovaries") == OVARY
    assert segment_class(*tissue, "Ovarian follicle 2") == FOLLICLE
    assert segment_class(*tissue, "Follicle 1") == FOLLICLE
    assert segment_class(*tissue, "Uterus") is None
    assert segment_class(*tissue, "Right ovary follicle 1") == FOLLICLE
    assert segment_class(*tissue, "Ovary + follicles") == OVARY
    assert segment_class(*tissue, "Ovarian cyst") is None and segment_class(*tissue, "Paraovarian cyst") is None


def _pair_dir(root: Path, n: int = 2, spacing: str | None = None) -> Path:
    """``n`` PNG pairs ``f0``, ``f1``, ... of a toy frame: grey image, labels 0-2."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        pixels, labels = _toy(i)
        Image.fromarray(pixels).save(root / "images" / f"f{i}.png")
        Image.fromarray(labels).save(root / "masks" / f"f{i}.png")
    if spacing is not None:
        (root / "spacing.csv").write_text(spacing, encoding="utf-8")
    return root


def _toy(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.zeros((40, 50), np.uint8)
    labels[10:30, 10:40] = 1
    labels[15:25, 20:30] = 2
    return rng.integers(0, 200, (40, 50)).astype(np.uint8), labels


def test_a_16_bit_image_is_rescaled_not_clipped(tmp_path: Path) -> None:
    root = _pair_dir(tmp_path, 1)
    pixels = np.asarray(Image.open(root / "images" / "f0.png"))
    wide = pixels.astype(np.uint16) * 16 + 5  # 12-bit values in a 16-bit PNG
    Image.fromarray(wide).save(root / "images" / "f0.png")
    ((_, grey, *_),) = read_image_pairs(root)
    expected = np.round((wide - wide.min()) / (wide.max() - wide.min()) * 255)
    np.testing.assert_array_equal(grey, expected)  # convert("L") once clipped every value above 255
    small = pixels.astype(np.uint16)  # a 16-bit file of values 0-255: kept as they are
    Image.fromarray(small).save(root / "images" / "f0.png")
    np.testing.assert_array_equal(read_image_pairs(root)[0][1], pixels)


def test_a_palette_mask_is_read_by_its_indices(tmp_path: Path) -> None:
    root = _pair_dir(tmp_path, 1)
    labels = np.asarray(Image.open(root / "masks" / "f0.png"))
    indexed = Image.fromarray(labels, mode="P")  # GIMP's indexed mode: black, red, green
    indexed.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 253 * 3)
    indexed.save(root / "masks" / "f0.png")
    np.testing.assert_array_equal(read_image_pairs(root)[0][2], labels)
    grey = Image.fromarray(labels, mode="P")  # a grey palette in another order: its grey levels count
    grey.putpalette([0, 0, 0, 2, 2, 2, 1, 1, 1] + [0] * 253 * 3)
    grey.save(root / "masks" / "f0.png")
    np.testing.assert_array_equal(read_image_pairs(root)[0][2], np.array([0, 2, 1])[labels])


def test_an_rgb_mask_is_read_only_when_its_channels_agree(tmp_path: Path) -> None:
    root = _pair_dir(tmp_path, 1)
    labels = np.asarray(Image.open(root / "masks" / "f0.png"))
    Image.fromarray(np.stack([labels] * 3, -1)).save(root / "masks" / "f0.png")
    np.testing.assert_array_equal(read_image_pairs(root)[0][2], labels)
    red = np.zeros(labels.shape + (3,), np.uint8)
    red[..., 0] = labels  # labels painted into the red channel: luminance once made them 0
    Image.fromarray(red).save(root / "masks" / "f0.png")
    with pytest.raises(RejectedInput, match="colour mask"):
        read_image_pairs(root)


def test_a_corrupt_png_is_refused_naming_it(tmp_path: Path) -> None:
    root = _pair_dir(tmp_path)
    (root / "masks" / "f1.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(RejectedInput, match=r"f1\.png: cannot read the image"):
        read_image_pairs(root)


def test_an_image_and_mask_named_alike_but_for_case_are_refused_saying_so(tmp_path: Path) -> None:
    root = _pair_dir(tmp_path)
    (root / "masks" / "f1.png").rename(root / "masks" / "F1.png")
    with pytest.raises(RejectedInput, match=r"F1\.png: no image F1\.png.*\(f1\.png is there: names are matched with their case\)"):
        read_image_pairs(root)


@pytest.mark.parametrize("shape", [(2, 200), (200, 31), (1, 1)])
def test_a_png_frame_under_32_px_on_a_side_is_refused_naming_it(tmp_path: Path, shape: tuple[int, int]) -> None:
    """A 2 x 200 px strip, read at the assumed scale, was scaled to 233 x 23333 px and trained on."""
    root = _pair_dir(tmp_path)
    Image.fromarray(np.zeros(shape, np.uint8)).save(root / "images" / "f1.png")
    Image.fromarray(np.ones(shape, np.uint8)).save(root / "masks" / "f1.png")
    with pytest.raises(RejectedInput, match=rf"f1\.png: a frame of {shape[0]} x {shape[1]} px: no scan is under 32 px"):
        read_image_pairs(root)


@pytest.mark.parametrize(
    "text, message",
    [
        ("name;row;col\nf0;0.1;0.1\n", r"spacing\.csv: line 1: the header must name the columns"),
        ("name,spacing_row_mm,spacing_col_mm\nf0,0.2,0.2\nf1,abc,0.1\n", r"spacing\.csv: line 3: .* not a pair of numbers"),
        ("name,spacing_row_mm,spacing_col_mm\nf0,0,0\n", r"spacing\.csv: line 2: pixel size 0 x 0 mm"),
        ("name,spacing_row_mm,spacing_col_mm\nf0,-1,0.1\n", r"line 2: .*expected 0\.01-2 mm"),
        ("name,spacing_row_mm,spacing_col_mm\nf0,0.2,0.2\nf0,0.3,0.3\n", r"line 3: 'f0' is given twice"),
    ],
)
def test_a_bad_spacing_csv_is_one_line_naming_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RejectedInput, match=message):
        read_image_pairs(_pair_dir(tmp_path, spacing=text))


def test_spacing_csv_names_may_carry_the_extension_and_must_name_a_frame(tmp_path: Path) -> None:
    """A name with its extension, or a typo, was passed over: the frame fell back to the assumed depth unsaid."""
    text = "name,spacing_row_mm,spacing_col_mm\nf0.png,0.2,0.25\nF1.PNG,0.3,0.3\n"
    with pytest.raises(RejectedInput, match=r"spacing\.csv: line 3: 'F1' matches no image in images/"):
        read_image_pairs(_pair_dir(tmp_path / "a", spacing=text))
    pairs = read_image_pairs(_pair_dir(tmp_path / "b", spacing=text.replace("F1.PNG", "f1.nii.gz")))
    assert [p[3:] for p in pairs] == [(0.2, 0.25), (0.3, 0.3)]
    typo = "name,spacing_row_mm,spacing_col_mm\nf0,0.2,0.2\nf01,0.2,0.2\nf2,0.2,0.2\n"
    with pytest.raises(RejectedInput, match=r"spacing\.csv: line 3: 'f01' matches no image in images/ \(and 1 more\): .*delete the line"):
        read_image_pairs(_pair_dir(tmp_path / "c", spacing=typo))


def test_a_spacing_csv_from_a_spreadsheet_is_read(tmp_path: Path) -> None:
    text = "\ufeffname, spacing_row_mm, spacing_col_mm\r\nf0,0.2,0.25\r\n"  # Excel's BOM, spaces after commas
    assert read_image_pairs(_pair_dir(tmp_path, spacing=text))[0][3:] == (0.2, 0.25)


def test_unpaired_and_lossy_masks_and_twin_names_are_refused(tmp_path: Path) -> None:
    root = _pair_dir(tmp_path / "a")
    (root / "images" / "f1.png").unlink()  # a mask without its image was once passed over
    with pytest.raises(RejectedInput, match=r"masks/f1\.png: no image f1"):
        read_image_pairs(root)
    root = _pair_dir(tmp_path / "b")
    Image.open(root / "images" / "f1.png").save(root / "images" / "f2.jpg")
    Image.open(root / "masks" / "f1.png").save(root / "masks" / "f2.jpg")
    with pytest.raises(RejectedInput, match=r"f2\.jpg: a JPEG mask"):
        read_image_pairs(root)
    (root / "masks" / "f2.jpg").rename(root / "masks" / "f2.png")  # a JPEG image is read, its PNG mask too
    assert [name for name, *_ in read_image_pairs(root)] == ["f0", "f1", "f2"]
    Image.open(root / "images" / "f1.png").save(root / "images" / "f1.jpg")
    with pytest.raises(RejectedInput, match="same name 'f1'"):
        read_image_pairs(root)
    root = _pair_dir(tmp_path / "c")
    (root / "images" / "._f0.png").write_bytes(b"\x00\x05\x16\x07")  # macOS's resource fork, copied beside it
    assert [name for name, *_ in read_image_pairs(root)] == ["f0", "f1"]


def test_follicles_drawn_without_their_ovary_are_refused_naming_the_file_and_frame(tmp_path: Path) -> None:
    """A mask of follicles alone (the ovary not outlined) was trained on in silence, teaching that
    the stroma around them is background; a DICOM SEG of follicle segments alone was refused."""
    import nibabel as nib

    root = _pair_dir(tmp_path / "png")
    labels = np.asarray(Image.open(root / "masks" / "f1.png")).copy()
    labels[labels == OVARY] = 0
    Image.fromarray(labels).save(root / "masks" / "f1.png")
    with pytest.raises(RejectedInput, match=r"masks/f1\.png: follicles \(2\) without an ovary \(1 or 3\) in it:"):
        read_image_pairs(root)
    Image.fromarray(np.where(labels == FOLLICLE, 3, 0).astype(np.uint8)).save(root / "masks" / "f1.png")
    assert len(read_image_pairs(root)) == 2  # an outline alone (3) is an ovary
    root = tmp_path / "stack"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    frames = np.stack([_toy(k)[0] for k in range(3)])
    stack = np.stack([_toy(k)[1] for k in range(3)])
    stack[2][stack[2] == OVARY] = 0
    for folder, data in (("images", frames), ("masks", stack)):
        nib.save(nib.Nifti1Image(np.ascontiguousarray(np.transpose(data, (2, 1, 0))), np.eye(4)),
                 str(root / folder / "s.nii.gz"))
    with pytest.raises(RejectedInput, match=r"masks/s\.nii\.gz: follicles \(2\) without an ovary \(1 or 3\) in its frame s_2:"):
        read_image_pairs(root)


def test_an_animated_png_of_several_frames_is_refused_naming_it(tmp_path: Path) -> None:
    """A 5-frame animated PNG (a cine saved by a viewer) was read as its first frame in silence,
    whichever frame the mask outlines."""
    root = _pair_dir(tmp_path)
    frames = [Image.fromarray(_toy(k)[0]) for k in range(5)]
    frames[0].save(root / "images" / "f1.png", save_all=True, append_images=frames[1:])
    with pytest.raises(RejectedInput, match=r"images/f1\.png: an animated PNG of 5 frames: one frame per PNG file"):
        read_image_pairs(root)


def test_sub_folders_and_files_of_other_kinds_are_named_not_passed_over_unsaid(tmp_path: Path) -> None:
    """A site's images/p1/*.png (one folder per patient) and a .tif pair were left out in silence:
    a folder of sub-folders only said "no annotated PNG or NIfTI images found"; hidden files
    (macOS's ._NAME.png) stay unsaid."""
    from typer.testing import CliRunner

    from follicle_seg.cli import app
    from follicle_seg.model.data import passed_over

    root = _pair_dir(tmp_path / "d", n=3)
    for folder in ("images", "masks"):
        (root / folder / "p1").mkdir()
        Image.fromarray(_toy(5)[folder == "masks"]).save(root / folder / "p1" / "g0.png")
        Image.fromarray(_toy(6)[folder == "masks"]).save(root / folder / "f9.tif")
        (root / folder / "._f0.png").write_bytes(b"\x00\x05\x16\x07")
    assert passed_over(root).startswith("passed over images/f9.tif, images/p1/, masks/f9.tif, masks/p1/ (frames")
    assert len(read_image_pairs(root)) == 3
    (root / "spacing.csv").write_text("name,spacing_row_mm,spacing_col_mm\n" + "".join(f"f{k},0.2,0.2\n" for k in range(3)))
    result = CliRunner().invoke(app, ["evaluate", "--data", str(root), "--device", "cpu", "--no-baseline"],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert (f"warning: --data {root}: passed over images/f9.tif, images/p1/, masks/f9.tif, masks/p1/ (frames are "
            "read from images/ and masks/ themselves, as PNG, JPEG or NIfTI files).") in result.output
    for k in range(3):
        for folder in ("images", "masks"):
            (root / folder / f"f{k}.png").unlink()
    (root / "spacing.csv").unlink()
    with pytest.raises(RejectedInput, match=r"images: no annotated PNG or NIfTI images found; passed over "
                                            r"images/f9\.tif, images/p1/, masks/f9\.tif, masks/p1/ \(frames are read"):
        read_image_pairs(root)
