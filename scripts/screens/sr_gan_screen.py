"""A quick screen of super-resolution runs: PSNR-Y on the whole emoji test split, and Inception FID/KID on ONE
128 px quadrant per test picture (673 crops: quadrant i % 4 of picture i) instead of the benchmark's four; PSNR-Y
on the benchmark's four photographs as well. Any checkpoint folder works: a run, or a zoo model's folder.

FID on 673 crops is biased upward against the benchmark's 2,692, so its numbers compare runs with each other
(all scored here, on the same crops), not with docs/benchmarks.md's table; it costs about a quarter of the
benchmark's scoring, which is what made screening GAN-stage variants within a session possible. Used for the
GAN-stage screen in docs/benchmarks.md ("Super-resolution x4").

    .venv/bin/python scripts/screens/sr_gan_screen.py RUN [RUN ...] [--out scores.jsonl]

(The zoo's sr-emoji-x4-psnr card quotes it for its run and for its packed fp16 folder, src/gankit/zoo/...)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import torch

from gankit.bench.sr import CROP, photo_pairs, quadrants, score_photos, upscale_batches
from gankit.config import resolve as resolve_config
from gankit.data.image_sources import ImageSet
from gankit.data.sr import load_hr, load_photos
from gankit.infer import load_model
from gankit.metrics.feature_eval import evaluate
from gankit.metrics.image_quality import sr_metrics
from gankit.tasks.sr import degraded_test_inputs


def one_quadrant_each(images: torch.Tensor) -> torch.Tensor:
    """Quadrant i % 4 of picture i: one 128 px crop per picture, spread over the four positions."""
    crops = quadrants(images)
    per = len(crops) // len(images)
    return crops.reshape(len(images), per, *crops.shape[1:])[torch.arange(len(images)), torch.arange(len(images)) % per]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="SR run folders trained on fluent-emoji-3d at x4")
    parser.add_argument("--out", help="append one JSON line per run to this file")
    args = parser.parse_args()
    hr = load_hr(resolve_config("sr-emoji-x4-psnr", None, []).data, "test").data
    lr = degraded_test_inputs(hr, 4)
    digest = hashlib.sha256(hr.numpy().tobytes()).hexdigest()[:24]
    real = ImageSet(one_quadrant_each(hr).contiguous(), f"one {CROP} px quadrant per test picture",
                    f"sr-screen-quadrant:{digest}")
    photos, photo_lr = photo_pairs(load_photos(), 4)
    for run in args.runs:
        start = time.perf_counter()
        net = load_model(run).net
        out = upscale_batches(net, lr)
        m = sr_metrics(out, hr, 4)
        photo_row, _ = score_photos(lambda x, net=net: upscale_batches(net, x), photos, photo_lr, 4)
        r = evaluate(ImageSet(one_quadrant_each(out).contiguous(), run, ""), real, ["fid", "kid"], "inception",
                     seed=0)
        row = {"run": run, "psnr_y": round(m["psnr_y"], 3), "ssim_y": round(m["ssim_y"], 4),
               "fid673": round(r["fid"], 3), "kid673": round(r["kid"], 5),
               "photos_psnr_y": round(photo_row["photos_psnr_y"], 3),
               "photos": {k: round(v["psnr_y"], 2) for k, v in photo_row["photos"].items()},
               "seconds": round(time.perf_counter() - start)}
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
