"""How long the vectorized runner takes: 10,000 Adam trajectories × 500 steps on Rosenbrock (NumPy, float64).

Target: at most 0.5 s on a 2-core CPU. Each figure is the median of a few repeats after a
warm-up run. Run with ``make bench`` or ``python benchmarks/trajectories.py``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from adaptive_optim.landscapes import Rosenbrock
from adaptive_optim.rules import Adam
from adaptive_optim.trajectories import grid, run

TRAJECTORIES = 10_000
STEPS = 500
REPEATS = 5
TARGET_S = 0.5


def median_time(job: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall-clock seconds of ``job`` over ``repeats`` runs, after one warm-up run."""
    job()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    landscape = Rosenbrock()
    (x0, x1), (y0, y1) = landscape.window
    starts = np.random.default_rng(0).uniform([x0, y0], [x1, y1], (TRAJECTORIES, 2))
    side = int(TRAJECTORIES**0.5)
    g = grid(lr=np.logspace(-3, 0, side), beta1=np.linspace(0.0, 0.99, side))

    cases = {
        f"{TRAJECTORIES:,} starts, Adam(lr=1e-2)": lambda: run(Adam(lr=1e-2), landscape, starts, STEPS),
        f"{side}×{side} grid of lr × β₁, one start": lambda: run(
            Adam(lr=g.lr, betas=(g.beta1, 0.999)), landscape, steps=STEPS),
    }
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPU cores: {os.cpu_count()} ({available} available to this process), "
          f"{platform.processor() or platform.machine()}; NumPy {np.__version__}")
    print(f"{TRAJECTORIES:,} Adam trajectories × {STEPS} steps on Rosenbrock, float64 "
          f"(median of {REPEATS} after a warm-up; target ≤ {TARGET_S} s):")
    for label, job in cases.items():
        seconds = median_time(job)
        verdict = "ok" if seconds <= TARGET_S else "over target"
        print(f"  {label:<40} {seconds:6.3f} s   {seconds / STEPS * 1e3:.3f} ms/step   {verdict}")


if __name__ == "__main__":
    main()
