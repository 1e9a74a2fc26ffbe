"""Command line: parsing only; every command calls library code.

Each command's body imports what it needs lazily, so ``follicle-seg inspect`` does not pay for
importing torch.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from follicle_seg.cliargs import nonempty_path
from follicle_seg.model.cli import evaluate_command, train_command
from follicle_seg.interrupt import sigterm_as_interrupt
from follicle_seg.options import RunOptions
from follicle_seg.synth.cli import synth_command

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Transvaginal ultrasound follicle counts and sizes per ovary per visit.",
    rich_markup_mode="markdown",  # help paragraphs reflow to the terminal's width
)


def _version(value: bool) -> None:
    if value:
        from follicle_seg import __version__

        typer.echo(f"follicle-seg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """follicle-seg: TVUS DICOM -> follicle counts and sizes per ovary per visit."""


@app.command()
def inspect(
    files: list[Path] = typer.Argument(..., parser=nonempty_path, help="DICOM files or folders (searched recursively)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per file."),
) -> None:
    """Show what ingestion sees in each file: calibration, region, side, and why it would be rejected.

    Examples:

        follicle-seg inspect data_samples/

        follicle-seg inspect scan.dcm --json
    """
    from follicle_seg.io.inspect import inspect_paths, print_table

    missing = [str(f) for f in files if not os.path.lexists(f)]
    if missing:
        if as_json:  # still a JSON list for whatever reads stdout
            typer.echo("[]")
        typer.echo(f"error: {', '.join(missing)}: no such file or folder", err=True)
        raise typer.Exit(2)
    _say_indexes(files)
    rows = inspect_paths(files)
    if not rows:
        if as_json:  # still a JSON list for whatever reads stdout
            typer.echo("[]")
        typer.echo(f"error: no files found under {', '.join(map(str, files))}", err=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        print_table(rows)


def _say_indexes(paths: list[Path]) -> None:
    """Say on the console (stderr: ``inspect --json`` prints to stdout) that each DICOMDIR given as
    INPUT stands for its folder (:func:`~follicle_seg.io.discover.discover` reads the folder)."""
    from follicle_seg.io.discover import is_index

    for path in filter(is_index, paths):
        typer.echo(f"{path} is a DICOMDIR index: reading the files under its folder {path.parent}", err=True)


#: The defaults of ``run``: those of :class:`~follicle_seg.options.RunOptions` (a light module),
#: not a second copy of them.
_RUN = RunOptions(out=Path("."))


@app.command()
def run(
    inputs: list[Path] = typer.Argument(..., parser=nonempty_path, help="DICOM files or folders (searched recursively, any file name)."),
    out: Path = typer.Option(..., "--out", "-o", parser=nonempty_path, help="Output folder (tables, overlays, report, DICOM)."),
    cohort: Optional[Path] = typer.Option(None, parser=nonempty_path, help="CSV with patient_id, group[, baseline_date YYYY-MM-DD] (separated by commas, semicolons or tabs; "
        "UTF-8, Windows-1252 or UTF-16, as a spreadsheet saves it)."),
    device: str = typer.Option(_RUN.device, help="auto | cpu | cuda[:N] (auto picks CUDA when present)."),
    batch_size: int = typer.Option(_RUN.batch_size, min=1, help="Frames per network batch (halved on a GPU that runs out of memory)."),
    workers: int = typer.Option(_RUN.workers, min=1, help="Decoding and measurement threads (with --executor dask and no --scheduler: the LocalCluster's worker processes)."),
    resume: bool = typer.Option(_RUN.resume, "--resume/--no-resume", help="Skip inputs finished by an earlier run into OUT."),
    save_masks: bool = typer.Option(_RUN.save_masks, "--save-masks", help="Write every analysed frame's label map to masks/."),
    overlays: bool = typer.Option(_RUN.overlays, "--overlays/--no-overlays", help="Write review overlays."),
    dicom: bool = typer.Option(_RUN.dicom, "--dicom/--no-dicom", help="Write DICOM SEG/SR objects to dicom/."),
    report: bool = typer.Option(_RUN.report, "--report/--no-report", help="Write report/index.html."),
    whole_frames: bool = typer.Option(
        _RUN.whole_frames, "--whole-frames", help="Write the whole first frame of each image of unknown side to overlays/frames/, "
        "for the worksheet's side lines (the text a machine burns in around the scan area, a patient's name "
        "included, is in them).",
    ),
    weights: Optional[Path] = typer.Option(None, parser=nonempty_path, help="Model weights (default: the shipped models/model.pt)."),
    pseudonymize: Optional[Path] = typer.Option(
        None, "--pseudonymize", parser=nonempty_path, help="Key file: replace PatientID by a stable HMAC pseudonym in every output (input paths are kept, made absolute)."
    ),
    executor: str = typer.Option(_RUN.executor, help="local | dask"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address (default: a LocalCluster)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Ingest, segment and measure every DICOM file under INPUTS; write to OUT the tables
    (images, follicles, ovaries, visits, response: CSV and Parquet), overlays, report and DICOM.

    Exits 0 when the run finished, even if some files were rejected (they are listed in
    images.csv with the reason); 1 when it finished without one file analysed because every file
    it tried failed (a fault of the program or a decoder); 2 when it could not proceed.

    Review: OUT/review_worksheet.csv lists what needs review, prefilled; write confirmed,
    not_follicle, follicle (a dashed "4?" candidate), left or right (an image's side) into its
    decision column, save it as OUT/review.csv and run again: nothing is analysed twice, the
    tables apply the decisions.

    Examples:

        follicle-seg run /archive/trial01 --out results/ --cohort cohort.csv

        follicle-seg run scans/ --out results/ --device cuda --batch-size 32 --workers 8
    """
    from follicle_seg.errors import FollicleSegError
    from follicle_seg.pipeline import INTERRUPTED

    if executor not in ("local", "dask"):
        raise typer.BadParameter("--executor must be local or dask")
    if scheduler and executor != "dask":
        raise typer.BadParameter("--scheduler is the address of a Dask scheduler: it needs --executor dask")
    options = RunOptions(
        out=out, cohort=cohort, device=device, batch_size=batch_size, workers=workers, resume=resume,
        save_masks=save_masks, overlays=overlays, dicom=dicom, report=report, whole_frames=whole_frames, weights=weights,
        pseudonymize=pseudonymize, executor=executor, scheduler=scheduler,
    )
    if not quiet:
        _say_indexes(inputs)
    elif executor == "dask":
        _quiet_dask()
    terminated: list[int] = []
    try:
        with sigterm_as_interrupt(terminated):
            summary = _run_with_progress(inputs, options, quiet=quiet)
    except FollicleSegError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo(f"{'stopped (SIGTERM)' if terminated else 'interrupted'}: {INTERRUPTED}", err=True)
        raise typer.Exit(143 if terminated else 130) from None
    if not quiet:
        typer.echo(summary.line())
        for reason in summary.rejected_reasons[:20]:
            typer.echo(f"  not analysed: {reason}")
        if len(summary.rejected_reasons) > 20:
            typer.echo(f"  ... and {len(summary.rejected_reasons) - 20} more (see images.csv)")
        for problem in summary.output_problems[:20]:
            typer.echo(f"  {problem}")
        if len(summary.output_problems) > 20:
            typer.echo(f"  ... and {len(summary.output_problems) - 20} more (images.csv's reason of ok rows)")
        for note in summary.cohort_notes:
            typer.echo(f"  {'cohort' if cohort else 'baseline'}: {note}")
        if summary.left_out:
            typer.echo(f"  {len(summary.left_out)} file(s) analysed here by earlier runs are not among this run's "
                       "inputs: their rows are left out of the tables (run.log names them)")  # fmt: skip
        report_line = f"; report: {out / 'report' / 'index.html'}" if report else " (no report: --no-report)"
        typer.echo(f"tables: {out / 'images.csv'} ...{report_line}")
        _echo_review(summary)
    if summary.failed and not summary.ok:  # a fault of this program or its decoders, not of the files
        typer.echo(f"error: no file was analysed: {summary.failed} failed (a fault of this program or a decoder, "
                   f"not of the files; images.csv and run.log say why)", err=True)  # fmt: skip
        raise typer.Exit(1)


def _quiet_dask() -> None:
    """Dask's own log lines (a task's traceback, a worker restarted) off the console, in this
    process and in the workers its LocalCluster starts (they read Dask's settings from the
    environment): the run says what became of each file in images.csv and run.log."""
    os.environ["DASK_LOGGING"] = str({"distributed": "critical", "distributed.client": "critical"})
    for name in ("distributed", "distributed.client"):  # (Dask imported already)
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _run_with_progress(inputs, options, *, quiet: bool = False):
    from follicle_seg.pipeline import run as run_pipeline

    if quiet:
        return run_pipeline(inputs, options)
    from follicle_seg.progress import RunProgress

    with RunProgress() as progress:
        return run_pipeline(inputs, options, progress=progress)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", parser=nonempty_path, help="Output folder."),
    patients: int = typer.Option(3, min=1, help="Synthetic patients."),
    visits: int = typer.Option(3, min=1, help="Visits per patient."),
    seed: int = typer.Option(0, min=0, help="Random seed of the synthetic study."),
) -> None:
    """Make a small synthetic study, run the pipeline on it and print where the report is.

    Example:

        follicle-seg demo --out demo_out
    """
    from follicle_seg.errors import FollicleSegError
    from follicle_seg.state import CorruptState, OtherAnalysis
    from follicle_seg.synth.study import write_study

    study = out / "study"
    options = RunOptions(out=out / "results", cohort=study / "cohort.csv")
    others = _not_of_the_study(options.out, study)
    if others:  # a run's: resumed, its tables were written over with the demo's; by another build, removed
        typer.echo(f"error: {options.out}: holds the results of {others} file(s) not under {study} (a run's, not "
                   "a demo's); choose another --out", err=True)  # fmt: skip
        raise typer.Exit(2)
    typer.echo(f"writing a synthetic study ({patients} patients x {visits} visits) to {study} ...")
    try:
        write_study(study, patients=patients, visits=visits, seed=seed)
    except (ValueError, OSError) as exc:  # OUT a file, a folder not writable
        typer.echo(f"error: cannot write the study: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        try:
            summary = _run_with_progress([study / "dicom"], options)
        except OtherAnalysis as exc:  # an earlier demo's (of the study alone), by another build: made afresh
            typer.echo(f"{exc.folder}: results of another analysis ({exc.differ}): analysed afresh")
            summary = _run_with_progress([study / "dicom"], replace(options, resume=False))
    except CorruptState as exc:  # it said "rerun with --no-resume", an option the demo lacks; whose results are unknown
        typer.echo(f"error: {exc.args[0].split(';')[0]}; remove {options.out} to make the demo's results afresh, or "
                   "choose another --out", err=True)  # fmt: skip
        raise typer.Exit(2) from None
    except FollicleSegError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(summary.line())
    typer.echo(f"report: {options.out / 'report' / 'index.html'}")
    typer.echo(f"tables: {options.out}/*.csv; truth for comparison: {study / 'truth'}")
    _echo_review(summary)
    if summary.needs_review:
        apply = ["follicle-seg", "run", str(study / "dicom"), "--out", str(options.out), "--cohort", str(study / "cohort.csv")]
        typer.echo(f"after a review (saved as {options.out / 'review.csv'}), apply it with: {shlex.join(apply)}")


def _not_of_the_study(results: Path, study: Path) -> int:
    """How many files the run state of ``results`` holds results of that are not the files of
    ``study``: neither under it nor of the content of one there (a demo folder moved or renamed:
    its state names the files where they were); none without a run state (one that cannot be read
    stops the run, which says why)."""
    from follicle_seg.filehash import file_sha256
    from follicle_seg.outdir import out_state
    from follicle_seg.state import stored_files

    elsewhere = [sha for path, sha in stored_files(out_state(results)) or []
                 if not Path(path).resolve().is_relative_to(study.resolve())]  # fmt: skip
    if not elsewhere:
        return 0
    here = {file_sha256(path) for path in study.rglob("*") if path.is_file()} if study.is_dir() else set()
    return sum(sha not in here for sha in elsewhere)


def _echo_review(summary) -> None:
    if summary.review:  # the decisions applied, or a review not read (run.log has it too)
        typer.echo(summary.review)
    if summary.needs_review:
        typer.echo(f"to review: {summary.needs_review} ovary-visit(s), their lines prefilled in "
                   f"{summary.out / 'review_worksheet.csv'}")


@app.command()
def send(
    out: Path = typer.Argument(..., parser=nonempty_path, help="The --out folder of a run."),
    to: str = typer.Option(..., "--to", help="Destination PACS as AET@HOST:PORT."),
    sources: bool = typer.Option(False, "--sources", help="Also send the run's analysed source files."),
    calling_aet: str = typer.Option("FOLLICLE_SEG", "--calling-aet", help="Our AE title."),
    timeout: float = typer.Option(30.0, min=1.0, max=3600.0, help="Seconds to wait for the PACS at each step (1-3600)."),
    again: bool = typer.Option(False, "--again", help="Also send the files this destination stored before (OUT/sent.csv)."),
) -> None:
    """Send a run's DICOM SEG and SR objects to a PACS (DICOM C-STORE).

    Files the destination stored before, unchanged since (OUT/sent.csv records what was sent
    where), are not sent again unless --again is given. Prints one line per file that failed,
    with the reason, and a summary; exits 1 when any file
    failed to send (the PACS unreachable included), 2 when there is nothing to send or nowhere to
    send it (a malformed --to or --calling-aet, no such OUT, no objects in OUT).

    Examples:

        follicle-seg send results/ --to ORTHANC@pacs.example.org:4242

        follicle-seg send results/ --to PACS@10.0.0.7:104 --sources --calling-aet TVUS_AI
    """
    from follicle_seg.errors import said
    from follicle_seg.send import SENT_FILE, Destination, Patients, SendError, ae_title, record_sent, replaced
    from follicle_seg.send import run_objects, sent_before
    from follicle_seg.send import send as send_files

    try:
        destination = Destination.parse(to)
        ae_title(calling_aet, "--calling-aet")
        paths = run_objects(out, sources=sources)
        before = sent_before(out, destination)
    except SendError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    patients = Patients(out)
    stored = () if again else set(before.values()) - {""}
    unrecorded: list[OSError] = []

    def keep(sent) -> None:  # as each file is stored: a send stopped half way keeps its record
        try:
            record_sent(out, destination, [sent])
        except OSError as exc:
            unrecorded.append(exc)

    terminated: list[int] = []
    try:
        with sigterm_as_interrupt(terminated):
            results = send_files(paths, destination, calling_aet=calling_aet, timeout_s=timeout, patient_of=patients,
                                 stored=stored, on_sent=keep)  # fmt: skip
    except KeyboardInterrupt:
        typer.echo(f"{'stopped (SIGTERM)' if terminated else 'interrupted'}: the files stored so far are recorded in "
                   f"{out / SENT_FILE}; the same command sends the rest", err=True)  # fmt: skip
        raise typer.Exit(143 if terminated else 130) from None
    changed, removed = replaced(out, before, results)
    try:
        record_sent(out, destination, [], removed)
    except OSError as exc:
        unrecorded.append(exc)
    if unrecorded:
        typer.echo(f"{out / SENT_FILE}: cannot record what was sent ({unrecorded[0].strerror or unrecorded[0]}): the "
                   "next send sends these files again", err=True)
    if patients.missed:  # a PACS may empty the patient's record with them
        typer.echo(f"{len(patients.missed)} object(s) sent without the patient's name, birth date and sex: their "
                   f"source is gone or another image now (e.g. {patients.missed[0].name})", err=True)
    elif patients.undecided:
        typer.echo("objects sent without the patient's name, birth date and sex: nothing tells whether the run was "
                   "pseudonymised (no run state, no source with a PatientID)", err=True)
    failed = [r for r in results if r.status == "failed"]
    if len(failed) > 1 and len({r.reason for r in failed}) == 1:  # e.g. no association at all
        typer.echo(f"{len(failed)} files not sent: {failed[0].reason}", err=True)
    else:
        for r in failed:
            typer.echo(said(str(r.path), r.reason), err=True)
    unchanged = sum(r.status == "unchanged" for r in results)
    if unchanged:
        typer.echo(f"{unchanged} files stored there before, unchanged: not sent again (--again sends them)")
    if changed or removed:
        typer.echo(f"{len(changed) + len(removed)} objects stored there before are replaced (another SOP instance now, or removed): the PACS "
                   "keeps the earlier ones too (C-STORE cannot take them back)", err=True)
    typer.echo(f"{len(results) - len(failed) - unchanged} of {len(results) - unchanged} files sent to {destination}")
    if failed:
        raise typer.Exit(1)


# Commands whose parsing lives with their stage (synthetic data, model); their modules import
# the heavy libraries (torch, the renderer) only inside the command bodies.
app.command("synth")(synth_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # a console whose encoding lacks a character of a path
        if isinstance(stream, io.TextIOWrapper):  # (a Latin-1 locale) shows it escaped, not a traceback
            stream.reconfigure(errors="backslashreplace")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
