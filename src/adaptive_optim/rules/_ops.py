"""The handful of array operations the update rules need, for NumPy arrays and torch tensors alike.

Arithmetic (+, -, *, /, **) already works on both; these helpers cover the rest
(square root, maximum, element-wise choice, zeros and scalar extraction) by looking at
the type of the array. torch is imported only when a tensor is actually passed in, so
the rules run on NumPy without torch installed.

In-place writes. The operations that compute the new value of a state entry or of the parameter
take that old value as ``into=``. By default ``into`` is ignored and a new array is returned, so a
rule stays a pure function (NumPy, sweeps, the book). Inside :func:`writing_in_place` (which the
drop-in optimizers enter for their step) the result is written into ``into`` instead, as torch.optim
does with its ``_`` methods: the same kernel, so the same rounding, without a fresh allocation and a
copy back. A rule passes ``into=`` only where the old value is never read again.

Tensor lists. A :class:`~adaptive_optim.rules._tensor_list.TensorList` (the tensors of one param
group) goes through the same helpers and arithmetic, each a single ``torch._foreach_*`` call.
"""

from __future__ import annotations

import contextlib
import numbers
import sys
from typing import Any, Callable, Iterator

import numpy as np

from ._tensor_list import TensorList



def is_tensor(x: Any) -> bool:
    """True for a torch.Tensor, without importing torch (if torch is not loaded, x is no tensor)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _torch():
    import torch

    return torch


_in_place = False


@contextlib.contextmanager
def writing_in_place() -> Iterator[None]:
    """Within this block, tensor operations given ``into=`` write their result there.

    Process-wide while it lasts: the drop-in optimizers hold it for their own step only. Pure
    callers of the rules (NumPy arrays, or tensors outside such a step) are unaffected.
    """
    global _in_place
    before, _in_place = _in_place, True
    try:
        yield
    finally:
        _in_place = before


def _destination(into):
    """Where a result goes: ``into`` when writing in place into a dense tensor (or list), else None."""
    if not _in_place or into is None:
        return None
    if isinstance(into, TensorList) or (is_tensor(into) and not into.is_sparse):
        return into
    return None


def _assign(dest, x, in_place: Callable, compute: Callable):
    """The result of an operation on ``x``: ``in_place(x)`` when ``dest`` is ``x`` itself, else
    ``compute()``, copied into ``dest`` when there is one of the same shape and dtype."""
    if dest is None:
        return compute()
    if dest is x:
        in_place(dest)
        return dest
    result = compute()
    if isinstance(dest, TensorList):
        _torch()._foreach_copy_(dest.tensors, result.tensors)
        return dest
    if is_tensor(result) and not result.is_sparse and result.shape == dest.shape and result.dtype == dest.dtype:
        dest.copy_(result)
        return dest
    return result


def mul(x, factor, into=None):
    """``x · factor``, written into ``into`` inside :func:`writing_in_place`."""
    if isinstance(x, TensorList):
        return x.mul(factor, into=_destination(into))
    return _assign(_destination(into) if is_tensor(x) else None, x,
                   lambda d: d.mul_(factor), lambda: x * factor)


def sqrt(x, into=None):
    """Element-wise square root (correctly rounded in both backends), written into ``into`` inside
    :func:`writing_in_place`."""
    if isinstance(x, TensorList):
        return x.sqrt(into=_destination(into))
    if is_tensor(x):
        return _assign(_destination(into), x, lambda d: d.sqrt_(), lambda: _torch().sqrt(x))
    return np.sqrt(x)


def _scalar_operand(x, y) -> bool:
    """True when ``x`` op ``y`` has ``x``'s shape and dtype: ``y`` a number or a real 0-d tensor."""
    if is_tensor(y):
        return y.ndim == 0 and (x.is_complex() or not y.is_complex())
    return isinstance(y, (int, float))


def add(x, y, into=None):
    """``x + y`` for a coefficient ``y``, written into ``into`` inside :func:`writing_in_place`.

    The rules pass ``into=x`` where ``x`` is a fresh temporary (a denominator being built), so a
    step allocates one array where ``(√v / c) + ε`` would allocate three; the same kernels run,
    in the same order, so the result is unchanged.
    """
    if isinstance(x, TensorList):
        return x.add(y, into=_destination(into))
    if is_tensor(x) and _scalar_operand(x, y):
        return _assign(_destination(into), x, lambda d: d.add_(y), lambda: x + y)
    return x + y


def div(x, y, into=None):
    """``x / y`` for a coefficient ``y``, written into ``into`` inside :func:`writing_in_place` (see :func:`add`)."""
    if isinstance(x, TensorList):
        return x.div(y, into=_destination(into))
    if is_tensor(x) and _scalar_operand(x, y):
        return _assign(_destination(into), x, lambda d: d.div_(y), lambda: x / y)
    return x / y


def maximum(a, b, into=None):
    """Element-wise maximum of two arrays of the same backend."""
    if isinstance(a, TensorList):
        return a.maximum(b, into=_destination(into))
    if is_tensor(a):
        return _assign(_destination(into), a, lambda d: _torch().maximum(d, b, out=d),
                       lambda: _torch().maximum(a, b))
    return np.maximum(a, b)


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
    """The plain Python number held by a NumPy-side step counter (an int or a 0-d array)."""
    return float(step)


def count(step):
    """The step counter t, ready for bias-correction arithmetic.

    On NumPy: a Python float. On torch: the counter as a 0-d float64 tensor, never a Python
    number, so a compiled step traces it as data (no ``.item()``, no graph break, no value
    baked into the graph). float64 arithmetic on 0-d tensors rounds exactly as torch.optim's
    Python-float arithmetic on ``step.item()`` does.
    """
    if is_tensor(step):
        return step.to(_torch().float64)
    return value(step)


def power(base, t):
    """``base ** t`` for a step count ``t`` from :func:`count`, rounded as torch.optim rounds it.

    A tensor ``base`` (torch's Tensor betas) is raised in its own dtype, as torch computes
    ``beta ** step.item()``; a number ``base`` meets a float64 ``t`` in C's ``pow``, as Python does.
    """
    if is_tensor(t):
        if isinstance(base, np.generic):
            base = _scalar_tensor(base, t)
        if is_tensor(base):
            return base ** t.to(base.dtype)
        return _torch().pow(base, t)
    return base**t


def root(x):
    """``x ** 0.5`` for a bias correction, rounded as torch.optim's ``bias_correction2 ** 0.5``.

    A float64 0-d tensor stands for a Python float there: it gets C's ``pow(x, 0.5)`` (which can
    differ from a correctly rounded ``sqrt`` by an ulp, so ``torch.sqrt`` would not do); other
    tensors get torch's ``x ** 0.5``, as Tensor betas do in torch.optim.
    """
    if is_tensor(x) and x.dtype == _torch().float64 and x.ndim == 0:
        return _torch().pow(x, _torch().tensor(0.5, dtype=x.dtype, device=x.device))
    return x**0.5


def ratio(a, b):
    """``a / b`` for hyperparameter ``a`` and bias correction ``b``, rounded as torch.optim rounds it.

    On torch, a number ``a`` is divided as a tensor (Python's ``a / tensor`` would multiply by
    a rounded reciprocal), a NumPy scalar in its own dtype (NumPy keeps float32 when it meets a
    Python float); and when ``a`` is a tensor of another dtype, a float64 0-d ``b`` standing for a
    Python float (see :func:`root`) is first cast to ``a``'s dtype, as torch casts Python scalars.
    """
    if not is_tensor(b):
        return a / b
    a = _scalar_tensor(a, b)
    if a.dtype != b.dtype and b.dtype == _torch().float64 and b.ndim == 0:
        b = b.to(a.dtype)
    return a / b


def divide_number(a, b):
    """``a / b`` for a coefficient ``a`` that torch.optim holds as a Python number and an array ``b``,
    rounded as torch rounds Python's ``number / tensor``: the reciprocal of ``b``, rounded, times ``a``
    (two roundings, where a true division has one). NumPy divides directly; the backends agree to an ulp.
    """
    if isinstance(b, TensorList):  # TensorList's ``number / list`` rounds as torch's, for a Python number
        return (a.item() if is_tensor(a) else a) / b
    if is_tensor(b):
        return _torch().reciprocal(b).mul_(a)
    return a / b


def _scalar_tensor(x, like):
    """A number as a 0-d tensor on ``like``'s device: a NumPy scalar keeps its dtype, a Python number takes ``like``'s."""
    if is_tensor(x):
        return x
    if isinstance(x, np.generic):
        return _torch().tensor(x.item(), dtype=_torch().from_numpy(np.asarray(x)).dtype, device=like.device)
    return _torch().tensor(x, dtype=like.dtype, device=like.device)


def as_real(x):
    """A complex array as a real view with a trailing axis of 2 (real, imaginary); others unchanged.

    The adaptive rules square gradients coordinate-wise, so, like torch.optim, they treat a
    complex parameter as a pair of real ones from the point where torch does.
    """
    if isinstance(x, TensorList):
        return x.as_real()
    if is_tensor(x):
        return _torch().view_as_real(x) if x.is_complex() else x
    if isinstance(x, np.ndarray) and np.iscomplexobj(x):
        return x.view(x.real.dtype).reshape(*x.shape, 2)
    return x


def is_sparse(x) -> bool:
    """True for a sparse torch tensor (the only sparse arrays the rules accept)."""
    return is_tensor(x) and x.is_sparse


def is_nonzero(x) -> bool:
    """True when any entry of a hyperparameter is non-zero; a zero hyperparameter skips its term."""
    if isinstance(x, (int, float)):
        return x != 0
    if is_tensor(x):
        return bool((x != 0).any())
    return bool(np.any(np.asarray(x) != 0))


def is_positive(x) -> bool:
    """True when any entry of a hyperparameter is positive."""
    if isinstance(x, (int, float)):
        return x > 0
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
        if condition.ndim == 0 and not _torch().compiler.is_compiling():
            return if_true() if bool(condition) else if_false()
        # A compiled step takes both branches and chooses in the graph: no break, no guard on t.
        return _torch().where(condition, if_true(), if_false())
    if np.ndim(condition) == 0:
        return if_true() if bool(condition) else if_false()
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = if_true(), if_false()
    return np.where(condition, a, b)


def lerp(start, end, weight, into=None):
    """``start + weight·(end − start)``, evaluated as torch.lerp does.

    torch.lerp switches formula at |weight| = 0.5 (``end − (end − start)(1 − weight)`` above it,
    so that weight 1 gives ``end`` exactly) and fuses the multiply-add; NumPy gets the same two
    formulas, unfused, so the backends agree to an ulp per call.
    """
    if isinstance(start, TensorList):
        return start.lerp(end, weight, into=_destination(into))
    if is_tensor(start):
        return _assign(_destination(into), start, lambda d: d.lerp_(end, weight),
                       lambda: _torch().lerp(start, end, weight))
    return select(np.abs(weight) < 0.5,
                  lambda: start + weight * (end - start),
                  lambda: end - (end - start) * (1 - weight))


def _coefficient(s) -> bool:
    """A plain number, NumPy scalar or 0-d tensor: what torch's fused ops take as a Scalar
    (a one-element tensor of shape (1,) is not one: ``torch.add(..., alpha=)`` refuses it)."""
    if is_tensor(s):
        return s.ndim == 0 and not s.requires_grad
    return isinstance(s, numbers.Number)


def _fusable(x, *scalars) -> bool:
    """torch's fused ops take a tensor and Scalar coefficients (not a grid of them).

    A one-element tensor coefficient is passed as torch.optim passes a Tensor lr (``alpha=-lr``),
    so both round alike.
    """
    return is_tensor(x) and all(_coefficient(s) for s in scalars)


def _sparse_values(sparse, values):
    """A sparse tensor with ``sparse``'s (coalesced) indices and the given values."""
    return _torch().sparse_coo_tensor(sparse._indices(), values, sparse.shape)


def add_scaled(x, y, alpha, into=None):
    """``x + alpha·y``: torch.add(x, y, alpha=alpha) on tensors (a fused multiply-add on CPU)."""
    if isinstance(x, TensorList):
        return x.add_scaled(y, alpha, into=_destination(into))
    dest = _destination(into) if is_tensor(x) else None
    if _fusable(x, alpha):
        return _assign(dest, x, lambda d: d.add_(y, alpha=alpha), lambda: _torch().add(x, y, alpha=alpha))
    return _assign(dest, None, None, lambda: x + alpha * y)


def addcmul(x, a, b, value=1, into=None):
    """``x + value·a·b``: torch.addcmul on tensors (fused on CPU).

    For a coalesced sparse ``a is b`` (Adagrad's sum of squares) the product is formed on the
    stored values only, as torch.optim.Adagrad does.
    """
    if isinstance(x, TensorList):
        return x.addcmul(a, b, value, into=_destination(into))
    dest = _destination(into) if is_tensor(x) else None
    if is_sparse(a) and a is b and value == 1:
        squares = _sparse_values(a, a._values().pow(2))
        return _assign(dest, x, lambda d: d.add_(squares), lambda: x + squares)
    if _fusable(x, value):
        return _assign(dest, x, lambda d: d.addcmul_(a, b, value=value),
                       lambda: _torch().addcmul(x, a, b, value=value))
    return _assign(dest, None, None, lambda: x + value * a * b)


def addcdiv(x, a, b, value=1, into=None):
    """``x + value·a/b``: torch.addcdiv on tensors.

    For a coalesced sparse ``a`` the quotient is formed at ``a``'s entries only and added with
    ``alpha=value``, as torch.optim.Adagrad does for sparse gradients.
    """
    if isinstance(x, TensorList):
        return x.addcdiv(a, b, value, into=_destination(into))
    dest = _destination(into) if is_tensor(x) else None
    if is_sparse(a):
        quotients = _sparse_values(a, a._values() / b.sparse_mask(a)._values())
        return _assign(dest, x, lambda d: d.add_(quotients, alpha=value),
                       lambda: _torch().add(x, quotients, alpha=value))
    if _fusable(x, value):
        return _assign(dest, x, lambda d: d.addcdiv_(a, b, value=value),
                       lambda: _torch().addcdiv(x, a, b, value=value))
    return _assign(dest, None, None, lambda: x + value * a / b)

