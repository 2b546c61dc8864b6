"""Adamax (Kingma & Ba, 2015, Sec. 7.1): Adam with the ∞-norm in place of the root mean square.

    m_t = β₁ m_{t−1} + (1 − β₁) g_t         u_t = max(β₂ u_{t−1}, |g_t| + ε)
    θ_t = θ_{t−1} − η/(1 − β₁ᵗ) · m_t / u_t

u_t needs no bias correction (a maximum is not pulled towards its zero start as an average is).
The paper has ``u_t = max(β₂u_{t−1}, |g_t|)`` and no ε; torch.optim.Adamax adds ε to ``|g_t|`` inside the
maximum, so u_t ≥ ε and the division is safe; we follow torch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import _ops
from .adam import check_adam_hyperparameters
from .base import Rule, State, l2_penalty


@dataclasses.dataclass(frozen=True, kw_only=True)
class Adamax(Rule):
    """Adamax, matching ``torch.optim.Adamax`` (state keys ``step``, ``exp_avg``, ``exp_inf``)."""

    lr: Any = 2e-3
    betas: tuple[Any, Any] = (0.9, 0.999)
    eps: Any = 1e-8
    weight_decay: Any = 0.0

    state_keys = ("step", "exp_avg", "exp_inf")

    def validate(self) -> None:
        check_adam_hyperparameters(self)

    def init(self, param) -> State:
        return {"step": 0, "exp_avg": _ops.zeros_like(param), "exp_inf": _ops.zeros_like(param)}

    def update(self, param, grad, state: State):
        beta1, beta2 = self.betas
        step = state["step"] + 1
        grad = l2_penalty(self.direction(grad), param, self.weight_decay)
        exp_avg = _ops.lerp(state["exp_avg"], grad, 1 - beta1)
        exp_inf = _ops.maximum(state["exp_inf"] * beta2, abs(grad) + self.eps)
        clr = self.lr / (1 - beta1 ** _ops.value(step))
        new_param = _ops.addcdiv(param, exp_avg, exp_inf, -clr)
        return new_param, {"step": step, "exp_avg": exp_avg, "exp_inf": exp_inf}
