"""Every loss against values computed by hand.

Logits used throughout: real r = [2, -1], fake f = [0.5, -1.5]. softplus(t) = log(1 + e^t):
softplus(-2) = log(1 + e^-2) = log(1.1353352832) = 0.1269280110
softplus(1) = log(1 + e) = log(3.7182818285) = 1.3132616875
softplus(2) = softplus(-2) + 2 = 2.1269280110      (softplus(t) = softplus(-t) + t)
softplus(-1) = softplus(1) - 1 = 0.3132616875
softplus(0.5) = log(1 + e^0.5) = log(2.6487212707) = 0.9740769842
softplus(-0.5) = softplus(0.5) - 0.5 = 0.4740769842
softplus(-1.5) = log(1 + e^-1.5) = log(1.2231301601) = 0.2014132779
softplus(1.5) = softplus(-1.5) + 1.5 = 1.7014132779
Means that recur:
E[softplus(-r)] = (0.1269280110 + 1.3132616875) / 2 = 0.7200948493   (-E log D(x))
E[softplus(r)] = (2.1269280110 + 0.3132616875) / 2 = 1.2200948493    (-E log(1 - D(x)))
E[softplus(f)] = (0.9740769842 + 0.2014132779) / 2 = 0.5877451311    (-E log(1 - D(G(z))))
E[softplus(-f)] = (0.4740769842 + 1.7014132779) / 2 = 1.0877451311   (-E log D(G(z)))
"""

import pytest
import torch

from gankit.errors import ConfigError
from gankit.losses import LOSS_NAMES, get_loss

R = torch.tensor([2.0, -1.0])
F = torch.tensor([0.5, -1.5])


@pytest.mark.parametrize(
    "name, smoothing, d_expected, g_expected",
    [
        # d: 0.7200948493 + 0.5877451311 = 1.3078399804; g: -E[softplus(f)] = -0.5877451311
        ("minimax", 0.0, 1.3078399804, -0.5877451311),
        # d as minimax; g: E[softplus(-f)] = 1.0877451311
        ("nonsaturating", 0.0, 1.3078399804, 1.0877451311),
        # real term with s = 0.1: 0.9 * 0.7200948493 + 0.1 * 1.2200948493 = 0.6480853644 + 0.1220094849 = 0.7700948493
        # d = 0.7700948493 + 0.5877451311 = 1.3578399804; g unchanged (smoothing is D-only)
        ("minimax", 0.1, 1.3578399804, -0.5877451311),
        ("nonsaturating", 0.1, 1.3578399804, 1.0877451311),
        # s = 0.3: 0.7 * 0.7200948493 + 0.3 * 1.2200948493 = 0.5040663945 + 0.3660284548 = 0.8700948493
        # d = 0.8700948493 + 0.5877451311 = 1.4578399804
        ("nonsaturating", 0.3, 1.4578399804, 1.0877451311),
        # d: 0.5 * ((2-1)^2 + (-1-1)^2) / 2 + 0.5 * (0.5^2 + 1.5^2) / 2 = 0.5 * 2.5 + 0.5 * 1.25 = 1.25 + 0.625 = 1.875
        # g: 0.5 * ((0.5-1)^2 + (-1.5-1)^2) / 2 = 0.5 * (0.25 + 6.25) / 2 = 1.625
        ("lsgan", 0.0, 1.875, 1.625),
        # target b = 0.9: 0.5 * ((2-0.9)^2 + (-1-0.9)^2) / 2 = 0.5 * (1.21 + 3.61) / 2 = 1.205; d = 1.205 + 0.625 = 1.83
        ("lsgan", 0.1, 1.83, 1.625),
        # d: mean(f) - mean(r) = (0.5 - 1.5)/2 - (2 - 1)/2 = -0.5 - 0.5 = -1; g: -mean(f) = 0.5
        ("wasserstein", 0.0, -1.0, 0.5),
        # d: (relu(1-2) + relu(1+1))/2 + (relu(1+0.5) + relu(1-1.5))/2 = (0 + 2)/2 + (1.5 + 0)/2 = 1.75; g: 0.5
        ("hinge", 0.0, 1.75, 0.5),
    ],
)
def test_loss_values_by_hand(name, smoothing, d_expected, g_expected):
    loss = get_loss(name, smoothing)
    assert loss.name == name
    assert loss.d_loss(R, F).item() == pytest.approx(d_expected, abs=1e-6)
    assert loss.g_loss(F).item() == pytest.approx(g_expected, abs=1e-6)
    # D's outputs shaped (B, 1) give the same scalar
    d_col = loss.d_loss(R.unsqueeze(1), F.unsqueeze(1))
    g_col = loss.g_loss(F.unsqueeze(1))
    assert d_col.dim() == 0 and g_col.dim() == 0
    assert d_col.item() == pytest.approx(d_expected, abs=1e-6)
    assert g_col.item() == pytest.approx(g_expected, abs=1e-6)


def test_minimax_generator_loss_saturates_and_nonsaturating_does_not():
    """d/df of G's loss at f = -10, where D is sure the sample is fake (Goodfellow et al. 2014, section 3):
    minimax:       d/df[-softplus(f)] = -sigmoid(f) = -1 / (1 + e^10) = -1 / 22027.4658 = -4.5398e-5
    nonsaturating: d/df[softplus(-f)] = -sigmoid(-f) = -1 / (1 + e^-10) = -0.9999546
    """
    for name, expected in (("minimax", -4.5398e-5), ("nonsaturating", -0.9999546)):
        f = torch.tensor([-10.0], requires_grad=True)
        get_loss(name).g_loss(f).backward()
        assert f.grad.item() == pytest.approx(expected, rel=1e-3)


def test_minimax_is_the_negated_value_of_the_game():
    """E[softplus(f)] in D's loss vs -E[softplus(f)] as G's: one zero-sum game value (Goodfellow et al. 2014)."""
    loss = get_loss("minimax")
    d_fake_only = loss.d_loss(torch.tensor([1e4]), F)  # softplus(-1e4) = 0, leaving E[softplus(f)]
    assert d_fake_only.item() == pytest.approx(-loss.g_loss(F).item(), abs=1e-6)


def test_losses_are_stable_for_large_logits():
    big = torch.tensor([1e4, -1e4])
    for name in LOSS_NAMES:
        loss = get_loss(name)
        assert torch.isfinite(loss.d_loss(big, big)) and torch.isfinite(loss.g_loss(big))
    # softplus(1e4) = 1e4 exactly in the stable form, not inf: E[softplus(-r)] + E[softplus(f)] at r = -1e4, f = 1e4
    assert get_loss("minimax").d_loss(torch.tensor([-1e4]), torch.tensor([1e4])).item() == pytest.approx(2e4)


def test_bad_loss_choices():
    with pytest.raises(ConfigError, match="unknown loss 'bce'") as info:
        get_loss("bce")
    for valid in LOSS_NAMES:
        assert valid in str(info.value)
    message = "label smoothing applies to minimax, nonsaturating and lsgan losses, not wasserstein"
    with pytest.raises(ConfigError, match=message):
        get_loss("wasserstein", 0.1)
    with pytest.raises(ConfigError, match="not hinge"):
        get_loss("hinge", 0.2)
    for bad in (1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ConfigError, match=r"\[0, 1\)"):
            get_loss("lsgan", bad)
    # zero smoothing is fine for every loss
    for name in LOSS_NAMES:
        assert get_loss(name, 0.0).name == name


def test_loss_names():
    assert LOSS_NAMES == ("minimax", "nonsaturating", "lsgan", "wasserstein", "hinge")
