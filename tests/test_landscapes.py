"""Each landscape's analytic gradient equals torch autograd's, its minimum is a minimum, its metadata fits.

Tolerance of the gradient check (float64, unit roundoff u = 2⁻⁵³). Every ``value`` and ``partials``
is built from +, − and × only, on exact inputs (the point's coordinates and float constants).
For such an expression, evaluated with n rounded operations, the computed result differs from the
exact one by at most γ_n·M, where γ_n = nu/(1 − nu) and M is the same expression evaluated with
every input and constant replaced by its absolute value and every − by + (Higham, *Accuracy and
Stability of Numerical Algorithms*, §3.1: induct over the expression tree; a sum's error is at
most the sum of its operands' errors plus one rounding, a product's at most the sum of relative
errors). Cancellation is exactly what M accounts for: near a minimum, ∇f is tiny while its terms
are not. The analytic partials are the chain rule of the loss written out, so autograd's backward
pass sums the same products, grouped differently; M bounds its error too. Both are exact up to
γ_n·M, so they differ by at most 2γ_n·M. Our longest partial (Beale's) has 26 rounded operations
counted as a tree; autograd adds a few (multiplications by the incoming gradient 1, doublings);
n = 64 covers both with room. So the test requires |analytic − autograd| ≤ 2γ₆₄·M ≈ 1.4e-14·M,
where M is computed below by running ``partials`` itself on :class:`Magnitude` numbers.
A wrong coefficient or sign changes the gradient by O(M), twelve orders of magnitude more.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptive_optim.landscapes import (
    LANDSCAPES, Beale, Himmelblau, Landscape, Quadratic, Rosenbrock, Saddle)

U = 2.0**-53


def gamma(n: int) -> float:
    return n * U / (1 - n * U)


class Magnitude:
    """A number standing for an expression evaluated on absolute values, with − turned into +."""

    def __init__(self, m):
        self.m = np.abs(m)

    @staticmethod
    def _m(other):
        return other.m if isinstance(other, Magnitude) else abs(other)

    def __add__(self, other):
        return Magnitude(self.m + self._m(other))

    __radd__ = __sub__ = __rsub__ = __add__

    def __mul__(self, other):
        return Magnitude(self.m * self._m(other))

    __rmul__ = __mul__

    def __neg__(self):
        return self


def magnitudes(landscape: Landscape, xy: np.ndarray) -> np.ndarray:
    """M for each partial derivative at each point, shape (..., 2)."""
    gx, gy = landscape.partials(Magnitude(xy[..., 0]), Magnitude(xy[..., 1]))
    return np.stack([gx.m, gy.m], axis=-1)


VARIANTS = {
    **LANDSCAPES,
    "rosenbrock_a-1.5_b10": Rosenbrock(a=-1.5, b=10.0),
    "quadratic_kappa100_30deg": Quadratic(kappa=100.0, angle_degrees=30.0),
    "quadratic_kappa7_90deg": Quadratic(kappa=7.0, angle_degrees=90.0),
    "saddle_quartic_1": Saddle(quartic=1.0),
}


def points(landscape: Landscape, n: int = 500, seed: int = 0) -> np.ndarray:
    """Random points over the window, and as many over a box twice as wide (where terms are big)."""
    (x0, x1), (y0, y1) = landscape.window
    rng = np.random.default_rng(seed)
    inside = rng.uniform([x0, y0], [x1, y1], (n, 2))
    return np.concatenate([inside, 2 * inside])


@pytest.mark.parametrize("name", VARIANTS)
def test_grad_equals_autograd(name):
    landscape = VARIANTS[name]
    xy = points(landscape)
    t = torch.tensor(xy, requires_grad=True)
    landscape.loss(t).sum().backward()
    analytic = landscape.grad(xy)
    tolerance = 2 * gamma(64) * magnitudes(landscape, xy)
    error = np.abs(analytic - t.grad.numpy())
    assert analytic.shape == xy.shape
    assert np.all(error <= tolerance), f"worst excess: {np.max(error - tolerance)}"


@pytest.mark.parametrize("name", VARIANTS)
def test_numpy_and_torch_give_identical_bits(name):
    # The same formula, in the same order of correctly rounded operations, on both backends.
    landscape = VARIANTS[name]
    xy = points(landscape, n=100)
    t = torch.tensor(xy)
    assert np.array_equal(landscape.loss(t).numpy(), landscape.loss(xy))
    assert np.array_equal(landscape.grad(t).numpy(), landscape.grad(xy))


@pytest.mark.parametrize("name", VARIANTS)
def test_shapes_dtypes_and_plain_inputs(name):
    landscape = VARIANTS[name]
    xy = points(landscape, n=12).reshape(3, 4, 2, 2)
    assert landscape.loss(xy).shape == (3, 4, 2)
    assert landscape.grad(xy).shape == (3, 4, 2, 2)
    assert landscape.loss(list(landscape.start)).shape == ()
    assert landscape.grad(landscape.start).shape == (2,)
    assert landscape.grad(np.array([1, 2])).dtype == np.float64  # integers are promoted
    t32 = torch.tensor(xy, dtype=torch.float32)
    assert landscape.loss(t32).dtype == torch.float32
    assert landscape.grad(t32).dtype == torch.float32


def hessian(landscape: Landscape, point) -> np.ndarray:
    return torch.autograd.functional.hessian(
        lambda p: landscape.loss(p), torch.tensor(point, dtype=torch.float64)).numpy()


@pytest.mark.parametrize("name", VARIANTS)
def test_minima_are_stationary_minimizers_with_min_value(name):
    landscape = VARIANTS[name]
    if landscape.minimum is None:
        assert landscape.min_value is None and landscape.minima == ()
        return
    assert landscape.minima[0] == landscape.minimum
    for point in landscape.minima:
        xy = np.array(point)
        # Exact minimizers are not always floats: the nearest float64 is off by δ ≤ u·|m| per
        # coordinate, which moves ∇f by at most ‖H‖∞·δ (f itself only by O(δ²): ∇f = 0 there).
        H = hessian(landscape, point)
        offset = np.abs(H).sum(axis=1) * U * np.abs(xy).max()
        tolerance = gamma(64) * magnitudes(landscape, xy) + 2 * offset
        assert np.all(np.abs(landscape.grad(xy)) <= tolerance)
        value_magnitude = landscape.value(Magnitude(xy[0]), Magnitude(xy[1])).m
        assert abs(landscape.loss(xy) - landscape.min_value) <= gamma(64) * value_magnitude + 1e-300
        assert np.all(np.linalg.eigvalsh(H) > 0), "a minimizer has a positive definite Hessian here"
        (x0, x1), (y0, y1) = landscape.window
        assert x0 < point[0] < x1 and y0 < point[1] < y1


@pytest.mark.parametrize("name", VARIANTS)
def test_nothing_in_the_window_is_below_min_value(name):
    landscape = VARIANTS[name]
    X, Y, Z = landscape.grid(301)
    if landscape.min_value is None:
        # Unbounded below: along the y-axis f = −y² keeps falling.
        assert landscape.loss([0.0, 1e3]) < -1e5
        return
    # Each computed Z is within γ₆₄·M of the exact value (see the module docstring).
    rounding = gamma(64) * landscape.value(Magnitude(X), Magnitude(Y)).m
    assert np.all(Z >= landscape.min_value - rounding)


@pytest.mark.parametrize("name", VARIANTS)
def test_window_start_and_grid(name):
    landscape = VARIANTS[name]
    (x0, x1), (y0, y1) = landscape.window
    assert x0 < landscape.start[0] < x1 and y0 < landscape.start[1] < y1
    X, Y, Z = landscape.grid(7)
    assert X.shape == Y.shape == Z.shape == (7, 7)
    assert (X[0, 0], X[0, -1], Y[0, 0], Y[-1, 0]) == (x0, x1, y0, y1)
    assert np.array_equal(Z, landscape.loss(np.stack([X, Y], axis=-1)))
    assert np.all(np.isfinite(Z))


def test_landscapes_by_name():
    assert all(landscape.name == name for name, landscape in LANDSCAPES.items())
    assert {"rosenbrock", "beale", "quadratic", "saddle", "himmelblau"} <= set(LANDSCAPES)
    assert all(isinstance(landscape, Landscape) for landscape in LANDSCAPES.values())
    assert LANDSCAPES["bounded_saddle"].minimum == (0.0, 2**0.5)
    assert LANDSCAPES["bounded_saddle"].min_value == -1.0


@pytest.mark.parametrize("kappa,angle", [(1.0, 0.0), (10.0, 0.0), (100.0, 30.0), (1e4, 75.0)])
def test_quadratic_curvature_and_stable_learning_rate(kappa, angle):
    landscape = Quadratic(kappa=kappa, angle_degrees=angle)
    eigenvalues = np.linalg.eigvalsh(hessian(landscape, [0.3, -0.7]))
    # Each Hessian entry (κc² + s², (κ − 1)cs, ...) is within γ₁₆(κ + 1) of exact; by Weyl's
    # inequality the eigenvalues move by at most the 2-norm of that error matrix, ≤ 2γ₁₆(κ + 1),
    # and eigvalsh adds a backward error of a few u·‖H‖ (counted generously as another 2γ₁₆(κ + 1)).
    np.testing.assert_allclose(eigenvalues, [1.0, kappa], rtol=0, atol=4 * gamma(16) * (kappa + 1))
    assert landscape.largest_curvature == kappa
    assert landscape.stable_lr_bound == 2 / kappa


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="condition number"):
        Quadratic(kappa=0.5)
    with pytest.raises(ValueError, match="quartic"):
        Saddle(quartic=-1.0)


def test_himmelblau_has_four_minima_and_beale_is_exact_at_its_minimum():
    assert len(Himmelblau().minima) == 4
    assert Beale().loss(Beale().minimum) == 0.0
    assert np.all(Beale().grad(Beale().minimum) == 0.0)
