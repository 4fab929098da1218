"""Feature-space metrics against independent float64 references and values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.spatial.distance import cdist

from gankit.metrics import (
    FEATURE_METRICS,
    PROBABILITY_METRICS,
    class_metrics,
    density_coverage,
    fid,
    fid_from_stats,
    inception_score,
    kid,
    precision_recall,
)
from gankit.metrics.features_metrics import _knn_radii

# the four corners of the unit square; with k = 1 or 2 every corner's k-NN radius is 1 (two neighbours
# at distance 1), with k = 3 it is the diagonal sqrt(2)
SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def _random_feats(seed: int, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / math.sqrt(d)  # correlated, non-isotropic features
    return rng.normal(size=(n, d)) @ mix + shift


# --------------------------------------------------------------------------------------------- FID


def _fid_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Textbook FID with scipy's general matrix square root of the (non-symmetric) product."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    ca = (a - mu_a).T @ (a - mu_a) / (len(a) - 1)
    cb = (b - mu_b).T @ (b - mu_b) / (len(b) - 1)
    covmean = scipy.linalg.sqrtm(ca @ cb).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.trace(covmean))


def test_fid_matches_scipy_sqrtm_reference():
    real, fake = _random_feats(0, 300, 16), _random_feats(1, 200, 16, shift=0.3)
    out = fid(real, fake)
    ref = _fid_reference(real, fake)
    assert abs(out["fid"] - ref) / ref < 1e-6
    assert out["protocol"] == {
        "metric": "fid", "n_real": 300, "n_fake": 200, "dim": 16, "dtype": "float64", "covariance": "unbiased (N - 1)"
    }
    # torch input (float32 is upcast) gives the same number as the float64 numpy arrays it came from
    t_out = fid(torch.from_numpy(real), torch.from_numpy(fake))
    assert t_out["fid"] == pytest.approx(out["fid"], rel=1e-12)


def test_fid_of_a_set_with_itself_is_zero():
    feats = _random_feats(2, 100, 16)
    scale = np.trace(np.cov(feats, rowvar=False))
    assert abs(fid(feats, feats)["fid"]) < 1e-6 * scale


def test_fid_from_cached_stats_equals_fid():
    real, fake = _random_feats(3, 150, 8), _random_feats(4, 120, 8, shift=1.0)
    mu, cov = real.mean(axis=0), np.cov(real, rowvar=False)
    cached = fid_from_stats(mu, cov, fake, n_real=150)
    assert cached["fid"] == pytest.approx(fid(real, fake)["fid"], rel=1e-12)
    assert cached["protocol"]["n_real"] == 150 and cached["protocol"]["n_fake"] == 120


# --------------------------------------------------------------------------------------------- KID


def _mmd2_loops(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> float:
    """Unbiased MMD^2 written out term by term, the definition in Bińkowski et al. 2018."""
    m = len(x)

    def k(a, b):
        return (gamma * float(np.dot(a, b)) + coef0) ** degree

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_single_full_subset_matches_loop_reference():
    real, fake = _random_feats(5, 40, 5), _random_feats(6, 40, 5, shift=0.5)
    out = kid(real, fake, subsets=1, subset_size=40)
    # one subset of all N rows is a permutation of each set, and the estimator does not depend on order
    ref = _mmd2_loops(real, fake, degree=3, gamma=1 / 5, coef0=1.0)
    assert abs(out["kid"] - ref) / abs(ref) < 1e-6
    assert out["kid_std"] == 0.0
    p = out["protocol"]
    assert (p["subsets"], p["subset_size"], p["degree"], p["gamma"], p["coef0"], p["seed"]) == (1, 40, 3, 0.2, 1.0, 0)


def test_kid_linear_kernel_by_hand():
    # k(x, y) = x y in 1-D, X = {0, 1, 2}, Y = {1, 2, 3}, m = 3:
    #   XX: ((sum x)^2 - sum x^2) / (m (m-1)) = (9 - 5) / 6 = 2/3
    #   YY: (36 - 14) / 6 = 11/3
    #   XY: sum x * sum y / m^2 = 3 * 6 / 9 = 2
    #   MMD^2 = 2/3 + 11/3 - 2 * 2 = 1/3
    # (equivalently (mean_x - mean_y)^2 - (s_x^2 + s_y^2) / m = 1 - (1 + 1) / 3 with unbiased variances s^2)
    x, y = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [2.0], [3.0]])
    out = kid(x, y, subsets=1, subset_size=3, degree=1, gamma=1.0, coef0=0.0)
    assert out["kid"] == pytest.approx(1 / 3, rel=1e-12)


def test_kid_grows_with_shift():
    both = _random_feats(7, 160, 4)
    real, base = both[:80], both[80:]  # two independent samples of the same distribution
    values = [kid(real, base + s, subsets=5, subset_size=60)["kid"] for s in (0.0, 0.5, 1.0, 2.0)]
    assert abs(values[0]) < values[1] < values[2] < values[3]


def test_kid_subsets_are_seeded_and_clipped():
    real, fake = _random_feats(9, 30, 3), _random_feats(10, 50, 3, shift=0.2)
    a = kid(real, fake, subsets=4, subset_size=1000, seed=3)
    b = kid(real, fake, subsets=4, subset_size=1000, seed=3)
    c = kid(real, fake, subsets=4, subset_size=1000, seed=4)
    assert a == b
    assert a["kid"] != c["kid"]
    assert a["protocol"]["subset_size"] == 30 and a["protocol"]["subset_size_requested"] == 1000


# --------------------------------------------------------------------------------------------- IS


def test_inception_score_by_hand():
    # two confident samples of different classes: p(y) = [.5, .5], KL of each row = log 2 -> IS = 2
    assert inception_score(np.eye(2), splits=1)["is"] == pytest.approx(2.0)
    # identical rows: p(y|x) = p(y), every KL is 0 -> IS = 1
    assert inception_score(np.tile([[0.2, 0.3, 0.5]], (6, 1)), splits=3)["is"] == pytest.approx(1.0)
    # rows [.5, .5] and [1, 0]: p(y) = [.75, .25]; KL_1 = .5 log(.5/.75) + .5 log(.5/.25) = .5 log(4/3),
    # KL_2 = log(1/.75) = log(4/3) (the 0 entry contributes 0) -> IS = exp(.75 log(4/3)) = (4/3)^.75
    out = inception_score(torch.tensor([[0.5, 0.5], [1.0, 0.0]]), splits=1)
    assert out["is"] == pytest.approx((4 / 3) ** 0.75)


def test_inception_score_splits_mean_and_std():
    # splits of 2 rows in input order: [e0, e1] -> IS 2, [e0, e0] -> IS 1; mean 1.5, population std 0.5
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    out = inception_score(probs, splits=2)
    assert out["is"] == pytest.approx(1.5)
    assert out["is_std"] == pytest.approx(0.5)
    assert out["protocol"]["splits"] == 2 and out["protocol"]["n_fake"] == 4


def test_inception_score_rejects_logits():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(np.array([[2.0, 1.0], [0.5, 0.5]]), splits=1)
    with pytest.raises(ValueError, match="negative"):
        inception_score(np.array([[2.0, -1.0], [0.5, 0.5]]), splits=1)


# --------------------------------------------------------------------------------------------- k-NN radii


def test_knn_radii_exclude_the_point_itself():
    assert np.allclose(_knn_radii(SQUARE, 1), 1.0)
    assert np.allclose(_knn_radii(SQUARE, 2), 1.0)
    assert np.allclose(_knn_radii(SQUARE, 3), math.sqrt(2))
    # an exact duplicate is another point, so it is a neighbour at distance 0
    dup = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]])
    assert np.allclose(_knn_radii(dup, 1), [0.0, 0.0, 3.0])
    with pytest.raises(ValueError):
        _knn_radii(SQUARE, 4)


def test_knn_radii_blocked_match_brute_force():
    x = _random_feats(11, 57, 6)
    full = cdist(x, x)
    np.fill_diagonal(full, np.inf)
    expected = np.sort(full, axis=1)[:, 2]
    for block in (1, 5, 16, 1024):
        assert np.allclose(_knn_radii(x, 3, block_size=block), expected, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------- precision / recall


def test_precision_recall_by_hand():
    # real: unit square, k = 1 -> every real radius is 1.
    # fake: A = (0, -.3), B = (0, -.7) (a pair .4 apart) and C = (4, 4), D = (4, 4.3) (a pair .3 apart);
    # the pairs are > 6 apart, so fake radii are .4, .4, .3, .3.
    # precision: A is .3 from (0,0), B is .7 from (0,0) (<= 1, inside); C, D are >= 4.2 from (1,1) -> 2/4.
    # recall: (0,0) is .3 from A (<= .4, inside); (1,0) is sqrt(1.09) ~ 1.04 from A, every other real is
    # farther from every fake than its radius -> 1/4.
    fake = np.array([[0.0, -0.3], [0.0, -0.7], [4.0, 4.0], [4.0, 4.3]])
    out = precision_recall(SQUARE, fake, k=1)
    assert out["precision"] == pytest.approx(0.5)
    assert out["recall"] == pytest.approx(0.25)
    assert out["protocol"]["k"] == 1 and out["protocol"]["n_real"] == 4 and out["protocol"]["n_fake"] == 4


def test_precision_recall_closed_ball_boundary():
    # fake (2, 0) is exactly at distance 1 (the radius, k = 1) from real (1, 0): the ball is closed -> inside
    out = precision_recall(SQUARE, np.array([[2.0, 0.0], [9.0, 9.0]]), k=1)
    assert out["precision"] == pytest.approx(0.5)


def test_precision_recall_identical_sets_are_one():
    feats = _random_feats(12, 50, 8)
    out = precision_recall(feats, feats.copy(), k=3)
    assert out["precision"] == 1.0 and out["recall"] == 1.0


def _pr_brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    rr, ff, fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    np.fill_diagonal(rr, np.inf)
    np.fill_diagonal(ff, np.inf)
    r_real, r_fake = np.sort(rr, axis=1)[:, k - 1], np.sort(ff, axis=1)[:, k - 1]
    return float((fr <= r_real[None]).any(axis=1).mean()), float((fr <= r_fake[:, None]).any(axis=0).mean())


def test_precision_recall_blocks_match_one_block_and_brute_force():
    real, fake = _random_feats(13, 47, 6), _random_feats(14, 39, 6, shift=0.4)
    one = precision_recall(real, fake, k=3, block_size=10_000)
    for block in (1, 4, 7):
        blocked = precision_recall(real, fake, k=3, block_size=block)
        assert (blocked["precision"], blocked["recall"]) == (one["precision"], one["recall"])
    assert (one["precision"], one["recall"]) == pytest.approx(_pr_brute_force(real, fake, 3))
    assert 0 < one["precision"] < 1 or 0 < one["recall"] < 1  # the example is not degenerate


# --------------------------------------------------------------------------------------------- density / coverage


def test_density_coverage_by_hand():
    # real: unit square, k = 2 -> every real radius is 1.
    # F1 = (.2, .2): .28 from (0,0), sqrt(.68) ~ .82 from (1,0) and (0,1), sqrt(1.28) ~ 1.13 from (1,1) -> 3 balls
    # F2 = (0, -.5): .5 from (0,0), sqrt(1.25) ~ 1.12 from (1,0), farther from the rest -> 1 ball
    # F3 = (5, 5): no ball
    # density = (3 + 1 + 0) / (k M) = 4 / (2 * 3) = 2/3; coverage: (1,1) is in no fake's reach -> 3/4
    fake = np.array([[0.2, 0.2], [0.0, -0.5], [5.0, 5.0]])
    out = density_coverage(SQUARE, fake, k=2)
    assert out["density"] == pytest.approx(2 / 3)
    assert out["coverage"] == pytest.approx(0.75)
    # two fakes at the centre, .71 from all four corners, k = 1: 8 hits / (1 * 2) = 4 (density can exceed 1)
    centre = density_coverage(SQUARE, np.array([[0.5, 0.5], [0.5, 0.5]]), k=1)
    assert centre["density"] == pytest.approx(4.0)
    assert centre["coverage"] == pytest.approx(1.0)


def test_density_coverage_blocks_match_one_block():
    real, fake = _random_feats(15, 45, 5), _random_feats(16, 33, 5, shift=0.3)
    one = density_coverage(real, fake, k=5, block_size=10_000)
    for block in (1, 6):
        blocked = density_coverage(real, fake, k=5, block_size=block)
        assert (blocked["density"], blocked["coverage"]) == (one["density"], one["coverage"])
    assert density_coverage(real, real.copy(), k=5)["coverage"] == 1.0


# --------------------------------------------------------------------------------------------- classes


def test_class_metrics_by_hand():
    # predictions 0, 0, 1, 0 over C = 3 classes -> histogram [3/4, 1/4, 0]
    # class_kl = 3/4 log(3 * 3/4) + 1/4 log(3 * 1/4); classes covered 2
    # requested 0, 1, 1, 0 -> right, wrong, right, right -> accuracy 3/4
    probs = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.1, 0.8, 0.1], [0.4, 0.3, 0.3]])
    out = class_metrics(probs, requested=np.array([0, 1, 1, 0]))
    assert out["class_kl"] == pytest.approx(0.75 * math.log(2.25) + 0.25 * math.log(0.75))
    assert out["classes_covered"] == 2
    assert out["class_accuracy"] == pytest.approx(0.75)
    assert out["protocol"]["num_classes"] == 3 and out["protocol"]["conditional"] is True
    # one prediction per class: uniform histogram -> KL 0, all classes covered, no accuracy when unconditional
    flat = class_metrics(np.eye(3))
    assert flat["class_kl"] == pytest.approx(0.0) and flat["classes_covered"] == 3
    assert "class_accuracy" not in flat


# --------------------------------------------------------------------------------------------- registry


def test_registry_names_and_call_conventions():
    assert set(FEATURE_METRICS) == {"fid", "kid", "pr", "dc", "is", "class"}
    assert PROBABILITY_METRICS == {"is", "class"}
    real, fake = _random_feats(17, 30, 4), _random_feats(18, 30, 4)
    for name in set(FEATURE_METRICS) - PROBABILITY_METRICS:
        kw = {"subsets": 2, "subset_size": 20} if name == "kid" else {}
        out = FEATURE_METRICS[name](real, fake, **kw)
        assert out["protocol"]["dtype"] == "float64"
        assert (out["protocol"]["n_real"], out["protocol"]["n_fake"]) == (30, 30)
    assert FEATURE_METRICS["is"](np.eye(4), splits=1)["is"] == pytest.approx(4.0)
    assert FEATURE_METRICS["class"](np.eye(4))["classes_covered"] == 4
