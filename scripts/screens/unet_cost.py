"""Where a pix2pix U-Net's step time goes on this CPU: the parameters, the median forward + backward time of an L1
loss and the median fused-Adam step of U-Nets of a few depths and channel caps, batch 4, channels-last, one thread.
Used for docs/benchmarks.md ("A cheaper U-Net"), which chose ``pix2pix-emoji``'s depth 5 and 128 channels.

    .venv/bin/python scripts/screens/unet_cost.py [--resolution 64] [--width 32] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

import torch

from gankit.nets.unet import UNetGenerator, unet_depth

# (depth, max_channels); depth 0 = down to 1x1
SHAPES = [(0, 256), (0, 128), (5, 256), (5, 128)]


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def forward_backward(g: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    (g(x) - y).abs().mean().backward()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(4, 3, args.resolution, args.resolution).to(memory_format=torch.channels_last)
    y = torch.randn(4, 3, args.resolution, args.resolution)
    print("| depth | max channels | parameters | forward + backward ms | Adam ms |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for depth, max_channels in SHAPES:
        g = UNetGenerator(3, 3, args.resolution, width=args.width, max_channels=max_channels, depth=depth,
                          norm="none", dropout=0.0).to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True)
        step = partial(forward_backward, g, opt, x, y)
        for _ in range(5):  # warm-up: oneDNN's first calls and Adam's state allocation
            step()
            opt.step()
        params = sum(p.numel() for p in g.parameters())
        print(f"| {unet_depth(args.resolution, depth)} | {max_channels} | {params / 1e6:.2f}M "
              f"| {median_ms(step, args.rounds):.1f} | {median_ms(opt.step, args.rounds):.1f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
