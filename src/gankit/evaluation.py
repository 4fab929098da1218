"""``gankit eval``: quality metrics of generated images against real ones, with their protocol.

Sources of images (:func:`load_images`):

* a run folder (``--run``): ``n`` samples of its generator, drawn like ``gankit sample`` draws them;
* a built-in split, ``mnist:test``, ``fashion-mnist:train``, ``digits``;
* a folder of image files (decoded like training data, see :mod:`gankit.data.folder`);
* an ``.npz`` / ``.npy`` file of uint8 images, (N, H, W), (N, H, W, C) or (N, C, H, W).

Real images are brought to the resolution the generator works at (``--resolution``, by default the
run's) with the same resize as training data, then both sides go through one feature extractor
(:mod:`gankit.metrics.features`). The real side's features are cached on disk under
``cache_dir()/"stats"``, keyed by a hash of the source, its size or file listing, the subset, the
resolution and the extractor's weights, so a second model evaluated on the same protocol reuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.paths import cache_dir

METRIC_NAMES = ("fid", "kid", "is", "pr", "dc", "class")
BUILTIN_SPLITS = {"mnist": ("train", "test"), "fashion-mnist": ("train", "test"), "digits": ("train",)}
_STATS_VERSION = 1


@dataclass
class ImageSet:
    """uint8 images (N, C, H, W), labels asked for (conditional samples) and where they came from."""

    images: torch.Tensor
    description: str
    key: str  # identifies the content for the statistics cache
    requested: torch.Tensor | None = None


# --------------------------------------------------------------------------- sources


def _subset(images: torch.Tensor, n: int | None, seed: int) -> tuple[torch.Tensor, str]:
    if n is None or n >= len(images):
        return images, "all"
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx], f"random {n} of {len(images)} (seed {seed})"


def _to_nchw(arr: np.ndarray, where: str) -> torch.Tensor:
    if arr.dtype != np.uint8:
        raise GankitError(f"{where}: expected uint8 images, got {arr.dtype} (scale to 0..255 and cast to uint8)")
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise GankitError(f"{where}: expected images shaped (N,H,W), (N,H,W,C) or (N,C,H,W) with C 1 or 3, "
                          f"got {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _fit(images: torch.Tensor, resolution: int | None, channels: int | None) -> torch.Tensor:
    from gankit.data.transforms import resize_images

    if channels == 3 and images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1).contiguous()
    elif channels == 1 and images.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    if resolution and images.shape[-1] != resolution:
        if images.shape[-1] != images.shape[-2]:
            raise GankitError(f"images of {images.shape[-2]}x{images.shape[-1]} are not square; crop them first")
        images = resize_images(images, resolution)
    return images


def load_images(spec: str, n: int | None = None, seed: int = 0, resolution: int | None = None,
                channels: int | None = None) -> ImageSet:
    """Real images from a built-in split, a folder or an .npz/.npy file (see the module docstring)."""
    name, _, split = spec.partition(":")
    if name in BUILTIN_SPLITS and not Path(spec).exists():
        from gankit.data import builtin

        split = split or BUILTIN_SPLITS[name][-1]
        if split not in BUILTIN_SPLITS[name]:
            raise GankitError(f"{spec!r}: {name} has the splits {', '.join(BUILTIN_SPLITS[name])}")
        loader = {"mnist": builtin.load_mnist, "fashion-mnist": builtin.load_fashion_mnist}.get(name)
        images = loader(split)[0] if loader else builtin.load_digits()[0]
        content = f"{name}:{split}:{len(images)}"
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise GankitError(f"{spec!r} is neither a file, a folder, nor a built-in split "
                              f"({', '.join(f'{k}:{v[-1]}' for k, v in BUILTIN_SPLITS.items())})")
        if path.is_dir():
            from gankit.data.folder import folder_key, load_image_folder

            res = resolution or _first_image_size(path)
            ch = channels or 3
            images = load_image_folder(path, res, ch)[0]
            content = f"folder:{folder_key(path, res, ch)}"
        elif path.suffix in (".npz", ".npy"):
            try:
                loaded = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise GankitError(f"cannot read {path}: {exc}") from None
            if isinstance(loaded, np.lib.npyio.NpzFile):
                key = "images" if "images" in loaded.files else loaded.files[0]
                arr = loaded[key]
            else:
                arr = loaded
            images = _to_nchw(arr, str(path))
            st = path.stat()
            content = f"file:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        else:
            raise GankitError(f"{spec}: expected a folder, an .npz/.npy file or a built-in split")
    images, subset = _subset(images, n, seed)
    images = _fit(images, resolution, channels)
    key = f"{content}|{subset}|{tuple(images.shape[1:])}"
    return ImageSet(images, f"{spec} ({subset})", key)


def _first_image_size(folder: Path) -> int:
    from PIL import Image

    from gankit.data.folder import IMAGE_EXTENSIONS

    for root, _, files in os.walk(folder):
        for f in sorted(files):
            if f.lower().endswith(IMAGE_EXTENSIONS):
                try:
                    with Image.open(Path(root, f)) as im:
                        return min(im.size)
                except OSError:
                    continue
    raise GankitError(f"{folder}: no readable image files")


def _generator_images(loaded, n: int, seed: int, where: str) -> tuple[ImageSet, dict]:
    from gankit.data import to_uint8
    from gankit.infer import sample_outputs

    if not loaded.data["is_image"]:
        raise GankitError(f"{where} generates 2-D points, not images: use `gankit bench modes` metrics for those")
    out, labels = sample_outputs(loaded, n, seed)
    images = to_uint8(out).cpu()
    return ImageSet(images, f"{where} (step {loaded.step}, {n} samples, seed {seed})", "", labels), {
        "dataset": loaded.cfg.data.name, "resolution": loaded.cfg.data.resolution,
        "channels": loaded.cfg.data.channels, "path": loaded.cfg.data.path, "step": loaded.step,
    }


def run_images(run: str, n: int, seed: int = 0) -> tuple[ImageSet, dict]:
    """``n`` samples of a run's generator (class-balanced for a conditional one) and the run's data settings."""
    from gankit.infer import load_generator

    return _generator_images(load_generator(run), n, seed, run)


def evaluate_during_training(setup, step: int, seed: int = 0) -> dict:
    """The ``eval`` section's feature metrics of the live sampling G (G_ema), as ``gankit eval --run`` computes them.

    Used by training every ``eval.every`` steps; the real side's features come from the on-disk cache
    after the first time.
    """
    from gankit.infer import LoadedGenerator
    from gankit.train.loop import data_info

    cfg = setup.cfg
    loaded = LoadedGenerator(setup.task.sampling_net(), data_info(setup.dataset), step, "", cfg)
    fake, data = _generator_images(loaded, cfg.eval.n, seed, "G_ema" if cfg.train.ema else "G")
    real = load_images(cfg.eval.reference or default_reference(data), cfg.eval.n, seed, data["resolution"],
                       data["channels"])
    extractor = cfg.eval.extractor or default_extractor(data["dataset"])
    device = next(loaded.net.parameters()).device
    return evaluate(fake, real, parse_metrics(cfg.eval.metrics), extractor, seed=seed, device=device)


def default_reference(data: dict) -> str:
    """The real images a run is compared with by default: the test split of a built-in, else its training data."""
    name = data["dataset"]
    if name in ("mnist", "fashion-mnist"):
        return f"{name}:test"
    if name == "digits":
        return "digits"
    if name == "folder" and data.get("path"):
        return data["path"]
    raise GankitError(f"no default reference images for dataset {name!r}: pass --ref")


def default_extractor(dataset: str) -> str:
    return {"mnist": "mnist-classifier", "fashion-mnist": "fashion-mnist-classifier"}.get(dataset, "inception")


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
