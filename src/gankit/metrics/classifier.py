"""A small CNN classifier for 28x28 grayscale images, used as a domain feature extractor for GAN metrics.

FID's Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision")
was trained on ImageNet photographs; on MNIST-like data its features say little, so GAN papers that
work on digits (e.g. the "MNIST FID" / "classifier score" of Lucic et al. 2018, "Are GANs Created
Equal? A Large-Scale Study") replace it with a classifier trained on the domain itself. This module
holds that classifier:

* :class:`SmallCNN` -- conv32-conv32-pool-conv64-conv64-pool-fc128-fc10 with batch normalisation
  (Ioffe & Szegedy 2015) and unpadded 3x3 convolutions (28 -> 26 -> 24 -> 12 -> 10 -> 8 -> 4), the
  layout of the common Keras/LeNet-style MNIST network (LeCun et al. 1998, "Gradient-Based Learning
  Applied to Document Recognition", grown to VGG-style 3x3 pairs after Simonyan & Zisserman 2015).
  The 128-d fc output (after ReLU) is the feature vector; the 10 logits give class probabilities.
* :func:`prepare_images` -- the input protocol: uint8 (N, C, H, W), RGB converted to luminance
  (ITU-R BT.601 weights, as PIL's "L" mode), resized to 28x28 with antialiased bilinear
  interpolation when it is another size, scaled to [-1, 1].
* :func:`train_classifier` -- trains it with Adam (Kingma & Ba 2015) and a cosine learning-rate
  decay, random shifts of up to 2 pixels (and horizontal flips for Fashion-MNIST), a fixed seed,
  then writes ``<name>.safetensors`` and a JSON sidecar ``<name>.json`` holding the test accuracy,
  the recipe, the training time and the SHA-256 of the weights file.

Run ``python -m gankit.metrics.classifier --dataset mnist --out weights/mnist-classifier.safetensors``
(or ``gankit train-classifier --dataset mnist``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError

ARCH = "gankit-smallcnn-28-v1"
INPUT_SIZE = 28
HIDDEN = 128
# ITU-R BT.601 luma weights, the ones PIL uses to convert RGB to "L"
LUMA = (0.299, 0.587, 0.114)

DATASETS = ("mnist", "fashion-mnist")
METADATA_KEY = "gankit"

# per-dataset training recipe; Fashion-MNIST gets horizontal flips (its classes are mirror-symmetric) and more epochs
RECIPES: dict[str, dict] = {
    "mnist": {"epochs": 6, "lr": 2e-3, "batch_size": 128, "max_shift": 2, "hflip": False, "dropout": 0.25},
    "fashion-mnist": {"epochs": 12, "lr": 2e-3, "batch_size": 128, "max_shift": 2, "hflip": True, "dropout": 0.25},
}


def extractor_name(dataset: str) -> str:
    """The extractor name of the classifier trained on ``dataset`` (e.g. "mnist-classifier")."""
    return f"{dataset}-classifier"


# --------------------------------------------------------------------------- model


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """conv32-conv32-pool-conv64-conv64-pool-fc128-fc``num_classes`` on 1x28x28 inputs in [-1, 1].

    ``forward`` returns ``(features, logits)``: the 128-d penultimate activations (after ReLU) and
    the class logits.
    """

    def __init__(self, num_classes: int = 10, hidden: int = HIDDEN, dropout: float = 0.25) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(1, 32), *_conv_block(32, 32), nn.MaxPool2d(2),
            *_conv_block(32, 64), *_conv_block(64, 64), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.body(x)
        return feats, self.head(self.dropout(feats))


# --------------------------------------------------------------------------- input protocol


def prepare_images(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """uint8 (N, C, H, W) with C in {1, 3} -> float32 (N, 1, size, size) in [-1, 1].

    RGB becomes luminance with the BT.601 weights; another resolution is resized with
    ``interpolate(mode="bilinear", antialias=True, align_corners=False)`` on the 0..255 values and
    clamped to 0..255 before scaling with ``x / 127.5 - 1``.
    """
    x = images.to(torch.float32)
    if x.shape[1] == 3:
        w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x * w).sum(dim=1, keepdim=True)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x.clamp(0.0, 255.0)
    return x / 127.5 - 1.0


# --------------------------------------------------------------------------- training


def _augment(x: torch.Tensor, max_shift: int, hflip: bool, gen: torch.Generator) -> torch.Tensor:
    """Shift every image by its own random (dy, dx) in [-max_shift, max_shift] (background -1 fills in),
    and mirror half of them left-right when ``hflip``."""
    n, _, h, w = x.shape
    if hflip:
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
    if max_shift <= 0:
        return x
    s = max_shift
    padded = F.pad(x, (s, s, s, s), value=-1.0)
    dy = torch.randint(0, 2 * s + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * s + 1, (n,), generator=gen)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).view(n, 1, h, 1).expand(n, 1, h, w + 2 * s)
    picked = padded.gather(2, rows)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).view(n, 1, 1, w).expand(n, 1, h, w)
    return picked.gather(3, cols)


@torch.inference_mode()
def accuracy(model: SmallCNN, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on uint8 ``images``."""
    model.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        _, logits = model(prepare_images(images[i : i + batch_size]))
        correct += int((logits.argmax(1) == labels[i : i + batch_size]).sum())
    return correct / len(images)


def _load(dataset: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    from gankit.data import builtin

    if dataset not in DATASETS:
        raise GankitError(f"no classifier recipe for dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    loader = builtin.load_mnist if dataset == "mnist" else builtin.load_fashion_mnist
    x_train, y_train, names = loader("train")
    x_test, y_test, _ = loader("test")
    return x_train, y_train, x_test, y_test, names


def train_classifier(
    dataset: str,
    out: str | os.PathLike,
    *,
    epochs: int | None = None,
    seed: int = 0,
    threads: int | None = 1,
    quiet: bool = False,
) -> dict:
    """Train the :class:`SmallCNN` of ``dataset`` and write ``out`` (.safetensors) plus its JSON sidecar.

    ``threads`` calls ``torch.set_num_threads`` (for the rest of the process; None leaves it). Returns the
    sidecar's content. The test split is used only once, after the last epoch.
    """
    from safetensors.torch import save_file

    from gankit.fetch import sha256_file as _sha256

    out = Path(out)
    if out.suffix != ".safetensors":
        raise GankitError(f"--out {out}: the weights file must end in .safetensors")
    recipe = dict(RECIPES.get(dataset, {}))
    x_train, y_train, x_test, y_test, names = _load(dataset)
    if epochs is not None:
        if epochs < 1:
            raise GankitError(f"--epochs {epochs}: train for at least 1 epoch")
        recipe["epochs"] = epochs
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SmallCNN(num_classes=len(names), dropout=recipe["dropout"])
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    steps_per_epoch = math.ceil(len(x_train) / recipe["batch_size"])
    total = recipe["epochs"] * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / total)))
    inputs = prepare_images(x_train)  # (60000, 1, 28, 28) float32 in [-1, 1], about 190 MB

    start = time.perf_counter()
    history = []
    for epoch in range(recipe["epochs"]):
        model.train()
        order = torch.randperm(len(inputs), generator=gen)
        loss_sum, seen = 0.0, 0
        for i in range(0, len(order), recipe["batch_size"]):
            idx = order[i : i + recipe["batch_size"]]
            x = _augment(inputs[idx], recipe["max_shift"], recipe["hflip"], gen)
            _, logits = model(x)
            loss = F.cross_entropy(logits, y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            seen += len(idx)
        history.append(round(loss_sum / seen, 5))
        if not quiet:
            print(f"[gankit] {dataset} epoch {epoch + 1}/{recipe['epochs']}: train loss {loss_sum / seen:.4f} "
                  f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    train_seconds = time.perf_counter() - start
    test_acc = accuracy(model, x_test, y_test)

    name = extractor_name(dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    info = {"arch": ARCH, "name": name, "dataset": dataset, "num_classes": len(names), "hidden": HIDDEN,
            "class_names": names}  # fmt: skip
    # one metadata key holding sorted JSON: safetensors writes several keys in hash order, which would make the
    # bytes (and so the SHA-256) of identical weights differ from run to run
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    save_file(state, str(tmp), metadata={METADATA_KEY: json.dumps(info, sort_keys=True)})
    os.chmod(tmp, 0o644)  # readable package data, like the files git checks out
    os.replace(tmp, out)
    sidecar = {
        "name": name,
        "arch": ARCH,
        "dataset": dataset,
        "class_names": names,
        "test_accuracy": test_acc,
        "test_images": len(x_test),
        "epochs": recipe["epochs"],
        "seed": seed,
        "recipe": recipe,
        "optimizer": "Adam, cosine decay to 0 per step",
        "train_loss_per_epoch": history,
        "train_seconds": round(train_seconds, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "reproduce": f"python -m gankit.metrics.classifier --dataset {dataset} --epochs {recipe['epochs']} "
        f"--seed {seed} --threads {torch.get_num_threads()} --out {out.name}",
        "weights_file": out.name,
        "weights_bytes": out.stat().st_size,
        "sha256": _sha256(out),
    }
    side = out.with_suffix(".json")
    tmp = side.with_name(f".{side.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(sidecar, indent=2) + "\n")
    os.replace(tmp, side)
    return sidecar


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``gankit train-classifier`` (and of ``python -m gankit.metrics.classifier``)."""
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--out", help="weights file (default ./<dataset>-classifier.safetensors; .json sidecar "
                        "beside it)")
    parser.add_argument("--epochs", type=int, help="default: the dataset's recipe (mnist 6, fashion-mnist 12)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; 0 leaves torch's default)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return parser


def run(args: argparse.Namespace) -> int:
    """Train from the parsed options of ``gankit train-classifier`` and print the sidecar summary."""
    out = args.out or f"{extractor_name(args.dataset)}.safetensors"
    info = train_classifier(args.dataset, out, epochs=args.epochs, seed=args.seed,
                            threads=args.threads or None, quiet=args.quiet)  # fmt: skip
    print(f"{info['name']}: test accuracy {info['test_accuracy']:.4f} after {info['epochs']} epochs "
          f"({info['train_seconds']:.0f} s) -> {out} (sha256 {info['sha256'][:12]}...)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m gankit.metrics.classifier ...`` is ``gankit train-classifier ...``."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m gankit.metrics.classifier"))
    try:
        return run(parser.parse_args(sys.argv[1:] if argv is None else argv))
    except GankitError as exc:
        print(f"gankit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
