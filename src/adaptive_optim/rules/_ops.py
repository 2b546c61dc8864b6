"""The handful of array operations the update rules need, for NumPy arrays and torch tensors alike.

Arithmetic (+, -, *, /, **) already works on both; these helpers cover the rest
(square root, maximum, element-wise choice, zeros and scalar extraction) by looking at
the type of the array. torch is imported only when a tensor is actually passed in, so
the rules run on NumPy without torch installed.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def is_tensor(x: Any) -> bool:
    """True for a torch.Tensor, without importing torch."""
    return type(x).__module__.startswith("torch") and hasattr(x, "is_floating_point")


def _torch():
    import torch

    return torch


def sqrt(x):
    """Element-wise square root (correctly rounded in both backends)."""
    return _torch().sqrt(x) if is_tensor(x) else np.sqrt(x)


def maximum(a, b):
    """Element-wise maximum of two arrays of the same backend."""
    return _torch().maximum(a, b) if is_tensor(a) else np.maximum(a, b)


def zeros_like(x):
    """Zeros with the shape, dtype and device of ``x``."""
    if is_tensor(x):
        return _torch().zeros_like(x)
    x = np.asarray(x)
    return np.zeros_like(x, dtype=x.dtype if x.dtype.kind in "fc" else np.float64)


def full_like(x, value):
    """``x``-shaped array filled with ``value`` (which may itself be an array that broadcasts)."""
    if is_tensor(x):
        return _torch().full_like(x, float(value)) if np.ndim(value) == 0 else _torch().zeros_like(x) + value
    return zeros_like(x) + value


def value(step) -> float:
    """The plain Python number held by a step counter (an int, a 0-d array or a 0-d tensor)."""
    if is_tensor(step):
        return step.item()
    return float(step)


def is_nonzero(x) -> bool:
    """True when any entry of a hyperparameter is non-zero; a zero hyperparameter skips its term."""
    if is_tensor(x):
        return bool((x != 0).any())
    return bool(np.any(np.asarray(x) != 0))


def is_positive(x) -> bool:
    """True when any entry of a hyperparameter is positive."""
    if is_tensor(x):
        return bool((x > 0).any())
    return bool(np.any(np.asarray(x) > 0))


def select(condition, if_true: Callable[[], Any], if_false: Callable[[], Any]):
    """``if_true()`` where ``condition`` holds, ``if_false()`` elsewhere.

    A scalar condition (the usual case: one hyperparameter setting) evaluates only the
    branch it takes, as torch.optim does. An array condition (a grid of settings) evaluates
    both and chooses element-wise; the branch not taken may produce NaN there, harmlessly.
    """
    if is_tensor(condition):
        if condition.ndim == 0:
            return if_true() if bool(condition) else if_false()
        return _torch().where(condition, if_true(), if_false())
    if np.ndim(condition) == 0:
        return if_true() if bool(condition) else if_false()
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = if_true(), if_false()
    return np.where(condition, a, b)


def lerp(start, end, weight):
    """``start + weight·(end − start)``, evaluated as torch.lerp does.

    torch.lerp switches formula at |weight| = 0.5 (``end − (end − start)(1 − weight)`` above it,
    so that weight 1 gives ``end`` exactly) and fuses the multiply-add; NumPy gets the same two
    formulas, unfused, so the backends agree to an ulp per call.
    """
    if is_tensor(start):
        return _torch().lerp(start, end, weight)
    return select(np.abs(weight) < 0.5,
                  lambda: start + weight * (end - start),
                  lambda: end - (end - start) * (1 - weight))


def _fusable(x, *scalars) -> bool:
    """torch's fused ops take a tensor and plain-number coefficients (not a grid of them)."""
    return is_tensor(x) and all(isinstance(s, (int, float)) for s in scalars)


def add_scaled(x, y, alpha):
    """``x + alpha·y``: torch.add(x, y, alpha=alpha) on tensors (a fused multiply-add on CPU)."""
    if _fusable(x, alpha):
        return _torch().add(x, y, alpha=alpha)
    return x + alpha * y


def addcmul(x, a, b, value=1):
    """``x + value·a·b``: torch.addcmul on tensors (fused on CPU)."""
    if _fusable(x, value):
        return _torch().addcmul(x, a, b, value=value)
    return x + value * a * b


def addcdiv(x, a, b, value=1):
    """``x + value·a/b``: torch.addcdiv on tensors."""
    if _fusable(x, value):
        return _torch().addcdiv(x, a, b, value=value)
    return x + value * a / b


def coefficient(x):
    """A 0-d tensor coefficient as a Python number, rounded where torch rounds it.

    torch.optim computes a scalar such as lr/(1 − β₁ᵗ) in the dtype of a tensor lr, then passes
    it as the ``value``/``alpha`` of a fused op, which reads it as a plain number. Doing the same
    lets the fused op run here too; plain numbers and arrays (a grid) pass through unchanged.
    """
    return x.item() if is_tensor(x) and x.ndim == 0 else x
