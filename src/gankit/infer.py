"""Using a trained generator: noise with truncation, generation with standing statistics."""

from __future__ import annotations

import copy

import torch
from torch import nn


def _has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


@torch.no_grad()
def standing_statistics(net: nn.Module, num_classes: int = 0, batches: int = 16,
                        batch_size: int = 64, seed: int = 0) -> nn.Module:
    """A copy of ``net`` whose BatchNorm statistics are re-estimated on its own outputs.

    "Standing statistics" (Brock et al. 2019, BigGAN, appendix C.1): the running averages that
    G accumulated during training belong to G's weights at earlier steps, not to an EMA of them,
    so they are recomputed by averaging batch statistics over ``batches`` forward passes.
    """
    net = copy.deepcopy(net)
    device = next(net.parameters()).device
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(batches):
        z = net.latent.sample(batch_size, generator=gen, device=device)
        labels = torch.randint(0, num_classes, (batch_size,), generator=gen).to(device) if num_classes else None
        net(z, labels)
    return net.eval()


@torch.no_grad()
def generate(net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None,
             batch_size: int = 256) -> torch.Tensor:
    """G(z, labels) in eval mode, in batches; BatchNorm uses standing statistics."""
    if _has_batchnorm(net):
        net = standing_statistics(net, getattr(net, "num_classes", 0))
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    outs = []
    for i in range(0, z.shape[0], batch_size):
        zb = z[i : i + batch_size].to(device)
        lb = labels[i : i + batch_size].to(device) if labels is not None else None
        outs.append(net(zb, lb).float())
    net.train(was_training)
    return torch.cat(outs)


# --------------------------------------------------------------------------- trained runs


class LoadedGenerator:
    """A generator restored from a checkpoint, with what is needed to use it."""

    def __init__(self, net: nn.Module, data: dict, step: int, path: str):
        self.net, self.data, self.step, self.path = net, data, step, path

    @property
    def class_names(self) -> list[str]:
        return list(self.data.get("class_names", []))

    @property
    def num_classes(self) -> int:
        return getattr(self.net, "num_classes", 0)


def load_generator(run: str, use_ema: bool = True, device: str = "cpu") -> LoadedGenerator:
    """Rebuild G from a run (latest checkpoint) or a checkpoint folder; never unpickles."""
    from gankit.config import from_dict
    from gankit.errors import CheckpointError
    from gankit.nets import build_networks
    from gankit.train.checkpoint import load_network, read_checkpoint

    tensors, state = read_checkpoint(run)
    cfg = from_dict(state["config"])
    data = state["data"]
    num_classes = len(data["class_names"]) if cfg.model.conditional else 0
    g, _ = build_networks(cfg.model, tuple(data["sample_shape"]), num_classes, data["is_image"])
    name = "G_ema" if use_ema and any(k.startswith("net.G_ema.") for k in tensors) else "G"
    if use_ema and name == "G" and cfg.train.ema > 0:
        raise CheckpointError(f"checkpoint {state['path']} has no G_ema although its config enables EMA")
    load_network(g, name, tensors, state["path"])
    return LoadedGenerator(g.to(device).eval(), data, int(state["step"]), state["path"])


def _class_index(loaded: LoadedGenerator, class_: str | None) -> int | None:
    from gankit.errors import GankitError

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


def sample_to_file(loaded: LoadedGenerator, out: str, n: int = 64, seed: int = 0, truncation: float | None = None,
                   class_: str | None = None, fmt: str = "png"):
    """Draw ``n`` samples with a fixed seed and write a PNG grid or an .npy array.

    Images: npy is uint8 (N, H, W, C); points: npy is float32 (N, 2) and the PNG a scatter plot.
    """
    from pathlib import Path

    import numpy as np

    from gankit.data import to_uint8
    from gankit.viz import save_image_grid, save_scatter

    gen = torch.Generator().manual_seed(seed)
    z = loaded.net.latent.sample(n, generator=gen, truncation=truncation)
    labels = None
    idx = _class_index(loaded, class_)
    if loaded.num_classes:
        labels = torch.full((n,), idx) if idx is not None else torch.arange(n) % loaded.num_classes
    out_t = generate(loaded.net, z, labels)
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
