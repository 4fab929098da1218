"""StyleGAN's W space for a trained run: the style-mixing grid (``gankit mix``) and paths between seeds in W.

A seed names one z: ``latent.sample(1)`` from a generator seeded with it, the same z that ``gankit mix`` and the
W-space helpers use everywhere. Its w is the mapping network's output, truncated by ``psi`` when asked.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.infer import LoadedModel


def _stylegan(loaded: LoadedModel):
    net = loaded.net
    if not hasattr(net, "mapping") or not hasattr(net, "num_ws"):
        raise GankitError(f"{loaded.path} is not a StyleGAN run (model.arch={getattr(loaded.cfg.model, 'arch', '?')}):"
                          " style mixing and W-space paths need model.arch=stylegan2")
    return net.eval()


def seed_ws(loaded: LoadedModel, seeds: list[int], psi: float = 1.0, label: int | None = None) -> torch.Tensor:
    """The ws (len(seeds), num_ws, w_dim) of the z that each seed draws (truncated by ``psi``)."""
    net = _stylegan(loaded)
    if net.num_classes and label is None:
        raise GankitError("this StyleGAN run is conditional: pass --class")
    device = next(net.parameters()).device
    z = torch.cat([net.latent.sample(1, generator=torch.Generator().manual_seed(s)) for s in seeds]).to(device)
    labels = torch.full((len(seeds),), label, device=device) if net.num_classes else None
    with torch.no_grad():
        return net.mapping(z, labels, psi)


def parse_layers(text: str, num_ws: int) -> list[int]:
    """``A-B`` (inclusive), ``A`` or ``A,B,C`` -> layer indices, checked against the generator's ``num_ws``."""
    try:
        if "-" in text:
            a, b = (int(v) for v in text.split("-", 1))
            layers = list(range(a, b + 1))
        else:
            layers = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GankitError(f"--layers {text!r}: expected A-B (e.g. 0-3), A, or A,B,C") from None
    if not layers or any(not 0 <= i < num_ws for i in layers):
        raise GankitError(f"--layers {text!r}: this generator has layers 0-{num_ws - 1} "
                          "(low indices: coarse styles, pose and shape; high: colour and fine detail)")
    return layers


def mix_images(loaded: LoadedModel, rows: list[int], cols: list[int], layers: list[int], psi: float = 1.0,
               label: int | None = None) -> torch.Tensor:
    """Images of the style-mixing grid, row by row: the column seeds, then for each row seed its own image
    followed by its w with ``layers`` taken from each column seed's w. Returns (len(rows) + 1, len(cols) + 1)
    images, the top-left one blank, as uint8 (N, C, R, R)."""
    from gankit.data import to_uint8

    net = _stylegan(loaded)
    w_rows, w_cols = seed_ws(loaded, rows, psi, label), seed_ws(loaded, cols, psi, label)
    with torch.no_grad():
        top = to_uint8(net.synthesis(w_cols, noise_mode="const").cpu())
        out = [torch.full_like(top[:1], 255), top]
        for i in range(len(rows)):
            mixed = w_rows[i : i + 1].repeat(len(cols), 1, 1)
            mixed[:, layers] = w_cols[:, layers]
            both = torch.cat([w_rows[i : i + 1], mixed])
            out.append(to_uint8(net.synthesis(both, noise_mode="const").cpu()))
    return torch.cat(out)


def mix_grid(loaded: LoadedModel, rows: list[int], cols: list[int], layers: list[int], psi: float = 1.0,
             label: int | None = None) -> np.ndarray:
    """The classic style-mixing picture (Karras et al. 2019, figure 3): column seeds across the top, row seeds
    down the left, and in each cell the row's image with the column's styles on ``layers``."""
    from gankit.viz import image_grid

    return image_grid(mix_images(loaded, rows, cols, layers, psi, label), nrow=len(cols) + 1)


def w_path(loaded: LoadedModel, seed_a: int, seed_b: int, steps: int, psi: float = 1.0,
           label: int | None = None) -> torch.Tensor:
    """Images along the straight line from seed_a's w to seed_b's w (``steps`` points, both ends included): the
    interpolation in W that StyleGAN's disentangled space makes smooth. uint8 (steps, C, R, R)."""
    from gankit.data import to_uint8

    net = _stylegan(loaded)
    if steps < 2:
        raise GankitError(f"steps must be at least 2, got {steps}")
    ws = seed_ws(loaded, [seed_a, seed_b], psi, label)
    t = torch.linspace(0, 1, steps, device=ws.device)[:, None, None]
    with torch.no_grad():
        return to_uint8(net.synthesis(torch.lerp(ws[:1], ws[1:], t), noise_mode="const").cpu())


def run_ppl(loaded: LoadedModel, pairs: int = 2000, seed: int = 0) -> dict:
    """Perceptual path length in W of a StyleGAN run (:mod:`gankit.metrics.ppl`), with the Inception-stem
    stand-in for LPIPS (needs ``gankit fetch inception``)."""
    from gankit.metrics.ppl import perceptual_path_length
    from gankit.nets.perceptual import InceptionPerceptual

    net = _stylegan(loaded)
    features = InceptionPerceptual(layer="conv2d_4a", resize=4.0)
    result = perceptual_path_length(net, features, n=pairs, seed=seed)
    result["step"] = loaded.step
    return result
