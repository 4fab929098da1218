"""``gankit upscale``: a trained super-resolution run applied to image files of any size, in bounded memory.

Each file is decoded like training data (first frame, EXIF orientation, converted to the run's channels, any
transparency composited on the run's ``data.background``) and upscaled by the run's ``model.scale`` in
overlapping tiles (:func:`gankit.infer.tiles.tiled_apply`, ``tile`` x ``tile`` LR pixels, ``overlap`` pixels
shared, blended with linear ramps so that no seam shows). Finished rows are kept as uint8, so memory is the
output image in bytes plus one band of tiles in float, whatever the file's size.

An alpha channel is kept: it is upscaled with bicubic interpolation (the network never saw alpha) and attached to
the upscaled colour, which was composited on the background before upscaling (half-transparent edge pixels carry
some background colour, as they would when shown on it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.data import to_model_space, to_uint8
from gankit.data.folder import open_image
from gankit.errors import GankitError
from gankit.infer import LoadedModel
from gankit.infer.tiles import tiled_apply
from gankit.infer.translate import map_image_files


def _alpha(path: Path) -> np.ndarray | None:
    """The file's alpha channel as uint8 (H, W) (upright by EXIF), or None when it has no transparency."""
    from PIL import ImageOps

    with Image.open(path) as opened:
        opened.seek(0)
        opened.load()
        if not (opened.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in opened.info):
            return None
        im = ImageOps.exif_transpose(opened)
    return np.asarray(im.convert("RGBA"), dtype=np.uint8)[:, :, 3]


def upscale_array(net: torch.nn.Module, image: np.ndarray, scale: int, tile: int = 96, overlap: int = 16,
                  batch: int = 4) -> np.ndarray:
    """uint8 (H, W, C) -> uint8 (H * scale, W * scale, C) through ``net`` in tiles."""
    device = next(net.parameters()).device
    x = to_model_space(torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None])

    def run(tiles: torch.Tensor) -> torch.Tensor:
        return net(tiles.to(device)).float().cpu()

    with torch.no_grad():
        y = tiled_apply(run, x, tile, overlap, scale=scale, batch=batch, finish=to_uint8)
    return y[0].permute(1, 2, 0).numpy()


def upscale_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """uint8 (H, W) alpha -> (H * scale, W * scale) by bicubic interpolation, rounded and clamped."""
    a = torch.from_numpy(np.array(alpha, dtype=np.float32))[None, None]
    up = F.interpolate(a, scale_factor=scale, mode="bicubic", align_corners=False)
    return up.round().clamp(0, 255).to(torch.uint8)[0, 0].numpy()


def upscale_path(loaded: LoadedModel, source: str, out: str, scale: int | None = None, tile: int = 96,
                 overlap: int = 16) -> list[Path]:
    """Upscale a file or every image under a folder into ``out`` (PNG); returns the written files."""
    if loaded.family != "sr":
        raise GankitError(f"{loaded.path} is a {loaded.family} run; gankit upscale needs a super-resolution (sr) run")
    trained = loaded.cfg.model.scale
    if scale is not None and scale != trained:
        raise GankitError(f"--scale {scale}: this run upscales by {trained}; train a x{scale} model "
                          f"(--set model.scale={scale}) or leave --scale out")
    if tile < 8 or not 0 <= overlap < tile // 2:
        raise GankitError(f"--tile {tile} --overlap {overlap}: the tile needs at least 8 px and the overlap less "
                          "than half of it")
    net = loaded.net
    channels = loaded.cfg.data.channels
    background = tuple(loaded.data.get("background", loaded.cfg.data.background))

    def convert(path: Path) -> np.ndarray:
        image = np.asarray(open_image(path, channels, background), dtype=np.uint8)
        if image.ndim == 2:
            image = image[:, :, None]
        result = upscale_array(net, image, trained, tile, overlap)
        alpha = _alpha(path)
        if alpha is not None and channels == 3:
            result = np.concatenate([result, upscale_alpha(alpha, trained)[:, :, None]], axis=2)
        return result

    return map_image_files(source, out, convert)
