"""`follicle-seg inspect`: a row per file with calibration, side, reasons; --json round trip."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from follicle_seg.cli import app
from follicle_seg.io.inspect import COLUMNS, inspect_paths, print_table, summary_lines
from follicle_seg.io.write import write_us_dicom

SPEC_COLUMNS = [
    "path",
    "sop_instance_uid",
    "patient_id",
    "study_date",
    "laterality",
    "n_frames",
    "spacing_row_mm",
    "spacing_col_mm",
    "calibrated",
    "status",
    "reason",
    "follicle_count",
]
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_samples.py"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    runpy.run_path(str(SCRIPT))["main"](out)
    return out


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {Path(row["path"]).name: row for row in rows}


def test_samples_script_writes_small_files_that_inspect_explains(samples: Path) -> None:
    total = sum(p.stat().st_size for p in samples.iterdir())
    assert total < 5 * 2**20
    rows = by_name(inspect_paths([samples]))
    ok = {name for name, row in rows.items() if row["status"] == "ok"}
    assert ok == {
        "mono_left.dcm",
        "rgb_rle_right.dcm",
        "jpeg_ybr422_left.dcm",
        "palette_j2k_right.dcm",
        "cine_20f_jpegls_right.dcm",
        "uncalibrated_no_regions.dcm",
        "two_regions_bmode_doppler.dcm",
    }
    reasons = {name: row["reason"] for name, row in rows.items() if row["status"] == "rejected"}
    assert "not a DICOM file" in reasons["bad_not_dicom.txt"]
    assert "truncated" in reasons["bad_truncated.dcm"]
    assert "no pixel data" in reasons["bad_no_pixel_data.dcm"]
    assert "not ultrasound" in reasons["bad_not_ultrasound_ct.dcm"]
    assert "absurd calibration" in reasons["bad_absurd_calibration.dcm"]
    assert "smaller than 64 px" in reasons["bad_tiny_region.dcm"]
    cine = rows["cine_20f_jpegls_right.dcm"]
    assert (cine["n_frames"], cine["laterality"], cine["spacing_row_mm"]) == (
        20,
        "R",
        pytest.approx(0.2),
    )
    assert cine["frame_spacing_mm"] == 0.5 and cine["study_date"] == "2024-06-11"
    assert [
        rows[n]["laterality"]
        for n in ("mono_left.dcm", "rgb_rle_right.dcm", "jpeg_ybr422_left.dcm")
    ] == ["L", "R", "L"]
    uncalibrated = rows["uncalibrated_no_regions.dcm"]
    assert uncalibrated["calibrated"] is False and uncalibrated["spacing_row_mm"] is None
    assert uncalibrated["region_source"] == "auto"
    assert rows["two_regions_bmode_doppler.dcm"]["region"] == [40, 30, 279, 190]


def test_inspect_json_round_trip_through_the_cli(samples: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(samples), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows == json.loads(json.dumps(inspect_paths([samples])))
    assert len(rows) == len(list(samples.iterdir()))
    for row in rows:
        assert list(row) == list(COLUMNS) and set(SPEC_COLUMNS) <= set(row)
        assert row["status"] in ("ok", "rejected") and row["follicle_count"] is None
        assert (row["reason"] == "") == (row["status"] == "ok")
        if row["status"] != "ok":  # nothing is known of a rejected file's calibration, as in images.csv
            assert row["calibrated"] is None and row["spacing_row_mm"] is None
        if row["status"] == "ok":
            assert len(row["region"]) == 4 and row["modality"] == "US"
            assert row["calibration_source"] in ("ultrasound_region", "PixelSpacing", "none")
    # whose image a file rejected after its header was read is, as images.csv says
    by_name = {Path(row["path"]).name: row for row in rows}
    tiny = by_name["bad_tiny_region.dcm"]
    assert tiny["status"] == "rejected" and tiny["patient_id"] and tiny["sop_instance_uid"] and tiny["study_date"]
    assert by_name["bad_not_dicom.txt"]["patient_id"] is None
    assert by_name["bad_not_ultrasound_ct.dcm"]["patient_id"] is None  # a CT is no ovary's image


def test_table_output_and_no_patient_name(tmp_path: Path) -> None:
    frames = np.full((1, 96, 96), 90, np.uint8)
    write_us_dicom(
        tmp_path / "a.dcm",
        frames,
        patient_id="ID9",
        study_uid="1.2",
        study_date="2023-01-02",
        series_uid="1.3",
        patient_name="Doe^Jane",
        laterality="R",
        regions=[
            dict(min_col=0, min_row=0, max_col=95, max_row=95, delta_x_mm=0.3, delta_y_mm=0.3)
        ],
    )
    (tmp_path / "junk.bin").write_bytes(b"\x00" * 10)
    runner = CliRunner()
    table = runner.invoke(app, ["inspect", str(tmp_path)], env={"COLUMNS": "250"})
    as_json = runner.invoke(app, ["inspect", str(tmp_path), "--json"])
    assert table.exit_code == 0 and as_json.exit_code == 0
    for output in (table.output, as_json.output):
        assert "Doe" not in output and "Jane" not in output
    assert "0.3 x 0.3" in table.output and "rejected" in table.output and "ID9" in table.output
    assert "not a DICOM file" in table.output and "US Image Storage" in table.output
    (tmp_path / "empty").mkdir()
    for path, message in ((tmp_path / "empty", "no files found under"), (tmp_path / "typo", "no such file or folder")):
        result = runner.invoke(app, ["inspect", str(path)])
        assert result.exit_code == 2 and "error: " in result.output and message in result.output
    # --json still prints a JSON list on stdout (it printed nothing: `| python -m json.tool` failed)
    for path, message in ((tmp_path / "empty", "no files found under"), (tmp_path / "typo", "no such file or folder")):
        result = runner.invoke(app, ["inspect", str(path), "--json"])
        assert result.exit_code == 2 and json.loads(result.stdout) == [] and message in result.stderr


def test_print_table_handles_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    print_table([])
    assert "0 file(s)" in capsys.readouterr().out


def test_the_table_ends_with_what_the_archive_holds(samples: Path) -> None:
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    print_table(inspect_paths([samples]), console=Console(file=out, width=200))
    tail = out.getvalue().splitlines()[-3:]
    assert tail[0] == "13 file(s): 7 ok, 6 rejected"
    assert tail[1] == "ok: 1 patient(s), 2 visit(s), 26 frame(s); 1 uncalibrated, 1 side unknown"
    assert tail[2].startswith("rejected: ") and "not ultrasound (1)" in tail[2] and "image region N px is smaller than N px (1)" in tail[2]
    assert summary_lines([]) == ["0 file(s): 0 ok, 0 rejected"]


def test_an_80_column_console_gets_each_path_and_reason_on_one_line(samples: Path) -> None:
    """The seven-column table at 80 columns (an SSH terminal; a file or pipe, rich's width) folded
    every path and reason into 8-character pieces, one per line (92 lines for 13 files' paths)."""
    result = CliRunner().invoke(app, ["inspect", str(samples)], env={"COLUMNS": "80"})
    lines = result.output.splitlines()
    assert result.exit_code == 0 and str(samples / "bad_absurd_calibration.dcm") in lines
    assert "  rejected: absurd calibration: 5 mm between rows from ultrasound_region (expected 0.01-2 mm/pixel)" in lines
    assert "  ok: US 20 frame(s) 320x240, US Multi-frame Image Storage, MONOCHROME2, JPEG-LS Lossless Image Compression" in lines
    assert "  mm/px (row x col): uncalibrated" in lines and "  patient / date: SAMPLE01 / 2024-06-11" in lines
    assert lines[-1].startswith("rejected: absurd calibration (1), ") and lines[-1].endswith("truncated (1)")


def test_the_version_is_printed() -> None:
    from follicle_seg import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"follicle-seg {__version__}\n"


def test_a_file_whose_pixels_cannot_be_decoded_keeps_what_its_header_says(tmp_path: Path) -> None:
    """inspect --json gave every field null but path, status and reason where run's images.csv
    row had patient, date, side, frames...; the reason held a repr with a memory address; and the
    table left patient, date and side blank for a rejected file whose JSON had them."""
    import io

    import pydicom
    from pydicom.encaps import encapsulate
    from rich.console import Console

    from follicle_seg.io.inspect import inspect_file

    region = dict(min_col=0, min_row=0, max_col=95, max_row=95, delta_x_mm=0.3, delta_y_mm=0.3)
    common = dict(patient_id="ID9", study_uid="1.2", study_date="2023-01-02", series_uid="1.3", laterality="R",
                  regions=[region])  # fmt: skip
    garbage = tmp_path / "garbage.dcm"
    write_us_dicom(garbage, np.full((1, 96, 96), 90, np.uint8), transfer_syntax="1.2.840.10008.1.2.4.50", **common)
    ds = pydicom.dcmread(garbage)
    ds.PixelData = encapsulate([b"\x89PNG not a jpeg"])
    ds.save_as(garbage)
    row = inspect_file(garbage)
    assert row["status"] == "rejected" and row["reason"] == "frame 0 cannot be decoded (pillow: cannot identify image file)"
    assert (row["patient_id"], row["study_date"], row["laterality"], row["n_frames"]) == ("ID9", "2023-01-02", "R", 1)
    assert row["sop_instance_uid"] and row["calibrated"] and row["spacing_row_mm"] == pytest.approx(0.3)
    assert (row["rows"], row["columns"], row["transfer_syntax_uid"]) == (96, 96, "1.2.840.10008.1.2.4.50")
    no_pixels = tmp_path / "no_pixels.dcm"
    write_us_dicom(no_pixels, np.full((1, 96, 96), 90, np.uint8), **common)
    ds = pydicom.dcmread(no_pixels)
    del ds.PixelData
    ds.save_as(no_pixels)
    rows = inspect_paths([no_pixels])
    assert rows[0]["status"] == "rejected" and rows[0]["patient_id"] == "ID9"
    out = io.StringIO()
    print_table(rows, console=Console(file=out, width=250))
    assert "ID9 / 2023-01-02" in out.getvalue() and " R " in out.getvalue()


def test_inspect_places_the_files_of_one_study_on_one_day_as_a_run_does(tmp_path: Path) -> None:
    """A study's second file with StudyDate blank (stored after midnight, its SeriesDate the next
    day) was inspected as a second visit, while the run put it on the study's day: one visit."""
    import pydicom

    region = dict(min_col=0, min_row=0, max_col=95, max_row=95, delta_x_mm=0.3, delta_y_mm=0.3)
    common = dict(patient_id="ID9", study_uid="1.2", study_date="2024-01-01", series_uid="1.3", laterality="R",
                  regions=[region])  # fmt: skip
    for name in ("a.dcm", "b.dcm"):
        write_us_dicom(tmp_path / name, np.full((1, 96, 96), 90, np.uint8), **common)
    ds = pydicom.dcmread(tmp_path / "b.dcm")
    ds.StudyDate, ds.SeriesDate = "", "20240102"
    ds.save_as(tmp_path / "b.dcm")
    rows = by_name(inspect_paths([tmp_path]))
    assert rows["a.dcm"]["study_date"] == rows["b.dcm"]["study_date"] == "2024-01-01"
    assert "ok: 1 patient(s), 1 visit(s), 2 frame(s)" in summary_lines(list(rows.values()))
    # two studies of one patient on one day are one visit, as the run counts them (it said 2)
    ds = pydicom.dcmread(tmp_path / "b.dcm")
    ds.StudyInstanceUID, ds.StudyDate = "1.2.9", "20240101"
    ds.save_as(tmp_path / "b.dcm")
    assert "ok: 1 patient(s), 1 visit(s), 2 frame(s)" in summary_lines(inspect_paths([tmp_path]))


def test_inspect_says_what_a_run_says_of_a_name_not_utf8_and_of_a_pipe(tmp_path: Path) -> None:
    """inspect said ok for a file whose name is not valid UTF-8, which a run rejects, and "not a
    readable file" for a pipe, which a run calls "not a regular file (a pipe, socket or device)"."""
    import os
    import shutil

    from follicle_seg.intake import header_pass
    from follicle_seg.state import StateStore

    samples = Path(__file__).resolve().parents[1] / "data_samples"
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.dcm"))
    shutil.copy(samples / "mono_left.dcm", odd)
    os.mkfifo(tmp_path / "pipe.dcm")
    paths = [odd, tmp_path / "pipe.dcm"]
    said = {i.path: (i.result.status, i.result.reason)
            for i in header_pass(paths, StateStore(tmp_path / "state.sqlite"), lambda r: r, workers=1)}  # fmt: skip
    rows = {row["path"]: (row["status"], row["reason"]) for row in inspect_paths(paths)}
    assert rows == said and rows[str(tmp_path / "caf\\xe9.dcm")][1].startswith("its name is not valid UTF-8")
    assert rows[str(tmp_path / "pipe.dcm")] == ("rejected", "not a regular file (a pipe, socket or device): not read")


def test_inspect_given_a_dicomdir_reads_its_folder_and_says_so(tmp_path: Path) -> None:
    """It said "error: no files found under X/DICOMDIR" (exit 2)."""
    from test_io_discover import dicom_media  # tests/ is on sys.path

    index = dicom_media(tmp_path / "media")
    result = CliRunner().invoke(app, ["inspect", str(index), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)  # (the note goes to stderr: the JSON stays whole)
    assert [(row["path"], row["status"]) for row in rows] == [(str(index.parent / "PT000000/ST000000/SE000000/IM000000"), "ok")]
    assert f"{index} is a DICOMDIR index: reading the files under its folder {index.parent}" in result.stderr


def test_rejections_are_grouped_with_the_names_in_their_reasons_intact() -> None:
    """Digits as N and a cut at the first "(" gave "unknown (3)", "a N-D volume (1)", "the JPEG N
    codestream ..." and "transfer syntax MPEG-N AVC/H.N ..."."""
    reasons = [
        "unknown (private?) transfer syntax 1.2.840.113619.5.2: no decoder",
        "unknown (private?) transfer syntax 1.3.46.670589.33.1.4.1: no decoder",
        "a 3-D volume (Enhanced US Volume Storage) is not analysed: export its planes as a 2-D cine",
        "the JPEG 2000 codestream holds 3 colour components, the header says 1 sample per pixel (MONOCHROME2)",
        ("transfer syntax MPEG-4 AVC/H.264 High Profile / Level 4.1 (1.2.840.10008.1.2.4.102) cannot be decoded: "
         "pydicom has no decoder for it"),
        "image region 41x31 px (ultrasound_region) is smaller than 64 px",
        "image region 61x71 px (ultrasound_region) is smaller than 64 px",
        "truncated: the file ends inside its header at byte 685, inside element (0018,6011) SequenceOfUltrasoundRegions",
        "truncated: the file ends inside the pixel data",
    ]
    rows = [dict(status="rejected", reason=reason) for reason in reasons]
    assert summary_lines(rows)[-1] == (
        "rejected: image region N px is smaller than N px (2), truncated (2), unknown transfer syntax N (2), "
        "a 3-D volume is not analysed (1), the JPEG 2000 codestream holds N colour components, the header says N "
        "sample per pixel (1), transfer syntax MPEG-4 AVC/H.264 High Profile / Level 4.1 cannot be decoded (1)"
    )


def test_the_table_shows_names_and_header_values_with_brackets_as_they_are(tmp_path: Path) -> None:
    """rich read them as markup: ``ovary [left].dcm`` was shown ``ovary .dcm``, a patient ``[b]P7``
    as ``P7``, and ``x[/b].dcm`` (a folder ``x[``) stopped inspect with a MarkupError traceback."""
    (tmp_path / "x[").mkdir()
    region = dict(min_col=0, min_row=0, max_col=95, max_row=95, delta_x_mm=0.3, delta_y_mm=0.3)
    for name in ("ovary [left].dcm", "x[/b].dcm"):
        write_us_dicom(tmp_path / name, np.full((1, 96, 96), 90, np.uint8), patient_id="[b]P7", study_uid="1.2",
                       study_date="2023-01-02", series_uid="1.3", laterality="L", regions=[region])  # fmt: skip
    result = CliRunner().invoke(app, ["inspect", str(tmp_path)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    for text in ("ovary [left].dcm", "x[/b].dcm", "[b]P7 / 2023-01-02"):
        assert text in result.output


@pytest.mark.parametrize("width", [80, 250])
def test_a_patient_id_holding_escape_codes_is_printed_escaped(tmp_path: Path, width: int) -> None:
    """A PatientID holding an escape code (clear the screen, recolour) reached the terminal as it
    was, in the table and in the narrow console's lines."""
    import io

    from rich.console import Console

    region = dict(min_col=0, min_row=0, max_col=95, max_row=95, delta_x_mm=0.3, delta_y_mm=0.3)
    write_us_dicom(tmp_path / "a.dcm", np.full((1, 96, 96), 90, np.uint8), patient_id="P\x1b[2J\x1b[31mX",
                   study_uid="1.2", study_date="2024-01-01", series_uid="1.3", laterality="R", regions=[region])  # fmt: skip
    out = io.StringIO()
    print_table(inspect_paths([tmp_path / "a.dcm"]), console=Console(file=out, width=width))
    assert "\x1b" not in out.getvalue() and "P\\x1b[2J\\x1b[31mX / 2024-01-01" in out.getvalue()


def test_inspect_says_which_paths_of_one_sop_instance_a_run_leaves_as_duplicates(tmp_path: Path) -> None:
    """inspect said ok of every path of one SOP instance (a copy of a file beside it, a copy with
    another header), and counted its frames once for each, where a run analyses the first alone
    and rejects the others as duplicates naming it."""
    import shutil

    import pydicom

    samples = Path(__file__).resolve().parents[1] / "data_samples"
    shutil.copy(samples / "mono_left.dcm", tmp_path / "a.dcm")
    shutil.copy(samples / "mono_left.dcm", tmp_path / "b copy.dcm")
    ds = pydicom.dcmread(samples / "mono_left.dcm")
    ds.PatientName = "Other^Name"
    ds.save_as(tmp_path / "c other header.dcm")
    rows = inspect_paths([tmp_path])
    uid, first = rows[0]["sop_instance_uid"], str(tmp_path / "a.dcm")
    assert [(Path(r["path"]).name, r["status"], r["reason"]) for r in rows] == [
        ("a.dcm", "ok", ""),
        ("b copy.dcm", "rejected", f"duplicate SOP instance {uid}: already analysed from {first}"),
        ("c other header.dcm", "rejected",
         f"duplicate SOP instance {uid}: already analysed from {first} (same pixel data, other header values)"),
    ]
    assert summary_lines(rows)[:2] == ["3 file(s): 1 ok, 2 rejected", "ok: 1 patient(s), 1 visit(s), 1 frame(s)"]
