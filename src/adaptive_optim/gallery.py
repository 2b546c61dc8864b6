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


@explorer
def learning_rate() -> Explorer:
    """Gradient descent on an ill-conditioned bowl (κ = 10): too small, just right, zig-zag, diverged."""
    bowl = Quadratic(kappa=10.0)
    return explore(bowl, {"SGD": (rules.SGD(lr=0.05), {"lr": log_values(0.005, 0.4, 17)})},
                   steps=100, title="Gradient descent: the learning rate",
                   landscapes=_other_landscapes())


@explorer
def momentum() -> Explorer:
    """Plain gradient descent against heavy-ball momentum on the same bowl."""
    bowl = Quadratic(kappa=10.0)
    lrs = log_values(0.005, 0.4, 9)
    return explore(bowl, {"SGD": (rules.SGD(lr=0.05), {"lr": lrs}),
                          "Momentum": (rules.SGD(lr=0.02, momentum=0.9),
                                       {"lr": lrs, "momentum": [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99]})},
                   steps=300, title="Momentum", landscapes=_other_landscapes())


@explorer
def adagrad() -> Explorer:
    """Adagrad against plain gradient descent on the ill-conditioned bowl: lr, ε and the initial accumulator."""
    bowl = Quadratic(kappa=10.0)
    return explore(bowl, {"SGD": (rules.SGD(lr=0.05), {"lr": log_values(0.005, 0.4, 9)}),
                          "Adagrad": (rules.Adagrad(lr=0.5),
                                      {"lr": log_values(0.02, 2.0, 9), "eps": [1e-10, 1e-3, 0.1, 1.0],
                                       "initial_accumulator_value": [0.0, 0.1, 1.0]})},
                   steps=300, title="Adagrad", landscapes=_other_landscapes())


@explorer
def rmsprop() -> Explorer:
    """RMSprop against Adagrad on Rosenbrock's valley: lr and the decay α of the average."""
    valley = Rosenbrock()
    return explore(valley, {"Adagrad": (rules.Adagrad(lr=0.5), {"lr": log_values(0.02, 2.0, 9)}),
                            "RMSprop": (rules.RMSprop(lr=0.01, alpha=0.99),
                                        {"lr": log_values(0.001, 0.1, 9), "alpha": [0.5, 0.9, 0.99, 0.999],
                                         "momentum": [0.0, 0.9]})},
                   steps=300, title="RMSprop", landscapes=_other_landscapes())


@explorer
def adam() -> Explorer:
    """Adam against RMSprop on Rosenbrock: lr, β₁, β₂ and ε."""
    valley = Rosenbrock()
    return explore(valley, {"RMSprop": (rules.RMSprop(lr=0.01), {"lr": log_values(0.001, 0.1, 7)}),
                            "Adam": (rules.Adam(lr=0.05),
                                     {"lr": log_values(0.005, 0.5, 7), "beta1": [0.0, 0.5, 0.9, 0.99],
                                      "beta2": [0.9, 0.99, 0.999], "eps": [1e-8, 1e-3, 0.1]})},
                   steps=300, title="Adam", landscapes=_other_landscapes())


@explorer
def radam() -> Explorer:
    """RAdam against Adam on Beale's function, where the first steps matter: lr and β₂."""
    return explore(Beale(), {"Adam": (rules.Adam(lr=0.1), {"lr": log_values(0.01, 1.0, 7),
                                                          "beta2": [0.9, 0.99, 0.999]}),
                             "RAdam": (rules.RAdam(lr=0.01), {"lr": log_values(0.01, 1.0, 7),
                                                            "beta2": [0.9, 0.99, 0.999]})},
                   steps=300, title="RAdam", landscapes=_other_landscapes())
