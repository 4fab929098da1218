"""Adversarial losses: pure functions of D's raw outputs (logits), averaged over the batch.

D(x) = sigmoid(logit) for the probabilistic losses. ``softplus(t) = log(1 + e^t)``, so
``-log sigmoid(t) = softplus(-t)`` and ``-log(1 - sigmoid(t)) = softplus(t)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gankit.errors import ConfigError

LOSS_NAMES = ("minimax", "nonsaturating", "lsgan", "wasserstein", "hinge")


@dataclass
class _Loss:
    name: str
    label_smoothing: float = 0.0


def _bce_real(r: torch.Tensor, s: float) -> torch.Tensor:
    """BCE of logits r against the target 1 - s: (1 - s) softplus(-r) + s softplus(r)."""
    return (1 - s) * F.softplus(-r) + s * F.softplus(r) if s else F.softplus(-r)


class Minimax(_Loss):
    """min_G max_D E[log D(x)] + E[log(1 - D(G(z)))] (Goodfellow et al. 2014), G in its saturating form."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """-E[log D(x)] - E[log(1 - D(G(z)))] = E[softplus(-r)] + E[softplus(f)]."""
        return _bce_real(real, self.label_smoothing).mean() + F.softplus(fake).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """E[log(1 - D(G(z)))] = -E[softplus(f)]: the original objective, whose gradient vanishes when D wins."""
        return -F.softplus(fake).mean()


class NonSaturating(Minimax):
    """D as in minimax; G minimises -E[log D(G(z))] (Goodfellow et al. 2014, section 3)."""

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """-E[log D(G(z))] = E[softplus(-f)]."""
        return F.softplus(-fake).mean()


class LeastSquares(_Loss):
    """LSGAN with a=0, b=1, c=1 (Mao et al. 2017)."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """1/2 E[(D(x) - b)^2] + 1/2 E[D(G(z))^2], b = 1 - label_smoothing."""
        b = 1.0 - self.label_smoothing
        return 0.5 * (real - b).pow(2).mean() + 0.5 * fake.pow(2).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """1/2 E[(D(G(z)) - 1)^2]."""
        return 0.5 * (fake - 1).pow(2).mean()


class Wasserstein(_Loss):
    """The critic's estimate of the Wasserstein-1 distance (Arjovsky et al. 2017)."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """E[D(G(z))] - E[D(x)]."""
        return fake.mean() - real.mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """-E[D(G(z))]."""
        return -fake.mean()


class Hinge(_Loss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018)."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """-E[D(G(z))]."""
        return -fake.mean()


_CLASSES = {
    "minimax": Minimax,
    "nonsaturating": NonSaturating,
    "lsgan": LeastSquares,
    "wasserstein": Wasserstein,
    "hinge": Hinge,
}


def get_loss(name: str, label_smoothing: float = 0.0):
    """The loss called ``name``; one-sided label smoothing (Salimans et al. 2016) moves D's real target to 1 - s."""
    if name not in _CLASSES:
        raise ConfigError(f"unknown loss {name!r}: choose one of {', '.join(LOSS_NAMES)}")
    if not 0 <= label_smoothing < 1:
        raise ConfigError(f"label smoothing must be in [0, 1), got {label_smoothing}")
    if label_smoothing and name in ("wasserstein", "hinge"):
        raise ConfigError(f"label smoothing applies to minimax, nonsaturating and lsgan losses, not {name}")
    return _CLASSES[name](name, label_smoothing)
