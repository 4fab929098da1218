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
                scale: int = 1, batch: int = 8,
                finish: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """``fn`` (B, C, tile, tile) -> (B, C', tile * scale, tile * scale) applied to ``image`` (1, C, H, W) in tiles.

    Returns (1, C', H * scale, W * scale), each band of finished rows passed through ``finish`` first (e.g. a
    conversion to uint8, so that a large output is held as bytes). Tiles are done a row of windows at a time;
    rows that no later window reaches are finished and written out, so besides the output only one band of
    ``tile * scale`` rows is held in float, and ``batch`` tiles go through ``fn`` at a time.
    """
    finish = finish or (lambda x: x)
    _, _, h, w = image.shape
    pad_h, pad_w = max(0, tile - h), max(0, tile - w)
    if pad_h or pad_w:  # smaller than one tile: reflect-pad (replicate where reflection cannot reach)
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        image = F.pad(image, (0, pad_w, 0, pad_h), mode=mode)
    H, W = image.shape[-2:]
    ys, xs = tile_starts(H, tile, overlap), tile_starts(W, tile, overlap)
    s_overlap, s_tile = overlap * scale, tile * scale
    out = None
    band = weight = None  # the float accumulator of rows [band_top, band_top + rows) of the output
    band_top = 0
    for row, y in enumerate(ys):
        results = []
        for i in range(0, len(xs), batch):
            chunk = xs[i : i + batch]
            results.append(fn(torch.cat([image[:, :, y : y + tile, x : x + tile] for x in chunk])).float().cpu())
        result = torch.cat(results)
        if out is None:
            c = result.shape[1]
            band = torch.zeros(c, 2 * s_tile, W * scale)
            weight = torch.zeros(1, 2 * s_tile, W * scale)
        wy = _ramp(s_tile, s_overlap, y > 0, y + tile < H)
        off = y * scale - band_top
        for x, piece in zip(xs, result):
            wx = _ramp(s_tile, s_overlap, x > 0, x + tile < W)
            wgt = wy[:, None] * wx[None, :]
            band[:, off : off + s_tile, x * scale : (x + tile) * scale] += piece * wgt
            weight[:, off : off + s_tile, x * scale : (x + tile) * scale] += wgt
        done = (ys[row + 1] if row + 1 < len(ys) else H) * scale  # rows above this are final
        rows = done - band_top
        piece = finish((band[:, :rows] / weight[:, :rows])[None])
        if out is None:
            out = torch.empty(1, piece.shape[1], H * scale, W * scale, dtype=piece.dtype)
        out[:, :, band_top:done] = piece
        band = torch.cat([band[:, rows:], torch.zeros_like(band[:, :rows])], dim=1)
        weight = torch.cat([weight[:, rows:], torch.zeros_like(weight[:, :rows])], dim=1)
        band_top = done
    return out[:, :, : h * scale, : w * scale]
