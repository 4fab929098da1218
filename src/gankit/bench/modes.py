"""``gankit bench modes``: the 2-D mode-collapse benchmark of VEEGAN and PacGAN.

Protocol (Srivastava et al. 2017, Table 1; Lin et al. 2018, Table 1): ``ring`` is 8 Gaussians of
std 0.01 on the unit circle, ``grid`` 25 Gaussians of std 0.05 on {-4,-2,0,2,4}^2. Each seed is a
normal ``gankit train`` run of the preset (a separate process, one thread each, ``--jobs`` at a
time). 2,500 samples of the trained generator (its EMA when there is one, noise seed = run seed)
are scored: modes captured, % high quality (within 3 std of the nearest centre) and reverse KL of
the nearest-centre histogram to uniform. Results are the mean and standard error over seeds.

Samples are drawn exactly as ``gankit sample --run RUN --n 2500 --seed SEED --format npy`` draws
them, so with the run's ``sample.jacobian_truncation``; when that is on, the same runs are also
scored without it ("G alone"), so the table shows what training and what sampling contribute.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from gankit.bench.common import mean_se, train_process
from gankit.errors import GankitError

NUM_SAMPLES = 2500

# (method, source, modes, % high quality, reverse KL) as published; None where not reported.
PUBLISHED = {
    "ring": [
        ("GAN", "PacGAN Table 1", 6.3, 98.2, 0.45),
        ("PacGAN4", "PacGAN Table 1", 7.8, 95.9, 0.07),
        ("VEEGAN", "VEEGAN Table 1", 8.0, 52.9, None),
        ("Unrolled GAN", "VEEGAN Table 1", 7.6, 35.6, None),
    ],
    "grid": [
        ("GAN", "PacGAN Table 1", 17.3, 94.8, 0.70),
        ("PacGAN4", "PacGAN Table 1", 24.8, 93.6, 0.04),
        ("VEEGAN", "VEEGAN Table 1", 24.6, 40.0, None),
        ("Unrolled GAN", "VEEGAN Table 1", 23.6, 16.0, None),
    ],
}
MAX_MODES = {"ring": 8, "grid": 25}


KEYS = ("modes", "high_quality", "reverse_kl")
_EVAL_LOCK = threading.Lock()  # forward-mode AD (Jacobian truncation) keeps process-wide state: one at a time


def _evaluate(run_dir: Path, seed: int, plain: bool = False) -> tuple[dict, np.ndarray, np.ndarray]:
    """Scores of 2,500 samples drawn as ``gankit sample`` draws them (``plain``: without Jacobian truncation)."""
    from gankit.infer import load_generator
    from gankit.infer.sample import sample_to_file
    from gankit.metrics import mode_metrics

    loaded = load_generator(str(run_dir))
    if loaded.data.get("centers") is None:
        raise GankitError(f"{run_dir} was not trained on a 2-D mixture (ring or grid)")
    name = "samples-2500-plain.npy" if plain else "samples-2500.npy"
    path = sample_to_file(loaded, str(run_dir / name), n=NUM_SAMPLES, seed=seed, fmt="npy",
                          jacobian_truncation=0.0 if plain else None)
    points = np.load(path)
    centers = np.asarray(loaded.data["centers"])
    metrics = mode_metrics(points, centers, loaded.data["std"])
    metrics["jacobian_truncation"] = 0.0 if plain else loaded.cfg.sample.jacobian_truncation
    return metrics, points, centers


def run_modes_benchmark(dataset: str, seeds: int, preset: str | None, out: Path, jobs: int = 2,
                        overrides: list[str] | None = None) -> dict:
    """Train ``seeds`` runs of ``preset`` on ``dataset``, score them, write the table; returns the results."""
    if dataset not in PUBLISHED:
        raise GankitError(f"--dataset must be ring or grid, got {dataset!r}")
    if seeds < 1 or jobs < 1:
        raise GankitError("--seeds and --jobs must be at least 1")
    preset = preset or f"toy-{dataset}"
    overrides = list(overrides or [])
    out.mkdir(parents=True, exist_ok=True)
    print(f"[gankit] bench modes: {dataset}, preset {preset}, {seeds} seeds, {jobs} at a time -> {out}",
          file=sys.stderr)

    def one(seed: int) -> dict:
        run_dir = out / f"seed-{seed}"
        timing = train_process(preset, seed, run_dir, overrides)
        with _EVAL_LOCK:
            metrics, _, _ = _evaluate(run_dir, seed)
            plain = _evaluate(run_dir, seed, plain=True)[0] if metrics["jacobian_truncation"] else None
        row = {"seed": seed, **timing, **{k: metrics[k] for k in KEYS}}
        if plain is not None:
            row["plain"] = {k: plain[k] for k in KEYS}
        print(f"[gankit]   seed {seed}: {row['modes']}/{metrics['num_modes']} modes, "
              f"{100 * row['high_quality']:.1f}% high quality, reverse KL {row['reverse_kl']:.4f}, "
              f"{row['cpu_seconds']:.0f} s CPU", file=sys.stderr)
        return row

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(one, range(seeds)))
    summary = {key: mean_se([r[key] for r in rows]) for key in (*KEYS, "cpu_seconds", "wall_seconds")}
    metrics0, points0, centers = _evaluate(out / "seed-0", 0)
    from gankit.viz import save_scatter

    save_scatter(points0, out / "samples-seed0.png", centers,
                 title=f"{preset}, seed 0: {metrics0['modes']} modes, {100 * metrics0['high_quality']:.1f}% HQ")
    result = {
        "dataset": dataset,
        "preset": preset,
        "overrides": overrides,
        "seeds": seeds,
        "runs": rows,
        "jacobian_truncation": metrics0["jacobian_truncation"],
        "summary": {k: {"mean": m, "se": s} for k, (m, s) in summary.items()},
        "all_modes_every_seed": all(r["modes"] == MAX_MODES[dataset] for r in rows),
        "protocol": {
            "samples": NUM_SAMPLES,
            "high_quality": "within 3 std of the nearest centre",
            "reverse_kl": "KL(nearest-centre histogram || uniform), natural log",
            "generator": "G_ema when the preset has EMA, noise seed = run seed",
            "threads_per_run": 1,
        },
        "published": PUBLISHED[dataset],
    }
    if all("plain" in r for r in rows):
        result["summary_plain"] = {k: dict(zip(("mean", "se"), mean_se([r["plain"][k] for r in rows]))) for k in KEYS}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(result) + "\n")
    return result


def markdown_table(result: dict) -> str:
    """The published rows and gankit's row as a Markdown table."""
    ds = result["dataset"]
    lines = [f"| method | modes (max {MAX_MODES[ds]}) | % high quality | reverse KL |", "| --- | --- | --- | --- |"]
    for name, source, modes, hq, kl in PUBLISHED[ds]:
        kl_text = f"{kl:.2f}" if kl is not None else "-"
        lines.append(f"| {name} ({source}) | {modes:g} | {hq:g} | {kl_text} |")
    name, seeds = f"gankit `{result['preset']}`", f"{result['seeds']} seeds"
    rows = [(f"**{name}** ({seeds})", result["summary"])]
    if "summary_plain" in result:
        rows = [(f"{name}, G alone ({seeds})", result["summary_plain"]),
                (f"**{name}, G + Jacobian truncation {result['jacobian_truncation']:g}** ({seeds})",
                 result["summary"])]
    for label, s in rows:
        lines.append(
            f"| {label} | {s['modes']['mean']:.1f} ± {s['modes']['se']:.1f} | "
            f"{100 * s['high_quality']['mean']:.1f} ± {100 * s['high_quality']['se']:.1f} | "
            f"{s['reverse_kl']['mean']:.4f} ± {s['reverse_kl']['se']:.4f} |"
        )
    return "\n".join(lines)
