"""G's input distribution: Gaussian noise, optionally with a categorical code beside it.

A continuous G maps the connected Gaussian latent space onto a connected set, so it cannot put
all of its mass on separated modes: some always lies on "bridges" between them (Khayatkhoei et
al. 2018, "Disconnected Manifold Learning"; Tanielian et al. 2020, "Learning disconnected
manifolds: a no GAN's land"). A categorical code of K values, given to G as a one-hot vector
concatenated to z (as in InfoGAN, Chen et al. 2016, without its mutual-information term), makes the
latent space K disconnected pieces, and G may send each to a different mode. K need not match
the number of modes of the data (nothing about them is assumed); larger K gives G finer control
over how much mass each mode receives.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Latent:
    """z = [N(0, I_z_dim), one_hot(Uniform{0..categories-1})] (no code when categories == 0)."""

    z_dim: int
    categories: int = 0

    @property
    def dim(self) -> int:
        """Length of the vector G takes."""
        return self.z_dim + self.categories

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        truncation: float | None = None,
    ) -> torch.Tensor:
        """n latent vectors; ``truncation`` t redraws Gaussian entries beyond +-t (Brock et al. 2019, BigGAN).

        With ``generator`` the draw happens on the generator's device (a CPU generator is reproducible
        anywhere) and is moved to ``device``; without, it uses the global generator of ``device``.
        """
        where = generator.device if generator is not None else device
        z = torch.randn(n, self.z_dim, generator=generator, device=where)
        if truncation:
            while True:
                bad = z.abs() > truncation
                count = int(bad.sum())
                if count == 0:
                    break
                z[bad] = torch.randn(count, generator=generator, device=where)
        if self.categories:
            codes = torch.randint(0, self.categories, (n,), generator=generator, device=where)
            z = torch.cat([z, torch.nn.functional.one_hot(codes, self.categories).to(z.dtype)], dim=1)
        return z.to(device) if device is not None else z
