"""Perceptual path length in W (Karras et al. 2019, "A Style-Based Generator Architecture for GANs", section 4.2;
used for StyleGAN2's path-length regularizer, Karras et al. 2020, section 3.2).

PPL = E[ d(G(lerp(w0, w1, t)), G(lerp(w0, w1, t + eps))) / eps^2 ] over pairs of random w's and t ~ U(0, 1)
("full" path sampling), eps = 1e-4, with the pairs whose value falls below the 1st or above the 99th
percentile dropped, as the papers' code does. A smooth, well-conditioned W (what path-length regularization
encourages) gives a low value.

The papers measure d with LPIPS (Zhang et al. 2018): per layer of an ImageNet VGG16, unit-normalize each pixel's
feature vector, take the squared difference, weight the channels with learned weights, average over space and sum
over layers. LPIPS' weights and VGG16 cannot be downloaded on the machines gankit is built on, so here d is that
recipe with *uniform* channel weights on one layer of the FID Inception-v3's stem (the caller passes the feature
function: :class:`gankit.nets.perceptual.InceptionPerceptual`, ``conv2d_4a``, images enlarged 4x). The numbers are
comparable between runs measured this way, not with published PPL values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def normalized_distance(fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """LPIPS' distance with uniform weights on one layer: each pixel's channel vector scaled to unit length, the
    squared difference summed over channels and averaged over pixels. (B, C, H, W) x 2 -> (B,)."""
    na = fa / (fa.norm(dim=1, keepdim=True) + 1e-10)
    nb = fb / (fb.norm(dim=1, keepdim=True) + 1e-10)
    return (na - nb).pow(2).sum(dim=1).mean(dim=(1, 2))


def trimmed_mean(values: np.ndarray, low: float = 1.0, high: float = 99.0) -> float:
    """The mean of the values between the ``low`` and ``high`` percentiles (both included)."""
    lo, hi = np.percentile(values, low), np.percentile(values, high)
    kept = values[(values >= lo) & (values <= hi)]
    return float(kept.mean())


@torch.no_grad()
def perceptual_path_length(G, features: Callable[[torch.Tensor], torch.Tensor], n: int = 2000, eps: float = 1e-4,
                           seed: int = 0, batch_size: int = 32) -> dict:
    """PPL in W of a StyleGAN generator (``mapping``, ``synthesis``) over ``n`` pairs, with the feature function
    ``features`` ((B, 3, H, W) in [-1, 1] -> (B, C, h, w)); the same constant noise at both ends of a step."""
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    was_training = G.training
    G.eval()
    dist = []
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        z = G.latent.sample(2 * b, generator=gen).to(device)
        labels = None
        if G.num_classes:
            labels = torch.randint(0, G.num_classes, (b,), generator=gen).to(device).repeat(2)
        ws = G.mapping(z, labels)
        w0, w1 = ws[:b], ws[b:]
        t = torch.rand(b, 1, 1, generator=gen).to(device)
        both = torch.cat([torch.lerp(w0, w1, t), torch.lerp(w0, w1, t + eps)])
        images = G.synthesis(both, noise_mode="const").float()
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        f = features(images).float()
        dist.append((normalized_distance(f[:b], f[b:]) / eps**2).double().cpu())
    G.train(was_training)
    values = torch.cat(dist).numpy()
    return {"ppl_w": trimmed_mean(values), "protocol": {
        "metric": "perceptual path length in W, full path sampling (Karras et al. 2019)",
        "pairs": n, "epsilon": eps, "seed": seed, "kept": "1st-99th percentile",
        "distance": "LPIPS recipe with uniform weights on FID Inception-v3 conv2d_4a (pre-activation), images x4 "
                    "bilinear: a stand-in for VGG16 LPIPS, comparable only between gankit runs"}}
