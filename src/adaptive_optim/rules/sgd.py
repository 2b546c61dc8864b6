"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay.

    b_t = μ b_{t−1} + (1 − τ) g_t      (b_1 = g_1)
    θ_t = θ_{t−1} − η (g_t + μ b_t)     with Nesterov, else θ_{t−1} − η b_t

The same lines run on sparse torch gradients: the buffer then stays sparse and keeps every
row touched so far, as in torch.optim.SGD, and complex parameters step in complex arithmetic.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import _ops
from .base import Rule, State, check_inputs, l2_penalty, refuse


@dataclasses.dataclass(frozen=True, kw_only=True)
class SGD(Rule):
    """Plain or momentum SGD, matching ``torch.optim.SGD`` (state key ``momentum_buffer``)."""

    lr: Any = 1e-3
    momentum: Any = 0.0
    dampening: Any = 0.0
    weight_decay: Any = 0.0
    nesterov: bool = False

    def validate(self) -> None:
        # torch's checks, exactly: `lr < 0.0` (not `not lr >= 0`), so NaN passes as in torch.
        refuse(self.lr < 0.0, f"Invalid learning rate: {self.lr}")
        refuse(self.momentum < 0.0, f"Invalid momentum value: {self.momentum}")
        refuse(self.weight_decay < 0.0, f"Invalid weight_decay value: {self.weight_decay}")
        if self.nesterov:
            refuse((self.momentum <= 0) | (self.dampening != 0),
                   "Nesterov momentum requires a momentum and zero dampening")

    def init(self, param) -> State:
        # The momentum buffer is created by the first step, from the first gradient.
        return {}

    def update(self, param, grad, state: State):
        check_inputs(param, grad)
        grad = l2_penalty(self.direction(grad), param, self.weight_decay)
        new_state = dict(state)
        if _ops.is_nonzero(self.momentum):
            buf = state.get("momentum_buffer")
            if buf is not None:
                buf = _ops.add_scaled(_ops.mul(buf, self.momentum, into=buf), grad, 1 - self.dampening, into=buf)
            else:
                buf = grad
            new_state["momentum_buffer"] = buf
            grad = _ops.add_scaled(grad, buf, self.momentum) if self.nesterov else buf
        return _ops.add_scaled(param, grad, -self.lr, into=param), new_state
