"""Train-split against test-split scores of translation runs: is a model short of a target because it does not
fit (both high) or because it does not generalize (train low, test high)?

Each run's EMA generator (eval mode, A -> B) translates every pair of the emoji-pairs training and test splits;
L1 and PSNR against the true B image, beside the identity map's. Used for docs/benchmarks.md
("Image-to-image translation", Reading it).

    .venv/bin/python scripts/screens/translate_gap.py RUN [RUN ...]
"""

from __future__ import annotations

import argparse
import json
import sys

from gankit.bench.translate import translate_all
from gankit.data.emoji import load_emoji_pairs
from gankit.metrics.image_quality import full_reference_metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="pix2pix or CycleGAN run folders trained on emoji-pairs at 64 px")
    args = parser.parse_args()
    splits = {s: load_emoji_pairs(s, 64, 3, (255, 255, 255)).fields for s in ("train", "test")}
    identity = {s: full_reference_metrics(f["A"], f["B"])["l1"] for s, f in splits.items()}
    for run in args.runs:
        row = {"run": run}
        for split, fields in splits.items():
            m = full_reference_metrics(translate_all(run, fields["A"]), fields["B"])
            row[split] = {"n": len(fields["A"]), "l1": round(m["l1"], 4), "psnr": round(m["psnr"], 2),
                          "identity_l1": round(identity[split], 4), "ratio": round(m["l1"] / identity[split], 3)}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
