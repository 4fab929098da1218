"""Feature metrics between two image sets, with their protocol: the engine of ``gankit eval``, of training-time
evaluation and of the benchmarks.

Both sides go through one feature extractor (:mod:`gankit.metrics.features`). The real side's features are
cached on disk under ``cache_dir()/"stats"``, keyed by a hash of the source, its size or file listing, the
subset, the resolution and the extractor's weights, so a second model evaluated on the same protocol reuses
them. Every result carries a protocol that says exactly how it was computed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

import numpy as np
import torch

from gankit.config.families import METRIC_NAMES
from gankit.data.image_sources import ImageSet
from gankit.errors import GankitError
from gankit.paths import cache_dir

_STATS_VERSION = 1


# --------------------------------------------------------------------------- features and the cache


def _features(extractor, images: torch.Tensor, label: str) -> tuple[np.ndarray, np.ndarray | None]:
    start = time.perf_counter()
    feats, probs = extractor.features(images)
    dt = time.perf_counter() - start
    print(f"[gankit] {label}: {len(images)} images through {extractor.name} in {dt:.1f} s "
          f"({len(images) / max(dt, 1e-9):.0f} images/s)", file=sys.stderr)
    return feats, probs


def real_features(extractor, real: ImageSet, use_cache: bool = True) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Features (and class probabilities) of the real images, from the cache when it has them.

    Returns (features, probs, from_cache). The cache file name is a hash of the content key and the
    extractor's name and weights; the file is written to a temporary name and renamed.
    """
    payload = json.dumps([_STATS_VERSION, real.key, extractor.name, extractor.weights_hash()])
    digest = hashlib.sha256(payload.encode()).hexdigest()[:24]
    path = cache_dir() / "stats" / f"{extractor.name}-{digest}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == payload:
                    probs = z["probs"] if "probs" in z.files else None
                    return z["features"], probs, True
        except (OSError, ValueError, KeyError):
            pass  # unreadable: compute again and overwrite
    feats, probs = _features(extractor, real.images, "real")
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
        arrays = {"features": feats, "key": np.array(payload)}
        if probs is not None:
            arrays["probs"] = probs
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    return feats, probs, False


# --------------------------------------------------------------------------- metrics


def parse_metrics(text: str) -> list[str]:
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in METRIC_NAMES]
    if bad or not names:
        raise GankitError(
            f"--metrics: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(METRIC_NAMES)}"
        )
    return names


def compute(names: list[str], real_f: np.ndarray, fake_f: np.ndarray, fake_p: np.ndarray | None,
            requested: torch.Tensor | None, seed: int = 0) -> dict:
    """The named metrics on features (and the fake side's class probabilities); one protocol per metric."""
    from gankit.metrics import features_metrics as fm

    out: dict = {}
    protocols: dict = {}
    for name in names:
        if name == "fid":
            r = fm.fid(real_f, fake_f)
        elif name == "kid":
            r = fm.kid(real_f, fake_f, subset_size=min(1000, len(real_f), len(fake_f)), seed=seed)
        elif name == "pr":
            r = fm.precision_recall(real_f, fake_f, k=3)
        elif name == "dc":
            r = fm.density_coverage(real_f, fake_f, k=5)
        else:
            if fake_p is None:
                raise GankitError(f"metric {name!r} needs class probabilities, which this extractor does not give: "
                                  f"use --extractor mnist-classifier or fashion-mnist-classifier")
            if name == "is":
                r = fm.inception_score(fake_p, splits=10)
            else:
                r = fm.class_metrics(fake_p, requested.numpy() if requested is not None else None)
        protocols[name] = r.pop("protocol")
        out.update(r)
    out["protocol"] = protocols
    return out


def evaluate(fake: ImageSet, real: ImageSet, names: list[str], extractor_name: str,
             extractor_path: str | None = None, seed: int = 0, use_cache: bool = True,
             device: str | torch.device = "cpu") -> dict:
    """Run the metrics; the result holds every value and a protocol shared by all plus one per metric."""
    from gankit.metrics.features import get_extractor

    extractor = get_extractor(extractor_name, path=extractor_path, device=device)
    real_f, _, cached = real_features(extractor, real, use_cache)
    fake_f, fake_p = _features(extractor, fake.images, "fake")
    result = compute(names, real_f, fake_f, fake_p, fake.requested, seed)
    per_metric = result.pop("protocol")
    result["protocol"] = {
        "extractor": extractor.protocol(),
        "weights_sha256": extractor.weights_hash(),
        "real": real.description,
        "fake": fake.description,
        "n_real": int(len(real_f)),
        "n_fake": int(len(fake_f)),
        "resolution": list(fake.images.shape[1:]),
        "dtype": "float64 statistics from float32 features",
        "seed": seed,
        "device": str(extractor.device),
        "real_features_from_cache": cached,
        "metrics": per_metric,
    }
    return result


def format_table(result: dict) -> str:
    rows = [(k, v) for k, v in result.items() if isinstance(v, (int, float))]
    width = max(len(k) for k, _ in rows) if rows else 6
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  -----"]
    lines += [f"{k:<{width}}  {v:.6g}" for k, v in rows]
    p = result["protocol"]
    lines.append(f"({p['extractor']['name']}, {p['n_fake']} fake vs {p['n_real']} real: {p['real']})")
    return "\n".join(lines)
