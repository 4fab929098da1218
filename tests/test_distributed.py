"""Two CPU processes on loopback (torch.distributed, gloo) against one process with the same global batch.

Why these tolerances: the two runs see exactly the same real samples, noise and labels, paired the
same way, in every step (see gankit.distributed), so they differ only in floating-point rounding:
each process averages the loss over its half of the batch and an all_reduce then averages the two
halves' gradients, which adds the same float32 numbers in another order than one process summing
the whole batch (relative error ~1e-7). Training feeds each step's weights into the next, so that
rounding grows: measured on the reference machine, the logged losses of the two runs agree to
<= 2e-7 (relative) over the first 10 steps and to <= 5e-5 after 30. We allow 1e-5 for the first
10 steps and 5e-4 up to step 30. Single weights can differ by more: where a gradient is about as
small as its rounding, Adam (which divides by the gradient's own scale) turns the rounding into a
step of up to the learning rate; so weights are compared per tensor by the relative norm of the
difference, measured <= 7e-4 at step 20 and allowed 5e-3.

A real mistake shows at once (measured while writing this test): noise paired with other real labels
than in one process (statistically harmless, but not the same training) gave 1e-4 at step 1, and
gradients left unaveraged give 1e-3 at step 1 and 1e-2 by step 5.
"""

import json
import sys
import warnings

import pytest
import torch
from safetensors.torch import load_file

from gankit.checkpoint import list_checkpoints
from gankit.cli import main

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="gloo on loopback is exercised on Linux")

CASES = {
    # MLP, lazy R1 (a Dreg phase every 4 steps), linear lr decay, EMA
    "ring": ["--preset", "toy-ring", "--set", "train.batch_size=256", "--set", "loss.r1_every=4",
             "--set", "sample.jacobian_truncation=0", "--set", "eval.num_samples=500"],
    # convolutional, class-conditional (projection D), 2 D steps per G step, layer norm in D, non-lazy R1
    "digits": ["--preset", "dcgan-digits", "--set", "train.batch_size=32", "--set", "model.g_norm=none",
               "--set", "model.d_norm=layer", "--set", "model.conditional=true", "--set", "train.n_critic=2",
               "--set", "loss.r1_gamma=1.0"],
}
COMMON = ["--quiet", "--set", "train.device=cpu", "--set", "train.log_every=1", "--set", "train.tensorboard=false",
          "--set", "train.threads=1", "--set", "train.ckpt_every=10"]
EARLY, EARLY_RTOL, RTOL, WEIGHT_RTOL = 10, 1e-5, 5e-4, 5e-3


def _stats(run) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def _weights(run, step: int) -> dict[str, torch.Tensor]:
    ckpt = [p for p in list_checkpoints(run / "checkpoints") if p.name == f"step-{step:08d}"][0]
    return {k: v for k, v in load_file(str(ckpt / "tensors.safetensors")).items() if k.startswith("net.")}


KNOWN_ABORT = "terminate called without an active exception"


def _train_two(args: list[str], out, capfd) -> int:
    """The 2-process run; retried once if a process died of the rare gloo teardown abort (reported as a warning).

    Seen in about 1 of 70 launches on a loaded machine, never twice in a row; see the closing note of the
    change that added this test.
    """
    code = main(["train", "--nproc", "2", *args, "--out", str(out)])
    if code != 0 and KNOWN_ABORT in capfd.readouterr().err:
        warnings.warn(f"2-process run aborted with {KNOWN_ABORT!r}; retrying once", stacklevel=2)
        code = main(["train", "--nproc", "2", *args, "--out", str(out), "--force"])
    return code


def _close(a: float, b: float, step: int) -> bool:
    tol = EARLY_RTOL if step <= EARLY else RTOL
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-2)


def _assert_same_losses(s1: list[dict], s2: list[dict], case: str) -> None:
    for r1, r2 in zip(s1, s2):
        for key in ("d_loss", "g_loss"):
            assert _close(r1[key], r2[key], r1["step"]), (case, r1["step"], key, r1[key], r2[key])


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_match_one_and_resume_in_one(tmp_path, monkeypatch, capfd, case):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one, two = tmp_path / "one", tmp_path / "two"
    args = [*CASES[case], *COMMON, "--steps", "20"]
    assert main(["train", *args, "--out", str(one)]) == 0
    assert _train_two(args, two, capfd) == 0

    s1, s2 = _stats(one), _stats(two)
    assert [r["step"] for r in s1] == [r["step"] for r in s2] == list(range(1, 21))
    _assert_same_losses(s1, s2, case)
    w1, w2 = _weights(one, 20), _weights(two, 20)
    assert w1.keys() == w2.keys()
    for key in w1:  # per tensor, relative to its norm: Adam turns rounding-sized gradients into lr-sized steps
        if w1[key].is_floating_point() and w1[key].norm() > 0:
            rel = float((w2[key] - w1[key]).norm() / w1[key].norm())
            assert rel < WEIGHT_RTOL, (case, key, rel)
    metrics = json.loads((two / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["step"] == 20
    assert not list((two / "checkpoints").glob(".tmp-*"))

    # the 2-process checkpoint continues in one process, like the 1-process run does
    assert main(["train", "--resume", str(two), "--steps", "30", "--quiet"]) == 0
    assert main(["train", "--resume", str(one), "--steps", "30", "--quiet"]) == 0
    t1, t2 = _stats(one), _stats(two)
    assert [r["step"] for r in t2] == list(range(1, 31))
    _assert_same_losses(t1[20:], t2[20:], case)


def test_pix2pix_two_processes_match_one(tmp_path, monkeypatch, capfd):
    """pix2pix (U-Net, PatchGAN on pairs, L1) over 2 processes: the same losses as one process. Dropout and
    augmentation draw from each process's own generator, so they are off here to compare exactly."""
    from translation_data import write_pairs

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data = write_pairs(tmp_path / "pairs", n=32, test=4)
    args = ["--preset", "pix2pix-folder", "--data", str(data), *COMMON, "--steps", "12",
            "--set", "data.resolution=16", "--set", "data.hflip=false", "--set", "data.crop_padding=0",
            "--set", "model.width=4", "--set", "model.d_width=4", "--set", "model.dropout=0",
            "--set", "train.batch_size=8", "--set", "train.grid_size=4", "--set", "train.precision=fp32"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", *args, "--out", str(one)]) == 0
    assert _train_two(args, two, capfd) == 0
    s1, s2 = _stats(one), _stats(two)
    assert [r["step"] for r in s2] == list(range(1, 13))
    _assert_same_losses(s1, s2, "pix2pix")
    for r1, r2 in zip(s1, s2):
        assert _close(r1["l1"], r2["l1"], r1["step"])
    assert s2[-1]["l1"] < s2[0]["l1"]  # and it learns
    assert json.loads((two / "metrics.json").read_text())["processes"] == 2


def test_launch_errors_are_one_line_before_any_process_starts(tmp_path, capsys):
    base = ["train", "--nproc", "2", "--preset", "toy-ring", "--steps", "2", "--quiet"]
    assert main([*base, "--set", "train.batch_size=255", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not split evenly over 2 processes" in err[0], err
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    assert main([*base, "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0], err
    assert main([*base, "--nproc", "0"]) == 2
