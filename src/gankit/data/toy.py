"""2-D Gaussian mixtures for mode-collapse studies (Metz et al. 2017; Srivastava et al. 2017).

``ring``: ``num_modes`` Gaussians with centres on a circle at angles 2*pi*k/num_modes (k < num_modes,
so no centre is repeated). ``grid``: grid_size^2 Gaussians with centres spaced ``grid_spacing``
apart and centred on the origin ({-4,-2,0,2,4}^2 for 5 and 2). All modes have equal weight and the
same isotropic ``std``.
"""

from __future__ import annotations

import math

import torch


def ring_centers(num_modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """(num_modes, 2) centres at radius*(cos, sin)(2*pi*k/num_modes)."""
    angles = torch.arange(num_modes, dtype=torch.float64) * (2 * math.pi / num_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centers(grid_size: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """(grid_size^2, 2) centres spacing*(i - (grid_size-1)/2), row-major."""
    axis = (torch.arange(grid_size, dtype=torch.float64) - (grid_size - 1) / 2) * spacing
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1).float()


def sample_mixture(centers: torch.Tensor, std: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """n points: a uniformly chosen centre plus N(0, std^2 I) noise."""
    idx = torch.randint(len(centers), (n,), generator=generator)
    return centers[idx] + std * torch.randn(n, centers.shape[1], generator=generator)
