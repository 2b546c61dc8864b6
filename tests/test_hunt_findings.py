"""Cases found by an adversarial hunt on ``fused=True`` (CPU) and ``sweeps.train``'s joined update.

Each test is one finding; its docstring says what was wrong (a crash with an unclear error, or a
silent difference) and what the reference does. All failed before the fixes (the fused step's
fallback to the uncompiled rule when torch.compile fails, the dtype in its plan's key, and sweeps'
refusals of per-run NAdam momentum and complex parameters, and its joined width > 1).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from adaptive_optim import optim as ours
from adaptive_optim import rules, sweeps
from test_sweeps import SEEDS, TOL, as_rule_value, assert_equals_loops, torch_loops

#: as tests/test_optim_fused.py argues: each compiled step may differ from torch's fused kernel by
#: ~15 roundings of u = 2⁻⁵³ relative on |θ| + |Δθ| < 4 (≈1.3e-14); here the gradients do not depend
#: on θ, so differences add up without feedback: 12 steps ≤ 1.6e-13 < ATOL.
ATOL = 2e-13


def _one_cycle(make_opt) -> torch.Tensor:
    torch.manual_seed(0)
    p = torch.randn(4, dtype=torch.float64, requires_grad=True)
    opt = make_opt([p])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=50)  # cycle_momentum=True
    for k in range(12):
        p.grad = torch.full_like(p, k + 1.0)
        opt.step()
        sched.step()
    return p.detach()


def test_fused_adam_with_one_cycle_lr_matches_torchs_fused_adam():
    """OneCycleLR (cycle_momentum=True, its default) writes a new ``betas`` into the group every step.
    Ours with fused=True bakes betas into the compiled graph as constants, recompiles at each step, and
    at the 9th step raises ``torch._dynamo.exc.FailOnRecompileLimitHit: Hard failure due to
    fullgraph=True``; torch.optim.Adam(fused=True) trains through it."""
    reference = _one_cycle(lambda ps: torch.optim.Adam(ps, lr=0.01, fused=True))
    mine = _one_cycle(lambda ps: ours.Adam(ps, lr=0.01, fused=True))
    torch.testing.assert_close(mine, reference, rtol=0, atol=ATOL)


def _per_group_lr(make_opt) -> list[torch.Tensor]:
    torch.manual_seed(0)
    ps = [torch.randn(i + 1, dtype=torch.float64, requires_grad=True) for i in range(10)]
    opt = make_opt([{"params": [p], "lr": 0.01 * (i + 1)} for i, p in enumerate(ps)])
    for _ in range(2):
        for p in ps:
            p.grad = torch.ones_like(p)
        opt.step()
    return [p.detach() for p in ps]


def test_fused_adam_with_ten_param_groups_matches_torchs_fused_adam():
    """Ten param groups (per-layer learning rates), each with a parameter of its own shape: every group
    is a new input structure for the one compiled function, so the 9th group's first step raises
    ``FailOnRecompileLimitHit: Hard failure due to fullgraph=True`` (SGD and RAdam alike; 8 groups
    pass). torch.optim.Adam(fused=True) steps them."""
    reference = _per_group_lr(lambda groups: torch.optim.Adam(groups, lr=0.01, fused=True))
    mine = _per_group_lr(lambda groups: ours.Adam(groups, lr=0.01, fused=True))
    for m, r in zip(mine, reference):
        torch.testing.assert_close(m, r, rtol=0, atol=ATOL)


def _changing_subsets(make_opt) -> list[torch.Tensor]:
    torch.manual_seed(0)
    ps = [torch.randn(i + 1, dtype=torch.float64, requires_grad=True) for i in range(6)]
    opt = make_opt(ps)
    for subset in itertools.islice(itertools.combinations(range(6), 3), 12):
        for i, p in enumerate(ps):
            p.grad = torch.ones_like(p) if i in subset else None
        opt.step()
    return [p.detach() for p in ps]


def test_fused_adam_with_changing_parameters_with_gradients_matches_torchs_fused_adam():
    """One group whose parameters with a gradient change from step to step (conditional branches, a
    mixture of experts): each new set of shapes recompiles, and the 9th raises
    ``FailOnRecompileLimitHit``. torch.optim.Adam(fused=True) steps them. (12 steps; the step counts
    differ between parameters, so the lists split by count too.)"""
    reference = _changing_subsets(lambda ps: torch.optim.Adam(ps, lr=0.01, fused=True))
    mine = _changing_subsets(lambda ps: ours.Adam(ps, lr=0.01, fused=True))
    for m, r in zip(mine, reference):
        torch.testing.assert_close(m, r, rtol=0, atol=ATOL)


def test_fused_refuses_a_parameter_whose_dtype_changed_under_its_state():
    """``p.data = p.data.float()`` after steps (identity kept, state still float64): torch.optim.Adam
    (fused, foreach and for-loop) and our own eager step raise RuntimeError (dtype mismatch). Ours with
    fused=True reuses its cached plan and silently steps the float32 parameter with float64 moments."""
    def steps(make_opt):
        torch.manual_seed(0)
        ps = [torch.randn(3, 2, dtype=torch.float64, requires_grad=True),
              torch.randn(4, dtype=torch.float64, requires_grad=True)]
        opt = make_opt(ps)
        for k in range(3):
            if k == 2:
                ps[0].data = ps[0].data.float()
            for p in ps:
                p.grad = torch.ones_like(p)
            opt.step()

    with pytest.raises(RuntimeError):
        steps(lambda ps: torch.optim.Adam(ps, lr=0.01, fused=True))
    with pytest.raises(RuntimeError):
        steps(lambda ps: ours.Adam(ps, lr=0.01))
    with pytest.raises(RuntimeError):
        steps(lambda ps: ours.Adam(ps, lr=0.01, fused=True))


def _amsgrad_switched_on(make_opt) -> tuple[type, str]:
    ps = [torch.zeros(3, dtype=torch.float64, requires_grad=True), torch.zeros(4, dtype=torch.float64, requires_grad=True)]
    opt = make_opt(ps)
    for k in range(2):
        for p in ps:
            p.grad = torch.ones_like(p)
        if k == 1:
            opt.param_groups[0]["amsgrad"] = True
        try:
            opt.step()
        except Exception as err:  # noqa: BLE001 - the error itself is compared
            return type(err), str(err)
    return None


def test_fused_raises_the_eager_steps_clear_error_when_amsgrad_is_switched_on():
    """amsgrad switched on after steps: our eager step raises RuntimeError("the state has no
    'max_exp_avg_sq': ... Start from a fresh state ..."). With fused=True the same refusal, raised
    inside the compiled function, comes out as ``torch._dynamo.exc.Unsupported: Observed exception``
    with dynamo's hints first and our message buried in its "Developer debug context"."""
    eager = _amsgrad_switched_on(lambda ps: ours.Adam(ps, lr=0.1))
    assert eager is not None and eager[0] is RuntimeError
    assert _amsgrad_switched_on(lambda ps: ours.Adam(ps, lr=0.1, fused=True)) == eager


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def _batches(steps: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 2, generator=g, dtype=torch.float64))
            for _ in range(steps)]


@pytest.mark.parametrize("settings", [dict(lr=1e-2, betas=([0.9, 0.8, 0.7], 0.999)),
                                      dict(lr=1e-2, momentum_decay=[4e-3, 1e-3, 1e-2])],
                         ids=["beta1", "momentum_decay"])
def test_sweep_nadam_with_per_run_beta1_or_momentum_decay_equals_loops(settings):
    """sweeps.train documents every numeric hyperparameter as shared or per run (length K). NAdam with a
    per-run betas[0] or momentum_decay (joined or not) raises ``ValueError: only one element tensors
    can be converted to Python scalars`` (rules/nadam.py reads the (K, 1) μ-product with float()).
    Expected: the K torch.optim.NAdam loops, or a clear refusal naming the hyperparameter."""
    rule = rules.NAdam(**{k: as_rule_value(v) for k, v in settings.items()})
    try:
        sweep = sweeps.train(_mlp, rule, _batches(), F.mse_loss, seeds=SEEDS)
    except ValueError as err:
        assert "momentum_decay" in str(err) or "beta" in str(err), str(err)
        return
    assert_equals_loops(sweep, *torch_loops(_mlp, "NAdam", settings, _batches(), F.mse_loss))


class _ScalarAndEmpty(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn((), dtype=torch.float64))
        self.e = nn.Parameter(torch.zeros(0, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :2] * self.w + self.e.sum()


def test_joined_state_of_an_empty_parameter_matches_the_unjoined_sweep(monkeypatch):
    """Joined width P = 1 (a scalar parameter and an empty one): split_state takes schedule-free's
    per-run counters (K, 1) for joined-shaped entries and gives the empty parameter ``weight_sum`` and
    ``lr_max`` of shape (K, 0); without joining they are (K, 1), the run's values. Silent: nothing
    raises, the state just loses the counters."""
    rule = rules.AdamWScheduleFree(lr=torch.tensor([1e-2, 3e-2, 1e-1], dtype=torch.float64), warmup_steps=2)
    joined = sweeps.train(_ScalarAndEmpty, rule, _batches(), F.mse_loss, seeds=SEEDS)
    monkeypatch.setattr(sweeps._Joined, "of", classmethod(lambda cls, params: None))
    apart = sweeps.train(_ScalarAndEmpty, rule, _batches(), F.mse_loss, seeds=SEEDS)
    for name in apart.state:
        for key, value in apart.state[name].items():
            if torch.is_tensor(value):
                assert joined.state[name][key].shape == value.shape, (name, key)
                assert torch.equal(joined.state[name][key], value), (name, key)


class _Complex(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.randn(3, 2, dtype=torch.complex128))
        self.b = nn.Parameter(torch.randn(2, dtype=torch.complex128))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(torch.complex128) @ self.a + self.b).abs()


@pytest.mark.parametrize("lr", [1e-2, [1e-2, 3e-2, 1e-1]], ids=["shared", "per-run"])
def test_sweep_with_complex_parameters_equals_loops_or_refuses_clearly(lr):
    """Complex parameters with rules.Adam: torch.optim.Adam trains them. The sweep crashes with errors
    that do not name the problem: shared lr, joined: ``shape '[3, 3, 2]' is invalid for input of
    size 36`` (unjoined: a bmm size error); per-run lr: ``"ge_cpu" not implemented for
    'ComplexDouble'`` (the per-run lr is cast to the parameters' complex dtype and validated)."""
    try:
        sweep = sweeps.train(_Complex, rules.Adam(lr=as_rule_value(lr)), _batches(), F.mse_loss, seeds=SEEDS)
    except Exception as err:  # noqa: BLE001 - a refusal is fine if it is the package's, naming the problem
        assert isinstance(err, (ValueError, TypeError)) and "complex" in str(err).lower(), f"{type(err).__name__}: {err}"
        return
    losses, params = torch_loops(_Complex, "Adam", dict(lr=lr), _batches(), F.mse_loss)
    torch.testing.assert_close(sweep.losses, losses, **TOL)
    for k, run_params in enumerate(params):
        for name, p in run_params.items():
            torch.testing.assert_close(sweep.params[name][k], p.detach(), **TOL)


def test_fused_fallback_warns_once_and_steps_uncompiled_from_then_on():
    """When torch.compile gives up (here: the 9th recompilation, one per param group of a new shape),
    the optimizer says so once, with the reason, and keeps stepping the rule without compiling."""
    ps = [torch.randn(i + 1, dtype=torch.float64, requires_grad=True) for i in range(10)]
    opt = ours.Adam([{"params": [p]} for p in ps], lr=0.01, fused=True)
    for p in ps:
        p.grad = torch.ones_like(p)
    with pytest.warns(RuntimeWarning, match="could not compile this step") as caught:
        opt.step()
        opt.step()
    assert opt.fused_fallback and len([w for w in caught if "could not compile" in str(w.message)]) == 1
