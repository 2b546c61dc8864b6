"""The book's explorers, one function each, so a chapter adds one with a single line
(``gallery.learning_rate()``) and the tests and the benchmark can find them all.

A new explorer is a function here that returns :func:`adaptive_optim.explorers.explore`'s
result, registered with ``@explorer``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import rules
from .explorers import Explorer, explore
from .landscapes import Beale, Himmelblau, Quadratic, Rosenbrock

#: Every registered explorer, by name (the function's name).
EXPLORERS: dict[str, Callable[[], Explorer]] = {}


def explorer(function: Callable[[], Explorer]) -> Callable[[], Explorer]:
    """Register ``function`` in :data:`EXPLORERS`."""
    EXPLORERS[function.__name__] = function
    return function


def log_values(low: float, high: float, n: int) -> list[float]:
    """``n`` log-spaced slider values from ``low`` to ``high``, rounded to 3 significant digits."""
    return [float(f"{v:.3g}") for v in np.geomspace(low, high, n)]


def _other_landscapes():
    return [Rosenbrock(), Beale(), Himmelblau(), Quadratic(kappa=50.0)]


#: Learning rates for the κ = 10 bowl (L = 10, λ_min = 1): coarse up to 0.15, then fine around the
#: chapter's two landmarks, η* = 2/(λ_min + L) = 2/11 (the fastest) and 2/L = 0.2 (the edge).
BOWL_LRS: list = [0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.12, 0.14, 0.15, 0.16, 0.17, (2 / 11, "η*"), 0.19, 0.195, (0.2, "2/L"), 0.205,
                  0.21, 0.22, 0.25, 0.3, 0.4]


@explorer
def learning_rate() -> Explorer:
    """Gradient descent on an ill-conditioned bowl (κ = 10): too small, just right, zig-zag, diverged."""
    bowl = Quadratic(kappa=10.0)
    return explore(bowl, {"SGD": (rules.SGD(lr=0.05), {"lr": BOWL_LRS})},
                   steps=100, title="Gradient descent: the learning rate",
                   landscapes=_other_landscapes())


@explorer
def momentum() -> Explorer:
    """Plain gradient descent against heavy-ball momentum on the same bowl.

    The heavy ball's edge of stability is η = 2(1 + μ)/L: 0.38 for μ = 0.9, hence 0.37 and 0.39.
    """
    bowl = Quadratic(kappa=10.0)
    lrs = [0.005, 0.01, 0.02, 0.05, 0.1, 0.15, (2 / 11, "η*"), (0.2, "2/L"), 0.25, 0.3, 0.37, 0.39]
    return explore(bowl, {"SGD": (rules.SGD(lr=0.05), {"lr": lrs}),
                          "Momentum": (rules.SGD(lr=0.02, momentum=0.9),
                                       {"lr": lrs, "momentum": [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99]})},
                   steps=300, title="Momentum", landscapes=_other_landscapes())


@explorer
def adagrad() -> Explorer:
    """Adagrad against plain gradient descent on the ill-conditioned bowl: η, ε and the initial
    accumulator s₀ (ε = 1 makes the first steps gradient descent with a learning rate near η/ε)."""
    bowl = Quadratic(kappa=10.0)
    return explore(bowl, {"SGD": (rules.SGD(lr=0.05), {"lr": [0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25]}),
                          "Adagrad": (rules.Adagrad(lr=0.5),
                                      {"lr": [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0],
                                       "eps": [1e-10, 0.01, 0.1, 0.3, 1.0],
                                       "initial_accumulator_value": [0.0, 0.1, 1.0, 10.0]})},
                   steps=300, title="Adagrad", landscapes=_other_landscapes())


@explorer
def rmsprop() -> Explorer:
    """RMSprop against Adagrad on Rosenbrock's valley: η, the decay α of the average and the momentum μ.

    It opens where the chapter's point shows: Adagrad's steps have shrunk and it creeps, while
    RMSprop, whose average forgets, keeps moving along the valley.
    """
    valley = Rosenbrock()
    return explore(valley, {"Adagrad": (rules.Adagrad(lr=0.5), {"lr": [0.05, 0.1, 0.2, 0.5, 1.0, 2.0]}),
                            "RMSprop": (rules.RMSprop(lr=0.05, alpha=0.99),
                                        {"lr": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2],
                                         "alpha": [0.5, 0.9, 0.99, 0.999],
                                         "momentum": [0.0, 0.5, 0.9, 0.95]})},
                   steps=300, title="RMSprop", landscapes=_other_landscapes())


@explorer
def adam() -> Explorer:
    """Adam against RMSprop on Rosenbrock: η, β₁, β₂ and ε (β₁ = 0 is RMSprop with bias correction;
    a large ε turns Adam into momentum SGD where the gradients are small)."""
    valley = Rosenbrock()
    return explore(valley, {"RMSprop": (rules.RMSprop(lr=0.05), {"lr": [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]}),
                            "Adam": (rules.Adam(lr=0.2),
                                     {"lr": [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
                                      "beta1": [0.0, 0.5, 0.9, 0.99], "beta2": [0.9, 0.99, 0.999],
                                      "eps": [1e-8, 0.01, 0.1, 1.0]})},
                   steps=300, title="Adam", landscapes=_other_landscapes())


@explorer
def radam() -> Explorer:
    """RAdam against Adam on Beale's function, where the first steps matter: η and β₂ for both."""
    lrs = [0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    beta2s = [0.9, 0.95, 0.99, 0.999]
    return explore(Beale(), {"Adam": (rules.Adam(lr=0.1), {"lr": lrs, "beta2": beta2s}),
                             "RAdam": (rules.RAdam(lr=0.01), {"lr": lrs, "beta2": beta2s})},
                   steps=300, title="RAdam", landscapes=_other_landscapes())


@explorer
def lion() -> Explorer:
    """Lion against Adam on the rotated bowl of the beyond-Adam chapter (κ = 10, turned 30°): η for
    both, Lion's β₁ and β₂. Every Lion step moves each coordinate by exactly ±η, so its path runs on
    diagonals of a lattice of spacing η and never shortens: it circles the minimum instead of
    settling. The start is off that lattice for every η offered (a start on it lets Lion land on the
    minimum exactly, a coincidence of the grid, not a property of the method)."""
    bowl = Quadratic(kappa=10.0, angle_degrees=30.0)
    lrs = [0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    return explore(bowl, {"Adam": (rules.Adam(lr=0.1), {"lr": lrs}),
                          "Lion": (rules.Lion(lr=0.1), {"lr": lrs, "beta1": [0.0, 0.5, 0.9, 0.99],
                                                         "beta2": [0.9, 0.99, 0.999]})},
                   steps=150, start=(-1.7345, 1.2135), title="Lion", landscapes=_other_landscapes())


@explorer
def lamb() -> Explorer:
    """LAMB against Adam on Rosenbrock's valley, whose minimum (1, 1) is away from the origin: η for
    both. The trust ratio makes every LAMB step η‖θ‖ long (the whole point is one layer), whatever
    the gradient: far from the origin its steps are long, and a path that passes near the origin
    all but stops there, where the loss is 1 (the package's φ clips ‖θ‖ to [0, 10], with no lower
    bound γ_l)."""
    lrs = [0.003, 0.01, 0.03, 0.1, 0.3]
    return explore(Rosenbrock(), {"Adam": (rules.Adam(lr=0.1), {"lr": lrs}),
                                  "LAMB": (rules.Lamb(lr=0.03, correct_moments=True), {"lr": lrs})},
                   steps=300, title="LAMB", landscapes=_other_landscapes())
