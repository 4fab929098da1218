"""The U-Net generator of pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks", section 3.2.1 and appendix 6.1.1).

An encoder of 4x4 stride-2 convolutions halves the image ``depth`` times (down to 1x1 by default), a
decoder of 4x4 stride-2 transposed convolutions doubles it back, and each decoder step also sees the
encoder's features of the same size, concatenated on the channel axis (the skip connections that let
low-level structure such as edges pass straight from input to output). Encoder: LeakyReLU(0.2) before
every convolution but the first, normalization after every one but the first and the innermost (a 1x1
map has nothing to normalize over). Decoder: ReLU before every transposed convolution, normalization
after every one but the last, dropout (rate ``dropout``) after the ``depth - 5`` steps next to the
innermost one (three at 256 px, as in the paper's "CD512" layers; one at 64 px), Tanh at the output.
Channels double from ``width`` at each step down, capped at ``max_channels``.

``residual=True`` (not in the paper): the last transposed convolution starts at zero and its output changes the
input in the pre-tanh space (:func:`~gankit.nets.layers.residual_tanh`): the generator starts as the identity map.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.nets.layers import check_residual_channels, dcgan_init_, norm_2d, residual_tanh, zero_init_


def unet_depth(resolution: int, depth: int = 0) -> int:
    """Downsamplings of the U-Net: ``depth``, or log2(resolution) (down to 1x1) when it is 0."""
    return depth or (resolution.bit_length() - 1)


class UNetGenerator(nn.Module):
    """image (B, in_channels, R, R) in [-1, 1] -> image (B, out_channels, R, R) in [-1, 1]."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, width: int = 64,
                 max_channels: int = 512, depth: int = 0, norm: str = "instance", dropout: float = 0.5,
                 residual: bool = False):
        super().__init__()
        if residual:
            check_residual_channels(in_channels, out_channels)
        self.residual = residual
        depth = unet_depth(resolution, depth)
        if resolution % (2**depth):
            raise ValueError(f"a U-Net of depth {depth} needs a resolution that is a multiple of {2 ** depth}")
        bias = norm != "batch"  # a norm without a learned shift (instance, none) leaves the bias to the conv
        chans = [min(max_channels, width * 2**i) for i in range(depth)]
        self.depth = depth
        self.down = nn.ModuleList()
        for i in range(depth):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, inplace=False)]
            c_in = in_channels if i == 0 else chans[i - 1]
            layers.append(nn.Conv2d(c_in, chans[i], 4, 2, 1, bias=bias))
            if 0 < i < depth - 1:
                layers.append(norm_2d(norm, chans[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()  # self.up[i] makes the map that pairs with self.down[i - 1]'s (output for i = 0)
        dropped = range(4, depth - 1)  # the depth - 5 steps right after the innermost one
        for i in range(depth):
            c_in = chans[i] if i == depth - 1 else 2 * chans[i]  # the innermost step has no skip to join
            if i == 0:
                last = nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1)
                layers = [nn.ReLU(inplace=False), last] + ([] if residual else [nn.Tanh()])
            else:
                layers = [nn.ReLU(inplace=False), nn.ConvTranspose2d(c_in, chans[i - 1], 4, 2, 1, bias=bias),
                          norm_2d(norm, chans[i - 1])]
                if i in dropped and dropout > 0:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        dcgan_init_(self)
        if residual:
            zero_init_(last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs, skips = x, []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[-1](skips[-1])
        for i in range(self.depth - 2, -1, -1):
            x = self.up[i](torch.cat([x, skips[i]], dim=1))
        return residual_tanh(inputs, x) if self.residual else x
