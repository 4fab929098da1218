"""``gankit bench translate``: pix2pix and CycleGAN on the emoji pairs at one CPU budget, scored on the test split.

Each run is an ordinary ``gankit train`` in its own process (``--threads`` torch threads, ``--jobs`` runs at a
time) with ``train.max_cpu_seconds`` set to the budget and ``train.fit_to_budget`` on (as in the presets), so
every model gets the same CPU time and its lr decay ends when the budget does. pix2pix trains on the paired
training split with ``--seeds`` seeds; CycleGAN with ``data.unpaired_halves=true``: its A side sees one half of
the training emoji and its B side the other half (split by base emoji), so no pair is ever seen whole.

Then, in this process, every model translates every test input (Google -> Twitter, 752 emoji whose base
emoji are all outside the training split), from its EMA generator in eval mode, and is scored against the
true Twitter image:

* L1, PSNR and SSIM per image, averaged (:mod:`gankit.metrics.image_quality`);
* Inception FID and KID of the 752 outputs against the 752 real Twitter test images (the whole test split;
  with fewer than 1,000 images per side KID uses one subset of all of them, so it has no spread).

Rows: the identity map (the Google image taken as the answer: the baseline to beat), each pix2pix seed and
their mean ± standard error, CycleGAN, and a floor: 752 random Twitter *training* images against the test
images (what a model that drew perfect Twitter emoji, but not the asked-for ones, would score on FID).
A picture of input | pix2pix | CycleGAN | truth for a spread of test emoji is written beside the table.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from gankit.bench.common import mean_se, train_process
from gankit.errors import GankitError

PIX2PIX, CYCLEGAN = "pix2pix-emoji", "cyclegan-emoji"
METRICS = ("l1", "psnr", "ssim", "fid", "kid")


def translate_all(run: Path, inputs: torch.Tensor) -> torch.Tensor:
    """uint8 A -> B translations of uint8 ``inputs`` by ``run``'s EMA generator in eval mode, in batches of 64."""
    from gankit.data import to_model_space, to_uint8
    from gankit.infer import load_model
    from gankit.infer.translate import generator_for

    loaded = load_model(str(run))
    net = generator_for(loaded, "a2b")
    with torch.no_grad():
        outs = [net(to_model_space(inputs[i : i + 64])).float() for i in range(0, len(inputs), 64)]
    return to_uint8(torch.cat(outs))


def _score(images: torch.Tensor, targets: torch.Tensor, real, label: str, inception: bool, seed: int) -> dict:
    from gankit.data.image_sources import ImageSet
    from gankit.metrics.feature_eval import evaluate
    from gankit.metrics.image_quality import full_reference_metrics

    row = {k: v for k, v in full_reference_metrics(images, targets).items() if k != "protocol"}
    if inception:
        start = time.perf_counter()
        result = evaluate(ImageSet(images, label, ""), real, ["fid", "kid"], "inception", seed=seed)
        row.update({"fid": result["fid"], "kid": result["kid"], "eval_seconds": round(time.perf_counter() - start, 1)})
        row["inception_protocol"] = result["protocol"]
    shown = ", ".join(f"{k} {row[k]:.4g}" for k in METRICS if k in row)
    print(f"[gankit]   {label}: {shown}", file=sys.stderr)
    return row


def run_translate_benchmark(out: Path, seeds: tuple[int, ...] = (0, 1, 2), cpu_budget: float = 1800.0,
                            jobs: int = 2, threads: int = 1, inception: bool = True, reuse: bool = False,
                            overrides: list[str] | None = None, cyclegan: bool = True) -> dict:
    """Train the pix2pix seeds and (``cyclegan``) CycleGAN for ``cpu_budget`` CPU seconds each, score them; write
    the table."""
    from gankit.data.emoji import load_emoji_pairs
    from gankit.data.image_sources import load_images

    if cpu_budget <= 0 or jobs < 1 or threads < 1 or not seeds:
        raise GankitError("--cpu-budget must be positive, --jobs and --threads at least 1, and --seeds not empty")
    load_emoji_pairs("test", 64, 3, (255, 255, 255))  # fail now, with the fetch hint, rather than after training
    out.mkdir(parents=True, exist_ok=True)
    runs = [(f"pix2pix-seed{s}", PIX2PIX, s) for s in seeds] + ([("cyclegan-seed0", CYCLEGAN, 0)] if cyclegan else [])
    print(f"[gankit] bench translate: {len(runs)} runs, {cpu_budget:g} CPU s each, {threads} thread(s), "
          f"{jobs} at a time -> {out}", file=sys.stderr)
    settings = [f"train.max_cpu_seconds={cpu_budget}", "train.fit_to_budget=true", *(overrides or [])]

    def one(run: tuple[str, str, int]) -> tuple[str, dict]:
        name, preset, seed = run
        done = out / name / "metrics.json"
        timing = {} if reuse and done.is_file() else train_process(preset, seed, out / name, settings,
                                                                     threads=threads, label=name)  # fmt: skip
        metrics = json.loads(done.read_text())
        row = {**timing, "preset": preset, "seed": seed, "steps": metrics["step"],
               "train_cpu_seconds": metrics.get("train_cpu_seconds")}
        print(f"[gankit]   {name}: {row['steps']} steps in {row['train_cpu_seconds']:.0f} CPU s", file=sys.stderr)
        return name, row

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        trained = dict(pool.map(one, runs))
    res = json.loads((out / runs[0][0] / "config.json").read_text())["data"]["resolution"]
    test = load_emoji_pairs("test", res, 3, (255, 255, 255))
    a, b = test.fields["A"], test.fields["B"]
    real = load_images("emoji-pairs:test:B", None, 0, res, 3) if inception else None
    if inception:
        from gankit.metrics.features import INCEPTION_MISSING, get_extractor

        try:
            get_extractor("inception")
        except GankitError:
            print(f"[gankit] Inception columns skipped: {INCEPTION_MISSING}", file=sys.stderr)
            inception = False
    rows: dict[str, dict] = {"identity (Google image as the answer)": _score(a, b, real, "identity", inception, 0)}
    outputs = {}
    for name, row in trained.items():
        outputs[name] = translate_all(out / name, a)
        rows[name] = {**row, **_score(outputs[name], b, real, name, inception, 0)}
    p2p = [rows[f"pix2pix-seed{s}"] for s in seeds]
    rows["pix2pix, mean ± s.e."] = {k: list(mean_se([r[k] for r in p2p])) for k in METRICS if k in p2p[0]}
    if inception:
        twitter_train = load_images("emoji-pairs:train:B", len(b), 0, res, 3).images
        rows["floor: real Twitter train images"] = _score(twitter_train, b[: len(twitter_train)], real,
                                                          "floor (real Twitter train vs test)", True, 0)
        rows["floor: real Twitter train images"] = {k: v for k, v in rows["floor: real Twitter train images"].items()
                                                    if k in ("fid", "kid", "inception_protocol")}
    picture = _picture(a, b, outputs[f"pix2pix-seed{seeds[0]}"], outputs.get("cyclegan-seed0"),
                       out / "translations.png")
    result = {
        "cpu_budget_seconds": cpu_budget, "threads_per_run": threads, "jobs": jobs, "seeds": list(seeds),
        "test": f"emoji-pairs test split: {len(b)} pairs, Google (A) -> Twitter (B), {res}x{res} RGB on white",
        "inception": "FID/KID of all test outputs vs all real Twitter test images" if inception else "skipped",
        "picture": str(picture), "rows": rows,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(result) + "\n")
    return result


def _picture(a: torch.Tensor, b: torch.Tensor, p2p: torch.Tensor, cyc: torch.Tensor | None, path: Path,
             n: int = 12) -> Path:
    """Rows of input | pix2pix | CycleGAN (when run) | truth for ``n`` test emoji spread over the split."""
    from gankit.viz import save_picture, side_by_side

    idx = torch.linspace(0, len(a) - 1, n).round().long()
    columns = [a[idx], p2p[idx], *([] if cyc is None else [cyc[idx]]), b[idx]]
    return save_picture(side_by_side(columns, groups_per_row=2), path)


def _fmt(row: dict, key: str, spec: str, scale: float = 1.0) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, list):
        return f"{scale * value[0]:{spec}} ± {scale * value[1]:{spec}}"
    return f"{scale * value:{spec}}"


def markdown_table(result: dict) -> str:
    lines = ["| model | steps | L1 ↓ | PSNR dB ↑ | SSIM ↑ | FID (Inception) ↓ | KID ×10³ ↓ |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | {row.get('steps', '-')} | {_fmt(row, 'l1', '.4f')} | {_fmt(row, 'psnr', '.2f')} | "
                     f"{_fmt(row, 'ssim', '.4f')} | {_fmt(row, 'fid', '.2f')} | {_fmt(row, 'kid', '.2f', 1000)} |")
    lines.append(f"\n{result['test']}; {result['cpu_budget_seconds']:g} CPU s of training per run "
                 f"({result['threads_per_run']} thread(s), {result['jobs']} runs at a time); {result['inception']}.")
    return "\n".join(lines)
