"""LAMB against torch-optimizer's Lamb (pinned, test-only) and the paper's Algorithm 2.

Bitwise against torch-optimizer: the rule calls the same torch kernels in the same order
(mul then add with alpha for m, mul then addcmul for v, sqrt/add/div, add with alpha for the
decay, torch.norm, clamp, the trust ratio divided in the parameter's dtype and turned into the
step's alpha as torch turns a 0-d tensor alpha into a number), so every step must agree to the
last bit in float64 and float32.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import torch
import torch_optimizer

from adaptive_optim import optim as ours
from adaptive_optim import rules
from optim_cases import assert_same_error, assert_same_run, make_data, make_net, run_side_by_side, train_step

CONFIGS = [dict(), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, debias=True, weight_decay=0.01),
           dict(lr=0.01, clamp_value=0.5, betas=(0.8, 0.99), eps=1e-8), dict(lr=0.01, adam=True, weight_decay=0.1)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("kwargs", CONFIGS, ids=repr)
def test_matches_torch_optimizer_lamb_bitwise(kwargs, dtype):
    opt_t, opt_o, history = run_side_by_side(lambda ps: torch_optimizer.Lamb(ps, **kwargs),
                                             lambda ps: ours.Lamb(ps, **kwargs), dtype, 20)
    assert_same_run(opt_t, opt_o, history)


def test_signature_and_defaults_are_torch_optimizers():
    def shape(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    assert [s[0] for s in shape(ours.Lamb)] == [s[0] for s in shape(torch_optimizer.Lamb)]
    assert [s[2] for s in shape(ours.Lamb)] == [s[2] for s in shape(torch_optimizer.Lamb)]
    params = [torch.zeros(2, requires_grad=True)]
    assert ours.Lamb(params).defaults == torch_optimizer.Lamb(params).defaults


@pytest.mark.parametrize("kwargs", [dict(lr=0.0), dict(eps=-1.0), dict(betas=(1.0, 0.999)), dict(betas=(0.9, -0.1)),
                                    dict(weight_decay=-1.0), dict(clamp_value=-1.0)], ids=repr)
def test_bad_hyperparameters_raise_the_references_error(kwargs):
    params = [torch.zeros(2, requires_grad=True)]
    assert_same_error(torch_optimizer.Lamb, ours.Lamb, params, kwargs, error=ValueError)


def test_checkpoint_moves_between_torch_optimizer_and_ours():
    x, y = make_data(torch.float64)
    results = []
    for first, second in ((torch_optimizer.Lamb, torch_optimizer.Lamb), (torch_optimizer.Lamb, ours.Lamb),
                          (ours.Lamb, torch_optimizer.Lamb)):
        net = make_net(torch.float64)
        opt = first(net.parameters(), lr=0.01, weight_decay=0.1)
        for _ in range(5):
            train_step(net, opt, x, y, False)
        resumed = second(net.parameters(), lr=0.01, weight_decay=0.1)
        resumed.load_state_dict(copy.deepcopy(opt.state_dict()))
        for _ in range(5):
            train_step(net, resumed, x, y, False)
        results.append([p.detach() for p in net.parameters()])
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_zero_weights_take_trust_ratio_one():
    """A layer whose weights are all zero (a fresh bias) gets the untrusted step −η·m/(√v + ε),
    as in the reference (bitwise); the closed form, a handful of roundings, agrees to 1e-14."""
    results = []
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for cls in (torch_optimizer.Lamb, ours.Lamb):
        p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        opt = cls([p], lr=0.1)
        p.grad = g.clone()
        opt.step()
        assert opt.state[p]["trust_ratio"] == 1
        results.append(p.detach())
    assert torch.equal(results[0], results[1])
    torch.testing.assert_close(results[1], -0.1 * (0.1 * g) / ((0.001 * g * g).sqrt() + 1e-6), rtol=1e-14, atol=0)


def test_papers_algorithm_by_hand():
    """One step of Algorithm 2 for a four-entry layer, ε = λ = 0, worked by hand with β₁ = 1/2,
    β₂ = 3/4, η = 1/2, x = (½, ½, ½, ½) (‖x‖ = 1), g = (1, −2, 3, −4).
    m = g/2, v = g²/4, so r = m/√v = sign(g) = (1, −1, 1, −1), ‖r‖ = 2 (the bias corrections,
    if applied, scale r and cancel in φ(‖x‖)/‖r‖ · r).
    φ = min(·, 10): x − η·(1/2)·r = (0.25, 0.75, 0.25, 0.75).
    φ = min(·, 0.5): x − η·(0.5/2)·r = (0.375, 0.625, 0.375, 0.625)."""
    x, g = np.full(4, 0.5), np.array([1.0, -2.0, 3.0, -4.0])
    for clamp, expected in ((10.0, [0.25, 0.75, 0.25, 0.75]), (0.5, [0.375, 0.625, 0.375, 0.625])):
        for correct in (False, True):
            rule = rules.Lamb(lr=0.5, betas=(0.5, 0.75), eps=0.0, clamp_value=clamp, correct_moments=correct)
            new, _ = rule.update(x, g, rule.init(x))
            np.testing.assert_array_equal(new, expected)


def papers_algorithm(x, grads, lr, beta1, beta2, eps, decay, clamp, corrected):
    """Algorithm 2 as printed (``corrected``: with the published paper's m̂, v̂; else arXiv v3's),
    for one layer, with φ(z) = min(z, clamp)."""
    m, v, xs = np.zeros_like(x), np.zeros_like(x), []
    for t, grad_at in enumerate(grads, 1):
        g = grad_at(x)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = (m / (1 - beta1**t), v / (1 - beta2**t)) if corrected else (m, v)
        r = m_hat / (np.sqrt(v_hat) + eps) + decay * x
        x = x - lr * min(np.linalg.norm(x), clamp) / np.linalg.norm(r) * r
        xs.append(x)
    return xs


@pytest.mark.parametrize("corrected", [False, True], ids=["arXiv v3", "published"])
def test_matches_the_papers_box_over_30_steps(corrected):
    """The rule against Algorithm 2 written out here, on a quadratic, with decay and clipping
    active. Same formula, different groupings of the rounding (the rule's fused multiply-adds,
    NumPy's norms): each step is O(20) operations on O(1) values, each within u = 2⁻⁵³, and the
    trust ratio normalizes the step, so errors do not grow: 30 steps stay below 1e-12 relative.
    The published box is ``correct_moments=True``; the v3 box is the reference's default."""
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 2.0, 8)
    x0 = rng.standard_normal(8) * 3
    grads = [lambda p: scale * p] * 30
    box = papers_algorithm(x0, grads, lr=0.05, beta1=0.9, beta2=0.99, eps=1e-6, decay=0.1, clamp=4.0,
                           corrected=corrected)
    rule = rules.Lamb(lr=0.05, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1, clamp_value=4.0,
                      correct_moments=corrected)
    x, state = x0.copy(), rule.init(x0)
    for t in range(30):
        x, state = rule.update(x, scale * x, state)
        np.testing.assert_allclose(x, box[t], rtol=1e-12, atol=1e-15)
    assert np.linalg.norm(x0) > 4.0  # the clipping was active at the start


def test_layer_dims_gives_one_trust_ratio_per_run():
    """A batch of runs with layer_dims=1 steps each run as it would alone."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3))
    grads = [rng.standard_normal((5, 3)) for _ in range(4)]
    batched = rules.Lamb(lr=0.1, weight_decay=0.1, layer_dims=1)
    alone = rules.Lamb(lr=0.1, weight_decay=0.1)
    together, state = x, batched.init(x)
    for g in grads:
        together, state = batched.update(together, g, state)
    for i in range(5):
        xi, si = x[i], alone.init(x[i])
        for g in grads:
            xi, si = alone.update(xi, g[i], si)
        np.testing.assert_allclose(together[i], xi, rtol=1e-14)
