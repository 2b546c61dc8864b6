"""Learning-rate schedules as per-step multipliers, taken from ``torch.optim.lr_scheduler`` itself.

:func:`adaptive_optim.sweeps.train` takes a schedule as a table of lr multipliers, one per step
(``lr_schedule``). Rather than re-deriving torch's formulas, :func:`multipliers` steps a torch
scheduler on a throwaway optimizer and records the multiplier it sets, so a sweep follows exactly
the schedule a ``torch.optim`` loop with that scheduler would. :func:`shape` builds the book's
schedules (a linear warmup, then constant, cosine, step or one-cycle) from torch's schedulers, and
:func:`untuned_warmup` gives Ma and Yarats' warmups for a given β₂.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.optim import lr_scheduler

#: The schedule shapes :func:`shape` knows.
SHAPES = ("constant", "cosine", "step", "one-cycle")


def multipliers(make_scheduler: Callable[[torch.optim.Optimizer], lr_scheduler.LRScheduler], steps: int) -> np.ndarray:
    """The lr multiplier at steps 0, ..., steps − 1 of ``make_scheduler(optimizer)``, stepped once per
    step as in a training loop (``optimizer.step(); scheduler.step()``)."""
    if steps < 1:
        raise ValueError(f"steps must be a positive number of steps, got {steps}")
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = make_scheduler(optimizer)
    factors = []
    for _ in range(steps):
        factors.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradient: nothing moves, but the scheduler sees a step was taken
        scheduler.step()
    return np.asarray(factors, dtype=np.float64)


def scheduler(name: str, optimizer: torch.optim.Optimizer, steps: int, warmup: int) -> lr_scheduler.LRScheduler:
    """Torch's scheduler for the book's schedule ``name`` (one of ``SHAPES``) over ``steps`` steps.

    The first ``warmup`` steps scale the lr by (t + 1)/warmup (t = 0, 1, ...), as ``LinearLR`` does
    from ``start_factor = 1/warmup``; then ``constant`` keeps it, ``cosine`` anneals it to 0 at the
    last step (``CosineAnnealingLR``), ``step`` multiplies it by 0.1 halfway through the remaining
    steps and again at three quarters (``MultiStepLR``). ``one-cycle`` is ``OneCycleLR`` with its
    rise over ``max(warmup, 2)`` steps (from lr/25, torch's default), no momentum cycling.
    """
    if name not in SHAPES:
        raise ValueError(f"unknown schedule {name!r}; the schedules are {', '.join(SHAPES)}")
    if not 0 <= warmup < steps:
        raise ValueError(f"warmup must lie in 0..{steps - 1} steps, got {warmup}")
    if name == "one-cycle":
        return lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                       total_steps=steps, pct_start=max(warmup, 2) / steps,
                                       cycle_momentum=False)
    rest = steps - warmup
    if name == "constant":
        after = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    elif name == "cosine":
        after = lr_scheduler.CosineAnnealingLR(optimizer, T_max=rest - 1)
    else:
        after = lr_scheduler.MultiStepLR(optimizer, milestones=[rest // 2, (3 * rest) // 4], gamma=0.1)
    if warmup == 0:
        return after
    ramp = lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, total_iters=max(warmup - 1, 1))
    return lr_scheduler.SequentialLR(optimizer, [ramp, after], milestones=[warmup])


def shape(name: str, steps: int, warmup: int = 0) -> np.ndarray:
    """The multipliers of :func:`scheduler` ``(name, ..., steps, warmup)``, one per step."""
    return multipliers(lambda optimizer: scheduler(name, optimizer, steps, warmup), steps)


def untuned_warmup(steps: int, beta2: float, form: str = "linear") -> np.ndarray:
    """Ma and Yarats' (2019) untuned warmup for Adam with β₂ at steps t = 1, ..., steps:
    ``linear`` ω_t = min(1, (1 − β₂) t / 2), over 2/(1 − β₂) steps; ``exponential``
    ω_t = 1 − exp(−(1 − β₂) t)."""
    if not 0 <= beta2 < 1:
        raise ValueError(f"beta2 must lie in [0, 1), got {beta2}")
    t = np.arange(1, steps + 1, dtype=np.float64)
    if form == "linear":
        return np.minimum(1.0, (1 - beta2) * t / 2)
    if form == "exponential":
        return 1 - np.exp(-(1 - beta2) * t)
    raise ValueError(f"form must be 'linear' or 'exponential', got {form!r}")
