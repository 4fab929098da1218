"""How a training step runs fast: autocast precision, memory layout, fused optimizers, compilation.

All of it is configuration (``train.precision``, ``train.channels_last``, ``train.compile``,
``train.*_optim.fused``); none of it changes what is computed, only how (see docs/performance.md
for the measurements behind the defaults).
"""

from __future__ import annotations

import contextlib
import sys

import torch
from torch import nn

from gankit.errors import GankitError

PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_vendor() -> str:
    """The CPU's vendor id from /proc/cpuinfo (``GenuineIntel``, ``AuthenticAMD``; "" where unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def fast_bf16(device: torch.device) -> bool:
    """True where bf16 autocast measured faster than fp32: CUDA GPUs that support bf16; CPUs with AMX; AMD CPUs
    with AVX512-BF16 (Zen 4 and 5, where bf16 is the largest single gain in the speed tables). Not Intel CPUs
    with AVX512-BF16 but no AMX: on the Xeon measured (family 6, model 207, AMX not exposed) every preset's step
    ran at 0.73-0.78x fp32's speed in bf16 (docs/performance.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
        if amx is not None and amx():
            return True
        return avx512_bf16 is not None and avx512_bf16() and cpu_vendor() == "AuthenticAMD"
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the training step for ``train.precision`` (None: plain fp32).

    ``auto`` is bf16 where :func:`fast_bf16` holds, else fp32. ``fp16`` needs CUDA (on a CPU it is slow
    and gains nothing over bf16); MPS trains in fp32.
    """
    if precision == "fp32" or device.type == "mps":
        if precision not in ("fp32", "auto"):
            raise GankitError(f"train.precision={precision} is not supported on mps: use fp32 (or auto)")
        return None
    if precision == "auto":
        return torch.bfloat16 if fast_bf16(device) else None
    if precision == "fp16" and device.type != "cuda":
        raise GankitError("train.precision=fp16 needs a CUDA device: use bf16 (or auto) on a CPU")
    if precision == "bf16" and not fast_bf16(device):
        print(f"[gankit] warning: train.precision=bf16 on this {device.type} is usually slower than fp32 (no "
              "native bf16, or AVX512-BF16 without AMX on an Intel CPU); precision auto would choose fp32",
              file=sys.stderr)
    return PRECISIONS[precision]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device`` (a no-op context for None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(dtype: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler | None:
    """A loss scaler for fp16 (its small exponent range underflows gradients); bf16 and fp32 need none."""
    if dtype is torch.float16:
        return torch.amp.GradScaler(device.type)
    return None


def to_channels_last(*modules: nn.Module) -> None:
    """Put the modules' 4-D weights (convolutions) in NHWC layout; other parameters are unaffected."""
    for module in modules:
        module.to(memory_format=torch.channels_last)


def fused_available(params: list[torch.Tensor]) -> bool:
    """Whether ``torch.optim.Adam(fused=True)`` takes these parameters (floating point, all on CPU or all on CUDA)."""
    devices = {p.device.type for p in params}
    return bool(params) and len(devices) == 1 and devices <= {"cpu", "cuda"} and all(
        p.is_floating_point() for p in params)


def compile_modules(*modules: nn.Module) -> None:
    """``torch.compile`` each module in place (its state_dict keys unchanged) with static shapes.

    ``dynamic=False``: with dynamic shapes the backward of a compiled ``nn.Sequential`` generator has been
    seen to fail in PyTorch 2.x ("Cannot convert expression to float"); a training run's shapes are fixed
    anyway (the batch size never changes), so nothing is lost.
    """
    for module in modules:
        module.compile(dynamic=False)
