"""Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

``d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``. The trace of the matrix square root
is computed as the sum of square roots of the eigenvalues of ``A S2 A`` with ``A = S1^(1/2)``
(a symmetric PSD matrix with the same eigenvalues as S1 S2), in float64, which is stable where
``scipy.linalg.sqrtm`` of the non-symmetric product can return complex noise.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(m)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root1 = _sqrt_psd(s1)
    inner = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of (N, D) features, float64."""
    f = np.asarray(features, np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def pixel_features(images: torch.Tensor, size: int = 16) -> np.ndarray:
    """float images in [-1, 1] (N, C, H, W) -> (N, C*s*s) pixels after area-downsampling to s x s."""
    x = images.float()
    if x.shape[-1] > size:
        x = F.adaptive_avg_pool2d(x, size)
    return x.flatten(1).cpu().numpy()


def pixel_fd(fake: torch.Tensor, real: torch.Tensor, size: int = 16) -> dict:
    """Fréchet distance on raw pixels (area-downsampled to at most size x size), with protocol.

    A quick, dependency-free sanity number for training runs, not FID: pixels are a poor
    feature space, so compare it only between runs on the same data at the same resolution.
    """
    f1, f2 = pixel_features(fake, size), pixel_features(real, size)
    value = frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))
    return {
        "pixel_fd": value,
        "protocol": {
            "metric": "pixel_fd",
            "features": f"pixels in [-1,1], area-downsampled to <= {size}x{size}",
            "dim": int(f1.shape[1]),
            "n_fake": int(f1.shape[0]),
            "n_real": int(f2.shape[0]),
            "dtype": "float64",
        },
    }
