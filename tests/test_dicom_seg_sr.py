"""DICOM SEG and SR: dciodvfy-clean, read back by highdicom with the same segments and numbers."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from follicle_seg.artefacts import _drawn
from follicle_seg.io.write import write_us_dicom
from follicle_seg.report.dicom_seg import write_seg
from follicle_seg.report.dicom_sr import follicle_tracking_id, write_sr
from follicle_seg.types import UNCALIBRATED, Calibration, Follicle, ImageRecord, ImageResult, Section

ROWS, COLS = 96, 128
NAME, BIRTH = "Doe^Jane", "19800101"


def _source(path: Path, n_frames: int = 1, *, shape: tuple[int, int] = (ROWS, COLS), photometric: str = "MONOCHROME2",
            laterality: str | None = "L", regions: list[dict] | None = None, **header) -> Path:  # fmt: skip
    """A source image of ``n_frames`` random frames of ``shape`` (RGB ones for a colour
    ``photometric``), its ultrasound ``regions`` (default: one of 0.1 mm pixels), ``header``
    what else :func:`write_us_dicom` takes (``sop_instance_uid``, ``instance_number``)."""
    colour = () if photometric.startswith("MONOCHROME") else (3,)
    frames = np.random.default_rng(0).integers(0, 255, (n_frames, *shape, *colour)).astype(np.uint8)
    if regions is None:
        regions = [dict(min_col=4, min_row=4, max_col=shape[1] - 5, max_row=shape[0] - 5, delta_x_mm=0.1, delta_y_mm=0.1)]
    write_us_dicom(
        path,
        frames,
        patient_id="P0001",
        study_uid="1.2.826.0.1.3680043.8.498.1",
        study_date="2026-01-02",
        series_uid="1.2.826.0.1.3680043.8.498.2",
        laterality=laterality,
        patient_name=NAME,
        regions=regions,
        photometric=photometric,
        **header,
    )
    ds = pydicom.dcmread(path)
    ds.PatientBirthDate = BIRTH
    ds.save_as(path)
    return path


def _labels() -> np.ndarray:
    labels = np.zeros((ROWS, COLS), np.uint8)
    labels[20:80, 20:110] = 1
    labels[30:50, 30:52] = 2
    labels[55:70, 80:95] = 2
    return labels


def _result(source: Path, *, calibrated: bool = True, frame: int = 0) -> ImageResult:
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    n_frames = int(ds.get("NumberOfFrames", 1))
    record = ImageRecord(
        path=str(source),
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        modality="US",
        patient_id="P0001",
        study_instance_uid=str(ds.StudyInstanceUID),
        study_date="2026-01-02",
        series_instance_uid=str(ds.SeriesInstanceUID),
        series_description="",
        laterality="L",
        laterality_source="ImageLaterality",
        n_frames=n_frames,
        rows=ROWS,
        columns=COLS,
        photometric="MONOCHROME2",
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        calibration=Calibration(0.1, 0.1, "ultrasound_region") if calibrated else UNCALIBRATED,
        region=(4, 4, 123, 91),
        region_source="ultrasound_region",
    )
    mm = (lambda v: v) if calibrated else (lambda v: None)
    first = Section(frame, 40, 41, 440, 22.0, 20.0, mm(2.2345), mm(2.0), mm(4.4))
    second = Section(frame, 62, 87, 225, 15.0, 15.0, mm(1.5), mm(1.5), mm(2.25))
    follicles = (
        Follicle(1, record.sop_instance_uid, first, n_frames, None, None),
        Follicle(2, record.sop_instance_uid, second, n_frames, None, mm(0.0021)),
    )
    ovary = Section(frame, 50, 65, 5400, 90.0, 60.0, mm(9.0), mm(6.0), mm(54.0))
    return ImageResult(record, str(source), "ok", follicles=follicles, ovary=ovary, ovary_volume_ml=mm(0.2))


def _outlines(frame: int = 0) -> dict[int, list[tuple[int, np.ndarray]]]:
    def box(c0: int, r0: int, c1: int, r1: int) -> np.ndarray:
        return np.array([[c0, r0], [c1, r0], [c1, r1], [c0, r1]], float)

    return {frame: [(0, box(20, 20, 109, 79)), (1, box(30, 30, 51, 49)), (2, box(80, 55, 94, 69))]}


def _dciodvfy_errors(path: Path) -> list[str]:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, errors="replace", timeout=60)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def _no_identity(path: Path) -> None:
    raw = path.read_bytes()
    assert b"Doe" not in raw and BIRTH.encode() not in raw
    ds = pydicom.dcmread(path)
    assert str(ds.PatientName) == "" and ds.PatientBirthDate == "" and ds.PatientID == "P0001"


@pytest.fixture()
def still(tmp_path: Path) -> Path:
    return _source(tmp_path / "still.dcm")


def test_seg_passes_dciodvfy_and_reads_back_with_the_same_segments(still: Path, tmp_path: Path) -> None:
    labels = _labels()
    seg_path = write_seg(still, labels, tmp_path / "out" / "seg.dcm")
    assert _dciodvfy_errors(seg_path) == []
    seg = hd.seg.segread(seg_path)
    assert seg.number_of_segments == 2
    assert [seg.get_segment_description(i).segment_label for i in (1, 2)] == ["ovary", "follicle"]
    assert seg.get_segment_description(1).segmented_property_type == codes.SCT.Ovary
    assert seg.get_segment_description(2).segmented_property_type == codes.SCT.OvarianFollicleStructure
    source_uid = str(pydicom.dcmread(still, stop_before_pixels=True).SOPInstanceUID)
    assert [uid for _, _, uid in seg.get_source_image_uids()] == [source_uid]
    pixels = seg.get_pixels_by_source_instance([source_uid], segment_numbers=[1, 2])[0]
    assert np.array_equal(pixels[..., 0], labels >= 1)
    assert np.array_equal(pixels[..., 1], labels == 2)
    assert "PatientOrientation" in seg
    _no_identity(seg_path)


def test_seg_uid_is_stable_for_equal_content_and_changes_with_it(still: Path, tmp_path: Path) -> None:
    labels = _labels()
    a = pydicom.dcmread(write_seg(still, labels, tmp_path / "a.dcm"))
    b = pydicom.dcmread(write_seg(still, labels, tmp_path / "b.dcm"))
    labels[0, 0] = 2
    c = pydicom.dcmread(write_seg(still, labels, tmp_path / "c.dcm"))
    assert a.SOPInstanceUID == b.SOPInstanceUID != c.SOPInstanceUID
    # the whole object, not only its UID: highdicom's random Dimension Organization UID made a
    # rerun's SEG other bytes under the same SOP Instance UID
    for ds in (a, b):  # when each was made: the only other difference
        for keyword in ("ContentDate", "ContentTime", "InstanceCreationDate", "InstanceCreationTime"):
            if keyword in ds:
                delattr(ds, keyword)
        for item in ds.get("ContributingEquipmentSequence", []):
            if "ContributionDateTime" in item:
                del item.ContributionDateTime
    assert a == b
    assert a.DimensionOrganizationSequence[0].DimensionOrganizationUID == a.DimensionIndexSequence[0].DimensionOrganizationUID


def test_another_network_gives_other_uids_for_the_same_content(still: Path, tmp_path: Path) -> None:
    """A network 0.4.1 giving the masks of 0.4.0 reused its SEG and SR UIDs: a PACS kept the
    0.4.0 objects and said the 0.4.1 ones were stored."""
    from follicle_seg.types import Network

    uids = []
    for version, weights in (("0.4.0", "aa"), ("0.4.0", "aa"), ("0.4.1", "aa"), ("0.4.0", "bb")):
        network = Network(version, weights, "none")
        seg = write_seg(still, _labels(), tmp_path / f"{version}{weights}.dcm", network=network)
        sr = write_sr(still, _result(still), seg_path=None, outlines=_outlines(), network=network,
                      out_path=tmp_path / f"{version}{weights}_sr.dcm")  # fmt: skip
        uids.append((pydicom.dcmread(seg).SOPInstanceUID, pydicom.dcmread(sr).SOPInstanceUID))
    assert uids[0] == uids[1]
    assert len({u[0] for u in uids[1:]}) == 3 and len({u[1] for u in uids[1:]}) == 3


def test_a_cine_key_frame_gets_a_seg_that_names_the_cine_and_the_frame(tmp_path: Path) -> None:
    cine = _source(tmp_path / "cine.dcm", n_frames=3)
    source = pydicom.dcmread(cine, stop_before_pixels=True)
    labels = _labels()
    paths = [write_seg(cine, labels, tmp_path / f"seg{k}.dcm", frame_index=k) for k in (1, 2)]
    assert _dciodvfy_errors(paths[0]) == []
    seg = pydicom.dcmread(paths[0])
    assert seg.SOPInstanceUID != pydicom.dcmread(paths[1]).SOPInstanceUID  # one object per frame
    references = [seg.SourceImageSequence[0],
                  seg.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]]
    for ref in references:
        assert (ref.ReferencedSOPInstanceUID, ref.ReferencedSOPClassUID, ref.ReferencedFrameNumber) == (
            source.SOPInstanceUID, source.SOPClassUID, 2)  # 1-based: frame index 1
    instance = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert instance.ReferencedSOPClassUID == source.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"
    pixels = hd.seg.segread(paths[0]).get_pixels_by_source_instance([source.SOPInstanceUID], segment_numbers=[1, 2])[0]
    assert np.array_equal(pixels[..., 1], labels == 2)
    _no_identity(paths[0])
    with pytest.raises(ValueError, match="Frame 3 is not a frame of the source"):
        write_seg(cine, labels, tmp_path / "seg.dcm", frame_index=3)


def test_a_seg_says_the_side_of_its_ovary_and_follicles(tmp_path: Path) -> None:
    # an ovary is a paired organ: the SR said the side, the SEG (its series, its segments) did not
    still = _source(tmp_path / "still.dcm")
    left = write_seg(still, _labels(), tmp_path / "left.dcm", laterality="L")
    assert _dciodvfy_errors(left) == []
    for path, meaning in ((left, "Left"), (write_seg(still, _labels(), tmp_path / "right.dcm", laterality="R"), "Right")):
        seg = hd.seg.segread(path)
        for number in (1, 2):
            [modifier] = seg.SegmentSequence[number - 1].SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence
            assert modifier.CodeMeaning == meaning
    unknown = pydicom.dcmread(write_seg(still, _labels(), tmp_path / "u.dcm", laterality="U"))
    assert "SegmentedPropertyTypeModifierCodeSequence" not in unknown.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0]
    assert len({pydicom.dcmread(tmp_path / f).SOPInstanceUID for f in ("left.dcm", "right.dcm", "u.dcm")}) == 3


def test_a_reviewed_sr_is_final_and_a_pseudonymised_one_names_no_reviewer(tmp_path: Path) -> None:
    # a pseudonymised run names no person (docs/reliability.md): the reviewers' names were kept
    still = _source(tmp_path / "still.dcm")
    for pseudonymised, names in ((False, ["Zoë Müller", "AB"]), (True, ["reviewer 1", "reviewer 2"])):
        path = write_sr(still, _result(still), seg_path=None, outlines=_outlines(), out_path=tmp_path / f"{pseudonymised}.dcm",
                        pseudonymised=pseudonymised, verified_by=["Zoë Müller", "AB"])  # fmt: skip
        sr = pydicom.dcmread(path)
        assert (sr.VerificationFlag, sr.PreliminaryFlag) == ("VERIFIED", "FINAL")
        assert [str(o.VerifyingObserverName) for o in sr.VerifyingObserverSequence] == names
        assert (b"M\xc3\xbcller" in path.read_bytes()) is not pseudonymised  # (UTF-8; not in a pseudonymised run)
    assert _dciodvfy_errors(tmp_path / "False.dcm") == []


def test_seg_rejects_bad_label_maps(tmp_path: Path) -> None:
    still = _source(tmp_path / "still.dcm")
    with pytest.raises(ValueError, match="shape"):
        write_seg(still, _labels()[1:], tmp_path / "seg.dcm")
    with pytest.raises(ValueError, match="values"):
        write_seg(still, _labels() * 2, tmp_path / "seg.dcm")


def test_the_seg_is_the_same_whatever_the_segment_masks_memory_layout(tmp_path: Path, monkeypatch) -> None:
    """segment_masks stacks its planes first (highdicom's overlap test and segment copies run
    faster on whole planes): the object holds the same segments, overlap and bytes as from masks
    stacked pixel by pixel."""
    from follicle_seg.report import dicom_seg

    still = _source(tmp_path / "still.dcm")
    masks = dicom_seg.segment_masks(_labels())
    assert masks.shape[-1] == 2 and masks[..., 0].flags.c_contiguous
    made = pydicom.dcmread(write_seg(still, _labels(), tmp_path / "planes.dcm"))
    monkeypatch.setattr(dicom_seg, "segment_masks", lambda labels: np.ascontiguousarray(masks))
    interleaved = pydicom.dcmread(write_seg(still, _labels(), tmp_path / "pixels.dcm"))
    assert made.SegmentsOverlap == interleaved.SegmentsOverlap == "YES"
    assert made.PixelData == interleaved.PixelData and made.SOPInstanceUID == interleaved.SOPInstanceUID


def test_a_seg_reads_its_sources_header_only_not_the_cines_pixel_data(tmp_path: Path) -> None:
    """The view highdicom builds on is the header: the source's pixel data (a whole cine, read
    once for its SEGs and SR) stays deferred, unread."""
    from follicle_seg.report.dicom_common import US_IMAGE, header_view, read_source

    source = read_source(_source(tmp_path / "cine.dcm", n_frames=4)).header
    view = header_view(source, US_IMAGE)
    assert "PixelData" not in view and view.SOPClassUID == US_IMAGE
    assert source.get_item(0x7FE00010, keep_deferred=True).value is None  # deferred: never read


def test_seg_and_sr_name_the_network_that_made_them(still: Path, tmp_path: Path) -> None:
    """Its bundle version and weights' hash (a fine-tuned copy may keep the version), not only
    this package's version: a PACS user can tell which model's results they look at."""
    from follicle_seg import __version__
    from follicle_seg.types import Network

    network = Network("0.4.1", "0d9ee58e1dc0cd83", "none")
    seg = pydicom.dcmread(write_seg(still, _labels(), tmp_path / "seg.dcm", network=network))
    algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("follicle_seg network", "0.4.1")
    assert algorithm.AlgorithmParameters == f"weights_sha256=0d9ee58e1dc0cd83,follicle_seg={__version__}"
    assert seg.SegmentSequence[0].SegmentAlgorithmName == "follicle_seg network"
    sr = write_sr(still, _result(still), seg_path=None, outlines=_outlines(), out_path=tmp_path / "sr.dcm",
                  network=network)  # fmt: skip
    texts = {str(e.value) for e in _walk(pydicom.dcmread(sr)) if e.keyword == "TextValue"}
    assert {"follicle_seg network", "0.4.1", "weights_sha256=0d9ee58e1dc0cd83", f"follicle_seg={__version__}"} <= texts


def test_a_source_without_its_study_uid_gets_a_reason_in_words(tmp_path: Path) -> None:
    from follicle_seg.report.dicom_common import UnfitSource

    still = _source(tmp_path / "still.dcm")
    result = _result(still)
    ds = pydicom.dcmread(still)
    del ds.StudyInstanceUID  # Type 1, yet some exports lose it; ingestion reads past it
    ds.save_as(still)
    with pytest.raises(UnfitSource, match=r"^the source has no StudyInstanceUID \(0020,000D\)"):
        write_seg(still, _labels(), tmp_path / "seg.dcm")
    with pytest.raises(UnfitSource):
        write_sr(still, result, seg_path=None, outlines=_outlines(), out_path=tmp_path / "sr.dcm")


def _measurements(group) -> dict[str, tuple[float, str]]:
    return {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()}


def test_sr_passes_dciodvfy_and_reads_back_the_numbers(still: Path, tmp_path: Path) -> None:
    seg_path = write_seg(still, _labels(), tmp_path / "seg.dcm")
    result = _result(still)
    sr_path = write_sr(still, result, seg_path=seg_path, outlines=_outlines(), out_path=tmp_path / "sr.dcm")
    assert _dciodvfy_errors(sr_path) == []
    _no_identity(sr_path)
    sr = hd.sr.srread(sr_path)
    groups = {g.tracking_identifier: g for g in sr.content.get_planar_roi_measurement_groups()}
    assert sorted(groups) == [follicle_tracking_id(1), follicle_tracking_id(2)]
    for follicle in result.follicles:
        group = groups[follicle_tracking_id(follicle.follicle_id)]
        assert group.finding_type == codes.SCT.OvarianFollicleStructure
        found = _measurements(group)
        # the numbers of follicles.csv: diameters rounded to 0.01 mm
        assert found["Long axis"] == (pytest.approx(round(follicle.best.d1_mm, 2)), "mm")
        assert found["Short axis"] == (pytest.approx(round(follicle.best.d2_mm, 2)), "mm")
        assert found["Diameter"] == (pytest.approx(round(follicle.mean_diameter_mm, 2)), "mm")
        assert found["Area"] == (pytest.approx(follicle.best.area_mm2), "mm2")
        assert ("Volume" in found) == (follicle.volume_ml is not None)
        polygon = group.roi.value  # SCOORD: pixel centres + 0.5, closed
        expected = dict(_outlines()[0])[follicle.follicle_id] + 0.5
        assert np.allclose(polygon[:-1], expected) and np.array_equal(polygon[0], polygon[-1])
    (ovary,) = sr.content.get_volumetric_roi_measurement_groups()
    assert ovary.finding_type == codes.SCT.Ovary
    seg_uid = str(pydicom.dcmread(seg_path).SOPInstanceUID)
    assert ovary.referenced_segment.referenced_sop_instance_uid == seg_uid
    assert ovary.referenced_segment.referenced_segment_numbers == [1]
    found = _measurements(ovary)
    assert found["Number of follicles"][0] == 2
    assert found["Long axis"] == (pytest.approx(9.0), "mm") and found["Area"] == (pytest.approx(54.0), "mm2")
    assert found["Volume"] == (pytest.approx(0.2), "ml")
    evidence = {
        str(i.ReferencedSOPInstanceUID)
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for i in series.ReferencedSOPSequence
    }
    assert evidence == {result.record.sop_instance_uid, seg_uid}


def test_sr_of_an_uncalibrated_sweep_references_frames_and_omits_mm(tmp_path: Path) -> None:
    cine = _source(tmp_path / "cine.dcm", n_frames=4)
    result = _result(cine, calibrated=False, frame=2)
    outlines = _outlines(frame=2)
    del outlines[2][2]  # follicle 2 has no outline: a region-less group referencing the frame
    sr_path = write_sr(cine, result, seg_path=None, outlines=outlines, out_path=tmp_path / "sr.dcm")
    assert _dciodvfy_errors(sr_path) == []
    sr = hd.sr.srread(sr_path)
    planar = {g.tracking_identifier: g for g in sr.content.get_planar_roi_measurement_groups()}
    assert sorted(planar) == [follicle_tracking_id(1), "ovary L"]
    for group in planar.values():
        image = group.roi.ContentSequence[0].ReferencedSOPSequence[0]
        assert image.ReferencedSOPInstanceUID == result.record.sop_instance_uid
        assert int(image.ReferencedFrameNumber) == 3  # 1-based frame number of frame_index 2
    assert _measurements(planar[follicle_tracking_id(1)]) == {}
    assert _measurements(planar["ovary L"]) == {"Number of follicles": (2.0, "{follicles}")}
    (regionless,) = sr.content.get_image_measurement_groups()
    assert regionless.tracking_identifier == follicle_tracking_id(2)
    assert _units(pydicom.dcmread(sr_path)) == {"{follicles}"}


def test_the_sr_of_an_uncalibrated_image_says_so_in_each_group(still: Path, tmp_path: Path) -> None:
    """Its groups hold no size: a reader could not tell that from sizes left out, or from an
    image where no ovary was found (the same lone "Number of follicles 0")."""
    seg_path = write_seg(still, _labels(), tmp_path / "seg.dcm")
    outlines = _outlines()
    del outlines[0][2]  # follicle 2 region-less (TID 1501), the ovary on the SEG (TID 1411)
    said = {}
    for calibrated in (False, True):
        sr_path = write_sr(still, _result(still, calibrated=calibrated), seg_path=seg_path, outlines=outlines,
                           out_path=tmp_path / f"sr_{calibrated}.dcm")  # fmt: skip
        assert _dciodvfy_errors(sr_path) == []
        content = hd.sr.srread(sr_path).content
        groups = [*content.get_planar_roi_measurement_groups(), *content.get_volumetric_roi_measurement_groups(),
                  *content.get_image_measurement_groups()]  # fmt: skip
        assert len(groups) == 3
        said[calibrated] = [[(e.name.meaning, e.value.meaning) for e in g.get_qualitative_evaluations()] for g in groups]
    assert said[False] == [[("Image calibration", "Uncalibrated: no mm per pixel, sizes not measured")]] * 3
    assert said[True] == [[]] * 3


def _units(item) -> set[str]:
    """Every measurement unit in an SR content tree."""
    found = {
        str(v.MeasurementUnitsCodeSequence[0].CodeValue) for v in item.get("MeasuredValueSequence", [])
    }
    for child in item.get("ContentSequence", []):
        found |= _units(child)
    return found


def test_sr_refuses_images_that_were_not_analysed(still: Path, tmp_path: Path) -> None:
    result = _result(still)
    rejected = ImageResult(result.record, str(still), "rejected", reason="not ultrasound")
    with pytest.raises(ValueError, match="status"):
        write_sr(still, rejected, seg_path=None, outlines={}, out_path=tmp_path / "sr.dcm")


def test_sr_of_an_image_without_ovary_or_follicle_records_a_zero_count(still: Path, tmp_path: Path) -> None:
    seg_path = write_seg(still, np.zeros((ROWS, COLS), np.uint8), tmp_path / "seg.dcm")
    empty = dataclasses.replace(_result(still), follicles=(), ovary=None, ovary_volume_ml=None)
    sr_path = write_sr(still, empty, seg_path=seg_path, outlines={}, out_path=tmp_path / "sr.dcm")
    assert _dciodvfy_errors(sr_path) == []
    sr = hd.sr.srread(sr_path)
    (group,) = sr.content.get_image_measurement_groups()
    assert group.tracking_identifier == "ovary L"
    assert _measurements(group) == {"Number of follicles": (0.0, "{follicles}")}
    # its 0 is of an ovary not found, not of one seen empty (the SR read the same either way)
    assert [(e.name.meaning, e.value.meaning) for e in group.get_qualitative_evaluations()] == [
        ("Ovary found in this image", "No")]


def _walk(ds: pydicom.Dataset):
    for element in ds:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from _walk(item)


def test_seg_and_sr_keep_of_the_patient_only_the_id_and_a_pseudonymised_run_no_real_one(tmp_path: Path) -> None:
    """highdicom copies the source's whole Patient module: other IDs, other names, comments,
    responsible person, age... passed into every SEG and SR (and the real PatientID inside Other
    Patient IDs Sequence through --pseudonymize)."""
    still = _source(tmp_path / "still.dcm")
    ds = pydicom.dcmread(still)
    other = pydicom.Dataset()
    other.PatientID, other.IssuerOfPatientID = "P0001", "HOSP"
    ds.OtherPatientIDsSequence = pydicom.Sequence([other])
    ds.OtherPatientNames, ds.PatientBirthTime, ds.PatientSex, ds.PatientAge = "Smith^Jane", "081500", "F", "044Y"
    ds.ResponsiblePerson, ds.PatientComments, ds.IssuerOfPatientID = "Roe^John", "Jane's comment", "HOSP"
    ds.AccessionNumber, ds.ReferringPhysicianName = "ACC123", "Who^Doctor"
    # free text and a clinic's name that highdicom copies, at the top level and in an item
    ds.StudyDescription, ds.InstitutionName, ds.OperatorsName = "TVUS MRN987654", "St Elsewhere", "Op^Erator"
    equipment = pydicom.Dataset()
    equipment.Manufacturer, equipment.InstitutionName = "Scanner Co", "St Elsewhere Annex"
    ds.ContributingEquipmentSequence = pydicom.Sequence([equipment])
    doctor = pydicom.Dataset()  # a Person Identification item: its institution is Type 1C
    doctor.InstitutionName = "St Elsewhere Clinic"
    code = pydicom.Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "DOC42", "L", "Staff DOC42"
    doctor.PersonIdentificationCodeSequence = pydicom.Sequence([code])
    ds.ReferringPhysicianIdentificationSequence = pydicom.Sequence([doctor])
    ds.AdmittingDiagnosesDescription, ds.ClinicalTrialSiteName = "POI, record 4711", "Site Clinic 9"
    ds.ClinicalTrialSponsorName, ds.ClinicalTrialProtocolID, ds.ClinicalTrialSubjectID = "Sponsor", "PR1", "S-77"
    ds.ClinicalTrialProtocolName, ds.ClinicalTrialSiteID = "Protocol", "9"
    # Patient and Patient Study attributes highdicom copies: gone from every object
    ds.LastMenstrualDate, ds.ReasonForVisit = "19970403", "Visit for MRN555"
    ds.PatientBirthDateInAlternativeCalendar, ds.PatientAlternativeCalendar = "Tishrei 5785", "HEBREW"
    issuer = pydicom.Dataset()
    issuer.LocalNamespaceEntityID = "GeneralHospitalRIS"
    ds.IssuerOfAccessionNumberSequence = pydicom.Sequence([issuer])
    ds.save_as(still)
    result = _result(still)
    written = []
    for patient, pseudonymised in (("P0001", False), ("P93ce869be00", True)):
        record = dataclasses.replace(result.record, patient_id=patient)
        seg = write_seg(still, _labels(), tmp_path / f"seg_{patient}.dcm", patient_id=patient, pseudonymised=pseudonymised)
        sr = write_sr(still, dataclasses.replace(result, record=record), seg_path=seg, outlines=_outlines(),
                      out_path=tmp_path / f"sr_{patient}.dcm", pseudonymised=pseudonymised)  # fmt: skip
        written += [seg, sr]
        for path in (seg, sr):
            raw = path.read_bytes()
            for leaked in (b"Smith", b"Roe^John", b"comment", b"081500", b"044Y", b"HOSP", NAME.encode(), BIRTH.encode(),
                           b"19970403", b"MRN555", b"Tishrei", b"HEBREW"):  # (not digits a UID may hold)  # fmt: skip
                assert leaked not in raw, (path.name, leaked)
            out = pydicom.dcmread(path)
            assert out.PatientID == patient and out.PatientSex == "" and "OtherPatientIDsSequence" not in out
            assert [e.value for e in _walk(out) if e.keyword == "PatientID"] == [patient]
            if pseudonymised:  # the study's order, people and places, which could link back, go too
                assert b"P0001" not in raw and b"ACC123" not in raw and b"Who^Doctor" not in raw
                assert b"MRN987654" not in raw and b"St Elsewhere" not in raw and b"Op^Erator" not in raw
                assert b"DOC42" not in raw and b"record 4711" not in raw and b"Site Clinic" not in raw and b"S-77" not in raw
                assert b"GeneralHospitalRIS" not in raw
            else:
                assert out.AccessionNumber == "ACC123"
    assert [_dciodvfy_errors(path) for path in written] == [[]] * 4  # last: skipped without dciodvfy
    # the plain and the pseudonymised objects of one source share no UID (one instance, two patients)
    uids = [(d.SOPInstanceUID, d.SeriesInstanceUID) for d in map(pydicom.dcmread, written)]
    assert len({u for pair in uids for u in pair}) == 8


@pytest.mark.parametrize(
    "sop_class, n_frames",
    [("1.2.840.10008.5.1.4.1.1.3.1", 1),  # a still exported as a one-frame multi-frame image
     ("1.2.840.10008.5.1.4.1.1.6", 1),  # the retired US Image Storage
     ("1.2.840.10008.5.1.4.1.1.3", 3)],  # the retired US Multi-frame Image Storage
)  # fmt: skip
def test_seg_and_sr_are_written_for_the_other_ultrasound_classes_naming_the_sources_own(
    tmp_path: Path, sop_class: str, n_frames: int
) -> None:
    source = _source(tmp_path / "src.dcm", n_frames=n_frames)
    ds = pydicom.dcmread(source)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.save_as(source)
    frame = n_frames - 1
    seg = write_seg(source, _labels(), tmp_path / "seg.dcm", frame_index=frame)
    sr = write_sr(source, _result(source, frame=frame), seg_path=seg if n_frames == 1 else None,
                  outlines=_outlines(frame), out_path=tmp_path / "sr.dcm")  # fmt: skip
    for path in (seg, sr):
        refs = [e.value for e in _walk(pydicom.dcmread(path)) if e.keyword == "ReferencedSOPClassUID"]
        source_refs = [r for r in refs if r != pydicom.uid.SegmentationStorage]  # (the SR's SEG)
        assert source_refs and set(source_refs) == {sop_class}
        errors = _dciodvfy_errors(path)
        if sop_class == "1.2.840.10008.5.1.4.1.1.3":  # dciodvfy does not know the retired class as multi-frame
            assert set(errors) <= {"Error - Shall not be present for Referenced SOP Class that is not multi-frame"
                                   " - attribute <ReferencedFrameNumber>"}  # fmt: skip
        else:
            assert errors == []


def test_a_source_whose_study_date_is_not_a_calendar_day_still_gets_its_seg_and_sr(tmp_path: Path) -> None:
    still = _source(tmp_path / "still.dcm")
    ds = pydicom.dcmread(still)
    ds.StudyDate = "20250231"  # ingestion reads the exam's other dates; highdicom failed on it
    ds.save_as(still)
    seg = write_seg(still, _labels(), tmp_path / "seg.dcm")
    sr = write_sr(still, _result(still), seg_path=seg, outlines=_outlines(), out_path=tmp_path / "sr.dcm")
    assert pydicom.dcmread(seg).StudyDate == "" and pydicom.dcmread(sr).StudyDate == ""


@pytest.mark.parametrize(
    ("header", "study"),
    [
        ({"StudyDate": "2024-06-11", "StudyTime": "12:00:00.5"}, ("20240611", "120000.5")),  # ACR-NEMA forms
        ({"StudyTime": "2500", "PatientBirthDate": "00000000", "PatientSex": "W"}, ("20260102", "")),  # placeholders
        ({"StudyTime": "120000.1234567", "PatientBirthDate": "1985-02-03", "PatientSex": "female"}, ("20260102", "120000.123456")),
    ],
)  # fmt: skip
def test_a_source_with_legacy_or_placeholder_dates_times_and_sex_gets_its_seg_and_sr(
    tmp_path: Path, header: dict[str, str], study: tuple[str, str]
) -> None:
    """Ingestion reads such files (and writes the name, birth date and sex empty), but highdicom
    refused them: the run analysed the file and wrote neither SEG nor SR ('Unable to convert
    non-conformant value '12:00:00' to 'TM' object', ''W' is not a valid PatientSexValues')."""
    still = _source(tmp_path / "still.dcm")
    ds = pydicom.dcmread(still)
    for keyword, value in header.items():
        ds.add_new(pydicom.datadict.tag_for_keyword(keyword), pydicom.datadict.dictionary_VR(keyword), value.encode())
    ds.save_as(still)
    seg = write_seg(still, _labels(), tmp_path / "seg.dcm")
    sr = write_sr(still, _result(still), seg_path=seg, outlines=_outlines(), out_path=tmp_path / "sr.dcm")
    for path in (seg, sr):
        written = pydicom.dcmread(path)
        assert (written.StudyDate, written.StudyTime) == study
        assert (written.PatientBirthDate, written.PatientSex) == ("", "")
        assert _dciodvfy_errors(path) == []


@pytest.mark.parametrize(
    ("charset", "physician", "written"),
    [("ISO_IR100", "Núñez^José".encode("latin-1"), "ISO_IR 100"), ("ISO-8859-1", "Núñez^José".encode("latin-1"), "ISO_IR 100"),
     ("UTF-8", "Núñez^José".encode(), "ISO_IR 192"), ("ISO_IR 6", b"Nunez^Jose", None)],
)  # fmt: skip
def test_a_source_with_a_misspelt_character_set_gets_its_seg_and_sr_in_the_term_meant(
    tmp_path: Path, charset: str, physician: bytes, written: str | None
) -> None:
    """pydicom reads 'ISO_IR100' (a scanner's spelling), 'ISO-8859-1', 'UTF-8' and 'ISO_IR 6', and
    so does ingestion; highdicom refused them ('... is not a valid SpecificCharacterSetValues'):
    the file was analysed and got neither SEG nor SR."""
    still = _source(tmp_path / "still.dcm")
    ds = pydicom.dcmread(still)
    ds.add_new(0x00080005, "CS", charset.encode())
    ds.add_new(0x00080090, "PN", physician)
    ds.save_as(still)
    seg = write_seg(still, _labels(), tmp_path / "seg.dcm")
    sr = write_sr(still, _result(still), seg_path=seg, outlines=_outlines(), out_path=tmp_path / "sr.dcm")
    for path in (seg, sr):
        ds = pydicom.dcmread(path)
        assert ds.get("SpecificCharacterSet") == written
        assert str(ds.ReferringPhysicianName) == ("Núñez^José" if written else "Nunez^Jose")
        assert _dciodvfy_errors(path) == []


def test_a_source_without_type_2_attributes_or_with_a_code_extension_charset_gets_its_seg_and_sr(tmp_path: Path) -> None:
    """De-identifying exports drop Type 2 attributes highdicom reads unguarded (the audit: no
    SEG/SR for any file of such a folder); ``\\ISO 2022 IR 87`` (default repertoire first,
    then Japanese) is valid but highdicom refused its empty first value."""
    still = _source(tmp_path / "still.dcm")
    ds = pydicom.dcmread(still)
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                    "StudyDate", "StudyTime", "ReferringPhysicianName"):  # fmt: skip
        ds.pop(keyword, None)
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.ReferringPhysicianName = "Yamada^Tarou=山田^太郎"
    ds.save_as(still)
    seg = write_seg(still, _labels(), tmp_path / "seg.dcm")
    sr = write_sr(still, _result(still), seg_path=seg, outlines=_outlines(), out_path=tmp_path / "sr.dcm")
    for path, patient_id in ((seg, ""), (sr, "P0001")):  # the SR names the analysed record's patient
        written = pydicom.dcmread(path)
        assert written.AccessionNumber == "" and written.StudyDate == "" and written.PatientID == patient_id
        # written as the source spells it (Orthanc read "ISO 2022 IR 6\\ISO 2022 IR 87" garbled)
        assert list(written.SpecificCharacterSet) == ["", "ISO 2022 IR 87"]
        assert str(written.ReferringPhysicianName) == "Yamada^Tarou=山田^太郎"
        assert _dciodvfy_errors(path) == []


@pytest.mark.parametrize(("charset", "physician", "written"), [
    (None, "Doe^John", "ISO_IR 192"),
    ("ISO_IR 100", "Núñez^José", "ISO_IR 100"),  # (Latin-1 writes the name: kept)
    (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎", "ISO_IR 192"),
])
def test_a_reviewers_name_outside_the_sources_character_set_is_written_in_utf8(
    tmp_path: Path, charset, physician: str, written: str
) -> None:
    """An SR written again in review named its reviewer "José" in Latin-1 bytes under the
    source's default repertoire: dciodvfy "Character invalid for character repertoire", and a
    PACS showed "Jos?"."""
    still = _source(tmp_path / "still.dcm")
    ds = pydicom.dcmread(still)
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.ReferringPhysicianName = physician
    ds.save_as(still)
    sr = write_sr(still, _result(still), seg_path=None, outlines=_outlines(), out_path=tmp_path / "sr.dcm",
                  verified_by=("José", "AB"))  # fmt: skip
    ds = pydicom.dcmread(sr)
    assert ds.SpecificCharacterSet == written and ds.VerificationFlag == "VERIFIED"
    assert [str(o.VerifyingObserverName) for o in ds.VerifyingObserverSequence] == ["José", "AB"]
    assert str(ds.ReferringPhysicianName) == physician
    assert _dciodvfy_errors(sr) == []


def _reviewed(tmp_path: Path, result: ImageResult, review) -> None:  # noqa: ANN001 - a Review
    from follicle_seg.report.reviewed_sr import write_reviewed_srs
    from follicle_seg.state import StateStore

    store = StateStore(tmp_path / "state.sqlite")
    try:
        assert write_reviewed_srs(tmp_path, [result], review, store, places={}) == (1, [])
        assert write_reviewed_srs(tmp_path, [result], review, store, places={}) == (0, [])  # the same review: nothing
    finally:
        store.close()


def _segments(seg: hd.seg.Segmentation, source_uid: str) -> np.ndarray:
    """The SEG's (rows, columns, 2) ovary and follicle segments, as highdicom reads them."""
    return seg.get_pixels_by_source_instance([source_uid], segment_numbers=[1, 2])[0] > 0


def _kept(result: ImageResult, outlines: dict[int, list[tuple[int, np.ndarray]]]) -> ImageResult:
    """``result`` with ``outlines`` as the run state keeps them."""
    return dataclasses.replace(result, outlines=tuple(
        (frame, ident, tuple(int(v) for v in points.ravel())) for frame, shapes in outlines.items() for ident, points in shapes))  # fmt: skip


def test_an_sr_written_again_with_the_side_a_reviewer_gave_cites_its_seg_written_again_with_that_side(tmp_path: Path) -> None:
    """A still's reviewed SR said "Right" ovary while its SEG, the network's, said "Left" in both
    segments' property type (the SR then gave the ovary by its outline, citing no SEG): a PACS
    held a SEG of the wrong side. The SEG is written again with the side given, and cited."""
    from follicle_seg.artefacts import write_measurements
    from follicle_seg.review import Decision, Review

    still = _source(tmp_path / "still.dcm")
    result = _kept(dataclasses.replace(_result(still), key_frames=(0,)), _outlines())
    uid = result.record.sop_instance_uid
    seg = write_seg(still, _labels(), tmp_path / "dicom" / f"{uid}_seg.dcm", laterality="L")
    network_seg = pydicom.dcmread(seg).SOPInstanceUID
    sr = write_measurements(tmp_path, result)
    (ovary,) = hd.sr.srread(sr).content.get_volumetric_roi_measurement_groups()  # TID 1411: the SEG's ovary
    assert ovary.referenced_segment is not None and ovary.finding_sites[0].laterality.meaning == "Left"
    _reviewed(tmp_path, result, Review([Decision(2, "right", "AB", sop_instance_uid=uid)]))
    written = hd.seg.segread(seg)
    assert written.SOPInstanceUID != network_seg
    assert [s.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning
            for s in written.SegmentSequence] == ["Right", "Right"]  # fmt: skip
    assert np.array_equal(_segments(written, uid), _labels()[..., None] >= np.array([1, 2]))  # the pixels as they were
    (ovary,) = hd.sr.srread(sr).content.get_volumetric_roi_measurement_groups()
    assert ovary.finding_sites[0].laterality.meaning == "Right"
    assert ovary.referenced_segment.referenced_sop_instance_uid == written.SOPInstanceUID
    assert _dciodvfy_errors(sr) == [] and _dciodvfy_errors(seg) == []

def test_the_patient_and_study_modules_written_out_are_those_highdicom_copies() -> None:
    """The lists strip_identity removes by are written out; highdicom copies whole modules by its
    own (private) tables: a highdicom that copies an attribute more must fail here, not leak."""
    from highdicom._standard_utils import get_module_attribute_map  # moved: this test must be looked at

    table = get_module_attribute_map()

    def top_level(*modules: str) -> set[str]:
        return {str(i["keyword"]) for m in modules for i in table[m] if not i["path"]}

    from follicle_seg.report.dicom_common import PATIENT_MODULES, STUDY_MODULES

    assert top_level("patient", "patient-study", "clinical-trial-subject") <= set(PATIENT_MODULES)
    assert top_level("general-study", "clinical-trial-study") <= set(STUDY_MODULES)


def test_the_ovary_is_one_tracked_finding_per_patient_and_side_across_images(tmp_path: Path) -> None:
    """Each image gave "ovary L" a tracking UID of its own: a TID 1500 viewer could not follow a
    patient's left ovary from image to image and visit to visit (follicles stay per image: the
    pipeline does not match them across images)."""
    uids = {}
    for name, side, patient in (("a", "L", "P0001"), ("b", "L", "P0001"), ("c", "R", "P0001"), ("d", "L", "P0002")):
        source = _source(tmp_path / f"{name}.dcm")
        result = _result(source)
        record = dataclasses.replace(result.record, laterality=side, patient_id=patient)
        sr_path = write_sr(source, dataclasses.replace(result, record=record), seg_path=None, outlines={},
                           out_path=tmp_path / f"{name}_sr.dcm")  # fmt: skip
        groups = {g.tracking_identifier: g for g in hd.sr.srread(sr_path).content.get_image_measurement_groups()}
        uids[name] = str(groups[f"ovary {side}"].tracking_uid)
    assert uids["a"] == uids["b"] and len({uids["a"], uids["c"], uids["d"]}) == 3


def test_the_derived_series_name_their_source_series(still: Path, tmp_path: Path) -> None:
    """Every source's SEG and SR series read "follicle_seg segmentation" / "measurements" with
    numbers 900 / 901: seven alike in a PACS study, told apart only by opening them."""
    number = pydicom.dcmread(still, stop_before_pixels=True).get("SeriesNumber")
    seg = pydicom.dcmread(write_seg(still, _labels(), tmp_path / "seg.dcm"))
    sr = pydicom.dcmread(write_sr(still, _result(still), seg_path=None, outlines=_outlines(),
                                  out_path=tmp_path / "sr.dcm"))  # fmt: skip
    assert number not in (None, "")
    assert seg.SeriesDescription == f"follicle_seg segmentation of series {number}"
    assert sr.SeriesDescription == f"follicle_seg measurements of series {number}"


def test_the_files_of_one_source_series_get_one_seg_series_and_one_sr_series_numbered_as_they_are(
    tmp_path: Path,
) -> None:
    """Each file got a SEG series and an SR series of its own: a sweep stored as 6 files made 12
    series alike ("follicle_seg segmentation of series 1", instance 1) in a PACS."""
    stills = [_source(tmp_path / f"still{k}.dcm") for k in (1, 2)]  # one series, instances 1 and 2
    ds = pydicom.dcmread(stills[1])
    ds.InstanceNumber = 2
    ds.save_as(stills[1])
    other = _source(tmp_path / "other.dcm")
    ds = pydicom.dcmread(other)
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.3"
    ds.save_as(other)
    made = {}
    for path in (*stills, other):
        seg = write_seg(path, _labels(), tmp_path / f"{path.stem}_seg.dcm")
        sr = write_sr(path, _result(path), seg_path=seg, outlines=_outlines(), out_path=tmp_path / f"{path.stem}_sr.dcm")
        made[path.stem] = [pydicom.dcmread(p) for p in (seg, sr)]
    for kind in (0, 1):
        series = {stem: (objects[kind].SeriesInstanceUID, objects[kind].InstanceNumber) for stem, objects in made.items()}
        assert series["still1"][0] == series["still2"][0] != series["other"][0]
        assert (series["still1"][1], series["still2"][1]) == (1, 2)
        assert len({objects[kind].SOPInstanceUID for objects in made.values()}) == 3
    assert made["still1"][0].SeriesInstanceUID != made["still1"][1].SeriesInstanceUID  # SEG and SR apart
    # two cines of the still's series: their key-frame SEGs (numbered by frame) a series per cine,
    # not the stills' (instance 2 twice there, and the still's 2 too)
    cine_segs = []
    for k in (1, 2):
        cine = _source(tmp_path / f"cine{k}.dcm", n_frames=3)
        ds = pydicom.dcmread(cine)
        ds.SOPInstanceUID, ds.InstanceNumber = f"1.2.826.0.1.3680043.8.498.7{k}", 2 + k
        ds.save_as(cine)
        cine_segs.append(pydicom.dcmread(write_seg(cine, _labels(), tmp_path / f"cine{k}_seg.dcm", frame_index=1)))
    assert pydicom.dcmread(cine).SeriesInstanceUID == pydicom.dcmread(stills[0]).SeriesInstanceUID
    numbers = [(seg.SeriesInstanceUID, seg.InstanceNumber) for seg in (made["still2"][0], *cine_segs)]
    assert len(set(numbers)) == 3 and [n for _, n in numbers] == [2, 2, 2]
    assert [seg.SeriesDescription for seg in cine_segs] == [
        "follicle_seg segmentation of series 1, image 3", "follicle_seg segmentation of series 1, image 4"]
    assert _dciodvfy_errors(tmp_path / "still2_sr.dcm") == [] and _dciodvfy_errors(tmp_path / "cine1_seg.dcm") == []


def test_the_sr_of_a_file_of_a_sweep_stored_one_file_per_frame_says_its_place_and_counts_sections(
    still: Path, tmp_path: Path
) -> None:
    """Each file of a sweep stored one file per frame got the SR of a still: "follicle 1" and
    "Number of follicles" 1 on each of the 5 files a follicle was seen on (14 follicle groups
    and follicle counts adding to 14 over the 12 SRs of a 2-sweep study whose tables count 3)."""
    result = _result(still)
    plain = write_sr(still, result, seg_path=None, outlines=_outlines(), out_path=tmp_path / "plain.dcm")
    path = write_sr(still, result, seg_path=None, outlines=_outlines(), out_path=tmp_path / "sr.dcm", in_sweep=(2, 6))
    assert _dciodvfy_errors(path) == []
    sr = hd.sr.srread(path)
    groups = {g.tracking_identifier: g for g in sr.content.get_planar_roi_measurement_groups()}
    assert sorted(groups) == ["follicle 1, file 3 of 6 of a sweep", "follicle 2, file 3 of 6 of a sweep", "ovary L"]
    assert _measurements(groups["ovary L"])["Number of follicle sections in this file of a sweep"] == (2.0, "{follicles}")
    assert "Number of follicles" not in _measurements(groups["ovary L"])
    assert sr.SOPInstanceUID != pydicom.dcmread(plain).SOPInstanceUID  # another content, another UID
    # every code a Code Value (16 characters at most): ``follicle-sections`` was a Long Code Value,
    # which highdicom 0.28 (``referenced_segment``) and readers of Code Value alone did not read
    items = (item for element in _walk(pydicom.dcmread(path)) if element.VR == "SQ" for item in element.value)
    codes_written = [item for item in items if "CodeMeaning" in item]
    assert codes_written and all(len(c.get("CodeValue", "")) in range(1, 17) for c in codes_written), codes_written
    # the follicle is the same finding in either: its tracking UID does not change with the words
    uids = {g.tracking_identifier: g.tracking_uid for g in hd.sr.srread(plain).content.get_planar_roi_measurement_groups()}
    assert groups["follicle 1, file 3 of 6 of a sweep"].tracking_uid == uids["follicle 1"]


def test_a_review_writes_the_seg_again_as_decided_and_the_sr_names_the_networks_as_its_predecessor(tmp_path: Path) -> None:
    """A follicle rejected in review left the SR but stayed in the SEG's follicle segment (and an
    accepted candidate stayed out of it), so a PACS sent the run showed the rejected follicle on
    the image; the reviewed SR did not name the network's SR it replaces (Predecessor Documents
    Sequence). Without the review, the network's SEG and SR are back, byte for byte and UID."""
    from follicle_seg.artefacts import write_measurements
    from follicle_seg.review import Decision, Review

    still = _source(tmp_path / "still.dcm")
    result = _result(still)
    candidate = Section(0, 67, 47, 225, 15.0, 15.0, 1.5, 1.5, 2.25, score=0.8)
    candidate_box = np.array([[40, 60], [54, 60], [54, 74], [40, 74]], float)
    outlines = {0: [*_outlines()[0], (3, candidate_box)]}
    uid = result.record.sop_instance_uid
    result = _kept(dataclasses.replace(result, key_frames=(0,), unsure=(Follicle(3, uid, candidate, 1, None, None, kind="unsure"),)),
                   outlines)  # fmt: skip
    seg = write_seg(still, _labels(), tmp_path / "dicom" / f"{uid}_seg.dcm", laterality="L")
    sr = write_measurements(tmp_path, result)
    network = {path: path.read_bytes() for path in (seg, sr)}
    network_sr = pydicom.dcmread(sr)
    review = Review([Decision(2, "not_follicle", "AB", sop_instance_uid=uid, follicle_id=1, centroid=(40, 41)),
                     Decision(3, "follicle", "AB", sop_instance_uid=uid, follicle_id=3, centroid=(67, 47))])  # fmt: skip
    _reviewed(tmp_path, result, review)

    written = hd.seg.segread(seg)
    ovary, follicles = _segments(written, uid).transpose(2, 0, 1)
    expected = _labels() == 2
    expected[30:50, 30:52] = False  # follicle 1 rejected: the ovary it lies in
    expected[60:75, 40:55] = True  # candidate 3 accepted, filled from its outline
    assert np.array_equal(follicles, expected) and np.array_equal(ovary, _labels() >= 1)
    assert [str(s.SegmentAlgorithmType) for s in written.SegmentSequence] == ["SEMIAUTOMATIC"] * 2
    assert written.SOPInstanceUID != pydicom.dcmread(io.BytesIO(network[seg])).SOPInstanceUID
    reviewed_sr = pydicom.dcmread(sr)
    assert reviewed_sr.VerificationFlag == "VERIFIED"
    (predecessor,) = [item for study in reviewed_sr.PredecessorDocumentsSequence
                      for series in study.ReferencedSeriesSequence for item in series.ReferencedSOPSequence]  # fmt: skip
    assert predecessor.ReferencedSOPInstanceUID == network_sr.SOPInstanceUID
    assert predecessor.ReferencedSOPClassUID == network_sr.SOPClassUID
    (ovary_group,) = hd.sr.srread(sr).content.get_volumetric_roi_measurement_groups()
    assert ovary_group.referenced_segment.referenced_sop_instance_uid == written.SOPInstanceUID
    assert _dciodvfy_errors(seg) == [] and _dciodvfy_errors(sr) == []

    _reviewed(tmp_path, result, Review([]))  # the review removed: the network's back
    assert seg.read_bytes() == network[seg]
    assert pydicom.dcmread(sr).SOPInstanceUID == network_sr.SOPInstanceUID and "PredecessorDocumentsSequence" not in pydicom.dcmread(sr)


def _reviewed_still(tmp_path: Path) -> tuple[ImageResult, Path, Path]:
    """A still analysed with its outlines kept: its result, its network's SEG and SR."""
    from follicle_seg.artefacts import write_measurements

    still = _source(tmp_path / "still.dcm")
    result = _kept(dataclasses.replace(_result(still), key_frames=(0,)), _outlines())
    uid = result.record.sop_instance_uid
    seg = write_seg(still, _labels(), tmp_path / "dicom" / f"{uid}_seg.dcm", laterality="L")
    return result, seg, write_measurements(tmp_path, result)


def _rejecting(result: ImageResult, *ids: int, reviewer: str = "AB"):  # noqa: ANN202 - a Review
    from follicle_seg.review import Decision, Review

    return Review([Decision(2 + k, "not_follicle", reviewer, sop_instance_uid=f.sop_instance_uid, follicle_id=f.follicle_id,
                            centroid=(f.best.centroid_row, f.best.centroid_col))
                   for k, f in enumerate(f for f in result.follicles if f.follicle_id in ids)])  # fmt: skip


def _predecessors(sr: Path) -> list[str]:
    return [str(item.ReferencedSOPInstanceUID) for study in pydicom.dcmread(sr).get("PredecessorDocumentsSequence", ())
            for series in study.ReferencedSeriesSequence for item in series.ReferencedSOPSequence]  # fmt: skip


def test_an_sr_that_cannot_be_written_as_reviewed_leaves_the_seg_and_sr_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SEGs were written as reviewed before the SR: an SR that then failed left a reviewed SEG
    beside the network's SR (which cites a SEG UID no longer on disk), and the line said they
    "could not be written as reviewed". Both are put back as they were, and the line says so."""
    from follicle_seg.report import reviewed_sr
    from follicle_seg.state import StateStore

    result, seg, sr = _reviewed_still(tmp_path)
    network = {path: path.read_bytes() for path in (seg, sr)}

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reviewed_sr, "write_measurements", full_disk)
    store = StateStore(tmp_path / "state.sqlite")
    try:
        written, left = reviewed_sr.write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={})
        assert {path: path.read_bytes() for path in network} == network
        assert written == 0 and left == [f"{result.path}: its SR and SEGs could not be written as reviewed (OSError: "
                                         "[Errno 28] No space left on device): they stay the network's"]  # fmt: skip
        assert reviewed_sr.under_review(store) == set()  # nothing kept: nothing to give back
    finally:
        store.close()


def test_a_network_seg_left_to_give_back_is_given_back_when_the_sr_is_the_networks(tmp_path: Path) -> None:
    """A run stopped between an image's reviewed SEG and its SR left the SR note unwritten: once
    the review was removed, the image was skipped on every later run (its SR note said "no review",
    as the review did) and the reviewed SEG never gave way to the network's."""
    from follicle_seg.report.reviewed_seg import network_segs, write_reviewed_segs
    from follicle_seg.report.reviewed_sr import under_review, write_reviewed_srs
    from follicle_seg.review import Review
    from follicle_seg.state import StateStore

    result, seg, _ = _reviewed_still(tmp_path)
    network = seg.read_bytes()
    store = StateStore(tmp_path / "state.sqlite")
    try:
        reviewed, _ = _rejecting(result, 1).of_image(result, {})
        write_reviewed_segs(tmp_path, result, reviewed, network_segs(tmp_path, result, store), store)  # then stopped
        assert seg.read_bytes() != network
        assert write_reviewed_srs(tmp_path, [result], Review([]), store, places={}) == (1, [])
        assert seg.read_bytes() == network and under_review(store) == set()
    finally:
        store.close()


def test_a_second_review_names_the_reviewed_sr_it_replaces_and_the_networks(tmp_path: Path) -> None:
    """The predecessor was the network's SR only, rebuilt in memory: an SR reviewed twice did not
    name the reviewed SR it replaced, which a PACS may already hold from a send after the first."""
    from follicle_seg.report.reviewed_sr import write_reviewed_srs
    from follicle_seg.state import StateStore

    result, _, sr = _reviewed_still(tmp_path)
    network = pydicom.dcmread(sr).SOPInstanceUID
    store = StateStore(tmp_path / "state.sqlite")
    try:
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={}) == (1, [])
        first = pydicom.dcmread(sr).SOPInstanceUID
        assert _predecessors(sr) == [network]
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1, 2), store, places={}) == (1, [])
        assert _predecessors(sr) == [network, first] and pydicom.dcmread(sr).SOPInstanceUID not in (network, first)
        assert _dciodvfy_errors(sr) == []
    finally:
        store.close()


def test_a_review_going_back_to_earlier_decisions_gets_a_uid_of_its_own_naming_no_sr_twice(tmp_path: Path) -> None:
    """An SR's UID comes of its content: a review going back to earlier decisions (A -> B -> A)
    wrote A's UID again naming itself as predecessor ([N, A, B]); then A's UID again naming
    [N, B], where the first A named [N]: one UID, two contents (a PACS keeps the first, so B
    stayed current there). The SRs it replaces enter its UID: the third is another, naming
    [N, A, B]; a run stopped after the SR but before its run-state note writes it again, the same."""
    from follicle_seg.report.reviewed_sr import REVIEWED_SR, write_reviewed_srs
    from follicle_seg.state import StateStore

    result, _, sr = _reviewed_still(tmp_path)
    uid = result.record.sop_instance_uid
    network = pydicom.dcmread(sr).SOPInstanceUID
    store = StateStore(tmp_path / "state.sqlite")
    try:
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={}) == (1, [])
        first = pydicom.dcmread(sr).SOPInstanceUID
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1, 2), store, places={}) == (1, [])
        second = pydicom.dcmread(sr).SOPInstanceUID
        said = store.noted(REVIEWED_SR + uid)
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={}) == (1, [])
        third = pydicom.dcmread(sr).SOPInstanceUID
        assert third not in (network, first, second) and _predecessors(sr) == [network, first, second]
        store.note(REVIEWED_SR + uid, said)  # stopped before the note: the next run writes the SR again
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={}) == (1, [])
        assert pydicom.dcmread(sr).SOPInstanceUID == third and _predecessors(sr) == [network, first, second]
        assert _dciodvfy_errors(sr) == []
    finally:
        store.close()


def test_a_failed_write_on_a_full_disk_puts_the_seg_back_though_the_sr_cannot_be_written_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The put-back wrote the SR first, though its failed write had left it unchanged: on a full
    disk that write failed too and the SEG was never tried, a reviewed SEG left beside the
    network's SR. Files unchanged are not written again."""
    from follicle_seg.report import reviewed_sr
    from follicle_seg.state import StateStore

    result, seg, sr = _reviewed_still(tmp_path)
    network = {path: path.read_bytes() for path in (seg, sr)}

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    write_bytes = Path.write_bytes

    def no_room_for_the_sr(path: Path, data: bytes) -> int:
        if data == network[sr]:
            raise OSError(28, "No space left on device")
        return write_bytes(path, data)

    monkeypatch.setattr(reviewed_sr, "write_measurements", full_disk)
    monkeypatch.setattr(Path, "write_bytes", no_room_for_the_sr)
    store = StateStore(tmp_path / "state.sqlite")
    try:
        written, left = reviewed_sr.write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={})
        assert {path: path.read_bytes() for path in network} == network
        assert written == 0 and left[0].endswith("they stay the network's") and reviewed_sr.under_review(store) == set()
    finally:
        store.close()


def test_a_damaged_sr_on_disk_is_replaced_by_the_reviewed_one_naming_no_predecessor(tmp_path: Path) -> None:
    """An SR in dicom/ that pydicom cannot read made the review refuse to write the image's SR
    and SEGs: its predecessors could not be read. The reviewed SR is written, naming none, and
    the line says so."""
    from follicle_seg.report.reviewed_sr import write_reviewed_srs
    from follicle_seg.state import StateStore

    result, seg, sr = _reviewed_still(tmp_path)
    sr.write_bytes(b"not DICOM")
    store = StateStore(tmp_path / "state.sqlite")
    try:
        written, left = write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={})
        assert written == 1 and pydicom.dcmread(sr).VerificationFlag == "VERIFIED" and _predecessors(sr) == []
        assert len(left) == 1 and left[0].startswith(f"{result.path}: its SR in dicom/ cannot be read (InvalidDicomError")
        assert left[0].endswith("the SR written as reviewed names no predecessor")
        assert hd.seg.segread(seg).SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    finally:
        store.close()


def test_a_follicle_rejected_in_a_cine_leaves_the_seg_of_every_key_frame_showing_it(tmp_path: Path) -> None:
    """A cine's key-frame SEG holds every reported follicle's section on that frame, one measured
    on another frame too; the run state kept only each follicle's outline on its own frame, so a
    rejected follicle stayed in the SEGs of the other key frames (the data samples' cine: 2 of
    its 3 key frames). Its sections on every key frame are kept now, the SR drawn as before."""
    from follicle_seg.analyse import KeyFrame
    from follicle_seg.artefacts import outlines, reported_labels, with_outlines, write_measurements
    from follicle_seg.review import Decision, Review

    cine = _source(tmp_path / "cine.dcm", n_frames=4)
    result = _result(cine, frame=1)
    uid = result.record.sop_instance_uid
    second = dataclasses.replace(result.follicles[1], best=dataclasses.replace(result.follicles[1].best, frame_index=3))
    result = dataclasses.replace(result, follicles=(result.follicles[0], second), key_frames=(1, 3))
    region = (slice(4, 92), slice(4, 124))  # the record's region: the key frames' maps are on its grid
    keys = []
    for frame in (1, 3):  # follicle 2 seen on both key frames, largest on frame 3
        ids, reported = np.zeros((ROWS, COLS), np.int32), np.zeros((ROWS, COLS), np.int32)
        reported[30:50, 30:52], reported[55:70, 80:95] = 1, 2
        ids[(reported == 1) if frame == 1 else (reported == 2)] = 1 if frame == 1 else 2
        keys.append(KeyFrame(frame, _labels()[region], ids[region], np.zeros_like(ids[region]), reported[region]))
    assert (1, 2) in {(frame, ident) for frame, ident, _ in outlines(keys[0], result.record)}  # follicle 2 on frame 1
    result = with_outlines(result, keys)
    network_sr = pydicom.dcmread(write_measurements(tmp_path, result)).SOPInstanceUID
    assert network_sr == pydicom.dcmread(write_measurements(tmp_path, dataclasses.replace(
        result, outlines=tuple(o for o in result.outlines if (o[0], o[1]) != (1, 2))))).SOPInstanceUID  # drawn as before  # fmt: skip
    segs = [write_seg(cine, np.pad(reported_labels(k), ((4, 4), (4, 4))), tmp_path / "dicom" / f"{uid}_f00{k.frame_index}_seg.dcm",
                      frame_index=k.frame_index, laterality="L") for k in keys]  # fmt: skip
    follicle = result.follicles[1].best
    _reviewed(tmp_path, result, Review([Decision(2, "not_follicle", "AB", sop_instance_uid=uid, follicle_id=2,
                                                 centroid=(follicle.centroid_row, follicle.centroid_col))]))  # fmt: skip
    for path in segs:
        follicles = pydicom.dcmread(path).pixel_array[1]
        assert follicles[55:70, 80:95].sum() == 0 and follicles[30:50, 30:52].all()
        assert _dciodvfy_errors(path) == []


def test_a_follicle_rejected_whose_section_is_in_two_pieces_leaves_the_seg_whole(tmp_path: Path) -> None:
    """The run state kept the largest piece of each follicle's section only: a rejected follicle
    whose section on a key frame is in two pieces (the network's outline cut by a septum) left
    its smaller piece in the reviewed SEG's follicle segment. Every piece is kept now, the SR
    drawn from the largest as before."""
    from follicle_seg.analyse import KeyFrame
    from follicle_seg.artefacts import reported_labels, with_outlines, write_measurements

    still = _source(tmp_path / "still.dcm")
    result = dataclasses.replace(_result(still), key_frames=(0,))
    uid = result.record.sop_instance_uid
    labels = _labels()
    labels[30:50, 56:62] = 2  # follicle 1's second piece, beside its first (30:50, 30:52)
    reported = np.zeros((ROWS, COLS), np.int32)
    reported[30:50, 30:52], reported[30:50, 56:62], reported[55:70, 80:95] = 1, 1, 2
    region = (slice(4, 92), slice(4, 124))
    key = KeyFrame(0, labels[region], reported[region], np.zeros_like(reported[region]), reported[region])
    result = with_outlines(result, [key])
    seg = write_seg(still, np.pad(reported_labels(key), ((4, 4), (4, 4))), tmp_path / "dicom" / f"{uid}_seg.dcm",
                    laterality="L")  # fmt: skip
    network_sr = pydicom.dcmread(write_measurements(tmp_path, result))
    largest = dataclasses.replace(result, outlines=tuple(o for o in result.outlines if o[1] != 1 or 30 <= o[2][0] <= 52))
    assert write_sr(still, largest, seg_path=seg, outlines=_drawn(largest), out_path=tmp_path / "largest.dcm") and (
        pydicom.dcmread(tmp_path / "largest.dcm").SOPInstanceUID == network_sr.SOPInstanceUID)  # drawn as before
    _reviewed(tmp_path, result, _rejecting(result, 1))
    follicles = _segments(hd.seg.segread(seg), uid)[..., 1]
    assert not follicles[30:50, 30:62].any() and follicles[55:70, 80:95].all()
    assert _dciodvfy_errors(seg) == []


def test_a_follicle_rejected_in_a_sweep_of_single_frame_files_leaves_the_sr_and_seg_of_every_file(tmp_path: Path) -> None:
    """A sweep stored one file per frame counts a follicle once, named by the file of its largest
    section, and a review line names that file; each other file's SR and SEG showing the
    follicle kept it (the seed-3 study of "Sweeps stored as single-frame files": rejecting the
    right sweep's follicle 2 rewrote 1 file's SR where 5 of the 6 files show it)."""
    from follicle_seg.artefacts import write_measurements
    from follicle_seg.review import Decision, Review

    results, network = [], {}
    for k, grow in enumerate((0, 4)):  # follicle 1 largest in the second file, which names it
        still = _source(tmp_path / f"still{k}.dcm")
        r = _result(still)
        first = dataclasses.replace(r.follicles[0].best, area_px=440 + 40 * grow, d1_px=22.0 + grow, d1_mm=2.2345 + grow / 10,
                                    bbox=(30, 30, 50, 52))
        second = dataclasses.replace(r.follicles[1].best, bbox=(55, 80, 70, 95))
        follicles = (dataclasses.replace(r.follicles[0], best=first), dataclasses.replace(r.follicles[1], best=second))
        r = dataclasses.replace(r, record=dataclasses.replace(r.record, acquired_s=100.0 + 0.04 * k), follicles=follicles,
                                key_frames=(0,))  # fmt: skip
        results.append(_kept(r, _outlines()))
        write_seg(still, _labels(), tmp_path / "dicom" / f"{r.record.sop_instance_uid}_seg.dcm", laterality="L")
        network[r.record.sop_instance_uid] = pydicom.dcmread(write_measurements(tmp_path, results[-1], in_sweep=(k, 2)))
    named = results[1].follicles[0]
    review = Review([Decision(2, "not_follicle", "AB", sop_instance_uid=named.sop_instance_uid, follicle_id=1,
                              centroid=(named.best.centroid_row, named.best.centroid_col))])  # fmt: skip
    from follicle_seg.report.reviewed_sr import write_reviewed_srs
    from follicle_seg.state import StateStore

    store = StateStore(tmp_path / "state.sqlite")
    try:
        places = {r.record.sop_instance_uid: (k, 2) for k, r in enumerate(results)}  # as the SRs were written
        assert write_reviewed_srs(tmp_path, results, review, store, places=places) == (2, [])
    finally:
        store.close()
    for k, r in enumerate(results):
        uid = r.record.sop_instance_uid
        sr = tmp_path / "dicom" / f"{uid}_sr.dcm"
        groups = hd.sr.srread(sr).content.get_planar_roi_measurement_groups(finding_type=codes.SCT.OvarianFollicleStructure)
        assert [str(g.tracking_identifier) for g in groups] == [f"follicle 2, file {k + 1} of 2 of a sweep"]
        assert _predecessors(sr) == [network[uid].SOPInstanceUID]  # the SR it replaces, on disk
        follicles = _segments(hd.seg.segread(tmp_path / "dicom" / f"{uid}_seg.dcm"), uid)[..., 1]
        assert not follicles[30:50, 30:52].any() and follicles[55:70, 80:95].all()


def _reviewed_twice(tmp_path: Path, store):
    """The sample still of :func:`_reviewed_still` reviewed twice (follicle 1 rejected, then 1
    and 2), noted in ``store``: the image, its SEG and SR paths, and the SR UIDs (the network's,
    the first review's, the second's)."""
    from follicle_seg.report.reviewed_sr import write_reviewed_srs

    result, seg, sr = _reviewed_still(tmp_path)
    uids = [pydicom.dcmread(sr).SOPInstanceUID]
    for rejected in ((1,), (1, 2)):
        write_reviewed_srs(tmp_path, [result], _rejecting(result, *rejected), store, places={})
        uids.append(pydicom.dcmread(sr).SOPInstanceUID)
    return result, seg, sr, tuple(uids)


def test_a_reviewed_sr_names_every_sr_written_for_its_image_though_the_networks_was_given_back_between(
    tmp_path: Path,
) -> None:
    """The predecessors were the chain of the SR on disk only: after A -> B -> the network's SR
    given back (no decision) -> A, the last SR was A again, naming the network's only, and B (a
    PACS may hold it, current there) was named by no SR; the same after the image was analysed
    again (withdrawn by a rejection note, the note removed). The run state notes every SR
    written for the image, which a reviewed SR names, each once, in the order written."""
    from follicle_seg.report.reviewed_sr import analysed_again, write_reviewed_srs
    from follicle_seg.artefacts import write_measurements
    from follicle_seg.review import Review
    from follicle_seg.state import StateStore

    store = StateStore(tmp_path / "state.sqlite")
    try:
        result, seg, sr, (network, first, second) = _reviewed_twice(tmp_path, store)
        uid = result.record.sop_instance_uid
        assert write_reviewed_srs(tmp_path, [result], Review([]), store, places={}) == (1, [])
        assert pydicom.dcmread(sr).SOPInstanceUID == network and _predecessors(sr) == []  # the network's back
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={}) == (1, [])
        third = pydicom.dcmread(sr).SOPInstanceUID
        assert third not in (network, first, second) and _predecessors(sr) == [network, first, second]
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={}) == (0, [])  # a rerun

        analysed_again(store, uid)  # withdrawn, then analysed again: the network's SR written anew
        write_seg(result.record.path, _labels(), seg, laterality="L")
        assert write_measurements(tmp_path, result) and pydicom.dcmread(sr).SOPInstanceUID == network
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1, 2), store, places={}) == (1, [])
        assert _predecessors(sr) == [network, first, second, third]
        assert pydicom.dcmread(sr).SOPInstanceUID not in (network, first, second, third)
        assert _dciodvfy_errors(sr) == []
    finally:
        store.close()


def test_an_sr_written_as_reviewed_before_its_run_state_notes_is_written_again_the_same(tmp_path: Path) -> None:
    """A run stopped after the reviewed SR was written, before the run state noted it: the next
    run writes the same SR (its UID, its predecessors), not one naming the first."""
    from follicle_seg.report.reviewed_sr import REVIEWED_SR, SRS_WRITTEN, write_reviewed_srs
    from follicle_seg.state import StateStore

    store = StateStore(tmp_path / "state.sqlite")
    try:
        result, _, sr, (network, first, second) = _reviewed_twice(tmp_path, store)
        uid = result.record.sop_instance_uid
        written = sr.read_bytes()
        store.forget(REVIEWED_SR + uid)
        store.note(SRS_WRITTEN + uid, json.dumps(json.loads(store.noted(SRS_WRITTEN + uid))[:-1]))  # (stopped there)
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1, 2), store, places={}) == (1, [])
        assert pydicom.dcmread(sr).SOPInstanceUID == second and _predecessors(sr) == [network, first]
        assert sr.read_bytes()[-200:] == written[-200:]
    finally:
        store.close()


def test_a_candidate_accepted_in_a_cine_is_follicle_in_the_seg_of_every_key_frame_it_was_tracked_on(tmp_path: Path) -> None:
    """The run state kept an unsure candidate's outline on its own frame only: a candidate
    accepted in a cine, counted and in the reviewed SR, stayed ovary in the SEG of each key frame
    showing it (seed-3 candidate 3: frame 7, tracked on key frame 8, no SEG changed). Its
    sections on the key frames are kept now, and the reviewed SEGs draw it as follicle there."""
    from follicle_seg.analyse import FileAnalysis, analyse_frame
    from follicle_seg.artefacts import with_outlines, write_dicom
    from follicle_seg.review import Decision, Review
    from follicle_seg.state import result_from_dict, result_to_dict
    from follicle_seg.types import FrameSegmentation

    cine = _source(tmp_path / "cine.dcm", n_frames=5)
    record = dataclasses.replace(_result(cine).record, frame_spacing_mm=0.5)
    rr, cc = np.mgrid[:88, :120]  # the region grid
    analysis = FileAnalysis(record)
    for i, (follicle, candidate) in enumerate([(0, 10), (15, 12), (10, 14), (0, 18), (0, 14)]):  # radii in pixels
        labels = np.where((rr - 44) ** 2 + (cc - 60) ** 2 <= 40**2, 1, 0).astype(np.uint8)
        prob = np.zeros(labels.shape, np.float32)
        for (row, col), radius, score in (((30, 40), follicle, 0.95), ((55, 85), candidate, 0.75)):
            disc = (rr - row) ** 2 + (cc - col) ** 2 <= radius**2 if radius else np.zeros(labels.shape, bool)
            labels[disc], prob[disc] = 2, score
        analysis.add(analyse_frame(FrameSegmentation(record, i, labels, prob, (labels > 0).astype(np.float32))))
    result, keys = analysis.finish()
    (follicle,), (candidate,) = result.follicles, result.unsure
    assert follicle.best.frame_index == 1 and candidate.best.frame_index == 3 and 1 in result.key_frames
    result = with_outlines(result, keys)
    write_dicom(tmp_path, result, keys)
    result = result_from_dict(result_to_dict(result))  # (as the run state gives it back)
    segs = {k: tmp_path / "dicom" / f"{record.sop_instance_uid}_f{k:03d}_seg.dcm" for k in result.key_frames}
    before = {k: _segments(hd.seg.segread(p), record.sop_instance_uid)[..., 1] for k, p in segs.items()}
    assert len(segs) == 2 and not any(f[4 + 55, 4 + 85] for f in before.values())  # a candidate: in no SEG
    accept = Decision(2, "follicle", "AB", sop_instance_uid=record.sop_instance_uid, follicle_id=candidate.follicle_id,
                      centroid=(candidate.best.centroid_row, candidate.best.centroid_col))  # fmt: skip
    _reviewed(tmp_path, result, Review([accept]))
    for k, path in segs.items():
        written = hd.seg.segread(path)
        follicles = _segments(written, record.sop_instance_uid)[..., 1]
        assert follicles[4 + 55, 4 + 85] and np.array_equal(follicles[:, :70], before[k][:, :70])  # follicle 1 as it was
        assert written.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"


def test_the_sr_uid_follows_what_the_sr_says_not_the_last_digits_of_a_network_score(still: Path, tmp_path: Path) -> None:
    """data_samples/mono_left.dcm analysed alone, then beside another image: the same SR under
    another SOP Instance UID (...200029, ...861931): its ovary's score, which the SR does not say,
    was 0.7192748189 then 0.7192748785 (the other images of the inference batch change a float32
    sum's last digits), and it entered the UID. A size the SR rounds alike does not change it
    either; a size it writes otherwise does."""
    result = _result(still)
    first, second = result.follicles
    nudged = dataclasses.replace(
        result, ovary=dataclasses.replace(result.ovary, score=result.ovary.score + 6e-8),
        follicles=(dataclasses.replace(first, best=dataclasses.replace(first.best, score=0.7192748785,
                                                                       d1_mm=first.best.d1_mm + 1e-9)), second))  # fmt: skip
    larger = dataclasses.replace(result, follicles=(first, dataclasses.replace(
        second, best=dataclasses.replace(second.best, d1_mm=1.6))))  # fmt: skip
    uids = [pydicom.dcmread(write_sr(still, r, seg_path=None, outlines=_outlines(), out_path=tmp_path / f"{k}_sr.dcm"))
            .SOPInstanceUID for k, r in enumerate((result, nudged, larger))]  # fmt: skip
    assert uids[0] == uids[1] != uids[2]


@pytest.mark.parametrize("damaged", ["[[\"1.2\", \"1.3\"", "{\"a\": 1}", "[[1, 2, 3, 4]]", "[\"1.2.3.4\"]"])
def test_a_damaged_note_of_the_srs_written_is_taken_for_none_and_said(tmp_path: Path, damaged: str) -> None:
    """A run-state note 'SRs written: <uid>' that is not what the run writes (a crash mid-write of
    an older SQLite, a hand edit) ended the run in a traceback (json.JSONDecodeError, or TypeError
    from _instance); it is taken for none, as a damaged analysis identity is, and said: the SR written
    as reviewed names the SR on disk and those it names, and the note is written anew."""
    from follicle_seg.report.reviewed_sr import SRS_WRITTEN, write_reviewed_srs
    from follicle_seg.state import StateStore

    result, _, sr = _reviewed_still(tmp_path)
    uid = result.record.sop_instance_uid
    network = pydicom.dcmread(sr).SOPInstanceUID
    store = StateStore(tmp_path / "state.sqlite")
    try:
        store.note(SRS_WRITTEN + uid, damaged)
        written, left = write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={})
        assert written == 1 and _predecessors(sr) == [network]
        assert left == [f"{result.path}: the run state's note of the SRs written for it cannot be read: the SR written "
                        "as reviewed names those dicom/ holds only"]  # fmt: skip
        assert json.loads(store.noted(SRS_WRITTEN + uid))[-1][-1] == pydicom.dcmread(sr).SOPInstanceUID
    finally:
        store.close()


def test_a_damaged_note_of_the_srs_written_is_noted_anew_from_dicom_before_no_resume(tmp_path: Path) -> None:
    """A damaged 'SRs written: <uid>' note is taken for none, but note_srs_on_disk passed over the
    image for having a note: --no-resume then removed dicom/, and the SR written as reviewed after
    named neither the network's SR nor the reviewed one it replaced."""
    from follicle_seg.report.reviewed_sr import SRS_WRITTEN, note_srs_on_disk, write_reviewed_srs, written_srs
    from follicle_seg.state import StateStore

    result, _, sr = _reviewed_still(tmp_path)
    uid = result.record.sop_instance_uid
    network = str(pydicom.dcmread(sr).SOPInstanceUID)
    store = StateStore(tmp_path / "state.sqlite")
    try:
        assert write_reviewed_srs(tmp_path, [result], _rejecting(result, 1), store, places={})[0] == 1
        reviewed = str(pydicom.dcmread(sr).SOPInstanceUID)
        store.note(SRS_WRITTEN + uid, "[[\"1.2\", \"1.3\"")
        note_srs_on_disk(tmp_path, store)
        assert [str(s.SOPInstanceUID) for s in written_srs(store, uid) or ()] == [network, reviewed]
    finally:
        store.close()


def test_the_sr_of_a_file_of_a_sweep_has_another_uid_than_the_one_written_with_follicle_sections(
    still: Path, tmp_path: Path, monkeypatch
) -> None:
    """The sweep file's count concept became ``section-count`` (was ``follicle-sections``) with the
    package version unchanged: the same figures under the same SOP Instance UID were another
    object, which a PACS holding the earlier SR keeps in its place (a UID names one content)."""
    from follicle_seg.report import dicom_sr

    result = _result(still)
    now = write_sr(still, result, seg_path=None, outlines=_outlines(), out_path=tmp_path / "now.dcm", in_sweep=(2, 6))
    monkeypatch.setattr(dicom_sr, "FOLLICLE_SECTIONS", hd.sr.CodedConcept(
        "follicle-sections", "99FSEG", "Number of follicle sections in this file of a sweep"))
    before = write_sr(still, result, seg_path=None, outlines=_outlines(), out_path=tmp_path / "before.dcm",
                      in_sweep=(2, 6))
    assert pydicom.dcmread(before).SOPInstanceUID != pydicom.dcmread(now).SOPInstanceUID
