"""Schedules taken from torch.optim.lr_scheduler (adaptive_optim.schedules), the schedules
chapter's grid (schedule_study) and its explorer of precomputed curves (schedule_explorer).

The multipliers are compared with the closed forms of the schedules exactly or to a few ulps:
torch's chainable schedulers compute each factor as a ratio of the previous one, so a value
that is 0.1 or (t+1)/W in exact arithmetic arrives after a handful of roundings (relative error
≤ ~10 u ≈ 2e-15 for the ≤ 40 steps used here): rtol = 1e-12 is a thousand times that and far
below the smallest change of schedule tested (a step off, ≥ 1e-2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from adaptive_optim import rules, schedule_study, schedules, sweeps
from adaptive_optim.schedule_explorer import ScheduleExplorer


def test_linear_warmup_then_shapes_follow_their_formulas():
    T, W = 40, 8
    t = np.arange(T)
    ramp = (t[:W] + 1) / W
    np.testing.assert_allclose(schedules.shape("constant", T, W), np.r_[ramp, np.ones(T - W)], rtol=1e-12)
    rest = T - W
    cosine = 0.5 * (1 + np.cos(np.pi * np.arange(rest) / (rest - 1)))
    np.testing.assert_allclose(schedules.shape("cosine", T, W), np.r_[ramp, cosine], rtol=1e-12, atol=1e-15)
    step = np.r_[np.ones(rest // 2), np.full(3 * rest // 4 - rest // 2, 0.1), np.full(rest - 3 * rest // 4, 0.01)]
    np.testing.assert_allclose(schedules.shape("step", T, W), np.r_[ramp, step], rtol=1e-12)
    np.testing.assert_array_equal(schedules.shape("constant", T, 0), np.ones(T))


def test_one_cycle_rises_from_a_25th_to_the_peak_then_falls_to_near_zero():
    s = schedules.shape("one-cycle", 40, 8)
    assert s[0] == pytest.approx(1 / 25) and s.max() == pytest.approx(1.0)
    assert int(np.argmax(s)) == 7 and s[-1] == pytest.approx(1 / (25 * 1e4))
    assert np.all(np.diff(s[:8]) > 0) and np.all(np.diff(s[7:]) < 0)


def test_untuned_warmup_is_ma_and_yarats():
    linear = schedules.untuned_warmup(3000, 0.999)
    assert linear[0] == pytest.approx(0.0005) and linear[999] == pytest.approx(0.5)
    assert linear[1998] < 1 and linear[1999] == pytest.approx(1.0) and linear[-1] == 1.0
    exponential = schedules.untuned_warmup(3000, 0.999, "exponential")
    assert exponential[999] == pytest.approx(1 - math.exp(-1))


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="unknown schedule"):
        schedules.shape("linear", 10)
    with pytest.raises(ValueError, match="warmup must lie"):
        schedules.shape("cosine", 10, 10)
    with pytest.raises(ValueError, match="beta2"):
        schedules.untuned_warmup(10, 1.0)
    with pytest.raises(ValueError, match="form"):
        schedules.untuned_warmup(10, 0.9, "cubic")
    with pytest.raises(ValueError, match="steps"):
        schedules.multipliers(lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1), 0)


def test_a_sweep_with_the_multipliers_equals_a_loop_with_the_scheduler():
    """float64, 12 steps, Adam: the batched sweep and a torch.optim loop with torch's scheduler give
    the same losses up to the order of summation (see tests/test_sweeps.py for the argument for
    rtol = 1e-9)."""
    def net():
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)).double()

    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(10, 4, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (10,), generator=g))
               for _ in range(12)]
    for name in schedules.SHAPES:
        sweep = sweeps.train(net, rules.Adam(lr=0.05), batches, F.cross_entropy, seeds=[3],
                             lr_schedule=schedules.shape(name, 12, 4))
        torch.manual_seed(3)
        model = net()
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        scheduler = schedules.scheduler(name, opt, 12, 4)
        losses = []
        for inputs, targets in batches:
            opt.zero_grad()
            loss = F.cross_entropy(model(inputs), targets)
            loss.backward()
            opt.step()
            scheduler.step()
            losses.append(loss.item())
        np.testing.assert_allclose(sweep.losses[:, 0].numpy(), losses, rtol=1e-9, err_msg=name)


def test_the_shipped_grid_has_the_grid_the_module_defines():
    runs = schedule_study.load()
    shape = (len(schedule_study.LRS), len(schedule_study.WARMUPS), len(schedule_study.SHAPES), len(schedule_study.SEEDS))
    assert list(runs["optimizers"]) == list(schedule_study.OPTIMIZERS)
    np.testing.assert_array_equal(runs["lrs"], schedule_study.LRS)
    for i in range(len(schedule_study.OPTIMIZERS)):
        assert runs[f"val_loss_{i}"].shape == shape
        assert runs[f"curve_{i}"].shape == shape + (schedule_study.STEPS // schedule_study.BLOCK,)


def explorer(curves=None):
    rng = np.random.default_rng(0)
    curves = curves if curves is not None else {"Adam": rng.uniform(0.1, 1, (2, 3, 4, 5))}
    return ScheduleExplorer({"lr": ["0.1", "1"], "warmup": ["0", "5", "10"]}, curves, colours={"Adam": "#0072b2"})


def test_explorer_draws_every_combination_and_each_differs():
    e = explorer()
    html = e.static_html()
    assert html.count('type="range"') == 2 and 'class="ao-explorer"' in html and "ao-controls" in html
    drawings = {e.svg((i, j)) for i in range(2) for j in range(3)}
    assert len(drawings) == 6


def test_explorer_says_when_seeds_diverged_and_refuses_bad_curves():
    curves = np.ones((2, 3, 4, 5))
    curves[0, 0, 1, 2:] = np.nan
    assert "1 diverged" in explorer({"Adam": curves}).legend((0, 0))
    with pytest.raises(ValueError, match="expected"):
        explorer({"Adam": np.ones((3, 3, 4, 5))})
    with pytest.raises(ValueError, match="no colour"):
        ScheduleExplorer({"lr": ["1"]}, {"RAdam": np.ones((1, 2, 3))}, colours={})
