"""Pictures a person looks at: sample grids, loss curves, scatter plots of 2-D samples."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """uint8 (N, C, H, W) -> one uint8 (H', W', C) array with ``nrow`` images per row."""
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = np.zeros((rows * (h + padding) + padding, nrow * (w + padding) + padding, c), dtype=np.uint8)
    arr = images.permute(0, 2, 3, 1).cpu().numpy()
    for i in range(n):
        r, k = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + k * (w + padding)
        grid[y : y + h, x : x + w] = arr[i]
    return grid


def _atomic_save(save, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save(tmp)
    os.replace(tmp, path)


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None,
                    min_size: int = 256) -> Path:
    """Write uint8 images as a PNG grid, upscaled (nearest) so small images stay visible."""
    grid = image_grid(images, nrow)
    img = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
    scale = max(1, math.ceil(min_size / max(img.size)))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    _atomic_save(lambda p: img.save(p, format="PNG"), Path(path))
    return Path(path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_loss_curve(records: list[dict], path: str | Path, keys: tuple[str, ...] = ("d_loss", "g_loss")) -> Path:
    """Plot the given keys of stats.jsonl records against ``step``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key in keys:
        pts = [(r["step"], r[key]) for r in records if key in r]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, label=key, linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _atomic_save(lambda p: fig.savefig(p, format="png"), Path(path))
    plt.close(fig)
    return Path(path)


def save_scatter(points: np.ndarray, path: str | Path, centers: np.ndarray | None = None,
                 real: np.ndarray | None = None, title: str = "") -> Path:
    """Scatter 2-D samples, optionally over real samples and the true centres."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="#bbbbbb", label="real", alpha=0.5)
    ax.scatter(points[:, 0], points[:, 1], s=2, c="#1f77b4", label="generated", alpha=0.6)
    if centers is not None:
        ax.scatter(centers[:, 0], centers[:, 1], s=30, marker="x", c="#d62728", label="centres")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _atomic_save(lambda p: fig.savefig(p, format="png"), Path(path))
    plt.close(fig)
    return Path(path)
