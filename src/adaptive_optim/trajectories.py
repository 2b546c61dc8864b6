"""Many runs of one update rule on a 2-D landscape at once: many starts, a grid of hyperparameters, or both.

:func:`run` steps every trajectory together, as one array of positions of shape ``(*batch, 2)``:
the only Python loop is over steps. The batch shape is where the starts (shape ``(..., 2)``)
and the rule's array-valued hyperparameters (shape ``(..., 1)``) broadcast to, so::

    g = grid(lr=np.logspace(-3, 0, 7), beta1=[0.0, 0.9])       # g.lr, g.beta1: shape (7, 2, 1)
    result = run(Adam(lr=g.lr, betas=(g.beta1, 0.999)), Rosenbrock(), steps=500)
    result.losses[-1]                                          # shape (7, 2): final loss per setting

A run *diverges* at the first step where its position leaves the box ``|x|, |y| ≤ bound``, or
its position, loss or optimizer state is not finite (an overflowing g² stalls a run at a finite
position; it has diverged all the same). From that step on its positions and losses are NaN, so
plotted lines stop at the last sound point and ``np.nan*`` reductions skip them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import numpy as np

from .landscapes import ArrayLike, Landscape
from .rules import Rule
from .rules._ops import is_tensor

#: Default bound on ``|x|`` and ``|y|``: beyond it a run counts as diverged.
BOUND = 1e6


@dataclasses.dataclass(frozen=True, eq=False)
class Trajectories:
    """The runs of one :func:`run`: positions and losses at every step, and which runs diverged.

    ``positions`` has shape ``(steps + 1, *batch, 2)`` and ``losses`` ``(steps + 1, *batch)``
    (index 0 is the start); ``diverged`` (bool) and ``diverged_at`` (the first diverged step,
    −1 for runs that never diverged) have the batch shape. From ``diverged_at`` on, positions and
    losses are NaN. Arrays are NumPy arrays, or torch tensors when the starts were tensors.
    """

    positions: ArrayLike
    losses: ArrayLike
    diverged: ArrayLike
    diverged_at: ArrayLike
    rule: Rule
    landscape: Landscape
    bound: float

    @property
    def steps(self) -> int:
        """The number of update steps taken (``positions`` holds one more row: the start)."""
        return self.positions.shape[0] - 1

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of the batch of runs: the starts and hyperparameters, broadcast."""
        return tuple(self.diverged.shape)

    def reshape(self, *shape: int) -> "Trajectories":
        """The same runs with the batch reshaped, e.g. a flat batch of N back to a grid's shape."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        steps = self.positions.shape[0]
        return dataclasses.replace(
            self,
            positions=self.positions.reshape(steps, *shape, 2),
            losses=self.losses.reshape(steps, *shape),
            diverged=self.diverged.reshape(shape),
            diverged_at=self.diverged_at.reshape(shape),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class Grid:
    """A grid of hyperparameter values, one axis per name, ready to hand to a rule.

    ``grid.lr`` (or ``grid["lr"]``) is an array of shape ``(*grid.shape, 1)`` holding each grid
    point's lr: the trailing 1 broadcasts against positions of shape ``(..., 2)``, so a rule
    built from these arrays runs every grid point at once. ``grid.axes["lr"]`` is the 1-D axis.
    """

    axes: dict[str, np.ndarray]

    @property
    def shape(self) -> tuple[int, ...]:
        """One length per axis, in the order the axes were given."""
        return tuple(len(values) for values in self.axes.values())

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.axes:
            raise KeyError(f"no grid axis {name!r}; the axes are {list(self.axes)}")
        axis = list(self.axes).index(name)
        values = self.axes[name].reshape((-1,) + (1,) * (len(self.axes) - axis - 1))
        return np.broadcast_to(values, self.shape).copy()[..., None]

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_") or name == "axes" or name not in self.axes:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self[name]


def grid(**axes: ArrayLike) -> Grid:
    """A :class:`Grid` over the given 1-D value lists, e.g. ``grid(lr=[1e-3, 1e-2], beta1=[0.5, 0.9])``."""
    if not axes:
        raise ValueError("grid() needs at least one axis, e.g. grid(lr=[1e-3, 1e-2])")
    arrays = {}
    for name, values in axes.items():
        if name in ("axes", "shape"):
            raise ValueError(f"{name!r} cannot name a grid axis: it is an attribute of Grid")
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"grid axis {name!r} must be a non-empty 1-D list of values, "
                             f"got shape {values.shape}")
        arrays[name] = values
    return Grid(arrays)


def _torch():
    import torch

    return torch


def _hyperparameter_shapes(rule: Rule) -> dict[str, tuple[int, ...]]:
    """The batch part (all but the last axis) of each array-valued hyperparameter's shape."""
    shapes = {}
    for name, value in rule.hyperparameters().items():
        items = value if isinstance(value, tuple) else (value,)
        for i, item in enumerate(items):
            if np.ndim(item) == 0:
                continue
            label = f"{name}[{i}]" if isinstance(value, tuple) else name
            shape = tuple(item.shape)
            if shape[-1] not in (1, 2):
                raise ValueError(
                    f"hyperparameter {label} has shape {shape}: its last axis must have length 1 "
                    f"(one value per run, e.g. {name}[..., None]) or 2 (one per coordinate), so "
                    f"that it broadcasts against positions of shape (..., 2)")
            shapes[label] = shape[:-1]
    return shapes


def batch_shape(rule: Rule, starts: ArrayLike) -> tuple[int, ...]:
    """The shape of the batch of runs: ``starts.shape[:-1]`` broadcast with the rule's array hyperparameters."""
    shapes = {"starts": tuple(starts.shape[:-1]), **_hyperparameter_shapes(rule)}
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"the batch shapes of the starts and the hyperparameters do not broadcast: "
                         f"{listed}") from None


def _unsound_from(positions: ArrayLike, losses: ArrayLike, bound: float,
                  unsound_state: ArrayLike | None = None) -> ArrayLike | None:
    """Per step and run, True from the run's first unsound step on (see :func:`run`); None if none is."""
    inf = float("inf")
    size = positions.numel() if is_tensor(positions) else positions.size
    # Fast path: four reductions, which propagate NaN, show that every run stayed sound.
    if unsound_state is None and size and (positions.max() <= bound and positions.min() >= -bound
                                           and losses.max() < inf and losses.min() > -inf):
        return None
    # |p| <= bound is False for NaN and ±inf as well as for large finite coordinates,
    # and |loss| < inf is False for NaN and ±inf.
    sound = (abs(positions) <= bound).all(-1) & (abs(losses) < inf)
    if unsound_state is not None:
        sound = sound & ~unsound_state
    if is_tensor(sound):
        return (~sound).cumsum(dim=0) > 0
    return np.logical_or.accumulate(~sound, axis=0)


def _first_true(dead: ArrayLike) -> ArrayLike:
    """Along axis 0 of a ``dead`` mask (True from some step on), the index of the first True, or −1."""
    if is_tensor(dead):
        index = dead.to(_torch().uint8).argmax(dim=0)
        return _torch().where(dead[-1], index, _torch().full_like(index, -1))
    return np.where(dead[-1], dead.argmax(axis=0), -1)


def _empty(shape: tuple[int, ...], dtype: Any, like: ArrayLike) -> ArrayLike:
    """An uninitialized array of ``shape``, on the backend (and device) of ``like``."""
    if is_tensor(like):
        return _torch().empty(shape, dtype=dtype, device=like.device)
    return np.empty(shape, dtype=dtype)


def _array_hyperparameters(rule: Rule) -> dict[str, Any]:
    """The rule's hyperparameters that are arrays (NumPy or torch), by label (``betas[0]`` for tuples)."""
    arrays = {}
    for name, value in rule.hyperparameters().items():
        items = value if isinstance(value, tuple) else (value,)
        for i, item in enumerate(items):
            if isinstance(item, np.ndarray) or is_tensor(item):
                arrays[f"{name}[{i}]" if isinstance(value, tuple) else name] = item
    return arrays


def _check_backends(rule: Rule, starts: ArrayLike) -> None:
    """Refuse hyperparameter arrays of the other backend than the starts, naming them."""
    for label, value in _array_hyperparameters(rule).items():
        if is_tensor(value) != is_tensor(starts):
            kinds = ("a torch tensor", "NumPy arrays") if is_tensor(value) else ("a NumPy array", "torch tensors")
            raise TypeError(f"hyperparameter {label} is {kinds[0]} but the starts are {kinds[1]}: "
                            f"give both on one backend (e.g. torch.as_tensor(...) or np.asarray(...))")


def _dtype(rule: Rule, starts: ArrayLike) -> Any:
    """The dtype of the positions: the starts' (float64 for integers), promoted with array hyperparameters."""
    arrays = list(_array_hyperparameters(rule).values())
    if is_tensor(starts):
        dtype = starts.dtype if starts.is_floating_point() else _torch().float64
        for array in arrays:
            if array.is_floating_point():
                dtype = _torch().promote_types(dtype, array.dtype)
        return dtype
    return np.result_type(starts.dtype if starts.dtype.kind == "f" else np.float64, *arrays)


def _unsound_state(state: dict[str, Any], batch: tuple[int, ...]) -> ArrayLike | None:
    """Per run, True where an entry of the rule's state is not finite; None if every entry is finite.

    State entries shaped like the positions ``(*batch, 2)`` are checked; scalars (the step) are not.
    """
    unsound = None
    for value in state.values():
        if not (is_tensor(value) or isinstance(value, np.ndarray)) or tuple(value.shape) != (*batch, 2):
            continue
        if abs(value).max() < float("inf"):  # fast path: one reduction, False for NaN too
            continue
        bad = ~(abs(value) < float("inf")).all(-1)
        unsound = bad if unsound is None else unsound | bad
    return unsound


def _overflow(err: RuntimeError) -> bool:
    """True for torch's error when a Python-number coefficient does not fit the tensors' dtype."""
    return "overflow" in str(err)


def _steps(rule: Rule, landscape: Landscape, positions: ArrayLike, losses: ArrayLike,
           track_state: bool) -> tuple[dict[str, Any], ArrayLike | None]:
    """Fill ``positions[1:]`` and ``losses[1:]``; return the last state and, when ``track_state``,
    per step and run whether the state was unsound (else None)."""
    param = positions[0]  # the rules are pure: they never write into it
    state = rule.init(param)
    batch = tuple(positions.shape[1:-1])
    unsound = None
    for k in range(1, positions.shape[0]):  # the one loop: over steps, never over runs
        try:
            param, state = rule.update(param, landscape.grad(param), state)
        except RuntimeError as err:
            if not _overflow(err):
                raise
            # A scalar coefficient (shared by every run) overflowed the float type: torch refuses
            # to round it to ±inf, NumPy does; either way every run has diverged at this step.
            positions[k:] = float("nan")
            losses[k:] = float("nan")
            break
        positions[k] = param
        losses[k] = landscape.loss(param)
        if track_state:
            bad = _unsound_state(state, batch)
            if bad is not None:
                if unsound is None:
                    unsound = _empty(losses.shape, bool, positions)
                    unsound[...] = False
                unsound[k] = bad
    return state, unsound


def run(rule: Rule, landscape: Landscape, starts: ArrayLike | None = None, steps: int = 100, *,
        bound: float = BOUND) -> Trajectories:
    """Run ``rule`` on ``landscape`` for ``steps`` steps from every start, all runs at once.

    ``starts`` has shape ``(..., 2)`` (default: the landscape's ``start``); NumPy arrays run
    on NumPy, torch tensors on their device. The rule's hyperparameters may be arrays of shape
    ``(..., 1)`` (see :func:`grid`); the batch of runs is where they and ``starts.shape[:-1]``
    broadcast to (a hyperparameter may also hold one value per coordinate, last axis 2).
    A run diverges when a coordinate's magnitude exceeds ``bound`` or a position, loss or state
    entry is not finite; it is marked in ``diverged``/``diverged_at`` and NaN from then on. No
    warning or exception is raised for diverging runs, on either backend. Hyperparameter arrays
    must be of the starts' backend (a clear TypeError says which is not). A batch runs the rule's
    ``per_point`` version (:class:`~adaptive_optim.rules.Rule`): LAMB's norms over each point, and a
    clear ValueError for rules whose statistics would mix the runs (Muon, Adafactor, 8-bit). Positions are float64 unless the starts (or array
    hyperparameters) are another float type.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if not bound > 0:
        raise ValueError(f"bound must be positive, got {bound!r}")
    starts = landscape.start if starts is None else starts
    if not is_tensor(starts):
        starts = np.asarray(starts)
    if tuple(starts.shape[-1:]) != (2,):
        raise ValueError(f"starts must have shape (..., 2), got {tuple(starts.shape)}")
    _check_backends(rule, starts)
    batch = batch_shape(rule, starts)
    stepped = rule.per_point(batched=bool(batch))  # one run per point: LAMB's norms per point, not over the batch
    dtype = _dtype(rule, starts)
    positions = _empty((steps + 1, *batch, 2), dtype, starts)
    losses = _empty((steps + 1, *batch), dtype, starts)

    no_grad = _torch().no_grad() if is_tensor(starts) else contextlib.nullcontext()
    with no_grad, np.errstate(all="ignore"):
        positions[0] = starts
        losses[0] = landscape.loss(positions[0])
        state, _ = _steps(stepped, landscape, positions, losses, track_state=False)
        unsound_state = None
        if _unsound_state(state, batch) is not None:
            # Rare: some state overflowed. A non-finite state entry stays non-finite (every
            # rule's state is s' = a·s + f(g) with a ≥ 0), so checking the last state suffices
            # to know; run again, checking every step, to find where.
            state, unsound_state = _steps(stepped, landscape, positions, losses, track_state=True)
        dead = _unsound_from(positions, losses, bound, unsound_state)

    if dead is None:  # every run stayed sound
        dead = _empty((1, *batch), bool, starts)
        dead[...] = False
    else:
        positions[dead] = float("nan")
        losses[dead] = float("nan")
    return Trajectories(positions=positions, losses=losses, diverged=dead[-1], diverged_at=_first_true(dead),
                        rule=rule, landscape=landscape, bound=bound)


def feed(rule: Rule, gradients: ArrayLike, param: ArrayLike | None = None,
         state: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Apply ``rule`` to a given sequence of gradients (rows of ``gradients``), ignoring any landscape.

    For studying a rule's response to chosen inputs: a constant gradient, a spike, noise.
    ``param`` defaults to zeros shaped like one gradient and ``state`` to ``rule.init(param)``.
    Returns the parameters before and after every step, shape ``(len(gradients) + 1, ...)``, and
    every state entry after every step, stacked along a first axis of length ``len(gradients)``.
    """
    gradients = np.asarray(gradients, dtype=float)
    param = np.zeros(gradients.shape[1:]) if param is None else np.asarray(param, dtype=float)
    state = rule.init(param) if state is None else state
    params, states = [param], []
    with np.errstate(all="ignore"):  # overflow shows as inf/NaN in the result, as in run()
        for grad in gradients:
            param, state = rule.update(param, grad, state)
            params.append(param)
            states.append(state)
    stacked = {key: np.array([np.asarray(s[key]) for s in states]) for key in (states[0] if states else {})}
    return np.array(params), stacked
