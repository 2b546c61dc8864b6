"""RAdam (Liu et al., 2020): momentum SGD for the first steps, then Adam's adaptive step scaled by a
rectification factor r_t < 1, derived from Liu et al.'s approximation of the variance of 1/√v̂_t
(finite only for ρ_t > 4 in that approximation).

    ρ∞ = 2/(1 − β₂) − 1        ρ_t = ρ∞ − 2t β₂ᵗ/(1 − β₂ᵗ)
    r_t = √[(ρ_t − 4)(ρ_t − 2) ρ∞ / ((ρ∞ − 4)(ρ∞ − 2) ρ_t)]
    θ_t = θ_{t−1} − η m̂_t · r_t √(1 − β₂ᵗ)/(√v_t + ε)    when ρ_t > threshold
    θ_t = θ_{t−1} − η m̂_t                               otherwise (momentum SGD)

torch.optim.RAdam switches at ρ_t > 5 and the paper's Algorithm 2 at ρ_t > 4; the authors' released
code tests ρ_t ≥ 5 and, by default (degenerated_to_sgd=False), makes no update before the switch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import _ops
from .adam import check_adam_hyperparameters, decay_or_penalize, moments
from .base import Rule, State, check_inputs, require


def rho_inf(beta2):
    """ρ∞ = 2/(1 − β₂) − 1, the maximum length of the approximated simple moving average."""
    return 2 / (1 - beta2) - 1


def rho(t, beta2):
    """ρ_t = ρ∞ − 2t β₂ᵗ/(1 − β₂ᵗ), the length of the SMA that the EMA v_t approximates at step t."""
    beta2_t = _ops.power(beta2, t)
    return rho_inf(beta2) - 2 * t * beta2_t / (1 - beta2_t)


def rectification(rho_t, rho_infinity):
    """r_t = √[(ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t)]; defined for ρ_t ≥ 4."""
    return _ops.root((rho_t - 4) * (rho_t - 2) * rho_infinity / ((rho_infinity - 4) * (rho_infinity - 2) * rho_t))


@dataclasses.dataclass(frozen=True, kw_only=True)
class RAdam(Rule):
    """RAdam, matching ``torch.optim.RAdam`` (state keys ``step``, ``exp_avg``, ``exp_avg_sq``).

    ``threshold`` is the value ρ_t must exceed for the adaptive, rectified step: 5 as in torch
    (the default), or 4 as in the paper's Algorithm 2.
    """

    lr: Any = 1e-3
    betas: tuple[Any, Any] = (0.9, 0.999)
    eps: Any = 1e-8
    weight_decay: Any = 0.0
    decoupled_weight_decay: bool = False
    threshold: float = 5.0

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def validate(self) -> None:
        check_adam_hyperparameters(self)
        require(self.threshold >= 4.0,
                f"Invalid rectification threshold: {self.threshold} (r_t needs rho_t >= 4)")

    def init(self, param) -> State:
        return {"step": 0, "exp_avg": _ops.zeros_like(param), "exp_avg_sq": _ops.zeros_like(param)}

    def update(self, param, grad, state: State):
        check_inputs(param, grad)
        beta1, beta2 = self.betas
        step = state["step"] + 1
        t = _ops.count(step)  # a tensor on torch: a compiled step computes these on every call
        param, grad = _ops.as_real(param), _ops.as_real(self.direction(grad))
        param, grad = decay_or_penalize(param, grad, self.lr, self.weight_decay, self.decoupled_weight_decay)
        exp_avg, exp_avg_sq = moments(state, grad, beta1, beta2)

        bias_correction2 = 1 - _ops.power(beta2, t)
        bias_corrected_exp_avg = exp_avg / (1 - _ops.power(beta1, t))
        rho_infinity = rho_inf(beta2)
        rho_t = rho(t, beta2)

        def rectified():
            denom = _ops.sqrt(exp_avg_sq)  # √v_t + ε, built in this one fresh array
            # number / array rounded as torch rounds it (reciprocal, then multiply)
            adaptive_lr = _ops.divide_number(_ops.root(bias_correction2), _ops.add(denom, self.eps, into=denom))
            update = bias_corrected_exp_avg * self.lr  # a fresh array: the products below go into it
            update = _ops.mul(update, adaptive_lr, into=update)
            return _ops.mul(update, rectification(rho_t, rho_infinity), into=update)

        def unrectified():
            return bias_corrected_exp_avg * self.lr

        update = _ops.select(rho_t > self.threshold, rectified, unrectified)
        return _ops.add_scaled(param, update, -1.0, into=param), {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
