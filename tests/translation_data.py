"""Small generated image-pair folders for the translation tests (no download): A is drawn in dark colours, B is
the same picture 128 levels lighter, so the two domains differ (as CycleGAN needs) and the mapping is simple."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def shapes(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """``n`` RGB uint8 images (n, size, size, 3): a random dark rectangle on a random dark background."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        out[i] = rng.integers(0, 128, 3)
        y0, x0 = rng.integers(0, size // 2, 2)
        y1, x1 = y0 + rng.integers(3, size // 2 + 1), x0 + rng.integers(3, size // 2 + 1)
        out[i, y0:y1, x0:x1] = rng.integers(0, 128, 3)
    return out


def write_pairs(root: Path, n: int = 48, size: int = 16, seed: int = 0, test: int = 0) -> Path:
    """``root/A/<i>.png`` and ``root/B/<i>.png`` (B = A + 128); with ``test`` > 0 also ``root/test/A``, ``test/B``."""
    images = shapes(n + test, size, seed)
    for split, part in (("", images[:n]), ("test/", images[n:])):
        for side in ("A", "B"):
            folder = root / f"{split}{side}"
            folder.mkdir(parents=True, exist_ok=True)
            for i, im in enumerate(part):
                Image.fromarray(im if side == "A" else im + 128).save(folder / f"{i:03d}.png")
    return root
