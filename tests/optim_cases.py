"""Shared pieces of the optimizer tests: a small network, its data, and hypothesis strategies
that draw hyperparameters over every flag of each optimizer."""

from __future__ import annotations

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


def torch_test_inputs(name: str, dtype: torch.dtype = torch.float32):
    """torch's own optimizer test inputs for ``name`` from optim_db (torch.testing._internal.
    common_optimizers): the constructor configurations and the error inputs, for the CPU."""
    from torch.testing._internal.common_optimizers import optim_db

    (info,) = [info for info in optim_db if info.optim_cls.__name__ == name]
    return info.optim_inputs_func("cpu", dtype), info.optim_error_inputs_func("cpu", dtype)
