"""Full-disk drill: a run whose disk fills up stops with one clear line, keeps its last complete checkpoint, and
resumes once space is back to end bit for bit where an uninterrupted run ends.

    .venv/bin/python scripts/drills/full_disk.py [--levels 6] [--report FILE.json]

As root where ``mount -t tmpfs`` works, each level mounts a small tmpfs, fills part of it with a filler file and
trains into the rest (toy-ring, deterministic, a checkpoint every 10 steps, a sample grid every 10), so the disk
runs out in a different write each time (the tensors, state.json, stats.jsonl, a picture). Elsewhere it simulates
the same failure: ``OSError(ENOSPC)`` raised by the checkpoint writer at the k-th checkpoint, in process. Then the
filler is removed (or the fault lifted) and ``--resume`` must finish the run. Prints a JSON summary; exit 1 on any
failure.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

STEPS = 60
SETTINGS = ["train.deterministic=true", "train.ckpt_every=10", "train.keep_ckpts=2", "train.log_every=5",
            "train.sample_every=10", "train.tensorboard=false", "data.num_samples=1024", "train.threads=1"]


def _train_args(out: Path) -> list[str]:
    return ["train", "--quiet", "--preset", "toy-ring", "--steps", str(STEPS), "--out", str(out),
            *[x for s in SETTINGS for x in ("--set", s)]]


def _gankit(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gankit", *args], capture_output=True, text=True, timeout=600)


def _state(run: Path) -> dict:
    from safetensors.torch import load_file

    tensors = load_file(str(run / "checkpoints" / f"step-{STEPS:08d}" / "tensors.safetensors"))
    stats = [{k: v for k, v in json.loads(line).items() if k != "images_per_sec"}
             for line in (run / "stats.jsonl").read_text().splitlines()]
    return {"tensors": {k: v for k, v in tensors.items() if k.startswith(("net.", "optim."))}, "stats": stats}


def _same(a: dict, b: dict) -> bool:
    ta, tb = a["tensors"], b["tensors"]
    return ta.keys() == tb.keys() and all(bool((ta[k] == tb[k]).all()) for k in ta) and a["stats"] == b["stats"]


def _intact(run: Path) -> str | None:
    """None if every complete checkpoint verifies and no partial one is left, else what is wrong."""
    from gankit.checkpoint import list_checkpoints, read_checkpoint
    from gankit.errors import CheckpointError

    ckpts = run / "checkpoints"
    if ckpts.is_dir() and any(p.name.startswith(".tmp-") for p in ckpts.iterdir()):
        return "a partial checkpoint folder was left behind"
    for ck in list_checkpoints(ckpts):
        try:
            read_checkpoint(ck)
        except CheckpointError as exc:
            return str(exc)
    return None


def _can_mount(where: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True)
    if ok.returncode != 0:
        return False
    subprocess.run(["umount", str(where)], check=True)
    return True


def _real_level(work: Path, free_kb: int, reference: dict) -> dict:
    mnt = work / f"disk-{free_kb}"
    mnt.mkdir()
    size_kb = 8192
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)], check=True)
    try:
        filler = mnt / "filler"
        with open(filler, "wb") as f:
            f.write(b"\0" * ((size_kb - free_kb) * 1024))
        run = mnt / "run"
        first = _gankit(_train_args(run))
        err = first.stderr.strip().splitlines()
        row = {"free_kb": free_kb, "first_exit": first.returncode, "error": err[-1] if err else ""}
        if first.returncode == 0:
            row["note"] = "the run fitted: no full disk at this level"
            return row
        row["one_line"] = first.returncode == 2 and err[-1].startswith("gankit: error: no space left")
        row["intact"] = _intact(run) is None
        filler.unlink()
        second = _gankit(["train", "--resume", str(run), "--quiet"]) if (run / "config.json").is_file() else \
            _gankit(_train_args(run) + ["--force"])
        row["resume_exit"] = second.returncode
        row["bit_exact"] = second.returncode == 0 and _same(_state(run), reference)
        return row
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _simulated_level(work: Path, fail_at: int, reference: dict) -> dict:
    """In process: the fail_at-th checkpoint write raises ENOSPC."""
    import gankit.checkpoint as ck
    from gankit.cli import main

    real = ck.save_file
    calls = {"n": 0}

    def full(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= fail_at:
            raise OSError(errno.ENOSPC, "No space left on device (simulated)", args[1])
        return real(*args, **kwargs)

    run = work / f"sim-{fail_at}"
    ck.save_file = full
    try:
        code = main(_train_args(run))
    finally:
        ck.save_file = real
    row = {"fail_at_checkpoint": fail_at, "first_exit": code, "one_line": code == 2, "intact": _intact(run) is None}
    row["resume_exit"] = main(["train", "--resume", str(run), "--quiet"])
    row["bit_exact"] = row["resume_exit"] == 0 and _same(_state(run), reference)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, default=6)
    parser.add_argument("--simulate", action="store_true", help="simulate ENOSPC even where a tmpfs can be mounted")
    parser.add_argument("--report", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gankit-disk-"))
    try:
        reference_run = work / "reference"
        done = _gankit(_train_args(reference_run))
        if done.returncode != 0:
            raise SystemExit(f"reference run failed: {done.stderr[-500:]}")
        reference = _state(reference_run)
        probe = work / "probe"
        probe.mkdir()
        mode = "simulated" if args.simulate or not _can_mount(probe) else "tmpfs"
        rows = []
        if mode == "tmpfs":
            # one checkpoint is ~0.95 MB here: free space from half a checkpoint to a few, and between
            for i in range(args.levels):
                rows.append(_real_level(work, 400 + i * 3000 // max(1, args.levels - 1), reference))
        else:
            for i in range(args.levels):
                rows.append(_simulated_level(work, 1 + i % 5, reference))
        failed = [r for r in rows if r["first_exit"] != 0 and not (r["one_line"] and r["intact"] and r["bit_exact"])]
        summary = {"mode": mode, "levels": len(rows), "disk_full_cases": sum(r["first_exit"] != 0 for r in rows),
                   "failed": len(failed), "rows": rows}
        print(json.dumps(summary, indent=1))
        if args.report:
            args.report.write_text(json.dumps(summary, indent=1) + "\n")
        return 1 if failed or not summary["disk_full_cases"] else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
