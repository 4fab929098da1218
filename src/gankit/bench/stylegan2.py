"""``gankit bench stylegan2``: StyleGAN2 against DCGAN, small-data augmentation, and path-length regularization,
each on the Fluent 3D emoji at 64 px and one CPU budget per run.

Parts (``--part``, default all):

* ``compare``: ``stylegan2-emoji64`` and ``dcgan-emoji64`` on all 3,391 pictures;
* ``small``: ``--small-preset`` (default ``dcgan-emoji500-ada``) on a fixed 500-picture subset (skin-tone variants
  dropped first, subset seed 0) with no augmentation, DiffAugment and ADA, plus ADA on the full set (where its p
  should stay near 0); ``--small-resolution 32`` trains (and scores) them at 32 px, four times the images per
  CPU second;
* ``ppl``: ``stylegan2-emoji64`` without path-length regularization (the preset's weight 0) and with it (2).

Every run is an ordinary ``gankit train`` in its own process (``--threads`` torch threads, ``--jobs`` at a time)
with ``train.max_cpu_seconds`` = the part's budget and ``train.fit_to_budget``. Then each run's EMA generator
draws ``--n`` samples (seed 0) that are scored with Inception FID and KID against all 3,391 pictures at 64 px
(the full set, also for the subset runs); StyleGAN2 runs also get the perceptual path length in W (``--ppl-pairs``
pairs; :mod:`gankit.metrics.ppl`), and ADA runs the last and the largest p they logged.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gankit.bench.common import train_process
from gankit.errors import GankitError

PARTS = ("compare", "small", "ppl")
SUBSET = ["data.subset=500", "data.base_emoji_only=true", "data.subset_seed=0"]
REFERENCE = "fluent-emoji-3d:all"


def plan(parts: tuple[str, ...], small_preset: str, small_resolution: int = 0) -> list[tuple[str, str, list[str]]]:
    """(name, preset, overrides) of every run the parts need (a run two parts share is trained once).
    ``small_resolution`` (0: the preset's) trains and scores the small-data runs at another size."""
    runs: dict[str, tuple[str, list[str]]] = {}
    if "compare" in parts or "ppl" in parts:
        runs["stylegan2"] = ("stylegan2-emoji64", [])
    if "compare" in parts:
        runs["dcgan"] = ("dcgan-emoji64", [])
    if "ppl" in parts:
        runs["stylegan2-pl"] = ("stylegan2-emoji64", ["loss.pl_weight=2"])
    if "small" in parts:
        size = [f"data.resolution={small_resolution}"] if small_resolution else []
        runs["small-none"] = (small_preset, [*SUBSET, *size, "augment.kind=none"])
        runs["small-diffaugment"] = (small_preset, [*SUBSET, *size, "augment.kind=diffaugment"])
        runs["small-ada"] = (small_preset, [*SUBSET, *size, "augment.kind=ada"])
        runs["full-ada"] = (small_preset, ["data.subset=0", "data.base_emoji_only=false", *size, "augment.kind=ada"])
    return [(name, preset, overrides) for name, (preset, overrides) in runs.items()]


def _ada_p(run: Path) -> dict:
    ps = [r["ada_p"] for r in map(json.loads, (run / "stats.jsonl").read_text().splitlines()) if "ada_p" in r]
    return {"ada_p_last": ps[-1], "ada_p_max": max(ps)} if ps else {}


def _score(run: Path, n: int, ppl_pairs: int, inception: bool) -> dict:
    from gankit.data.image_sources import load_images
    from gankit.infer import load_generator
    from gankit.infer.run_images import generator_images
    from gankit.metrics.feature_eval import evaluate

    row: dict = {}
    loaded = load_generator(str(run))
    if inception:
        start = time.perf_counter()
        fake, data = generator_images(loaded, n, 0, run.name)
        real = load_images(REFERENCE, None, 0, data["resolution"], 3)
        result = evaluate(fake, real, ["fid", "kid"], "inception", seed=0)
        row.update({"fid": result["fid"], "kid": result["kid"], "inception_protocol": result["protocol"],
                    "eval_seconds": round(time.perf_counter() - start, 1)})
    if ppl_pairs and hasattr(loaded.net, "w_avg"):
        from gankit.infer.style import run_ppl

        row["ppl_w"] = run_ppl(loaded, ppl_pairs)["ppl_w"]
    return row


def run_stylegan2_benchmark(out: Path, parts: tuple[str, ...] = PARTS, cpu_budget: float = 3600.0,
                            small_budget: float = 1800.0, small_preset: str = "dcgan-emoji500-ada", n: int = 5000,
                            ppl_pairs: int = 2000, jobs: int = 2, threads: int = 1, inception: bool = True,
                            reuse: bool = False, seed: int = 0, small_resolution: int = 0) -> dict:
    """Train the runs the parts need, score them, write ``results.json`` and ``results.md`` into ``out``."""
    from gankit.data.fluent import load_fluent_images

    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise GankitError(f"--part: choose from {', '.join(PARTS)} (comma-separated), not {', '.join(bad) or 'none'}")
    if cpu_budget <= 0 or small_budget <= 0 or jobs < 1 or threads < 1 or n < 1:
        raise GankitError("budgets and --n must be positive, --jobs and --threads at least 1")
    load_fluent_images("all", 64)  # fail now, with the fetch hint, rather than after training
    if inception:
        from gankit.metrics.features import get_extractor

        get_extractor("inception")
    out.mkdir(parents=True, exist_ok=True)
    if small_resolution and (small_resolution < 16 or small_resolution & (small_resolution - 1)):
        raise GankitError(f"--small-resolution: a power of two from 16 up, not {small_resolution}")
    runs = plan(parts, small_preset, small_resolution)
    budgets = {name: small_budget if name.startswith(("small", "full")) else cpu_budget for name, _, _ in runs}
    print(f"[gankit] bench stylegan2 ({', '.join(parts)}): {len(runs)} runs, {threads} thread(s) each, {jobs} at a "
          f"time -> {out}", file=sys.stderr)

    def one(run: tuple[str, str, list[str]]) -> tuple[str, dict]:
        name, preset, overrides = run
        done = out / name / "metrics.json"
        settings = [f"train.max_cpu_seconds={budgets[name]}", "train.fit_to_budget=true", *overrides]
        timing = {} if reuse and done.is_file() else train_process(preset, seed, out / name, settings,
                                                                     threads=threads, label=name)  # fmt: skip
        metrics = json.loads(done.read_text())
        row = {**timing, "preset": preset, "overrides": overrides, "seed": seed, "steps": metrics["step"],
               "train_cpu_seconds": metrics.get("train_cpu_seconds"), "budget": budgets[name], **_ada_p(out / name)}
        print(f"[gankit]   {name}: {row['steps']} steps in {row['train_cpu_seconds']:.0f} CPU s", file=sys.stderr)
        return name, row

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = dict(pool.map(one, runs))
    for name in rows:
        rows[name].update(_score(out / name, n, ppl_pairs, inception))
        shown = ", ".join(f"{k} {rows[name][k]:.4g}" for k in ("fid", "kid", "ppl_w", "ada_p_last") if k in rows[name])
        print(f"[gankit]   {name}: {shown}", file=sys.stderr)
    result = {"parts": list(parts), "cpu_budget_seconds": cpu_budget, "small_budget_seconds": small_budget,
              "threads_per_run": threads, "jobs": jobs, "samples": n,
              "reference": f"{REFERENCE} (3,391 pictures, at each run's resolution)",
              "small_resolution": small_resolution or "the preset's",
              "ppl_pairs": ppl_pairs, "rows": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(result) + "\n")
    return result


def markdown_table(result: dict) -> str:
    def fmt(row: dict, key: str, spec: str, scale: float = 1.0) -> str:
        return f"{scale * row[key]:{spec}}" if row.get(key) is not None else "-"

    lines = ["| run | preset (overrides) | CPU s | steps | FID ↓ | KID ×10³ ↓ | PPL in W | ADA p (last / max) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, r in result["rows"].items():
        ada = f"{r['ada_p_last']:.3f} / {r['ada_p_max']:.3f}" if "ada_p_last" in r else "-"
        preset = r["preset"] + (f" ({', '.join(r['overrides'])})" if r["overrides"] else "")
        lines.append(f"| {name} | {preset} | {fmt(r, 'train_cpu_seconds', '.0f')} | {r['steps']} | "
                     f"{fmt(r, 'fid', '.2f')} | {fmt(r, 'kid', '.2f', 1000)} | {fmt(r, 'ppl_w', '.1f')} | {ada} |")
    lines.append(f"\nFID/KID: {result['samples']} samples of each run's EMA generator (seed 0) against "
                 f"{result['reference']}, Inception-v3 (pt_inception weights); {result['threads_per_run']} thread(s) "
                 f"per run, {result['jobs']} runs at a time.")
    return "\n".join(lines)
