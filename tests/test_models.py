"""The chapters' shared networks: the character transformer is causal, sized as its arguments say,
and reproducible from its seed."""

from __future__ import annotations

import pytest
import torch

from adaptive_optim import models


def test_the_transformer_is_causal() -> None:
    """Changing the characters after position t leaves the logits at positions <= t unchanged.
    The masked scores are -inf, so their softmax weights are exactly 0 and the later values enter
    every earlier output multiplied by an exact zero: the comparison is for equality."""
    net = models.char_transformer(20, 16, 2, 2, 12, seed=0)
    ids = torch.randint(20, (3, 12), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, 7:] = (changed[:, 7:] + 5) % 20
    with torch.no_grad():
        a, b = net(ids), net(changed)
    assert a.shape == (3, 12, 20)
    assert torch.equal(a[:, :7], b[:, :7])
    assert not torch.equal(a[:, 7:], b[:, 7:])


def test_parameter_count_and_seed() -> None:
    width, vocabulary, context, layers = 32, 103, 32, 2
    per_block = 3 * width * width + 3 * width + width * width + width + 8 * width * width + 5 * width + 4 * width
    expected = vocabulary * width + context * width + layers * per_block + width * vocabulary + vocabulary
    net = models.char_transformer(vocabulary, width, layers, 2, context, seed=4)
    assert sum(p.numel() for p in net.parameters()) == expected == 33_127  # the real-networks chapter's CPU model
    again = models.char_transformer(vocabulary, width, layers, 2, context, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), again.parameters()))


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        models.char_transformer(10, 30, 1, 4, 8)
    net = models.char_transformer(10, 8, 1, 2, 8, seed=0)
    with pytest.raises(ValueError, match="context of 8"):
        net(torch.zeros(1, 9, dtype=torch.int64))


def test_next_char_loss_is_the_mean_cross_entropy() -> None:
    logits = torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(0))
    targets = torch.randint(7, (2, 5), generator=torch.Generator().manual_seed(1))
    expected = torch.nn.functional.cross_entropy(logits.reshape(10, 7), targets.reshape(10))
    assert torch.equal(models.next_char_loss(logits, targets), expected)
