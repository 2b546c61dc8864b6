"""NAdam (Dozat, 2016): Adam whose momentum step looks one step ahead, as Nesterov's does. With
m_t and v_t as in Adam and ψ = ``momentum_decay`` (4e-3):

    μ_t = β₁ (1 − ½ · 0.96^{tψ})      denom = √(v_t / (1 − β₂ᵗ)) + ε
    θ_t = θ_{t−1} − η (1 − μ_t)/(1 − Π_{i≤t} μ_i) · g_t / denom − η μ_{t+1}/(1 − Π_{i≤t+1} μ_i) · m_t / denom

The first term is the part of the gradient the momentum has not yet absorbed; the second is
the momentum one step ahead (μ_{t+1}), which is Nesterov's look-ahead. ε sits where Adam puts
it, after the bias correction; torch's NAdam divides v_t inside the root (Adam divides √v_t), the
same number rounded differently, and we follow it. The running product Π μ_i is state
(``mu_product``), as in torch.optim.NAdam.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import _ops
from .adam import check_adam_hyperparameters, decay_or_penalize, moments
from .base import Rule, State, require


def momentum_schedule(t, beta1, momentum_decay):
    """μ_t = β₁(1 − ½·0.96^(t·ψ)): the momentum coefficient of step t, rising slowly towards β₁."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))


def rms_denominator(exp_avg_sq, bias_correction2, eps):
    """√(v_t / (1 − β₂ᵗ)) + ε in torch's order (divide, root, add ε): NAdam's and schedule-free AdamW's."""
    return _ops.sqrt(exp_avg_sq / bias_correction2) + eps


@dataclasses.dataclass(frozen=True, kw_only=True)
class NAdam(Rule):
    """NAdam, matching ``torch.optim.NAdam`` (state keys ``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``).

    ``decoupled_weight_decay=True`` shrinks θ by (1 − ηλ) before the step (NAdamW) instead of
    adding λθ to the gradient.
    """

    lr: Any = 2e-3
    betas: tuple[Any, Any] = (0.9, 0.999)
    eps: Any = 1e-8
    weight_decay: Any = 0.0
    momentum_decay: Any = 4e-3
    decoupled_weight_decay: bool = False

    state_keys = ("step", "mu_product", "exp_avg", "exp_avg_sq")

    def validate(self) -> None:
        check_adam_hyperparameters(self)
        require(0.0 <= self.momentum_decay, f"Invalid momentum_decay value: {self.momentum_decay}")

    def init(self, param) -> State:
        return {"step": 0, "mu_product": 1.0, "exp_avg": _ops.zeros_like(param),
                "exp_avg_sq": _ops.zeros_like(param)}

    def update(self, param, grad, state: State):
        beta1, beta2 = self.betas
        step = state["step"] + 1
        t = _ops.value(step)
        grad = self.direction(grad)
        bias_correction2 = 1 - beta2**t
        param, grad = decay_or_penalize(param, grad, self.lr, self.weight_decay, self.decoupled_weight_decay)
        mu = momentum_schedule(t, beta1, self.momentum_decay)
        mu_next = momentum_schedule(t + 1, beta1, self.momentum_decay)
        # torch keeps the product in its scalar dtype (float32 unless the default dtype is float64)
        # and reads it back as a Python float; a tensor in the state reproduces that rounding.
        mu_product = state["mu_product"] * mu
        mu_product_value = _ops.value(mu_product) if _ops.is_tensor(mu_product) else mu_product
        mu_product_next = mu_product_value * mu_next
        exp_avg, exp_avg_sq = moments(state, grad, beta1, beta2)
        denom = rms_denominator(exp_avg_sq, bias_correction2, self.eps)
        grad_coefficient = -self.lr * (1.0 - mu) / (1.0 - mu_product_value)
        momentum_coefficient = (-self.lr * mu_next) / (1.0 - mu_product_next)
        param = _ops.addcdiv(param, grad, denom, grad_coefficient)
        param = _ops.addcdiv(param, exp_avg, denom, momentum_coefficient)
        return param, {"step": step, "mu_product": mu_product, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
