"""MixStyle: feature statistics mixed between training samples, never at inference."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from follicle_seg.model.mixstyle import add_mixstyle, mix_styles
from follicle_seg.model.network import build_network
from follicle_seg.model.train import fit
from follicle_seg.model.data import make_sample
from toy_frames import TINY, toy_frame  # tests/ is on sys.path


def test_mixed_statistics_are_the_blend_of_the_two_samples() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8) * torch.tensor([1.0, 4.0]).view(2, 1, 1, 1) + torch.tensor([0.0, 5.0]).view(2, 1, 1, 1)
    y = mix_styles(x, torch.tensor([0.25, 1.0]).view(2, 1, 1, 1), torch.tensor([1, 0]))
    mu, sd = x.mean((2, 3)), x.std((2, 3), unbiased=True)
    assert torch.allclose(y.mean((2, 3))[0], 0.25 * mu[0] + 0.75 * mu[1], atol=1e-4)
    assert torch.allclose(y.std((2, 3))[0], 0.25 * sd[0] + 0.75 * sd[1], atol=1e-3)
    assert torch.allclose(y[1], x[1], atol=1e-4)  # weight 1: its own statistics, unchanged
    # the content (each sample's normalised pattern) is kept
    normed = (x[0] - x[0].mean((1, 2), keepdim=True)) / x[0].std((1, 2), keepdim=True)
    normed_y = (y[0] - y[0].mean((1, 2), keepdim=True)) / y[0].std((1, 2), keepdim=True)
    assert torch.allclose(normed, normed_y, atol=1e-3)


def test_hooks_act_in_training_only_and_come_off() -> None:
    torch.manual_seed(0)
    net = build_network()
    x = torch.randn(4, 1, 32, 32)
    net.eval()
    plain = net(x)
    handles = add_mixstyle(net, prob=1.0)
    assert torch.equal(net(x), plain)  # eval mode: no mixing
    net.train()
    torch.manual_seed(1)
    mixed = net(x)
    for h in handles:
        h.remove()
    torch.manual_seed(1)
    assert not torch.allclose(mixed, net(x))  # the same batch norm state, without the hooks
    with pytest.raises(ValueError, match="unet_res"):
        add_mixstyle(build_network("segresnet"), 0.5)


def test_fit_with_mixstyle_trains_and_takes_the_hooks_off() -> None:
    samples = [make_sample(*toy_frame(i), 0.15, 0.15) for i in range(4)]
    net = build_network()
    state, history = fit(net, samples[:3], samples[3:], dataclasses.replace(TINY, mixstyle=1.0))
    assert len(history) == 2 and set(state) == set(build_network().state_dict())
    assert all(not m._forward_hooks for m in net.modules())
