"""Checkpoints written by gankit 0.1 (format version 1) still load, sample and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gankit.checkpoint import VERSION, read_checkpoint
from gankit.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "v1-toy-ring"
# the step-30 losses that gankit 0.1 itself logged when it resumed this run with --steps 30 (deterministic, CPU)
V1_RESUMED_STEP_30 = {"d_loss": 1.3576587677001952, "g_loss": 0.6053719520568848, "r1": 0.013175144791603088}


def test_version_1_state_is_upgraded_on_read():
    tensors, state = read_checkpoint(FIXTURE)
    assert json.loads((FIXTURE / "checkpoints" / "step-00000020" / "state.json").read_text())["version"] == 1
    assert state["version"] == VERSION == 2
    assert state["samplers"] == {"data": {"epoch": 0, "position": 10240}}
    assert state["config"]["task"] == "gan" and "rng.shared" in tensors


def test_version_1_run_resumes_like_gankit_0_1_did(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    assert main(["train", "--resume", str(run), "--steps", "30", "--quiet"]) == 0
    last = json.loads((run / "stats.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 30
    for key, value in V1_RESUMED_STEP_30.items():
        assert last[key] == pytest.approx(value, rel=1e-4), key
    assert json.loads((run / "checkpoints" / "step-00000030" / "state.json").read_text())["version"] == 2
    assert main(["sample", "--run", str(run / "checkpoints" / "step-00000020"), "--out", str(tmp_path / "s.png")]) == 0
