"""Shuffled batches drawn on the device from a :class:`~gankit.data.Dataset` held there."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import torch

from gankit.data.augment import augment_together
from gankit.errors import DataError

if TYPE_CHECKING:
    from gankit.data import Dataset


class BatchSampler:
    """Shuffled dict batches drawn from a dataset held on the device.

    Each epoch is a permutation from a generator seeded with (seed, epoch), so the sampler's
    whole state is two integers and a resumed run sees exactly the batches it would have seen.
    The last incomplete batch of an epoch is dropped. ``rank``/``world`` shard every epoch's
    permutation, so processes of a distributed run see disjoint batches.

    A dataset smaller than one batch (a folder of 20 pictures, batch 64) still trains: an epoch is then
    ``repeats = ceil(batch / samples per process)`` shuffled passes over the data one after the other, so each
    batch holds some pictures more than once (said once, on creation). With data of at least a batch,
    ``repeats`` is 1 and nothing changes.

    A batch holds every field of the dataset under its own key. Image fields (uint8) are scaled to
    [-1, 1] and augmented on the device, each sample's images alike (the same crop window and the same
    flip for the two halves of a pair), then laid out in ``memory_format``.
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
        if n_local < 1:
            raise DataError(f"dataset {dataset.name} has {len(dataset)} samples, fewer than the {world} processes: "
                            "train with fewer processes or add data")
        self.repeats = -(-batch_size // n_local)
        if self.repeats > 1 and rank == 0:
            print(f"[gankit] dataset {dataset.name} has {len(dataset)} samples, fewer than one batch of {batch_size}"
                  f"{' per process' if world > 1 else ''}: each epoch shows them {self.repeats} times, so batches "
                  f"repeat pictures (a train.batch_size of at most {n_local} avoids that)", file=sys.stderr)
        self.fields = {k: v.to(device) for k, v in dataset.fields.items()}
        self.image_keys = dataset.image_keys
        self.size = len(dataset)
        self.batch_size, self.device, self.seed = batch_size, device, seed
        self.hflip, self.crop_padding = hflip, crop_padding
        self.rank, self.world = rank, world
        self.memory_format = memory_format  # of image batches (channels_last to match NHWC networks)
        self.epoch, self.position = 0, 0
        self._perm: torch.Tensor | None = None

    def _permutation(self) -> torch.Tensor:
        if self._perm is None:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            usable = (self.size // self.world) * self.world
            passes = [torch.randperm(self.size, generator=gen)[:usable].view(-1, self.world)[:, self.rank]
                      for _ in range(self.repeats)]
            self._perm = torch.cat(passes).to(self.device)
        return self._perm

    def state_dict(self) -> dict:
        """Epoch and position in the epoch's permutation, counted in samples of all processes together,
        so a checkpoint of N processes resumes in M processes at the same place."""
        return {"epoch": self.epoch, "position": self.position * self.world}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"]) // self.world
        self._perm = None

    def next(self) -> dict[str, torch.Tensor]:
        """One batch: every field under its key, images in model space ([-1, 1]) and augmented."""
        perm = self._permutation()
        if self.position + self.batch_size > len(perm):
            self.epoch, self.position, self._perm = self.epoch + 1, 0, None
            perm = self._permutation()
        idx = perm[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        batch = {k: v[idx] for k, v in self.fields.items()}
        if self.image_keys:
            from gankit.data import to_model_space

            images = augment_together([to_model_space(batch[k]) for k in self.image_keys], self.hflip,
                                      self.crop_padding)
            for k, x in zip(self.image_keys, images):
                batch[k] = x.contiguous(memory_format=self.memory_format)
        return batch
