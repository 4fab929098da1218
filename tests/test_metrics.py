"""Fréchet distance and mode coverage against values computed by hand."""

import math

import numpy as np
import pytest
import torch

from gankit.metrics import frechet_distance, mode_metrics, pixel_fd


def test_frechet_distance_of_hand_gaussians():
    # N([0,0], I) vs N([3,4], 4I): ||mu||^2 = 25; Tr(I) + Tr(4I) - 2 Tr(sqrt(4I)) = 2 + 8 - 2*4 = 2 -> 27
    assert frechet_distance(np.zeros(2), np.eye(2), np.array([3.0, 4.0]), 4 * np.eye(2)) == pytest.approx(27.0)
    # diagonal covariances diag(1, 9) vs diag(4, 1): Tr = 10 + 5, sqrt(S1 S2) = diag(2, 3) -> 15 - 10 = 5
    s1, s2 = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    assert frechet_distance(np.ones(2), s1, np.ones(2), s2) == pytest.approx(5.0)


def test_frechet_distance_non_commuting_covariances():
    # 1-D sanity extended: for S1 = [[2,1],[1,2]] and S2 = I, sqrt(S1 S2) = sqrt(S1) with eigenvalues 3 and 1
    # -> Tr(S1) + Tr(I) - 2 (sqrt(3) + 1) = 4 + 2 - 2 sqrt(3) - 2 = 4 - 2 sqrt(3)
    s1 = np.array([[2.0, 1.0], [1.0, 2.0]])
    assert frechet_distance(np.zeros(2), s1, np.zeros(2), np.eye(2)) == pytest.approx(4 - 2 * math.sqrt(3))
    # and it is symmetric in its two arguments
    a = frechet_distance(np.zeros(2), s1, np.zeros(2), np.diag([0.5, 3.0]))
    b = frechet_distance(np.zeros(2), np.diag([0.5, 3.0]), np.zeros(2), s1)
    assert a == pytest.approx(b)


def test_pixel_fd_is_zero_for_identical_sets_and_large_for_noise():
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(500, 1, 8, 8, generator=gen) * 2 - 1
    same = pixel_fd(real, real)
    assert abs(same["pixel_fd"]) < 1e-6
    assert same["protocol"]["dim"] == 64 and same["protocol"]["n_fake"] == 500
    shifted = pixel_fd(real + 0.5, real)["pixel_fd"]
    assert shifted == pytest.approx(64 * 0.25, rel=1e-6)  # a pure mean shift of 0.5 in 64 dims


def test_mode_metrics_on_hand_points():
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    std = 1.0
    pts = np.array([
        [0.5, 0.5],    # mode 0, within 3 std
        [1.0, -2.0],   # mode 0, distance sqrt(5) < 3
        [10.0, 2.9],   # mode 1, within
        [4.0, 4.0],    # mode 0 nearest, distance sqrt(32) > 3: low quality
    ])
    m = mode_metrics(pts, centers, std)
    assert m["modes"] == 2  # modes 0 and 1 have a high-quality point; 2 and 3 none
    assert m["num_modes"] == 4
    assert m["high_quality"] == pytest.approx(0.75)
    # histogram of nearest modes: [3, 1, 0, 0] / 4 -> KL = 0.75 log(0.75*4) + 0.25 log(0.25*4) = 0.75 log 3
    assert m["reverse_kl"] == pytest.approx(0.75 * math.log(3))


def test_mode_metrics_uniform_and_collapsed():
    centers = np.array([[0.0, 0.0], [5.0, 0.0]])
    assert mode_metrics(centers, centers, 0.1)["reverse_kl"] == pytest.approx(0.0)
    collapsed = mode_metrics(np.zeros((10, 2)), centers, 0.1)
    assert collapsed["modes"] == 1 and collapsed["reverse_kl"] == pytest.approx(math.log(2))
    with pytest.raises(ValueError):
        mode_metrics(np.zeros((3, 3)), centers, 0.1)
