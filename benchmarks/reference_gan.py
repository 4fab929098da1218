"""A GAN training step written the textbook way: the baseline of ``gankit bench speed``.

This is deliberately *not* gankit's loop. It is how a GAN step is usually written in a tutorial:
fp32, default (contiguous) memory layout, ``torch.optim.Adam`` with its defaults, and one generator
forward whose output serves both players: D is trained on ``fake.detach()``, then G through
``D(fake)`` with D's parameters still requiring gradients (their gradients are computed and thrown
away at D's next ``zero_grad``). Real batches are drawn from a float tensor already in [-1, 1] in
memory, the cheapest data path there is, so the comparison is about the step itself, not loading.

The networks are the same as gankit's for the preset (built by ``gankit.nets.build_networks`` from
the same config, spectral norm included), initialized the same way; only the loop differs. The
non-saturating loss (binary cross-entropy, as in the PyTorch DCGAN example) or the hinge loss, one D
step per G step, unconditional.
"""

from __future__ import annotations

import torch
from torch import nn


class ReferenceGAN:
    """``step()`` trains D once, then G once, on one batch of ``batch_size``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, data: torch.Tensor, batch_size: int,
                 z_dim: int, lr_g: float, lr_d: float, betas: tuple[float, float], loss: str = "nonsaturating"):
        self.G, self.D = generator, discriminator
        self.data = data
        self.batch_size, self.z_dim = batch_size, z_dim
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr_d, betas=betas)
        self.loss = loss
        self.criterion = nn.BCEWithLogitsLoss()
        self.ones = torch.ones(batch_size, device=data.device)
        self.zeros = torch.zeros(batch_size, device=data.device)

    def step(self) -> tuple[float, float]:
        idx = torch.randint(0, self.data.shape[0], (self.batch_size,), device=self.data.device)
        real = self.data[idx]

        hinge = self.loss == "hinge"
        # (1) D: maximize log D(x) + log(1 - D(G(z)))  (hinge: minimize relu(1 - D(x)) + relu(1 + D(G(z))))
        self.D.zero_grad()
        out_real = self.D(real).view(-1)
        loss_real = torch.relu(1 - out_real).mean() if hinge else self.criterion(out_real, self.ones)
        loss_real.backward()
        z = torch.randn(self.batch_size, self.z_dim, device=self.data.device)
        fake = self.G(z)
        out_fake = self.D(fake.detach()).view(-1)
        loss_fake = torch.relu(1 + out_fake).mean() if hinge else self.criterion(out_fake, self.zeros)
        loss_fake.backward()
        self.opt_d.step()

        # (2) G: maximize log D(G(z))  (hinge: maximize D(G(z)))
        self.G.zero_grad()
        out = self.D(fake).view(-1)
        loss_g = -out.mean() if hinge else self.criterion(out, self.ones)
        loss_g.backward()
        self.opt_g.step()
        return (loss_real + loss_fake).detach(), loss_g.detach()
