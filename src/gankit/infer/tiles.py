"""Applying a fully convolutional network to an image of any size in overlapping tiles, in bounded memory.

The image is covered by ``tile`` x ``tile`` windows that overlap by ``overlap`` pixels (the last window of a row
or column is moved back to end at the border, so no padding is needed unless the image is smaller than one
tile, when it is reflect-padded). Each window's output is weighted by a ramp that rises linearly over the
overlap from its inner edges (and is flat up to the image border), and the weighted outputs are summed and
divided by the summed weights: overlapping tiles fade into each other, with no visible seams.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Window starts along one axis of length ``size`` >= ``tile``: a stride of tile - overlap, the last at the end."""
    if size <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def _ramp(length: int, overlap: int, rise_start: bool, rise_end: bool) -> torch.Tensor:
    w = torch.ones(length, dtype=torch.float32)
    if overlap > 0:
        ramp = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
        if rise_start:
            w[:overlap] = torch.minimum(w[:overlap], ramp)
        if rise_end:
            w[-overlap:] = torch.minimum(w[-overlap:], ramp.flip(0))
    return w


@torch.no_grad()
def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, tile: int, overlap: int,
                scale: int = 1, batch: int = 8) -> torch.Tensor:
    """``fn`` (B, C, tile, tile) -> (B, C', tile * scale, tile * scale) applied to ``image`` (1, C, H, W) in tiles.

    Returns (1, C', H * scale, W * scale). ``batch`` tiles go through ``fn`` at a time; only the output canvas
    and one batch of tiles are held, so memory grows with the image area, not with the network's activations.
    """
    _, _, h, w = image.shape
    pad_h, pad_w = max(0, tile - h), max(0, tile - w)
    if pad_h or pad_w:  # smaller than one tile: reflect-pad (replicate where reflection cannot reach)
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        image = F.pad(image, (0, pad_w, 0, pad_h), mode=mode)
    H, W = image.shape[-2:]
    ys, xs = tile_starts(H, tile, overlap), tile_starts(W, tile, overlap)
    windows = [(y, x) for y in ys for x in xs]
    out = None
    weight = torch.zeros(1, 1, H * scale, W * scale)
    s_overlap = overlap * scale
    for i in range(0, len(windows), batch):
        chunk = windows[i : i + batch]
        result = fn(torch.cat([image[:, :, y : y + tile, x : x + tile] for y, x in chunk])).float().cpu()
        if out is None:
            out = torch.zeros(1, result.shape[1], H * scale, W * scale)
        for (y, x), piece in zip(chunk, result):
            wy = _ramp(tile * scale, s_overlap, y > 0, y + tile < H)
            wx = _ramp(tile * scale, s_overlap, x > 0, x + tile < W)
            wgt = wy[:, None] * wx[None, :]
            ys_, xs_ = slice(y * scale, (y + tile) * scale), slice(x * scale, (x + tile) * scale)
            out[0, :, ys_, xs_] += piece * wgt
            weight[0, 0, ys_, xs_] += wgt
    out = out / weight
    return out[:, :, : h * scale, : w * scale]
