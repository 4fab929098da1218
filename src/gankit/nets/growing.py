"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation", section 2): G and D start at a low resolution; each higher one is faded in over a set number of
images and then trained alone for as many, until the full resolution.

The schedule is a function of the number of real images shown (so of the step), which makes a run that stops in
the middle of a fade resume exactly where it was. During a fade at resolution r with weight alpha:

* G's image is alpha * (the new block's output) + (1 - alpha) * (the previous resolution's output, upsampled);
* D enters through the new block with weight alpha and through the previous resolution's input layer, on the
  image downsampled by 2, with weight 1 - alpha;
* real images are shown at r, blended the same way: alpha * x_r + (1 - alpha) * up(down(x_r)), so they look like
  what G can make at that moment.

Networks that grow keep ``grow_resolution`` and ``grow_alpha`` as plain attributes, set by the task before each
step (:func:`set_growth`); in eval mode a growing G's images are enlarged (nearest neighbour) to the full
resolution, so sampling, grids and metrics need not know about growth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def growth_at(images: int, start: int, final: int, fade: int, stable: int) -> tuple[int, float]:
    """(resolution, alpha) after ``images`` real images: ``stable`` images at ``start``, then for each doubling up
    to ``final`` a fade of ``fade`` images (alpha rising linearly from 0 to 1) and ``stable`` images at alpha 1."""
    if start >= final:
        return final, 1.0
    if images < stable:
        return start, 1.0
    images -= stable
    res = start
    while res < final:
        res *= 2
        if images < fade:
            return res, images / fade
        images -= fade
        if images < stable:
            return res, 1.0
        images -= stable
    return final, 1.0


def growth_end(start: int, final: int, fade: int, stable: int) -> int:
    """Images after which the network has its full resolution at alpha 1."""
    doublings = max(0, (final // start).bit_length() - 1)
    return stable + doublings * fade + (doublings - 1) * stable if doublings else 0


def set_growth(resolution: int, alpha: float, *nets: nn.Module) -> None:
    """Tell growing networks the resolution they work at and the fade-in weight of its newest block."""
    for net in nets:
        if hasattr(net, "grow_resolution"):
            net.grow_resolution, net.grow_alpha = resolution, alpha


def downsample_to(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Average-pool square images to ``resolution`` (a power-of-two fraction of their side)."""
    factor = x.shape[-1] // resolution
    return x if factor == 1 else F.avg_pool2d(x, factor)


def upsample_to(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Nearest-neighbour enlargement of square images to ``resolution``."""
    factor = resolution // x.shape[-1]
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def fade_images(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """alpha * x + (1 - alpha) * up(down(x)): images as a resolution that is being faded in shows them."""
    if alpha >= 1:
        return x
    coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
    return torch.lerp(coarse, x, alpha)


def real_at(x: torch.Tensor, resolution: int, alpha: float) -> torch.Tensor:
    """Full-resolution real images as D is shown them at ``resolution`` with fade-in weight ``alpha``."""
    return fade_images(downsample_to(x, resolution), alpha)
