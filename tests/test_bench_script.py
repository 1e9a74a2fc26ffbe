"""scripts/bench.py: every stage's figure, written as soon as that stage ends."""

from __future__ import annotations

import json
from pathlib import Path

from script_module import load_script  # tests/ is on sys.path


def _script():
    return load_script("bench")


def test_each_stage_rewrites_the_json_so_a_stopped_run_keeps_its_figures(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    figures = {"device": "cpu"}
    stages = _script().Stages(figures, out)
    assert json.loads(out.read_text()) == {"device": "cpu"}
    stages.done(b_decode_fps=12.5)
    assert json.loads(out.read_text()) == {"device": "cpu", "b_decode_fps": 12.5}
    stages.done(a_model_fps=3.0, cuda_peak_allocated_mib=10.0)
    assert json.loads(out.read_text())["a_model_fps"] == 3.0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].endswith("b_decode_fps 12.5")


def test_a_tiny_benchmark_reports_every_stage_on_cpu(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "bench.json"
    monkeypatch.chdir(tmp_path)  # a relative --work, as docs/batch.md's command gives it
    _script().main(["--files", "2", "--small-files", "1", "--frames", "3", "--model-frames", "4",
                    "--batch-size", "2", "--workers", "1", "--workers-sweep", "2", "--device", "cpu", "--work", "w",
                    "--json", str(out)])
    figures = json.loads(out.read_text())
    assert figures["device"] == "cpu" and figures["files"] == 2 and figures["frames_per_file"] == 3
    assert figures["device_name"] == figures["cpu"] == _script().cpu_name() and figures["cpu_count"] >= 1
    # what a rerun needs: the options that made the archive, the code, the network, the precision
    # (it held none of these: the docs' figures named their network and torch by hand)
    import torch

    from follicle_seg import __version__

    assert figures["options"]["seed"] == 7 and figures["options"]["stills"] is False and figures["options"]["work"] == "w"
    assert figures["follicle_seg"] == __version__ and figures["torch"] == torch.__version__
    assert figures["precision"] == "float32" and len(figures["network"]["weights_sha256"]) == 16
    for key in ("b_decode_fps", "a_model_fps", "c_measure_fps", "serial_bound_fps", "d_full_fps",
                "full_with_overlays_dicom_report_fps", "peak_rss_mib_1_files", "peak_rss_mib_2_files"):
        assert figures[key] > 0, key
    # the serial bound is below each of its three stages' rates
    assert figures["serial_bound_fps"] < min(figures["a_model_fps"], figures["b_decode_fps"], figures["c_measure_fps"])
    assert "cuda_peak_allocated_mib" not in figures
    from follicle_seg.engine import MAIN_THREAD_TIMES

    timing = figures["d_timing_s"]  # where the full run's main thread spent its time, from run.log
    assert set(MAIN_THREAD_TIMES) | {"header pass", "model load", "tables and report"} == set(timing)
    assert timing["segmenting"] > 0 and sum(timing.values()) < figures["d_seconds"]
    sweep = figures["d_workers_2"]  # the same full run with --workers 2
    assert sweep["fps"] > 0 and set(timing) == set(sweep["timing_s"])


def test_an_archive_of_stills_holds_one_file_per_frame_of_the_chosen_sweeps(tmp_path: Path) -> None:
    from follicle_seg.io import discover, read_record

    archive = _script().make_archive(tmp_path / "study", 3, 4, seed=1, stills=True)
    records = [read_record(p) for p in discover([archive])]
    assert len(records) == 3 * 4 and all(r.n_frames == 1 for r in records)
    assert len({r.series_instance_uid for r in records}) == 3
    cines = _script().make_archive(tmp_path / "cines", 3, 4, seed=1)
    assert [read_record(p).n_frames for p in discover([cines])] == [4, 4, 4]


def test_a_device_the_machine_lacks_is_one_line_before_the_archive_is_written(tmp_path: Path, monkeypatch, capsys) -> None:
    import pytest
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as stop:
        _script().main(["--files", "1", "--frames", "2", "--device", "cuda", "--work", str(tmp_path / "w")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("--device cuda: device 'cuda' requested but no CUDA GPU is available.")
    assert not (tmp_path / "w").exists()


def test_an_archive_made_with_other_options_is_replaced_and_one_made_alike_reused(tmp_path: Path) -> None:
    from follicle_seg.io import discover, read_record

    bench = _script()
    bench.make_archive(tmp_path / "study", 2, 3, seed=1)
    archive = bench.make_archive(tmp_path / "study", 3, 4, seed=1)  # the same --work, other options
    assert [read_record(p).n_frames for p in discover([archive])] == [4, 4, 4]
    first = sorted(discover([archive]))[0]
    first.write_bytes(first.read_bytes())  # a mark: a reused archive keeps this file's change time
    mark = first.stat().st_mtime_ns
    bench.make_archive(tmp_path / "study", 3, 4, seed=1)
    assert first.stat().st_mtime_ns == mark
    stills = bench.make_archive(tmp_path / "study", 3, 4, seed=1, stills=True)
    assert len(list(discover([stills]))) == 12


def test_the_small_set_holds_the_chosen_files_only(tmp_path: Path) -> None:
    bench = _script()
    archive = bench.make_archive(tmp_path / "study", 3, 2, seed=1)
    paths = sorted(bench.discover([archive]))
    small = tmp_path / "small"
    small.mkdir()
    (small / "left_by_an_earlier_run.dcm").write_bytes(paths[0].read_bytes())
    chosen = bench.copy_small_set(paths, archive, small, 2)
    assert len(chosen) == 2 and chosen[0] == max(paths, key=bench.network_pixels)
    assert sorted(p.name for p in small.iterdir()) == sorted("_".join(p.relative_to(archive).parts) for p in chosen)


def test_the_cpu_is_named_by_its_model() -> None:
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.is_file() else []
    name = _script().cpu_name()
    assert name == (models[0] if models else name) and name
