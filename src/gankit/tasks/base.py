"""What the training loop sees of a GAN family: networks, optimizers, named phases, data streams, and what a run
shows of it.

The loop (``gankit.train.loop``) knows nothing about a particular GAN. A task lists

* ``networks``: every module to checkpoint, by name (``G``, ``D``, ``G_ema``; CycleGAN: ``G_ab``, ``G_ba``,
  ``D_a``, ``D_b`` and the EMA copies);
* ``optimizers``: which networks each optimizer trains (``{"D": ["D"], "G": ["G"]}``; CycleGAN
  ``{"G": ["G_ab", "G_ba"], "D": ["D_a", "D_b"]}``), and :meth:`Task.optim_configs` their settings;
* ``phases``: what one training step is. A :class:`Phase` names the optimizer it steps, how often it runs
  (``interval``: every k steps, for lazy regularization as in StyleGAN2), how many times in a row
  (``repeats``: D steps per G step), a function returning the loss to minimise and the statistics to log,
  and hooks to run after each optimizer step (weight clipping, EMA);
* ``samplers``: the batch streams it draws from, by name (checkpointed with their positions), and
  ``rngs``: its own random generators (shared noise, image-pool draws), checkpointed as ``rng.<name>``;
* what a run shows: a sample picture of fixed inputs, end-of-run metrics, images for feature metrics.

A family is a :class:`Task` subclass registered in ``gankit.tasks.FAMILIES`` under the config's ``task``
name; :meth:`Task.build` makes one from a config, :meth:`Task.inference_networks` rebuilds the networks that
inference loads from a checkpoint.

During a phase the loop lets gradients reach only the parameters of that phase's optimizer (and of those
in its ``records_for``), so D's parameter gradients are not computed in G's backward pass.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from gankit.nets.ema import EMA

if TYPE_CHECKING:
    from gankit.config import Config, OptimConfig
    from gankit.data import BatchSampler
    from gankit.data.image_sources import ImageSet

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


@dataclass
class BuildContext:
    """Where a task is built: the device, this process's place in a multi-process run, its share of the batch,
    the memory layout of image networks and batches."""

    device: torch.device
    batch_size: int
    rank: int = 0
    world: int = 1
    memory_format: torch.memory_format = torch.contiguous_format

    def seed_weights(self, seed: int) -> None:
        """Seed the global generator so that every process builds the same initial weights."""
        torch.manual_seed(seed * 1000)

    def seed_process(self, seed: int) -> None:
        """Seed the global generator for this process's own randomness (augmentation, noise, dropout)."""
        torch.manual_seed(seed * 1000 + self.rank)

    def place(self, *modules: nn.Module) -> None:
        """Move networks to the device, image networks (4-D weights) in the context's memory layout."""
        for m in modules:
            m.to(self.device)
            if self.memory_format is torch.channels_last:
                m.to(memory_format=torch.channels_last)


class Task:
    """Base class of the families: subclasses fill the attributes and override the methods below."""

    family: str = ""
    networks: dict[str, nn.Module]
    optimizers: dict[str, list[str]]
    phases: list[Phase]
    samplers: dict[str, BatchSampler]
    rngs: dict[str, torch.Generator]
    progress_keys: tuple[str, ...] = ("d_loss", "g_loss")  # shown in the progress bar and the loss curve
    compiled: tuple[str, ...] = ()  # networks that train.compile wraps (trained ones; EMA copies stay eager)

    def __init__(self, cfg: Config, ctx: BuildContext):
        self.cfg, self.ctx, self.device = cfg, ctx, ctx.device
        self.networks, self.optimizers, self.phases, self.samplers, self.rngs = {}, {}, [], {}, {}
        self.emas: list[EMA] = []

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, cfg: Config, ctx: BuildContext) -> Task:
        """Load the data, build the networks and the phases."""
        raise NotImplementedError

    @classmethod
    def inference_networks(cls, cfg: Config, data_info: dict) -> dict[str, nn.Module]:
        """The networks inference uses (generators), built from the config and the checkpoint's data info,
        untrained; their weights are loaded from ``<name>_ema`` when the checkpoint has it, else ``<name>``."""
        raise NotImplementedError

    def optim_configs(self) -> dict[str, OptimConfig]:
        """The settings of each optimizer: ``train.g_optim`` for G, ``train.d_optim`` for D."""
        return {"G": self.cfg.train.g_optim, "D": self.cfg.train.d_optim}

    def add_ema(self, name: str) -> nn.Module:
        """Add ``<name>_ema``, an exponential moving average of ``networks[name]`` (``train.ema``), updated by
        :meth:`update_emas`; returns the averaged copy."""
        t = self.cfg.train
        net = self.networks[name]
        shadow = copy.deepcopy(net).eval().requires_grad_(False)
        self.networks[f"{name}_ema"] = shadow
        self.emas.append(EMA(net, shadow, t.ema, t.ema_start, t.ema_rampup))
        return shadow

    def update_emas(self, step: int) -> None:
        for ema in self.emas:
            ema.update(step)

    def sampling_net(self, name: str = "G", use_ema: bool = True) -> nn.Module:
        """The network samples are drawn from: its EMA copy when there is one."""
        return self.networks.get(f"{name}_ema", self.networks[name]) if use_ema else self.networks[name]

    # ------------------------------------------------------------------ the run

    @property
    def data_info(self) -> dict:
        """What inference needs to know of the training data (saved in checkpoints)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the start of a run: what trains on what."""
        raise NotImplementedError

    def images_per_step(self) -> int:
        """Real images (samples, pairs) the phases draw in one step, over all processes."""
        raise NotImplementedError

    def extra_state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Tensors and JSON-able state beyond networks, optimizers, samplers and rngs (checkpointed)."""
        return {}, {}

    def load_extra_state(self, tensors: dict[str, torch.Tensor], state: dict) -> None:
        """Restore what :meth:`extra_state` saved."""

    def fixed_inputs(self, n: int, seed: int) -> dict[str, torch.Tensor]:
        """The inputs of the sample picture, the same every time for a seed."""
        raise NotImplementedError

    def sample_picture(self, fixed: dict[str, torch.Tensor], step: int) -> np.ndarray:
        """What the fixed inputs give now, as one uint8 (H, W, C) picture (a grid, a scatter plot)."""
        raise NotImplementedError

    def end_of_run_metrics(self, seed: int) -> dict:
        """The numbers written to ``metrics.json`` when training ends, each with its protocol."""
        raise NotImplementedError

    def feature_eval_sets(self, n: int, seed: int) -> tuple[ImageSet, ImageSet]:
        """(generated, real) uint8 images for the feature metrics of ``eval.every`` (config ``eval``)."""
        raise NotImplementedError

    def default_extractor(self) -> str:
        """The feature extractor of ``eval`` when ``eval.extractor`` is empty."""
        return "inception"
