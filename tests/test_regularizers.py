"""Regularizers against values computed by hand on linear and quadratic critics."""

import math

import pytest
import torch
from torch import nn

from gankit.regularizers import (
    add_instance_noise,
    apply_spectral_norm,
    clip_weights_,
    gradient_penalty,
    instance_noise_std,
    r1_penalty,
)


def _linear_critic(weights):
    lin = nn.Linear(len(weights), 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([weights]))
        lin.bias.fill_(1.0)
    return lin, (lambda x: lin(x.flatten(1)).squeeze(1))


def test_penalties_on_a_linear_critic():
    # D(x) = 3 x1 + 4 x2 + 1: grad = (3, 4) everywhere, ||grad|| = 5 -> GP = (5 - 1)^2 = 16, R1 = 25
    _, critic = _linear_critic([3.0, 4.0])
    real, fake = torch.randn(7, 2), torch.randn(7, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)
    assert r1_penalty(critic, real).item() == pytest.approx(25.0)


def test_penalties_on_image_shaped_inputs():
    # (B, 1, 2, 2) images, weights (1, 2, 2, 4): ||w|| = sqrt(1 + 4 + 4 + 16) = 5
    _, critic = _linear_critic([1.0, 2.0, 2.0, 4.0])
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)
    assert gradient_penalty(critic, real, fake, target=5.0).item() == pytest.approx(0.0, abs=1e-10)
    assert r1_penalty(critic, real).item() == pytest.approx(25.0)


def test_penalties_on_a_quadratic_critic():
    # D(x) = 0.5 ||x||^2, grad = x.
    critic = lambda x: 0.5 * x.pow(2).sum(dim=1)  # noqa: E731
    # R1 on (1, 2) and (3, 0): mean(1 + 4, 9) = 7
    assert r1_penalty(critic, torch.tensor([[1.0, 2.0], [3.0, 0.0]])).item() == pytest.approx(7.0)
    # GP with eps (0.5, 0.25): x_hat = 0.5 (2,0) + 0.5 (0,2) = (1,1) and 0.25 (0,4) + 0.75 (0,0) = (0,1)
    # norms sqrt(2) and 1 -> mean((sqrt2 - 1)^2, 0) = (3 - 2 sqrt2) / 2
    real = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    fake = torch.tensor([[0.0, 2.0], [0.0, 0.0]])
    gp = gradient_penalty(critic, real, fake, eps=torch.tensor([0.5, 0.25]))
    assert gp.item() == pytest.approx((3 - 2 * math.sqrt(2)) / 2)


def test_gradient_penalty_trains_the_critic():
    lin, critic = _linear_critic([3.0, 4.0])
    gp = gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2))
    gp.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (3, 4) / 5 = (4.8, 6.4)
    assert torch.allclose(lin.weight.grad, torch.tensor([[4.8, 6.4]]))


def test_clip_weights():
    lin = nn.Linear(3, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[-1.0, 0.005, 2.0]] * 3))
    clip_weights_(lin, 0.01)
    assert lin.weight.max().item() == pytest.approx(0.01) and lin.weight.min().item() == pytest.approx(-0.01)
    assert lin.weight[0, 1].item() == pytest.approx(0.005)
    assert lin.bias.abs().max() <= 0.01


def test_instance_noise_schedule():
    assert instance_noise_std(0, 0.1, 100) == pytest.approx(0.1)
    assert instance_noise_std(50, 0.1, 100) == pytest.approx(0.05)
    assert instance_noise_std(100, 0.1, 100) == 0.0
    assert instance_noise_std(500, 0.1, 100) == 0.0
    assert instance_noise_std(500, 0.1, 0) == pytest.approx(0.1)
    x = torch.zeros(20000)
    assert add_instance_noise(x, 0.0) is x
    assert add_instance_noise(x, 0.5).std().item() == pytest.approx(0.5, rel=0.03)


def test_spectral_norm_makes_the_top_singular_value_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    with torch.no_grad():
        net[0].weight.mul_(10)
    apply_spectral_norm(net)
    apply_spectral_norm(net)  # a second call leaves wrapped layers alone
    for _ in range(20):
        net(torch.randn(4, 8))
    for layer in (net[0], net[2]):
        assert torch.linalg.matrix_norm(layer.weight.detach(), 2).item() == pytest.approx(1.0, abs=1e-3)
