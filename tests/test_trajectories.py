"""The vectorized runner takes the same steps as the rule applied to one trajectory at a time,
runs hyperparameter grids as separate runs would, and marks diverging runs without a warning.

Why bitwise equality can be asked for: the runner calls the same ``rule.update`` and
``landscape.grad`` on an array of shape (N, 2) that a single run calls on shape (2,), and the
rules and landscapes use only element-wise +, −, ×, ÷ and √, which IEEE 754 rounds correctly
whether NumPy takes its SIMD loop or its scalar one. The one exception is ``**``: NumPy's SIMD
``power`` for float64 arrays (here AVX-512) and the C library's ``pow``, which Python floats use,
are both accurate to about an ulp but are different routines, and disagree on a few percent of
arguments. ``β**t`` (Adam's bias corrections, RAdam's ρ_t) goes through it when β is a grid of
values. So a β grid is compared bitwise with runs whose β is a one-element array (the same
``power``), and with Python-float runs to a tolerance argued in that test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptive_optim.landscapes import LANDSCAPES, Beale, Quadratic, Rosenbrock, Saddle
from adaptive_optim.rules import RULES, SGD, Adafactor, Adam, Muon, RAdam
from adaptive_optim.trajectories import BOUND, Grid, Trajectories, feed, grid, run

#: Hyperparameters for each rule with its optional terms switched on, small enough not to diverge.
SETTINGS = {
    "SGD": dict(lr=1e-3, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "Adagrad": dict(lr=5e-2, lr_decay=1e-2, weight_decay=1e-2, initial_accumulator_value=0.1),
    "RMSprop": dict(lr=1e-2, momentum=0.5, centered=True, weight_decay=1e-2),
    "Adam": dict(lr=1e-2, amsgrad=True, weight_decay=1e-2),
    "AdamW": dict(lr=1e-2, betas=(0.8, 0.99)),
    "RAdam": dict(lr=1e-3, decoupled_weight_decay=True, weight_decay=1e-2),
    "NAdam": dict(lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True),
    "Adamax": dict(lr=1e-2, weight_decay=1e-2),
    "Lion": dict(lr=1e-2, betas=(0.8, 0.98), weight_decay=1e-2),
    # the trust ratio: one norm per trajectory (its point), never over the batch
    "Lamb": dict(lr=1e-2, weight_decay=1e-2, correct_moments=True),
}


def starts_in(landscape, n, seed=0):
    (x0, x1), (y0, y1) = landscape.window
    return np.random.default_rng(seed).uniform([x0, y0], [x1, y1], (n, 2)) * 0.8


def one_at_a_time(rule, landscape, start, steps):
    """The reference: the rule stepped on one (2,) array, as a reader would write it."""
    param = np.array(start, dtype=np.float64)
    state = rule.init(param)
    positions = [param]
    with np.errstate(all="ignore"):  # some of these runs diverge
        for _ in range(steps):
            param, state = rule.update(param, landscape.grad(param), state)
            positions.append(param)
    return np.array(positions)


def first_unsound(positions, losses, bound=BOUND):
    """The first step of a lone run outside the box or not finite, or −1: the runner's rule, spelled out."""
    unsound = ~(np.all(np.abs(positions) <= bound, axis=-1) & np.isfinite(losses))
    return int(np.argmax(unsound)) if unsound.any() else -1


@pytest.mark.parametrize("landscape", [Rosenbrock(), Beale(), Quadratic(angle_degrees=30)],
                         ids=lambda landscape: landscape.name)
@pytest.mark.parametrize("name", SETTINGS)
def test_runner_equals_stepping_each_trajectory_alone(name, landscape):
    # Some of these runs diverge (momentum SGD and RAdam's first, unrectified steps on the steep
    # Rosenbrock and Beale walls): the runner must mark them where the lone run leaves the box.
    rule = RULES[name](**SETTINGS[name])
    starts = starts_in(landscape, 4)
    steps = 40
    result = run(rule, landscape, starts, steps=steps)
    assert result.positions.shape == (steps + 1, 4, 2) and result.losses.shape == (steps + 1, 4)
    for i, start in enumerate(starts):
        alone = one_at_a_time(rule, landscape, start, steps)
        with np.errstate(all="ignore"):
            losses = landscape.loss(alone)
        k = first_unsound(alone, losses)
        assert result.diverged_at[i] == k and result.diverged[i] == (k >= 0)
        end = k if k >= 0 else steps + 1
        assert np.array_equal(result.positions[:end, i], alone[:end]), f"trajectory {i} differs"
        assert np.array_equal(result.losses[:end, i], losses[:end])
        assert np.all(np.isnan(result.positions[end:, i])) and np.all(np.isnan(result.losses[end:, i]))


def test_default_start_and_starts_left_untouched():
    landscape = Rosenbrock()
    result = run(Adam(lr=1e-2), landscape, steps=25)
    assert result.positions.shape == (26, 2) and result.batch_shape == () and result.steps == 25
    assert np.array_equal(result.positions, one_at_a_time(Adam(lr=1e-2), landscape, landscape.start, 25))
    starts = starts_in(landscape, 3)
    copy = starts.copy()
    run(Adam(lr=1e-2), landscape, starts, steps=5)
    assert np.array_equal(starts, copy)
    assert run(Adam(), landscape, starts, steps=0).positions.shape == (1, 3, 2)
    # A hyperparameter may also hold one value per coordinate (last axis of length 2).
    per_coordinate = Adam(lr=np.array([1e-2, 1e-3]))
    result = run(per_coordinate, landscape, starts, steps=25)
    for i, start in enumerate(starts):
        assert np.array_equal(result.positions[:, i], one_at_a_time(per_coordinate, landscape, start, 25))


def test_lr_grid_equals_python_float_runs_bit_for_bit():
    # lr never meets `**`, so plain Python-float runs take exactly the grid's steps.
    landscape = Rosenbrock()
    g = grid(lr=[1e-3, 1e-2, 1e-1], eps=[1e-8, 1e-3])
    result = run(Adam(lr=g.lr, eps=g.eps), landscape, steps=60)
    assert result.positions.shape == (61, 3, 2, 2) and result.losses.shape == (61, 3, 2)
    for i, lr in enumerate(g.axes["lr"]):
        for j, eps in enumerate(g.axes["eps"]):
            alone = run(Adam(lr=float(lr), eps=float(eps)), landscape, steps=60)
            assert np.array_equal(result.positions[:, i, j], alone.positions)
            assert np.array_equal(result.losses[:, i, j], alone.losses)


@pytest.mark.parametrize("rule_class", [Adam, RAdam])
def test_beta_grid_equals_separate_runs(rule_class):
    landscape = Quadratic(kappa=10, angle_degrees=30)
    g = grid(beta1=[0.0, 0.5, 0.9, 0.99], beta2=[0.9, 0.99, 0.999])
    steps = 200
    result = run(rule_class(lr=1e-3, betas=(g.beta1, g.beta2)), landscape, steps=steps)
    for i, b1 in enumerate(g.axes["beta1"]):
        for j, b2 in enumerate(g.axes["beta2"]):
            same_power = run(rule_class(lr=1e-3, betas=(np.array([b1]), np.array([b2]))), landscape,
                             steps=steps)
            assert np.array_equal(result.positions[:, i, j], same_power.positions)
            # With Python floats, β**t is computed by libm's pow, within an ulp of NumPy's: each
            # step's size then differs by a few u (relative). Were those differences not
            # amplified, the positions would differ by ≲ 4u·Σ|Δθ| ≤ 4u·steps·3.2·lr ≈ 6e-16
            # (an Adam step is at most lr·(1 − β₁)/√(1 − β₂) ≤ 3.2·lr for these β). On this
            # convex bowl with lr = 1e-3 the feedback through the gradient is mild; 1e-12 leaves
            # a factor 1000 for it, while a wrong pairing of grid values differs by O(lr).
            floats = run(rule_class(lr=1e-3, betas=(float(b1), float(b2))), landscape, steps=steps)
            np.testing.assert_allclose(result.positions[:, i, j], floats.positions, rtol=0, atol=1e-12)


def test_starts_times_grid_broadcast_and_reshape():
    landscape = Beale()
    starts = starts_in(landscape, 3)[:, None, :]           # (3, 1, 2)
    g = grid(lr=[1e-3, 3e-3, 1e-2, 3e-2])                   # g.lr: (4, 1)
    result = run(Adam(lr=g.lr), landscape, starts, steps=30)
    assert result.batch_shape == (3, 4) and result.positions.shape == (31, 3, 4, 2)
    for s in range(3):
        for i, lr in enumerate(g.axes["lr"]):
            alone = one_at_a_time(Adam(lr=float(lr)), landscape, starts[s, 0], 30)
            assert np.array_equal(result.positions[:, s, i], alone)
    # The same runs, flat: hyperparameters of shape (N, 1) against starts of shape (N, 2).
    flat = run(Adam(lr=np.tile(g.lr, (3, 1))), landscape,
               np.repeat(starts[:, 0], 4, axis=0), steps=30).reshape(3, 4)
    assert np.array_equal(flat.positions, result.positions)
    assert np.array_equal(flat.losses, result.losses)
    assert flat.diverged.shape == flat.diverged_at.shape == (3, 4)


def test_grid_arrays():
    g = grid(lr=[0.1, 0.2, 0.3], beta1=[0.5, 0.9])
    assert isinstance(g, Grid) and g.shape == (3, 2)
    assert g.lr.shape == g["beta1"].shape == (3, 2, 1)
    lr, beta1 = np.meshgrid([0.1, 0.2, 0.3], [0.5, 0.9], indexing="ij")
    assert np.array_equal(g.lr[..., 0], lr) and np.array_equal(g.beta1[..., 0], beta1)
    assert list(g.axes) == ["lr", "beta1"]
    with pytest.raises(AttributeError):
        g.momentum
    with pytest.raises(KeyError):
        g["momentum"]
    with pytest.raises(ValueError):
        grid()
    with pytest.raises(ValueError):
        grid(lr=[[0.1, 0.2]])
    with pytest.raises(ValueError):
        grid(shape=[1.0])


@pytest.mark.filterwarnings("error")
def test_gradient_descent_diverges_exactly_above_two_over_L():
    landscape = Quadratic(kappa=10.0)                       # L = 10, steep along x
    bound = landscape.stable_lr_bound                        # 0.2
    g = grid(lr=[0.1 * bound, 0.5 * bound, 0.99 * bound, 1.5 * bound, 1e10, 1e300])
    result = run(SGD(lr=g.lr), landscape, steps=100)
    assert result.diverged.tolist() == [False, False, False, True, True, True]
    # lr = 1.5·(2/L) multiplies x by 1 − lr·L = −2 each step: |x_k| = 1.8·2^k first exceeds
    # BOUND = 1e6 at k = 20 (1.8·2^19 ≈ 9.4e5, 1.8·2^20 ≈ 1.9e6). A step of 1e10 leaves the box at
    # once; 1e300 overflows to ±inf and then NaN, with no warning from NumPy either way.
    assert result.diverged_at.tolist() == [-1, -1, -1, 20, 1, 1]
    for i, k in enumerate(result.diverged_at):
        end = k if k >= 0 else None
        assert np.all(np.isfinite(result.positions[:end, i])) and np.all(np.isfinite(result.losses[:end, i]))
        assert np.all(np.abs(result.positions[:end, i]) <= BOUND)
        if k >= 0:
            assert np.all(np.isnan(result.positions[k:, i])) and np.all(np.isnan(result.losses[k:, i]))
    assert np.all(result.losses[-1, :3] < result.losses[0, :3])


@pytest.mark.filterwarnings("error")
def test_a_custom_bound_a_non_finite_start_and_adam_with_a_huge_step():
    landscape = Saddle()                                     # unbounded below along y
    rule = SGD(lr=0.1)
    result = run(rule, landscape, [[-1.5, 1e-3], [np.nan, 0.0], [np.inf, 1.0]], steps=60, bound=2.0)
    alone = one_at_a_time(rule, landscape, (-1.5, 1e-3), 60)
    expected = int(np.argmax(np.any(np.abs(alone) > 2.0, axis=-1)))  # y grows ×1.2 per step
    assert 0 < expected < 60
    assert result.diverged_at.tolist() == [expected, 0, 0]
    assert np.array_equal(result.positions[:expected, 0], alone[:expected])
    adam = run(Adam(lr=1e7), Quadratic(), starts_in(Quadratic(), 5), steps=10)
    assert adam.diverged.all() and np.all(adam.diverged_at == 1)
    # Inside a wide box, the loss can overflow first: x₁ ≈ 1.8e156 ≤ bound, but ½κx₁² = inf.
    overflow = run(SGD(lr=1e155), Quadratic(), steps=1, bound=1e300)
    assert overflow.diverged_at == 1


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("name", LANDSCAPES)
def test_sound_runs_are_not_marked(name):
    landscape = LANDSCAPES[name]
    g = grid(lr=[1e-3, 1e-2, 3e-2])
    result = run(Adam(lr=g.lr), landscape, starts_in(landscape, 5)[:, None, :], steps=200)
    assert result.diverged.shape == (5, 3) and result.diverged.dtype == bool
    assert not result.diverged.any() and np.all(result.diverged_at == -1)
    assert np.all(np.isfinite(result.positions)) and np.all(np.isfinite(result.losses))


def test_bad_arguments_are_refused():
    landscape = Rosenbrock()
    with pytest.raises(ValueError, match="last axis"):
        run(Adam(lr=np.array([1e-3, 1e-2, 1e-1])), landscape, steps=5)
    with pytest.raises(ValueError, match="do not broadcast"):
        run(Adam(lr=np.full((3, 1), 1e-2)), landscape, np.zeros((4, 2)), steps=5)
    with pytest.raises(ValueError, match="shape"):
        run(Adam(), landscape, np.zeros((4, 3)), steps=5)
    with pytest.raises(ValueError, match="steps"):
        run(Adam(), landscape, steps=-1)
    with pytest.raises(ValueError, match="bound"):
        run(Adam(), landscape, steps=5, bound=0.0)


def test_torch_tensors_run_on_torch():
    # The rules call torch's fused kernels (lerp, addcmul, addcdiv) on tensors, which round once
    # where NumPy rounds twice: a step may differ by a few ulps. On this convex bowl with a small
    # step such differences stay at the level of u (measured ≈ 1e-16); 1e-12 is a wide margin,
    # while a wrong backend path (a lost hyperparameter, a mis-broadcast) differs by O(lr).
    landscape = Quadratic(kappa=10.0, angle_degrees=30.0)
    g = grid(lr=[1e-3, 1e-2, 1e7])
    starts = starts_in(landscape, 4)[:, None, :]
    expected = run(Adam(lr=g.lr), landscape, starts, steps=50)
    result = run(Adam(lr=torch.tensor(g.lr)), landscape, torch.tensor(starts), steps=50)
    assert isinstance(result, Trajectories) and torch.is_tensor(result.positions)
    assert result.positions.dtype == torch.float64 and result.diverged.dtype == torch.bool
    assert result.diverged.numpy().tolist() == expected.diverged.tolist()
    assert result.diverged_at.numpy().tolist() == expected.diverged_at.tolist()
    np.testing.assert_allclose(result.positions.numpy(), expected.positions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.losses.numpy(), expected.losses, rtol=0, atol=1e-12)


def test_feed_applies_the_rule_to_the_given_gradients():
    rule = Adam(lr=0.1)
    gradients = np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]])
    params, states = feed(rule, gradients)
    theta, state = np.zeros(2), rule.init(np.zeros(2))
    for t, g in enumerate(gradients):
        theta, state = rule.update(theta, g, state)
        np.testing.assert_array_equal(params[t + 1], theta)
        np.testing.assert_array_equal(states["exp_avg_sq"][t], state["exp_avg_sq"])
    assert params.shape == (4, 2) and states["step"].tolist() == [1, 2, 3]


# Issue 12, finding 8: the runner's "never raises" promise, on both backends ------------------------

@pytest.mark.filterwarnings("error")
def test_an_lr_beyond_float32_marks_float32_torch_runs_diverged_as_on_numpy():
    """torch refuses to round a Python-number coefficient of 1e300 to float32 (RuntimeError);
    NumPy rounds it to inf. Both are one outcome: every run has diverged at step 1."""
    for starts in (np.array([[1.0, 2.0], [0.5, -1.0]], dtype=np.float32),
                   torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=torch.float32)):
        result = run(SGD(lr=1e300), Quadratic(), starts, steps=3)
        assert bool(result.diverged.all()) and result.diverged_at.tolist() == [1, 1]


def test_a_float64_tensor_grid_with_float32_tensor_starts_runs_in_float64():
    g = grid(lr=[1e-3, 1e-2])
    lr = torch.as_tensor(g.lr)
    starts32 = torch.tensor([-1.5, 1.0], dtype=torch.float32)
    result = run(Adam(lr=lr), Rosenbrock(), starts32, steps=20)
    assert result.positions.dtype == torch.float64
    expected = run(Adam(lr=lr), Rosenbrock(), starts32.double(), steps=20)
    assert torch.equal(result.positions, expected.positions)


@pytest.mark.parametrize("backend", ["numpy grid, torch starts", "torch grid, numpy starts"])
def test_hyperparameters_of_the_other_backend_are_refused_clearly(backend):
    g = grid(lr=[1e-3, 1e-2])
    if backend.startswith("numpy"):
        lr, starts, match = g.lr, torch.tensor([0.0, 1.0]), "hyperparameter lr is a NumPy array but the starts are torch"
    else:
        lr, starts, match = torch.as_tensor(g.lr), np.array([0.0, 1.0]), "hyperparameter lr is a torch tensor but the starts are NumPy"
    with pytest.raises(TypeError, match=match):
        run(SGD(lr=lr), Quadratic(), starts, steps=2)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("to_backend", [np.asarray, torch.as_tensor])
def test_an_overflowing_squared_gradient_marks_the_run_diverged(to_backend):
    """On a bowl of curvature 1e200, g = 1e200 at (1, 0), so g² overflows: v = inf, the step is
    m/inf = 0 and the run would stall at a finite point. Its state is not finite: diverged at 1.
    The run from the minimum (g = 0) stays sound."""
    steep = Quadratic(kappa=1e200)
    result = run(Adam(lr=0.1), steep, to_backend(np.array([[1.0, 0.0], [0.0, 0.0]])), steps=4)
    assert result.diverged.tolist() == [True, False]
    assert result.diverged_at.tolist() == [1, -1]


@pytest.mark.filterwarnings("error")
def test_feed_and_loss_overflow_without_numpy_warnings():
    params, states = feed(Adam(lr=0.1), [[1e200, 1.0]])
    assert np.isinf(states["exp_avg_sq"][0, 0])
    assert np.isinf(Quadratic(kappa=1e300).loss(np.array([1e10, 0.0])))
    assert np.isinf(Quadratic(kappa=1e300).grad(np.array([1e10, 0.0]))[0])


@pytest.mark.parametrize("rule", [Muon(lr=1e-2), Adafactor(lr=1e-2)], ids=lambda rule: type(rule).__name__)
def test_rules_whose_statistics_would_mix_the_runs_are_refused_in_a_batch(rule):
    """Muon orthogonalizes, and Adafactor factors, the whole (N, 2) array: one run at a time only."""
    with pytest.raises(ValueError, match="would mix a batch of trajectories"):
        run(rule, Quadratic(), starts_in(Quadratic(), 3), steps=2)
