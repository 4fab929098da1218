"""GAN metrics computed on feature arrays (or class probabilities), all in float64.

Every function takes numpy arrays or torch tensors, converts them to float64 numpy arrays and
returns a dict holding the metric value(s) under the metric's name plus a ``"protocol"`` dict that
records what produced them (metric, n_real, n_fake, dtype and the metric's parameters).

* :func:`fid` / :func:`fid_from_stats` -- Fréchet Inception Distance (Heusel et al. 2017, "GANs
  Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium").
* :func:`kid` -- Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").
* :func:`inception_score` -- Inception Score (Salimans et al. 2016, "Improved Techniques for
  Training GANs"); takes class probabilities.
* :func:`precision_recall` -- k-NN precision and recall (Kynkäänniemi et al. 2019, "Improved
  Precision and Recall Metric for Assessing Generative Models").
* :func:`density_coverage` -- density and coverage (Naeem et al. 2020, "Reliable Fidelity and
  Diversity Metrics for Generative Models").
* :func:`class_metrics` -- predicted-class histogram of a domain classifier; takes class
  probabilities.

The k-NN metrics never hold a full N x N distance matrix: distances are computed for blocks of
``block_size`` rows at a time and reduced (k-th smallest, ball membership) before the next block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from gankit.metrics.frechet import frechet_distance, gaussian_stats

ArrayLike = Any  # np.ndarray | torch.Tensor | nested sequences of numbers

_DTYPE = "float64"


# --------------------------------------------------------------------------------------------- helpers


def _as_float64(x: ArrayLike, name: str, ndim: int = 2) -> np.ndarray:
    """A float64 numpy copy/view of ``x`` (numpy array or torch tensor), checked for shape and finiteness."""
    if isinstance(x, torch.Tensor):
        arr = x.detach().to("cpu", torch.float64).numpy()
    else:
        arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _feature_pair(real_feats: ArrayLike, fake_feats: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    real = _as_float64(real_feats, "real_feats")
    fake = _as_float64(fake_feats, "fake_feats")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: real {real.shape[1]} vs fake {fake.shape[1]}")
    return real, fake


def _probabilities(probs: ArrayLike, name: str = "probs") -> np.ndarray:
    """(N, C) float64 class probabilities, checked to be non-negative rows summing to 1 (atol 1e-3)."""
    p = _as_float64(probs, name)
    if (p < 0).any():
        raise ValueError(f"{name} has negative entries")
    if not np.allclose(p.sum(axis=1), 1.0, rtol=0.0, atol=1e-3):
        raise ValueError(f"rows of {name} must sum to 1 (pass softmax probabilities, not logits)")
    return p


def _distance_blocks(a: np.ndarray, b: np.ndarray, block_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, D)`` with D the (rows, len(b)) Euclidean distances from ``a[start:start+rows]`` to ``b``.

    Uses ||x||^2 + ||y||^2 - 2 x.y (clipped at 0), so at most ``block_size * len(b)`` floats live at once.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    sq_a = np.einsum("ij,ij->i", a, a)
    sq_b = np.einsum("ij,ij->i", b, b)
    for start in range(0, len(a), block_size):
        stop = min(start + block_size, len(a))
        d2 = sq_a[start:stop, None] + sq_b[None, :] - 2.0 * (a[start:stop] @ b.T)
        np.maximum(d2, 0.0, out=d2)
        yield start, np.sqrt(d2, out=d2)


def _knn_radii(x: np.ndarray, k: int, block_size: int = 1024) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest neighbour in ``x``, the point itself excluded.

    The self-distance (the diagonal) is set to +inf before taking the k-th smallest, so rounding in the
    diagonal cannot matter, while an exact duplicate of a point still counts as a neighbour at distance 0.
    """
    n = len(x)
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must be in [1, n - 1] = [1, {n - 1}], got {k}")
    radii = np.empty(n, dtype=np.float64)
    for start, d in _distance_blocks(x, x, block_size):
        rows = np.arange(len(d))
        d[rows, start + rows] = np.inf
        radii[start : start + len(d)] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return radii


# --------------------------------------------------------------------------------------------- FID


def fid_from_stats(mu_r: ArrayLike, cov_r: ArrayLike, fake_feats: ArrayLike, n_real: int) -> dict:
    """FID between cached real statistics and fake features (Heusel et al. 2017).

    ``FID = ||mu_r - mu_f||^2 + Tr(C_r + C_f - 2 (C_r C_f)^(1/2))`` with ``(mu_f, C_f)`` the mean and
    unbiased covariance of ``fake_feats`` (N, D). ``n_real`` is the number of real samples the cached
    ``(mu_r, cov_r)`` came from; it is only recorded in the protocol.
    """
    fake = _as_float64(fake_feats, "fake_feats")
    mu = _as_float64(mu_r, "mu_r", ndim=1)
    cov = _as_float64(cov_r, "cov_r")
    dim = fake.shape[1]
    if mu.shape != (dim,) or cov.shape != (dim, dim):
        raise ValueError(f"real stats must be ({dim},) and ({dim}, {dim}), got {mu.shape} and {cov.shape}")
    if len(fake) < 2:
        raise ValueError("fake_feats needs at least 2 rows for a covariance")
    mu_f, cov_f = gaussian_stats(fake)
    return {
        "fid": frechet_distance(mu, cov, mu_f, cov_f),
        "protocol": {
            "metric": "fid",
            "n_real": int(n_real),
            "n_fake": int(len(fake)),
            "dim": int(dim),
            "dtype": _DTYPE,
            "covariance": "unbiased (N - 1)",
        },
    }


def fid(real_feats: ArrayLike, fake_feats: ArrayLike) -> dict:
    """Fréchet Inception Distance between two (N, D) feature sets (Heusel et al. 2017).

    Fits a Gaussian (mean, unbiased covariance) to each set and returns the Fréchet distance between them,
    ``||mu_r - mu_f||^2 + Tr(C_r + C_f - 2 (C_r C_f)^(1/2))``, computed in float64.
    """
    real, fake = _feature_pair(real_feats, fake_feats)
    if len(real) < 2:
        raise ValueError("real_feats needs at least 2 rows for a covariance")
    mu_r, cov_r = gaussian_stats(real)
    return fid_from_stats(mu_r, cov_r, fake, n_real=len(real))


# --------------------------------------------------------------------------------------------- KID


def _polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> np.ndarray:
    return (gamma * (x @ y.T) + coef0) ** degree


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> float:
    """Unbiased MMD^2 of two equal-size samples (Gretton et al. 2012; as used for KID by Bińkowski et al. 2018).

    ``sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1)) - 2 sum_{i, j} k(x_i, y_j) / m^2``
    """
    m = len(x)
    k_xx = _polynomial_kernel(x, x, degree, gamma, coef0)
    k_yy = _polynomial_kernel(y, y, degree, gamma, coef0)
    k_xy = _polynomial_kernel(x, y, degree, gamma, coef0)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kid(
    real_feats: ArrayLike,
    fake_feats: ArrayLike,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 0,
) -> dict:
    """Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

    The unbiased MMD^2 estimate with the polynomial kernel ``k(x, y) = (gamma x.y + coef0)^degree``
    (``gamma = 1/D`` by default), averaged over ``subsets`` pairs of subsets. For each pair, ``m`` real and
    ``m`` fake rows are drawn without replacement with ``numpy.random.default_rng(seed)`` (real first, then
    fake), where ``m = min(subset_size, n_real, n_fake)``. ``kid_std`` is the population standard deviation
    (ddof=0) of the per-subset estimates, as in the authors' code. The estimate can be slightly negative.
    """
    real, fake = _feature_pair(real_feats, fake_feats)
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    m = min(int(subset_size), len(real), len(fake))
    if m < 2:
        raise ValueError(f"the unbiased estimator needs subsets of at least 2 samples, got {m}")
    dim = real.shape[1]
    g = 1.0 / dim if gamma is None else float(gamma)
    rng = np.random.default_rng(seed)
    values = np.empty(subsets, dtype=np.float64)
    for s in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        values[s] = _mmd2_unbiased(x, y, degree, g, coef0)
    return {
        "kid": float(values.mean()),
        "kid_std": float(values.std()),
        "protocol": {
            "metric": "kid",
            "n_real": int(len(real)),
            "n_fake": int(len(fake)),
            "dim": int(dim),
            "dtype": _DTYPE,
            "subsets": int(subsets),
            "subset_size": int(m),
            "subset_size_requested": int(subset_size),
            "kernel": "polynomial (gamma x.y + coef0)^degree",
            "degree": int(degree),
            "gamma": g,
            "coef0": float(coef0),
            "estimator": "unbiased MMD^2, subsets drawn without replacement",
            "std": "population std (ddof=0) over subsets",
            "seed": int(seed),
        },
    }


# --------------------------------------------------------------------------------------------- IS


def inception_score(probs: ArrayLike, splits: int = 10) -> dict:
    """Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs") from class probabilities.

    ``probs`` is (N, C), rows are p(y|x) (summing to 1). The rows are cut, in input order, into ``splits``
    contiguous parts with boundaries ``i * N // splits``; in each part ``IS = exp(mean_x KL(p(y|x) || p(y)))``
    with ``p(y)`` the part's mean row (0 log 0 = 0). Returns the mean and population std (ddof=0) over parts.
    The protocol has ``n_real = None`` (no real data is used) and ``n_fake = N``.
    """
    p = _probabilities(probs)
    n, c = p.shape
    if not 1 <= splits <= n:
        raise ValueError(f"splits must be in [1, N] = [1, {n}], got {splits}")
    scores = np.empty(splits, dtype=np.float64)
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(axis=0)
        pos = part > 0
        # p > 0 implies marginal > 0, so the log is finite wherever the term is kept
        logs = np.log(np.where(pos, part, 1.0)) - np.log(np.where(pos, marginal[None, :], 1.0))
        kl = np.where(pos, part * logs, 0.0).sum(axis=1)
        scores[i] = np.exp(kl.mean())
    return {
        "is": float(scores.mean()),
        "is_std": float(scores.std()),
        "protocol": {
            "metric": "inception_score",
            "n_real": None,
            "n_fake": int(n),
            "num_classes": int(c),
            "dtype": _DTYPE,
            "splits": int(splits),
            "split_rule": "contiguous, in input order, boundaries i*N//splits",
            "std": "population std (ddof=0) over splits",
        },
    }


# --------------------------------------------------------------------------------------------- k-NN metrics


def precision_recall(real_feats: ArrayLike, fake_feats: ArrayLike, k: int = 3, block_size: int = 1024) -> dict:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each point gets a radius, the distance to its k-th nearest neighbour within its own set (itself
    excluded). ``precision`` is the fraction of fake points within (distance <= radius) the hypersphere
    of at least one real point; ``recall`` the fraction of real points within the hypersphere of at least
    one fake point. Distances are computed ``block_size`` rows at a time; ``block_size`` does not change
    the result.
    """
    real, fake = _feature_pair(real_feats, fake_feats)
    r_real = _knn_radii(real, k, block_size)
    r_fake = _knn_radii(fake, k, block_size)
    fake_in_real = np.zeros(len(fake), dtype=bool)
    real_in_fake = np.zeros(len(real), dtype=bool)
    for start, d in _distance_blocks(fake, real, block_size):  # d[j, i] = |fake_j - real_i|
        stop = start + len(d)
        fake_in_real[start:stop] = (d <= r_real[None, :]).any(axis=1)
        real_in_fake |= (d <= r_fake[start:stop, None]).any(axis=0)
    return {
        "precision": float(fake_in_real.mean()),
        "recall": float(real_in_fake.mean()),
        "protocol": {
            "metric": "precision_recall",
            "n_real": int(len(real)),
            "n_fake": int(len(fake)),
            "dim": int(real.shape[1]),
            "dtype": _DTYPE,
            "k": int(k),
            "radius": "Euclidean distance to the k-th nearest neighbour in the same set, the point itself excluded",
            "ball": "closed (distance <= radius)",
        },
    }


def density_coverage(real_feats: ArrayLike, fake_feats: ArrayLike, k: int = 5, block_size: int = 1024) -> dict:
    """Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models").

    With ``r_i`` the distance from real point i to its k-th nearest real neighbour (itself excluded) and
    ``B(x, r)`` the closed ball: ``density = 1/(k M) sum_j sum_i 1[fake_j in B(real_i, r_i)]`` (M fakes; it can
    exceed 1) and ``coverage = 1/N sum_i 1[exists j: fake_j in B(real_i, r_i)]`` (N reals). Distances are
    computed ``block_size`` rows at a time; ``block_size`` does not change the result.
    """
    real, fake = _feature_pair(real_feats, fake_feats)
    r_real = _knn_radii(real, k, block_size)
    hits = 0
    covered = np.zeros(len(real), dtype=bool)
    for _, d in _distance_blocks(fake, real, block_size):  # d[j, i] = |fake_j - real_i|
        inside = d <= r_real[None, :]
        hits += int(inside.sum())
        covered |= inside.any(axis=0)
    return {
        "density": float(hits / (k * len(fake))),
        "coverage": float(covered.mean()),
        "protocol": {
            "metric": "density_coverage",
            "n_real": int(len(real)),
            "n_fake": int(len(fake)),
            "dim": int(real.shape[1]),
            "dtype": _DTYPE,
            "k": int(k),
            "radius": "Euclidean distance to the k-th nearest real neighbour, the point itself excluded",
            "ball": "closed (distance <= radius)",
        },
    }


# --------------------------------------------------------------------------------------------- classes


def class_metrics(probs: ArrayLike, requested: ArrayLike | None = None) -> dict:
    """Class statistics of generated samples as labelled by a domain classifier.

    ``probs`` (N, C) are the classifier's probabilities; the predicted class is the argmax (ties go to the
    lowest index). ``class_kl`` = KL(h || uniform) = sum_c h_c log(C h_c) (natural log, 0 log 0 = 0) for the
    predicted-class histogram h, the mode-collapse measure used for MNIST-like data in e.g. VEEGAN
    (Srivastava et al. 2017); ``classes_covered`` counts classes predicted at least once. With ``requested``
    (N,) integer labels of a conditional model, ``class_accuracy`` = mean(argmax == requested).
    """
    p = _probabilities(probs)
    n, c = p.shape
    pred = p.argmax(axis=1)
    hist = np.bincount(pred, minlength=c).astype(np.float64) / n
    nz = hist > 0
    out: dict[str, Any] = {
        "class_kl": float((hist[nz] * np.log(hist[nz] * c)).sum()),
        "classes_covered": int(nz.sum()),
    }
    if requested is not None:
        req = requested.detach().cpu().numpy() if isinstance(requested, torch.Tensor) else np.asarray(requested)
        if req.shape != (n,):
            raise ValueError(f"requested must have shape ({n},), got {req.shape}")
        out["class_accuracy"] = float((pred == req).mean())
    out["protocol"] = {
        "metric": "class_metrics",
        "n_real": None,
        "n_fake": int(n),
        "num_classes": int(c),
        "dtype": _DTYPE,
        "conditional": requested is not None,
        "class_kl": "KL(predicted-class histogram || uniform), natural log",
    }
    return out


# --------------------------------------------------------------------------------------------- registry

FEATURE_METRICS: dict[str, Callable[..., dict]] = {
    "fid": fid,
    "kid": kid,
    "pr": precision_recall,
    "dc": density_coverage,
    "is": inception_score,
    "class": class_metrics,
}
"""Metric name -> function. ``"fid"``, ``"kid"``, ``"pr"`` and ``"dc"`` are called as
``f(real_feats, fake_feats, **kw)``; the names in :data:`PROBABILITY_METRICS` (``"is"``, ``"class"``) take
class probabilities instead: ``inception_score(probs, **kw)`` and ``class_metrics(probs, requested=None)``."""

PROBABILITY_METRICS: frozenset[str] = frozenset({"is", "class"})
"""Registry names whose function takes (N, C) class probabilities rather than a (real, fake) feature pair."""
