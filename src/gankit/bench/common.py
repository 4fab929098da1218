"""Pieces shared by the ``gankit bench`` commands."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from gankit.errors import GankitError


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean, s / sqrt(n) with the n-1 sample std (0 for one value)."""
    arr = np.asarray(values, dtype=np.float64)
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else 0.0
    return float(arr.mean()), se


def train_process(preset: str, seed: int, run_dir: Path, overrides: list[str], threads: int = 1,
                  label: str | None = None) -> dict:
    """``gankit train`` of ``preset`` in its own process with ``threads`` torch threads, into ``run_dir``.

    The output goes to ``run_dir.log``. Returns the wall time and the child's CPU time (user + system,
    from ``wait4``); a failed run raises with the last line of its log.
    """
    cmd = [sys.executable, "-m", "gankit", "train", "--preset", preset, "--seed", str(seed), "--out", str(run_dir),
           "--force", "--quiet", "--set", f"train.threads={threads}", "--set", "train.tensorboard=false"]
    for o in overrides:
        cmd += ["--set", o]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    log_path = run_dir.with_suffix(".log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = log_path.read_text().strip().splitlines()[-1:]
        raise GankitError(f"{label or f'seed {seed}'} failed (exit {code}): {tail[0] if tail else 'no output'}")
    return {"wall_seconds": time.perf_counter() - start, "cpu_seconds": usage.ru_utime + usage.ru_stime}
