"""LAMB (You et al., 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76
minutes"): Adam's direction, rescaled per layer so that its size is tied to the layer's weights.
With m_t and v_t as in Adam (not bias-corrected unless ``correct_moments``), and the weight decay
inside the ratio:

    r_t = m_t / (√v_t + ε) + λ θ_{t−1}
    θ_t = θ_{t−1} − η · φ(‖θ_{t−1}‖)/‖r_t‖ · r_t      φ(z) = min(z, clamp_value)

The variant implemented is torch-optimizer's ``Lamb`` (the reference we test against), which
follows, as its source says, the paper's arXiv v3: no bias correction by default; its
``debias=True`` multiplies the final step by √(1 − β₂ᵗ)/(1 − β₁ᵗ), after the trust ratio
(the published paper corrects m and v before the ratio instead: ``correct_moments=True``);
‖·‖ is the Euclidean (Frobenius) norm of the whole parameter tensor, one "layer"; the weight
norm is clipped to [0, clamp_value] (φ above, γ_l = 0, γ_u = 10 in the paper's notation); the
trust ratio is 1 where either norm is 0; ``adam=True`` fixes it at 1 (plain Adam with the decay
inside, for comparison).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from . import _ops
from .base import Rule, State, require


def layer_norm(x, layer_dims: int | None):
    """‖x‖₂ over the whole array (``layer_dims=None``), or over its last ``layer_dims`` axes
    (kept, so that it broadcasts) when leading axes index separate runs."""
    if layer_dims is None:
        return _torch_norm(x) if _ops.is_tensor(x) else np.linalg.norm(np.ravel(x))
    axes = tuple(range(-layer_dims, 0))
    if _ops.is_tensor(x):
        return _torch_norm(x, dim=axes, keepdim=True)
    return np.sqrt(np.sum(x * x, axis=axes, keepdims=True))


def _torch_norm(x, **kw):
    import torch

    return torch.norm(x, **kw)


def root(x):
    """√x: math.sqrt for a plain number (so the result stays a Python float), else element-wise."""
    return math.sqrt(x) if np.ndim(x) == 0 and not _ops.is_tensor(x) else _ops.sqrt(x)


def clip(x, low, high):
    """x clipped to [low, high] in either backend."""
    return x.clamp(low, high) if _ops.is_tensor(x) else np.clip(x, low, high)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Lamb(Rule):
    """LAMB as torch-optimizer's ``Lamb`` (state keys ``step``, ``exp_avg``, ``exp_avg_sq``, and
    the diagnostics ``weight_norm``, ``adam_norm``, ``trust_ratio`` of the last step).

    Two options the reference lacks. ``correct_moments=True`` is the bias correction of the
    published paper's Algorithm 2: m̂_t = m_t/(1 − β₁ᵗ) and v̂_t = v_t/(1 − β₂ᵗ) *before* the
    ratio and its norm (with λ = ε = 0 it cancels in the trust ratio; with λ > 0 it changes the
    balance of r_t and λθ). The reference's ``debias`` instead scales the step after the trust
    ratio, which the paper never does. ``layer_dims``: None takes each norm over the whole
    parameter, as the reference does; an integer takes it over the last ``layer_dims`` axes
    only, so a batch of runs (the book's trajectories, shape (N, 2)) gets one ratio per run.
    """

    stackable = False  # see Rule.stackable

    lr: Any = 1e-3
    betas: tuple[Any, Any] = (0.9, 0.999)
    eps: Any = 1e-6
    weight_decay: Any = 0.0
    clamp_value: Any = 10.0
    adam: bool = False
    debias: bool = False
    correct_moments: bool = False
    layer_dims: int | None = None

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def validate(self) -> None:
        require(self.lr > 0.0, f"Invalid learning rate: {self.lr}")
        require(self.eps >= 0.0, f"Invalid epsilon value: {self.eps}")
        for i, beta in enumerate(self.betas):
            require((0.0 <= beta) & (beta < 1.0), f"Invalid beta parameter at index {i}: {beta}")
        require(self.weight_decay >= 0, f"Invalid weight_decay value: {self.weight_decay}")
        require(self.clamp_value >= 0.0, f"Invalid clamp value: {self.clamp_value}")

    def init(self, param) -> State:
        return {"step": 0, "exp_avg": _ops.zeros_like(param), "exp_avg_sq": _ops.zeros_like(param)}

    def per_point(self, batched: bool = True) -> "Lamb":
        """For trajectories: each point is one layer, so the norms run over the last axis."""
        return self.replace(layer_dims=1)

    def update(self, param, grad, state: State):
        beta1, beta2 = self.betas
        step = state["step"] + 1
        grad = self.direction(grad)
        exp_avg = _ops.add_scaled(state["exp_avg"] * beta1, grad, 1 - beta1)
        exp_avg_sq = _ops.addcmul(state["exp_avg_sq"] * beta2, grad, grad, 1 - beta2)
        t = _ops.value(step)
        bias_correction = root(1 - beta2**t) / (1 - beta1**t) if self.debias else 1
        step_size = self.lr * bias_correction
        weight_norm = clip(layer_norm(param, self.layer_dims), 0, self.clamp_value)
        m, v = exp_avg, exp_avg_sq
        if self.correct_moments:
            m, v = m / (1 - beta1**t), v / (1 - beta2**t)
        adam_step = m / (_ops.sqrt(v) + self.eps)
        if _ops.is_nonzero(self.weight_decay):
            adam_step = _ops.add_scaled(adam_step, param, self.weight_decay)
        adam_norm = layer_norm(adam_step, self.layer_dims)
        trust_ratio = _ops.select((weight_norm == 0) | (adam_norm == 0), lambda: 1,
                                  lambda: weight_norm / adam_norm)
        scale = 1 if self.adam else trust_ratio
        new_param = _ops.add_scaled(param, adam_step, -step_size * scale)
        return new_param, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                           "weight_norm": weight_norm, "adam_norm": adam_norm, "trust_ratio": trust_ratio}
