"""Many trainings of one network as one batched computation: sweeps over seeds and hyperparameters.

:func:`train` trains K copies of a network at once. Run k starts from the weights of
``torch.manual_seed(seeds[k]); make_model()``; the K sets of parameters are stacked along a new
leading axis, the forward and backward passes of all K runs are one computation
(see *Two paths* below), and the package's rule updates the
stacked parameters in one call, each hyperparameter either shared (a number) or one value per run
(a 1-D array of length K, reshaped to broadcast against the stacked parameters)::

    lrs = torch.logspace(-4, -1, 8).repeat_interleave(4)        # 8 learning rates × 4 seeds
    sweep = train(make_cnn, rules.Adam(lr=lrs), data.train.batches(64, 200),
                  torch.nn.functional.cross_entropy, seeds=list(range(4)) * 8)
    sweep.losses                                               # (200, 32): loss before each step

Every run sees the same batches in the same order and equals an ordinary training loop with
``torch.optim`` up to the order of floating-point reductions (the tests check it in float64 for
every rule). The computation runs where the model's parameters are (CPU or CUDA); batches are
moved there.

A run *diverges* at the first step whose loss, or whose updated parameters, are not finite. It is
marked (``Sweep.diverged``, ``Sweep.diverged_at``) and frozen at its last finite
parameters; the other runs go on and nothing raises. Its losses after that step are NaN.

Models with buffers (batch norm's running statistics) are refused: K copies of a buffer updated
in place cannot live inside one batched computation. Batch norm without running statistics
(``track_running_stats=False``) works, each run normalizing by its own batch statistics, as do
``GroupNorm`` and ``LayerNorm``. Random operations in the forward pass (dropout) are refused by
default, since a batched computation cannot draw the same random numbers as K separate loops;
``randomness="different"`` accepts them, with independent draws per run (statistically like
separate runs, not equal to any particular one).

Two paths. A model built only from ``nn.Sequential`` and known layers (1-3-D convolutions with zero
padding, linear layers, pooling, elementwise activations, ``nn.Flatten``; the list is in
``adaptive_optim.stacked_layers``) whose inputs are one batched tensor runs *lowered*: the K
copies are one ordinary network (one convolution with the K runs' filters side by side, then
grouped convolutions, channels-last; pooling and activations on the native tensor; batched
matrix products), with no vmap over the model. Every other model (embeddings, attention,
normalization, dropout, custom modules, hooks) runs under ``torch.func.vmap`` over
``torch.func.functional_call``. Both give the same trainings up to the order of floating-point
sums; the loss function runs under vmap in both, on each run's outputs.

Speed: the K runs do the arithmetic of K separate loops, so a sweep saves the per-operation
overhead of K Python loops (dominant for small networks on a CPU, and on a GPU), not
arithmetic; ``benchmarks/sweeps.py`` measures it. The rule steps all of a run's parameters as
one (K, P) tensor (one update per step, not one per parameter), bit for bit the same. The lowered path also keeps the activations in one native tensor,
channels-last, where the CPU's max-pooling is tens of times faster than on the channels-first
tensors that vmap's batching rules hand it (on the book's CNN the sweep runs about twice as fast). Under vmap a convolution becomes a grouped
convolution and a linear layer a batched matrix product. In torch 2.13 the fused CPU kernel of
``scaled_dot_product_attention`` (used by ``nn.MultiheadAttention``) has no batching rule: it is
correct but runs run by run (torch warns); attention written as ``softmax(q @ k.T / √d) @ v``
batches fully. ``chunk_size`` bounds memory: parameters, gradients and state take about
(2 + number of state tensors) × K × the model's parameter bytes, activations K × one run's.

Memory from the system (CPU): a sweep's large activations are freed and taken again at every step.
With glibc (Linux), freed memory at the top of the heap goes back to the system once more of it is
free than a threshold, twice the largest block glibc has mapped and freed (blocks of up to 32 MiB
count), and the next step takes it back page by page: for the book's CNN (32 runs, 4 MiB
activations) 60 to 3,700 page faults per step, depending on the order of frees, and 20-40% of a
sweep's time in a fresh process, as measured. So a CPU sweep first allocates and frees one 30 MiB
block, as a process does that once held a 30 MiB tensor: glibc then serves blocks of up to 30 MiB
from the heap and hands the top of the heap back only once more than about 60 MiB of it is free,
which a step of the book's CNN never reaches. This changes glibc's behaviour for the whole process,
for good, as freeing any such tensor would: memory in use after a sweep may stay higher than
before. Sweeps whose activations exceed about 60 MiB per step (or 30 MiB per tensor) still take
pages from the system at every step; ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_MMAP_THRESHOLD_``, set
before Python starts, help there. Where thresholds were set (those variables, ``GLIBC_TUNABLES``,
mallopt) glibc keeps them and the block changes nothing; with another allocator it is one
allocation more.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call, vmap

from . import rules, stacked_layers
from .rules import Rule, State

Batch = tuple[Any, Tensor]
Schedule = Callable[[int], Any] | Sequence[float] | np.ndarray | Tensor


@dataclasses.dataclass(frozen=True, eq=False)
class Sweep:
    """The outcome of :func:`train` for K runs over ``steps`` steps.

    - ``losses`` (steps, K): each run's training loss at each step, before that step's update;
      NaN after the step where the run diverged.
    - ``params``: parameter name → final parameters of every run, shape ``(K, *param.shape)``
      (the trainable ones: parameters with ``requires_grad=False`` are used but not kept),
      on the model's device; ``state``: parameter name → the rule's final state, stacked the same way.
    - ``diverged`` (bool, K) and ``diverged_at`` (int64, K; −1 for runs that never diverged).
    - ``eval_steps`` and ``evaluations``: metric name → (len(eval_steps), K) values on the
      held-out batches after that many updates (NaN for runs diverged by then).
    - ``seconds``: wall-clock time of the whole sweep.

    ``losses``, ``diverged``, ``diverged_at`` and ``evaluations`` are on the CPU.
    """

    losses: Tensor
    params: dict[str, Tensor]
    state: dict[str, State]
    diverged: Tensor
    diverged_at: Tensor
    eval_steps: tuple[int, ...]
    evaluations: dict[str, Tensor]
    seeds: tuple[int, ...]
    seconds: float

    @property
    def runs(self) -> int:
        """K, the number of runs."""
        return len(self.seeds)

    @property
    def steps(self) -> int:
        """The number of training steps."""
        return self.losses.shape[0]

    def state_dict(self, run: int) -> dict[str, Tensor]:
        """Run ``run``'s final parameters, for ``make_model().load_state_dict(...)`` (add
        ``strict=False`` when the model has frozen parameters)."""
        if not -self.runs <= run < self.runs:
            raise IndexError(f"run {run} is out of range for a sweep of {self.runs} runs")
        return {name: p[run] for name, p in self.params.items()}


def train(make_model: Callable[[], torch.nn.Module], rule: Rule, batches: Sequence[Batch],
          loss_fn: Callable[[Any, Tensor], Tensor], *, seeds: Sequence[int],
          lr_schedule: Schedule | None = None, eval_batches: Sequence[Batch] = (),
          eval_steps: Sequence[int] = (), metrics: Mapping[str, Callable[[Any, Tensor], Tensor]] | None = None,
          chunk_size: int | None = None, randomness: str = "error", progress: bool | None = None) -> Sweep:
    """Train ``len(seeds)`` copies of ``make_model()`` with ``rule``, all at once (see the module docstring).

    - ``batches``: one ``(inputs, targets)`` per step, seen in order by every run; ``inputs`` is a
      tensor or a tuple of the model's positional arguments. ``loss_fn(outputs, targets)`` returns
      the mean loss, a scalar.
    - Each numeric hyperparameter of ``rule`` is a number (shared) or a 1-D array or tensor of
      length K (run k takes entry k).
    - ``lr_schedule``: a multiplier of every run's lr at step t (0-based), as
      ``torch.optim.lr_scheduler.LambdaLR`` applies one: a callable ``t -> number or K values``,
      or an array of shape (steps,) or (steps, K).
    - ``eval_batches`` and ``eval_steps``: after each listed number of updates (0 = the initial
      weights, ``steps`` = the final ones), every metric of ``metrics`` (default: ``{"loss": loss_fn}``)
      is averaged over the held-out batches, weighted by their lengths, with the model in eval mode.
    - ``chunk_size``: train at most this many runs at once (the chunks one after the other) to fit
      memory; the results do not depend on it beyond the order of floating-point sums. (On a CPU,
      smaller chunks keep more of the activations in the caches but pay the per-operation overhead
      more often; ``benchmarks/sweeps.py --chunk-size`` measures the trade-off.)
    - ``randomness``: ``"error"`` refuses random operations in the forward pass; ``"different"``
      draws independently per run (see the module docstring).
    - ``progress``: show a progress line on stderr; by default only when stderr is a terminal and
      the sweep has at least 100 steps.
    """
    seeds = tuple(int(s) for s in seeds)
    runs = len(seeds)
    if runs == 0:
        raise ValueError("seeds is empty: give one seed per run")
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be one of adaptive_optim.rules' rules, got {type(rule).__name__}")
    if not rule.stackable:
        name = type(rule).__name__
        raise ValueError(
            f"sweeps.train stacks the runs along a new first axis, and rules.{name} takes norms or "
            f"statistics over whole tensors, which would mix the runs: train these runs as ordinary "
            f"loops with the drop-in optimizer (adaptive_optim.optim) instead")
    if not isinstance(batches, Sequence) or len(batches) == 0:
        raise ValueError("batches must be a non-empty sequence (a list) of (inputs, targets), one per step")
    steps = len(batches)
    hyper = _per_run_hyperparameters(rule, runs)
    if isinstance(rule, rules.NAdam) and (isinstance(hyper["betas"][0], Tensor) or isinstance(hyper["momentum_decay"], Tensor)):
        raise ValueError(
            "rules.NAdam reads the product of its momentum schedule back as one number, as torch.optim "
            "does, so betas[0] and momentum_decay must be shared by all runs (numbers); lr, betas[1], "
            "eps and weight_decay may be per run")
    schedule = _schedule(lr_schedule, steps, runs)
    eval_steps = tuple(int(s) for s in eval_steps)
    bad = [s for s in eval_steps if not 0 <= s <= steps]
    if bad:
        raise ValueError(f"eval_steps must lie in 0..{steps} (the number of updates done), got {bad}")
    if eval_steps and len(eval_batches) == 0:
        raise ValueError("eval_steps were given but no eval_batches to evaluate on")
    metrics = dict(metrics) if metrics is not None else {"loss": loss_fn}
    if randomness not in ("error", "different"):
        raise ValueError(f"randomness must be 'error' or 'different', got {randomness!r}")
    chunk_size = runs if chunk_size is None else int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of runs, got {chunk_size}")
    if progress is None:
        progress = sys.stderr.isatty() and steps >= 100
    bar = _Progress(steps * math.ceil(runs / chunk_size)) if progress else None

    start = time.perf_counter()
    parts = []
    for first in range(0, runs, chunk_size):
        chunk = slice(first, min(first + chunk_size, runs))
        job = _Chunk(make_model, rule, hyper, seeds[chunk], chunk, loss_fn, randomness)
        parts.append(job.run(batches, schedule, eval_batches, eval_steps, metrics, bar))
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start

    names = parts[0]["params"].keys()
    return Sweep(
        losses=torch.cat([p["losses"] for p in parts], dim=1),
        params={n: torch.cat([p["params"][n] for p in parts]) for n in names},
        state={n: _cat_states([p["state"][n] for p in parts], runs) for n in names},
        diverged=torch.cat([p["diverged_at"] for p in parts]) >= 0,
        diverged_at=torch.cat([p["diverged_at"] for p in parts]),
        eval_steps=eval_steps,
        evaluations={m: torch.cat([p["evaluations"][m] for p in parts], dim=1) for m in metrics},
        seeds=seeds,
        seconds=seconds,
    )


_memory_kept = False


def _keep_freed_memory() -> None:
    """Allocate and free one 30 MiB block, once per process (see the module docstring).

    In a fresh process glibc serves a block that large with mmap, and when such a block is freed it
    raises its threshold for mmap to the block's size, if that is at most 32 MiB (a larger block
    leaves it alone), and its threshold for handing the top of the heap back to the system to twice
    that (mallopt(3), "dynamic mmap threshold"), unless the thresholds were set explicitly. The
    sweep's activations are then reused from the heap instead of taken from the system at every
    step."""
    global _memory_kept
    if not _memory_kept:
        # An untyped storage, not torch.empty: under torch.use_deterministic_algorithms(True)
        # torch.empty fills its memory (30 MiB written, 7,700 page faults); a storage is never filled.
        torch.UntypedStorage(30 << 20)
        _memory_kept = True


# --- hyperparameters and schedules ------------------------------------------------------------

def _per_run(name: str, value: Any, runs: int) -> Any:
    """A shared value as is (a number or a flag), a per-run one as a float64 CPU tensor of length K."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    array = value.detach().cpu().double() if isinstance(value, Tensor) else torch.as_tensor(
        np.asarray(value, dtype=np.float64))
    if array.ndim == 0:
        return float(array)
    if array.shape != (runs,):
        raise ValueError(f"hyperparameter {name} has shape {tuple(array.shape)}: give a number (shared by "
                         f"all runs) or a 1-D array of length {runs} (one value per run)")
    return array


def _per_run_hyperparameters(rule: Rule, runs: int) -> dict[str, Any]:
    hyper = {}
    for name, value in rule.hyperparameters().items():
        if isinstance(value, tuple):
            hyper[name] = tuple(_per_run(f"{name}[{i}]", v, runs) for i, v in enumerate(value))
        else:
            hyper[name] = _per_run(name, value, runs)
    momentum, dampening = hyper.get("momentum"), hyper.get("dampening")
    if "dampening" in hyper and isinstance(momentum, Tensor) and dampening:
        # torch.optim.SGD ignores dampening in a run without momentum, while the rule takes its
        # momentum branch for every run once any run has momentum; with dampening 0 that branch
        # is exactly plain SGD for the runs whose momentum is 0.
        hyper["dampening"] = torch.where(momentum == 0, 0.0, torch.as_tensor(dampening, dtype=torch.float64))
    return hyper


def _schedule(schedule: Schedule | None, steps: int, runs: int) -> Callable[[int], Any] | None:
    """The lr multiplier as a function of the step: None, a number, or a float64 tensor of length K."""
    if schedule is None:
        return None
    if callable(schedule):
        def factor(t: int) -> Any:
            return _per_run(f"lr_schedule({t})", schedule(t), runs)
        return factor
    table = torch.as_tensor(np.asarray(schedule, dtype=np.float64))
    if table.shape not in ((steps,), (steps, runs)):
        raise ValueError(f"lr_schedule has shape {tuple(table.shape)}: give one multiplier per step, "
                         f"shape ({steps},), or one per step and run, shape ({steps}, {runs})")
    return lambda t: float(table[t]) if table.ndim == 1 else table[t]


def _slice(value: Any, chunk: slice, like: Tensor) -> Any:
    """This chunk's part of a per-run value, on the parameters' device and in their dtype."""
    if isinstance(value, Tensor):
        return value[chunk].to(device=like.device, dtype=like.dtype)
    if isinstance(value, tuple):
        return tuple(_slice(v, chunk, like) for v in value)
    return value


def _shaped(value: Any, ndim: int) -> Any:
    """Per-run values reshaped (K,) -> (K, 1, ..., 1) to broadcast against stacked parameters of ``ndim`` axes."""
    if isinstance(value, Tensor):
        return value.view(-1, *(1,) * (ndim - 1))
    if isinstance(value, tuple):
        return tuple(_shaped(v, ndim) for v in value)
    return value


def _scaled(lr: Any, factor: Any) -> Any:
    if factor is None:
        return lr
    return lr * factor


def _cat_states(states: list[State], runs: int) -> State:
    """The chunks' states joined along the run axis (entries without one, like ``step``, from the first)."""
    joined = {}
    for key, value in states[0].items():
        if isinstance(value, Tensor) and value.ndim > 0:
            joined[key] = torch.cat([s[key] for s in states])
        else:
            joined[key] = value
    return joined


# --- one chunk of runs ------------------------------------------------------------------------

class _Chunk:
    """Up to ``chunk_size`` runs trained together: their stacked parameters, state and bookkeeping."""

    def __init__(self, make_model, rule, hyper, seeds, chunk, loss_fn, randomness):
        with torch.random.fork_rng():
            models = []
            for seed in seeds:
                torch.manual_seed(seed)
                models.append(make_model())
        base = models[0]
        _check_model(base, models)
        self.base, self.loss_fn, self.randomness = base, loss_fn, randomness
        names = [n for n, p in base.named_parameters() if p.requires_grad]
        frozen = [n for n, p in base.named_parameters() if not p.requires_grad]
        stacked = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]) for n in names + frozen}
        self.names, self.frozen = names, {n: stacked[n] for n in frozen}
        like = next(iter(stacked.values()))
        self.device, self.runs = like.device, len(seeds)
        if self.device.type == "cpu":
            _keep_freed_memory()
        self.hyper = {k: _slice(v, chunk, like) for k, v in hyper.items()}
        self.chunk, self.like = chunk, like
        self.template = rule
        # What the rule steps: the parameters joined into one (K, P) tensor where they share a
        # dtype (see _Joined), else each stacked parameter on its own.
        trainable = {n: stacked[n] for n in names}
        self.joined = _Joined.of(trainable) if type(rule) in _ELEMENTWISE_RULES else None
        self.stepped = trainable if self.joined is None else {_Joined.KEY: self.joined.join(trainable)}
        ndims = {p.ndim for p in self.stepped.values()}
        self.rules = {d: rule.replace(**{k: _shaped(v, d) for k, v in self.hyper.items()}) for d in ndims}
        self.state = {n: self.rules[p.ndim].init(p) for n, p in self.stepped.items()}
        self.lowered = {}  # inputs' number of axes -> the lowered network, or None (vmap)

    @property
    def params(self) -> dict[str, Tensor]:
        """The stacked parameters by name, (K, *shape) each."""
        return self.stepped if self.joined is None else self.joined.split(self.stepped[_Joined.KEY])

    def states(self) -> dict[str, State]:
        """The rule's state by parameter name."""
        return self.state if self.joined is None else self.joined.split_state(self.state[_Joined.KEY])

    def _rules_at(self, factor: Any) -> dict[int, Rule]:
        if factor is None:
            return self.rules
        factor = _slice(factor, self.chunk, self.like)
        return {d: r.replace(lr=_scaled(_shaped(self.hyper["lr"], d), _shaped(factor, d)))
                for d, r in self.rules.items()}

    def _forward(self, params, frozen, inputs):
        args = inputs if isinstance(inputs, tuple) else (inputs,)
        return functional_call(self.base, (params, frozen), args)

    def _lowered(self, inputs):
        """The model as one native network of K copies for these inputs (see stacked_layers), or None."""
        if not isinstance(inputs, Tensor):
            return None
        if inputs.ndim not in self.lowered:
            self.lowered[inputs.ndim] = stacked_layers.lower(self.base, inputs.ndim)
        return self.lowered[inputs.ndim]

    def _outputs(self, fn, params, frozen, inputs, targets):
        """``fn(outputs, targets)`` for every run, stacked: on the lowered network where there is one,
        else all under vmap."""
        lowered = self._lowered(inputs)
        if lowered is None:
            def whole(params, frozen, inputs, targets):
                return fn(self._forward(params, frozen, inputs), targets)
            return vmap(whole, in_dims=(0, 0, None, None), randomness=self.randomness)(params, frozen, inputs, targets)
        outputs = lowered({**params, **frozen}, self.runs, inputs)
        return vmap(fn, in_dims=(0, None), randomness=self.randomness)(outputs, targets)

    def _loss(self, outputs, targets):
        loss = self.loss_fn(outputs, targets)
        if loss.dim() != 0:
            raise ValueError(f"loss_fn must return the mean loss, a scalar; it returned shape {tuple(loss.shape)}")
        return loss

    def _move(self, batch: Batch) -> Batch:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError("each batch must be a pair (inputs, targets)")
        inputs, targets = batch

        def to(x):
            return x.to(self.device) if isinstance(x, Tensor) else x

        inputs = tuple(to(x) for x in inputs) if isinstance(inputs, (tuple, list)) else to(inputs)
        return inputs, to(targets)

    def evaluate(self, eval_batches, metrics) -> dict[str, Tensor]:
        def values(outputs, targets):
            return {m: fn(outputs, targets) for m, fn in metrics.items()}

        totals, weight = {m: 0.0 for m in metrics}, 0
        mode = self.base.training
        self.base.eval()
        try:
            with torch.no_grad():
                params = self.params  # split from the joined tensor once, not once per batch
                for batch in eval_batches:
                    inputs, targets = self._move(batch)
                    n = len(targets)
                    for m, v in _call(self._outputs, values, params, self.frozen, inputs, targets).items():
                        totals[m] = totals[m] + v.double() * n
                    weight += n
        finally:
            self.base.train(mode)
        return {m: (t / weight).cpu() for m, t in totals.items()}

    def run(self, batches, schedule, eval_batches, eval_steps, metrics, bar) -> dict[str, Any]:
        runs, steps = self.runs, len(batches)
        names = self.names

        def step_fn(params, frozen, inputs, targets):
            # The runs are independent, so the gradient of the sum of their losses with respect to
            # run k's parameters is exactly run k's gradient (each term enters with weight 1).
            leaves = {n: p.detach().requires_grad_() for n, p in params.items()}
            with torch.enable_grad():
                loss = self._outputs(self._loss, leaves, frozen, inputs, targets)
                grads = torch.autograd.grad(loss.sum(), [leaves[n] for n in names])
            return dict(zip(names, grads)), loss.detach()
        losses = torch.full((steps, runs), float("nan"), dtype=torch.float64, device=self.device)
        alive = torch.ones(runs, dtype=torch.bool, device=self.device)
        diverged_at = torch.full((runs,), -1, dtype=torch.int64, device=self.device)
        evaluations = {m: torch.full((len(eval_steps), runs), float("nan"), dtype=torch.float64) for m in metrics}

        def record_evaluations(t):
            for i in [i for i, s in enumerate(eval_steps) if s == t]:
                for m, v in self.evaluate(eval_batches, metrics).items():
                    evaluations[m][i] = torch.where(alive.cpu(), v, float("nan"))

        for t, batch in enumerate(batches):
            record_evaluations(t)
            inputs, targets = self._move(batch)
            rules = self._rules_at(schedule(t) if schedule is not None else None)
            grads, loss = _call(step_fn, self.params, self.frozen, inputs, targets)
            if self.joined is not None:
                grads = {_Joined.KEY: self.joined.join(grads)}
            losses[t] = torch.where(alive, loss.detach().double(), float("nan"))
            new_params, new_state = {}, {}
            for name, p in self.stepped.items():
                new_params[name], new_state[name] = rules[p.ndim].update(p, grads[name], self.state[name])
            ok = alive & torch.isfinite(loss)
            for p in new_params.values():
                ok &= torch.isfinite(p).view(runs, -1).all(dim=1)
            if not bool(ok.all()):
                diverged_at = torch.where(alive & ~ok, t, diverged_at)
                new_params = {n: _keep(ok, new_params[n], self.stepped[n]) for n in new_params}
                new_state = {n: {k: _keep(ok, v, self.state[n].get(k)) for k, v in new_state[n].items()}
                             for n in new_state}
            self.stepped, self.state, alive = new_params, new_state, ok
            if bar is not None:
                bar.advance()
        record_evaluations(steps)
        return {"losses": losses.cpu(), "params": self.params, "state": self.states(),
                "diverged_at": diverged_at.cpu(), "evaluations": evaluations}


#: The package's rules whose update of each entry reads only that entry of the parameter, gradient
#: and state, and numbers shared by the whole tensor: any arrangement of the entries gives the same
#: numbers, so sweeps may step a run's parameters joined into one tensor (see _Joined). Exact
#: classes: a subclass may override ``update`` with statistics over a tensor (the beyond chapter's
#: LAMB with per-run norms is stackable, as its norms stay within a run, but not elementwise).
_ELEMENTWISE_RULES: tuple[type[Rule], ...] = tuple(rules.RULES[name] for name in (
    "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "RAdam", "NAdam", "Adamax", "Lion", "AdamWScheduleFree"))


class _Joined:
    """A chunk's trainable parameters as one (K, P) tensor, each parameter a view of its columns.

    For the rules of ``_ELEMENTWISE_RULES`` every entry is updated from its own entries of gradient and
    state, and the per-run hyperparameters broadcast along each run's row. So one update of the joined tensor does, entry by entry, the
    arithmetic of one update per parameter, in a dozen operations instead of a dozen per
    parameter (and one finiteness check instead of one per parameter). The gradients are joined
    and the parameters split once per step (two copies of K·P entries)."""

    KEY = "*"  # the joined tensor's name where the stepped tensors and their states are kept

    def __init__(self, params: Mapping[str, Tensor]) -> None:
        self.shapes = {n: p.shape for n, p in params.items()}
        self.sizes = [math.prod(p.shape[1:]) for p in params.values()]
        self.width = sum(self.sizes)  # P

    @classmethod
    def of(cls, params: Mapping[str, Tensor]) -> "_Joined | None":
        """The joined layout of ``params``, or None where there is nothing to gain (one parameter,
        or one entry in all) or they cannot share one tensor (different dtypes or devices)."""
        if len(params) < 2 or len({(p.dtype, p.device) for p in params.values()}) > 1:
            return None
        joined = cls(params)
        # width 1 would make a per-run state entry (K, 1) look like a joined one (see split_state)
        return joined if joined.width > 1 else None

    def join(self, tensors: Mapping[str, Tensor]) -> Tensor:
        """(K, P): the parameters' (or gradients') entries side by side, in order."""
        return torch.cat([tensors[n].reshape(shape[0], -1) for n, shape in self.shapes.items()], dim=1)

    def split(self, joined: Tensor) -> dict[str, Tensor]:
        """The parameters by name, (K, *shape) each, as contiguous copies: the network computes with
        exactly the tensors it would get without joining (a kernel may sum in another order for
        other strides), for the price of one copy of K·P entries per step."""
        parts = joined.split(self.sizes, dim=1)
        return {n: part.contiguous().view(shape) for (n, shape), part in zip(self.shapes.items(), parts)}

    def split_state(self, state: State) -> dict[str, State]:
        """The joined tensor's state as each parameter's: entries shaped like the joined tensor are
        split as it is; per-run entries, (K, 1), take each parameter's number of axes; scalars are shared."""
        by_name: dict[str, State] = {n: {} for n in self.shapes}
        for key, value in state.items():
            if isinstance(value, Tensor) and value.ndim == 2 and value.shape[1] == self.width:
                for n, part in self.split(value).items():
                    by_name[n][key] = part
            elif isinstance(value, Tensor) and value.ndim == 2 and value.shape[1] == 1:
                for n, shape in self.shapes.items():
                    by_name[n][key] = value.view(-1, *(1,) * (len(shape) - 1))
            else:
                for n in self.shapes:
                    by_name[n][key] = value
        return by_name


def _keep(ok: Tensor, new: Any, old: Any) -> Any:
    """``new`` for the runs still sound, ``old`` for the others (per-run tensors only)."""
    if old is None or not isinstance(new, Tensor) or new.ndim == 0 or new.shape[0] != ok.shape[0]:
        return new
    return torch.where(ok.view(-1, *(1,) * (new.ndim - 1)), new, old)


def _call(fn, *args):
    """Run a batched function, turning vmap's complaint about random operations into a clear error."""
    try:
        return fn(*args)
    except RuntimeError as error:
        if "randomness" in str(error):
            raise ValueError(
                "the model draws random numbers in its forward pass (dropout?), which a batched sweep "
                "cannot draw as K separate training loops would. Set dropout to 0 (or call "
                "model.eval() in make_model), or pass randomness='different' to draw independently "
                "for every run.") from error
        raise


def _check_model(base: torch.nn.Module, models: list[torch.nn.Module]) -> None:
    """Refuse what a batched sweep cannot reproduce: buffers, sparse gradients, differing models."""
    buffers = [n for n, _ in base.named_buffers()]
    if buffers:
        raise ValueError(
            f"the model has buffers ({', '.join(buffers[:4])}{', ...' if len(buffers) > 4 else ''}), "
            f"which a batched sweep cannot keep per run: batch norm's running statistics are "
            f"updated in place. Use BatchNorm with track_running_stats=False (batch statistics, "
            f"per run), GroupNorm or LayerNorm.")
    for module in base.modules():
        if getattr(module, "sparse", False) is True:
            raise ValueError(f"{type(module).__name__}(sparse=True) has sparse gradients, which the "
                             f"batched sweep does not support; use sparse=False (dense gradients)")
    if not any(True for _ in base.parameters()):
        raise ValueError("the model has no parameters to train")
    complex_names = [n for n, p in base.named_parameters() if p.is_complex()]
    if complex_names:
        raise ValueError(f"the model has complex parameters ({', '.join(complex_names[:4])}), which the batched "
                         f"sweep does not support; train them with ordinary loops and the drop-in optimizers")
    shapes = [[(n, p.shape, p.dtype, p.device) for n, p in m.named_parameters()] for m in models]
    if any(s != shapes[0] for s in shapes[1:]):
        raise ValueError("make_model() returned models with different parameters (names, shapes, "
                         "dtypes or devices) for different seeds; every run must train the same network")


class _Progress:
    """A one-line progress report on stderr, redrawn at most five times a second."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start, self.drawn = total, 0, time.perf_counter(), 0.0

    def advance(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if now - self.drawn >= 0.2 or self.done == self.total:
            self.drawn = now
            elapsed = now - self.start
            left = elapsed / self.done * (self.total - self.done)
            width = 30
            filled = int(width * self.done / self.total)
            sys.stderr.write(f"\rsweep [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} steps, "
                             f"{elapsed:.1f} s, about {left:.1f} s left ")
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()
