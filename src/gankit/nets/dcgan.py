"""DCGAN (Radford et al. 2016) for any power-of-two resolution from 8 up.

G projects z to a 4x4 map, then doubles the resolution with stride-2 transposed convolutions
(BatchNorm + ReLU) until the last one outputs the image through Tanh. D mirrors it with stride-2
convolutions and LeakyReLU(0.2), no norm on its first layer, and a linear layer on the final 4x4
map (the same as a 4x4 valid convolution). Channels halve at each doubling:
``min(max_channels, 64 * width * 2**k)``, so for 32x32 and width 1: 256@4 -> 128@8 -> 64@16.

With ``grow=True`` both can train at a lower resolution for progressive growing (:mod:`gankit.nets.growing`):
G gets a toRGB (1x1 conv + Tanh) at every feature-map size below the full one, D a fromRGB (1x1 conv +
LeakyReLU) at every size it can be entered at; the full-resolution path is the plain DCGAN.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.nets.growing import upsample_to
from gankit.nets.layers import DiscriminatorHead, Flatten, dcgan_init_, label_embedding, norm_2d


def dcgan_channels(resolution: int, width: float, max_channels: int) -> list[int]:
    """Channels at 4x4, 8x8, ... up to resolution/2 (one entry per feature-map size)."""
    stages = int(math.log2(resolution)) - 2
    base = max(1, round(64 * width))
    return [min(max_channels, base * 2 ** (stages - 1 - i)) for i in range(stages)]


class DCGANGenerator(nn.Module):
    """z (B, z_dim) -> image (B, C, R, R) in [-1, 1]."""

    def __init__(
        self,
        z_dim: int,
        channels: int,
        resolution: int,
        width: float = 1.0,
        max_channels: int = 512,
        norm: str = "batch",
        num_classes: int = 0,
        embed_dim: int = 0,
        grow: bool = False,
    ):
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.resolution = resolution
        self.cond = label_embedding(num_classes, embed_dim)
        chans = dcgan_channels(resolution, width, max_channels)
        z_in = z_dim + (self.cond.dim if self.cond else 0)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_in, chans[0], 4, 1, 0, bias=norm == "none"),
            norm_2d(norm, chans[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=norm == "none"),
                norm_2d(norm, c_out),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if grow:  # an image out of each feature-map size below the full one
            self.grow_resolution, self.grow_alpha = resolution, 1.0
            self.to_rgb = nn.ModuleDict({str(4 * 2**k): nn.Sequential(nn.Conv2d(c, channels, 1), nn.Tanh())
                                         for k, c in enumerate(chans)})
        dcgan_init_(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.cond is not None:
            z = self.cond(z, labels)
        r = getattr(self, "grow_resolution", self.resolution)
        alpha = getattr(self, "grow_alpha", 1.0)
        if r == self.resolution and alpha >= 1:
            return self.net(z[:, :, None, None])
        img = self._grown(z[:, :, None, None], r, alpha)
        return img if self.training else upsample_to(img, self.resolution)

    def _grown(self, x: torch.Tensor, r: int, alpha: float) -> torch.Tensor:
        """The image at resolution ``r`` < full or during its fade-in: stage k (modules 3k..3k+2 of ``net``)
        makes the 4 * 2**k feature map; the last two modules make the full-resolution image."""
        feats = {}
        res, k = 4, 0
        stop = min(r, self.resolution // 2)
        while res <= stop:
            x = self.net[3 * k : 3 * k + 3](x)
            feats[res] = x
            res, k = res * 2, k + 1
        out = self.net[3 * k :](x) if r == self.resolution else self.to_rgb[str(r)](feats[r])
        if alpha < 1 and r > 4:
            coarse = self.to_rgb[str(r // 2)](feats[r // 2])
            out = torch.lerp(upsample_to(coarse, r).to(out.dtype), out, alpha)
        return out


class DCGANDiscriminator(nn.Module):
    """image (B, C, R, R) -> one logit per image.

    Conditioning: ``concat`` appends one-hot label planes to the input channels;
    ``projection`` adds <embed(y), h> on the final features (Miyato & Koyama 2018).
    """

    def __init__(
        self,
        channels: int,
        resolution: int,
        width: float = 1.0,
        max_channels: int = 512,
        norm: str = "batch",
        num_classes: int = 0,
        cond: str = "projection",
        grow: bool = False,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.resolution = resolution
        self.concat = num_classes > 0 and cond == "concat"
        chans = dcgan_channels(resolution, width, max_channels)[::-1]  # R/2 ... 4
        c_in = channels + (num_classes if self.concat else 0)
        layers: list[nn.Module] = [nn.Conv2d(c_in, chans[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [
                nn.Conv2d(a, b, 4, 2, 1, bias=norm == "none"),
                norm_2d(norm, b),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        layers.append(Flatten())
        self.features = nn.Sequential(*layers)
        self.head = DiscriminatorHead(chans[-1] * 16, num_classes if (num_classes and not self.concat) else 0)
        if grow:  # an entry for images of each size below the full one: R/2 -> chans[0], ..., 4 -> chans[-1]
            self.grow_resolution, self.grow_alpha = resolution, 1.0
            self.from_rgb = nn.ModuleDict({str(resolution // 2 ** (i + 1)): nn.Sequential(
                nn.Conv2d(channels, c, 1), nn.LeakyReLU(0.2, inplace=True)) for i, c in enumerate(chans)})
        dcgan_init_(self)

    def _halve(self, h: torch.Tensor, r: int) -> torch.Tensor:
        """The layers that take resolution ``r`` to ``r / 2``: the first conv from the image, then 3-module stages."""
        if r == self.resolution:
            return self.features[0:2](h)
        i = (self.resolution // r).bit_length() - 2  # r = R / 2**(i + 1)
        return self.features[2 + 3 * i : 5 + 3 * i](h)

    def _enter(self, x: torch.Tensor, r: int) -> torch.Tensor:
        return x if r == self.resolution else self.from_rgb[str(r)](x)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        r = x.shape[-1]
        alpha = getattr(self, "grow_alpha", 1.0) if r == getattr(self, "grow_resolution", r) else 1.0
        if r != self.resolution or alpha < 1:  # progressive growing: enter at r, fade with r / 2
            h = self._halve(self._enter(x, r), r)
            if alpha < 1:
                h = torch.lerp(self._enter(nn.functional.avg_pool2d(x, 2), r // 2).to(h.dtype), h, alpha)
            res = r // 2
            while res > 4:
                h = self._halve(h, res)
                res //= 2
            return self.head(self.features[-1](h), labels)
        if self.concat:
            b, _, h, w = x.shape
            planes = nn.functional.one_hot(labels, self.num_classes).to(x.dtype)
            x = torch.cat([x, planes[:, :, None, None].expand(b, self.num_classes, h, w)], dim=1)
        return self.head(self.features(x), None if self.concat else labels)
