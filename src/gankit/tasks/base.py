"""What the training loop sees of a GAN: networks, optimizers and named phases.

The loop (``gankit.train.loop``) knows nothing about a particular GAN. A task lists

* ``networks``: every module to checkpoint (e.g. ``G``, ``D``, ``G_ema``);
* ``optimizers``: which networks each optimizer trains (``{"D": ["D"], "G": ["G"]}``; a CycleGAN
  task would give ``{"G": ["G_ab", "G_ba"], "D": ["D_a", "D_b"]}``);
* ``phases``: what one training step is. A :class:`Phase` names the optimizer it steps, how
  often it runs (``interval``: every k steps, for lazy regularization as in StyleGAN2), how many
  times in a row (``repeats``: D steps per G step), a function returning the loss to minimise
  and the statistics to log, and hooks to run after each optimizer step (weight clipping, EMA).

During a phase the loop lets gradients reach only the parameters of that phase's optimizer,
so D's parameter gradients are not computed in G's backward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

Stats = dict[str, torch.Tensor]


@dataclass
class Phase:
    """One named part of a training step."""

    name: str
    optimizer: str
    loss: Callable[[int], tuple[torch.Tensor, Stats]]  # step -> (loss, detached stats)
    interval: int = 1
    repeats: int = 1
    after_step: list[Callable[[int], None]] = field(default_factory=list)
    # other optimizers whose parameters also require gradients in this phase, because it builds a graph
    # that a later phase of the same step backpropagates through (e.g. G's forward kept for G's phase)
    records_for: tuple[str, ...] = ()


class Task:
    """Base class: subclasses fill ``networks``, ``optimizers`` and ``phases``."""

    networks: dict[str, nn.Module]
    optimizers: dict[str, list[str]]
    phases: list[Phase]

    def fixed_inputs(self, n: int, seed: int) -> dict[str, torch.Tensor]:
        """The inputs of the fixed-noise sample grid, the same every time for a seed."""
        raise NotImplementedError

    def generate(self, inputs: dict[str, torch.Tensor], use_ema: bool = True) -> torch.Tensor:
        """Outputs for ``inputs`` (from :meth:`fixed_inputs`), in model space, no gradients."""
        raise NotImplementedError
