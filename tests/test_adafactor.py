"""adaptive_optim.optim.Adafactor against torch.optim.Adafactor, on torch's own test inputs.

torch's optim_db entry for Adafactor supplies five constructor configurations (default, weight
decay with lr, maximize, beta2_decay = −1, d = 1.5) and its error inputs. For every configuration,
in float64 and in float32, both optimizers train the same network for 50 steps and must agree
*bit for bit*, parameters and state: the rule performs torch's single-tensor operations in torch's
order (the same kernels for the norms, lerp, matmul, clamp, rsqrt and the fused final add, and the
same Python-float arithmetic for ρ_t, α_t and the clipping factor), so no rounding can differ.
Anything else (ε₁ in the wrong place, sums for means, clipping by the wrong RMS) changes bits.
"""

from __future__ import annotations

import copy
import inspect
import io
import re
import warnings

import numpy as np
import pytest
import torch

from adaptive_optim import optim as ours
from adaptive_optim import rules
from optim_cases import assert_same_error, torch_test_inputs

CONFIGS, ERRORS = torch_test_inputs("Adafactor")
DTYPES = [torch.float64, torch.float32]


class Net(torch.nn.Module):
    """Parameters of every shape Adafactor treats differently: a 3-D conv kernel (a batch of
    factored matrices), 2-D matrices, vectors (biases) and a 0-d scalar."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 3, 3)
        self.fc = torch.nn.Linear(12, 4)
        self.out = torch.nn.Linear(4, 1)
        self.scale = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        h = torch.tanh(self.conv(x)).flatten(1)
        return self.scale * self.out(torch.tanh(self.fc(h)))


def make(dtype, seed=0):
    torch.manual_seed(seed)
    net = Net().to(dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 2, 6, generator=g, dtype=torch.float64).to(dtype)
    y = torch.randn(16, 1, generator=g, dtype=torch.float64).to(dtype)
    return net, x, y


def groups(net, split):
    if not split:
        return list(net.parameters())
    return [{"params": [net.conv.weight, net.conv.bias, net.scale]},
            {"params": list(net.fc.parameters()) + list(net.out.parameters()), "lr": 3e-3}]


def step(net, opt, x, y):
    def closure():
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        return loss

    return opt.step(closure)


def assert_same_state(a, b):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        assert list(a["state"][i]) == list(b["state"][i])  # same keys, in torch's order
        for key, value in a["state"][i].items():
            other = b["state"][i][key]
            assert (other.dtype, other.shape) == (value.dtype, value.shape), key
            assert torch.equal(other, value), key


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("split", [False, True], ids=["one group", "two groups"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.desc)
def test_matches_torch_bitwise_on_optim_db_configs(config, split, dtype):
    nets, opts = [], []
    for cls in (torch.optim.Adafactor, ours.Adafactor):
        net, x, y = make(dtype)
        nets.append(net)
        opts.append(cls(groups(net, split), **config.kwargs))
    for _ in range(50):
        losses = [step(net, opt, x, y) for net, opt in zip(nets, opts)]
        assert torch.equal(losses[1], losses[0])
    for p, q in zip(*(net.parameters() for net in nets)):
        assert torch.equal(q, p)
    assert_same_state(opts[0].state_dict(), opts[1].state_dict())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_tensor_lr_scheduler_and_mixed_dtypes_match_torch(dtype):
    """A tensor lr under a scheduler, and a group mixing dtypes: torch takes ε₁ = None from the
    dtype of the group's first parameter and uses it for all of them; so does the drop-in."""
    other = torch.float32 if dtype == torch.float64 else torch.float64
    results = []
    for cls in (torch.optim.Adafactor, ours.Adafactor):
        net, x, y = make(dtype)
        extra = torch.nn.Parameter(torch.linspace(-1, 1, 6, dtype=other).reshape(2, 3))
        opt = cls(list(net.parameters()) + [extra], lr=torch.tensor(0.02), weight_decay=0.05)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
        for _ in range(20):
            step(net, opt, x, y)
            with torch.enable_grad():
                extra.grad = None
                (extra.sin().sum() * 1e-4).backward()
            opt.step()
            sched.step()
        results.append((list(net.parameters()) + [extra], opt.state_dict()))
    for p, q in zip(results[0][0], results[1][0]):
        assert torch.equal(q, p)
    assert_same_state(results[0][1], results[1][1])


def test_signature_and_defaults_are_torchs():
    def shape(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    assert shape(ours.Adafactor) == shape(torch.optim.Adafactor)
    net, _, _ = make(torch.float64)
    t, o = torch.optim.Adafactor(groups(net, True)), ours.Adafactor(groups(net, True))
    assert o.defaults == t.defaults
    assert [{k: v for k, v in g.items() if k != "params"} for g in o.param_groups] == \
           [{k: v for k, v in g.items() if k != "params"} for g in t.param_groups]


def build(cls, error_input):
    params = error_input.params
    if params is None:
        params = [torch.nn.Parameter(torch.randn(2, 2))]
    return cls(params, **error_input.kwargs)


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.optimizer_error_input.desc)
def test_optim_db_error_inputs_raise_torchs_errors(error):
    """Each error input fails as torch's test expects (type and message pattern), and with the
    very message torch.optim.Adafactor gives."""
    messages = []
    for cls in (torch.optim.Adafactor, ours.Adafactor):
        inp = copy.deepcopy(error.optimizer_error_input)
        if issubclass(error.error_type, Warning):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                build(cls, inp)
            matching = [w for w in caught if issubclass(w.category, error.error_type)
                        and re.search(error.error_regex, str(w.message))]
            assert matching, f"{cls.__module__}: no {error.error_type.__name__} matching {error.error_regex!r}"
            messages.append(str(matching[0].message))
            continue
        with pytest.raises(error.error_type, match=error.error_regex) as raised:
            if error.error_on.name == "STEP_ERROR":
                build(cls, inp).step()
            else:
                build(cls, inp)
        messages.append(str(raised.value))
    assert messages[1] == messages[0]


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(beta2_decay=0.1), dict(eps=(None, -1.0)),
                                    dict(eps=(-1.0, 1e-3)), dict(d=0.5), dict(weight_decay=-0.1)])
def test_hyperparameter_errors_match_torch_messages(kwargs):
    params = [torch.zeros(2, 2, requires_grad=True)]
    assert_same_error(torch.optim.Adafactor, ours.Adafactor, params, kwargs, error=ValueError)


def test_sparse_gradient_refused_with_torchs_error():
    messages = []
    for cls in (torch.optim.Adafactor, ours.Adafactor):
        emb = torch.nn.Embedding(5, 2, sparse=True)
        opt = cls(emb.parameters())
        emb(torch.tensor([1, 3])).sum().backward()
        with pytest.raises(RuntimeError) as err:
            opt.step()
        messages.append(str(err.value))
    assert messages[1] == messages[0]


def test_complex_parameter_refused_before_any_update():
    """torch checks every parameter of the group before it updates one; so does the drop-in."""
    real = torch.nn.Parameter(torch.ones(3))
    z = torch.nn.Parameter(torch.ones(2, dtype=torch.complex64))
    real.grad, z.grad = torch.ones(3), torch.ones_like(z)
    opt = ours.Adafactor([real, z])
    with pytest.raises(RuntimeError, match="does not support complex"):
        opt.step()
    assert torch.equal(real, torch.ones(3))


@pytest.mark.parametrize("first,second", [("torch", "ours"), ("ours", "torch"), ("ours", "ours")])
def test_checkpoint_moves_between_torch_and_ours(first, second):
    classes = {"torch": torch.optim.Adafactor, "ours": ours.Adafactor}
    kw = dict(weight_decay=0.1, d=1.5)
    straight, x, y = make(torch.float64)
    opt = classes[second](straight.parameters(), **kw)
    for _ in range(20):
        step(straight, opt, x, y)
    net, _, _ = make(torch.float64)
    opt_a = classes[first](net.parameters(), **kw)
    for _ in range(10):
        step(net, opt_a, x, y)
    buffer = io.BytesIO()
    torch.save(opt_a.state_dict(), buffer)
    buffer.seek(0)
    opt_b = classes[second](net.parameters(), **kw)
    opt_b.load_state_dict(torch.load(buffer))
    for _ in range(10):
        step(net, opt_b, x, y)
    for p, q in zip(straight.parameters(), net.parameters()):
        assert torch.equal(q, p)
    assert_same_state(opt.state_dict(), opt_b.state_dict())


def test_numpy_path_equals_torch_path():
    """The rule on NumPy arrays against the same rule on tensors, float64, 20 steps.

    The paths differ only in rounding: NumPy sums the norms in another order (each norm of n ≤ 30
    entries within n·u = 30·2⁻⁵³ ≈ 3e-15 relative of the other), rounds lerp and the final
    multiply-add in two steps where torch fuses them (an ulp each). These perturb α_t, V̂_t and the
    clipping factor by ~1e-14 relative; the update is a bounded, smooth function of them (|Û| ≤ d
    per RMS, no cancellation), so over 20 steps the parameters move apart by ≲ 20·1e-14·|Δθ|.
    rtol = 1e-12 covers that with room and is far below any real difference in the arithmetic.
    """
    rng = np.random.default_rng(0)
    for shape in [(30,), (5, 6), (2, 3, 5)]:
        rule = rules.Adafactor(lr=0.05, weight_decay=0.1, d=1.5)
        param = rng.standard_normal(shape)
        grads = [rng.standard_normal(shape) for _ in range(20)]
        p_np, s_np = param, rule.init(param)
        p_t, s_t = torch.from_numpy(param), rule.init(torch.from_numpy(param))
        for g in grads:
            p_np, s_np = rule.update(p_np, g, s_np)
            p_t, s_t = rule.update(p_t, torch.from_numpy(g), s_t)
        np.testing.assert_allclose(p_t.numpy(), p_np, rtol=1e-12, atol=0)
        assert s_np.keys() == s_t.keys()
        for key in s_np:
            np.testing.assert_allclose(np.asarray(s_t[key]), np.asarray(s_np[key]), rtol=1e-12, atol=0)


def test_update_leaves_inputs_untouched_and_refuses_grids():
    rule = rules.Adafactor()
    param = np.linspace(-1, 1, 6).reshape(2, 3)
    state = rule.update(param, np.cos(param), rule.init(param))[1]
    before = {k: np.copy(v) for k, v in state.items()}
    rule.update(param, np.sin(param), state)
    np.testing.assert_array_equal(param, np.linspace(-1, 1, 6).reshape(2, 3))
    for k in before:
        np.testing.assert_array_equal(state[k], before[k])
    with pytest.raises(ValueError, match="must be a scalar"):
        rules.Adafactor(lr=np.array([1e-3, 1e-2]))


def test_factored_state_is_rows_plus_columns():
    """The point of Adafactor: an n×m matrix keeps n + m numbers of second-moment state, not n·m."""
    w = torch.nn.Parameter(torch.randn(64, 32))
    w.grad = torch.randn(64, 32)
    opt = ours.Adafactor([w])
    opt.step()
    state = opt.state[w]
    assert state["row_var"].shape == (64, 1) and state["col_var"].shape == (1, 32)
    assert "variance" not in state
