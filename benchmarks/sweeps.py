"""How much faster a batched sweep is than separate loops: 32 trainings of a small CNN on the digits
(8 learning rates × 4 seeds, Adam, 100 steps of 64 images) as one ``sweeps.train`` call and as 32
ordinary ``torch.optim.Adam`` loops, float32. Target on the CPU: the sweep takes at most a quarter of
the loops' time (a speed-up of at least 4×).

The CNN is the one the book's real-networks chapter (``practice.ipynb``) trains on the digits:
conv(1→w) – ReLU – max-pool 2 – conv(w→2w) – ReLU – max-pool 2 – linear(8w→10), for several widths w
(the book uses w = 8). ``--model strided`` measures instead the CNN of the first version of this
benchmark, conv(1→w) – ReLU – conv(w→2w, stride 2) – ReLU – linear(32w→10), without pooling.
Both sides do the same work: the same seeds, the same batches, the loss read back at every step
(``loss.item()`` in the loops, as a training loop that logs does; the sweep records it). Each figure
is the median of ``--repeats`` runs after a warm-up run, the two sides alternating, in wall-clock
seconds and in CPU seconds of this process; on a shared, busy machine the CPU seconds are the
steadier measure (the wall clock also counts the time other programs hold the cores).
``--device cuda`` runs it on a GPU with wider CNNs. By default both sides use torch's number of
threads (one per core): the sweep's large operations use every core, the loops' small ones barely
gain from a second thread. ``--threads 1`` gives both sides one thread: the gain of batching per
core. On a busy machine, where other programs hold the cores, torch's threads wait on each other and
every figure with more than one thread becomes erratic (loops slowed tens of times); measure on a
quiet machine or with ``--threads 1``. ``--chunk-size`` passes ``sweeps.train`` a chunk size.

The sweep's figures also depend on the C library's memory allocator, the loops' hardly at all. With
glibc (Linux), the sweep's large activations (4 MiB each for width 8) come from the top of the heap,
and when a step frees them glibc hands that memory back to the system if more of the top is free
than its trim threshold (twice the largest block it has mapped and freed, as glibc adapts it); the
next step then takes every page afresh from the kernel (60 to 3,700 page faults per step for width 8
in a fresh process, depending on the order of frees; 20-40% of the sweep's time). ``sweeps.train``
therefore allocates and frees one 30 MiB block once per process on the CPU, which raises those
thresholds (see its module docstring). ``MALLOC_TRIM_THRESHOLD_=268435456
MALLOC_MMAP_THRESHOLD_=67108864``, set before Python starts, keep freed memory for the whole process
too; the header line names the allocator settings a run had (these variables, ``GLIBC_TUNABLES``,
``LD_PRELOAD``, ``THP_MEM_ALLOC_ENABLE``).

    python benchmarks/sweeps.py                    # CPU
    python benchmarks/sweeps.py --device cuda      # GPU, larger model
"""

from __future__ import annotations

import argparse
import functools
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
    """The book's CNN for 8×8 digits (two convolutions, each followed by max-pooling), ``width``
    channels in the first layer."""
    def make() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(8 * width, 10)).to(device)
    return make


def strided_cnn(width: int, device: str) -> Callable[[], nn.Module]:
    """A two-convolution CNN for 8×8 digits without pooling (the second convolution has stride 2)."""
    def make() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
                             nn.Flatten(), nn.Linear(2 * width * 16, 10)).to(device)
    return make


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def batched(make, batches, lrs, seeds, device, chunk_size=None) -> None:
    sweep = sweeps.train(make, rules.Adam(lr=lrs), batches, F.cross_entropy, seeds=seeds, chunk_size=chunk_size)
    synchronize(device)
    assert sweep.losses.shape == (len(batches), len(seeds))


def loops(make, batches, lrs, seeds, device) -> None:
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


def allocator() -> str:
    """The allocator settings that change the sweep's figures (see the module docstring), if set."""
    names = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD", "THP_MEM_ALLOC_ENABLE")
    return " ".join(f"{k}={os.environ[k]}" for k in names if k in os.environ) or "the C library's defaults"


def timed(job: Callable[..., None], *args) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, all threads) of ``job(*args)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    job(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--widths", type=int, nargs="+", default=None,
                        help="channels of the first convolution (default: 4 8 16 on the CPU, 64 128 on CUDA)")
    parser.add_argument("--model", choices=("book", "strided"), default="book",
                        help="the book's CNN (with max-pooling) or the strided CNN without pooling")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--batch", type=int, default=BATCH, help="images per step")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="sweeps.train's chunk_size: runs trained at once (default: all)")
    args = parser.parse_args()
    device = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    widths = args.widths or ([64, 128] if device == "cuda" else [4, 8, 16])
    data = datasets.digits()
    batches = [(x.to(device), y.to(device)) for x, y in data.train.batches(args.batch, args.steps, seed=0)]
    lrs = LRS.repeat_interleave(len(SEEDS)).float()
    seeds = list(SEEDS) * len(LRS)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    where = (torch.cuda.get_device_name() if device == "cuda"
             else f"{platform.processor() or 'CPU'}, {cpus} cores, {torch.get_num_threads()} torch threads")
    print(f"{args.model} CNN; {len(seeds)} runs ({len(LRS)} lrs x {len(SEEDS)} seeds), {args.steps} steps of {args.batch} digits, Adam, "
          f"float32, on {where}; torch {torch.__version__}; median of {args.repeats} after a warm-up; "
          f"sweep chunks of {args.chunk_size or len(seeds)} runs; allocator: {allocator()}")
    print(f"{'':18}{'wall-clock seconds':>30}{'CPU seconds':>30}")
    print(f"{'width':>6}{'parameters':>12}" + f"{'loops':>10}{'batched':>10}{'speed-up':>10}" * 2)
    for width in widths:
        make = (cnn if args.model == "book" else strided_cnn)(width, device)
        params = sum(p.numel() for p in make().parameters())
        times: dict[str, list[tuple[float, float]]] = {"batched": [], "loops": []}
        for i in range(args.repeats + 1):
            for name, job in (("batched", functools.partial(batched, chunk_size=args.chunk_size)), ("loops", loops)):
                seconds = timed(job, make, batches, lrs, seeds, device)
                if i > 0:  # the first round warms up
                    times[name].append(seconds)
        row = f"{width:6d}{params:12,d}"
        for column in (0, 1):
            loops_s = statistics.median(t[column] for t in times["loops"])
            sweep_s = statistics.median(t[column] for t in times["batched"])
            row += f"{loops_s:10.2f}{sweep_s:10.2f}{loops_s / sweep_s:9.1f}x"
        print(row, flush=True)
    print(f"target on the CPU: a speed-up of at least {TARGET:.0f}x")


if __name__ == "__main__":
    main()
