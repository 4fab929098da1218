"""Train-split against test-split scores of translation runs: is a model short of a target because it does not
fit (both high) or because it does not generalize (train low, test high)?

Each run's EMA generator (eval mode, A -> B) translates every pair of the emoji-pairs training and test splits;
L1 and PSNR against the true B image, beside the identity map's. Used for docs/benchmarks.md
("Image-to-image translation", Reading it).

    .venv/bin/python scripts/screens/translate_gap.py RUN [RUN ...] [--fid] [--test-only]

``--fid`` adds the test split's Inception FID and KID (all test outputs against all real Twitter test images, as
``gankit bench translate`` scores them); ``--test-only`` skips the training split.
"""

from __future__ import annotations

import argparse
import json
import sys

from gankit.bench.translate import translate_all
from gankit.data.emoji import load_emoji_pairs
from gankit.data.image_sources import ImageSet, load_images
from gankit.metrics.feature_eval import evaluate
from gankit.metrics.image_quality import full_reference_metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="pix2pix or CycleGAN run folders trained on emoji-pairs at 64 px")
    parser.add_argument("--fid", action="store_true", help="also Inception FID/KID on the test split")
    parser.add_argument("--test-only", action="store_true", help="score the test split only")
    args = parser.parse_args()
    names = ("test",) if args.test_only else ("train", "test")
    splits = {s: load_emoji_pairs(s, 64, 3, (255, 255, 255)).fields for s in names}
    real = load_images("emoji-pairs:test:B", None, 0, 64, 3) if args.fid else None
    identity = {s: full_reference_metrics(f["A"], f["B"])["l1"] for s, f in splits.items()}
    for run in args.runs:
        row = {"run": run}
        for split, fields in splits.items():
            out = translate_all(run, fields["A"])
            m = full_reference_metrics(out, fields["B"])
            row[split] = {"n": len(fields["A"]), "l1": round(m["l1"], 4), "psnr": round(m["psnr"], 2),
                          "identity_l1": round(identity[split], 4), "ratio": round(m["l1"] / identity[split], 3)}
            if real is not None and split == "test":
                scores = evaluate(ImageSet(out, run, ""), real, ["fid", "kid"], "inception", seed=0)
                row[split].update(fid=round(scores["fid"], 2), kid=round(scores["kid"], 5))
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
