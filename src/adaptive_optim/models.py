"""The small networks the chapters train on real data, defined once so that every chapter trains
the same model.

:func:`char_transformer` is the character-level language model for :func:`adaptive_optim.datasets.text`:
a transformer with the layer normalization *after* each residual sum (post-LN, as in the original
transformer), the arrangement known to need learning-rate warmup most. Attention is written as
``softmax(q kᵀ / √d) v`` with a causal mask, not with ``scaled_dot_product_attention``, so that
:func:`adaptive_optim.sweeps.train` can batch many runs of it with ``torch.func.vmap``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class Block(nn.Module):
    """Causal self-attention and an MLP (4× wider), each added to its input and then layer-normalized."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} is not divisible by heads={heads}")
        self.heads = heads
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(C // self.heads)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        y = (scores.masked_fill(~causal, float("-inf")).softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = self.norm1(x + self.proj(y))
        return self.norm2(x + self.mlp(x))


class CharTransformer(nn.Module):
    """Token and position embeddings, ``layers`` post-LN blocks, and a linear map to next-character logits."""

    def __init__(self, vocabulary: int, width: int, layers: int, heads: int, context: int) -> None:
        super().__init__()
        self.context = context
        self.embed, self.position = nn.Embedding(vocabulary, width), nn.Embedding(context, width)
        self.blocks = nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.out = nn.Linear(width, vocabulary)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.shape[-1] > self.context:
            raise ValueError(f"{ids.shape[-1]} characters do not fit in the context of {self.context}")
        x = self.embed(ids) + self.position(torch.arange(ids.shape[-1], device=ids.device))
        return self.out(self.blocks(x))


def char_transformer(vocabulary: int, width: int, layers: int, heads: int, context: int, *,
                     seed: int | None = None, device: torch.device | str = "cpu") -> CharTransformer:
    """A :class:`CharTransformer` on ``device``; with ``seed``, its weights are those of
    ``torch.manual_seed(seed)`` (without, they come from the global generator as it stands)."""
    if seed is not None:
        torch.manual_seed(seed)
    return CharTransformer(vocabulary, width, layers, heads, context).to(device)


def next_char_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy (nats per character) of logits (..., vocabulary) against targets (...)."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
