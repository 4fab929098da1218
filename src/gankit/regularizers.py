"""Regularizers: penalties added to D's loss (and, for StyleGAN2, G's), and constraints applied to D's weights or
inputs."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

Critic = Callable[[Tensor], Tensor]

_SPECTRAL_KINDS: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Embedding,
)


def _input_grad(critic: Critic, x: Tensor) -> Tensor:
    """grad_x sum_i D(x_i), flattened to (B, -1), kept in the graph for penalties (Gulrajani et al. 2017)."""
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.float().sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(
    critic: Critic,
    real: Tensor,
    fake: Tensor,
    target: float = 1.0,
    eps: Tensor | None = None,
) -> Tensor:
    """E[(||grad D(x_hat)||_2 - target)^2], x_hat = eps x + (1 - eps) G(z): WGAN-GP (Gulrajani et al. 2017).

    ``eps ~ U[0, 1]`` is drawn once per sample and broadcast over the other dimensions (pass ``eps``, shape
    ``(B,)``, to fix it). Both batches are detached; the graph through D is kept (``create_graph=True``) so the
    penalty trains D's parameters. The caller multiplies by lambda (10 in the paper).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}")
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    eps = eps.to(device=real.device, dtype=real.dtype).reshape(-1, *([1] * (real.dim() - 1)))
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    norms = _input_grad(critic, x_hat).norm(2, dim=1)
    return (norms - target).pow(2).mean()


def r1_penalty(critic: Critic, real: Tensor) -> Tensor:
    """E_x[||grad_x D(x)||_2^2] on real data: the R1 penalty (Mescheder et al. 2018).

    The caller multiplies by gamma / 2. The graph is kept (``create_graph=True``) so it trains D.
    """
    return _input_grad(critic, real).pow(2).sum(dim=1).mean()


def path_lengths(images: Tensor, ws: Tensor, noise: Tensor | None = None) -> Tensor:
    """||J_w^T y||_2 per sample, y ~ N(0, I) / sqrt(H W): StyleGAN2's path lengths (Karras et al. 2020, eq. 4).

    ``images`` (B, C, H, W) must come from ``ws`` (B, L, w_dim) through the synthesis network. J_w^T y is the
    gradient of sum(images * y) with respect to ``ws`` (one backward pass, no explicit Jacobian); as in the
    paper's code its squared norm is summed over w's features and averaged over the L layers' copies of w. The
    graph is kept (``create_graph=True``) so the penalty trains G. ``noise`` fixes y (else it is drawn).
    """
    h, w = images.shape[2], images.shape[3]
    if noise is None:
        noise = torch.randn_like(images)
    y = noise / (h * w) ** 0.5
    (grad,) = torch.autograd.grad((images.float() * y.float()).sum(), ws, create_graph=True)
    return grad.float().pow(2).sum(dim=2).mean(dim=1).sqrt()


def path_length_penalty(lengths: Tensor, pl_mean: Tensor, decay: float,
                        batch_mean: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(E[(||J_w^T y|| - a)^2], the updated a): the path-length penalty around its running mean a.

    a <- a + decay (mean(lengths) - a) first (the paper's exponential moving average, decay 0.01), then the
    penalty is taken against the new a (detached). ``batch_mean`` replaces mean(lengths) in the update (the mean
    over every process of a multi-process run). The caller multiplies by the weight (2 in the paper) and, for
    lazy regularization, by the interval (4).
    """
    if batch_mean is None:
        batch_mean = lengths.detach().mean()
    new_mean = pl_mean.detach().lerp(batch_mean.detach().to(pl_mean.dtype), decay)
    return (lengths - new_mean).pow(2).mean(), new_mean


def clip_weights_(module: nn.Module, clip: float) -> None:
    """w <- clamp(w, -c, c) for every parameter, in place: WGAN weight clipping (Arjovsky et al. 2017)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-clip, clip)


def instance_noise_std(step: int, initial_std: float, anneal_steps: int) -> float:
    """sigma(t) = sigma_0 max(0, 1 - t / T), instance noise annealed linearly (Sønderby et al. 2017).

    ``anneal_steps <= 0`` keeps sigma_0 for ever.
    """
    if anneal_steps <= 0:
        return float(initial_std)
    return float(initial_std) * max(0.0, 1.0 - max(step, 0) / anneal_steps)


def add_instance_noise(x: Tensor, std: float) -> Tensor:
    """x + std * N(0, I): noise on D's inputs, real and fake alike (Arjovsky & Bottou 2017; Sønderby et al. 2017).

    Returns ``x`` itself when ``std == 0``.
    """
    if std == 0:
        return x
    return x + std * torch.randn_like(x)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """W <- W / sigma(W), sigma by power iteration, on every weight layer: spectral norm (Miyato et al. 2018).

    Wraps, recursively and in place, the weight of every Linear, Conv{1,2,3}d, ConvTranspose{1,2,3}d and
    Embedding with ``torch.nn.utils.parametrizations.spectral_norm``; layers whose weight is already
    parametrized (or missing) are left alone. Returns ``module``.
    """
    for m in list(module.modules()):
        if not isinstance(m, _SPECTRAL_KINDS) or getattr(m, "weight", None) is None:
            continue
        if parametrize.is_parametrized(m, "weight"):
            continue
        nn.utils.parametrizations.spectral_norm(m)
    return module
