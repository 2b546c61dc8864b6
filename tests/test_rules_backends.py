"""The NumPy path of each rule equals its torch path on the same data, and rules are pure.

On tensors a few steps call torch's fused kernels (torch.lerp, addcmul, addcdiv, add with
alpha), which round a multiply-add once; NumPy rounds the product and the sum separately.
Each such call may therefore differ by one rounding, u = 2⁻⁵³ relative to the magnitudes of
its terms, and a step makes at most four of them. Over 20 steps of a contraction-free update,
with everything O(1), these stay below 20·4·2u·(a few) ≈ 1e-13 of the parameter scale, so we
compare at rtol 1e-12 with the same absolute floor. Everything else is the same IEEE arithmetic.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptive_optim import rules

SETTINGS = [
    rules.SGD(lr=0.05), rules.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
    rules.SGD(lr=0.05, momentum=0.5, dampening=0.5, maximize=True),
    rules.Adagrad(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5),
    rules.RMSprop(lr=0.01), rules.RMSprop(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1),
    rules.Adam(lr=0.01), rules.Adam(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True),
    rules.Adam(lr=0.01, betas=(0.0, 0.9)), rules.AdamW(lr=0.01, amsgrad=True),
    rules.RAdam(lr=0.01), rules.RAdam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    rules.RAdam(lr=0.01, threshold=4.0),
]


def run(rule, param, grads):
    state = rule.init(param)
    for g in grads:
        param, state = rule.update(param, g, state)
    return param, state


def assert_backends_agree(rule, param, grads) -> None:
    """The rule run on NumPy arrays and on torch tensors (float64) gives the same parameter and state."""
    p_np, s_np = run(rule, param, grads)
    p_t, s_t = run(rule, torch.from_numpy(param), [torch.from_numpy(g) for g in grads])
    np.testing.assert_allclose(p_t.numpy(), p_np, rtol=1e-12, atol=1e-12)
    assert s_np.keys() == s_t.keys()
    for key in s_np:
        np.testing.assert_allclose(np.asarray(s_t[key]), np.asarray(s_np[key]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rule", SETTINGS, ids=repr)
def test_numpy_path_equals_torch_path(rule):
    rng = np.random.default_rng(0)
    param = rng.standard_normal(200)
    assert_backends_agree(rule, param, [rng.standard_normal(200) for _ in range(20)])


@pytest.mark.parametrize("rule", SETTINGS, ids=repr)
def test_update_leaves_its_inputs_untouched(rule):
    param = np.linspace(-1, 1, 7)
    state = rule.init(param)
    state = run(rule, param, [np.cos(param)])[1]
    before = {k: np.copy(v) for k, v in state.items()}
    rule.update(param, np.sin(param), state)
    np.testing.assert_array_equal(param, np.linspace(-1, 1, 7))
    for k in before:
        np.testing.assert_array_equal(state[k], before[k])


@pytest.mark.parametrize("rule", SETTINGS, ids=repr)
def test_hyperparameter_grid_equals_separate_runs(rule):
    """A column of learning rates broadcast against a batch of parameters is one vectorized run."""
    lrs = np.array([[1e-3], [1e-2], [0.1]])
    rng = np.random.default_rng(1)
    param = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(12)]
    together, _ = run(rule.replace(lr=lrs), param, grads)
    for i, lr in enumerate(lrs[:, 0]):
        alone, _ = run(rule.replace(lr=float(lr)), param[i], [g[i] for g in grads])
        np.testing.assert_array_equal(together[i], alone)


def test_radam_threshold_option_switches_one_step_earlier():
    """ρ_t passes 4 at step 5 and 5 at step 6 (β₂ = 0.999): the paper's switch comes one step sooner."""
    t = np.arange(1, 10)
    rho = rules.radam.rho(t, 0.999)
    assert t[rho > 4][0] == 5 and t[rho > 5][0] == 6
    with pytest.raises(ValueError, match="threshold"):
        rules.RAdam(threshold=3.0)
