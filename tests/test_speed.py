"""Speed options (precision, memory layout, fused Adam, compile) and ``gankit bench speed``."""

import json

import pytest
import torch

from gankit import config as C
from gankit.cli import main
from gankit.errors import ConfigError, GankitError
from gankit.train import speed
from gankit.train.loop import train_step
from gankit.train.setup import build, owned_parameters

CPU = torch.device("cpu")
DIGITS = ["train.tensorboard=false", "train.batch_size=32"]


def test_precision_choices_on_cpu():
    assert speed.autocast_dtype("fp32", CPU) is None
    assert speed.autocast_dtype("bf16", CPU) is torch.bfloat16
    assert speed.autocast_dtype("auto", CPU) is (torch.bfloat16 if speed.fast_bf16(CPU) else None)
    with pytest.raises(GankitError, match="fp16 needs a CUDA device"):
        speed.autocast_dtype("fp16", CPU)


@pytest.mark.parametrize("amx, avx512_bf16, vendor, fast", [
    (True, True, "GenuineIntel", True),  # AMX tiles: bf16 is fast
    (False, True, "AuthenticAMD", True),  # Zen 4/5
    (False, True, "GenuineIntel", False),  # AVX512-BF16 without AMX: measured 0.8x fp32
    (False, False, "AuthenticAMD", False),  # AVX2 only: emulated
    (False, False, "", False),
])
def test_auto_precision_follows_the_measured_cpu_rule(monkeypatch, amx, avx512_bf16, vendor, fast):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(speed, "cpu_vendor", lambda: vendor)
    assert speed.fast_bf16(CPU) is fast
    assert speed.autocast_dtype("auto", CPU) is (torch.bfloat16 if fast else None)


def test_cpu_vendor_reads_proc_cpuinfo():
    vendor = speed.cpu_vendor()
    assert isinstance(vendor, str)
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return
    if "vendor_id" in text:
        assert vendor and vendor in text


def test_compile_with_double_backward_is_refused():
    with pytest.raises(ConfigError, match="cannot differentiate twice"):
        C.resolve("toy-ring", overrides=["train.compile=true"])


def test_precision_config_errors():
    with pytest.raises(ConfigError, match="train.precision"):
        C.resolve("dcgan-digits", overrides=["train.precision=half"])
    with pytest.raises(ConfigError, match="fp16 with a gradient penalty"):
        C.resolve("wgan-gp-mnist", overrides=["train.precision=fp16"])


def test_bf16_step_runs_convolutions_in_bf16_on_fp32_weights():
    setup = build(C.resolve("dcgan-digits", overrides=DIGITS + ["train.precision=bf16"]))
    seen = []
    first_conv = next(m for m in setup.task.D.modules() if isinstance(m, torch.nn.Conv2d))
    handle = first_conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    before = [p.detach().clone() for p in setup.task.G.parameters()]
    sums, counts = {}, {}
    train_step(setup, 0, owned_parameters(setup.task), sums, counts)
    handle.remove()
    assert seen and all(dtype == torch.bfloat16 for dtype in seen)
    assert all(p.dtype == torch.float32 for p in setup.task.G.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, setup.task.G.parameters()))
    assert {"d_loss", "g_loss"} <= set(sums) and all(torch.isfinite(v) for v in sums.values())
    assert sums["d_loss"].dtype == torch.float32  # the losses are summed in fp32


def _g_forwards_in_one_step(overrides):
    setup = build(C.resolve("dcgan-digits", overrides=DIGITS + overrides))
    calls = []
    handle = setup.task.G.register_forward_hook(lambda m, i, o: calls.append(o.requires_grad))
    d_before = [p.detach().clone() for p in setup.task.D.parameters()]
    g_before = [p.detach().clone() for p in setup.task.G.parameters()]
    train_step(setup, 0, owned_parameters(setup.task), {}, {})
    handle.remove()
    assert any(not torch.equal(a, b) for a, b in zip(d_before, setup.task.D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, setup.task.G.parameters()))
    assert setup.task._kept_fake is None  # nothing held between steps
    return calls


def test_reuse_fake_runs_g_once_per_step():
    """Default: a no-grad G forward for D, another for G. train.reuse_fake: one forward that serves both
    (with G's graph), and both networks are still updated; with n_critic=2 the last D batch is reused."""
    assert _g_forwards_in_one_step([]) == [False, True]
    assert _g_forwards_in_one_step(["train.reuse_fake=true"]) == [True]
    assert _g_forwards_in_one_step(["train.reuse_fake=true", "train.n_critic=2"]) == [True, True]


def test_joint_d_pass_gives_the_same_d_loss_as_two_passes():
    """Without batch norm in D, real and fake go through D as one batch: the same loss as two passes."""
    overrides = DIGITS + ["model.d_norm=none", "model.conditional=true", "train.precision=fp32"]
    joint, apart = (build(C.resolve("dcgan-digits", overrides=overrides)) for _ in range(2))
    assert joint.task.joint_d
    apart.task.joint_d = False
    loss_joint, stats_joint = joint.task.d_step(0)
    loss_apart, stats_apart = apart.task.d_step(0)
    torch.testing.assert_close(loss_joint, loss_apart, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stats_joint["d_real"], stats_apart["d_real"], rtol=1e-5, atol=1e-6)
    with_bn = build(C.resolve("dcgan-digits", overrides=DIGITS + ["data.resolution=16"])).task
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.D.modules()) and not with_bn.joint_d


def test_channels_last_layout_of_networks_batches_and_resumed_optimizer(tmp_path):
    from gankit.train.loop import Trainer, prepare_run_dir

    overrides = DIGITS + ["data.channels=3", "train.steps=4", "train.ckpt_every=2", "train.sample_every=100"]
    setup = build(C.resolve("dcgan-digits", overrides=overrides))
    conv = next(m for m in setup.task.G.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    x = setup.task.sampler.next()["x"]
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    prepare_run_dir(tmp_path / "r")
    Trainer(setup, tmp_path / "r", quiet=True).run(stop_at=2)
    resumed = Trainer(build(C.resolve("dcgan-digits", overrides=overrides)), tmp_path / "r", resume=True, quiet=True)
    opt = resumed.s.optimizers["G"]
    for p in resumed.s.task.G.parameters():
        for value in opt.state[p].values():
            if value.shape == p.shape:
                assert value.stride() == p.stride()
    resumed.run()
    assert resumed.step == 4


def test_fused_adam_is_used_where_available():
    setup = build(C.resolve("dcgan-digits", overrides=DIGITS))
    assert setup.optimizers["G"].defaults.get("fused") is True
    setup = build(C.resolve("dcgan-digits", overrides=DIGITS + ["train.g_optim.fused=false"]))
    assert not setup.optimizers["G"].defaults.get("fused")


def test_bench_speed_json(capsys):
    code = main(["bench", "speed", "--preset", "dcgan-digits", "--steps", "2", "--rounds", "2", "--json",
                 "--set", "train.batch_size=32"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("gankit_images_per_sec", "reference_images_per_sec", "ratio", "gflop_per_step",
                "achieved_gflops", "ceiling_gflops"):
        assert result[key] > 0, key
    assert len(result["rounds"]) == 2
    # the textbook step trains the same networks with the same amount of work, give or take G's extra forward
    assert 0.5 < result["reference_gflop_per_step"] / result["gflop_per_step"] < 2.0


def test_bench_speed_refuses_what_the_reference_cannot_do(capsys):
    assert main(["bench", "speed", "--preset", "wgan-gp-mnist", "--steps", "1", "--rounds", "1"]) != 0
    assert "textbook loop" in capsys.readouterr().err


def test_ceiling_counts_flops():
    from gankit.bench.speed import measure_ceiling

    ceiling = measure_ceiling("matmul", None, CPU, False, reps=1)
    # (1024 x 2048) @ (2048 x 2048), forward and the two backward products: 3 * 2 * 1024 * 2048 * 2048 FLOPs
    assert ceiling["gflop"] == pytest.approx(3 * 2 * 1024 * 2048 * 2048 / 1e9, rel=1e-6)
    assert ceiling["gflops"] > 0


@pytest.mark.skipif(not (__import__("shutil").which("g++") or __import__("shutil").which("c++")),
                    reason="torch.compile on a CPU needs a C++ compiler (g++), and this machine has none")
def test_compiled_training_matches_eager_closely(tmp_path):
    """train.compile=true: G and D compiled in place (state_dict keys unchanged), same losses as eager."""
    common = ["train.steps=6", "train.log_every=3", "train.sample_every=100", "data.num_samples=1024",
              "train.tensorboard=false", "train.threads=1", "loss.r1_gamma=0"]
    from gankit.train.loop import Trainer, prepare_run_dir

    losses = {}
    for compiled in (False, True):
        setup = build(C.resolve("toy-ring", overrides=common + [f"train.compile={str(compiled).lower()}"]))
        if compiled:
            assert all(not k.startswith("_orig_mod") for k in setup.task.G.state_dict())
        run = tmp_path / str(compiled)
        prepare_run_dir(run)
        info = Trainer(setup, run, quiet=True).run()
        assert ("compile_seconds" in info) == compiled
        losses[compiled] = [json.loads(line)["d_loss"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert losses[True] == pytest.approx(losses[False], rel=1e-3, abs=1e-5)
