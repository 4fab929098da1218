"""StyleGAN2 in the gan family's loop: it learns, resumes bit-exactly with ADA and path-length regularization,
scales lazy R1, truncates in W; D's augmentations in a run."""

from __future__ import annotations

import json

import pytest
import torch

from gankit import config as C
from gankit.regularizers import r1_penalty
from gankit.sampling import generate
from gankit.train.loop import Trainer, build, prepare_run_dir

# a StyleGAN2 small enough for seconds on one CPU thread: scikit-learn's digits at 8 px
TINY = ["data.name=digits", "data.split=train", "data.channels=1", "data.resolution=8", "data.hflip=false",
        "model.channel_base=256", "model.max_channels=32", "model.z_dim=32", "model.w_dim=32",
        "model.mapping_layers=2", "train.max_cpu_seconds=0", "train.fit_to_budget=false", "train.batch_size=32",
        "train.precision=fp32", "train.sample_every=1000", "train.tensorboard=false", "loss.r1_every=4",
        "loss.pl_every=2", "loss.pl_weight=2"]  # path length on (the preset has it off)


def _stats(run_dir):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def test_stylegan2_on_digits_learns(tmp_path):
    """The pixel Fréchet distance of StyleGAN2's EMA generator falls far below its untrained value."""
    cfg = C.resolve("stylegan2-emoji64", overrides=TINY + ["train.steps=300", "train.log_every=50",
                                                          "train.g_optim.lr=5e-3", "train.d_optim.lr=5e-3"])
    setup = build(cfg)
    before = setup.task.end_of_run_metrics(0)["pixel_fd"]
    prepare_run_dir(tmp_path / "s")
    trainer = Trainer(setup, tmp_path / "s", quiet=True)
    trainer.run()
    after = trainer.finish()["metrics"]["pixel_fd"]
    assert after < 0.3 * before, (before, after)
    rec = _stats(tmp_path / "s")
    assert {"pl_penalty", "pl_mean", "r1"} <= set(rec[-1]), rec[-1]
    assert rec[-1]["pl_mean"] > 0  # the running mean moved from 0
    # the generator tracked the average w while training
    assert setup.task.G.w_avg.abs().sum() > 0


@pytest.mark.parametrize("augment", [["augment.kind=ada", "augment.interval=2", "augment.speed_images=2000"],
                                     ["augment.kind=diffaugment"]])
def test_stylegan2_resume_is_bit_exact(tmp_path, augment):
    """20 steps straight == 10, stop, resume, 10 more: the same losses, weights, ADA p and path-length mean."""
    common = TINY + augment + ["train.deterministic=true", "train.log_every=5", "train.ckpt_every=10",
                               "train.keep_ckpts=5", "train.steps=20"]

    def run(name, stop_at=None):
        cfg = C.resolve("stylegan2-emoji64", overrides=common)
        prepare_run_dir(tmp_path / name)
        trainer = Trainer(build(cfg), tmp_path / name, quiet=True)
        trainer.run(stop_at=stop_at)
        return trainer

    straight = run("a")
    run("b", stop_at=10)
    raw = json.loads((tmp_path / "b" / "config.json").read_text())
    resumed = Trainer(build(C.from_dict(raw)), tmp_path / "b", resume=True, quiet=True)
    assert resumed.step == 10
    resumed.run()
    drop = ("images_per_sec",)
    sa = [{k: v for k, v in r.items() if k not in drop} for r in _stats(tmp_path / "a")]
    sb = [{k: v for k, v in r.items() if k not in drop} for r in _stats(tmp_path / "b")]
    assert sa == sb
    for name, net in straight.s.task.networks.items():
        other = resumed.s.task.networks[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), f"{name}.{key} differs after resume"
    ta, tb = straight.s.task, resumed.s.task
    assert torch.equal(ta.pl_mean, tb.pl_mean) and ta.pl_mean.item() > 0
    if ta.ada is not None:
        assert "ada_p" in sa[-1]
        assert torch.equal(ta.ada.p, tb.ada.p)


def test_lazy_r1_is_scaled_by_its_interval():
    """Dreg's loss is gamma/2 * R1 * r1_every on the batch it draws (StyleGAN2, appendix B)."""
    cfg = C.resolve("stylegan2-emoji64", overrides=TINY + ["loss.r1_gamma=0.3", "loss.r1_every=8"])
    task = build(cfg).task
    state, rng = task.sampler.state_dict(), torch.get_rng_state()
    loss, stats = task.d_reg_step(0)
    assert loss.item() == pytest.approx(0.5 * 0.3 * 8 * stats["r1"].item(), rel=1e-6)
    # and stats["r1"] is the plain R1 penalty of D on that batch
    task.sampler.load_state_dict(state)
    torch.set_rng_state(rng)
    real = task.sampler.next()["x"]
    assert r1_penalty(lambda x: task.D(x), real).item() == pytest.approx(stats["r1"].item(), rel=1e-5)


def test_truncation_psi_zero_draws_the_average_image():
    cfg = C.resolve("stylegan2-emoji64", overrides=TINY)
    task = build(cfg).task
    G = task.G
    with torch.no_grad():
        G.train()
        G(torch.randn(64, 32))  # moves w_avg away from 0
    z = torch.randn(6, 32)
    out = generate(G, z, psi=0.0)
    assert torch.allclose(out, out[:1].expand_as(out), atol=1e-6)  # every z gives the same image
    with torch.no_grad():
        G.eval()
        avg = G.synthesis(G.w_avg.expand(1, G.num_ws, -1), noise_mode="const")
    assert torch.allclose(out[:1], avg, atol=1e-5)
    assert not torch.allclose(generate(G, z)[0], generate(G, z)[1])  # psi 1: different images


def test_mix_grid_and_w_path_from_a_trained_run(tmp_path, capsys):
    from gankit.cli import main
    from gankit.infer import load_generator
    from gankit.infer.style import mix_images, w_path

    cfg = C.resolve("stylegan2-emoji64", overrides=TINY + ["train.steps=4", "train.log_every=2"])
    prepare_run_dir(tmp_path / "r")
    trainer = Trainer(build(cfg), tmp_path / "r", quiet=True)
    trainer.run()
    trainer.finish()
    loaded = load_generator(str(tmp_path / "r"))
    n = loaded.net.num_ws
    cells = mix_images(loaded, [1, 2], [3, 4, 5], list(range(n)))  # every layer from the columns
    assert cells.shape[0] == 3 * 4
    top, rows = cells[1:4], [cells[4:8], cells[8:12]]
    for row in rows:
        assert torch.equal(row[1:], top)  # all styles from the column seed: the column seed's image
    partial = mix_images(loaded, [1], [3], [0, 1])
    assert not torch.equal(partial[3], partial[1]) and not torch.equal(partial[3], partial[2])
    path = w_path(loaded, 1, 3, steps=5)
    assert path.shape[0] == 5
    assert torch.equal(path[0], cells[4]) and torch.equal(path[-1], top[0])  # the ends are the seeds' images
    out = tmp_path / "mix.png"
    assert main(["mix", "--run", str(tmp_path / "r"), "--rows", "1,2", "--cols", "3,4,5", "--layers", "0-1",
                 "--out", str(out)]) == 0
    assert out.is_file()
    assert main(["mix", "--run", str(tmp_path / "r"), "--rows", "1", "--cols", "2", "--layers", f"0-{n}",
                 "--out", str(out)]) == 2
    assert f"layers 0-{n - 1}" in capsys.readouterr().err
