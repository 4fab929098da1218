"""D's differentiable augmentations: DiffAugment, ADA's pipeline and its adaptive p (gankit.data.d_augment)."""

import math

import pytest
import torch

from gankit.data.d_augment import (
    ADA_COLOR_OPS,
    ADA_GEOMETRIC_OPS,
    ADA_OPS,
    DIFFAUGMENT_POLICIES,
    P_MAX,
    AdaptiveAugment,
    DAugment,
    ada_augment,
    ada_color_matrix,
    ada_geometric_matrix,
    cutout_mask,
    diff_augment,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(b: int = 8, c: int = 3, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, c, size, size, generator=_gen(seed)) * 2 - 1


# --------------------------------------------------------------------------- gradients, identity at p = 0


def _grad_through(fn) -> torch.Tensor:
    x = _images(4, 3, 16).requires_grad_(True)
    w = torch.rand(4, 3, 16, 16, generator=_gen(7))  # weights: a plain sum hides gradients that sum to a constant
    (fn(x) * w).sum().backward()
    return x.grad


@pytest.mark.parametrize("policy", DIFFAUGMENT_POLICIES)
def test_diff_augment_ops_pass_gradients(policy):
    grad = _grad_through(lambda x: diff_augment(x, (policy,), _gen()))
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("op", ADA_OPS)
def test_ada_ops_pass_gradients(op):
    grad = _grad_through(lambda x: ada_augment(x, 1.0, _gen(), ops=(op,)))
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("p", [0.0, torch.tensor(0.0)], ids=["float", "tensor"])
@pytest.mark.parametrize("c", [1, 3, 6])
def test_ada_at_p0_returns_the_input_bit_for_bit(p, c):
    x = _images(4, c, 12)  # 12: a size where bilinear sampling of the identity is not exact
    assert torch.equal(ada_augment(x, p, _gen()), x)


@pytest.mark.parametrize("op", ADA_OPS)
def test_ada_each_op_changes_the_batch_at_p1(op):
    x = _images(8, 3, 16)
    assert not torch.equal(ada_augment(x, torch.tensor(1.0), _gen(), ops=(op,)), x)


def test_ada_untouched_images_skip_the_warp_exactly():
    x = _images(16, 3, 12)
    y = ada_augment(x, 0.3, _gen(5), ops=ADA_GEOMETRIC_OPS)
    _, touched = ada_geometric_matrix(16, 12, 12, 0.3, ADA_GEOMETRIC_OPS, _gen(5))  # the same draws
    assert 0 < touched.sum() < 16
    same = (y == x).flatten(1).all(dim=1)
    assert torch.equal(same, ~touched)


def test_ada_on_grey_images_skips_the_rgb_ops():
    x = _images(8, 1, 16)
    for op in ("lumaflip", "hue", "saturation"):
        assert torch.equal(ada_augment(x, 1.0, _gen(), ops=(op,)), x)
    for op in ("brightness", "contrast"):
        assert not torch.equal(ada_augment(x, 1.0, _gen(), ops=(op,)), x)


def test_stacked_pairs_get_the_same_parameters_per_group():
    a, b = _images(8, 3, 16, seed=2), _images(8, 3, 16, seed=3)
    pair = torch.cat([a, b], dim=1)
    # draws are per sample whatever C is: each group alone with the same seed sees the same parameters
    got = ada_augment(pair, 0.7, _gen(4))
    want = torch.cat([ada_augment(a, 0.7, _gen(4)), ada_augment(b, 0.7, _gen(4))], dim=1)
    torch.testing.assert_close(got, want)
    got = diff_augment(pair, generator=_gen(4))
    want = torch.cat([diff_augment(a, generator=_gen(4)), diff_augment(b, generator=_gen(4))], dim=1)
    torch.testing.assert_close(got, want)


def test_no_host_sync_on_meta_tensors():
    # meta tensors hold no values: an .item() or a Python branch on a tensor value raises here
    x = torch.empty(4, 6, 16, 16, device="meta")
    assert ada_augment(x, torch.tensor(0.5, device="meta")).shape == x.shape
    assert diff_augment(x).shape == x.shape
    ada = AdaptiveAugment(device="meta")
    ada.accumulate(torch.empty(8, 1, device="meta"))
    ada.update(32)
    assert ada(x).device.type == "meta"


def test_unknown_names_are_refused_with_the_valid_ones():
    x = _images(2)
    with pytest.raises(ValueError, match="color, translation, cutout"):
        diff_augment(x, ("colour",))
    with pytest.raises(ValueError, match="expected a tuple"):
        diff_augment(x, "color")
    with pytest.raises(ValueError, match="xflip"):
        ada_augment(x, 0.5, ops=("yflip",))
    with pytest.raises(ValueError, match="multiple of 3"):
        ada_augment(_images(2, 2), 0.5)


# --------------------------------------------------------------------------- ADA geometric ops, exact values


def test_xflip_at_p1_is_a_mirror():
    x = _images()
    assert torch.equal(ada_augment(x, 1.0, _gen(), ops=("xflip",)), x.flip(3))


def test_rotate90_turns_each_image_by_one_to_three_quarters_exactly():
    x = _images(16)
    y = ada_augment(x, 1.0, _gen(), ops=("rotate90",))
    turns = []
    for xi, yi in zip(x, y):
        k = [k for k in range(4) if torch.equal(yi, torch.rot90(xi, k, dims=(1, 2)))]
        assert len(k) == 1 and k[0] != 0
        turns.append(k[0])
    assert len(set(turns)) == 3


def _reflect_index(i: torch.Tensor, n: int) -> torch.Tensor:
    """grid_sample's reflection (align_corners=False) for one overshoot: -1 -> 0, n -> n - 1 (edge repeated)."""
    return torch.where(i < 0, -1 - i, torch.where(i >= n, 2 * n - 1 - i, i))


def test_integer_translation_moves_pixels_by_integers_with_reflection():
    x = _images(16)
    y = ada_augment(x, 1.0, _gen(), ops=("int_translation",))
    idx = torch.arange(16)
    shifts = []
    for xi, yi in zip(x, y):
        found = []
        for ty in range(-2, 3):  # up to round(16 / 8) = 2 pixels
            for tx in range(-2, 3):
                want = xi[:, _reflect_index(idx - ty, 16)][:, :, _reflect_index(idx - tx, 16)]
                if torch.equal(yi, want):
                    found.append((ty, tx))
        assert len(found) == 1
        shifts.append(found[0])
    assert len(set(shifts)) > 4


@pytest.mark.parametrize("ops", [(op,) for op in ADA_GEOMETRIC_OPS] + [ADA_GEOMETRIC_OPS], ids=lambda o: "+".join(o))
def test_geometric_ops_keep_a_constant_image_constant(ops):
    x = torch.full((8, 3, 16, 16), 0.3)
    y = ada_augment(x, 1.0, _gen(), ops=ops)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-6)


def _ramps(b: int, size: int) -> torch.Tensor:
    """Channel 0 = x (the column, about the centre), channel 1 = y, channel 2 = 0."""
    u = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    return torch.stack([u.expand(size, size), u[:, None].expand(size, size), torch.zeros(size, size)]).expand(
        b, 3, size, size
    )


def _slopes(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """d(channel 0)/dx and d(channel 1)/dy at the centre of each image."""
    c = y.shape[-1] // 2
    return y[:, 0, c, c] - y[:, 0, c, c - 1], y[:, 1, c, c] - y[:, 1, c - 1, c]


def test_scales_have_adas_strengths():
    x = _ramps(256, 32)
    sx, sy = _slopes(ada_augment(x, 1.0, _gen(), ops=("iso_scale",)))
    # a scale by s about the centre turns the ramps' slopes into 1 / s: log2 s ~ N(0, 0.2^2)
    torch.testing.assert_close(sx, sy, rtol=1e-4, atol=0)
    assert 0.17 < sx.log2().std() < 0.23 and sx.log2().mean().abs() < 0.04
    sx, sy = _slopes(ada_augment(x, 1.0, _gen(), ops=("aniso_scale",)))
    torch.testing.assert_close(sx * sy, torch.ones(256), rtol=1e-4, atol=0)  # s in x, 1 / s in y
    assert 0.17 < sx.log2().std() < 0.23


def test_fractional_translation_has_adas_strength():
    u = torch.arange(256, dtype=torch.float32) - 127.5
    x = u.expand(256, 1, 4, 256)  # a ramp along x only: the shift in y changes nothing
    y = ada_augment(x, 1.0, _gen(), ops=("frac_translation",))
    mat, _ = ada_geometric_matrix(256, 4, 256, 1.0, ("frac_translation",), _gen())  # the same draws
    t = -mat[:, 0, 2]  # pixels, to the right
    # N(0, 0.125^2) of the width; bounds at 3 standard errors for 256 draws
    assert 0.109 < (t / 256).std() < 0.141 and (t / 256).mean().abs() < 0.025
    assert (t - t.round()).abs().mean() > 0.1  # fractional, not whole pixels
    shift = (x - y)[:, 0, :, 120:136]  # the ramp moves by t where it samples clear of the reflected borders
    clear = t.abs() < 120
    assert clear.float().mean() > 0.98
    torch.testing.assert_close(shift[clear], t[clear].view(-1, 1, 1).expand_as(shift[clear]), rtol=0, atol=1e-3)


def test_ops_apply_with_probability_p():
    x = torch.tensor([[[[0.0, 1.0]]]]).expand(2000, 1, 1, 2)
    flipped = ada_augment(x, 0.3, _gen(), ops=("xflip",))[:, 0, 0, 0] == 1
    assert 0.27 < flipped.float().mean() < 0.33


def test_color_ops_have_adas_strengths():
    g = torch.rand(512, 3, generator=_gen(8)) - 0.5  # one colour per image, two pixels
    x = torch.stack([g, -g], dim=-1)[:, :, None, :] * 0.5  # (B, 3, 1, 2), mean 0 per image
    b = ada_augment(x, 1.0, _gen(), ops=("brightness",)) - x
    assert torch.allclose(b, b[:, :1, :1, :1].expand_as(b), atol=1e-6)
    assert 0.18 < b[:, 0, 0, 0].std() < 0.22  # N(0, 0.2^2)
    k = ada_augment(x, 1.0, _gen(), ops=("contrast",)) / x
    assert 0.45 < k[:, 0, 0, 0].log2().std() < 0.55  # 2^N(0, 0.5^2)

    def chroma(t):
        return (t - t.mean(dim=1, keepdim=True)).norm(dim=1)[:, 0, 0]

    s = chroma(ada_augment(x, 1.0, _gen(), ops=("saturation",))) / chroma(x)
    assert 0.9 < s.log2().std() < 1.1  # 2^N(0, 1)


def test_luma_flip_flips_half_of_the_images_it_is_applied_to():
    x = torch.rand(200, 1, 1, 1, generator=_gen(2)).expand(200, 3, 2, 2)  # greys
    y = ada_augment(x, 1.0, _gen(), ops=("lumaflip",))
    flipped = (y + x).abs().flatten(1).amax(dim=1) < 1e-6
    assert torch.equal(flipped, ~((y - x).abs().flatten(1).amax(dim=1) < 1e-6))  # each one or the other
    assert 0.4 < flipped.float().mean() < 0.6


def test_p0_passes_even_non_finite_pixels_through_untouched():
    x = _images(4)
    x[1, 0, 3, 3], x[2, 1, 0, 0] = float("nan"), float("inf")  # a warp or a colour matmul would spread these
    torch.testing.assert_close(ada_augment(x, torch.tensor(0.0), _gen()), x, rtol=0, atol=0, equal_nan=True)


# --------------------------------------------------------------------------- ADA colour matrices


def _colors(*rgb) -> torch.Tensor:
    """(N, 4) homogeneous colours."""
    return torch.tensor([[*c, 1.0] for c in rgb])


def _matrix(n=1, brightness=0.0, contrast=1.0, lumaflip=0.0, hue=0.0, saturation=1.0, pivot=None) -> torch.Tensor:
    def full(v):
        return torch.full((n,), float(v))

    return ada_color_matrix(
        full(brightness),
        full(contrast),
        full(lumaflip),
        full(hue),
        full(saturation),
        None if pivot is None else full(pivot),
    )


def _apply(mat: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
    return (mat[0] @ colors.T).T


RED = (1.0, -1.0, -1.0)


def test_color_matrix_identity_parameters_give_the_identity():
    torch.testing.assert_close(_matrix(3), torch.eye(4).expand(3, 4, 4), rtol=0, atol=1e-7)


def test_hue_rotation_by_a_third_turn_cycles_the_channels():
    m = _matrix(hue=2 * math.pi / 3)
    # about (1, 1, 1), a third of a turn sends r -> g -> b -> r: pure red becomes pure green
    torch.testing.assert_close(_apply(m, _colors(RED)), _colors((-1.0, 1.0, -1.0)), rtol=0, atol=1e-6)
    perm = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    torch.testing.assert_close(m[0, :3, :3], perm, rtol=0, atol=1e-6)


def test_hue_rotation_keeps_the_channel_mean_and_the_chroma_norm():
    c = _colors(*(torch.rand(20, 3, generator=_gen()) * 2 - 1).tolist())
    out = _apply(_matrix(hue=1.234), c)
    torch.testing.assert_close(out[:, :3].mean(1), c[:, :3].mean(1), rtol=0, atol=1e-6)
    chroma = c[:, :3] - c[:, :3].mean(1, keepdim=True)
    chroma_out = out[:, :3] - out[:, :3].mean(1, keepdim=True)
    torch.testing.assert_close(chroma_out.norm(dim=1), chroma.norm(dim=1), rtol=0, atol=1e-6)
    assert not torch.allclose(chroma_out, chroma, atol=1e-2)


def test_luma_flip_negates_grey_and_keeps_the_chroma():
    m = _matrix(lumaflip=1.0)
    grey = _colors((0.4, 0.4, 0.4))
    torch.testing.assert_close(_apply(m, grey), _colors((-0.4, -0.4, -0.4)), rtol=0, atol=1e-6)
    # red: luma -1/3 becomes +1/3, chroma (4/3, -2/3, -2/3) stays
    torch.testing.assert_close(_apply(m, _colors(RED)), _colors((5 / 3, -1 / 3, -1 / 3)), rtol=0, atol=1e-6)


def test_saturation_scales_the_chroma_about_grey():
    torch.testing.assert_close(_apply(_matrix(saturation=0.0), _colors(RED)), _colors((-1 / 3,) * 3), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        _apply(_matrix(saturation=2.0), _colors(RED)), _colors((7 / 3, -5 / 3, -5 / 3)), rtol=0, atol=1e-6
    )


def test_brightness_then_contrast_about_the_pivot():
    c = _colors((0.1, -0.2, 0.5))
    # brightness first: 2 (c + 0.5) about 0, and 0.25 + 2 (c + 0.5 - 0.25) about a pivot of 0.25
    torch.testing.assert_close(_apply(_matrix(brightness=0.5, contrast=2.0), c)[:, :3], 2 * (c[:, :3] + 0.5))
    torch.testing.assert_close(
        _apply(_matrix(brightness=0.5, contrast=2.0, pivot=0.25), c)[:, :3], 0.25 + 2 * (c[:, :3] + 0.25)
    )


def test_ada_contrast_keeps_the_image_mean():
    x = _images(8)
    y = ada_augment(x, 1.0, _gen(), ops=("contrast",))
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), rtol=0, atol=1e-5)
    assert not torch.allclose(y.std(dim=(1, 2, 3)), x.std(dim=(1, 2, 3)))


# --------------------------------------------------------------------------- DiffAugment values


def test_diff_color_on_grey_constant_images_only_adds_the_brightness():
    # saturation and contrast scale deviations from means, and a constant grey image has none
    x = torch.full((6, 3, 4, 4), 0.2)
    y = diff_augment(x, ("color",), _gen(3))
    brightness = torch.rand(6, generator=_gen(3)) - 0.5  # drawn first
    torch.testing.assert_close(y, 0.2 + brightness.view(6, 1, 1, 1).expand_as(x))


def test_diff_color_against_a_hand_computation():
    x = _images(3, 3, 2)
    y = diff_augment(x, ("color",), _gen(9))
    g = _gen(9)
    b, s, c = torch.rand(3, generator=g) - 0.5, torch.rand(3, generator=g) * 2, torch.rand(3, generator=g) + 0.5
    for i in range(3):
        want = x[i] + b[i]
        grey = want.mean(dim=0)  # per pixel, over r, g, b
        want = grey + s[i] * (want - grey)
        m = want.mean()
        want = m + c[i] * (want - m)
        torch.testing.assert_close(y[i], want)


def test_diff_translation_zero_fills_a_band_as_wide_as_the_shift():
    x = torch.ones(16, 3, 16, 16)
    y = diff_augment(x, ("translation",), _gen(2))
    g = _gen(2)
    ty = torch.randint(-2, 3, (16,), generator=g)  # rows first, up to round(16 / 8) = 2
    tx = torch.randint(-2, 3, (16,), generator=g)
    assert (ty != 0).any() and (tx != 0).any()
    for i in range(16):
        want = torch.zeros(16, 16)
        r, c = int(ty[i]), int(tx[i])
        want[max(r, 0) : 16 + min(r, 0), max(c, 0) : 16 + min(c, 0)] = 1
        assert torch.equal(y[i], want.expand(3, 16, 16))
    # content moves by the shift
    ramp = torch.arange(256.0).view(1, 1, 16, 16).expand(16, 3, 16, 16)
    y = diff_augment(ramp, ("translation",), _gen(2))
    for i in range(16):
        r, c = int(ty[i]), int(tx[i])
        inner = y[i, :, max(r, 0) : 16 + min(r, 0), max(c, 0) : 16 + min(c, 0)]
        assert torch.equal(inner, ramp[i, :, max(-r, 0) : 16 + min(-r, 0), max(-c, 0) : 16 + min(-c, 0)])


def test_diff_cutout_zeroes_a_half_size_square():
    x = torch.ones(32, 3, 16, 16)
    y = diff_augment(x, ("cutout",), _gen(6))
    g = _gen(6)
    cy = torch.randint(0, 17, (32,), generator=g)  # centres: rows, then columns, in 0..16 for an even square
    cx = torch.randint(0, 17, (32,), generator=g)
    zeros = (y == 0).all(dim=1).flatten(1).sum(dim=1)
    rows = torch.minimum(cy + 4, torch.tensor(16)) - torch.clamp(cy - 4, min=0)
    cols = torch.minimum(cx + 4, torch.tensor(16)) - torch.clamp(cx - 4, min=0)
    assert torch.equal(zeros, rows * cols)
    inside = (cy >= 4) & (cy <= 12) & (cx >= 4) & (cx <= 12)
    assert inside.any() and (~inside).any()
    assert (zeros[inside] == 64).all()  # (16 / 2)^2
    assert ((y == 0) | (y == 1)).all()


def test_cutout_mask_constructed():
    m = cutout_mask(16, 16, torch.tensor([4, -4, 12]), torch.tensor([4, 0, 12]), 8, 8)
    assert m.flatten(1).sum(1).tolist() == [64, 32, 16]
    assert m[0, 4:12, 4:12].all()


# --------------------------------------------------------------------------- the adaptive p


def test_adaptive_p_rises_by_the_step_when_d_overfits():
    ada = AdaptiveAugment(target=0.6, interval=4, speed_images=500_000)
    step = 32 * 4 / 500_000
    for k in range(1, 4):
        for _ in range(4):
            ada.accumulate(torch.rand(32, 1) + 0.1)  # all positive: r_t = 1 > 0.6
        ada.update(32)
        assert ada.p.item() == pytest.approx(k * step, rel=1e-5)
        assert ada.last_rt.item() == 1.0
        assert ada.sign_sum.item() == 0 and ada.count.item() == 0  # reset
    assert ada.p.dtype == torch.float32 and ada.p.dim() == 0


def test_adaptive_p_falls_but_not_below_zero_and_never_reaches_one():
    ada = AdaptiveAugment(interval=1, speed_images=100, p_init=0.05)
    ada.accumulate(-torch.rand(10) - 0.1)
    ada.update(2)
    assert ada.p.item() == pytest.approx(0.03)
    for _ in range(3):
        ada.accumulate(-torch.ones(10))
        ada.update(2)
    assert ada.p.item() == 0.0
    for _ in range(60):
        ada.accumulate(torch.ones(10))
        ada.update(2)
    assert 0.999 < ada.p.item() < 1.0
    assert ada.p.item() == pytest.approx(P_MAX)


def test_adaptive_p_stays_without_logits_or_at_the_target():
    ada = AdaptiveAugment(target=0.5, interval=1, speed_images=100, p_init=0.5)
    ada.update(10)
    assert ada.p.item() == 0.5 and ada.last_rt.item() == 0.0
    ada.accumulate(torch.tensor([1.0, 1.0, 1.0, -1.0]))  # r_t = 0.5: sign 0
    ada.update(10)
    assert ada.p.item() == 0.5 and ada.last_rt.item() == 0.5


def test_adaptive_state_dict_round_trip():
    ada = AdaptiveAugment(interval=1, speed_images=100)
    ada.accumulate(torch.ones(5))
    ada.update(10)
    ada.accumulate(torch.tensor([1.0, -1.0, -1.0]))
    state = ada.state_dict()
    other = AdaptiveAugment(interval=1, speed_images=100)
    other.load_state_dict(state)
    for k in ("p", "sign_sum", "count", "last_rt"):
        assert torch.equal(getattr(other, k), getattr(ada, k)), k
    ada.update(10)  # the saved state is a copy
    assert state["count"].item() == 3 and state["p"].item() == pytest.approx(0.1)
    other.update(10)
    assert torch.equal(other.p, ada.p)


def test_adaptive_reduce_hook_sums_over_processes():
    seen = []

    def doubled(t):  # two processes that saw the same logits
        seen.append(t.clone())
        return t * 2

    ada = AdaptiveAugment(target=0.6, interval=1, speed_images=100, reduce=doubled)
    ada.accumulate(torch.tensor([1.0, 1.0, 1.0, -1.0]))  # r_t = 0.5
    ada.update(10)
    assert torch.equal(seen[0], torch.tensor([2.0, 4.0]))
    assert ada.last_rt.item() == 0.5 and ada.last_count.item() == 8
    assert ada.p.item() == 0.0

    # another process whose reals all get negative logits: the sum, not this process alone, sets p
    ada = AdaptiveAugment(target=0.6, interval=1, speed_images=100, reduce=lambda t: t + torch.tensor([4.0, 4.0]))
    ada.accumulate(-torch.ones(4))  # alone, r_t = -1 would lower p
    ada.update(10)
    assert ada.last_rt.item() == 0.0 and ada.p.item() == 0.0
    ada.accumulate(torch.ones(4))  # with the other's +4: r_t = 1
    ada.update(10)
    assert ada.p.item() == pytest.approx(0.1)


def test_adaptive_augment_applies_its_p():
    x = _images(4)
    ada = AdaptiveAugment()
    assert torch.equal(ada(x, _gen()), x)
    ada.load_state_dict({**ada.state_dict(), "p": torch.tensor(0.8)})
    assert torch.equal(ada(x, _gen(3)), ada_augment(x, 0.8, _gen(3)))


# --------------------------------------------------------------------------- DAugment


def test_d_augment_kinds():
    x = _images(4)
    assert DAugment("none")(x) is x
    assert torch.equal(DAugment("diffaugment", ("cutout",))(x, _gen(1)), diff_augment(x, ("cutout",), _gen(1)))
    ada = AdaptiveAugment(p_init=0.5)
    assert torch.equal(DAugment("ada", ada=ada)(x, _gen(1)), ada_augment(x, 0.5, _gen(1)))
    with pytest.raises(ValueError, match="none, diffaugment, ada"):
        DAugment("dada")
    with pytest.raises(ValueError, match="AdaptiveAugment"):
        DAugment("ada")
    with pytest.raises(ValueError, match="color, translation, cutout"):
        DAugment("diffaugment", ("zoom",))


def test_names_match_the_config_vocabulary():
    from gankit.config.families import DIFFAUGMENT_POLICIES as CONFIG_POLICIES

    assert DIFFAUGMENT_POLICIES == CONFIG_POLICIES
    assert ADA_OPS == ADA_GEOMETRIC_OPS + ADA_COLOR_OPS and len(set(ADA_OPS)) == 11
