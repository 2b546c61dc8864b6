"""The shared drawing helpers."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from adaptive_optim import landscapes, plots  # noqa: E402


def test_best_value_skips_diverged_runs():
    assert plots.best_value(np.array([3.0, np.nan, 1.0, 2.0]), [0.1, 0.2, 0.3, 0.4]) == 0.3


def test_draw_landscape_marks_every_minimum_within_the_window():
    ax = Figure().add_subplot()
    himmelblau = landscapes.Himmelblau()
    plots.draw_landscape(ax, himmelblau)
    assert len(ax.lines) == len(himmelblau.minima) == 4
    assert ax.get_xlim() == himmelblau.window[0] and ax.get_ylim() == himmelblau.window[1]
