"""Every loss against values computed by hand.

Logits used throughout: real r = [2, -1], fake f = [0.5, -1.5]. softplus(t) = log(1 + e^t):
softplus(-2) = 0.1269280110, softplus(1) = 1.3132616875, softplus(2) = 2.1269280110,
softplus(-1) = 0.3132616875, softplus(0.5) = 0.9740769842, softplus(-0.5) = 0.4740769842,
softplus(-1.5) = 0.2014132779, softplus(1.5) = 1.7014132779.
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
        # d: (0.1269280110 + 1.3132616875)/2 + (0.9740769842 + 0.2014132779)/2; g: -(0.974077 + 0.201413)/2
        ("minimax", 0.0, 1.3078399803, -0.5877451311),
        # g: (softplus(-0.5) + softplus(1.5))/2 = (0.4740769842 + 1.7014132779)/2
        ("nonsaturating", 0.0, 1.3078399803, 1.0877451311),
        # real term 0.9*0.7200948493 + 0.1*(2.1269280110 + 0.3132616875)/2 = 0.7700948493
        ("nonsaturating", 0.1, 0.7700948493 + 0.5877451311, 1.0877451311),
        ("minimax", 0.1, 0.7700948493 + 0.5877451311, -0.5877451311),
        # d: 0.5*((1)^2 + (-2)^2)/2 + 0.5*(0.25 + 2.25)/2 = 1.25 + 0.625; g: 0.5*((-0.5)^2 + (-2.5)^2)/2
        ("lsgan", 0.0, 1.875, 1.625),
        # target 0.9: 0.5*((1.1)^2 + (-1.9)^2)/2 = 0.5*2.41 = 1.205, + 0.625
        ("lsgan", 0.1, 1.83, 1.625),
        # d: mean(f) - mean(r) = -0.5 - 0.5; g: -mean(f) = 0.5
        ("wasserstein", 0.0, -1.0, 0.5),
        # d: (relu(-1) + relu(2))/2 + (relu(1.5) + relu(-0.5))/2 = 1 + 0.75
        ("hinge", 0.0, 1.75, 0.5),
    ],
)
def test_loss_values_by_hand(name, smoothing, d_expected, g_expected):
    loss = get_loss(name, smoothing)
    assert loss.d_loss(R, F).item() == pytest.approx(d_expected, abs=1e-6)
    assert loss.g_loss(F).item() == pytest.approx(g_expected, abs=1e-6)


def test_minimax_generator_loss_saturates_and_nonsaturating_does_not():
    """At f = -10 (D sure the sample is fake): d/df[-softplus(f)] = -sigmoid(-10) ~ -4.5e-5,
    d/df[softplus(-f)] = -sigmoid(10) ~ -1."""
    for name, expected in (("minimax", -4.5398e-5), ("nonsaturating", -0.9999546)):
        f = torch.tensor([-10.0], requires_grad=True)
        get_loss(name).g_loss(f).backward()
        assert f.grad.item() == pytest.approx(expected, rel=1e-3)


def test_losses_are_stable_for_large_logits():
    big = torch.tensor([1e4, -1e4])
    for name in LOSS_NAMES:
        loss = get_loss(name)
        assert torch.isfinite(loss.d_loss(big, big)) and torch.isfinite(loss.g_loss(big))


def test_bad_loss_choices():
    with pytest.raises(ConfigError, match="unknown loss 'bce'"):
        get_loss("bce")
    with pytest.raises(ConfigError, match="not wasserstein"):
        get_loss("wasserstein", 0.1)
    with pytest.raises(ConfigError, match="not hinge"):
        get_loss("hinge", 0.2)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        get_loss("lsgan", 1.0)
