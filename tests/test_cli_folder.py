"""`gankit train --data FOLDER` end to end, on generated images with one corrupt file."""

import json

import numpy as np
import pytest
from PIL import Image

from gankit.cli import main


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for cls, colour in (("cats", (220, 60, 60)), ("dogs", (60, 60, 220))):
        (root / cls).mkdir(parents=True)
        for i in range(20):
            size = (int(rng.integers(12, 40)), int(rng.integers(12, 40)))
            arr = np.clip(np.array(colour) + rng.normal(0, 20, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
            mode = ("RGB", "RGBA", "L")[i % 3]
            Image.fromarray(arr).convert(mode).save(root / cls / f"{i}.png")
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    return root


def test_train_on_a_folder_then_sample(folder, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--data", str(folder), "--out", str(run), "--steps", "6", "--quiet",
                 "--set", "data.resolution=8", "--set", "train.batch_size=8", "--set", "model.width=0.25",
                 "--set", "model.conditional=true", "--set", "train.tensorboard=false"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "broken.png" in captured.err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["name"] == "folder" and cfg["data"]["path"] == str(folder)
    assert main(["sample", "--run", str(run), "--class", "dogs", "--n", "4", "--out", str(tmp_path / "d.npy")]) == 0
    assert np.load(tmp_path / "d.npy").shape == (4, 8, 8, 3)


def test_folder_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "r1"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error:") and len(err.splitlines()) == 1
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("count", [20, 1])
def test_a_folder_smaller_than_the_default_batch_trains(tmp_path, capsys, monkeypatch, count):
    """20 pictures (or 1) against the folder preset's batch of 64: a run that works, with a notice, not a refusal."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "few"
    root.mkdir()
    rng = np.random.default_rng(1)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"{i}.png")
    run = tmp_path / "run"
    code = main(["train", "--data", str(root), "--out", str(run), "--steps", "4", "--quiet",
                 "--set", "data.resolution=8", "--set", "model.width=0.25", "--set", "train.tensorboard=false"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["train"]["batch_size"] == 64
    assert f"has {count} samples, fewer than one batch of 64" in err
    assert (run / "samples.png").is_file() and json.loads((run / "metrics.json").read_text())["step"] == 4
