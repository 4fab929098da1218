"""``gankit synth``: a labelled synthetic dataset from a conditional generator (or an unlabelled one).

The output is a dataset other tools read directly:

* ``folder`` (default): ``OUT/<class name>/<index>.png``, the layout ``gankit train --data OUT`` reads as a
  labelled folder (and torchvision's ImageFolder too), plus ``OUT/synth.json`` recording the model, its step,
  the seed, psi and the count per class;
* ``npz``: ``OUT/synth.npz`` with ``images`` (uint8, N x H x W x C), ``labels`` (int64) and ``class_names``.

Each class gets ``n_per_class`` samples drawn with the class fixed; the noise of class c comes from seed
``seed + c`` so that adding classes or samples never changes the images already drawn for a class. An existing
non-empty ``OUT`` is refused (nothing is overwritten).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.infer import LoadedModel


def synth_arrays(loaded: LoadedModel, n_per_class: int, seed: int = 0, psi: float = 1.0,
                 batch: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
    """uint8 images (N, C, H, W) and labels (N,) (None for an unconditional model: ``n_per_class`` images)."""
    from gankit.data import to_uint8
    from gankit.sampling import generate

    if n_per_class < 1:
        raise GankitError(f"--n-per-class must be at least 1, got {n_per_class}")
    if not loaded.data.get("is_image", True):
        raise GankitError(f"{loaded.path} generates 2-D points: gankit synth writes image datasets")
    net = loaded.net
    classes = list(range(loaded.num_classes)) or [None]
    images, labels = [], []
    for c in classes:
        z = net.latent.sample(n_per_class, generator=torch.Generator().manual_seed(seed + (c or 0)))
        y = torch.full((n_per_class,), c) if c is not None else None
        for i in range(0, n_per_class, batch):
            images.append(to_uint8(generate(net, z[i : i + batch], y[i : i + batch] if y is not None else None,
                                            psi=psi)).cpu())
        if y is not None:
            labels.append(y)
    return torch.cat(images), (torch.cat(labels) if labels else None)


def write_synth(loaded: LoadedModel, out: str | Path, n_per_class: int, seed: int = 0, psi: float = 1.0,
                fmt: str = "folder", source: str = "") -> dict:
    """Draw the dataset and write it to ``out`` (see the module docstring); returns what synth.json records."""
    from PIL import Image

    out = Path(out)
    if fmt not in ("folder", "npz"):
        raise GankitError(f"--format {fmt!r}: choose folder or npz")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GankitError(f"--out {out} exists and is not empty: choose a new folder (nothing is overwritten)")
    images, labels = synth_arrays(loaded, n_per_class, seed, psi)
    names = loaded.class_names or [str(c) for c in range(loaded.num_classes)]
    record = {"source": source or loaded.path, "step": loaded.step, "seed": seed, "psi": psi,
              "n_per_class": n_per_class, "classes": names if labels is not None else [], "n": len(images),
              "resolution": list(images.shape[1:]), "format": fmt}
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        arr = images.permute(0, 2, 3, 1).numpy()
        if fmt == "npz":
            np.savez(tmp / "synth.npz", images=arr, labels=(labels.numpy() if labels is not None else
                                                             np.zeros(0, np.int64)), class_names=np.array(names))
        else:
            for i, a in enumerate(arr):
                folder = tmp / _safe(names[int(labels[i])]) if labels is not None else tmp
                folder.mkdir(exist_ok=True)
                Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a).save(folder / f"{i:06d}.png")
        (tmp / "synth.json").write_text(json.dumps(record, indent=1) + "\n")
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def _safe(name: str) -> str:
    """A class name as a folder name (path separators and leading dots replaced)."""
    cleaned = "".join("_" if c in '/\\:*?"<>|' else c for c in name).lstrip(".")
    return cleaned or "_"
