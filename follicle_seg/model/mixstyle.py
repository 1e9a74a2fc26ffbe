"""MixStyle (Zhou et al., ICLR 2021): mix feature statistics between training samples.

During training, the output of an early encoder block has each sample's per-channel mean and
standard deviation replaced by a random blend of its own and another sample's of the batch, so
the network sees the same content in new "styles" at feature level, beyond what intensity
augmentation of the input gives. It acts only while the module is in training mode and holds no
weights: inference, the state dict and the bundle's network definition do not change.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.hooks import RemovableHandle

EPS = 1e-6


def mix_styles(x: torch.Tensor, weight: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
    """``x`` (batch, channels, ...) with each sample's channel statistics blended with
    ``partner``'s: mean and std become ``weight * own + (1 - weight) * partner's``.

    Examples
    --------
    >>> x = torch.stack([torch.zeros(1, 4) + torch.tensor([0., 2., 0., 2.]), torch.tensor([[0., 10., 0., 10.]])])
    >>> y = mix_styles(x, torch.tensor([0.5, 1.0]).view(2, 1, 1), torch.tensor([1, 0]))
    >>> [round(v, 3) for v in y[0, 0].tolist()], [round(v, 3) for v in y[1, 0].tolist()]
    ([0.0, 6.0, 0.0, 6.0], [0.0, 10.0, 0.0, 10.0])
    """
    dims = tuple(range(2, x.dim()))
    mu = x.mean(dims, keepdim=True).detach()
    sigma = (x.var(dims, keepdim=True) + EPS).sqrt().detach()
    normed = (x - mu) / sigma
    mixed_mu = weight * mu + (1 - weight) * mu[partner]
    mixed_sigma = weight * sigma + (1 - weight) * sigma[partner]
    return normed * mixed_sigma + mixed_mu


def mixstyle_hook(prob: float, alpha: float = 0.1) -> Callable[[torch.nn.Module, object, torch.Tensor], torch.Tensor]:
    """A forward hook applying :func:`mix_styles` to a batch with probability ``prob`` (training
    mode only), weights drawn from Beta(``alpha``, ``alpha``), partners a random permutation."""
    beta = torch.distributions.Beta(alpha, alpha)

    def hook(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor:
        if not module.training or output.size(0) < 2 or float(torch.rand(())) >= prob:
            return output
        shape = (output.size(0),) + (1,) * (output.dim() - 1)
        weight = beta.sample((output.size(0),)).view(shape).to(output.device, output.dtype)
        return mix_styles(output, weight, torch.randperm(output.size(0), device=output.device))

    return hook


def add_mixstyle(net: torch.nn.Module, prob: float) -> list[RemovableHandle]:
    """Hook MixStyle onto the first two encoder blocks of the shipped UNet (``network.build_network()``);
    returns the handles (``handle.remove()`` takes it off)."""
    try:
        blocks = [net.get_submodule("model.0"), net.get_submodule("model.1.submodule.0")]
    except (AttributeError, IndexError, TypeError) as exc:
        raise ValueError("MixStyle is wired for the shipped UNet (network 'unet_res') only") from exc
    hook = mixstyle_hook(prob)
    return [block.register_forward_hook(hook) for block in blocks]
