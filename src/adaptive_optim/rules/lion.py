"""Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2).

    c_t = β₁ m_{t−1} + (1 − β₁) g_t
    θ_t = θ_{t−1} − η (sign(c_t) + λ θ_{t−1})
    m_t = β₂ m_{t−1} + (1 − β₂) g_t

Every coordinate moves by exactly ±η (plus the decay): the step has the size of signSGD and
the direction of an interpolated momentum. Two betas: β₁ mixes the gradient into the step,
β₂ (closer to 1) keeps the longer memory. No second moment, so one state entry per parameter.
Operations in the order of the reference package lion-pytorch: decay θ by (1 − ηλ), take the
sign step, then update m.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import _ops
from .adam import decay_or_penalize
from .base import Rule, State, require


def sign(x):
    """−1, 0 or +1 element-wise (0 stays 0, as in torch.sign and np.sign)."""
    return x.sign() if _ops.is_tensor(x) else np.sign(x)


def interpolated_momentum(exp_avg, grad, beta):
    """β·m + (1 − β)·g, as torch's fused add computes it (one rounding of the sum)."""
    return _ops.add_scaled(exp_avg * beta, grad, 1 - beta)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Lion(Rule):
    """Lion with decoupled weight decay θ ← θ(1 − ηλ) (state key ``exp_avg``, as lion-pytorch)."""

    lr: Any = 1e-4
    betas: tuple[Any, Any] = (0.9, 0.99)
    weight_decay: Any = 0.0

    state_keys = ("exp_avg",)

    def validate(self) -> None:
        require(0.0 <= self.lr, f"Invalid learning rate: {self.lr}")
        for i, beta in enumerate(self.betas):
            require((0.0 <= beta) & (beta <= 1.0), f"Invalid beta parameter at index {i}: {beta}")
        require(0.0 <= self.weight_decay, f"Invalid weight_decay value: {self.weight_decay}")

    def init(self, param) -> State:
        return {"exp_avg": _ops.zeros_like(param)}

    def update(self, param, grad, state: State):
        beta1, beta2 = self.betas
        grad = self.direction(grad)
        param, _ = decay_or_penalize(param, grad, self.lr, self.weight_decay, decoupled=True)
        update = sign(interpolated_momentum(state["exp_avg"], grad, beta1))
        param = _ops.add_scaled(param, update, -self.lr)
        return param, {"exp_avg": interpolated_momentum(state["exp_avg"], grad, beta2)}
