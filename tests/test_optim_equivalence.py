"""Each drop-in optimizer takes the same steps as torch.optim's, for hyperparameters drawn over every flag.

float64: both optimizers run 50 steps freely, side by side. On tensors the rules call the same
fused kernels as torch.optim's single-tensor path (lerp, addcmul, addcdiv, add with alpha), so on
CPU the two usually agree bit for bit; other kernels (CUDA, torch's foreach path, a CPU without
FMA) may round each step differently by an ulp (2.2e-16 relative). rtol = 1e-9 leaves room for
such differences to grow through 50 steps of training, and is still millions of times smaller
than what a real discrepancy (a misplaced ε, a missing bias correction, a wrong decay) produces.

float32: free-running float32 runs amplify the first rounding difference through the network's
dynamics, so a fixed tolerance there would be tuned, not argued. Instead each of the 50 steps
starts both optimizers from torch's exact parameters and state (teacher forcing); the only
difference left is the rounding inside one update. Round-to-nearest float32 puts every rounded
result within a relative u = 2⁻²⁴ (half an ulp) of its exact value. The update Δθ passes through
at most k rounded operations in each implementation (counted below per rule), so each computed
Δθ is within k·u·|Δθ| of the exact one and the two within 2k·u·|Δθ| of each other (to first
order in u); the final addition θ + Δθ rounds once in each, at most 2u·|θ_t| together. Hence
|ours − torch| ≤ 2u(|θ_t| + k|Δθ_t|). (Additions of opposite-signed terms, as in m_t, could
amplify relative errors; the drawn settings do not hit catastrophic cancellation, and the
test would report it if they did.)
"""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_optim import optim as ours
from optim_cases import NAMES, hyperparameters, make_data, make_net, param_groups, train_step

STEPS = 50

#: Rounded operations on the path from (θ, g, state) to Δθ, counted in the rules' source with
#: every optional term switched on (weight decay, momentum, centering, Nesterov, ...).
ROUNDINGS = {
    "SGD": 8,       # wd·θ, +, μ·b, (1−τ)·g, +, μ·b (Nesterov), +, η·
    "Adagrad": 8,   # wd·θ, +, g·g, +, √, +ε, (−η_t)·g, ÷
    "RMSprop": 17,  # wd·θ, +, α·v, (1−α)·g, ·g, +, g−ḡ, (1−α)·, +, ḡ·ḡ, −, √, +ε, ÷, μ·b, +, η·
    "Adam": 13,     # wd·θ, +, g−m, (1−β₁)·, +, β₂·v, (1−β₂)·g, ·g, +, √, ÷√bc₂, +ε, ·m ÷
    "AdamW": 13,
    "RAdam": 16,    # Adam's moments (9), m÷bc₁, √v, +ε, 1/·, ·√bc₂, ·η, ·r_t
}

lr2s = st.one_of(st.none(), st.floats(1e-3, 3e-2))


def run_pair(name, kw, lr2, dtype):
    x, y = make_data(dtype)
    net_t, net_o = make_net(dtype), make_net(dtype)
    opt_t = getattr(torch.optim, name)(param_groups(net_t, lr2), **kw)
    opt_o = getattr(ours, name)(param_groups(net_o, lr2), **kw)
    return x, y, net_t, net_o, opt_t, opt_o


@pytest.mark.parametrize("name", NAMES)
def test_float64_matches_torch_over_50_steps(name):
    @settings(max_examples=20, deadline=None)
    @given(kw=hyperparameters(name), lr2=lr2s)
    def check(kw, lr2):
        x, y, net_t, net_o, opt_t, opt_o = run_pair(name, kw, lr2, torch.float64)
        for _ in range(STEPS):
            loss_t = train_step(net_t, opt_t, x, y, kw["maximize"])
            loss_o = train_step(net_o, opt_o, x, y, kw["maximize"])
            torch.testing.assert_close(loss_o, loss_t, rtol=1e-9, atol=0)
        for p_t, p_o in zip(net_t.parameters(), net_o.parameters()):
            torch.testing.assert_close(p_o, p_t, rtol=1e-9, atol=1e-9 * p_t.abs().max().item())
        state_t, state_o = opt_t.state_dict(), opt_o.state_dict()
        assert state_o["param_groups"] == state_t["param_groups"]
        for i, s_t in state_t["state"].items():
            s_o = state_o["state"][i]
            assert s_o.keys() == s_t.keys()
            for key in s_t:
                scale = s_t[key].abs().max().item()
                torch.testing.assert_close(s_o[key], s_t[key], rtol=1e-9, atol=1e-9 * scale)

    check()


@pytest.mark.parametrize("name", NAMES)
def test_float32_each_step_within_rounding_of_torch(name):
    u = 2.0**-24
    k = ROUNDINGS[name]

    @settings(max_examples=10, deadline=None)
    @given(kw=hyperparameters(name), lr2=lr2s)
    def check(kw, lr2):
        x, y, net_t, net_o, opt_t, opt_o = run_pair(name, kw, lr2, torch.float32)
        for _ in range(STEPS):
            with torch.no_grad():
                for p_t, p_o in zip(net_t.parameters(), net_o.parameters()):
                    p_o.copy_(p_t)
            # deepcopy: state_dict() hands out torch's own state tensors, which its next step mutates
            opt_o.load_state_dict(copy.deepcopy(opt_t.state_dict()))
            before = [p.detach().clone() for p in net_t.parameters()]
            train_step(net_t, opt_t, x, y, kw["maximize"])
            train_step(net_o, opt_o, x, y, kw["maximize"])
            for p0, p_t, p_o in zip(before, net_t.parameters(), net_o.parameters()):
                bound = 2 * u * (p_t.abs() + k * (p_t - p0).abs())
                excess = ((p_o - p_t).abs() - bound).max().item()
                assert excess <= 0, f"{name} {kw}: float32 step differs from torch by more than rounding"

    check()


def test_float32_test_detects_epsilon_inside_the_root():
    """The float32 bound is tight enough to catch ε moved inside the square root."""
    u, k = 2.0**-24, ROUNDINGS["Adam"]
    torch.manual_seed(0)
    theta, g = torch.randn(1000), torch.randn(1000) * 1e-2
    v = 0.001 * g * g
    right = theta - 1e-3 * 0.1 * g / (0.1 * (v.sqrt() / 0.001**0.5 + 1e-8))
    wrong = theta - 1e-3 * 0.1 * g / (0.1 * ((v + 1e-8).sqrt() / 0.001**0.5))
    bound = 2 * u * (right.abs() + k * (right - theta).abs())
    assert ((wrong - right).abs() > bound).any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.0, 0.9), (0.5, 0.9)])
def test_radam_rectified_steps_are_bitwise_torchs(betas, dtype):
    """From the step where ρ_t > 5, RAdam divides the Python number √(1 − β₂ᵗ) by a tensor, which
    torch rounds as reciprocal-then-multiply (``Tensor.__rtruediv__``); a true division rounds once
    and differs by an ulp. Every one of 50 steps (rectified from step 6 on) must be bitwise torch's."""
    kw = dict(lr=1e-2, betas=betas, eps=1e-8)
    x, y = make_data(dtype)
    net_t, net_o = make_net(dtype), make_net(dtype)
    opt_t, opt_o = torch.optim.RAdam(net_t.parameters(), **kw), ours.RAdam(net_o.parameters(), **kw)
    for step in range(1, STEPS + 1):
        train_step(net_t, opt_t, x, y, False)
        train_step(net_o, opt_o, x, y, False)
        for p_t, p_o in zip(net_t.parameters(), net_o.parameters()):
            assert torch.equal(p_o, p_t), f"step {step}"
