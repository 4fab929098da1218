"""Architectures: shapes for every power-of-two resolution, conditioning, spectral norm."""

import pytest
import torch

from gankit.config import ModelConfig
from gankit.nets import build_networks
from gankit.nets.dcgan import dcgan_channels


def test_dcgan_channel_schedule_matches_the_textbook_32x32():
    assert dcgan_channels(32, 1.0, 512) == [256, 128, 64]
    assert dcgan_channels(128, 1.0, 512) == [512, 512, 256, 128, 64]
    assert dcgan_channels(8, 0.5, 512) == [32]


@pytest.mark.parametrize("resolution", [8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(resolution, channels):
    g, d = build_networks(ModelConfig(width=0.25), (channels, resolution, resolution))
    x = g(torch.randn(3, 100))
    assert x.shape == (3, channels, resolution, resolution)
    assert x.abs().max() <= 1
    assert d(x).shape == (3,)


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
@pytest.mark.parametrize("cond_d", ["concat", "projection"])
def test_conditional_nets_use_the_label(arch, cond_d):
    cfg = ModelConfig(arch=arch, width=0.25, cond_d=cond_d, g_norm="none", d_norm="none",
                      g_hidden=[32], d_hidden=[32])
    g, d = build_networks(cfg, (1, 16, 16), num_classes=10)
    z = torch.randn(1, 100).repeat(2, 1)
    labels = torch.tensor([1, 2])
    x = g(z, labels)
    assert not torch.allclose(x[0], x[1])  # same noise, different class, different image
    out = d(x[:1].repeat(2, 1, 1, 1), labels)
    assert not torch.allclose(out[0], out[1])


def test_spectral_norm_bounds_the_discriminator_layers():
    cfg = ModelConfig(arch="mlp", d_hidden=[64, 64], spectral_norm=True, d_norm="none")
    _, d = build_networks(cfg, (2,), is_image=False)
    for _ in range(30):
        d(torch.randn(8, 2))
    d.eval()
    for m in d.modules():
        if isinstance(m, torch.nn.Linear):
            assert torch.linalg.matrix_norm(m.weight, 2).item() == pytest.approx(1.0, abs=0.05)


def test_mlp_generator_output_for_points_is_unbounded():
    cfg = ModelConfig(arch="mlp", z_dim=2, g_norm="none", d_norm="none")
    g, _ = build_networks(cfg, (2,), is_image=False)
    assert not any(isinstance(m, torch.nn.Tanh) for m in g.modules())


def test_flatten_keeps_the_gradient_layout_and_values():
    from gankit.nets.layers import Flatten

    x = torch.randn(4, 3, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    w = torch.randn(75)
    (Flatten()(x) @ w).sum().backward()
    ours = x.grad
    x2 = x.detach().clone().requires_grad_(True)
    (torch.nn.Flatten()(x2) @ w).sum().backward()
    assert torch.equal(ours, x2.grad)
    assert ours.is_contiguous(memory_format=torch.channels_last) and not ours.is_contiguous()
    # differentiable twice (R1 and the gradient penalty take the gradient of a gradient)
    x3 = torch.randn(2, 3, 4, 4, requires_grad=True)
    (g,) = torch.autograd.grad((Flatten()(x3) ** 2).sum(), x3, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x3)
    assert torch.allclose(gg, torch.full_like(x3, 2.0))
