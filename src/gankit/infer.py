"""Using a trained generator: noise with truncation, Jacobian truncation, generation with standing statistics."""

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


# --------------------------------------------------------------------------- Jacobian truncation

CALIBRATION_SEED = 20200713  # fixed: the JBT threshold is a property of G, not of the draw
CALIBRATION_SAMPLES = 10_000
MAX_ROUNDS = 10_000  # rejection rounds before giving up (an acceptance rate near 0)


def _ready(net: nn.Module) -> nn.Module:
    """``net`` for inference: eval mode, BatchNorm with standing statistics (a copy when it has BatchNorm)."""
    if _has_batchnorm(net):
        return standing_statistics(net, getattr(net, "num_classes", 0))
    return net.eval()


def jacobian_norms(net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None, projections: int = 8,
                   generator: torch.Generator | None = None, batch_size: int = 1024) -> torch.Tensor:
    """||dG/dz||_F for each row of ``z``, over the Gaussian part of the latent (a categorical code is discrete).

    With z_dim <= ``projections`` it is exact: ||J||_F^2 = sum_i ||J e_i||^2 over the basis directions.
    Otherwise it is the unbiased estimate (1/k) sum_j ||J v_j||^2 with v_j ~ N(0, I) (E[v v^T] = I), from
    k = ``projections`` directions. Each product J v is one forward-mode pass (``torch.func.jvp``).
    ``net`` should be in eval mode (see :func:`_ready`).
    """
    from torch.func import jvp

    z_dim = net.latent.z_dim
    exact = z_dim <= projections
    device = next(net.parameters()).device
    out = []
    for i in range(0, z.shape[0], batch_size):
        zb = z[i : i + batch_size].to(device)
        lb = labels[i : i + batch_size].to(device) if labels is not None else None
        total = torch.zeros(zb.shape[0], device=device)
        for j in range(z_dim if exact else projections):
            v = torch.zeros_like(zb)
            if exact:
                v[:, j] = 1.0
            else:
                v[:, :z_dim] = torch.randn(zb.shape[0], z_dim, generator=generator).to(device)
            _, jv = jvp(lambda u, lb=lb: net(u, lb), (zb,), (v,))
            total += jv.detach().float().flatten(1).pow(2).sum(1)
        out.append((total if exact else total / projections).sqrt().cpu())
    return torch.cat(out)


def jacobian_threshold(net: nn.Module, fraction: float, projections: int = 8, truncation: float | None = None,
                       samples: int = CALIBRATION_SAMPLES) -> float:
    """The ||dG/dz|| above which a draw is rejected: the (1 - fraction) quantile over ``samples`` draws
    made with a fixed seed (labels uniform for a conditional G)."""
    gen = torch.Generator().manual_seed(CALIBRATION_SEED)
    z = net.latent.sample(samples, generator=gen, truncation=truncation)
    classes = getattr(net, "num_classes", 0)
    labels = torch.randint(0, classes, (samples,), generator=gen) if classes else None
    norms = jacobian_norms(net, z, labels, projections, gen)
    return float(torch.quantile(norms.double(), 1.0 - fraction))


def draw_latents(net: nn.Module, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
                 truncation: float | None = None, jacobian_truncation: float = 0.0,
                 projections: int = 8) -> torch.Tensor:
    """``n`` inputs for G (on the CPU), optionally with Jacobian-based truncation.

    Jacobian-based truncation (JBT; Tanielian et al. 2020, "Learning disconnected manifolds: a no
    GAN's land", ICML): a continuous G cannot jump between separated modes, so the draws it sends
    between them (the "no GAN's land") are those where G stretches the latent space most, i.e. where
    ||dG/dz|| is largest. A threshold is set once per G at the (1 - ``jacobian_truncation``) quantile of
    that norm over a fixed calibration draw; then each latent vector is redrawn until its norm is at
    or below it (rejection sampling, so the accepted vectors are independent). Uses G only: nothing
    about the data, the discriminator or the true modes. Like BigGAN's truncation trick it trades
    diversity for quality; mode-coverage metrics show how much diversity is left.
    ``labels`` (for a conditional G) stay with their rows. Forward-mode AD keeps process-wide state:
    do not run two of these at once in threads of one process.
    """
    from gankit.errors import GankitError

    if not jacobian_truncation:
        return net.latent.sample(n, generator=generator, truncation=truncation)
    ready = _ready(net)
    threshold = jacobian_threshold(ready, jacobian_truncation, projections, truncation, CALIBRATION_SAMPLES)
    out = torch.empty(n, net.latent.dim)
    pending = torch.arange(n)
    for _ in range(MAX_ROUNDS):
        if not len(pending):
            return out
        z = net.latent.sample(len(pending), generator=generator, truncation=truncation)
        norms = jacobian_norms(ready, z, labels[pending] if labels is not None else None, projections, generator)
        ok = norms <= threshold
        out[pending[ok]] = z[ok]
        pending = pending[~ok]
    raise GankitError(
        f"Jacobian truncation accepted no draw for {len(pending)} of {n} samples in {MAX_ROUNDS} rounds "
        f"(for a conditional G, some classes may lie wholly above the threshold): lower sample.jacobian_truncation"
    )


# --------------------------------------------------------------------------- trained runs


class LoadedGenerator:
    """A generator restored from a checkpoint, with what is needed to use it."""

    def __init__(self, net: nn.Module, data: dict, step: int, path: str, cfg=None):
        self.net, self.data, self.step, self.path, self.cfg = net, data, step, path, cfg

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
    return LoadedGenerator(g.to(device).eval(), data, int(state["step"]), state["path"], cfg)


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


def sample_outputs(loaded: LoadedGenerator, n: int, seed: int = 0, truncation: float | None = None,
                   class_: str | None = None, jacobian_truncation: float | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` outputs of G (float, [-1, 1] for images) and the labels asked for (None if unconditional).

    Labels cycle through the classes (balanced) unless ``class_`` picks one. ``jacobian_truncation``
    None takes the run's ``sample.jacobian_truncation``. The noise comes from a generator seeded with ``seed``.
    """
    sample_cfg = loaded.cfg.sample if loaded.cfg is not None else None
    if jacobian_truncation is None:
        jacobian_truncation = sample_cfg.jacobian_truncation if sample_cfg else 0.0
    labels = None
    idx = _class_index(loaded, class_)
    if loaded.num_classes:
        labels = torch.full((n,), idx) if idx is not None else torch.arange(n) % loaded.num_classes
    gen = torch.Generator().manual_seed(seed)
    z = draw_latents(loaded.net, n, gen, labels, truncation, jacobian_truncation,
                     sample_cfg.jacobian_projections if sample_cfg else 8)
    return generate(loaded.net, z, labels), labels


def sample_to_file(loaded: LoadedGenerator, out: str, n: int = 64, seed: int = 0, truncation: float | None = None,
                   class_: str | None = None, fmt: str = "png", jacobian_truncation: float | None = None):
    """Draw ``n`` samples with :func:`sample_outputs` and write a PNG grid or an .npy array.

    Images: npy is uint8 (N, H, W, C); points: npy is float32 (N, 2) and the PNG a scatter plot.
    """
    from pathlib import Path

    import numpy as np

    from gankit.data import to_uint8
    from gankit.viz import save_image_grid, save_scatter

    out_t, labels = sample_outputs(loaded, n, seed, truncation, class_, jacobian_truncation)
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
