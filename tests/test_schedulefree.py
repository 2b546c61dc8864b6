"""Schedule-free AdamW against the authors' package ``schedulefree`` (pinned, test-only) and the
paper's Algorithm 1 (Defazio et al., 2024).

Bitwise against the package: the rule calls the same torch kernels in the same order (mul and
addcmul for v, div/sqrt/add for the denominator, div, add with alpha for the decay at y, lerp
towards z, add with alpha; z − γĝ as add with alpha −γ, which is how ATen computes sub with
alpha), and the scalars (warmup, weights, c_{t+1}) with the same Python float expressions.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import schedulefree
import torch

from adaptive_optim import optim as ours
from adaptive_optim import rules
from adaptive_optim.rules.schedule_free import x_from_y
from optim_cases import make_data, make_net, train_step

CONFIGS = [dict(), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, warmup_steps=5),
           dict(lr=0.02, betas=(0.95, 0.99), weight_decay=0.05, warmup_steps=4, r=0.5, weight_lr_power=1.0)]


def params_of(net):
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("kwargs", CONFIGS, ids=repr)
def test_matches_schedulefree_bitwise_in_train_and_eval_mode(kwargs, dtype, foreach):
    """20 steps; every 5 steps both switch to eval (x in the parameters), compare, and back."""
    x, y = make_data(dtype)
    nets = make_net(dtype), make_net(dtype)
    opts = (schedulefree.AdamWScheduleFree(nets[0].parameters(), foreach=foreach, **kwargs),
            ours.AdamWScheduleFree(nets[1].parameters(), foreach=foreach, **kwargs))
    for opt in opts:
        opt.train()
    for step in range(1, 21):
        for net, opt in zip(nets, opts):
            train_step(net, opt, x, y, False)
        assert all(torch.equal(a, b) for a, b in zip(*map(params_of, nets))), f"y differs at step {step}"
        if step % 5 == 0:
            for opt in opts:
                opt.eval()
            assert all(torch.equal(a, b) for a, b in zip(*map(params_of, nets))), f"x differs at step {step}"
            for opt in opts:
                opt.train()
    s_t, s_o = (opt.state_dict() for opt in opts)
    assert s_o["param_groups"] == s_t["param_groups"]
    for i, entry in s_t["state"].items():
        assert list(s_o["state"][i]) == list(entry) == ["z", "exp_avg_sq"]
        assert all(torch.equal(s_o["state"][i][k], entry[k]) for k in entry)


def test_step_outside_train_mode_is_refused():
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    with pytest.raises(RuntimeError, match="not in train mode"):
        ours.AdamWScheduleFree([p]).step()


def test_switching_twice_is_a_no_op_and_eval_then_train_round_trips():
    """A second eval() changes nothing; train() then eval() gives x back up to rounding.

    Each switch is one lerp with w₁ = 1 − β₁ and then w₂ = 1 − 1/β₁ (|w| < ½: a + w(b − a), the
    difference and the fused multiply-add each rounding once), so each is within 2u·S of exact,
    S bounding |x|, |y|, |z| and u = 2⁻⁵³. The second lerp carries the first one's error with
    the factor |1 − w₂| = 1/β₁. Hence |x' − x| ≤ 2u·S·(1/β₁ + 1) < 5u·S for β₁ = 0.9."""
    x, y = make_data(torch.float64)
    net = make_net(torch.float64)
    opt = ours.AdamWScheduleFree(net.parameters(), lr=0.01)
    opt.train()
    for _ in range(5):
        train_step(net, opt, x, y, False)
    opt.eval()
    x_params = params_of(net)
    opt.eval()
    assert all(torch.equal(a, b) for a, b in zip(params_of(net), x_params))
    opt.train()
    y_params = params_of(net)
    opt.eval()
    for p, x_p, y_p in zip(net.parameters(), x_params, y_params):
        z = opt.state[p]["z"]
        bound = 5 * 2.0**-53 * max(x_p.abs().max(), y_p.abs().max(), z.abs().max()).item()
        assert (p - x_p).abs().max().item() <= bound
        assert not torch.equal(y_p, x_p)  # the switch did move the parameters


def test_checkpoint_moves_between_schedulefree_and_ours():
    """A checkpoint saved in eval mode by either loads into the other and training continues bitwise."""
    x, y = make_data(torch.float64)
    results = []
    for first, second in ((schedulefree.AdamWScheduleFree, schedulefree.AdamWScheduleFree),
                          (schedulefree.AdamWScheduleFree, ours.AdamWScheduleFree),
                          (ours.AdamWScheduleFree, schedulefree.AdamWScheduleFree)):
        net = make_net(torch.float64)
        opt = first(net.parameters(), lr=0.01, warmup_steps=3)
        opt.train()
        for _ in range(5):
            train_step(net, opt, x, y, False)
        opt.eval()
        saved = copy.deepcopy(opt.state_dict())
        resumed = second(net.parameters(), lr=0.01, warmup_steps=3)
        resumed.load_state_dict(saved)
        resumed.train()
        for _ in range(5):
            train_step(net, resumed, x, y, False)
        resumed.eval()
        results.append(params_of(net))
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_signature_and_defaults_are_the_packages():
    def shape(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    assert shape(ours.AdamWScheduleFree) == shape(schedulefree.AdamWScheduleFree)
    params = [torch.zeros(2, requires_grad=True)]
    assert ours.AdamWScheduleFree(params).defaults == schedulefree.AdamWScheduleFree(params).defaults


def test_papers_algorithm_by_hand():
    """Algorithm 1 of Defazio et al. (2024) for one coordinate, ε = 0, λ = 0, no warmup, worked
    by hand with β₁ = 1/2, β₂ = 3/4, γ = 1/2, x₁ = z₁ = 1, gradients chosen so that every square
    root is exact: g₁ = 2, g₂ = −2.

    t=1: v = 1, v̂ = 1/(1 − 3/4) = 4, ĝ = 1; z₂ = 1 − γ = 1/2; c₂ = γ²/γ² = 1, x₂ = z₂ = 1/2;
         y₂ = (1 − β₁)z₂ + β₁x₂ = 1/2.
    t=2: v = 3/4 + 1 = 7/4, v̂ = (7/4)/(7/16) = 4, ĝ = −1; z₃ = 1/2 + 1/2 = 1; c₃ = γ²/(2γ²) = 1/2,
         x₃ = (x₂ + z₃)/2 = 3/4; y₃ = (z₃ + x₃)/2 = 7/8.
    (The paper folds √(1 − β₂ᵗ) into γ_t and puts ε on √v_t: with ε = 0 the step is the same.
    The averaging weights here are the package's, (max_i γ_i)² = γ² each step, so c₂ = 1, c₃ = 1/2;
    the paper's γ_t² would include the bias factor: see the next test.)
    """
    rule = rules.AdamWScheduleFree(lr=0.5, betas=(0.5, 0.75), eps=0.0)
    y = np.array([1.0])
    state = rule.init(y)
    for g, y_expected, z_expected, x_expected in ((2.0, 0.5, 0.5, 0.5), (-2.0, 0.875, 1.0, 0.75)):
        y, state = rule.update(y, np.array([g]), state)
        np.testing.assert_array_equal(y, [y_expected])
        np.testing.assert_array_equal(state["z"], [z_expected])
        np.testing.assert_array_equal(x_from_y(y, state["z"], 0.5), [x_expected])


def papers_algorithm(x1, grads, lr, beta1, beta2, eps, decay, warmup, variant):
    """Algorithm 1 as printed, with explicit x, y and z sequences.

    variant 'paper': γ_t = η·√(1 − β₂ᵗ)·min(1, t/warmup) in the step, the decay (γ_t λ y_t) and the
    weights c_{t+1} = γ_t²/Σγ_i². variant 'package': the package's two departures, the decay
    and the weights use η·min(1, t/warmup) without the bias factor, and the weights are the running
    maximum of that, squared.
    """
    x, z, v = x1.copy(), x1.copy(), np.zeros_like(x1)
    weight_sum, lr_max, ys = 0.0, 0.0, []
    for t, grad_at in enumerate(grads, 1):
        y = (1 - beta1) * z + beta1 * x
        ys.append(y)
        g = grad_at(y)
        v = beta2 * v + (1 - beta2) * g * g
        warm = min(1.0, t / warmup) if warmup else 1.0
        gamma = lr * np.sqrt(1 - beta2**t) * warm
        plain = gamma if variant == "paper" else lr * warm
        z = z - gamma * g / (np.sqrt(v) + eps) - plain * decay * y
        lr_max = max(lr_max, plain)
        w = gamma**2 if variant == "paper" else lr_max**2
        weight_sum += w
        c = w / weight_sum
        x = (1 - c) * x + c * z
    return np.array(ys), x, z


def test_matches_the_papers_three_sequences_with_the_packages_weights():
    """The rule (which stores only y and z) against Algorithm 1's explicit x, y, z recursion on a
    quadratic, ε = 0 (where ε sits, on √v_t or on √v̂_t, then does not matter), with weight decay
    and warmup, with the package's two departures from the box (decay and weights without the
    bias factor). The two compute the same numbers by different roundings (x formed explicitly vs.
    y updated in place), each O(10) operations per step on O(1) values, and the map is a
    contraction here, so they agree to a few hundred ulps over 30 steps: rtol = 1e-12.

    With the box exactly as printed the averages differ by far more, which the last assertion
    shows: our rule follows the package, and the book must say so."""
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 2.0, 6)
    grad_at = lambda p: scale * p  # noqa: E731
    x1 = rng.standard_normal(6)
    kw = dict(lr=0.05, beta1=0.9, beta2=0.99, eps=0.0, decay=0.1, warmup=5)
    ys, x_box, z_box = papers_algorithm(x1, [grad_at] * 30, variant="package", **kw)
    rule = rules.AdamWScheduleFree(lr=0.05, betas=(0.9, 0.99), eps=0.0, weight_decay=0.1, warmup_steps=5)
    y, state = x1.copy(), rule.init(x1)
    for t in range(30):
        np.testing.assert_allclose(y, ys[t], rtol=1e-12, atol=0)
        y, state = rule.update(y, grad_at(y), state)
    np.testing.assert_allclose(state["z"], z_box, rtol=1e-12)
    np.testing.assert_allclose(x_from_y(y, state["z"], 0.9), x_box, rtol=1e-12)
    _, x_paper, _ = papers_algorithm(x1, [grad_at] * 30, variant="paper", **kw)
    assert np.max(np.abs(x_paper - x_box)) > 1e-6
