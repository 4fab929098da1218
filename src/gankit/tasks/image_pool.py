"""A history of generated images for the discriminator (Shrivastava et al. 2017, section 2.3; used by CycleGAN,
Zhu et al. 2017, section 4).

D is updated on a mix of the newest fakes and older ones, so it does not chase G's latest output alone
(which makes the two oscillate). Until the pool holds ``size`` images, every new image is stored and used
as it is. Then each new image is, with probability 1/2, swapped for a random stored one (D sees the stored
image, the new one takes its place), or else used as it is and not stored.
"""

from __future__ import annotations

import torch


class ImagePool:
    """``query(images)`` returns a batch of the same shape drawn as described above; ``size`` 0 returns its input."""

    def __init__(self, size: int, generator: torch.Generator):
        self.size = size
        self.generator = generator  # a CPU generator: the draws need no device sync
        self.images: torch.Tensor | None = None
        self.count = 0
        self._saved: torch.Tensor | None = None  # restored from a checkpoint, placed at the next query

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        images = images.detach()
        if self.images is None:
            self.images = torch.empty((self.size, *images.shape[1:]), dtype=images.dtype, device=images.device)
            if self._saved is not None:
                self.images[: len(self._saved)] = self._saved.to(images.device, images.dtype)
                self._saved = None
        n = images.shape[0]
        coins = torch.rand(n, generator=self.generator).tolist()
        slots = torch.randint(0, self.size, (n,), generator=self.generator).tolist()
        out = []
        for i in range(n):
            if self.count < self.size:
                self.images[self.count] = images[i]
                self.count += 1
                out.append(images[i])
            elif coins[i] < 0.5:
                out.append(self.images[slots[i]].clone())
                self.images[slots[i]] = images[i]
            else:
                out.append(images[i])
        return torch.stack(out).contiguous(memory_format=_layout(images))

    def state(self, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
        """Tensors and JSON state for a checkpoint (the stored images, how many there are)."""
        stored = self.images[: self.count] if self.images is not None else self._saved
        tensors = {f"{prefix}.images": stored.clone()} if self.count and stored is not None else {}
        return tensors, {"count": self.count}

    def load(self, prefix: str, tensors: dict[str, torch.Tensor], state: dict) -> None:
        """Restore what :meth:`state` saved (the images take their place at the next query)."""
        self.count = int(state.get("count", 0))
        self.images = None
        self._saved = tensors[f"{prefix}.images"] if self.count else None


def _layout(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format
