"""Throughput of the FID Inception-v3 extractor (gankit.metrics.features) on this machine's CPU.

Times ``Extractor.features`` on one batch of random uint8 images (default 64 of 3x32x32, so the
bicubic resize to 299x299 is included) at each requested torch thread count, after a small warm-up
batch, and prints one JSON line. Needs the weights: ``gankit fetch inception`` or ``--path``.

    .venv/bin/python benchmarks/inception_speed.py --threads 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from gankit.metrics.features import get_extractor


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to time (default 1 2)")
    p.add_argument("--batch", type=int, default=64, help="images per timed call (default 64)")
    p.add_argument("--batch-size", type=int, help="the extractor's batch size (default: its own, 16)")
    p.add_argument("--size", type=int, default=32, help="input height and width (default 32; 299 skips the resize)")
    p.add_argument("--repeats", type=int, default=1, help="timed batches per thread count; the best is kept")
    p.add_argument("--path", help="TorchScript file (default: the `gankit fetch inception` cache)")
    args = p.parse_args()

    ext = get_extractor("inception", path=args.path)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), generator=gen, dtype=torch.uint8)
    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        ext.features(images[:4], batch_size=4)  # warm-up: TorchScript profiling runs, allocator
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            ext.features(images, batch_size=args.batch_size)
            times.append(time.perf_counter() - start)
        best = min(times)
        results.append({"threads": threads, "seconds": round(best, 3), "images_per_s": round(args.batch / best, 2)})
    print(json.dumps({
        "benchmark": "inception_speed",
        "images": args.batch,
        "batch_size": args.batch_size or ext.default_batch_size,
        "input": [3, args.size, args.size],
        "results": results,
        "weights_sha256": ext.weights_hash(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
