"""Muon against torch.optim.Muon on torch's own test inputs (optim_db), bit for bit.

Why bitwise: our rule calls torch's kernels in torch's order: lerp for the buffer and the
Nesterov mix, the bfloat16 copy, transposition of a tall matrix, norm/clamp/div, then
``ns_steps`` pairs of torch.addmm with the same coefficients, the decay θ(1 − ηλ), and add with
alpha −η·s(A, B) (a tensor lr turned into that number in its own dtype, as torch does). The
net's two weight matrices are 5×3 (tall: the transposed path) and 2×5 (wide).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from adaptive_optim import optim as ours
from adaptive_optim import rules
from adaptive_optim.rules.muon import orthogonalize
from optim_cases import (assert_same_error, assert_same_run, make_data, make_net, optim_db_configs, optim_db_errors,
                         raise_error_input, run_side_by_side, train_step)


def matrices(net):
    return [net[0].weight, net[2].weight]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("kwargs", [p.values[0] for p in optim_db_configs("Muon")],
                         ids=[p.id for p in optim_db_configs("Muon")])
def test_optim_db_configs_match_torch_bitwise(kwargs, dtype):
    opt_t, opt_o, history = run_side_by_side(lambda ps: torch.optim.Muon(ps, **kwargs),
                                             lambda ps: ours.Muon(ps, **kwargs), dtype, 15, select=matrices)
    assert_same_run(opt_t, opt_o, history, ["momentum_buffer"])


@pytest.mark.parametrize("kwargs", [dict(nesterov=False), dict(adjust_lr_fn="match_rms_adamw", lr=0.01),
                                    dict(adjust_lr_fn="original", momentum=0.0)], ids=repr)
def test_other_flags_match_torch_bitwise(kwargs):
    opt_t, opt_o, history = run_side_by_side(lambda ps: torch.optim.Muon(ps, **kwargs),
                                             lambda ps: ours.Muon(ps, **kwargs), torch.float32, 10, select=matrices)
    assert_same_run(opt_t, opt_o, history, ["momentum_buffer"])


@pytest.mark.parametrize("error_input", [p.values[0] for p in optim_db_errors("Muon")],
                         ids=[p.id for p in optim_db_errors("Muon")])
def test_optim_db_error_inputs_raise_torchs_error(error_input):
    def default_params():
        return [torch.nn.Parameter(torch.randn(2, 2))]

    expected = raise_error_input(torch.optim.Muon, error_input, default_params)
    got = raise_error_input(ours.Muon, error_input, default_params)
    assert type(got) is type(expected) and str(got) == str(expected)


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(momentum=-0.5), dict(weight_decay=-0.1)], ids=repr)
def test_bad_hyperparameters_raise_torchs_error(kwargs):
    params = [torch.nn.Parameter(torch.randn(2, 2))]
    assert_same_error(torch.optim.Muon, ours.Muon, params, kwargs, error=ValueError)


def test_signature_and_defaults_are_torchs():
    def shape(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    assert shape(ours.Muon) == shape(torch.optim.Muon)
    params = [torch.nn.Parameter(torch.randn(2, 2))]
    assert ours.Muon(params).defaults == torch.optim.Muon(params).defaults


@pytest.mark.parametrize("first,second", [("torch", "ours"), ("ours", "torch")])
def test_checkpoint_moves_between_torch_and_ours(first, second):
    classes = {"torch": torch.optim.Muon, "ours": ours.Muon}
    x, y = make_data(torch.float32)
    results = []
    for a, b in (("torch", "torch"), (first, second)):
        net = make_net(torch.float32)
        opt = classes[a](matrices(net), lr=0.02)
        for _ in range(4):
            train_step(net, opt, x, y, False)
        resumed = classes[b](matrices(net), lr=0.02)
        resumed.load_state_dict(opt.state_dict())
        for _ in range(4):
            train_step(net, resumed, x, y, False)
        results.append([p.detach().clone() for p in net.parameters()])
    assert all(torch.equal(p, q) for p, q in zip(*results))


def test_numpy_refuses_bfloat16_and_runs_in_float64_when_asked():
    rule = rules.Muon(lr=0.02)
    param = np.ones((3, 4))
    with pytest.raises(ValueError, match="ns_dtype=None"):
        rule.update(param, param, rule.init(param))
    with pytest.raises(ValueError, match="2D"):
        rule.update(np.ones(4), np.ones(4), rule.init(np.ones(4)))


@pytest.mark.parametrize("shape", [(6, 4), (4, 6)], ids=["tall", "wide"])
def test_numpy_and_torch_float64_iterations_agree(shape):
    """Newton–Schulz in float64 on both backends (ns_dtype=None). They differ only in how the
    matrix products sum (BLAS blocking): each product of inner dimension n ≤ 6 is within n·u of
    exact per entry (u = 2⁻⁵³, entries O(1) after the normalization), three products a step.
    The step map p(σ) = aσ + bσ³ + cσ⁵ has |p'| ≤ 3.9 on [0, 1.2], so five steps amplify an
    early error at most 3.9⁵ ≈ 900×: 900 · 3 · 6 · u ≈ 2e-12. We allow 5e-12."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal(shape)
    np.testing.assert_allclose(orthogonalize(g, dtype=None), orthogonalize(torch.from_numpy(g), dtype=None).numpy(),
                               rtol=0, atol=5e-12)


def test_newton_schulz_pushes_singular_values_towards_one():
    """The point of the iteration: after 5 steps a random 16×8 matrix (condition number ~ 4) has
    every singular value between 0.6 and 1.25 (Jordan's coefficients aim at about 0.7–1.2, not 1),
    and its singular vectors unchanged."""
    rng = np.random.default_rng(1)
    g = rng.standard_normal((16, 8))
    o = orthogonalize(g, dtype=None)
    u, s, vt = np.linalg.svd(g, full_matrices=False)
    s_o = np.linalg.svd(o, compute_uv=False)
    assert s.max() / s.min() > 3
    assert np.all((0.6 < s_o) & (s_o < 1.25)), s_o
    np.testing.assert_allclose(o, u @ np.diag(np.diag(u.T @ o @ vt.T)) @ vt, atol=1e-10)
