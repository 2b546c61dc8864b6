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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rule:
    """Base class of the update rules. Subclasses add fields and implement the three methods below."""

    maximize: bool = False

    #: State entries created by ``init`` that every step carries (for documentation and tests).
    state_keys: ClassVar[tuple[str, ...]] = ()

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
