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
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written picture left beside the old one
        tmp.unlink(missing_ok=True)
        raise


def save_picture(picture: np.ndarray, path: str | Path, min_size: int = 256) -> Path:
    """Write a uint8 (H, W, C) picture as a PNG, upscaled (nearest) so that small images stay visible."""
    img = Image.fromarray(picture[:, :, 0] if picture.shape[2] == 1 else picture)
    scale = max(1, math.ceil(min_size / max(img.size)))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    _atomic_save(lambda p: img.save(p, format="PNG"), Path(path))
    return Path(path)


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None,
                    min_size: int = 256) -> Path:
    """Write uint8 images as a PNG grid, upscaled (nearest) so small images stay visible."""
    return save_picture(image_grid(images, nrow), path, min_size)


def side_by_side(columns: list[torch.Tensor], groups_per_row: int = 1, padding: int = 2) -> np.ndarray:
    """uint8 image batches of equal shape, shown as groups (one image of each batch side by side) in a grid.

    ``columns = [inputs, outputs, targets]`` gives rows of input | output | target, ``groups_per_row`` groups
    across. Grayscale and RGB batches may be mixed (grayscale is shown as RGB).
    """
    c = max(x.shape[1] for x in columns)
    cols = [x.expand(-1, c, -1, -1) if x.shape[1] != c else x for x in columns]
    n = cols[0].shape[0]
    interleaved = torch.stack(cols, dim=1).reshape(n * len(cols), *cols[0].shape[1:])
    return image_grid(interleaved, nrow=len(cols) * groups_per_row, padding=padding)


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


def _scatter_figure(points: np.ndarray, centers: np.ndarray | None, real: np.ndarray | None, title: str):
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
    return plt, fig


def save_scatter(points: np.ndarray, path: str | Path, centers: np.ndarray | None = None,
                 real: np.ndarray | None = None, title: str = "") -> Path:
    """Scatter 2-D samples, optionally over real samples and the true centres."""
    plt, fig = _scatter_figure(points, centers, real, title)
    _atomic_save(lambda p: fig.savefig(p, format="png"), Path(path))
    plt.close(fig)
    return Path(path)


def scatter_picture(points: np.ndarray, centers: np.ndarray | None = None, real: np.ndarray | None = None,
                    title: str = "") -> np.ndarray:
    """The scatter plot of :func:`save_scatter` as a uint8 (H, W, 3) picture."""
    plt, fig = _scatter_figure(points, centers, real, title)
    fig.canvas.draw()
    picture = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(fig)
    return picture
