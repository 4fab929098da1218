"""Training pix2pix and CycleGAN on generated pairs (B = A + 128): learning, bit-exact resume, translate."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image
from translation_data import write_pairs

from gankit import config as C
from gankit.cli import main
from gankit.errors import CheckpointError
from gankit.train.loop import Trainer, build, prepare_run_dir


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


def _cfg(task: str, root, steps: int, extra: dict | None = None) -> C.Config:
    model = {"width": 8, "d_width": 8, "max_channels": 32, "d_layers": 1}
    model.update({"generator": "unet", "depth": 4} if task == "pix2pix" else {"generator": "resnet",
                                                                             "resnet_blocks": 1})
    raw = {
        "task": task,
        "data": {"name": "paired-folder", "path": str(root), "resolution": 16, "channels": 3, "hflip": True},
        "model": model,
        "train": {"steps": steps, "batch_size": 8, "log_every": 10, "sample_every": 1000, "ckpt_every": 1000,
                  "grid_size": 4, "tensorboard": False, "deterministic": True, "threads": 1, "ema": 0.9,
                  "g_optim": {"lr": 1e-3}, "d_optim": {"lr": 1e-3}, "lr_decay": "linear",
                  "lr_decay_start": 0.5},
    }
    if task == "cyclegan":
        raw["data"]["unpaired_halves"] = True
        raw["loss"] = {"pool_size": 4}
    return C.from_dict(C.merge(raw, extra or {}))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("data") / "inv", n=64, test=16)


def _train(cfg, run_dir, resume=False, stop_at=None):
    if not resume:
        prepare_run_dir(run_dir)
    trainer = Trainer(build(cfg), run_dir, resume=resume, quiet=True)
    info = trainer.run(stop_at=stop_at)
    return trainer, info


@pytest.mark.parametrize("task, steps, factor", [("pix2pix", 300, 0.5), ("cyclegan", 200, 0.8)])
def test_translation_learns_the_test_mapping(tmp_path, pairs, task, steps, factor):
    """Test-split L1 of G(A) against B falls well below the untrained G's (pix2pix: under half of it)."""
    cfg = _cfg(task, pairs, steps)
    setup = build(cfg)
    before = setup.task.end_of_run_metrics(0)
    prepare_run_dir(tmp_path / "r")
    trainer = Trainer(setup, tmp_path / "r", quiet=True)
    trainer.run()
    result = trainer.finish()
    after = result["metrics"]
    assert after["l1"] < factor * before["l1"], (before["l1"], after["l1"])
    assert after["l1"] < after["identity"]["l1"]
    assert after["protocol"]["n"] == 16  # every test pair
    grid = Image.open(result["samples"])
    assert grid.width > grid.height  # rows of input | output | target
    stats = [json.loads(line) for line in (tmp_path / "r" / "stats.jsonl").read_text().splitlines()]
    assert {"d_loss", "g_loss"} <= set(stats[-1])


@pytest.mark.parametrize("task", ["pix2pix", "cyclegan"])
def test_translation_resume_is_bit_exact(tmp_path, pairs, task):
    cfg = _cfg(task, pairs, 30, {"train": {"ckpt_every": 10}})
    straight, _ = _train(cfg, tmp_path / "straight")
    _train(cfg, tmp_path / "part", stop_at=20)
    resumed, _ = _train(cfg, tmp_path / "part", resume=True)
    for name, net in straight.s.task.networks.items():
        other = resumed.s.task.networks[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), f"{name}.{key}"
    a = (tmp_path / "straight" / "stats.jsonl").read_text().splitlines()
    b = (tmp_path / "part" / "stats.jsonl").read_text().splitlines()
    drop = ("images_per_sec",)
    assert [{k: v for k, v in json.loads(x).items() if k not in drop} for x in a] == \
           [{k: v for k, v in json.loads(x).items() if k not in drop} for x in b]


def test_resume_refuses_a_checkpoint_of_another_family(tmp_path, pairs):
    _train(_cfg("pix2pix", pairs, 5), tmp_path / "p")
    other = tmp_path / "c"
    _train(_cfg("cyclegan", pairs, 5), other)
    shutil.rmtree(other / "checkpoints")
    shutil.copytree(tmp_path / "p" / "checkpoints", other / "checkpoints")
    with pytest.raises(CheckpointError):
        Trainer(build(_cfg("cyclegan", pairs, 5)), other, resume=True, quiet=True)


def test_translate_command(tmp_path, pairs, capsys):
    run = tmp_path / "run"
    _train(_cfg("cyclegan", pairs, 5), run)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.new("RGBA", (40, 24), (200, 10, 10, 128)).save(src / "a.png")
    Image.new("L", (16, 16), 90).save(src / "sub" / "b.jpg")
    (src / "broken.png").write_bytes(b"nope")
    assert main(["translate", "--run", str(run), "--input", str(src), "--out", str(tmp_path / "out")]) == 0
    assert Image.open(tmp_path / "out" / "a.png").size == (40, 24)
    assert Image.open(tmp_path / "out" / "sub" / "b.png").mode == "RGB"
    assert "broken.png" in capsys.readouterr().err
    assert main(["translate", "--run", str(run), "--input", str(src / "a.png"), "--out", str(tmp_path / "t"),
                 "--mode", "tile", "--direction", "b2a"]) == 0
    assert Image.open(tmp_path / "t" / "a.png").size == (40, 24)
    p2p = tmp_path / "p2p"
    _train(_cfg("pix2pix", pairs, 5), p2p)
    assert main(["translate", "--run", str(p2p), "--input", str(src), "--out", str(tmp_path / "x"),
                 "--direction", "b2a"]) == 2
    assert "pix2pix learns one direction" in capsys.readouterr().err
    assert main(["sample", "--run", str(p2p), "--out", str(tmp_path / "s.png")]) == 2
    assert "use gankit translate" in capsys.readouterr().err


def test_train_cli_with_a_paired_folder_preset(tmp_path, pairs, capsys):
    code = main(["train", "--preset", "pix2pix-folder", "--data", str(pairs), "--out", str(tmp_path / "r"),
                 "--quiet", "--steps", "3", "--set", "data.resolution=16", "--set", "train.batch_size=8",
                 "--set", "model.width=4", "--set", "model.d_width=4", "--set", "train.tensorboard=false"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["step"] == 3 and "l1" in metrics and "identity" in metrics
