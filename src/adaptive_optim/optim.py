"""Drop-in replacements for ``torch.optim``'s SGD, Adagrad, RMSprop, Adam, AdamW and RAdam.

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

Flags that choose torch's kernel: ``foreach`` is accepted and refused exactly where torch
refuses it (a Tensor lr or betas without ``capturable``), and the step is the same arithmetic
either way (torch's foreach kernels round alike on the CPU). ``capturable=True`` is refused,
with torch's error, for parameters on a device torch cannot capture (the CPU); where it is
accepted the step is the non-capturable arithmetic, which differs from torch's capturable
order by rounding. ``fused=True`` and ``differentiable=True`` are refused with
``NotImplementedError``: this package has neither a fused kernel nor a step that autograd
can differentiate through.

Where the rounding is not torch's (not tested bitwise here): with ``capturable=True`` on a GPU,
torch folds the step size into the denominator (√v̂/(−α̂) + ε/(−α̂)) while ours computes
√v̂ + ε and scales by α̂; each is within a few roundings of the exact step, so the two differ by
at most ~6u·|Δθ| per step (u = 2⁻²⁴ in float32). float64 *Tensor* betas are raised to the power t
as a Python float would be (C ``pow``), where torch uses the tensor's own ``x ** 0.5``: the bias
correction's root can then differ by one float64 ulp (1.1e-16 relative), which a float32 step
rounds away. The bitwise claims above are tested in tests/test_optim_reliability.py and
tests/test_optim_state_machine.py; a compiled step (``torch.compile``) may fuse operations and is
tested to agree with the eager step to a bound argued in tests/test_optim_compiled.py.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor
from torch.optim import Optimizer

from . import rules
from .rules._ops import as_real

ParamsT = Any

#: The device types torch.optim accepts for capturable=True (``_get_capturable_supported_devices``).
CAPTURABLE_DEVICES = ("cuda", "xpu", "hpu", "privateuseone", "xla")


def _scalar_dtype() -> torch.dtype:
    """The dtype torch.optim uses for its ``step`` counters."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _check_tensor_lr(lr) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")


def _refuse_kernel_flags(name: str, fused, differentiable) -> None:
    if fused:
        raise NotImplementedError(
            f"adaptive_optim.optim.{name} has no fused kernel: it always runs the package's "
            f"reference rule. Leave fused=None, or use torch.optim.{name}(fused=True).")
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
            target.copy_(value)
            return
    if torch.is_tensor(value):
        value = value.clone()
        if p.is_complex() and not value.is_complex() and value.shape == (*p.shape, 2):
            value = torch.view_as_complex(value)
    state[key] = value


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

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        _refuse_kernel_flags(type(self).__name__, defaults.get("fused"), defaults.get("differentiable"))
        self.rule_for(defaults).validate()  # torch's checks and messages, in the constructor only
        super().__init__(params, defaults)

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
            rule = None
            for p in group["params"]:
                if p.grad is not None:
                    if rule is None:
                        self.check_group(group)
                        rule = self.rule_for(group)
                    self._step_one(p, group, rule)
        return loss

    def _step_one(self, p: Tensor, group: dict[str, Any], rule: rules.Rule) -> None:
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
        if p.is_complex() and self.complex_as_real:
            views = {k: as_real(v) if torch.is_tensor(v) else v for k, v in state.items()}
            new_param, new_state = rule.update(as_real(p), as_real(grad), views)
        else:
            new_param, new_state = rule.update(p, grad, state)
        (p if new_param.shape == p.shape else as_real(p)).copy_(new_param)
        for key, value in new_state.items():
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
    group_defaults = {"momentum": 0, "centered": False, "foreach": None, "maximize": False,
                      "differentiable": False, "capturable": False}

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check_tensor_lr(lr)
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable))


class Adam(RuleOptimizer):
    """Drop-in ``torch.optim.Adam`` on :class:`adaptive_optim.rules.Adam`."""

    rule_class = rules.Adam
    complex_as_real = False  # the rule takes the real view where torch does
    rule_fields = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")
    sparse_error = "Adam does not support sparse gradients, please consider SparseAdam instead"
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
    group_defaults = {"foreach": None, "maximize": False, "differentiable": False,
                      "decoupled_weight_decay": False, "capturable": False}

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_tensor_lr(lr)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      differentiable=differentiable))


__all__ = ["RuleOptimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "RAdam"]
