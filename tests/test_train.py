"""The training loop: learning happens, resume is bit-exact, checkpoints are safe."""

import json
import shutil

import numpy as np
import pytest
import torch

from gankit import config as C
from gankit.checkpoint import list_checkpoints, read_checkpoint
from gankit.cli import main
from gankit.errors import CheckpointError, GankitError
from gankit.train.loop import Trainer, build, lr_factor, prepare_run_dir


def _run(tmp_path, name, preset, overrides, resume=False, stop_at=None):
    cfg = C.resolve(preset, overrides=overrides)
    run_dir = tmp_path / name
    if not resume:
        prepare_run_dir(run_dir)
    trainer = Trainer(build(cfg), run_dir, resume=resume, quiet=True)
    info = trainer.run(stop_at=stop_at)
    return trainer, info


def _stats(run_dir):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


TOY = ["train.log_every=10", "train.sample_every=1000", "train.ckpt_every=1000", "data.num_samples=4096",
       "train.tensorboard=false"]


def test_toy_grid_learns_modes(tmp_path):
    """Untrained G puts every point near the centre mode; 1,000 steps spread it over most of the 25."""

    cfg = C.resolve("toy-grid", overrides=TOY + ["train.steps=1000", "train.seed=1"])
    setup = build(cfg)
    before = setup.task.end_of_run_metrics(0)
    prepare_run_dir(tmp_path / "g")
    trainer = Trainer(setup, tmp_path / "g", quiet=True)
    trainer.run()
    after = setup.task.end_of_run_metrics(0)
    assert before["modes"] <= 3, before
    assert after["modes"] >= 15, (before, after)
    assert before["reverse_kl"] > 2.0 and after["reverse_kl"] < 0.3, (before, after)


def test_digits_dcgan_learns(tmp_path):
    """The pixel Fréchet distance of a DCGAN on 8x8 digits falls far below its untrained value."""

    cfg = C.resolve("dcgan-digits", overrides=["train.steps=600", "train.log_every=50", "train.sample_every=1000",
                                               "train.tensorboard=false"])
    setup = build(cfg)
    before = setup.task.end_of_run_metrics(0)["pixel_fd"]
    prepare_run_dir(tmp_path / "d")
    trainer = Trainer(setup, tmp_path / "d", quiet=True)
    trainer.run()
    result = trainer.finish()
    after = result["metrics"]["pixel_fd"]
    assert after < 0.25 * before, (before, after)
    for f in ("samples.png", "loss_curve.png", "metrics.json", "config.json", "stats.jsonl"):
        assert (tmp_path / "d" / f).is_file()
    rec = _stats(tmp_path / "d")
    assert {"step", "d_loss", "g_loss", "images_per_sec"} <= set(rec[0])
    assert any((tmp_path / "d" / "tensorboard").iterdir()) if (tmp_path / "d" / "tensorboard").exists() else True


def test_lr_factor_warmup_and_decay_by_hand():
    """warmup 4 over a 10-step run that decays linearly from step 5: (k + 1) / 4 for k < 4, then 1, then
    1 - (k - 5) / 5."""
    got = [lr_factor(k, 10, "linear", 0.5, warmup=4) for k in range(11)]
    want = [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    assert got == pytest.approx(want)
    assert [lr_factor(k, 10, "none", warmup=2) for k in range(3)] == [0.5, 1.0, 1.0]
    # a warmup longer than the decay's start multiplies both
    assert lr_factor(1, 4, "cosine", 0.0, warmup=4) == pytest.approx(0.5 * 0.5 * (1 + np.cos(np.pi / 4)))


def test_lr_warmup_reaches_the_optimizers(tmp_path):
    trainer, _ = _run(tmp_path, "w", "toy-ring", TOY + ["train.steps=3", "train.lr_warmup=10", "train.lr_decay=none"])
    for opt in trainer.s.optimizers.values():
        for group in opt.param_groups:
            assert group["lr"] == pytest.approx(group["initial_lr"] * 3 / 10)  # the lr of step 2 (0-based)


@pytest.mark.parametrize(
    "preset, extra",
    [
        ("toy-ring", ["loss.instance_noise=0.1", "loss.instance_noise_steps=30", "train.ema_start=5",
                      "train.lr_warmup=30"]),
        ("dcgan-digits", ["model.d_norm=none", "loss.r1_gamma=1.0", "loss.r1_every=4", "model.spectral_norm=true",
                          "model.conditional=true", "train.n_critic=2", "train.lr_decay=cosine",
                          "train.lr_decay_start=0.25", "train.reuse_fake=true"]),
        ("dcgan-digits", ["model.d_norm=layer", "loss.name=wasserstein", "loss.gp_weight=10",
                          "model.conditional=true", "model.cond_d=concat"]),
        ("dcgan-digits", ["loss.name=wasserstein", "loss.weight_clip=0.01", "train.d_optim.name=rmsprop"]),
        ("dcgan-digits", ["train.precision=bf16", "train.channels_last=true", "train.g_optim.fused=true"]),
    ],
)
def test_resume_is_bit_exact(tmp_path, preset, extra):
    """40 steps straight == 20 of the 40 steps, stop, resume, 20 more: same losses and weights, bit for bit
    (the lr schedule, which depends on the total, included)."""
    common = ["train.deterministic=true", "train.log_every=5", "train.sample_every=1000",
              "train.ckpt_every=20", "train.keep_ckpts=5", "train.tensorboard=false"] + extra
    if preset.startswith("toy"):
        common.append("data.num_samples=2048")
    else:
        common.append("train.batch_size=32")
    straight, _ = _run(tmp_path, "a", preset, common + ["train.steps=40"])
    _run(tmp_path, "b", preset, common + ["train.steps=40"], stop_at=20)
    raw = json.loads((tmp_path / "b" / "config.json").read_text())
    resumed = Trainer(build(C.from_dict(raw)), tmp_path / "b", resume=True, quiet=True)
    assert resumed.step == 20
    resumed.run()
    sa, sb = _stats(tmp_path / "a"), _stats(tmp_path / "b")
    strip = [{k: v for k, v in r.items() if k not in ("images_per_sec",)} for r in sa]
    assert strip == [{k: v for k, v in r.items() if k not in ("images_per_sec",)} for r in sb]
    for name, net in straight.s.task.networks.items():
        other = resumed.s.task.networks[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), f"{name}.{key} differs after resume"


def test_cli_train_resume_and_sample(tmp_path, capsys):
    run = tmp_path / "ring"
    base = ["train", "--preset", "toy-ring", "--out", str(run), "--quiet", "--set", "data.num_samples=2048",
            "--set", "train.log_every=10"]
    assert main(base + ["--steps", "30"]) == 0
    out = capsys.readouterr().out
    assert "samples:" in out and str(run) in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"modes", "high_quality", "reverse_kl", "protocol"} <= set(metrics)
    # the run folder is never overwritten
    assert main(base + ["--steps", "30"]) == 2
    assert "already exists" in capsys.readouterr().err
    # resume continues to 50 steps; --set with --resume is refused
    assert main(["train", "--resume", str(run), "--set", "train.seed=3"]) == 2
    assert main(["train", "--resume", str(run), "--steps", "50", "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 50
    assert _stats(run)[-1]["step"] == 50
    # samples as points, as a scatter plot
    pts = tmp_path / "pts.npy"
    assert main(["sample", "--run", str(run), "--n", "2500", "--format", "npy", "--out", str(pts)]) == 0
    arr = np.load(pts)
    assert arr.shape == (2500, 2) and arr.dtype == np.float32
    assert main(["sample", "--run", str(run), "--n", "100", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    # same seed, same samples
    pts2 = tmp_path / "pts2.npy"
    main(["sample", "--run", str(run), "--n", "2500", "--format", "npy", "--out", str(pts2)])
    assert np.array_equal(arr, np.load(pts2))
    assert main(["sample", "--run", str(run), "--class", "3", "--out", str(tmp_path / "c.png")]) == 2
    assert "conditional" in capsys.readouterr().err


def test_conditional_sampling_by_class(tmp_path, capsys):
    run = tmp_path / "c"
    assert main(["train", "--preset", "dcgan-digits", "--set", "model.conditional=true", "--steps", "20",
                 "--out", str(run), "--quiet", "--set", "train.tensorboard=false"]) == 0
    out = tmp_path / "sevens.npy"
    assert main(["sample", "--run", str(run), "--class", "7", "--truncation", "0.5", "--n", "10",
                 "--out", str(out)]) == 0
    assert np.load(out).shape == (10, 8, 8, 1)
    assert main(["sample", "--run", str(run), "--class", "12", "--out", str(out)]) == 2
    assert "--class '12'" in capsys.readouterr().err


def test_checkpoint_errors_are_one_line(tmp_path):
    trainer, _ = _run(tmp_path, "r", "toy-ring", ["train.steps=10", "data.num_samples=2048",
                                                  "train.tensorboard=false"])
    ckpt = list_checkpoints(tmp_path / "r" / "checkpoints")[-1]
    # a checkpoint of another architecture does not load into this model
    cfg = C.resolve("toy-ring", overrides=["model.g_hidden=[64, 64]", "data.num_samples=2048"])
    other = tmp_path / "other"
    shutil.copytree(tmp_path / "r", other)
    (other / "config.json").write_text(json.dumps(C.to_dict(cfg)))
    with pytest.raises(CheckpointError, match="another model config"):
        Trainer(build(cfg), other, resume=True, quiet=True)
    # a foreign or damaged state.json
    (ckpt / "state.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
        read_checkpoint(ckpt)
    (ckpt / "state.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        read_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        read_checkpoint(tmp_path)
    # a half-written checkpoint (no state.json, e.g. a temp folder) is never picked as latest
    assert all(p.name.startswith("step-") for p in list_checkpoints(tmp_path / "r" / "checkpoints"))


def test_safetensors_file_is_not_a_pickle(tmp_path):
    _run(tmp_path, "r", "toy-ring", ["train.steps=5", "data.num_samples=2048", "train.tensorboard=false"])
    ckpt = list_checkpoints(tmp_path / "r" / "checkpoints")[-1]
    head = (ckpt / "tensors.safetensors").read_bytes()[:16]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    tensors, state = read_checkpoint(tmp_path / "r")
    assert state["step"] == 5 and "rng.cpu" in tensors
    (ckpt / "tensors.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="damaged"):  # the checksum catches it first
        read_checkpoint(ckpt)


def test_force_only_replaces_run_folders(tmp_path):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(GankitError, match="already exists"):
        prepare_run_dir(precious)
    with pytest.raises(GankitError, match="not one"):
        prepare_run_dir(precious, force=True)
    assert (precious / "thesis.txt").is_file()


@pytest.mark.parametrize("key", ["max_seconds", "max_cpu_seconds"])
def test_time_budget_stops_cleanly(tmp_path, key):
    run = tmp_path / "run"
    assert main(["train", "--preset", "toy-ring", "--out", str(run), "--quiet", "--steps", "1000000",
                 "--set", f"train.{key}=1.5", "--set", "train.tensorboard=false"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    step = metrics["step"]
    assert 0 < step < 1_000_000 and metrics["stopped_by"] == f"train.{key}=1.5"
    assert list_checkpoints(run / "checkpoints")[-1].name == f"step-{step:08d}"  # the stopping step was saved
    assert json.loads((run / "stats.jsonl").read_text().splitlines()[-1])["step"] == step
    assert (run / "samples.png").is_file()


def test_budget_fit_measures_after_warm_up_and_caps():
    """train.fit_to_budget: after 5% of the budget the speed is measured over the next 10%, then the run's length
    is the steps that the rest of the budget allows (less 2%), at most train.steps."""
    from gankit.train.loop import BudgetFit

    now = {"t": 0.0}
    fit = BudgetFit(100.0, lambda: now["t"], cap=10_000)
    assert fit.update(0) is None
    now["t"] = 5.0  # warm-up over: the mark is set at step 50
    assert fit.update(50) is None
    now["t"] = 10.0
    assert fit.update(100) is None  # only 10% of the budget used
    now["t"] = 15.0  # 100 steps in 10 s since the mark: 10 steps/s, 85 s left
    assert fit.update(150) == 150 + int(0.98 * 85 * 10)
    now["t"] = 0.0
    capped = BudgetFit(100.0, lambda: now["t"], cap=200)
    now["t"] = 5.0
    capped.update(0)
    now["t"] = 20.0
    assert capped.update(150) == 200


def test_fit_to_budget_sets_the_run_length_and_keeps_it_on_resume(tmp_path):
    """A CPU budget with fit_to_budget ends the run at the fitted length with the lr decayed to 0; a resume keeps
    the length (saved in the checkpoint) instead of going back to train.steps."""
    over = TOY + ["train.steps=100000", "train.max_cpu_seconds=4", "train.fit_to_budget=true", "train.lr_decay=linear",
                  "train.log_every=5", "train.threads=1"]
    trainer, info = _run(tmp_path, "fit", "toy-ring", over)
    fitted = info["fitted_steps"]
    assert 50 < fitted < 100000 and trainer.step <= fitted
    state = json.loads((list_checkpoints(tmp_path / "fit" / "checkpoints")[-1] / "state.json").read_text())
    assert state["fitted_steps"] == fitted
    resumed = Trainer(build(C.resolve("toy-ring", overrides=over)), tmp_path / "fit", resume=True, quiet=True)
    assert resumed.fitted_steps == fitted and resumed.s.total_steps == fitted
