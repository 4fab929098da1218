"""Using trained models: interpolation (slerp by hand, walks, GIF/PNG), export (ONNX via onnxruntime and
TorchScript against PyTorch, dynamic batch), the zoo (pack, index hashes, --model on the commands)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image
from use_runs import train_tiny

from gankit.cli import main
from gankit.errors import CheckpointError, GankitError
from gankit.infer import load_model
from gankit.infer import zoo as Z
from gankit.infer.interpolate import interpolate, leg_rows, lerp, slerp, walk

SHARED_CACHE = os.environ.get("GANKIT_CACHE")  # where MNIST is, for the tests that need it


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def runs(tiny_runs):
    return tiny_runs


# --------------------------------------------------------------------------- interpolation formulas


def test_slerp_by_hand():
    """a = (1, 0), b = (0, 2): theta = pi/2, so slerp(t) = cos(t pi/2) a + sin(t pi/2) b."""
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    got = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    r = math.sqrt(0.5)
    assert torch.allclose(got, torch.tensor([[1.0, 0.0], [r, 2 * r], [0.0, 2.0]]), atol=1e-6)
    # t = 1/3 at 60 degrees: sin(40)/sin(60) a + sin(20)/sin(60) b
    c = torch.tensor([0.5, math.sqrt(3) / 2])
    third = slerp(a, c, torch.tensor([1 / 3]))[0]
    s = math.sin(math.radians(60))
    want = math.sin(math.radians(40)) / s * a + math.sin(math.radians(20)) / s * c
    assert torch.allclose(third, want, atol=1e-6)
    assert abs(float(third.norm()) - 1.0) < 1e-6  # unit vectors stay on the unit circle
    # (anti)parallel vectors fall back to the straight line
    assert torch.allclose(slerp(a, 3 * a, torch.tensor([0.5]))[0], lerp(a, 3 * a, torch.tensor([0.5]))[0])


def test_slerp_keeps_the_norm_of_gaussian_draws_where_lerp_loses_it():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(512, generator=g), torch.randn(512, generator=g)
    mid_s, mid_l = slerp(a, b, torch.tensor([0.5]))[0], lerp(a, b, torch.tensor([0.5]))[0]
    assert abs(mid_s.norm() / a.norm() - 1) < 0.05
    assert abs(mid_l.norm() / a.norm() - math.sqrt(0.5)) < 0.05


def test_walk_shares_ends_and_loops():
    pts = torch.eye(3)
    w = walk(pts, 3, "lerp")
    assert w.shape == (5, 3) and torch.equal(w[0], pts[0]) and torch.equal(w[2], pts[1]) and torch.equal(w[4], pts[2])
    looped = walk(pts, 3, "lerp", loop=True)
    assert looped.shape == (6, 3) and torch.allclose(looped[5], (pts[2] + pts[0]) / 2)
    rows = leg_rows(looped, 3, loop=True)  # three legs of three frames, each with both ends
    assert rows.shape == (9, 3) and torch.equal(rows[2], rows[3]) and torch.equal(rows[8], pts[0])
    with pytest.raises(GankitError, match="at least 2"):
        walk(pts, 1)


# --------------------------------------------------------------------------- interpolation on runs


def test_interpolate_ends_at_the_seeds_samples(runs):
    """The walk's ends are the images each seed gives alone; a morphing class walk starts and ends in its classes."""
    loaded = load_model(str(runs["dcgan"]))
    frames = interpolate(loaded, [3, 9], steps=5)
    alone = [interpolate(loaded, [s, s], steps=2)[0] for s in (3, 9)]
    assert frames.shape[0] == 5 and frames.dtype == torch.uint8
    assert torch.equal(frames[0], alone[0]) and torch.equal(frames[-1], alone[1])
    assert not torch.equal(frames[0], frames[-1])
    cond = load_model(str(runs["cgan"]))
    morph = interpolate(cond, [3, 3], steps=4, classes=[1, 7])
    fixed = [interpolate(cond, [3, 3], steps=2, classes=[c])[0] for c in (1, 7)]
    assert torch.equal(morph[0], fixed[0]) and torch.equal(morph[-1], fixed[1])
    with pytest.raises(GankitError, match="conditional"):
        interpolate(cond, [1, 2])
    with pytest.raises(GankitError, match="one per seed"):
        interpolate(cond, [1, 2, 3], classes=[1, 2])


def test_interpolate_in_w_moves_in_straight_lines(runs):
    sg2 = load_model(str(runs["sg2"]))
    frames = interpolate(sg2, [1, 2], steps=3, space="w", classes=[4])
    assert frames.shape == (3, 1, 8, 8)
    with pytest.raises(GankitError, match="StyleGAN"):
        interpolate(load_model(str(runs["dcgan"])), [1, 2], space="w")


def test_gankit_interpolate_writes_gif_and_grid(runs, tmp_path, capsys):
    gif, png = tmp_path / "walk.gif", tmp_path / "walk.png"
    assert main(["interpolate", "--run", str(runs["cgan"]), "--seeds", "1,2,3", "--steps", "4", "--classes",
                 "0,5,9", "--loop", "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 9 and im.info["loop"] == 0
    assert main(["interpolate", "--run", str(runs["dcgan"]), "--seeds", "1,2,3", "--steps", "4", "--out",
                 str(png)]) == 0
    with Image.open(png) as im:  # 2 legs of 4 frames: 2 rows, 4 columns of 8 px images (+2 px padding), upscaled
        assert im.size[0] / im.size[1] == pytest.approx((4 * 10 + 2) / (2 * 10 + 2))
    capsys.readouterr()
    assert main(["interpolate", "--run", str(runs["dcgan"]), "--seeds", "1", "--out", str(gif)]) == 2
    assert "at least two seeds" in capsys.readouterr().err
    assert main(["interpolate", "--run", str(runs["pix2pix"]), "--out", str(gif)]) == 2
    assert "translate" in capsys.readouterr().err
    assert main(["interpolate", "--run", str(runs["dcgan"]), "--out", str(tmp_path / "w.jpg")]) == 2
    assert ".gif" in capsys.readouterr().err


# --------------------------------------------------------------------------- export


@pytest.mark.parametrize("name, fmt", [("dcgan", "onnx"), ("cgan", "onnx"), ("cgan", "torchscript"), ("sg2", "onnx"),
                                       ("pix2pix", "onnx"), ("sr", "onnx"), ("sr", "torchscript")])
def test_export_matches_pytorch_at_another_batch_size(runs, tmp_path, name, fmt, capsys):
    """gankit checks every export itself; here it is checked again, independently, on a batch of 7."""
    pytest.importorskip("onnxruntime")
    from gankit.infer.export import export_module

    out = tmp_path / ("g.onnx" if fmt == "onnx" else "g.pt")
    assert main(["export", "--run", str(runs[name]), "--out", str(out)]) == 0
    assert "max |diff|" in capsys.readouterr().out
    module, inputs, names, _ = export_module(load_model(str(runs[name])))
    x = inputs(7, 8)
    with torch.no_grad():
        want = module(*x).numpy()
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == names
        got = session.run(None, {n: t.numpy() for n, t in zip(names, x)})[0]
    else:
        got = torch.jit.load(str(out))(*x).detach().numpy()
    assert got.shape == want.shape and got.shape[0] == 7
    assert np.abs(got - want).max() < 1e-3
    if name == "sr":
        assert got.shape[-2:] == (2 * x[0].shape[-2], 2 * x[0].shape[-1])  # any input size, x2


def test_export_errors_are_one_line(runs, tmp_path, capsys):
    assert main(["export", "--run", str(runs["dcgan"]), "--out", str(tmp_path / "g.bin")]) == 2
    assert "--format" in capsys.readouterr().err
    assert main(["export", "--run", str(runs["pix2pix"]), "--psi", "0.5", "--out", str(tmp_path / "g.onnx")]) == 2
    assert "sample from noise" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing half-written


# --------------------------------------------------------------------------- the zoo


def test_zoo_pack_verify_and_use(runs, tmp_path, monkeypatch, capsys):
    """A packed model samples the same images as its run (bf16 weights: within rounding), its files are checked
    against the index, and every --run command takes --model."""
    zoo = tmp_path / "zoo"
    monkeypatch.setattr(Z, "ZOO_DIR", zoo)
    card = tmp_path / "card.md"
    card.write_text("# cgan test\n")
    assert main(["zoo", "pack", "--run", str(runs["cgan"]), "--name", "cgan-test", "--card", str(card),
                 "--dtype", "fp32"]) == 0
    assert main(["zoo", "pack", "--run", str(runs["sg2"]), "--name", "sg2-test", "--card", str(card)]) == 0
    capsys.readouterr()
    assert main(["zoo"]) == 0
    listing = capsys.readouterr().out
    assert "cgan-test" in listing and "sg2-test" in listing
    index = json.loads((zoo / "index.json").read_text())
    assert set(index["cgan-test"]["files"]) == {"state.json", "tensors.safetensors", "card.md"}
    # fp32: exactly the run's EMA generator
    a, b = tmp_path / "run.npy", tmp_path / "zoo.npy"
    assert main(["sample", "--run", str(runs["cgan"]), "--n", "8", "--out", str(a)]) == 0
    assert main(["sample", "--model", "cgan-test", "--n", "8", "--out", str(b)]) == 0
    assert np.array_equal(np.load(a), np.load(b))
    for cmd in (["interpolate", "--seeds", "1,2", "--steps", "3", "--class", "2", "--out", str(tmp_path / "w.gif")],
                ["export", "--out", str(tmp_path / "g.pt")]):
        assert main([*cmd, "--model", "cgan-test"]) == 0
    assert main(["mix", "--model", "sg2-test", "--rows", "1,2", "--cols", "3", "--class", "1", "--out",
                 str(tmp_path / "mix.png")]) == 0
    capsys.readouterr()
    assert main(["sample", "--model", "cgan-test", "--no-ema", "--out", str(a)]) == 2
    assert "EMA generator only" in capsys.readouterr().err
    assert main(["sample", "--model", "nope", "--out", str(a)]) == 2
    assert "cgan-test" in capsys.readouterr().err  # names what there is
    # a damaged file is caught by the index before anything is loaded
    weights = zoo / "cgan-test" / "tensors.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its SHA-256"):
        Z.model_dir("cgan-test", zoo)
    assert main(["sample", "--model", "cgan-test", "--out", str(a)]) == 2


def test_shipped_zoo_models_load_and_match_their_index():
    """Every model in the installed zoo verifies, loads, and matches its index entry; the package stays small."""
    models = Z.list_models()
    assert {"dcgan-mnist", "cgan-mnist", "toy-ring", "sr-emoji-x4-psnr"} <= set(models)
    for name, entry in models.items():
        loaded = load_model(str(Z.model_dir(name)))
        assert loaded.step == entry["step"] and loaded.family == entry["family"]
        assert (Z.model_dir(name) / "card.md").read_text().startswith(f"# {name}")
    assert Z.size_bytes() < 10e6


def _digit_probabilities(npy) -> np.ndarray:
    from gankit.metrics.features import get_extractor

    images = torch.from_numpy(np.load(npy)).permute(0, 3, 1, 2).contiguous()
    return get_extractor("mnist-classifier").features(images)[1]


def test_zoo_models_draw_what_their_cards_say(tmp_path, capsys):
    """Offline, from the package alone: dcgan-mnist draws digits of every class that the shipped MNIST classifier
    reads with confidence; cgan-mnist draws the class asked for; toy-ring's points lie on its ring."""
    out = tmp_path / "d.npy"
    assert main(["sample", "--model", "dcgan-mnist", "--n", "300", "--out", str(out)]) == 0
    p = _digit_probabilities(out)
    assert p.max(1).mean() > 0.8 and len(set(p.argmax(1).tolist())) == 10  # 0.887 as shipped
    assert main(["sample", "--model", "cgan-mnist", "--class", "7", "--n", "100", "--out", str(out)]) == 0
    assert (_digit_probabilities(out).argmax(1) == 7).mean() > 0.9
    assert main(["sample", "--model", "toy-ring", "--n", "500", "--format", "npy", "--out", str(out)]) == 0
    radius = np.linalg.norm(np.load(out), axis=1)
    assert np.median(np.abs(radius - 1)) < 0.05
    assert main(["zoo", "show", "cgan-mnist"]) == 0
    assert "Reproduce" in capsys.readouterr().out
    gif = tmp_path / "walk.gif"
    assert main(["interpolate", "--model", "dcgan-mnist", "--seeds", "1,7,42", "--steps", "6", "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 11


def test_zoo_sr_model_beats_bicubic_on_a_photograph(tmp_path):
    """Offline, from the package alone: ``gankit upscale --model sr-emoji-x4-psnr`` on a photograph it never saw
    (scikit-image's astronaut, 256 px centre crop, LR made as in training) beats bicubic upscaling in PSNR-Y."""
    skimage_data = pytest.importorskip("skimage.data", reason="the test photograph ships with scikit-image")
    from gankit.data import to_uint8
    from gankit.data.sr import bicubic_upscale
    from gankit.metrics.image_quality import sr_metrics
    from gankit.tasks.sr import degraded_test_inputs

    hr = torch.from_numpy(skimage_data.astronaut()[128:384, 128:384].copy()).permute(2, 0, 1)[None].contiguous()
    lr = degraded_test_inputs(hr, 4)
    Image.fromarray(to_uint8(lr)[0].permute(1, 2, 0).numpy()).save(tmp_path / "lr.png")
    assert main(["upscale", "--model", "sr-emoji-x4-psnr", "--input", str(tmp_path / "lr.png"),
                 "--out", str(tmp_path / "up")]) == 0
    with Image.open(tmp_path / "up" / "lr.png") as im:
        out = torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1)[None]
    model = sr_metrics(out, hr, 4)["psnr_y"]
    bicubic = sr_metrics(to_uint8(bicubic_upscale(lr, 4)), hr, 4)["psnr_y"]
    assert model > bicubic + 0.5, (model, bicubic)  # as shipped: 26.48 against 25.10 dB


# --------------------------------------------------------------------------- discriminator scoring


def test_roc_auc_by_hand():
    from gankit.infer.score import roc_auc

    # pairs (pos > neg): 3 > 1, 3 > 2, 2 = 2 (half), 2 > 1 -> 3.5 of 4
    assert roc_auc(torch.tensor([3.0, 2.0]), torch.tensor([1.0, 2.0])) == pytest.approx(0.875)
    assert roc_auc(torch.tensor([0.0]), torch.tensor([1.0])) == 0.0
    assert roc_auc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """The digits DCGAN trained for 300 steps (about 15 s): its D has learned what a digit looks like."""
    return train_tiny("dcgan-digits", tmp_path_factory.mktemp("digits") / "run", ["train.batch_size=64"], steps=300)


def test_score_ranks_real_digits_above_noise_and_blur(digits_run, tmp_path, capsys):
    from sklearn.datasets import load_digits

    from gankit.infer.score import load_discriminator, roc_auc, score_images

    real = torch.from_numpy(load_digits().images[:400] * (255 / 16)).round().to(torch.uint8)[:, None]
    g = torch.Generator().manual_seed(0)
    noise = (torch.rand(real.shape, generator=g) * 255).to(torch.uint8)
    blurred = torch.nn.functional.avg_pool2d(real.float(), 3, 1, 1).round().to(torch.uint8)
    disc = load_discriminator(str(digits_run))
    s_real, s_noise, s_blur = disc.scores(real), disc.scores(noise), disc.scores(blurred)
    assert roc_auc(s_real, s_noise) > 0.95
    assert roc_auc(s_real, s_blur) > 0.6  # 0.66 here: blur at 8 px is subtle to a D this young
    # the command on a folder: a file per picture, ranked into a CSV, unreadable files skipped by name
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(real[i, 0].numpy()).save(folder / f"real{i}.png")
        Image.fromarray(noise[i, 0].numpy()).save(folder / f"noise{i}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "ranked.csv"
    assert main(["score", "--run", str(digits_run), "--input", str(folder), "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "rank,name,score" and len(rows) == 11
    top = [r.split(",")[1] for r in rows[1:6]]
    assert sum(name.startswith("real") for name in top) >= 4
    assert score_images(str(digits_run), str(folder))[0][1] >= score_images(str(digits_run), str(folder))[-1][1]


def test_d_filter_keeps_what_d_prefers(digits_run, runs, tmp_path, capsys):
    from gankit.infer.sample import sample_outputs
    from gankit.infer.score import d_filtered_outputs, load_discriminator

    loaded, disc = load_model(str(digits_run)), load_discriminator(str(digits_run))
    plain, _ = sample_outputs(loaded, 64, seed=1)
    kept, _ = d_filtered_outputs(loaded, disc, 64, 0.25, seed=1)
    assert kept.shape == plain.shape
    assert disc.score_outputs(kept).min() >= torch.quantile(disc.score_outputs(plain), 0.5)
    # conditional: the classes stay balanced
    cond, cdisc = load_model(str(runs["cgan"])), load_discriminator(str(runs["cgan"]))
    _, labels = d_filtered_outputs(cond, cdisc, 20, 0.5, seed=0)
    assert torch.equal(torch.bincount(labels, minlength=10), torch.full((10,), 2))
    assert main(["sample", "--run", str(digits_run), "--d-filter", "0.5", "--n", "8", "--out",
                 str(tmp_path / "f.png")]) == 0
    assert "best 8 of 16" in capsys.readouterr().out
    for bad, message in ((["--d-filter", "0"], "(0, 1]"), (["--d-filter", "1.5"], "(0, 1]")):
        assert main(["sample", "--run", str(digits_run), *bad, "--out", str(tmp_path / "g.png")]) == 2
        assert message in capsys.readouterr().err
    assert main(["score", "--run", str(runs["pix2pix"]), "--input", "digits"]) == 2
    assert "gan run" in capsys.readouterr().err


# --------------------------------------------------------------------------- one truncation knob


def test_psi_scales_z_for_generators_without_w(runs):
    """psi = 0.5 on a DCGAN is G(z / 2); psi = 0 gives G(0) for every draw; the export freezes the same psi in."""
    from gankit.infer.export import export_module
    from gankit.infer.sample import sample_outputs
    from gankit.sampling import generate

    loaded = load_model(str(runs["dcgan"]))
    half, _ = sample_outputs(loaded, 6, seed=2, psi=0.5)
    z = loaded.net.latent.sample(6, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(half, generate(loaded.net, z * 0.5), atol=1e-6)
    zero, _ = sample_outputs(loaded, 4, seed=3, psi=0.0)
    assert torch.allclose(zero, zero[:1].expand_as(zero), atol=1e-6)
    module, inputs, _, _ = export_module(loaded, psi=0.5)
    (zz,) = inputs(6)
    with torch.no_grad():
        assert torch.allclose(module(zz), generate(loaded.net, zz * 0.5), atol=1e-5)


def test_bench_use_end_to_end_on_digits(digits_run, tmp_path):
    """The three measurements on the digits run, small: D tells real from noise, tables are written, psi 0 has
    no diversity (recall near 0) while psi 1 has some."""
    from gankit.bench.use import run_use_benchmark

    result = run_use_benchmark(str(digits_run), tmp_path / "b", n=300, psis=(0.0, 1.0), keeps=(1.0, 0.5),
                               extractor="mnist-classifier")
    assert result["dscore"]["auc_real_vs_noise"] > 0.95
    assert set(result["dfilter"]) == {"1", "0.5"}
    assert result["truncation"]["0"]["recall"] < result["truncation"]["1"]["recall"]
    md = (tmp_path / "b" / "results.md").read_text()
    assert "uniform noise" in md and "| psi |" in md


# --------------------------------------------------------------------------- synthetic data


def test_synth_writes_a_labelled_folder_that_gankit_reads(runs, tmp_path, capsys):
    from gankit.data.folder import load_image_folder

    out = tmp_path / "synth"
    assert main(["synth", "--run", str(runs["cgan"]), "--n-per-class", "3", "--out", str(out)]) == 0
    images, labels, names = load_image_folder(out, 8, 1, cache=False)
    assert len(images) == 30 and names == [str(c) for c in range(10)]
    assert torch.equal(torch.bincount(labels), torch.full((10,), 3))
    record = json.loads((out / "synth.json").read_text())
    assert record["n"] == 30 and record["classes"] == names
    # class c's images do not depend on how many were asked for
    more = tmp_path / "more.npz"
    assert main(["synth", "--run", str(runs["cgan"]), "--n-per-class", "5", "--format", "npz", "--out",
                 str(more)]) == 0
    arr = np.load(more / "synth.npz")
    assert arr["images"].shape == (50, 8, 8, 1) and np.array_equal(arr["labels"][:5], np.zeros(5))
    first = np.asarray(Image.open(out / "0" / "000000.png"))
    assert np.array_equal(arr["images"][0, :, :, 0], first)
    capsys.readouterr()
    assert main(["synth", "--run", str(runs["cgan"]), "--n-per-class", "3", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err


@pytest.mark.needs_mnist
def test_bench_augment_small(runs, tmp_path, monkeypatch):
    """The protocol end to end, cut down (one size, one seed, 60 steps, 2,000 test images): a classifier on 10 real
    MNIST images per class learns (far above chance); the table has its rows. The digits CGAN stands in for
    cgan-mnist."""
    from gankit.bench.augment import run_augment_benchmark, subset_per_class
    from gankit.errors import DataError

    if SHARED_CACHE is None:
        monkeypatch.delenv("GANKIT_CACHE")
    else:
        monkeypatch.setenv("GANKIT_CACHE", SHARED_CACHE)
    try:
        result = run_augment_benchmark(str(runs["cgan"]), tmp_path / "a", sizes=(10,), seeds=(0,), synth_per_class=20,
                                       steps=60, test_images=2000)
    except DataError as exc:
        pytest.skip(f"MNIST not available: {exc}")
    rows = result["rows"]
    assert rows["10 real/class"]["mean"] > 0.5
    assert set(rows) == {"synthetic only", "10 real/class", "10 real/class + synthetic"}
    assert "| 10 |" in (tmp_path / "a" / "results.md").read_text()
    idx = subset_per_class(torch.tensor([0, 1, 0, 1, 1]), 2, 0)
    assert sorted(idx[:2].tolist()) == [0, 2] and len(idx) == 4
    with pytest.raises(GankitError, match="10-class"):
        run_augment_benchmark(str(runs["dcgan"]), tmp_path / "b", sizes=(10,), seeds=(0,))
