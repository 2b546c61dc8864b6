"""Real data that ships with Python and scikit-learn, so the book trains real networks offline.

Three problems, each deterministic and each loaded without any download:

- :func:`digits`: scikit-learn's bundled handwritten digits (UCI "Optical Recognition of
  Handwritten Digits", the 1,797-image test part; 8×8 images of 16 grey levels, 10 classes),
  split once, per class 60/20/20, into 1,078 training, 360 validation and 359 test images.
  Needs scikit-learn (``pip install scikit-learn``, or ``pip install adaptive_optim[datasets]``;
  Colab has it).
- :func:`text`: a character-level corpus made of the Python reference manual's help topics,
  the text ``help("topics")`` prints, which every CPython installation carries in
  ``pydoc_data.topics`` (generated from the Python documentation, © Python Software Foundation,
  PSF licence). The topics are joined in sorted order of their names; the first 90 % of the
  characters are the training split, the rest the validation split. On Python 3.11.7 that is
  79 topics, 465,048 characters (418,543 train, 46,505 validation) over a vocabulary of 103
  characters. The documentation changes between Python releases, so the corpus is fixed within a
  Python version, not across versions: :attr:`Text.source` names the version it came from.
- :func:`words`: a sparse problem from the same text: predict the next word from the previous
  one. Words are lower-cased runs of ASCII letters; the vocabulary is every word of the training
  split, most frequent first, so its frequencies are the corpus's own, Zipf-like ones (on 3.11.7:
  58,702 training words over 3,002 distinct ones, "the" 4,234 times, 758 words seen once; a
  least-squares fit of log count against log rank over the 1,000 most frequent words has slope
  −1.05, Zipf's law's −1).
  An embedding row of a rare word gets a gradient only in the rare steps that contain it.

Every split holds torch tensors on the CPU; move them (or the batches) to a GPU as needed.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
import sys
from collections.abc import Sequence

import numpy as np
import torch



@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """One split of a supervised problem: ``inputs[i]`` is labelled ``targets[i]``."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.targets)

    def batches(self, batch_size: int, steps: int, *, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``steps`` minibatches of ``batch_size`` examples: epochs of seeded random permutations
        (each example once per epoch, the incomplete tail of an epoch dropped)."""
        _check_positive(batch_size=batch_size, steps=steps)
        if batch_size > len(self):
            raise ValueError(f"batch_size={batch_size} is larger than the split ({len(self)} examples)")
        generator = torch.Generator().manual_seed(seed)
        per_epoch = len(self) // batch_size
        order = torch.cat([torch.randperm(len(self), generator=generator)[: per_epoch * batch_size]
                           for _ in range(-(-steps // per_epoch))])
        return [(self.inputs[i], self.targets[i]) for i in order[: steps * batch_size].view(steps, batch_size)]


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


# --- handwritten digits -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False)
class Digits:
    """The digits, split once: each split's ``inputs`` are float32 images of shape (N, 1, 8, 8)
    scaled to [0, 1], its ``targets`` int64 labels 0–9."""

    train: Split
    validation: Split
    test: Split
    classes: int = 10


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "adaptive_optim.datasets.digits() needs scikit-learn, which ships the digits data: "
            "pip install scikit-learn (or pip install 'adaptive_optim[datasets]')") from error
    data = load_digits()
    return data.images.astype(np.float32) / 16.0, data.target.astype(np.int64)


def split_indices(labels: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Indices of a stratified split: each class's examples, shuffled with ``seed``, cut in the
    given fractions (cut points rounded to the nearest example); sorted."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cuts = np.round(np.cumsum(fractions)[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts)):
            part.append(chunk)
    return [np.sort(np.concatenate(part)) for part in parts]


def digits() -> Digits:
    """scikit-learn's 1,797 handwritten digits: 1,078 train, 360 validation, 359 test images.

    Each class is split 60/20/20 by a fixed shuffle (seed 0), so every split has every digit in
    about equal numbers and the same call gives the same split everywhere.
    """
    images, labels = _digits_arrays()
    images = images[:, None]
    parts = split_indices(labels, (0.6, 0.2, 0.2), seed=0)
    train, validation, test = (Split(torch.tensor(images[i]), torch.tensor(labels[i])) for i in parts)
    return Digits(train, validation, test)


# --- the text corpus --------------------------------------------------------------------------

#: Share of the corpus's characters in the training split (the rest is the validation split).
TRAIN_FRACTION = 0.9


@functools.lru_cache(maxsize=1)
def corpus() -> str:
    """The raw corpus: Python's help topics (``pydoc_data.topics``), joined in sorted order of name."""
    try:
        from pydoc_data.topics import topics
    except ImportError as error:
        raise ImportError("this Python installation lacks the standard library's pydoc_data package, "
                          "which holds the text corpus (help('topics'))") from error
    return "\n".join(topics[name] for name in sorted(topics))


def _corpus_split() -> tuple[str, str]:
    text = corpus()
    cut = int(len(text) * TRAIN_FRACTION)
    return text[:cut], text[cut:]


@dataclasses.dataclass(frozen=True, eq=False)
class Text:
    """A character-level corpus: ``train`` and ``validation`` are 1-D int64 tensors of character
    ids, ``vocabulary[i]`` the character with id ``i`` (every character of the corpus, sorted)."""

    train: torch.Tensor
    validation: torch.Tensor
    vocabulary: str
    source: str

    def encode(self, string: str) -> torch.Tensor:
        """The ids of the characters of ``string`` (all of which must be in the vocabulary)."""
        index = {c: i for i, c in enumerate(self.vocabulary)}
        missing = sorted(set(string) - index.keys())
        if missing:
            raise ValueError(f"characters not in the vocabulary: {missing}")
        return torch.tensor([index[c] for c in string], dtype=torch.int64)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """The string whose character ids are ``ids``."""
        return "".join(self.vocabulary[int(i)] for i in ids)

    def batches(self, batch_size: int, context: int, steps: int, *, split: str = "train",
                seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``steps`` batches of ``batch_size`` windows at seeded random offsets: inputs (B, context)
        and targets (B, context), the same characters shifted by one (next-character prediction)."""
        _check_positive(batch_size=batch_size, context=context, steps=steps)
        if split not in ("train", "validation"):
            raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
        ids = getattr(self, split)
        if context + 1 > len(ids):
            raise ValueError(f"context={context} does not fit in the {split} split ({len(ids)} characters)")
        generator = torch.Generator().manual_seed(seed)
        starts = torch.randint(len(ids) - context, (steps, batch_size, 1), generator=generator)
        windows = ids[starts + torch.arange(context + 1)]
        return [(w[:, :-1], w[:, 1:]) for w in windows]


def text() -> Text:
    """Python's help topics as characters: 90 % train, 10 % validation (see the module docstring)."""
    train, validation = _corpus_split()
    vocabulary = "".join(sorted(set(train + validation)))
    index = {c: i for i, c in enumerate(vocabulary)}

    def ids(s: str) -> torch.Tensor:
        return torch.tensor([index[c] for c in s], dtype=torch.int64)

    source = f"pydoc_data.topics of Python {sys.version.split()[0]}"
    return Text(ids(train), ids(validation), vocabulary, source)


# --- the sparse word problem ------------------------------------------------------------------

WORD = re.compile(r"[a-z]+")


@dataclasses.dataclass(frozen=True, eq=False)
class Words:
    """Next-word prediction from the previous word. ``inputs`` are word ids (0 the most frequent
    training word, ``len(vocabulary) - 1`` the ``"<unk>"`` id of words unseen in training);
    ``targets`` are classes: the id of the next word when it is one of the ``classes - 1`` most
    frequent words, else ``classes - 1`` ("any other word"). ``counts[i]`` is how often word ``i``
    occurs in the training text (0 for ``"<unk>"``): the real, Zipf-like frequencies."""

    train: Split
    validation: Split
    vocabulary: tuple[str, ...]
    counts: torch.Tensor
    classes: int


def words(classes: int = 100) -> Words:
    """The sparse problem from the text corpus's words (see the module docstring); ``classes`` ≥ 2."""
    _check_positive(classes=classes)
    if classes < 2:
        raise ValueError(f"classes must be at least 2 (one word and 'other'), got {classes}")
    train_words, validation_words = (WORD.findall(part.lower()) for part in _corpus_split())
    frequency = collections.Counter(train_words)
    vocabulary = tuple(sorted(frequency, key=lambda w: (-frequency[w], w))) + ("<unk>",)
    if classes > len(vocabulary):
        raise ValueError(f"classes={classes} exceeds the vocabulary ({len(vocabulary)} words)")
    unknown = len(vocabulary) - 1
    index = {w: i for i, w in enumerate(vocabulary[:-1])}

    def pairs(stream: list[str]) -> Split:
        ids = torch.tensor([index.get(w, unknown) for w in stream], dtype=torch.int64)
        return Split(ids[:-1], ids[1:].clamp(max=classes - 1))

    counts = torch.tensor([frequency[w] for w in vocabulary], dtype=torch.int64)
    return Words(pairs(train_words), pairs(validation_words), vocabulary, counts, classes)
