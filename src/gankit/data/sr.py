"""Super-resolution data: high-resolution images, and the low-resolution inputs made from them on the device.

A super-resolution run holds only high-resolution (HR) images, decoded once as uint8 (N, C, R, R) like any image
folder: the built-in ``fluent-emoji-3d`` (:mod:`gankit.data.fluent`, 256 px, a fixed train/test split) or a
user's ``folder`` (its ``train/`` and ``test/`` sub-folders when it has both, else every image for training and
the first ones for the pictures and metrics, said so). Each batch takes a random ``data.patch`` x ``data.patch``
patch of each image (flipped and rotated when asked), and :func:`degrade` makes its low-resolution (LR) input:

1. optional Gaussian blur of std ``data.blur`` HR pixels (a separable kernel of 2 * ceil(3 sigma) + 1 taps,
   reflect-padded);
2. bicubic downsampling by ``scale`` with antialiasing (``torch.nn.functional.interpolate(mode="bicubic",
   antialias=True)``: the bicubic kernel stretched by the scale factor, as MATLAB's ``imresize`` and PIL's
   BICUBIC resize do, which is how the SR benchmarks make their LR images);
3. optional Gaussian noise of std ``data.noise`` (in 0..255 levels), drawn from the caller's generator;
4. rounding to the 8-bit grid and clamping, so that training inputs look like LR images saved as PNG;
5. optional JPEG compression (``data.jpeg``: the lowest quality; each image gets a quality drawn uniformly from
   [jpeg, 95], the range Real-ESRGAN draws from with its lowest at 30: Wang et al. 2021), by Pillow's encoder
   and decoder on the CPU (4:2:0 chroma subsampling, Pillow's default), so that inputs carry the blocking and
   ringing of web pictures.

The test images get the same degradation (with a fixed seed for noise and JPEG qualities), so the metrics judge
the model on LR inputs made the way its training inputs were.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.config import DataConfig
from gankit.data import Dataset, to_model_space, to_uint8
from gankit.errors import DataError


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, C, H, W) blurred by a normalised Gaussian of std ``sigma`` pixels (separable, reflect-padded)."""
    if sigma <= 0:
        return x
    # 2 * ceil(3 sigma) + 1 taps, fewer on an image too small to reflect that far
    radius = min(max(1, math.ceil(3 * sigma)), x.shape[2] - 1, x.shape[3] - 1)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = (g / g.sum()).to(x.dtype)
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Model-space images ([-1, 1]) rounded to the 256 levels of an 8-bit image and clamped."""
    return ((x + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1


def downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic downsampling of (B, C, H, W) by an integer ``scale`` (H and W multiples of it)."""
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"a {h}x{w} image cannot be downscaled by {scale}: crop it to a multiple first")
    return F.interpolate(hr.float(), size=(h // scale, w // scale), mode="bicubic", antialias=True,
                         align_corners=False)


def jpeg_compress(x: torch.Tensor, lowest: int, generator: torch.Generator | None = None,
                  highest: int = 95) -> torch.Tensor:
    """Model-space images (B, 1 or 3, H, W) through a JPEG encode and decode (Pillow), each at a quality drawn
    uniformly from [lowest, highest] with ``generator`` (a CPU generator, or the global CPU one)."""
    import io

    import numpy as np
    from PIL import Image

    if x.shape[1] not in (1, 3):
        raise ValueError(f"JPEG compression needs 1 or 3 channels, got {x.shape[1]}")
    qualities = torch.randint(lowest, highest + 1, (x.shape[0],), generator=generator).tolist()
    pixels = to_uint8(x.detach()).cpu().permute(0, 2, 3, 1).numpy()
    out = []
    for image, quality in zip(pixels, qualities):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer))
        out.append(torch.from_numpy(decoded.reshape(image.shape).copy()))
    return to_model_space(torch.stack(out).permute(0, 3, 1, 2).to(x.device))


def degrade(hr: torch.Tensor, scale: int, blur: float = 0.0, noise: float = 0.0,
            generator: torch.Generator | None = None, jpeg: int = 0) -> torch.Tensor:
    """The LR input of HR images (model space, (B, C, H, W)): blur, bicubic downscale, noise, 8-bit rounding,
    JPEG at a random quality in [jpeg, 95] when ``jpeg`` > 0."""
    lr = downscale(gaussian_blur(hr.float(), blur), scale)
    if noise > 0:
        lr = lr + torch.randn(lr.shape, generator=generator, device=lr.device) * (noise / 127.5)
    lr = quantize(lr)
    if jpeg > 0:
        cpu_generator = generator if generator is None or generator.device.type == "cpu" else None
        lr = jpeg_compress(lr, jpeg, cpu_generator)
    return lr


def bicubic_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The plain bicubic upscale of model-space LR images (the baseline a model must beat), clamped to [-1, 1]."""
    return F.interpolate(lr.float(), scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)


def nearest_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Each LR pixel repeated ``scale`` x ``scale`` times."""
    return F.interpolate(lr.float(), scale_factor=scale, mode="nearest")


def crop_to_multiple(images: torch.Tensor, scale: int) -> torch.Tensor:
    """(N, C, H, W) cropped at the bottom and right to multiples of ``scale`` (as SR test sets are)."""
    h, w = images.shape[-2:]
    return images[..., : h - h % scale, : w - w % scale]


def _folder_splits(root: Path, split: str) -> tuple[Path, str]:
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root / split, f"{root}/{split}"
    return root, f"{root} (no train/ and test/ sub-folders: {split} uses every image)"


def load_hr(cfg: DataConfig, split: str) -> Dataset:
    """The HR images of ``split`` (uint8 (N, C, R, R) in field ``x``, file order)."""
    from gankit.data.folder import load_image_folder

    if cfg.name == "fluent-emoji-3d":
        from gankit.data.fluent import fluent_folder

        folder, where = fluent_folder(split), f"fluent-emoji-3d:{split}"
    elif cfg.name == "folder":
        folder, where = _folder_splits(Path(cfg.path).expanduser(), split)
    else:
        raise DataError(f"data.name={cfg.name} is not super-resolution data: use fluent-emoji-3d or folder")
    images, _, _ = load_image_folder(folder, cfg.resolution, cfg.channels, tuple(cfg.background))
    print(f"[gankit] {where}: {len(images)} images of {cfg.resolution}x{cfg.resolution}", file=sys.stderr)
    return Dataset.images(where, images)


PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # scikit-image's bundled RGB photographs


def load_photos(names: tuple[str, ...] = PHOTOS) -> dict[str, torch.Tensor]:
    """Photographs that ship inside the scikit-image wheel (no download), as uint8 (1, 3, H, W) each."""
    try:
        import skimage.data
    except ImportError:
        raise DataError("the photograph test set comes from scikit-image: pip install scikit-image") from None
    photos = {}
    for name in names:
        arr = getattr(skimage.data, name)()
        photos[name] = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].contiguous()
    return photos
