"""How much faster a batched sweep is than separate loops: 32 trainings of a small CNN on the digits
(8 learning rates × 4 seeds, Adam, 100 steps of 64 images) as one ``sweeps.train`` call and as 32
ordinary ``torch.optim.Adam`` loops, float32. Target on the CPU: the sweep takes at most a quarter of
the loops' time (a speed-up of at least 4×).

A CNN here is conv(1→w) – ReLU – conv(w→2w, stride 2) – ReLU – linear(32w→10), for several widths w.
Both sides do the same work: the same seeds, the same batches, the loss read back at every step
(``loss.item()`` in the loops, as a training loop that logs does; the sweep records it). Each figure
is the median wall-clock time of ``--repeats`` runs after a warm-up run, the two sides alternating.
``--device cuda`` runs it on a GPU with wider CNNs. ``--threads 1`` gives both sides one thread, which
on a shared, busy machine keeps the two from fighting over cores.

    python benchmarks/sweeps.py                    # CPU
    python benchmarks/sweeps.py --device cuda      # GPU, larger model
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from adaptive_optim import datasets, rules, sweeps

LRS = torch.logspace(-4, -0.5, 8, dtype=torch.float64)
SEEDS = range(4)
STEPS, BATCH = 100, 64
TARGET = 4.0


def cnn(width: int, device: str) -> Callable[[], nn.Module]:
    """A two-convolution CNN for 8×8 digits, ``width`` channels in the first layer."""
    def make() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
                             nn.Flatten(), nn.Linear(2 * width * 16, 10)).to(device)
    return make


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def batched(make, batches, lrs, seeds, device) -> float:
    start = time.perf_counter()
    sweep = sweeps.train(make, rules.Adam(lr=lrs), batches, F.cross_entropy, seeds=seeds)
    synchronize(device)
    seconds = time.perf_counter() - start
    assert sweep.losses.shape == (len(batches), len(seeds))
    return seconds


def loops(make, batches, lrs, seeds, device) -> float:
    start = time.perf_counter()
    for lr, seed in zip(lrs.tolist(), seeds):
        torch.manual_seed(seed)
        model = make()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for x, y in batches:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.item()
            loss.backward()
            opt.step()
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--widths", type=int, nargs="+", default=None,
                        help="channels of the first convolution (default: 4 8 16 on the CPU, 64 128 on CUDA)")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    device = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    widths = args.widths or ([64, 128] if device == "cuda" else [4, 8, 16])
    data = datasets.digits()
    batches = [(x.to(device), y.to(device)) for x, y in data.train.batches(BATCH, args.steps, seed=0)]
    lrs = LRS.repeat_interleave(len(SEEDS)).float()
    seeds = list(SEEDS) * len(LRS)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    where = (torch.cuda.get_device_name() if device == "cuda"
             else f"{platform.processor() or 'CPU'}, {cpus} cores, {torch.get_num_threads()} torch threads")
    print(f"{len(seeds)} runs ({len(LRS)} lrs x {len(SEEDS)} seeds), {args.steps} steps of {BATCH} digits, Adam, "
          f"float32, on {where}; torch {torch.__version__}; median of {args.repeats} after a warm-up")
    print(f"{'width':>6}{'parameters':>12}{'loops s':>10}{'batched s':>11}{'speed-up':>10}")
    for width in widths:
        make = cnn(width, device)
        params = sum(p.numel() for p in make().parameters())
        times: dict[str, list[float]] = {"batched": [], "loops": []}
        for i in range(args.repeats + 1):
            for name, job in (("batched", batched), ("loops", loops)):
                seconds = job(make, batches, lrs, seeds, device)
                if i > 0:  # the first round warms up
                    times[name].append(seconds)
        sweep_s, loops_s = statistics.median(times["batched"]), statistics.median(times["loops"])
        print(f"{width:6d}{params:12,d}{loops_s:10.2f}{sweep_s:11.2f}{loops_s / sweep_s:9.1f}x", flush=True)
    print(f"target on the CPU: a speed-up of at least {TARGET:.0f}x")


if __name__ == "__main__":
    main()
