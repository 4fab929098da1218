"""Samples of a trained gan-family run: ``gankit sample``, ``gankit eval --run``, the benchmarks."""

from __future__ import annotations

import torch

from gankit.errors import GankitError
from gankit.infer import LoadedModel
from gankit.sampling import draw_latents, generate


def class_index(loaded: LoadedModel, class_: str | None) -> int | None:
    if class_ is None:
        return None
    if not loaded.num_classes:
        raise GankitError("--class needs a conditional model; this run was trained without labels")
    names = loaded.class_names
    if class_ in names:
        return names.index(class_)
    if class_.lstrip("-").isdigit() and 0 <= int(class_) < loaded.num_classes:
        return int(class_)
    raise GankitError(f"--class {class_!r}: expected 0..{loaded.num_classes - 1} or one of {names}")


def sample_labels(loaded: LoadedModel, n: int, class_: str | None = None) -> torch.Tensor | None:
    """The labels of ``n`` samples: balanced (cycling through the classes), all ``class_``, or None when
    unconditional."""
    if not loaded.num_classes:
        class_index(loaded, class_)  # a --class for an unconditional model is an error
        return None
    idx = class_index(loaded, class_)
    return torch.full((n,), idx) if idx is not None else torch.arange(n) % loaded.num_classes


def sample_outputs(loaded: LoadedModel, n: int, seed: int = 0, truncation: float | None = None,
                   class_: str | None = None, jacobian_truncation: float | None = None, psi: float | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` outputs of G (float, [-1, 1] for images) and the labels asked for (None if unconditional).

    Labels cycle through the classes (balanced) unless ``class_`` picks one. ``jacobian_truncation`` and
    ``psi`` (StyleGAN's truncation in W) None take the run's ``sample`` settings. The noise comes from a
    generator seeded with ``seed``.
    """
    sample_cfg = loaded.cfg.sample if loaded.cfg is not None else None
    if jacobian_truncation is None:
        jacobian_truncation = sample_cfg.jacobian_truncation if sample_cfg else 0.0
    if psi is None:
        psi = sample_cfg.truncation_psi if sample_cfg else 1.0
    cutoff = sample_cfg.truncation_cutoff if sample_cfg else 0
    labels = sample_labels(loaded, n, class_)
    gen = torch.Generator().manual_seed(seed)
    z = draw_latents(loaded.net, n, gen, labels, truncation, jacobian_truncation,
                     sample_cfg.jacobian_projections if sample_cfg else 8)
    return generate(loaded.net, z, labels, psi=psi, cutoff=cutoff), labels


def sample_to_file(loaded: LoadedModel, out: str, n: int = 64, seed: int = 0, truncation: float | None = None,
                   class_: str | None = None, fmt: str = "png", jacobian_truncation: float | None = None,
                   psi: float | None = None, outputs: tuple[torch.Tensor, torch.Tensor | None] | None = None):
    """Draw ``n`` samples with :func:`sample_outputs` (or take ``outputs``, (G's outputs, labels) drawn elsewhere,
    e.g. by :func:`gankit.infer.score.d_filtered_outputs`) and write a PNG grid or an .npy array.

    Images: npy is uint8 (N, H, W, C); points: npy is float32 (N, 2) and the PNG a scatter plot.
    """
    from pathlib import Path

    import numpy as np

    from gankit.data import to_uint8
    from gankit.viz import save_image_grid, save_scatter

    if outputs is not None:
        out_t, labels = outputs
    else:
        out_t, labels = sample_outputs(loaded, n, seed, truncation, class_, jacobian_truncation, psi)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if loaded.data["is_image"]:
        images = to_uint8(out_t)
        if fmt == "npy":
            np.save(path, images.permute(0, 2, 3, 1).numpy())
        else:
            nrow = loaded.num_classes if (labels is not None and class_ is None) else None
            save_image_grid(images, path, nrow=nrow)
    else:
        pts = out_t.numpy().astype(np.float32)
        if fmt == "npy":
            np.save(path, pts)
        else:
            centers = np.asarray(loaded.data["centers"]) if "centers" in loaded.data else None
            save_scatter(pts, path, centers, title=f"{n} samples, step {loaded.step}")
    return path
