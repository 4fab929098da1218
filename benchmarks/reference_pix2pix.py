"""A pix2pix training step written the textbook way: the baseline of ``gankit bench speed`` for pix2pix presets.

This is deliberately *not* gankit's loop. It is the step as the paper's code and most tutorials write it:
fp32, default (contiguous) memory layout, ``torch.optim.Adam`` with its defaults, one generator forward
whose output serves both players; D is trained on ``cat(x, fake.detach())`` and ``cat(x, y)`` in two
passes, then G through ``D(cat(x, fake))`` with D's parameters still requiring gradients (their gradients
are computed and thrown away at D's next ``zero_grad``). Pairs are drawn from float tensors already in
[-1, 1] in memory, with no augmentation, so the comparison is about the step itself, not loading.

The networks are gankit's own for the preset (copies made before either loop trains), initialized the
same way; only the loop differs. Losses: the non-saturating GAN loss as binary cross-entropy (as in the
paper's code), or hinge, or least squares, plus lambda * L1.
"""

from __future__ import annotations

import torch
from torch import nn


class ReferencePix2Pix:
    """``step()`` trains D once, then G once, on one batch of ``batch_size`` pairs."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                 batch_size: int, lr_g: float, lr_d: float, betas: tuple[float, float], l1_weight: float,
                 loss: str = "nonsaturating", conditional_d: bool = True):
        self.G, self.D = generator, discriminator
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.l1_weight, self.loss, self.conditional_d = batch_size, l1_weight, loss, conditional_d
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr_d, betas=betas)
        self.bce = nn.BCEWithLogitsLoss()
        self.mse = nn.MSELoss()
        self.l1 = nn.L1Loss()

    def _pair(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, y], 1) if self.conditional_d else y

    def _d_term(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        if self.loss == "hinge":
            return torch.relu(1 - logits).mean() if real else torch.relu(1 + logits).mean()
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return 0.5 * self.mse(logits, target) if self.loss == "lsgan" else self.bce(logits, target)

    def _g_term(self, logits: torch.Tensor) -> torch.Tensor:
        if self.loss == "hinge":
            return -logits.mean()
        target = torch.ones_like(logits)
        return 0.5 * self.mse(logits, target) if self.loss == "lsgan" else self.bce(logits, target)

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, self.inputs.shape[0], (self.batch_size,), device=self.inputs.device)
        x, y = self.inputs[idx], self.targets[idx]
        fake = self.G(x)

        # (1) D: real pairs vs fake pairs
        self.opt_d.zero_grad()
        real_term = self._d_term(self.D(self._pair(x, y)), True)
        loss_d = real_term + self._d_term(self.D(self._pair(x, fake.detach())), False)
        loss_d.backward()
        self.opt_d.step()

        # (2) G: fool D, stay close to y in L1
        self.opt_g.zero_grad()
        loss_g = self._g_term(self.D(self._pair(x, fake))) + self.l1_weight * self.l1(fake, y)
        loss_g.backward()
        self.opt_g.step()
        return loss_d.detach(), loss_g.detach()
