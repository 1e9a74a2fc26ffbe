"""The CUDA path (autocast, channels-last, pinned copies, training on the GPU) against the CPU path.

Skipped where no GPU is present, as in CI. On a GPU machine: ``python -m pytest -q tests/test_gpu.py``
(docs/batch.md, "Benchmark": the results of the one run on an H200).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from follicle_seg.instances import labels_from_probs
from follicle_seg.model.bundle import load_network
from follicle_seg.model.data import make_sample
from follicle_seg.model.infer import Segmenter
from follicle_seg.model.train import TrainConfig, dice, train
from follicle_seg.pipeline import RunOptions, run
from follicle_seg.synth.study import write_study
from follicle_seg.synth.training import training_frame
from follicle_seg.types import FOLLICLE

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

HELD_OUT = (1_000_003, 1_000_004, 1_000_007, 1_000_011)  # seeds training never uses


@pytest.fixture(scope="module")
def items() -> list[tuple[np.ndarray, float | None, float | None]]:
    frames = [training_frame(s) for s in HELD_OUT]
    calibrated = [(f.pixels, f.spacing_row_mm, f.spacing_col_mm) for f in frames]
    return calibrated + [(frames[0].pixels, None, None)]  # one read at three depths


@pytest.fixture(scope="module")
def cpu_probs(items) -> list[np.ndarray]:
    return [p for p, _ in Segmenter(device="cpu", batch_size=4).predict(items)]


def _agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Ovary (ovary + follicle) Dice and follicle Dice between two label maps."""
    return dice(a > 0, b > 0), dice(a == FOLLICLE, b == FOLLICLE)


def test_cuda_in_full_precision_matches_the_cpu(items, cpu_probs) -> None:
    seg = Segmenter(device="cuda", batch_size=4, amp=False)
    assert seg.amp_dtype is None and next(seg.network.parameters()).is_cuda
    for (probs, _), ref in zip(seg.predict(items), cpu_probs):
        assert probs.dtype == np.float32 and probs.shape == ref.shape
        # cuDNN may pick TF32 convolutions: close to, not bit-equal with, the CPU
        assert np.abs(probs - ref).max() < 0.05
        assert np.mean(probs.argmax(0) == ref.argmax(0)) > 0.999


def test_cuda_mixed_precision_gives_the_cpu_labels(items, cpu_probs) -> None:
    seg = Segmenter(device="cuda", batch_size=4, amp=True)
    assert seg.amp_dtype in (torch.bfloat16, torch.float16)
    for (probs, _), ref in zip(seg.predict(items), cpu_probs):
        assert np.isfinite(probs).all() and np.abs(probs.sum(0) - 1).max() < 1e-3
        ovary, follicle = _agreement(labels_from_probs(probs), labels_from_probs(ref))
        assert ovary > 0.98 and (follicle > 0.95 or not (labels_from_probs(ref) == FOLLICLE).any())


def test_cuda_result_does_not_depend_on_the_batch(items) -> None:
    seg = Segmenter(device="cuda", batch_size=4, amp=True)
    together = [p for p, _ in seg.predict(items)]
    alone = [seg.predict([item])[0][0] for item in items]
    for a, b in zip(together, alone):
        assert np.mean(a.argmax(0) == b.argmax(0)) > 0.999


def test_training_on_cuda_writes_weights_that_load_on_the_cpu(tmp_path: Path) -> None:
    frames = [training_frame(s) for s in HELD_OUT[:3]]
    samples = [make_sample(f.pixels, f.labels, f.spacing_row_mm, f.spacing_col_mm) for f in frames]
    config = TrainConfig(max_steps=3, batch_size=2, crop=64, val_every=1, patience=5, seed=0,
                         ema_decay=0.99, checkpoints=str(tmp_path / "checkpoints"))
    report = train(samples[:2], samples[2:], tmp_path / "b", config=config, device="cuda", log=lambda m: None)
    assert report["steps"] == 3 and np.isfinite(report["after"]["ovary_dice"])
    net = load_network(Path(report["weights"]))  # a state dict of CPU tensors
    assert all(not t.is_cuda for t in net.state_dict().values())
    written = sorted((tmp_path / "checkpoints").glob("step_*.pt"))
    assert len(written) == 6  # three validations, the weights and their moving average each
    for path in written:
        assert all(not t.is_cuda for t in torch.load(path, weights_only=True).values())


def test_a_run_on_cuda_counts_what_the_cpu_run_counts(tmp_path: Path) -> None:
    study = tmp_path / "study"
    write_study(study, patients=1, visits=2, seed=11, frames_per_sweep=8)
    tables = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        run([study / "dicom"], RunOptions(out=out, cohort=study / "cohort.csv", workers=1, dicom=False,
                                          device=device, batch_size=16))
        tables[device] = pd.read_csv(out / "ovaries.csv", dtype=str, keep_default_na=False)
    keys = ["patient_id", "study_date", "laterality"]
    merged = tables["cpu"].merge(tables["cuda"], on=keys, suffixes=("_cpu", "_cuda"))
    assert len(merged) == len(tables["cpu"]) == len(tables["cuda"]) > 0
    assert (merged.follicle_count_cpu == merged.follicle_count_cuda).mean() >= 0.75, merged
