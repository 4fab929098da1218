"""A folder of image files as one uint8 tensor, decoded once and cached on disk.

Files are found recursively (hidden files and folders skipped) and sorted by relative path, so
the order, and with it every label, is the same on every machine. The decoded tensor is kept
under ``cache_dir()/"folders"/<key>.npz``; the key covers the settings and every file's
relative path, size and modification time, so editing, adding or removing an image decodes the
folder again while an unchanged folder is read back from the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from gankit.errors import DataError
from gankit.paths import cache_dir

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp")
_FORMAT_VERSION = 1
_PROGRESS_MIN_FILES = 2000
# the largest picture decoded (8192 x 8192); a bigger one is refused before its pixels are read, which bounds the
# memory a decompression bomb (a tiny file that claims a huge size) can take
MAX_PIXELS = 8192 * 8192

log = logging.getLogger("gankit.data")


def scan_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursively, hidden entries skipped), as sorted relative paths."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(Path(dirpath, name).relative_to(root))
    return sorted(found, key=lambda p: p.as_posix())


def _cache_key(root: Path, files: list[Path], resolution: int, channels: int, background: tuple[int, ...]) -> str:
    entries = []
    for rel in files:
        try:
            st = (root / rel).stat()
            entries.append([rel.as_posix(), st.st_size, st.st_mtime_ns])
        except OSError:  # a dangling link or a link loop: decoding names and skips it
            entries.append([rel.as_posix(), -1, -1])
    payload = [_FORMAT_VERSION, str(root), resolution, channels, list(background), entries]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def _labels(files: list[Path]) -> tuple[np.ndarray | None, list[str]]:
    """Labels from top-level sub-folders, if every file is in one and there are at least two."""
    if not files or any(len(rel.parts) < 2 for rel in files):
        return None, []
    names = sorted({rel.parts[0] for rel in files})
    if len(names) < 2:
        return None, []
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[rel.parts[0]] for rel in files], dtype=np.int64), names


def open_image(path: Path, channels: int, background: tuple[int, int, int]) -> Image.Image:
    """One file as a Pillow image in mode "L" (channels=1) or "RGB" (channels=3), at its own size.

    The first frame of an animation, turned upright by its EXIF orientation, 16-bit grayscale scaled (not
    clipped) to 8 bits, and composited over ``background`` when it has transparency.
    """
    with Image.open(path) as opened:
        w, h = opened.size
        if w * h > MAX_PIXELS:
            raise DataError(f"{w}x{h} pixels, more than the {MAX_PIXELS:,} gankit decodes (a decompression bomb?)")
        opened.seek(0)  # first frame of an animation
        opened.load()
        im = ImageOps.exif_transpose(opened)  # a copy, rotated/mirrored as the EXIF orientation says
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grayscale: scale, do not clip
        im = Image.fromarray((np.asarray(im, dtype=np.float64) / 257).round().clip(0, 255).astype(np.uint8))
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        im = Image.alpha_composite(base, rgba).convert("RGB")
    return im.convert("L" if channels == 1 else "RGB")


def fit_square(im: Image.Image, resolution: int) -> np.ndarray:
    """Center-crop to a square on the shorter side, resize (LANCZOS) to resolution^2: uint8 (R, R, C)."""
    w, h = im.size
    side = min(w, h)
    if w != h:
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
    if side != resolution:
        im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _decode(path: Path, resolution: int, channels: int, background: tuple[int, int, int]) -> np.ndarray:
    """One file as uint8 (resolution, resolution, channels)."""
    return fit_square(open_image(path, channels, background), resolution)


def decode_files(root: Path, files: list[Path], decode, shape: tuple[int, ...],
                 what: str = "images") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``decode(path) -> uint8 array of shape`` for every file: (stacked (N, *shape), ok mask, failures).

    Unreadable files are logged by name (logger ``gankit.data``), kept out of the mask and listed as
    "path: reason"; a progress bar shows on large folders.
    """
    out = np.zeros((len(files), *shape), dtype=np.uint8)
    keep = np.zeros(len(files), dtype=bool)
    failed: list[str] = []
    iterator = files
    if len(files) > _PROGRESS_MIN_FILES:
        from tqdm import tqdm

        iterator = tqdm(files, desc=f"decoding {what}", unit="img", file=sys.stderr)
    for i, rel in enumerate(iterator):
        try:
            out[i] = decode(root / rel)
            keep[i] = True
        except Exception as exc:  # Pillow raises many exception types for bad or truncated files
            reason = str(exc) or type(exc).__name__
            failed.append(f"{rel.as_posix()}: {reason}")
            log.warning("skipping unreadable image %s: %s", rel.as_posix(), reason)
    return out, keep, failed


def _check_args(resolution: int, channels: int, background: tuple[int, ...]) -> tuple[int, int, int]:
    if channels not in (1, 3):
        raise DataError(f"image folders need channels 1 (grayscale) or 3 (RGB), got {channels}: set data.channels")
    if resolution < 1:
        raise DataError(f"resolution must be a positive number of pixels, got {resolution}: set data.resolution")
    values = [int(v) for v in background]
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise DataError(f"background must be three values 0..255 (R, G, B), got {tuple(background)}")
    return values[0], values[1], values[2]


def _read_cache(path: Path) -> tuple[torch.Tensor, torch.Tensor | None, list[str], list[str]] | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            images = torch.from_numpy(npz["images"].copy())
            labels = torch.from_numpy(npz["labels"].copy()) if bool(npz["has_labels"]) else None
            names = [str(s) for s in npz["class_names"]]
            failed = [str(s) for s in npz["failed"]]
    except (OSError, KeyError, ValueError) as exc:
        log.warning("ignoring unreadable folder cache %s: %s", path, exc)
        return None
    return images, labels, names, failed


def _write_cache(
    path: Path, images: np.ndarray, labels: np.ndarray | None, names: list[str], failed: list[str]
) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(
                f,
                images=images,
                labels=labels if labels is not None else np.zeros(0, dtype=np.int64),
                has_labels=np.array(labels is not None),
                class_names=np.array(names, dtype=str),
                failed=np.array(failed, dtype=str),
            )
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.warning("could not write the folder cache %s: %s", path, exc)


def folder_key(path: str | os.PathLike, resolution: int, channels: int,
               background: tuple[int, ...] = (255, 255, 255)) -> str:
    """The hash that names a folder's decoded cache: settings plus every file's path, size and mtime."""
    root = Path(path).expanduser().resolve()
    return _cache_key(root, scan_images(root), resolution, channels, tuple(background))


def load_image_folder(
    path: str | os.PathLike,
    resolution: int,
    channels: int,
    background: tuple[int, int, int] = (255, 255, 255),
    cache: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """Every image under ``path`` as uint8 (N, channels, resolution, resolution), labels, class names.

    Accepted files: .png .jpg .jpeg .webp .bmp .gif (any case), found recursively, hidden files
    and folders skipped, sorted by relative path. Each is decoded with Pillow: the first frame of
    an animation, turned upright by its EXIF orientation, composited over ``background`` when it
    has transparency (RGBA, LA, or a palette/grayscale/RGB image with a transparent colour),
    converted to "L" (channels=1) or "RGB" (channels=3), center-cropped to a square on its shorter
    side and resized to resolution x resolution with Pillow's LANCZOS filter. Unreadable files are
    logged by name (logger ``gankit.data``) and skipped.

    Labels: when every image lies inside a sub-folder and there are at least two distinct
    top-level sub-folders, the label of an image is the index of its top-level sub-folder in the
    sorted list of those names, which is returned as ``class_names``; otherwise the labels are
    None and ``class_names`` is empty.

    With ``cache`` the decoded tensor is saved (atomically, as .npz without pickle) under
    ``cache_dir()/"folders"`` and reused while the folder and the settings are unchanged.
    """
    bg = _check_args(resolution, channels, background)
    root = Path(path).expanduser().absolute()
    if not root.exists():
        raise DataError(f"image folder {root} does not exist: check data.path")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder: set data.path to the folder that holds the images")
    files = scan_images(root)
    if not files:
        raise DataError(f"no image files ({' '.join(IMAGE_EXTENSIONS)}, any case) found in {root}: check data.path")
    labels, class_names = _labels(files)

    cache_file = cache_dir() / "folders" / f"{_cache_key(root, files, resolution, channels, bg)}.npz"
    if cache and cache_file.is_file():
        cached = _read_cache(cache_file)
        if cached is not None:
            images_t, labels_t, names, failed = cached
            for message in failed:
                log.warning("skipping unreadable image %s", message)
            print(f"[gankit] using cached decode of {len(images_t)} images from {root} ({cache_file})", file=sys.stderr)
            return images_t, labels_t, names

    print(f"[gankit] decoding {len(files)} images from {root} ...", file=sys.stderr)
    out, keep, failed = decode_files(root, files, lambda p: _decode(p, resolution, channels, bg).transpose(2, 0, 1),
                                     (channels, resolution, resolution))
    if not keep.any():
        raise DataError(f"no readable images in {root} ({len(failed)} files failed, first: {failed[0]})")
    if failed:
        out = out[keep]
        labels = labels[keep] if labels is not None else None
    if cache:
        _write_cache(cache_file, out, labels, class_names, failed)
    return torch.from_numpy(out), torch.from_numpy(labels) if labels is not None else None, class_names
