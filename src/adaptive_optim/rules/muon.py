"""Muon (Jordan et al., 2024): momentum whose update matrix is orthogonalized before it is applied.

    B_t = μ B_{t−1} + (1 − μ) g_t                   (torch keeps this lerp form of the buffer)
    U_t = g_t + μ (B_t − g_t)  with Nesterov, else B_t
    O_t = NS_k(U_t) ≈ U V^T  where U_t = U S V^T    (k steps of a quintic Newton–Schulz iteration)
    θ_t = θ_{t−1}(1 − ηλ) − η·s(A, B)·O_t

Where Adam adapts each coordinate's step to its own history, Muon adapts the whole matrix:
all singular values of the update are pushed towards 1, so every direction of the layer's
input and output space moves by a similar amount. Only 2-D parameters (weight matrices) qualify.

The iteration X ← aX + (bA + cA²)X with A = XXᵀ, after scaling X to Frobenius norm ≤ 1 (so its
spectral norm is ≤ 1), maps each singular value σ to aσ + bσ³ + cσ⁵; the coefficients
(3.4445, −4.775, 2.0315) make that map steep at 0 and settle near 1 (between about 0.7 and 1.2,
not exactly 1). torch.optim.Muon runs it in bfloat16 on a copy of the update, transposed to be
wide (rows ≤ columns) so that A is the smaller Gram matrix; so do we on tensors. s(A, B) is
torch's learning-rate adjustment: √max(1, A/B) ("original") or 0.2·√max(A, B) ("match_rms_adamw").
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from . import _ops
from .adam import decay_or_penalize
from .base import Rule, State, require

#: torch.optim.Muon's defaults (from Keller Jordan's reference implementation).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def _transpose(x):
    return x.mT if _ops.is_tensor(x) else np.swapaxes(x, -1, -2)


def _addmm(c, a, b, beta=1.0, alpha=1.0):
    """β·c + α·(a @ b): torch.addmm on 2-D tensors (one rounding of the fused result, as torch's
    Muon computes it), else the plain expression (NumPy, batched arrays)."""
    if _ops.is_tensor(c) and c.ndim == 2:
        return _ops._torch().addmm(c, a, b, beta=beta, alpha=alpha)
    return beta * c + alpha * (a @ b)


def _frobenius_norm(x):
    if _ops.is_tensor(x):
        return x.norm() if x.ndim == 2 else _ops._torch().linalg.vector_norm(x, dim=(-2, -1), keepdim=True)
    return np.sqrt(np.sum(x * x, axis=(-2, -1), keepdims=True))


def _clamp_min(x, low):
    return x.clamp(min=low) if _ops.is_tensor(x) else np.maximum(x, low)


def orthogonalize(update, coefficients=NS_COEFFICIENTS, steps: int = 5, eps: float = 1e-7,
                  dtype: str | None = "bfloat16"):
    """NS_k: ``steps`` quintic Newton–Schulz steps towards the orthogonal factor U Vᵀ of ``update``.

    ``dtype="bfloat16"`` runs them in bfloat16, as torch.optim.Muon does (tensors only: NumPy has
    no bfloat16); ``None`` in the update's own dtype. Leading axes, if any, index separate matrices.
    """
    a, b, c = coefficients
    if dtype == "bfloat16":
        if not _ops.is_tensor(update):
            raise ValueError("NumPy has no bfloat16: pass ns_dtype=None to run the Newton-Schulz "
                             "iteration in the array's own dtype (torch.optim.Muon uses bfloat16)")
        x = update.bfloat16()
    elif dtype is None:
        x = update
    else:
        raise ValueError(f"Invalid ns_dtype: {dtype!r} (use 'bfloat16' or None)")
    tall = update.shape[-2] > update.shape[-1]
    if tall:
        x = _transpose(x)
    x = x / _clamp_min(_frobenius_norm(x), eps)
    for _ in range(steps):
        gram = x @ _transpose(x)
        polynomial = _addmm(gram, gram, gram, beta=b, alpha=c)
        x = _addmm(x, polynomial, x, beta=a)
    return _transpose(x) if tall else x


def adjusted_lr(lr, adjust_lr_fn: str | None, shape) -> Any:
    """η·s(A, B) for an A×B matrix, as torch's ``_adjust_lr``."""
    rows, cols = shape[-2:]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    else:  # "match_rms_adamw" (Moonshot's Muon)
        ratio = 0.2 * math.sqrt(max(rows, cols))
    return lr * ratio


@dataclasses.dataclass(frozen=True, kw_only=True)
class Muon(Rule):
    """Muon, matching ``torch.optim.Muon`` (state key ``momentum_buffer``); 2-D parameters only
    (or, on NumPy, arrays whose last two axes are the matrix)."""

    stackable = False  # see Rule.stackable

    lr: Any = 1e-3
    weight_decay: Any = 0.1
    momentum: Any = 0.95
    nesterov: bool = True
    ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS
    eps: float = 1e-7
    ns_steps: int = 5
    adjust_lr_fn: str | None = None
    ns_dtype: str | None = "bfloat16"

    state_keys = ("momentum_buffer",)

    def validate(self) -> None:
        require(0.0 <= self.lr, f"Learning rate should be >= 0 but is: {self.lr}")
        require(0.0 <= self.momentum, f"momentum should be >= 0 but is: {self.momentum}")
        require(0.0 <= self.weight_decay, f"weight decay should be >= 0 but is: {self.weight_decay}")
        require(self.adjust_lr_fn in ADJUST_LR_FNS,
                f"Adjust learning rate function {self.adjust_lr_fn} is not supported")
        require(self.ns_steps < 100, "Number of steps must be less than 100 for computational efficiency")
        require(len(self.ns_coefficients) == 3, "Coefficients must be a tuple of exactly 3 values")

    def init(self, param) -> State:
        return {"momentum_buffer": _ops.zeros_like(param)}

    def update(self, param, grad, state: State):
        if np.ndim(param) < 2 or (_ops.is_tensor(param) and param.ndim != 2):
            raise ValueError(f"Muon only supports 2D parameters, got shape {tuple(param.shape)}")
        grad = self.direction(grad)
        buf = _ops.lerp(state["momentum_buffer"], grad, 1 - self.momentum)
        update = _ops.lerp(grad, buf, self.momentum) if self.nesterov else buf
        update = orthogonalize(update, self.ns_coefficients, self.ns_steps, self.eps, self.ns_dtype)
        param, _ = decay_or_penalize(param, grad, self.lr, self.weight_decay, decoupled=True)
        param = _ops.add_scaled(param, update, -adjusted_lr(self.lr, self.adjust_lr_fn, param.shape))
        return param, {"momentum_buffer": buf}
