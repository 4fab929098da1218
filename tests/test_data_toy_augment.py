"""Toy mixtures, batch augmentations and the batch sampler."""

import math

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import BatchSampler, Dataset, build_dataset, to_model_space, to_uint8
from gankit.data.augment import random_crop, random_hflip
from gankit.data.toy import grid_centers, ring_centers
from gankit.errors import DataError


def test_ring_has_eight_distinct_centres_on_the_unit_circle():
    c = ring_centers(8, 1.0)
    assert c.shape == (8, 2)
    assert torch.allclose(c.norm(dim=1), torch.ones(8), atol=1e-6)
    assert torch.cdist(c, c).add(torch.eye(8)).min() > 0.7  # neighbours 2 sin(pi/8) = 0.765 apart
    assert torch.allclose(c[2], torch.tensor([0.0, 1.0]), atol=1e-6)  # angle 2*pi*2/8 = pi/2


def test_grid_centres():
    c = grid_centers(5, 2.0)
    assert c.shape == (25, 2)
    assert sorted(set(c[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_toy_dataset_std_and_seed():
    cfg = DataConfig(name="grid", num_samples=20000, std=0.05)
    a, b = build_dataset(cfg, seed=3), build_dataset(cfg, seed=3)
    assert torch.equal(a.data, b.data)
    d = torch.cdist(a.data, a.centers).min(dim=1).values
    # distance to the centre is Rayleigh(0.05): mean 0.05 * sqrt(pi/2)
    assert d.mean().item() == pytest.approx(0.05 * math.sqrt(math.pi / 2), rel=0.03)


def test_hflip_mirrors_about_half():
    torch.manual_seed(0)
    x = torch.arange(4.0).view(1, 1, 1, 4).repeat(1000, 1, 1, 1)
    y = random_hflip(x)
    flipped = (y[:, 0, 0, 0] == 3).float().mean().item()
    assert 0.45 < flipped < 0.55
    assert torch.equal(torch.sort(y, dim=3).values, x)


def test_random_crop_keeps_shape_and_shifts_content():
    torch.manual_seed(0)
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(200, 1, 1, 1)
    y = random_crop(x, 2)
    assert y.shape == x.shape
    assert (y != x).flatten(1).any(dim=1).float().mean() > 0.8  # most crops are shifted
    assert torch.equal(random_crop(x, 0), x)
    # every crop is a window of the reflect-padded image: row differences stay +-8 inside
    inner = y[:, 0, 2:6, 2:6]
    assert torch.all((inner[:, 1:, :] - inner[:, :-1, :]).abs() == 8)


def test_uint8_round_trip():
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert torch.equal(to_uint8(to_model_space(u)), u)
    assert to_model_space(u).min() == -1 and to_model_space(u).max() == 1


def test_sampler_is_resumable_and_shards():
    ds = Dataset("t", {"x": torch.arange(100, dtype=torch.float32).view(100, 1).repeat(1, 2)})
    a = BatchSampler(ds, 16, torch.device("cpu"), seed=1)
    first = [a.next()["x"] for _ in range(9)]  # crosses an epoch (6 batches per epoch)
    b = BatchSampler(ds, 16, torch.device("cpu"), seed=1)
    for _ in range(4):
        b.next()
    c = BatchSampler(ds, 16, torch.device("cpu"), seed=1)
    c.load_state_dict(b.state_dict())
    assert all(torch.equal(c.next()["x"], first[i]) for i in range(4, 9))
    epoch = torch.cat(first[:6])[:, 0]
    assert len(set(epoch.tolist())) == 96  # no repeats within an epoch
    r0 = BatchSampler(ds, 10, torch.device("cpu"), seed=1, rank=0, world=2)
    r1 = BatchSampler(ds, 10, torch.device("cpu"), seed=1, rank=1, world=2)
    s0 = set(torch.cat([r0.next()["x"] for _ in range(5)])[:, 0].tolist())
    s1 = set(torch.cat([r1.next()["x"] for _ in range(5)])[:, 0].tolist())
    assert not s0 & s1
    with pytest.raises(DataError, match="fewer than the 2 processes"):
        BatchSampler(Dataset("one", {"x": torch.zeros(1, 2)}), 4, torch.device("cpu"), world=2)


def test_a_dataset_smaller_than_a_batch_still_fills_batches(capsys):
    """20 samples, batch 64: every epoch is 4 shuffled passes, every sample 3-4 times a batch, resumable."""
    ds = Dataset("twenty", {"x": torch.arange(20, dtype=torch.float32).view(20, 1)})
    a = BatchSampler(ds, 64, torch.device("cpu"), seed=3)
    assert "fewer than one batch of 64: each epoch shows them 4 times" in capsys.readouterr().err
    batches = [a.next()["x"][:, 0] for _ in range(3)]
    for batch in batches:
        counts = torch.bincount(batch.long(), minlength=20)
        assert batch.shape == (64,) and counts.min() >= 3 and counts.max() <= 4  # 3 passes whole, one in part
    b = BatchSampler(ds, 64, torch.device("cpu"), seed=3)
    b.next()
    c = BatchSampler(ds, 64, torch.device("cpu"), seed=3)
    c.load_state_dict(b.state_dict())
    assert torch.equal(c.next()["x"][:, 0], batches[1])
    one = BatchSampler(Dataset("one", {"x": torch.ones(1, 1)}), 8, torch.device("cpu"))
    assert torch.equal(one.next()["x"], torch.ones(8, 1))
