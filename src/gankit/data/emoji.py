"""``emoji-pairs``: the same 3,786 emoji drawn by Google (A) and by Twitter (B), a real paired style task.

The npm packages ``emoji-datasource-google@16.0.0`` (Apache-2.0) and ``emoji-datasource-twitter@16.0.0``
(CC-BY-4.0) ship ``img/<style>/64/<code>.png`` for the same codes, RGBA 64x64. :func:`fetch_emoji` runs
``npm pack`` for each, checks the tarball's SHA-256, copies out the 64 px PNGs into
``cache_dir()/"emoji"/<style>/`` and checks them against a digest of every file's name and SHA-256.

The split is fixed and shipped with the package (``emoji_pairs_test.txt``): 386 of the 1,930 *base*
emoji (20%, a ``numpy.random.default_rng(2026)`` permutation of the sorted base codes), where a code's
base is the code without its skin-tone parts (1f3fb-1f3ff). All skin-tone variants of an emoji fall on
the same side, so no test picture has a recoloured twin in training: 752 test codes, 3,034 train codes.
"""

from __future__ import annotations

import hashlib
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from gankit.data.pair_files import load_pairs_from_dirs
from gankit.errors import DataError
from gankit.fetch import install_npm_folder, sha256_file
from gankit.paths import cache_dir

STYLES = {
    # style: (npm package, tarball SHA-256, number of 64 px files, digest of their names and SHA-256s)
    "google": ("emoji-datasource-google@16.0.0", "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438",
               3786, "f425b88bc954b96ad30180a3ba00c5788d1e1d1972732ac531b87313ab4a9fa6"),
    "twitter": ("emoji-datasource-twitter@16.0.0", "f64a530c63bca463bd8317fdc4615ce63a53a0c65018e4ce2d848aaba7a28877",
                3786, "4cf488aa08fd2802c858e963fea5a48c9c39a78f4f224d29f8e014b05dd8feec"),
}
DOMAINS = ("google", "twitter")  # A, B
SKIN_TONES = ("1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff")
LICENCES = {"google": "Apache-2.0", "twitter": "CC-BY-4.0"}
NPM_HINT = "install npm (e.g. apt-get install npm) and check access to the npm registry"


def base_code(code: str) -> str:
    """The emoji a code draws, without skin tone: ``1f44d-1f3fd`` -> ``1f44d`` (the five tone swatches alone
    share the base ``skin-tone``)."""
    return "-".join(p for p in code.split("-") if p not in SKIN_TONES) or "skin-tone"


def shipped_test_codes() -> list[str]:
    """The shipped test split (sorted codes)."""
    text = (resources.files("gankit") / "data" / "emoji_pairs_test.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def split_codes(codes: list[str], test_fraction: float = 0.2, seed: int = 2026) -> list[str]:
    """The rule that made ``emoji_pairs_test.txt``: codes of a seeded ``test_fraction`` of the base emoji."""
    bases = sorted({base_code(c) for c in codes})
    perm = np.random.default_rng(seed).permutation(len(bases))
    chosen = {bases[i] for i in perm[: round(test_fraction * len(bases))]}
    return [c for c in sorted(codes) if base_code(c) in chosen]


def _digest(folder: Path, names: list[str]) -> str:
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0" + sha256_file(folder / name).encode() + b"\n")
    return h.hexdigest()


def _verified(folder: Path, style: str) -> bool:
    _, _, count, digest = STYLES[style]
    if not folder.is_dir():
        return False
    names = sorted(p.name for p in folder.iterdir() if p.suffix == ".png")
    return len(names) == count and _digest(folder, names) == digest


def fetch_emoji() -> Path:
    """Make sure both styles' verified 64 px PNGs are in ``cache_dir()/"emoji"``; return that folder."""
    root = cache_dir() / "emoji"
    for style in DOMAINS:
        folder = root / style
        if _verified(folder, style):
            continue
        package, tgz_sha, _, _ = STYLES[style]
        print(f"[gankit] fetching the {style} emoji from npm package {package} ...", file=sys.stderr)
        install_npm_folder(package, tgz_sha, f"package/img/{style}/64/", folder, lambda staged: None,
                           lambda staged, s=style: _verified(staged, s), NPM_HINT)
    return root


def load_emoji_pairs(split: str, resolution: int, channels: int, background: tuple[int, int, int]):
    """The ``split`` ("train": 3,034 pairs, "test": 752) as a Dataset with fields A (Google), B (Twitter).

    RGBA is composited on ``background``; images are resized to ``resolution`` like folder images. The
    decoded tensors are cached like a folder's.
    """
    if split not in ("train", "test"):
        raise DataError(f"emoji-pairs has the splits train and test, not {split!r}: set data.split")
    root = fetch_emoji()
    codes = sorted(p.stem for p in (root / DOMAINS[0]).glob("*.png"))
    test = set(shipped_test_codes())
    if not test <= set(codes):
        raise DataError(f"the shipped emoji test split names codes that are not in {root}: delete that folder")
    chosen = [c for c in codes if (c in test) == (split == "test")]
    return load_pairs_from_dirs(root / DOMAINS[0], root / DOMAINS[1], resolution, channels, background,
                                name=f"emoji-pairs:{split}", only=chosen)
