"""Adversarial losses: pure functions of D's raw outputs (logits), averaged over the batch.

Every loss takes the logits of D on a real batch ``r`` and on a fake batch ``f`` (shape ``(B,)`` or
``(B, 1)``) and returns a scalar mean. For the probabilistic losses D(x) = sigmoid(logit), and with
``softplus(t) = log(1 + e^t)`` the logs are computed stably as ``-log sigmoid(t) = softplus(-t)`` and
``-log(1 - sigmoid(t)) = softplus(t)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch.nn.functional as F
from torch import Tensor

from gankit.config.families import LOSS_NAMES
from gankit.errors import ConfigError

_SMOOTHABLE: tuple[str, ...] = ("minimax", "nonsaturating", "lsgan")


class AdversarialLoss(Protocol):
    """What every loss offers: D's loss on (real, fake) logits and G's loss on fake logits, both to minimise."""

    name: str

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """L_D(r, f): the discriminator's (critic's) loss, a scalar to minimise (paper of the loss)."""
        ...

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """L_G(f): the generator's loss, a scalar to minimise (paper of the loss)."""
        ...


def _bce_real(r: Tensor, s: float) -> Tensor:
    """BCE(r, 1 - s) = (1 - s) softplus(-r) + s softplus(r): one-sided label smoothing (Salimans et al. 2016)."""
    if s == 0:
        return F.softplus(-r)
    return (1 - s) * F.softplus(-r) + s * F.softplus(r)


class _Loss:
    """Holds the name and the one-sided label smoothing s (Salimans et al. 2016) shared by all losses."""

    def __init__(self, name: str, label_smoothing: float = 0.0) -> None:
        """s in [0, 1) moves D's real target from 1 to 1 - s (Salimans et al. 2016); get_loss validates it."""
        self.name = name
        self.label_smoothing = float(label_smoothing)

    def __repr__(self) -> str:
        """name(s): the loss and its label smoothing (Salimans et al. 2016)."""
        return f"{type(self).__name__}(name={self.name!r}, label_smoothing={self.label_smoothing})"


class Minimax(_Loss):
    """min_G max_D E[log D(x)] + E[log(1 - D(G(z)))] (Goodfellow et al. 2014), G in its original saturating form."""

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """-E[log D(x)] - E[log(1 - D(G(z)))] = E[softplus(-r)] + E[softplus(f)] (Goodfellow et al. 2014)."""
        return _bce_real(real_logits, self.label_smoothing).mean() + F.softplus(fake_logits).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """E[log(1 - D(G(z)))] = -E[softplus(f)], the saturating original (Goodfellow et al. 2014).

        Its gradient -sigmoid(f) vanishes where D confidently rejects the fakes (f very negative).
        """
        return -F.softplus(fake_logits).mean()


class NonSaturating(Minimax):
    """D as in minimax; G minimises -E[log D(G(z))], the heuristic of Goodfellow et al. 2014 (section 3)."""

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """-E[log D(G(z))] = E[softplus(-f)]: the non-saturating generator loss (Goodfellow et al. 2014)."""
        return F.softplus(-fake_logits).mean()


class LeastSquares(_Loss):
    """Least-squares GAN with a = 0, b = 1, c = 1 (Mao et al. 2017); D's output is used raw, no sigmoid."""

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2], a = 0, b = 1 - s (Mao et al. 2017)."""
        b = 1.0 - self.label_smoothing
        return 0.5 * (real_logits - b).pow(2).mean() + 0.5 * fake_logits.pow(2).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """1/2 E[(D(G(z)) - c)^2], c = 1 (Mao et al. 2017)."""
        return 0.5 * (fake_logits - 1).pow(2).mean()


class Wasserstein(_Loss):
    """The critic's estimate of the Wasserstein-1 distance (Arjovsky et al. 2017); needs a Lipschitz constraint."""

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """E[D(G(z))] - E[D(x)]: minus the critic's estimate of W_1 (Arjovsky et al. 2017)."""
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """-E[D(G(z))] (Arjovsky et al. 2017)."""
        return -fake_logits.mean()


class Hinge(_Loss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018)."""

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] (Lim & Ye 2017; Miyato et al. 2018)."""
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """-E[D(G(z))] (Lim & Ye 2017; Miyato et al. 2018)."""
        return -fake_logits.mean()


_CLASSES: dict[str, Callable[[str, float], AdversarialLoss]] = {
    "minimax": Minimax,
    "nonsaturating": NonSaturating,
    "lsgan": LeastSquares,
    "wasserstein": Wasserstein,
    "hinge": Hinge,
}


def relativistic_average_losses(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """(D's loss, G's loss) of the relativistic average GAN (Jolicoeur-Martineau 2019), as ESRGAN uses it
    (Wang et al. 2018, eqs. 1-2).

    With C the discriminator's raw output and D_Ra(a, b) = sigmoid(C(a) - E[C(b)]):

        L_D = -E_real[log D_Ra(x_r, x_f)] - E_fake[log(1 - D_Ra(x_f, x_r))]
        L_G = -E_real[log(1 - D_Ra(x_r, x_f))] - E_fake[log D_Ra(x_f, x_r)]

    each returned as the *mean* of its two terms (half the sum above), as the ESRGAN authors' code computes it,
    so that their weight for G's term (5e-3) means the same here. Both players see real and fake logits: G's
    loss needs D's output on the real batch too.
    """
    real, fake = real_logits.float(), fake_logits.float()
    rel_real = real - fake.mean()  # how much more real than the average fake each real image looks
    rel_fake = fake - real.mean()
    d_loss = (F.softplus(-rel_real).mean() + F.softplus(rel_fake).mean()) / 2
    g_loss = (F.softplus(rel_real).mean() + F.softplus(-rel_fake).mean()) / 2
    return d_loss, g_loss


def _mean_abs(a: Tensor, b: Tensor) -> Tensor:
    return (a.float() - b.float()).abs().mean()


def l1_loss(target: Tensor, output: Tensor) -> Tensor:
    """E[||y - G(x)||_1], per element: pix2pix's reconstruction term (Isola et al. 2017, eq. 3).

    Averaged over every pixel and channel (as the papers' code does), so lambda = 100 weighs it against an
    adversarial term that is also a mean.
    """
    return _mean_abs(target, output)


def cycle_consistency_loss(real: Tensor, reconstructed: Tensor) -> Tensor:
    """E[||F(G(x)) - x||_1], per element: one direction of CycleGAN's cycle loss (Zhu et al. 2017, eq. 2).

    The task adds both directions, x -> G(x) -> F(G(x)) and y -> F(y) -> G(F(y)), each weighted by lambda.
    """
    return _mean_abs(reconstructed, real)


def identity_loss(real_target: Tensor, mapped: Tensor) -> Tensor:
    """E[||G(y) - y||_1], per element: G applied to an image already in its output domain should leave it be
    (Zhu et al. 2017, section 5.2, after Taigman et al. 2017); keeps colours from drifting."""
    return _mean_abs(mapped, real_target)


def get_loss(name: str, label_smoothing: float = 0.0) -> AdversarialLoss:
    """Real target 1 -> 1 - s in D's loss: the loss ``name`` with one-sided label smoothing (Salimans et al. 2016).

    Raises ConfigError for an unknown name (listing the valid ones), for s outside [0, 1), and for s > 0 with
    the wasserstein or hinge losses, which have no target to smooth.
    """
    if name not in _CLASSES:
        raise ConfigError(f"unknown loss {name!r}: choose one of {', '.join(LOSS_NAMES)}")
    s = float(label_smoothing)
    if not 0.0 <= s < 1.0:  # also rejects NaN
        raise ConfigError(f"label smoothing must be in [0, 1), got {label_smoothing}")
    if s > 0 and name not in _SMOOTHABLE:
        raise ConfigError(f"label smoothing applies to minimax, nonsaturating and lsgan losses, not {name}")
    return _CLASSES[name](name, s)
