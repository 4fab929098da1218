"""The mode-collapse benchmark: its statistics, its table, and the command end to end."""

import json
import math

import pytest

from gankit.bench.modes import markdown_table, mean_se
from gankit.cli import main


def test_mean_and_standard_error_by_hand():
    # values 1, 2, 3, 4: mean 2.5, sample std sqrt(5/3) = 1.2910, se = 1.2910 / 2 = 0.6455
    m, se = mean_se([1, 2, 3, 4])
    assert m == 2.5 and se == pytest.approx(math.sqrt(5 / 3) / 2)
    assert mean_se([7.0]) == (7.0, 0.0)


def test_markdown_table_has_published_and_gankit_rows():
    result = {"dataset": "grid", "preset": "toy-grid", "seeds": 3,
              "summary": {"modes": {"mean": 25.0, "se": 0.0}, "high_quality": {"mean": 0.9, "se": 0.01},
                          "reverse_kl": {"mean": 0.01, "se": 0.001}}}
    table = markdown_table(result)
    assert "| PacGAN4 (PacGAN Table 1) | 24.8 | 93.6 | 0.04 |" in table
    assert "| **gankit `toy-grid`** (3 seeds) | 25.0 ± 0.0 | 90.0 ± 1.0 | 0.0100 ± 0.0010 |" in table


def test_bench_modes_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["bench", "modes", "--dataset", "ring", "--seeds", "2", "--out", str(out),
                 "--set", "train.steps=60", "--set", "data.num_samples=4096"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "VEEGAN" in printed and "gankit `toy-ring`" in printed
    result = json.loads((out / "results.json").read_text())
    assert [r["seed"] for r in result["runs"]] == [0, 1]
    assert all(r["cpu_seconds"] > 0 for r in result["runs"])
    assert (out / "samples-seed0.png").stat().st_size > 0 and (out / "results.md").is_file()
    assert (out / "seed-1" / "samples-2500.npy").is_file()


def test_grid_preset_covers_the_modes_far_better_than_a_plain_gan(tmp_path):
    """The shipped toy-grid recipe against the same nets, batch and step budget as a plain GAN (no R1, no lr
    decay, no Jacobian truncation), 2 seeds of 3,000 steps each.

    Measured when written, with the for-each Adam: the preset 23-25 modes and reverse KL 0.04-0.10, the plain
    GAN 16-19 modes and reverse KL 0.30-0.48 (seeds 0-3). With the fused Adam (the default since), seeds 0-1:
    the preset 24-25 modes, KL 0.09-0.14; the plain GAN 25 and 21 modes, KL 0.23-0.37. The mode count of a
    plain GAN at 3,000 steps swings by several modes with the last bits of rounding, so the test asserts the
    robust part, the reverse KL (which counts missing and starved modes alike), and no fewer modes.
    """
    from gankit.bench.modes import run_modes_benchmark

    budget = ["train.steps=3000"]
    ours = run_modes_benchmark("grid", 2, "toy-grid", tmp_path / "ours", jobs=2, overrides=budget)
    plain = run_modes_benchmark("grid", 2, "toy-grid", tmp_path / "plain", jobs=2,
                                overrides=budget + ["loss.r1_gamma=0", "train.lr_decay=none",
                                                    "sample.jacobian_truncation=0"])
    o, p = ours["summary"], plain["summary"]
    assert o["modes"]["mean"] >= p["modes"]["mean"], (o["modes"], p["modes"])
    assert o["reverse_kl"]["mean"] < 0.5 * p["reverse_kl"]["mean"], (o["reverse_kl"], p["reverse_kl"])
    assert "summary_plain" in ours and "summary_plain" not in plain
