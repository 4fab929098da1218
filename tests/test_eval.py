"""``gankit eval``: sources, the real-features cache, the metrics through the CLI, and sanity on real MNIST."""

import json

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.data import image_sources as src
from gankit.errors import DataError
from gankit.metrics import feature_eval as fe


@pytest.fixture(autouse=True)
def _stats_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(fe, "cache_dir", lambda: tmp_path / "cache")


def _mnist_test():
    from gankit.data import builtin

    try:
        return builtin.load_mnist("test")[0]
    except DataError as exc:
        pytest.skip(f"MNIST not available: {exc}")


@pytest.mark.needs_mnist
def test_mnist_halves_are_close_and_noise_is_far():
    # random disjoint halves: the test split's first and last 5,000 come from different writers (FID ~2.7 apart)
    images = _mnist_test()[torch.randperm(10000, generator=torch.Generator().manual_seed(0))]
    a = src.ImageSet(images[:2000], "test[perm[:2000]]", "a")
    b = src.ImageSet(images[5000:7000], "test[perm[5000:7000]]", "b")
    noise = src.ImageSet(torch.randint(0, 256, (2000, 1, 28, 28), generator=torch.Generator().manual_seed(0),
                                      dtype=torch.uint8), "noise", "noise")
    same = fe.evaluate(a, b, ["fid", "kid", "pr", "class"], "mnist-classifier")
    far = fe.evaluate(noise, b, ["fid", "kid", "pr"], "mnist-classifier")
    assert same["fid"] < 1.5 and far["fid"] > 100 * same["fid"], (same["fid"], far["fid"])
    assert far["kid"] > 100 * abs(same["kid"])
    assert same["precision"] > 0.85 and same["recall"] > 0.85 and far["precision"] < 0.05
    assert same["classes_covered"] == 10 and same["class_kl"] < 0.02
    p = same["protocol"]
    assert p["n_real"] == p["n_fake"] == 2000 and len(p["weights_sha256"]) == 64 and p["seed"] == 0
    assert p["extractor"]["name"] == "mnist-classifier" and "resize" in json.dumps(p["extractor"])


@pytest.mark.needs_mnist
def test_cli_fake_file_against_builtin_split_uses_the_cache(tmp_path, capsys):
    images = _mnist_test()
    fake = tmp_path / "fake.npz"
    np.savez(fake, images=images[:300, 0].numpy())  # (N, H, W) uint8
    argv = ["eval", "--fake", str(fake), "--real", "mnist:test", "--n", "300", "--json",
            "--metrics", "fid,kid,is,pr,dc,class"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert {"fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "density", "coverage", "class_kl",
            "classes_covered", "protocol"} <= set(first)
    assert first["protocol"]["real_features_from_cache"] is False
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["protocol"]["real_features_from_cache"] is True
    assert second["fid"] == first["fid"]
    assert 5 < first["is"] <= 10  # real digits: confident, balanced predictions


def test_cli_eval_of_a_run_appends_to_its_metrics_jsonl(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "dcgan-digits", "--out", str(run), "--steps", "10", "--quiet",
                 "--set", "train.batch_size=32", "--set", "train.tensorboard=false"]) == 0
    capsys.readouterr()
    argv = ["eval", "--run", str(run), "--n", "200", "--extractor", "mnist-classifier",
            "--metrics", "fid,kid,class", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 10 and result["protocol"]["real"].startswith("digits")
    assert result["protocol"]["resolution"] == [1, 8, 8]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["fid"] == result["fid"]
    assert main(argv[:-1]) == 0  # the table form
    table = capsys.readouterr().out
    assert "fid" in table and "mnist-classifier" in table
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2


def test_eval_refuses_bad_input_with_one_line(tmp_path, capsys):
    bad = [
        ["eval", "--fake", str(tmp_path / "missing.npz"), "--real", "digits"],
        ["eval", "--fake", str(tmp_path), "--metrics", "fid"],
        ["eval", "--fake", str(tmp_path / "x.npz"), "--real", "digits", "--metrics", "fid,best"],
    ]
    for argv in bad:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("gankit: error:"), err
    floats = tmp_path / "f.npy"
    np.save(floats, np.zeros((4, 8, 8), np.float32))
    assert main(["eval", "--fake", str(floats), "--real", "digits"]) == 2
    assert "uint8" in capsys.readouterr().err


def test_load_images_shapes_and_resize(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "rgb.npy", arr)
    s = src.load_images(str(tmp_path / "rgb.npy"), resolution=8, channels=1)
    assert s.images.shape == (5, 1, 8, 8) and s.images.dtype == torch.uint8
    s = src.load_images("digits", n=100, seed=1)
    assert s.images.shape == (100, 1, 8, 8) and "random 100 of 1797" in s.description


def test_training_evaluates_every_n_steps_and_resume_drops_the_redone_part(tmp_path):
    run = tmp_path / "run"
    base = ["train", "--preset", "dcgan-digits", "--out", str(run), "--quiet", "--set", "train.batch_size=32",
            "--set", "eval.every=100", "--set", "eval.n=500", "--set", "eval.extractor=mnist-classifier",
            "--set", "eval.metrics=fid,class", "--set", "train.ckpt_every=100", "--set", "train.keep_ckpts=5"]
    assert main([*base, "--steps", "400"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [100, 200, 300, 400]
    assert all(r["protocol"]["n_fake"] == 500 and r["protocol"]["real"].startswith("digits") for r in records)
    assert records[-1]["fid"] < 0.5 * records[0]["fid"], [r["fid"] for r in records]  # it learned
    final = json.loads((run / "metrics.json").read_text())
    assert final["eval"]["step"] == 400 and final["eval"]["fid"] == records[-1]["fid"]
    assert records[1]["protocol"]["real_features_from_cache"] is True
    # pretend the run stopped after its step-200 checkpoint: evaluations after 200 are redone, not duplicated
    import shutil

    for ck in (run / "checkpoints").iterdir():
        if ck.name != "step-00000200" and ck.is_dir():
            shutil.rmtree(ck)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [100, 200, 300, 400]


def test_eval_config_errors(tmp_path, capsys):
    for setting, words in (("eval.metrics=fid,best", "eval.metrics"), ("eval.extractor=vgg", "eval.extractor"),
                           ("eval.n=0", "eval.n")):
        argv = ["train", "--preset", "dcgan-digits", "--out", str(tmp_path / "r"), "--set", "eval.every=10",
                "--set", setting]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
    assert main(["train", "--preset", "toy-ring", "--out", str(tmp_path / "t"), "--set", "eval.every=10"]) == 2
    assert "2-D" in capsys.readouterr().err


@pytest.mark.needs_mnist
def test_bench_mnist_small_budget(tmp_path):
    from gankit.bench import mnist

    _mnist_test()
    result = mnist.run_mnist_benchmark(tmp_path / "b", ("mlp-mnist",), cpu_budget=4, jobs=1, inception=False)
    row, floor = result["rows"]["mlp-mnist"], result["rows"]["real (MNIST train), 28x28"]
    assert 0 < row["steps"] < 10_000_000 and row["cpu_seconds"] >= 4
    assert row["domain_protocol"]["n_fake"] == row["domain_protocol"]["n_real"] == 10_000
    assert row["domain_protocol"]["resolution"] == [1, 28, 28]
    # a generator trained for seconds is far from the data; train vs test images are close
    assert floor["domain"]["fid"] < 2 and row["domain"]["fid"] > 20 * floor["domain"]["fid"]
    table = (tmp_path / "b" / "results.md").read_text()
    assert "| mlp-mnist | 28 |" in table and "| real (MNIST train), 28x28 | 28 |" in table
    again = mnist.run_mnist_benchmark(tmp_path / "b", ("mlp-mnist",), cpu_budget=4, jobs=1, inception=False,
                                      reuse=True)  # scores the same run again without training
    assert again["rows"]["mlp-mnist"]["domain"]["fid"] == row["domain"]["fid"]
