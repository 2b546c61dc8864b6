"""Small experiments the chapters share: the check against torch.optim and the timed MLP run.

Both take an optimizer's name and keyword arguments and run ``adaptive_optim.optim``'s class
next to ``torch.optim``'s, so every chapter checks and times its optimizer the same way.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from . import optim


def mlp(inputs: int, hidden: int, outputs: int, *, seed: int = 0, device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """A two-layer tanh MLP with seeded weights."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, outputs))
    return net.to(device=device, dtype=dtype)


def regression_data(n: int, inputs: int, outputs: int, *, seed: int = 1, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs x ~ N(0, 1) and targets from a fixed random tanh teacher plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g, dtype=torch.float64)
    w = torch.randn(inputs, outputs, generator=g, dtype=torch.float64) / inputs**0.5
    y = torch.tanh(x @ w) + 0.1 * torch.randn(n, outputs, generator=g, dtype=torch.float64)
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def largest_difference_from_torch(name: str, steps: int = 100, dtype: torch.dtype = torch.float64,
                                  **kwargs: Any) -> float:
    """Train the same small network with ``adaptive_optim.optim.<name>`` and ``torch.optim.<name>``
    for ``steps`` full-batch steps; the largest absolute difference between their parameters."""
    x, y = regression_data(64, 4, 2, dtype=dtype)
    nets = [mlp(4, 16, 2, dtype=dtype), mlp(4, 16, 2, dtype=dtype)]
    opts = [getattr(optim, name)(nets[0].parameters(), **kwargs),
            getattr(torch.optim, name)(nets[1].parameters(), **kwargs)]
    for _ in range(steps):
        for net, opt in zip(nets, opts):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
            opt.step()
    return max((p - q).abs().max().item() for p, q in zip(nets[0].parameters(), nets[1].parameters()))


@dataclasses.dataclass(frozen=True)
class Timing:
    """One timed training run: which implementation, its final loss and seconds per step."""

    implementation: str
    final_loss: float
    seconds_per_step: float


def time_training(name: str, device: torch.device | str, *, steps: int | None = None, width: int | None = None,
                  **kwargs: Any) -> list[Timing]:
    """Train an MLP with ``adaptive_optim.optim.<name>`` and with ``torch.optim.<name>`` on ``device``.

    On CUDA the network is wide (1024 hidden units, 8192 examples, 200 steps); on CPU the same
    code runs smaller (128 units, 1024 examples, 50 steps), so the cell also runs in CI.
    """
    cuda = torch.device(device).type == "cuda"
    width = width or (1024 if cuda else 128)
    steps = steps or (200 if cuda else 50)
    x, y = regression_data(8192 if cuda else 1024, 32, 8, device=device)
    timings = []
    for label, module in (("adaptive_optim", optim), ("torch.optim", torch.optim)):
        net = mlp(32, width, 8, device=device)
        opt = getattr(module, name)(net.parameters(), **kwargs)

        def step() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(x), y)
            loss.backward()
            opt.step()
            return loss

        step()  # warm-up: allocations, kernel selection
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps - 1):
            loss = step()
        if cuda:
            torch.cuda.synchronize()
        timings.append(Timing(label, loss.item(), (time.perf_counter() - start) / (steps - 1)))
    return timings


def timing_table(timings: list[Timing]) -> str:
    """Timings as lines: implementation, final loss (6 significant digits) and ms per step."""
    return "\n".join(f"{t.implementation:>15}: final loss {t.final_loss:.6g}, {1e3 * t.seconds_per_step:.2f} ms per step"
                     for t in timings)
