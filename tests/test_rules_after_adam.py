"""The rules after Adam (NAdam, Adamax, Lion, LAMB, schedule-free AdamW, Muon): the NumPy path
equals the torch path, an update leaves its inputs untouched, and a grid of learning rates is
one vectorized run.

NumPy vs torch (float64): on tensors the rules call fused kernels (lerp, addcmul, addcdiv, add
with alpha) that round a multiply-add once where NumPy rounds twice, one rounding (2⁻⁵³
relative) per call, a handful of calls per step; LAMB's norms and Muon's matrix products also
sum in a different order (≤ n·u for n terms). Over 20 steps with O(1) values this stays below
1e-13, as argued in test_rules_backends; rtol = atol = 1e-12. (Muon runs its iteration in
float64 here, ns_dtype=None; see test_muon for the bound on that iteration alone.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptive_optim import rules
from test_rules_backends import assert_backends_agree, run

SETTINGS = [
    rules.NAdam(lr=0.01), rules.NAdam(lr=0.01, weight_decay=0.1, maximize=True),
    rules.NAdam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=6e-3),
    rules.Adamax(lr=0.01), rules.Adamax(lr=0.01, weight_decay=0.1, maximize=True),
    rules.Lion(lr=0.01), rules.Lion(lr=0.01, weight_decay=0.1, betas=(0.95, 0.98), maximize=True),
    rules.Lamb(lr=0.01, weight_decay=0.1, layer_dims=1), rules.Lamb(lr=0.01, debias=True, layer_dims=1),
    rules.Lamb(lr=0.01, correct_moments=True, clamp_value=0.5, layer_dims=1),
    rules.AdamWScheduleFree(lr=0.01), rules.AdamWScheduleFree(lr=0.01, weight_decay=0.1, warmup_steps=5, r=0.5),
    rules.Muon(lr=0.02, ns_dtype=None), rules.Muon(lr=0.02, nesterov=False, adjust_lr_fn="match_rms_adamw",
                                                   ns_dtype=None),
]


def shaped(rule, leading: tuple[int, ...] = ()) -> tuple[int, ...]:
    """A parameter shape the rule takes: a 5×4 matrix for Muon, a 20-vector otherwise."""
    return leading + ((5, 4) if isinstance(rule, rules.Muon) else (20,))


@pytest.mark.parametrize("rule", SETTINGS, ids=repr)
def test_numpy_path_equals_torch_path(rule):
    rng = np.random.default_rng(0)
    param = rng.standard_normal(shaped(rule))
    assert_backends_agree(rule, param, [rng.standard_normal(param.shape) for _ in range(20)])


@pytest.mark.parametrize("rule", SETTINGS, ids=repr)
def test_update_leaves_its_inputs_untouched(rule):
    rng = np.random.default_rng(2)
    param = rng.standard_normal(shaped(rule))
    state = run(rule, param, [np.cos(param)])[1]
    before_param = param.copy()
    before = {k: np.copy(v) for k, v in state.items()}
    rule.update(param, np.sin(param), state)
    np.testing.assert_array_equal(param, before_param)
    for k in before:
        np.testing.assert_array_equal(state[k], before[k])


@pytest.mark.parametrize("rule", SETTINGS, ids=repr)
def test_learning_rate_grid_equals_separate_runs(rule):
    """A column of learning rates broadcast against a batch of parameters is one vectorized run,
    equal to the separate runs to the last bit (the same element-wise operations)."""
    lrs = np.array([1e-3, 1e-2, 0.1]).reshape((3,) + (1,) * len(shaped(rule)))
    rng = np.random.default_rng(1)
    param = rng.standard_normal(shaped(rule, (3,)))
    grads = [rng.standard_normal(param.shape) for _ in range(8)]
    together, _ = run(rule.replace(lr=lrs), param, grads)
    for i, lr in enumerate(lrs.ravel()):
        alone, _ = run(rule.replace(lr=float(lr)), param[i], [g[i] for g in grads])
        np.testing.assert_array_equal(together[i], alone)
