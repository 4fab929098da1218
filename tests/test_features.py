"""Feature extractors: the shipped domain classifiers, their input protocol and integrity checks, the FID Inception."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from gankit.cli import _parser
from gankit.data import builtin
from gankit.errors import DataError, GankitError
from gankit.metrics import features as FX
from gankit.metrics.classifier import _augment, prepare_images
from gankit.metrics.features import EXTRACTOR_NAMES, get_extractor

CLASSIFIERS = ("mnist-classifier", "fashion-mnist-classifier")
MIN_ACCURACY = {"mnist-classifier": 0.993, "fashion-mnist-classifier": 0.91}

# Inception fingerprint of _pattern() (first 5 pool3 features and the L2 norm), computed on x86-64 CPU, torch 2.13
INCEPTION_FIRST5 = [0.872398853302002, 0.029229748994112015, 0.021167468279600143, 0.0004015204031020403,
                    0.018796319141983986]  # fmt: skip
INCEPTION_NORM = 18.079611256437097


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on the shared 2-core machine a 2-thread Inception pass can take 15x longer under load."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _pattern() -> torch.Tensor:
    """A fixed 1x3x64x64 uint8 image: red rises left to right, green top to bottom, blue along the diagonal."""
    y, x = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    return torch.stack([x * 4, y * 4, (x + y) * 2 % 256]).to(torch.uint8)[None]


def _random_images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=gen, dtype=torch.uint8)


# --------------------------------------------------------------------------- classifiers


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_from_package(name: str) -> None:
    ext = get_extractor(name)
    assert name in EXTRACTOR_NAMES and ext.name == name and ext.dim == 128 and ext.num_classes == 10
    feats, probs = ext.features(_random_images(7, 1, 28), batch_size=3)
    assert feats.shape == (7, 128) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert probs is not None and probs.shape == (7, 10) and (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    feats_one_batch, probs_one_batch = ext.features(_random_images(7, 1, 28), batch_size=100)
    np.testing.assert_allclose(feats_one_batch, feats, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs_one_batch, probs, rtol=1e-5, atol=1e-7)

    proto = ext.protocol()
    json.dumps(proto)
    assert proto["name"] == name and proto["weights_sha256"] == ext.weights_hash() and len(ext.weights_hash()) == 64
    assert proto["input_resolution"] == [28, 28] and proto["value_range"] == [-1.0, 1.0]
    assert proto["test_accuracy"] >= MIN_ACCURACY[name]
    assert ext.path.stat().st_size < 2_000_000
    assert get_extractor(name) is ext  # loaded once per (name, path, device)


def _mnist_test() -> tuple[torch.Tensor, torch.Tensor]:
    try:
        images, labels, _ = builtin.load_mnist("test")
    except DataError as exc:
        pytest.skip(f"MNIST is not in the cache (run `gankit fetch mnist`): {exc}")
    return images, labels


@pytest.mark.needs_mnist
def test_mnist_classifier_accuracy() -> None:
    images, labels = _mnist_test()
    _, probs = get_extractor("mnist-classifier").features(images[:500])
    assert (probs.argmax(1) == labels[:500].numpy()).mean() >= 0.99


@pytest.mark.needs_mnist
def test_fashion_classifier_accuracy() -> None:
    try:
        images, labels, _ = builtin.load_fashion_mnist("test")
    except DataError as exc:
        pytest.skip(f"Fashion-MNIST is not in the cache (run `gankit fetch fashion-mnist`): {exc}")
    _, probs = get_extractor("fashion-mnist-classifier").features(images[:500])
    assert (probs.argmax(1) == labels[:500].numpy()).mean() >= 0.88


def test_resize_and_rgb_input() -> None:
    gray = _random_images(5, 1, 32, seed=1)
    rgb = gray.expand(-1, 3, -1, -1).contiguous()
    x = prepare_images(rgb)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    torch.testing.assert_close(x, prepare_images(gray), rtol=0, atol=1e-5)  # BT.601 weights sum to 1
    flat = torch.full((2, 3, 32, 32), 200, dtype=torch.uint8)
    torch.testing.assert_close(prepare_images(flat), torch.full((2, 1, 28, 28), 200 / 127.5 - 1))
    ext = get_extractor("mnist-classifier")
    feats, probs = ext.features(rgb)
    assert feats.shape == (5, 128) and probs.shape == (5, 10)
    np.testing.assert_allclose(feats, ext.features(gray)[0], rtol=1e-4, atol=1e-5)


def test_bad_images_are_refused() -> None:
    ext = get_extractor("mnist-classifier")
    with pytest.raises(GankitError, match="uint8"):
        ext.features(torch.rand(2, 1, 28, 28))
    with pytest.raises(GankitError, match="C 1 or 3"):
        ext.features(torch.zeros(2, 2, 28, 28, dtype=torch.uint8))
    with pytest.raises(GankitError, match="unknown feature extractor"):
        get_extractor("vgg")


def _copy_classifier(tmp_path, name: str = "mnist-classifier"):
    src = FX.classifier_path(name)
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    shutil.copyfile(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_copied_weights_load_by_path(tmp_path) -> None:
    dst = _copy_classifier(tmp_path)
    ext = get_extractor("mnist-classifier", path=dst)
    assert ext.path == dst and ext.weights_hash() == get_extractor("mnist-classifier").weights_hash()
    with pytest.raises(GankitError, match="not 'fashion-mnist-classifier'"):
        get_extractor("fashion-mnist-classifier", path=dst)


def test_tampered_weights_are_refused(tmp_path) -> None:
    dst = _copy_classifier(tmp_path)
    data = bytearray(dst.read_bytes())
    data[-100] ^= 0x01  # inside the last tensor's data
    dst.write_bytes(bytes(data))
    with pytest.raises(GankitError, match="SHA-256") as info:
        get_extractor("mnist-classifier", path=dst)
    assert "\n" not in str(info.value)


def test_missing_sidecar_is_refused(tmp_path) -> None:
    dst = _copy_classifier(tmp_path)
    dst.with_suffix(".json").unlink()
    with pytest.raises(GankitError, match="no sidecar"):
        get_extractor("mnist-classifier", path=dst)


def test_shift_augmentation_moves_whole_images() -> None:
    x = torch.rand(16, 1, 9, 9) + 1.0  # positive, so the -1 fill is recognisable
    out = _augment(x, 2, False, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    for i in range(16):
        windows = [padded[i, :, dy : dy + 9, dx : dx + 9] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_cli_knows_the_new_commands() -> None:
    args = _parser().parse_args(["train-classifier", "--dataset", "fashion-mnist", "--epochs", "1"])
    assert args.command == "train-classifier" and args.dataset == "fashion-mnist" and args.threads == 1
    assert _parser().parse_args(["fetch", "inception"]).name == "inception"


# --------------------------------------------------------------------------- Inception


def test_inception_missing_gives_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    with pytest.raises(GankitError) as info:
        get_extractor("inception")
    assert str(info.value) == FX.INCEPTION_MISSING and "\n" not in str(info.value)
    with pytest.raises(GankitError, match="Inception weights not found at") as info:
        get_extractor("inception", path=tmp_path / "nope.pt")
    assert "\n" not in str(info.value)


def test_inception_fingerprint() -> None:
    if not FX.inception_path().is_file():
        pytest.skip(f"FID Inception weights not in the cache ({FX.inception_path()}): run `gankit fetch inception`")
    ext = get_extractor("inception")
    assert ext.dim == 2048 and ext.num_classes is None and ext.weights_hash() == FX.INCEPTION_SHA256
    image = _pattern()
    feats, probs = ext.features(image)
    assert probs is None and feats.shape == (1, 2048) and feats.dtype == np.float32
    np.testing.assert_allclose(feats[0, :5], INCEPTION_FIRST5, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(feats[0].astype(np.float64)), INCEPTION_NORM, rtol=1e-4)
    gray = image[:, :1]
    torch.testing.assert_close(ext._prepare(gray), ext._prepare(gray.expand(-1, 3, -1, -1)), rtol=0, atol=0)
    x = ext._prepare(torch.full((1, 1, 299, 299), 255, dtype=torch.uint8))
    assert x.shape == (1, 3, 299, 299) and x.max().item() == 127 / 128  # TF range (x - 128) / 128, no resize at 299
    proto = ext.protocol()
    assert proto["standard_weights"] and proto["input_resolution"] == [299, 299] and "bicubic" in proto["resize"]
