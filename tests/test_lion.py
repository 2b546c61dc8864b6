"""Lion against the reference package lion-pytorch (pinned, test-only) and the paper's Algorithm 2.

Bitwise against lion-pytorch: our rule calls the same torch kernels in the same order
(θ·(1 − ηλ); torch.add(β₁m, g, alpha=1 − β₁) and its sign; add with alpha −η; the same for
m with β₂), so in float64 and float32 alike every step must agree to the last bit.
"""

from __future__ import annotations

import inspect

import lion_pytorch
import numpy as np
import pytest
import torch

from adaptive_optim import optim as ours
from adaptive_optim import rules
from optim_cases import assert_same_run, make_data, make_net, objective, run_side_by_side, train_step

CONFIGS = [dict(), dict(lr=1e-3), dict(lr=3e-4, weight_decay=0.1), dict(lr=1e-3, betas=(0.95, 0.98), weight_decay=1.0)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("kwargs", CONFIGS, ids=repr)
def test_matches_lion_pytorch_bitwise(kwargs, dtype):
    opt_t, opt_o, history = run_side_by_side(lambda ps: lion_pytorch.Lion(ps, **kwargs),
                                             lambda ps: ours.Lion(ps, **kwargs), dtype, 20)
    assert_same_run(opt_t, opt_o, history, ["exp_avg"], extra_group_keys=("maximize",))


def test_maximize_is_descent_on_the_negated_loss():
    """maximize=True on −L takes lion-pytorch's steps on L (negating a gradient is exact)."""
    x, y = make_data(torch.float64)
    net_t, net_o = make_net(torch.float64), make_net(torch.float64)
    opt_t = lion_pytorch.Lion(net_t.parameters(), lr=1e-3)
    opt_o = ours.Lion(net_o.parameters(), lr=1e-3, maximize=True)
    for _ in range(10):
        for net, opt, sign in ((net_t, opt_t, 1), (net_o, opt_o, -1)):
            opt.zero_grad()
            (sign * objective(net, x, y, False)).backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(net_t.parameters(), net_o.parameters()))


def test_defaults_and_state_as_lion_pytorch():
    mine = inspect.signature(ours.Lion.__init__).parameters
    theirs = inspect.signature(lion_pytorch.Lion.__init__).parameters
    for name in ("lr", "betas", "weight_decay"):
        assert mine[name].default == theirs[name].default
    params = [torch.zeros(2, requires_grad=True)]
    assert ours.Lion(params).defaults == {**lion_pytorch.Lion(params).defaults, "maximize": False}


def test_checkpoint_from_lion_pytorch_resumes_exactly():
    """A lion-pytorch state_dict (no ``maximize`` in its groups) loads into ours and continues bitwise."""
    x, y = make_data(torch.float64)
    straight, net = make_net(torch.float64), make_net(torch.float64)
    ref, theirs = lion_pytorch.Lion(straight.parameters(), lr=1e-3), lion_pytorch.Lion(net.parameters(), lr=1e-3)
    for _ in range(5):
        train_step(straight, ref, x, y, False)
        train_step(net, theirs, x, y, False)
    mine = ours.Lion(net.parameters(), lr=1e-3)
    mine.load_state_dict(theirs.state_dict())
    for _ in range(5):
        train_step(straight, ref, x, y, False)
        train_step(net, mine, x, y, False)
    assert all(torch.equal(a, b) for a, b in zip(straight.parameters(), net.parameters()))


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(betas=(1.5, 0.99)), dict(betas=(0.9, -0.1)),
                                    dict(weight_decay=-1.0), dict(lr=torch.tensor([1e-3, 1e-3]))], ids=repr)
def test_bad_hyperparameters_are_refused_by_name(kwargs):
    with pytest.raises(ValueError, match="learning rate|beta parameter at index|weight_decay|Tensor lr"):
        ours.Lion([torch.zeros(2, requires_grad=True)], **kwargs)


def test_papers_algorithm_by_hand():
    """Algorithm 2 of Chen et al. (2023), three steps worked by hand with η = 1/8, λ = 1/2,
    β₁ = 1/2, β₂ = 3/4, θ₀ = (1, −3). Every number is a short binary fraction, so the rule's
    floating-point result must equal the hand computation exactly.

    t=1, g = (1/2, 1/4): c = (1/4, 1/8), sign (1, 1); θ = θ₀ − η((1, 1) + λθ₀) = (0.8125, −2.9375);
        m = (0.125, 0.0625).
    t=2, g = (−1, 1/4): c = (−0.4375, 0.15625), sign (−1, 1);
        θ = θ − η((−1 + 0.40625), (1 − 1.46875)) = (0.88671875, −2.87890625); m = (−0.15625, 0.109375).
    t=3, g = (0.15625, −0.109375) = −m, so that c = (0, 0) and sign(c) = 0:
        only the decay acts, θ = θ(1 − ηλ) = (0.831298828125, −2.698974609375); m = (−0.078125, 0.0546875).
    """
    rule = rules.Lion(lr=0.125, betas=(0.5, 0.75), weight_decay=0.5)
    theta = np.array([1.0, -3.0])
    state = rule.init(theta)
    hand = [((0.5, 0.25), (0.8125, -2.9375), (0.125, 0.0625)),
            ((-1.0, 0.25), (0.88671875, -2.87890625), (-0.15625, 0.109375)),
            ((0.15625, -0.109375), (0.831298828125, -2.698974609375), (-0.078125, 0.0546875))]
    for g, theta_expected, m_expected in hand:
        theta, state = rule.update(theta, np.array(g), state)
        np.testing.assert_array_equal(theta, theta_expected)
        np.testing.assert_array_equal(state["exp_avg"], m_expected)
    t_theta = torch.tensor([1.0, -3.0], dtype=torch.float64)
    t_state = rule.init(t_theta)
    for g, _, _ in hand:
        t_theta, t_state = rule.update(t_theta, torch.tensor(g, dtype=torch.float64), t_state)
    np.testing.assert_array_equal(t_theta.numpy(), theta)


def test_every_step_moves_each_coordinate_by_exactly_lr_without_decay():
    """The defining property of the sign update: |Δθ| = η on every coordinate where c ≠ 0.
    θ and η are multiples of 1/16 below 8 in size, so θ ± η is exact and the check can be exact."""
    rng = np.random.default_rng(0)
    rule = rules.Lion(lr=0.0625)
    theta = rng.integers(-64, 64, 100) / 16
    state = rule.init(theta)
    for _ in range(5):
        new, state = rule.update(theta, rng.standard_normal(100), state)
        np.testing.assert_array_equal(np.abs(new - theta), 0.0625)
        theta = new
