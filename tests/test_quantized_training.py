"""8-bit Adam trains a real network as fp32 Adam does: a small CNN on the handwritten digits.

What margin, and why. The 8-bit state perturbs every step a little (each moment within its
round-trip bound: m within 0.9/128 of its block's maximum, v within a few per cent in its top
decades), a perturbation of the same kind as, and much smaller than, the one a different
minibatch order makes. Training is a chaotic process over hundreds of steps, so no rounding
argument bounds the loss curve; the natural scale of "the same training" is how much fp32 Adam's
own curve moves when only the seed (initialization and batch order) changes. So the requirement:
started from the same weights on the same batches, 8-bit Adam stays closer to fp32 Adam than fp32
Adam's runs with seeds 0, 1 and 2 are to each other, in the mean training loss of every 25-step
window and in the final test loss. All quantities are seeded and deterministic.

The criterion has teeth: the same optimizer with a *linear* 256-level map for v (the map the
dynamic one replaces) leaves the band, and the test checks that it does.

Needs :func:`adaptive_optim.datasets.digits` (splits with ``inputs``, float32 (N, 1, 8, 8) in
[0, 1], and ``targets``, int64 labels; ``Split.batches(batch_size, steps, seed=...)``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptive_optim import optim as ours
from adaptive_optim.datasets import digits
from adaptive_optim.rules import quantized

STEPS, WINDOW, BATCH, LR = 300, 25, 64, 3e-3
SEEDS = (0, 1, 2)


def cnn(seed: int) -> torch.nn.Module:
    """Two 3×3 convolutions and two linear layers, 13.7k parameters; every tensor is quantized
    (min_8bit_size=0), biases included, so the test is not carried by full-precision state."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def train(make_optimizer, seed: int) -> tuple[np.ndarray, float]:
    """Mean training loss of each 25-step window, and the final test loss."""
    data = digits()
    net = cnn(seed)
    opt = make_optimizer(net.parameters())
    losses = []
    for x, y in data.train.batches(BATCH, STEPS, seed=seed):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        test = torch.nn.functional.cross_entropy(net(data.test.inputs), data.test.targets).item()
    return np.asarray(losses).reshape(-1, WINDOW).mean(axis=1), test


def adam8bit(params):
    return ours.Adam8bit(params, lr=LR, min_8bit_size=0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny convolutions gain nothing from threads, and on a busy 2-core machine oversubscribed
    threads made this module 20 times slower; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fp32():
    return [train(lambda p: torch.optim.Adam(p, lr=LR), seed) for seed in SEEDS]


def outside_band(run, fp32) -> list[str]:
    """The windows (and the test loss) where ``run`` is farther from fp32 Adam with the same seed
    than fp32 Adam's seeds are from each other."""
    windows = np.stack([w for w, _ in fp32])
    spread = windows.max(axis=0) - windows.min(axis=0)
    gaps = np.abs(run[0] - fp32[0][0])
    failures = [f"window {i}: |{run[0][i]:.4f} - {fp32[0][0][i]:.4f}| > {spread[i]:.4f}"
                for i in np.flatnonzero(gaps > spread)]
    tests = [t for _, t in fp32]
    if abs(run[1] - tests[0]) > max(tests) - min(tests):
        failures.append(f"test loss {run[1]:.4f} vs {tests[0]:.4f}, seed spread {max(tests) - min(tests):.4f}")
    return failures


def test_adam8bit_stays_within_the_seed_band_of_fp32_adam(fp32):
    assert fp32[0][0][-1] < 0.2 * fp32[0][0][0]  # the network does learn
    assert outside_band(train(adam8bit, SEEDS[0]), fp32) == []


def test_a_linear_map_for_v_leaves_the_band(fp32, monkeypatch):
    monkeypatch.setattr(quantized, "UNSIGNED_MAP", np.linspace(0.0, 1.0, 256))
    assert outside_band(train(adam8bit, SEEDS[0]), fp32) != []
