"""Scoring images with a trained discriminator: ``gankit score`` and ``gankit sample --d-filter``.

D's output (the logit of "real" for the non-saturating loss, the critic value for hinge and Wasserstein losses)
ranks images by how real the trained D finds them. It is read from the run's ``D`` weights as training left them
(D has no EMA copy), on images decoded and resized like training data, without D's training-time
augmentations. A conditional D scores an image under the class given, or else under the class that scores it
highest.

``--d-filter KEEP`` on ``gankit sample`` draws n / KEEP candidates and keeps the n that D scores highest: the
deterministic top-k form of discriminator rejection sampling (Azadi et al. 2019, "Discriminator Rejection
Sampling", which accepts each draw at random with a probability that grows with D's logit; keeping the top
fraction is that rule's limit when its acceptance threshold is set to admit exactly KEEP of the draws).

Only gan-family runs have a D that scores single images; a PacGAN D (``model.pack`` > 1) judges packs and is
refused, as are zoo models (they ship generators only).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.errors import GankitError


class Discriminator:
    """A run's trained D with what scoring needs to know (classes, image size and channels, background)."""

    def __init__(self, net: nn.Module, class_names: list[str], resolution: int, channels: int, background: tuple,
                 path: str):
        self.net, self.class_names, self.resolution, self.channels = net, class_names, resolution, channels
        self.num_classes = len(class_names)
        self.background, self.path = background, path

    def class_index(self, class_: str | None) -> int | None:
        """``--class`` (an index or a name) as an index; None stays None."""
        if class_ is None:
            return None
        if not self.num_classes:
            raise GankitError("--class needs a conditional model; this D was trained without labels")
        if class_ in self.class_names:
            return self.class_names.index(class_)
        if class_.isdigit() and int(class_) < self.num_classes:
            return int(class_)
        raise GankitError(f"--class {class_!r}: expected 0..{self.num_classes - 1} or one of {self.class_names}")

    @torch.no_grad()
    def scores(self, images: torch.Tensor, label: int | None = None, batch: int = 256) -> torch.Tensor:
        """D's score of uint8 (N, C, R, R) images, float32 (N,); higher = more real."""
        from gankit.data import to_model_space

        out = []
        for i in range(0, len(images), batch):
            x = to_model_space(images[i : i + batch])
            out.append(self._score(x, label))
        return torch.cat(out) if out else torch.zeros(0)

    @torch.no_grad()
    def score_outputs(self, x: torch.Tensor, labels: torch.Tensor | None = None, batch: int = 256) -> torch.Tensor:
        """D's score of generator outputs in [-1, 1] (their own labels for a conditional D)."""
        out = []
        for i in range(0, len(x), batch):
            xb = x[i : i + batch]
            if self.num_classes and labels is not None:
                out.append(self.net(xb, labels[i : i + batch]).float().flatten())
            else:
                out.append(self._score(xb, None))
        return torch.cat(out)

    def _score(self, x: torch.Tensor, label: int | None) -> torch.Tensor:
        if not self.num_classes:
            return self.net(x, None).float().flatten()
        if label is not None:
            return self.net(x, torch.full((len(x),), label)).float().flatten()
        every = [self.net(x, torch.full((len(x),), c)).float().flatten() for c in range(self.num_classes)]
        return torch.stack(every).amax(0)


def load_discriminator(run: str) -> Discriminator:
    """The trained D of a gan-family run (a run or checkpoint folder)."""
    from gankit.checkpoint import load_network, read_checkpoint
    from gankit.config import from_dict
    from gankit.nets import build_networks
    from gankit.nets.growing import set_growth

    tensors, state = read_checkpoint(run)
    if "zoo" in state:
        raise GankitError("zoo models ship their generator only; scoring needs a run folder with its "
                          "discriminator (--run)")
    cfg = from_dict(state["config"])
    if cfg.task != "gan":
        raise GankitError(f"{run} is a {cfg.task} run: scoring ranks images with the discriminator of a gan run, "
                          "whose D judges single images")
    data = state.get("data") or {}
    if not data.get("is_image", False):
        raise GankitError(f"{run} models 2-D points, not images: there is nothing to score in an image folder")
    if cfg.model.pack > 1:
        raise GankitError(f"{run} has a PacGAN discriminator (model.pack={cfg.model.pack}) that judges packs of "
                          "samples, not single images")
    class_names = list(data.get("class_names", [])) if cfg.model.conditional else []
    _, d = build_networks(cfg.model, tuple(data["sample_shape"]), len(class_names), True)
    if "growth" in data:
        set_growth(data["growth"]["resolution"], data["growth"]["alpha"], d)
    load_network(d, "D", tensors, state["path"])
    shape = data["sample_shape"]
    return Discriminator(d.eval(), class_names, int(shape[-1]), int(shape[0]), tuple(cfg.data.background),
                         state["path"])


def read_inputs(spec: str, disc: Discriminator) -> tuple[torch.Tensor, list[str]]:
    """Images to score, uint8 at D's size, and their names: a folder (files found recursively, decoded like
    training data, unreadable ones named and skipped), an .npz/.npy of uint8 images (names ``#index``), or a
    built-in split (``mnist:test``)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        from gankit.data.folder import decode_files, fit_square, open_image, scan_images

        files = scan_images(path)
        if not files:
            raise GankitError(f"--input {spec}: no image files found in it")

        def decode(p: Path) -> np.ndarray:
            return fit_square(open_image(p, disc.channels, disc.background), disc.resolution).transpose(2, 0, 1)

        out, keep, _ = decode_files(path, files, decode, (disc.channels, disc.resolution, disc.resolution))
        if not keep.any():
            raise GankitError(f"--input {spec}: none of its {len(files)} files could be read as an image")
        names = [f.as_posix() for f, k in zip(files, keep) if k]
        return torch.from_numpy(out[keep]), names
    from gankit.data.image_sources import load_images

    images = load_images(spec, None, 0, disc.resolution, disc.channels).images
    return images, [f"#{i}" for i in range(len(images))]


def score_images(run: str, spec: str, out: str | None = None, class_: str | None = None
                 ) -> list[tuple[str, float]]:
    """Rank the images of ``spec`` by ``run``'s D, best first; write ``rank,name,score`` rows to ``out`` (CSV)."""
    disc = load_discriminator(run)
    label = disc.class_index(class_)
    images, names = read_inputs(spec, disc)
    scores = disc.scores(images, label)
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    ranked = [(names[i], float(scores[i])) for i in order]
    if out:
        from gankit.viz import _atomic_save

        def write(p: Path) -> None:
            with open(p, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["rank", "name", "score"])
                w.writerows((r + 1, name, f"{s:.6g}") for r, (name, s) in enumerate(ranked))

        _atomic_save(write, Path(out))
    return ranked


def d_filtered_outputs(loaded, disc: Discriminator, n: int, keep: float, seed: int = 0, **sample_kwargs
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` outputs of ``loaded``'s G chosen by D: the best n of ceil(n / keep) draws (see the module docstring)."""
    from gankit.infer.sample import sample_labels, sample_outputs

    if not 0 < keep <= 1:
        raise GankitError(f"--d-filter must be in (0, 1], the fraction of draws kept; got {keep}")
    draws = math.ceil(n / keep)
    x, labels = sample_outputs(loaded, draws, seed, **sample_kwargs)
    scores = disc.score_outputs(x, labels)
    if labels is None:
        best = torch.argsort(scores, descending=True, stable=True)[:n]
    else:  # the best of each class, as many of each as an unfiltered draw of n would have
        want = torch.bincount(sample_labels(loaded, n, sample_kwargs.get("class_")), minlength=loaded.num_classes)
        picks = []
        for c in range(loaded.num_classes):
            idx = torch.nonzero(labels == c).flatten()
            picks.append(idx[torch.argsort(scores[idx], descending=True, stable=True)[: int(want[c])]])
        best = torch.cat(picks)
    best = best.sort().values  # in draw order
    return x[best], labels[best] if labels is not None else None


def roc_auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """The area under the ROC curve of scores that should rank ``positive`` above ``negative``: the probability
    that a random positive outscores a random negative, ties counting half (the Mann-Whitney U statistic divided
    by n_pos * n_neg; Hanley & McNeil 1982)."""
    pos, neg = positive.double().flatten(), negative.double().flatten()
    if not len(pos) or not len(neg):
        raise GankitError("AUC needs at least one positive and one negative score")
    both = torch.cat([pos, neg])
    order = torch.argsort(both, stable=True)
    ranks = torch.empty_like(both)
    ranks[order] = torch.arange(1, len(both) + 1, dtype=both.dtype)
    values, inverse = torch.unique(both, return_inverse=True)  # ties share their average rank
    mean_rank = torch.zeros_like(values).index_add_(0, inverse, ranks) / torch.bincount(inverse).to(both.dtype)
    rank_sum = mean_rank[inverse][: len(pos)].sum()
    u = rank_sum - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))
