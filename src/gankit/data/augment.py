"""Augmentations applied to whole batches on the device (no per-sample Python, no host sync)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image of (B, C, H, W) left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Reflect-pad (B, C, H, W) by ``padding`` and take a random H x W window per image."""
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding), mode="reflect")
    oy = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    ox = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    padded = padded.gather(2, rows.expand(b, c, h, padded.shape[3]))
    return padded.gather(3, cols.expand(b, c, h, w))


def augment(x: torch.Tensor, hflip: bool, crop_padding: int) -> torch.Tensor:
    """The configured data augmentations, in order: random crop, then horizontal flip."""
    if crop_padding > 0:
        x = random_crop(x, crop_padding)
    if hflip:
        x = random_hflip(x)
    return x


def augment_together(images: list[torch.Tensor], hflip: bool, crop_padding: int) -> list[torch.Tensor]:
    """:func:`augment` applied to several (B, C_i, H, W) batches with the same random draws per sample.

    The two images of a pair (pix2pix's input and target) must stay aligned: they are stacked along the
    channel axis, cropped and flipped as one, and split again. One batch alone is augmented as it is.
    """
    if len(images) == 1:
        return [augment(images[0], hflip, crop_padding)]
    if len({x.shape[-2:] for x in images}) > 1:
        raise ValueError(f"images augmented together must share their size, got {[tuple(x.shape) for x in images]}")
    sizes = [x.shape[1] for x in images]
    return list(augment(torch.cat(images, dim=1), hflip, crop_padding).split(sizes, dim=1))
