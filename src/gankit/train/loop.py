"""The generic training loop: run a task's phases, log, sample, evaluate, checkpoint, resume.

It knows nothing about a particular GAN: a task (``gankit.tasks``) gives it networks, optimizers, phases,
batch samplers and its own random generators, and says what a run shows (a sample picture, end-of-run
metrics, images for feature metrics). Statistics stay on the device and are read (one host sync) only every
``log_every`` steps.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from gankit import checkpoint as ckpt
from gankit import distributed as dist_utils
from gankit.config import to_dict
from gankit.errors import CheckpointError, GankitError
from gankit.train import speed
from gankit.train.logger import NullLogger, RunLogger, append_jsonl, drop_after, read_stats
from gankit.train.rundir import check_run_dir, prepare_run_dir, write_json
from gankit.train.setup import Setup, build, owned_parameters  # noqa: F401  (build: the public entry beside Trainer)
from gankit.viz import save_loss_curve, save_picture

__all__ = ["Trainer", "train_step", "lr_factor", "build", "check_run_dir", "prepare_run_dir"]


def lr_factor(step: int, total: int, kind: str, start: float = 0.0, warmup: int = 0) -> float:
    """Multiplier of the base learning rate at ``step`` (counted from 0): 1 until ``start * total``, then down to
    0 at ``total``; times (step + 1) / warmup during the first ``warmup`` steps.

    ``linear``: 1 - p; ``cosine``: (1 + cos(pi p)) / 2, with p the fraction of the decay done.
    """
    ramp = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    if kind == "none":
        return ramp
    begin = start * total
    p = min(1.0, max(0.0, (step - begin) / max(total - begin, 1e-9)))
    return ramp * (1.0 - p if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * p)))


def train_step(setup: Setup, step: int, owned: dict[str, list[torch.nn.Parameter]],
               sums: dict[str, torch.Tensor], counts: dict[str, int]) -> None:
    """One training step: every phase due at ``step``, each a forward under the run's autocast, a backward
    (loss-scaled for fp16), the cross-process gradient average and an optimizer step, then its hooks.

    Statistics are added to ``sums``/``counts`` on the device (no host sync). The learning rates follow
    ``train.lr_warmup`` and ``train.lr_decay`` over ``setup.total_steps``. :class:`Trainer` runs this; so does
    ``gankit bench speed``.
    """
    t = setup.cfg.train
    opts, scalers, device, amp_dtype = setup.optimizers, setup.scalers, setup.device, setup.amp_dtype
    if t.lr_decay != "none" or t.lr_warmup > 0:
        factor = lr_factor(step, setup.total_steps, t.lr_decay, t.lr_decay_start, t.lr_warmup)
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


class BudgetFit:
    """Fits a run's length to a time budget (``train.fit_to_budget``): the steps the budget allows.

    The speed is measured from the end of a warm-up (the first 5% of the budget: compiling, caches) over the
    next 10% of it, at logging steps (process 0's clock in a multi-process run). The length is then this step
    plus the remaining budget times that speed, less 2% for the end's samples and checkpoint, at most
    ``train.steps``. Until then the lr schedule runs against ``train.steps``.
    """

    def __init__(self, budget: float, clock, cap: int):
        self.budget, self.clock, self.cap = budget, clock, cap
        self.start = clock()
        self.mark: tuple[float, int] | None = None

    def update(self, step: int) -> int | None:
        """The fitted length once it is known (None before)."""
        used = self.clock() - self.start
        if self.mark is None:
            if used >= 0.05 * self.budget:
                self.mark = (used, step)
            return None
        if used < 0.15 * self.budget or step <= self.mark[1]:
            return None
        rate = (step - self.mark[1]) / max(used - self.mark[0], 1e-9)
        return min(self.cap, max(step + 1, step + int(0.98 * (self.budget - used) * rate)))


class Trainer:
    """Runs a :class:`Setup` inside a run folder."""

    def __init__(self, setup: Setup, run_dir: str | Path, resume: bool = False, quiet: bool = False):
        self.s = setup
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.step = 0
        self.fitted_steps: int | None = None
        self.last_eval: dict | None = None
        self.timings: dict[str, float] = {}
        self.main = setup.rank == 0  # only process 0 writes the run folder
        task = setup.task
        self.rollbacks = 0  # NaN/Inf rollbacks so far (train.nan_retries bounds them)
        self.lr_scale = 1.0  # the learning rates' factor after those rollbacks
        self._window: tuple[dict[str, torch.Tensor], dict[str, int]] = ({}, {})  # log sums carried over a resume
        if resume and not ckpt.list_checkpoints(self.ckpt_dir):
            # stopped before its first checkpoint (killed, a full disk): nothing to continue, so start it again
            resume = False
            if self.main:
                print(f"[gankit] {self.run_dir} has no checkpoint yet: starting the run again from step 0 with its "
                      "config", file=sys.stderr)
                drop_after(self.run_dir / "stats.jsonl", 0)
                drop_after(self.run_dir / "metrics.jsonl", 0)
        if resume:
            tensors, state = ckpt.read_checkpoint(self.run_dir, quarantine=self.main)
            self._restore(tensors, state)
            self.rollbacks = int(state.get("rollbacks", 0))
            if state.get("fitted_steps"):
                self.fitted_steps = min(int(state["fitted_steps"]), setup.cfg.train.steps)
                setup.total_steps = self.fitted_steps
        elif setup.cfg.train.init_from:
            loaded = ckpt.initialize_from(task.networks, setup.cfg.train.init_from)
            if not quiet and self.main:
                print(f"[gankit] initialized from {setup.cfg.train.init_from}: {', '.join(loaded)}", file=sys.stderr)
        if self.main:
            write_json(self.run_dir / "config.json", to_dict(setup.cfg))
            self.logger = RunLogger(self.run_dir, setup.cfg.train.tensorboard, self.step if resume else None)
        else:
            self.logger = NullLogger()
        self.fixed = task.fixed_inputs(setup.cfg.train.grid_size, seed=setup.cfg.train.seed + 1)
        self._owned = owned_parameters(task)

    # ------------------------------------------------------------------ pieces

    def _restore(self, tensors: dict[str, torch.Tensor], state: dict) -> None:
        """Networks, optimizers, generators, batch positions and the task's own state as a checkpoint has them."""
        setup, task = self.s, self.s.task
        if state["config"].get("task", "gan") != setup.cfg.task:
            raise CheckpointError(f"checkpoint {state['path']} belongs to a {state['config'].get('task')} run, "
                                  f"not {setup.cfg.task}")
        ckpt.restore(tensors, state, task.networks, setup.optimizers)
        self.step = int(state["step"])
        self.lr_scale = float(state.get("lr_scale", 1.0))
        self._restore_generators(tensors, self.step)
        for name, sampler in task.samplers.items():
            if name not in state.get("samplers", {}):
                raise GankitError(f"checkpoint {state['path']} has no position for the batch stream {name!r}")
            sampler.load_state_dict(state["samplers"][name])
        extra = {k[len("task."):]: v for k, v in tensors.items() if k.startswith("task.")}
        task.load_extra_state(extra, state.get("task_state", {}))
        for name, scaler_state in state.get("grad_scalers", {}).items():
            if setup.scalers and name in setup.scalers:
                setup.scalers[name].load_state_dict(scaler_state)
        counts = state.get("log_window") or {}
        if setup.world == 1 and all(f"log.{k}" in tensors for k in counts):
            self._window = ({k: tensors[f"log.{k}"].to(setup.device) for k in counts}, dict(counts))
        else:
            self._window = ({}, {})

    def _weights_finite(self) -> bool:
        """Every trained network's parameters and buffers are finite (one host sync; all processes agree)."""
        flags = [torch.isfinite(t).all() for net in self.s.task.networks.values()
                 for t in (*net.parameters(), *net.buffers()) if t.is_floating_point()]
        ok = bool(torch.stack(flags).all()) if flags else True
        return not dist_utils.any_process(not ok) if self.s.world > 1 else ok

    def _roll_back(self, bad_step: int, what: str) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
        """Back to the newest good checkpoint with lower learning rates and fresh noise (``train.nan_retries``
        times at most, each by ``train.nan_lr_factor``); then a clear stop. Every process does the same.
        Returns the log window (sums, counts) that the checkpoint carried, for the loop to continue."""
        t = self.s.cfg.train
        hint = "lower the learning rates or add a regularizer (R1, spectral norm), then start again"
        if self.rollbacks >= t.nan_retries:
            tried = f" after {self.rollbacks} rollback(s) (learning rates x{self.lr_scale:g})" if self.rollbacks else ""
            raise GankitError(f"training diverged at step {bad_step} ({what}){tried}: {hint}; the checkpoints in "
                              f"{self.ckpt_dir} hold the last good state")
        dist_utils.barrier()
        if not ckpt.list_checkpoints(self.ckpt_dir):
            raise GankitError(f"training diverged at step {bad_step} ({what}) before its first checkpoint, so there "
                              f"is nothing to roll back to: {hint}, or set a smaller train.ckpt_every")
        tensors, state = ckpt.read_checkpoint(self.run_dir, quarantine=self.main)
        self._restore(tensors, state)
        self.rollbacks += 1
        new_scale = t.nan_lr_factor**self.rollbacks
        for opt in self.s.optimizers.values():
            for group in opt.param_groups:
                for key in ("lr", "initial_lr"):
                    if key in group:
                        group[key] *= new_scale / self.lr_scale
        self.lr_scale = new_scale
        # new noise from here on: the same draws would lead to the same place
        reseed = t.seed * 1000 + self.s.rank + 104_729 * self.rollbacks
        torch.manual_seed(reseed)
        for i, gen in enumerate(self.s.task.rngs.values()):
            gen.manual_seed(reseed + 7919 * (i + 1))
        event = {"step": self.step, "event": "rollback", "diverged_at": bad_step, "cause": what,
                 "attempt": self.rollbacks, "of": t.nan_retries, "lr_scale": new_scale}
        self.logger.rewind(self.step, event)
        if self.main:
            print(f"\n[gankit] warning: training diverged at step {bad_step} ({what}): rolled back to step "
                  f"{self.step}, learning rates x{new_scale:g}, fresh noise (rollback {self.rollbacks} of "
                  f"{t.nan_retries})", file=sys.stderr)
        window, self._window = self._window, ({}, {})
        return window

    def _generator_states(self) -> dict[str, torch.Tensor]:
        """The task's own generators' states and, in a multi-process run, every process's global generators.

        Collective: every process must call it.
        """
        out = {f"rng.{name}": gen.get_state() for name, gen in self.s.task.rngs.items()}
        if self.s.world > 1:
            for r, st in enumerate(dist_utils.gather_rng_states(torch.get_rng_state())):
                out[f"rng.cpu.rank{r}"] = st
            if self.s.device.type == "cuda":
                for r, st in enumerate(dist_utils.gather_rng_states(torch.cuda.get_rng_state(self.s.device))):
                    out[f"rng.cuda.rank{r}"] = st
        return out

    def _restore_generators(self, tensors: dict[str, torch.Tensor], step: int) -> None:
        for name, gen in self.s.task.rngs.items():
            if f"rng.{name}" in tensors:
                gen.set_state(tensors[f"rng.{name}"])
        if self.s.world > 1 and self.s.rank > 0:  # process 0 got rng.cpu / rng.cuda.* from ckpt.restore
            own = tensors.get(f"rng.cpu.rank{self.s.rank}")
            if own is not None:
                torch.set_rng_state(own)
            else:  # saved by fewer processes: a fresh stream of its own
                torch.manual_seed(self.s.cfg.train.seed * 1000 + self.s.rank + 7919 * (step + 1))
            own_cuda = tensors.get(f"rng.cuda.rank{self.s.rank}")
            if own_cuda is not None and self.s.device.type == "cuda":
                torch.cuda.set_rng_state(own_cuda, self.s.device)

    def save_checkpoint(self, window: tuple[dict[str, torch.Tensor], dict[str, int]] | None = None) -> Path | None:
        """Process 0 writes the checkpoint (the others only hand over their generator states).

        ``window``: the statistics summed since the last log line, so that a run resumed between two log steps
        logs the same averages as one that never stopped (single-process runs; with several processes each has
        its own sums and a resumed window restarts)."""
        states = self._generator_states()
        path = None
        if self.main:
            if window is not None and self.s.world == 1:
                states.update({f"log.{k}": v.detach() for k, v in window[0].items()})
            task = self.s.task
            task_tensors, task_state = task.extra_state()
            extra = {
                "config": to_dict(self.s.cfg),
                "samplers": {name: s.state_dict() for name, s in task.samplers.items()},
                "data": task.data_info,
                "task_state": task_state,
                "world_size": self.s.world,
            }
            if self.fitted_steps:
                extra["fitted_steps"] = self.fitted_steps
            if self.rollbacks:
                extra.update(rollbacks=self.rollbacks, lr_scale=self.lr_scale)
            if window is not None and self.s.world == 1 and window[1]:
                extra["log_window"] = window[1]
            if self.s.scalers:
                extra["grad_scalers"] = {name: sc.state_dict() for name, sc in self.s.scalers.items()}
            states.update({f"task.{k}": v for k, v in task_tensors.items()})
            path = ckpt.save_checkpoint(self.ckpt_dir, self.step, task.networks, self.s.optimizers, extra,
                                        self.s.cfg.train.keep_ckpts, extra_tensors=states)  # fmt: skip
        dist_utils.barrier()
        return path

    def evaluate(self) -> dict:
        """Feature metrics of the task's outputs now (config ``eval``): appended to metrics.jsonl and TensorBoard."""
        from gankit.metrics.feature_eval import evaluate, parse_metrics

        cfg = self.s.cfg
        start = time.perf_counter()
        fake, real = self.s.task.feature_eval_sets(cfg.eval.n, cfg.train.seed)
        extractor = cfg.eval.extractor or self.s.task.default_extractor()
        result = evaluate(fake, real, parse_metrics(cfg.eval.metrics), extractor, seed=cfg.train.seed,
                          device=self.s.device)
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
        picture = self.s.task.sample_picture(self.fixed, self.step)
        save_picture(picture, path)
        self.logger.image("samples", picture, self.step)
        return path

    def _fit(self, fit: BudgetFit, bar) -> int | None:
        """Process 0's fitted length, for every process (a collective: called at the same steps everywhere)."""
        fitted = fit.update(self.step) if self.main else None
        fitted = dist_utils.broadcast_object(fitted)
        if fitted is not None:
            self.fitted_steps = fitted
            self.s.total_steps = fitted
            bar.total = self.fitted_steps
            if not self.quiet and self.main:
                print(f"\n[gankit] train.fit_to_budget: {self.fitted_steps} steps fit the budget "
                      f"(lr schedule and the last step's evaluation follow)", file=sys.stderr)
        return fitted

    # ------------------------------------------------------------------ the loop

    def run(self, stop_at: int | None = None) -> dict:
        """Train up to ``train.steps`` (or the length fitted to the time budget); ``stop_at`` ends early (with a
        checkpoint) as an interruption would, keeping the lr schedule of the full run, so a later resume
        continues it exactly."""
        cfg = self.s.cfg
        t = cfg.train
        total = self.fitted_steps or t.steps
        end = total if stop_at is None else min(stop_at, total)
        if self.step >= total:
            print(f"[gankit] run already at step {self.step} >= {total}: nothing to train", file=sys.stderr)
        sums, counts = self._window  # a resumed run continues the log window it stopped in
        self._window = ({}, {})
        window_images, window_start = 0, time.perf_counter()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        fit = None
        if t.fit_to_budget and not self.fitted_steps:
            budget, clock = (t.max_cpu_seconds, time.process_time) if t.max_cpu_seconds else (t.max_seconds,
                                                                                               time.perf_counter)
            fit = BudgetFit(budget, clock, t.steps)
        budget_hit = ""
        images_total = 0
        world = self.s.world
        images = self.s.task.images_per_step()
        keys = self.s.task.progress_keys
        bar = tqdm(
            total=total, initial=self.step, desc="train", unit="step", disable=self.quiet or not self.main,
            dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr,
        )
        last: dict = {}
        while self.step < end:
            train_step(self.s, self.step, self._owned, sums, counts)
            if t.compile and "compile_seconds" not in self.timings:  # the first step compiles the networks
                self.timings["compile_seconds"] = round(time.perf_counter() - t0, 2)
                if not self.quiet and self.main:
                    print(f"[gankit] torch.compile: first step took {self.timings['compile_seconds']:.1f} s "
                          "(compiling included)", file=sys.stderr)
            window_images += images
            images_total += images
            self.step += 1
            bar.update(1)
            if fit is not None and not self.fitted_steps and self.step % t.log_every == 0 and self._fit(fit, bar):
                total = self.fitted_steps
                end = total if stop_at is None else min(stop_at, total)
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
                bad = [k for k, v in record.items() if not math.isfinite(v)]
                if bad or not self._weights_finite():
                    sums, counts = self._roll_back(self.step, f"{', '.join(bad)} not finite" if bad
                                                   else "a weight is not finite")
                    budget_hit, bar.n = "", self.step
                    window_images, window_start = 0, time.perf_counter()
                    continue
                self.logger.log(record)
                shown = {k[0] if k in ("d_loss", "g_loss") else k: f"{record[k]:.3f}" for k in keys if k in record}
                bar.set_postfix(**shown, ips=f"{record['images_per_sec']:.0f}", refresh=False)
                last = record
                sums, counts = {}, {}
                window_images, window_start = 0, time.perf_counter()
            if self.main and (self.step % t.sample_every == 0 or self.step == total):
                self.save_samples(self.run_dir / "samples" / f"step-{self.step:08d}.png")
            every = cfg.eval.every
            if self.main and every and (self.step % every == 0 or self.step == total):
                self.last_eval = self.evaluate()
            if self.step % t.ckpt_every == 0 or self.step in (total, end):
                if self.step % t.log_every and not self._weights_finite():  # never save a broken state
                    sums, counts = self._roll_back(self.step, "a weight is not finite")
                    budget_hit, bar.n = "", self.step
                    window_images, window_start = 0, time.perf_counter()
                    continue
                self.save_checkpoint((sums, counts))
        bar.close()
        wall = time.perf_counter() - t0
        info = {"wall_seconds": wall, "images_per_sec": images_total / wall if wall > 0 else 0.0, "last": last,
                "cpu_seconds": time.process_time() - cpu0, **self.timings}
        if self.fitted_steps:
            info["fitted_steps"] = self.fitted_steps
        if budget_hit:
            info["stopped_by"] = budget_hit
            print(f"[gankit] time budget {budget_hit} reached: stopped at step {self.step} of {t.steps}",
                  file=sys.stderr)
        return info

    def finish(self, train_info: dict | None = None) -> dict:
        """Final sample picture, loss curve and metrics.json; returns the metrics (only process 0 does this)."""
        if not self.main:
            return {}
        samples = self.save_samples(self.run_dir / "samples.png")
        keys = self.s.task.progress_keys
        curve = save_loss_curve(read_stats(self.run_dir / "stats.jsonl"), self.run_dir / "loss_curve.png", keys)
        metrics = self.s.task.end_of_run_metrics(seed=self.s.cfg.train.seed)
        metrics["step"] = self.step
        if train_info:
            metrics["train_wall_seconds"] = round(train_info["wall_seconds"], 2)
            metrics["train_images_per_sec"] = round(train_info["images_per_sec"], 1)
            metrics["train_cpu_seconds"] = round(train_info["cpu_seconds"], 2)
            for key in ("compile_seconds", "stopped_by", "fitted_steps"):
                if key in train_info:
                    metrics[key] = train_info[key]
        metrics["device"] = str(self.s.device)
        if self.s.world > 1:
            metrics["processes"] = self.s.world
        if self.last_eval is not None:
            metrics["eval"] = self.last_eval
        write_json(self.run_dir / "metrics.json", metrics)
        self.logger.close()
        return {"samples": samples, "loss_curve": curve, "metrics": metrics}
