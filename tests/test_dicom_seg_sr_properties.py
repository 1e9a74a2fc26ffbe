"""The DICOM SEG and SR a run writes of an analysed image, against random images (property-based).

Random sources (monochrome, RGB and YBR_FULL; a still or a 3-frame cine; odd and even sizes;
calibrated or not; side L, R or none) and random results on them (no ovary, or an ovary with 0
to 4 reported follicles, boxes that may touch each other and the edge of the image, and specks
the network called follicle but the run does not report) are written as a run writes them
(:func:`follicle_seg.artefacts.write_dicom`, the outlines of :func:`~follicle_seg.artefacts.with_outlines`)
and read back with highdicom. The properties are those docs/review_outputs.md ("DICOM
Segmentation (SEG)", "How sweeps are covered", "DICOM Structured Report (SR)", "Validation")
and SPEC.md ("dicom/ - DICOM Segmentation and Structured Report objects referencing the source
images") promise; each test says which.

A frame holds one ovary in the SEG/SR: a dual display's other panes are not stored (README,
"only the counted pane is stored in the DICOM SEG/SR"), so no frame draws several.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.sr.codedict import codes
from test_dicom_seg_sr import NAME, _dciodvfy_errors, _measurements, _result, _source, _walk  # tests/ is on sys.path

from follicle_seg.analyse import KeyFrame
from follicle_seg.artefacts import seg_filename, with_outlines, write_dicom
from follicle_seg.report.dicom_sr import follicle_tracking_id
from follicle_seg.types import FOLLICLE, OVARY, UNCALIBRATED, Calibration, Follicle, ImageResult, Network, Section

PROPERTIES = settings(max_examples=40)  # (deterministic: tests/conftest.py's profile)

NETWORK = Network("0.4.0", "0d9ee58e1dc0cd83", "none")
SHAPES = ((24, 32), (25, 31), (31, 24), (33, 33))  # (rows, columns): even and odd
PHOTOMETRICS = ("MONOCHROME2", "RGB", "YBR_FULL")
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


@dataclass(frozen=True)
class Drawn:
    """One drawn image: how its source is written and what the run found on it."""

    shape: tuple[int, int]
    n_frames: int
    photometric: str
    calibrated: bool
    side: str  # "L", "R", "U"
    region: tuple[int, int, int, int]  # (min_col, min_row, max_col, max_row) the run analysed
    key_frames: tuple[int, ...]
    ovary: dict[int, tuple[int, int, int, int]] | None  # key frame -> box (r0, c0, r1, c1), region grid
    follicles: tuple[dict[int, tuple[int, int, int, int]], ...]  # follicle k+1's box on each key frame it is on
    best: tuple[int, ...]  # follicle k+1's frame of its largest section
    specks: dict[int, list[tuple[int, int, int, int]]]  # unreported follicle pixels on each key frame
    sizes: tuple[tuple[float, float, float, float | None], ...]  # each follicle's d1, d2, area, volume (mm)
    ovary_size: tuple[float, float, float, float | None]
    in_sweep: tuple[int, int] | None
    pseudonymised: bool


def _box(draw, rows: int, cols: int, near: tuple[int, int, int, int] | None = None) -> tuple[int, int, int, int]:
    """A box (r0, c0, r1, c1; exclusive ends) inside ``rows`` x ``cols``, its top-left corner in
    ``near`` when given (so that it overlaps that box), at most half the grid each way."""
    top = draw(st.integers(near[0], near[2] - 1)) if near else draw(st.integers(0, rows - 2))
    left = draw(st.integers(near[1], near[3] - 1)) if near else draw(st.integers(0, cols - 2))
    height = draw(st.integers(2, max(2, rows // 2)))
    width = draw(st.integers(2, max(2, cols // 2)))
    return top, left, min(rows, top + height), min(cols, left + width)


def _grow(box: tuple[int, int, int, int], by: int = 1) -> tuple[int, int, int, int]:
    return box[0] - by, box[1] - by, box[2] + by, box[3] + by


def _meet(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


SIZE = st.floats(0.5, 60.0, allow_nan=False)


@st.composite
def images(draw) -> Drawn:
    shape = draw(st.sampled_from(SHAPES))
    rows, cols = shape
    n_frames = draw(st.sampled_from((1, 1, 3)))
    # the analysed region: the whole frame (structures reach the image's edge) or an inset one
    inset = draw(st.sampled_from((0, 0, 2)))
    region = (inset, inset, cols - 1 - inset, rows - 1 - inset)
    r_rows, r_cols = rows - 2 * inset, cols - 2 * inset
    key_frames = (0,) if n_frames == 1 else tuple(sorted(draw(st.sets(st.integers(0, n_frames - 1), min_size=1))))
    has_ovary = draw(st.booleans()) or draw(st.booleans())
    ovary = {k: _box(draw, r_rows, r_cols) for k in key_frames} if has_ovary else None
    follicles, best = [], []
    for _ in range(draw(st.integers(0, 4)) if has_ovary else 0):
        on = draw(st.sets(st.sampled_from(key_frames), min_size=1))
        follicles.append({k: _box(draw, r_rows, r_cols, near=ovary[k]) for k in sorted(on)})
        best.append(draw(st.sampled_from(sorted(on))))
    specks: dict[int, list[tuple[int, int, int, int]]] = {}
    for k in key_frames:  # apart from the follicles and from each other, touching the ovary or not
        for box in draw(st.lists(st.tuples(st.integers(0, r_rows - 2), st.integers(0, r_cols - 2)), max_size=2)):
            speck = (box[0], box[1], box[0] + 2, box[1] + 2)
            taken = [f[k] for f in follicles if k in f] + specks.get(k, [])
            if not any(_meet(_grow(speck), other) for other in taken):
                specks.setdefault(k, []).append(speck)
    calibrated = draw(st.booleans())
    sizes = tuple((draw(SIZE), draw(SIZE), draw(SIZE), draw(st.none() | st.floats(1e-6, 40.0))) for _ in follicles)
    return Drawn(
        shape=shape, n_frames=n_frames, photometric=draw(st.sampled_from(PHOTOMETRICS)), calibrated=calibrated,
        side=draw(st.sampled_from("LRU")), region=region, key_frames=key_frames, ovary=ovary,
        follicles=tuple(follicles), best=tuple(best), specks=specks, sizes=sizes,
        ovary_size=(draw(SIZE), draw(SIZE), draw(SIZE), draw(st.none() | st.floats(1e-4, 90.0))),
        in_sweep=draw(st.none() | st.sampled_from(((0, 2), (2, 6)))) if n_frames == 1 else None,
        pseudonymised=draw(st.booleans()),
    )  # fmt: skip


def _maps(drawn: Drawn, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The region-grid label map and reported-follicle-id map of key frame ``k``: the ovary, then
    the specks, then the follicles in order (a later one covering an earlier one where they meet)."""
    c0, r0, c1, r1 = drawn.region
    labels = np.zeros((r1 - r0 + 1, c1 - c0 + 1), np.uint8)
    ids = np.zeros(labels.shape, np.int32)
    if drawn.ovary is not None:
        a, b, c, d = drawn.ovary[k]
        labels[a:c, b:d] = OVARY
    for a, b, c, d in drawn.specks.get(k, []):
        labels[a:c, b:d] = FOLLICLE
    for follicle_id, boxes in enumerate(drawn.follicles, start=1):
        if k in boxes:
            a, b, c, d = boxes[k]
            labels[a:c, b:d] = FOLLICLE
            ids[a:c, b:d] = follicle_id
    return labels, ids


def _expected(drawn: Drawn, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Segments 1 and 2 of key frame ``k``'s SEG on the source grid, as the docs say them: the
    ovary including its reported follicles; the reported follicles, a speck drawn as the ovary
    when it touches an ovary pixel, else as background."""
    labels, ids = _maps(drawn, k)
    ovary_pixels = labels == OVARY
    follicle = ids > 0
    ovary = ovary_pixels | follicle
    for a, b, c, d in drawn.specks.get(k, []):
        a0, b0 = max(a - 1, 0), max(b - 1, 0)
        if ovary_pixels[a0 : c + 1, b0 : d + 1].any():
            ovary[a:c, b:d] = True
    full = np.zeros((2, *drawn.shape), bool)
    c0, r0, c1, r1 = drawn.region
    full[0, r0 : r1 + 1, c0 : c1 + 1] = ovary
    full[1, r0 : r1 + 1, c0 : c1 + 1] = follicle
    return full[0], full[1]


def _section(drawn: Drawn, frame: int, box: tuple[int, int, int, int], size) -> Section:
    mm = (lambda v: v) if drawn.calibrated else (lambda v: None)
    c0, r0 = drawn.region[:2]
    return Section(frame, r0 + (box[0] + box[2]) / 2, c0 + (box[1] + box[3]) / 2, (box[2] - box[0]) * (box[3] - box[1]),
                   10.0, 8.0, mm(size[0]), mm(size[1]), mm(size[2]))  # fmt: skip


def _write(drawn: Drawn, folder: Path, **header) -> tuple[ImageResult, Path]:
    """The source of ``drawn`` (``header``: its SOP Instance UID, Instance Number) and the result
    a run found on it, its SEGs and SR written into ``folder/out/dicom`` as a run writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = drawn.shape
    regions = [dict(min_col=0, min_row=0, max_col=cols - 1, max_row=rows - 1, delta_x_mm=0.1, delta_y_mm=0.1)]
    source = _source(folder / "src.dcm", drawn.n_frames, shape=drawn.shape, photometric=drawn.photometric,
                     laterality=None if drawn.side == "U" else drawn.side, regions=regions if drawn.calibrated else [],
                     **header)  # fmt: skip
    ds = pydicom.dcmread(source)
    ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "ACC123", "Who^Doctor", "S7"
    ds.save_as(source)
    template = _result(source, calibrated=drawn.calibrated).record
    record = replace(
        template, rows=rows, columns=cols, region=drawn.region, laterality=drawn.side, photometric=drawn.photometric,
        calibration=Calibration(0.1, 0.1, "ultrasound_region") if drawn.calibrated else UNCALIBRATED,
        patient_id="P93ce869be00" if drawn.pseudonymised else "P0001",
    )  # fmt: skip
    uid = record.sop_instance_uid
    follicles = tuple(
        Follicle(i, uid, _section(drawn, frame, boxes[frame], size), drawn.n_frames, None,
                 size[3] if drawn.calibrated else None)
        for i, (boxes, frame, size) in enumerate(zip(drawn.follicles, drawn.best, drawn.sizes), start=1)
    )  # fmt: skip
    ovary = None
    if drawn.ovary is not None:
        frame = drawn.key_frames[-1]
        ovary = _section(drawn, frame, drawn.ovary[frame], drawn.ovary_size)
    result = ImageResult(record, str(source), "ok", follicles=follicles, ovary=ovary, key_frames=drawn.key_frames,
                         ovary_volume_ml=drawn.ovary_size[3] if drawn.calibrated and ovary else None)  # fmt: skip
    result = with_outlines(result, _keys(drawn))
    return result, _run(drawn, result, folder)


def _keys(drawn: Drawn) -> list[KeyFrame]:
    """The key frames of ``drawn`` as the run hands them on (no unsure candidate)."""
    return [KeyFrame(k, labels, ids, np.zeros_like(ids), ids) for k in drawn.key_frames for labels, ids in [_maps(drawn, k)]]


def _run(drawn: Drawn, result: ImageResult, folder: Path) -> Path:
    """Write the SEGs and SR of ``result`` as a run does, into ``folder/out/dicom``."""
    out = folder / "out"
    write_dicom(out, result, _keys(drawn), pseudonymised=drawn.pseudonymised, network=NETWORK, in_sweep=drawn.in_sweep)
    return out / "dicom"


def _objects(dicom: Path) -> list[Path]:
    return sorted(dicom.glob("*.dcm"))


@PROPERTIES
@given(images())
def test_each_key_frames_seg_holds_exactly_the_reported_masks_on_the_frame_it_names(drawn: Drawn) -> None:
    """docs/review_outputs.md, "DICOM Segmentation (SEG)": a BINARY SEG on the source frame's
    grid for each still and each key frame of a sweep, referencing the source SOP instance (and
    frame, 1-based), segment 1 ``ovary`` (the ovary including its follicles), 2 ``follicle`` (the
    reported follicles; a speck drawn as the ovary it lies in, as background when it touches no
    ovary pixel), both with the side found as modifier. Every SEG has both segments, an empty one
    too (an image without ovary or follicles): the docs' table lists two, always."""
    with tempfile.TemporaryDirectory() as tmp:
        result, dicom = _write(drawn, Path(tmp))
        record = result.record
        source = pydicom.dcmread(record.path, stop_before_pixels=True)
        names = {seg_filename(record, k) for k in drawn.key_frames}
        assert {p.name for p in _objects(dicom)} == names | {f"{record.sop_instance_uid}_sr.dcm"}
        for k in drawn.key_frames:
            path = dicom / seg_filename(record, k)
            seg = hd.seg.segread(path)
            assert seg.segmentation_type == hd.seg.SegmentationTypeValues.BINARY
            assert (seg.Rows, seg.Columns) == drawn.shape
            assert seg.get_source_image_uids() == [(source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID)]
            assert [seg.get_segment_description(n).segment_label for n in (1, 2)] == ["ovary", "follicle"]
            assert seg.get_segment_description(1).segmented_property_type == codes.SCT.Ovary
            assert seg.get_segment_description(2).segmented_property_type == codes.SCT.OvarianFollicleStructure
            for item in seg.SegmentSequence:
                modifiers = item.SegmentedPropertyTypeCodeSequence[0].get("SegmentedPropertyTypeModifierCodeSequence", [])
                assert [m.CodeMeaning for m in modifiers] == {"L": ["Left"], "R": ["Right"], "U": []}[drawn.side]
            raw = pydicom.dcmread(path)
            references = [raw.SourceImageSequence[0], *(f.DerivationImageSequence[0].SourceImageSequence[0]
                                                        for f in raw.PerFrameFunctionalGroupsSequence)]  # fmt: skip
            for ref in references:
                assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
                assert ref.ReferencedSOPClassUID == source.SOPClassUID
                assert ref.get("ReferencedFrameNumber") == (k + 1 if drawn.n_frames > 1 else None)
            pixels = seg.get_pixels_by_source_instance([source.SOPInstanceUID], segment_numbers=[1, 2])[0]
            ovary, follicle = _expected(drawn, k)
            assert np.array_equal(pixels[..., 0] > 0, ovary), f"segment 1 of frame {k}"
            assert np.array_equal(pixels[..., 1] > 0, follicle), f"segment 2 of frame {k}"


def _groups(sr: hd.sr.ComprehensiveSR) -> dict[str, tuple[str, object]]:
    """The SR's measurement groups by tracking identifier, each with its TID (1410, 1411, 1501)."""
    content = sr.content
    kinds = (("1410", content.get_planar_roi_measurement_groups()),
             ("1411", content.get_volumetric_roi_measurement_groups()), ("1501", content.get_image_measurement_groups()))  # fmt: skip
    found = [(g.tracking_identifier, (tid, g)) for tid, groups in kinds for g in groups]
    assert len({name for name, _ in found}) == len(found)
    return dict(found)


def _outline(result: ImageResult, frame: int, ident: int) -> np.ndarray | None:
    """The outline the SR draws of ``ident`` on ``frame``: the first (largest) kept there."""
    for f, i, points in result.outlines:
        if (f, i) == (frame, ident) and len(points) >= 6:
            return np.array(points, float).reshape(-1, 2)
    return None


def _image_reference(tid: str, group) -> pydicom.Dataset:
    """The source image item a TID 1410 group's region or a TID 1501 group cites."""
    if tid == "1410":
        return group.roi.ContentSequence[0].ReferencedSOPSequence[0]
    (item,) = [i for i in group[0].ContentSequence if i.ValueType == "IMAGE"]
    return item.ReferencedSOPSequence[0]


@PROPERTIES
@given(images())
def test_the_sr_says_each_follicle_and_the_ovary_as_the_result_measured_them(drawn: Drawn) -> None:
    """docs/review_outputs.md, "DICOM Structured Report (SR)": a TID 1410 group per follicle
    (``follicle <id>``, with the file's place when in a sweep of single-frame files), its outline
    on its largest section (pixel centres + 0.5, closed, the frame named in a cine), TID 1501
    without one; Long axis, Short axis, Diameter (Mean), Area and Volume rounded as the tables
    (2, 2, 2, 2, 5 decimals; the ovary's volume 3) in UCUM mm, mm2, ml; finding site the ovary
    with its side; the ovary's group with the image's count in ``{follicles}`` (sections of a
    sweep's file), a TID 1411 group on the still's SEG ovary segment, else on its outline, "Ovary
    found: No" without one; an uncalibrated image no size, and each group saying why."""
    with tempfile.TemporaryDirectory() as tmp:
        result, dicom = _write(drawn, Path(tmp))
        record = result.record
        sr_path = dicom / f"{record.sop_instance_uid}_sr.dcm"
        sr = hd.sr.srread(sr_path)
        groups = _groups(sr)
        side = f"ovary {drawn.side}"
        assert sorted(groups) == sorted([follicle_tracking_id(f.follicle_id, drawn.in_sweep) for f in result.follicles] + [side])
        uncalibrated = [("Image calibration", "Uncalibrated: no mm per pixel, sizes not measured")] * (not drawn.calibrated)
        laterality = {"L": codes.SCT.Left, "R": codes.SCT.Right, "U": None}[drawn.side]
        for tid, group in groups.values():
            (site,) = group.finding_sites
            assert site.value == codes.SCT.Ovary
            assert site.laterality == laterality
        for follicle, size in zip(result.follicles, drawn.sizes):
            tid, group = groups[follicle_tracking_id(follicle.follicle_id, drawn.in_sweep)]
            assert group.finding_type == codes.SCT.OvarianFollicleStructure
            expected = {}
            if drawn.calibrated:
                d1, d2, area, volume = size
                expected = {"Long axis": (round(d1, 2), "mm"), "Short axis": (round(d2, 2), "mm"),
                            "Diameter": (round((d1 + d2) / 2, 2), "mm"), "Area": (round(area, 2), "mm2")}  # fmt: skip
                if volume is not None:
                    expected["Volume"] = (round(volume, 5), "ml")
            assert _measurements(group) == expected
            assert [(e.name.meaning, e.value.meaning) for e in group.get_qualitative_evaluations()] == uncalibrated
            outline = _outline(result, follicle.best.frame_index, follicle.follicle_id)
            assert tid == ("1410" if outline is not None else "1501")
            ref = _image_reference(tid, group)
            assert (ref.ReferencedSOPInstanceUID, ref.ReferencedSOPClassUID) == (record.sop_instance_uid, record.sop_class_uid)
            assert ref.get("ReferencedFrameNumber") == (follicle.best.frame_index + 1 if drawn.n_frames > 1 else None)
            if outline is not None:
                polygon = group.roi.value
                assert np.array_equal(polygon[:-1], outline + 0.5) and np.array_equal(polygon[0], polygon[-1])
                _, ids = _maps(drawn, follicle.best.frame_index)
                c0, r0 = drawn.region[:2]
                cols, rows = (outline.astype(int) - (c0, r0)).T
                assert (ids[rows, cols] == follicle.follicle_id).all()  # drawn on its own pixels
        tid, ovary = groups[side]
        assert ovary.finding_type == codes.SCT.Ovary
        count = ("Number of follicle sections in this file of a sweep" if drawn.in_sweep else "Number of follicles")
        expected = {count: (len(result.follicles), "{follicles}")}
        if drawn.calibrated and result.ovary is not None:
            d1, d2, area, volume = drawn.ovary_size
            expected |= {"Long axis": (round(d1, 2), "mm"), "Short axis": (round(d2, 2), "mm"), "Area": (round(area, 2), "mm2")}
            if volume is not None:
                expected["Volume"] = (round(volume, 3), "ml")
        assert _measurements(ovary) == expected
        not_found = [("Ovary found in this image", "No")] * (result.ovary is None)
        assert [(e.name.meaning, e.value.meaning) for e in ovary.get_qualitative_evaluations()] == uncalibrated + not_found
        seg_uids = {str(pydicom.dcmread(p).SOPInstanceUID) for p in dicom.glob("*_seg.dcm")}
        if result.ovary is None:
            assert tid == "1501"
        elif drawn.n_frames == 1:  # the still's SEG, its ovary segment
            assert tid == "1411"
            assert ovary.referenced_segment is not None  # (highdicom reads every item's CodeValue)
            cited = [(str(r.ReferencedSOPInstanceUID), r.ReferencedSegmentNumber) for i in ovary[0].ContentSequence
                     if i.ValueType == "IMAGE" for r in i.ReferencedSOPSequence if "ReferencedSegmentNumber" in r]  # fmt: skip
            assert cited == [(uid, 1) for uid in seg_uids]
        else:
            outline = _outline(result, result.ovary.frame_index, 0)
            assert tid == "1410" and np.array_equal(ovary.roi.value[:-1], outline + 0.5)
            assert _image_reference(tid, ovary).ReferencedFrameNumber == result.ovary.frame_index + 1
        evidence = {str(i.ReferencedSOPInstanceUID) for study in sr.CurrentRequestedProcedureEvidenceSequence
                    for series in study.ReferencedSeriesSequence for i in series.ReferencedSOPSequence}  # fmt: skip
        # (a still's SEG is among the evidence with no ovary to cite it too: the evidence lists what the
        # report was made of, PS3.3 C.17.2.3, not only what its content cites)
        assert evidence == {record.sop_instance_uid} | (seg_uids if drawn.n_frames == 1 else set())
        units = {str(e.value) for e in _walk(pydicom.dcmread(sr_path)) if e.keyword == "CodeValue"}
        assert "pixels" not in units and "{pixels}" not in units


@PROPERTIES
@given(images())
def test_the_objects_name_the_patient_and_study_of_the_source_and_their_uids_follow_the_docs(drawn: Drawn) -> None:
    """docs/review_outputs.md: patient name, birth date and sex written empty, the PatientID kept
    (the pseudonym of a ``--pseudonymize`` run, whose objects also have the study's accession
    number, referring physician and ID empty; docs/reliability.md); the source's study. SOP
    Instance UIDs derived from the source and the content: the same on a rerun, another for
    another source of the same content; one SEG and one SR series per source series (a cine's
    SEGs a series of its own), a still's objects numbered as it is, a cine's SEGs by frame."""
    with tempfile.TemporaryDirectory() as tmp:
        result, dicom = _write(drawn, Path(tmp) / "a", instance_number=3)
        again = _run(drawn, result, Path(tmp) / "again")  # a rerun: the same source and result
        _, twin_dicom = _write(drawn, Path(tmp) / "b", instance_number=4)  # another file of the series, alike
        source = pydicom.dcmread(result.record.path, stop_before_pixels=True)
        first = {p.name: pydicom.dcmread(p) for p in _objects(dicom)}
        second = {p.name: pydicom.dcmread(p) for p in _objects(again)}
        other = [pydicom.dcmread(p) for p in _objects(twin_dicom)]
        assert {n: d.SOPInstanceUID for n, d in first.items()} == {n: d.SOPInstanceUID for n, d in second.items()}
        uids = [d.SOPInstanceUID for d in [*first.values(), *other]]
        assert len(set(uids)) == len(uids) == 2 * len(first)
        patient = "P93ce869be00" if drawn.pseudonymised else "P0001"
        for name, ds in first.items():
            raw = (dicom / name).read_bytes()
            assert NAME.encode() not in raw and b"Doe" not in raw
            assert (ds.PatientID, str(ds.PatientName), ds.PatientBirthDate, ds.PatientSex) == (patient, "", "", "")
            assert [e.value for e in _walk(ds) if e.keyword == "PatientID"] == [patient]
            assert (ds.StudyInstanceUID, ds.StudyDate) == (source.StudyInstanceUID, source.StudyDate)
            study = ("", "", "") if drawn.pseudonymised else ("ACC123", "Who^Doctor", "S7")
            assert (ds.AccessionNumber, str(ds.ReferringPhysicianName), ds.StudyID) == study
            assert ds.SeriesInstanceUID != source.SeriesInstanceUID
            if drawn.pseudonymised:
                assert b"P0001" not in raw and b"ACC123" not in raw and b"Who^Doctor" not in raw
        segs = [d for n, d in sorted(first.items()) if n.endswith("_seg.dcm")]
        twin_segs = [d for d in other if d.SOPClassUID == SEG_CLASS]
        (sr,) = [d for n, d in first.items() if n.endswith("_sr.dcm")]
        (twin_sr,) = [d for d in other if d.SOPClassUID != SEG_CLASS]
        assert sr.SeriesInstanceUID == twin_sr.SeriesInstanceUID and sr.InstanceNumber == 3 and twin_sr.InstanceNumber == 4
        assert len({d.SeriesInstanceUID for d in segs}) == 1
        if drawn.n_frames == 1:
            assert segs[0].SeriesInstanceUID == twin_segs[0].SeriesInstanceUID
            assert (segs[0].InstanceNumber, twin_segs[0].InstanceNumber) == (3, 4)
        else:  # a cine's key-frame SEGs: a series of its own, numbered by frame
            assert segs[0].SeriesInstanceUID != twin_segs[0].SeriesInstanceUID
            assert [d.InstanceNumber for d in segs] == [k + 1 for k in drawn.key_frames]
        assert {d.SeriesInstanceUID for d in segs}.isdisjoint({sr.SeriesInstanceUID})


@settings(max_examples=8)
@given(images())
def test_drawn_segs_and_srs_pass_dciodvfy(drawn: Drawn) -> None:
    """docs/review_outputs.md, "Validation (dciodvfy)": no errors (the warnings name the private
    coding scheme)."""
    with tempfile.TemporaryDirectory() as tmp:
        _, dicom = _write(drawn, Path(tmp))
        errors = {p.name: _dciodvfy_errors(p) for p in _objects(dicom)}
        assert errors == {name: [] for name in errors}
