"""scripts/export_pairs.py: a run's --save-masks maps and their sources as fine-tuning pairs."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from follicle_seg.io import iter_frames, read_record
from follicle_seg.model.data import read_image_pairs
from script_module import load_script

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def test_pairs_are_the_region_crops_of_the_frames_and_the_runs_maps(samples_run: Path, tmp_path: Path, capsys) -> None:
    script = load_script("export_pairs")
    assert script.main([str(samples_run), str(SAMPLES), "--out", str(tmp_path / "pairs"), "--step", "5"]) == 0
    pairs = {name: rest for name, *rest in read_image_pairs(tmp_path / "pairs")}
    records = {r.sop_instance_uid: r for r in (read_record(p) for p in SAMPLES.glob("*.dcm")
                                               if not p.name.startswith("bad_"))}  # fmt: skip
    cine = next(r for r in records.values() if r.n_frames == 20)
    expected = {f"{sop}_0" for sop in records} | {f"{cine.sop_instance_uid}_{k}" for k in (5, 10, 15)}
    assert set(pairs) == expected  # every still, and every 5th frame of the 20-frame cine
    for name, (pixels, labels, row_mm, col_mm) in pairs.items():
        sop, frame = name.rsplit("_", 1)
        record = records[sop]
        c0, r0, c1, r1 = record.region
        run_map = cv2.imread(str(samples_run / "masks" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(labels, run_map[r0 : r1 + 1, c0 : c1 + 1])
        np.testing.assert_array_equal(pixels, next(iter_frames(record, start=int(frame), stop=int(frame) + 1)).pixels)
        assert (row_mm, col_mm) == (record.calibration.spacing_row_mm, record.calibration.spacing_col_mm)
    assert any(labels.max() > 0 for _, labels, *_ in pairs.values())  # the run found something to correct
    assert "written" in capsys.readouterr().out


def test_a_map_without_its_source_is_named_and_left_out(samples_run: Path, tmp_path: Path, capsys) -> None:
    script = load_script("export_pairs")
    some = tmp_path / "some"
    some.mkdir()
    shutil.copy(SAMPLES / "mono_left.dcm", some)
    assert script.main([str(samples_run), str(some), "--out", str(tmp_path / "pairs")]) == 0
    pairs = read_image_pairs(tmp_path / "pairs")
    assert [p[0] for p in pairs] == [f"{read_record(some / 'mono_left.dcm').sop_instance_uid}_0"]
    said = capsys.readouterr().out
    assert said.count("is not among the files given; left out") == 6  # the other ok files' maps
    empty = tmp_path / "empty"
    empty.mkdir()
    assert script.main([str(samples_run), str(empty), "--out", str(tmp_path / "none")]) == 1
    assert script.main([str(tmp_path), str(some), "--out", str(tmp_path / "x")]) == 1  # no masks/: not a run
