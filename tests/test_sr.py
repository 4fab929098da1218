"""Super-resolution: the degradation, patches, the relativistic average loss, configs, training, resume,
--init-from, tiled upscaling and `gankit upscale`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from translation_data import shapes

from gankit import config as C
from gankit.checkpoint import read_checkpoint
from gankit.cli import main
from gankit.data.augment import random_patch, random_rot90
from gankit.data.sr import bicubic_upscale, degrade, gaussian_blur, jpeg_compress, quantize
from gankit.errors import ConfigError
from gankit.infer.tiles import tile_starts, tiled_apply
from gankit.losses import relativistic_average_losses
from gankit.train.loop import Trainer, build, prepare_run_dir


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- pieces


def test_degrade_makes_quantized_lr_of_the_right_size():
    hr = torch.rand(2, 3, 32, 48) * 2 - 1
    lr = degrade(hr, 4)
    assert lr.shape == (2, 3, 8, 12)
    levels = (lr + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # on the 8-bit grid
    flat = torch.full((1, 3, 16, 16), 0.2)
    assert torch.allclose(degrade(flat, 2), quantize(torch.full((1, 3, 8, 8), 0.2)), atol=1e-6)
    with pytest.raises(ValueError):
        degrade(torch.zeros(1, 3, 10, 10), 4)


def test_degrade_noise_follows_its_generator():
    hr = torch.zeros(1, 3, 16, 16)
    a = degrade(hr, 2, noise=10, generator=torch.Generator().manual_seed(1))
    b = degrade(hr, 2, noise=10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.std() > 0.03  # std 10 levels = 0.078 in [-1, 1]


def test_degrade_jpeg_compresses_at_seeded_random_qualities():
    """data.jpeg: LR inputs through Pillow's JPEG; the same generator gives the same qualities; a lower quality
    floor loses more; a flat grey survives almost unchanged; grey-level images work too."""
    torch.manual_seed(0)
    hr = torch.nn.functional.interpolate(torch.rand(4, 3, 8, 8) * 2 - 1, size=64, mode="bilinear")
    clean = degrade(hr, 2)
    a = degrade(hr, 2, generator=torch.Generator().manual_seed(1), jpeg=30)
    b = degrade(hr, 2, generator=torch.Generator().manual_seed(1), jpeg=30)
    assert torch.equal(a, b) and a.shape == clean.shape and 0 < (a - clean).abs().mean() < 0.2
    high, low = (jpeg_compress(clean, q, highest=q) for q in (90, 10))
    assert 0 < (high - clean).abs().mean() < (low - clean).abs().mean()
    assert torch.allclose(a, quantize(a), atol=1e-6)  # still on the 8-bit grid
    flat = torch.zeros(2, 1, 32, 32)
    assert (degrade(flat, 2, jpeg=50) - degrade(flat, 2)).abs().max() <= 2 / 127.5


def test_gaussian_blur_keeps_constants_and_sums():
    x = torch.rand(1, 1, 20, 20)
    y = gaussian_blur(x, 1.5)
    assert y.shape == x.shape and y.std() < x.std()
    assert torch.allclose(gaussian_blur(torch.full((1, 3, 9, 9), 0.3), 2.0), torch.full((1, 3, 9, 9), 0.3))


def test_bicubic_upscale_of_a_constant_is_that_constant():
    lr = torch.full((1, 3, 5, 7), -0.25)
    assert torch.allclose(bicubic_upscale(lr, 4), torch.full((1, 3, 20, 28), -0.25), atol=1e-6)


def test_random_patch_is_a_window_of_its_image():
    torch.manual_seed(0)
    x = torch.arange(2 * 1 * 10 * 10, dtype=torch.float32).view(2, 1, 10, 10)
    p = random_patch(x, 4)
    assert p.shape == (2, 1, 4, 4)
    for i in range(2):
        top, left = divmod(int(p[i, 0, 0, 0] - x[i, 0, 0, 0]), 10)
        assert torch.equal(p[i], x[i, :, top : top + 4, left : left + 4])
    assert random_patch(x, 0) is x


def test_random_rot90_gives_rotations_of_each_image():
    torch.manual_seed(0)
    x = torch.randn(16, 2, 5, 5)
    y = random_rot90(x)
    for a, b in zip(x, y):
        assert any(torch.equal(torch.rot90(a, k, dims=(1, 2)), b) for k in range(4))
    assert not torch.equal(x, y)


def test_relativistic_average_losses_by_hand():
    """Wang et al. 2018, eqs. 1-2, halved as in the authors' code: real (2, 0), fake (1, -1).

    mean fake = 0, mean real = 1; rel_real = (2, 0), rel_fake = (0, -2).
    D: softplus(-2), softplus(0) -> mean a; softplus(0), softplus(-2) -> mean b; (a + b) / 2.
    G: softplus(2), softplus(0) and softplus(0), softplus(2).
    """
    sp = lambda t: math.log1p(math.exp(t))  # noqa: E731
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([1.0, -1.0])
    d, g = relativistic_average_losses(real, fake)
    d_hand = ((sp(-2) + sp(0)) / 2 + (sp(0) + sp(-2)) / 2) / 2
    g_hand = ((sp(2) + sp(0)) / 2 + (sp(0) + sp(2)) / 2) / 2
    assert d.item() == pytest.approx(d_hand, abs=1e-6)
    assert g.item() == pytest.approx(g_hand, abs=1e-6)


# --------------------------------------------------------------------------- configs


def _raw(root, steps: int = 100, **train) -> dict:
    return {
        "task": "sr",
        "data": {"name": "folder", "path": str(root), "resolution": 32, "channels": 3, "patch": 16, "hflip": True,
                 "rot90": True},
        "model": {"generator": "srresnet", "scale": 2, "width": 16, "blocks": 2, "norm": "none"},
        "loss": {"pixel_weight": 1.0},
        "train": {"steps": steps, "batch_size": 8, "log_every": 10, "sample_every": 1000, "ckpt_every": 1000,
                  "grid_size": 4, "tensorboard": False, "deterministic": True, "threads": 1, "ema": 0.9,
                  "g_optim": {"lr": 2e-3, "betas": [0.9, 0.99]}, "d_optim": {"lr": 1e-3}, **train},
    }


@pytest.mark.parametrize("change, message", [
    ({"model": {"scale": 3}}, "model.scale"),
    ({"data": {"patch": 17}}, "data.patch"),
    ({"data": {"crop_padding": 2}}, "crop_padding"),
    ({"loss": {"name": "ragan2"}}, "loss.name"),
    ({"loss": {"pixel_weight": 0.0}}, "all 0"),
    ({"model": {"arch": "dcgan"}}, "model.arch"),
    ({"model": {"residual": "lanczos"}}, "model.residual"),
    ({"loss": {"perceptual_resize": 0.5}}, "loss.perceptual_resize"),
    ({"data": {"jpeg": 100}}, "data.jpeg"),
    ({"model": {"discriminator": "patchgan"}}, "model.discriminator"),
    ({"model": {"discriminator": "unet", "d_stages": 3}, "data": {"patch": 20}, "loss": {"gan_weight": 0.1}},
     "multiple of 8"),
])
def test_sr_config_errors(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        C.from_dict(C.merge(_raw(tmp_path), change))


def test_sr_data_is_refused_by_other_families():
    # the Fluent emoji are single images: super-resolution and the gan family (StyleGAN2) train on them
    with pytest.raises(ConfigError, match="not data for task pix2pix"):
        C.from_dict({"task": "pix2pix", "data": {"name": "fluent-emoji-3d"}})
    with pytest.raises(ConfigError, match="data.split"):
        C.from_dict({"task": "sr", "data": {"name": "fluent-emoji-3d", "split": "all"}})


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """train/ (48) and test/ (8) folders of smooth 32 px pictures: upsampled shapes, so that x2 SR is learnable."""
    root = tmp_path_factory.mktemp("sr")
    small = shapes(56, size=16, seed=3)
    for i, im in enumerate(small):
        split = "train" if i < 48 else "test"
        (root / split).mkdir(exist_ok=True)
        Image.fromarray(im).resize((32, 32), Image.Resampling.BILINEAR).save(root / split / f"{i:03d}.png")
    return root


def _train(cfg, run_dir, resume=False, stop_at=None):
    if not resume:
        prepare_run_dir(run_dir)
    trainer = Trainer(build(cfg), run_dir, resume=resume, quiet=True)
    trainer.run(stop_at=stop_at)
    return trainer


def test_sr_psnr_training_learns(tmp_path, photos):
    """PSNR-oriented x2 training raises test PSNR (Y) far above the untrained G's (these flat pictures are too easy
    for a comparison with bicubic: nearest upscaling already scores over 45 dB on them)."""
    cfg = C.from_dict(_raw(photos, steps=200))
    setup = build(cfg)
    before = setup.task.end_of_run_metrics(0)
    prepare_run_dir(tmp_path / "r")
    trainer = Trainer(setup, tmp_path / "r", quiet=True)
    trainer.run()
    after = trainer.finish()["metrics"]
    assert after["psnr_y"] > before["psnr_y"] + 5, (before["psnr_y"], after["psnr_y"])
    assert after["bicubic"]["psnr_y"] > 30 and after["protocol"]["n"] == 8


@pytest.mark.parametrize("discriminator", ["vgg", "unet"])
def test_sr_gan_resume_is_bit_exact_and_init_from_loads_the_psnr_model(tmp_path, photos, discriminator):
    psnr = _train(C.from_dict(_raw(photos, steps=20)), tmp_path / "psnr")
    gan_raw = C.merge(_raw(photos, steps=20, ckpt_every=10, init_from=str(tmp_path / "psnr")),
                      {"loss": {"name": "ragan", "pixel_weight": 0.01, "gan_weight": 0.005},
                       "model": {"d_width": 8, "d_stages": 2, "discriminator": discriminator}})
    cfg = C.from_dict(gan_raw)
    setup = build(cfg)
    prepare_run_dir(tmp_path / "check")
    Trainer(setup, tmp_path / "check", quiet=True)  # loads the PSNR run's weights
    for k, v in setup.task.networks["G"].state_dict().items():
        assert torch.equal(v, psnr.s.task.networks["G_ema"].state_dict()[k]), k
    straight = _train(cfg, tmp_path / "straight")
    _train(cfg, tmp_path / "part", stop_at=10)
    resumed = _train(cfg, tmp_path / "part", resume=True)
    for name in ("G", "D", "G_ema"):
        a, b = straight.s.task.networks[name].state_dict(), resumed.s.task.networks[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    tensors, _ = read_checkpoint(tmp_path / "straight")
    assert any(k.startswith("net.D.") for k in tensors)


def test_init_from_a_missing_run_is_one_line(tmp_path, photos, capsys):
    code = main(["train", "--config", _write_yaml(tmp_path, _raw(photos, steps=5)), "--init-from",
                 str(tmp_path / "nope"), "--out", str(tmp_path / "r"), "--quiet"])
    assert code != 0 and not (tmp_path / "r").exists()
    assert "does not exist" in capsys.readouterr().err


def _write_yaml(tmp_path, raw: dict) -> str:
    import yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


# --------------------------------------------------------------------------- upscaling


def test_tiled_and_whole_upscales_agree_away_from_tile_borders():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.Tanh(), nn.Conv2d(12, 12, 3, padding=1),
                        nn.PixelShuffle(2)).eval()
    image = torch.rand(1, 3, 40, 56) * 2 - 1
    with torch.no_grad():
        whole = net(image)
        tiled = tiled_apply(net, image, tile=16, overlap=6, scale=2, batch=3)
    assert tiled.shape == whole.shape

    def single(size):  # LR positions that one tile alone covers: at least `overlap` px inside it
        count = torch.zeros(size)
        for start in tile_starts(size, 16, 6):
            count[start : start + 16] += 1
        return (count == 1).repeat_interleave(2)

    away = single(40)[:, None] & single(56)[None, :]
    assert away.float().mean() > 0.2
    # the net sees 2 px around each pixel, fewer than the 6 px each such pixel has inside its tile
    assert torch.allclose(tiled[..., away], whole[..., away], atol=1e-5)
    assert (tiled - whole).abs().max() < 0.2  # near tile borders only the blend of two views differs


def test_gankit_upscale_keeps_alpha_and_scale(tmp_path, photos):
    run = tmp_path / "run"
    assert main(["train", "--config", _write_yaml(tmp_path, _raw(photos, steps=10)), "--out", str(run),
                 "--quiet"]) == 0
    rgba = np.zeros((30, 22, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[5:25, 4:18, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "in.png")
    assert main(["upscale", "--run", str(run), "--input", str(tmp_path / "in.png"), "--out", str(tmp_path / "o"),
                 "--tile", "16", "--overlap", "4"]) == 0
    out = Image.open(tmp_path / "o" / "in.png")
    assert out.size == (44, 60) and out.mode == "RGBA"
    alpha = np.asarray(out)[..., 3]
    assert alpha[20, 20] == 255 and alpha[0, 0] == 0
    assert main(["upscale", "--run", str(run), "--input", str(tmp_path / "in.png"), "--out", str(tmp_path / "o2"),
                 "--scale", "4"]) != 0


# --------------------------------------------------------------------------- benchmarks


@pytest.mark.parametrize("adversarial", [False, True])
def test_bench_speed_covers_sr(photos, adversarial):
    from gankit.bench.speed import format_table, run_speed_benchmark

    raw = _raw(photos, steps=10)
    if adversarial:
        raw = C.merge(raw, {"loss": {"name": "ragan", "pixel_weight": 0.01, "gan_weight": 0.005},
                            "model": {"d_width": 8, "d_stages": 2}})
    result = run_speed_benchmark(C.from_dict(raw), steps=2, rounds=1, warmup=1, progress=False)
    assert result["gankit_images_per_sec"] > 0 and result["reference_images_per_sec"] > 0
    # the same networks and the same work per step: G forward/backward (and D's passes)
    assert 0.6 < result["reference_gflop_per_step"] / result["gflop_per_step"] < 1.7
    assert "ratio" in format_table(result)


def test_bench_speed_refuses_sr_degradations_the_reference_lacks(photos):
    from gankit.bench.speed import run_speed_benchmark
    from gankit.errors import GankitError

    with pytest.raises(GankitError, match="data.blur"):
        run_speed_benchmark(C.from_dict(C.merge(_raw(photos), {"data": {"blur": 1.0}})), steps=1, rounds=1)


def test_bench_sr_end_to_end_on_a_folder(tmp_path, photos):
    """`gankit bench sr` at tiny budgets on the fixture folder (x2, small nets, no Inception): every row, the checks,
    the table and the picture; the models upscale at least as well as nearest (they start at bicubic)."""
    from gankit.bench.sr import run_sr_benchmark

    small = ["data.name=folder", f"data.path={photos}", "data.resolution=32", "data.patch=16", "model.scale=2",
             "model.width=8", "model.growth=4", "model.blocks=1", "model.d_width=8", "model.d_stages=2",
             "loss.perceptual_weight=0", "train.batch_size=8", "train.ema_start=0", "train.log_every=5",
             "train.grid_size=4"]
    result = run_sr_benchmark(tmp_path / "b", seeds=(0, 1), psnr_budget=3, gan_budget=3, jobs=2, inception=False,
                              overrides=small)
    rows = result["rows"]
    assert set(rows) == {"nearest", "bicubic", "psnr-seed0", "psnr-seed1", "gan-seed0", "PSNR model, mean ± s.e."}
    for name in ("psnr-seed0", "psnr-seed1", "gan-seed0"):
        assert rows[name]["steps"] > 0
        assert rows[name]["psnr_y"] > rows["nearest"]["psnr_y"], (name, rows[name]["psnr_y"])
        assert set(rows[name]["photos"]) == {"astronaut", "coffee", "chelsea", "rocket"}
    mean = rows["PSNR model, mean ± s.e."]["psnr_y"][0]
    assert mean == pytest.approx((rows["psnr-seed0"]["psnr_y"] + rows["psnr-seed1"]["psnr_y"]) / 2)
    assert result["checks"]["psnr_gain_over_bicubic_db"] == pytest.approx(mean - rows["bicubic"]["psnr_y"])
    assert "fid" not in rows["bicubic"] and "gan_fid_drop_vs_its_init" not in result["checks"]
    table = (tmp_path / "b" / "results.md").read_text()
    assert "| gan-seed0 |" in table and "PSNR model vs bicubic" in table
    with Image.open(tmp_path / "b" / "crops.png") as im:  # 5 columns (+ gaps) of 128 px crops: 6 emoji, 4 photos
        assert im.width > 5 * 128 and im.height >= 5 * 128
    again = run_sr_benchmark(tmp_path / "b", seeds=(0, 1), psnr_budget=3, gan_budget=3, jobs=2, inception=False,
                             reuse=True, overrides=small)  # nothing trained or scored again: the same table
    assert again["rows"] == json.loads(json.dumps(rows))
