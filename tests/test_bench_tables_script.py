"""scripts/bench_tables.py: every stage after the network measured on a generated trial."""

from __future__ import annotations

from pathlib import Path

from script_module import load_script  # tests/ is on sys.path


def test_a_one_patient_trial_reports_every_stage(tmp_path: Path, capsys) -> None:
    bench = load_script("bench_tables")
    bench.main(["--sizes", "1x1", "--frames", "2", "--decisions", "3", "--work", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["stage", "size", "files", "seconds", "peak", "MB"]
    rows = [line.rsplit(maxsplit=4) for line in lines[1:]]
    assert [name for name, *_ in rows] == list(bench.STAGES)
    assert {(size, files) for _, size, files, _, _ in rows} == {("1x1", "4")}  # a still and a sweep per side
    assert all(float(seconds) >= 0 and float(peak) > 0 for *_, seconds, peak in rows)
    out = tmp_path / "1x1_cine" / "out"
    assert not (out / "review.csv").exists()  # the review run leaves the run as it found it
    images = (out / "images.csv").read_text().splitlines()
    assert len(images) == 5 and all(",ok," in row for row in images[1:])
    # the truth stood in for the network: every follicle's mean probability is the stand-in's 0.9 + 0.05
    follicles = [row.split(",") for row in (out / "follicles.csv").read_text().splitlines()]
    score = follicles[0].index("score")
    assert len(follicles) > 1 and {row[score] for row in follicles[1:]} == {"0.95"}


def test_review_lines_decide_whole_ovary_visits_up_to_the_number_asked() -> None:
    import pandas as pd

    bench = load_script("bench_tables")
    line = dict.fromkeys(("decision", "reviewer", "patient_id", "study_date", "laterality", "sop_instance_uid",
                          "follicle_id", "why"), "")  # fmt: skip
    sheet = pd.DataFrame([
        {**line, "patient_id": "P1", "laterality": "L"},
        {**line, "patient_id": "P1", "laterality": "L", "sop_instance_uid": "1", "follicle_id": "1"},
        {**line, "patient_id": "P1", "laterality": "R"},
        {**line, "patient_id": "P1", "laterality": "R", "sop_instance_uid": "2", "follicle_id": "1"},
        {**line, "patient_id": "P1", "laterality": "R", "sop_instance_uid": "2", "follicle_id": "2",
         "why": "network unsure (0.4): follicle or not_follicle?"},
    ])  # fmt: skip
    decided = bench.review_lines(sheet, 3)
    assert list(decided["decision"]) == ["confirmed", "not_follicle", "follicle"]
    assert list(decided.index) == [0, 3, 4] and set(decided["reviewer"]) == {"bench"}
    assert list(bench.review_lines(sheet, 2)["decision"]) == ["confirmed", "not_follicle"]
