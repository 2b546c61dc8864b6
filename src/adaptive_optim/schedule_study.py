"""The schedules chapter's experiment: Adam, RAdam and schedule-free AdamW on the digits CNN,
over a grid of peak learning rates, warmup lengths and schedule shapes, several seeds each.

Every (optimizer, lr, warmup, shape, seed) is one run of :func:`adaptive_optim.sweeps.train`: one
sweep per optimizer holds all its runs, each with its own row of lr multipliers (taken from
``torch.optim.lr_scheduler`` by :mod:`adaptive_optim.schedules`). Schedule-free AdamW trains at y;
its runs are evaluated at x, the average it is meant to be evaluated at, recovered from y and z.

The chapter's conclusions come from a smaller grid it runs itself with :func:`run` (about a
minute on one CPU core). The full grid takes minutes, so the chapter's explorer replays it from a
file that ships with the package, written once by ``python -m adaptive_optim.schedule_study``
(:func:`main`) and read by :func:`load`; the chapter checks that the runs it executed equal the
file's.
"""

from __future__ import annotations

import importlib.resources
import itertools
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F

from . import datasets, rules, schedules, sweeps
from .rules.schedule_free import x_from_y

OPTIMIZERS = ("Adam", "RAdam", "schedule-free AdamW")
LRS = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
WARMUPS = (0, 10, 40, 100)
SHAPES = schedules.SHAPES
SEEDS = (0, 1, 2, 3, 4)
STEPS, BATCH, WIDTH = 200, 64, 8
#: The grid's file, inside the package.
DATA = "data/schedule_runs.npz"
#: Training losses are stored as means over blocks of this many steps.
BLOCK = 5


def make_cnn(width: int = WIDTH, device: torch.device | str = "cpu") -> nn.Module:
    """conv(1→w) – ReLU – conv(w→2w, stride 2) – ReLU – linear(32w→10), for 8×8 digits."""
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(2 * width * 16, 10)).to(device)


def rule(name: str, lr: Any) -> rules.Rule:
    """The optimizer ``name`` (one of ``OPTIMIZERS``) with torch's (or the package's) defaults and ``lr``."""
    if name == "Adam":
        return rules.Adam(lr=lr)
    if name == "RAdam":
        return rules.RAdam(lr=lr)
    if name == "schedule-free AdamW":
        return rules.AdamWScheduleFree(lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; the optimizers are {', '.join(OPTIMIZERS)}")


def evaluate(make_model, params: dict[str, torch.Tensor], split: datasets.Split) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy of every run's parameters (stacked, (K, ...)) on ``split``."""
    base = make_model()
    inputs, targets = split.inputs.to(next(iter(params.values())).device), split.targets
    with torch.no_grad():
        logits = vmap(lambda p: functional_call(base, p, (inputs,)))(params).cpu()
    loss = torch.stack([F.cross_entropy(out, targets) for out in logits])
    accuracy = (logits.argmax(-1) == targets).double().mean(-1)
    return loss.double().numpy(), accuracy.numpy()


def run(optimizer: str, lrs: Sequence[float] = LRS, warmups: Sequence[int] = WARMUPS,
        shapes: Sequence[str] = SHAPES, seeds: Sequence[int] = SEEDS, *, steps: int = STEPS,
        width: int = WIDTH, device: torch.device | str = "cpu") -> dict[str, np.ndarray]:
    """All runs of one optimizer over the grid, as one sweep. Returns arrays indexed
    [lr, warmup, shape, seed]: ``curve`` (…, steps // BLOCK) block means of the training loss,
    ``val_loss`` and ``val_accuracy`` after the last step (at x for schedule-free AdamW)."""
    grid = list(itertools.product(range(len(lrs)), range(len(warmups)), range(len(shapes)), range(len(seeds))))
    tables = {(w, s): schedules.shape(shapes[s], steps, warmups[w])
              for w in range(len(warmups)) for s in range(len(shapes))}
    lr = torch.tensor([lrs[i] for i, _, _, _ in grid], dtype=torch.float64)
    table = np.stack([tables[(w, s)] for _, w, s, _ in grid], axis=1)           # (steps, K)
    data = datasets.digits()
    make = lambda: make_cnn(width, device)  # noqa: E731
    sweep = sweeps.train(make, rule(optimizer, lr), data.train.batches(BATCH, steps), F.cross_entropy,
                         seeds=[seeds[k] for _, _, _, k in grid], lr_schedule=table)
    params = sweep.params
    if optimizer == "schedule-free AdamW":
        beta1 = rules.AdamWScheduleFree().betas[0]
        params = {n: x_from_y(p, sweep.state[n]["z"], beta1) for n, p in params.items()}
    val_loss, val_accuracy = evaluate(make, params, data.validation)
    shape = (len(lrs), len(warmups), len(shapes), len(seeds))
    losses = sweep.losses.numpy()
    curve = losses[: steps // BLOCK * BLOCK].reshape(steps // BLOCK, BLOCK, -1).mean(1).T
    return {"curve": curve.reshape(*shape, -1), "val_loss": val_loss.reshape(shape),
            "val_accuracy": val_accuracy.reshape(shape), "seconds": np.array(sweep.seconds)}


def main(path: str) -> None:
    """Run the whole grid for every optimizer and save it to ``path`` (an .npz file)."""
    torch.set_num_threads(1)
    out: dict[str, Any] = {"lrs": np.array(LRS), "warmups": np.array(WARMUPS), "shapes": np.array(SHAPES),
                           "seeds": np.array(SEEDS), "optimizers": np.array(OPTIMIZERS),
                           "steps": np.array(STEPS), "block": np.array(BLOCK)}
    for i, name in enumerate(OPTIMIZERS):
        start = time.process_time()
        result = run(name)
        print(f"{name}: {time.process_time() - start:.0f} s CPU", flush=True)
        for key in ("curve", "val_loss", "val_accuracy"):
            out[f"{key}_{i}"] = result[key].astype(np.float32)
    np.savez_compressed(path, **out)


def load() -> dict[str, np.ndarray]:
    """The grid as :func:`main` saved it (the copy that ships with the package)."""
    with importlib.resources.files(__package__).joinpath(DATA).open("rb") as file:
        with np.load(file) as data:
            return {key: data[key] for key in data.files}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("data") / "schedule_runs.npz"))
