"""Regularizers against values computed by hand on linear and quadratic critics."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gankit.regularizers import (
    add_instance_noise,
    apply_spectral_norm,
    clip_weights_,
    gradient_penalty,
    instance_noise_std,
    r1_penalty,
)


def _linear_critic(weights):
    """D(x) = w . flatten(x) + 1, shape (B,): grad_x D = w, so ||grad|| is known (Gulrajani et al. 2017 test bed)."""
    lin = nn.Linear(len(weights), 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([weights]))
        lin.bias.fill_(1.0)
    return lin, (lambda x: lin(x.flatten(1)).squeeze(1))


def _quadratic_critic(x):
    """D(x) = 0.5 ||x||^2 per sample, so grad_x D = x (for R1, Mescheder et al. 2018, and GP, Gulrajani et al. 2017)."""
    return 0.5 * x.pow(2).flatten(1).sum(dim=1)


def test_penalties_on_a_linear_critic():
    # D(x) = 3 x1 + 4 x2 + 1: grad = (3, 4) everywhere, ||grad|| = sqrt(9 + 16) = 5
    # GP = (5 - 1)^2 = 16 whatever eps is, R1 = 5^2 = 25
    torch.manual_seed(0)
    _, critic = _linear_critic([3.0, 4.0])
    real, fake = torch.randn(7, 2), torch.randn(7, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)
    assert gradient_penalty(critic, real, fake, eps=torch.zeros(7)).item() == pytest.approx(16.0)
    assert r1_penalty(critic, real).item() == pytest.approx(25.0)


def test_penalties_accept_a_column_shaped_critic_output():
    # same critic returning (B, 1): GP = 16, R1 = 25
    lin, _ = _linear_critic([3.0, 4.0])
    real, fake = torch.randn(3, 2), torch.randn(3, 2)
    assert gradient_penalty(lin, real, fake).item() == pytest.approx(16.0)
    assert r1_penalty(lin, real).item() == pytest.approx(25.0)


def test_penalties_on_image_shaped_inputs():
    # (B, 1, 2, 2) images flattened onto w = (1, 2, 2, 4): ||w|| = sqrt(1 + 4 + 4 + 16) = 5
    # GP = (5 - 1)^2 = 16, GP with target 5 = 0, R1 = 25
    _, critic = _linear_critic([1.0, 2.0, 2.0, 4.0])
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)
    assert gradient_penalty(critic, real, fake, target=5.0).item() == pytest.approx(0.0, abs=1e-10)
    assert r1_penalty(critic, real).item() == pytest.approx(25.0)


def test_penalties_on_a_quadratic_critic():
    # R1 on (1, 2) and (3, 0): grad = x, ||x||^2 = 1 + 4 = 5 and 9 + 0 = 9, mean = 7
    assert r1_penalty(_quadratic_critic, torch.tensor([[1.0, 2.0], [3.0, 0.0]])).item() == pytest.approx(7.0)
    # GP with eps (0.5, 0.25):
    # x_hat_1 = 0.5 (2, 0) + 0.5 (0, 2) = (1, 1), norm sqrt(2)
    # x_hat_2 = 0.25 (0, 4) + 0.75 (0, 0) = (0, 1), norm 1
    # GP = ((sqrt2 - 1)^2 + 0^2) / 2 = (3 - 2 sqrt2) / 2
    real = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    fake = torch.tensor([[0.0, 2.0], [0.0, 0.0]])
    gp = gradient_penalty(_quadratic_critic, real, fake, eps=torch.tensor([0.5, 0.25]))
    assert gp.item() == pytest.approx((3 - 2 * math.sqrt(2)) / 2)


def test_gradient_penalty_eps_is_per_sample_and_broadcast_over_images():
    # images (2, 1, 2, 2); quadratic critic, grad = x_hat
    # sample 1: real all 1, fake all 0, eps 0.5  -> x_hat all 0.5, norm sqrt(4 * 0.25) = 1 -> (1 - 1)^2 = 0
    # sample 2: real all 4, fake all 0, eps 0.25 -> x_hat all 1,   norm sqrt(4 * 1) = 2   -> (2 - 1)^2 = 1
    # GP = (0 + 1) / 2 = 0.5
    real = torch.stack([torch.ones(1, 2, 2), 4 * torch.ones(1, 2, 2)])
    fake = torch.zeros(2, 1, 2, 2)
    gp = gradient_penalty(_quadratic_critic, real, fake, eps=torch.tensor([0.5, 0.25]))
    assert gp.item() == pytest.approx(0.5)


def test_gradient_penalty_detaches_its_inputs():
    real = torch.tensor([[2.0, 0.0]], requires_grad=True)
    fake = torch.tensor([[0.0, 2.0]], requires_grad=True)
    gradient_penalty(_quadratic_critic, real, fake, eps=torch.tensor([0.5])).backward()
    assert real.grad is None and fake.grad is None


def test_gradient_penalty_trains_the_critic():
    lin, critic = _linear_critic([3.0, 4.0])
    gp = gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2))
    gp.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (3, 4) / 5 = (4.8, 6.4); the bias does not enter
    assert torch.allclose(lin.weight.grad, torch.tensor([[4.8, 6.4]]))
    assert lin.bias.grad is None or lin.bias.grad.abs().max().item() == 0.0


def test_r1_penalty_trains_the_critic():
    lin, critic = _linear_critic([3.0, 4.0])
    r1_penalty(critic, torch.randn(4, 2)).backward()
    # d/dw ||w||^2 = 2 w = (6, 8)
    assert torch.allclose(lin.weight.grad, torch.tensor([[6.0, 8.0]]))


def test_clip_weights():
    lin = nn.Linear(3, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[-1.0, 0.005, 2.0]] * 3))
        lin.bias.copy_(torch.tensor([0.5, -0.5, 0.0]))
    assert clip_weights_(lin, 0.01) is None
    assert torch.equal(lin.weight, torch.tensor([[-0.01, 0.005, 0.01]] * 3))
    assert torch.equal(lin.bias, torch.tensor([0.01, -0.01, 0.0]))
    assert lin.weight.requires_grad and lin.weight.grad_fn is None


def test_instance_noise_schedule():
    # sigma(t) = 0.1 * max(0, 1 - t / 100)
    assert instance_noise_std(0, 0.1, 100) == pytest.approx(0.1)
    assert instance_noise_std(25, 0.1, 100) == pytest.approx(0.075)
    assert instance_noise_std(50, 0.1, 100) == pytest.approx(0.05)
    assert instance_noise_std(100, 0.1, 100) == 0.0
    assert instance_noise_std(500, 0.1, 100) == 0.0
    # anneal_steps <= 0: constant
    assert instance_noise_std(500, 0.1, 0) == pytest.approx(0.1)
    assert instance_noise_std(500, 0.1, -3) == pytest.approx(0.1)


def test_add_instance_noise():
    torch.manual_seed(0)
    x = torch.zeros(20000)
    assert add_instance_noise(x, 0.0) is x
    noisy = add_instance_noise(x, 0.5)
    assert noisy.shape == x.shape and not torch.equal(noisy, x)
    assert noisy.std().item() == pytest.approx(0.5, rel=0.03)
    assert abs(noisy.mean().item()) < 0.02


def test_spectral_norm_makes_the_top_singular_value_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Sequential(nn.Linear(16, 4)))
    with torch.no_grad():
        net[0].weight.mul_(10)
    assert apply_spectral_norm(net) is net
    apply_spectral_norm(net)  # a second call leaves wrapped layers alone
    net.train()
    for _ in range(20):
        net(torch.randn(4, 8))
    for layer in (net[0], net[2][0]):
        assert parametrize.is_parametrized(layer, "weight")
        assert len(layer.parametrizations.weight) == 1
        assert torch.linalg.matrix_norm(layer.weight.detach(), 2).item() == pytest.approx(1.0, abs=1e-3)


def test_spectral_norm_covers_convolutions_and_embeddings():
    torch.manual_seed(0)
    conv, deconv, emb = nn.Conv2d(3, 5, 3), nn.ConvTranspose2d(5, 3, 4), nn.Embedding(10, 6)
    norm = nn.BatchNorm2d(3)
    apply_spectral_norm(nn.ModuleList([conv, deconv, emb, norm]))
    assert not parametrize.is_parametrized(norm)
    for _ in range(30):
        deconv(conv(torch.randn(2, 3, 8, 8)))
        emb(torch.arange(10))
    # the normalised matrix: out channels by the rest; ConvTranspose keeps out channels in dim 1
    for w in (conv.weight.flatten(1), deconv.weight.transpose(0, 1).flatten(1), emb.weight):
        assert torch.linalg.matrix_norm(w.detach(), 2).item() == pytest.approx(1.0, abs=1e-3)
