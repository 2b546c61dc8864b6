"""Shared pieces of the optimizer tests: a small network, its data, and hypothesis strategies
that draw hyperparameters over every flag of each optimizer."""

from __future__ import annotations

import pytest
import torch
from hypothesis import strategies as st

NAMES = ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "RAdam")


def make_net(dtype: torch.dtype, seed: int = 0) -> torch.nn.Module:
    """A 3-5-2 tanh network: small, but with matrices, biases and a nonlinearity."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).to(dtype)


def make_data(dtype: torch.dtype, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 3, generator=g, dtype=torch.float64)
    y = torch.randn(32, 2, generator=g, dtype=torch.float64)
    return x.to(dtype), y.to(dtype)


def param_groups(net: torch.nn.Module, lr2: float | None):
    """One group per layer when ``lr2`` is given (the second with its own lr), else a plain list."""
    if lr2 is None:
        return list(net.parameters())
    return [{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": lr2}]


def objective(net, x, y, maximize: bool) -> torch.Tensor:
    """Mean squared error; negated when the optimizer maximizes, so every run is a descent."""
    loss = ((net(x) - y) ** 2).mean()
    return -loss if maximize else loss


def train_step(net, opt, x, y, maximize: bool) -> torch.Tensor:
    def closure():
        opt.zero_grad()
        loss = objective(net, x, y, maximize)
        loss.backward()
        return loss

    return opt.step(closure)


lrs = st.floats(1e-3, 3e-2)
decays = st.sampled_from([0.0, 1e-3, 0.1])
betas = st.tuples(st.sampled_from([0.0, 0.5, 0.9]), st.sampled_from([0.9, 0.99, 0.999]))


@st.composite
def hyperparameters(draw, name: str) -> dict:
    """Constructor keyword arguments for optimizer ``name``, covering every flag it has."""
    kw: dict = {"lr": draw(lrs), "maximize": draw(st.booleans())}
    if name == "SGD":
        kw["lr"] = draw(st.floats(1e-3, 0.1))
        kw["momentum"] = draw(st.sampled_from([0.0, 0.5, 0.9]))
        kw["weight_decay"] = draw(decays)
        kw["nesterov"] = kw["momentum"] > 0 and draw(st.booleans())
        kw["dampening"] = 0.0 if kw["nesterov"] else draw(st.sampled_from([0.0, 0.3]))
    elif name == "Adagrad":
        kw["lr"] = draw(st.floats(1e-3, 0.1))
        kw["lr_decay"] = draw(st.sampled_from([0.0, 0.01]))
        kw["weight_decay"] = draw(decays)
        kw["initial_accumulator_value"] = draw(st.sampled_from([0.0, 0.1]))
        kw["eps"] = draw(st.sampled_from([1e-10, 1e-3]))
    elif name == "RMSprop":
        kw["alpha"] = draw(st.sampled_from([0.9, 0.99]))
        kw["eps"] = draw(st.sampled_from([1e-8, 1e-3]))
        kw["weight_decay"] = draw(decays)
        kw["momentum"] = draw(st.sampled_from([0.0, 0.9]))
        kw["centered"] = draw(st.booleans())
    elif name in ("Adam", "AdamW"):
        kw["betas"] = draw(betas)
        kw["eps"] = draw(st.sampled_from([1e-8, 1e-3]))
        kw["weight_decay"] = draw(decays)
        kw["amsgrad"] = draw(st.booleans())
        if name == "Adam":
            kw["decoupled_weight_decay"] = draw(st.booleans())
    elif name == "RAdam":
        kw["betas"] = draw(betas)
        kw["eps"] = draw(st.sampled_from([1e-8, 1e-3]))
        kw["weight_decay"] = draw(decays)
        kw["decoupled_weight_decay"] = draw(st.booleans())
    return kw


# ---- torch's own optimizer test inputs (torch.testing._internal.common_optimizers.optim_db) ----

def optim_db_info(name: str):
    """torch's OptimizerInfo for ``torch.optim.<name>``: its test configs and error inputs."""
    from torch.testing._internal.common_optimizers import optim_db

    (info,) = [info for info in optim_db if info.optim_cls.__name__ == name]
    return info


def optim_db_configs(name: str) -> list:
    """torch's CPU constructor configs for ``name`` as pytest params, each named by torch's description."""

    return [pytest.param(dict(c.kwargs), id=c.desc) for c in optim_db_info(name).optim_inputs_func("cpu")]


def optim_db_errors(name: str) -> list:
    """torch's CPU error inputs for ``name`` (float32) as pytest params, named by their description."""

    errors = optim_db_info(name).optim_error_inputs_func("cpu", torch.float32)
    return [pytest.param(e, id=e.optimizer_error_input.desc) for e in errors]


def raise_error_input(cls, error_input, default_params) -> BaseException:
    """Run one of torch's error inputs against ``cls``; return the error (or warning) it raised.

    As torch's own test_errors does: construction errors when constructing, step errors when
    stepping; ``params=None`` stands for ordinary parameters (``default_params()``).
    """
    import re
    import warnings

    from torch.testing._internal.common_optimizers import OptimizerErrorEnum

    optim_input = error_input.optimizer_error_input
    params = optim_input.params if optim_input.params is not None else default_params()
    kwargs = optim_input.kwargs
    if issubclass(error_input.error_type, Warning):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cls(params, **kwargs)
        matching = [w.message for w in caught if re.search(error_input.error_regex, str(w.message))]
        assert matching and isinstance(matching[0], error_input.error_type), [str(w.message) for w in caught]
        return matching[0]
    try:
        opt = cls(params, **kwargs)
        if error_input.error_on == OptimizerErrorEnum.STEP_ERROR:
            opt.step()
    except error_input.error_type as err:
        assert re.search(error_input.error_regex, str(err)), str(err)
        return err
    raise AssertionError(f"{cls.__name__} raised nothing for {optim_input.desc!r}")


def assert_same_error(theirs, ours, params, kwargs: dict, error: type[BaseException] = Exception) -> None:
    """Constructing ``ours(params, **kwargs)`` fails as ``theirs`` does: the reference raises ``error``,
    ours raises the same type with the same message."""
    with pytest.raises(error) as expected:
        theirs(params, **kwargs)
    with pytest.raises(type(expected.value)) as got:
        ours(params, **kwargs)
    assert str(got.value) == str(expected.value)


def run_side_by_side(theirs, ours, dtype: torch.dtype, steps: int, maximize: bool = False,
                     select=lambda net: net.parameters()):
    """Train two copies of the small net, one with each optimizer (constructors taking the
    parameters ``select`` picks); return both optimizers and, for every step, both nets'
    parameters after it."""
    x, y = make_data(dtype)
    net_t, net_o = make_net(dtype), make_net(dtype)
    opt_t, opt_o = theirs(list(select(net_t))), ours(list(select(net_o)))
    history = []
    for _ in range(steps):
        train_step(net_t, opt_t, x, y, maximize)
        train_step(net_o, opt_o, x, y, maximize)
        history.append(([p.detach().clone() for p in select(net_t)], [p.detach().clone() for p in select(net_o)]))
    return opt_t, opt_o, history


def assert_same_run(opt_t, opt_o, history, state_keys: list[str] | None = None, extra_group_keys=()) -> None:
    """Bitwise: both nets' parameters after every step, then both state_dicts (param groups,
    less the ``extra_group_keys`` only ours has; state keys in order; each entry's type, dtype,
    shape and value)."""
    for step, (theirs, mine) in enumerate(history, 1):
        assert all(torch.equal(a, b) for a, b in zip(theirs, mine)), f"step {step} differs"
    s_t, s_o = opt_t.state_dict(), opt_o.state_dict()
    assert [{k: v for k, v in g.items() if k not in extra_group_keys} for g in s_o["param_groups"]] == \
        s_t["param_groups"]
    assert s_o["state"].keys() == s_t["state"].keys()
    for i, entry in s_t["state"].items():
        assert list(s_o["state"][i]) == list(entry) == (state_keys or list(entry))
        for key, value in entry.items():
            got = s_o["state"][i][key]
            assert type(got) is type(value), key
            got, value = torch.as_tensor(got), torch.as_tensor(value)
            assert (got.dtype, got.shape) == (value.dtype, value.shape) and torch.equal(got, value), key
def torch_test_inputs(name: str, dtype: torch.dtype = torch.float32):
    """torch's own optimizer test inputs for ``name`` from optim_db (torch.testing._internal.
    common_optimizers): the constructor configurations and the error inputs, for the CPU."""
    info = optim_db_info(name)
    return info.optim_inputs_func("cpu", dtype), info.optim_error_inputs_func("cpu", dtype)
