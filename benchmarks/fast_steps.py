"""How long one ``step()`` of the package's drop-in optimizers takes, side by side with torch.optim's.

Two models, as plain parameter tensors with fixed random gradients: 10M parameters in 20 tensors
(500k each) and 1M parameters in 200 tensors (5k each). Six optimizers (SGD with momentum, Adagrad,
RMSprop, Adam, AdamW, RAdam), each run five ways: torch.optim's per-tensor loop (``foreach=False``,
its default on the CPU), its ``foreach=True`` path, its ``fused=True`` kernel where it has one, and
ours with default flags and with ``fused=True`` (the same rule compiled by ``torch.compile``).

Every figure is the median, over ``--repeats`` rounds, of the mean time of ``--steps`` consecutive
steps, after warm-up steps (which include compiling). The five ways take turns inside each round,
so a burst of load from other programs on a shared machine hits all of them alike. Ratios are ours
over torch's: "default" is ours (default flags) ÷ torch's default; "fused" is ours (fused=True) ÷
torch's fused kernel where torch has one, else ÷ the faster of torch's loop and foreach paths.

It also reports the time of the first fused step (the compile) and the number of compilations while
an lr scheduler changes lr at every step (the goal: none after the first), and, on a GPU, each
fused step against the memory-bandwidth floor: bytes every step must move per parameter ÷ the
measured bandwidth of the faster of two large in-place streams (as in the fast-steps chapter).

    python benchmarks/fast_steps.py                     # CPU, both models
    python benchmarks/fast_steps.py --quick             # fewer rounds, for a first look
    python benchmarks/fast_steps.py --threads 1 --clock cpu   # on a busy shared machine
    python benchmarks/fast_steps.py --device cuda       # the same table on a GPU, plus the floor
    python benchmarks/fast_steps.py --paired --threads 1 --clock cpu   # the default-flags goal, fairly

Before anything else the benchmark allocates and frees one 30 MiB block, as ``sweeps.train`` does
on the CPU (see ``adaptive_optim.sweeps``): glibc (Linux) then keeps freed blocks of up to 30 MiB
for reuse instead of handing them back to the system. Without it, whether torch's loop on the 10M
model took its 2 MiB temporaries afresh from the system at every step (about 10,000 page faults,
twice as slow) depended on what the process had allocated before, so the default ratio on that
model came out near 0.5 or near 1.0 from one run to another. Even so, with all five ways alive in
one process (about 800 MB for the 10M model), the allocator's handling of freed memory slows torch's
loop on the 10M model, which flatters ours in the side-by-side table. ``--paired`` measures the default-flags goal without that: only
torch's default and ours are built, they take one step each in turn, and the table gives the median
over the pairs of ours ÷ torch's (with its quartiles), once with torch's optimizer built first and
once with ours built first.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from adaptive_optim import optim as ours
from adaptive_optim import sweeps

#: name -> constructor keyword arguments (SGD with momentum, the others at torch's defaults)
OPTIMIZERS: dict[str, dict] = {
    "SGD": dict(lr=1e-3, momentum=0.9),
    "Adagrad": dict(lr=1e-2),
    "RMSprop": dict(lr=1e-3),
    "Adam": dict(lr=1e-3),
    "AdamW": dict(lr=1e-3),
    "RAdam": dict(lr=1e-3),
}
#: torch 2.13 has fused kernels for these (CPU and CUDA)
TORCH_FUSED = ("SGD", "Adagrad", "Adam", "AdamW")
#: bytes each fp32 step must read and write per parameter: param r/w, grad r, each state entry r/w
BYTES_PER_PARAM = {"SGD": 4 * (2 + 1 + 2), "Adagrad": 4 * (2 + 1 + 2), "RMSprop": 4 * (2 + 1 + 2),
                   "Adam": 4 * (2 + 1 + 4), "AdamW": 4 * (2 + 1 + 4), "RAdam": 4 * (2 + 1 + 4)}
MODELS = {"10M in 20 tensors": (20, 500_000), "1M in 200 tensors": (200, 5_000)}
WAYS = ("torch loop", "torch foreach", "torch fused", "ours default", "ours fused")


def make_params(count: int, size: int, device: str) -> list[torch.Tensor]:
    """``count`` parameters of ``size`` entries with fixed gradients (the same for every way)."""
    g = torch.Generator().manual_seed(0)
    params = []
    for _ in range(count):
        p = torch.randn(size, generator=g).to(device).requires_grad_()
        p.grad = torch.randn(size, generator=g).to(device) * 1e-2
        params.append(p)
    return params


def make_optimizer(way: str, name: str, params: list[torch.Tensor]) -> torch.optim.Optimizer | None:
    kw = OPTIMIZERS[name]
    if way == "torch loop":
        return getattr(torch.optim, name)(params, foreach=False, **kw)
    if way == "torch foreach":
        return getattr(torch.optim, name)(params, foreach=True, **kw)
    if way == "torch fused":
        return getattr(torch.optim, name)(params, fused=True, **kw) if name in TORCH_FUSED else None
    if way == "ours default":
        return getattr(ours, name)(params, **kw)
    try:
        return getattr(ours, name)(params, fused=True, **kw)
    except NotImplementedError:  # a version of the package without fused=True
        return None


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


CLOCK = time.perf_counter  # --clock cpu: time.process_time, this process's CPU seconds


def timed(step: Callable[[], object], steps: int, device: str) -> float:
    """Mean seconds (wall clock, or CPU with --clock cpu) of ``steps`` calls of ``step``."""
    sync(device)
    start = CLOCK()
    for _ in range(steps):
        step()
    sync(device)
    return (CLOCK() - start) / steps


def measure(name: str, count: int, size: int, device: str, repeats: int, steps: int,
            warmup: int) -> tuple[dict[str, float | None], float]:
    """Median ms per step of each way, and the seconds of ours fused's first step (compiling)."""
    opts = {way: make_optimizer(way, name, make_params(count, size, device)) for way in WAYS}
    start = time.perf_counter()  # wall clock: inductor compiles in worker processes
    if opts["ours fused"]:
        opts["ours fused"].step()
    sync(device)
    first_fused = time.perf_counter() - start if opts["ours fused"] else float("nan")
    for opt in opts.values():
        if opt is not None:
            timed(opt.step, warmup, device)
    samples: dict[str, list[float]] = {way: [] for way in WAYS}
    for _ in range(repeats):
        for way, opt in opts.items():
            if opt is not None:
                samples[way].append(timed(opt.step, steps, device))
    return {way: 1e3 * statistics.median(s) if s else None for way, s in samples.items()}, first_fused


def paired_ratios(name: str, count: int, size: int, device: str, pairs: int, warmup: int,
                  ours_first: bool) -> tuple[float, float, float]:
    """Quartiles (25%, median, 75%) over ``pairs`` alternating steps of ours (default flags) ÷ torch's default."""
    torch_way = "torch foreach" if device.startswith("cuda") else "torch loop"
    order = ("ours default", torch_way) if ours_first else (torch_way, "ours default")
    opts = {way: make_optimizer(way, name, make_params(count, size, device)) for way in order}
    for opt in opts.values():
        timed(opt.step, warmup, device)
    ratios = []
    for _ in range(pairs):
        times = {way: timed(opt.step, 1, device) for way, opt in opts.items()}
        ratios.append(times["ours default"] / times[torch_way])
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    return q1, median, q3


def stream_bandwidth(device: str, numel: int = 50_000_000) -> float:
    """Bytes per second of the faster of two in-place streams, the memory-bandwidth yardstick.

    In place, as an optimizer step is, and the same yardstick as the fast-steps chapter: a scaling
    x <- 2x then x <- x/2 (16 bytes per entry) and an update y <- y + x (12 bytes per entry).
    """
    x, y = torch.rand(numel, device=device), torch.rand(numel, device=device)
    scale = min(timed(lambda: x.mul_(2.0).mul_(0.5), 10, device) for _ in range(5))
    add = min(timed(lambda: y.add_(x), 10, device) for _ in range(5))
    return max(16 * numel / scale, 12 * numel / add)


def recompiles_under_scheduler(device: str, steps: int = 6) -> tuple[int, int]:
    """(graphs compiled by the first step, graphs compiled by ``steps`` more with lr changed every step)."""
    import torch._dynamo

    torch._dynamo.reset()
    params = make_params(4, 1000, device)
    opt = ours.Adam(params, lr=1e-3, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1 + k))
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    opt.step()
    sched.step()
    first = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    for _ in range(steps):
        opt.step()
        sched.step()
    return first - before, torch._dynamo.utils.counters["stats"]["unique_graphs"] - first


def fmt(x: float | None) -> str:
    return f"{x:8.2f}" if x is not None else "       –"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps")
    parser.add_argument("--only", nargs="*", default=list(OPTIMIZERS), help="optimizers to run")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time, steadier on a busy shared machine (use with --threads 1)")
    parser.add_argument("--paired", action="store_true",
                        help="only the default-flags goal: ours and torch's default built alone, stepping in turn")
    args = parser.parse_args()
    sweeps._keep_freed_memory()  # the 30 MiB block, as sweeps.train frees it (see the docstring)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats, steps, warmup = (3, 3, 2) if args.quick else (7, 5, 3)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, device {args.device}, "
          f"{torch.get_num_threads()} threads; median of {repeats} rounds of {steps} steps, "
          f"{args.clock} ms per step; compile: wall-clock s of the first fused step")
    if args.device.startswith("cuda"):
        print(f"GPU: {torch.cuda.get_device_name()}")
    if args.paired:
        pairs = 10 if args.quick else 40
        print(f"ours (default flags) / torch's default, one step each in turn, {pairs} pairs: "
              f"median [quartiles], torch's optimizer built first | ours built first")
        for model, (count, size) in MODELS.items():
            print(f"\n{model}")
            for name in args.only:
                cells = [paired_ratios(name, count, size, args.device, pairs, warmup, first) for first in (False, True)]
                print(f"{name:10}" + " | ".join(f"{m:5.2f} [{q1:.2f}, {q3:.2f}]" for q1, m, q3 in cells))
        return
    header = "".join(f"{w:>15}" for w in WAYS) + "   default ratio   fused ratio   compile s"
    for model, (count, size) in MODELS.items():
        print(f"\n{model}\n{'':10}{header}")
        for name in args.only:
            ms, compile_s = measure(name, count, size, args.device, repeats, steps, warmup)
            torch_best = ms["torch fused"] or min(ms["torch loop"], ms["torch foreach"])
            # torch's default: foreach on CUDA, the per-tensor loop on the CPU
            torch_default = ms["torch foreach" if args.device.startswith("cuda") else "torch loop"]
            fused_ratio = ms["ours fused"] / torch_best if ms["ours fused"] else float("nan")
            print(f"{name:10}" + "".join(f"{fmt(ms[w]):>15}" for w in WAYS)
                  + f"{ms['ours default'] / torch_default:16.2f}{fused_ratio:14.2f}{compile_s:12.1f}")
            if args.device.startswith("cuda") and count == 20:
                floor = BYTES_PER_PARAM[name] * count * size / stream_bandwidth(args.device) * 1e3
                print(f"{'':10}bandwidth floor {floor:.3f} ms: ours fused at {100 * floor / ms['ours fused']:.0f}%"
                      f" of it, torch's best at {100 * floor / torch_best:.0f}%")
    try:
        first, after = recompiles_under_scheduler(args.device)
    except NotImplementedError:
        return
    print(f"\nours Adam(fused=True) with LambdaLR changing lr every step: the first step compiled {first} "
          f"graph(s), the 6 steps after it {after}")


if __name__ == "__main__":
    main()
