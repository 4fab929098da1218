"""Recovery from damaged checkpoints: resume takes the newest one that verifies and keeps the damaged one aside."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file

from gankit import config as C
from gankit.checkpoint import VERSION, read_checkpoint, write_checkpoint_folder
from gankit.cli import main
from gankit.errors import CheckpointError
from gankit.fetch import sha256_file
from gankit.train.loop import Trainer, build, prepare_run_dir

COMMON = ["train.deterministic=true", "train.log_every=5", "train.sample_every=1000", "train.ckpt_every=10",
          "train.keep_ckpts=2", "train.tensorboard=false", "data.num_samples=2048", "train.steps=40"]


def _train(run_dir, stop_at=None):
    prepare_run_dir(run_dir)
    Trainer(build(C.resolve("toy-ring", overrides=COMMON)), run_dir, quiet=True).run(stop_at=stop_at)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_bit(path):
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x10  # inside the tensor data: the safetensors header still parses
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated tensors": lambda ck: _truncate(ck / "tensors.safetensors"),
    "bit-flipped tensors": lambda ck: _flip_a_bit(ck / "tensors.safetensors"),
    "garbage state": lambda ck: (ck / "state.json").write_text('{"format": "gankit-chec'),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 40-step run, and the same run stopped after step 30 (checkpoints 20 and 30, keep 2), as a
    crash after step 30 leaves it; each test damages its own copy of the second."""
    root = tmp_path_factory.mktemp("recovery")
    _train(root / "straight")
    _train(root / "stopped", stop_at=30)
    return root


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resume_falls_back_past_a_damaged_checkpoint(tmp_path, capsys, runs, damage):
    shutil.copytree(runs / "stopped", tmp_path / "run")
    shutil.copytree(runs / "straight", tmp_path / "straight")
    newest = tmp_path / "run" / "checkpoints" / "step-00000030"
    DAMAGE[damage](newest)
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "moved aside to" in err and "using the newest checkpoint that verifies" in err and "step-00000020" in err
    aside = tmp_path / "run" / "checkpoints" / "damaged-step-00000030"
    assert aside.is_dir()  # kept for inspection, and never counted or pruned as a checkpoint
    # resumed from step 20, the run ends exactly where the uninterrupted one did
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "step-00000040" / "tensors.safetensors"))
    b = load_file(str(tmp_path / "run" / "checkpoints" / "step-00000040" / "tensors.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        if key.startswith(("net.", "optim.")):
            assert (a[key] == b[key]).all(), key
    assert aside.is_dir() and (tmp_path / "run" / "checkpoints" / "step-00000030").is_dir()


def test_no_checkpoint_verifies_is_one_clear_error_and_moves_nothing(tmp_path, capsys, runs):
    shutil.copytree(runs / "stopped", tmp_path / "run")
    for step in (20, 30):
        _truncate(tmp_path / "run" / "checkpoints" / f"step-{step:08d}" / "tensors.safetensors")
    before = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no checkpoint in" in err[0] and "verifies" in err[0], err
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == before


def test_checksum_is_written_and_a_named_damaged_checkpoint_is_refused(tmp_path):
    _train(tmp_path / "run", stop_at=20)
    ck = tmp_path / "run" / "checkpoints" / "step-00000020"
    state = json.loads((ck / "state.json").read_text())
    assert state["version"] == VERSION and state["tensors_sha256"] == sha256_file(ck / "tensors.safetensors")
    _flip_a_bit(ck / "tensors.safetensors")
    with pytest.raises(CheckpointError, match="does not match the SHA-256"):
        read_checkpoint(ck)  # a checkpoint named directly has no fallback


def test_checkpoint_files_share_the_umask_permissions(tmp_path):
    """The safetensors writer makes its file 0600; a checkpoint's weights get state.json's permissions instead,
    so a group-shared run folder (or a zoo model installed by another user) can be read."""
    old = os.umask(0o022)
    try:
        folder = write_checkpoint_folder(tmp_path / "ck", {"net.G.w": torch.ones(2)}, 1, {})
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}
    assert modes == {"state.json": 0o644, "tensors.safetensors": 0o644}
