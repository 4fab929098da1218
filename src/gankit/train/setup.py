"""Everything a run is made of, built from its config: device, the family's task, optimizers, precision.

:func:`build` is the same for every family: it picks the device and the process settings, lets the family
named by ``task`` build its data, networks and phases (:meth:`gankit.tasks.base.Task.build`), compiles the
networks the task names, and makes one optimizer per entry of ``task.optimizers``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from gankit.config import Config, OptimConfig
from gankit.errors import GankitError
from gankit.tasks import BuildContext, Task, get_family
from gankit.train import speed


def select_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; anything else is taken as asked (and checked)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GankitError(f"train.device={name} but no CUDA device is available: use train.device=auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GankitError("train.device=mps but MPS is not available: use train.device=auto or cpu")
    return torch.device(name)


def make_optimizer(params: list[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """Adam (with the config's betas; fused when ``cfg.fused`` and PyTorch has the kernel for these
    parameters) or RMSprop over ``params``; ``initial_lr`` keeps the base rate."""
    if cfg.name == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        fused = cfg.fused and speed.fused_available(params)
        opt = torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay,
                               fused=fused or None)
    for group in opt.param_groups:
        group["initial_lr"] = cfg.lr
    return opt


@dataclass
class Setup:
    """Everything a run is made of, built from its config."""

    cfg: Config
    device: torch.device
    task: Task
    optimizers: dict[str, torch.optim.Optimizer]
    rank: int = 0
    world: int = 1
    amp_dtype: torch.dtype | None = None  # autocast dtype of the training step (None: fp32)
    scalers: dict[str, torch.amp.GradScaler] | None = None  # per optimizer, for fp16
    total_steps: int = 0  # the run's length for the lr schedule: train.steps, or what the time budget allows

    def __post_init__(self) -> None:
        self.total_steps = self.total_steps or self.cfg.train.steps


def local_batch_size(batch_size: int, world: int) -> int:
    """Each process's share of the global ``train.batch_size``; an error unless it splits evenly."""
    if batch_size % world:
        raise GankitError(f"train.batch_size={batch_size} does not split evenly over {world} processes: "
                          f"use a multiple of {world}")
    return batch_size // world


def owned_parameters(task: Task) -> dict[str, list[torch.nn.Parameter]]:
    """The parameters each optimizer trains, to let gradients reach only those during its phases."""
    return {name: [p for m in mods for p in task.networks[m].parameters()] for name, mods in task.optimizers.items()}


def build(cfg: Config, rank: int = 0, world: int = 1, local_rank: int = 0) -> Setup:
    """Seed, pick the device, let the family build its task, compile, make the optimizers.

    ``rank``/``world``: this process's place in a multi-process run (see :mod:`gankit.distributed`);
    ``train.batch_size`` is then split evenly over the ``world`` processes.
    """
    t = cfg.train
    local_batch = local_batch_size(t.batch_size, world)
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    if t.deterministic:
        torch.use_deterministic_algorithms(True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    device = select_device(t.device)
    if device.type == "cuda" and world > 1:
        if local_rank >= torch.cuda.device_count():
            raise GankitError(f"process {rank} wants CUDA device {local_rank} but this machine has "
                              f"{torch.cuda.device_count()}: start at most that many processes per machine, "
                              "or set train.device=cpu")
        device = torch.device("cuda", local_rank)
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormal floats can slow CPU kernels by 10x or more
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not t.deterministic
        if t.threads == 0:  # the CPU only feeds the GPU: a few threads, not one spinning per core
            torch.set_num_threads(min(4, os.cpu_count() or 1))
    amp_dtype = speed.autocast_dtype(t.precision, device)
    layout = torch.channels_last if t.channels_last else torch.contiguous_format
    ctx = BuildContext(device, local_batch, rank, world, layout)
    task = get_family(cfg.task).build(cfg, ctx)
    if t.compile:  # after the task made its EMA copies, which stay eager (they only sample)
        speed.compile_modules(*(task.networks[name] for name in task.compiled))
    configs = task.optim_configs()
    optimizers = {name: make_optimizer(params, configs[name]) for name, params in owned_parameters(task).items()}
    scalers = None
    if amp_dtype is torch.float16:
        scalers = {name: torch.amp.GradScaler(device.type) for name in optimizers}
    return Setup(cfg, device, task, optimizers, rank, world, amp_dtype, scalers)
