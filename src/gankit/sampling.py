"""Drawing from a generator: BatchNorm standing statistics, batched generation, Jacobian-based truncation.

Used by the tasks (sample grids, end-of-run metrics) and by inference on trained runs (:mod:`gankit.infer`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


@torch.no_grad()
def standing_statistics(net: nn.Module, num_classes: int = 0, batches: int = 16,
                        batch_size: int = 64, seed: int = 0) -> nn.Module:
    """A copy of ``net`` whose BatchNorm statistics are re-estimated on its own outputs.

    "Standing statistics" (Brock et al. 2019, BigGAN, appendix C.1): the running averages that
    G accumulated during training belong to G's weights at earlier steps, not to an EMA of them,
    so they are recomputed by averaging batch statistics over ``batches`` forward passes.
    """
    net = copy.deepcopy(net)
    net.has_standing_statistics = True  # generate() and ready() use it as it is
    device = next(net.parameters()).device
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(batches):
        z = net.latent.sample(batch_size, generator=gen, device=device)
        labels = torch.randint(0, num_classes, (batch_size,), generator=gen).to(device) if num_classes else None
        net(z, labels)
    return net.eval()


def scale_latent(net: nn.Module, z: torch.Tensor, psi: float) -> torch.Tensor:
    """z with its Gaussian part multiplied by ``psi`` (a categorical code beside it unchanged): sampling a z-input
    generator at reduced temperature, the counterpart of StyleGAN's truncation in W (psi 1: unchanged)."""
    if psi == 1:
        return z
    d = net.latent.z_dim
    return torch.cat([z[:, :d] * psi, z[:, d:]], dim=1)


def has_w(net: nn.Module) -> bool:
    """Whether ``net`` is a StyleGAN generator (it truncates in W rather than z)."""
    return hasattr(net, "w_avg")


@torch.no_grad()
def generate(net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None,
             batch_size: int = 256, psi: float = 1.0, cutoff: int = 0) -> torch.Tensor:
    """G(z, labels) in eval mode, in batches; BatchNorm uses standing statistics.

    ``psi`` is gankit's one fidelity/diversity knob (1 = off, toward 0 = more typical, less varied samples): a
    StyleGAN generator truncates in W, w_avg + psi (w - w_avg) in its first ``cutoff`` layers (0 = all; Karras et
    al. 2019); every other generator gets z * psi (:func:`scale_latent`)."""
    style = {}
    if psi != 1:
        if has_w(net):
            style = {"psi": psi, "cutoff": cutoff or None}
        else:
            z = scale_latent(net, z, psi)
    if _has_batchnorm(net) and not getattr(net, "has_standing_statistics", False):
        net = standing_statistics(net, getattr(net, "num_classes", 0))
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    outs = []
    for i in range(0, z.shape[0], batch_size):
        zb = z[i : i + batch_size].to(device)
        lb = labels[i : i + batch_size].to(device) if labels is not None else None
        outs.append(net(zb, lb, **style).float())
    net.train(was_training)
    return torch.cat(outs)


# --------------------------------------------------------------------------- Jacobian truncation

CALIBRATION_SEED = 20200713  # fixed: the JBT threshold is a property of G, not of the draw
CALIBRATION_SAMPLES = 10_000
MAX_ROUNDS = 10_000  # rejection rounds before giving up (an acceptance rate near 0)


def ready(net: nn.Module) -> nn.Module:
    """``net`` for inference: eval mode, BatchNorm with standing statistics (a copy when it has BatchNorm, made
    once: a copy that has them is returned as it is). Hold on to it to sample many times without recomputing."""
    if _has_batchnorm(net) and not getattr(net, "has_standing_statistics", False):
        return standing_statistics(net, getattr(net, "num_classes", 0))
    return net.eval()


def jacobian_norms(net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None, projections: int = 8,
                   generator: torch.Generator | None = None, batch_size: int = 1024) -> torch.Tensor:
    """||dG/dz||_F for each row of ``z``, over the Gaussian part of the latent (a categorical code is discrete).

    With z_dim <= ``projections`` it is exact: ||J||_F^2 = sum_i ||J e_i||^2 over the basis directions.
    Otherwise it is the unbiased estimate (1/k) sum_j ||J v_j||^2 with v_j ~ N(0, I) (E[v v^T] = I), from
    k = ``projections`` directions. Each product J v is one forward-mode pass (``torch.func.jvp``).
    ``net`` should be in eval mode (see :func:`ready`).
    """
    from torch.func import jvp

    z_dim = net.latent.z_dim
    exact = z_dim <= projections
    device = next(net.parameters()).device
    out = []
    for i in range(0, z.shape[0], batch_size):
        zb = z[i : i + batch_size].to(device)
        lb = labels[i : i + batch_size].to(device) if labels is not None else None
        total = torch.zeros(zb.shape[0], device=device)
        for j in range(z_dim if exact else projections):
            v = torch.zeros_like(zb)
            if exact:
                v[:, j] = 1.0
            else:
                v[:, :z_dim] = torch.randn(zb.shape[0], z_dim, generator=generator).to(device)
            _, jv = jvp(lambda u, lb=lb: net(u, lb), (zb,), (v,))
            total += jv.detach().float().flatten(1).pow(2).sum(1)
        out.append((total if exact else total / projections).sqrt().cpu())
    return torch.cat(out)


def jacobian_threshold(net: nn.Module, fraction: float, projections: int = 8, truncation: float | None = None,
                       samples: int = CALIBRATION_SAMPLES) -> float:
    """The ||dG/dz|| above which a draw is rejected: the (1 - fraction) quantile over ``samples`` draws
    made with a fixed seed (labels uniform for a conditional G)."""
    gen = torch.Generator().manual_seed(CALIBRATION_SEED)
    z = net.latent.sample(samples, generator=gen, truncation=truncation)
    classes = getattr(net, "num_classes", 0)
    labels = torch.randint(0, classes, (samples,), generator=gen) if classes else None
    norms = jacobian_norms(net, z, labels, projections, gen)
    return float(torch.quantile(norms.double(), 1.0 - fraction))


def draw_latents(net: nn.Module, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
                 truncation: float | None = None, jacobian_truncation: float = 0.0,
                 projections: int = 8) -> torch.Tensor:
    """``n`` inputs for G (on the CPU), optionally with Jacobian-based truncation.

    Jacobian-based truncation (JBT; Tanielian et al. 2020, "Learning disconnected manifolds: a no
    GAN's land", ICML): a continuous G cannot jump between separated modes, so the draws it sends
    between them (the "no GAN's land") are those where G stretches the latent space most, i.e. where
    ||dG/dz|| is largest. A threshold is set once per G at the (1 - ``jacobian_truncation``) quantile of
    that norm over a fixed calibration draw; then each latent vector is redrawn until its norm is at
    or below it (rejection sampling, so the accepted vectors are independent). Uses G only: nothing
    about the data, the discriminator or the true modes. Like BigGAN's truncation trick it trades
    diversity for quality; mode-coverage metrics show how much diversity is left.
    ``labels`` (for a conditional G) stay with their rows. Forward-mode AD keeps process-wide state:
    do not run two of these at once in threads of one process.
    """
    from gankit.errors import GankitError

    if not jacobian_truncation:
        return net.latent.sample(n, generator=generator, truncation=truncation)
    prepared = ready(net)
    threshold = jacobian_threshold(prepared, jacobian_truncation, projections, truncation, CALIBRATION_SAMPLES)
    out = torch.empty(n, net.latent.dim)
    pending = torch.arange(n)
    for _ in range(MAX_ROUNDS):
        if not len(pending):
            return out
        z = net.latent.sample(len(pending), generator=generator, truncation=truncation)
        norms = jacobian_norms(prepared, z, labels[pending] if labels is not None else None, projections, generator)
        ok = norms <= threshold
        out[pending[ok]] = z[ok]
        pending = pending[~ok]
    raise GankitError(
        f"Jacobian truncation accepted no draw for {len(pending)} of {n} samples in {MAX_ROUNDS} rounds "
        f"(for a conditional G, some classes may lie wholly above the threshold): lower sample.jacobian_truncation"
    )


def sample_generator(net: nn.Module, n: int, seed: int = 0, labels: torch.Tensor | None = None,
                     truncation: float | None = None, jacobian_truncation: float = 0.0,
                     projections: int = 8, psi: float = 1.0, cutoff: int = 0) -> torch.Tensor:
    """``n`` outputs of a z -> sample generator (float; [-1, 1] for images), noise from a generator seeded with
    ``seed``; ``labels`` (for a conditional G) stay with their rows. See :func:`draw_latents` and
    :func:`generate` for the knobs."""
    gen = torch.Generator().manual_seed(seed)
    z = draw_latents(net, n, gen, labels, truncation, jacobian_truncation, projections)
    return generate(net, z, labels, psi=psi, cutoff=cutoff)
