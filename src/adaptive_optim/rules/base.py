"""What every update rule shares: hyperparameters, validation, state creation, one pure step.

A rule is a frozen dataclass of hyperparameters. ``rule.init(param)`` returns a fresh state
dict (keys named as torch.optim names them) and ``rule.update(param, grad, state)`` returns
``(new_param, new_state)`` without modifying its inputs. Both work on NumPy arrays and torch
tensors; numeric hyperparameters may be arrays that broadcast against ``param``, so one call
advances a whole grid of settings.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from . import _ops

State = dict[str, Any]


def holds(condition) -> bool:
    """True when a (possibly array-valued) comparison holds everywhere."""
    if _ops.is_tensor(condition):
        return bool(condition.all())
    return bool(np.all(condition))


def require(condition, message: str) -> None:
    """Raise ``ValueError(message)``, torch.optim's error type for bad hyperparameters, unless ``condition`` holds."""
    if not holds(condition):
        raise ValueError(message)


def refuse(condition, message: str) -> None:
    """Raise ``ValueError(message)`` where ``condition`` holds anywhere.

    The mirror of :func:`require`, for torch's checks of the form ``if lr < 0.0: raise``, which
    (unlike ``if not 0.0 <= lr``) let NaN through.
    """
    if _ops.is_tensor(condition):
        failed = bool(condition.any())
    else:
        failed = bool(np.any(condition))
    if failed:
        raise ValueError(message)


def _kind(x) -> str:
    if _ops.is_tensor(x):
        return "torch.Tensor"
    return type(x).__name__


def check_inputs(param, grad) -> None:
    """Refuse, with a clear error, a parameter or gradient a rule cannot step correctly.

    Both must be arrays of one backend (NumPy arrays or torch tensors; plain numbers count as
    NumPy) and the gradient must have exactly the parameter's shape: broadcasting one against
    the other would silently reshape the parameter, and a list would be repeated, not scaled.
    """
    if isinstance(param, _ops.TensorList) or isinstance(grad, _ops.TensorList):
        if not (isinstance(param, _ops.TensorList) and isinstance(grad, _ops.TensorList) and len(param) == len(grad)):
            raise TypeError("param and grad must be both TensorLists of the same length")
        if [p.shape for p in param.tensors] != [g.shape for g in grad.tensors]:
            raise ValueError("each grad in a TensorList must have the shape of its param")
        return
    for name, x in (("param", param), ("grad", grad)):
        if not (_ops.is_tensor(x) or isinstance(x, (np.ndarray, np.generic, int, float, complex))):
            raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {_kind(x)}; "
                            f"convert it first, e.g. np.asarray({name})")
    if _ops.is_tensor(param) != _ops.is_tensor(grad):
        raise TypeError(f"param and grad must be both NumPy arrays or both torch tensors, "
                        f"got {_kind(param)} and {_kind(grad)}")
    param_shape, grad_shape = _shape(param), _shape(grad)
    if param_shape != grad_shape:
        raise ValueError(f"grad has shape {grad_shape} but param has shape {param_shape}: they must be equal")


def _shape(x) -> tuple[int, ...]:
    return tuple(x.shape) if _ops.is_tensor(x) else np.shape(x)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rule:
    """Base class of the update rules. Subclasses add fields and implement the three methods below."""

    maximize: bool = False

    #: State entries created by ``init`` that every step carries (for documentation and tests).
    state_keys: ClassVar[tuple[str, ...]] = ()

    #: True when runs stacked along a new first axis (``sweeps.train``) stay independent under the
    #: rule: each entry is updated from its own entries of the gradient and state alone. False for
    #: rules that take norms or statistics over a whole tensor (LAMB's trust ratio, Adafactor's row
    #: and column means, Muon's orthogonalization, 8-bit blocks); a subclass that takes them per run
    #: may set it back to True.
    stackable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError, with torch.optim's message, for a hyperparameter out of range."""

    def init(self, param) -> State:
        """A fresh state for ``param`` (NumPy array or tensor)."""
        raise NotImplementedError

    def update(self, param, grad, state: State) -> tuple[Any, State]:
        """One step: the new parameter and the new state; the inputs are left untouched."""
        raise NotImplementedError

    def direction(self, grad):
        """The gradient the rule descends: ``-grad`` when maximizing."""
        return -grad if self.maximize else grad

    @classmethod
    def unchecked(cls, **hyperparameters) -> "Rule":
        """A rule built without :meth:`validate`: for param groups, which torch lets the user edit freely.

        torch.optim checks hyperparameters in the constructor only; a value set later in a group
        (a negative lr, a Nesterov group whose momentum a scheduler sets to 0) is used as given.
        """
        fields = cls.__dataclass_fields__
        for name in hyperparameters:
            if name not in fields:
                raise TypeError(f"{cls.__name__} has no hyperparameter {name!r}")
        rule = object.__new__(cls)
        for name, value in hyperparameters.items():
            object.__setattr__(rule, name, value)
        return rule  # fields not given read their defaults from the class, where dataclass puts them

    def replace(self, **changes) -> "Rule":
        """A copy with some hyperparameters changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters as a dict (no deep copy of arrays)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def l2_penalty(grad, param, weight_decay):
    """Classic (coupled) weight decay: add ``weight_decay * param`` to the gradient."""
    if _ops.is_nonzero(weight_decay):
        return _ops.add_scaled(grad, param, weight_decay)
    return grad


def needs(state: State, key: str, setting: str):
    """``state[key]``, or a clear error when the state was created before ``setting`` was switched on.

    torch.optim creates such entries only with the state, and a group edit that switches the
    setting on later fails there with a bare ``KeyError``; this says why.
    """
    if key not in state:
        raise RuntimeError(f"the state has no {key!r}: it was created while {setting} did not hold, "
                           f"and {setting} cannot be switched on afterwards (torch.optim fails here with "
                           f"KeyError: {key!r}). Start from a fresh state (a new optimizer) instead.")
    return state[key]
