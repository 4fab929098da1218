"""``gankit bench mnist``: the MNIST presets trained for the same CPU budget, scored on one protocol.

Each preset is an ordinary ``gankit train`` run in its own process (``--threads`` torch threads,
``--jobs`` runs at a time) with ``train.max_cpu_seconds`` set to the budget, so every preset gets the
same CPU time (user + system of its process) whatever its cost per step; ``train.steps`` is raised so
that the budget, not the preset's step count, ends the run (none of these presets decays its lr).

Then, in this process, one after the other:

* domain metrics: 10,000 samples of each generator (class-balanced for the conditional one) against
  the 10,000 MNIST test images, through ``mnist-classifier``: FID, KID, precision/recall, class KL;
* Inception metrics: 5,000 samples against 5,000 random MNIST test images, through ``inception``:
  FID and KID (skipped, with a note, when the Inception weights are not fetched);
* the real-vs-real floor on the same protocols: random MNIST train images in place of the samples.

Each generator is compared at the resolution it was trained at, against MNIST test images brought to
that resolution by the same resize as its training data (what ``gankit eval --run`` does), so both
sides go through the same pipeline; the floor is given at every resolution that occurs. (Comparing
32x32 samples shrunk back to 28x28 against native 28x28 test images instead penalises the 32x32
generators: their samples are copies of upscaled digits, and the 28 -> 32 -> 28 round trip blurs
them. Measured for dcgan-mnist: classifier FID 17.4 that way, 10.0 at 32x32.)
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gankit.bench.common import train_process
from gankit.errors import GankitError

PRESETS = ("mlp-mnist", "dcgan-mnist", "wgan-gp-mnist", "lsgan-mnist", "wgan-clip-mnist", "cgan-mnist")
FLOOR = "real (MNIST train)"
DOMAIN = {"extractor": "mnist-classifier", "n": 10_000, "metrics": ["fid", "kid", "pr", "class"]}
INCEPTION = {"extractor": "inception", "n": 5_000, "metrics": ["fid", "kid"]}
KEEP = ("fid", "kid", "kid_std", "precision", "recall", "class_kl", "classes_covered", "class_accuracy")


def _score(fake, protocol: dict, seed: int, resolution: int) -> dict:
    from gankit.data.image_sources import load_images
    from gankit.metrics.feature_eval import evaluate

    real = load_images("mnist:test", protocol["n"], seed, resolution, 1)
    start = time.perf_counter()
    result = evaluate(fake, real, protocol["metrics"], protocol["extractor"], seed=seed)
    result["eval_seconds"] = round(time.perf_counter() - start, 2)
    return result


def _evaluate_all(rows: dict, out: Path, seed: int, inception: bool) -> dict:
    from gankit.data.image_sources import load_images
    from gankit.infer.run_images import run_images
    from gankit.metrics.features import INCEPTION_MISSING, get_extractor

    protocols = {"domain": DOMAIN}
    if inception:
        try:
            get_extractor("inception")
            protocols["inception"] = INCEPTION
        except GankitError as exc:
            print(f"[gankit] Inception rows skipped: {exc}", file=sys.stderr)
            rows["_notes"] = [f"Inception metrics skipped: {INCEPTION_MISSING}"]
    for name, row in rows.items():
        if name.startswith("_"):
            continue
        for kind, protocol in protocols.items():
            if name.startswith(FLOOR):
                fake = load_images("mnist:train", protocol["n"], seed, row["resolution"], 1)
            else:
                start = time.perf_counter()
                fake, data = run_images(str(out / name), protocol["n"], seed)
                row["resolution"] = data["resolution"]
                row[f"{kind}_sample_seconds"] = round(time.perf_counter() - start, 2)
            result = _score(fake, protocol, seed, row["resolution"])
            row[kind] = {k: result[k] for k in KEEP if k in result}
            row[kind]["eval_seconds"] = result["eval_seconds"]
            row[f"{kind}_protocol"] = result["protocol"]
            shown = ", ".join(f"{k} {v:.4g}" for k, v in row[kind].items() if k in ("fid", "kid", "precision",
                                                                                   "recall"))  # fmt: skip
            print(f"[gankit]   {name}, {kind}: {shown}", file=sys.stderr)
    return rows


def run_mnist_benchmark(out: Path, presets: tuple[str, ...] = PRESETS, cpu_budget: float = 480.0, jobs: int = 2,
                        threads: int = 1, seed: int = 0, inception: bool = True, reuse: bool = False) -> dict:
    """Train every preset for ``cpu_budget`` CPU seconds, score all of them and the floor; write the table.

    ``reuse``: a preset whose run folder already holds a finished run (``metrics.json``) is scored
    without training it again (to redo the scoring of an earlier benchmark).
    """
    from gankit.config import preset_names

    known = set(preset_names())
    unknown = [p for p in presets if p not in known]
    if unknown:
        raise GankitError(f"unknown preset(s) {', '.join(unknown)}: see `gankit presets`")
    if cpu_budget <= 0 or jobs < 1 or threads < 1:
        raise GankitError("--cpu-budget must be positive, --jobs and --threads at least 1")
    from gankit.data import builtin

    builtin.load_mnist("test")  # fail now, with the fetch hint, rather than after training
    out.mkdir(parents=True, exist_ok=True)
    print(f"[gankit] bench mnist: {len(presets)} presets, {cpu_budget:g} CPU s each, {threads} thread(s), "
          f"{jobs} at a time -> {out}", file=sys.stderr)
    overrides = [f"train.max_cpu_seconds={cpu_budget}", "train.steps=10000000", "train.ckpt_every=100000",
                 "train.sample_every=100000"]

    def one(preset: str) -> tuple[str, dict]:
        done = out / preset / "metrics.json"
        timing = {} if reuse and done.is_file() else train_process(preset, seed, out / preset, overrides,
                                                                     threads=threads, label=preset)  # fmt: skip
        metrics = json.loads(done.read_text())
        row = {**timing, "steps": metrics["step"], "train_cpu_seconds": metrics.get("train_cpu_seconds")}
        row.setdefault("cpu_seconds", row["train_cpu_seconds"])
        print(f"[gankit]   {preset}: {row['steps']} steps in {row['cpu_seconds']:.0f} CPU s", file=sys.stderr)
        return preset, row

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = dict(pool.map(one, presets))
    for res in sorted({json.loads((out / p / "config.json").read_text())["data"]["resolution"] for p in presets}):
        rows[f"{FLOOR}, {res}x{res}"] = {"resolution": res}
    rows = _evaluate_all(rows, out, seed, inception)
    result = {
        "cpu_budget_seconds": cpu_budget,
        "threads_per_run": threads,
        "jobs": jobs,
        "seed": seed,
        "resolution": "each generator's own; MNIST test resized like its training data",
        "reference": "mnist:test",
        "protocols": {"domain": DOMAIN, "inception": INCEPTION},
        "rows": rows,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(result) + "\n")
    return result


def _cell(row: dict, kind: str, key: str, fmt: str) -> str:
    value = row.get(kind, {}).get(key)
    return "-" if value is None else format(value, fmt)


def markdown_table(result: dict) -> str:
    """One row per preset plus the real-vs-real floor."""
    lines = [
        "| preset | resolution | steps | FID (classifier, 10k) | KID ×10³ (classifier) | precision | recall | "
        "classes | FID (Inception, 5k) | KID ×10³ (Inception) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result["rows"].items():
        if name.startswith("_"):
            continue
        kid_d = row.get("domain", {}).get("kid")
        kid_i = row.get("inception", {}).get("kid")
        lines.append(
            f"| {name} | {row.get('resolution', '-')} | {row.get('steps', '-')} | "
            f"{_cell(row, 'domain', 'fid', '.2f')} | "
            f"{'-' if kid_d is None else f'{1000 * kid_d:.1f}'} | {_cell(row, 'domain', 'precision', '.3f')} | "
            f"{_cell(row, 'domain', 'recall', '.3f')} | {_cell(row, 'domain', 'classes_covered', 'd')} | "
            f"{_cell(row, 'inception', 'fid', '.2f')} | {'-' if kid_i is None else f'{1000 * kid_i:.2f}'} |"
        )
    for note in result["rows"].get("_notes", []):
        lines.append(f"\n{note}")
    return "\n".join(lines)
