"""DCGAN (Radford et al. 2016) for any power-of-two resolution from 8 up.

G projects z to a 4x4 map, then doubles the resolution with stride-2 transposed convolutions
(BatchNorm + ReLU) until the last one outputs the image through Tanh. D mirrors it with stride-2
convolutions and LeakyReLU(0.2), no norm on its first layer, and a linear layer on the final 4x4
map (the same as a 4x4 valid convolution). Channels halve at each doubling:
``min(max_channels, 64 * width * 2**k)``, so for 32x32 and width 1: 256@4 -> 128@8 -> 64@16.
"""

from __future__ import annotations

import math

import torch
from torch import nn

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
    ):
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = num_classes
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
        dcgan_init_(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.cond is not None:
            z = self.cond(z, labels)
        return self.net(z[:, :, None, None])


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
    ):
        super().__init__()
        self.num_classes = num_classes
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
        dcgan_init_(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.concat:
            b, _, h, w = x.shape
            planes = nn.functional.one_hot(labels, self.num_classes).to(x.dtype)
            x = torch.cat([x, planes[:, :, None, None].expand(b, self.num_classes, h, w)], dim=1)
        return self.head(self.features(x), None if self.concat else labels)
