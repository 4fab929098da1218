"""StyleGAN2 networks: modulated conv against a per-sample reference, demodulation, truncation, style mixing, w_avg,
noise modes, minibatch std, progressive-growing hooks, shapes and gradients. Networks are tiny (channels of 4..32)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.nets.stylegan2 import (
    EqualConv2d,
    EqualLinear,
    MinibatchStd,
    ModulatedConv2d,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
)


def tiny_g(resolution: int = 16, channels: int = 3, num_classes: int = 0, **kw) -> StyleGAN2Generator:
    args = dict(z_dim=8, w_dim=8, resolution=resolution, channels=channels, channel_base=16 * resolution,
                channel_max=16, mapping_layers=2, num_classes=num_classes)
    args.update(kw)
    return StyleGAN2Generator(**args)


def tiny_d(resolution: int = 16, channels: int = 3, num_classes: int = 0, channel_max: int = 16,
           **kw) -> StyleGAN2Discriminator:
    return StyleGAN2Discriminator(channels, resolution, 16 * resolution, channel_max, num_classes, **kw)


def set_noise_strength(g: StyleGAN2Generator, value: float) -> None:
    for name, p in g.named_parameters():
        if name.endswith("noise_strength"):
            p.data.fill_(value)


# --- equalized-lr layers ---------------------------------------------------------------------------------------


def test_equal_linear_runtime_scale_lr_mult_and_activation():
    torch.manual_seed(0)
    layer = EqualLinear(4, 3, bias_init=2.0, lr_mult=0.01)
    assert torch.allclose(layer(torch.zeros(1, 4)), torch.full((1, 3), 2.0))  # effective bias starts at bias_init
    x = torch.randn(5, 4)
    ref = x @ (layer.weight * 0.01 / 2.0).t() + layer.bias * 0.01
    assert torch.allclose(layer(x), ref, atol=1e-6)
    layer.activation = "lrelu"
    assert torch.allclose(layer(x), F.leaky_relu(ref, 0.2) * math.sqrt(2), atol=1e-6)
    with pytest.raises(ValueError):
        EqualLinear(4, 3, activation="relu")


@pytest.mark.parametrize("kernel", [1, 3])
def test_equal_conv_down_halves_and_low_passes(kernel):
    torch.manual_seed(0)
    conv = EqualConv2d(2, 3, kernel, down=True)
    assert conv(torch.randn(2, 2, 16, 16)).shape == (2, 3, 8, 8)
    # A constant input stays constant away from the zero-padded border (the blur is normalized).
    out = conv(torch.ones(1, 2, 16, 16))[..., 2:-2, 2:-2]
    assert torch.allclose(out, out[..., :1, :1].expand_as(out), atol=1e-5)
    ref = F.conv2d(torch.ones(1, 2, 1, 1), conv.weight.sum(dim=(2, 3), keepdim=True) / math.sqrt(2 * kernel**2))
    assert torch.allclose(out[..., :1, :1], ref, atol=1e-5)


# --- modulated conv --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["grouped", "batched"])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("kernel", [1, 3])
def test_modulated_conv_matches_per_sample_conv(impl, demodulate, kernel):
    torch.manual_seed(0)
    conv = ModulatedConv2d(5, 4, kernel, w_dim=6, demodulate=demodulate, impl=impl)
    conv.affine.bias.data.normal_(1.0, 0.5)  # styles far from the initial ~1
    x, w = torch.randn(3, 5, 7, 7), torch.randn(3, 6)
    out = conv(x, w)
    for i in range(3):
        s = conv.affine(w[i : i + 1])[0]
        weight = conv.weight / math.sqrt(5 * kernel * kernel) * s[None, :, None, None]
        if demodulate:
            weight = weight / torch.sqrt(weight.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        ref = F.conv2d(x[i : i + 1], weight, padding=kernel // 2)
        assert torch.allclose(out[i : i + 1], ref, atol=1e-5), (out[i] - ref[0]).abs().max()


def test_grouped_and_batched_generators_agree():
    torch.manual_seed(0)
    g_batched = tiny_g(modconv="batched").eval()
    g_grouped = tiny_g(modconv="grouped").eval()
    g_grouped.load_state_dict(g_batched.state_dict())
    set_noise_strength(g_batched, 0.3)
    set_noise_strength(g_grouped, 0.3)
    z = torch.randn(3, 8)
    assert torch.allclose(g_batched(z), g_grouped(z), atol=1e-5)


def test_demodulation_gives_unit_output_variance():
    torch.manual_seed(0)
    x, w = torch.randn(8, 64, 32, 32), torch.randn(8, 16)
    variances = {}
    for demodulate in (True, False):
        torch.manual_seed(1)
        conv = ModulatedConv2d(64, 64, 3, w_dim=16, demodulate=demodulate)
        conv.affine.bias.data.fill_(5.0)  # large styles, ~5 +- 1
        with torch.no_grad():
            out = conv(x, w)[..., 1:-1, 1:-1]  # the interior: the padded border sees fewer inputs
        variances[demodulate] = out.var().item()
        if demodulate:
            per_channel = out.var(dim=(0, 2, 3))  # each output channel's weight has unit norm
            assert (per_channel - 1).abs().max() < 0.15, per_channel
    assert abs(variances[True] - 1) < 0.1, variances
    assert variances[False] > 5, variances


# --- mapping: truncation, w_avg, style mixing ------------------------------------------------------------------


def test_truncation_psi_zero_gives_w_avg_before_cutoff():
    torch.manual_seed(0)
    g = tiny_g().eval()
    g.w_avg.normal_()
    z = torch.randn(4, 8)
    plain = g.mapping(z)
    assert plain.shape == (4, g.num_ws, 8)
    assert torch.equal(plain, plain[:, :1].expand_as(plain))  # one w for every layer
    assert not torch.allclose(plain, g.w_avg.expand_as(plain))
    ws = g.mapping(z, psi=0.0, cutoff=2)
    assert torch.allclose(ws[:, :2], g.w_avg.expand(4, 2, -1))
    assert torch.allclose(ws[:, 2:], plain[:, 2:])
    assert torch.allclose(g.mapping(z, psi=0.0), g.w_avg.expand_as(plain))
    half = g.mapping(z, psi=0.5)
    assert torch.allclose(half, (plain + g.w_avg) / 2, atol=1e-6)


def test_mapping_normalizes_z_and_the_label_embedding():
    torch.manual_seed(0)
    g = tiny_g(num_classes=3)
    z, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 1])
    ws = g.mapping(z, labels)
    assert torch.allclose(g.mapping(5 * z, labels), ws, atol=1e-5)
    g.embed.weight.data.mul_(50)  # a 50x larger embedding is normalized back to unit mean square
    assert torch.allclose(g.mapping(z, labels), ws, atol=1e-5)


def test_w_avg_follows_the_batch_mean_only_when_asked():
    torch.manual_seed(0)
    g = tiny_g(w_avg_beta=0.9)
    z = torch.randn(16, 8)
    g.mapping(z)
    assert torch.equal(g.w_avg, torch.zeros(8))
    w_mean = g.mapping(z)[:, 0].mean(0)
    g.mapping(z, update_w_avg=True)
    assert torch.allclose(g.w_avg, 0.1 * w_mean, atol=1e-6)
    before = g.w_avg.clone()
    g.mapping(z, update_w_avg=True)
    assert torch.allclose(g.w_avg, w_mean + 0.9 * (before - w_mean), atol=1e-6)
    # forward updates it in training mode, not in eval mode
    g.eval()
    before = g.w_avg.clone()
    g(z)
    assert torch.equal(g.w_avg, before)
    g.train()
    g(z)
    assert not torch.allclose(g.w_avg, before)


def test_mix_styles():
    a, b = torch.zeros(2, 6, 3), torch.ones(2, 6, 3)
    mixed = StyleGAN2Generator.mix_styles(a, b, 4)
    assert torch.equal(mixed[:, :4], a[:, :4])
    assert torch.equal(mixed[:, 4:], b[:, 4:])


def test_training_ws_mixes_two_latents_at_the_drawn_crossover():
    g = tiny_g(resolution=32, mixing_prob=1.0)
    z = torch.randn(3, 8)
    torch.manual_seed(7)
    ws = g.training_ws(z)
    # replay the draws training_ws documents
    torch.manual_seed(7)
    assert torch.rand(()).item() < 1.0
    crossover = int(torch.randint(1, g.num_ws, ()).item())
    z2 = torch.randn_like(z)
    assert 1 <= crossover < g.num_ws
    w1, w2 = g.mapping(z)[:, 0], g.mapping(z2)[:, 0]
    assert torch.allclose(ws[:, :crossover], w1[:, None].expand(-1, crossover, -1), atol=1e-6)
    assert torch.allclose(ws[:, crossover:], w2[:, None].expand(-1, g.num_ws - crossover, -1), atol=1e-6)
    assert not torch.allclose(w1, w2)
    # over seeds, the crossover varies
    crossovers = set()
    for seed in range(20):
        torch.manual_seed(seed)
        ws = g.training_ws(z)
        crossovers.add(int((ws[0] != ws[0, :1]).any(dim=1).float().argmax()))
    assert len(crossovers) > 2
    # no mixing: one w throughout
    g.mixing_prob = 0.0
    ws = g.training_ws(z)
    assert torch.equal(ws, ws[:, :1].expand_as(ws))


def test_training_forward_uses_training_ws():
    g = tiny_g(mixing_prob=1.0)
    set_noise_strength(g, 0.5)
    z = torch.randn(2, 8)
    torch.manual_seed(3)
    out = g(z, noise_mode="none")
    torch.manual_seed(3)
    ref = g.synthesis(g.training_ws(z), noise_mode="none")
    assert torch.allclose(out, ref, atol=1e-6)
    # ...and that differs from the unmixed image
    assert not torch.allclose(out, g.synthesis(g.mapping(z), noise_mode="none"), atol=1e-4)


# --- noise -----------------------------------------------------------------------------------------------------


def test_noise_modes():
    torch.manual_seed(0)
    g = tiny_g().eval()
    set_noise_strength(g, 0.5)
    z = torch.randn(2, 8)
    assert torch.equal(g(z), g(z))  # eval default: const noise
    assert not torch.allclose(g(z, noise_mode="random"), g(z, noise_mode="random"))
    assert not torch.allclose(g(z), g(z, noise_mode="none"))
    assert any(k.endswith("noise_const") for k in g.state_dict())  # saved with the weights
    with pytest.raises(ValueError):
        g(z, noise_mode="bogus")


# --- shapes, conditioning, progressive-growing hooks -----------------------------------------------------------


@pytest.mark.parametrize("resolution,num_ws", [(8, 4), (32, 8), (64, 10)])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 5])
def test_shapes(resolution, num_ws, channels, num_classes):
    torch.manual_seed(0)
    g = tiny_g(resolution, channels, num_classes, channel_max=8)
    d = tiny_d(resolution, channels, num_classes, channel_max=8)
    assert g.num_ws == num_ws
    labels = torch.tensor([0, 1, 4]) if num_classes else None
    x = g(torch.randn(3, 8), labels)
    assert x.shape == (3, channels, resolution, resolution)
    assert torch.isfinite(x).all()
    assert d(x, labels).shape == (3,)


def test_bad_resolution_and_impl():
    for resolution in (4, 12, 512):
        with pytest.raises(ValueError):
            tiny_g(resolution)
        with pytest.raises(ValueError):
            tiny_d(resolution)
    with pytest.raises(ValueError):
        tiny_g(modconv="fast")


def test_conditioning_uses_the_label():
    torch.manual_seed(0)
    g, d = tiny_g(num_classes=4).eval(), tiny_d(num_classes=4)
    z = torch.randn(1, 8).repeat(2, 1)
    labels = torch.tensor([1, 2])
    x = g(z, labels)
    assert not torch.allclose(x[0], x[1])
    out = d(x[:1].repeat(2, 1, 1, 1), labels)
    assert not torch.allclose(out[0], out[1])
    with pytest.raises(ValueError):
        g(z)
    with pytest.raises(ValueError):
        d(x)


def test_synthesis_stop_at_and_fade_in():
    torch.manual_seed(0)
    g = tiny_g(resolution=32).eval()
    ws = g.mapping(torch.randn(2, 8))
    assert g.synthesis(ws, stop_at=8).shape == (2, 3, 8, 8)
    full = g.synthesis(ws, noise_mode="none")
    assert torch.equal(full, g.synthesis(ws, noise_mode="none", stop_at=32, alpha=1.0))
    low = g.synthesis(ws, noise_mode="none", stop_at=8)
    faded = g.synthesis(ws, noise_mode="none", stop_at=16, alpha=0.0)
    assert torch.allclose(faded, F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False), atol=1e-6)
    half = g.synthesis(ws, noise_mode="none", stop_at=16, alpha=0.5)
    assert torch.allclose(half, (faded + g.synthesis(ws, noise_mode="none", stop_at=16)) / 2, atol=1e-5)


def test_discriminator_lower_resolution_inputs_and_blend():
    torch.manual_seed(0)
    d = tiny_d(resolution=32)
    x16 = torch.randn(4, 3, 16, 16)
    assert d(torch.randn(4, 3, 32, 32)).shape == (4,)
    assert d(torch.randn(4, 3, 8, 8), alpha=0.3).shape == (4,)  # nothing to blend with at 8
    plain16 = d(x16)
    down = d(F.avg_pool2d(x16, 2))
    assert torch.allclose(d(x16, alpha=0.0), down, atol=1e-5)
    assert not torch.allclose(plain16, down)
    # alpha blends the block's features, so the logit is not a mixture of the two logits; check it moves between
    assert not torch.allclose(d(x16, alpha=0.5), plain16)
    with pytest.raises(ValueError):
        d(torch.randn(4, 3, 12, 12))


# --- minibatch std ---------------------------------------------------------------------------------------------


def test_minibatch_std_layer():
    torch.manual_seed(0)
    x = torch.randn(8, 6, 4, 4)
    y = MinibatchStd(4, 2)(x)
    assert y.shape == (8, 8, 4, 4)
    assert torch.equal(y[:, :6], x)
    ref = x[:4, :3].std(dim=0, unbiased=False).mean()
    assert torch.allclose(y[0, 6], ref.expand(4, 4), atol=1e-5)
    assert torch.allclose(y[3, 6], y[0, 6]) and not torch.allclose(y[4, 6], y[0, 6])
    # batches the group size does not divide: the largest divisor below it; a single sample has std ~0
    assert MinibatchStd(4)(torch.randn(6, 2, 4, 4)).shape == (6, 3, 4, 4)
    assert MinibatchStd(4)(torch.randn(1, 2, 4, 4))[0, 2].abs().max() < 1e-3


def test_discriminator_logit_depends_on_its_group_only():
    torch.manual_seed(0)
    d = tiny_d(resolution=8, mbstd_group=2)
    x = torch.randn(4, 3, 8, 8)
    before = d(x)
    x2 = x.clone()
    x2[1] += torch.randn(3, 8, 8)
    after = d(x2)
    assert not torch.allclose(before[0], after[0])  # same group as sample 1
    assert torch.allclose(before[2:], after[2:])  # the other group


# --- gradients, precision --------------------------------------------------------------------------------------


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    g, d = tiny_g(num_classes=3, mixing_prob=1.0), tiny_d(num_classes=3)
    z, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    d(g(z, labels), labels).sum().backward()
    for net in (g, d):
        for name, p in net.named_parameters():
            unused = name.startswith("from_rgb.") and not name.startswith("from_rgb.16.")
            assert (p.grad is None) == unused, name
            if not unused:
                assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    # entering at 16 with a fade-in uses the fromRGBs at 16 and 8 instead
    d.zero_grad(set_to_none=True)
    d(torch.randn(4, 3, 16, 16), labels, alpha=0.5).sum().backward()
    used = {name for name, p in d.named_parameters() if p.grad is not None}
    assert {name for name, _ in d.named_parameters()} - used == set()
    d2 = tiny_d(resolution=32)
    d2(torch.randn(4, 3, 16, 16), alpha=0.5).sum().backward()
    unused = {name.split(".")[0] + "." + name.split(".")[1] for name, p in d2.named_parameters() if p.grad is None}
    assert unused == {"blocks.32", "from_rgb.32"}


def test_bfloat16_autocast_runs():
    torch.manual_seed(0)
    g, d = tiny_g(), tiny_d()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = d(g(torch.randn(2, 8)))
    assert out.shape == (2,) and torch.isfinite(out.float()).all()
