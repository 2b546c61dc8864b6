"""Ours and torch.optim side by side, driven through random sequences of what training code does.

A hypothesis rule-based state machine builds one optimizer of each library on bit-identical
copies of the same parameters (dense float32, complex64, or, for SGD and Adagrad, a matrix with
sparse row gradients like ``nn.Embedding``'s) and then interleaves: steps with identical
gradients (some parameters without one), edits of a group's hyperparameters (including values
torch accepts only after construction: a negative lr, momentum switched on or off, a Tensor lr),
``add_param_group``, ``zero_grad``, scheduler steps (ExponentialLR, and CyclicLR cycling momentum
through 0), and a checkpoint round trip that loads each library's ``state_dict`` into a fresh
optimizer of the *other* library.

After every action both sides must agree bit for bit: parameters and every state entry (dtype,
shape, layout, values). On the CPU ours runs torch's single-tensor arithmetic in torch's order,
so no tolerance is needed. Where a step fails, both must fail with the same error, except where
torch's error is a bug: a group edit that switches on momentum (RMSprop), ``centered`` or
``amsgrad`` after the state was created makes torch fail with a bare ``KeyError``; ours raises
a ``RuntimeError`` that names the cause (tests/test_optim_reliability.py shows both).

Deterministic for CI (``derandomize=True``, no example database) and small: 30 sequences of
up to 10 actions per optimizer.
"""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from adaptive_optim import optim as ours
from optim_cases import NAMES
from test_optim_reliability import assert_same_state, same

LRS = [0.0, 0.01, 0.05, -0.01]
EDITS = {
    "SGD": {"lr": LRS, "momentum": [0.0, 0.5, 0.9], "dampening": [0.0, 0.3], "weight_decay": [0.0, 0.01],
            "nesterov": [False, True], "maximize": [False, True]},
    "Adagrad": {"lr": LRS, "lr_decay": [0.0, 0.01], "weight_decay": [0.0, 0.01], "eps": [1e-10, 1e-3],
                "maximize": [False, True]},
    "RMSprop": {"lr": LRS, "alpha": [0.9, 0.99], "eps": [1e-8, 1e-3], "weight_decay": [0.0, 0.01],
                "momentum": [0.0, 0.5], "centered": [False, True], "maximize": [False, True]},
    "Adam": {"lr": LRS, "betas": [(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)], "eps": [1e-8, 1e-3],
             "weight_decay": [0.0, 0.01], "amsgrad": [False, True], "maximize": [False, True]},
    "RAdam": {"lr": LRS, "betas": [(0.9, 0.999), (0.5, 0.9)], "eps": [1e-8, 1e-3], "weight_decay": [0.0, 0.01],
              "decoupled_weight_decay": [False, True], "maximize": [False, True]},
}
EDITS["AdamW"] = EDITS["Adam"]
#: Constructor settings each sequence starts from (momentum on, so CyclicLR has one to cycle).
START = {"SGD": dict(lr=0.05, momentum=0.9), "Adagrad": dict(lr=0.05), "RMSprop": dict(lr=0.01, momentum=0.5),
         "Adam": dict(lr=0.01), "AdamW": dict(lr=0.01), "RAdam": dict(lr=0.01)}
#: torch's bare KeyError (a torch bug) for state entries switched on after the state was made.
TORCH_KEYERRORS = ("'momentum_buffer'", "'grad_avg'", "'max_exp_avg_sq'")


def roundtrip(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer)


def attempt(action):
    try:
        action()
        return None
    except Exception as err:  # noqa: BLE001 - compared below
        return type(err), str(err)


class SideBySide(RuleBasedStateMachine):
    """torch.optim.<name> on ``params_t`` and ours on ``params_o``, kept in lockstep."""

    name = "SGD"  # set per optimizer by machine_for

    @initialize(kind=st.sampled_from(["dense", "complex", "sparse"]), seed=st.integers(0, 2**16))
    def build(self, kind, seed):
        name = self.name
        self.kind = kind if kind != "sparse" or name in ("SGD", "Adagrad") else "dense"
        shape, dtype = {"dense": ((4, 3), torch.float32), "complex": ((3, 2), torch.complex64),
                        "sparse": ((6, 3), torch.float32)}[self.kind]
        g = torch.Generator().manual_seed(seed)
        first = torch.randn(shape, generator=g, dtype=dtype)
        self.params_t = [first.clone().requires_grad_()]
        self.params_o = [first.clone().requires_grad_()]
        self.opt_t = getattr(torch.optim, name)(self.params_t, **START[name])
        self.opt_o = getattr(ours, name)(self.params_o, **START[name])
        self.scheds = None
        self.failed = False

    def check(self):
        for p, q in zip(self.params_t, self.params_o):
            assert same(q.detach(), p.detach())
        assert_same_state(self.opt_t, self.opt_o)
        for gt, go in zip(self.opt_t.param_groups, self.opt_o.param_groups):
            assert gt.keys() == go.keys()

    @precondition(lambda self: not self.failed)
    @rule(seed=st.integers(0, 2**16), skip_last=st.booleans())
    def step(self, seed, skip_last):
        for params in (self.params_t, self.params_o):
            g = torch.Generator().manual_seed(seed)
            for i, p in enumerate(params):
                if skip_last and i == len(params) - 1 and i > 0:
                    p.grad = None
                elif i == 0 and self.kind == "sparse":
                    rows = torch.randint(0, p.shape[0], (3,), generator=g)
                    values = torch.randn(3, p.shape[1], generator=g)
                    p.grad = torch.sparse_coo_tensor(rows[None], values, p.shape)
                else:
                    p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)
        theirs, mine = attempt(self.opt_t.step), attempt(self.opt_o.step)
        if theirs is not None and theirs[0] is KeyError and theirs[1] in TORCH_KEYERRORS:
            assert mine is not None and mine[0] is RuntimeError and theirs[1].strip("'") in mine[1], mine
            self.failed = True
            return
        assert mine == theirs
        if theirs is not None:
            self.failed = True  # both refused alike; the half-done step is not compared
            return
        self.check()

    @precondition(lambda self: not self.failed)
    @rule(data=st.data(), group=st.integers(0, 3), tensor_lr=st.booleans())
    def edit(self, data, group, tensor_lr):
        key = data.draw(st.sampled_from(sorted(EDITS[self.name])))
        value = data.draw(st.sampled_from(EDITS[self.name][key]))
        group %= len(self.opt_t.param_groups)
        for opt in (self.opt_t, self.opt_o):
            opt.param_groups[group][key] = torch.tensor(value) if key == "lr" and tensor_lr else value

    @precondition(lambda self: not self.failed and len(self.params_t) < 3)
    @rule(seed=st.integers(0, 2**16), lr=st.sampled_from([None, 0.02]), weight_decay=st.sampled_from([None, -0.01]))
    def add_group(self, seed, lr, weight_decay):
        extra = torch.randn(5, generator=torch.Generator().manual_seed(seed))
        options = {k: v for k, v in (("lr", lr), ("weight_decay", weight_decay)) if v is not None}
        for params, opt in ((self.params_t, self.opt_t), (self.params_o, self.opt_o)):
            p = extra.clone().requires_grad_()
            params.append(p)
            opt.add_param_group({"params": [p], **options})
        self.scheds = None  # a scheduler is made for the groups it was given: make new ones
        self.check()

    @rule(set_to_none=st.booleans())  # always allowed: after a refused step it is all that is left
    def zero_grad(self, set_to_none):
        self.opt_t.zero_grad(set_to_none)
        self.opt_o.zero_grad(set_to_none)

    @precondition(lambda self: not self.failed)
    @rule(kind=st.sampled_from(["exponential", "cyclic"]))
    def scheduler_step(self, kind):
        if self.scheds is None:
            def make(opt):
                if kind == "exponential" or self.name in ("Adagrad",):
                    return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)
                return torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.001, max_lr=0.02, step_size_up=2,
                                                         base_momentum=0.0, max_momentum=0.9)
            tensors = [any(torch.is_tensor(g["lr"]) for g in opt.param_groups) for opt in (self.opt_t, self.opt_o)]
            if any(tensors):
                return  # schedulers and Tensor lrs: covered in test_optim_api
            self.scheds = (make(self.opt_t), make(self.opt_o))
        for sched in self.scheds:
            sched.step()
        for gt, go in zip(self.opt_t.param_groups, self.opt_o.param_groups):
            assert {k: v for k, v in gt.items() if k != "params"} == {k: v for k, v in go.items() if k != "params"}

    @precondition(lambda self: not self.failed)
    @rule()
    def checkpoint_into_the_other_library(self):
        """Each side's state_dict, saved and loaded, continues in a fresh optimizer of the other library."""
        from_ours, from_torch = roundtrip(self.opt_o.state_dict()), roundtrip(self.opt_t.state_dict())
        groups = [len(g["params"]) for g in self.opt_t.param_groups]

        def fresh(cls, params):
            split, start = [], 0
            for n in groups:
                split.append({"params": params[start:start + n]})
                start += n
            return cls(split, **START[self.name])

        self.opt_t = fresh(getattr(torch.optim, self.name), self.params_t)
        self.opt_o = fresh(getattr(ours, self.name), self.params_o)
        self.opt_t.load_state_dict(from_ours)
        self.opt_o.load_state_dict(from_torch)
        self.scheds = None
        self.check()


def machine_for(name: str) -> type[SideBySide]:
    """The state machine for one optimizer (one per optimizer, so each gets its share of sequences)."""
    return type(f"SideBySide{name}", (SideBySide,), {"name": name})


@pytest.mark.filterwarnings("ignore:Sparse invariant checks", "ignore:Detected call of `lr_scheduler.step()`")
@pytest.mark.parametrize("name", NAMES)
def test_ours_and_torch_agree_through_random_training_sequences(name):
    machine = machine_for(name)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=30, stateful_step_count=10, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck)))
