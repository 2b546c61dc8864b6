"""The offline data sets: real data, the documented sizes, fixed splits, and batches that cover them."""

from __future__ import annotations

import collections
import sys

import numpy as np
import pytest
import torch

from adaptive_optim import datasets


def test_digits_splits_are_the_documented_images_scaled_to_unit_range():
    data = datasets.digits()
    splits = (data.train, data.validation, data.test)
    assert [len(s) for s in splits] == [1078, 360, 359]
    for split in splits:
        assert split.inputs.dtype == torch.float32 and split.inputs.shape[1:] == (1, 8, 8)
        assert split.targets.dtype == torch.int64
        assert 0.0 <= split.inputs.min() and split.inputs.max() <= 1.0
        # 16 grey levels: every pixel is a multiple of 1/16, exactly.
        assert torch.equal(split.inputs * 16, (split.inputs * 16).round())
    from sklearn.datasets import load_digits
    raw = load_digits()
    parts = datasets.split_indices(raw.target, (0.6, 0.2, 0.2), seed=0)
    for split, index in zip(splits, parts):
        assert torch.equal(split.inputs[:, 0] * 16, torch.tensor(raw.images[index], dtype=torch.float32))
        assert torch.equal(split.targets, torch.tensor(raw.target[index]))


def test_digits_split_is_fixed_stratified_and_disjoint():
    labels = datasets.digits()
    again = datasets.digits()
    assert torch.equal(labels.test.inputs, again.test.inputs)
    parts = datasets.split_indices(np.repeat(np.arange(10), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]),
                                   (0.6, 0.2, 0.2), seed=0)
    together = np.concatenate(parts)
    assert len(together) == 1797 and len(np.unique(together)) == 1797
    for split in (labels.train, labels.validation, labels.test):
        share = torch.bincount(split.targets, minlength=10) / len(split)
        assert (share - 0.1).abs().max() < 0.01  # each class is 9.7-10.2 % of the data


def test_digits_without_scikit_learn_names_what_to_install(monkeypatch):
    datasets._digits_arrays.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        datasets.digits()
    datasets._digits_arrays.cache_clear()


def test_batches_are_seeded_epochs_of_the_split():
    split = datasets.Split(torch.arange(10.0), torch.arange(10))
    batches = split.batches(3, steps=6, seed=1)
    assert len(batches) == 6 and all(x.shape == (3,) for x, _ in batches)
    # 3 batches per epoch (the 10th example is dropped): no example twice within an epoch.
    for epoch in (batches[:3], batches[3:]):
        seen = torch.cat([y for _, y in epoch])
        assert len(seen.unique()) == 9
    assert all(torch.equal(x.long(), y) for x, y in batches)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, split.batches(3, steps=6, seed=1)))
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(batches, split.batches(3, steps=6, seed=2)))
    with pytest.raises(ValueError, match="larger than the split"):
        split.batches(11, steps=1)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        split.batches(2, steps=0)


def test_text_is_the_help_topics_split_ninety_ten():
    corpus = datasets.text()
    raw = datasets.corpus()
    from pydoc_data.topics import topics
    assert len(raw) == sum(map(len, topics.values())) + len(topics) - 1
    assert corpus.decode(corpus.train) + corpus.decode(corpus.validation) == raw
    assert len(corpus.train) == int(0.9 * len(raw))
    assert list(corpus.vocabulary) == sorted(set(raw))
    assert torch.equal(corpus.encode("def f(x):"), corpus.train.new_tensor([corpus.vocabulary.index(c) for c in "def f(x):"]))
    assert sys.version.split()[0] in corpus.source
    with pytest.raises(ValueError, match="not in the vocabulary"):
        corpus.encode("\x00")


def test_text_batches_are_next_character_windows():
    corpus = datasets.text()
    batches = corpus.batches(4, context=16, steps=3, split="validation", seed=0)
    raw = corpus.decode(corpus.validation)
    for inputs, targets in batches:
        assert inputs.shape == targets.shape == (4, 16)
        assert torch.equal(inputs[:, 1:], targets[:, :-1])
        for row, target in zip(inputs, targets):
            assert corpus.decode(row) + corpus.decode(target[-1:]) in raw
    with pytest.raises(ValueError, match="split must be"):
        corpus.batches(1, 1, 1, split="test")


def test_words_have_the_corpus_real_zipf_frequencies():
    problem = datasets.words(classes=50)
    train_words = datasets.WORD.findall(datasets._corpus_split()[0].lower())
    frequency = collections.Counter(train_words)
    vocabulary = problem.vocabulary
    assert vocabulary[-1] == "<unk>" and len(vocabulary) == len(set(train_words)) + 1
    assert problem.counts.tolist() == [frequency[w] for w in vocabulary]
    assert problem.counts[:-1].diff().le(0).all() and problem.counts[-1] == 0  # most frequent first
    # Zipf: log count falls about linearly in log rank with slope near -1 over the top 1,000 words.
    ranks = np.arange(1, 1001)
    slope = np.polyfit(np.log(ranks), np.log(problem.counts[:1000].numpy()), 1)[0]
    assert -1.3 < slope < -0.8
    # Rare words are rare for real: hundreds of words occur once.
    assert (problem.counts == 1).sum() > 500
    for split in (problem.train, problem.validation):
        assert split.inputs.dtype == split.targets.dtype == torch.int64
        assert 0 <= split.targets.min() and split.targets.max() == 49
        assert torch.equal(split.inputs[1:].clamp(max=49), split.targets[:-1])
    assert (problem.train.inputs == len(vocabulary) - 1).sum() == 0
    assert (problem.validation.inputs == len(vocabulary) - 1).sum() > 0


def test_words_refuse_bad_class_counts():
    with pytest.raises(ValueError, match="at least 2"):
        datasets.words(classes=1)
    with pytest.raises(ValueError, match="exceeds the vocabulary"):
        datasets.words(classes=10**6)
