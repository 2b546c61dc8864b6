"""Adagrad (Duchi, Hazan & Singer, 2011): one step size per coordinate, from the sum of squared gradients.

    s_t = s_{t−1} + g_t²
    θ_t = θ_{t−1} − η_t g_t / (√s_t + ε),   η_t = η / (1 + (t − 1)·lr_decay)

ε is added *outside* the square root, as torch.optim.Adagrad does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import _ops
from .base import Rule, State, check_inputs, l2_penalty, require


@dataclasses.dataclass(frozen=True, kw_only=True)
class Adagrad(Rule):
    """Adagrad, matching ``torch.optim.Adagrad`` (state keys ``step``, ``sum``)."""

    lr: Any = 1e-2
    lr_decay: Any = 0.0
    weight_decay: Any = 0.0
    initial_accumulator_value: Any = 0.0
    eps: Any = 1e-10

    state_keys = ("step", "sum")

    def validate(self) -> None:
        require(0.0 <= self.lr, f"Invalid learning rate: {self.lr}")
        require(0.0 <= self.lr_decay, f"Invalid lr_decay value: {self.lr_decay}")
        require(0.0 <= self.weight_decay, f"Invalid weight_decay value: {self.weight_decay}")
        require(0.0 <= self.initial_accumulator_value,
                f"Invalid initial_accumulator_value value: {self.initial_accumulator_value}")
        require(0.0 <= self.eps, f"Invalid epsilon value: {self.eps}")

    def init(self, param) -> State:
        return {"step": 0, "sum": _ops.full_like(param, self.initial_accumulator_value)}

    def update(self, param, grad, state: State):
        check_inputs(param, grad)
        step = state["step"] + 1
        grad = l2_penalty(self.direction(grad), param, self.weight_decay)
        clr = _ops.ratio(self.lr, 1 + (_ops.count(step) - 1) * self.lr_decay)
        param, grad, sum_ = _ops.as_real(param), _ops.as_real(grad), _ops.as_real(state["sum"])
        sum_ = _ops.addcmul(sum_, grad, grad, into=sum_)
        std = _ops.sqrt(sum_)  # √s_t + ε, built in this one fresh array
        std = _ops.add(std, self.eps, into=std)
        return _ops.addcdiv(param, grad, std, -clr, into=param), {"step": step, "sum": sum_}
