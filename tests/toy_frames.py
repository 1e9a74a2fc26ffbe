"""A toy annotated frame and the tiniest training settings, for the training tests."""

from __future__ import annotations

import numpy as np

from follicle_seg.model.train import TrainConfig

TINY = TrainConfig(max_steps=2, batch_size=2, crop=64, val_every=1, patience=5, seed=0)


def toy_frame(seed: int, shape: tuple[int, int] = (120, 150)) -> tuple[np.ndarray, np.ndarray]:
    """A speckled frame with an ovary and one dark follicle, and its label map."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.uint8)
    labels[((rr - 60) / 35) ** 2 + ((cc - 75) / 45) ** 2 < 1] = 1
    labels[(rr - 60 - rng.integers(-8, 8)) ** 2 + (cc - 75) ** 2 < 10**2] = 2
    pixels = rng.rayleigh(60, shape)
    pixels[labels == 2] *= 0.1
    return np.clip(pixels, 0, 255).astype(np.uint8), labels
