"""scripts/real_as_dicom.py: annotated captures wrapped as DICOM, the pipeline run on them, scored."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from script_module import SCRIPTS, load_script  # tests/ is on sys.path


@pytest.fixture
def module(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # it imports eval_real, as when run from scripts/
    return load_script("real_as_dicom")


@pytest.fixture(scope="module")
def frame():
    from follicle_seg.synth.training import training_frame

    return training_frame(1000042, style="ge_sri_smooth")


LINE = (slice(200, 203), slice(280, 310))


def _folder(tmp_path, frame, suffixes=(".jpg", ".png")):
    (tmp_path / "images").mkdir(parents=True)
    (tmp_path / "masks").mkdir()
    rgb = np.repeat(frame.pixels[..., None], 3, axis=2)
    rgb[LINE] = (255, 255, 0)  # a yellow caliper line in the fan, as the real captures carry
    for k, suffix in enumerate(suffixes):
        Image.fromarray(rgb).save(tmp_path / "images" / f"cap{k}{suffix}", quality=90)
        Image.fromarray(((frame.labels > 0) * 255).astype(np.uint8)).save(tmp_path / "masks" / f"cap{k}.png")
    (tmp_path / "images" / "unmasked.png").write_bytes((tmp_path / "images" / f"cap0{suffixes[0]}").read_bytes())
    return tmp_path


def test_captures_become_uncalibrated_ultrasound_files_the_pipeline_reads(tmp_path, frame, module) -> None:
    from follicle_seg.io.dicom import iter_frames, read_record
    from follicle_seg.types import UNCALIBRATED

    folder = _folder(tmp_path / "in", frame)
    written = module.write_captures(folder, tmp_path / "dicom")
    assert [p.name for p in written] == ["cap0.dcm", "cap1.dcm"]  # the capture without a mask is not written
    jpeg, png = (read_record(p) for p in written)
    assert (jpeg.photometric, png.photometric) == ("YBR_FULL_422", "RGB")
    assert jpeg.transfer_syntax == "1.2.840.10008.1.2.4.50" and png.transfer_syntax == "1.2.840.10008.1.2.1"
    for record in (jpeg, png):
        assert record.patient_id in ("cap0", "cap1") and record.laterality == "U"
        assert record.calibration == UNCALIBRATED and record.region_source == "auto"
    import pydicom
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(written[0])
    stored = next(generate_frames(ds.PixelData, number_of_frames=1))
    assert stored.rstrip(b"\0") == (folder / "images" / "cap0.jpg").read_bytes()  # the JPEG's bytes as they are (padded even)
    grey = next(iter_frames(png))
    c0, r0, c1, r1 = png.region
    line = np.zeros(frame.pixels.shape, bool)
    line[LINE] = True
    line = line[r0 : r1 + 1, c0 : c1 + 1]
    np.testing.assert_array_equal(grey.pixels[~line], frame.pixels[r0 : r1 + 1, c0 : c1 + 1][~line])  # lossless
    assert grey.colour is not None and np.array_equal(grey.colour, line)  # the caliper's pixels in colour, as kept
    again = module.capture_dataset(folder / "images" / "cap1.png")
    assert again.SOPInstanceUID == pydicom.dcmread(written[1]).SOPInstanceUID  # written again: the same instance


def _table(path, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_a_run_is_scored_from_its_label_maps_and_tables(tmp_path, module) -> None:
    folder, run = tmp_path / "in", tmp_path / "run"
    for d in (folder / "images", folder / "masks", run / "masks"):
        d.mkdir(parents=True)
    truth = np.zeros((40, 60), np.uint8)
    truth[10:30, 10:30] = 255  # 400 pixels
    Image.fromarray(truth).save(folder / "masks" / "a.png")
    Image.fromarray(truth).save(folder / "images" / "a.png")
    labels = np.zeros((40, 60), np.uint8)
    labels[10:30, 20:40] = 1  # 400 pixels, 200 shared: Dice 0.5
    labels[15:18, 22:25] = 2
    Image.fromarray(labels).save(run / "masks" / "1.2.3_0.png")
    _table(run / "images.csv", [{"patient_id": "a", "sop_instance_uid": "1.2.3", "status": "ok"},
                                {"patient_id": "gone", "sop_instance_uid": "9", "status": "rejected"}])
    _table(run / "follicles.csv", [{"sop_instance_uid": "1.2.3", "score": "0.95", "centroid_row": "16", "centroid_col": "23"}])
    _table(run / "candidates.csv", [{"sop_instance_uid": "1.2.3", "score": "0.7", "centroid_row": "20", "centroid_col": "35",
                                     "kind": "unsure"}])
    rows = module.score_run(folder, run)
    assert len(rows) == 1 and rows[0]["name"] == "a"
    assert rows[0]["ovary_dice"] == pytest.approx(0.5)
    assert (rows[0]["reported_follicles"], rows[0]["candidates"]) == (1, 1)
    assert rows[0]["follicle_scores"] == [[0.95, True], [0.7, False]]  # the candidate lies outside the outline
    with pytest.raises(SystemExit):  # scoring a run that is not there: a one-line error, not a traceback
        module.main([str(folder), str(tmp_path / "nowhere"), "--skip-run"])


def test_the_whole_road_on_one_capture(tmp_path, frame, module) -> None:
    folder = _folder(tmp_path / "in", frame, suffixes=(".png",))
    assert module.main([str(folder), str(tmp_path / "out"), "--json", str(tmp_path / "s.json")]) == 0
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["summary"]["n_images"] == 1 and [r["name"] for r in report["images"]] == ["cap0"]
    assert 0.0 <= report["images"][0]["ovary_dice"] <= 1.0
    with (tmp_path / "out" / "run" / "images.csv").open(newline="") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["ok"]
    bands = report["summary"]["follicles_by_score"]
    assert sum(b["follicles"] for b in bands) == report["summary"]["reported_follicles"] + report["summary"]["candidates"]
