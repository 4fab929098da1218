"""Mode coverage of 2-D mixtures, as in VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018).

Each generated point is assigned to its nearest centre. It is *high quality* when it lies within
``threshold`` (3) standard deviations of that centre. A mode is *captured* when at least one
high-quality point is assigned to it. Reverse KL is KL(p_gen || uniform) between the histogram of
nearest-centre assignments (all points) and the uniform distribution over modes.
"""

from __future__ import annotations

import math

import numpy as np


def mode_metrics(points: np.ndarray, centers: np.ndarray, std: float, threshold: float = 3.0) -> dict:
    """Modes captured, fraction of high-quality samples and reverse KL, with protocol."""
    pts = np.asarray(points, np.float64)
    ctr = np.asarray(centers, np.float64)
    if pts.ndim != 2 or pts.shape[1] != ctr.shape[1]:
        raise ValueError(f"points must be (N, {ctr.shape[1]}), got {pts.shape}")
    dist = np.linalg.norm(pts[:, None, :] - ctr[None, :, :], axis=2)
    nearest = dist.argmin(axis=1)
    near_dist = dist[np.arange(len(pts)), nearest]
    good = near_dist <= threshold * std
    captured = np.unique(nearest[good]).size
    k = len(ctr)
    counts = np.bincount(nearest, minlength=k).astype(np.float64)
    p = counts / counts.sum()
    nz = p > 0
    reverse_kl = float((p[nz] * np.log(p[nz] * k)).sum())
    return {
        "modes": int(captured),
        "num_modes": int(k),
        "high_quality": float(good.mean()),
        "reverse_kl": reverse_kl,
        "protocol": {
            "metric": "mode_coverage",
            "n_fake": int(len(pts)),
            "high_quality_radius": f"{threshold} std = {threshold * std:g}",
            "reverse_kl": "KL(nearest-centre histogram of all samples || uniform), natural log",
            "ceiling_high_quality": 1 - math.exp(-threshold**2 / 2) if ctr.shape[1] == 2 else None,
        },
    }
