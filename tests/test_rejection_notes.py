"""IHE IOCM rejection notes among the inputs: the images they list are not analysed."""

from __future__ import annotations

import logging
import pickle
import shutil
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import pandas as pd
import pydicom
import pytest
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from follicle_seg.errors import RejectedInput
from follicle_seg.intake import header_pass
from follicle_seg.io import read_record
from follicle_seg.io.inspect import inspect_paths
from follicle_seg.io.rejection import RejectionNote
from follicle_seg.isolation import WorkerPool
from follicle_seg.pipeline import RunOptions, run
from follicle_seg.state import StateStore

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def key_object_note(path: Path, images: list[Path], title=codes.DCM.RejectedForQualityReasons) -> Path:
    """A Key Object Selection document titled ``title`` listing ``images``, as a PACS exports it."""
    refs = [pydicom.dcmread(p, stop_before_pixels=True) for p in images]
    content = hd.ko.KeyObjectSelection(document_title=title, referenced_objects=refs)
    note = hd.ko.KeyObjectSelectionDocument(evidence=refs, content=content, series_instance_uid=generate_uid(),
                                            series_number=99, sop_instance_uid=generate_uid(), instance_number=1)  # fmt: skip
    note.save_as(path)
    return path


def uid_of(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def two_samples(tmp_path: Path, sub: str = "") -> Path:
    """``tmp_path/in`` holding the left and right sample stills (and an empty folder ``sub``)."""
    inputs = tmp_path / "in"
    (inputs / sub).mkdir(parents=True)
    for name in ("mono_left.dcm", "rgb_rle_right.dcm"):
        shutil.copy(SAMPLES / name, inputs / name)
    return inputs


def test_a_rejection_note_is_read_as_one_and_a_key_object_of_interest_is_not(tmp_path):
    images = [SAMPLES / "mono_left.dcm", SAMPLES / "rgb_rle_right.dcm"]
    note = key_object_note(tmp_path / "note.dcm", images, codes.DCM.IncorrectModalityWorklistEntry)
    with pytest.raises(RejectionNote) as info:
        read_record(note)
    assert info.value.rejection.title == "Incorrect Modality Worklist Entry"
    assert info.value.rejection.sop_instance_uids == tuple(uid_of(p) for p in images)
    assert info.value.reason.startswith("a rejection note (Incorrect Modality Worklist Entry) listing 2 instance(s)")
    copied = pickle.loads(pickle.dumps(info.value))  # (from a decoder process)
    assert copied.rejection == info.value.rejection and str(copied) == str(info.value)
    of_interest = key_object_note(tmp_path / "key images.dcm", images, codes.DCM.OfInterest)
    with pytest.raises(RejectedInput) as info:
        read_record(of_interest)
    assert not isinstance(info.value, RejectionNote) and "not an image" in info.value.reason


def test_header_pass_rejects_every_copy_of_a_listed_image_naming_the_note(tmp_path, caplog):
    inputs = two_samples(tmp_path)
    shutil.copy(SAMPLES / "mono_left.dcm", inputs / "z copy.dcm")
    note = key_object_note(inputs / "a note.dcm", [SAMPLES / "mono_left.dcm", SAMPLES / "palette_j2k_right.dcm"])
    paths = sorted(inputs.iterdir())
    with caplog.at_level(logging.INFO, logger="follicle_seg"), closing(StateStore(tmp_path / "s.sqlite")) as store:
        with WorkerPool(1) as decoders:  # (the note read in a decoder process, as with --workers)
            items = {i.path: i for i in header_pass(paths, store, lambda r: r, 1, decoders)}
    said = f"rejected by key object note {note} (Rejected for Quality Reasons): not analysed"
    for name in ("mono_left.dcm", "z copy.dcm"):
        item = items[str(inputs / name)]
        assert item.record is None and (item.result.status, item.result.reason) == ("rejected", said)
        assert item.result.record.sop_instance_uid == uid_of(SAMPLES / "mono_left.dcm")  # (whose, in images.csv)
    assert items[str(inputs / "rgb_rle_right.dcm")].record is not None
    assert (items[str(note)].result.status, items[str(note)].result.reason) == (
        "rejected", "a rejection note (Rejected for Quality Reasons) listing 2 instance(s): not an image; the images it "
        "lists are not analysed")  # fmt: skip
    assert "1 image(s) listed by rejection notes are not among the inputs" in caplog.text  # (the palette sample's)
    # inspect says of each file what the run says
    rows = {row["path"]: (row["status"], row["reason"]) for row in inspect_paths([inputs])}
    assert rows == {path: (i.result.status, i.result.reason) if i.result else ("ok", "") for path, i in items.items()}


def test_a_note_added_later_takes_its_image_out_of_the_tables_and_one_removed_gives_it_back(tmp_path):
    inputs = two_samples(tmp_path)
    out = tmp_path / "out"
    options = RunOptions(out=out, workers=1, report=False)
    run([inputs], options)
    rejected_uid = uid_of(inputs / "mono_left.dcm")

    def removals() -> int:
        return (out / "run.log").read_text().count("per-image output(s) of earlier runs removed")

    def tables() -> dict[str, pd.DataFrame]:
        return {t: pd.read_csv(out / f"{t}.csv", dtype=str, keep_default_na=False)
                for t in ("images", "follicles", "ovaries")}  # fmt: skip

    before = tables()
    assert (before["follicles"].sop_instance_uid == rejected_uid).any() and len(before["ovaries"]) == 2
    overlays = sorted(p.name for p in (out / "overlays").glob("*.png"))
    dicom = sorted(p.name for p in (out / "dicom").iterdir())
    assert [n for n in dicom if n.startswith(rejected_uid)] == [f"{rejected_uid}_seg.dcm", f"{rejected_uid}_sr.dcm"]
    note = key_object_note(inputs / "note.dcm", [inputs / "mono_left.dcm"])
    summary = run([inputs], options)
    after = tables()
    images = after["images"].set_index("path")
    assert len(images) == 3 and images.loc[str(inputs / "mono_left.dcm"), "status"] == "rejected"
    assert str(note) in images.loc[str(inputs / "mono_left.dcm"), "reason"]
    assert images.loc[str(inputs / "mono_left.dcm"), "sop_instance_uid"] == rejected_uid
    assert not (after["follicles"].sop_instance_uid == rejected_uid).any()
    assert after["ovaries"].laterality.tolist() == ["R"] and after["ovaries"].needs_review.tolist() == ["false"]
    assert summary.frames == 0  # (nothing analysed again)
    assert sorted(p.name for p in (out / "overlays").glob("*.png")) == [n for n in overlays if "_L_" not in n]
    assert sorted(p.name for p in (out / "dicom").iterdir()) == [n for n in dicom if not n.startswith(rejected_uid)]
    assert removals() == 1
    again = run([inputs], options)  # the note still there: the same tables, nothing analysed or removed again
    assert again.frames == 0 and again.rejected == 2 and removals() == 1
    for name, table in tables().items():
        pd.testing.assert_frame_equal(table, after[name], obj=name)
    note.unlink()  # a note withdrawn: the image is analysed again, once
    run([inputs], options)
    for name, table in tables().items():
        pd.testing.assert_frame_equal(table, before[name], obj=name)
    assert sorted(p.name for p in (out / "dicom").iterdir()) == dicom


def test_decisions_about_a_withdrawn_image_are_set_aside_while_the_note_stands(tmp_path):
    inputs = two_samples(tmp_path)
    out = tmp_path / "out"
    options = RunOptions(out=out, workers=1, dicom=False, report=False, isolate=False)
    run([inputs], options)
    uid = uid_of(inputs / "mono_left.dcm")
    follicle = pd.read_csv(out / "follicles.csv", dtype=str).set_index(["sop_instance_uid", "follicle_id"]).loc[(uid, "1")]
    (out / "review.csv").write_text(
        "decision,reviewer,sop_instance_uid,follicle_id,centroid_row,centroid_col,patient_id,study_date,laterality,"
        f"follicle_count\nnot_follicle,AB,{uid},1,{follicle.centroid_row},{follicle.centroid_col},,,,\n"
        f"confirmed,AB,,,,,{follicle.patient_id},{follicle.study_date},L,1\n")  # fmt: skip
    review = (out / "review.csv").read_text()

    def logged() -> pd.DataFrame:
        return pd.read_csv(out / "review_log.csv", dtype=str, keep_default_na=False)

    run([inputs], options)
    applied = logged()
    assert applied.line.tolist() == ["2", "3"] and applied.count_after.tolist() == ["1", "1"]
    note = key_object_note(inputs / "note.dcm", [inputs / "mono_left.dcm"])
    summary = run([inputs], replace(options, report=True))  # (it stopped: "no analysed image <uid>")
    assert summary.review == f"{out / 'review.csv'}: 0 decisions applied, 2 set aside: their images withdrawn by a rejection note (run.log)"
    assert (out / "review.csv").read_text() == review and logged().empty
    why = f"not applied: its image rejected by key object note {note} (Rejected for Quality Reasons): not analysed"
    for line, decision in ((2, "not_follicle"), (3, "confirmed")):
        assert f"review.csv line {line}: {decision}: {why}; it applies again once the note is removed" in (out / "run.log").read_text()
    sheet = pd.read_csv(out / "review_worksheet.csv", dtype=str, keep_default_na=False)
    assert sheet[["decision", "laterality", "why"]].values.tolist() == [["not_follicle", "L", why], ["confirmed", "L", why]]
    report = (out / "report" / "index.html").read_text()
    assert "<h2>To check</h2><p>No follicle or candidate to check.</p>" in report and 'id="reviewed"' in report
    assert "Reviewed (0 decisions)" in report
    note.unlink()
    right = pd.read_csv(out / "ovaries.csv", dtype=str).set_index("laterality").loc["R"]
    with (out / "review.csv").open("a") as f:  # the right ovary confirmed with an image more, then as it is
        f.write(f"confirmed,AB,,,,,{right.patient_id},{right.study_date},R,{right.follicle_count},2\n"
                f"confirmed,AB,,,,,{right.patient_id},{right.study_date},R,{right.follicle_count},1\n")
    (out / "review.csv").write_text((out / "review.csv").read_text().replace("follicle_count\n", "follicle_count,n_images\n"))
    summary = run([inputs], options)
    assert summary.review == (f"{out / 'review.csv'}: 3 decisions applied, 1 set aside: another line confirms their "
                              "ovary-visit as it now is (run.log)")  # fmt: skip
    said = (f"review.csv line 4: confirmed: not applied: line 5 confirms {right.patient_id}/{right.study_date}/R as "
            f"it now is ({right.follicle_count} follicles in 1 image); this line applies when it counts "
            f"{right.follicle_count} follicles in 2 images again\n")  # fmt: skip
    assert said in (out / "run.log").read_text()
    assert logged().line.tolist() == ["2", "3", "5"]
    pd.testing.assert_frame_equal(logged().iloc[:2], applied)


def test_an_image_moved_and_withdrawn_in_one_run_leaves_no_output_behind(tmp_path):
    inputs = two_samples(tmp_path, "sub")
    out = tmp_path / "out"
    options = RunOptions(out=out, workers=1, report=False, isolate=False)
    run([inputs], options)
    uid = uid_of(inputs / "mono_left.dcm")

    def outputs() -> list[str]:
        return sorted(p.name for p in out.rglob("*") if p.is_file() and (uid in p.name or f"_{uid[-8:]}-" in p.name))

    assert len(outputs()) == 5  # (SEG, SR, overlay, crops of its 2 follicles)
    shutil.move(inputs / "mono_left.dcm", inputs / "sub" / "mono_left.dcm")
    key_object_note(inputs / "note.dcm", [inputs / "sub" / "mono_left.dcm"])
    run([inputs], options)
    assert pd.read_csv(out / "images.csv").set_index("path").loc[str(inputs / "sub" / "mono_left.dcm"), "status"] == "rejected"
    assert outputs() == []  # (its SEG and SR stayed, which follicle-seg send would store)
    removed = "files analysed again or withdrawn: 5 per-image output(s) of earlier runs removed"  # (said 'analysed again')
    assert removed in (out / "run.log").read_text()


def test_a_damaged_copy_of_a_listed_image_is_withdrawn_with_it_not_counted_missing(tmp_path, caplog):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLES / "rgb_rle_right.dcm", inputs / "rgb_rle_right.dcm")
    whole = (SAMPLES / "mono_left.dcm").read_bytes()
    (inputs / "cut.dcm").write_bytes(whole[: len(whole) * 2 // 3])  # (a copy stopped midway: its header read)
    note = key_object_note(inputs / "note.dcm", [SAMPLES / "mono_left.dcm", SAMPLES / "palette_j2k_right.dcm"])
    with caplog.at_level(logging.INFO, logger="follicle_seg"), closing(StateStore(tmp_path / "s.sqlite")) as store:
        items = {i.path: i for i in header_pass(sorted(inputs.iterdir()), store, lambda r: r, 1)}
    cut = items[str(inputs / "cut.dcm")].result
    assert (cut.status, cut.reason) == ("rejected", f"rejected by key object note {note} (Rejected for Quality Reasons): not analysed")
    assert cut.identity.sop_instance_uid == uid_of(SAMPLES / "mono_left.dcm")  # (whose, in images.csv)
    assert "1 image(s) listed by rejection notes are not among the inputs" in caplog.text  # (said 2: the cut copy's too)
    rows = {row["path"]: (row["status"], row["reason"]) for row in inspect_paths([inputs])}
    assert rows == {path: (i.result.status, i.result.reason) if i.result else ("ok", "") for path, i in items.items()}


def test_a_damaged_copy_rejected_by_an_earlier_run_is_withdrawn_by_a_note_added_later(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    whole = (SAMPLES / "mono_left.dcm").read_bytes()
    (inputs / "cut.dcm").write_bytes(whole[: len(whole) * 2 // 3])  # (its header read: whose it is known)
    out = tmp_path / "out"
    options = RunOptions(out=out, workers=1, dicom=False, report=False, isolate=False)

    def row() -> list[str]:
        images = pd.read_csv(out / "images.csv", dtype=str, keep_default_na=False).set_index("path")
        return images.loc[str(inputs / "cut.dcm"), ["status", "reason"]].tolist()

    run([inputs], options)
    truncated = row()
    assert truncated[1].startswith("truncated")
    note = key_object_note(inputs / "note.dcm", [SAMPLES / "mono_left.dcm"])
    run([inputs], options)  # (the copy stood as rejected 'truncated', its image counted missing)
    withdrawn = ["rejected", f"rejected by key object note {note} (Rejected for Quality Reasons): not analysed"]
    assert row() == withdrawn and "not among the inputs" not in (out / "run.log").read_text()
    assert {r["path"]: [r["status"], r["reason"]] for r in inspect_paths([inputs])}[str(inputs / "cut.dcm")] == withdrawn
    note.unlink()
    run([inputs], options)
    assert row() == truncated
