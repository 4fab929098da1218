"""Augmentations applied to whole batches on the device (no per-sample Python, no host sync)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image of (B, C, H, W) left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def _random_windows(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """An h x w window of each image of (B, C, H, W) at a uniformly random position (one per image)."""
    b, c, H, W = x.shape
    oy = torch.randint(0, H - h + 1, (b,), device=x.device)
    ox = torch.randint(0, W - w + 1, (b,), device=x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    x = x.gather(2, rows.expand(b, c, h, W))
    return x.gather(3, cols.expand(b, c, h, w))


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Reflect-pad (B, C, H, W) by ``padding`` and take a random H x W window per image."""
    if padding <= 0:
        return x
    padded = F.pad(x, (padding, padding, padding, padding), mode="reflect")
    return _random_windows(padded, x.shape[2], x.shape[3])


def random_patch(x: torch.Tensor, size: int) -> torch.Tensor:
    """A random ``size`` x ``size`` patch of each image of (B, C, H, W) (the images unchanged if ``size`` is 0
    or their own size)."""
    if size <= 0 or (size == x.shape[2] and size == x.shape[3]):
        return x
    return _random_windows(x, size, size)


def random_rot90(x: torch.Tensor) -> torch.Tensor:
    """Rotate each square image of (B, C, S, S) by 0, 90, 180 or 270 degrees, uniformly at random."""
    k = torch.randint(0, 4, (x.shape[0],), device=x.device)[:, None, None, None]
    out = x
    for turns in (1, 2, 3):
        out = torch.where(k == turns, torch.rot90(x, turns, dims=(2, 3)), out)
    return out


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
