"""Exponential moving average of G's weights (Yazici et al. 2019; Karras et al. 2018).

``ema = decay * ema + (1 - decay) * current`` after every G step; buffers (BatchNorm running
statistics) are copied, not averaged. Until ``start`` the EMA is a plain copy of G.

With a ramp-up r (Karras et al. 2020, StyleGAN2-ADA's training loop) the EMA's half-life, in steps, is at most
r times the steps taken so far: decay_t = min(decay, 0.5 ** (1 / (r t))), so the average forgets the first,
poor weights quickly early in a run and keeps its full length later.
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """Keeps ``shadow`` an exponential moving average of ``model``."""

    def __init__(self, model: nn.Module, shadow: nn.Module, decay: float, start: int = 0, rampup: float = 0.0):
        self.model, self.shadow, self.decay, self.start, self.rampup = model, shadow, decay, start, rampup
        self._pairs = list(zip(shadow.parameters(), model.parameters()))
        self._buffers = list(zip(shadow.buffers(), model.buffers()))

    def decay_at(self, step: int) -> float:
        """The decay used at ``step``: ``decay``, or less early in a run with a ramp-up."""
        if self.rampup <= 0:
            return self.decay
        return min(self.decay, 0.5 ** (1.0 / max(self.rampup * step, 1e-8)))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Average the parameters (copy them before ``start``) and copy the buffers."""
        shadow_params = [s for s, _ in self._pairs]
        params = [p.detach() for _, p in self._pairs]
        if step < self.start:
            torch._foreach_copy_(shadow_params, params)
        else:
            torch._foreach_lerp_(shadow_params, params, 1.0 - self.decay_at(step))
        for s, b in self._buffers:
            s.copy_(b)
