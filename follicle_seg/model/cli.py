"""``follicle-seg train`` and ``follicle-seg evaluate``: typer-compatible command functions.

``follicle_seg/cli.py`` registers them (``app.command("train")(train_command)``).
Parsing only; the work is done in :mod:`follicle_seg.model.train` and
:mod:`follicle_seg.model.evaluate`.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from functools import partial
from pathlib import Path
from typing import Any, Optional

import typer

from follicle_seg.cliargs import nonempty_path
from follicle_seg.errors import FollicleSegError
from follicle_seg.interrupt import sigterm_as_interrupt

TRAIN_SEEDS_START = 0
"""Synthetic training frames use seeds from here on; held-out validation from 900 000."""
VAL_SEEDS_START = 900_000
EVAL_SEEDS_START = 1_000_000
"""Evaluation frames use seeds from here on: never used in training."""


def generator_info(layered_share: float, patchwork_share: float, poi_share: float) -> dict[str, object]:
    """What a bundle's ``train.json`` records of the synthetic frames it was trained on: the
    generator call and the shares it took, so that the recipe re-runs on the same frames."""
    return {"generator": "follicle_seg.synth.training.training_frame(seed, style=None, shift=0.0, "
                         f"layered_share={layered_share}, patchwork_share={patchwork_share}, poi_share={poi_share})",
            "layered_share": layered_share, "patchwork_share": patchwork_share, "poi_share": poi_share}


def synthetic_samples(
    n_train: int, n_val: int, cache: Path, *, workers: int = 2, layered_share: float = 0.0,
    patchwork_share: float = 0.0, poi_share: float = 0.0,
) -> tuple[list[Any], list[Any]]:
    """Synthetic training and validation samples from their seed ranges, cached as
    ``cache/train_<n_train>.npz`` and ``cache/val_<n_val>.npz`` (no validation when ``n_val`` is 0;
    ``_layered<percent>``, ``_patchwork<percent>`` and ``_poi<percent>`` added to the names when
    those shares are > 0)."""
    from follicle_seg.model.data import cached_synthetic_samples

    if layered_share < 0 or patchwork_share < 0 or layered_share + patchwork_share > 1:
        raise ValueError(f"layered_share and patchwork_share must be >= 0 with a sum <= 1, "
                         f"not {layered_share} and {patchwork_share}.")
    if not 0 <= poi_share <= 1:
        raise ValueError(f"poi_share must lie in [0, 1], not {poi_share}.")
    tag = f"_layered{round(layered_share * 100)}" if layered_share > 0 else ""
    tag += f"_patchwork{round(patchwork_share * 100)}" if patchwork_share > 0 else ""
    tag += f"_poi{round(poi_share * 100)}" if poi_share > 0 else ""
    cached = partial(cached_synthetic_samples, workers=workers, layered_share=layered_share,
                     patchwork_share=patchwork_share, poi_share=poi_share)
    train = cached(range(TRAIN_SEEDS_START, TRAIN_SEEDS_START + n_train), cache / f"train_{n_train}{tag}.npz")
    val = cached(range(VAL_SEEDS_START, VAL_SEEDS_START + n_val), cache / f"val_{n_val}{tag}.npz") if n_val > 0 else []
    return train, val


def repeat_to_share(own: list[Any], other: list[Any], share: float) -> list[Any]:
    """``own`` repeated whole so that it makes up about ``share`` of ``own + other`` (at least once).

    Examples
    --------
    >>> len(repeat_to_share(["a"] * 20, ["s"] * 400, 0.5)), len(repeat_to_share(["a"] * 20, ["s"] * 400, 0.0))
    (400, 20)
    """
    if not own or share <= 0.0:
        return list(own)
    copies = max(1, round(share / (1.0 - share) * len(other) / len(own)))
    return list(own) * copies


def _annotated_pairs(folder: Path, option: str = "--data") -> list[Any]:
    """The annotated frames of ``folder`` (PNG or NIfTI pairs, or DICOM + SEG); bad input is one line,
    and files or sub-folders of ``images/`` and ``masks/`` that are not read are named in a warning."""
    from follicle_seg.errors import RejectedInput
    from follicle_seg.model.data import passed_over, read_pairs

    try:
        pairs = read_pairs(folder)
    except RejectedInput as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
    if skipped := passed_over(folder):
        _log(f"warning: {option} {folder}: {skipped}.")
    return pairs


def _pictures_of_their_own(folder: Path, pairs: list[Any]) -> bool:
    """Whether every frame is an image file of its own in ``folder/images`` (a PNG or JPEG named
    as the frame), not a slice of a NIfTI stack or a frame of a DICOM cine, whose source is sure."""
    images = folder / "images"
    stems = {p.stem for p in images.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")} if images.is_dir() else set()
    return all(name in stems for name, *_ in pairs)


def _log(message: str) -> None:
    typer.echo(message, err=True)


def train_command(
    out: Path = typer.Option(..., "--out", parser=nonempty_path, help="Bundle folder to write (models/model.pt, configs/)."),
    data: Optional[Path] = typer.Option(
        None, "--data", parser=nonempty_path, help="Annotated frames: DIR/images/NAME.png + DIR/masks/NAME.png (0-3; or .nii/.nii.gz), or DICOM images + DICOM SEG."
    ),
    data_share: float = typer.Option(
        0.0, "--data-share", help="With --synthetic: share of training draws from --data frames (0: one draw each)."
    ),
    synthetic: int = typer.Option(0, "--synthetic", min=0, help="Also use N synthetic frames (seeds 0..N-1)."),
    layered_share: float = typer.Option(
        0.0, "--layered-share", min=0.0, max=1.0, help="Share of synthetic frames from the layered generator (0-1)."
    ),
    patchwork_share: float = typer.Option(
        0.0, "--patchwork-share", min=0.0, max=1.0,
        help="Share of synthetic frames from the patchwork generator (0-1; with --layered-share, 1 at most).",
    ),
    poi_share: float = typer.Option(
        0.0, "--poi-share", min=0.0, max=1.0,
        help="Share of layered frames with a small, flat, nearly follicle-free ovary, often beside a rounder "
        "look-alike (default: 0, off).",
    ),
    init: Optional[Path] = typer.Option(
        None, "--init", parser=nonempty_path, help="Start from a bundle's weights: 'shipped' (the weights this package ships, wherever it "
        "is installed) or a bundle's models/model.pt.",
    ),
    val_fraction: float = typer.Option(
        0.2, "--val-fraction", help="Share of --data frames held out, whole sources at a time (0: none; below 1)."
    ),
    val_data: Optional[Path] = typer.Option(
        None, "--val-data", parser=nonempty_path, help="Held-out annotated frames (same layout as --data) instead of a share of --data."
    ),
    max_steps: int = typer.Option(4000, "--max-steps", min=1, help="Optimiser steps at most."),
    minutes: float = typer.Option(40.0, "--minutes", help="Wall-time limit of the training loop (> 0)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    crop: int = typer.Option(192, "--crop", min=16, help="Training crop side in pixels at 0.3 mm/px."),
    learning_rate: float = typer.Option(2e-3, "--lr", help="Peak learning rate (> 0)."),
    weight_decay: float = typer.Option(1e-4, "--weight-decay", min=0.0, max=1.0, help="AdamW weight decay (0-1)."),
    network: str = typer.Option(
        "unet_res", "--network", help="Architecture trained from scratch (ignored with --init, which keeps its own)."
    ),
    val_every: int = typer.Option(100, "--val-every", min=1, help="Steps between held-out validations."),
    patience: int = typer.Option(8, "--patience", min=1, help="Validations without improvement before stopping."),
    seed: int = typer.Option(0, "--seed"),
    ema: float = typer.Option(
        0.0, "--ema", help="Keep a moving average of the weights with this decay, below 1 (0: off)."
    ),
    background_crops: Optional[float] = typer.Option(
        None, "--background-crops", min=0.0,
        help="Weight of crops centred on background inside the scan sector, against 2 for ovary and follicle "
        "(default: weight 1, centred anywhere).",
    ),
    frame_zoom: Optional[float] = typer.Option(
        None, "--frame-zoom", min=1.0, max=4.0,
        help="Rescale 80 % of the training frames by a factor between 1/F and F (log-uniform, F 1-4) before "
        "cropping, as a capture of unknown depth would be (default: off).",
    ),
    mixstyle: float = typer.Option(
        0.0, "--mixstyle", min=0.0, max=1.0,
        help="Probability per batch of MixStyle (feature statistics mixed between samples) on the first "
        "two encoder blocks (default: 0, off).",
    ),
    checkpoints: Optional[Path] = typer.Option(None, "--checkpoints", parser=nonempty_path, help="Folder for the weights at every validation."),
    keep_checkpoints: int = typer.Option(
        5, "--keep-checkpoints", min=0,
        help="With --checkpoints: keep those of the last K validations and the best one (0: every one).",
    ),
    cache: Path = typer.Option(Path("runs/cache"), "--cache", parser=nonempty_path, help="Folder for the synthetic frame cache."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
) -> None:
    """Train the network, or fine-tune it on your own annotated frames.

    Writes a self-contained bundle to --out and a before/after report (train_report.json).
    With --data, a seeded share (--val-fraction) of your frames, or the frames of --val-data, is
    held out for early stopping and the report; the frames of one source (a NIfTI stack NAME_k,
    a cine `<uid>_f<k>`, export_pairs.py's `<sop>_<frame>`: the name without a final `_<digits>`) stay
    on one side (pictures whose names all give one source, img_000.png..., are held out one by
    one). Fine-tuning (--init) keeps the starting weights, and says so, when no
    validation beats their held-out score. Images may be PNG (8-bit grey or RGB; 16-bit kept
    when its values are 0-255, else stretched) or JPEG; masks PNG
    of the same size holding 0 background, 1 ovary, 2 follicle, or 3 inside an ovary outline
    whose follicles are not drawn. NIfTI (.nii, .nii.gz) may stand for either: a 3-D file is a
    stack of frames, its slices holding a label are used, and its header gives the pixel size.
    With --synthetic as well, --data-share sets how often your frames are drawn. An optional
    DIR/spacing.csv (name, spacing_row_mm, spacing_col_mm) gives the pixel size; otherwise the
    region height is taken as 70 mm deep. Or DIR holds DICOM
    images and DICOM SEG objects on them (a viewer's outlines, or this pipeline's SEG corrected):
    ovary and follicle segments become labels 1 and 2, an ovary alone label 3, and the pixel
    size comes from each image's ultrasound region.

    Examples:

        follicle-seg train --init shipped --data my_site/ --out runs/my_site_bundle

        follicle-seg train --synthetic 1200 --out runs/from_scratch --minutes 40
    """
    from follicle_seg.model.data import make_sample, source_of
    from follicle_seg.model.infer import resolve_device
    from follicle_seg.model.network import CANDIDATES
    from follicle_seg.model.train import TrainConfig, TrainingInterrupted, split_holdout, train

    try:
        torch_device = resolve_device(device)  # before any data is read or made
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--device") from None
    if data is None and synthetic <= 0:
        raise typer.BadParameter("give --data DIR and/or --synthetic N.")
    if val_data is not None and data is None:
        raise typer.BadParameter("--val-data goes with --data.")
    if val_data is not None and data is not None and val_data.resolve() == data.resolve():
        raise typer.BadParameter(f"{val_data} is the --data folder: held-out frames must not be trained on; give "
                                 "another folder, or leave --val-data out to hold out a share of --data.",
                                 param_hint="--val-data")
    if not 0.0 <= data_share < 1.0:
        raise typer.BadParameter(f"--data-share must lie in [0, 1), not {data_share}.")
    if not 0.0 <= val_fraction < 1.0:
        raise typer.BadParameter(f"must lie in [0, 1) (0: hold out nothing), not {val_fraction}.",
                                 param_hint="--val-fraction")
    if network not in CANDIDATES:
        raise typer.BadParameter(f"--network must be one of {', '.join(sorted(CANDIDATES))}, not {network!r}.")
    for value, name in ((minutes, "--minutes"), (learning_rate, "--lr")):
        if not value > 0:
            raise typer.BadParameter(f"must be above 0, not {value}.", param_hint=name)
    for value, name in ((learning_rate, "--lr"), (background_crops or 0.0, "--background-crops")):
        if not math.isfinite(value):  # (--lr inf: every weight NaN after the first step)
            raise typer.BadParameter(f"must be a finite number, not {value}.", param_hint=name)
    if not 0.0 <= ema < 1.0:
        raise typer.BadParameter(f"must lie in [0, 1) (0: off), not {ema}.", param_hint="--ema")
    _check_shares(layered_share, patchwork_share)
    init = _starting_weights(init)  # before any data is read: a wrong path is said at once
    _check_out(out, init)
    config = TrainConfig(max_steps=max_steps, batch_size=batch_size, crop=crop, learning_rate=learning_rate,
                         weight_decay=weight_decay, val_every=val_every, patience=patience,
                         time_limit_min=minutes, seed=seed, network=network, ema_decay=ema,
                         background_crops=background_crops, frame_zoom=frame_zoom, mixstyle=mixstyle,
                         checkpoints=None if checkpoints is None else str(checkpoints),
                         keep_checkpoints=keep_checkpoints)
    train_samples: list[Any] = []
    val_samples: list[Any] = []
    data_source = None
    terminated: list[int] = []
    try:
        with sigterm_as_interrupt(terminated):
            if data is not None:
                pairs = _annotated_pairs(data)
                _warn_empty_masks(pairs)
                samples = [make_sample(px, lab, sr, sc) for _, px, lab, sr, sc in pairs]
                if val_data is None:
                    sources = [source_of(name) for name, *_ in pairs]
                    how = "the frames of one source are on one side"
                    if len(pairs) > 1 and len(set(sources)) == 1 and _pictures_of_their_own(data, pairs):
                        # img_001.png, img_002.png...: one "source" by name, a guess; one file each
                        sources = [name for name, *_ in pairs]
                        how = ("each a picture of its own, held out one by one: if they are frames of one sweep, "
                               "neighbours fall on both sides; give --val-data")  # fmt: skip
                    tr, va = split_holdout(len(samples), val_fraction, seed, sources)
                    train_samples += [samples[i] for i in tr]
                    val_samples += [samples[i] for i in va]
                    n_sources = len(set(sources))
                    _log(f"{len(tr)} training and {len(va)} held-out frames from {data} ({n_sources} source(s): {how})")
                    data_source = (f"{len(pairs)} annotated frames of {_folder(data)} (site data) from {n_sources} source(s), "
                                   f"{len(va)} of the frames held out")
                    if not va:
                        why = ("--val-fraction 0" if val_fraction == 0 else "a single frame" if len(pairs) == 1
                               else f"all {len(pairs)} frames are of one source ({sources[0]}: a stack or cine), "
                                    "which cannot be split")  # fmt: skip
                        _no_holdout(why, init is not None)
                else:
                    train_samples += samples
                    val_pairs = _annotated_pairs(val_data, "--val-data")
                    _refuse_trained_on(val_pairs, pairs, data)
                    val_samples += [make_sample(px, lab, sr, sc) for _, px, lab, sr, sc in val_pairs]
                    _log(f"{len(train_samples)} training frames from {data}, {len(val_samples)} held-out from {val_data}")
                    data_source = (f"{len(pairs)} annotated frames of {_folder(data)} (site data), {len(val_pairs)} held "
                                   f"out from {_folder(val_data)}")
            if synthetic > 0:
                synthetic_train, synthetic_val = synthetic_samples(
                    synthetic, max(8, synthetic // 20) if data is None else 0, cache, layered_share=layered_share,
                    patchwork_share=patchwork_share, poi_share=poi_share)
                train_samples = repeat_to_share(train_samples, synthetic_train, data_share) + synthetic_train
                val_samples += synthetic_val
                if data_source is not None:
                    data_source += f", with {synthetic} synthetic frames of follicle_seg.synth"
            if data is None and not val_samples:  # pragma: no cover - synthetic runs always hold some out
                _no_holdout("no held-out synthetic frames", init is not None)
            start_note = "fine-tuned" if init is not None else "trained"
            report = train(train_samples, val_samples, out, init=init, config=config,
                           device=torch_device, log=_log,
                           note=f"{start_note} on {data_source}" if data_source is not None
                           else f"{start_note} on {synthetic} synthetic frames",
                           command=recorded_command(sys.argv[1:]),
                           data_info=generator_info(layered_share, patchwork_share, poi_share) if synthetic > 0 else None,
                           data_source=data_source)
    except TrainingInterrupted as stop:
        how = "stopped (SIGTERM)" if terminated else "interrupted"
        if stop.report is not None:
            _log(f"{how}: wrote the bundle of the best weights so far ({stop.report['kept']}, "
                 f"{stop.report['steps']} steps run) to {out}.")
        else:
            kept = f"; the checkpoints so far are in {checkpoints}" if checkpoints is not None and stop.history else ""
            _log(f"{how}: no validation had kept weights yet, nothing written to {out}{kept}.")
        raise typer.Exit(143 if terminated else 130) from None
    except KeyboardInterrupt:
        _log(f"{'stopped (SIGTERM)' if terminated else 'interrupted'} before training: nothing written to {out}.")
        raise typer.Exit(143 if terminated else 130) from None
    except FollicleSegError as exc:
        _log(f"error: {exc}")
        raise typer.Exit(2) from None
    keys = ("before", "after", "steps", "kept_step", "improved", "kept", "minutes", "weights")
    typer.echo(json.dumps({k: report[k] for k in keys if k in report}, indent=2))


SHIPPED = "shipped"
"""``--init shipped``: the weights this package ships (:func:`~follicle_seg.model.paths.shipped_bundle_root`)."""


def _starting_weights(init: Path | None) -> Path | None:
    """``--init`` as a verified bundle's weights path, or a one-line :class:`typer.BadParameter`."""
    from follicle_seg.errors import ModelError
    from follicle_seg.model.bundle import load_network
    from follicle_seg.model.metadata import next_version
    from follicle_seg.model.paths import METADATA, WEIGHTS, bundle_root_of, shipped_bundle_root

    if init is None:
        return None
    if str(init) == SHIPPED:
        init = shipped_bundle_root() / WEIGHTS
    if init.is_dir() and (init / WEIGHTS).is_file():  # a bundle folder named for its weights
        init = init / WEIGHTS
    if not init.is_file():
        raise typer.BadParameter(f"{init}: no such weights file (from {Path.cwd()}); '--init shipped' names the "
                                 "weights this package ships, wherever it is installed.", param_hint="--init")
    if not (bundle_root_of(init) / METADATA).is_file():
        raise typer.BadParameter(f"{init}: not a bundle's models/model.pt (no configs/metadata.json beside "
                                 "models/): a --checkpoints file (step_<N>.pt) is not one; give the bundle its run "
                                 "wrote (OUT/models/model.pt) or --init shipped.", param_hint="--init")
    try:
        load_network(init)  # verified (sha256) and fitting its network, before any data is read
        next_version(bundle_root_of(init))
    except ModelError as exc:
        raise typer.BadParameter(str(exc), param_hint="--init") from None
    return init


PATH_OPTIONS = ("--out", "--data", "--val-data", "--init", "--checkpoints", "--cache")
"""Options of ``train`` whose value the bundle records by its last name only (:func:`recorded_command`)."""


def _folder(path: Path) -> str:
    """A folder as a bundle records it: its name, not its path (a path may name a patient or a
    hospital's shares; the name is the user's choice)."""
    return f"{Path(path).resolve().name}/"


def recorded_command(args: list[str], program: str = "follicle-seg") -> str:
    """The command line as the bundle records it, each of :data:`PATH_OPTIONS` by its last name
    (``program`` first: ``python scripts/train.py`` for the script).

    Examples
    --------
    >>> recorded_command(["train", "--data", "/mnt/pacs/Doe_Jane", "--init=shipped", "--crop", "64"])
    'follicle-seg train --data Doe_Jane --init=shipped --crop 64'
    >>> recorded_command(["train", "--init", "/home/jd/runs/site_a/models/model.pt"])
    'follicle-seg train --init site_a/models/model.pt'
    """
    recorded = program.split()
    for arg in args:
        option, equals, value = arg.partition("=")
        if recorded[-1] in PATH_OPTIONS:
            arg = _recorded_path(recorded[-1], arg)
        elif equals and option in PATH_OPTIONS:
            arg = f"{option}={_recorded_path(option, value)}"
        recorded.append(arg)
    return shlex.join(recorded)


def _recorded_path(option: str, value: str) -> str:
    """A path option's value by its last name; ``--init`` as ``shipped`` or ``<bundle>/models/model.pt``."""
    from follicle_seg.model.paths import WEIGHTS, named_weights

    if option == "--init" and value != SHIPPED:
        return named_weights(Path(value) / WEIGHTS if Path(value).is_dir() else Path(value))
    return Path(value).name or value


def _check_out(out: Path, init: Path | None) -> None:
    """Refuse an ``--out`` that would overwrite the shipped weights or the starting ones."""
    from follicle_seg.model.paths import bundle_root_of, shipped_bundle_root

    target = out.resolve()
    if target == shipped_bundle_root().resolve():
        raise typer.BadParameter(f"{out} is the shipped bundle's folder: writing there would replace the weights "
                                 "this package ships; give a new folder.", param_hint="--out")
    if init is not None and target == bundle_root_of(init):
        raise typer.BadParameter(f"{out} is the bundle of --init: writing there would replace the starting weights; "
                                 "give a new folder.", param_hint="--out")
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file, not a folder.", param_hint="--out")


def _no_holdout(why: str, fine_tuning: bool) -> None:
    _log(f"warning: no held-out frames ({why}): no early stopping (the run goes to --max-steps or --minutes), "
         "no before/after score, and the last weights are kept"
         + (", not checked against the starting ones" if fine_tuning else "")
         + "; give more sources, or --val-data DIR, to hold some out.")


def _refuse_trained_on(val_pairs: list[Any], pairs: list[Any], data: Path) -> None:
    """A one-line :class:`typer.BadParameter` when held-out frames have the pixels of training frames."""
    import hashlib

    def key(pixels: Any) -> tuple[Any, ...]:
        return pixels.shape, hashlib.sha256(pixels.tobytes()).digest()

    trained = {key(px) for _, px, *_ in pairs}
    if seen := [name for name, px, *_ in val_pairs if key(px) in trained]:
        more = f" and {len(seen) - 5} more" if len(seen) > 5 else ""
        raise typer.BadParameter(f"{len(seen)} of {len(val_pairs)} held-out frame(s) have the pixels of a training "
                                 f"frame of {data} ({', '.join(seen[:5])}{more}): a frame trained on is not held out; "
                                 "leave them out of one of the folders.", param_hint="--val-data")


def _warn_empty_masks(pairs: list[Any]) -> None:
    empty = [name for name, _, labels, *_ in pairs if not labels.any()]
    if empty:
        more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
        _log(f"warning: {len(empty)} of {len(pairs)} frame(s) with an empty mask (all background): "
             f"{', '.join(empty[:5])}{more}; they teach that no ovary is there: leave them out if they were "
             "not annotated.")


def evaluate_command(
    weights: Optional[Path] = typer.Option(None, "--weights", parser=nonempty_path, help="models/model.pt of a bundle (default: shipped)."),
    data: Optional[Path] = typer.Option(
        None, "--data", parser=nonempty_path, help="Annotated frames (PNG or NIfTI: images/, masks/, spacing.csv; or DICOM + DICOM SEG) instead of synthetic ones."
    ),
    n: int = typer.Option(100, "--n", min=1, help="Number of held-out synthetic frames."),
    seed_start: int = typer.Option(
        EVAL_SEEDS_START, "--seed-start", min=0,
        help=f"First synthetic seed (at --shift 0, {EVAL_SEEDS_START} or more: lower ones are training's).",
    ),
    shift: float = typer.Option(
        0.5, "--shift", min=0.0, max=5.0, help="How far generator settings go outside the training ranges (0: inside them; 5 at most)."
    ),
    style: Optional[str] = typer.Option(None, "--style", help="One style family only (default: random mix)."),
    layered_share: float = typer.Option(
        0.0, "--layered-share", min=0.0, max=1.0, help="Share of the random mix from the layered generator (0-1)."
    ),
    patchwork_share: float = typer.Option(
        0.0, "--patchwork-share", min=0.0, max=1.0,
        help="Share of the random mix from the patchwork generator (0-1; with --layered-share, 1 at most).",
    ),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also score the classical baseline."),
    hull: bool = typer.Option(True, "--hull/--no-hull", help="Fill the kept ovary region's convex hull (the pipeline rule)."),
    reported: bool = typer.Option(
        True, "--reported/--no-reported",
        help="Also score only the follicles the pipeline would report (mean probability >= 0.90).",
    ),
    true_ovary: bool = typer.Option(
        False, "--true-ovary/--no-true-ovary",
        help="Also score the network's follicles inside the true ovary (error analysis: what a wrong or missed "
             "ovary costs the follicle figures).",
    ),
    json_out: Optional[Path] = typer.Option(None, "--json", parser=nonempty_path, help="Write the metrics as JSON here."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
) -> None:
    """Score the network (and the classical baseline) against ground truth.

    Reports ovary and follicle Dice, follicle detection precision / recall / F1 (instances matched
    at IoU >= 0.3 or centroid inside), per-ovary count exactness, and the mean-diameter bias with
    95 % limits of agreement, per size class; "network, reported" scores only the follicles the
    pipeline would report (the others count as ovary); with --true-ovary, "true ovary" columns score
    the network's follicles as if its ovary region were the true one. Synthetic frames come from seeds never used in
    training, rendered with settings shifted outside the training ranges (--shift).

    Examples:

        follicle-seg evaluate --n 100 --shift 0.5 --json runs/eval.json

        follicle-seg evaluate --weights runs/my_site_bundle/models/model.pt --data my_site_test/
    """
    from follicle_seg.instances import labels_from_probs
    from follicle_seg.model.baseline import segment_baseline_batch
    from follicle_seg.model.evaluate import (
        evaluate,
        evaluate_variants,
        format_table,
        reported_labels,
        within_true_ovary,
    )
    from follicle_seg.errors import ModelError
    from follicle_seg.model.infer import Segmenter, calipers
    from follicle_seg.model.preprocess import fan_mask, scan_area
    from follicle_seg.synth.styles import STYLES
    from follicle_seg.types import FOLLICLE

    if style is not None and style not in STYLES:
        raise typer.BadParameter(f"{style!r} is not a style family; known: {', '.join(STYLES)}.", param_hint="--style")
    _check_shares(layered_share, patchwork_share)
    if data is None:
        _check_held_out(seed_start, n, shift)
    if json_out is not None:  # before the evaluation: a path that cannot be written is said at once
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise typer.BadParameter(f"{json_out}: cannot make its folder {json_out.parent} ({exc.strerror}).",
                                     param_hint="--json") from None
        if json_out.is_dir():
            raise typer.BadParameter(f"{json_out} is a folder: give a file name.", param_hint="--json")
    try:
        segmenter = Segmenter(weights, device=device, batch_size=batch_size)
    except ValueError as exc:  # a device that is not one, or not on this machine
        raise typer.BadParameter(str(exc), param_hint="--device") from None
    except ModelError as exc:  # missing, not a bundle's, or altered since written (sha256)
        raise typer.BadParameter(str(exc), param_hint="--weights") from None

    def network(items: Any) -> list[tuple[Any, ...]]:
        out = []
        fans = [fan_mask(px) for px, *_ in items]
        marks = [calipers(px, scan_area(px, fan)) for (px, *_), fan in zip(items, fans)]  # as a run keeps the measured ovary
        predictions = segmenter.predict([(px, sr, sc, fan, m.area) for (px, _, sr, sc), fan, m in zip(items, fans, marks)])
        for (probs, _), (_, truth, sr, sc), m in zip(predictions, items, marks):
            labels = labels_from_probs(probs, hull=hull, marked=m.area, outline=m.outline)
            variants = [labels]
            if true_ovary:
                variants.append(within_true_ovary(probs.argmax(0), truth))
            if reported:
                variants += [reported_labels(v, probs[FOLLICLE], sr, sc) for v in list(variants)]
            out.append(tuple(variants))
        return out

    frames = _evaluation_frames(data, n=n, seed_start=seed_start, shift=shift, style=style, layered_share=layered_share,
                                patchwork_share=patchwork_share)
    names = ["network", *(["network, true ovary"] if true_ovary else [])]
    if reported:
        names += [f"{name}, reported" for name in list(names)]
    results = evaluate_variants(network, frames, names, batch=batch_size)
    if baseline:
        results["baseline"] = evaluate(segment_baseline_batch, frames)
    typer.echo(format_table(results))
    if json_out is not None:
        synthetic = {"n": n, "seed_start": seed_start, "shift": shift, "style": style, "layered_share": layered_share,
                     "patchwork_share": patchwork_share}
        settings = {"data": str(data) if data else None,
                    **{key: None if data else value for key, value in synthetic.items()},  # unused with --data
                    "hull": hull, "reported": reported, "true_ovary": true_ovary,
                    "weights": str(weights) if weights else "shipped"}
        json_out.write_text(json.dumps({"settings": settings, **results}, indent=2) + "\n", encoding="utf-8")


def _check_shares(layered_share: float, patchwork_share: float) -> None:
    """A one-line :class:`typer.BadParameter` when the generators' shares add up to more than 1."""
    if layered_share + patchwork_share > 1.0:
        raise typer.BadParameter(f"they add up to {layered_share + patchwork_share:g}, 1 at most (the rest of the "
                                 "frames come from the plain generator).", param_hint="--layered-share + --patchwork-share")


def _check_held_out(seed_start: int, n: int, shift: float) -> None:
    """A one-line :class:`typer.BadParameter` when the synthetic frames asked for are training's:
    at shift 0 (the same random key, :func:`~follicle_seg.synth.training.training_frame`) the seeds
    below :data:`EVAL_SEEDS_START` are those ``follicle-seg train`` trains and validates on."""
    if seed_start < EVAL_SEEDS_START and round(shift * 1000) == 0:
        raise typer.BadParameter(f"seeds {seed_start}-{seed_start + n - 1} at --shift {shift:g} are the frames "
                                 f"follicle-seg train trains on (seeds {TRAIN_SEEDS_START} on) and validates on "
                                 f"({VAL_SEEDS_START} on): not held out; start at {EVAL_SEEDS_START} or more.",
                                 param_hint="--seed-start")


def _evaluation_frames(
    data: Path | None, *, n: int, seed_start: int, shift: float, style: str | None, layered_share: float = 0.0,
    patchwork_share: float = 0.0,
) -> list[Any]:
    if data is not None:
        from follicle_seg.model.loss import OUTLINE

        pairs = _annotated_pairs(data)
        if missing := [name for name, _, _, sr, _ in pairs if sr is None]:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise typer.BadParameter(f"evaluation needs the pixel size of every frame (DIR/spacing.csv, or calibrated "
                                     f"DICOM images): diameters are reported in mm; none for {', '.join(missing[:5])}"
                                     f"{more}: give it in spacing.csv or leave the frame out.")  # fmt: skip
        if outlined := [name for name, _, lab, _, _ in pairs if (lab == OUTLINE).any()]:
            more = f" and {len(outlined) - 5} more" if len(outlined) > 5 else ""
            raise typer.BadParameter(f"evaluation needs the follicles drawn: mask value 3 (outline only) is for "
                                     f"training; found in {', '.join(outlined[:5])}{more}.")  # fmt: skip
        return [(px, lab, sr, sc) for _, px, lab, sr, sc in pairs]
    from follicle_seg.synth.training import training_frame

    frames = []
    for seed in range(seed_start, seed_start + n):
        f = training_frame(seed, style=style, shift=shift, layered_share=layered_share, patchwork_share=patchwork_share)
        frames.append((f.pixels, f.labels, f.spacing_row_mm, f.spacing_col_mm))
    return frames
