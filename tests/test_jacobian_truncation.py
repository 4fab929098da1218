"""Jacobian-based truncation (Tanielian et al. 2020): ||dG/dz|| by hand, and the rejection rule."""

import math

import pytest
import torch
from torch import nn

from gankit import sampling as infer
from gankit.cli import main
from gankit.config import resolve
from gankit.errors import ConfigError, GankitError
from gankit.latent import Latent


class Square(nn.Module):
    """G(z) = (z1^2, z2): J = diag(2 z1, 1), so ||J||_F = sqrt(4 z1^2 + 1)."""

    latent = Latent(2)

    def forward(self, z, labels=None):
        return torch.stack([z[:, 0] ** 2, z[:, 1]], dim=1) + 0 * self.w

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))


class Linear(nn.Module):
    """G(z) = A z (+ a label-dependent scale for the conditional case): ||J||_F = ||A||_F (times the scale)."""

    def __init__(self, a, categories=0, num_classes=0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float32))
        self.latent = Latent(self.a.shape[1], categories)
        self.num_classes = num_classes

    def forward(self, z, labels=None):
        out = z[:, : self.a.shape[1]] @ self.a.T
        if labels is not None:
            out = out * (1 + 9 * labels.float())[:, None]
        return out


def test_norm_of_a_linear_map_is_its_frobenius_norm():
    g = Linear([[1.0, 2.0], [3.0, 4.0]])
    norms = infer.jacobian_norms(g, torch.randn(5, 2))
    assert torch.allclose(norms, torch.full((5,), math.sqrt(30.0)))  # 1 + 4 + 9 + 16


def test_norm_ignores_the_categorical_code():
    g = Linear([[1.0, 2.0], [3.0, 4.0]], categories=3)
    z = g.latent.sample(4, generator=torch.Generator().manual_seed(0))
    assert z.shape == (4, 5)
    assert torch.allclose(infer.jacobian_norms(g, z), torch.full((4,), math.sqrt(30.0)))


def test_norm_of_a_nonlinear_map_by_hand():
    z = torch.tensor([[1.5, 0.0], [0.0, 7.0], [-2.0, 1.0]])
    norms = infer.jacobian_norms(Square(), z)
    assert torch.allclose(norms, torch.tensor([math.sqrt(10.0), 1.0, math.sqrt(17.0)]))


def test_random_projection_estimate_is_unbiased():
    # z_dim 3 > 1 projection: E ||J v||^2 = ||A||_F^2 = 1 + 4 + 9 + 16 + 25 + 36 = 91
    g = Linear([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    norms = infer.jacobian_norms(g, torch.zeros(20000, 3), projections=1, generator=torch.Generator().manual_seed(0))
    assert norms.pow(2).mean().item() == pytest.approx(91.0, rel=0.03)


def test_rejection_keeps_the_draws_where_g_stretches_least():
    # ||J|| grows with |z1|; rejecting half keeps |z1| below the median of |N(0,1)|, 0.6745
    gen = torch.Generator().manual_seed(3)
    z = infer.draw_latents(Square(), 4000, gen, jacobian_truncation=0.5)
    assert z.shape == (4000, 2)
    assert z[:, 0].abs().max().item() < 0.70
    assert z[:, 0].abs().mean().item() == pytest.approx(0.6745 / 2, rel=0.1)  # uniform-ish on [0, 0.67]
    assert z[:, 1].std().item() == pytest.approx(1.0, rel=0.05)  # the other direction is untouched
    again = infer.draw_latents(Square(), 4000, torch.Generator().manual_seed(3), jacobian_truncation=0.5)
    assert torch.equal(z, again)
    plain = infer.draw_latents(Square(), 10, torch.Generator().manual_seed(3))
    assert torch.equal(plain, Square.latent.sample(10, generator=torch.Generator().manual_seed(3)))


def test_labels_stay_with_their_rows_and_impossible_classes_are_an_error(monkeypatch):
    g = Linear([[1.0, 0.0], [0.0, 1.0]], num_classes=2)  # ||J|| = sqrt(2) for class 0, 10 sqrt(2) for class 1
    labels = torch.tensor([0, 1, 0, 1])
    z = infer.draw_latents(g, 4, torch.Generator().manual_seed(0), labels, jacobian_truncation=0.3)
    assert z.shape == (4, 2)  # threshold is the 0.7 quantile = 10 sqrt(2): both classes pass
    monkeypatch.setattr(infer, "MAX_ROUNDS", 20)
    with pytest.raises(GankitError, match="lower sample.jacobian_truncation"):
        infer.draw_latents(g, 4, torch.Generator().manual_seed(0), labels, jacobian_truncation=0.6)


def test_works_through_a_dcgan_generator_with_batchnorm(monkeypatch):
    from gankit.nets import build_networks

    monkeypatch.setattr(infer, "CALIBRATION_SAMPLES", 256)
    cfg = resolve("dcgan-digits")
    g, _ = build_networks(cfg.model, (1, 8, 8), 0, True)
    z = infer.draw_latents(g, 16, torch.Generator().manual_seed(0), jacobian_truncation=0.5, projections=2)
    assert z.shape == (16, cfg.model.z_dim) and torch.isfinite(z).all()


def test_config_and_cli_refuse_impossible_fractions(tmp_path):
    with pytest.raises(ConfigError, match="sample.jacobian_truncation"):
        resolve("toy-ring", overrides=["sample.jacobian_truncation=1.0"])
    assert main(["sample", "--run", str(tmp_path), "--out", str(tmp_path / "x.png"),
                 "--jacobian-truncation", "-0.1"]) == 2
