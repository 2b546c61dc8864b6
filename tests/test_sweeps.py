"""sweeps.train: K trainings as one batched computation equal K ordinary torch.optim loops.

Tolerance of the comparisons (float64, unit roundoff u = 2⁻⁵³ ≈ 1.1e-16). The batched and the
separate trainings do the same arithmetic in a different order: both of sweeps' paths (vmap, and the lowered network of known
layers) turn a convolution over K stacked weights into one grouped convolution (channels-last on
the lowered path) and a linear layer into a batched matrix product,
whose kernels sum the (at most 16 × 64 = 1,024) products of each gradient entry in another order,
and per-run hyperparameters (tensors) make the rules use unfused multiply-adds where torch.optim
fuses them. Each gradient entry therefore differs by at most about 1,024·u relative to the sum of
the magnitudes of its terms (≈ 1e-13), each update adds a few ulps, and over the ≤ 10 steps of
these tests, at learning rates where training is stable (the loss falls), so that a difference
is amplified at most by a modest factor per step, the parameters and losses stay within ~1e-11 of each other relative to their size.
``TOL`` allows 1e-9 relative (1e-10 absolute, for entries near zero): a hundred times that bound,
and still five orders of magnitude below what a wrong hyperparameter per run, a wrong seed, a
skipped step or float32 arithmetic would give (≥ 1e-5). Two caveats the tests respect: at
learning rates where training is chaotic, any two orders of summation drift apart exponentially
(two torch.optim runs on different kernels would too), and a gradient that is exactly zero in exact
arithmetic (a bias before batch norm) is pure rounding noise, which g/√v turns into full steps.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from adaptive_optim import rules, stacked_layers, sweeps

TOL = dict(rtol=1e-9, atol=1e-10)
SEEDS = [0, 1, 2]
K = len(SEEDS)


def conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.Conv2d(3, 4, 3, stride=2),
                         nn.Flatten(), nn.Linear(4 * 3 * 3, 5)).double()


class TinyTransformer(nn.Module):
    """Token and position embeddings, one self-attention block, next-token logits."""

    def __init__(self, vocabulary: int = 11, width: int = 8, context: int = 6) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocabulary, width)
        self.positions = nn.Parameter(0.1 * torch.randn(context, width))
        self.block = nn.TransformerEncoderLayer(width, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.out = nn.Linear(width, vocabulary)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.positions[: ids.shape[1]]
        mask = nn.Transformer.generate_square_subsequent_mask(ids.shape[1], dtype=x.dtype)
        return self.out(self.block(x, src_mask=mask, is_causal=True))


def transformer() -> nn.Module:
    return TinyTransformer().double()


def image_batches(steps: int = 8, n: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(123)
    return [(torch.rand(n, 1, 8, 8, generator=g, dtype=torch.float64), torch.randint(5, (n,), generator=g))
            for _ in range(steps)]


def token_batches(steps: int = 6) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(11, (steps, 4, 7), generator=g)
    return [(w[:, :-1], w[:, 1:]) for w in ids]


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def run_value(value, k):
    """Run k's value of a hyperparameter given as a number or a per-run list."""
    if isinstance(value, tuple):
        return tuple(run_value(v, k) for v in value)
    return value[k] if isinstance(value, list) else value


def as_rule_value(value):
    if isinstance(value, tuple):
        return tuple(as_rule_value(v) for v in value)
    return torch.tensor(value, dtype=torch.float64) if isinstance(value, list) else value


def torch_loops(make_model, name, settings, batches, loss_fn, *, seeds=SEEDS, factors=None):
    """The reference: one ordinary torch.optim loop per run (LambdaLR for a schedule)."""
    losses, params = [], []
    for k, seed in enumerate(seeds):
        torch.manual_seed(seed)
        model = make_model()
        opt = getattr(torch.optim, name)(model.parameters(), **{key: run_value(v, k) for key, v in settings.items()})
        scheduler = None if factors is None else torch.optim.lr_scheduler.LambdaLR(opt, lambda t, k=k: factors(t, k))
        run_losses = []
        for inputs, targets in batches:
            opt.zero_grad()
            loss = loss_fn(model(inputs), targets)
            run_losses.append(loss.item())
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
        losses.append(run_losses)
        params.append(dict(model.named_parameters()))
    return torch.tensor(losses, dtype=torch.float64).T, params


def assert_equals_loops(sweep, losses, params):
    torch.testing.assert_close(sweep.losses, losses, **TOL)
    for k, run_params in enumerate(params):
        for name, p in run_params.items():
            torch.testing.assert_close(sweep.params[name][k], p.detach(), **TOL)


CASES = {
    "SGD": dict(lr=[0.05, 0.1, 0.02], weight_decay=1e-2),
    "SGD momentum": dict(lr=[0.05, 0.1, 0.02], momentum=[0.0, 0.9, 0.5], dampening=0.1),
    "SGD nesterov": dict(lr=[0.05, 0.1, 0.02], momentum=[0.9, 0.8, 0.5], nesterov=True),
    "Adagrad": dict(lr=[0.05, 0.1, 0.02], lr_decay=[0.0, 0.01, 0.1], initial_accumulator_value=[0.0, 0.1, 1.0],
                    weight_decay=1e-3),
    "RMSprop": dict(lr=[1e-3, 1e-2, 3e-3], alpha=[0.99, 0.9, 0.5], weight_decay=1e-3),
    "RMSprop centered momentum": dict(lr=[1e-3, 1e-2, 3e-3], centered=True, momentum=[0.0, 0.9, 0.5],
                                      eps=[1e-8, 1e-6, 1e-3]),
    "Adam": dict(lr=[1e-3, 1e-2, 3e-2], betas=([0.9, 0.0, 0.5], [0.999, 0.9, 0.99]), weight_decay=[0.0, 0.1, 0.01]),
    "Adam amsgrad": dict(lr=[1e-3, 1e-2, 3e-2], amsgrad=True, eps=[1e-8, 1e-4, 1e-2]),
    "AdamW": dict(lr=[1e-3, 1e-2, 3e-2], weight_decay=[0.0, 0.1, 1.0], betas=(0.8, [0.999, 0.99, 0.9])),
    "RAdam": dict(lr=[1e-3, 1e-2, 3e-2], betas=(0.9, [0.999, 0.9, 0.5])),
    "RAdam decoupled": dict(lr=[1e-3, 1e-2, 3e-2], weight_decay=[0.0, 0.1, 1.0], decoupled_weight_decay=True),
}


@pytest.fixture(params=["lowered", "vmap"])
def path(request, monkeypatch):
    """Run the test on both of sweeps' paths: the lowered network (stacked_layers) and vmap."""
    if request.param == "vmap":
        monkeypatch.setattr(stacked_layers, "lower", lambda model, ndim: None)
    return request.param


@pytest.mark.parametrize("case", CASES)
def test_every_rule_with_per_run_hyperparameters_equals_torch_optim_loops(case, path):
    name, settings = case.split()[0], CASES[case]
    rule = rules.RULES[name](**{key: as_rule_value(v) for key, v in settings.items()})
    batches = image_batches()
    sweep = sweeps.train(conv_net, rule, batches, F.cross_entropy, seeds=SEEDS)
    assert sweep.losses.shape == (len(batches), K) and sweep.params["0.weight"].shape == (K, 3, 1, 3, 3)
    assert_equals_loops(sweep, *torch_loops(conv_net, name, settings, batches, F.cross_entropy))
    assert not sweep.diverged.any() and (sweep.diverged_at == -1).all()


@pytest.mark.parametrize("name", ["Adam", "SGD"])
def test_transformer_with_embeddings_and_attention_equals_torch_optim_loops(name):
    settings = dict(lr=[1e-2, 3e-2, 1e-1]) | (dict(momentum=0.9) if name == "SGD" else {})
    rule = rules.RULES[name](**{key: as_rule_value(v) for key, v in settings.items()})
    batches = token_batches()
    sweep = sweeps.train(transformer, rule, batches, sequence_loss, seeds=SEEDS)
    assert_equals_loops(sweep, *torch_loops(transformer, name, settings, batches, sequence_loss))


def book_cnn() -> nn.Module:
    """The real-networks chapter's CNN (width 4): conv – ReLU – max-pool, twice, then a linear layer."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32, 5)).double()


def layer_zoo() -> nn.Module:
    """Every kind of layer the lowered path knows, in one network: a grouped convolution without
    bias, average pooling, GELU, nested Sequentials, a linear layer after another (runs layout)."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
                         nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False), nn.GELU()),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(24, 8), nn.Tanh(), nn.Linear(8, 5)).double()


@pytest.mark.parametrize("make_model", [book_cnn, layer_zoo])
def test_the_lowered_path_runs_without_vmap_over_the_model_and_equals_loops(make_model, monkeypatch):
    """The book's CNN and the other known layers take the lowered path (the model is never called
    through functional_call under vmap) and equal K torch.optim loops within TOL: the lowered
    network does the same products as the loops and sums them in another order (a grouped,
    channels-last convolution; a batched matrix product), and its one reordering of layers
    (max-pooling before ReLU) is exact, so the module docstring's bound holds unchanged."""
    assert stacked_layers.lower(make_model(), 4) is not None

    def refuse(*args, **kwargs):
        raise AssertionError("the lowered path must not call the model through functional_call")

    monkeypatch.setattr(sweeps, "functional_call", refuse)
    settings = dict(lr=[1e-3, 1e-2, 3e-2])
    batches, held_out = image_batches(), image_batches(1, n=12)
    sweep = sweeps.train(make_model, rules.Adam(lr=as_rule_value(settings["lr"])), batches, F.cross_entropy,
                         seeds=SEEDS, eval_batches=held_out, eval_steps=[len(batches)])
    losses, params = torch_loops(make_model, "Adam", settings, batches, F.cross_entropy)
    assert_equals_loops(sweep, losses, params)
    for k in range(K):
        model = make_model()
        model.load_state_dict(sweep.state_dict(k))
        with torch.no_grad():
            expected = F.cross_entropy(model(held_out[0][0]), held_out[0][1])
        torch.testing.assert_close(sweep.evaluations["loss"][0, k], expected, **TOL)


class Scale(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


class MyLinear(nn.Linear):
    pass


def hooked() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    model[1].register_forward_hook(lambda module, args, out: out * 2)
    return model


def tied() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 64), nn.Linear(64, 5))
    model[3].weight = model[1].weight
    return model


@pytest.mark.parametrize("make_model", [
    transformer, hooked, tied, lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 8), Scale(), nn.Linear(8, 5)),
    lambda: nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(64, 5)),
    lambda: nn.Sequential(nn.Flatten(), MyLinear(64, 5)),
    lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.Flatten(), nn.Linear(128, 5)),
    lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False)),
    lambda: nn.Sequential(nn.MaxPool2d(2, return_indices=True)),
], ids=["transformer", "hook", "tied weights", "custom module", "dropout", "subclass", "reflect padding", "batch norm",
        "pool indices"])
def test_unknown_layers_are_not_lowered(make_model):
    """Anything the lowered path does not know keeps the vmap path (the tests above check it equals loops)."""
    assert stacked_layers.lower(make_model(), 4) is None


def test_unbatched_inputs_are_not_lowered():
    assert stacked_layers.lower(book_cnn(), 3) is None  # (C, H, W): no batch axis
    assert stacked_layers.lower(nn.Sequential(nn.Flatten(0), nn.Linear(64, 5)), 3) is None  # flattens the batch axis
    assert stacked_layers.lower(nn.Linear(64, 5), 1) is None
    assert stacked_layers.lower(nn.Linear(64, 5), 3) is not None


def test_max_pooling_before_relu_is_exact_with_ties():
    """The lowered path pools before ReLU; with many ties (small integers, zeros, negatives) the
    values and the gradients equal those of ReLU then pooling exactly."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-2, 3, (4, 3, 6, 6), generator=g).double().requires_grad_()
    upstream = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    reference = F.max_pool2d(F.relu(x), 2)
    (expected,) = torch.autograd.grad(reference, x, upstream)
    swapped = F.relu(F.max_pool2d(x, 2))
    (got,) = torch.autograd.grad(swapped, x, upstream)
    assert torch.equal(swapped, reference) and torch.equal(got, expected)
    assert (expected != 0).any()


def test_shared_seed_and_hyperparameters_give_identical_runs_and_seeds_differ():
    sweep = sweeps.train(conv_net, rules.Adam(lr=1e-2), image_batches(3), F.cross_entropy, seeds=[5, 5, 6])
    assert torch.equal(sweep.losses[:, 0], sweep.losses[:, 1])
    assert not torch.equal(sweep.losses[:, 0], sweep.losses[:, 2])


def test_lr_schedule_callable_or_array_equals_lambda_lr():
    batches = image_batches(6)
    settings = dict(lr=[1e-2, 3e-2, 1e-1])
    # one row more than there are steps: LambdaLR evaluates its lambda once more after the last step
    warmup = [[min(1.0, (t + 1) / (k + 2)) for k in range(K)] for t in range(len(batches) + 1)]
    losses, params = torch_loops(conv_net, "Adam", settings, batches, F.cross_entropy,
                                 factors=lambda t, k: warmup[t][k])
    rule = rules.Adam(lr=as_rule_value(settings["lr"]))
    by_array = sweeps.train(conv_net, rule, batches, F.cross_entropy, seeds=SEEDS, lr_schedule=warmup[:-1])
    assert_equals_loops(by_array, losses, params)
    by_callable = sweeps.train(conv_net, rule, batches, F.cross_entropy, seeds=SEEDS,
                               lr_schedule=lambda t: torch.tensor(warmup[t], dtype=torch.float64))
    assert torch.equal(by_callable.losses, by_array.losses)

    cosine = lambda t: 0.5 * (1 + math.cos(math.pi * t / len(batches)))  # noqa: E731
    losses, params = torch_loops(conv_net, "AdamW", settings, batches, F.cross_entropy, factors=lambda t, k: cosine(t))
    sweep = sweeps.train(conv_net, rules.AdamW(lr=as_rule_value(settings["lr"])), batches, F.cross_entropy,
                         seeds=SEEDS, lr_schedule=cosine)
    assert_equals_loops(sweep, losses, params)


def test_divergent_runs_are_marked_frozen_and_the_others_go_on():
    """Run 1's lr overflows the parameters; runs 0 and 2 must still equal their loops."""
    batches = image_batches(5)
    lrs = [0.05, 1e307, 0.02]
    sweep = sweeps.train(conv_net, rules.SGD(lr=torch.tensor(lrs, dtype=torch.float64), momentum=0.9), batches, F.cross_entropy, seeds=SEEDS)
    assert sweep.diverged.tolist() == [False, True, False]
    # The reference run 1, by hand: the step at which its loss or updated parameters stop being finite.
    torch.manual_seed(SEEDS[1])
    model = conv_net()
    opt = torch.optim.SGD(model.parameters(), lr=lrs[1], momentum=0.9)
    for t, (x, y) in enumerate(batches):
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if not torch.isfinite(loss):
            break
        loss.backward()
        opt.step()
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            break
    assert sweep.diverged_at.tolist() == [-1, t, -1]
    assert sweep.losses[t + 1:, 1].isnan().all() and sweep.losses[:t, 1].isfinite().all()
    torch.testing.assert_close(sweep.losses[t, 1], loss.detach(), equal_nan=True)  # its loss at that step
    for name, p in before.items():
        torch.testing.assert_close(sweep.params[name][1], p, **TOL)  # frozen at its last finite parameters
    losses, params = torch_loops(conv_net, "SGD", dict(lr=lrs, momentum=0.9), batches, F.cross_entropy)
    keep = [0, 2]
    torch.testing.assert_close(sweep.losses[:, keep], losses[:, keep], **TOL)
    for k in keep:
        for name, p in params[k].items():
            torch.testing.assert_close(sweep.params[name][k], p.detach(), **TOL)


def test_non_finite_loss_marks_the_run_at_that_step():
    class Blows(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, dtype=torch.float64))

        def forward(self, x):
            return (self.w * x).sum(-1)

    batches = [(torch.ones(2, 3, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))] * 3
    batches = batches + [(torch.full((2, 3), math.inf, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))]
    sweep = sweeps.train(Blows, rules.Adam(lr=0.1), batches, F.mse_loss, seeds=[0, 1])
    assert sweep.diverged_at.tolist() == [3, 3]
    assert sweep.losses[:3].isfinite().all() and not sweep.losses[3].isfinite().any()
    assert all(p.isfinite().all() for p in sweep.params.values())


def test_evaluation_at_chosen_steps_equals_evaluating_the_loops():
    batches, held_out = image_batches(4), image_batches(2, n=10)
    held_out = [(x + 0.5, y) for x, y in held_out]

    def accuracy(outputs, targets):
        return (outputs.argmax(-1) == targets).double().mean()

    metrics = {"loss": F.cross_entropy, "accuracy": accuracy}
    sweep = sweeps.train(conv_net, rules.RMSprop(lr=torch.tensor([3e-4, 1e-3, 3e-3])), batches, F.cross_entropy,
                         seeds=SEEDS, eval_batches=held_out, eval_steps=[0, 2, 4], metrics=metrics)
    for k, lr in enumerate([3e-4, 1e-3, 3e-3]):
        torch.manual_seed(SEEDS[k])
        model = conv_net()
        opt = torch.optim.RMSprop(model.parameters(), lr=lr)
        for t in range(5):
            if t in (0, 2, 4):
                with torch.no_grad():
                    for m, fn in metrics.items():
                        value = sum(fn(model(x), y).item() * len(y) for x, y in held_out) / 20
                        assert sweep.evaluations[m][[0, 2, 4].index(t), k].item() == pytest.approx(value, rel=1e-9, abs=1e-10)
            if t < 4:
                opt.zero_grad()
                F.cross_entropy(model(batches[t][0]), batches[t][1]).backward()
                opt.step()
    assert sweep.eval_steps == (0, 2, 4) and sweep.evaluations["loss"].shape == (3, K)


def test_chunks_give_the_same_sweep():
    rule = rules.Adam(lr=torch.tensor([1e-3, 1e-2, 3e-2, 1e-1, 3e-1]))
    batches = image_batches(4)
    whole = sweeps.train(conv_net, rule, batches, F.cross_entropy, seeds=range(5))
    chunked = sweeps.train(conv_net, rule, batches, F.cross_entropy, seeds=range(5), chunk_size=2)
    torch.testing.assert_close(chunked.losses, whole.losses, **TOL)
    for name, p in whole.params.items():
        torch.testing.assert_close(chunked.params[name], p, **TOL)
        torch.testing.assert_close(chunked.state[name]["exp_avg_sq"], whole.state[name]["exp_avg_sq"], **TOL)
    model = conv_net()
    model.load_state_dict(whole.state_dict(3))
    assert torch.equal(model[0].weight, whole.params["0.weight"][3])


def test_batch_norm_without_running_statistics_equals_loops_and_with_them_is_refused():
    def normed():
        # No bias before the normalization: its gradient is exactly 0 in exact arithmetic, so in
        # floating point it is pure rounding noise, which Adam's g/√v would turn into full steps.
        return nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.BatchNorm2d(3, track_running_stats=False), nn.ReLU(),
                             nn.Flatten(), nn.Linear(3 * 6 * 6, 5)).double()

    batches, settings = image_batches(4), dict(lr=[1e-2, 3e-2, 1e-1])
    sweep = sweeps.train(normed, rules.Adam(lr=as_rule_value(settings["lr"])), batches, F.cross_entropy, seeds=SEEDS)
    assert_equals_loops(sweep, *torch_loops(normed, "Adam", settings, batches, F.cross_entropy))

    def with_buffers():
        return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(3 * 6 * 6, 5)).double()

    with pytest.raises(ValueError, match="buffers .*running_mean.*track_running_stats=False"):
        sweeps.train(with_buffers, rules.Adam(), batches, F.cross_entropy, seeds=SEEDS)


def test_dropout_is_refused_unless_runs_may_draw_differently():
    def dropped():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.5), nn.Linear(16, 5)).double()

    batches = image_batches(3)
    with pytest.raises(ValueError, match="random numbers in its forward pass.*randomness='different'"):
        sweeps.train(dropped, rules.SGD(lr=0.1), batches, F.cross_entropy, seeds=[0, 0])
    sweep = sweeps.train(dropped, rules.SGD(lr=0.1), batches, F.cross_entropy, seeds=[0, 0], randomness="different",
                         eval_batches=batches[:1], eval_steps=[0])
    assert not torch.equal(sweep.losses[:, 0], sweep.losses[:, 1])  # same weights, independent masks
    # evaluation runs in eval mode (no dropout): the two runs' identical initial weights agree
    assert sweep.evaluations["loss"][0, 0] == sweep.evaluations["loss"][0, 1]


def test_bad_input_gets_a_clear_error():
    batches = image_batches(2)
    with pytest.raises(ValueError, match=r"lr has shape \(2,\).*length 3"):
        sweeps.train(conv_net, rules.Adam(lr=torch.tensor([0.1, 0.2])), batches, F.cross_entropy, seeds=SEEDS)
    with pytest.raises(ValueError, match="non-empty sequence"):
        sweeps.train(conv_net, rules.Adam(), [], F.cross_entropy, seeds=SEEDS)
    with pytest.raises(ValueError, match="seeds is empty"):
        sweeps.train(conv_net, rules.Adam(), batches, F.cross_entropy, seeds=[])
    with pytest.raises(ValueError, match=r"eval_steps must lie in 0..2"):
        sweeps.train(conv_net, rules.Adam(), batches, F.cross_entropy, seeds=SEEDS, eval_batches=batches, eval_steps=[3])
    with pytest.raises(ValueError, match="lr_schedule has shape"):
        sweeps.train(conv_net, rules.Adam(), batches, F.cross_entropy, seeds=SEEDS, lr_schedule=[1.0])
    with pytest.raises(ValueError, match="scalar"):
        sweeps.train(conv_net, rules.Adam(), batches, lambda o, y: F.cross_entropy(o, y, reduction="none"), seeds=SEEDS)
    with pytest.raises(TypeError, match="adaptive_optim.rules"):
        sweeps.train(conv_net, torch.optim.Adam, batches, F.cross_entropy, seeds=SEEDS)
    widths = iter([3, 4])
    with pytest.raises(ValueError, match="different parameters"):
        sweeps.train(lambda: nn.Linear(64, next(widths)), rules.Adam(), batches, F.cross_entropy, seeds=[0, 1])
    with pytest.raises(ValueError, match="sparse=True"):
        sweeps.train(lambda: nn.Embedding(5, 2, sparse=True), rules.Adam(), batches, F.cross_entropy, seeds=[0])


def test_progress_line_on_request(capsys):
    sweeps.train(conv_net, rules.SGD(lr=0.1), image_batches(3), F.cross_entropy, seeds=[0], progress=True)
    assert "3/3 steps" in capsys.readouterr().err
    sweeps.train(conv_net, rules.SGD(lr=0.1), image_batches(3), F.cross_entropy, seeds=[0])
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_the_same_sweep_on_cuda_equals_the_cpu_one():
    rule = rules.Adam(lr=torch.tensor([1e-3, 1e-2, 3e-2]))
    batches = image_batches(5)
    on_cpu = sweeps.train(conv_net, rule, batches, F.cross_entropy, seeds=SEEDS)
    on_gpu = sweeps.train(lambda: conv_net().cuda(), rule, batches, F.cross_entropy, seeds=SEEDS)
    assert on_gpu.params["0.weight"].device.type == "cuda"
    torch.testing.assert_close(on_gpu.losses, on_cpu.losses, **TOL)
    for name, p in on_cpu.params.items():
        torch.testing.assert_close(on_gpu.params[name].cpu(), p, **TOL)


@pytest.mark.parametrize("rule", [rules.Lamb(lr=0.01), rules.Adafactor(), rules.Muon(lr=0.01),
                                  rules.Blockwise8bit(inner=rules.Adam(lr=0.01))],
                         ids=lambda rule: type(rule).__name__)
def test_rules_that_mix_entries_are_refused(rule) -> None:
    """LAMB's trust ratio, Adafactor's row/column means, Muon's orthogonalization and 8-bit blocks
    act on whole tensors: on K stacked runs they would mix the runs (LAMB's norms silently did)."""
    batches = [(torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64))]
    with pytest.raises(ValueError, match="ordinary loops"):
        sweeps.train(lambda: nn.Linear(3, 2).double(), rule, batches, F.mse_loss, seeds=[0, 1])


def test_stackable_rules_are_accepted() -> None:
    assert all(cls.stackable for cls in (rules.SGD, rules.Adagrad, rules.RMSprop, rules.Adam, rules.AdamW,
                                           rules.RAdam, rules.NAdam, rules.Adamax, rules.Lion,
                                           rules.AdamWScheduleFree))


STACKABLE = {name: cls for name, cls in rules.RULES.items() if cls.stackable}


def test_the_stackable_rules_of_the_package_are_the_elementwise_ones():
    """Every rule of the package a sweep accepts is stepped joined (and tested so below)."""
    assert set(sweeps._ELEMENTWISE_RULES) == set(STACKABLE.values())


@pytest.mark.parametrize("name", STACKABLE)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_joined_parameters_step_as_each_parameter_alone(name, dtype, path, monkeypatch):
    """The rule steps the trainable parameters joined into one (K, P) tensor (sweeps._Joined). For a
    stackable rule, every entry's update is the same elementwise arithmetic on the same numbers
    whichever tensor holds it, so the sweep must equal the one that steps each parameter alone,
    bit for bit: parameters, losses and every state entry with its per-parameter shape.
    (A mismatch would show a rule reading the tensor's shape, or a wrongly split state.) On both
    paths: the network must compute with the same tensors as without joining."""
    lrs = torch.tensor([1e-3, 1e-2, 3e-2])
    rule = STACKABLE[name](lr=lrs) if name != "SGD" else rules.SGD(lr=lrs, momentum=0.9)
    batches = [(x.to(dtype), y) for x, y in image_batches()]

    def make():
        return conv_net().to(dtype)

    joined = sweeps.train(make, rule, batches, F.cross_entropy, seeds=SEEDS)
    monkeypatch.setattr(sweeps._Joined, "of", classmethod(lambda cls, params: None))
    alone = sweeps.train(make, rule, batches, F.cross_entropy, seeds=SEEDS)
    assert torch.equal(joined.losses, alone.losses)
    assert joined.params.keys() == alone.params.keys()
    for n in alone.params:
        assert torch.equal(joined.params[n], alone.params[n]), n
        assert joined.state[n].keys() == alone.state[n].keys(), n
        for key, value in alone.state[n].items():
            if isinstance(value, torch.Tensor):
                assert joined.state[n][key].shape == value.shape and torch.equal(joined.state[n][key], value), (n, key)
            else:
                assert joined.state[n][key] == value, (n, key)


def test_joined_parameters_on_the_transformer_equal_each_parameter_alone(monkeypatch):
    """The vmap path with embeddings, attention and a parameter outside any layer: joining the
    parameters changes nothing, bit for bit."""
    rule = rules.Adam(lr=torch.tensor([1e-2, 3e-2, 1e-1]))
    joined = sweeps.train(transformer, rule, token_batches(), sequence_loss, seeds=SEEDS)
    monkeypatch.setattr(sweeps._Joined, "of", classmethod(lambda cls, params: None))
    alone = sweeps.train(transformer, rule, token_batches(), sequence_loss, seeds=SEEDS)
    assert torch.equal(joined.losses, alone.losses)
    for n, p in alone.params.items():
        assert torch.equal(joined.params[n], p), n
        assert torch.equal(joined.state[n]["exp_avg_sq"], alone.state[n]["exp_avg_sq"]), n


def test_a_stackable_subclass_with_norms_per_run_is_not_joined(monkeypatch):
    """A rule subclass that takes norms over each run's tensor (stackable, not elementwise; the
    beyond chapter's LAMB) must see each parameter alone: joined, its norm would span all layers.
    So its sweep is bit for bit the one with joining switched off."""
    import dataclasses

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class LambPerRun(rules.Lamb):
        stackable = True

        def update(self, param, grad, state):
            return rules.Lamb.update(self.replace(layer_dims=param.ndim - 1), param, grad, state)

    def mlp() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.Tanh(), nn.Linear(6, 5)).double()

    rule = LambPerRun(lr=torch.tensor([1e-3, 1e-2, 3e-2]))
    sweep = sweeps.train(mlp, rule, image_batches(), F.cross_entropy, seeds=SEEDS)
    monkeypatch.setattr(sweeps._Joined, "of", classmethod(lambda cls, params: None))
    alone = sweeps.train(mlp, rule, image_batches(), F.cross_entropy, seeds=SEEDS)
    for name, p in alone.params.items():
        assert torch.equal(sweep.params[name], p), name


_FRESH_PROCESS = """
import resource, sys, torch
from torch import nn
from torch.nn import functional as F
from adaptive_optim import rules, sweeps
if sys.argv[1] == "without":
    sweeps._memory_kept = True  # as if the block had been allocated: it is not
torch.manual_seed(0)
x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
def cnn():  # the book's CNN, width 8: 4 MB activations for 32 runs
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))
def sweep():
    sweeps.train(cnn, rules.Adam(lr=1e-3), [(x, y)] * 20, F.cross_entropy, seeds=range(32))
sweep()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
sweep()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
block = torch.empty(20 << 20, dtype=torch.uint8).data_ptr()  # freed memory reused, or fresh from mmap?
heap = [line.split()[0].split("-") for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
print(faults, any(int(lo, 16) <= block < int(hi, 16) for lo, hi in heap))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's adaptive thresholds")
@pytest.mark.skipif("LD_PRELOAD" in os.environ, reason="another allocator may be preloaded")
def test_a_cpu_sweep_reuses_freed_memory_instead_of_taking_pages_from_the_system_at_every_step():
    # In a fresh process each, without the settings that fix glibc's thresholds, as the thresholds
    # depend on everything the process freed before. After the sweep's 30 MiB block, glibc serves a
    # 20 MiB block from the heap (its mmap threshold rose to 30 MiB); without the block it maps it
    # (the sweep's own blocks, 4 MiB at most, raised the threshold no further). And the sweep takes
    # fewer than 200 pages from the system per step: taking back one freed 4 MiB activation alone
    # would be 1,024 (measured: 8-47 with the block, new small objects; 60-3,700 without, as the
    # order of frees lets glibc hand the top of the heap back or not, so this bound alone would not
    # tell the two apart: the heap check does).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "THP_MEM_ALLOC_ENABLE")}

    def fresh(mode):
        out = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, mode], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        faults, in_heap = out.stdout.split()
        return float(faults), in_heap == "True"

    faults, in_heap = fresh("with")
    assert in_heap and faults < 200
    assert not fresh("without")[1]
