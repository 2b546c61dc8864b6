"""Adam (Kingma & Ba, 2015), with AMSGrad (Reddi, Kale & Kumar, 2018) and AdamW (Loshchilov & Hutter, 2019).

    m_t = β₁ m_{t−1} + (1 − β₁) g_t              v_t = β₂ v_{t−1} + (1 − β₂) g_t²
    θ_t = θ_{t−1} − η/(1 − β₁ᵗ) · m_t / (√v_t / √(1 − β₂ᵗ) + ε)

ε sits outside the root, after the bias correction of v_t: exactly Algorithm 1's
m̂_t / (√v̂_t + ε). AMSGrad divides by the running maximum of the *uncorrected* v_t, then
bias-corrects it as torch does (Reddi et al.'s algorithm has no bias correction), so early on
its denominator can still shrink, by up to 1/√(1 − β₂). AdamW shrinks θ by (1 − η λ) before the
step, as torch.optim.AdamW does (λ times lr; the paper multiplies λ by the schedule multiplier only).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import _ops
from .base import Rule, State, check_inputs, l2_penalty, needs, require


def check_adam_hyperparameters(rule) -> None:
    """torch.optim's checks for the Adam family, in its order: lr, ε, β₁ and β₂ in [0, 1), weight decay."""
    require(0.0 <= rule.lr, f"Invalid learning rate: {rule.lr}")
    require(0.0 <= rule.eps, f"Invalid epsilon value: {rule.eps}")
    if not (isinstance(rule.betas, (tuple, list)) and len(rule.betas) == 2):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {rule.betas!r}")
    for i, beta in enumerate(rule.betas):
        require((0.0 <= beta) & (beta < 1.0), f"Invalid beta parameter at index {i}: {beta}")
    require(0.0 <= rule.weight_decay, f"Invalid weight_decay value: {rule.weight_decay}")


def decay_or_penalize(param, grad, lr, weight_decay, decoupled: bool):
    """Weight decay, either decoupled (shrink θ by 1 − ηλ) or coupled (add λθ to the gradient)."""
    if not _ops.is_nonzero(weight_decay):
        return param, grad
    if decoupled:
        return _ops.mul(param, 1 - lr * weight_decay, into=param), grad
    return param, l2_penalty(grad, param, weight_decay)


def moments(state: State, grad, beta1, beta2):
    """The two exponential moving averages, m_t (``exp_avg``) and v_t (``exp_avg_sq``)."""
    exp_avg, exp_avg_sq = _ops.as_real(state["exp_avg"]), _ops.as_real(state["exp_avg_sq"])
    exp_avg = _ops.lerp(exp_avg, grad, 1 - beta1, into=exp_avg)
    exp_avg_sq = _ops.addcmul(_ops.mul(exp_avg_sq, beta2, into=exp_avg_sq), grad, grad, 1 - beta2, into=exp_avg_sq)
    return exp_avg, exp_avg_sq


@dataclasses.dataclass(frozen=True, kw_only=True)
class Adam(Rule):
    """Adam, matching ``torch.optim.Adam`` (state keys ``step``, ``exp_avg``, ``exp_avg_sq``,
    and ``max_exp_avg_sq`` with amsgrad)."""

    lr: Any = 1e-3
    betas: tuple[Any, Any] = (0.9, 0.999)
    eps: Any = 1e-8
    weight_decay: Any = 0.0
    amsgrad: bool = False
    decoupled_weight_decay: bool = False

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def validate(self) -> None:
        check_adam_hyperparameters(self)

    def init(self, param) -> State:
        state = {"step": 0, "exp_avg": _ops.zeros_like(param), "exp_avg_sq": _ops.zeros_like(param)}
        if self.amsgrad:
            state["max_exp_avg_sq"] = _ops.zeros_like(param)
        return state

    def update(self, param, grad, state: State):
        check_inputs(param, grad)
        beta1, beta2 = self.betas
        step = state["step"] + 1
        grad = self.direction(grad)
        param, grad = decay_or_penalize(param, grad, self.lr, self.weight_decay, self.decoupled_weight_decay)
        param, grad = _ops.as_real(param), _ops.as_real(grad)
        exp_avg, exp_avg_sq = moments(state, grad, beta1, beta2)
        new_state = {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}

        t = _ops.count(step)  # a tensor on torch: a compiled step computes these on every call
        bias_correction1 = 1 - _ops.power(beta1, t)
        bias_correction2 = 1 - _ops.power(beta2, t)
        step_size = _ops.ratio(self.lr, bias_correction1)
        if self.amsgrad:
            max_exp_avg_sq = _ops.as_real(needs(state, "max_exp_avg_sq", "amsgrad=True"))
            exp_avg_sq = new_state["max_exp_avg_sq"] = _ops.maximum(max_exp_avg_sq, exp_avg_sq, into=max_exp_avg_sq)
        denom = _ops.sqrt(exp_avg_sq)  # √v_t / √(1 − β₂ᵗ) + ε, built in this one fresh array
        denom = _ops.add(_ops.div(denom, _ops.root(bias_correction2), into=denom), self.eps, into=denom)
        return _ops.addcdiv(param, exp_avg, denom, -step_size, into=param), new_state


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdamW(Adam):
    """Adam with decoupled weight decay, matching ``torch.optim.AdamW`` (default λ = 1e-2)."""

    weight_decay: Any = 1e-2
    decoupled_weight_decay: bool = True
