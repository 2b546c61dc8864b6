"""RMSprop (Hinton, lecture 6e): divide the gradient by a running root-mean-square of recent gradients.

    v_t = α v_{t−1} + (1 − α) g_t²
    θ_t = θ_{t−1} − η g_t / (√v_t + ε)

The centered variant divides by √(v_t − ḡ_t²) + ε, with ḡ_t the running mean of g_t, an
estimate of the gradient's standard deviation; with momentum μ the ratio is accumulated
in a buffer b_t = μ b_{t−1} + g_t / (…) and θ_t = θ_{t−1} − η b_t. While μ is 0 (a scheduler
may set it so) the plain step is taken and the buffer is left as it is, as torch.optim does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import _ops
from .base import Rule, State, check_inputs, l2_penalty, needs, require


@dataclasses.dataclass(frozen=True, kw_only=True)
class RMSprop(Rule):
    """RMSprop, matching ``torch.optim.RMSprop`` (state keys ``step``, ``square_avg``,
    ``momentum_buffer`` when momentum > 0, ``grad_avg`` when centered)."""

    lr: Any = 1e-2
    alpha: Any = 0.99
    eps: Any = 1e-8
    weight_decay: Any = 0.0
    momentum: Any = 0.0
    centered: bool = False

    state_keys = ("step", "square_avg")

    def validate(self) -> None:
        require(0.0 <= self.lr, f"Invalid learning rate: {self.lr}")
        require(0.0 <= self.eps, f"Invalid epsilon value: {self.eps}")
        require(0.0 <= self.momentum, f"Invalid momentum value: {self.momentum}")
        require(0.0 <= self.weight_decay, f"Invalid weight_decay value: {self.weight_decay}")
        require(0.0 <= self.alpha, f"Invalid alpha value: {self.alpha}")

    def init(self, param) -> State:
        state = {"step": 0, "square_avg": _ops.zeros_like(param)}
        if _ops.is_positive(self.momentum):
            state["momentum_buffer"] = _ops.zeros_like(param)
        if self.centered:
            state["grad_avg"] = _ops.zeros_like(param)
        return state

    def update(self, param, grad, state: State):
        check_inputs(param, grad)
        new_state = dict(state, step=state["step"] + 1)
        grad = l2_penalty(self.direction(grad), param, self.weight_decay)
        param, grad = _ops.as_real(param), _ops.as_real(grad)
        square_avg = _ops.as_real(state["square_avg"])
        square_avg = _ops.addcmul(_ops.mul(square_avg, self.alpha, into=square_avg), grad, grad, 1 - self.alpha,
                                  into=square_avg)
        new_state["square_avg"] = square_avg
        if self.centered:
            grad_avg = _ops.as_real(needs(state, "grad_avg", "centered=True"))
            grad_avg = _ops.lerp(grad_avg, grad, 1 - self.alpha, into=grad_avg)
            new_state["grad_avg"] = grad_avg
            avg = _ops.addcmul(square_avg, grad_avg, grad_avg, -1)  # √(v_t − ḡ_t²) + ε in this fresh array
            avg = _ops.sqrt(avg, into=avg)
        else:
            avg = _ops.sqrt(square_avg)  # √v_t + ε, built in this one fresh array
        avg = _ops.add(avg, self.eps, into=avg)
        if _ops.is_positive(self.momentum):
            buf = _ops.as_real(needs(state, "momentum_buffer", "momentum > 0"))
            buf = _ops.addcdiv(_ops.mul(buf, self.momentum, into=buf), grad, avg, into=buf)
            new_state["momentum_buffer"] = buf
            return _ops.add_scaled(param, buf, -self.lr, into=param), new_state
        return _ops.addcdiv(param, grad, avg, -self.lr, into=param), new_state
