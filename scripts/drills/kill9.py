"""Kill drill: SIGKILL a training run at random moments, resume it each time, and check that it ends bit for bit
where a run that was never interrupted ends.

    .venv/bin/python scripts/drills/kill9.py --kills 60 [--seed 0] [--work DIR] [--report FILE.json]

The run (toy-ring, deterministic on CPU) checkpoints after every step, so a good share of the kills land while a
checkpoint is being written (counted: a partial ``.tmp-step-*`` folder is left behind). After each kill the run
is resumed with ``gankit train --resume`` (or started again when the kill came before it wrote its config); a
resumed process that is not killed must exit 0. Each finished chain is compared with the reference run: every
network and optimizer tensor of the last checkpoint, and every logged statistic but the speed. Prints a JSON
summary (and writes it to ``--report``); exits 1 if anything differed or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = 300
SETTINGS = ["train.deterministic=true", "train.ckpt_every=1", "train.keep_ckpts=2", "train.log_every=3",
            "train.sample_every=100000", "train.tensorboard=false", "data.num_samples=1024", "train.threads=1"]


def _command(out: Path, resume: bool) -> list[str]:
    base = [sys.executable, "-m", "gankit", "train", "--quiet"]
    if resume:
        return [*base, "--resume", str(out)]
    sets = [x for s in SETTINGS for x in ("--set", s)]
    return [*base, "--preset", "toy-ring", "--steps", str(STEPS), "--out", str(out), *sets]


def _final(run: Path) -> tuple[dict, list]:
    from safetensors.torch import load_file

    tensors = load_file(str(run / "checkpoints" / f"step-{STEPS:08d}" / "tensors.safetensors"))
    kept = {k: v for k, v in tensors.items() if k.startswith(("net.", "optim."))}
    stats = [{k: v for k, v in json.loads(line).items() if k != "images_per_sec"}
             for line in (run / "stats.jsonl").read_text().splitlines()]
    return kept, stats


def _same(a: tuple[dict, list], b: tuple[dict, list]) -> bool:
    (ta, sa), (tb, sb) = a, b
    return ta.keys() == tb.keys() and all(bool((ta[k] == tb[k]).all()) for k in ta) and sa == sb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="gankit-kill9-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    start = time.perf_counter()
    reference = work / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    subprocess.run(_command(reference, False), check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    whole = time.perf_counter() - start
    expected = _final(reference)

    kills = in_writes = chains = resumes = 0
    failures: list[str] = []
    while kills < args.kills:
        run = work / f"chain-{chains}"
        shutil.rmtree(run, ignore_errors=True)
        chains += 1
        resume = False
        while True:
            proc = subprocess.Popen(_command(run, resume), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            try:
                proc.wait(timeout=rng.uniform(0.3, whole))
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                proc.stderr.close()
                kills += 1
                ckpts = run / "checkpoints"
                in_writes += ckpts.is_dir() and any(p.name.startswith(".tmp-step-") for p in ckpts.iterdir())
                resume = (run / "config.json").is_file()
                resumes += resume
                continue
            err = proc.stderr.read()
            proc.stderr.close()
            if proc.returncode != 0:
                failures.append(f"{run.name}: exit {proc.returncode}: {err.strip().splitlines()[-1:]}")
            elif not _same(_final(run), expected):
                failures.append(f"{run.name}: differs from the uninterrupted run")
            break
        if failures:
            break
    summary = {"kills": kills, "kills_inside_checkpoint_writes": in_writes, "chains": chains, "resumes": resumes,
               "steps": STEPS, "uninterrupted_run_seconds": round(whole, 2),
               "drill_seconds": round(time.perf_counter() - start, 1), "failures": failures,
               "all_bit_exact": not failures}
    print(json.dumps(summary, indent=1))
    if args.report:
        args.report.write_text(json.dumps(summary, indent=1) + "\n")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
