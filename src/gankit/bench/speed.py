"""``gankit bench speed``: gankit's training step against a textbook eager loop, in one process.

Both loops train the same networks (built from the preset's config) on the same data, in the same
process, taking turns: a round times ``steps`` steps of gankit's own :func:`gankit.train.loop.train_step`
(the function ``gankit train`` runs, with the preset's config, so with its precision, memory layout and
optimizer settings) and then ``steps`` steps of the family's textbook loop in ``benchmarks/``
(``reference_gan.py`` for the gan family, ``reference_stylegan2.py`` for its StyleGAN2 presets,
``reference_pix2pix.py`` for pix2pix, ``reference_sr.py`` for super-resolution: fp32, contiguous, plain Adam, D's
parameter gradients computed in G's backward (not in the StyleGAN2 loop, which follows its paper's code), SR
patches made one sample at a time as a Dataset would). Medians over rounds; the ratio is the median of the
per-round ratios, so a slow spell on a shared machine hits both sides of a round alike.

FLOPs per step are counted by ``torch.utils.flop_counter`` over one cycle of the lazy phases of each (one step
without them; StyleGAN2: 16 steps, R1 and path length included as often as they run) (matrix multiplies and
convolutions, forward and backward; element-wise work is not counted). The achieved GFLOP/s of gankit's
step is set against two measurements taken here and now, in the precision and layout the step runs in:

* ``ceiling_gflops``: the model's own ceiling. Every convolution and linear layer of G and D is run on
  its own, forward and backward, at the input shapes one training step gives it (recorded by hooks),
  as often as the step calls it; total FLOPs over total time. That is the speed of a step that did
  nothing but its convolutions and matrix multiplies, with nothing in between: the gap to it is the
  loop's overhead (norms, activations, optimizer, casts, Python).
* ``peak_gflops``: the best of a few large, well-shaped convolutions (or matrix multiplies for fully
  connected presets), the machine's peak for this kind of work. Thin layers (1 or 3 image channels,
  4x4 maps) cannot reach it, whatever the loop does.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gankit.errors import GankitError

SUPPORTED_LOSSES = ("nonsaturating", "hinge")


REFERENCE_FILES = {"gan": "reference_gan.py", "pix2pix": "reference_pix2pix.py", "sr": "reference_sr.py",
                   "stylegan2": "reference_stylegan2.py"}


def _reference_module(path: str | Path | None, family: str = "gan"):
    """benchmarks/reference_<family>.py of the source checkout (or ``path``), imported by file path."""
    if family not in REFERENCE_FILES:
        raise GankitError(f"gankit bench speed has textbook loops for {', '.join(REFERENCE_FILES)} presets, not "
                          f"{family}")
    name = REFERENCE_FILES[family]
    candidates = [Path(path)] if path else [
        Path(__file__).resolve().parents[3] / "benchmarks" / name,
        Path.cwd() / "benchmarks" / name,
    ]
    for candidate in candidates:
        if candidate.is_file():
            spec = importlib.util.spec_from_file_location("gankit_reference_gan", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise GankitError(f"gankit bench speed needs the textbook loop benchmarks/{name} of a gankit source "
                      "checkout: run it from the repository, or pass --reference PATH")


def _median_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class _FlopCount(TorchDispatchMode):
    """Sums the FLOPs of the ops that ``torch.utils.flop_counter`` has formulas for (matrix multiplies and
    convolutions, forward and backward). Unlike ``FlopCounterMode`` it tracks no modules, whose hooks break under
    ``autograd.grad`` (R1 and path-length penalties differentiate twice)."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def _count_flops(fn) -> int:
    with _FlopCount() as counter:
        fn()
    return counter.total


def measure_ceiling(kind: str, dtype: torch.dtype | None, device: torch.device, channels_last: bool,
                    reps: int = 5) -> dict:
    """The best GFLOP/s of a few large, well-shaped ops (forward + backward) in this process, now.

    ``kind`` ``conv``: 4x4 stride-2 and 3x3 stride-1 convolutions, 128-256 channels at 8-16 px, batch
    64 (the bulk of a DCGAN); ``matmul``: (1024 x 2048) @ (2048 x 2048) products as in a linear layer.
    ``dtype`` None is fp32; otherwise the ops run under autocast to it, as the training step does.
    """
    shapes = {
        "conv": [((64, 128, 16, 16), torch.nn.Conv2d(128, 256, 4, 2, 1)),
                 ((64, 256, 8, 8), torch.nn.Conv2d(256, 256, 3, 1, 1))],
        "matmul": [((1024, 2048), torch.nn.Linear(2048, 2048))],
    }[kind]
    best = {"gflops": 0.0}
    for shape, layer in shapes:
        layer = layer.to(device)
        x = torch.randn(*shape, device=device)
        if channels_last and x.dim() == 4:
            layer = layer.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)

        def op(layer=layer, x=x):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                y = layer(x)
            y.float().sum().backward()
            layer.zero_grad(set_to_none=True)
            x.grad = None
            _sync(device)

        for _ in range(2):
            op()
        flops = _count_flops(op)
        seconds = _median_time(op, reps)
        gflops = flops / seconds / 1e9
        if gflops > best["gflops"]:
            best = {"gflops": gflops, "op": f"{type(layer).__name__} on {tuple(shape)}", "gflop": flops / 1e9}
    return best


def model_ceiling(setup, step_fn, reps: int = 5) -> dict:
    """The GFLOP/s of the model's own convolution and linear layers, alone (see the module docstring).

    ``step_fn()`` runs one training step; hooks record each layer call's input shape and layout, then every
    distinct call runs in isolation (a copy of the layer, forward + backward, under the step's autocast).
    """
    from gankit.train.speed import autocast

    layer_types = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)
    calls: dict[tuple, list] = {}
    handles = []
    inside = [0]  # depth of hooked layers being run: their own F.conv2d / F.linear calls are not recorded twice

    def is_channels_last(x: torch.Tensor) -> bool:
        return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)

    def enter(module, inputs):
        inside[0] += 1

    def record(module, inputs, _output):
        inside[0] -= 1
        x = inputs[0]
        key = (id(module), tuple(x.shape), is_channels_last(x))
        calls.setdefault(key, [module, 0])[1] += 1

    class Functional(torch.overrides.TorchFunctionMode):
        """Convolutions and matrix products called as functions (StyleGAN2's equalized-lr and modulated layers):
        each becomes a layer-like callable of its weight, stride, padding and groups."""

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if not inside[0] and func in (torch.nn.functional.conv2d, torch.nn.functional.linear):
                x, w = args[0], args[1]
                opts = tuple(args[3:]) + tuple(sorted(kwargs.items()))
                key = (func, tuple(x.shape), tuple(w.shape), opts, is_channels_last(x))
                calls.setdefault(key, [_FunctionalLayer(func, w, args[3:], kwargs), 0])[1] += 1
            return func(*args, **kwargs)

    for name, net in setup.task.networks.items():
        if name.endswith("_ema"):
            continue
        for module in net.modules():
            if isinstance(module, layer_types):
                handles.append(module.register_forward_pre_hook(enter))
                handles.append(module.register_forward_hook(record))
    try:
        with Functional():
            step_fn()
    finally:
        for h in handles:
            h.remove()
    total_flops = total_seconds = 0.0
    for key, (module, count) in calls.items():
        shape, channels_last = key[1], key[-1]
        layer = copy.deepcopy(module)
        x = torch.randn(*shape, device=setup.device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)

        def op(layer=layer, x=x):
            with autocast(setup.device, setup.amp_dtype):
                y = layer(x)
            y.backward(torch.ones_like(y))
            layer.zero_grad(set_to_none=True)
            x.grad = None
            _sync(setup.device)

        op()
        flops = _count_flops(op)
        total_flops += count * flops
        total_seconds += count * _median_time(op, reps)
    return {"gflops": total_flops / max(total_seconds, 1e-12) / 1e9, "layer_calls": sum(c for _, c in calls.values()),
            "distinct_calls": len(calls)}


class _FunctionalLayer(torch.nn.Module):
    """A functional convolution or linear call replayed as a layer: its own copy of the weight (no bias)."""

    def __init__(self, func, weight: torch.Tensor, args: tuple, kwargs: dict):
        super().__init__()
        self.func, self.args, self.kwargs = func, tuple(args), dict(kwargs)
        self.weight = torch.nn.Parameter(weight.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.func(x, self.weight, None, *self.args, **self.kwargs)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _check_preset(cfg) -> None:
    if cfg.task == "sr":
        if cfg.loss.gan_weight > 0 and cfg.loss.name != "ragan":
            raise GankitError(f"the textbook super-resolution loop has the ragan loss, not {cfg.loss.name}")
        if cfg.data.blur or cfg.data.noise or cfg.data.jpeg:
            raise GankitError("the textbook super-resolution loop makes LR inputs by bicubic downscaling only: set "
                              "data.blur=0, data.noise=0 and data.jpeg=0")
        return
    if cfg.task == "pix2pix":
        if cfg.loss.name not in SUPPORTED_LOSSES + ("lsgan",):
            raise GankitError(f"the textbook pix2pix loop has the nonsaturating, hinge and lsgan losses, not "
                              f"{cfg.loss.name}")
        return
    if cfg.task != "gan":
        raise GankitError(f"gankit bench speed covers the gan, pix2pix and sr families, not {cfg.task}")
    lo = cfg.loss
    if cfg.model.arch == "stylegan2":
        if lo.name != "nonsaturating" or cfg.model.conditional or cfg.augment.kind != "none" or cfg.model.grow_start:
            raise GankitError("the textbook StyleGAN2 loop is unconditional, non-saturating, without D augmentation "
                              "or growing: use stylegan2-emoji64")
        return
    extras = lo.gp_weight or lo.r1_gamma or lo.weight_clip or lo.instance_noise or lo.label_smoothing or lo.topk < 1
    if (lo.name not in SUPPORTED_LOSSES or extras or cfg.model.conditional or cfg.train.n_critic != 1
            or cfg.model.pack > 1):
        raise GankitError(
            "gankit bench speed compares with a textbook loop that is unconditional, non-saturating or hinge "
            "without regularizers, one D step per G step, without packing: use such a preset (dcgan-mnist, "
            "dcgan-folder32, dcgan-folder, dcgan-digits, mlp-mnist)"
        )


def _make_reference(ref_mod, setup):
    """The family's textbook loop on fresh copies of the task's networks (initial weights, default layout) and
    its training data, in [-1, 1], on the device."""
    from gankit.data import to_model_space

    cfg, task, device, t = setup.cfg, setup.task, setup.device, setup.cfg.train

    def fresh(net: torch.nn.Module) -> torch.nn.Module:
        return copy.deepcopy(net).to(memory_format=torch.contiguous_format)

    if cfg.task == "sr":
        lo = cfg.loss
        return ref_mod.ReferenceSR(fresh(task.G), fresh(task.D) if task.D is not None else None,
                                   task.train_data.data, cfg.data.patch or cfg.data.resolution, cfg.model.scale,
                                   t.batch_size, t.g_optim.lr, t.d_optim.lr, tuple(t.g_optim.betas), lo.pixel_weight,
                                   lo.perceptual_weight, lo.gan_weight, task.perceptual, seed=t.seed)
    if cfg.task == "pix2pix":
        pairs = task.train_data.pairs
        a, b = (to_model_space(pairs.fields[k].to(device)) for k in ("A", "B"))
        return ref_mod.ReferencePix2Pix(fresh(task.G), fresh(task.D), a, b, t.batch_size, t.g_optim.lr, t.d_optim.lr,
                                        tuple(t.g_optim.betas), cfg.loss.l1_weight, loss=cfg.loss.name,
                                        conditional_d=cfg.model.d_conditional)
    data = task.dataset.data.to(device)
    data = to_model_space(data) if task.dataset.is_image else data.float()
    if cfg.model.arch == "stylegan2":
        lo = cfg.loss
        return ref_mod.ReferenceStyleGAN2(fresh(task.G), fresh(task.D), data, t.batch_size, cfg.model.z_dim,
                                          t.g_optim.lr, t.d_optim.lr, tuple(t.g_optim.betas), lo.r1_gamma,
                                          lo.r1_every, lo.pl_weight, lo.pl_every, lo.pl_batch_shrink, lo.pl_decay,
                                          t.ema)
    return ref_mod.ReferenceGAN(fresh(task.G), fresh(task.D), data, t.batch_size, cfg.model.z_dim, t.g_optim.lr,
                                t.d_optim.lr, tuple(t.g_optim.betas), loss=cfg.loss.name)


def run_speed_benchmark(cfg, steps: int = 20, rounds: int = 5, warmup: int = 5, reference: str | None = None,
                        progress: bool = True) -> dict:
    """Time gankit's step and the textbook step on ``cfg``'s networks and data; see the module docstring."""
    from gankit.train.loop import build, owned_parameters, train_step
    from gankit.train.speed import autocast_dtype

    _check_preset(cfg)
    family = "stylegan2" if cfg.task == "gan" and cfg.model.arch == "stylegan2" else cfg.task
    ref_mod = _reference_module(reference, family)
    setup = build(cfg)
    device = setup.device
    t = cfg.train
    ref = _make_reference(ref_mod, setup)
    owned = owned_parameters(setup.task)
    counter = {"step": 0}

    def gankit_steps(n: int) -> None:
        sums: dict = {}
        counts: dict = {}
        for _ in range(n):
            train_step(setup, counter["step"], owned, sums, counts)
            counter["step"] += 1
        float(next(iter(sums.values())))  # the loop's host sync, once per log window
        _sync(device)

    def reference_steps(n: int) -> None:
        for _ in range(n):
            losses = ref.step()
        float(losses[0])
        _sync(device)

    start = time.perf_counter()
    gankit_steps(warmup)  # includes compiling when train.compile is on
    warmup_seconds = time.perf_counter() - start
    reference_steps(warmup)
    # FLOPs per step averaged over one cycle of the lazy phases (StyleGAN2: R1 every 16, path length every 4), so
    # that the regularized steps weigh in as often as they run; 1 step for presets without lazy phases
    cycle = math.lcm(*(ph.interval for ph in setup.task.phases))
    flops_gankit = _count_flops(lambda: gankit_steps(cycle)) / cycle
    flops_reference = _count_flops(lambda: reference_steps(cycle)) / cycle
    rows = []
    for r in range(rounds):
        start = time.perf_counter()
        gankit_steps(steps)
        g_sec = time.perf_counter() - start
        start = time.perf_counter()
        reference_steps(steps)
        r_sec = time.perf_counter() - start
        images = steps * t.batch_size
        rows.append({"gankit": images / g_sec, "reference": images / r_sec, "ratio": r_sec / g_sec})
        if progress:
            print(f"[gankit] round {r + 1}/{rounds}: gankit {rows[-1]['gankit']:.0f} images/s, reference "
                  f"{rows[-1]['reference']:.0f} images/s, ratio {rows[-1]['ratio']:.2f}", file=sys.stderr)
    amp = autocast_dtype(t.precision, device)
    is_image = setup.task.data_info["is_image"]
    kind = "conv" if cfg.task != "gan" or cfg.model.arch == "dcgan" else "matmul"
    channels_last = t.channels_last and is_image
    ceiling = model_ceiling(setup, lambda: gankit_steps(1))
    peak = measure_ceiling(kind, amp, device, channels_last)
    peak_fp32 = measure_ceiling(kind, None, device, False)
    gankit_ips = statistics.median(r["gankit"] for r in rows)
    reference_ips = statistics.median(r["reference"] for r in rows)
    steps_per_sec = gankit_ips / t.batch_size
    achieved = flops_gankit / 1e9 * steps_per_sec
    return {
        "gankit_images_per_sec": round(gankit_ips, 1),
        "reference_images_per_sec": round(reference_ips, 1),
        "ratio": round(statistics.median(r["ratio"] for r in rows), 3),
        "gflop_per_step": round(flops_gankit / 1e9, 4),
        "reference_gflop_per_step": round(flops_reference / 1e9, 4),
        "achieved_gflops": round(achieved, 2),
        "reference_achieved_gflops": round(flops_reference / 1e9 * reference_ips / t.batch_size, 2),
        "ceiling_gflops": round(ceiling["gflops"], 2),
        "fraction_of_ceiling": round(achieved / ceiling["gflops"], 3),
        "peak_gflops": round(peak["gflops"], 2),
        "fraction_of_peak": round(achieved / peak["gflops"], 3),
        "peak_op": peak.get("op", ""),
        "peak_fp32_gflops": round(peak_fp32["gflops"], 2),
        "gankit_warmup_seconds": round(warmup_seconds, 2),
        "rounds": rows,
        "protocol": {
            "preset_description": cfg.description,
            "precision": t.precision,
            "autocast_dtype": str(amp).replace("torch.", "") if amp else "float32",
            "channels_last": channels_last,
            "compile": t.compile,
            "fused_adam": t.g_optim.fused,
            "batch_size": t.batch_size,
            "steps_per_round": steps,
            "rounds": rounds,
            "warmup_steps": warmup,  # untimed; with train.compile they include compiling
            "threads": torch.get_num_threads(),
            "device": str(device),
            "torch": torch.__version__,
            "flops": "torch.utils.flop_counter: matmuls and convolutions, forward and backward",
            "ceiling": "the model's convolution/linear layers alone, forward+backward, at the shapes and counts of "
                       "one step, same precision and layout (total FLOPs / total median time)",
            "peak": f"the best large {kind}, forward+backward, same precision and layout (median time)",
        },
    }


def format_table(result: dict) -> str:
    """The result as a few aligned lines."""
    p = result["protocol"]
    return "\n".join([
        f"gankit     {result['gankit_images_per_sec']:10.1f} images/s   {result['gflop_per_step']:.3f} GFLOP/step   "
        f"{result['achieved_gflops']:.1f} GFLOP/s = {result['fraction_of_ceiling']:.0%} of the model's "
        f"{p['autocast_dtype']} ceiling {result['ceiling_gflops']:.1f} ({result['fraction_of_peak']:.0%} of the "
        f"machine's peak {result['peak_gflops']:.1f})",
        f"reference  {result['reference_images_per_sec']:10.1f} images/s   "
        f"{result['reference_gflop_per_step']:.3f} GFLOP/step   {result['reference_achieved_gflops']:.1f} GFLOP/s "
        f"(fp32 peak {result['peak_fp32_gflops']:.1f})",
        f"ratio      {result['ratio']:10.2f}x  (median of {p['rounds']} alternating rounds of {p['steps_per_round']} "
        f"steps; precision {p['precision']}, channels_last {p['channels_last']}, compile {p['compile']}, "
        f"{p['threads']} threads, {p['device']})",
    ])
