"""Issue 15's fast paths: the tensor-list step (default flags) and ``fused=True`` (the rule compiled).

The default step runs the rule over a param group's tensors as TensorLists (torch's ``_foreach``
kernels), writing in place; on the CPU those kernels call the per-tensor ones, so the step stays
bitwise equal to torch.optim's default (tests/test_optim_equivalence.py and
tests/test_optim_reliability.py check that on every flag; here: groups that mix what the lists
must keep apart).

``fused=True`` compiles the same rule with torch.compile (inductor). Tolerance, float64: the compiled
step evaluates the same operations as the eager one, but inductor fuses them and may round a
product and a sum once instead of twice (an FMA), or evaluate ``pow`` with another libm routine, so
each elementwise result may differ by a few units of u = 2⁻⁵³ relative; torch's fused CPU kernel
does the same in its own order. One step passes θ (|θ| < 3 here) through at most ~15 rounded
operations (RAdam), so two such steps differ by at most 2·15·u·(|θ| + |Δθ|) < 30·2⁻⁵³·4 ≈ 1.3e-14
per step, and STEPS = 8 steps of an optimizer contracting on this quadratic loss at most 8× that,
1.1e-13: ATOL = 2e-13 covers it, and is 10⁹ times smaller than a real discrepancy (a missed bias
correction changes θ by ~1e-3 at step 1).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch._dynamo
from torch.utils._python_dispatch import TorchDispatchMode

from adaptive_optim import optim as ours
from optim_cases import NAMES
from test_optim_compiled import KWARGS, STEPS, tiny_problem

ATOL = 2e-13
TORCH_FUSED = ("SGD", "Adagrad", "Adam", "AdamW")


def train(make_opt, steps=STEPS, scheduler=None):
    model, x, y = tiny_problem()
    opt = make_opt(model.parameters())
    sched = scheduler(opt) if scheduler else None
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        if sched:
            sched.step()
    return [p.detach().clone() for p in model.parameters()], opt


@pytest.mark.parametrize("name", NAMES)
def test_fused_matches_torchs_fused_kernel_or_our_eager_step(name):
    """Where torch has a fused kernel, ours (compiled) agrees with it; elsewhere with our eager
    step, which is torch's default arithmetic bit for bit."""
    kw = KWARGS[name]
    fused, opt = train(lambda ps: getattr(ours, name)(ps, fused=True, **kw))
    library = torch.optim if name in TORCH_FUSED else ours
    reference, ref_opt = train(lambda ps: getattr(library, name)(ps, **kw, **({"fused": True} if name in TORCH_FUSED else {})))
    for f, r in zip(fused, reference):
        torch.testing.assert_close(f, r, rtol=0, atol=ATOL)
    if name in TORCH_FUSED:
        for s_t, s_o in zip(ref_opt.state.values(), opt.state.values()):
            assert s_t.keys() == s_o.keys()
            for key in s_t:  # torch's fused format: step a float32 tensor on the parameter's device
                assert (s_o[key].dtype, s_o[key].device) == (s_t[key].dtype, s_t[key].device), key


def test_scheduler_changing_lr_every_step_compiles_once():
    """lr reaches the compiled step as a 0-d tensor, updated in place: a new value each step
    (LambdaLR) is data, not a constant baked into the graph, so nothing recompiles."""
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    graphs = []

    def schedule(opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1 + k))

    model, x, y = tiny_problem()
    opt = ours.Adam(model.parameters(), lr=0.01, fused=True)
    sched = schedule(opt)
    for _ in range(STEPS):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        sched.step()
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[0] >= 1 and graphs[-1] == graphs[0], graphs
    eager, _ = train(lambda ps: ours.Adam(ps, lr=0.01), scheduler=schedule)
    for f, e in zip(model.parameters(), eager):
        torch.testing.assert_close(f.detach(), e, rtol=0, atol=ATOL)


def refusal(cls, make_grad, dtype=torch.float32, **kw):
    """The (type, message) of the error that the first step (or the constructor) raises."""
    p = torch.zeros(4, 3, dtype=dtype, requires_grad=True)
    try:
        opt = cls([p], fused=True, **kw)
        p.grad = make_grad(p)
        opt.step()
    except Exception as err:  # noqa: BLE001 - the error itself is compared
        return type(err), str(err)
    return None


def sparse_grad(p):
    return torch.sparse_coo_tensor(torch.tensor([[0, 2]]), torch.ones(2, 3, dtype=p.dtype), p.shape)


@pytest.mark.parametrize("name", NAMES)
def test_fused_refuses_what_torch_refuses(name):
    """Sparse gradients, complex and integer parameters: torch's error where torch has a fused
    kernel; the same kind of error, naming the problem, where it has none."""
    kw = {"lr": 0.1, "momentum": 0.9} if name == "SGD" else {}
    cases = [(sparse_grad, torch.float32), (torch.ones_like, torch.complex64)]
    for make_grad, dtype in cases:
        mine = refusal(getattr(ours, name), make_grad, dtype, **kw)
        assert mine is not None and mine[0] is RuntimeError, (name, dtype)
        if name in TORCH_FUSED:
            assert mine == refusal(getattr(torch.optim, name), make_grad, dtype, **kw)
        else:
            assert "sparse" in mine[1] or "floating point" in mine[1]


@pytest.mark.parametrize("name", NAMES)
def test_tensor_lists_keep_apart_what_they_must(name):
    """One group mixing float32, float64 and complex parameters, one without a gradient at first (so
    step counts differ) and one too large for a list (stepped alone): bitwise equal to torch.optim's
    default, state included."""
    def make():
        g = torch.Generator().manual_seed(0)
        shapes = [(3, 2)] * 4 + [(ours.TENSOR_MAX_NUMEL_IN_LIST + 1,)]
        dtypes = (torch.float32, torch.float64, torch.float32, torch.complex64, torch.float32)
        return [torch.randn(shape, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
                for shape, dtype in zip(shapes, dtypes)]

    kw = dict(KWARGS[name])
    params_t, params_o = make(), make()
    opt_t, opt_o = getattr(torch.optim, name)(params_t, **kw), getattr(ours, name)(params_o, **kw)
    for k in range(4):
        for params, opt in ((params_t, opt_t), (params_o, opt_o)):
            g = torch.Generator().manual_seed(k + 1)
            for i, p in enumerate(params):
                grad = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
                p.grad = None if (i == 2 and k < 2) else grad
            opt.step()
        for p, q in zip(params_t, params_o):
            assert torch.equal(q, p), (name, k)
    for p, q in zip(params_t, params_o):
        assert opt_o.state[q].keys() == opt_t.state[p].keys()
        for key in opt_t.state[p]:
            assert torch.equal(opt_o.state[q][key], opt_t.state[p][key]), key


def test_rules_stay_pure_outside_the_drop_ins_step():
    """The public rule API is unchanged: rule.update on tensors returns new tensors and leaves its
    inputs as they were (the in-place writes happen only inside an optimizer's step)."""
    from adaptive_optim import rules

    p, g = torch.randn(5), torch.randn(5)
    for rule in (rules.SGD(lr=0.1, momentum=0.9), rules.Adagrad(), rules.RMSprop(momentum=0.5, centered=True),
                 rules.Adam(amsgrad=True, weight_decay=0.1), rules.AdamW(), rules.RAdam()):
        state = rule.init(p)
        state["step"] = torch.tensor(3.0) if "step" in state else None
        state = {k: v for k, v in state.items() if v is not None}
        if isinstance(rule, rules.SGD):
            state["momentum_buffer"] = torch.randn(5)
        before = {k: v.clone() for k, v in state.items()}
        p0 = p.clone()
        new_p, new_state = rule.update(p, g, state)
        assert torch.equal(p, p0) and new_p is not p
        for k, v in state.items():
            assert torch.equal(v, before[k]) and new_state[k] is not v, (type(rule).__name__, k)


class CopiesOfArrays(TorchDispatchMode):
    """Records the copies (``copy_``, ``_foreach_copy_``) into tensors of more than one element."""

    def __init__(self) -> None:
        super().__init__()
        self.copies: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten.copy_.default, torch.ops.aten._foreach_copy_.default):
            targets = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
            self.copies += [str(func) for t in targets if t.numel() > 1]
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", NAMES)
def test_default_step_writes_state_in_place(name):
    """The drop-in's step writes the new state and parameters into the tensors that hold them, with
    no copy back (only the 0-d step counters are copied), on both paths: tensor lists (float lr)
    and one tensor at a time (Tensor lr)."""
    for lr in (0.01, torch.tensor(0.01)):
        params = [torch.randn(4, 3, requires_grad=True), torch.randn(3, requires_grad=True)]
        opt = getattr(ours, name)(params, **dict(KWARGS[name], lr=lr))
        for k in range(3):
            for p in params:
                p.grad = torch.randn(p.shape)
            if k < 2:
                opt.step()  # SGD's first step creates its buffer as a copy of the gradient, as torch does
        with CopiesOfArrays() as mode:
            opt.step()
        assert mode.copies == [], (name, lr)


def many_small_params(dtypes=(torch.float64,) * 6):
    """A group of small tensors of several shapes (the TensorList path of ``fused=True`` on the CPU)."""
    g = torch.Generator().manual_seed(1)
    shapes = [(3, 2), (5,), (2, 2, 2), (7,), (1,), (4, 3)]
    return [torch.randn(shape, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
            for shape, dtype in zip(shapes, dtypes)]


def set_grads(params, k, skip=()):
    """Gradients for step ``k`` (the same for every optimizer); the parameters in ``skip`` get none."""
    g = torch.Generator().manual_seed(100 + k)
    for i, p in enumerate(params):
        grad = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
        p.grad = None if i in skip else grad


@pytest.mark.parametrize("name", TORCH_FUSED)
def test_lists_of_small_tensors_match_torchs_fused_kernel_without_recompiling(name):
    """fused=True on a group of six small float64 tensors, one of which has no gradient for the
    first two steps (so the group steps as two TensorLists with different step counts), while
    LambdaLR changes lr every step: ours agrees with torch's fused kernel to ATOL (the module's
    argument: the same ≤ 15 rounded operations per step, STEPS steps), every step count is torch's,
    the group steps as TensorLists, and once the step counts have split (step 3) no further step
    compiles anything, although lr takes a new value every step. (SGD's group gets every gradient:
    torch's fused SGD raises a TypeError when only some parameters have a momentum buffer.)"""
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    kw = KWARGS[name]
    schedule = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1 + k))  # noqa: E731
    params_o, params_t = many_small_params(), many_small_params()
    opt_o = getattr(ours, name)(params_o, fused=True, **kw)
    opt_t = getattr(torch.optim, name)(params_t, fused=True, **kw)
    scheds = schedule(opt_o), schedule(opt_t)
    graphs = []
    for k in range(STEPS):
        for params, opt, sched in ((params_o, opt_o, scheds[0]), (params_t, opt_t, scheds[1])):
            set_grads(params, k, skip=(2,) if k < 2 and name != "SGD" else ())
            opt.step()
            sched.step()
        graphs.append(counters["stats"]["unique_graphs"])
    assert opt_o._compiled_lists is not None and opt_o._compiled is None  # the TensorList path
    assert graphs[2] == graphs[-1], graphs
    for p, q in zip(params_t, params_o):
        torch.testing.assert_close(q, p, rtol=0, atol=ATOL)
        for key in opt_t.state[p]:
            s_o, s_t = opt_o.state[q][key], opt_t.state[p][key]
            if key == "step":
                assert torch.equal(s_o, s_t), key
            else:
                torch.testing.assert_close(s_o, s_t, rtol=0, atol=ATOL, msg=key)


@pytest.mark.parametrize("name", NAMES)
def test_fused_step_counts_are_exact(name):
    """Every parameter's step count after STEPS fused steps is STEPS, on the TensorList path too:
    torch 2.13's inductor miscompiles one new count copied into all of a list's step tensors (it
    recomputes the count from the first tensor after overwriting it, giving 1, 2, 2, …), so the
    count is copied outside the compiled function; RMSprop, whose update never reads the count,
    is the rule that exposed it."""
    params = many_small_params()
    opt = getattr(ours, name)(params, fused=True, **KWARGS[name])
    for k in range(3):
        set_grads(params, k)
        opt.step()
    for p in params:
        if "step" in opt.state[p]:
            assert opt.state[p]["step"].item() == 3.0, name


@pytest.mark.parametrize("maximize", (False, True))
def test_mixed_dtypes_step_as_separate_lists_and_match_torchs_fused_kernel(maximize):
    """One group of float32 and float64 tensors (with and without ``maximize``): each dtype steps as
    its own TensorList, as torch's fused kernel groups them. float64 agrees to ATOL; float32 to 4e-5, the same argument in float32
    (u = 2⁻²⁴: 2·15·u·4 ≈ 7e-6 per step, 8 steps 5.7e-5 at most, and in practice well under half of
    that bound since the roundings do not all align): 25× smaller than the ~1e-3 a missed bias
    correction changes θ by."""
    dtypes = (torch.float32, torch.float64) * 3
    params_o, params_t = many_small_params(dtypes), many_small_params(dtypes)
    opt_o = ours.Adam(params_o, fused=True, maximize=maximize, **KWARGS["Adam"])
    opt_t = torch.optim.Adam(params_t, fused=True, maximize=maximize, **KWARGS["Adam"])
    for k in range(STEPS):
        for params, opt in ((params_o, opt_o), (params_t, opt_t)):
            set_grads(params, k)
            opt.step()
    assert opt_o._compiled_lists is not None and opt_o._compiled is None
    for p, q in zip(params_t, params_o):
        torch.testing.assert_close(q, p, rtol=0, atol=ATOL if p.dtype == torch.float64 else 4e-5)


@pytest.mark.parametrize("name", ("SGD", "Adam"))
def test_fused_state_dict_round_trip_continues_the_same_steps(name):
    """A fused optimizer's state_dict loaded into a fresh one (ours) and into torch's fused kernel:
    both continue as the uninterrupted run does. Ours from its own checkpoint bitwise (the same
    compiled function on the same values: loading replaces the state tensors, which the step notices
    by identity); torch from ours to ATOL (the module's argument)."""
    kw = KWARGS[name]

    def run(steps, opt, params, start=0):
        for k in range(start, start + steps):
            set_grads(params, k)
            opt.step()

    params = many_small_params()
    opt = getattr(ours, name)(params, fused=True, **kw)
    run(4, opt, params)
    checkpoint = copy.deepcopy(opt.state_dict())  # state_dict() holds the live tensors
    saved = [p.detach().clone() for p in params]
    run(4, opt, params, start=4)
    for library in (ours, torch.optim):
        resumed = [s.clone().requires_grad_() for s in saved]
        opt_r = getattr(library, name)(resumed, fused=True, **kw)
        opt_r.load_state_dict(copy.deepcopy(checkpoint))  # loading keeps (and steps) these very tensors
        run(4, opt_r, resumed, start=4)
        for p, r in zip(params, resumed):
            if library is ours:
                assert torch.equal(r, p), name
            else:
                torch.testing.assert_close(r, p, rtol=0, atol=ATOL)
