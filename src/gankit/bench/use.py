"""``gankit bench use``: what a trained gan run's discriminator and truncation knob are worth, measured.

Parts (``--part``, default all), each on one finished run (``dcgan-mnist`` in docs/benchmarks.md):

* ``dscore``: D's scores separate real test images from damaged ones. ROC AUC of real (the run's reference
  split, e.g. MNIST test) against uniform noise, against the same images Gaussian-blurred (sigma 1 px), and against
  the run's own EMA samples (:func:`gankit.infer.score.roc_auc`).
* ``dfilter``: samples kept by D (``--d-filter`` at each KEEP of ``--keeps``) against plain samples: precision
  and recall (Kynkaanniemi et al. 2019, k = 3) and FID in the run's metric feature space.
* ``truncation``: precision, recall and FID of samples at each psi of ``--psis`` (:func:`gankit.sampling.generate`:
  W truncation for StyleGAN2, z * psi otherwise): the fidelity/diversity curve.

All sample sets are ``--n`` images (seed 0) against the reference split's images, in the feature space that
``gankit eval`` uses for the run's data (the shipped MNIST classifier for MNIST).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from gankit.errors import GankitError

PARTS = ("dscore", "dfilter", "truncation")
PSIS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
KEEPS = (1.0, 0.5, 0.25, 0.1)


def blurred(images: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """uint8 images blurred by a Gaussian of ``sigma`` px (:func:`gankit.data.sr.gaussian_blur`), still uint8."""
    from gankit.data.sr import gaussian_blur

    return gaussian_blur(images.float(), sigma).round().clamp(0, 255).to(torch.uint8)


def run_use_benchmark(run: str, out: Path, parts: tuple[str, ...] = PARTS, n: int = 10_000,
                      psis: tuple[float, ...] = PSIS, keeps: tuple[float, ...] = KEEPS, seed: int = 0,
                      extractor: str | None = None) -> dict:
    """Measure the parts on ``run``; write ``results.json`` and ``results.md`` into ``out``."""
    from gankit.data import to_uint8
    from gankit.data.image_sources import ImageSet, default_extractor, default_reference, load_images
    from gankit.infer import load_generator
    from gankit.infer.run_images import _data
    from gankit.infer.sample import sample_outputs
    from gankit.infer.score import d_filtered_outputs, load_discriminator, roc_auc
    from gankit.metrics.feature_eval import evaluate

    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise GankitError(f"--part: choose from {', '.join(PARTS)} (comma-separated), not {', '.join(bad) or 'none'}")
    if n < 10:
        raise GankitError("--n must be at least 10")
    loaded = load_generator(run)
    disc = load_discriminator(run) if {"dscore", "dfilter"} & set(parts) else None
    data = _data(loaded)
    real_spec = default_reference(data)
    real = load_images(real_spec, n, seed, data["resolution"], data["channels"])
    extractor = extractor or default_extractor(data["dataset"])
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"run": run, "step": loaded.step, "n": n, "seed": seed, "reference": real.description,
                    "extractor": extractor}

    def metrics(x: torch.Tensor, labels, what: str) -> dict:
        fake = ImageSet(to_uint8(x).cpu(), what, "", labels)
        r = evaluate(fake, real, ["fid", "pr"], extractor, seed=seed)
        return {"fid": r["fid"], "precision": r["precision"], "recall": r["recall"]}

    if "dscore" in parts:
        start = time.perf_counter()
        g = torch.Generator().manual_seed(seed)
        s_real = disc.scores(real.images)
        noise = (torch.rand(real.images.shape, generator=g) * 256).floor().clamp(max=255).to(torch.uint8)
        fake, labels = sample_outputs(loaded, n, seed)
        result["dscore"] = {
            "auc_real_vs_noise": roc_auc(s_real, disc.scores(noise)),
            "auc_real_vs_blur1": roc_auc(s_real, disc.scores(blurred(real.images, 1.0))),
            "auc_real_vs_samples": roc_auc(s_real, disc.score_outputs(fake, labels)),
            "median_score_real": float(s_real.median()), "seconds": round(time.perf_counter() - start, 1)}
        print(f"[gankit]   dscore: {result['dscore']}", file=sys.stderr)
    if "dfilter" in parts:
        rows = {}
        for keep in keeps:
            x, labels = (sample_outputs(loaded, n, seed) if keep == 1 else
                         d_filtered_outputs(loaded, disc, n, keep, seed))
            rows[f"{keep:g}"] = metrics(x, labels, f"{run} d-filter {keep:g}")
            print(f"[gankit]   d-filter keep {keep:g}: {rows[f'{keep:g}']}", file=sys.stderr)
        result["dfilter"] = rows
    if "truncation" in parts:
        rows = {}
        for psi in psis:
            x, labels = sample_outputs(loaded, n, seed, psi=psi)
            rows[f"{psi:g}"] = metrics(x, labels, f"{run} psi {psi:g}")
            print(f"[gankit]   psi {psi:g}: {rows[f'{psi:g}']}", file=sys.stderr)
        result["truncation"] = rows
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown(result) + "\n")
    return result


def markdown(result: dict) -> str:
    lines = [f"Run `{result['run']}` (step {result['step']}); {result['n']} samples per row against "
             f"{result['reference']}, features: {result['extractor']}."]
    if "dscore" in result:
        d = result["dscore"]
        lines += ["", "| D's ROC AUC, real against | AUC |", "| --- | ---: |",
                  f"| uniform noise | {d['auc_real_vs_noise']:.4f} |",
                  f"| the same images blurred (Gaussian, sigma 1 px) | {d['auc_real_vs_blur1']:.4f} |",
                  f"| the generator's EMA samples | {d['auc_real_vs_samples']:.4f} |"]
    for part, title in (("dfilter", "D-filter keep"), ("truncation", "psi")):
        if part in result:
            lines += ["", f"| {title} | FID ↓ | precision ↑ | recall ↑ |", "| ---: | ---: | ---: | ---: |"]
            lines += [f"| {k} | {r['fid']:.3f} | {r['precision']:.4f} | {r['recall']:.4f} |"
                      for k, r in result[part].items()]
    return "\n".join(lines)
