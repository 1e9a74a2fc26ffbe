"""NIfTI images and masks as fine-tuning data: orientation, stacks, pixel size, refusals, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from follicle_seg.errors import RejectedInput
from follicle_seg.model.cli import train_command
from follicle_seg.model.data import read_image_pairs, read_pairs
from toy_frames import toy_frame  # tests/ is on sys.path


def _save(path: Path, frames: np.ndarray, zooms: tuple[float, float] = (1.0, 1.0), unit: str = "unknown") -> None:
    """Frames ``(n, rows, columns)`` or one ``(rows, columns)`` written in ITK's index order."""
    data = np.transpose(frames, (2, 1, 0)) if frames.ndim == 3 else frames.T
    image = nib.Nifti1Image(np.ascontiguousarray(data), np.diag([*zooms, 1.0, 1.0]))
    image.header.set_xyzt_units(xyz=unit)
    nib.save(image, str(path))


def _folders(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    return root


def test_a_stacks_frame_named_as_another_file_is_refused_naming_both(tmp_path: Path) -> None:
    """A stack ``img`` gives frames ``img_0``, ``img_1``: beside a file img_0.png there were two
    frames of one name."""
    frames = [toy_frame(i) for i in range(2)]
    root = _folders(tmp_path / "s")
    _save(root / "images" / "img.nii.gz", np.stack([p for p, _ in frames]))
    _save(root / "masks" / "img.nii.gz", np.stack([lab for _, lab in frames]))
    Image.fromarray(frames[0][0]).save(root / "images" / "img_0.png")
    Image.fromarray(frames[0][1]).save(root / "masks" / "img_0.png")
    with pytest.raises(RejectedInput, match=r"its frame img_0 has the name of the frame of img.*: rename one of them"):
        read_image_pairs(root)


def test_a_2d_nifti_pair_reads_as_its_png_twin_with_the_headers_pixel_size(tmp_path: Path) -> None:
    pixels, labels = toy_frame(0)
    pixels[:10, :20] = 255  # a corner marks the orientation: row 0 at the top, column 0 at the left
    root = _folders(tmp_path / "n")
    _save(root / "images" / "f0.nii.gz", pixels, zooms=(0.25, 0.2), unit="mm")  # columns, rows
    _save(root / "masks" / "f0.nii", labels, zooms=(0.25, 0.2), unit="mm")  # on the image's grid, as tools save it
    png = _folders(tmp_path / "p")
    Image.fromarray(pixels).save(png / "images" / "f0.png")
    Image.fromarray(labels).save(png / "masks" / "f0.png")

    ((name, got_pixels, got_labels, row_mm, col_mm),) = read_pairs(root)
    ((_, png_pixels, png_labels, *_),) = read_image_pairs(png)
    assert name == "f0" and (row_mm, col_mm) == pytest.approx((0.2, 0.25))
    assert got_pixels.dtype == np.uint8 and np.array_equal(got_pixels, png_pixels)
    assert np.array_equal(got_labels, png_labels) and got_labels.shape == (120, 150)
    assert got_pixels[:10, :20].min() == 255 and got_pixels[-10:, -20:].max() < 255


def test_a_3d_stack_gives_its_annotated_slices_and_spacing_csv_wins(tmp_path: Path) -> None:
    frames = [toy_frame(i) for i in range(3)]
    pixels = np.stack([p for p, _ in frames]).astype(np.float32) * 4.0 + 1000.0  # not 8-bit: stretched
    labels = np.stack([lab for _, lab in frames])
    labels[1] = 0  # slice 1 was not annotated
    root = _folders(tmp_path / "s")
    _save(root / "images" / "sweep.nii.gz", pixels, zooms=(0.3, 0.3), unit="mm")
    _save(root / "masks" / "sweep.nii.gz", labels.astype(np.int16), zooms=(0.3, 0.3), unit="mm")
    _save(root / "images" / "other.nii.gz", frames[0][0], zooms=(0.001, 0.001), unit="meter")
    _save(root / "masks" / "other.nii.gz", frames[0][1], zooms=(0.001, 0.001), unit="meter")
    (root / "spacing.csv").write_text("name,spacing_row_mm,spacing_col_mm\nsweep,0.21,0.22\n")

    pairs = read_image_pairs(root)
    assert [p[0] for p in pairs] == ["other", "sweep_0", "sweep_2"]
    assert pairs[0][3:] == pytest.approx((1.0, 1.0))  # metres in the header, read as mm
    assert pairs[1][3:] == (0.21, 0.22) and pairs[2][3:] == (0.21, 0.22)
    assert np.array_equal(pairs[2][2], frames[2][1])
    stretched = pairs[2][1].astype(int)
    assert stretched.min() >= 0 and stretched.max() <= 255
    # the stretch is one map for the whole file: grey order is kept within and across slices
    order = np.argsort(frames[2][0].ravel(), kind="stable")
    assert np.all(np.diff(stretched.ravel()[order]) >= 0)


@pytest.mark.parametrize("layout", ["RGB24", "vector"])
def test_colour_nifti_images_read_as_the_grey_of_their_png_twin(tmp_path: Path, layout: str) -> None:
    pixels, labels = toy_frame(3)
    rgb = np.stack([pixels, pixels // 2, 255 - pixels], axis=-1)  # (rows, columns, 3)
    root = _folders(tmp_path / layout)
    itk = np.ascontiguousarray(rgb.transpose(1, 0, 2))  # (columns, rows, 3)
    if layout == "RGB24":
        data = np.zeros(itk.shape[:2], dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
        for k, channel in enumerate("RGB"):
            data[channel] = itk[..., k]
    else:  # ITK's vector image: (columns, rows, 1, 1, 3)
        data = itk[:, :, None, None, :]
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(root / "images" / "c.nii.gz"))
    _save(root / "masks" / "c.nii.gz", labels)
    ((_, grey, got_labels, *_),) = read_image_pairs(root)
    expected = np.asarray(Image.fromarray(rgb).convert("L")).astype(int)
    assert np.abs(grey.astype(int) - expected).max() <= 1 and np.array_equal(got_labels, labels)


def test_unknown_units_give_no_pixel_size(tmp_path: Path) -> None:
    root = _folders(tmp_path / "u")
    pixels, labels = toy_frame(1)
    _save(root / "images" / "f.nii", pixels, zooms=(0.2, 0.2))  # nibabel's default: unit unknown
    _save(root / "masks" / "f.nii", labels, zooms=(0.2, 0.2))
    assert read_image_pairs(root)[0][3:] == (None, None)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("label 4", "mask values must be 0, 1"),
        ("label 1.5", "mask values must be 0, 1"),
        ("shape", "differ in size"),
        ("garbage", "cannot read as NIfTI"),
        ("spacing", "pixel size 100 x 100 mm"),
        ("4-D", "4-D data"),
        ("no mask", "no mask f.png or f.nii"),
    ],
)
def test_bad_nifti_pairs_are_refused_naming_the_file_and_the_reason(tmp_path: Path, case: str, message: str) -> None:
    root = _folders(tmp_path / "bad")
    pixels, labels = toy_frame(2)
    image, mask = root / "images" / "f.nii.gz", root / "masks" / "f.nii.gz"
    _save(image, pixels)
    _save(mask, labels)
    if case == "label 4":
        _save(mask, np.where(labels == 2, 4, labels))
    elif case == "label 1.5":
        _save(mask, labels.astype(np.float32) * 0.75)
    elif case == "shape":
        _save(mask, labels[:-1])
    elif case == "garbage":
        image.write_bytes(b"not a nifti file" * 40)
    elif case == "spacing":
        _save(image, pixels, zooms=(0.1, 0.1), unit="meter")
    elif case == "4-D":
        _save(image, np.stack([np.stack([pixels, pixels])] * 2))  # (2, 2, rows, columns)
    elif case == "no mask":
        mask.unlink()
    with pytest.raises(RejectedInput, match=message) as raised:
        read_image_pairs(root)
    assert str(root) in str(raised.value)


def test_train_command_fine_tunes_from_nifti_pairs(tmp_path: Path) -> None:
    root = _folders(tmp_path / "data")
    for i in range(4):
        pixels, labels = toy_frame(i)
        _save(root / "images" / f"f{i}.nii.gz", pixels, zooms=(0.25, 0.2), unit="mm")
        _save(root / "masks" / f"f{i}.nii.gz", labels, zooms=(0.25, 0.2), unit="mm")
    app = typer.Typer()
    app.command()(train_command)
    result = CliRunner().invoke(app, ["--data", str(root), "--out", str(tmp_path / "out"), "--max-steps", "2",
                                      "--batch-size", "2", "--crop", "64", "--val-every", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "train_report.json").read_text())
    assert report["n_train"] == 3 and report["n_val"] == 1


def _deep_frame() -> tuple[np.ndarray, np.ndarray]:
    """A 550 x 300 px frame: 55 cm deep at 1 mm/pixel, 6.4 cm at 0.117 mm."""
    pixels = np.random.default_rng(0).integers(20, 200, (550, 300)).astype(np.uint8)
    labels = np.zeros_like(pixels)
    labels[200:350, 80:220], labels[250:300, 120:170] = 1, 2
    return pixels, labels


def test_a_header_pixel_size_that_makes_the_frame_too_deep_is_refused_unless_spacing_csv_gives_it(tmp_path: Path) -> None:
    """A converter's default of 1 mm/pixel made a 550-row frame 55 cm deep: Dice 0.05, diameters -23 mm, unsaid."""
    root = _folders(tmp_path / "d")
    pixels, labels = _deep_frame()
    _save(root / "images" / "f.nii.gz", pixels, zooms=(1.0, 1.0), unit="mm")
    _save(root / "masks" / "f.nii.gz", labels, zooms=(1.0, 1.0), unit="mm")
    with pytest.raises(RejectedInput, match=r"images/f\.nii\.gz: pixel size 1 x 1 mm in its header .*55 cm deep.*"
                                            r"spacing\.csv") as raised:
        read_image_pairs(root)
    assert "\n" not in str(raised.value)
    (root / "spacing.csv").write_text("name,spacing_row_mm,spacing_col_mm\nf,0.117,0.117\n")  # the true size wins
    assert read_image_pairs(root)[0][3:] == (0.117, 0.117)
    (root / "spacing.csv").write_text("name,spacing_row_mm,spacing_col_mm\nf,0.6,0.117\n")  # within 0.01-2 mm, too deep
    with pytest.raises(RejectedInput, match=r"spacing\.csv: line 2: pixel size 0\.6 x 0\.117 mm of 'f'.*33 cm deep"):
        read_image_pairs(root)


def test_a_stack_saved_in_numpy_order_is_refused_saying_the_expected_axis_order(tmp_path: Path) -> None:
    """(n, rows, columns) written straight from numpy read as hundreds of 4-px strips, and trained."""
    root = _folders(tmp_path / "d")
    frames = [toy_frame(i) for i in range(4)]
    for folder, stack in (("images", np.stack([p for p, _ in frames])), ("masks", np.stack([m for _, m in frames]))):
        nib.save(nib.Nifti1Image(np.ascontiguousarray(stack), np.eye(4)), str(root / folder / "sweep.nii.gz"))
    with pytest.raises(RejectedInput, match=r"images/sweep\.nii\.gz: 150 frame\(s\) of 120 x 4 px .*columns first, "
                                            r"then rows, then frames.*np\.transpose"):
        read_image_pairs(root)
    # a long sweep in ITK's order holds more frames than rows and columns: read (it was refused)
    long, outline = np.full((40, 50, 300), 90, np.uint8), np.zeros((40, 50, 300), np.uint8)
    outline[10:30, 10:40] = 1  # an ovary on every frame
    for folder, data in (("images", long), ("masks", outline)):
        nib.save(nib.Nifti1Image(data, np.eye(4)), str(root / folder / "sweep.nii.gz"))
    assert len(read_image_pairs(root)) == 300


@pytest.mark.parametrize("case", ["flipped", "pixel size"])
def test_a_mask_of_other_geometry_than_its_image_is_refused_naming_both(tmp_path: Path, case: str) -> None:
    """A mask flipped with an affine that flips it back, or of another pixdim, was read misaligned."""
    root = _folders(tmp_path / "d")
    pixels, labels = toy_frame(0)
    _save(root / "images" / "f.nii.gz", pixels, zooms=(0.2, 0.2), unit="mm")
    if case == "flipped":
        affine = np.diag([-0.2, 0.2, 1.0, 1.0])
        affine[0, 3] = (labels.shape[1] - 1) * 0.2  # the same voxels in space
        image = nib.Nifti1Image(np.ascontiguousarray(labels[:, ::-1].T), affine)
        image.header.set_xyzt_units(xyz="mm")
        nib.save(image, str(root / "masks" / "f.nii.gz"))
    else:
        _save(root / "masks" / "f.nii.gz", labels, zooms=(0.5, 0.5), unit="mm")
    with pytest.raises(RejectedInput, match=r"masks/f\.nii\.gz: its voxels .* lie up to .* from its image f\.nii\.gz's"):
        read_image_pairs(root)


def test_a_mask_whose_affine_differs_by_rounding_only_is_read(tmp_path: Path) -> None:
    """One file's affine from its sform, the other's from its qform, differ in the last digits:
    their voxels lie in the same place (raw affine numbers compared refused the pair, printing two
    identical-looking affines)."""
    root = _folders(tmp_path / "d")
    pixels, labels = toy_frame(0)
    for folder, frame, shift in (("images", pixels, 0.0), ("masks", labels, 0.001)):  # 0.001 mm: 0.5 % of a voxel
        affine = np.diag([0.2, 0.2, 1.0, 1.0])
        affine[:3, 3] = (20.0 + shift, -35.2, 4.0)
        image = nib.Nifti1Image(np.ascontiguousarray(frame.T), affine)
        image.header.set_xyzt_units(xyz="mm")
        nib.save(image, str(root / folder / "f.nii.gz"))
    ((name, read, truth, *_),) = read_image_pairs(root)
    assert name == "f" and np.array_equal(truth, labels)
