"""Drop-in replacements for ``torch.optim``'s SGD, Adagrad, RMSprop, Adam, AdamW and RAdam, and
for its NAdam, Adamax, Muon and Adafactor; plus LAMB, Lion, schedule-free AdamW and 8-bit Adam/AdamW,
which torch lacks (each tested against a published reference implementation).

Each class has torch's constructor signature, defaults and error messages, and keeps its state
under torch's keys, so ``state_dict()`` checkpoints move between ``torch.optim`` and these
classes in both directions. The arithmetic of every step is the package's rule
(:mod:`adaptive_optim.rules`), the same code that runs on NumPy in the book's figures, written
in torch's order of operations: on the CPU every step is bitwise equal to torch.optim's default
(per-tensor) implementation, for float, Tensor and NumPy-scalar hyperparameters, dense, sparse
and complex parameters.

As in torch, hyperparameters are checked by the constructor only; a value later set in a param
group (by hand or by a scheduler) is used as given. ``step`` is kept a tensor and the bias
corrections are tensor arithmetic, so ``torch.compile`` traces a whole step.

How a step runs (issue 15). SGD, Adagrad, RMSprop, Adam, AdamW and RAdam write the new state and
parameters in place (their rules pass the old value as ``into=``, which only a drop-in's step
honours; see ``adaptive_optim.rules._ops``) and, by default, step each param group's dense real
tensors of one device and dtype as one TensorList: each operation of the rule is one
``torch._foreach_*`` call. This is taken for Python-number hyperparameters without ``capturable``;
Tensor or NumPy hyperparameters, sparse gradients and complex parameters step tensor by tensor.
On the CPU torch's foreach kernels call its per-tensor ones, so either way the step is bitwise
torch.optim's default. There, a CPU step count reaches the rule as a Python float, as torch.optim
reads it with ``.item()``, so the bias corrections are float arithmetic rather than 0-d tensor
operations (where the count plus one would round in float32, the tensor is passed). The other
classes run the pure rule tensor by tensor.

Flags that choose torch's kernel: ``foreach`` is accepted and refused exactly where torch
refuses it (a Tensor lr or betas without ``capturable``), and the step is the same arithmetic
either way (torch's foreach kernels round alike on the CPU). ``capturable=True`` is refused,
with torch's error, for parameters on a device torch cannot capture (the CPU); where it is
accepted the step is the non-capturable arithmetic, which differs from torch's capturable
order by rounding. ``fused=True`` (the six classes above, RMSprop and RAdam included, which torch
lacks a fused kernel for) compiles the same rule with ``torch.compile`` (inductor) at the first
step, state written in place, ``step`` kept on the parameter's device as torch's fused kernels keep
it. On the CPU the tensors of a group that share dtype, state entries and step count step as one
TensorList (the rule's bias corrections computed once for the list, a few kernels, each looping over
all its tensors; RAdam, whose rule dynamo cannot trace over lists, steps tensor by tensor); elsewhere
(CUDA) each tensor's step is its own kernel. lr reaches the compiled step as a 0-d tensor updated from the group
each step, so a scheduler changing lr does not recompile; other hyperparameters are constants of
the compiled step, so changing them (a scheduler cycling momentum or betas) recompiles. Where
torch.compile gives up (dynamo's limit of 8 recompilations, or an error while tracing), the step
runs the rule uncompiled: a step the rule refuses raises its own error, and otherwise the optimizer
warns once and steps uncompiled from then on (``fused_fallback``). ``fused=True`` refuses,
with torch's errors, sparse gradients, non-float parameters (complex included) and ``foreach=True``;
its results differ from the eager step by rounding (fused multiply-adds), as torch's fused kernels
do (tested in tests/test_optim_fused.py). The 8-bit classes refuse ``fused=True`` with
``NotImplementedError`` (the others, like their torch counterparts, take no ``fused``);
``differentiable=True`` is refused with ``NotImplementedError`` by all:
no step here is one that autograd can differentiate through.

Where the rounding is not torch's (not tested bitwise here): with ``capturable=True`` on a GPU,
torch folds the step size into the denominator (√v̂/(−α̂) + ε/(−α̂)) while ours computes
√v̂ + ε and scales by α̂; each is within a few roundings of the exact step, so the two differ by
at most ~6u·``|Δθ|`` per step (u = 2⁻²⁴ in float32). float64 *Tensor* betas are raised to the power t
as a Python float would be (C ``pow``), where torch uses the tensor's own ``x ** 0.5``: the bias
correction's root can then differ by one float64 ulp (1.1e-16 relative), which a float32 step
rounds away. The bitwise claims above are tested in tests/test_optim_reliability.py and
tests/test_optim_state_machine.py; a compiled step (``torch.compile``) may fuse operations and is
tested to agree with the eager step to a bound argued in tests/test_optim_compiled.py.
"""

from __future__ import annotations

import types
import warnings
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor
from torch.optim import Optimizer

from . import rules
from .rules import _ops
from .rules._ops import TensorList, as_real

ParamsT = Any

#: Tensors with more entries than this step one by one, and a TensorList step holds at most
#: ``LIST_MAX_NUMEL`` entries in all (see ``RuleOptimizer._lists``).
TENSOR_MAX_NUMEL_IN_LIST = 2**16
LIST_MAX_NUMEL = 2**20

#: What torch.compile raises when it cannot trace or compile a step (before running it): dynamo's
#: errors (an operation it cannot trace, a failing fake-tensor call, a backend failure) and its hard
#: failure on reaching the recompile limit with ``fullgraph=True``.
_COMPILE_FAILURES = (torch._dynamo.exc.TorchDynamoException, torch._dynamo.exc.FailOnRecompileLimitHit)

#: The device types torch.optim accepts for capturable=True (``_get_capturable_supported_devices``).
CAPTURABLE_DEVICES = ("cuda", "xpu", "hpu", "privateuseone", "xla")


def _scalar_dtype() -> torch.dtype:
    """The dtype torch.optim uses for its ``step`` counters."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _check_tensor_lr(lr) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")


def _refuse_kernel_flags(name: str, fused, differentiable, compiles: bool = False, foreach=None) -> None:
    if fused and not compiles:
        raise NotImplementedError(
            f"adaptive_optim.optim.{name} has no fused kernel: it always runs the package's "
            f"reference rule. Leave fused=None, or use torch.optim.{name}(fused=True).")
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError(
            f"adaptive_optim.optim.{name} does not support differentiable=True: its step runs "
            f"under torch.no_grad(). Use torch.optim.{name}(differentiable=True) to backpropagate "
            f"through optimizer steps.")


def _check_capturable(p: Tensor, step: Tensor) -> None:
    """torch.optim's refusal of ``capturable=True`` off a device that can capture (same type and message)."""
    if not (p.device.type == step.device.type and p.device.type in CAPTURABLE_DEVICES):
        raise AssertionError("If capturable=True, params and state_steps must be on supported devices: "
                             f"{list(CAPTURABLE_DEVICES)}.")


def _store(state: dict[str, Any], key: str, value: Any, p: Tensor) -> None:
    """Put a rule's new state entry into the optimizer's state, in place where torch updates in place.

    A complex parameter's entries stay complex (torch's format), whether the rule returned them
    as complex (SGD) or as real views (the adaptive rules); sparse entries are replaced.
    """
    old = state.get(key)
    if value is old:
        return
    if torch.is_tensor(old) and torch.is_tensor(value) and not old.is_sparse and not value.is_sparse:
        target = as_real(old) if old.is_complex() and not value.is_complex() else old
        if target.shape == value.shape:
            if not _same_memory(target, value):  # written in place by the rule already
                target.copy_(value)
            return
    if torch.is_tensor(value):
        value = value.clone()
        if p.is_complex() and not value.is_complex() and value.shape == (*p.shape, 2):
            value = torch.view_as_complex(value)
    state[key] = value


def _same_memory(a: Tensor, b: Tensor) -> bool:
    """True when ``b`` is ``a`` or a view of exactly ``a``'s elements (what an in-place rule returns)."""
    if a is b:
        return True
    if torch.compiler.is_compiling():
        return False
    return (a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride()
            and a.device == b.device and a.data_ptr() == b.data_ptr())


def _exact_count(step: Any) -> float | None:
    """A CPU float step tensor's value ``n`` as a Python float, where ``n + 1`` (in Python) is the value
    torch.optim's ``step_t += 1`` then ``.item()`` gives (always in float64; in float32 when it holds
    ``n + 1`` exactly); else None."""
    if not (torch.is_tensor(step) and step.device.type == "cpu" and step.dtype in (torch.float32, torch.float64)):
        return None
    n = step.item()
    if step.dtype == torch.float32 and float(np.float32(n + 1)) != n + 1:
        return None
    return n


def _plain(value: Any) -> bool:
    """A hyperparameter the tensor-list path takes as it is: a Python number, bool, None or a tuple of them."""
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (bool, int, float)


def _fused_devices() -> list[str]:
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    return _get_fused_kernels_supported_devices()


def _fusable_kind(kind: tuple[torch.dtype, torch.device]) -> bool:
    """True for a (dtype, device) that torch's fused kernels take (see :func:`_check_fusable`)."""
    dtype, device = kind
    return dtype.is_floating_point and device.type in _fused_devices()


def _check_fusable(p: Tensor) -> None:
    """torch.optim's refusal of a parameter its fused kernels do not take (same type and message)."""
    devices = _fused_devices()
    if not (p.device.type in devices and torch.is_floating_point(p)):
        raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of "
                           f"supported devices: {devices} but {p.dtype} and {p.device.type}")


def _fused_group_step(rule: rules.Rule, params: list[Tensor], grads: list[Tensor],
                      states: list[dict[str, Any]]) -> None:
    """The rule over a param group, tensor by tensor, writing in place: the function ``fused=True``
    compiles (each tensor's step becomes one kernel). New state entries (SGD's first momentum
    buffer) are added as copies."""
    for p, g, state in zip(params, grads, states):
        new_param, new_state = rule.update(p, g, state)
        if new_param is not p:
            p.copy_(new_param)
        for key, value in new_state.items():
            old = state.get(key)
            if old is None:
                state[key] = value.clone()
            elif value is not old:
                old.copy_(value)


#: One bucket of :func:`_fused_list_step`: parameters, gradients, each state entry's tensors (by
#: key) and the step tensors (None for a rule without a step count).
Bucket = tuple[list[Tensor], list[Tensor], dict[str, list[Tensor]], "list[Tensor] | None"]


def _fused_list_step(rule: rules.Rule, buckets: list[Bucket]) -> list[dict[str, Any]]:
    """The rule over each bucket of a CPU param group (tensors sharing dtype, state entries and step
    count) as TensorLists, writing in place: the function ``fused=True`` compiles on the CPU. The
    bias corrections are computed once per bucket, not once per tensor, and inductor's loops over
    the list's tensors are fewer and larger. Returns each bucket's new step count (a 0-d tensor) and
    new state entries (SGD's first momentum buffer, as copies), for the caller to store.

    The new count is copied into the bucket's step tensors by the caller, not here: torch 2.13's
    inductor miscompiles ``v = steps[0] + 1; _foreach_copy_(steps, [v] * n)`` (it recomputes ``v``
    for each target from the already overwritten ``steps[0]``, giving 1, 2, 2, …), which a rule
    whose count feeds nothing else (RMSprop) compiles to.

    Flat lists, not the state dicts, are the inputs: dynamo guards every dict it reads (its keys),
    and with one dict per parameter those checks cost more than the step on small tensors."""
    added = []
    for params, grads, entries, steps in buckets:
        lists = {key: TensorList(tensors) for key, tensors in entries.items()}
        if steps is not None:
            lists["step"] = steps[0]
        param_list = TensorList(params)
        new_param, new_state = rule.update(param_list, TensorList(grads), lists)
        if new_param is not param_list:
            torch._foreach_copy_(params, new_param.tensors)
        new_entries = {}
        for key, value in new_state.items():
            if key == "step":
                new_entries[key] = value
            elif key not in lists:
                new_entries[key] = [t.clone() for t in value.tensors]
            elif value is not lists[key]:
                torch._foreach_copy_(entries[key], value.tensors)
        added.append(new_entries)
    return added


def _list_kind(p: Tensor, state: dict[str, Any]) -> tuple | None:
    """What a CPU parameter of a ``fused=True`` group must share with others to step in one
    TensorList (its dtype and state entries), or None for one the per-tensor compiled step takes:
    off the CPU, or with a state entry that is not a dense tensor of the parameter's dtype, shape and
    device (as a hand-edited state may hold)."""
    if p.device.type != "cpu" or not all(
            torch.is_tensor(v) and v.layout == torch.strided and v.dtype == p.dtype and v.shape == p.shape
            and v.device == p.device for k, v in state.items() if k != "step"):
        return None
    return p.dtype, tuple(state)


class _FusedPlan:
    """How a ``fused=True`` param group steps, worked out once for its parameters with a gradient and
    their state tensors (``ids``: their identities, which it holds, so no id is reused while it
    lives): each parameter's kind (:func:`_list_kind`), and for each kind its TensorList members'
    parameters, state entries and step tensors. Only the step counts are read at every step."""

    def __init__(self, params: list[Tensor], states: list[dict[str, Any]]) -> None:
        self.held = [*params, *(v for s in states for v in s.values())]
        self.ids = [id(x) for x in self.held]
        self.dtypes = [p.dtype for p in params]
        kinds = [_list_kind(p, s) for p, s in zip(params, states)]
        self.rest = [i for i, kind in enumerate(kinds) if kind is None]
        self.members: dict[tuple, list[int]] = {}
        for i, kind in enumerate(kinds):
            if kind is not None:
                self.members.setdefault(kind, []).append(i)
        self.steps = [states[i]["step"] for indices in self.members.values() for i in indices
                      if "step" in states[i]]  # kinds with a step count come whole: the state keys are the kind's
        self.whole = {kind: self._bucket(kind, indices, params, states) for kind, indices in self.members.items()}

    @staticmethod
    def _bucket(kind: tuple, indices: list[int], params: list[Tensor],
                states: list[dict[str, Any]]) -> tuple[Bucket, list[dict]]:
        chosen = [states[i] for i in indices]
        entries = {key: [s[key] for s in chosen] for key in kind[1] if key != "step"}
        steps = [s["step"] for s in chosen] if "step" in kind[1] else None
        return ([params[i] for i in indices], [], entries, steps), chosen

    def buckets(self, params: list[Tensor], states: list[dict[str, Any]]) -> tuple[list[tuple[Bucket, list[dict]]], list[int]]:
        """This step's buckets of :func:`_fused_list_step` (with their parameters' state dicts) and the
        indices of the parameters that step one by one. A kind whose members' step counts differ
        (a parameter that missed steps) is split by count, in order of first appearance."""
        counts = iter(torch.stack(self.steps).tolist() if self.steps else [])
        result = []
        for kind, indices in self.members.items():
            (members, _, entries, steps), chosen = self.whole[kind]
            if steps is None:
                split = {None: indices}
            else:
                split = {}
                for i, count in zip(indices, counts):
                    split.setdefault(count, []).append(i)
            if len(split) == 1:
                result.append(((members, [p.grad for p in members], entries, steps), chosen))
                continue
            for part in split.values():
                (ps, _, es, ss), cs = self._bucket(kind, part, params, states)
                result.append(((ps, [p.grad for p in ps], es, ss), cs))
        return result, self.rest


def _private_compile(fn: Callable, skip_size_asserts: bool = False) -> Callable:
    """``torch.compile`` of a private copy of ``fn``.

    Dynamo keeps the graphs compiled for a function on its code object, and recompiles at most a
    few times per code object before it falls back to eager; each optimizer compiles its own copy,
    so several optimizers (each with its own group structure) do not use up one another's budget.
    ``realize_opcount_threshold=1`` makes inductor compute the 0-d bias corrections (``pow`` of the
    step count, roots, ratios) once, as scalars, instead of inlining them into the elementwise
    kernel, where they were evaluated again for every element (Adam: ~5× slower on the CPU).
    ``size_asserts=False`` (``skip_size_asserts``): the compiled code does not check again the shape
    and strides of each input on every call; dynamo's guards check them already (dtype, device,
    shape and strides of every tensor argument) before the compiled code runs. With a group's
    tensors as the inputs of one graph (the TensorList step: ~1000 for Adam on 200 tensors) the
    second check cost ~10% of a step.
    """
    copy = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    options = {"realize_opcount_threshold": 1, **({"size_asserts": False} if skip_size_asserts else {})}
    return torch.compile(copy, fullgraph=True, dynamic=False, options=options)


class RuleOptimizer(Optimizer):
    """A ``torch.optim.Optimizer`` whose every step applies one rule from :mod:`adaptive_optim.rules`.

    Subclasses name their rule, the group keys that are its hyperparameters, and the group
    defaults torch restores in ``__setstate__``.
    """

    rule_class: type[rules.Rule]
    #: group key -> rule field, for the hyperparameters the rule takes from each param group
    rule_fields: tuple[str, ...]
    #: torch's error message for sparse gradients ("{name}" is the class name); None when the
    #: rule steps sparse gradients itself, as torch does (SGD, Adagrad)
    sparse_error: str | None = "{name} does not support sparse gradients"
    #: group keys torch fills in when loading an older state (``Optimizer.__setstate__``)
    group_defaults: dict[str, Any] = {}
    #: True: a complex parameter reaches the rule as a real view (…, 2), state included, for
    #: rules that know nothing of complex numbers. False: the rule gets complex tensors and
    #: calls ``_ops.as_real`` where torch switches to the real view (as the six rules here do,
    #: so that weight decay rounds as torch's complex arithmetic does).
    complex_as_real: bool = True
    #: True for the optimizers whose rules write in place (``into=``, see ``adaptive_optim.rules._ops``):
    #: their step writes state and parameters in place, steps each group's dense tensors as
    #: TensorLists (torch's foreach kernels), and ``fused=True`` compiles the rule.
    fast: bool = False
    #: ``fused=True`` on the CPU: step parameters that share dtype, state entries and step count as
    #: TensorLists in one compiled function (see ``_step_fused``); False: tensor by tensor
    fused_lists: bool = True

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        _refuse_kernel_flags(type(self).__name__, defaults.get("fused"), defaults.get("differentiable"),
                             compiles=self.fast, foreach=defaults.get("foreach"))
        self.rule_for(defaults).validate()  # torch's checks and messages, in the constructor only
        super().__init__(params, defaults)
        self._compiled: Callable | None = None  # fused=True: the compiled step, made at the first step
        self._compiled_lists: Callable | None = None  # the same over TensorLists (CPU tensors)
        self._fused_lrs: dict[int, Tensor] = {}  # fused=True: each group's lr as a 0-d tensor
        self._fused_kinds: dict[int, _FusedPlan] = {}  # fused=True: each group's plan

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.group_defaults.items():
                group.setdefault(key, value)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if "step" in p_state and not torch.is_tensor(p_state["step"]):
                    p_state["step"] = torch.tensor(float(p_state["step"]), dtype=_scalar_dtype())

    def rule_for(self, group: dict[str, Any]) -> rules.Rule:
        """The rule holding this param group's hyperparameters as they are now.

        Not validated: torch checks hyperparameters in the constructor only and steps with
        whatever a group holds later.
        """
        return self.rule_class.unchecked(**{name: group[name] for name in self.rule_fields})

    def init_state(self, p: Tensor, rule: rules.Rule) -> dict[str, Any]:
        """torch's initial state for ``p``: the rule's, with ``step`` as a CPU scalar tensor."""
        if p.is_complex() and self.complex_as_real:
            state = {k: torch.view_as_complex(v) if torch.is_tensor(v) and v.shape == (*p.shape, 2) else v
                     for k, v in rule.init(torch.view_as_real(p)).items()}
        else:
            state = rule.init(p)
        if "step" in state:
            state["step"] = torch.tensor(float(state["step"]), dtype=_scalar_dtype())
        return state

    def dense_grad(self, p: Tensor, group: dict[str, Any]) -> tuple[Tensor, Tensor | None]:
        """The gradient the rule steps, and ``None`` (kept for subclasses that return a mask).

        A sparse gradient is refused with torch's error unless ``sparse_error`` is None, in which
        case the rule gets it as it is and must step it as torch does.
        """
        grad = p.grad
        if grad.is_sparse and self.sparse_error is not None:
            raise RuntimeError(self.sparse_error.format(name=type(self).__name__))
        return grad, None

    def check_group(self, group: dict[str, Any]) -> None:
        """torch's step-time refusals of a group's settings, before the group's first parameter steps."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        """Perform a single optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            with_grad = [p for p in group["params"] if p.grad is not None]
            if not with_grad:
                continue
            self.check_group(group)
            if group.get("fused") and not self.fused_fallback:
                self._step_fused(group, with_grad)
                continue
            rule = self.rule_for(group)
            if not self.fast or torch.compiler.is_compiling():  # compiled by the caller: the pure rule
                for p in with_grad:
                    self._step_one(p, group, rule)
                continue
            # Python-number hyperparameters: the step count reaches the rule as a number, as torch.optim
            # reads it (``.item()``), so its bias corrections are float arithmetic, not 0-d tensor ops
            numeric_step = not group.get("capturable") and all(_plain(group[name]) for name in self.rule_fields)
            with _ops.writing_in_place():
                lists, rest = self._lists(with_grad, rule) if numeric_step else ([], with_grad)
                for params in lists:
                    self._step_list(params, rule)
                for p in rest:
                    self._step_one(p, group, rule, numeric_step=numeric_step)
        return loss

    def _lists(self, params: list[Tensor],
               rule: rules.Rule) -> tuple[list[list[tuple[Tensor, dict]]], list[Tensor]]:
        """The group's parameters that step together as TensorLists (dense, real, one device and
        dtype, the same state entries and step count), and the rest, which step one by one.

        The caller asks only for groups of Python-number hyperparameters without ``capturable``: there
        torch's foreach kernels round as its per-tensor ones; Tensor and NumPy hyperparameters step one by one.
        Large tensors (over ``TENSOR_MAX_NUMEL_IN_LIST`` entries) step one by one too, and a list
        holds at most ``LIST_MAX_NUMEL`` entries in all: a foreach operation that is not in place allocates
        its results for the whole list at once, and for large tensors that is more memory, which,
        when it exceeds what the C library keeps for reuse, comes fresh from the system at every step
        (page faults costing more than the per-tensor overhead a list saves); one tensor at a time,
        the allocator reuses the memory of the previous one's temporaries.
        """
        candidates, rest = [], []
        for p, state in zip(params, map(self.state.get, params)):
            # One loop with plain isinstance checks, not all() over a generator: this runs for every
            # parameter at every step, and on many small tensors its Python cost is part of the step's.
            state = state or self.init_state(p, rule)  # registered once stepped, if not empty
            grad, dtype, shape = p.grad, p.dtype, p.shape
            listed = (p.numel() <= TENSOR_MAX_NUMEL_IN_LIST and not grad.is_sparse and not p.is_complex()
                      and grad.dtype == dtype and grad.shape == shape)
            step = None
            for k, v in state.items() if listed else ():
                if k == "step":
                    step = v
                    listed = v is None or (isinstance(v, Tensor) and v.device.type == "cpu")
                else:
                    listed = isinstance(v, Tensor) and not v.is_sparse and v.dtype == dtype and v.shape == shape
                if not listed:
                    break
            if listed:
                candidates.append((p, state, step))
            else:
                rest.append(p)
        # the step counts, read in one call (a tensor list would read them one by one)
        with_step = [step for _, _, step in candidates if step is not None]
        one_dtype = len({step.dtype for step in with_step}) == 1
        counts = iter(torch.stack(with_step).tolist() if one_dtype else [float(step) for step in with_step])
        buckets: dict[tuple, list[list[tuple[Tensor, dict]]]] = {}
        sizes: dict[tuple, int] = {}  # entries in each bucket's last list
        for p, state, step in candidates:
            key = (p.device, p.dtype, tuple(state), None if step is None else (step.dtype, next(counts)))
            chunks = buckets.setdefault(key, [[]])
            if chunks[-1] and sizes[key] + p.numel() > LIST_MAX_NUMEL:
                chunks.append([])
                sizes[key] = 0
            chunks[-1].append((p, state))
            sizes[key] = sizes.get(key, 0) + p.numel()
        return [chunk for chunks in buckets.values() for chunk in chunks], rest

    def _step_list(self, members: list[tuple[Tensor, dict]], rule: rules.Rule) -> None:
        """One step of the rule for tensors that share device, dtype, state entries and step count."""
        params, states = [p for p, _ in members], [s for _, s in members]
        first = states[0]
        lists = {k: v if k == "step" else TensorList([s[k] for s in states]) for k, v in first.items()}
        count = _exact_count(first.get("step"))  # the count as a number, as in _step_one
        if count is not None:
            lists["step"] = count
        param_list = TensorList(params)
        new_param, new_state = rule.update(param_list, TensorList([p.grad for p in params]), lists)
        if new_param is not param_list:
            torch._foreach_copy_(params, new_param.tensors)
        for key, value in new_state.items():
            if key == "step":
                if not torch.is_tensor(value):
                    value = torch.tensor(value, dtype=first["step"].dtype)
                torch._foreach_copy_([s["step"] for s in states], [value] * len(states))
            elif value is not lists.get(key):
                for p, s, v in zip(params, states, value.tensors):
                    _store(s, key, v, p)
        for p, s in members:
            if s:
                self.state[p] = s

    def _step_fused(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """``fused=True``: the rule compiled by torch.compile for this group, lr passed as a 0-d tensor
        (updated from the group each step, so a scheduler changing lr does not recompile).

        On the CPU, parameters that share dtype, state entries and step count step as TensorLists
        (one compiled function over all such buckets); the others, and every parameter when a
        hyperparameter other than lr is not a plain number, take the per-tensor compiled step.
        What a parameter may share is worked out again whenever the parameters with a gradient or
        their state tensors change (compared by identity); the step counts are read every step."""
        grads = [p.grad for p in params]
        if any(g.is_sparse for g in grads) or not all(map(_fusable_kind, {(p.dtype, p.device) for p in params})):
            for p in params:  # the first offending parameter, with torch's error
                _check_fusable(p)
                if p.grad.is_sparse:
                    message = self.fused_sparse_error or self.sparse_error or "{name} does not support sparse gradients"
                    raise RuntimeError(message.format(name=type(self).__name__))
        if not hasattr(self, "_fused_lrs"):  # an optimizer unpickled or copied (torch pickles its state only)
            self._compiled, self._compiled_lists, self._fused_lrs, self._fused_kinds = None, None, {}, {}
        lr = self._fused_lrs.get(id(group))
        if lr is None or lr.device != params[0].device:
            lr = self._fused_lrs[id(group)] = torch.zeros((), dtype=torch.float64, device=params[0].device)
        lr.copy_(group["lr"]) if torch.is_tensor(group["lr"]) else lr.fill_(group["lr"])
        rule = self.rule_class.unchecked(**{name: group[name] for name in self.rule_fields if name != "lr"}, lr=lr)
        get = self.state.get
        states = [get(p) for p in params]
        ids = [*map(id, params), *(id(v) for s in states if s for v in s.values())]
        dtypes = [p.dtype for p in params]  # `p.data = p.data.float()` keeps p's identity, not its kind
        plan = self._fused_kinds.get(id(group))
        if plan is None or not all(states) or plan.ids != ids or plan.dtypes != dtypes:
            for i, p in enumerate(params):
                state = states[i]
                if not state:
                    state = states[i] = self.state[p] = self.init_state(p, rule)
                if "step" in state and (state["step"].device != p.device or state["step"].dtype != torch.float32):
                    state["step"] = state["step"].to(device=p.device, dtype=torch.float32)  # as torch's fused
            plan = self._fused_kinds[id(group)] = _FusedPlan(params, states)
        lists = self.fused_lists and all(_plain(group[name]) for name in self.rule_fields if name != "lr")
        buckets, rest = plan.buckets(params, states) if lists else ([], list(range(len(params))))
        with _ops.writing_in_place():
            if buckets:
                if self._compiled_lists is None:
                    self._compiled_lists = _private_compile(_fused_list_step, skip_size_asserts=True)
                try:
                    added = self._compiled_lists(rule, [bucket for bucket, _ in buckets])
                except _COMPILE_FAILURES as error:
                    self._step_uncompiled(group, [p for (bucket, _) in buckets for p in bucket[0]], error)
                    added = None
                for ((_, _, _, steps), members), entries in zip(buckets, added or ()):
                    for key, value in entries.items():
                        if key == "step":
                            torch._foreach_copy_(steps, [value] * len(steps))
                            continue
                        for state, tensor in zip(members, value):
                            state[key] = tensor
            if rest:
                if self._compiled is None:
                    self._compiled = _private_compile(_fused_group_step)
                try:
                    self._compiled(rule, [params[i] for i in rest], [grads[i] for i in rest], [states[i] for i in rest])
                except _COMPILE_FAILURES as error:
                    self._step_uncompiled(group, [params[i] for i in rest], error)

    def _step_uncompiled(self, group: dict[str, Any], params: list[Tensor], error: Exception) -> None:
        """``fused=True`` when torch.compile failed on this step (while tracing or compiling, before the
        compiled code ran, so nothing was written): step ``params`` without compiling, as with default
        flags, so that a step the rule refuses raises the rule's own clear error; if it steps, warn
        once and step the optimizer without compiling from then on (``fused_fallback``).

        Such failures come from dynamo's limit on recompilations (8 per function): the compiled step
        specializes on every hyperparameter but lr, and on the shapes it is given, so a scheduler that
        changes betas or momentum every step (OneCycleLR), or many param groups of different shapes,
        or a changing set of parameters with gradients, would make it recompile at every step."""
        rule = self.rule_for(group)
        for p in params:  # within the caller's writing_in_place, as the default step's large tensors
            self._step_one(p, group, rule)
        if not self.fused_fallback:
            self.fused_fallback = True
            warnings.warn(f"{type(self).__name__}(fused=True): torch.compile could not compile this step "
                          f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                          f"the optimizer steps without compiling from now on (the same rule, slower)",
                          RuntimeWarning, stacklevel=3)

    #: True once ``fused=True`` fell back to stepping without compiling (see ``_step_uncompiled``)
    fused_fallback: bool = False

    #: torch's error for a sparse gradient with fused=True ("{name}": the class name); None: ``sparse_error``
    fused_sparse_error: str | None = None

    def _step_one(self, p: Tensor, group: dict[str, Any], rule: rules.Rule, numeric_step: bool = False) -> None:
        """One parameter's step. ``numeric_step``: hand the rule a CPU step count as a Python float
        (where that float plus one is the count torch's ``step_t += 1`` gives) and write its new
        value back into the step tensor."""
        grad, mask = self.dense_grad(p, group)
        if mask is not None:
            raise NotImplementedError("dense_grad must return the gradient the rule steps and None")
        state = self.state[p] if p in self.state else {}
        if not state:
            state = self.init_state(p, rule)
            if group.get("capturable") and "step" in state:
                state["step"] = state["step"].to(p.device)
        if group.get("capturable") and "step" in state and not torch.compiler.is_compiling():
            _check_capturable(p, state["step"])
        count = _exact_count(state.get("step")) if numeric_step else None
        given = state if count is None else dict(state, step=count)
        if p.is_complex() and self.complex_as_real:
            views = {k: as_real(v) if torch.is_tensor(v) else v for k, v in given.items()}
            new_param, new_state = rule.update(as_real(p), as_real(grad), views)
        else:
            new_param, new_state = rule.update(p, grad, given)
        target = p if new_param.shape == p.shape else as_real(p)
        if not _same_memory(target, new_param):  # else the rule wrote in place
            target.copy_(new_param)
        for key, value in new_state.items():
            if key == "step" and given is not state:
                state["step"].fill_(value)
            else:
                _store(state, key, value, p)
        if state:
            self.state[p] = state


class SGD(RuleOptimizer):
    """Drop-in ``torch.optim.SGD`` on :class:`adaptive_optim.rules.SGD`.

    Sparse gradients are stepped as torch steps them: the momentum buffer is a sparse tensor
    that keeps every row touched so far (so rows keep moving after their batch), and
    ``weight_decay`` with a sparse gradient raises torch's error.
    """

    rule_class = rules.SGD
    complex_as_real = False  # torch steps complex parameters in complex arithmetic
    rule_fields = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
    sparse_error = None  # the rule steps sparse gradients as torch does: a sparse momentum buffer
    fused_sparse_error = "`_fused_sgd` does not support sparse gradients"
    fast = True
    group_defaults = {"nesterov": False, "maximize": False, "foreach": None, "differentiable": False,
                      "fused": False}

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float | Tensor = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        _check_tensor_lr(lr)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      foreach=foreach, differentiable=differentiable, fused=fused))


class Adagrad(RuleOptimizer):
    """Drop-in ``torch.optim.Adagrad`` on :class:`adaptive_optim.rules.Adagrad`.

    As in torch, the state (``step``, ``sum``) of every parameter is created by the constructor.
    """

    rule_class = rules.Adagrad
    complex_as_real = False  # the rule takes the real view where torch does
    rule_fields = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize")
    sparse_error = None  # the rule steps coalesced sparse gradients at their entries, as torch does
    fused_sparse_error = "`fused` does not support sparse grad or complex param"
    fast = True
    group_defaults = {"foreach": None, "maximize": False, "differentiable": False, "fused": None}

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        _check_tensor_lr(lr)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            rule = self.rule_for(group)
            for p in group["params"]:
                self.state[p] = self.init_state(p, rule)

    def dense_grad(self, p: Tensor, group: dict[str, Any]) -> tuple[Tensor, Tensor | None]:
        if not p.grad.is_sparse:
            return p.grad, None
        if group["weight_decay"] != 0:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")
        return p.grad.coalesce(), None


class RMSprop(RuleOptimizer):
    """Drop-in ``torch.optim.RMSprop`` on :class:`adaptive_optim.rules.RMSprop`."""

    rule_class = rules.RMSprop
    complex_as_real = False  # the rule takes the real view where torch does
    rule_fields = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize")
    sparse_error = "RMSprop does not support sparse gradients"
    fast = True
    group_defaults = {"momentum": 0, "centered": False, "foreach": None, "maximize": False,
                      "differentiable": False, "capturable": False}

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False, *, fused: bool | None = None) -> None:
        _check_tensor_lr(lr)
        # torch has no fused RMSprop; ``fused`` (ours: the rule compiled) is kept in the groups only when set
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, **({"fused": fused} if fused else {})))


class Adam(RuleOptimizer):
    """Drop-in ``torch.optim.Adam`` on :class:`adaptive_optim.rules.Adam`."""

    rule_class = rules.Adam
    complex_as_real = False  # the rule takes the real view where torch does
    rule_fields = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")
    sparse_error = "Adam does not support sparse gradients, please consider SparseAdam instead"
    fast = True
    group_defaults = {"amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                      "differentiable": False, "decoupled_weight_decay": False, "fused": None}

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3,
                 betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        _check_tensor_lr(lr)
        rules.Adam(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)  # torch's checks, in torch's order
        if not (all(isinstance(b, float) for b in betas) or all(isinstance(b, Tensor) for b in betas)):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor) and not capturable and foreach:
                raise ValueError(f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True")
            if isinstance(b, Tensor) and b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        betas = tuple(b.squeeze() if isinstance(b, Tensor) and b.dim() != 0 else b for b in betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused, decoupled_weight_decay=decoupled_weight_decay))


    def check_group(self, group: dict[str, Any]) -> None:
        if group["foreach"] and torch.is_tensor(group["lr"]) and not group["capturable"]:
            raise RuntimeError("lr as a Tensor is not supported for capturable=False and foreach=True")


class AdamW(Adam):
    """Drop-in ``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2)."""

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3,
                 betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


class RAdam(RuleOptimizer):
    """Drop-in ``torch.optim.RAdam`` on :class:`adaptive_optim.rules.RAdam` (switch at ρ_t > 5)."""

    rule_class = rules.RAdam
    complex_as_real = False  # the rule takes the real view where torch does
    rule_fields = ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay", "maximize")
    sparse_error = "RAdam does not support sparse gradients"
    fast = True
    #: dynamo (torch 2.13) cannot trace the rule's Python operators between a TensorList and a 0-d
    #: tensor (``exp_avg / (1 - β₁ᵗ)``, the ρ_t switch), so ``fused=True`` steps tensor by tensor
    fused_lists = False
    group_defaults = {"foreach": None, "maximize": False, "differentiable": False,
                      "decoupled_weight_decay": False, "capturable": False}

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check_tensor_lr(lr)
        # torch has no fused RAdam; ``fused`` (ours: the rule compiled) is kept in the groups only when set
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      differentiable=differentiable, **({"fused": fused} if fused else {})))


# ---- After Adam: NAdam, Adamax (torch.optim), and drop-ins for optimizers torch lacks ----------


class NAdam(RuleOptimizer):
    """Drop-in ``torch.optim.NAdam`` on :class:`adaptive_optim.rules.NAdam`.

    ``mu_product`` is kept, as in torch, as a CPU scalar tensor of torch's scalar dtype, so the
    product of the momentum coefficients rounds exactly as torch's does.
    """

    rule_class = rules.NAdam
    rule_fields = ("lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay",
                   "maximize")
    sparse_error = "NAdam does not support sparse gradients"
    group_defaults = {"maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                      "decoupled_weight_decay": False}

    def __init__(self, params: ParamsT, lr: float | Tensor = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False) -> None:
        _check_tensor_lr(lr)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                                      foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def init_state(self, p: Tensor, rule: rules.Rule) -> dict[str, Any]:
        state = super().init_state(p, rule)
        state["mu_product"] = torch.tensor(float(state["mu_product"]), dtype=_scalar_dtype())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for p_state in self.state.values():
            if "mu_product" in p_state and not torch.is_tensor(p_state["mu_product"]):
                p_state["mu_product"] = torch.tensor(float(p_state["mu_product"]), dtype=_scalar_dtype())


class Adamax(RuleOptimizer):
    """Drop-in ``torch.optim.Adamax`` on :class:`adaptive_optim.rules.Adamax` (ε inside the maximum, as torch)."""

    rule_class = rules.Adamax
    rule_fields = ("lr", "betas", "eps", "weight_decay", "maximize")
    sparse_error = "Adamax does not support sparse gradients"
    group_defaults = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def __init__(self, params: ParamsT, lr: float | Tensor = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False) -> None:
        _check_tensor_lr(lr)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))


class Lion(RuleOptimizer):
    """Lion (Chen et al., 2023) on :class:`adaptive_optim.rules.Lion`; torch.optim has none.

    Signature, defaults and state (``exp_avg``) as the reference package lion-pytorch's
    ``Lion``, plus ``maximize``; its ``use_triton`` kernel and its ``decoupled_weight_decay``
    variant (decay divided by the initial lr) are not offered.
    """

    rule_class = rules.Lion
    rule_fields = ("lr", "betas", "weight_decay", "maximize")
    sparse_error = "Lion does not support sparse gradients"
    group_defaults = {"maximize": False}

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, *, maximize: bool = False) -> None:
        _check_tensor_lr(lr)
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize))


class AdamWScheduleFree(RuleOptimizer):
    """Schedule-free AdamW (Defazio et al., 2024) on :class:`adaptive_optim.rules.AdamWScheduleFree`,
    a drop-in for ``schedulefree.AdamWScheduleFree`` (signature, defaults, group keys, state).

    The parameters hold y (where gradients are taken) in train mode and x (the average, what
    should be evaluated and saved) in eval mode. As with the reference, call ``opt.train()``
    before training steps and ``opt.eval()`` before evaluating or checkpointing; ``step`` in
    eval mode raises. ``state_dict`` holds ``z`` and ``exp_avg_sq`` per parameter and the
    shared counters ``k``, ``weight_sum``, ``lr_max`` (and ``train_mode``) in each param
    group, exactly as the reference does, so checkpoints move between the two. Unlike the
    reference, ``step`` leaves ``p.grad`` as it was (the reference overwrites it with the
    normalized gradient). ``foreach`` is accepted and ignored. As with the reference, running
    statistics a model keeps (BatchNorm) were gathered at y, not x: recompute them at x before
    evaluating if they matter.
    """

    rule_class = rules.AdamWScheduleFree
    rule_fields = ("lr", "betas", "eps", "weight_decay", "warmup_steps", "r", "weight_lr_power")

    def __init__(self, params: ParamsT, lr: float | Tensor = 0.0025, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0, foreach: bool | None = hasattr(torch, "_foreach_mul_")) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, r=r, k=0, warmup_steps=warmup_steps,
                                      train_mode=False, weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0,
                                      weight_lr_power=weight_lr_power, weight_decay=weight_decay,
                                      foreach=foreach))

    @torch.no_grad()
    def _switch(self, to_train: bool) -> None:
        move = rules.schedule_free.y_from_x if to_train else rules.schedule_free.x_from_y
        for group in self.param_groups:
            if group["train_mode"] != to_train:
                for p in group["params"]:
                    state = self.state[p]
                    if "z" in state:
                        p.copy_(move(p, state["z"], group["betas"][0]))
                group["train_mode"] = to_train

    def train(self) -> None:
        """Put y, the point where gradients are taken, into the parameters (before training steps)."""
        self._switch(True)

    def eval(self) -> None:
        """Put x, the averaged point, into the parameters (before evaluating or saving)."""
        self._switch(False)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        """One schedule-free step for every parameter with a gradient; raises outside train mode."""
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError("Optimizer was not in train mode when step is called. Please insert "
                               ".train() and .eval() calls on the optimizer. See documentation for details.")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        counter_keys = rules.schedule_free.COUNTERS
        for group in self.param_groups:
            rule = self.rule_for(group)
            counters = {key: group[key] for key in counter_keys}
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamWScheduleFree does not support sparse gradients")
                state = self.state[p]
                if "z" not in state:
                    state.update({k: v for k, v in rule.init(p).items() if k not in counter_keys})
                new_p, new_state = rule.update(p, p.grad, {**state, **counters})
                p.copy_(new_p)
                state["z"].copy_(new_state["z"])
                state["exp_avg_sq"].copy_(new_state["exp_avg_sq"])
            after = rule.schedule(counters)
            group.update({key: after[key] for key in counter_keys}, scheduled_lr=after["lr"])
        return loss



class Lamb(RuleOptimizer):
    """LAMB (You et al., 2020) on :class:`adaptive_optim.rules.Lamb`; torch.optim has none.

    A drop-in for torch-optimizer's ``Lamb``: its signature and defaults (ε = 1e-6, no bias
    correction unless ``debias``, weight norm clipped at ``clamp_value``), its param groups
    (``clamp_value``, ``adam`` and ``debias`` are attributes of the optimizer, not group keys)
    and its state (``step`` a Python int, ``exp_avg``, ``exp_avg_sq``, and the last step's
    ``weight_norm``, ``adam_norm``, ``trust_ratio``).
    """

    rule_class = rules.Lamb
    rule_fields = ("lr", "betas", "eps", "weight_decay")
    sparse_error = "Lamb does not support sparse gradients, please consider SparseAdam instead"

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0, clamp_value: float = 10, adam: bool = False,
                 debias: bool = False) -> None:
        self.clamp_value, self.adam, self.debias = clamp_value, adam, debias
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def rule_for(self, group: dict[str, Any]) -> rules.Rule:
        return self.rule_class(**{name: group[name] for name in self.rule_fields},
                               clamp_value=self.clamp_value, adam=self.adam, debias=self.debias)

    def __setstate__(self, state: dict[str, Any]) -> None:
        Optimizer.__setstate__(self, state)  # keep ``step`` a Python int, as the reference does

    def _step_one(self, p: Tensor, group: dict[str, Any], rule: rules.Rule) -> None:
        if p.is_complex():
            raise RuntimeError("Lamb does not support complex parameters")
        grad, _ = self.dense_grad(p, group)
        state = self.state[p]
        if not state:
            state.update(rule.init(p))
        new_param, new_state = rule.update(p, grad, state)
        p.copy_(new_param)
        state.update(new_state)  # the diagnostics change type (1 or a tensor), so entries are replaced



class Muon(RuleOptimizer):
    """Drop-in ``torch.optim.Muon`` on :class:`adaptive_optim.rules.Muon`: 2-D parameters only,
    Newton–Schulz in bfloat16 with torch's coefficients and steps, torch's lr adjustment.

    One difference in timing: an invalid ``ns_steps`` (≥ 100) or ``ns_coefficients`` (not three
    numbers) is refused by the constructor, where torch.optim.Muon raises at the first step.
    """

    rule_class = rules.Muon
    rule_fields = ("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps", "ns_steps",
                   "adjust_lr_fn")
    sparse_error = "Muon does not support sparse gradients"

    def __init__(self, params: ParamsT, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True,
                 ns_coefficients: tuple[float, float, float] = rules.muon.NS_COEFFICIENTS,
                 eps: float = 1e-7, ns_steps: int = 5, adjust_lr_fn: str | None = None) -> None:
        _check_tensor_lr(lr)
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                                      ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                                      adjust_lr_fn=adjust_lr_fn))
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"Muon only supports 2D parameters whereas we found a parameter with size: "
                                     f"{p.size()}")

    def _step_one(self, p: Tensor, group: dict[str, Any], rule: rules.Rule) -> None:
        if p.is_complex():
            raise RuntimeError("Muon does not support complex parameters")
        super()._step_one(p, group, rule)


# --- Memory-efficient optimizers (issue 16): Adafactor, 8-bit Adam and AdamW ---------------------


def _is_dtensor(t: Tensor) -> bool:
    """True for a torch.distributed DTensor (e.g. an FSDP2-sharded parameter), without importing it."""
    import sys

    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(t, module.DTensor)


def _refuse_sharded(p: Tensor, name: str, why: str) -> None:
    if _is_dtensor(p):
        raise NotImplementedError(
            f"{name} does not support sharded (DTensor) parameters, as FSDP's fully_shard makes them: "
            f"{why}. Keep parameters whole and shard the optimizer state with "
            f"torch.distributed.optim.ZeroRedundancyOptimizer(params, optimizer_class={name}, ...).")


class Adafactor(RuleOptimizer):
    """Drop-in ``torch.optim.Adafactor`` on :class:`adaptive_optim.rules.Adafactor`.

    Matches torch's single-tensor path, which torch uses unless ``foreach=True`` is passed;
    ``foreach`` is accepted and ignored (torch's foreach path rounds the final step differently).
    As in torch, ε₁ = None is resolved once per param group and step, from the dtype of the group's
    first parameter with a gradient, and every parameter is checked before any is updated.
    """

    rule_class = rules.Adafactor
    rule_fields = ("lr", "beta2_decay", "eps", "d", "weight_decay", "maximize")
    sparse_error = "Adafactor does not support sparse gradients"
    group_defaults = {"foreach": None}

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: bool | None = None,
                 maximize: bool = False) -> None:
        _check_tensor_lr(lr)
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                                      weight_decay=weight_decay, foreach=foreach, maximize=maximize))

    def rule_for(self, group: dict[str, Any]) -> rules.Rule:
        """The group's rule, with ε₁ = None resolved as torch does: from the dtype of the group's
        first parameter with a gradient. As in torch, every such parameter is checked (complex,
        sparse) here, before the step updates any of them."""
        with_grad = [p for p in group.get("params", []) if p.grad is not None]
        for p in with_grad:
            _refuse_sharded(p, "Adafactor", "its step reduces over whole parameters (RMS, row and column "
                            "means), and on a shard .item() of such a reduction gives the shard's value, "
                            "so each rank would take a different step (torch.optim.Adafactor fails there too)")
            if torch.is_complex(p):
                raise RuntimeError("Adafactor does not support complex parameters")
            if p.grad.is_sparse:
                raise RuntimeError(self.sparse_error)
        lr = group["lr"]
        if isinstance(lr, Tensor) and lr.dim() != 0:  # torch squeezes a 1-element lr to 0-d
            lr = lr.squeeze()
        eps1, eps2 = group["eps"]
        if eps1 is None and with_grad:
            eps1 = torch.finfo(with_grad[0].dtype).eps
        return rules.Adafactor(lr=lr, beta2_decay=group["beta2_decay"], eps=(eps1, eps2), d=group["d"],
                               weight_decay=group["weight_decay"], maximize=group["maximize"])


def state_bytes(optimizer: Optimizer) -> int:
    """Bytes of optimizer state held by this process: every tensor in ``optimizer.state`` (``step``
    counters and block scales included; of a sharded DTensor, the local shard only). Parameters and
    gradients are not counted."""
    total = 0
    for entry in optimizer.state.values():
        for value in entry.values():
            if torch.is_tensor(value):
                local = value.to_local() if _is_dtensor(value) else value
                total += local.numel() * local.element_size()
    return total


class _Blockwise8bit:
    """What the 8-bit drop-ins add to Adam and AdamW: the rule wrapped in
    :class:`adaptive_optim.rules.Blockwise8bit`, and two group options, ``block_size`` and
    ``min_8bit_size``, kept in every param group (so in ``state_dict``)."""

    fast = False  # the state is packed: the step runs the pure rule on the unpacked moments

    def _set_block_options(self, block_size: int, min_8bit_size: int) -> None:
        rules.Blockwise8bit(inner=rules.SGD(), block_size=block_size, min_8bit_size=min_8bit_size)  # checks
        self._block_options = {"block_size": block_size, "min_8bit_size": min_8bit_size}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        for key, value in self._block_options.items():
            self.defaults.setdefault(key, value)
        super().add_param_group(param_group)

    def rule_for(self, group: dict[str, Any]) -> rules.Rule:
        options = {key: group.get(key, value) for key, value in self._block_options.items()}
        return rules.Blockwise8bit(inner=super().rule_for(group), **options)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a checkpoint; full-precision moments (e.g. from ``torch.optim.Adam``) of parameters
        that are stored in 8 bits are quantized on loading."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            rule = self.rule_for(group)
            for p in group["params"]:
                state = self.state.get(p)
                if state and rule.quantizes(p) and not any(k.endswith("_codes") for k in state):
                    self.state[p] = rule.pack(p, state)

    def init_state(self, p: Tensor, rule: rules.Rule) -> dict[str, Any]:
        if p.is_complex():
            raise RuntimeError(f"{type(self).__name__} does not support complex parameters")
        _refuse_sharded(p, type(self).__name__, "its blocks and scales are laid out over the whole "
                        "flattened parameter, not over a shard")
        return super().init_state(p, rule)


class Adam8bit(_Blockwise8bit, Adam):
    """Adam with 8-bit state (Dettmers et al., 2022): m_t and v_t stored as one byte per entry and
    one scale per block of ``block_size`` entries, dequantized for the step (the package's Adam rule)
    and quantized again after; parameters with fewer than ``min_8bit_size`` entries keep float state.
    See :mod:`adaptive_optim.rules.quantized` for the map and its round-trip bound.

    torch.optim.Adam's signature, defaults and errors, plus the two keyword-only block options.
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3,
                 betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False,
                 block_size: int = 2048, min_8bit_size: int = 4096) -> None:
        self._set_block_options(block_size, min_8bit_size)
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=decoupled_weight_decay)


class AdamW8bit(_Blockwise8bit, AdamW):
    """AdamW (decoupled weight decay, default 1e-2) with 8-bit state; see :class:`Adam8bit`."""

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3,
                 betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, block_size: int = 2048, min_8bit_size: int = 4096) -> None:
        self._set_block_options(block_size, min_8bit_size)
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         foreach=foreach, capturable=capturable, differentiable=differentiable,
                         fused=fused)


__all__ = ["RuleOptimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "RAdam", "NAdam", "Adamax", "Lion",
           "AdamWScheduleFree", "Lamb", "Muon", "Adafactor", "Adam8bit", "AdamW8bit", "state_bytes"]
