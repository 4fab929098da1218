"""Image pairs and image sets on disk, decoded once into uint8 tensors cached like folder images.

The folder layouts are described in :mod:`gankit.data.paired`; this module reads them: two folders whose
files match by name (:func:`load_pairs_from_dirs`), side-by-side AB images (:func:`load_side_by_side`), or one
domain's folder (:func:`load_one_side`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gankit.data import Dataset
from gankit.data.folder import IMAGE_EXTENSIONS, decode_files, fit_square, open_image, scan_images
from gankit.errors import DataError
from gankit.paths import cache_dir

log = logging.getLogger("gankit.data")
_CACHE_VERSION = 1


# --------------------------------------------------------------------------- decoding with a cache


def _stems(files: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for rel in files:
        key = rel.with_suffix("").as_posix()
        if key in out:
            raise DataError(f"two files pair up as {key!r} ({out[key].name}, {rel.name}): rename one of them")
        out[key] = rel
    return out


def _cache_path(kind: str, payload: list) -> Path:
    digest = hashlib.sha256(json.dumps([_CACHE_VERSION, kind, *payload]).encode()).hexdigest()
    return cache_dir() / "folders" / f"{kind}-{digest[:32]}.npz"


def _listing(root: Path, files: list[Path]) -> list:
    return [str(root), [[f.as_posix(), (root / f).stat().st_size, (root / f).stat().st_mtime_ns] for f in files]]


def _load_cache(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        if path.exists():
            log.warning("ignoring unreadable cache %s: %s", path, exc)
        return None


def _save_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.warning("could not write the cache %s: %s", path, exc)


def _cached(kind: str, payload: list, compute: Callable[[], dict[str, np.ndarray]], where: Path) -> dict:
    path = _cache_path(kind, payload)
    got = _load_cache(path) if path.is_file() else None
    if got is not None:
        for message in got.get("failed", []):
            log.warning("skipping unreadable image %s", message)
        print(f"[gankit] using cached decode of {where} ({path})", file=sys.stderr)
        return got
    got = compute()
    _save_cache(path, got)
    return got


def _check_dir(path: Path, what: str) -> list[Path]:
    if not path.is_dir():
        raise DataError(f"{what} folder {path} does not exist: check data.path")
    files = scan_images(path)
    if not files:
        raise DataError(f"no image files ({' '.join(IMAGE_EXTENSIONS)}, any case) found in {path}: check data.path")
    return files


# --------------------------------------------------------------------------- the layouts


def load_pairs_from_dirs(dir_a: Path, dir_b: Path, resolution: int, channels: int, background: tuple[int, int, int],
                         name: str, only: list[str] | None = None) -> Dataset:
    """Pairs from two folders whose files match by path without extension (``only``: just these keys)."""
    files_a, files_b = _stems(_check_dir(dir_a, "A")), _stems(_check_dir(dir_b, "B"))
    lone_a = sorted(set(files_a) - set(files_b))
    lone_b = sorted(set(files_b) - set(files_a))
    for side, lone, other in (("A", lone_a, "B"), ("B", lone_b, "A")):
        if lone:
            log.warning("%d images in %s have no partner in %s and are left out (first: %s)", len(lone), side, other,
                        ", ".join(lone[:3]))
    keys = sorted(set(files_a) & set(files_b))
    if only is not None:
        wanted = set(only)
        keys = [k for k in keys if k in wanted]
    if not keys:
        raise DataError(f"no pairs: no file name in {dir_a} matches one in {dir_b} (pairs match by name without "
                        "the extension)")
    bg = tuple(int(v) for v in background)
    shape = (channels, resolution, resolution)

    def one(path: Path) -> np.ndarray:
        return fit_square(open_image(path, channels, bg), resolution).transpose(2, 0, 1)

    def decode(root: Path, files: list[Path]):
        return decode_files(root, files, one, shape)

    def compute() -> dict[str, np.ndarray]:
        print(f"[gankit] decoding {len(keys)} image pairs from {dir_a} and {dir_b} ...", file=sys.stderr)
        a, ok_a, failed_a = decode(dir_a, [files_a[k] for k in keys])
        b, ok_b, failed_b = decode(dir_b, [files_b[k] for k in keys])
        ok = ok_a & ok_b
        return {"A": a[ok], "B": b[ok], "ids": np.array([k for k, good in zip(keys, ok) if good], dtype=str),
                "failed": np.array([f"A/{m}" for m in failed_a] + [f"B/{m}" for m in failed_b], dtype=str)}

    payload = [_listing(dir_a, [files_a[k] for k in keys]), _listing(dir_b, [files_b[k] for k in keys]), resolution,
               channels, list(bg)]
    got = _cached("pairs", payload, compute, dir_a.parent)
    if not len(got["ids"]):
        raise DataError(f"no readable pairs in {dir_a} and {dir_b} ({len(got['failed'])} files failed)")
    return Dataset(name, {"A": torch.from_numpy(got["A"]), "B": torch.from_numpy(got["B"])},
                   ids=[str(s) for s in got["ids"]])


def load_side_by_side(folder: Path, resolution: int, channels: int, background: tuple[int, int, int],
                      name: str) -> Dataset:
    """Pairs stored as one image each, A on the left half and B on the right (the pix2pix datasets)."""
    files = _check_dir(folder, "paired")
    bg = tuple(int(v) for v in background)

    def halves(path: Path) -> np.ndarray:
        im = open_image(path, channels, bg)
        w, h = im.size
        if w < 2:
            raise ValueError(f"{w}x{h} is too narrow to hold two images side by side")
        left, right = im.crop((0, 0, w // 2, h)), im.crop((w // 2, 0, 2 * (w // 2), h))
        return np.stack([fit_square(left, resolution), fit_square(right, resolution)]).transpose(0, 3, 1, 2)

    def compute() -> dict[str, np.ndarray]:
        print(f"[gankit] decoding {len(files)} side-by-side pairs from {folder} ...", file=sys.stderr)
        both, ok, failed = decode_files(folder, files, halves, (2, channels, resolution, resolution), "pairs")
        ids = [f.with_suffix("").as_posix() for f, good in zip(files, ok) if good]
        return {"A": both[ok, 0], "B": both[ok, 1], "ids": np.array(ids, dtype=str),
                "failed": np.array(failed, dtype=str)}

    got = _cached("side-by-side", [_listing(folder, files), resolution, channels, list(bg)], compute, folder)
    if not len(got["ids"]):
        raise DataError(f"no readable images in {folder} ({len(got['failed'])} files failed)")
    return Dataset(name, {"A": torch.from_numpy(got["A"]), "B": torch.from_numpy(got["B"])},
                   ids=[str(s) for s in got["ids"]])


def load_one_side(folder: Path, key: str, resolution: int, channels: int, background: tuple[int, int, int],
                  name: str) -> Dataset:
    """Every image of one domain's folder, as field ``key`` (unpaired data)."""
    from gankit.data.folder import load_image_folder

    _check_dir(folder, key)
    images, _, _ = load_image_folder(folder, resolution, channels, tuple(background))
    return Dataset(name, {key: images})


def two_dirs(root: Path, split: str) -> tuple[Path, Path] | None:
    for a, b in ((root / split / "A", root / split / "B"), (root / f"{split}A", root / f"{split}B"),
                 (root / "A", root / "B")):
        if a.is_dir() and b.is_dir():
            return a, b
    return None
