"""Where ``fused=True`` loses to torch's fused kernels on the CPU, and what would change it: two probes
behind the fast-steps benchmark's fused ratios (``benchmarks/fast_steps.py``).

1. **Kernels.** One step of ours (``fused=True``) and of torch's fused kernel on 10M parameters in 20
   tensors, and on 20 tensors of 16 entries, where the step is all fixed cost (Python, dispatch,
   guards). The difference of the two is each one's time in its kernels, the fixed cost taken out;
   their ratio compares the loop inductor generates from the package's rule with torch's
   hand-written kernel, from memory.

2. **``--aoti``: the fixed cost.** On 1M parameters in 200 tensors the step is short and ours pays a
   fixed cost per call of the function ``torch.compile`` made (dynamo's guards on some 600–1000
   tensor inputs and inductor's Python wrapper). This probe compiles the same function the fused
   path compiles (``optim._fused_list_step``, the package's rule over the group's TensorLists)
   ahead of time with AOTInductor (``torch.export`` + ``torch._inductor.aoti_compile_and_package``),
   calls the compiled library directly (no guards, a C++ wrapper), and compares it with torch's
   fused kernel: the step time, the compile time, and the largest difference from torch after one
   step. It is a measurement, not a path of the package: calling the library without guards is
   safe only with checks of every input's dtype, shape and strides, which this probe does not make.

Every figure is the median of ``--rounds`` rounds of ``--steps`` steps, ours and torch's taking
turns, in CPU milliseconds of this process (``time.process_time``), one torch thread by default.

    python benchmarks/fused_limits.py            # the kernels (about a minute)
    python benchmarks/fused_limits.py --aoti     # and the AOTInductor probe (a minute or more of C++ compiling per optimizer)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import fast_steps
from adaptive_optim import optim as ours
from adaptive_optim.rules import RULES, _ops


def alternating(steps: dict[str, object], rounds: int, per_round: int) -> dict[str, float]:
    """Median CPU ms per step of each optimizer's ``step``, the optimizers taking turns each round."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            samples[name].append(fast_steps.timed(step, per_round, "cpu"))
    return {name: 1e3 * statistics.median(s) for name, s in samples.items()}


def kernels(rounds: int) -> None:
    print("1. Kernels: 10M parameters in 20 tensors minus the fixed cost (20 tensors of 16 entries); CPU ms per step")
    print(f"{'':10}{'ours 10M':>10}{'ours fixed':>12}{'torch 10M':>11}{'torch fixed':>13}"
          f"{'step ratio':>12}{'kernel ratio':>14}")
    for name in fast_steps.TORCH_FUSED:
        times = {}
        for label, (count, size) in (("10M", (20, 500_000)), ("fixed", (20, 16))):
            opts = {way: fast_steps.make_optimizer(way, name, fast_steps.make_params(count, size, "cpu"))
                    for way in ("ours fused", "torch fused")}
            for opt in opts.values():
                fast_steps.timed(opt.step, 3, "cpu")  # the first step compiles ours
            per_round = 5 if label == "10M" else 200
            for way, ms in alternating({w: o.step for w, o in opts.items()}, rounds, per_round).items():
                times[way, label] = ms
        ours_kernel = times["ours fused", "10M"] - times["ours fused", "fixed"]
        torch_kernel = times["torch fused", "10M"] - times["torch fused", "fixed"]
        print(f"{name:10}{times['ours fused', '10M']:10.2f}{times['ours fused', 'fixed']:12.3f}"
              f"{times['torch fused', '10M']:11.2f}{times['torch fused', 'fixed']:13.3f}"
              f"{times['ours fused', '10M'] / times['torch fused', '10M']:12.2f}{ours_kernel / torch_kernel:14.2f}",
              flush=True)


class _GroupStep(torch.nn.Module):
    """``optim._fused_list_step`` for one bucket of ``count`` tensors, as a module of flat tensor
    arguments (lr, parameters, gradients, each state entry's tensors, the step tensors) for
    ``torch.export``. Returns the new step count (for rules with one), as the fused path does."""

    def __init__(self, name: str, count: int, keys: list[str], has_step: bool, hyper: dict) -> None:
        super().__init__()
        self.rule_class, self.count, self.keys, self.has_step, self.hyper = RULES[name], count, keys, has_step, hyper

    def forward(self, lr: torch.Tensor, *flat: torch.Tensor):
        n = self.count
        params, grads = list(flat[:n]), list(flat[n:2 * n])
        entries = {key: list(flat[(2 + i) * n:(3 + i) * n]) for i, key in enumerate(self.keys)}
        steps = list(flat[(2 + len(self.keys)) * n:]) if self.has_step else None
        rule = self.rule_class.unchecked(lr=lr, **self.hyper)
        with _ops.writing_in_place():
            added = ours._fused_list_step(rule, [(params, grads, entries, steps)])
        return tuple(added[0].values())


def aoti(rounds: int, count: int = 200, size: int = 5_000) -> None:
    print(f"\n2. AOTInductor: the fused path's function compiled ahead of time, {count} tensors of {size:,}; CPU ms per step")
    print(f"{'':10}{'compile s':>10}{'max |diff|':>12}{'AOT':>8}{'torch fused':>13}{'ratio':>8}")
    for name in ("SGD", "Adam"):
        hyper = {k: v for k, v in fast_steps.OPTIMIZERS[name].items() if k != "lr"}
        theirs = fast_steps.make_optimizer("torch fused", name, fast_steps.make_params(count, size, "cpu"))
        theirs.step()  # torch makes its state; ours starts from a copy of it
        params = theirs.param_groups[0]["params"]
        states = [theirs.state[p] for p in params]
        keys = [k for k in states[0] if k != "step"]
        has_step = "step" in states[0]
        ps = [p.detach().clone() for p in params]
        grads = [p.grad.clone() for p in params]
        entries = [s[k].clone() for k in keys for s in states]
        steps = [s["step"].clone() for s in states] if has_step else []
        lr = torch.tensor(fast_steps.OPTIMIZERS[name]["lr"], dtype=torch.float64)
        args = (lr, *ps, *grads, *entries, *steps)
        start = time.perf_counter()
        program = torch.export.export(_GroupStep(name, count, keys, has_step, hyper), args, strict=False)
        package = torch._inductor.aoti_compile_and_package(
            program, inductor_configs={"realize_opcount_threshold": 1})  # as optim._private_compile
        compiled = torch._inductor.aoti_load_package(package)
        seconds = time.perf_counter() - start

        def step() -> None:
            new = compiled(*args)
            if has_step:
                torch._foreach_copy_(steps, [new[0]] * count)

        step()
        theirs.step()
        diff = max((a - b.detach()).abs().max().item() for a, b in zip(ps, params))
        times = alternating({"aot": step, "torch": theirs.step}, rounds, 50)
        print(f"{name:10}{seconds:10.1f}{diff:12.2g}{times['aot']:8.3f}{times['torch']:13.3f}"
              f"{times['aot'] / times['torch']:8.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--aoti", action="store_true", help="also run the AOTInductor probe (slow: C++ compiling)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); median of {args.rounds} rounds\n")
    kernels(args.rounds)
    if args.aoti:
        aoti(args.rounds)


if __name__ == "__main__":
    main()
