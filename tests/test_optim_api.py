"""The drop-in optimizers behave like torch.optim's at the edges: signatures, defaults, errors,
missing and sparse gradients, closures, schedulers, tensor lr and checkpoints."""

from __future__ import annotations

import inspect
import io

import pytest
import torch

from adaptive_optim import optim as ours
from optim_cases import NAMES, assert_same_error, make_data, make_net, train_step

# Each optimizer's settings for the behavioural tests: every optional state entry switched on.
FULL = {
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adagrad": dict(lr=0.05, lr_decay=1e-3, initial_accumulator_value=0.1),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True, weight_decay=1e-3),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=1e-3),
    "AdamW": dict(lr=0.01, amsgrad=True),
    "RAdam": dict(lr=0.01, decoupled_weight_decay=True, weight_decay=1e-2),
}


def pair(name):
    return getattr(torch.optim, name), getattr(ours, name)


@pytest.mark.parametrize("name", NAMES)
def test_constructor_signature_is_torchs(name):
    def shape(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    theirs, mine = pair(name)
    if name in ("RMSprop", "RAdam"):  # torch has no fused kernel for these; ours compiles the rule
        assert shape(mine)[-1] == ("fused", inspect.Parameter.KEYWORD_ONLY, None)
        assert shape(mine)[:-1] == shape(theirs)
    else:
        assert shape(mine) == shape(theirs)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_and_param_groups_are_torchs(name):
    theirs, mine = pair(name)
    net = make_net(torch.float64)

    def groups():
        return [{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": 0.123}]

    t, o = theirs(groups()), mine(groups())
    assert o.defaults == t.defaults
    strip = lambda gs: [{k: v for k, v in g.items() if k != "params"} for g in gs]  # noqa: E731
    assert strip(o.param_groups) == strip(t.param_groups)


BAD = {
    "SGD": [dict(lr=-1.0), dict(momentum=-0.5), dict(weight_decay=-1e-3), dict(nesterov=True),
            dict(nesterov=True, momentum=0.9, dampening=0.1), dict(lr=torch.tensor([0.1, 0.2]))],
    "Adagrad": [dict(lr=-1.0), dict(lr_decay=-1.0), dict(weight_decay=-1.0),
                dict(initial_accumulator_value=-1.0), dict(eps=-1e-10)],
    "RMSprop": [dict(lr=-1.0), dict(eps=-1.0), dict(momentum=-1.0), dict(weight_decay=-1.0),
                dict(alpha=-0.1)],
    "Adam": [dict(lr=-1.0), dict(eps=-1.0), dict(betas=(1.0, 0.999)), dict(betas=(0.9, -0.1)),
             dict(weight_decay=-1.0), dict(betas=(0.9, torch.tensor(0.999))),
             dict(lr=torch.tensor([1e-3, 1e-3]))],
    "AdamW": [dict(lr=-1.0), dict(eps=-1.0), dict(betas=(-0.1, 0.999)), dict(betas=(0.9, 1.0)),
              dict(weight_decay=-1.0)],
    "RAdam": [dict(lr=-1.0), dict(eps=-1.0), dict(betas=(1.5, 0.999)), dict(betas=(0.9, 1.0)),
              dict(weight_decay=-1.0)],
}


@pytest.mark.parametrize("name,kwargs", [(n, kw) for n in NAMES for kw in BAD[n]])
def test_invalid_hyperparameters_raise_torchs_error(name, kwargs):
    theirs, mine = pair(name)
    params = [torch.zeros(2, requires_grad=True)]
    assert_same_error(theirs, mine, params, kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_kernel_flags(name):
    """foreach/capturable/fused are accepted; differentiable is refused clearly, and fused with
    foreach or differentiable with torch's errors."""
    mine = getattr(ours, name)
    params = [torch.zeros(2, requires_grad=True)]
    accepted = {"foreach": True}
    if "capturable" in inspect.signature(mine.__init__).parameters:
        accepted["capturable"] = False
    mine(params, **accepted)
    mine(params, fused=True)
    with pytest.raises(NotImplementedError, match="differentiable"):
        mine(params, differentiable=True)
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together."):
        mine(params, fused=True, foreach=True)
    with pytest.raises(RuntimeError, match="`fused` does not support `differentiable`"):
        mine(params, fused=True, differentiable=True)


@pytest.mark.parametrize("name", ["NAdam", "Adamax", "Adafactor", "Adam8bit", "AdamW8bit"])
def test_fused_refused_by_the_other_optimizers(name):
    """Only the six base optimizers compile their rule; the others refuse fused=True clearly."""
    cls = getattr(ours, name)
    if "fused" not in inspect.signature(cls.__init__).parameters:
        with pytest.raises(TypeError, match="fused"):
            cls([torch.zeros(2, requires_grad=True)], fused=True)
    else:
        with pytest.raises(NotImplementedError, match="no fused kernel"):
            cls([torch.zeros(2, requires_grad=True)], fused=True)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_without_grad_is_skipped(name):
    theirs, mine = pair(name)
    frozen_t, frozen_o = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    live_t, live_o = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    t, o = theirs([frozen_t, live_t], **FULL[name]), mine([frozen_o, live_o], **FULL[name])
    for _ in range(3):
        for opt, live in ((t, live_t), (o, live_o)):
            opt.zero_grad()
            (live**2).sum().backward()
            opt.step()
    assert torch.equal(frozen_o, torch.ones(3))
    assert (frozen_o in o.state) == (frozen_t in t.state)  # Adagrad creates state eagerly, as torch does
    if frozen_o in o.state:
        assert o.state[frozen_o]["step"] == t.state[frozen_t]["step"] == 0
    torch.testing.assert_close(live_o, live_t, rtol=1e-6, atol=0)


def sparse_setup(cls, kwargs):
    torch.manual_seed(0)
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = cls(emb.parameters(), **kwargs)
    idx = torch.tensor([1, 4, 4, 7])
    return emb, opt, idx


@pytest.mark.parametrize("name", ["SGD", "Adagrad"])
def test_sparse_gradients_where_torch_supports_them(name):
    theirs, mine = pair(name)
    kw = {"lr": 0.1} if name == "Adagrad" else {"lr": 0.1, "momentum": 0.9}
    results = []
    for cls in (theirs, mine):
        emb, opt, idx = sparse_setup(cls, kw)
        for _ in range(5):
            opt.zero_grad()
            (emb(idx) ** 2).sum().backward()
            opt.step()
        results.append(emb.weight.detach())
    torch.testing.assert_close(results[1], results[0], rtol=1e-6, atol=1e-7)
    assert torch.equal(results[1][0], results[0][0])  # untouched rows stay exactly as they were


@pytest.mark.parametrize("name,kwargs", [("RMSprop", {}), ("Adam", {}), ("AdamW", {}), ("RAdam", {}),
                                         ("Adagrad", {"weight_decay": 0.1})])
def test_sparse_gradients_rejected_with_torchs_error(name, kwargs):
    theirs, mine = pair(name)
    messages = []
    for cls in (theirs, mine):
        emb, opt, idx = sparse_setup(cls, kwargs)
        emb(idx).sum().backward()
        with pytest.raises(RuntimeError) as err:
            opt.step()
        messages.append(str(err.value))
    assert messages[1] == messages[0]


@pytest.mark.parametrize("name", NAMES)
def test_closure_scheduler_and_tensor_lr(name):
    x, y = make_data(torch.float64)
    losses, params = [], []
    for cls in pair(name):
        net = make_net(torch.float64)
        kw = dict(FULL[name], lr=torch.tensor(FULL[name]["lr"], dtype=torch.float64))
        opt = cls(net.parameters(), **kw)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        run = []
        for _ in range(10):
            run.append(train_step(net, opt, x, y, False).item())
            sched.step()
        losses.append(run)
        params.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    assert losses[1] == pytest.approx(losses[0], rel=1e-9)
    torch.testing.assert_close(params[1], params[0], rtol=1e-9, atol=1e-12)


def save_and_load(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer)


def train(net, opt, steps, x, y):
    for _ in range(steps):
        train_step(net, opt, x, y, False)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("first,second", [("ours", "ours"), ("torch", "ours"), ("ours", "torch")])
def test_checkpoint_resumes_exactly(name, first, second):
    """10 steps, save, load into a fresh optimizer (and a fresh copy of the net), 10 more steps:
    the same parameters and state as 20 steps without a break, to the last bit."""
    classes = {"torch": getattr(torch.optim, name), "ours": getattr(ours, name)}
    x, y = make_data(torch.float64)
    straight = make_net(torch.float64)
    opt = classes[second](straight.parameters(), **FULL[name])
    train(straight, opt, 20, x, y)

    net = make_net(torch.float64)
    opt_a = classes[first](net.parameters(), **FULL[name])
    train(net, opt_a, 10, x, y)
    checkpoint = save_and_load({"model": net.state_dict(), "optim": opt_a.state_dict()})
    resumed = make_net(torch.float64, seed=123)
    resumed.load_state_dict(checkpoint["model"])
    opt_b = classes[second](resumed.parameters(), **FULL[name])
    opt_b.load_state_dict(checkpoint["optim"])
    train(resumed, opt_b, 10, x, y)

    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    s, r = opt.state_dict(), opt_b.state_dict()
    assert s["param_groups"] == r["param_groups"]
    for i in s["state"]:
        assert s["state"][i].keys() == r["state"][i].keys()
        for key in s["state"][i]:
            assert torch.equal(s["state"][i][key], r["state"][i][key]), key


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_format_is_torchs(name):
    x, y = make_data(torch.float64)
    dicts = []
    for cls in pair(name):
        net = make_net(torch.float64)
        opt = cls(net.parameters(), **FULL[name])
        train(net, opt, 2, x, y)
        dicts.append(opt.state_dict())
    theirs, mine = dicts
    assert mine["param_groups"] == theirs["param_groups"]
    assert mine["state"].keys() == theirs["state"].keys()
    for i in theirs["state"]:
        for key, value in theirs["state"][i].items():
            got = mine["state"][i][key]
            assert (got.dtype, got.shape, got.device) == (value.dtype, value.shape, value.device), key


def test_complex_parameters_follow_torch():
    z_t = torch.tensor([1 + 2j, -0.5j], dtype=torch.complex128, requires_grad=True)
    z_o = z_t.detach().clone().requires_grad_()
    for opt, z in ((torch.optim.Adam([z_t], lr=0.1), z_t), (ours.Adam([z_o], lr=0.1), z_o)):
        for _ in range(5):
            opt.zero_grad()
            (z.abs() ** 2).sum().backward()
            opt.step()
    torch.testing.assert_close(z_o, z_t, rtol=1e-12, atol=0)
