"""Exponential moving average of G's weights (Yazici et al. 2019; Karras et al. 2018).

``ema = decay * ema + (1 - decay) * current`` after every G step; buffers (BatchNorm running
statistics) are copied, not averaged. Until ``start`` the EMA is a plain copy of G.
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """Keeps ``shadow`` an exponential moving average of ``model``."""

    def __init__(self, model: nn.Module, shadow: nn.Module, decay: float, start: int = 0):
        self.model, self.shadow, self.decay, self.start = model, shadow, decay, start
        self._pairs = list(zip(shadow.parameters(), model.parameters()))
        self._buffers = list(zip(shadow.buffers(), model.buffers()))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Average the parameters (copy them before ``start``) and copy the buffers."""
        shadow_params = [s for s, _ in self._pairs]
        params = [p.detach() for _, p in self._pairs]
        if step < self.start:
            torch._foreach_copy_(shadow_params, params)
        else:
            torch._foreach_lerp_(shadow_params, params, 1.0 - self.decay)
        for s, b in self._buffers:
            s.copy_(b)
