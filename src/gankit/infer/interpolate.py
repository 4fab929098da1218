"""Walks through a generator's latent space between seeds: ``gankit interpolate``.

A seed names one latent, the same one ``gankit mix`` and the W-space helpers draw (``latent.sample(1)`` from a
generator seeded with it). Between consecutive seeds the walk takes ``steps`` points, both ends included, either
along a straight line (``lerp``) or along the great circle (``slerp``). Spherical interpolation suits Gaussian z:
in high dimensions a draw's norm is concentrated near sqrt(dim), and the midpoint of a straight line between two
draws has a norm about 1/sqrt(2) of that, a region G hardly saw in training (White 2016, "Sampling Generative
Networks"). StyleGAN's W space is the other way round: it is built to be traversed in straight lines
(Karras et al. 2019), so ``--space w`` defaults to lerp.

Conditional generators walk with one class (``classes`` of length 1) or morph between classes (one class per
seed): the label travels as a soft label, a mix of the two classes' embeddings (:func:`gankit.nets.layers.soft_onehot`).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from gankit.errors import GankitError
from gankit.infer import LoadedModel

METHODS = ("lerp", "slerp")
SPACES = ("z", "w")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical linear interpolation (Shoemake 1985, "Animating rotation with quaternion curves"), row-wise.

    ``a``, ``b``: (D,) or (N, D); ``t``: (T,) in [0, 1]. Returns (T, D) or (T, N, D)::

        slerp(a, b; t) = sin((1 - t) theta) / sin(theta) * a + sin(t theta) / sin(theta) * b,

    theta the angle between ``a`` and ``b``. Unlike quaternion slerp the norms need not be 1: the formula moves
    along the arc between the two vectors, and their norms are interpolated with it. Where theta is near 0 (or
    pi, where the arc is not unique) it falls back to the straight line.
    """
    a64, b64 = a.double(), b.double()
    cos = (a64 * b64).sum(-1) / (a64.norm(dim=-1) * b64.norm(dim=-1)).clamp_min(1e-12)
    theta = torch.arccos(cos.clamp(-1.0, 1.0))  # shape a.shape[:-1]
    tt = t.double().reshape(-1, *([1] * (a.dim() - 1)))  # (T, 1, ...) against theta
    sin = torch.sin(theta)
    degenerate = sin.abs() < 1e-6
    safe = torch.where(degenerate, torch.ones_like(sin), sin)
    wa = torch.where(degenerate, 1 - tt, torch.sin((1 - tt) * theta) / safe)
    wb = torch.where(degenerate, tt, torch.sin(tt * theta) / safe)
    return (wa[..., None] * a64 + wb[..., None] * b64).to(a.dtype)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - t) a + t b for each t: (T, *a.shape)."""
    tt = t.to(a.dtype).reshape(-1, *([1] * a.dim()))
    return a + tt * (b - a)


def walk(points: torch.Tensor, steps: int, method: str = "lerp", loop: bool = False) -> torch.Tensor:
    """``steps`` points per leg between consecutive rows of ``points`` (K, ...), ends included and each shared
    end taken once: (K - 1) * (steps - 1) + 1 rows, or K * (steps - 1) with ``loop`` (back to the first)."""
    if method not in METHODS:
        raise GankitError(f"--method {method!r}: choose {' or '.join(METHODS)}")
    if steps < 2:
        raise GankitError(f"--steps must be at least 2 (the two ends), got {steps}")
    stops = torch.cat([points, points[:1]]) if loop else points
    t = torch.linspace(0, 1, steps)
    fn = slerp if method == "slerp" else lerp
    legs = [fn(stops[i], stops[i + 1], t)[:-1] for i in range(len(stops) - 1)]
    if not loop:
        legs.append(stops[-1:])
    return torch.cat(legs)


def _seed_latents(net, seeds: list[int], truncation: float | None) -> torch.Tensor:
    return torch.cat([net.latent.sample(1, generator=torch.Generator().manual_seed(s), truncation=truncation)
                      for s in seeds])


def _labels(loaded: LoadedModel, classes: list[int], n_seeds: int) -> torch.Tensor | None:
    """Soft labels (n_seeds, num_classes) at the seeds, or None for an unconditional model."""
    k = loaded.num_classes
    if not k:
        if classes:
            raise GankitError("--class/--classes need a conditional model; this run was trained without labels")
        return None
    if not classes:
        raise GankitError(f"this model is conditional ({k} classes): pass --class C for one class or --classes "
                          "A,B,... with one class per seed to morph between them")
    if len(classes) not in (1, n_seeds):
        raise GankitError(f"--classes gives {len(classes)} classes for {n_seeds} seeds: give one per seed, or one "
                          "(--class) for the whole walk")
    idx = torch.tensor(classes * n_seeds if len(classes) == 1 else classes)
    return torch.nn.functional.one_hot(idx, k).float()


def interpolate(loaded: LoadedModel, seeds: list[int], steps: int = 16, space: str = "z", method: str | None = None,
                classes: list[int] | None = None, psi: float = 1.0, truncation: float | None = None,
                loop: bool = False) -> torch.Tensor:
    """The images of a walk through ``seeds`` (uint8, (frames, C, H, W)); see the module docstring."""
    from gankit.data import to_uint8
    from gankit.sampling import generate

    if loaded.family != "gan":
        raise GankitError(f"{loaded.path} is a {loaded.family} run: interpolation walks the latent space of an "
                          "image generator (task gan)")
    if not loaded.data.get("is_image", True):
        raise GankitError(f"{loaded.path} generates 2-D points, not images: use gankit sample for its scatter plot")
    if len(seeds) < 2:
        raise GankitError("--seeds: give at least two seeds to walk between, e.g. 1,7,42")
    if space not in SPACES:
        raise GankitError(f"--space {space!r}: choose {' or '.join(SPACES)}")
    net = loaded.net
    stylegan = hasattr(net, "mapping") and hasattr(net, "synthesis")
    if space == "w" and not stylegan:
        raise GankitError("--space w needs a StyleGAN generator (model.arch=stylegan2); this one only has z")
    method = method or ("lerp" if space == "w" else "slerp")
    soft = _labels(loaded, list(classes or []), len(seeds))
    z = _seed_latents(net, seeds, truncation)
    device = next(net.parameters()).device
    labels = walk(soft, steps, "lerp", loop) if soft is not None else None
    if space == "w":
        with torch.no_grad():
            ws = net.mapping(z.to(device), soft.to(device) if soft is not None else None, psi)
            frames = walk(ws[:, 0].cpu(), steps, method, loop)  # one w per seed (every layer's is the same)
            out = net.synthesis(frames[:, None].repeat(1, net.num_ws, 1).to(device), noise_mode="const").float()
        return to_uint8(out.cpu())
    zs = _walk_latent(net, z, steps, method, loop)
    return to_uint8(generate(net, zs, labels, psi=psi))


def _walk_latent(net, z: torch.Tensor, steps: int, method: str, loop: bool) -> torch.Tensor:
    """The walk of the Gaussian part of z by ``method``; a categorical code beside it (InfoGAN-style) moves in a
    straight line, a soft mix of its two values."""
    d = net.latent.z_dim
    gauss = walk(z[:, :d], steps, method, loop)
    if z.shape[1] == d:
        return gauss
    return torch.cat([gauss, walk(z[:, d:], steps, "lerp", loop)], dim=1)


def leg_rows(frames: torch.Tensor, steps: int, loop: bool = False) -> torch.Tensor:
    """The walk's legs one after another, each with both of its ends (``steps`` frames): a grid of ``steps``
    columns then shows one leg per row, as interpolation figures do."""
    seq = torch.cat([frames, frames[:1]]) if loop else frames
    legs = (len(seq) - 1) // (steps - 1)
    return torch.cat([seq[i * (steps - 1) : i * (steps - 1) + steps] for i in range(legs)])


def save_walk(frames: torch.Tensor, out: str | Path, steps: int, loop: bool = False, fps: float = 12.0,
              min_size: int = 128) -> Path:
    """Write the frames of :func:`interpolate` as an animated GIF (``.gif``, repeating, ``fps`` frames a second)
    or a PNG grid with a leg per row (``.png``, :func:`leg_rows`)."""
    from PIL import Image

    from gankit.viz import _atomic_save, save_image_grid

    path = Path(out)
    suffix = path.suffix.lower()
    if suffix == ".png":
        return save_image_grid(leg_rows(frames, steps, loop), path, nrow=steps)
    if suffix != ".gif":
        raise GankitError(f"--out {out}: write a .gif (animation) or a .png (grid)")
    if fps <= 0:
        raise GankitError(f"--fps must be positive, got {fps}")
    arr = frames.permute(0, 2, 3, 1).numpy()
    scale = max(1, math.ceil(min_size / max(arr.shape[1:3])))
    images = []
    for a in arr:
        img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        if scale > 1:
            img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
        images.append(img.convert("RGB") if img.mode != "L" else img)
    duration = max(20, round(1000 / fps))  # GIF delays are in 10 ms units; browsers slow anything under 20 ms
    _atomic_save(lambda p: images[0].save(p, format="GIF", save_all=True, append_images=images[1:],
                                          duration=duration, loop=0), path)
    return path
