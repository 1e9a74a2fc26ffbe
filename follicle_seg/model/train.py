"""Training and fine-tuning: Dice + cross-entropy, online augmentation, early stopping.

``train`` writes a self-contained bundle folder (``models/model.pt``, ``configs/*.json`` with the
new sha256) and returns a report with the held-out metrics before and after training.
Runs are reproducible for a given seed on a given device and thread count.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import DataLoader, Dataset
from monai.utils import set_determinism
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from follicle_seg.model.bundle import cpu_state_dict, load_network, network_name, save_weights, shipped_bundle_root
from follicle_seg.model.metadata import next_version, read_metadata
from follicle_seg.model.data import Sample, eval_transforms, train_transforms
from follicle_seg.model.loss import OUTLINE, MarginalDiceCELoss
from follicle_seg.model.mixstyle import add_mixstyle
from follicle_seg.model.network import build_network, network_def
from follicle_seg.model.paths import METADATA, WEIGHTS, named_weights
from follicle_seg.model.preprocess import DIVISOR, pad_to
from follicle_seg.types import FOLLICLE


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (also recorded in ``configs/train.json``)."""

    max_steps: int = 4000
    batch_size: int = 8
    crop: int = 192
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    val_every: int = 100
    patience: int = 8
    time_limit_min: float = 40.0
    seed: int = 0
    network: str = "unet_res"
    ema_decay: float = 0.0
    """Validate and keep an exponential moving average of the weights (0: the raw weights)."""
    background_crops: float | None = None
    """Weight of training crops centred on background inside the scan sector, against 2 for
    ovary and follicle; ``None``: weight 1, centred anywhere in the frame (the 0.4.0 recipe)."""
    frame_zoom: float | None = None
    """Rescale most training frames by a factor between ``1 / frame_zoom`` and ``frame_zoom``
    (log-uniform) before cropping; ``None``: off (the 0.4.0 recipe)."""
    mixstyle: float = 0.0
    """Probability per batch of MixStyle on the first two encoder blocks
    (:mod:`~follicle_seg.model.mixstyle`); 0: off (the 0.4.0 recipe)."""
    checkpoints: str | None = None
    """Folder that receives the weights at every validation (``step_<N>.pt``, and the moving
    average as ``step_<N>_ema.pt``), or ``None``."""
    keep_checkpoints: int = 5
    """Validations whose checkpoints stay in ``checkpoints``: the last this many and the best
    one (about 2.3 MB each, twice that with a moving average); 0 keeps every one."""


def split_holdout(
    n: int, fraction: float, seed: int, groups: Sequence[Hashable] | None = None,
) -> tuple[list[int], list[int]]:
    """Indices of a seeded random train / held-out split, whole groups (sources) on one side.

    ``groups[i]`` is the source of frame ``i`` (a file, sweep or cine:
    :func:`~follicle_seg.model.data.source_of`); ``None`` makes each frame its own. Sources are
    taken in a seeded random order, each that keeps the held-out frames within
    ``round(n * fraction)``; then, if that leaves them short, the source that brings them closest
    to it (a source of 30 frames is not held out for a target of 13: half a site's frames were
    never trained on). Never every source (one source alone is not split: give held-out frames
    of another), and ``fraction = 0`` holds out nothing; at least one frame otherwise. With one
    frame per source this is the per-frame split of earlier versions, the same frames for the
    same seed.

    Examples
    --------
    >>> tr, va = split_holdout(10, 0.2, 0)
    >>> len(tr), len(va), sorted(tr + va) == list(range(10))
    (8, 2, True)
    >>> tr, va = split_holdout(4, 0.25, 0, ["a", "a", "b", "b"])
    >>> len(va), {0, 1} <= set(va) or {2, 3} <= set(va)
    (2, True)
    >>> len(split_holdout(64, 0.2, 0, ["s1"] * 30 + ["s2"] * 30 + ["a", "b", "c", "d"])[1])
    4
    """
    groups = list(range(n)) if groups is None else list(groups)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} frames.")
    members: dict[Hashable, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    keys = sorted(members, key=lambda k: (str(type(k)), k))
    order = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    target = max(1, int(round(n * fraction))) if fraction > 0 else 0
    held: list[Hashable] = []
    total = 0
    for key in order:
        if len(held) == len(keys) - 1 or total >= target:  # at least one source is left to train on
            break
        if total + len(members[key]) <= target:
            held.append(key)
            total += len(members[key])
    rest = [k for k in order if k not in held]
    if total < target and len(rest) > 1:
        closest = min(rest, key=lambda k: abs(total + len(members[k]) - target))  # the first of equals
        if total == 0 or abs(total + len(members[closest]) - target) < target - total:
            held.append(closest)
    frames = sorted(i for key in held for i in members[key])
    return sorted(set(range(n)) - set(frames)), frames


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two boolean masks; 1.0 when both are empty.

    Examples
    --------
    >>> dice(np.array([1, 1, 0, 0], bool), np.array([1, 0, 0, 0], bool))
    0.6666666666666666
    """
    total = int(pred.sum()) + int(truth.sum())
    return 1.0 if total == 0 else 2.0 * float(np.logical_and(pred, truth).sum()) / total


WARMUP = 0.03
"""Share of the step budget spent warming the learning rate up linearly."""


def learning_rate(step: int, max_steps: int, time_fraction: float, peak: float) -> float:
    """Linear warm-up over the first steps, then cosine decay over whichever budget binds.

    The warm-up depends on the step only; afterwards progress is the larger of the step fraction
    and the elapsed share of the time limit, so a time-limited run still ends annealed. Runs
    are reproducible for a seed whenever the step budget binds.

    Examples
    --------
    >>> learning_rate(0, 100, 0.0, 1.0), learning_rate(2, 100, 0.0, 1.0)
    (0.3333333333333333, 1.0)
    >>> round(learning_rate(99, 100, 0.0, 1.0), 4), learning_rate(10, 100, 1.0, 1.0)
    (0.0003, 0.0)
    """
    warmup_steps = max(1, int(WARMUP * max_steps))
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = max(step / max_steps, time_fraction)
    done = min(1.0, (progress - WARMUP) / (1.0 - WARMUP)) if progress > WARMUP else 0.0
    return peak * 0.5 * (1.0 + math.cos(math.pi * done))


def validate(net: torch.nn.Module, samples: Sequence[Sample], device: str = "cpu") -> dict[str, float]:
    """Held-out ovary (incl. follicles) and follicle Dice of whole samples at network scale.

    ``ovary_dice`` is the mean over frames. ``follicle_dice`` is pooled over the frames whose
    follicles are drawn (no mask value :data:`~follicle_seg.model.loss.OUTLINE`): twice the summed
    overlap over the summed predicted and true follicle pixels, so a stray pixel on a follicle-free
    frame weighs as one pixel, not as a whole frame's 0 against 1. When those frames hold no
    follicle in truth it is 1 minus the predicted follicle pixels' share of their true ovary pixels
    (0 at worst): follicles painted where there are none still cost. It is left out when every
    held-out frame has its follicles undrawn (outlines only).
    """
    norm = eval_transforms()
    ovary = []
    overlap = predicted = drawn = ovary_px = 0
    scored = False  # a frame with its follicles drawn
    net.eval()
    with torch.inference_mode():
        for sample in samples:
            d = norm(dict[Hashable, Any](sample.items()))  # (MONAI's transforms take Hashable keys)
            image = d["image"][0]
            shape = (-(-image.shape[0] // DIVISOR) * DIVISOR, -(-image.shape[1] // DIVISOR) * DIVISOR)
            x = torch.from_numpy(pad_to(image, shape))[None, None].to(device)
            pred = net(x)[0].argmax(0).cpu().numpy()[: image.shape[0], : image.shape[1]]
            truth = np.asarray(d["label"])[0]
            ovary.append(dice(pred > 0, truth > 0))
            if not (truth == OUTLINE).any():
                scored = True
                overlap += int(np.logical_and(pred == FOLLICLE, truth == FOLLICLE).sum())
                predicted += int((pred == FOLLICLE).sum())
                drawn += int((truth == FOLLICLE).sum())
                ovary_px += int((truth > 0).sum())
    metrics = {"ovary_dice": float(np.mean(ovary))}
    if drawn:
        metrics["follicle_dice"] = 2.0 * overlap / (predicted + drawn)
    elif scored:  # follicle-free held-out frames: what is painted follicle there is wrong
        metrics["follicle_dice"] = max(0.0, 1.0 - predicted / max(ovary_px, 1))
    return metrics


OVARY_TOLERANCE = 0.01
"""How far fine-tuned weights' held-out ovary Dice may fall below the starting weights' and
still be kept: a follicle gain never buys a worse ovary outline."""


_RULE = f"ovary + follicle Dice above the starting weights', ovary Dice at most {OVARY_TOLERANCE} below theirs"
"""What fine-tuning keeps (:func:`beats`), in the report's words."""


def score(metrics: dict[str, float]) -> float:
    """Held-out ovary Dice plus follicle Dice (when the frames have follicles: :func:`validate`)."""
    return metrics.get("ovary_dice", 0.0) + metrics.get("follicle_dice", 0.0)


def beats(metrics: dict[str, float], best: float, bar: dict[str, float] | None) -> bool:
    """Whether validation ``metrics`` are kept over the best :func:`score` so far: a higher score
    and, when fine-tuning (``bar``: the starting weights' held-out metrics), an ovary Dice at most
    :data:`OVARY_TOLERANCE` below theirs.

    Examples
    --------
    >>> start = {"ovary_dice": 0.756, "follicle_dice": 0.75}
    >>> beats({"ovary_dice": 0.636, "follicle_dice": 1.0}, score(start), start)
    False
    >>> beats({"ovary_dice": 0.75, "follicle_dice": 0.8}, score(start), start)
    True
    """
    within = bar is None or metrics.get("ovary_dice", 0.0) >= bar.get("ovary_dice", 0.0) - OVARY_TOLERANCE
    return within and score(metrics) > best


def kept_step(history: Sequence[dict[str, float]], bar: dict[str, float] | None, validated: bool) -> int:
    """The step whose weights :func:`fit` returns: the first validation with the best score that
    :func:`beats` ``bar`` (the starting weights' held-out metrics when fine-tuning; any score when
    ``None``); 0, the starting weights, when none does. Without held-out frames (``validated``
    false) the last validation's.

    Examples
    --------
    >>> h = [{"step": 10, "ovary_dice": 0.3}, {"step": 20, "ovary_dice": 0.5}, {"step": 30, "ovary_dice": 0.5}]
    >>> kept_step(h, None, True), kept_step(h, {"ovary_dice": 0.6}, True), kept_step(h, {"ovary_dice": 0.6}, False)
    (20, 0, 30)
    """
    best, step = (-1.0 if bar is None else score(bar)), 0
    for entry in history:
        if not validated or beats(entry, best, bar):
            best, step = score(entry), int(entry["step"])
    return step


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM during :func:`fit`: the best weights so far and the history, to be kept.

    :func:`train` raises it on with ``report`` set: the report of the bundle it wrote from those
    weights, or ``None`` when no validation had kept any (nothing written).
    """

    def __init__(self, state: dict[str, torch.Tensor], history: list[dict[str, float]]) -> None:
        super().__init__("training interrupted")
        self.state, self.history = state, history
        self.report: dict[str, Any] | None = None


BN_REFRESH_BATCHES = 24
"""Training batches used to recompute the batch-norm statistics of averaged weights."""


def refresh_batch_norm(net: torch.nn.Module, batches: Iterable[dict[str, Any]], device: str = "cpu") -> None:
    """Recompute every batch-norm layer's running mean and variance for ``net``'s current weights,
    as the plain average over ``batches`` (what averaged weights need: statistics gathered for
    other weights do not fit them)."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = net.training
    net.train()
    with torch.no_grad():
        for batch in batches:
            net(batch["image"].to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.train(was_training)


def fit(
    net: torch.nn.Module,
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample],
    config: TrainConfig,
    *,
    device: str = "cpu",
    log: Callable[[str], None] = print,
    bar: dict[str, float] | None = None,
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """Optimise ``net`` and return the best state dict (by held-out Dice) and the history.

    ``bar`` is the starting weights' held-out metrics when fine-tuning: a validation is kept only
    when it :func:`beats` them (a higher :func:`score`, the ovary Dice at most
    :data:`OVARY_TOLERANCE` lower), so that weights worse than those are never returned (the
    starting state dict is, when none does: :func:`kept_step` is then 0). ``None``: the first
    validation is kept whatever its score. Ctrl-C (or SIGTERM made one) raises
    :class:`TrainingInterrupted` with the best weights so far.

    Stops at ``max_steps``, after ``patience`` validations without improvement, or at
    ``time_limit_min``; the learning rate follows :func:`learning_rate` over whichever budget
    runs out first. With ``config.ema_decay`` > 0 the validated (and returned) weights are an
    exponential moving average of the optimised ones, their batch-norm statistics recomputed on
    :data:`BN_REFRESH_BATCHES` training batches before each validation. ``config.mixstyle`` > 0
    hooks MixStyle onto ``net`` for the loop (:func:`~follicle_seg.model.mixstyle.add_mixstyle`)
    and takes it off again.
    """
    set_determinism(seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    transform = train_transforms(config.crop, config.background_crops, config.frame_zoom).set_random_state(config.seed)
    loader = DataLoader(
        Dataset(list(train_samples), transform=transform),
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=0,
        generator=generator,
        drop_last=len(train_samples) >= config.batch_size,
    )
    net.to(device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    ema = (AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=False)
           if config.ema_decay > 0 else None)
    kept = net if ema is None else ema.module
    # After the moving average's copy of ``net``: the averaged weights are validated without it.
    hooks = add_mixstyle(net, config.mixstyle) if config.mixstyle > 0 else []
    try:
        return _optimise(net, kept, ema, loader, val_samples, config, device, optimiser, log, bar)
    finally:
        for handle in hooks:
            handle.remove()


def _optimise(
    net: torch.nn.Module, kept: torch.nn.Module, ema: AveragedModel | None, loader: DataLoader,
    val_samples: Sequence[Sample], config: TrainConfig, device: str, optimiser: torch.optim.Optimizer,
    log: Callable[[str], None], bar: dict[str, float] | None = None,
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """The training loop of :func:`fit`."""
    loss_fn = MarginalDiceCELoss()
    if config.checkpoints is not None:
        Path(config.checkpoints).mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    best_score, best_state, stale = (-1.0 if bar is None else score(bar)), copy.deepcopy(kept.state_dict()), 0
    history: list[dict[str, float]] = []
    step, running, counted = 0, 0.0, 0
    try:
        while step < config.max_steps:
            for batch in loader:
                net.train()
                elapsed = (time.monotonic() - start) / (config.time_limit_min * 60)
                for group in optimiser.param_groups:
                    group["lr"] = learning_rate(step, config.max_steps, elapsed, config.learning_rate)
                optimiser.zero_grad(set_to_none=True)
                loss = loss_fn(net(batch["image"].to(device)), batch["label"].to(device))
                loss.backward()
                optimiser.step()
                if ema is not None:
                    ema.update_parameters(net)
                step += 1
                running, counted = running + loss.item(), counted + 1
                out_of_time = time.monotonic() - start > config.time_limit_min * 60
                if step % config.val_every == 0 or step == config.max_steps or out_of_time:
                    if ema is not None:
                        refresh_batch_norm(kept, itertools.islice(iter(loader), BN_REFRESH_BATCHES), device)
                    metrics = validate(kept, val_samples, device) if val_samples else {}
                    entry = {"step": step, "loss": running / max(1, counted),
                             "minutes": (time.monotonic() - start) / 60, **metrics}
                    improved = not val_samples or beats(metrics, best_score, bar)
                    if improved:  # the kept state and the history change together (an interrupt finds both)
                        state = copy.deepcopy(kept.state_dict())
                        history.append(entry)
                        best_score, best_state, stale = score(metrics), state, 0
                    else:
                        history.append(entry)
                        stale += 1
                    if config.checkpoints is not None:
                        _save_checkpoint(net, kept if ema is not None else None, step, history, bar,
                                         bool(val_samples), config)
                    log(json.dumps({k: round(v, 4) for k, v in entry.items()}))
                    running, counted = 0.0, 0
                    if stale >= config.patience or out_of_time:
                        log(f"stopping at step {step}: {'time limit' if out_of_time else 'no improvement'}")
                        return best_state, history
                if step >= config.max_steps:
                    break
    except KeyboardInterrupt:
        raise TrainingInterrupted(best_state, history) from None
    return best_state, history


def _save_checkpoint(
    net: torch.nn.Module, average: torch.nn.Module | None, step: int, history: list[dict[str, float]],
    bar: dict[str, float] | None, validated: bool, config: TrainConfig,
) -> None:
    """``step_<N>.pt`` (and ``step_<N>_ema.pt``) of this validation; then only the last
    ``config.keep_checkpoints`` validations' and the best one's are left (all with 0)."""
    folder = Path(config.checkpoints or ".")
    torch.save(cpu_state_dict(net), folder / f"step_{step}.pt")
    if average is not None:
        torch.save(cpu_state_dict(average), folder / f"step_{step}_ema.pt")
    if config.keep_checkpoints <= 0:
        return
    keep = {int(e["step"]) for e in history[-config.keep_checkpoints:]} | {kept_step(history, bar, validated)}
    for entry in history:
        if int(entry["step"]) not in keep:
            for name in (f"step_{int(entry['step'])}.pt", f"step_{int(entry['step'])}_ema.pt"):
                (folder / name).unlink(missing_ok=True)


FIRST_VERSION = "0.1.0"
"""Version of a bundle trained from scratch (without ``--init``): a network of its own."""


def _bundle_metadata(
    template_root: Path, config: TrainConfig, note: str, command: str | None, *,
    init: Path | None = None, data_source: str | None = None,
) -> dict[str, Any]:
    """The new bundle's ``metadata.json``: the template's with this run's changelog entry and
    settings, one patch version on when fine-tuned from ``init``; trained from scratch, a new
    network at :data:`FIRST_VERSION` whose changelog is this run's entry alone (the template's
    history is of other weights). With ``data_source`` (frames that are not the synthetic
    generator's) its data description instead of the template's."""
    metadata = read_metadata(template_root)
    old_version = str(metadata.get("version", "0.0.0"))
    if init is None:
        version, changelog = FIRST_VERSION, {FIRST_VERSION: note}
    else:
        version = next_version(template_root)
        changelog = {version: note, **metadata.get("changelog", {})}
    trained = {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command,
               **({"init": named_weights(init), "init_version": old_version} if init is not None else {}), **_recorded(config)}
    updated = {**metadata, **_environment(), "version": version, "changelog": changelog, "trained": trained}
    if init is None and config.network != metadata.get("trained", {}).get("network", "unet_res"):
        target = network_def(config.network)["_target_"].rsplit(".", 1)[-1]
        updated["description"] = re.sub(r"^A [^(]*\([^)]*\)", f"A 2-D MONAI {target} ('{config.network}' of "
                                        "follicle_seg.model.network.CANDIDATES)", str(updated["description"]))
    if data_source is not None:
        start = f"fine-tuned from version {old_version} of this network" if init is not None else "trained"
        updated["data_source"] = f"{start} on {data_source}"
        description = re.sub(r"\s*Trained only on synthetic frames[^.]*\.", "", str(metadata.get("description", "")))
        updated["description"] = f"{description} {start[0].upper() + start[1:]} on {data_source}.".strip()
    return updated


REQUIRED_PACKAGES = ("scikit-image", "scipy", "pillow")
"""The packages besides MONAI, PyTorch and NumPy whose versions a bundle records."""


def _environment() -> dict[str, Any]:
    """The versions of this environment, the one that trained the bundle: its ``monai_version``,
    ``pytorch_version``, ``numpy_version`` and ``required_packages_version`` ("unknown" for a
    package installed under another distribution name, pillow-simd say: read after training, a
    lookup error lost the whole run)."""
    from importlib.metadata import PackageNotFoundError, version

    import monai

    def known(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return {"monai_version": monai.__version__, "pytorch_version": torch.__version__, "numpy_version": np.__version__,
            "required_packages_version": {name: known(name) for name in REQUIRED_PACKAGES}}


def _write_recipe(
    template_root: Path, out: Path, config: TrainConfig, data: dict[str, Any], *, own_data: bool = False,
) -> None:
    """``configs/train.json`` of the new bundle: the template's recipe with this run's settings;
    ``own_data``: the data section is this run's alone (the template's describes the synthetic
    frames it was trained on, not these)."""
    src = template_root / "configs" / "train.json"
    recipe = json.loads(src.read_text(encoding="utf-8")) if src.is_file() else {}
    if own_data:
        recipe["description"] = (
            f"Training recipe of models/model.pt: fine-tuned from {data.get('init')} (version "
            f"{data.get('init_version')}) on {data.get('source')}, written by that run (the command is in "
            "metadata.json under 'trained')." if data.get("init") else
            f"Training recipe of models/model.pt: trained on {data.get('source')}, written by that run (the "
            "command is in metadata.json under 'trained')."
        )
        recipe["data"] = {"target_spacing_mm": recipe.get("data", {}).get("target_spacing_mm", 0.3), **data}
    else:
        recipe["description"] = (
            "Training recipe of models/model.pt, written by the training run that made it (the command "
            "is in metadata.json under 'trained'). Fine-tuning: follicle-seg train --init shipped "
            "--data DIR --out NEW_BUNDLE."
        )
        recipe["data"] = {**recipe.get("data", {}), **data}
    inference = out / "configs" / "inference.json"
    if inference.is_file():  # the network trained, not the template's
        recipe["network_def"] = json.loads(inference.read_text(encoding="utf-8")).get("network_def")
    recipe["optimizer"] = {**recipe.get("optimizer", {}), "lr": config.learning_rate,
                           "weight_decay": config.weight_decay}
    recipe["train"] = {**recipe.get("train", {}), **_recorded(config)}
    (out / "configs").mkdir(parents=True, exist_ok=True)
    (out / "configs" / "train.json").write_text(json.dumps(recipe, indent=4) + "\n", encoding="utf-8")


def _write_inference(template_root: Path, out: Path, network: str | None) -> None:
    """``configs/inference.json`` of the new bundle: the template's, naming the trained network.

    ``network`` is the candidate trained from scratch; ``None`` keeps the template's (fine-tuning).
    """
    src = template_root / "configs" / "inference.json"
    if not src.is_file() or (network is None and Path(out).resolve() == template_root.resolve()):
        return
    config = json.loads(src.read_text(encoding="utf-8"))
    if network is not None:
        config["network_def"] = network_def(network)
    (out / "configs").mkdir(parents=True, exist_ok=True)
    (out / "configs" / "inference.json").write_text(json.dumps(config, indent=4) + "\n", encoding="utf-8")


def train(
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample],
    out: Path,
    *,
    init: Path | None = None,
    config: TrainConfig = TrainConfig(),
    device: str = "cpu",
    note: str = "trained",
    command: str | None = None,
    data_info: dict[str, Any] | None = None,
    data_source: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train (or fine-tune from ``init``) and write a bundle folder at ``out``.

    Parameters
    ----------
    train_samples, val_samples
        Samples at network scale (see :mod:`follicle_seg.model.data`); ``val_samples`` is the
        held-out split used for early stopping and the before / after report.
    out
        Bundle folder to write (``models/model.pt``, ``configs/``); may be the repository root.
    init
        ``models/model.pt`` of a bundle to start from (verified); ``None`` trains from scratch.
        The starting weights' held-out metrics are the bar: when no validation :func:`beats` them
        (a higher ovary + follicle Dice without lowering the ovary Dice by more than
        :data:`OVARY_TOLERANCE`) they are kept, ``out`` gets a copy of their bundle (version and
        metadata unchanged) and the report says so (``"improved": false``).
    note, command
        The changelog entry of the new version (the held-out Dice before and after is added), and
        the command line that ran this training (recorded in ``metadata.json`` and
        ``configs/train.json``).
    data_info
        Extra entries for the recipe's ``data`` section (e.g. the generator call that made the
        synthetic frames).
    data_source
        What the frames are when they are not (only) the synthetic generator's, e.g. "24
        annotated frames of my_site/ (site data)...": the bundle's ``data_source`` and
        description say it, and its recipe's ``data`` section is this run's alone.

    Returns
    -------
    dict
        ``{"before": metrics, "after": metrics, "steps": last step run, "kept_step": step of the
        kept weights (0: the starting ones), "improved": bool or None (no held-out frames),
        "kept": words, "minutes": m, "history": [...], "weights": path}``; also written to
        ``out/train_report.json``, its weights named as the bundle names them, not by path
        (:func:`~follicle_seg.model.paths.named_weights`).

    Raises
    ------
    TrainingInterrupted
        Ctrl-C or SIGTERM during the loop, after writing the bundle of the best weights so far
        when a validation had kept any (its ``report``; ``None`` when nothing was written).
    """
    torch.manual_seed(config.seed)
    template = Path(init).resolve().parent.parent if init is not None else shipped_bundle_root()
    if init is not None:  # the network trained is the starting bundle's, whatever config.network says
        config = replace(config, network=network_name(template))
        next_version(template)  # a version that cannot be bumped is said now, not after the training
    net = (load_network(init) if init is not None else build_network(config.network)).to(device)
    before = validate(net, val_samples, device) if val_samples else {}
    log(f"before: {json.dumps(before)}")
    if val_samples and "follicle_dice" not in before:
        log("follicle Dice not scored: every held-out frame has its follicles undrawn (outlines only); the held-out "
            "score is the ovary Dice")
    bar = before if init is not None and val_samples else None
    start = time.monotonic()
    interrupted: TrainingInterrupted | None = None
    try:
        state, history = fit(net, train_samples, val_samples, config, device=device, log=log, bar=bar)
    except TrainingInterrupted as stop:
        interrupted, state, history = stop, stop.state, stop.history
    minutes = (time.monotonic() - start) / 60
    kept = kept_step(history, bar, bool(val_samples))
    out = Path(out)
    base = {"steps": history[-1]["step"] if history else 0, "kept_step": kept, "minutes": round(minutes, 2),
            "history": history, "n_train": len(train_samples), "n_val": len(val_samples),
            "interrupted": interrupted is not None}
    if kept == 0:  # no validation kept anything: the starting weights (or nothing) stand
        if interrupted is not None or init is None:
            log("interrupted before any validation kept weights: nothing written." if interrupted is not None
                else "no validation ran: nothing written.")
            if interrupted is not None:
                raise interrupted
            raise RuntimeError("no validation ran")  # max_steps >= 1 validates at least once
        weights = _copy_bundle(template, out)
        log(f"no validation beat the starting weights (held-out {_said(before)}; kept only with held-out {_RULE}): "
            f"kept the starting weights, unchanged; {out} holds a copy of their bundle (version "
            f"{read_metadata(template).get('version')}), not a fine-tuned one.")
        report: dict[str, Any] = {"before": before, "after": before, **base, "improved": False,
                  "kept": f"the starting weights ({named_weights(init)}): no validation had held-out {_RULE}",
                  "weights": str(weights)}
    else:
        net.load_state_dict(state)
        after = validate(net, val_samples, device) if val_samples else {}
        log(f"after: {json.dumps(after)}")
        improved = beats(after, score(before), bar) if val_samples else None
        if val_samples:
            note = f"{note}; held-out Dice {_said(before)} -> {_said(after)}"
        else:
            note = f"{note}; no held-out frames: the last weights, not checked against the starting ones"
        if interrupted is not None:
            note = f"{note} (interrupted: the best weights of step {kept} of {base['steps']})"
        metadata = _bundle_metadata(template, config, note, command, init=init, data_source=data_source)
        _write_inference(template, out, None if init is not None else config.network)
        recipe_data = {"n_train": len(train_samples), "n_val": len(val_samples),
                       "init": named_weights(init) if init is not None else None, **(data_info or {})}
        if data_source is not None:
            recipe_data = {"source": data_source, **recipe_data,
                           **({"init_version": read_metadata(template).get("version")} if init is not None else {})}
        _write_recipe(template, out, config, recipe_data, own_data=data_source is not None)
        weights = save_weights(net.cpu(), out, metadata=metadata)
        why = (f": the best held-out {_RULE}" if bar is not None
               else "" if val_samples else " (the last: no held-out frames)")
        report = {"before": before, "after": after, **base, "improved": improved,
                  "kept": f"the weights of step {kept}{why}", "weights": str(weights)}
    # the bundle's copy names its weights as metadata.json does, not by their path (a folder's name
    # may be a patient's or a hospital share's); the caller's report keeps the path
    kept_report = {**report, "weights": named_weights(weights)}
    (out / "train_report.json").write_text(json.dumps(kept_report, indent=2) + "\n", encoding="utf-8")
    if interrupted is not None:
        interrupted.report = report
        raise interrupted
    return report


def _recorded(config: TrainConfig) -> dict[str, Any]:
    """``config`` as a bundle records it: the checkpoints folder by its name, not its path."""
    return {**asdict(config), "checkpoints": None if config.checkpoints is None else Path(config.checkpoints).name}


def _said(metrics: dict[str, float]) -> str:
    """``ovary 0.361, follicle 0.112`` of held-out metrics."""
    return ", ".join(f"{k.removesuffix('_dice')} {v:.3f}" for k, v in metrics.items()) or "none"


def _copy_bundle(template: Path, out: Path) -> Path:
    """``out`` made a copy of the bundle at ``template`` (weights and configs); its weights path."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != template.resolve():
        for rel in (WEIGHTS, METADATA, Path("configs") / "inference.json", Path("configs") / "train.json"):
            if (template / rel).is_file():
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(template / rel, out / rel)
    return out / WEIGHTS
