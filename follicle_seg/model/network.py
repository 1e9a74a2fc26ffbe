"""The segmentation network: a small 2-D, three-class MONAI UNet with residual units.

The architecture was chosen by measurement against BasicUNet, SegResNet and DynUNet (parameters,
CPU milliseconds per frame, accuracy after equal-time training); see the README, "Model". The same
arguments live in ``configs/inference.json`` (``network_def``) so the bundle and the library
build the identical module.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.networks.nets import BasicUNet, SegResNet, UNet

IN_CHANNELS = 1
CLASSES = ("background", "ovary", "follicle")

NETWORK_ARGS: dict[str, Any] = {
    "spatial_dims": 2,
    "in_channels": IN_CHANNELS,
    "out_channels": len(CLASSES),
    "channels": (16, 32, 64, 128, 128),
    "strides": (2, 2, 2, 2),
    "num_res_units": 1,
    "norm": "batch",
}
"""Arguments of :class:`monai.networks.nets.UNet` for the shipped network."""

CANDIDATES: dict[str, tuple[type[torch.nn.Module], dict[str, Any]]] = {
    "unet_res": (UNet, NETWORK_ARGS),
    "unet_res_large": (
        UNet,
        {**NETWORK_ARGS, "channels": (16, 32, 64, 128, 256), "num_res_units": 2},
    ),
    "basicunet": (
        BasicUNet,
        {"spatial_dims": 2, "in_channels": 1, "out_channels": 3, "features": (8, 8, 16, 32, 64, 8)},
    ),
    "segresnet": (
        SegResNet,
        {
            "spatial_dims": 2,
            "in_channels": 1,
            "out_channels": 3,
            "init_filters": 8,
            "blocks_down": (1, 2, 2, 4),
            "blocks_up": (1, 1, 1),
        },
    ),
}
"""Architectures compared when choosing the network (all divisible by 16)."""


def build_network(name: str = "unet_res") -> torch.nn.Module:
    """Build an untrained network by candidate name.

    Parameters
    ----------
    name
        A key of :data:`CANDIDATES`; ``"unet_res"`` is the shipped architecture.

    Returns
    -------
    torch.nn.Module
        Maps ``(batch, 1, rows, cols)`` (sides multiples of 16) to ``(batch, 3, rows, cols)``
        logits.

    Examples
    --------
    >>> net = build_network()
    >>> net(torch.zeros(1, 1, 32, 48)).shape
    torch.Size([1, 3, 32, 48])
    """
    if name not in CANDIDATES:
        raise ValueError(f"Unknown network {name!r}; choose one of {sorted(CANDIDATES)}.")
    cls, kwargs = CANDIDATES[name]
    return cls(**kwargs)


def count_parameters(net: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
