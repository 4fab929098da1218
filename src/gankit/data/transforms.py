"""Tensor-level image transforms used when fitting a dataset to the configured resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gankit.errors import DataError

# Upper bound on the float32 working memory of one resize chunk (input plus output), in bytes.
_CHUNK_BYTES = 256 * 1024 * 1024


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize square uint8 images (N, C, S, S) to (N, C, resolution, resolution).

    Method: each chunk of images is converted to float32 and resized with
    ``torch.nn.functional.interpolate(mode="bilinear", antialias=True, align_corners=False)``
    (a triangle filter that widens with the scale factor when shrinking, so downsampling does
    not alias; plain bilinear interpolation when enlarging), then rounded to the nearest
    integer, clamped to [0, 255] and cast back to uint8. Images are processed in chunks so
    that the float copies of a large dataset (60,000 MNIST digits, say) stay within a few
    hundred MB. Inputs must already be square (callers center-crop first); when they already
    have the requested size the input tensor itself is returned. The result lives on the
    input's device.
    """
    if images.dim() != 4:
        raise DataError(f"resize_images expects (N, C, H, W) images, got shape {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        raise DataError(f"resize_images expects uint8 images, got {images.dtype}: convert with to_uint8 first")
    n, c, h, w = images.shape
    if h != w:
        raise DataError(f"resize_images expects square images, got {h}x{w}: center-crop them first")
    if resolution < 1:
        raise DataError(f"resolution must be >= 1, got {resolution}")
    if h == resolution:
        return images
    out = torch.empty((n, c, resolution, resolution), dtype=torch.uint8, device=images.device)
    per_image = 4 * c * (h * w + resolution * resolution)
    chunk = max(1, _CHUNK_BYTES // per_image)
    for start in range(0, n, chunk):
        x = images[start : start + chunk].float()
        y = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out
