"""StyleGAN2's training pieces outside the networks: path-length regularization, EMA ramp-up, configs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit.config import resolve
from gankit.errors import ConfigError
from gankit.nets.ema import EMA
from gankit.regularizers import path_length_penalty, path_lengths


def _square_synthesis(ws: torch.Tensor) -> torch.Tensor:
    """(B, 2, 2) ws -> (B, 1, 2, 2) images: pixel (0,0) = w[0,0]^2, pixel (0,1) = 2 w[1,1], the rest 0."""
    img = torch.zeros(ws.shape[0], 1, 2, 2)
    img = img + nn.functional.pad((ws[:, 0, 0] ** 2)[:, None, None, None], (0, 1, 0, 1))
    return img + nn.functional.pad((2 * ws[:, 1, 1])[:, None, None, None], (1, 0, 0, 1))


def test_path_lengths_against_hand_values():
    ws = torch.tensor([[[3.0, 5.0], [7.0, 1.0]], [[-1.0, 2.0], [0.5, 4.0]]], requires_grad=True)
    # y = ones / sqrt(2 * 2) = 1/2 per pixel: d/dw00 = 2 w00 / 2 = w00, d/dw11 = 2 / 2 = 1, other entries 0;
    # squared norms per layer: (w00^2, 1), averaged over the 2 layers, square root
    lengths = path_lengths(_square_synthesis(ws), ws, noise=torch.ones(2, 1, 2, 2))
    expected = torch.tensor([math.sqrt((9 + 1) / 2), math.sqrt((1 + 1) / 2)])
    assert torch.allclose(lengths, expected, atol=1e-6)
    lengths.sum().backward()  # the graph is kept, so the penalty can train the synthesis network
    assert ws.grad is not None and ws.grad[0, 0, 0].item() != 0


def test_path_length_penalty_and_running_mean_by_hand():
    lengths = torch.tensor([math.sqrt(5.0), 1.0])
    pl_mean = torch.tensor(1.0)
    penalty, new_mean = path_length_penalty(lengths, pl_mean, decay=0.5)
    a = 1.0 + 0.5 * ((math.sqrt(5.0) + 1.0) / 2 - 1.0)  # the mean moves half way to the batch's mean length
    assert new_mean.item() == pytest.approx(a)
    assert penalty.item() == pytest.approx(((math.sqrt(5.0) - a) ** 2 + (1.0 - a) ** 2) / 2)
    assert pl_mean.item() == 1.0  # the caller stores the new mean; the old one is not changed in place
    # decay 0.01, as in the paper: the mean barely moves
    _, slow = path_length_penalty(lengths, pl_mean, decay=0.01)
    assert slow.item() == pytest.approx(1.0 + 0.01 * ((math.sqrt(5.0) + 1.0) / 2 - 1.0))


def test_ema_rampup_shortens_the_half_life_early():
    net = nn.Linear(1, 1)
    ema = EMA(net, nn.Linear(1, 1), decay=0.999, rampup=0.05)
    # at step 100, the half-life is at most 0.05 * 100 = 5 steps: decay 0.5 ** (1 / 5)
    assert ema.decay_at(100) == pytest.approx(0.5 ** (1 / 5))
    # late in a run the configured decay wins (its half-life, ~693 steps, is below 0.05 * 100000)
    assert ema.decay_at(100_000) == pytest.approx(0.999)
    assert EMA(net, nn.Linear(1, 1), decay=0.999).decay_at(100) == 0.999


def _sg2(*overrides: str):
    return resolve(None, overrides=["model.arch=stylegan2", "data.name=digits", "data.resolution=16",
                                    "model.d_norm=none", *overrides])


def test_stylegan2_config_checks():
    _sg2("loss.pl_weight=2", "loss.r1_gamma=1", "loss.r1_every=16", "sample.truncation_psi=0.7")
    with pytest.raises(ConfigError, match="needs model.arch=stylegan2"):
        resolve(None, overrides=["loss.pl_weight=2"])
    resolve(None, overrides=["sample.truncation_psi=0.5"])  # every generator has the knob (z * psi without W)
    with pytest.raises(ConfigError, match="truncation_psi"):
        resolve(None, overrides=["sample.truncation_psi=-0.5"])
    with pytest.raises(ConfigError, match="compile"):
        _sg2("loss.pl_weight=2", "train.compile=true")
    with pytest.raises(ConfigError, match="model.modconv"):
        _sg2("model.modconv=fused")
    with pytest.raises(ConfigError, match="style_mixing"):
        _sg2("model.style_mixing=1.5")
    with pytest.raises(ConfigError, match="augment.kind"):
        _sg2("augment.kind=mixup")
    with pytest.raises(ConfigError, match="augment.policy"):
        _sg2("augment.kind=diffaugment", "augment.policy=[color, rotate]")
    with pytest.raises(ConfigError, match="unknown config key augment.tagret"):
        _sg2("augment.tagret=0.5")


def test_bench_stylegan2_plans_each_run_once():
    from gankit.bench.stylegan2 import markdown_table, plan

    runs = {name: (preset, overrides) for name, preset, overrides in plan(("compare", "ppl"), "dcgan-emoji500-ada")}
    assert set(runs) == {"stylegan2", "dcgan", "stylegan2-pl"}  # the pl-off run is compare's StyleGAN2 run
    assert runs["stylegan2-pl"] == ("stylegan2-emoji64", ["loss.pl_weight=2"])
    assert resolve("stylegan2-emoji64").loss.pl_weight == 0  # off at the preset's one-hour budget
    small = {name: o for name, _, o in plan(("small",), "dcgan-emoji500-ada")}
    assert [o[-1] for o in small.values()] == ["augment.kind=none", "augment.kind=diffaugment", "augment.kind=ada",
                                               "augment.kind=ada"]
    assert "data.subset=500" in small["small-ada"] and "data.subset=0" in small["full-ada"]
    for _, preset, overrides in plan(("compare", "small", "ppl"), "dcgan-emoji500-ada"):
        resolve(preset, overrides=overrides)  # every planned run is a valid config
    for _, preset, overrides in plan(("small",), "dcgan-emoji500-ada", 32):
        assert resolve(preset, overrides=overrides).data.resolution == 32
    table = markdown_table({"rows": {"small-ada": {"preset": "p", "overrides": [], "steps": 10, "fid": 12.5,
                                                   "ada_p_last": 0.25, "ada_p_max": 0.3, "train_cpu_seconds": 9}},
                            "samples": 5000, "reference": "ref", "threads_per_run": 1, "jobs": 2})
    assert "| small-ada | p | 9 | 10 | 12.50 | - | - | 0.250 / 0.300 |" in table
