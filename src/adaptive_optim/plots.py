"""Drawing helpers the chapters share, in the book's one style (see :mod:`adaptive_optim.style`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .landscapes import Landscape


def draw_landscape(ax: Any, landscape: Landscape, levels: Any = 25, *, log: bool = True) -> None:
    """Contour lines of ``landscape`` on ``ax`` (of log10(f − f_min) unless ``log=False``), its
    minima as black stars, the axes limited to its window with equal scales."""
    X, Y, Z = landscape.grid(300)
    if log:
        Z = np.log10(Z - (landscape.min_value or 0.0) + 1e-3)
    ax.contour(X, Y, Z, levels=levels, colors="#bbbbbb", linewidths=0.6)
    for point in landscape.minima:
        ax.plot(*point, marker="*", color="black", markersize=10, linestyle="none")
    (x0, x1), (y0, y1) = landscape.window
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="$x$", ylabel="$y$", aspect="equal")
    ax.grid(False)


def best_value(losses: np.ndarray, values: Any) -> float:
    """The entry of ``values`` whose run has the lowest of ``losses`` (NaN, i.e. diverged, runs never win)."""
    return float(np.asarray(values)[np.nanargmin(losses)])
