"""K copies of a network built from known layers, run as one ordinary network: the fast path of sweeps.

:func:`lower` turns a model made of ``nn.Sequential`` and the layers in :data:`CONVOLUTIONS`,
``nn.Linear``, :data:`ELEMENTWISE`, :data:`POOLS` and ``nn.Flatten`` into a function of the K
runs' stacked parameters that needs no ``torch.func.vmap``: the K copies' activations live in one
native tensor, so pooling and activations run as plain (fast) kernels instead of through vmap's
batching rules, which on the CPU copy and re-layout the batched tensor at every layer. The
activations travel in one of three layouts:

- *shared* ``(B, ...)``: the input, the same for every run;
- *channels* ``(B, K·C, ...)``: after a convolution, run k's channel c at index ``k·C + c``. A
  convolution of the shared input is one convolution with the K runs' filters side by side
  (K·C_out output channels); a later one is a grouped convolution (``groups = K·groups``), so
  every run only sees its own channels. Pooling and activations act per channel, natively.
- *runs* ``(K, B, ...)``: after a linear layer (a batched matrix product over K) or a flatten.

Everything else (embeddings, attention, normalization, dropout, custom modules, forward hooks,
subclasses of the known layers, convolutions with a padding mode other than zeros) is not lowered:
:func:`lower` returns None and sweeps falls back to vmap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: convolutions: (module type) -> (functional form, spatial axes)
CONVOLUTIONS: dict[type[nn.Module], tuple[Callable[..., Tensor], int]] = {
    nn.Conv1d: (F.conv1d, 1), nn.Conv2d: (F.conv2d, 2), nn.Conv3d: (F.conv3d, 3)}
#: layers that act on every entry alone (any layout works)
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Identity)
#: layers that act on every channel alone: (module type) -> spatial axes
POOLS: dict[type[nn.Module], int] = {
    nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3, nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3,
    nn.AdaptiveAvgPool1d: 1, nn.AdaptiveAvgPool2d: 2, nn.AdaptiveAvgPool3d: 3,
    nn.AdaptiveMaxPool1d: 1, nn.AdaptiveMaxPool2d: 2, nn.AdaptiveMaxPool3d: 3}

MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
             nn.AdaptiveMaxPool3d)

Layer = tuple[str, nn.Module]


def layers(model: nn.Module) -> list[Layer] | None:
    """The model's layers in order with their parameter-name prefixes, or None if any is not lowerable."""
    if type(model) is nn.Sequential and not _hooked(model):
        found: list[Layer] = []
        for name, child in model.named_children():
            inner = layers(child)
            if inner is None:
                return None
            found += [(f"{name}.{prefix}", m) for prefix, m in inner]
        return found
    if _lowerable(model):
        return [("", model)]
    return None


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or getattr(module, "_backward_pre_hooks", None))


def _global_hooks() -> bool:
    """Whether hooks registered for every module (``nn.modules.module.register_module_forward_hook``) exist."""
    from torch.nn.modules import module
    return any(getattr(module, name, None) for name in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
        "_global_backward_pre_hooks"))


def _lowerable(m: nn.Module) -> bool:
    if _hooked(m) or list(m.children()) or list(m.buffers(recurse=False)):
        return False
    own = {n for n, _ in m.named_parameters(recurse=False)}
    kind = type(m)
    if kind in CONVOLUTIONS:
        return m.padding_mode == "zeros" and own <= {"weight", "bias"}
    if kind is nn.Linear:
        return own <= {"weight", "bias"}
    if kind in ELEMENTWISE or kind in POOLS or kind is nn.Flatten:
        return not own and not getattr(m, "return_indices", False)
    return False


def lower(model: nn.Module, input_ndim: int) -> Callable[[Mapping[str, Tensor], int, Tensor], Tensor] | None:
    """``forward(params, K, inputs) -> outputs (K, B, ...)`` computing K copies of ``model`` at once from
    stacked parameters ``name -> (K, *shape)``, for inputs of ``input_ndim`` axes; None where the
    model or that input is not lowerable (see the module docstring), so the caller uses vmap."""
    found = layers(model)
    if found is None or not _shapes_fit(found, input_ndim) or _global_hooks():
        return None
    named = [prefix + n for prefix, m in found for n, _ in m.named_parameters(recurse=False)]
    if sorted(named) != sorted(n for n, _ in model.named_parameters()):
        return None  # a parameter shared by two layers (tied weights): named once, used twice

    found = _pool_before_relu(found)

    def forward(params: Mapping[str, Tensor], runs: int, x: Tensor) -> Tensor:
        layout = "shared"
        for prefix, m in found:
            x, layout = _apply(m, params, prefix, runs, x, layout)
        return _to_runs(x, layout, runs)

    return forward


def _pool_before_relu(found: list[Layer]) -> list[Layer]:
    """ReLU then max-pooling as max-pooling then ReLU, on a quarter of the entries (for 2×2 windows).

    Exact, values and gradients: ReLU is max(x, 0), and a maximum of maxima is one maximum, so both
    orders give the same numbers. The gradient reaches the window's (first) largest entry in both
    orders when it is positive; when it is not, ReLU's gradient (0 for x <= 0) stops it in both.
    The moved ReLU works in place (one tensor fewer to allocate): max-pooling keeps its input and
    the indices of the maxima for the backward pass, not its output."""
    found = list(found)
    for i in range(len(found) - 1):
        if type(found[i][1]) is nn.ReLU and type(found[i + 1][1]) in MAX_POOLS:
            found[i], found[i + 1] = found[i + 1], (found[i][0], nn.ReLU(inplace=True))
    return found


def _shapes_fit(found: list[Layer], ndim: int) -> bool:
    """Whether every convolution and pooling sees a batched input (channel axis 1), following the
    number of axes through the layers; unbatched inputs are left to vmap."""
    for _, m in found:
        kind = type(m)
        if kind in CONVOLUTIONS or kind in POOLS:
            spatial = CONVOLUTIONS[kind][1] if kind in CONVOLUTIONS else POOLS[kind]
            if ndim != spatial + 2:
                return False
        elif kind is nn.Flatten:
            start, end = (d % ndim if d < 0 else d for d in (m.start_dim, m.end_dim))
            if not 0 < start <= end < ndim:
                return False
            ndim -= end - start
        elif kind is nn.Linear and ndim < 2:
            return False
    return True


def _to_runs(x: Tensor, layout: str, runs: int) -> Tensor:
    """The activations as (K, B, ...)."""
    if layout == "runs":
        return x
    if layout == "channels":
        return x.unflatten(1, (runs, -1)).transpose(0, 1)
    return x.expand(runs, *x.shape)


def _to_channels(x: Tensor, layout: str) -> Tensor:
    """Activations (K, B, C, ...) as (B, K·C, ...)."""
    return x if layout == "channels" else x.transpose(0, 1).flatten(1, 2)


def _channels_last(x: Tensor) -> Tensor:
    """``x`` (B, C, H, W) or (B, C, D, H, W) stored channels-last, even for C = 1 (where
    ``contiguous(memory_format=...)`` keeps the strides and convolutions would answer channels-first).

    Why: a convolution of a channels-last input answers channels-last, and on the CPU max-pooling
    an (B, K·C, 8, 8) tensor channels-last is tens of times faster than channels-first, which pools
    K·C·B tiny planes one by one. The numbers are the same (a layout, not arithmetic, except that
    the convolution kernel may sum its products in another order)."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    if x.ndim not in formats:
        return x
    wanted = torch.empty_like(x, memory_format=formats[x.ndim])
    return x if x.stride() == wanted.stride() else wanted.copy_(x)


def _apply(m: nn.Module, params: Mapping[str, Tensor], prefix: str, runs: int, x: Tensor,
           layout: str) -> tuple[Tensor, str]:
    kind = type(m)
    if kind in ELEMENTWISE:
        return m(x), layout
    if kind in POOLS:
        if layout == "runs":
            return m(x.flatten(0, 1)).unflatten(0, (runs, -1)), layout
        return m(x), layout
    if kind is nn.Flatten:
        if layout == "shared":
            return m(x), layout
        # one axis more in front (the runs'): non-negative axes shift by one
        start, end = (d + 1 if d >= 0 else d for d in (m.start_dim, m.end_dim))
        return _to_runs(x, layout, runs).flatten(start, end), "runs"
    weight = params[prefix + "weight"]
    bias = params.get(prefix + "bias") if m.bias is not None else None
    if kind is nn.Linear:
        if layout == "shared":
            y = F.linear(x, weight.flatten(0, 1), None if bias is None else bias.flatten())
            return y.unflatten(-1, (runs, -1)).movedim(-2, 0), "runs"
        x = _to_runs(x, layout, runs)
        y = x.flatten(1, -2) @ weight.transpose(1, 2)
        if bias is not None:
            y = y + bias.unsqueeze(1)
        return y.unflatten(1, x.shape[1:-1]), "runs"
    # a convolution
    groups = m.groups
    if layout != "shared":
        groups *= runs
    if layout != "channels":  # later convolutions keep the layout their input has
        x = _channels_last(_to_channels(x, layout) if layout == "runs" else x)
    y = CONVOLUTIONS[kind][0](x, weight.flatten(0, 1), None if bias is None else bias.flatten(),
                           m.stride, m.padding, m.dilation, groups)
    return y, "channels"
