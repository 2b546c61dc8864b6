"""Adafactor (Shazeer & Stern, 2018) as torch.optim.Adafactor computes it: second moments kept
as row and column statistics for matrices, a relative step size, and update clipping.

For a parameter θ with gradient G at step t (τ = ``beta2_decay``, γ = ``lr``, λ = ``weight_decay``),
the decay rate, the relative step size, and the decoupled decay (applied before the step):

    1 − β̂_{2,t} = t^τ      ρ_t = min(γ, 1/√t)      α_t = max(ε₂, RMS(θ_{t−1})) ρ_t
    θ_{t−1}' = θ_{t−1} (1 − γλ)

For a matrix (the last two dimensions, n × m), the row statistics R_t (n × 1, ``row_var``) and the
column statistics C_t (1 × m, ``col_var``) stand in for the second moment V̂_t:

    R_t = β̂_{2,t} R_{t−1} + (1 − β̂_{2,t}) mean_j G²
    C_t = β̂_{2,t} C_{t−1} + (1 − β̂_{2,t}) mean_i G²
    V̂_t = R_t C_t / max(mean_i R_t, ε₁)

for a vector it is kept whole (``variance``):

    V̂_t = β̂_{2,t} V̂_{t−1} + (1 − β̂_{2,t}) G²

and the clipped update is

    U_t = G / √(max(V̂_t, ε₁²))      Û_t = U_t / max(1, RMS(U_t)/d)      θ_t = θ_{t−1}' − α_t Û_t

How torch (and so this rule) departs from the paper's Algorithm 4 (with Algorithm 5's relative step):

- **lr vs relative step.** The paper has no learning rate: ρ_t = min(10⁻², 1/√t) with the constant
  10⁻². torch's ``lr`` replaces that constant, ρ_t = min(lr, 1/√t); the default lr = 1e-2 gives the
  paper's schedule. Since 1/√t < 10⁻² only after t = 10⁴ steps, for the first 10⁴ steps ρ_t = lr.
  A learning-rate scheduler therefore scales only the cap of ρ_t, not the step after it decays.
- **ε₁.** The paper adds ε₁ = 10⁻³⁰ to G² inside R_t and C_t (the statistics themselves carry it),
  and divides by √V̂_t with nothing more. torch keeps R_t and C_t pure and instead clamps twice:
  the normaliser mean_i R_t from below at ε₁, and V̂_t from below at ε₁² (so √V̂_t ≥ ε₁). Its default
  ε₁ = None means the machine epsilon of the parameter's dtype (2.2e-16 in float64, 1.2e-7 in
  float32), far above the paper's 10⁻³⁰; in float32 this bounds ``|U_t| ≤ |G|/1.2e-7``.
  (torch resolves ε₁ = None once per param group and step, from the first parameter with a
  gradient, and uses it for the group's other parameters too; the drop-in does the same.)
- **Means, not sums.** The paper's R_t, C_t are row and column *sums* of G² and V̂_t = R_t C_t / 1ᵀR_t;
  torch keeps the means R̄ = R/m and C̄ = C/n. V̂_t is the same in exact arithmetic,
  (mR̄)(nC̄)/(nm·mean R̄) = R̄C̄/mean R̄; only ε₁'s clamp on the normaliser sees the change of scale.
- **No β₁.** The paper's experiments include runs with a first moment (β₁ > 0) and its recommended
  setting drops it; torch has none at all: the update is Û_t itself, so the state is only R, C (or V̂)
  and ``step``.
- **Update clipping** is the paper's: Û_t = U_t / max(1, RMS(U_t)/d), d = 1 by default, with the
  RMS taken over the whole parameter tensor, from the current step's U_t.
- **Decay rate.** The paper writes β̂₂ₜ = 1 − t^(−c) with c = 0.8; torch's ``beta2_decay`` is τ = −c,
  so it must be ≤ 0 (default −0.8). At t = 1 the weight 1 − β̂₂ₜ = 1 in both: the first statistics
  are the first gradient's, so no bias correction is needed (as the paper notes).
- **Weight decay** is not in the paper; torch multiplies θ by (1 − lr·λ) before the step,
  decoupled as in AdamW but with lr, not α_t, as the multiplier.
- **Which tensors are factored.** Every gradient of dimension > 1 is factored over its last two
  dimensions (leading dimensions are batches of matrices); vectors and scalars keep a full V̂.
  The relative step uses RMS(θ_{t−1}) before the weight decay of the same step.

The rule couples all entries of a parameter (RMS, row and column means), so unlike the other
rules its hyperparameters are scalars: an array of settings would not describe separate runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import _ops
from .base import Rule, State, require


def _is_scalar(x) -> bool:
    return x is None or np.ndim(x) == 0 or (_ops.is_tensor(x) and x.numel() == 1)


def _as_number(x):
    """A plain float for torch's ``alpha=`` arguments, which take a 0-d tensor as its value."""
    return x.item() if _ops.is_tensor(x) else x


def norm_and_size(x) -> tuple[float, int]:
    """‖x‖₂ as a Python float and the number of entries, for RMS(x) = ‖x‖₂/√n."""
    if _ops.is_tensor(x):
        return x.norm(2).item(), x.numel()
    return float(np.linalg.norm(np.ravel(x))), int(np.size(x))


def mean_square(grad, axis: int):
    """mean of G² along ``axis`` (kept as a length-1 axis), as ‖G‖² along it divided by its length."""
    if _ops.is_tensor(grad):
        return grad.norm(dim=axis, keepdim=True).square().div(grad.size(axis))
    return np.linalg.norm(grad, axis=axis, keepdims=True) ** 2 / grad.shape[axis]


def _mean_rows(x):
    """The mean over the second-to-last axis, kept (the normaliser mean_i R_t)."""
    if _ops.is_tensor(x):
        return x.mean(dim=-2, keepdim=True)
    return np.mean(x, axis=-2, keepdims=True)


def _clamp_min(x, lower):
    if _ops.is_tensor(x):
        return x.clamp(min=lower)
    return np.maximum(x, lower)


def _rsqrt(x):
    if _ops.is_tensor(x):
        return x.rsqrt()
    return 1 / np.sqrt(x)


def _dtype_eps(x) -> float:
    if _ops.is_tensor(x):
        return _ops._torch().finfo(x.dtype).eps
    return float(np.finfo(np.asarray(x).dtype).eps)


def is_factored(param) -> bool:
    """Adafactor factors every parameter of dimension > 1 over its last two axes."""
    return len(param.shape) > 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class Adafactor(Rule):
    """Adafactor, matching ``torch.optim.Adafactor``'s single-tensor path (state keys ``step``,
    and ``row_var``/``col_var`` for a parameter of dimension > 1, else ``variance``).

    ``eps = (ε₁, ε₂)``; ε₁ = None means the machine epsilon of the parameter's dtype.
    """

    stackable = False  # see Rule.stackable

    lr: Any = 1e-2
    beta2_decay: Any = -0.8
    eps: tuple[Any, Any] = (None, 1e-3)
    d: Any = 1.0
    weight_decay: Any = 0.0

    state_keys = ("step", "row_var", "col_var", "variance")

    def validate(self) -> None:
        """torch.optim.Adafactor's checks and messages, in its order."""
        for name in ("lr", "beta2_decay", "d", "weight_decay"):
            require(_is_scalar(getattr(self, name)),
                    f"Adafactor's {name} must be a scalar: its step couples every entry of a parameter "
                    f"(RMS, row and column means), so an array of settings cannot run as separate runs")
        require(0.0 <= self.lr, f"Learning rate should be >= 0 but is: {self.lr}")
        require(0.0 >= self.beta2_decay, f"beta2_decay should be <= 0 but is: {self.beta2_decay}")
        eps1, eps2 = self.eps
        if eps1 is not None:
            require(0.0 <= eps1, f"epsilon1 should be >= 0 but is: {eps1}")
        require(0.0 <= eps2, f"epsilon2 should be >= 0 but is: {eps2}")
        require(1.0 <= self.d, f"Clipping threshold d should be >= 1 but is: {self.d}")
        require(0.0 <= self.weight_decay, f"weight_decay should be >= 0 but is: {self.weight_decay}")

    def init(self, param) -> State:
        state: State = {"step": 0}
        if is_factored(param):
            state["row_var"] = _ops.zeros_like(param[..., :1])  # (..., n, 1)
            state["col_var"] = _ops.zeros_like(param[..., :1, :])  # (..., 1, m)
        else:
            state["variance"] = _ops.zeros_like(param)
        return state

    def update(self, param, grad, state: State):
        grad = self.direction(grad)
        step = state["step"] + 1
        t = _ops.value(step)
        eps1, eps2 = self.eps
        if eps1 is None:
            eps1 = _dtype_eps(param)

        one_minus_beta2 = t**self.beta2_decay
        rho = min(self.lr, 1 / (t**0.5))
        norm, n = norm_and_size(param)
        alpha = max(eps2, norm / (n**0.5)) * rho
        if _ops.is_nonzero(self.weight_decay):
            param = param * (1 - self.lr * self.weight_decay)

        new_state: State = {"step": step}
        if is_factored(param):
            row_var = new_state["row_var"] = _ops.lerp(state["row_var"], mean_square(grad, -1), one_minus_beta2)
            col_var = new_state["col_var"] = _ops.lerp(state["col_var"], mean_square(grad, -2), one_minus_beta2)
            var_estimate = (row_var @ col_var) / _clamp_min(_mean_rows(row_var), eps1)
        else:
            var_estimate = new_state["variance"] = _ops.lerp(state["variance"], grad * grad, one_minus_beta2)

        update = _rsqrt(_clamp_min(var_estimate, eps1 * eps1)) * grad
        norm, n = norm_and_size(update)
        clip = max(1.0, norm / ((n**0.5) * self.d))  # torch's order: ‖U‖ / (√n·d)
        return _ops.add_scaled(param, update, _as_number(-alpha / clip)), new_state
