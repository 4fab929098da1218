"""A StyleGAN2 training step written the textbook way: the baseline of ``gankit bench speed`` for stylegan2 presets.

This is deliberately *not* gankit's loop. It is the step in the order of the paper's training code, written
plainly: fp32, contiguous memory, ``torch.optim.Adam`` with the preset's betas, and, as that code does, only the
network a phase trains requires gradients during it. Four phases per step:

* G: fresh z (with style mixing, done inside the generator in training mode), softplus(-D(G(z))), one Adam step;
* G's path-length regularization every ``pl_every`` steps on a batch ``pl_batch_shrink`` times smaller;
* D: softplus(D(G(z))) on a detached fake batch plus softplus(-D(x)) on a real batch, in two passes;
* D's R1 penalty every ``r1_every`` steps, gamma / 2 * r1_every * E||grad_x D(x)||^2;

then the EMA of G. Real batches come from a float tensor already in [-1, 1] in memory. The networks are gankit's
own for the preset (copies made before either loop trains); only the loop differs.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


class ReferenceStyleGAN2:
    """``step()`` runs G, Greg (when due), D and Dreg (when due) once, then the EMA."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, data: torch.Tensor, batch_size: int,
                 z_dim: int, lr_g: float, lr_d: float, betas: tuple[float, float], r1_gamma: float, r1_every: int,
                 pl_weight: float, pl_every: int, pl_batch_shrink: int, pl_decay: float, ema: float):
        self.G, self.D, self.data = generator, discriminator, data
        self.G_ema = copy.deepcopy(generator).eval().requires_grad_(False)
        self.batch_size, self.z_dim = batch_size, z_dim
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr_d, betas=betas)
        self.r1_gamma, self.r1_every = r1_gamma, r1_every
        self.pl_weight, self.pl_every, self.pl_shrink, self.pl_decay = pl_weight, pl_every, pl_batch_shrink, pl_decay
        self.pl_mean = torch.zeros((), device=data.device)
        self.ema = ema
        self.count = 0

    def _real(self) -> torch.Tensor:
        return self.data[torch.randint(0, self.data.shape[0], (self.batch_size,), device=self.data.device)]

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=self.data.device)

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        # G main
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.opt_g.zero_grad()
        loss_g = F.softplus(-self.D(self.G(self._z(self.batch_size)))).mean()
        loss_g.backward()
        self.opt_g.step()
        # G reg: path length
        if self.pl_weight > 0 and self.count % self.pl_every == 0:
            self.opt_g.zero_grad()
            n = max(1, self.batch_size // self.pl_shrink)
            ws = self.G.training_ws(self._z(n))
            img = self.G.synthesis(ws)
            y = torch.randn_like(img) / (img.shape[2] * img.shape[3]) ** 0.5
            (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
            lengths = grad.pow(2).sum(2).mean(1).sqrt()
            self.pl_mean = self.pl_mean.lerp(lengths.mean().detach(), self.pl_decay)
            ((lengths - self.pl_mean).pow(2).mean() * self.pl_weight * self.pl_every).backward()
            self.opt_g.step()
        # D main
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        self.opt_d.zero_grad()
        with torch.no_grad():
            fake = self.G(self._z(self.batch_size))
        loss_d = F.softplus(self.D(fake)).mean() + F.softplus(-self.D(self._real())).mean()
        loss_d.backward()
        self.opt_d.step()
        # D reg: R1
        if self.r1_gamma > 0 and self.count % self.r1_every == 0:
            self.opt_d.zero_grad()
            real = self._real().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.D(real).sum(), real, create_graph=True)
            (grad.pow(2).sum((1, 2, 3)).mean() * self.r1_gamma / 2 * self.r1_every).backward()
            self.opt_d.step()
        with torch.no_grad():
            for s, p in zip(self.G_ema.parameters(), self.G.parameters()):
                s.lerp_(p, 1 - self.ema)
            for s, b in zip(self.G_ema.buffers(), self.G.buffers()):
                s.copy_(b)
        self.count += 1
        return loss_d.detach(), loss_g.detach()
