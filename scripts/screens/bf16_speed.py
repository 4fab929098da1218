"""bf16 autocast against fp32 on this CPU: the median time of one training-shaped step (G forward, D on the fake
and on a second batch, backward) of each preset's networks, channels-last, one thread, the two precisions
alternating round by round so that load on a shared machine hits both alike. Used for docs/performance.md
("Where auto picks bf16"), which is what ``train.precision: auto`` follows (:func:`gankit.train.speed.fast_bf16`).

    .venv/bin/python scripts/screens/bf16_speed.py [PRESET ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from gankit.config import from_dict, load_preset
from gankit.nets import build_networks, build_patch_discriminator, build_translator
from gankit.train.speed import cpu_vendor, fast_bf16

PRESETS = ("dcgan-mnist-quick", "dcgan-emoji64", "pix2pix-emoji", "stylegan2-emoji64")


def step_of(preset: str):
    """A function bf16 -> None that runs one step of ``preset``'s networks (forward and backward)."""
    cfg = from_dict(load_preset(preset))
    c, r, b = cfg.data.channels, cfg.data.resolution, cfg.train.batch_size
    if cfg.task == "pix2pix":
        G, D = build_translator(cfg.model, c, c, r), build_patch_discriminator(cfg.model, 2 * c, r)
        x = torch.randn(b, c, r, r).contiguous(memory_format=torch.channels_last)

        def outputs() -> torch.Tensor:
            y = G(x)
            return D(torch.cat([x, y], 1)).float().mean() + D(torch.cat([x, x], 1)).float().mean()
    else:
        G, D = build_networks(cfg.model, (c, r, r))

        def outputs() -> torch.Tensor:
            y = G(torch.randn(b, cfg.model.z_dim))
            return D(y).float().mean() + D(y.detach()).float().mean()

    for net in (G, D):
        net.to(memory_format=torch.channels_last)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = outputs()
        loss.backward()

    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.5, help="CPU seconds per precision per round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    print(f"vendor {cpu_vendor() or '?'}, avx512_bf16 {torch.cpu._is_avx512_bf16_supported()}, "
          f"amx {torch.cpu._is_amx_tile_supported()}, auto -> {'bf16' if fast_bf16(cpu) else 'fp32'}")
    for preset in args.presets:
        step = step_of(preset)
        times: dict[bool, list[float]] = {False: [], True: []}
        for bf16 in (False, True):
            step(bf16)  # warm-up
        for _ in range(args.rounds):
            for bf16 in (False, True):
                start, n = time.process_time(), 0
                while time.process_time() - start < args.seconds:
                    step(bf16)
                    n += 1
                times[bf16].append((time.process_time() - start) / n * 1000)
        fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
        print(f"{preset}: fp32 {fp32:.1f} ms, bf16 {bf16:.1f} ms per step; bf16 at {fp32 / bf16:.2f}x fp32's speed",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
