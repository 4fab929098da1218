"""Regularizers of D: penalties added to its loss, and constraints applied to its weights."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _input_grad(critic: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    target: float = 1.0,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2], x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample.

    WGAN-GP (Gulrajani et al. 2017); the caller multiplies by lambda (10 in the paper).
    """
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    eps = eps.view(-1, *([1] * (real.dim() - 1)))
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    norms = _input_grad(critic, x_hat).norm(2, dim=1)
    return (norms - target).pow(2).mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """E[||grad_x D(x)||^2] on real data (Mescheder et al. 2018); the caller multiplies by gamma/2."""
    return _input_grad(critic, real).pow(2).sum(dim=1).mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, clip: float) -> None:
    """Clamp every parameter of D to [-c, c] after each update (Arjovsky et al. 2017, WGAN)."""
    for p in module.parameters():
        p.clamp_(-clip, clip)


def instance_noise_std(step: int, initial_std: float, anneal_steps: int) -> float:
    """sigma(t) = sigma_0 * max(0, 1 - t / T): linearly annealed instance noise (Sønderby et al. 2017)."""
    if anneal_steps <= 0:
        return initial_std
    return initial_std * max(0.0, 1.0 - step / anneal_steps)


def add_instance_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """x + N(0, std^2): noise on D's inputs, real and fake alike (Arjovsky & Bottou 2017)."""
    return x + std * torch.randn_like(x) if std > 0 else x


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """W / sigma(W) for every Linear, Conv and Embedding weight, sigma by power iteration (Miyato et al. 2018)."""
    from torch.nn.utils.parametrize import is_parametrized

    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d, nn.Embedding)
    for m in list(module.modules()):
        if isinstance(m, kinds) and not is_parametrized(m, "weight"):
            nn.utils.parametrizations.spectral_norm(m)
    return module
