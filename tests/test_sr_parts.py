"""Super-resolution networks, the Y-channel metrics and the Inception perceptual loss."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.metrics.image_quality import rgb_to_y, shave, sr_metrics
from gankit.nets.sr import RRDBNet, SRResNet, UNetDiscriminator, VGGDiscriminator, sr_scale_steps


@pytest.mark.parametrize("scale", [2, 4])
def test_generators_upscale_any_size(scale):
    x = torch.randn(2, 3, 6, 10)
    for net in (SRResNet(3, scale, 8, 2, "none"), SRResNet(3, scale, 8, 1, "batch"), RRDBNet(3, scale, 8, 4, 1)):
        assert net(x).shape == (2, 3, 6 * scale, 10 * scale)


def test_bicubic_residual_starts_as_bicubic_and_then_learns_a_residual():
    """residual="bicubic" (VDSR's global residual): an untrained G is exactly bicubic upscaling; after one step
    its output moves off it, and the state dict has no extra keys (checkpoints of either kind look alike)."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 6, 10) * 2 - 1
    bicubic = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    for make in (lambda r: SRResNet(3, 2, 8, 1, "none", r), lambda r: RRDBNet(3, 2, 8, 4, 1, r)):
        net = make("bicubic")
        assert torch.equal(net(x), bicubic)
        assert net.state_dict().keys() == make("none").state_dict().keys()
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        (net(x) - torch.zeros_like(bicubic)).abs().mean().backward()
        opt.step()
        assert not torch.allclose(net(x), bicubic)
    with pytest.raises(ValueError, match="residual"):
        SRResNet(residual="lanczos")


def test_bad_scale_is_refused():
    with pytest.raises(ValueError, match="2, 4 or 8"):
        sr_scale_steps(3)
    with pytest.raises(ValueError):
        RRDBNet(scale=6)


def test_srresnet_without_norm_has_no_batch_norm():
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in SRResNet(3, 2, 8, 2, "none").modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in SRResNet(3, 2, 8, 2, "batch").modules())


def test_dense_block_residual_is_scaled_by_0_2():
    torch.manual_seed(0)
    net = RRDBNet(3, 2, 8, 4, 1)
    block = net.body[0].blocks[0]
    x = torch.randn(1, 8, 5, 5)
    last = block.convs[4]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.constant_(last.bias, 1.0)
    assert torch.allclose(block(x), x + 0.2)  # the fifth conv outputs 1 everywhere


def test_discriminator_gives_one_logit_for_any_patch_and_passes_gradients():
    for d in (VGGDiscriminator(3, 8, 2), VGGDiscriminator(3, 8, 3, spectral_norm=True)):
        for size in ((32, 32), (48, 64)):
            x = torch.randn(2, 3, *size, requires_grad=True)
            out = d(x)
            assert out.shape == (2, 1)
            out.sum().backward()
            assert x.grad.abs().sum() > 0


def test_unet_discriminator_gives_a_logit_per_pixel():
    """Real-ESRGAN's U-Net D: a (B, 1, H, W) map; spectral norm on the inner convs only; a change in one corner
    of the input moves the logits there more than in the far corner."""
    torch.manual_seed(0)
    d = UNetDiscriminator(3, 8, 3)
    for size in ((32, 32), (48, 64)):
        x = torch.randn(2, 3, *size, requires_grad=True)
        out = d(x)
        assert out.shape == (2, 1, *size)
        out.sum().backward()
        assert x.grad.abs().sum() > 0
    assert all(hasattr(m, "parametrizations") for m in [*d.down, *d.up, *d.head])
    assert not hasattr(d.first, "parametrizations") and not hasattr(d.out, "parametrizations")
    d.eval()
    x = torch.randn(1, 3, 64, 64)
    y = x.clone()
    y[..., :8, :8] += 2.0
    moved = (d(y) - d(x)).abs()[0, 0]
    assert moved[:8, :8].mean() > 10 * moved[-8:, -8:].mean()


def test_unet_discriminator_learns_to_tell_blocky_upscales_from_smooth_images():
    """Trained with ESRGAN's relativistic loss on smooth pictures (real) and nearest x2 upscales of them (fake),
    the U-Net D separates the two: its loss falls from log 2 to far below it."""
    from gankit.losses import relativistic_average_losses

    torch.manual_seed(0)
    d = UNetDiscriminator(3, 8, 2)
    opt = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.99))
    losses = []
    for _ in range(60):
        real = torch.nn.functional.interpolate(torch.rand(8, 3, 4, 4) * 2 - 1, size=32, mode="bilinear")
        fake = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(real, 2), scale_factor=2)
        loss, _ = relativistic_average_losses(d(real), d(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(2), abs=0.05) and sum(losses[-10:]) / 10 < 0.2, losses


def test_rgb_to_y_by_hand():
    white, black = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8), torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    red = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    red[:, 0] = 255
    assert rgb_to_y(white)[0, 0, 0, 0].item() == pytest.approx(235 / 255)
    assert rgb_to_y(black)[0, 0, 0, 0].item() == pytest.approx(16 / 255)
    assert rgb_to_y(red)[0, 0, 0, 0].item() == pytest.approx((16 + 65.481) / 255)
    assert shave(torch.zeros(1, 3, 10, 12), 2).shape == (1, 3, 6, 8)


def test_sr_psnr_y_by_hand():
    """A flat image against the same image one level brighter on every channel: Y differs by
    (65.481 + 128.553 + 24.966) / 255 / 255 everywhere, so PSNR = -20 log10 of that."""
    a = torch.full((1, 3, 20, 20), 100, dtype=torch.uint8)
    b = a + 1
    got = sr_metrics(a, b, scale=2)
    diff = (65.481 + 128.553 + 24.966) / 255 / 255
    assert got["psnr_y"] == pytest.approx(-20 * math.log10(diff), abs=1e-6)
    assert got["ssim_y"] == pytest.approx(1.0, abs=1e-3)  # a constant shift barely moves SSIM's means term
    assert got["protocol"]["n"] == 1
    with pytest.raises(ValueError, match="differ in shape"):
        sr_metrics(a, b[..., :10], 2)


def test_sr_metrics_agree_with_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    torch.manual_seed(0)
    base = torch.nn.functional.interpolate(torch.rand(2, 3, 8, 8), size=(40, 40), mode="bilinear")
    a = (base * 255).round().to(torch.uint8)
    b = (base * 255 + torch.randn_like(base) * 6).round().clamp(0, 255).to(torch.uint8)
    got = sr_metrics(a, b, scale=4)
    ya, yb = rgb_to_y(shave(a, 4)), rgb_to_y(shave(b, 4))
    psnr = [skm.peak_signal_noise_ratio(yb[i, 0].numpy(), ya[i, 0].numpy(), data_range=1.0) for i in range(2)]
    ssim = [skm.structural_similarity(ya[i, 0].numpy(), yb[i, 0].numpy(), gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=1.0) for i in range(2)]
    assert got["psnr_y"] == pytest.approx(sum(psnr) / 2, abs=1e-6)
    assert got["ssim_y"] == pytest.approx(sum(ssim) / 2, abs=1e-4)  # ours runs in float32


def test_inception_perceptual_loss(inception_path_or_skip):
    from gankit.nets.perceptual import InceptionPerceptual

    p = InceptionPerceptual(inception_path_or_skip, "conv2d_2b")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert p(x).shape == (2, 64, 13, 13)
    assert p.loss(x, x).item() == 0 and len(p.state_dict()) == 0 and not list(p.parameters())
    y = x.clone().requires_grad_()
    near, far = p.loss(y, x + 0.05 * torch.randn_like(x)), p.loss(x, x + 0.3 * torch.randn_like(x))
    near.backward()
    assert 0 < near.item() < far.item() and y.grad.abs().sum() > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(p.loss(x, -x))
    # resize: the stem sees the patch enlarged (bilinear), so its map is twice as large
    p2 = InceptionPerceptual(inception_path_or_skip, "conv2d_2b", resize=2.0)
    big = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    assert p2(x).shape == (2, 64, 29, 29) and torch.allclose(p2(x), p(big), atol=1e-5)
