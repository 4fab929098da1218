"""Super-resolution networks: SRResNet (Ledig et al. 2017), the RRDB generator of ESRGAN (Wang et al. 2018) and
a VGG-style discriminator (both papers).

* :class:`SRResNet` ("Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network",
  figure 4): a 9x9 convolution and PReLU; ``blocks`` residual blocks (3x3 conv, norm, PReLU, 3x3 conv, norm, plus
  the block's input); a 3x3 conv and norm added to the first layer's output (the long skip); log2(scale) steps of
  a 3x3 conv to 4x the channels, PixelShuffle(2) and PReLU; a 9x9 convolution out. ``norm="none"`` drops the
  batch norms, as EDSR and ESRGAN do (they find batch norm makes artefacts in SR).
* :class:`RRDBNet` ("ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", figure 4): a 3x3 conv;
  ``blocks`` residual-in-residual dense blocks, each three residual dense blocks (five 3x3 convs, each seeing the
  block input and every earlier conv's output, ``growth`` channels each, LeakyReLU(0.2) after the first four;
  out = in + 0.2 * the fifth's output) and its own residual (in + 0.2 * the three blocks' output); a 3x3 trunk
  conv added to the first conv's output; log2(scale) steps of nearest x2 upsampling, 3x3 conv, LeakyReLU; a 3x3
  conv and LeakyReLU; a 3x3 conv out. No normalization. Initialization, as the paper's section 3.3 describes:
  Kaiming-normal weights scaled by 0.1 in the dense blocks (small residuals at the start).
* :class:`VGGDiscriminator` (SRGAN figure 4, ESRGAN's VGG-style D): a 3x3 conv and LeakyReLU(0.2), then per stage
  a 3x3 stride-1 conv and a 4x4 stride-2 conv, each with norm and LeakyReLU (channels double per stage from
  ``width`` up to 8x). The papers flatten a fixed 96 / 128 px map into a dense layer of 1024 / 100 units; here the
  map is averaged to 1x1 first, so any patch size works, then a dense layer of 100 units, LeakyReLU, one logit.
* :class:`UNetDiscriminator` (Real-ESRGAN, Wang et al. 2021, "Real-ESRGAN: Training Real-World Blind
  Super-Resolution with Pure Synthetic Data", section 3.3): a U-Net that gives a realness logit per *pixel*
  instead of one per image, so that G is told where its texture is wrong. A 3x3 conv (``width``); ``stages``
  4x4 stride-2 convs doubling the channels (up to 8x); back up by bilinear x2 and a 3x3 conv halving them, each
  added to the encoder map of the same size (skip connections); two 3x3 convs and a 3x3 conv to one channel.
  LeakyReLU(0.2) after every conv but the last; spectral norm (Miyato et al. 2018) on all but the first and last,
  as the paper, which needs it to keep this larger D stable. Its logits are a (B, 1, H, W) map: every loss here
  averages over all of it.

Generators take LR images in [-1, 1] and output HR images with no output activation (linear), any H x W.

``residual="bicubic"`` (both generators): the network's output is added to the bicubic upscale of its input, so it
learns only what bicubic interpolation misses (global residual learning, as VDSR: Kim et al. 2016, "Accurate Image
Super-Resolution Using Very Deep Convolutional Networks"); its last convolution starts at zero, so an untrained G
is exactly bicubic upscaling. The papers above do not do this; on a CPU budget of minutes it is what lets G pass
bicubic quality early instead of first relearning it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.nets.layers import norm_2d


def sr_scale_steps(scale: int) -> int:
    """log2(scale): the x2 upsampling steps of a generator; 2, 4 and 8 only."""
    if scale not in (2, 4, 8):
        raise ValueError(f"super-resolution scale must be 2, 4 or 8, got {scale}")
    return scale.bit_length() - 1


class _BicubicResidual(nn.Module):
    """Adds the bicubic upscale of G's input to G's output (``residual="bicubic"``); nothing for ``"none"``."""

    def __init__(self, residual: str, scale: int, last: nn.Conv2d):
        super().__init__()
        if residual not in ("none", "bicubic"):
            raise ValueError(f"residual must be none or bicubic, got {residual!r}")
        self.on, self.scale = residual == "bicubic", scale
        if self.on:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if not self.on:
            return out
        return out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False).to(out.dtype)


class _ResidualBlock(nn.Module):
    def __init__(self, width: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), norm_2d(norm, width), nn.PReLU(),
                                  nn.Conv2d(width, width, 3, padding=1), norm_2d(norm, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """LR (B, C, h, w) -> HR (B, C, h * scale, w * scale)."""

    def __init__(self, channels: int = 3, scale: int = 4, width: int = 64, blocks: int = 16, norm: str = "batch",
                 residual: str = "none"):
        super().__init__()
        steps = sr_scale_steps(scale)
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*[_ResidualBlock(width, norm) for _ in range(blocks)],
                                  nn.Conv2d(width, width, 3, padding=1), norm_2d(norm, width))
        up: list[nn.Module] = []
        for _ in range(steps):
            up += [nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU()]
        self.tail = nn.Sequential(*up, nn.Conv2d(width, channels, 9, padding=4))
        self.residual = _BicubicResidual(residual, scale, self.tail[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return self.residual(x, self.tail(h + self.body(h)))


class _DenseBlock(nn.Module):
    """Five 3x3 convs with dense connections; out = in + 0.2 * the fifth conv's output."""

    def __init__(self, width: int, growth: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(width + i * growth, growth if i < 4 else width, 3, padding=1)
                                   for i in range(5))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(feats, dim=1))
            if i < 4:
                feats.append(self.act(out))
        return x + 0.2 * out


class RRDB(nn.Module):
    """Three dense blocks and a residual scaled by 0.2."""

    def __init__(self, width: int, growth: int):
        super().__init__()
        self.blocks = nn.Sequential(*(_DenseBlock(width, growth) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBNet(nn.Module):
    """LR (B, C, h, w) -> HR (B, C, h * scale, w * scale)."""

    def __init__(self, channels: int = 3, scale: int = 4, width: int = 64, growth: int = 32, blocks: int = 23,
                 residual: str = "none"):
        super().__init__()
        steps = sr_scale_steps(scale)
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(width, growth) for _ in range(blocks)))
        self.trunk = nn.Conv2d(width, width, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)
        self.up = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(steps))
        self.hr = nn.Conv2d(width, width, 3, padding=1)
        self.out = nn.Conv2d(width, channels, 3, padding=1)
        for m in self.body.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.2)
                m.weight.data.mul_(0.1)
                nn.init.zeros_(m.bias)
        self.residual = _BicubicResidual(residual, scale, self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.trunk(self.body(h))
        for conv in self.up:
            h = self.act(conv(nn.functional.interpolate(h, scale_factor=2, mode="nearest")))
        return self.residual(x, self.out(self.act(self.hr(h))))


class VGGDiscriminator(nn.Module):
    """HR image (B, C, H, W), any H, W >= 2^(stages + 1) -> one logit per image (B, 1)."""

    def __init__(self, channels: int = 3, width: int = 64, stages: int = 4, norm: str = "batch",
                 spectral_norm: bool = False):
        super().__init__()
        if spectral_norm:
            norm = "none"
        act = nn.LeakyReLU(0.2)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), act]
        c = width
        for i in range(stages):
            out = min(8 * width, width * 2**i)
            layers += [nn.Conv2d(c, out, 3, padding=1), norm_2d(norm, out), act,
                       nn.Conv2d(out, out, 4, stride=2, padding=1), norm_2d(norm, out), act]
            c = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 100), act, nn.Linear(100, 1)]
        self.net = nn.Sequential(*layers)
        if spectral_norm:
            for m in self.net:
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UNetDiscriminator(nn.Module):
    """HR image (B, C, H, W), H and W multiples of 2^stages -> per-pixel logits (B, 1, H, W)."""

    def __init__(self, channels: int = 3, width: int = 64, stages: int = 3, spectral_norm: bool = True):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        widths = [min(8 * width, width * 2**i) for i in range(stages + 1)]
        self.first = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList(sn(nn.Conv2d(a, b, 4, stride=2, padding=1, bias=False))
                                  for a, b in zip(widths[:-1], widths[1:]))
        self.up = nn.ModuleList(sn(nn.Conv2d(b, a, 3, padding=1, bias=False))
                                for a, b in reversed(list(zip(widths[:-1], widths[1:]))))
        self.head = nn.ModuleList([sn(nn.Conv2d(width, width, 3, padding=1, bias=False)),
                                   sn(nn.Conv2d(width, width, 3, padding=1, bias=False))])
        self.out = nn.Conv2d(width, 1, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.first(x))
        skips = [h]
        for conv in self.down:
            h = self.act(conv(h))
            skips.append(h)
        skips.pop()  # the deepest map is h itself
        for conv in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = self.act(conv(h)) + skip
        for conv in self.head:
            h = self.act(conv(h))
        return self.out(h)
