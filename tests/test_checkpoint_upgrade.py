"""Checkpoints of every earlier format still load, sample and resume: version 1 (gankit 0.1) and version 2 (the
release before checksums), each kept as a fixture written by that release."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gankit.checkpoint import VERSION, read_checkpoint
from gankit.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "v1-toy-ring"
V2_FIXTURE = Path(__file__).parent / "fixtures" / "v2-toy-ring"
# the step-30 losses that gankit 0.1 itself logged when it resumed this run with --steps 30 (deterministic, CPU);
# the version-2 release logged the same when it resumed its own fixture (the same config)
V1_RESUMED_STEP_30 = {"d_loss": 1.3576587677001952, "g_loss": 0.6053719520568848, "r1": 0.013175144791603088}


def test_version_1_state_is_upgraded_on_read():
    tensors, state = read_checkpoint(FIXTURE)
    assert json.loads((FIXTURE / "checkpoints" / "step-00000020" / "state.json").read_text())["version"] == 1
    assert state["version"] == VERSION == 3
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
    assert json.loads((run / "checkpoints" / "step-00000030" / "state.json").read_text())["version"] == VERSION
    assert main(["sample", "--run", str(run / "checkpoints" / "step-00000020"), "--out", str(tmp_path / "s.png")]) == 0


@pytest.mark.parametrize("fixture", [FIXTURE, V2_FIXTURE], ids=["v1", "v2"])
def test_older_runs_resume_as_their_release_did_and_then_write_the_current_version(tmp_path, fixture):
    run = tmp_path / "run"
    shutil.copytree(fixture, run)
    assert main(["train", "--resume", str(run), "--steps", "30", "--quiet"]) == 0
    last = json.loads((run / "stats.jsonl").read_text().splitlines()[-1])
    for key, value in V1_RESUMED_STEP_30.items():
        assert last[key] == pytest.approx(value, rel=1e-4), key
    state = json.loads((run / "checkpoints" / "step-00000030" / "state.json").read_text())
    assert state["version"] == VERSION and len(state["tensors_sha256"]) == 64


def test_version_2_has_no_checksum_and_still_reads():
    raw = json.loads((V2_FIXTURE / "checkpoints" / "step-00000020" / "state.json").read_text())
    assert raw["version"] == 2 and "tensors_sha256" not in raw
    tensors, state = read_checkpoint(V2_FIXTURE)
    assert state["version"] == VERSION and any(k.startswith("net.G.") for k in tensors)
