"""Two image domains, A and B: aligned pairs (pix2pix) or two unmatched sets (CycleGAN).

Folder layouts (``data.path``; the first that exists is used, ``<split>`` being ``data.split``):

* paired, two folders: ``PATH/<split>/A`` + ``PATH/<split>/B``, ``PATH/<split>A`` + ``PATH/<split>B``, or
  ``PATH/A`` + ``PATH/B``. Files pair up by their path inside A and B without the extension (``A/x.png``
  with ``B/x.jpg``); a file without a partner is reported (count and first names) and left out.
* paired, side by side (the layout of the pix2pix datasets): ``PATH/<split>/*`` or ``PATH/*``, each file
  one image holding A on its left half and B on its right half.
* unpaired: ``PATH/<split>/A`` + ``PATH/<split>/B``, ``PATH/<split>A`` + ``PATH/<split>B`` (the CycleGAN
  datasets' ``trainA``/``trainB``), or ``PATH/A`` + ``PATH/B``, any number of files on each side.

Every image is decoded like a folder image (:mod:`gankit.data.folder`: EXIF, transparency composited on
``data.background``, center crop, LANCZOS resize to ``data.resolution``), once, into uint8 tensors cached
on disk; unreadable files are named and skipped (a pair with an unreadable half is dropped whole).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit.config import DataConfig
from gankit.data import Dataset
from gankit.data.emoji import base_code, load_emoji_pairs
from gankit.data.folder import scan_images
from gankit.data.pair_files import load_one_side, load_pairs_from_dirs, load_side_by_side, two_dirs
from gankit.errors import DataError

HALVES_SEED = 7  # the fixed split of paired training data into an A half and a B half (data.unpaired_halves)


@dataclass
class TranslationData:
    """What a translation task draws from: ``a`` (field ``A``) and ``b`` (field ``B``), and ``pairs`` (both
    fields, aligned) when the pairs are known and may be used."""

    a: Dataset
    b: Dataset
    pairs: Dataset | None


# --------------------------------------------------------------------------- what a task trains on


def _swap(ds: Dataset) -> Dataset:
    """The same data with the roles of A and B exchanged (data.direction=b2a)."""
    renamed = {{"A": "B", "B": "A"}.get(k, k): v for k, v in ds.fields.items()}
    return Dataset(ds.name, dict(sorted(renamed.items())), ds.class_names, ids=ds.ids)


def _only(ds: Dataset, key: str) -> Dataset:
    return Dataset(ds.name, {key: ds.fields[key]}, ids=ds.ids)


def halves(ids: list[str], group: Callable[[str], str] = lambda s: s) -> tuple[list[int], list[int]]:
    """Indices of an A half and a B half of ``ids``, whole groups to one side (a fixed, seeded split)."""
    groups = sorted({group(i) for i in ids})
    perm = np.random.default_rng(HALVES_SEED).permutation(len(groups))
    first = {groups[i] for i in perm[: len(groups) // 2]}
    side_a = [k for k, i in enumerate(ids) if group(i) in first]
    side_b = [k for k, i in enumerate(ids) if group(i) not in first]
    return side_a, side_b


def load_paired(cfg: DataConfig, split: str) -> Dataset:
    """The pairs of a paired source (emoji-pairs or a paired folder), fields A and B in ``cfg.direction``."""
    bg = tuple(cfg.background)
    if cfg.name == "emoji-pairs":
        ds = load_emoji_pairs(split, cfg.resolution, cfg.channels, bg)
    elif cfg.name == "paired-folder":
        root = Path(cfg.path).expanduser()
        if not root.is_dir():
            raise DataError(f"paired folder {root} does not exist: check data.path")
        dirs = two_dirs(root, split)
        name = f"paired-folder:{root}:{split}"
        if dirs:
            ds = load_pairs_from_dirs(*dirs, cfg.resolution, cfg.channels, bg, name)
        elif (root / split).is_dir():
            ds = load_side_by_side(root / split, cfg.resolution, cfg.channels, bg, name)
        elif split == "train" and scan_images(root) and not any((root / s).is_dir() for s in ("test", "val")):
            ds = load_side_by_side(root, cfg.resolution, cfg.channels, bg, name)
        else:
            raise DataError(f"no {split} pairs in {root}: expected {split}/A and {split}/B, {split}A and {split}B, "
                            f"A and B, or side-by-side images in {split}/ (see gankit.data.paired)")
    else:
        raise DataError(f"data.name={cfg.name} is not a paired source")
    return _swap(ds) if cfg.direction == "b2a" else ds


def load_translation(cfg: DataConfig, split: str = "train") -> TranslationData:
    """The ``split`` of any translation source, as the task draws from it (see :class:`TranslationData`)."""
    if cfg.name == "unpaired-folder":
        root = Path(cfg.path).expanduser()
        dirs = two_dirs(root, split) if root.is_dir() else None
        if dirs is None:
            raise DataError(f"no {split} images in {root}: an unpaired folder holds {split}/A and {split}/B, "
                            f"{split}A and {split}B, or A and B")
        a_dir, b_dir = dirs if cfg.direction == "a2b" else dirs[::-1]
        a = load_one_side(a_dir, "A", cfg.resolution, cfg.channels, tuple(cfg.background), f"{root}:{split}:A")
        b = load_one_side(b_dir, "B", cfg.resolution, cfg.channels, tuple(cfg.background), f"{root}:{split}:B")
        return TranslationData(a, b, None)
    pairs = load_paired(cfg, split)
    if cfg.unpaired_halves and split == "train":
        group = base_code if cfg.name == "emoji-pairs" else (lambda s: s)
        side_a, side_b = halves(pairs.ids, group)
        a = _only(pairs.select(side_a, f"{pairs.name} (A half)"), "A")
        b = _only(pairs.select(side_b, f"{pairs.name} (B half)"), "B")
        return TranslationData(a, b, None)
    return TranslationData(_only(pairs, "A"), _only(pairs, "B"), pairs)
