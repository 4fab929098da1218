"""The run lock: one training process per run folder; a killed holder's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gankit.cli import main
from gankit.train.runlock import LOCK_NAME, RunInUseError, RunLock

QUICK = ["--preset", "toy-ring", "--steps", "20", "--quiet", "--set", "train.ckpt_every=10"]
HOLD = ("import sys, time\nfrom gankit.train.runlock import RunLock\nRunLock(sys.argv[1]).acquire()\n"
        "print('held', flush=True)\ntime.sleep(120)\n")


def _holder(folder: Path) -> subprocess.Popen:
    """Another process that holds ``folder``'s lock until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.name != LOCK_NAME}


def test_a_run_in_use_is_refused_naming_its_holder(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *QUICK, "--out", str(run)]) == 0
    before = _files(run)
    holder = _holder(run)
    try:
        for argv in (["train", *QUICK, "--out", str(run), "--force"], ["train", "--resume", str(run), "--steps", "30"],
                     ["train", *QUICK, "--out", str(run)]):
            capsys.readouterr()
            assert main(argv) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and f"in use by pid {holder.pid} on host" in err[0], err
        assert _files(run) == before  # nothing touched: no --force wipe, no resumed step
    finally:
        holder.kill()
        holder.wait()
    assert main(["train", "--resume", str(run), "--steps", "30"]) == 0  # free again once its holder is gone


def test_a_killed_holders_lock_is_taken_over(tmp_path, capsys):
    run = tmp_path / "run"
    holder = _holder(run)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    capsys.readouterr()
    assert main(["train", *QUICK, "--out", str(run)]) == 0
    assert f"taking over the lock of pid {holder.pid}" in capsys.readouterr().err
    info = json.loads((run / LOCK_NAME).read_text())
    assert info["pid"] == os.getpid() and info["released"] is True


def test_two_runs_started_together_into_one_folder(tmp_path):
    """The reported failure: both ran to the end in one folder, every stats row twice. Now exactly one trains."""
    run = tmp_path / "c1"
    cmd = [sys.executable, "-m", "gankit", "train", "--preset", "toy-ring", "--steps", "60", "--quiet", "--out",
           str(run)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "in use by pid" in loser or "already exists" in loser, loser
    steps = [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(steps) == len(set(steps)) and steps[-1] == 60


def test_lock_is_reentrant_free_and_refuses_a_file(tmp_path):
    lock = RunLock(tmp_path / "r").acquire()
    lock.acquire()  # a second acquire by the holder is a no-op
    lock.release()
    lock.release()
    with RunLock(tmp_path / "r"):
        pass
    (tmp_path / "f").write_text("x")
    try:
        RunLock(tmp_path / "f").acquire()
    except Exception as exc:  # noqa: BLE001
        assert "is a file" in str(exc)
    else:
        raise AssertionError("a file was accepted as a run folder")


def test_a_race_loser_waits_for_the_holder_to_write_its_name(tmp_path):
    """The holder writes its name just after taking the lock; a loser that reads the empty file in between waits."""
    import fcntl
    import threading

    run = tmp_path / "r"
    run.mkdir()
    fd = os.open(run / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    name = json.dumps({"pid": 4242, "host": "elsewhere", "since": "2026-12-07 00:00:00"}).encode()
    writer = threading.Timer(0.3, lambda: os.pwrite(fd, name, 0))
    writer.start()
    try:
        with pytest.raises(RunInUseError, match="in use by pid 4242 on host elsewhere"):
            RunLock(run).acquire()
    finally:
        writer.join()
        os.close(fd)
