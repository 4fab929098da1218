"""Datasets: built-ins, folders of images and 2-D toy mixtures, held as tensors.

Everything is decoded once into one tensor (uint8 images (N, C, R, R) or float32 points (N, 2))
that lives on the training device; :class:`BatchSampler` draws shuffled batches from it there.
Images enter the networks in [-1, 1] (:func:`to_model_space`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch

from gankit.config import DataConfig
from gankit.data.augment import augment
from gankit.data.toy import grid_centers, ring_centers, sample_mixture
from gankit.errors import DataError


@dataclass
class Dataset:
    """A dataset in memory: ``data`` is uint8 images or float points; labels if it has them."""

    name: str
    data: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] = field(default_factory=list)
    centers: torch.Tensor | None = None  # toy mixtures only: the true mode centres
    std: float | None = None  # toy mixtures only

    @property
    def is_image(self) -> bool:
        return self.data.dtype == torch.uint8

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.labels is not None else 0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[1:])

    def __len__(self) -> int:
        return self.data.shape[0]


def to_model_space(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().mul_(2 / 255).sub_(1)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounded and clamped."""
    return ((x.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def _fit(images: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    from gankit.data.transforms import resize_images

    if images.shape[1] != cfg.channels:
        images = images.expand(-1, cfg.channels, -1, -1).contiguous() if images.shape[1] == 1 else None
        if images is None:
            raise DataError("cannot turn RGB images into grayscale here; set data.channels=3")
    return resize_images(images, cfg.resolution)


def build_dataset(cfg: DataConfig, seed: int = 0) -> Dataset:
    """Load (fetching or decoding on first use) the dataset that ``cfg`` names."""
    if cfg.name in ("ring", "grid"):
        if cfg.name == "ring":
            centers = ring_centers(cfg.num_modes, cfg.radius)
        else:
            centers = grid_centers(cfg.grid_size, cfg.grid_spacing)
        gen = torch.Generator().manual_seed(10_007 + seed)
        points = sample_mixture(centers, cfg.std, cfg.num_samples, gen)
        return Dataset(cfg.name, points, centers=centers, std=cfg.std)
    if cfg.name == "folder":
        from gankit.data.folder import load_image_folder

        images, labels, names = load_image_folder(
            cfg.path, cfg.resolution, cfg.channels, tuple(cfg.background)
        )
        return Dataset(f"folder:{cfg.path}", images, labels, names)
    from gankit.data import builtin

    loaders = {"mnist": builtin.load_mnist, "fashion-mnist": builtin.load_fashion_mnist}
    if cfg.name == "digits":
        if cfg.split != "train":
            raise DataError("digits has no splits: use data.split=train (all 1,797 images)")
        images, labels, names = builtin.load_digits()
    else:
        images, labels, names = loaders[cfg.name](cfg.split)
    print(f"[gankit] {cfg.name} {cfg.split}: {len(images)} images", file=sys.stderr)
    return Dataset(cfg.name, _fit(images, cfg), labels, names)


class BatchSampler:
    """Shuffled batches drawn from a dataset held on the device.

    Each epoch is a permutation from a generator seeded with (seed, epoch), so the sampler's
    whole state is two integers and a resumed run sees exactly the batches it would have seen.
    The last incomplete batch of an epoch is dropped. ``rank``/``world`` shard every epoch's
    permutation, so processes of a distributed run see disjoint batches.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        device: torch.device,
        seed: int = 0,
        hflip: bool = False,
        crop_padding: int = 0,
        rank: int = 0,
        world: int = 1,
        memory_format: torch.memory_format = torch.contiguous_format,
    ):
        n_local = len(dataset) // world
        if n_local < batch_size:
            raise DataError(
                f"dataset {dataset.name} has {len(dataset)} samples, fewer than one batch of "
                f"{batch_size} per process: lower train.batch_size"
            )
        self.data = dataset.data.to(device)
        self.labels = dataset.labels.to(device) if dataset.labels is not None else None
        self.is_image = dataset.is_image
        self.batch_size, self.device, self.seed = batch_size, device, seed
        self.hflip, self.crop_padding = hflip, crop_padding
        self.rank, self.world = rank, world
        self.memory_format = memory_format  # of image batches (channels_last to match NHWC networks)
        self.epoch, self.position = 0, 0
        self._perm: torch.Tensor | None = None

    def _permutation(self) -> torch.Tensor:
        if self._perm is None:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            perm = torch.randperm(self.data.shape[0], generator=gen)
            usable = (len(perm) // self.world) * self.world
            self._perm = perm[:usable].view(-1, self.world)[:, self.rank].to(self.device)
        return self._perm

    def state_dict(self) -> dict:
        """Epoch and position in the epoch's permutation, counted in samples of all processes together,
        so a checkpoint of N processes resumes in M processes at the same place."""
        return {"epoch": self.epoch, "position": self.position * self.world}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"]) // self.world
        self._perm = None

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One batch in model space (images in [-1, 1], augmented) and its labels (or None)."""
        perm = self._permutation()
        if self.position + self.batch_size > len(perm):
            self.epoch, self.position, self._perm = self.epoch + 1, 0, None
            perm = self._permutation()
        idx = perm[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        x = self.data[idx]
        if self.is_image:
            x = augment(to_model_space(x), self.hflip, self.crop_padding).contiguous(memory_format=self.memory_format)
        labels = self.labels[idx] if self.labels is not None else None
        return x, labels
