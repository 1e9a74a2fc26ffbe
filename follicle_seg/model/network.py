"""The segmentation network: a small 2-D, three-class MONAI UNet with residual units.

The architecture was chosen by measurement against BasicUNet, SegResNet and DynUNet (parameters,
CPU milliseconds per frame, accuracy after equal-time training); see docs/model.md, "Model". The same
arguments live in ``configs/inference.json`` (``network_def``) so the bundle and the library
build the identical module.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from monai.networks.blocks import Convolution
from monai.networks.nets import BasicUNet, SegResNet, UNet
from torch import nn

IN_CHANNELS = 1
CLASSES = ("background", "ovary", "follicle")


class ResizeConvUNet(UNet):
    """MONAI's UNet with resize-convolution decoding: a 1x1 convolution, then bilinear upsampling.

    The stock decoder's stride-2 transposed convolutions leave block artefacts in the
    probabilities (seen at the bottleneck's 16-pixel period on real and shifted synthetic
    frames); interpolating instead cannot (Odena et al., Distill 2016). The channel mixing runs
    at the coarse scale before upsampling, and the residual unit after it does the 3x3 work at
    the fine scale, so a step costs about what the stock decoder's does. The encoder, skip
    connections and residual units are MONAI's own.
    """

    def _get_up_layer(self, in_channels: int, out_channels: int, strides: int, is_top: bool) -> nn.Module:
        stock = super()._get_up_layer(in_channels, out_channels, strides, is_top)
        conv = Convolution(
            self.dimensions, in_channels, out_channels, strides=1, kernel_size=1,
            act=self.act, norm=self.norm, dropout=self.dropout, bias=self.bias,
            conv_only=is_top and self.num_res_units == 0, adn_ordering=self.adn_ordering,
        )
        upsample = nn.Upsample(scale_factor=strides, mode="bilinear", align_corners=False)
        if isinstance(stock, nn.Sequential):  # transposed convolution, then a residual unit
            return nn.Sequential(conv, upsample, stock[1])
        return nn.Sequential(conv, upsample)


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
    "unet_res_small": (UNet, {**NETWORK_ARGS, "channels": (8, 16, 32, 64, 64)}),
    "unet_res_resize": (ResizeConvUNet, NETWORK_ARGS),
    "unet_res_instance": (UNet, {**NETWORK_ARGS, "norm": ("instance", {"affine": True})}),
    "unet_res_dropout": (UNet, {**NETWORK_ARGS, "dropout": 0.2}),
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


def network_def(name: str) -> dict[str, Any]:
    """The ``network_def`` entry of a bundle's ``configs/inference.json`` for a candidate.

    Examples
    --------
    >>> network_def("unet_res")["_target_"]
    'UNet'
    """
    if name not in CANDIDATES:
        raise ValueError(f"Unknown network {name!r}; choose one of {sorted(CANDIDATES)}.")
    cls, kwargs = CANDIDATES[name]
    target = cls.__name__ if cls.__module__.startswith("monai.") else f"{cls.__module__}.{cls.__name__}"
    return {"_target_": target, **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}}


def candidate_of(definition: dict[str, Any]) -> str | None:
    """The name of the candidate whose :func:`network_def` is ``definition`` (as read from a
    bundle's JSON), or ``None``.

    Examples
    --------
    >>> candidate_of(network_def("unet_res_resize")), candidate_of({"_target_": "UNet"})
    ('unet_res_resize', None)
    """
    return next((name for name in CANDIDATES if json.loads(json.dumps(network_def(name))) == definition), None)


def network_from_def(definition: dict[str, Any]) -> torch.nn.Module:
    """Build the network a bundle's ``network_def`` names, without evaluating any expression.

    Only the classes of :data:`CANDIDATES` are built, so a bundle from elsewhere cannot run code
    on load; MONAI's ``ConfigParser`` builds the same module from the same entry.

    Raises
    ------
    ValueError
        If ``_target_`` is not one of those classes or an argument does not fit it.
    """
    classes = {cls.__name__: cls for cls, _ in CANDIDATES.values()}
    classes.update({f"{cls.__module__}.{cls.__name__}": cls for cls, _ in CANDIDATES.values()})
    kwargs = dict(definition)
    target = str(kwargs.pop("_target_", ""))
    if target not in classes:
        raise ValueError(f"network_def names {target!r}; known: {sorted(set(c.__name__ for c in classes.values()))}.")
    try:
        return classes[target](**kwargs)
    except TypeError as exc:
        raise ValueError(f"network_def does not fit {target}: {exc}") from None


def count_parameters(net: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
