"""The generic training loop: run a task's phases, log, sample, checkpoint, resume.

It knows nothing about a particular GAN: a task (``gankit.tasks``) gives it networks, optimizers
and phases. Statistics stay on the device and are read (one host sync) only every ``log_every``
steps.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from gankit import distributed as dist_utils
from gankit.config import Config, OptimConfig, to_dict
from gankit.data import BatchSampler, Dataset, build_dataset, to_uint8
from gankit.errors import GankitError
from gankit.nets import build_networks
from gankit.tasks.base import Task
from gankit.tasks.gan import GANTask
from gankit.train import checkpoint as ckpt
from gankit.train import speed
from gankit.train.logger import NullLogger, RunLogger, append_jsonl, read_stats
from gankit.viz import image_grid, save_image_grid, save_loss_curve, save_scatter


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


def lr_factor(step: int, total: int, kind: str, start: float = 0.0) -> float:
    """Multiplier of the base learning rate at ``step``: 1 until ``start * total``, then down to 0 at ``total``.

    ``linear``: 1 - p; ``cosine``: (1 + cos(pi p)) / 2, with p the fraction of the decay done.
    """
    if kind == "none":
        return 1.0
    begin = start * total
    p = min(1.0, max(0.0, (step - begin) / max(total - begin, 1e-9)))
    return 1.0 - p if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * p))


@dataclass
class Setup:
    """Everything a run is made of, built from its config."""

    cfg: Config
    device: torch.device
    dataset: Dataset
    sampler: BatchSampler
    task: Task
    optimizers: dict[str, torch.optim.Optimizer]
    rank: int = 0
    world: int = 1
    amp_dtype: torch.dtype | None = None  # autocast dtype of the training step (None: fp32)
    scalers: dict[str, torch.amp.GradScaler] | None = None  # per optimizer, for fp16


def local_batch_size(batch_size: int, world: int) -> int:
    """Each process's share of the global ``train.batch_size``; an error unless it splits evenly."""
    if batch_size % world:
        raise GankitError(f"train.batch_size={batch_size} does not split evenly over {world} processes: "
                          f"use a multiple of {world}")
    return batch_size // world


def build(cfg: Config, rank: int = 0, world: int = 1, local_rank: int = 0) -> Setup:
    """Seed, pick the device, load the data, build nets, task and optimizers.

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
    dataset = build_dataset(cfg.data, seed=t.seed)
    if cfg.model.conditional and dataset.num_classes < 2:
        raise GankitError(
            f"model.conditional=true but dataset {dataset.name} has no labels "
            "(a folder needs one sub-folder per class)"
        )
    torch.manual_seed(t.seed * 1000)  # the same initial weights in every process
    num_classes = dataset.num_classes if cfg.model.conditional else 0
    G, D = build_networks(cfg.model, dataset.sample_shape, num_classes, dataset.is_image)
    G.to(device)
    D.to(device)
    amp_dtype = speed.autocast_dtype(t.precision, device)
    layout = torch.contiguous_format
    if t.channels_last and dataset.is_image:
        layout = torch.channels_last
        speed.to_channels_last(G, D)
    torch.manual_seed(t.seed * 1000 + rank)  # per-process randomness (augmentation, instance noise, GP weights)
    sampler = BatchSampler(
        dataset, local_batch, device, seed=t.seed, hflip=cfg.data.hflip,
        crop_padding=cfg.data.crop_padding, rank=rank, world=world, memory_format=layout,
    )
    task = GANTask(cfg, G, D, sampler, num_classes, rank=rank, world=world)
    if t.compile:  # after the task made G's EMA copy, which stays eager (it only samples)
        speed.compile_modules(G, D)
    configs = {"G": t.g_optim, "D": t.d_optim}
    optimizers = {name: make_optimizer(params, configs[name]) for name, params in owned_parameters(task).items()}
    scalers = None
    if amp_dtype is torch.float16:
        scalers = {name: speed.grad_scaler(amp_dtype, device) for name in optimizers}
    return Setup(cfg, device, dataset, sampler, task, optimizers, rank, world, amp_dtype, scalers)


def owned_parameters(task: Task) -> dict[str, list[torch.nn.Parameter]]:
    """The parameters each optimizer trains, to let gradients reach only those during its phases."""
    return {name: [p for m in mods for p in task.networks[m].parameters()] for name, mods in task.optimizers.items()}


def train_step(setup: Setup, step: int, owned: dict[str, list[torch.nn.Parameter]],
               sums: dict[str, torch.Tensor], counts: dict[str, int]) -> None:
    """One training step: every phase due at ``step``, each a forward under the run's autocast, a backward
    (loss-scaled for fp16), the cross-process gradient average and an optimizer step, then its hooks.

    Statistics are added to ``sums``/``counts`` on the device (no host sync). The learning rates follow
    ``train.lr_decay``. :class:`Trainer` runs this; so does ``gankit bench speed``, which times it.
    """
    t = setup.cfg.train
    opts, scalers, device, amp_dtype = setup.optimizers, setup.scalers, setup.device, setup.amp_dtype
    if t.lr_decay != "none":
        factor = lr_factor(step, t.steps, t.lr_decay, t.lr_decay_start)
        for opt in opts.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor
    for phase in setup.task.phases:
        if step % phase.interval:
            continue
        for name, params in owned.items():  # D's parameter gradients are not computed in G's phase
            flag = name == phase.optimizer or name in phase.records_for
            for p in params:
                p.requires_grad_(flag)
        opt = opts[phase.optimizer]
        scaler = scalers[phase.optimizer] if scalers else None
        for _ in range(phase.repeats):
            opt.zero_grad(set_to_none=True)
            with speed.autocast(device, amp_dtype):
                loss, stats = phase.loss(step)
            (scaler.scale(loss) if scaler else loss).backward()
            if setup.world > 1:  # before the scaler's inf check, so every process decides alike
                dist_utils.average_gradients(owned[phase.optimizer])
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            for hook in phase.after_step:
                hook(step)
            for key, value in stats.items():
                sums[key] = sums[key] + value if key in sums else value.clone()
                counts[key] = counts.get(key, 0) + 1


def data_info(dataset: Dataset) -> dict:
    """What inference needs to know of the training data without loading it again."""
    info = {
        "name": dataset.name,
        "sample_shape": list(dataset.sample_shape),
        "is_image": dataset.is_image,
        "class_names": dataset.class_names,
    }
    if dataset.centers is not None:
        info["centers"] = dataset.centers.tolist()
        info["std"] = dataset.std
    return info


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


class Trainer:
    """Runs a :class:`Setup` inside a run folder."""

    def __init__(self, setup: Setup, run_dir: str | Path, resume: bool = False, quiet: bool = False):
        self.s = setup
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.step = 0
        self.last_eval: dict | None = None
        self.timings: dict[str, float] = {}
        self.main = setup.rank == 0  # only process 0 writes the run folder
        if resume:
            tensors, state = ckpt.read_checkpoint(self.run_dir)
            ckpt.restore(tensors, state, setup.task.networks, setup.optimizers)
            self._restore_generators(tensors, int(state["step"]))
            setup.sampler.load_state_dict(state["sampler"])
            for name, scaler_state in state.get("grad_scalers", {}).items():
                if setup.scalers and name in setup.scalers:
                    setup.scalers[name].load_state_dict(scaler_state)
            self.step = int(state["step"])
        if self.main:
            _write_json(self.run_dir / "config.json", to_dict(setup.cfg))
            self.logger = RunLogger(self.run_dir, setup.cfg.train.tensorboard, self.step if resume else None)
        else:
            self.logger = NullLogger()
        self.fixed = setup.task.fixed_inputs(setup.cfg.train.grid_size, seed=setup.cfg.train.seed + 1)
        self._owned = owned_parameters(setup.task)

    # ------------------------------------------------------------------ pieces

    def _generator_states(self) -> dict[str, torch.Tensor]:
        """The shared noise generator's state and, in a multi-process run, every process's own generators.

        Collective: every process must call it.
        """
        out = {"rng.shared": self.s.task.shared_gen.get_state()}
        if self.s.world > 1:
            for r, st in enumerate(dist_utils.gather_rng_states(torch.get_rng_state())):
                out[f"rng.cpu.rank{r}"] = st
            if self.s.device.type == "cuda":
                for r, st in enumerate(dist_utils.gather_rng_states(torch.cuda.get_rng_state(self.s.device))):
                    out[f"rng.cuda.rank{r}"] = st
        return out

    def _restore_generators(self, tensors: dict[str, torch.Tensor], step: int) -> None:
        if "rng.shared" in tensors:
            self.s.task.shared_gen.set_state(tensors["rng.shared"])
        if self.s.world > 1 and self.s.rank > 0:  # process 0 got rng.cpu / rng.cuda.* from ckpt.restore
            own = tensors.get(f"rng.cpu.rank{self.s.rank}")
            if own is not None:
                torch.set_rng_state(own)
            else:  # saved by fewer processes: a fresh stream of its own
                torch.manual_seed(self.s.cfg.train.seed * 1000 + self.s.rank + 7919 * (step + 1))
            own_cuda = tensors.get(f"rng.cuda.rank{self.s.rank}")
            if own_cuda is not None and self.s.device.type == "cuda":
                torch.cuda.set_rng_state(own_cuda, self.s.device)

    def save_checkpoint(self) -> Path | None:
        """Process 0 writes the checkpoint (the others only hand over their generator states)."""
        states = self._generator_states()
        path = None
        if self.main:
            extra = {
                "config": to_dict(self.s.cfg),
                "sampler": self.s.sampler.state_dict(),
                "data": data_info(self.s.dataset),
                "world_size": self.s.world,
            }
            if self.s.scalers:
                extra["grad_scalers"] = {name: sc.state_dict() for name, sc in self.s.scalers.items()}
            path = ckpt.save_checkpoint(self.ckpt_dir, self.step, self.s.task.networks, self.s.optimizers, extra,
                                        self.s.cfg.train.keep_ckpts, extra_tensors=states)  # fmt: skip
        dist_utils.barrier()
        return path

    def evaluate(self) -> dict:
        """Feature metrics of the sampling G now (config ``eval``): appended to metrics.jsonl and TensorBoard."""
        from gankit.evaluation import evaluate_during_training

        start = time.perf_counter()
        result = evaluate_during_training(self.s, self.step, seed=self.s.cfg.train.seed)
        result["step"] = self.step
        result["eval_seconds"] = round(time.perf_counter() - start, 2)
        append_jsonl(self.run_dir / "metrics.jsonl", result)
        self.logger.scalars("eval", {k: v for k, v in result.items() if k not in ("step", "eval_seconds")}, self.step)
        if not self.quiet:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in result.items()
                              if isinstance(v, float) and k != "eval_seconds")  # fmt: skip
            print(f"[gankit] eval at step {self.step}: {shown} ({result['eval_seconds']:.1f} s)", file=sys.stderr)
        return result

    def save_samples(self, path: Path) -> Path:
        out = self.s.task.generate(self.fixed)
        if self.s.dataset.is_image:
            images = to_uint8(out)
            nrow = self.s.dataset.num_classes if "labels" in self.fixed else None
            save_image_grid(images, path, nrow=nrow)
            self.logger.image("samples", image_grid(images, nrow), self.step)
        else:
            ds = self.s.dataset
            real = ds.data[: len(out)].numpy()
            save_scatter(out.cpu().numpy(), path, ds.centers.numpy(), real, title=f"step {self.step}")
        return path

    # ------------------------------------------------------------------ the loop

    def run(self, stop_at: int | None = None) -> dict:
        """Train up to ``train.steps``; ``stop_at`` ends early (with a checkpoint) as an interruption would,
        keeping the lr schedule of the full run, so a later resume continues it exactly."""
        cfg = self.s.cfg
        t = cfg.train
        total = t.steps
        end = total if stop_at is None else min(stop_at, total)
        if self.step >= total:
            print(f"[gankit] run already at step {self.step} >= {total}: nothing to train", file=sys.stderr)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        window_images, window_start = 0, time.perf_counter()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        budget_hit = ""
        images_total = 0
        world = self.s.world
        bar = tqdm(
            total=total, initial=self.step, desc="train", unit="step", disable=self.quiet or not self.main,
            dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr,
        )
        last: dict = {}
        while self.step < end:
            step = self.step
            train_step(self.s, step, self._owned, sums, counts)
            if t.compile and "compile_seconds" not in self.timings:  # the first step compiles G and D
                self.timings["compile_seconds"] = round(time.perf_counter() - t0, 2)
                if not self.quiet and self.main:
                    print(f"[gankit] torch.compile: first step took {self.timings['compile_seconds']:.1f} s "
                          "(compiling included)", file=sys.stderr)
            images = self.s.sampler.batch_size * world * t.n_critic
            window_images += images
            images_total += images
            self.step += 1
            bar.update(1)
            if t.max_seconds and time.perf_counter() - t0 >= t.max_seconds:
                budget_hit = f"train.max_seconds={t.max_seconds:g}"
            elif t.max_cpu_seconds and time.process_time() - cpu0 >= t.max_cpu_seconds:
                budget_hit = f"train.max_cpu_seconds={t.max_cpu_seconds:g}"
            if world > 1 and (t.max_seconds or t.max_cpu_seconds):  # all processes stop at the same step
                if dist_utils.any_process(bool(budget_hit)):
                    budget_hit = budget_hit or "a time budget (reached by another process)"
            if budget_hit:
                end = total = self.step  # this step is the last one: log, sample, evaluate, checkpoint
            if self.step % t.log_every == 0 or self.step == total:
                now = time.perf_counter()
                record = {"step": self.step}
                record.update(dist_utils.mean_over_processes(
                    {k: float(v) / counts[k] for k, v in sums.items()}))  # the host sync
                record["images_per_sec"] = window_images / max(now - window_start, 1e-9)
                record["kimg"] = self.step * images / 1000
                if any(not math.isfinite(v) for v in record.values()):
                    raise GankitError(
                        f"training diverged at step {self.step} (a loss is NaN or infinite): lower the learning "
                        f"rates or add a regularizer, then resume from the last checkpoint with --resume"
                    )
                self.logger.log(record)
                bar.set_postfix(
                    d=f"{record.get('d_loss', float('nan')):.3f}", g=f"{record.get('g_loss', float('nan')):.3f}",
                    ips=f"{record['images_per_sec']:.0f}", refresh=False,
                )
                last = record
                sums, counts = {}, {}
                window_images, window_start = 0, time.perf_counter()
            if self.main and (self.step % t.sample_every == 0 or self.step == total):
                self.save_samples(self.run_dir / "samples" / f"step-{self.step:08d}.png")
            every = cfg.eval.every
            if self.main and every and (self.step % every == 0 or self.step == total):
                self.last_eval = self.evaluate()
            if self.step % t.ckpt_every == 0 or self.step in (total, end):
                self.save_checkpoint()
        bar.close()
        wall = time.perf_counter() - t0
        info = {"wall_seconds": wall, "images_per_sec": images_total / wall if wall > 0 else 0.0, "last": last,
                "cpu_seconds": time.process_time() - cpu0, **self.timings}
        if budget_hit:
            info["stopped_by"] = budget_hit
            print(f"[gankit] time budget {budget_hit} reached: stopped at step {self.step} of {t.steps}",
                  file=sys.stderr)
        return info

    def finish(self, train_info: dict | None = None) -> dict:
        """Final sample grid, loss curve and metrics.json; returns the metrics (only process 0 does this)."""
        from gankit.evaluate import end_of_run_metrics

        if not self.main:
            return {}
        samples = self.save_samples(self.run_dir / "samples.png")
        curve = save_loss_curve(read_stats(self.run_dir / "stats.jsonl"), self.run_dir / "loss_curve.png")
        metrics = end_of_run_metrics(self.s, seed=self.s.cfg.train.seed)
        metrics["step"] = self.step
        if train_info:
            metrics["train_wall_seconds"] = round(train_info["wall_seconds"], 2)
            metrics["train_images_per_sec"] = round(train_info["images_per_sec"], 1)
            metrics["train_cpu_seconds"] = round(train_info["cpu_seconds"], 2)
            if "compile_seconds" in train_info:
                metrics["compile_seconds"] = train_info["compile_seconds"]
            if "stopped_by" in train_info:
                metrics["stopped_by"] = train_info["stopped_by"]
        metrics["device"] = str(self.s.device)
        if self.s.world > 1:
            metrics["processes"] = self.s.world
        if self.last_eval is not None:
            metrics["eval"] = self.last_eval
        _write_json(self.run_dir / "metrics.json", metrics)
        self.logger.close()
        return {"samples": samples, "loss_curve": curve, "metrics": metrics}


def check_run_dir(out: str | Path, force: bool = False) -> bool:
    """Raise if ``out`` may not become a fresh run folder; True if it exists and ``force`` will replace it."""
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not force:
            raise GankitError(
                f"run folder {path} already exists: pass --resume {path} to continue it, "
                "--force to start over in it, or choose another --out"
            )
        if not (path.is_dir() and (path / "config.json").is_file()):
            raise GankitError(f"--force only replaces gankit run folders, and {path} is not one: choose another --out")
        return True
    return False


def prepare_run_dir(out: str | Path, force: bool = False) -> Path:
    """Create a fresh run folder; refuse an existing non-empty one unless ``force`` (then empty it)."""
    import shutil

    path = Path(out)
    if check_run_dir(path, force):
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
