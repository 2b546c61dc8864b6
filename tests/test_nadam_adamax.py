"""NAdam and Adamax against torch.optim on torch's own test inputs (optim_db), bit for bit.

Why bitwise: on the CPU torch.optim's default (foreach=None) is its single-tensor loop, and our
rules call the same kernels in the same order (lerp for m_t, mul then addcmul for v_t, div/sqrt/
add for NAdam's denominator, maximum for Adamax's u_t, addcdiv with the same Python-float
coefficient; NAdam's μ-product kept as a float32 (or float64) scalar tensor as torch keeps it; a
tensor lr turned into the coefficient in its own dtype, as torch does). Equal inputs through
equal IEEE-754 operations give equal outputs, in float64 and float32 alike, so any difference,
even one ulp, means a different formula or order, and the test reports it.
"""

from __future__ import annotations

import copy
import inspect
import io

import numpy as np
import pytest
import torch

from adaptive_optim import optim as ours
from adaptive_optim import rules
from optim_cases import (assert_same_run, make_data, make_net, optim_db_configs, optim_db_errors,
                         raise_error_input, run_side_by_side, train_step)

NAMES = ("NAdam", "Adamax")
STEPS = 15


def cases():
    return [pytest.param(name, *p.values, id=f"{name}-{p.id}") for name in NAMES for p in optim_db_configs(name)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("name,kwargs", cases())
def test_optim_db_configs_match_torch_bitwise(name, kwargs, dtype):
    kwargs = {**kwargs, "foreach": False}
    opt_t, opt_o, history = run_side_by_side(
        lambda ps: getattr(torch.optim, name)(ps, **kwargs), lambda ps: getattr(ours, name)(ps, **kwargs),
        dtype, STEPS, kwargs.get("maximize", False))
    assert_same_run(opt_t, opt_o, history)


@pytest.mark.parametrize("name", NAMES)
def test_foreach_flag_runs_the_single_tensor_order(name):
    """foreach=True is accepted and runs our one implementation: torch's single-tensor order."""
    opt_t, opt_o, history = run_side_by_side(
        lambda ps: getattr(torch.optim, name)(ps, foreach=False, weight_decay=0.1),
        lambda ps: getattr(ours, name)(ps, foreach=True, weight_decay=0.1), torch.float32, 10)
    assert all(torch.equal(a, b) for theirs, mine in history for a, b in zip(theirs, mine))


@pytest.mark.parametrize("name,error_input", [pytest.param(n, *p.values, id=f"{n}-{p.id}")
                                              for n in NAMES for p in optim_db_errors(n)])
def test_optim_db_error_inputs_raise_torchs_error(name, error_input):
    def default_params():
        return [torch.nn.Parameter(torch.randn(2, 2))]

    expected = raise_error_input(getattr(torch.optim, name), error_input, default_params)
    got = raise_error_input(getattr(ours, name), error_input, default_params)
    assert type(got) is type(expected) and str(got) == str(expected)


@pytest.mark.parametrize("name", NAMES)
def test_signature_and_defaults_are_torchs(name):
    def shape(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    theirs, mine = getattr(torch.optim, name), getattr(ours, name)
    assert shape(mine) == shape(theirs)
    params = [torch.zeros(2, requires_grad=True)]
    assert mine(params).defaults == theirs(params).defaults


@pytest.mark.parametrize("name", NAMES)
def test_differentiable_is_refused_clearly(name):
    with pytest.raises(NotImplementedError, match="differentiable"):
        getattr(ours, name)([torch.zeros(2, requires_grad=True)], differentiable=True)


@pytest.mark.parametrize("name", NAMES)
def test_sparse_gradients_rejected_with_torchs_error(name):
    messages = []
    for cls in (getattr(torch.optim, name), getattr(ours, name)):
        emb = torch.nn.Embedding(10, 3, sparse=True)
        opt = cls(emb.parameters())
        emb(torch.tensor([1, 4])).sum().backward()
        with pytest.raises(RuntimeError) as err:
            opt.step()
        messages.append(str(err.value))
    assert messages[1] == messages[0]


def roundtrip(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer)


def interrupted_run(first, second, steps: int = 6) -> list[torch.Tensor]:
    """``steps`` steps with optimizer ``first``, its state_dict saved and loaded into ``second``
    (on the same parameters), ``steps`` more; the final parameters."""
    x, y = make_data(torch.float64)
    net = make_net(torch.float64)
    opt = first(net.parameters())
    for _ in range(steps):
        train_step(net, opt, x, y, False)
    resumed = second(net.parameters())
    resumed.load_state_dict(roundtrip(copy.deepcopy(opt.state_dict())))
    for _ in range(steps):
        train_step(net, resumed, x, y, False)
    return [p.detach() for p in net.parameters()]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("first,second", [("torch", "ours"), ("ours", "torch"), ("ours", "ours")])
def test_checkpoint_moves_between_torch_and_ours(name, first, second):
    """Saved by one, loaded by the other: bitwise what torch gives when it saves and loads itself.
    (Not what an uninterrupted run gives: torch's load_state_dict casts NAdam's float32 mu_product
    to the parameter's dtype, which changes its later rounding; ours inherits that loader.)"""
    kw = dict(weight_decay=0.1, lr=0.01)
    classes = {"torch": getattr(torch.optim, name), "ours": getattr(ours, name)}
    make = {k: (lambda cls: lambda ps: cls(ps, **kw))(cls) for k, cls in classes.items()}
    expected = interrupted_run(make["torch"], make["torch"])
    got = interrupted_run(make[first], make[second])
    assert all(torch.equal(p, q) for p, q in zip(expected, got))


def test_nadam_loads_a_float_mu_product_as_torch_does():
    """Old NAdam checkpoints hold mu_product as a Python float; torch turns it into a scalar tensor."""
    p = torch.nn.Parameter(torch.ones(2))
    opt = ours.NAdam([p])
    p.grad = torch.ones(2)
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0]["mu_product"] = float(sd["state"][0]["mu_product"])
    opt.load_state_dict(sd)
    assert torch.is_tensor(opt.state[p]["mu_product"]) and opt.state[p]["mu_product"].dtype == torch.float32


def test_adamax_is_the_papers_infinity_norm_rule():
    """Kingma & Ba's AdaMax (Sec. 7.1) by hand, for one coordinate: g = 0.5, then −2, then 1 (ε = 0).

    m: 0.05, −0.155, −0.0395; u: max(0, .5) = .5, max(.4995, 2) = 2, max(1.998, 1) = 1.998;
    θ moves by −η/(1 − β₁ᵗ)·m/u each step.
    """
    rule = rules.Adamax(lr=0.1, eps=0.0)
    theta, state = np.array([1.0]), rule.init(np.array([1.0]))
    expected = 1.0
    for t, (g, m, u) in enumerate([(0.5, 0.05, 0.5), (-2.0, -0.155, 2.0), (1.0, -0.0395, 1.998)], 1):
        theta, state = rule.update(theta, np.array([g]), state)
        expected -= 0.1 / (1 - 0.9**t) * m / u
        np.testing.assert_allclose(state["exp_inf"], [u], rtol=1e-15)
        np.testing.assert_allclose(theta, [expected], rtol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_complex_parameters_follow_torch(name):
    """Complex parameters, handled as their real view (as torch does). Bitwise, except Adamax
    with weight decay: torch adds λθ to the *complex* gradient before taking the real view, and
    complex add-with-alpha rounds λθ and the sum separately where the real kernel fuses them.
    So there each step is compared from torch's own state (teacher forcing) with the bound of
    test_optim_equivalence: |ours − torch| ≤ 2u(|θ_t| + k|Δθ_t|), u = 2⁻²⁴, k = 8 roundings on
    the path to Δθ (λθ, +, lerp's two, |g| + ε, β₂u, ÷, ·clr)."""
    u, k = 2.0**-24, 8
    for weight_decay in (0.0, 0.1):
        z_t = torch.tensor([1 + 2j, -0.5j, 0.3 - 0.1j], dtype=torch.complex64, requires_grad=True)
        z_o = z_t.detach().clone().requires_grad_()
        opt_t = getattr(torch.optim, name)([z_t], lr=0.1, weight_decay=weight_decay)
        opt_o = getattr(ours, name)([z_o], lr=0.1, weight_decay=weight_decay)
        teacher = name == "Adamax" and weight_decay != 0
        for _ in range(10):
            if teacher:
                with torch.no_grad():
                    z_o.copy_(z_t)
                opt_o.load_state_dict(copy.deepcopy(opt_t.state_dict()))
            before = torch.view_as_real(z_t.detach()).clone()
            for z, opt in ((z_t, opt_t), (z_o, opt_o)):
                opt.zero_grad()
                (z.abs() ** 2).sum().backward()
                opt.step()
            theirs, mine = torch.view_as_real(z_t.detach()), torch.view_as_real(z_o.detach())
            if teacher:
                assert ((mine - theirs).abs() <= 2 * u * (theirs.abs() + k * (theirs - before).abs())).all()
            else:
                assert torch.equal(mine, theirs)
