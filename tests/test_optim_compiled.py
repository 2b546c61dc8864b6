"""Compiled training: ``torch.compile`` (default inductor backend) of ours gives eager's parameters.

Issue 12, finding 1: with ``step.item()`` and Python-float bias corrections inside the step, a
compiled Adam reused step 2's bias correction from step 3 on (steps up to ~5× lr) and RAdam
went wrong from step 6. The step counter is now a tensor and the bias corrections tensor
arithmetic, so the compiled step computes them on every call; ``fullgraph=True`` checks that
the step is one graph, with no break where a value could be baked in.

Tolerance. The runs are float64. Eager and compiled evaluate the same operations; inductor may
fuse them and round a product and a sum once instead of twice, so each elementwise result may
differ by a few units of 2⁻⁵³ relative. One step passes θ (|θ| < 2 here) through at most ~15
rounded operations (the rule with the most: RAdam), so a step differs by at most
15·2⁻⁵³·(|θ| + |Δθ|) < 15·2⁻⁵³·3 ≈ 5e-15, and STEPS = 8 steps of a contracting optimizer (lr
small against the loss's curvature) at most 8× that: atol = 1e-13 covers it with room, and is
10¹⁰ times smaller than the reported errors (a step 1.43× too long changes θ by ~1e-3).
"""

from __future__ import annotations

import torch

from adaptive_optim import optim as ours
from optim_cases import NAMES

STEPS = 8  # RAdam's rectified branch starts at step 6 for β₂ = 0.999: cover both branches
ATOL = 1e-13

KWARGS = {
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adagrad": dict(lr=0.05, lr_decay=1e-2),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=1e-3),
    "AdamW": dict(lr=0.01),
    "RAdam": dict(lr=0.01, weight_decay=1e-2, decoupled_weight_decay=True),
}


def tiny_problem():
    """A 3-2 linear model and one batch: as small as a real model gets, to keep compiling fast."""
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(16, 3, generator=g, dtype=torch.float64)
    y = torch.randn(16, 2, generator=g, dtype=torch.float64)
    return model, x, y


def train_all(compiled: bool, library=ours) -> dict[str, list[torch.Tensor]]:
    """STEPS steps of training with each of the six optimizers, one model each.

    Compiled, the six ``step()`` calls are one compiled function with ``fullgraph=True``: one
    graph for all six (inductor compiles once, which keeps this test fast), and an error if
    any step would break the graph.
    """
    torch._dynamo.reset()
    problems = {name: tiny_problem() for name in NAMES}
    opts = {name: getattr(library, name)(model.parameters(), **KWARGS[name])
            for name, (model, _, _) in problems.items()}

    def step_all():
        for opt in opts.values():
            opt.step()

    step = torch.compile(step_all, fullgraph=True) if compiled else step_all
    for _ in range(STEPS):
        for name, (model, x, y) in problems.items():
            opts[name].zero_grad()
            ((model(x) - y) ** 2).mean().backward()
        step()
    return {name: [p.detach().clone() for p in model.parameters()] for name, (model, _, _) in problems.items()}


def test_compiled_steps_give_eager_parameters():
    eager, compiled, reference = train_all(False), train_all(True), train_all(False, torch.optim)
    for name in NAMES:
        for e, c, r in zip(eager[name], compiled[name], reference[name]):
            assert torch.equal(e, r), name  # eager ours is torch.optim's arithmetic exactly
            torch.testing.assert_close(c, e, rtol=0, atol=ATOL, msg=lambda m: f"{name}: {m}")


def test_compiled_training_step_with_scheduler():
    """A whole training step (forward, backward, step) compiled, with lr changed by a scheduler
    between steps (a Tensor lr, so the new value reaches the compiled graph as data, as torch
    recommends), and RAdam, whose switch at ρ_t > 5 falls inside the run."""
    results = []
    for compiled in (False, True):
        torch._dynamo.reset()
        model, x, y = tiny_problem()
        opt = ours.RAdam(model.parameters(), lr=torch.tensor(0.01, dtype=torch.float64))
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)

        def training_step():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        step = torch.compile(training_step) if compiled else training_step
        for _ in range(STEPS):
            step()
            sched.step()
        results.append([p.detach().clone() for p in model.parameters()])
    for e, c in zip(*results):
        torch.testing.assert_close(c, e, rtol=0, atol=ATOL)
