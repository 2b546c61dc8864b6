"""A list of tensors that the rules step as one array: each operation is one ``torch._foreach_*`` call.

The drop-in optimizers hand a rule the parameters, gradients and state entries of a whole param
group (tensors of one device and dtype) as TensorLists, so the rule's dozen operations run once per
group instead of once per tensor. Coefficients are numbers shared by the whole list: plain Python
numbers, or 0-d tensors (the bias corrections), read once with ``.item()`` as torch.optim reads its
step counts. torch's foreach kernels round as its per-tensor ones (on the CPU they call them), so
results are unchanged. torch is imported only when a list is built.

Inside ``torch.compile`` (``fused=True`` on the CPU) a 0-d tensor coefficient stays a tensor: read
with ``.item()`` it would become a graph scalar, which inductor does not keep in float64. It goes to
the foreach overloads that take a Tensor (``_foreach_mul``, ``_foreach_div``); where torch 2.13 has
none, or dynamo passes a tensor Scalar on as a rounded graph scalar (``alpha=``, ``value=``, a lerp
weight, ``_foreach_add``), the list applies the per-tensor operation to each tensor, as the
per-tensor compiled step does.
"""

from __future__ import annotations

from typing import Any, Sequence


def _torch():
    import torch

    return torch


def _number(x: Any):
    """A coefficient as the Scalar torch's foreach kernels take (a 0-d tensor read exactly), or,
    inside torch.compile, a 0-d tensor as it is (see the module's docstring)."""
    if isinstance(x, TensorList):
        raise TypeError("a TensorList is not a coefficient")
    torch = _torch()
    if torch.is_tensor(x) and not torch.compiler.is_compiling():
        return x.item()
    return x


def _is_tensor(x: Any) -> bool:
    return _torch().is_tensor(x)


class TensorList:
    """Tensors of one device and dtype, with the arithmetic and ``_ops`` operations the rules use."""

    __slots__ = ("tensors",)

    def __init__(self, tensors: Sequence[Any]) -> None:
        self.tensors = list(tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def __repr__(self) -> str:
        return f"TensorList({len(self.tensors)} tensors)"

    def _foreach(self, name: str, *args, into: "TensorList | None" = None, **kwargs) -> "TensorList":
        torch = _torch()
        args = tuple(a.tensors if isinstance(a, TensorList) else a for a in args)
        if into is self:
            getattr(torch, f"_foreach_{name}_")(self.tensors, *args, **kwargs)
            return self
        result = TensorList(getattr(torch, f"_foreach_{name}")(self.tensors, *args, **kwargs))
        if into is not None:
            torch._foreach_copy_(into.tensors, result.tensors)
            return into
        return result

    def _each(self, name: str, *args, into: "TensorList | None" = None, **kwargs) -> "TensorList":
        """``torch.<name>`` applied tensor by tensor (``Tensor.<name>_`` when ``into`` is the list):
        for a 0-d tensor coefficient inside torch.compile, where no foreach overload keeps it exact."""
        torch = _torch()
        rows = list(zip(self.tensors, *(a.tensors if isinstance(a, TensorList) else [a] * len(self) for a in args)))
        if into is self:
            for t, *row in rows:
                getattr(t, f"{name}_")(*row, **kwargs)
            return self
        result = TensorList([getattr(torch, name)(t, *row, **kwargs) for t, *row in rows])
        if into is not None:
            torch._foreach_copy_(into.tensors, result.tensors)
            return into
        return result

    def _with_coefficient(self, name: str, *lists: "TensorList", into: "TensorList | None" = None,
                          **coefficient) -> "TensorList":
        """``name`` with TensorLists and one coefficient, passed by keyword (``alpha``, ``value``,
        ``weight``: the same keyword in torch's foreach and per-tensor functions): one foreach call,
        or, compiling, tensor by tensor where the coefficient is a 0-d tensor (see the module's docstring)."""
        ((key, value),) = coefficient.items()
        value = _number(value)
        step = self._each if _is_tensor(value) else self._foreach
        return step(name, *lists, into=into, **{key: value})

    def _binary(self, name: str, other) -> "TensorList":
        if isinstance(other, TensorList):
            return self._foreach(name, other)
        other = _number(other)
        if _is_tensor(other) and name not in ("mul", "div"):  # compiling: see the module's docstring
            return self._each(name, other)
        return self._foreach(name, other)

    # arithmetic, each with a TensorList (element by element) or a coefficient
    def __neg__(self) -> "TensorList":
        return self._foreach("neg")

    def __add__(self, other) -> "TensorList":
        return self._binary("add", other)

    def __radd__(self, other) -> "TensorList":
        return self._binary("add", other)

    def __sub__(self, other) -> "TensorList":
        return self._binary("sub", other)

    def __rsub__(self, other) -> "TensorList":
        return TensorList([other - t for t in self.tensors])

    def __mul__(self, other) -> "TensorList":
        return self._binary("mul", other)

    def __rmul__(self, other) -> "TensorList":
        return self._binary("mul", other)

    def __truediv__(self, other) -> "TensorList":
        return self._binary("div", other)

    def __rtruediv__(self, other) -> "TensorList":
        if isinstance(other, (int, float)):
            # ``number / tensor`` is ``tensor.reciprocal() * number`` in torch (Tensor.__rdiv__): the same two kernels
            result = self._foreach("reciprocal")
            return result._foreach("mul", other, into=result)
        # no foreach kernel divides a 0-d tensor by tensors; one division per tensor rounds as torch's
        return TensorList([other / t for t in self.tensors])

    # the operations of adaptive_optim.rules._ops
    def mul(self, factor, into: "TensorList | None" = None) -> "TensorList":
        return self._foreach("mul", factor if isinstance(factor, TensorList) else _number(factor), into=into)

    def sqrt(self, into: "TensorList | None" = None) -> "TensorList":
        return self._foreach("sqrt", into=into)

    def add(self, other, into: "TensorList | None" = None) -> "TensorList":
        other = _number(other)
        if _is_tensor(other):  # compiling: see the module's docstring
            return self._each("add", other, into=into)
        return self._foreach("add", other, into=into)

    def div(self, other, into: "TensorList | None" = None) -> "TensorList":
        return self._foreach("div", _number(other), into=into)

    def maximum(self, other: "TensorList", into: "TensorList | None" = None) -> "TensorList":
        return self._foreach("maximum", other, into=into)

    def lerp(self, end: "TensorList", weight, into: "TensorList | None" = None) -> "TensorList":
        return self._with_coefficient("lerp", end, into=into, weight=weight)

    def add_scaled(self, other: "TensorList", alpha, into: "TensorList | None" = None) -> "TensorList":
        return self._with_coefficient("add", other, into=into, alpha=alpha)

    def addcmul(self, a: "TensorList", b: "TensorList", value, into: "TensorList | None" = None) -> "TensorList":
        return self._with_coefficient("addcmul", a, b, into=into, value=value)

    def addcdiv(self, a: "TensorList", b: "TensorList", value, into: "TensorList | None" = None) -> "TensorList":
        return self._with_coefficient("addcdiv", a, b, into=into, value=value)

    def as_real(self) -> "TensorList":
        """Complex tensors as real views (…, 2); the list itself when none is complex."""
        if not any(t.is_complex() for t in self.tensors):
            return self
        return TensorList([_torch().view_as_real(t) if t.is_complex() else t for t in self.tensors])
