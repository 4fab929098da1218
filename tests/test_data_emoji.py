"""The built-in emoji pairs: fetched and checked, split by base emoji, decoded as aligned pairs."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from gankit import config as C
from gankit.data import emoji
from gankit.data.paired import load_translation
from gankit.errors import GankitError


@pytest.fixture(scope="module")
def emoji_root():
    try:
        return emoji.fetch_emoji()
    except GankitError as exc:
        pytest.skip(f"emoji pairs not available: {exc}")


def test_base_code():
    assert emoji.base_code("1f44d-1f3fd") == "1f44d"
    assert emoji.base_code("1f468-1f3fb-200d-1f4bb") == "1f468-200d-1f4bb"
    assert emoji.base_code("1f600") == "1f600"
    assert emoji.base_code("1f3fb") == emoji.base_code("1f3ff") == "skin-tone"


@pytest.mark.needs_emoji
def test_shipped_split_is_the_documented_rule_and_keeps_variants_together(emoji_root):
    codes = sorted(p.stem for p in (emoji_root / "google").glob("*.png"))
    test = emoji.shipped_test_codes()
    assert len(codes) == 3786 and len(test) == 752
    assert test == emoji.split_codes(codes)  # the file is what the rule in the docs gives
    train = set(codes) - set(test)
    assert {emoji.base_code(c) for c in train}.isdisjoint({emoji.base_code(c) for c in test})


@pytest.mark.needs_emoji
def test_emoji_pairs_load_aligned_and_halves_are_disjoint(emoji_root):
    cfg = C.DataConfig(name="emoji-pairs", resolution=32, channels=3)
    test = load_translation(cfg, "test")
    assert len(test.pairs) == 752 and test.pairs.fields["A"].shape == (752, 3, 32, 32)
    assert test.pairs.ids == emoji.shipped_test_codes()
    # Google and Twitter draw the same emoji: a pair is far closer than two random emoji
    a, b = test.pairs.fields["A"].float(), test.pairs.fields["B"].float()
    paired = (a - b).abs().mean()
    shuffled = (a - b.roll(1, 0)).abs().mean()
    assert paired < 0.8 * shuffled
    halves = load_translation(C.DataConfig(name="emoji-pairs", resolution=32, channels=3, unpaired_halves=True))
    assert halves.pairs is None and len(halves.a) + len(halves.b) == 3034
    assert min(len(halves.a), len(halves.b)) > 1200
    assert not torch.equal(halves.a.fields["A"][:5], test.pairs.fields["A"][:5])


@pytest.mark.needs_emoji
def test_bench_translate_runs_end_to_end(emoji_root, tmp_path, capsys):
    """The whole benchmark at a toy budget (small nets, 32 px, no Inception): every row, the table, the picture."""
    from gankit.cli import main

    small = ["data.resolution=32", "model.width=4", "model.d_width=4", "model.resnet_blocks=1", "train.batch_size=4"]
    args = ["bench", "translate", "--seeds", "0", "--cpu-budget", "3", "--no-inception", "--out", str(tmp_path / "b")]
    assert main(args + [x for s in small for x in ("--set", s)]) == 0
    out = capsys.readouterr().out
    for row in ("identity (Google image as the answer)", "pix2pix-seed0", "pix2pix, mean ± s.e.", "cyclegan-seed0"):
        assert f"| {row} |" in out
    assert (tmp_path / "b" / "translations.png").is_file() and (tmp_path / "b" / "results.json").is_file()
    w, h = Image.open(tmp_path / "b" / "translations.png").size
    # --no-cyclegan: the pix2pix seeds only (here the finished run, --reuse), a picture with one column fewer per group
    assert main(args + ["--reuse", "--no-cyclegan"] + [x for s in small for x in ("--set", s)]) == 0
    out = capsys.readouterr().out
    assert "| pix2pix-seed0 |" in out and "cyclegan" not in out
    w3, h3 = Image.open(tmp_path / "b" / "translations.png").size
    assert w3 / h3 == pytest.approx(w / h * 3 / 4, rel=0.05)  # 2 groups of 3 images across, the same rows
