"""A super-resolution training step written the textbook way: the baseline of ``gankit bench speed`` for sr presets.

This is deliberately *not* gankit's loop. It is the step as SR tutorials and the papers' reference code write it:
each training sample is made one at a time, as a ``Dataset.__getitem__`` would (a random HR patch of a random
picture, a random flip and 90-degree turn, converted to float in [-1, 1]), the batch is stacked, its LR input
is made by antialiased bicubic downscaling and 8-bit rounding; then fp32, contiguous memory, ``torch.optim.Adam``
with the preset's betas.

PSNR-oriented presets (no discriminator): G's pixel L1 (and perceptual L1 when the preset has one), one Adam step.
Adversarial presets, in the order of ESRGAN's code: G's step first (D runs on the real patches, detached, and on
G's output; relativistic average loss, pixel and perceptual terms), then D's step on the real patches and the
detached output (D's parameter gradients from G's step are computed and thrown away at D's ``zero_grad``).

The networks are gankit's own for the preset (copies made before either loop trains), and the perceptual
features are gankit's Inception stem (:mod:`gankit.nets.perceptual`); only the loop differs.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn


class ReferenceSR:
    """``step()`` trains G once (and D once, for adversarial presets) on ``batch_size`` random HR patches."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module | None, images: torch.Tensor, patch: int,
                 scale: int, batch_size: int, lr_g: float, lr_d: float, betas: tuple[float, float],
                 pixel_weight: float, perceptual_weight: float = 0.0, gan_weight: float = 0.0,
                 perceptual: nn.Module | None = None, seed: int = 0):
        self.G, self.D, self.images = generator, discriminator, images  # images: uint8 (N, C, R, R)
        self.patch, self.scale, self.batch_size = patch, scale, batch_size
        self.pixel_weight, self.perceptual_weight, self.gan_weight = pixel_weight, perceptual_weight, gan_weight
        self.perceptual = perceptual
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr_d, betas=betas) if discriminator is not None else None
        self.bce = nn.BCEWithLogitsLoss()
        self.l1 = nn.L1Loss()
        self.rng = random.Random(seed)

    def _sample(self) -> torch.Tensor:
        """One HR training patch, as a Dataset's __getitem__ would make it."""
        image = self.images[self.rng.randrange(len(self.images))]
        side = image.shape[-1]
        top, left = self.rng.randrange(side - self.patch + 1), self.rng.randrange(side - self.patch + 1)
        x = image[:, top : top + self.patch, left : left + self.patch].float() / 127.5 - 1
        if self.rng.random() < 0.5:
            x = torch.flip(x, dims=[2])
        return torch.rot90(x, self.rng.randrange(4), dims=[1, 2])

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        hr = torch.stack([self._sample() for _ in range(self.batch_size)])
        lr = F.interpolate(hr, scale_factor=1 / self.scale, mode="bicubic", antialias=True, align_corners=False)
        lr = ((lr + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1
        return lr, hr

    def _content(self, fake: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        loss = self.pixel_weight * self.l1(fake, hr)
        if self.perceptual is not None and self.perceptual_weight > 0:
            loss = loss + self.perceptual_weight * self.perceptual.loss(fake, hr)
        return loss

    def _relativistic(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """RaGAN loss of the player that wants ``a`` judged more real than ``b`` on average."""
        return (self.bce(a - b.mean(), torch.ones_like(a)) + self.bce(b - a.mean(), torch.zeros_like(b))) / 2

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self._batch()
        fake = self.G(lr)
        self.opt_g.zero_grad()
        loss_g = self._content(fake, hr)
        if self.D is not None:
            real_logits = self.D(hr).detach()
            loss_g = loss_g + self.gan_weight * self._relativistic(self.D(fake), real_logits)
        loss_g.backward()
        self.opt_g.step()
        if self.D is None:
            return loss_g.detach(), loss_g.detach()
        self.opt_d.zero_grad()
        loss_d = self._relativistic(self.D(hr), self.D(fake.detach()))
        loss_d.backward()
        self.opt_d.step()
        return loss_d.detach(), loss_g.detach()
