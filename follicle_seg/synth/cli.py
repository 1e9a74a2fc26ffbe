"""``follicle-seg synth``: the command function (the lead registers it on the main app)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from follicle_seg.cliargs import nonempty_path
from follicle_seg.errors import os_reason

#: Frames of a synthetic sweep at most: a minute's cine at 10 frames/s (one of 100000 frames ran
#: until memory ran out, past 6800 beyond DICOM's 4 GiB of pixel data).
MAX_FRAMES = 600


def synth_command(
    out: Path = typer.Argument(..., parser=nonempty_path, help="Output folder for dicom/, truth/ and cohort.csv."),
    patients: int = typer.Option(6, "--patients", min=1, help="Patients, spread over low/medium/high dose."),
    visits: int = typer.Option(4, "--visits", min=1, help="Visits per patient, every 14 days +- 3."),
    seed: int = typer.Option(0, "--seed", min=0, help="Same seed, same files."),
    frames: int = typer.Option(20, "--frames", min=2, max=MAX_FRAMES,
                               help=f"Frames per ovary sweep (0.5-1 mm apart; {MAX_FRAMES} at most)."),
    stills: int = typer.Option(1, "--stills", min=0, help="Still images per ovary and visit."),
    styles: Optional[str] = typer.Option(
        None, "--styles", help="Comma-separated style families to draw scanners from (default: all)."
    ),
    sweep_files: str = typer.Option(
        "cine", "--sweep-files",
        help="cine: each sweep one multi-frame file; frames: one single-frame file per frame, one series.",
    ),
) -> None:
    """Write a synthetic TVUS trial: DICOM sweeps and stills of both ovaries plus ground truth.

    Files: `OUT/dicom/<patient>/visitNN/*.dcm`, `OUT/truth/masks/<sop_uid>_<frame>.png`,
    `OUT/truth/images.csv`, `OUT/truth/follicles.csv`, `OUT/truth/ovaries.csv`, `OUT/cohort.csv`.
    A synthetic study already in OUT is replaced whole; a `dicom/` or `truth/` of anything else is
    refused, never removed.

    Examples:

        follicle-seg synth synth_study --patients 6 --visits 4

        follicle-seg synth small --patients 3 --visits 2 --frames 8 --styles raw_speckle,ge_sri_smooth

        follicle-seg synth as_frames --patients 2 --visits 2 --sweep-files frames
    """
    from follicle_seg.synth.study import write_study

    chosen = [s.strip() for s in styles.split(",") if s.strip()] if styles is not None else None
    if chosen == []:  # ("," or "": it drew from every family in silence)
        raise typer.BadParameter(f"{styles!r} names no style family", param_hint="'--styles'")
    try:
        truth = write_study(
            out, patients=patients, visits=visits, seed=seed, frames_per_sweep=frames,
            stills_per_ovary=stills, styles=chosen, sweep_files=sweep_files,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except OSError as exc:  # e.g. a folder not writable
        typer.echo(f"error: {out}: cannot write the study ({os_reason(exc)})", err=True)
        raise typer.Exit(2) from None
    n_follicles = int(truth.ovaries["follicle_count"].sum())
    typer.echo(
        f"Wrote {len(truth.files)} DICOM files for {patients} patients x {visits} visits "
        f"({n_follicles} counted follicles) to {out}"
    )
