"""Fine-tuning data from DICOM: source images + DICOM SEG objects read into annotated frames."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import highdicom as hd
import numpy as np
import pydicom
import pytest
import typer
from pydicom.pixels import pack_bits
from pydicom.sr.codedict import codes
from typer.testing import CliRunner

from follicle_seg.errors import RejectedInput
from follicle_seg.io import iter_frames, read_record
from follicle_seg.io.write import write_us_dicom
from follicle_seg.model.cli import evaluate_command, train_command
from follicle_seg.model.data import read_pairs
from follicle_seg.model.dicom_pairs import read_dicom_seg_pairs
from follicle_seg.model.loss import OUTLINE
from follicle_seg.report.dicom_seg import write_seg

ROWS, COLS = 120, 160
REGION = dict(min_col=10, min_row=8, max_col=149, max_row=111, delta_x_mm=0.2, delta_y_mm=0.25)
SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def _source(path: Path, seed: int, *, frames: int = 1, calibrated: bool = True) -> Path:
    pixels = np.random.default_rng(seed).integers(20, 200, (frames, ROWS, COLS)).astype(np.uint8)
    write_us_dicom(path, pixels, patient_id="P1", study_uid=f"1.2.826.0.1.3680043.8.498.7{seed}",
                   series_uid=f"1.2.826.0.1.3680043.8.498.8{seed}", study_date="2026-03-04", laterality="L",
                   regions=[REGION] if calibrated else None)  # fmt: skip
    return path


def _labels(shift: int = 0) -> np.ndarray:
    labels = np.zeros((ROWS, COLS), np.uint8)
    labels[30:90, 40 + shift : 120 + shift] = 1
    labels[45:60, 55 + shift : 70 + shift] = 2
    return labels


def _crop(full: np.ndarray) -> np.ndarray:
    return full[REGION["min_row"] : REGION["max_row"] + 1, REGION["min_col"] : REGION["max_col"] + 1]


def _seg_of(source: Path, out: Path, segments: list[tuple[str, object, np.ndarray]],
            kind: hd.seg.SegmentationTypeValues = hd.seg.SegmentationTypeValues.BINARY) -> Path:
    """A SEG as another tool might write it: the given (label, SCT concept, mask) segments, of
    type ``kind`` (a fractional one takes masks of 0-1)."""
    ds = pydicom.dcmread(source)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=k, segment_label=label, segmented_property_category=codes.SCT.Organ,
            segmented_property_type=concept, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for k, (label, concept, _) in enumerate(segments, start=1)
    ]  # fmt: skip
    seg = hd.seg.Segmentation(
        source_images=[ds], pixel_array=np.stack([m for _, _, m in segments], axis=-1)[None],
        segmentation_type=kind, segment_descriptions=descriptions,
        series_instance_uid=hd.UID(), series_number=5, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="viewer", manufacturer_model_name="v", software_versions="1", device_serial_number="1",
        omit_empty_frames=False,
    )  # fmt: skip
    seg.PatientOrientation = ""
    seg.save_as(out)
    return out


def test_our_seg_on_its_sources_reads_back_as_the_region_labels_and_spacing(tmp_path: Path) -> None:
    for k in range(2):
        write_seg(_source(tmp_path / f"img{k}.dcm", k), _labels(10 * k), tmp_path / f"seg{k}.dcm")
    (tmp_path / "notes.txt").write_text("not DICOM, not an annotation")
    pairs = read_dicom_seg_pairs(tmp_path)
    assert len(pairs) == 2 and [p[0] for p in pairs] == sorted(p[0] for p in pairs)
    by_name = {p[0]: p for p in pairs}
    for k in range(2):
        record = read_record(tmp_path / f"img{k}.dcm")
        name, pixels, labels, row_mm, col_mm = by_name[record.sop_instance_uid]
        np.testing.assert_array_equal(pixels, next(iter_frames(record)).pixels)
        np.testing.assert_array_equal(labels, _crop(_labels(10 * k)))
        assert (row_mm, col_mm) == (0.25, 0.2)
    assert read_pairs(tmp_path)[0][0] == pairs[0][0]  # the folder has no images/ + masks/: DICOM


def test_a_seg_without_preamble_is_read_and_an_unreadable_file_is_said(tmp_path: Path, monkeypatch) -> None:
    """The folder was read with a bare dcmread: a SEG written without the 128-byte preamble was
    passed over, and a file that could not be opened vanished in silence ("no DICOM SEG found")."""
    seg = write_seg(_source(tmp_path / "img.dcm", 0), _labels(), tmp_path / "seg.dcm")
    seg.write_bytes(seg.read_bytes()[132:])  # starts with its file meta group
    assert len(read_dicom_seg_pairs(tmp_path)) == 1
    from follicle_seg.model import dicom_pairs

    def unreadable(path, **kwargs):
        if Path(path).name == "seg.dcm":
            raise PermissionError(13, "Permission denied")
        return pydicom.dcmread(path, **kwargs)

    monkeypatch.setattr(dicom_pairs, "read_dicom", unreadable)
    with pytest.raises(RejectedInput, match="cannot read the file: .*Permission denied") as info:
        read_dicom_seg_pairs(tmp_path)
    assert info.value.path == str(seg)


def test_a_seg_whose_pixel_data_is_cut_short_is_one_line_naming_it(tmp_path: Path) -> None:
    """A SEG copied off a share half-way (its header whole, its pixel data cut short) ended
    `train --data` in a highdicom ValueError traceback ("cannot reshape array ...")."""
    for k in range(2):
        write_seg(_source(tmp_path / f"img{k}.dcm", k), _labels(5 * k), tmp_path / f"seg{k}.dcm")
    seg = tmp_path / "seg1.dcm"
    seg.write_bytes(seg.read_bytes()[:-200])
    with pytest.raises(RejectedInput, match="cannot read the SEG's segments: ") as info:
        read_dicom_seg_pairs(tmp_path)
    assert info.value.path == str(seg)


def test_each_outlined_pane_of_a_dual_display_is_a_pair_of_its_own(tmp_path: Path) -> None:
    left = dict(min_col=0, min_row=0, max_col=79, max_row=ROWS - 1, delta_x_mm=0.2, delta_y_mm=0.2)
    right = dict(left, min_col=80, max_col=COLS - 1, delta_x_mm=0.3, delta_y_mm=0.3)
    pixels = np.random.default_rng(3).integers(20, 200, (1, ROWS, COLS)).astype(np.uint8)
    source = tmp_path / "dual.dcm"
    sop = write_us_dicom(source, pixels, patient_id="P1", study_uid="1.2.826.0.1.3680043.8.498.79",
                         series_uid="1.2.826.0.1.3680043.8.498.89", study_date="2026-03-04", laterality="L",
                         regions=[left, right])  # fmt: skip
    labels = np.zeros((ROWS, COLS), np.uint8)
    labels[30:90, 95:150] = 1  # the second pane outlined, its follicle drawn
    labels[45:60, 105:120] = 2
    write_seg(source, labels, tmp_path / "seg.dcm")
    ((name, got_pixels, got_labels, row_mm, col_mm),) = read_dicom_seg_pairs(tmp_path)  # the first pane: not outlined
    assert name == f"{sop}_pane2" and (row_mm, col_mm) == (0.3, 0.3)
    np.testing.assert_array_equal(got_labels, labels[:, 80:])
    np.testing.assert_array_equal(got_pixels, pixels[0, :, 80:])
    labels[20:50, 10:60] = 1  # and the first pane too
    write_seg(source, labels, tmp_path / "seg.dcm")
    assert [p[0] for p in read_dicom_seg_pairs(tmp_path)] == [sop, f"{sop}_pane2"]


def test_an_ovary_outline_alone_is_label_3_and_other_structures_are_background(tmp_path: Path) -> None:
    source = _source(tmp_path / "img.dcm", 0, calibrated=False)
    ovary = _labels() > 0
    uterus = np.zeros_like(ovary)
    uterus[95:110, 10:40] = True
    _seg_of(source, tmp_path / "seg.dcm", [("Uterus", codes.SCT.Uterus, uterus), ("Left ovary", codes.SCT.Ovary, ovary)])
    ((_, pixels, labels, row_mm, col_mm),) = read_dicom_seg_pairs(tmp_path)
    record = read_record(source)
    c0, r0, c1, r1 = record.region
    np.testing.assert_array_equal(labels, np.where(ovary, OUTLINE, 0)[r0 : r1 + 1, c0 : c1 + 1])
    assert pixels.shape == labels.shape and (row_mm, col_mm) == (None, None)  # found region, no spacing


@pytest.mark.parametrize("kind", ["FRACTIONAL", "LABELMAP"])
def test_fractional_and_label_map_segs_are_read(tmp_path: Path, kind: str) -> None:
    """A fractional SEG (a probability map) crashed the reader with highdicom's ValueError (a bool
    read of rescaled fractions), and a label map SEG (its own SOP class) was not seen: "no DICOM
    SEG objects found". A fractional pixel is in a segment from half the maximum value."""
    labels = _labels()
    ovary = (labels == 1).astype(np.float32)
    if kind == "FRACTIONAL":
        ovary[(ovary == 0) & (np.roll(labels, 3, axis=1) == 1)] = 0.4  # a soft edge, under a half
        ovary[labels == 2] = 0.6  # over a half: the ovary, under the follicle
    follicle = (labels == 2).astype(np.float32)
    _seg_of(_source(tmp_path / "img.dcm", 0), tmp_path / "seg.dcm",
            [("Follicle", codes.SCT.OvarianFollicleStructure, follicle), ("Ovary", codes.SCT.Ovary, ovary)],
            kind=hd.seg.SegmentationTypeValues[kind])  # fmt: skip
    (pair,) = read_dicom_seg_pairs(tmp_path)
    np.testing.assert_array_equal(pair[2], _crop(labels))


def test_segments_named_by_label_alone_count(tmp_path: Path) -> None:
    source = _source(tmp_path / "img.dcm", 0)
    custom = hd.sr.CodedConcept("T-0001", "99LOCAL", "Local structure")
    labels = _labels()
    _seg_of(source, tmp_path / "seg.dcm", [("R ovary", custom, labels > 0), ("Follicle 1", custom, labels == 2)])
    ((_, _, read, _, _),) = read_dicom_seg_pairs(tmp_path)
    np.testing.assert_array_equal(read, _crop(labels))


def test_slicers_generic_tissue_segments_are_read_by_label_and_a_refusal_lists_the_readings(tmp_path: Path) -> None:
    """Slicer's generic SCT 85756007 "Tissue": "Left ovary with follicles" was read as a follicle, and the
    refusal said "outline the ovary too" of a SEG whose ovary was outlined."""
    source = _source(tmp_path / "img.dcm", 0)
    tissue = hd.sr.CodedConcept("85756007", "SCT", "Tissue")
    labels = _labels()
    _seg_of(source, tmp_path / "seg.dcm", [("Left ovary with follicles", tissue, labels > 0),
                                           ("Follicle 1", tissue, labels == 2)])
    ((_, _, read, _, _),) = read_dicom_seg_pairs(tmp_path)
    np.testing.assert_array_equal(read, _crop(labels))
    _seg_of(source, tmp_path / "seg.dcm", [("Follicle 1", tissue, labels == 2), ("Uterus", codes.SCT.Uterus, labels > 0)])
    with pytest.raises(RejectedInput, match=r"follicle segments without an ovary segment: outline the ovary too; its "
                                            r"segments read: 1 'Follicle 1' \(SCT 85756007 'Tissue'\): follicle, "
                                            r"2 'Uterus' \(SCT 35039007 'Uterus'\): neither\.$"):
        read_dicom_seg_pairs(tmp_path)


@pytest.mark.parametrize(
    "case, message",
    [
        ("no seg", "no DICOM SEG objects found"),
        ("follicles only", "follicle segments without an ovary segment"),
        ("nothing known", "no segment is an ovary"),
        ("source missing", "is not in the folder"),
        ("two segs", "keep one SEG per image"),
        ("cine frame unnamed", "has 3 frames and it names none of them"),
        ("cine frame not there", r"has 3 frames and it names none of them \(Referenced Frame Number\): \[7\]"),
    ],
)
def test_unusable_annotations_are_refused_with_the_file_and_reason(tmp_path: Path, case: str, message: str) -> None:
    source = _source(tmp_path / "img.dcm", 0)
    labels = _labels()
    if case == "follicles only":
        _seg_of(source, tmp_path / "seg.dcm", [("Follicle", codes.SCT.OvarianFollicleStructure, labels == 2)])
    elif case == "nothing known":
        _seg_of(source, tmp_path / "seg.dcm", [("Uterus", codes.SCT.Uterus, labels > 0)])
    elif case == "source missing":
        write_seg(source, labels, tmp_path / "seg.dcm")
        source.unlink()
    elif case == "two segs":
        write_seg(source, labels, tmp_path / "seg.dcm")
        _seg_of(source, tmp_path / "corrected.dcm", [("Ovary", codes.SCT.Ovary, labels > 0)])
    elif case == "cine frame unnamed":  # a SEG on a cine that does not say which frame it outlines
        source = _source(tmp_path / "img.dcm", 0, frames=3)
        seg = pydicom.dcmread(write_seg(source, labels, tmp_path / "seg.dcm", frame_index=1))
        for item in [*seg.SourceImageSequence, *(d for g in seg.PerFrameFunctionalGroupsSequence
                                                 for d in g.DerivationImageSequence[0].SourceImageSequence)]:  # fmt: skip
            del item.ReferencedFrameNumber
        seg.save_as(tmp_path / "seg.dcm")
    elif case == "cine frame not there":
        source = _source(tmp_path / "img.dcm", 0, frames=3)
        seg = pydicom.dcmread(write_seg(source, labels, tmp_path / "seg.dcm", frame_index=1))
        for group in seg.PerFrameFunctionalGroupsSequence:
            group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber = 7
        seg.save_as(tmp_path / "seg.dcm")
    with pytest.raises(RejectedInput, match=message) as info:
        read_dicom_seg_pairs(tmp_path)
    assert info.value.path == str(tmp_path if case == "no seg" else next(tmp_path.glob("*seg.dcm")))


def test_a_seg_over_several_frames_of_a_cine_gives_a_pair_per_frame(tmp_path: Path) -> None:
    """A viewer's SEG outlining frames 2 and 4 of a cine (one SEG frame per source frame and
    segment, referenced frame by frame) was refused: "it outlines 2 frames ...; one SEG per frame"."""
    source = _source(tmp_path / "cine.dcm", 3, frames=5)
    seg = pydicom.dcmread(write_seg(source, _labels(), tmp_path / "seg.dcm", frame_index=1))
    other = pydicom.dcmread(write_seg(source, _labels(8), tmp_path / "other.dcm", frame_index=3))
    (tmp_path / "other.dcm").unlink()
    seg.PerFrameFunctionalGroupsSequence += list(other.PerFrameFunctionalGroupsSequence)
    bits = np.concatenate([seg.pixel_array, other.pixel_array])
    seg.PixelData, seg.NumberOfFrames = pack_bits(bits.ravel()), len(bits)
    del seg.SourceImageSequence  # the frames' references only
    seg.save_as(tmp_path / "seg.dcm")
    frames = list(iter_frames(read_record(source)))
    pairs = read_dicom_seg_pairs(tmp_path)
    assert [name for name, *_ in pairs] == [f"{frames[0].record.sop_instance_uid}_f{k:03d}" for k in (1, 3)]
    for (_, pixels, labels, *_), k, shift in zip(pairs, (1, 3), (0, 8)):
        np.testing.assert_array_equal(pixels, frames[k].pixels)
        np.testing.assert_array_equal(labels, _crop(_labels(shift)))


def test_a_cine_frame_outlined_with_follicles_but_no_ovary_is_refused_naming_it(tmp_path: Path) -> None:
    """A SEG over several frames of a cine with an ovary segment on one frame only made the other
    frame a pair of follicles outside any ovary (PNG and NIfTI masks are refused for it)."""
    source = _source(tmp_path / "cine.dcm", 3, frames=5)
    seg = pydicom.dcmread(write_seg(source, _labels(), tmp_path / "seg.dcm", frame_index=1))
    other = pydicom.dcmread(write_seg(source, _labels(8), tmp_path / "other.dcm", frame_index=3))
    (tmp_path / "other.dcm").unlink()
    bits = other.pixel_array.copy()
    for k, item in enumerate(other.PerFrameFunctionalGroupsSequence):  # frame 4's ovary segment left empty
        if item.SegmentIdentificationSequence[0].ReferencedSegmentNumber == 1:
            bits[k] = 0
    seg.PerFrameFunctionalGroupsSequence += list(other.PerFrameFunctionalGroupsSequence)
    bits = np.concatenate([seg.pixel_array, bits])
    seg.PixelData, seg.NumberOfFrames = pack_bits(bits.ravel()), len(bits)
    del seg.SourceImageSequence
    seg.save_as(tmp_path / "seg.dcm")
    with pytest.raises(RejectedInput, match=r"seg.dcm: follicles without an ovary on frame 4 of cine.dcm: the ovary segment"):
        read_dicom_seg_pairs(tmp_path)


def test_a_runs_own_seg_with_its_sources_is_fine_tuning_data_matching_its_masks(samples_run: Path, tmp_path: Path) -> None:
    out = samples_run  # data_samples/ run with --save-masks and DICOM SEG/SR (tests/conftest.py)
    data = tmp_path / "corrected"
    data.mkdir()
    for path in SAMPLES.glob("*.dcm"):  # what a PACS export would hold: images, rejected ones too
        shutil.copy(path, data)
    for path in (out / "dicom").glob("*_seg.dcm"):
        shutil.copy(path, data)
    pairs = read_dicom_seg_pairs(data)
    # the six stills and the cine's key frames, each named by its frame
    assert len(pairs) == len(list((out / "dicom").glob("*_seg.dcm"))) > 6
    cine = [name for name, *_ in pairs if "_f" in name]
    assert len(cine) >= 1 and all(re.fullmatch(r"[0-9.]+_f\d{3}", name) for name in cine)
    kept = 0  # follicle pixels the SEGs hold
    for name, pixels, labels, row_mm, _ in pairs:
        sop, _, frame = name.partition("_f")
        record = read_record(next(p for p in SAMPLES.glob("*.dcm") if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID == sop))
        c0, r0, c1, r1 = record.region
        mask = cv2.imread(str(out / "masks" / f"{sop}_{int(frame or 0)}.png"), cv2.IMREAD_UNCHANGED)
        mask = mask[r0 : r1 + 1, c0 : c1 + 1]
        # the SEG's follicles are the reported ones: the network's other follicle pixels (unsure
        # candidates, specks) read as ovary or background there, everything else as the mask
        np.testing.assert_array_equal(labels[mask != 2], mask[mask != 2])
        kept += int((labels[mask == 2] == 2).sum())
        assert pixels.shape == labels.shape and row_mm == record.calibration.spacing_row_mm
        if frame:  # the cine's own frame, as a run reads it
            expected = next(iter_frames(record, start=int(frame), stop=int(frame) + 1)).pixels
            np.testing.assert_array_equal(pixels, expected)
    assert kept > 0


def test_train_and_evaluate_take_a_dicom_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "d").mkdir()
    for k in range(5):
        write_seg(_source(tmp_path / "d" / f"img{k}.dcm", k), _labels(5 * k), tmp_path / "d" / f"seg{k}.dcm")
    seen = {}
    monkeypatch.setattr("follicle_seg.model.train.train",
                        lambda tr, va, out, **kw: seen.update(n_train=len(tr), n_val=len(va)) or
                        {"before": {}, "after": {}, "steps": 0, "minutes": 0.0, "weights": ""})  # fmt: skip
    train = typer.Typer()
    train.command()(train_command)
    args = ["--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"), "--device", "cpu"]
    result = CliRunner().invoke(train, args)
    assert result.exit_code == 0, result.output
    assert seen == {"n_train": 4, "n_val": 1}
    (tmp_path / "empty").mkdir()
    for folder, reason in ((tmp_path / "nowhere", "no such folder."), (tmp_path / "empty", "no DICOM SEG objects found")):
        result = CliRunner().invoke(train, [*args[:1], str(folder), *args[2:]])
        message = " ".join(result.output.replace("│", " ").split())  # rich wraps it in a box
        assert result.exit_code == 2 and f"Invalid value for --data: {folder}: {reason}" in message
        assert "Traceback" not in result.output

    evaluate = typer.Typer()
    evaluate.command()(evaluate_command)
    report = tmp_path / "evaluation.json"
    args = ["--data", str(tmp_path / "d"), "--device", "cpu", "--no-baseline", "--json", str(report)]
    result = CliRunner().invoke(evaluate, args)
    assert result.exit_code == 0, result.output
    network = json.loads(report.read_text())["network"]
    assert network["n_frames"] == 5  # one truth follicle of 15 x 15 px at 0.25 x 0.2 mm each
    assert network["detection"]["tp"] + network["detection"]["fn"] == 5
    assert network["per_size_class"]["2-5"]["fn"] + network["per_size_class"]["2-5"]["tp"] == 5  # in mm


def test_a_pane_of_a_dual_display_outlined_with_follicles_only_is_refused_naming_it(tmp_path: Path) -> None:
    """The check looked at the whole frame: a pane of follicles only passed when the other pane
    held the ovary, and became a pair of follicles outside any ovary."""
    left = dict(min_col=0, min_row=0, max_col=79, max_row=ROWS - 1, delta_x_mm=0.2, delta_y_mm=0.2)
    right = dict(left, min_col=80, max_col=COLS - 1, delta_x_mm=0.3, delta_y_mm=0.3)
    pixels = np.random.default_rng(3).integers(20, 200, (1, ROWS, COLS)).astype(np.uint8)
    source = tmp_path / "dual.dcm"
    write_us_dicom(source, pixels, patient_id="P1", study_uid="1.2.826.0.1.3680043.8.498.79",
                   series_uid="1.2.826.0.1.3680043.8.498.89", study_date="2026-03-04", laterality="L",
                   regions=[left, right])  # fmt: skip
    labels = np.zeros((ROWS, COLS), np.uint8)
    labels[20:50, 10:60] = 1  # pane 1: an ovary
    labels[45:60, 105:120] = 2  # pane 2: a follicle alone
    write_seg(source, labels, tmp_path / "seg.dcm")
    with pytest.raises(RejectedInput, match=r"seg.dcm: follicles without an ovary on dual.dcm \(pane 2\)"):
        read_dicom_seg_pairs(tmp_path)
