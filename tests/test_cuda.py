"""The same rules on a GPU: the drop-in optimizers against torch.optim, and the trajectory runner,
on CUDA tensors. Skipped, and said so, on machines without CUDA (CI has none; Colab and the
device machine do). On CUDA torch.optim defaults to its foreach kernels, which round differently
from the single-tensor path, hence the float64 tolerance of the CPU test rather than equality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptive_optim import landscapes, optim, rules, trajectories
from optim_cases import NAMES, make_data, make_net, train_step

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")

SETTINGS = {"SGD": dict(lr=0.05, momentum=0.9, nesterov=True), "Adagrad": dict(lr=0.05, lr_decay=1e-3),
            "RMSprop": dict(lr=0.01, centered=True, momentum=0.5), "Adam": dict(lr=0.01, amsgrad=True),
            "AdamW": dict(lr=0.01), "RAdam": dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.01)}


@pytest.mark.parametrize("name", NAMES)
def test_drop_in_optimizer_on_cuda_matches_torch(name):
    x, y = (t.cuda() for t in make_data(torch.float64))
    nets = [make_net(torch.float64).cuda(), make_net(torch.float64).cuda()]
    opts = [getattr(optim, name)(nets[0].parameters(), **SETTINGS[name]),
            getattr(torch.optim, name)(nets[1].parameters(), **SETTINGS[name])]
    for _ in range(50):
        for net, opt in zip(nets, opts):
            train_step(net, opt, x, y, False)
    for p, q in zip(*(n.parameters() for n in nets)):
        assert p.device.type == "cuda"
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-9 * q.abs().max().item())


def test_runner_on_cuda_matches_numpy():
    starts = np.random.default_rng(0).uniform(-1.5, 1.5, size=(64, 2))
    rule = rules.Adam(lr=0.01)
    on_cpu = trajectories.run(rule, landscapes.Rosenbrock(), starts, steps=100)
    on_gpu = trajectories.run(rule, landscapes.Rosenbrock(), torch.tensor(starts, device="cuda"), steps=100)
    np.testing.assert_allclose(on_gpu.positions.cpu().numpy(), on_cpu.positions, rtol=1e-9, atol=1e-12)
