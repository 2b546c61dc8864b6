"""Schedule-free AdamW (Defazio et al., 2024, "The Road Less Scheduled"), as the authors'
package ``schedulefree`` implements it (AdamWScheduleFree).

Three sequences instead of a schedule:

    y_t = (1 − β₁) z_t + β₁ x_t          the point where the gradient is taken (the parameter in training)
    z_{t+1} = z_t − γ_t ĝ_t              the base AdamW-like step, ĝ_t = g_t/(√(v_t/(1 − β₂ᵗ)) + ε) + λ y_t
    x_{t+1} = (1 − c_{t+1}) x_t + c_{t+1} z_{t+1}    the average that is evaluated

with γ_t = η·min(1, t/warmup) and averaging weights c_{t+1} = w_t/Σ_{i≤t} w_i,
w_t = t^r · (max_{i≤t} γ_i)^weight_lr_power. Only y (the parameter) and z are stored: x is
recovered from them, x = (y − (1 − β₁) z)/β₁, which is ``x_from_y`` below. The update of y
is written, as in the package, without forming x: y ← lerp(y, z, c) + γ(β₁(1 − c) − 1) ĝ.

The scalars k (steps taken), the running weight sum and the running maximum of γ are state
(the package keeps them per param group; every parameter of a group shares them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import _ops
from .base import Rule, State, require
from .nadam import rms_denominator

#: The scalar state every parameter of a group shares (the package's group keys).
COUNTERS = ("k", "weight_sum", "lr_max")


def x_from_y(y, z, beta1):
    """The averaged point x (for evaluation) from the training point y and z: lerp(y, z, 1 − 1/β₁)."""
    return _ops.lerp(y, z, 1 - 1 / beta1)


def y_from_x(x, z, beta1):
    """The training point y = (1 − β₁) z + β₁ x from x and z: lerp(x, z, 1 − β₁)."""
    return _ops.lerp(x, z, 1 - beta1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdamWScheduleFree(Rule):
    """Schedule-free AdamW, matching ``schedulefree.AdamWScheduleFree`` step by step.

    The parameter this rule updates is y, the training point. State: ``z``, ``exp_avg_sq``
    and the shared scalars ``k``, ``weight_sum``, ``lr_max``.
    """

    lr: Any = 0.0025
    betas: tuple[Any, Any] = (0.9, 0.999)
    eps: Any = 1e-8
    weight_decay: Any = 0.0
    warmup_steps: int = 0
    r: float = 0.0
    weight_lr_power: float = 2.0

    state_keys = ("z", "exp_avg_sq", *COUNTERS)

    def validate(self) -> None:
        require(0.0 <= self.lr, f"Invalid learning rate: {self.lr}")
        require(0.0 <= self.eps, f"Invalid epsilon value: {self.eps}")
        beta1, beta2 = self.betas
        require((0.0 < beta1) & (beta1 < 1.0),
                f"Invalid beta parameter at index 0: {beta1} (x is recovered from y by dividing by beta1)")
        require((0.0 <= beta2) & (beta2 < 1.0), f"Invalid beta parameter at index 1: {beta2}")
        require(0.0 <= self.weight_decay, f"Invalid weight_decay value: {self.weight_decay}")
        require(0 <= self.warmup_steps, f"Invalid warmup_steps value: {self.warmup_steps}")

    def init(self, param) -> State:
        return {"z": param * 1.0, "exp_avg_sq": _ops.zeros_like(param), "k": 0, "weight_sum": 0.0,
                "lr_max": -1.0}

    def schedule(self, counters: State) -> dict[str, Any]:
        """The step's scalars from the shared counters: γ_t (``lr``), c_{t+1} (``ckp1``), 1 − β₂ᵗ,
        and the counters after the step."""
        k = counters["k"]
        sched = (k + 1) / self.warmup_steps if k < self.warmup_steps else 1.0
        lr = self.lr * sched
        lr_max = max(lr, counters["lr_max"]) if np.ndim(lr) == 0 else np.maximum(lr, counters["lr_max"])
        weight = ((k + 1) ** self.r) * (lr_max**self.weight_lr_power)
        weight_sum = counters["weight_sum"] + weight
        ckp1 = _ops.select(weight_sum != 0, lambda: weight / weight_sum, lambda: 0.0)  # lr = 0: no averaging
        return {"lr": lr, "ckp1": ckp1, "bias_correction2": 1 - self.betas[1] ** (k + 1),
                "k": k + 1, "weight_sum": weight_sum, "lr_max": lr_max}

    def update(self, param, grad, state: State):
        beta1, beta2 = self.betas
        s = self.schedule(state)
        y, z = param, state["z"]
        exp_avg_sq = _ops.addcmul(state["exp_avg_sq"] * beta2, grad, grad, 1 - beta2)
        normalized = grad / rms_denominator(exp_avg_sq, s["bias_correction2"], self.eps)
        if _ops.is_nonzero(self.weight_decay):
            normalized = _ops.add_scaled(normalized, y, self.weight_decay)  # decay taken at y
        y = _ops.add_scaled(_ops.lerp(y, z, s["ckp1"]), normalized, s["lr"] * (beta1 * (1 - s["ckp1"]) - 1))
        z = _ops.add_scaled(z, normalized, -s["lr"])
        return y, {"z": z, "exp_avg_sq": exp_avg_sq, **{key: s[key] for key in COUNTERS}}
