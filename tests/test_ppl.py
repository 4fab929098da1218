"""Perceptual path length (Karras et al. 2019) with the uniform-weight LPIPS stand-in."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gankit import config as C
from gankit.metrics.ppl import normalized_distance, perceptual_path_length, trimmed_mean
from gankit.nets import build_networks
from gankit.nets.stylegan2 import ModulatedConv2d


def test_normalized_distance_by_hand():
    # one pixel, orthogonal unit directions: |a - b|^2 = 2, whatever the lengths
    fa = torch.tensor([3.0, 0.0]).reshape(1, 2, 1, 1)
    fb = torch.tensor([0.0, 0.5]).reshape(1, 2, 1, 1)
    assert normalized_distance(fa, fb).item() == pytest.approx(2.0)
    # two pixels: identical (0) and opposite (4): averaged over pixels
    fa = torch.tensor([[1.0, 1.0], [0.0, 0.0]]).reshape(1, 2, 1, 2)
    fb = torch.tensor([[1.0, -1.0], [0.0, 0.0]]).reshape(1, 2, 1, 2)
    assert normalized_distance(fa, fb).item() == pytest.approx(2.0)
    # same direction, another length: 0 (LPIPS compares unit-normalized features)
    assert normalized_distance(fa, 7 * fa).item() == pytest.approx(0.0, abs=1e-9)


def test_trimmed_mean_drops_the_tails():
    values = np.array([1e6] + [1.0] * 98 + [-1e6])
    assert trimmed_mean(values) == pytest.approx(1.0)
    assert trimmed_mean(np.arange(101.0)) == pytest.approx(50.0)


def test_ppl_of_a_tiny_stylegan():
    cfg = C.resolve("stylegan2-emoji64", overrides=["data.name=digits", "data.split=train", "data.channels=1",
                                                     "data.resolution=8", "model.channel_base=128",
                                                     "model.max_channels=16", "model.z_dim=8", "model.w_dim=8",
                                                     "model.mapping_layers=1"])
    G, _ = build_networks(cfg.model, (1, 8, 8))
    conv = torch.nn.Conv2d(3, 8, 3, padding=1).requires_grad_(False)  # a fixed random feature map
    r = perceptual_path_length(G, conv, n=64, seed=1, batch_size=16)
    assert math.isfinite(r["ppl_w"]) and r["ppl_w"] > 1.0, r
    assert perceptual_path_length(G, conv, n=64, seed=1, batch_size=16)["ppl_w"] == r["ppl_w"]  # seeded
    # a generator that ignores w has no path length at all
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, ModulatedConv2d):
                m.affine.weight.zero_()  # styles = the bias alone, the same for every w
    assert perceptual_path_length(G, conv, n=32, seed=1)["ppl_w"] == pytest.approx(0.0, abs=1e-6)
