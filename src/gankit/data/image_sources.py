"""Image sets named on the command line or in a config: built-in splits, folders, .npz/.npy files.

:func:`load_images` turns a spec into uint8 (N, C, H, W) images at a chosen resolution and channel
count, with a content key that identifies them for the real-feature cache of the metrics:

* a built-in split, ``mnist:test``, ``fashion-mnist:train``, ``digits``, ``emoji-pairs:test`` (its B side,
  the Twitter images; ``emoji-pairs:test:A`` for the Google side);
* a folder of image files (decoded like training data, see :mod:`gankit.data.folder`);
* an ``.npz`` / ``.npy`` file of uint8 images, (N, H, W), (N, H, W, C) or (N, C, H, W).

Real images are brought to the resolution the generator works at with the same resize as training data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.errors import GankitError

BUILTIN_SPLITS = {"mnist": ("train", "test"), "fashion-mnist": ("train", "test"), "digits": ("train",),
                  "emoji-pairs": ("train", "test"), "fluent-emoji-3d": ("train", "test", "all")}


@dataclass
class ImageSet:
    """uint8 images (N, C, H, W), labels asked for (conditional samples) and where they came from."""

    images: torch.Tensor
    description: str
    key: str  # identifies the content for the statistics cache
    requested: torch.Tensor | None = None


# --------------------------------------------------------------------------- sources


def _subset(images: torch.Tensor, n: int | None, seed: int) -> tuple[torch.Tensor, str]:
    if n is None or n >= len(images):
        return images, "all"
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx], f"random {n} of {len(images)} (seed {seed})"


def _to_nchw(arr: np.ndarray, where: str) -> torch.Tensor:
    if arr.dtype != np.uint8:
        raise GankitError(f"{where}: expected uint8 images, got {arr.dtype} (scale to 0..255 and cast to uint8)")
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise GankitError(f"{where}: expected images shaped (N,H,W), (N,H,W,C) or (N,C,H,W) with C 1 or 3, "
                          f"got {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def fit_image_set(images: torch.Tensor, resolution: int | None, channels: int | None) -> torch.Tensor:
    """uint8 images brought to ``channels`` (gray <-> RGB) and, if square, to ``resolution`` (the training resize)."""
    from gankit.data.transforms import resize_images

    if channels == 3 and images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1).contiguous()
    elif channels == 1 and images.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    if resolution and images.shape[-1] != resolution:
        if images.shape[-1] != images.shape[-2]:
            raise GankitError(f"images of {images.shape[-2]}x{images.shape[-1]} are not square; crop them first")
        images = resize_images(images, resolution)
    return images


def load_images(spec: str, n: int | None = None, seed: int = 0, resolution: int | None = None,
                channels: int | None = None) -> ImageSet:
    """Real images from a built-in split, a folder or an .npz/.npy file (see the module docstring)."""
    name, _, split = spec.partition(":")
    split, _, side = split.partition(":")
    if name in BUILTIN_SPLITS and not Path(spec).exists():
        from gankit.data import builtin

        split = split or BUILTIN_SPLITS[name][-1]
        if split not in BUILTIN_SPLITS[name]:
            raise GankitError(f"{spec!r}: {name} has the splits {', '.join(BUILTIN_SPLITS[name])}")
        if name == "emoji-pairs":
            images, side = _emoji_side(split, side or "B", resolution, channels)
            content = f"{name}:{split}:{side}:{len(images)}"
        elif name == "fluent-emoji-3d":
            from gankit.data.fluent import load_fluent_images

            images = load_fluent_images(split, resolution or 256, channels or 3)[0]
            content = f"{name}:{split}:{len(images)}"
        else:
            loader = {"mnist": builtin.load_mnist, "fashion-mnist": builtin.load_fashion_mnist}.get(name)
            images = loader(split)[0] if loader else builtin.load_digits()[0]
            content = f"{name}:{split}:{len(images)}"
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise GankitError(f"{spec!r} is neither a file, a folder, nor a built-in split "
                              f"({', '.join(f'{k}:{v[-1]}' for k, v in BUILTIN_SPLITS.items())})")
        if path.is_dir():
            from gankit.data.folder import folder_key, load_image_folder

            res = resolution or _first_image_size(path)
            ch = channels or 3
            images = load_image_folder(path, res, ch)[0]
            content = f"folder:{folder_key(path, res, ch)}"
        elif path.suffix in (".npz", ".npy"):
            try:
                loaded = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise GankitError(f"cannot read {path}: {exc}") from None
            if isinstance(loaded, np.lib.npyio.NpzFile):
                key = "images" if "images" in loaded.files else loaded.files[0]
                arr = loaded[key]
            else:
                arr = loaded
            images = _to_nchw(arr, str(path))
            st = path.stat()
            content = f"file:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        else:
            raise GankitError(f"{spec}: expected a folder, an .npz/.npy file or a built-in split")
    images, subset = _subset(images, n, seed)
    images = fit_image_set(images, resolution, channels)
    key = f"{content}|{subset}|{tuple(images.shape[1:])}"
    return ImageSet(images, f"{spec} ({subset})", key)


def _emoji_side(split: str, side: str, resolution: int | None, channels: int | None) -> tuple[torch.Tensor, str]:
    """One side of the emoji pairs (A: Google, B: Twitter), composited on white, at ``resolution``."""
    from gankit.data.emoji import load_emoji_pairs

    if side not in ("A", "B"):
        raise GankitError(f"emoji-pairs:{split}:{side}: the side is A (Google) or B (Twitter)")
    pairs = load_emoji_pairs(split, resolution or 64, channels or 3, (255, 255, 255))
    return pairs.fields[side], side


def _first_image_size(folder: Path) -> int:
    from PIL import Image

    from gankit.data.folder import IMAGE_EXTENSIONS

    for root, _, files in os.walk(folder):
        for f in sorted(files):
            if f.lower().endswith(IMAGE_EXTENSIONS):
                try:
                    with Image.open(Path(root, f)) as im:
                        return min(im.size)
                except OSError:
                    continue
    raise GankitError(f"{folder}: no readable image files")


def default_reference(data: dict) -> str:
    """The real images a run is compared with by default: the test split of a built-in, else its training data."""
    name = data["dataset"]
    if name == "emoji-pairs":
        return "emoji-pairs:test:" + ("B" if data.get("direction", "a2b") == "a2b" else "A")
    if name in ("mnist", "fashion-mnist"):
        return f"{name}:test"
    if name == "digits":
        return "digits"
    if name == "fluent-emoji-3d":  # every picture of the split trained on (a subset's run: its whole split)
        return f"fluent-emoji-3d:{data.get('split') or 'all'}"
    if name == "folder" and data.get("path"):
        return data["path"]
    raise GankitError(f"no default reference images for dataset {name!r}: pass --ref")


def default_extractor(dataset: str) -> str:
    return {"mnist": "mnist-classifier", "fashion-mnist": "fashion-mnist-classifier"}.get(dataset, "inception")


