"""The residual-block generator of CycleGAN (Zhu et al. 2017, appendix 7.2, after Johnson et al. 2016).

``c7s1-w, d2w, d4w, R4w x blocks, u2w, uw, c7s1-C``: a 7x7 convolution, two stride-2 3x3 convolutions
down, ``blocks`` residual blocks (two 3x3 convolutions each, input added back) at a quarter of the
resolution, two stride-2 3x3 transposed convolutions up and a 7x7 convolution out, Tanh. Reflection
padding keeps borders free of the zero-padding artefacts; every convolution but the last is followed by
normalization and ReLU (the second one in a block by normalization only). The paper uses 6 blocks at
128 px and 9 at 256 px. Channels: ``width``, ``2 width``, ``4 width``, each capped at ``max_channels``.

``residual=True`` (not in the paper; for short budgets): the last convolution starts at zero and its output h
changes the input in the pre-tanh space, tanh(atanh(x) + h) (:func:`~gankit.nets.layers.residual_tanh`), so the
generator starts as the identity map and learns only what the translation changes.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.nets.layers import check_residual_channels, dcgan_init_, norm_2d, residual_tanh, zero_init_


class ResidualBlock(nn.Module):
    """x + [pad, conv3, norm, ReLU, (dropout), pad, conv3, norm](x)."""

    def __init__(self, channels: int, norm: str, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                                   norm_2d(norm, channels), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_2d(norm, channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """image (B, in_channels, R, R) -> image (B, out_channels, R, R), R a multiple of 4."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 9,
                 max_channels: int = 512, norm: str = "instance", dropout: float = 0.0, residual: bool = False):
        super().__init__()
        if residual:
            check_residual_channels(in_channels, out_channels)
        self.residual = residual
        bias = norm != "batch"
        c1, c2, c4 = (min(max_channels, width * k) for k in (1, 2, 4))
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, c1, 7, bias=bias),
                                   norm_2d(norm, c1), nn.ReLU(inplace=True)]
        for a, b in ((c1, c2), (c2, c4)):
            layers += [nn.Conv2d(a, b, 3, 2, 1, bias=bias), norm_2d(norm, b), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(c4, norm, dropout, bias) for _ in range(blocks)]
        for a, b in ((c4, c2), (c2, c1)):
            layers += [nn.ConvTranspose2d(a, b, 3, 2, 1, output_padding=1, bias=bias), norm_2d(norm, b),
                       nn.ReLU(inplace=True)]
        last = nn.Conv2d(c1, out_channels, 7)
        layers += [nn.ReflectionPad2d(3), last] + ([] if residual else [nn.Tanh()])
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)
        if residual:
            zero_init_(last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return residual_tanh(x, self.net(x)) if self.residual else self.net(x)
