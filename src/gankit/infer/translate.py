"""``gankit translate``: a trained pix2pix or CycleGAN run applied to image files of any size.

Each file is decoded like training data (EXIF orientation; transparency composited on the run's
``data.background``; converted to the run's channels), then, by ``mode``:

* ``resize`` (the default): resized to the training resolution (the whole image, aspect not kept),
  translated, and the output resized back to the file's own size (bicubic). Right for inputs drawn like
  the training images (an emoji, a facade photo), whatever their pixel size.
* ``tile``: translated in overlapping training-size tiles at the file's own scale, blended without seams
  (:mod:`gankit.infer.tiles`); for large images whose content has the training data's scale. The U-Net's
  bottleneck sees one tile at a time.

Outputs are RGB (or grayscale) PNG files named after the inputs, in ``out``; a folder keeps its sub-folders.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.data import to_model_space, to_uint8
from gankit.data.folder import IMAGE_EXTENSIONS, open_image, scan_images
from gankit.errors import GankitError
from gankit.infer import LoadedModel
from gankit.infer.tiles import tiled_apply

MODES = ("resize", "tile")


def generator_for(loaded: LoadedModel, direction: str) -> torch.nn.Module:
    """The network that translates ``direction`` (a2b: the trained direction; b2a: CycleGAN's other generator)."""
    if loaded.family == "gan":
        raise GankitError(f"{loaded.path} is a gan run: it samples images from noise (gankit sample), it does not "
                          "translate them")
    name = {"a2b": "G_ab", "b2a": "G_ba"}[direction] if loaded.family == "cyclegan" else "G"
    if loaded.family == "pix2pix" and direction != "a2b":
        raise GankitError("--direction b2a needs a CycleGAN run; pix2pix learns one direction only (train another "
                          "run with --set data.direction=b2a)")
    return loaded.nets[name]


def translate_image(net: torch.nn.Module, image: np.ndarray, resolution: int, mode: str = "resize",
                    overlap: int | None = None) -> np.ndarray:
    """uint8 (H, W, C) -> uint8 (H, W, C): one image through ``net`` (see the module docstring for the modes)."""
    device = next(net.parameters()).device
    x = to_model_space(torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None])
    h, w = x.shape[-2:]

    def run(batch: torch.Tensor) -> torch.Tensor:
        return net(batch.to(device)).float().cpu()

    with torch.no_grad():
        if mode == "resize":
            small = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True,
                                  align_corners=False) if (h, w) != (resolution, resolution) else x
            y = run(small)
            if (h, w) != (resolution, resolution):
                y = F.interpolate(y, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)
        elif mode == "tile":
            y = tiled_apply(run, x, resolution, resolution // 4 if overlap is None else overlap)
        else:
            raise GankitError(f"--mode {mode!r}: choose one of {', '.join(MODES)}")
    return to_uint8(y)[0].permute(1, 2, 0).numpy()


def map_image_files(source: str, out: str, convert: Callable[[Path], np.ndarray]) -> list[Path]:
    """``convert(path) -> uint8 (H, W, C)`` (C 1, 3 or 4) for a file or every image under a folder, each result
    written atomically as ``out/<relative path>.png``; unreadable files are named and skipped. Returns the files
    written; an error when none could be."""
    src = Path(source).expanduser()
    if not src.exists():
        raise GankitError(f"--input {src} does not exist")
    if src.is_dir():
        root, files = src, scan_images(src)
        if not files:
            raise GankitError(f"no image files ({' '.join(IMAGE_EXTENSIONS)}) in {src}")
    else:
        root, files = src.parent, [Path(src.name)]
    out_dir = Path(out)
    written, failed = [], []
    for rel in files:
        try:
            result = convert(root / rel)
        except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:  # Pillow's bad-file errors
            failed.append(f"{rel}: {exc or type(exc).__name__}")
            print(f"[gankit] skipping unreadable image {rel}: {exc}", file=sys.stderr)
            continue
        target = out_dir / rel.with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        Image.fromarray(result[:, :, 0] if result.shape[2] == 1 else result).save(tmp, format="PNG")
        tmp.replace(target)
        written.append(target)
    if not written:
        raise GankitError(f"no image could be read from {src} ({len(failed)} failed; first: {failed[0]})")
    return written


def translate_path(loaded: LoadedModel, source: str, out: str, direction: str = "a2b", mode: str = "resize",
                   overlap: int | None = None) -> list[Path]:
    """Translate a file or every image under a folder into ``out``; returns the written files."""
    net = generator_for(loaded, direction)
    channels = loaded.cfg.data.channels
    background = tuple(loaded.data.get("background", loaded.cfg.data.background))

    def convert(path: Path) -> np.ndarray:
        image = np.asarray(open_image(path, channels, background), dtype=np.uint8)
        if image.ndim == 2:
            image = image[:, :, None]
        return translate_image(net, image, loaded.cfg.data.resolution, mode, overlap)

    return map_image_files(source, out, convert)
