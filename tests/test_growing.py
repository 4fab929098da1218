"""Progressive growing (Karras et al. 2018): the fade-in schedule, networks at lower resolutions, a run that
grows, and a resume in the middle of a fade."""

from __future__ import annotations

import json

import pytest
import torch

from gankit import config as C
from gankit.errors import ConfigError
from gankit.nets import build_networks
from gankit.nets.growing import fade_images, growth_at, growth_end, real_at, set_growth
from gankit.train.loop import Trainer, build, prepare_run_dir


def test_growth_schedule_by_hand():
    # 8 -> 16 -> 32, 100 images of fade and 50 stable: [0, 50) at 8; [50, 150) fade 16; [150, 200) 16;
    # [200, 300) fade 32; from 300 on, 32 at alpha 1
    at = lambda n: growth_at(n, 8, 32, fade=100, stable=50)  # noqa: E731
    assert at(0) == (8, 1.0) and at(49) == (8, 1.0)
    assert at(50) == (16, 0.0) and at(75) == (16, 0.25) and at(149) == (16, 0.99)
    assert at(150) == (16, 1.0) and at(199) == (16, 1.0)
    assert at(200) == (32, 0.0) and at(290) == (32, 0.9)
    assert at(300) == (32, 1.0) and at(10**9) == (32, 1.0)
    assert growth_end(8, 32, 100, 50) == 300
    assert growth_at(5, 32, 32, 100, 50) == (32, 1.0)  # nothing to grow


def test_real_images_fade_between_resolutions():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    coarse = torch.tensor([[2.5, 2.5, 4.5, 4.5], [2.5, 2.5, 4.5, 4.5], [10.5, 10.5, 12.5, 12.5],
                           [10.5, 10.5, 12.5, 12.5]])
    assert torch.equal(fade_images(x, 0.0)[0, 0], coarse)
    assert torch.equal(fade_images(x, 1.0), x)
    assert torch.allclose(fade_images(x, 0.25)[0, 0], 0.75 * coarse + 0.25 * x[0, 0])
    assert real_at(x, 2, 1.0).shape[-1] == 2 and real_at(x, 2, 1.0)[0, 0, 0, 0] == 2.5


@pytest.mark.parametrize("arch", ["dcgan", "stylegan2"])
def test_networks_work_at_each_resolution_and_fade(arch):
    cfg = C.resolve(None, overrides=[f"model.arch={arch}", "data.name=digits", "data.resolution=32",
                                     "model.grow_start=8", "model.spectral_norm=false", "model.d_norm=none",
                                     "model.channel_base=256", "model.max_channels=32", "model.z_dim=16",
                                     "model.w_dim=16", "model.mapping_layers=1", "model.width=0.25"])
    G, D = build_networks(cfg.model, (1, 32, 32))
    z = torch.randn(4, 16)
    G.train()
    full = G(z)
    for res in (8, 16, 32):
        for alpha in (0.0, 0.5, 1.0):
            set_growth(res, alpha, G, D)
            img = G(z)
            assert img.shape == (4, 1, res, res)
            assert D(img).shape == (4,)
    set_growth(16, 0.0, G, D)
    at0 = G(z)
    set_growth(8, 1.0, G, D)
    low = G(z)
    if arch == "dcgan":  # at alpha 0 the new resolution shows exactly the previous one, enlarged
        assert torch.allclose(at0, torch.nn.functional.interpolate(low, scale_factor=2), atol=1e-6)
    set_growth(16, 0.5, G, D)
    G.eval()
    assert G(z).shape == (4, 1, 32, 32)  # eval mode: enlarged to the full size for grids and metrics
    set_growth(32, 1.0, G, D)
    G.train()
    if arch == "dcgan":
        assert torch.equal(G(z), full)  # fully grown: the plain network


def test_growing_needs_a_growable_arch_and_a_sane_start():
    with pytest.raises(ConfigError, match="grow_start"):
        C.resolve("dcgan-digits", overrides=["model.grow_start=8"])  # 8 px digits: nothing to grow
    with pytest.raises(ConfigError, match="built for dcgan and stylegan2"):
        C.resolve("toy-ring", overrides=["model.grow_start=8"])
    with pytest.raises(ConfigError, match="power of two"):
        C.resolve("dcgan-digits", overrides=["data.resolution=32", "model.grow_start=12"])


GROW = ["data.name=digits", "data.split=train", "data.channels=1", "data.resolution=16", "data.hflip=false",
        "model.grow_start=8", "model.grow_fade=320", "model.grow_stable=320", "train.batch_size=32",
        "train.max_cpu_seconds=0", "train.fit_to_budget=false", "train.precision=fp32", "train.sample_every=1000",
        "train.tensorboard=false", "train.deterministic=true", "train.log_every=5", "train.ckpt_every=15",
        "train.keep_ckpts=5", "train.steps=30"]
SG2 = ["model.channel_base=256", "model.max_channels=32", "model.z_dim=32", "model.w_dim=32", "model.mapping_layers=2",
       "loss.r1_every=4", "loss.pl_every=2"]


@pytest.mark.parametrize("preset, extra", [("stylegan2-emoji64", SG2),
                                           ("dcgan-emoji64", ["model.width=0.25", "model.z_dim=32"])])
def test_resume_in_the_middle_of_a_fade_is_bit_exact(tmp_path, preset, extra):
    """Steps 0-9 at 8 px, 10-19 fade 16 px in, 20-29 at 16 px; stopping at 15 (alpha 0.5) and resuming gives the
    same losses and weights as a run that never stopped."""

    def run(name, stop_at=None):
        prepare_run_dir(tmp_path / name)
        trainer = Trainer(build(C.resolve(preset, overrides=GROW + extra)), tmp_path / name, quiet=True)
        trainer.run(stop_at=stop_at)
        return trainer

    straight = run("a")
    assert straight.s.task.growth == (16, 1.0)
    run("b", stop_at=15)
    state = json.loads(next((tmp_path / "b" / "checkpoints").glob("step-*15/state.json")).read_text())
    # what inference samples at: the growth of the last step run (step 14: (14 * 32 - 320) / 320)
    assert state["data"]["growth"] == {"resolution": 16, "alpha": 0.4}
    raw = json.loads((tmp_path / "b" / "config.json").read_text())
    resumed = Trainer(build(C.from_dict(raw)), tmp_path / "b", resume=True, quiet=True)
    assert resumed.step == 15
    resumed.run()
    drop = ("images_per_sec",)
    read = lambda d: [{k: v for k, v in json.loads(line).items() if k not in drop}  # noqa: E731
                      for line in (d / "stats.jsonl").read_text().splitlines()]
    assert read(tmp_path / "a") == read(tmp_path / "b")
    for name, net in straight.s.task.networks.items():
        other = resumed.s.task.networks[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), f"{name}.{key} differs after resume"
