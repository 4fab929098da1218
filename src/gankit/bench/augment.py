"""``gankit bench augment``: does adding a conditional GAN's images help a classifier trained on little real data?

Protocol (every number in docs/benchmarks.md comes from this function):

* Real data: ``k`` images per class of MNIST train (k in ``--sizes``, default 10, 50, 200), drawn with the seed.
* Synthetic data: ``--synth-per-class`` images per class from the conditional generator (``--run`` or
  ``--model``; :func:`gankit.infer.synth.synth_arrays`, noise seed 1000 + seed, psi 1).
* Classifier: the :class:`gankit.metrics.classifier.SmallCNN` (the metric classifier's network, freshly
  initialised), Adam 2e-3 with cosine decay, random shifts of up to 2 px, ``--steps`` steps of batch 64 whatever
  the data size, so every condition gets the same compute. With synthetic data every batch is half real, half
  synthetic (``real_fraction`` 0.5), so that 100 real images are not drowned by 10,000 generated ones.
* Conditions per size and seed: real only; real + synthetic. Plus synthetic only (no real image: the
  "classification accuracy score" of Ravuri & Vinyals 2019) per seed.
* Score: top-1 accuracy on all 10,000 MNIST test images; mean and standard deviation over ``--seeds``.

The caveat belongs in every table: the generator was trained on all 60,000 MNIST training images, so its images
carry information from far more real data than the k per class the classifier sees. The table measures whether
that knowledge transfers through generated images, not a generator trained on k images per class.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.errors import GankitError

SIZES = (10, 50, 200)
SEEDS = (0, 1, 2)


def subset_per_class(labels: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Indices of ``k`` random examples of each class (seeded), classes in order."""
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(int(labels.max()) + 1):
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < k:
            raise GankitError(f"class {c} has only {len(idx)} examples, fewer than {k}")
        picks.append(idx[torch.randperm(len(idx), generator=gen)[:k]])
    return torch.cat(picks)


def train_classifier_on(real: tuple[torch.Tensor, torch.Tensor] | None,
                        synth: tuple[torch.Tensor, torch.Tensor] | None, steps: int, seed: int,
                        real_fraction: float = 0.5, batch: int = 64, lr: float = 2e-3):
    """A fresh SmallCNN trained for ``steps`` on uint8 ``real`` and/or ``synth`` (images, labels) sets."""
    from gankit.metrics.classifier import SmallCNN, _augment, prepare_images

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    sets = [(prepare_images(part[0]), part[1]) for part in (real, synth) if part is not None]
    if not sets:
        raise GankitError("nothing to train the classifier on")
    shares = [batch] if len(sets) == 1 else [round(batch * real_fraction), batch - round(batch * real_fraction)]
    model = SmallCNN(num_classes=10)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * s / steps)))
    model.train()
    for _ in range(steps):
        xs, ys = [], []
        for (x, y), share in zip(sets, shares):
            idx = torch.randint(0, len(x), (share,), generator=gen)
            xs.append(x[idx])
            ys.append(y[idx])
        _, logits = model(_augment(torch.cat(xs), 2, False, gen))
        loss = F.cross_entropy(logits, torch.cat(ys))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model


def run_augment_benchmark(source: str, out: Path, sizes: tuple[int, ...] = SIZES, seeds: tuple[int, ...] = SEEDS,
                          synth_per_class: int = 1000, steps: int = 600, threads: int | None = None,
                          test_images: int | None = None, name: str | None = None) -> dict:
    """Train every condition; write ``results.json`` and ``results.md`` into ``out`` (``name``: how the tables
    name the generator, default ``source``)."""
    from gankit.data import builtin
    from gankit.infer import load_generator
    from gankit.infer.synth import synth_arrays
    from gankit.metrics.classifier import accuracy

    if not sizes or min(sizes) < 1 or not seeds or synth_per_class < 1 or steps < 1:
        raise GankitError("--sizes, --seeds, --synth-per-class and --steps must be positive")
    loaded = load_generator(source)
    if loaded.num_classes != 10:
        raise GankitError(f"{source} is not a 10-class conditional generator (model.conditional=true on mnist), "
                          "which this benchmark needs, e.g. the zoo's cgan-mnist")
    if threads:
        torch.set_num_threads(threads)
    x_train, y_train, _ = builtin.load_mnist("train")
    x_test, y_test, _ = builtin.load_mnist("test")
    x_test, y_test = x_test[:test_images], y_test[:test_images]  # all unless asked (tests use fewer)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    start = time.perf_counter()

    def record(key: str, seed: int, acc: float) -> None:
        rows.setdefault(key, {"accuracies": {}})["accuracies"][str(seed)] = acc
        print(f"[gankit]   {key}, seed {seed}: test accuracy {acc:.4f} ({time.perf_counter() - start:.0f} s)",
              file=sys.stderr)

    for seed in seeds:
        sx, sy = synth_arrays(loaded, synth_per_class, seed=1000 + seed)
        record("synthetic only", seed, accuracy(train_classifier_on(None, (sx, sy), steps, seed), x_test, y_test))
        for k in sizes:
            idx = subset_per_class(y_train, k, seed)
            real = (x_train[idx], y_train[idx])
            record(f"{k} real/class", seed, accuracy(train_classifier_on(real, None, steps, seed), x_test, y_test))
            record(f"{k} real/class + synthetic", seed,
                   accuracy(train_classifier_on(real, (sx, sy), steps, seed), x_test, y_test))
    for row in rows.values():
        accs = list(row["accuracies"].values())
        row["mean"] = statistics.fmean(accs)
        row["std"] = statistics.stdev(accs) if len(accs) > 1 else 0.0
    result = {"source": name or source, "generator_step": loaded.step, "sizes": list(sizes), "seeds": list(seeds),
              "synth_per_class": synth_per_class, "steps": steps, "batch": 64, "real_fraction": 0.5,
              "test_images": len(x_test), "seconds": round(time.perf_counter() - start, 1), "rows": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown(result) + "\n")
    return result


def markdown(result: dict) -> str:
    rows = result["rows"]
    lines = ["| real images per class | real only | real + synthetic | change |", "| ---: | ---: | ---: | ---: |"]
    for k in result["sizes"]:
        a, b = rows[f"{k} real/class"], rows[f"{k} real/class + synthetic"]
        lines.append(f"| {k} | {100 * a['mean']:.2f} ± {100 * a['std']:.2f} | {100 * b['mean']:.2f} ± "
                     f"{100 * b['std']:.2f} | {100 * (b['mean'] - a['mean']):+.2f} |")
    s = rows["synthetic only"]
    lines.append(f"| 0 (synthetic only) | - | {100 * s['mean']:.2f} ± {100 * s['std']:.2f} | - |")
    lines.append(f"\nTest accuracy (%) on {result['test_images']:,} MNIST test images, mean ± std over seeds "
                 f"{', '.join(map(str, result['seeds']))}; {result['synth_per_class']} synthetic images per class "
                 f"from `{result['source']}` (step {result['generator_step']}); SmallCNN, {result['steps']} steps "
                 f"of batch {result['batch']} (half real, half synthetic when both).")
    return "\n".join(lines)
