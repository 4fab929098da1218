"""Datasets held as tensors: built-ins, folders of images, image pairs, and 2-D toy mixtures.

Everything is decoded once into tensors that live on the training device: a :class:`Dataset` is a set
of *fields*, per-sample tensors aligned on their first axis, named by what a batch holds:

* ``x`` (uint8 images (N, C, R, R), or float32 points (N, 2)) and ``label`` (int64), for the gan family;
* ``A`` and ``B`` (uint8 images), an aligned pair per index, for translation (``gankit.data.paired``).

:class:`~gankit.data.sampler.BatchSampler` draws dict batches with the same keys; its images enter the
networks in [-1, 1] (:func:`to_model_space`), every image field of a sample augmented alike.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch

from gankit.config import DataConfig
from gankit.data.toy import grid_centers, ring_centers, sample_mixture
from gankit.errors import DataError


@dataclass
class Dataset:
    """Aligned per-sample tensors (``fields``) in memory, with what is known about them."""

    name: str
    fields: dict[str, torch.Tensor]
    class_names: list[str] = field(default_factory=list)
    centers: torch.Tensor | None = None  # toy mixtures only: the true mode centres
    std: float | None = None  # toy mixtures only
    ids: list[str] = field(default_factory=list)  # one name per sample where known (file stem, emoji code)

    def __post_init__(self) -> None:
        sizes = {k: v.shape[0] for k, v in self.fields.items()}
        if len(set(sizes.values())) > 1:
            raise DataError(f"dataset {self.name}: fields of different lengths {sizes}")
        if self.ids and len(self.ids) != len(self):
            raise DataError(f"dataset {self.name}: {len(self.ids)} ids for {len(self)} samples")

    @classmethod
    def images(cls, name: str, images: torch.Tensor, labels: torch.Tensor | None = None,
               class_names: list[str] | None = None) -> Dataset:
        """One uint8 image (N, C, R, R) per sample, labelled when ``labels`` is given."""
        fields = {"x": images}
        if labels is not None:
            fields["label"] = labels
        return cls(name, fields, list(class_names or []))

    @property
    def data(self) -> torch.Tensor:
        """The main field: ``x`` for single samples, ``A`` for pairs."""
        return self.fields["x"] if "x" in self.fields else next(iter(self.fields.values()))

    @property
    def labels(self) -> torch.Tensor | None:
        return self.fields.get("label")

    @property
    def image_keys(self) -> list[str]:
        """The fields that hold uint8 images (scaled and augmented when batched)."""
        return [k for k, v in self.fields.items() if v.dtype == torch.uint8 and v.dim() == 4]

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

    def select(self, index: torch.Tensor | list[int], name: str | None = None) -> Dataset:
        """The samples at ``index`` (a subset or a reordering), every field alike."""
        idx = torch.as_tensor(index, dtype=torch.long)
        ids = [self.ids[i] for i in idx.tolist()] if self.ids else []
        return Dataset(name or self.name, {k: v[idx] for k, v in self.fields.items()}, list(self.class_names),
                       self.centers, self.std, ids)

    def info(self) -> dict:
        """What inference needs to know of the data without loading it again (saved in checkpoints)."""
        out = {
            "name": self.name,
            "sample_shape": list(self.sample_shape),
            "is_image": self.is_image,
            "class_names": self.class_names,
        }
        if self.centers is not None:
            out["centers"] = self.centers.tolist()
            out["std"] = self.std
        return out


def to_model_space(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().mul_(2 / 255).sub_(1)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounded and clamped."""
    return ((x.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def fit_images(images: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    """Built-in grayscale images brought to ``data.channels`` and ``data.resolution``."""
    from gankit.data.transforms import resize_images

    if images.shape[1] != cfg.channels:
        images = images.expand(-1, cfg.channels, -1, -1).contiguous() if images.shape[1] == 1 else None
        if images is None:
            raise DataError("cannot turn RGB images into grayscale here; set data.channels=3")
    return resize_images(images, cfg.resolution)


def build_dataset(cfg: DataConfig, seed: int = 0) -> Dataset:
    """Load (fetching or decoding on first use) the single-sample dataset that ``cfg`` names (gan family)."""
    if cfg.name in ("ring", "grid"):
        if cfg.name == "ring":
            centers = ring_centers(cfg.num_modes, cfg.radius)
        else:
            centers = grid_centers(cfg.grid_size, cfg.grid_spacing)
        gen = torch.Generator().manual_seed(10_007 + seed)
        points = sample_mixture(centers, cfg.std, cfg.num_samples, gen)
        return Dataset(cfg.name, {"x": points}, centers=centers, std=cfg.std)
    if cfg.name == "folder":
        from gankit.data.folder import load_image_folder

        images, labels, names = load_image_folder(cfg.path, cfg.resolution, cfg.channels, tuple(cfg.background))
        return subset(Dataset.images(f"folder:{cfg.path}", images, labels, names), cfg)
    if cfg.name == "fluent-emoji-3d":
        from gankit.data.fluent import load_fluent_images

        images, codes = load_fluent_images(cfg.split, cfg.resolution, cfg.channels, tuple(cfg.background))
        ds = Dataset.images(f"fluent-emoji-3d:{cfg.split}", images)
        ds.ids = codes
        print(f"[gankit] fluent-emoji-3d {cfg.split}: {len(ds)} pictures at {cfg.resolution} px", file=sys.stderr)
        return subset(ds, cfg)
    from gankit.data import builtin

    loaders = {"mnist": builtin.load_mnist, "fashion-mnist": builtin.load_fashion_mnist}
    if cfg.name == "digits":
        if cfg.split != "train":
            raise DataError("digits has no splits: use data.split=train (all 1,797 images)")
        images, labels, names = builtin.load_digits()
    elif cfg.name in loaders:
        images, labels, names = loaders[cfg.name](cfg.split)
    else:
        raise DataError(f"data.name={cfg.name} is not single-image data: it is loaded by gankit.data.paired")
    print(f"[gankit] {cfg.name} {cfg.split}: {len(images)} images", file=sys.stderr)
    return subset(Dataset.images(cfg.name, fit_images(images, cfg), labels, names), cfg)


def subset(ds: Dataset, cfg: DataConfig) -> Dataset:
    """``data.subset`` images drawn at random with ``data.subset_seed`` (after dropping skin-tone variants with
    ``data.base_emoji_only``), in their original order; the dataset itself when neither is set."""
    if not (cfg.subset or cfg.base_emoji_only):
        return ds
    keep = list(range(len(ds)))
    if cfg.base_emoji_only:
        from gankit.data.emoji import SKIN_TONES

        keep = [i for i in keep if not any(t in ds.ids[i].split("-") for t in SKIN_TONES)]
    if cfg.subset:
        if cfg.subset > len(keep):
            raise DataError(f"data.subset={cfg.subset} but {ds.name} has {len(keep)} images"
                            f"{' without skin-tone variants' if cfg.base_emoji_only else ''}: lower it")
        gen = torch.Generator().manual_seed(cfg.subset_seed)
        keep = sorted(keep[i] for i in torch.randperm(len(keep), generator=gen)[: cfg.subset].tolist())
    what = f"{len(keep)} of {len(ds)}" + (" (no skin-tone variants)" if cfg.base_emoji_only else "")
    what += f", subset seed {cfg.subset_seed}" if cfg.subset else ""
    print(f"[gankit] {ds.name}: training on {what}", file=sys.stderr)
    return ds.select(keep, f"{ds.name}[{what}]")


from gankit.data.sampler import BatchSampler  # noqa: E402  (re-exported: it needs Dataset above)

__all__ = ["Dataset", "BatchSampler", "build_dataset", "fit_images", "to_model_space", "to_uint8"]
