"""NaN/Inf rollback: a diverged step sends the run back to its newest good checkpoint with lower learning rates."""

from __future__ import annotations

import json

import pytest
import torch

from gankit import config as C
from gankit.checkpoint import read_checkpoint
from gankit.errors import GankitError
from gankit.train.loop import Trainer, build, prepare_run_dir

COMMON = ["train.log_every=5", "train.sample_every=1000", "train.ckpt_every=10", "train.tensorboard=false",
          "data.num_samples=2048", "train.steps=40", "train.lr_decay=none"]


def _trainer(run_dir, bad_steps, overrides=(), once=False):
    """A toy-ring trainer whose D loss is NaN at the given (0-based) step indices: the first time each runs
    (``once``, as a rare numerical accident), or every time (a run that truly diverges)."""
    cfg = C.resolve("toy-ring", overrides=[*COMMON, *overrides])
    setup = build(cfg)
    phase = setup.task.phases[0]
    clean = phase.loss

    def poisoned(step):
        loss, stats = clean(step)
        if step not in bad_steps:
            return loss, stats
        if once:
            bad_steps.discard(step)
        return loss * float("nan"), stats

    phase.loss = poisoned
    prepare_run_dir(run_dir)
    return Trainer(setup, run_dir, quiet=True), cfg


def test_a_nan_rolls_back_to_the_last_checkpoint_and_training_goes_on(tmp_path, capsys):
    trainer, cfg = _trainer(tmp_path / "run", {22}, once=True)  # step 23's update is NaN: seen at the step-25 log
    trainer.run()
    records = [json.loads(x) for x in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    events = [r for r in records if r.get("event") == "rollback"]
    assert len(events) == 1 and events[0]["step"] == 20 and events[0]["diverged_at"] == 25
    assert events[0]["lr_scale"] == 0.5 and "d_loss" in events[0]["cause"]
    steps = [r["step"] for r in records if "event" not in r]
    assert steps == list(range(5, 45, 5))  # the lost steps are done again, each logged once
    assert all(torch.isfinite(p).all() for net in trainer.s.task.networks.values() for p in net.parameters())
    for opt, base in ((trainer.s.optimizers["G"], cfg.train.g_optim.lr), (trainer.s.optimizers["D"],
                                                                          cfg.train.d_optim.lr)):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * base)
    _, state = read_checkpoint(tmp_path / "run")
    assert state["step"] == 40 and state["rollbacks"] == 1 and state["lr_scale"] == 0.5
    assert "rolled back to step 20, learning rates x0.5" in capsys.readouterr().err


def test_a_run_that_keeps_diverging_stops_after_the_retries(tmp_path):
    trainer, _ = _trainer(tmp_path / "run", set(range(22, 40)), ["train.nan_retries=2"])
    with pytest.raises(GankitError, match=r"diverged at step 25 .* after 2 rollback\(s\) \(learning rates x0.25\)"):
        trainer.run()
    records = [json.loads(x) for x in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert [r["attempt"] for r in records if r.get("event")] == [1, 2]
    _, state = read_checkpoint(tmp_path / "run")  # the good state is still there
    assert state["step"] == 20 and all(torch.isfinite(v).all() for k, v in read_checkpoint(tmp_path / "run")[0].items()
                                       if k.startswith("net.") and v.is_floating_point())


def test_divergence_before_the_first_checkpoint_says_so(tmp_path):
    trainer, _ = _trainer(tmp_path / "run", {2})
    with pytest.raises(GankitError, match="before its first checkpoint"):
        trainer.run()
