"""Two-dimensional test functions with analytic gradients, for drawing optimizers at work.

Each landscape is a frozen dataclass. ``loss(xy)`` and ``grad(xy)`` take points of shape
``(..., 2)``, as NumPy arrays or torch tensors, and return shapes ``(...)`` and ``(..., 2)``.
Each formula is written once, in ``value(x, y)`` and ``partials(x, y)``, with plain arithmetic
(``+ - *``, no ``**``), so it runs unchanged on both backends and rounds the same way on both.
The gradients are the chain rule of the loss written out, and are tested against torch autograd.

Every landscape knows a global ``minimum`` (or ``None``) and its ``min_value``, a ``window``
that frames its interesting part, a suggested ``start``, and makes contour grids with ``grid(n)``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .rules._ops import is_tensor

#: A NumPy array or a torch tensor (or anything ``np.asarray`` accepts, for NumPy).
ArrayLike = Any
#: ((xmin, xmax), (ymin, ymax))
Window = tuple[tuple[float, float], tuple[float, float]]
Point = tuple[float, float]


def _as_array(xy: ArrayLike) -> ArrayLike:
    """A tensor as it is; anything else as a NumPy array (float64 unless already floating)."""
    if is_tensor(xy):
        return xy
    xy = np.asarray(xy)
    return xy if xy.dtype.kind in "fc" else xy.astype(np.float64)


def _stack(gx: ArrayLike, gy: ArrayLike) -> ArrayLike:
    """Put the two partial derivatives side by side along a new last axis."""
    if is_tensor(gx):
        import torch

        return torch.stack((gx, gy), dim=-1)
    return np.stack((gx, gy), axis=-1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Landscape:
    """A 2-D loss f(x, y) with its gradient; subclasses implement ``value`` and ``partials``."""

    name: str
    window: Window
    start: Point

    def value(self, x: ArrayLike, y: ArrayLike) -> ArrayLike:
        """f(x, y) for coordinate arrays ``x`` and ``y`` of matching shape."""
        raise NotImplementedError

    def partials(self, x: ArrayLike, y: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
        """(∂f/∂x, ∂f/∂y) for coordinate arrays ``x`` and ``y`` of matching shape."""
        raise NotImplementedError

    def loss(self, xy: ArrayLike) -> ArrayLike:
        """f at points ``xy`` of shape ``(..., 2)``; the result has shape ``(...)``.

        Far from the window f may overflow: the result is then ±inf (or NaN), without NumPy's
        overflow warnings, as on torch.
        """
        xy = _as_array(xy)
        with np.errstate(over="ignore", invalid="ignore"):
            return self.value(xy[..., 0], xy[..., 1])

    def grad(self, xy: ArrayLike) -> ArrayLike:
        """∇f at points ``xy`` of shape ``(..., 2)``; the result has shape ``(..., 2)`` (±inf on overflow)."""
        xy = _as_array(xy)
        with np.errstate(over="ignore", invalid="ignore"):
            return _stack(*self.partials(xy[..., 0], xy[..., 1]))

    @property
    def minimum(self) -> Point | None:
        """A global minimizer (x, y), or ``None`` when f is unbounded below."""
        return None

    @property
    def min_value(self) -> float | None:
        """f at ``minimum``, or ``None`` when there is no minimum."""
        return None

    @property
    def minima(self) -> tuple[Point, ...]:
        """Every global minimizer known (``minimum`` first); empty when there is none."""
        return () if self.minimum is None else (self.minimum,)

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X, Y, Z`` of shape ``(n, n)`` over ``window``, for ``plt.contour(X, Y, Z)``."""
        (x0, x1), (y0, y1) = self.window
        X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
        return X, Y, self.value(X, Y)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rosenbrock(Landscape):
    """f = (a − x)² + b (y − x²)²: a curved, narrow valley whose floor is easy to find and slow to follow.

    Minimum 0 at (a, a²). The classical start (−1.2, 1) (Rosenbrock, 1960) lies across the valley
    from the minimum, so a method must first drop into the valley and then walk along it.
    """

    a: float = 1.0
    b: float = 100.0
    name: str = "rosenbrock"
    window: Window = ((-2.0, 2.0), (-1.0, 3.0))
    start: Point = (-1.2, 1.0)

    def value(self, x, y):
        r1 = self.a - x
        r2 = y - x * x
        return r1 * r1 + self.b * (r2 * r2)

    def partials(self, x, y):
        r1 = self.a - x
        r2 = y - x * x
        return -2 * r1 - 4 * self.b * x * r2, 2 * self.b * r2

    @property
    def minimum(self) -> Point:
        return (self.a, self.a * self.a)

    @property
    def min_value(self) -> float:
        return 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Beale(Landscape):
    """f = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²: flat plateaus next to steep walls.

    Minimum 0 at (3, 0.5). Gradients range over many orders of magnitude across the window,
    which is where per-coordinate step sizes help.
    """

    name: str = "beale"
    window: Window = ((-4.5, 4.5), (-4.5, 4.5))
    start: Point = (1.0, 1.5)

    @staticmethod
    def _residuals(x, y):
        xy = x * y
        xy2 = xy * y
        return 1.5 - x + xy, 2.25 - x + xy2, 2.625 - x + xy2 * y

    def value(self, x, y):
        u1, u2, u3 = self._residuals(x, y)
        return u1 * u1 + u2 * u2 + u3 * u3

    def partials(self, x, y):
        u1, u2, u3 = self._residuals(x, y)
        y2 = y * y
        gx = 2 * u1 * (y - 1) + 2 * u2 * (y2 - 1) + 2 * u3 * (y2 * y - 1)
        gy = 2 * u1 * x + 2 * u2 * (2 * x * y) + 2 * u3 * (3 * x * y2)
        return gx, gy

    @property
    def minimum(self) -> Point:
        return (3.0, 0.5)

    @property
    def min_value(self) -> float:
        return 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Quadratic(Landscape):
    """f = ½(κ u² + v²) with (u, v) the point rotated by ``angle_degrees``: an ill-conditioned bowl.

    The Hessian has eigenvalues κ (along u) and 1 (along v), so κ is the condition number and
    L = κ the largest curvature: gradient descent converges exactly when 0 < lr < 2/L
    (``stable_lr_bound``). With angle 0 the steep axis is x and per-coordinate methods (Adagrad,
    RMSprop, Adam) can undo the ill-conditioning; a rotated bowl mixes the axes and they cannot.
    Minimum 0 at the origin.
    """

    kappa: float = 10.0
    angle_degrees: float = 0.0
    name: str = "quadratic"
    window: Window = ((-2.0, 2.0), (-2.0, 2.0))
    start: Point = (-1.8, 1.2)

    def __post_init__(self) -> None:
        if not self.kappa >= 1:
            raise ValueError(f"Invalid condition number: {self.kappa} (kappa must be >= 1)")

    @property
    def _cos_sin(self) -> tuple[float, float]:
        angle = math.radians(self.angle_degrees)
        return math.cos(angle), math.sin(angle)

    def value(self, x, y):
        c, s = self._cos_sin
        u = c * x + s * y
        v = c * y - s * x
        return 0.5 * (self.kappa * u * u + v * v)

    def partials(self, x, y):
        c, s = self._cos_sin
        u = c * x + s * y
        v = c * y - s * x
        ku = self.kappa * u
        return ku * c - v * s, ku * s + v * c

    @property
    def largest_curvature(self) -> float:
        """L, the largest eigenvalue of the Hessian (= κ; the smallest is 1)."""
        return float(self.kappa)

    @property
    def stable_lr_bound(self) -> float:
        """2/L: gradient descent with learning rate lr converges if and only if 0 < lr < 2/L."""
        return 2.0 / self.largest_curvature

    @property
    def minimum(self) -> Point:
        return (0.0, 0.0)

    @property
    def min_value(self) -> float:
        return 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Saddle(Landscape):
    """f = x² − y² + q·y⁴: a saddle at the origin, where the gradient vanishes but f has no minimum.

    With ``quartic`` q = 0 (the default) f is unbounded below: there is no minimum and every
    run that leaves the x-axis eventually diverges along y. With q > 0 the quartic term bends
    the descending direction back up, giving two global minima at (0, ±1/√(2q)) with value
    −1/(4q): a saddle to escape from, and somewhere to arrive. Starting on the x-axis, a hair
    off it, shows how fast each method escapes.
    """

    quartic: float = 0.0
    name: str = "saddle"
    window: Window = ((-2.0, 2.0), (-2.0, 2.0))
    start: Point = (-1.5, 1e-3)

    def __post_init__(self) -> None:
        if not self.quartic >= 0:
            raise ValueError(f"Invalid quartic coefficient: {self.quartic} (must be >= 0)")

    def value(self, x, y):
        y2 = y * y
        return x * x - y2 + self.quartic * (y2 * y2)

    def partials(self, x, y):
        return 2 * x, -2 * y + 4 * self.quartic * (y * y * y)

    @property
    def minimum(self) -> Point | None:
        if self.quartic == 0:
            return None
        return (0.0, (1 / (2 * self.quartic)) ** 0.5)

    @property
    def min_value(self) -> float | None:
        return None if self.quartic == 0 else -1 / (4 * self.quartic)

    @property
    def minima(self) -> tuple[Point, ...]:
        if self.quartic == 0:
            return ()
        x, y = self.minimum
        return ((x, y), (x, -y))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Himmelblau(Landscape):
    """f = (x² + y − 11)² + (x + y² − 7)²: four global minima, so the start decides where a run ends.

    All four minima have value 0; ``minimum`` is the exact one, (3, 2), and ``minima`` lists all
    four (the other three to float64 precision).
    """

    name: str = "himmelblau"
    window: Window = ((-5.0, 5.0), (-5.0, 5.0))
    start: Point = (0.0, 0.0)

    def value(self, x, y):
        r1 = x * x + y - 11
        r2 = x + y * y - 7
        return r1 * r1 + r2 * r2

    def partials(self, x, y):
        r1 = x * x + y - 11
        r2 = x + y * y - 7
        return 4 * x * r1 + 2 * r2, 2 * r1 + 4 * y * r2

    @property
    def minimum(self) -> Point:
        return (3.0, 2.0)

    @property
    def min_value(self) -> float:
        return 0.0

    @property
    def minima(self) -> tuple[Point, ...]:
        # The other three are irrational: here each is its 40-digit root (mpmath.findroot) rounded to float64.
        return ((3.0, 2.0),
                (-2.805118086952745, 3.131312518250573),
                (-3.779310253377747, -3.2831859912861696),
                (3.5844283403304917, -1.8481265269644036))


#: One instance of each landscape, with its default parameters, by name.
LANDSCAPES: dict[str, Landscape] = {
    landscape.name: landscape
    for landscape in (
        Rosenbrock(),
        Beale(),
        Quadratic(),
        Saddle(),
        Saddle(quartic=0.25, name="bounded_saddle"),
        Himmelblau(),
    )
}
