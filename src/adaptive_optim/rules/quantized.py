"""8-bit optimizer state by block-wise quantization (Dettmers et al., 2022), around any rule.

:class:`Blockwise8bit` keeps each moment of its inner rule (for Adam: m_t and v_t) as one byte per
entry plus one scale per block of ``block_size`` entries. A step dequantizes the moments, runs the
inner rule unchanged (the package's one Adam), and quantizes the new moments again.

**Blocks.** The tensor is flattened and cut into blocks of ``block_size`` entries (the last may be
shorter); each block is scaled by its own absolute maximum a_b, so one outlier spoils the precision
of at most one block, not the whole tensor. 2048, the paper's block size, costs 4 bytes per 2048
entries (0.002 bytes per entry per moment) in float32.

**Map.** A code is an index into a fixed table of levels in [−1, 1] (m_t, signed) or [0, 1] (v_t,
non-negative); x is stored as the level nearest x/a_b. The table is a *dynamic* (tree) map in the
sense of Dettmers (2016): after the sign bit, the number e of leading zero bits picks a decade
10^(−e), the bit after them is an indicator, and the remaining bits are a linear fraction within the
decade, so large decades get many levels and small ones few. Here decade e holds the 2^f levels
10^(−e)·(0.1 + 0.9k/2^f), k = 1..2^f, with f the fraction bits left (signed: f = 6 − e, e = 0..6;
unsigned: f = 7 − e, e = 0..7), plus the level 0. So 1 and 0 are exact (each block's maximum is
stored exactly) and the levels cover seven (signed) or eight (unsigned) decades below the block's
maximum. Why not a linear map: v_t spans many decades within a block (it is a square), and a linear
map with 256 levels sends everything below a_b/510 to 0, where Adam's step m/(√v + ε) explodes; the
dynamic map keeps a relative precision of a few percent over the top decades (top decade: spacing
0.9/64 of a_b signed, 0.9/128 unsigned). As a second guard, a positive v_t is never stored as 0:
below the smallest positive level it is stored as that level (an overestimate, so a smaller step).

**Round-trip bound.** For an entry x of a block with scale a (all in the state's dtype, unit
roundoff u): ``|x − x̃| ≤ a·h(x/a) + u(|x| + |x̃|)``, where h is half the width of the map's interval
containing x/a (its full width for the unsigned map's first interval [0, ℓ₁], because of the guard).
Over a block, ``|x − x̃| ≤ a(g/2 + 2u)`` with g the largest spacing (0.9/64 signed, 0.9/128 unsigned).

**Small tensors.** Tensors with fewer than ``min_8bit_size`` entries keep the inner rule's own
full-precision state under its own keys, as bitsandbytes does (default 4096): their memory is
negligible in a large model, and biases and norms are where 8 bits would cost accuracy for nothing.
Set it to 0 to quantize everything.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import _ops
from .base import Rule, State, require

#: State entries that are never negative, stored with the unsigned map.
NON_NEGATIVE = frozenset({"exp_avg_sq", "max_exp_avg_sq", "square_avg", "sum", "variance"})


def dynamic_map(signed: bool) -> np.ndarray:
    """The sorted levels of the dynamic map: 255 in [−1, 1] (signed) or 256 in [0, 1] (unsigned)."""
    bits = 7 if signed else 8  # bits after the sign bit
    positive = []
    for e in range(bits):  # e leading zeros: the decade (10^(−e−1), 10^(−e)]
        f = bits - 1 - e  # fraction bits after the indicator bit
        k = np.arange(1, 2**f + 1)
        positive.append(10.0**-e * (0.1 + 0.9 * k / 2**f))
    positive = np.sort(np.concatenate(positive))
    if signed:
        return np.concatenate([-positive[::-1], [0.0], positive])
    return np.concatenate([[0.0], positive])


SIGNED_MAP = dynamic_map(signed=True)
UNSIGNED_MAP = dynamic_map(signed=False)


def qmap_for(key: str) -> np.ndarray:
    """The map a state entry is stored with: unsigned for non-negative statistics, else signed."""
    return UNSIGNED_MAP if key in NON_NEGATIVE else SIGNED_MAP


def _blocks(x, block_size: int):
    """``x`` flattened, zero-padded to whole blocks and viewed as (number of blocks, block_size)."""
    n = int(np.prod(x.shape))
    pad = -n % block_size
    if _ops.is_tensor(x):
        flat = _ops._torch().nn.functional.pad(x.reshape(-1), (0, pad))
    else:
        flat = np.pad(np.reshape(x, -1), (0, pad))
    return flat.reshape(-1, block_size)


def quantize(x, qmap: np.ndarray, block_size: int):
    """``(codes, absmax)``: uint8 codes shaped like ``x`` and one scale per block (``x``'s dtype)."""
    blocks = _blocks(x, block_size)
    n = int(np.prod(x.shape))
    if _ops.is_tensor(x):
        torch = _ops._torch()
        absmax = blocks.abs().amax(dim=1)
        scale = torch.where(absmax > 0, absmax, torch.ones_like(absmax))
        y = blocks / scale[:, None]
        midpoints = torch.as_tensor((qmap[1:] + qmap[:-1]) / 2, dtype=x.dtype, device=x.device)
        codes = torch.bucketize(y, midpoints)
        if qmap[0] == 0:  # unsigned: a positive entry never becomes 0
            codes = torch.where((y > 0) & (codes == 0), torch.ones_like(codes), codes)
        return codes.to(torch.uint8).reshape(-1)[:n].reshape(x.shape), absmax
    absmax = np.abs(blocks).max(axis=1)
    scale = np.where(absmax > 0, absmax, 1)
    y = blocks / scale[:, None]
    codes = np.searchsorted(((qmap[1:] + qmap[:-1]) / 2).astype(x.dtype), y)
    if qmap[0] == 0:
        codes = np.where((y > 0) & (codes == 0), 1, codes)
    return codes.astype(np.uint8).reshape(-1)[:n].reshape(x.shape), absmax


def dequantize(codes, absmax, qmap: np.ndarray, block_size: int):
    """The values the codes stand for: level × block scale, in the dtype of ``absmax``."""
    n = int(np.prod(codes.shape))
    if _ops.is_tensor(codes):
        torch = _ops._torch()
        levels = torch.as_tensor(qmap, dtype=absmax.dtype, device=absmax.device)[codes.long()]
    else:
        levels = qmap.astype(absmax.dtype)[codes.astype(np.intp)]
    values = _blocks(levels, block_size) * absmax[:, None]
    return values.reshape(-1)[:n].reshape(codes.shape)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Blockwise8bit(Rule):
    """``inner`` (e.g. :class:`~adaptive_optim.rules.Adam`) with its moments stored in 8 bits.

    State: ``step`` and, for each moment ``k`` of the inner rule, ``k_codes`` (uint8, shaped like the
    parameter) and ``k_absmax`` (one scale per block); for parameters smaller than
    ``min_8bit_size``, the inner rule's own state.
    """

    stackable = False  # see Rule.stackable

    inner: Rule
    block_size: int = 2048
    min_8bit_size: int = 4096

    def validate(self) -> None:
        require(isinstance(self.block_size, int) and self.block_size > 0,
                f"Invalid block_size: {self.block_size} (a positive number of entries per scale)")
        require(isinstance(self.min_8bit_size, int) and self.min_8bit_size >= 0,
                f"Invalid min_8bit_size: {self.min_8bit_size} (a non-negative number of entries)")

    def quantizes(self, param) -> bool:
        """Whether ``param``'s state is stored in 8 bits (else in the inner rule's precision)."""
        return int(np.prod(param.shape)) >= self.min_8bit_size

    def init(self, param) -> State:
        return self.pack(param, self.inner.init(param))

    def update(self, param, grad, state: State):
        new_param, new_state = self.inner.update(param, grad, self.unpack(state))
        return new_param, self.pack(param, new_state)

    def pack(self, param, state: State) -> State:
        """The inner rule's state with its moments quantized (small parameters: unchanged)."""
        if not self.quantizes(param):
            return state
        packed: State = {}
        for key, value in state.items():
            if key == "step" or np.ndim(value) == 0:
                packed[key] = value
            else:
                packed[key + "_codes"], packed[key + "_absmax"] = quantize(value, qmap_for(key), self.block_size)
        return packed

    def unpack(self, state: State) -> State:
        """The inner rule's state, moments dequantized."""
        unpacked: State = {}
        for key, value in state.items():
            if key.endswith("_codes"):
                name = key[: -len("_codes")]
                unpacked[name] = dequantize(value, state[name + "_absmax"], qmap_for(name), self.block_size)
            elif not key.endswith("_absmax"):
                unpacked[key] = value
        return unpacked
