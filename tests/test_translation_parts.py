"""The pieces of image-to-image translation: nets, losses, image pool, paired data, image-quality metrics, tiles."""

from __future__ import annotations

import io
import logging
import math

import numpy as np
import pytest
import torch
from PIL import Image
from translation_data import write_pairs

from gankit import config as C
from gankit.data import BatchSampler, Dataset
from gankit.data.paired import halves, load_paired, load_translation
from gankit.errors import ConfigError, DataError
from gankit.infer.tiles import tile_starts, tiled_apply
from gankit.losses import cycle_consistency_loss, identity_loss, l1_loss
from gankit.metrics.image_quality import full_reference_metrics, psnr_per_image, ssim_per_image
from gankit.nets.patchgan import PatchDiscriminator, patch_layers_for, patch_receptive_field
from gankit.nets.resnet_gen import ResidualBlock, ResnetGenerator
from gankit.nets.unet import UNetGenerator
from gankit.tasks.image_pool import ImagePool


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- networks


def test_unet_shapes_depth_and_dropout():
    g = UNetGenerator(3, 3, 64, width=8)
    assert g.depth == 6  # down to 1x1
    assert g(torch.randn(2, 3, 64, 64)).shape == (2, 3, 64, 64)
    assert sum(isinstance(m, torch.nn.Dropout) for m in g.modules()) == 1  # depth - 5 at 64 px
    g256 = UNetGenerator(3, 3, 256, width=2)
    assert sum(isinstance(m, torch.nn.Dropout) for m in g256.modules()) == 3  # the paper's three CD512 layers
    shallow = UNetGenerator(1, 3, 32, width=4, depth=3)
    assert shallow(torch.randn(1, 1, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="multiple of 16"):
        UNetGenerator(3, 3, 24, depth=4)
    layer = UNetGenerator(3, 3, 32, width=4, norm="layer")  # GroupNorm(1, C): over channels and positions
    assert sum(isinstance(m, torch.nn.GroupNorm) and m.num_groups == 1 for m in layer.modules()) == 7
    assert layer(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_unet_decoder_sees_the_encoder_maps():
    """Every decoder step but the innermost takes its input concatenated with the encoder map of the same size."""
    g = UNetGenerator(3, 3, 32, width=4, max_channels=16)
    enc = [next(m for m in blk if isinstance(m, torch.nn.Conv2d)).out_channels for blk in g.down]
    dec = [next(m for m in blk if isinstance(m, torch.nn.ConvTranspose2d)).in_channels for blk in g.up]
    assert enc == [4, 8, 16, 16, 16]
    assert dec == [2 * c for c in enc[:-1]] + [enc[-1]]
    maps = []
    g.down[0].register_forward_hook(lambda m, i, o: maps.append(o))
    x = torch.randn(1, 3, 32, 32)
    base = g(x)
    g.down[0].register_forward_hook(lambda m, i, o: o * 0)  # cut the outermost skip (and the path below it)
    assert not torch.allclose(g(x), base)


@pytest.mark.parametrize("layers, field", [(1, 16), (2, 34), (3, 70), (4, 142)])
def test_patchgan_receptive_field(layers, field):
    assert patch_receptive_field(layers) == field
    d = PatchDiscriminator(1, width=2, layers=layers, norm="none")
    for m in d.modules():  # positive weights: every input pixel in an output's window moves it
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.constant_(m.weight, 0.1)
    x = torch.randn(1, 1, 256, 256, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    cols = (x.grad[0, 0].abs().sum(0) > 0).nonzero()
    assert rows.max() - rows.min() + 1 == field and cols.max() - cols.min() + 1 == field


def test_patch_depth_follows_the_papers_share_of_the_image():
    assert [patch_layers_for(r) for r in (64, 128, 256)] == [1, 2, 3]


def test_resnet_generator_and_block():
    g = ResnetGenerator(3, 3, width=8, blocks=2)
    assert g(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    block = ResidualBlock(4, "instance")
    for m in block.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.zeros_(m.weight)
            torch.nn.init.zeros_(m.bias)
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(block(x), x)  # x + F(x) with F = 0


@pytest.mark.parametrize("make", [lambda **k: ResnetGenerator(3, 3, 8, 1, **k),
                                  lambda **k: UNetGenerator(3, 3, 16, 8, depth=3, **k)])
def test_residual_output_starts_as_the_identity_and_learns(make):
    """tanh(atanh(0.999 x) + h) with h's layer at zero: the input comes back (0.999 x, +-1 finite); one SGD step
    moves the output (the zero layer gets a gradient), which stays finite and in (-1, 1)."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    x[0, :, :4] = 1.0  # white border: atanh(1) would be infinite without the 0.999
    G = make(residual=True)
    y = G(x)
    assert torch.allclose(y, 0.999 * x, atol=1e-6)
    opt = torch.optim.SGD(G.parameters(), lr=0.1)
    (y - 0.5).square().mean().backward()
    opt.step()
    y2 = G(x)
    assert not torch.allclose(y2, y, atol=1e-6) and y2.abs().max() < 1
    assert torch.isfinite(y2).all()
    ort = pytest.importorskip("onnxruntime")
    buf = io.BytesIO()  # exportable (atanh is written out: the ONNX exporter has no atanh)
    torch.onnx.export(G.eval(), (x,), buf, input_names=["input"], output_names=["image"], dynamo=False)
    got = ort.InferenceSession(buf.getvalue()).run(None, {"input": x.numpy()})[0]
    assert np.abs(got - G(x).detach().numpy()).max() < 1e-5
    with pytest.raises(ValueError, match="as many output channels"):
        ResnetGenerator(1, 3, 8, 1, residual=True)


# --------------------------------------------------------------------------- losses


def test_cycle_identity_and_l1_losses_by_hand():
    x = torch.tensor([[0.0, 1.0], [-1.0, 0.5]])
    y = torch.tensor([[0.5, 1.0], [1.0, -0.5]])
    # |0.5| + 0 + |2| + |-1| = 3.5 over 4 elements
    assert cycle_consistency_loss(x, y).item() == pytest.approx(0.875)
    assert identity_loss(y, x).item() == pytest.approx(0.875)
    assert l1_loss(y, x).item() == pytest.approx(0.875)
    assert cycle_consistency_loss(x, x).item() == 0.0


# --------------------------------------------------------------------------- image pool


def test_image_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(4, torch.Generator().manual_seed(0))
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: images pass through and are stored
    assert pool.count == 4
    fresh = torch.arange(100.0, 2100.0).view(2000, 1, 1, 1)
    out = pool.query(fresh)
    from_pool = out != fresh
    assert 850 < from_pool.sum().item() < 1150  # about half come from the pool
    assert (out[from_pool] < fresh[from_pool]).all()  # and those were stored earlier
    assert torch.equal(ImagePool(0, torch.Generator()).query(fresh), fresh)


def test_image_pool_state_round_trip():
    gen = torch.Generator().manual_seed(1)
    pool = ImagePool(3, gen)
    pool.query(torch.randn(5, 2, 4, 4))
    tensors, state = pool.state("p")
    saved_gen = gen.get_state()
    other_gen = torch.Generator()
    other_gen.set_state(saved_gen)
    other = ImagePool(3, other_gen)
    other.load("p", tensors, state)
    batch = torch.randn(6, 2, 4, 4)
    assert torch.equal(pool.query(batch), other.query(batch))


# --------------------------------------------------------------------------- data


def test_paired_crop_and_flip_keep_pairs_aligned():
    a = torch.randint(0, 200, (32, 3, 16, 16), dtype=torch.uint8)
    b = a + 40  # B is A shifted in value: aligned pixels differ by exactly 40 / 255 * 2
    ds = Dataset("pairs", {"A": a, "B": b})
    sampler = BatchSampler(ds, 16, torch.device("cpu"), seed=3, hflip=True, crop_padding=4)
    torch.manual_seed(0)
    for _ in range(4):
        batch = sampler.next()
        assert torch.allclose(batch["B"] - batch["A"], torch.full_like(batch["A"], 80 / 255), atol=1e-5)
    plain = BatchSampler(Dataset("pairs", {"A": a, "B": b}), 16, torch.device("cpu"), seed=3)
    batch = plain.next()
    assert not torch.equal(sampler.next()["A"], batch["A"])  # the augmentation did change the images


def test_paired_folder_layouts_bad_files_and_missing_partners(tmp_path, caplog):
    root = write_pairs(tmp_path / "pairs", n=12, test=4)
    (root / "A" / "lonely.png").write_bytes((root / "A" / "000.png").read_bytes())
    (root / "B" / "005.png").write_bytes(b"not a png")
    cfg = C.DataConfig(name="paired-folder", path=str(root), resolution=16, channels=3)
    with caplog.at_level(logging.WARNING, logger="gankit.data"):
        ds = load_paired(cfg, "train")
    assert len(ds) == 11 and "005" not in ds.ids  # the pair with a broken half is dropped whole
    assert "lonely" in caplog.text and "005.png" in caplog.text
    assert torch.equal(ds.fields["B"][0], ds.fields["A"][0] + 128)
    assert len(load_paired(cfg, "test")) == 4
    swapped = load_paired(C.DataConfig(name="paired-folder", path=str(root), resolution=16, channels=3,
                                       direction="b2a"), "test")
    assert torch.equal(swapped.fields["A"], load_paired(cfg, "test").fields["B"])


def test_side_by_side_layout(tmp_path):
    folder = tmp_path / "ab" / "train"
    folder.mkdir(parents=True)
    for i in range(3):
        left = np.full((8, 8, 3), 10 * i, np.uint8)
        Image.fromarray(np.concatenate([left, 255 - left], axis=1)).save(folder / f"{i}.jpg", quality=100)
    ds = load_paired(C.DataConfig(name="paired-folder", path=str(tmp_path / "ab"), resolution=8, channels=3), "train")
    assert len(ds) == 3
    assert (ds.fields["A"][1].float().mean() - 10).abs() < 2 and (ds.fields["B"][1].float().mean() - 245).abs() < 2


def test_unpaired_folder_and_unpaired_halves(tmp_path):
    root = tmp_path / "u"
    write_pairs(root, n=10)
    for extra in range(3):  # B has more images than A: nothing is matched
        (root / "B" / f"x{extra}.png").write_bytes((root / "B" / "000.png").read_bytes())
    data = load_translation(C.DataConfig(name="unpaired-folder", path=str(root), resolution=16, channels=3))
    assert data.pairs is None and len(data.a) == 10 and len(data.b) == 13
    paired = load_translation(C.DataConfig(name="paired-folder", path=str(root), resolution=16, channels=3,
                                           unpaired_halves=True))
    assert paired.pairs is None and len(paired.a) + len(paired.b) == 10
    side_a, side_b = halves([f"{i}-{j}" for i in range(6) for j in range(3)], group=lambda s: s.split("-")[0])
    groups_a = {k // 3 for k in side_a}
    assert groups_a.isdisjoint({k // 3 for k in side_b}) and len(side_a) == 9  # whole groups to one side


def test_missing_and_empty_folders_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_paired(C.DataConfig(name="paired-folder", path=str(tmp_path / "nope"), resolution=16), "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no train pairs"):
        load_paired(C.DataConfig(name="paired-folder", path=str(tmp_path / "empty"), resolution=16), "train")


def test_translation_configs_are_checked():
    base = {"task": "pix2pix", "data": {"name": "emoji-pairs", "resolution": 64, "channels": 3}}
    C.from_dict(base)
    with pytest.raises(ConfigError, match="unknown config key model.arch for task pix2pix"):
        C.from_dict({**base, "model": {"arch": "dcgan"}})
    with pytest.raises(ConfigError, match="not data for task pix2pix"):
        C.from_dict({**base, "data": {"name": "mnist"}})
    with pytest.raises(ConfigError, match="pix2pix needs them"):
        C.from_dict({**base, "data": {**base["data"], "unpaired_halves": True}})
    with pytest.raises(ConfigError, match="a unet of depth 5 needs a multiple of 32"):
        C.from_dict({**base, "data": {**base["data"], "resolution": 48}})
    with pytest.raises(ConfigError, match="task: 'pix3pix' is not one of"):
        C.from_dict({**base, "task": "pix3pix"})
    with pytest.raises(ConfigError, match="d_conditional=true needs"):
        C.from_dict({"task": "cyclegan", "data": base["data"], "model": {"d_conditional": True}})
    with pytest.raises(ConfigError, match="not data for task gan"):
        C.from_dict({"data": {"name": "emoji-pairs"}})


# --------------------------------------------------------------------------- metrics


def test_psnr_and_l1_by_hand():
    a = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    b = a.clone()
    b[0, 0, :2, :] = 255  # 32 of 256 pixels off by 1.0: MSE = 1/8, PSNR = 10 log10 8
    assert psnr_per_image(b, a).item() == pytest.approx(10 * math.log10(8))
    out = full_reference_metrics(b, a)
    assert out["l1"] == pytest.approx(1 / 8) and out["psnr"] == pytest.approx(10 * math.log10(8))
    assert psnr_per_image(a, a).item() == 100.0


def test_ssim_matches_scikit_image():
    """Against scikit-image 0.26.0: structural_similarity(a/255, b/255, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1.0, channel_axis=0) = 0.9582265512266522 on these images."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 20, 24), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, (3, 20, 24)), 0, 255).astype(np.uint8)
    got = ssim_per_image(torch.from_numpy(b)[None], torch.from_numpy(a)[None]).item()
    assert got == pytest.approx(0.9582265512266522, abs=1e-6)
    same = torch.from_numpy(a)[None]
    assert ssim_per_image(same, same).item() == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- tiles


def test_tiles_cover_the_image_and_a_pointwise_map_is_exact():
    assert tile_starts(100, 32, 8) == [0, 24, 48, 68]
    assert tile_starts(20, 32, 8) == [0]
    image = torch.randn(1, 3, 70, 45)
    out = tiled_apply(lambda t: 2 * t + 1, image, tile=16, overlap=4)
    assert torch.allclose(out, 2 * image + 1, atol=1e-6)
    up = tiled_apply(lambda t: t.repeat_interleave(2, 2).repeat_interleave(2, 3), image, tile=16, overlap=4, scale=2)
    assert up.shape == (1, 3, 140, 90) and torch.allclose(up[:, :, ::2, ::2], image, atol=1e-6)
    small = tiled_apply(lambda t: t, torch.randn(1, 1, 5, 7), tile=16, overlap=4)
    assert small.shape == (1, 1, 5, 7)
