"""The ``run`` of the bundle's configs: what ``python -m monai.bundle run --config_file
configs/inference.json`` (or ``configs/train.json``) does, without this package's command line.

``segment_folder``: every DICOM file under a folder segmented as ``follicle-seg run --save-masks``
segments it, each frame's label map written as ``<sop_instance_uid>_<frame_index>.png``.
``train_synthetic``: the recipe of ``configs/train.json`` re-run on the synthetic frames it names,
a bundle folder written as ``follicle-seg train`` writes one.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from follicle_seg.errors import ModelError, RejectedInput, said
from follicle_seg.model.paths import shipped_bundle_root

__all__ = ["segment_folder", "train_synthetic"]


def segment_folder(dataset_dir: str | Path, output_dir: str | Path, checkpoint: str | Path,
                   device: str = "auto") -> list[Path]:
    """Label maps (0 background, 1 ovary, 2 follicle; source-frame grid, 8-bit PNG) of every frame
    of every DICOM file under ``dataset_dir``, by the network at ``checkpoint`` (a bundle's
    ``models/model.pt``), in ``output_dir``; the files written. A file that cannot be analysed is
    said on stderr, one line, and skipped."""
    from follicle_seg.artefacts import embed, mask_filename
    from follicle_seg.intake import chunks
    from follicle_seg.io import discover, read_record
    from follicle_seg.model.infer import Segmenter
    from follicle_seg.report.overlay_files import write_image

    dataset = Path(dataset_dir)
    if not dataset.exists():
        raise ModelError(f"dataset_dir {dataset}: not found (give --dataset_dir, a folder of DICOM files).")
    segmenter = Segmenter(Path(checkpoint), device=str(device))
    out = Path(output_dir)
    written = []
    for path in discover(dataset):
        try:
            record = read_record(path)
            # a batch of frames at a time (each with its panes), as a run: a cine whole held
            # every frame's probabilities at once
            for frames in chunks(record, segmenter.batch_size, None):
                maps: dict[int, np.ndarray] = {}
                for seg in segmenter.segment(frames):
                    maps[seg.index] = embed(seg.labels, seg.record, into=maps.get(seg.index))
                for index, labels in maps.items():
                    written.append(out / mask_filename(record, index))
                    write_image(written[-1], labels)
        except RejectedInput as exc:
            print(said(str(path), exc.reason), file=sys.stderr)
    print(f"{len(written)} label maps written to {out}", file=sys.stderr)
    return written


#: Keys of ``configs/train.json``'s ``train`` that describe the recipe rather than set it.
_DESCRIBED = {"crop_ratios_background_ovary_follicle", "select"}
#: Keys of its ``data`` that the run reads (the others describe the frames).
_DATA = {"n_train", "n_val", "layered_share", "patchwork_share", "poi_share"}


def train_synthetic(output_dir: str | Path, data: dict[str, Any], settings: dict[str, Any], *,
                    cache_dir: str | Path, device: str = "cpu") -> dict[str, Any]:
    """Train on the synthetic frames that ``data`` names (``configs/train.json``'s ``data``: their
    count and generator shares) with ``settings`` (its ``train``: :class:`TrainConfig` fields) and
    write a bundle folder at ``output_dir``; the training report."""
    from follicle_seg.model.cli import generator_info, synthetic_samples
    from follicle_seg.model.train import TrainConfig, train

    if data.get("source") or data.get("init"):
        raise ModelError("configs/train.json: this recipe starts from other weights or site data "
                         f"({data.get('source') or data.get('init')}); monai.bundle run re-runs synthetic "
                         "recipes only: use follicle-seg train.")
    out = Path(output_dir).resolve()
    if (out / "models").resolve() == (shipped_bundle_root() / "models").resolve():
        raise ModelError(f"output_dir {output_dir}: the shipped bundle; give --output_dir another folder.")
    known = {f.name for f in fields(TrainConfig)}
    if unknown := sorted(set(settings) - known - _DESCRIBED):  # a mistyped override was dropped in silence
        raise ModelError(f"configs/train.json: train has no setting {', '.join(unknown)} "
                         f"(settings: {', '.join(sorted(known))}).")
    template = json.loads((shipped_bundle_root() / "configs" / "train.json").read_text(encoding="utf-8"))["data"]
    if unknown := sorted(set(data) - set(template) - _DATA):
        raise ModelError(f"configs/train.json: data has no setting {', '.join(unknown)} "
                         f"(read: {', '.join(sorted(_DATA))}).")
    config = TrainConfig(**{k: v for k, v in settings.items() if k in known})
    n_train = int(data["n_train"])
    train_samples, val_samples = synthetic_samples(
        n_train, int(data.get("n_val", max(8, n_train // 20))), Path(cache_dir),
        layered_share=float(data.get("layered_share", 0.0)), patchwork_share=float(data.get("patchwork_share", 0.0)),
        poi_share=float(data.get("poi_share", 0.0)))
    return train(train_samples, val_samples, out, config=config, device=str(device),
                 note=f"trained on {n_train} synthetic frames",
                 command=f"python -m monai.bundle run --config_file configs/train.json (n_train {n_train}, "
                         f"max_steps {config.max_steps})",
                 data_info=generator_info(float(data.get("layered_share", 0.0)),
                                          float(data.get("patchwork_share", 0.0)), float(data.get("poi_share", 0.0))))
