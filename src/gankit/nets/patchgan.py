"""The PatchGAN discriminator (Isola et al. 2017, section 3.2.2): a logit per overlapping patch, not per image.

``layers`` stride-2 4x4 convolutions (LeakyReLU 0.2; normalization on all but the first) are followed
by one stride-1 4x4 convolution and a stride-1 4x4 convolution to one channel. Each output logit sees a
square of the input of side :func:`patch_receptive_field` (16, 34, 70, 142 for 1-4 layers); the paper's
default, 70x70 at 256x256, is ``layers=3``. D judges whether each patch is real and the adversarial loss
averages over patches, so D models high frequencies only and the L1 term keeps the low ones right.
Channels double from ``width`` per layer up to ``max_channels``.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.nets.layers import dcgan_init_, norm_2d


def patch_receptive_field(layers: int) -> int:
    """Side of the input square one output logit depends on: r = r * stride + (kernel - stride), from the end.

    The two stride-1 4x4 convolutions give 1 -> 4 -> 7, then each stride-2 4x4 layer r -> 2r + 2:
    16, 34, 70, 142 for layers = 1, 2, 3, 4.
    """
    r = 1
    for stride in [1, 1] + [2] * layers:
        r = r * stride + (4 - stride)
    return r


def patch_layers_for(resolution: int) -> int:
    """The depth whose patch is closest to the paper's share of the image, 70 / 256 of its side (>= 1)."""
    target = resolution * 70 / 256
    return min(range(1, 6), key=lambda n: (abs(patch_receptive_field(n) - target), n))


class PatchDiscriminator(nn.Module):
    """image (B, C, R, R) -> patch logits (B, 1, h, w); for pix2pix C holds the input and the output stacked."""

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, max_channels: int = 512,
                 norm: str = "instance"):
        super().__init__()
        bias = norm != "batch"
        chans = [min(max_channels, width * 2**i) for i in range(layers + 1)]
        seq: list[nn.Module] = [nn.Conv2d(in_channels, chans[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for i in range(1, layers + 1):
            stride = 2 if i < layers else 1
            seq += [nn.Conv2d(chans[i - 1], chans[i], 4, stride, 1, bias=bias), norm_2d(norm, chans[i]),
                    nn.LeakyReLU(0.2, inplace=True)]
        seq.append(nn.Conv2d(chans[layers], 1, 4, 1, 1))
        self.net = nn.Sequential(*seq)
        self.layers = layers
        dcgan_init_(self)

    @property
    def receptive_field(self) -> int:
        return patch_receptive_field(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
