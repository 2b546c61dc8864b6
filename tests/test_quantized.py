"""8-bit optimizer state: the map, the block-wise round trip and its bound, the bytes it saves,
checkpoints, and the drop-ins Adam8bit and AdamW8bit (the package's Adam on dequantized state)."""

from __future__ import annotations

import inspect
import io

import numpy as np
import pytest
import torch

from adaptive_optim import optim as ours
from adaptive_optim import rules
from adaptive_optim.rules.quantized import SIGNED_MAP, UNSIGNED_MAP, dequantize, quantize
from optim_cases import assert_same_error, make_data, make_net, train_step

MAPS = {"signed": SIGNED_MAP, "unsigned": UNSIGNED_MAP}
#: The largest spacing of each map, which sets the per-block bound: the top decade's 0.9/2^f.
LARGEST_GAP = {"signed": 0.9 / 64, "unsigned": 0.9 / 128}


def test_maps_are_the_stated_dynamic_maps():
    assert len(SIGNED_MAP) == 255 and len(UNSIGNED_MAP) == 256  # fit one byte
    for name, qmap in MAPS.items():
        assert np.all(np.diff(qmap) > 0)
        assert qmap[-1] == 1.0 and 0.0 in qmap
        assert np.diff(qmap).max() == pytest.approx(LARGEST_GAP[name], rel=1e-12)
    np.testing.assert_array_equal(SIGNED_MAP, -SIGNED_MAP[::-1])
    assert UNSIGNED_MAP[0] == 0 and UNSIGNED_MAP[1] == pytest.approx(1e-7)
    # seven (signed) and eight (unsigned) decades, with 64 and 128 levels in the top one
    assert np.sum(SIGNED_MAP > 0.1) == 64 and np.sum(UNSIGNED_MAP > 0.1) == 128


def samples(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Entries like an optimizer's moments: Gaussian, heavy-tailed, and spread over many decades."""
    if kind == "normal":
        x = rng.standard_normal(n)
    elif kind == "heavy":
        x = rng.standard_t(1.5, n)
    else:  # many decades, like v_t = EMA of g²
        x = 10.0 ** rng.uniform(-9, 0, n) * rng.choice([-1, 1], n)
    return x


def elementwise_bound(x, x_back, absmax, qmap, block_size, u):
    """a·h(x/a) + u(|x| + |x̃|) per entry, h half the map interval containing x/a (the full first
    interval for the unsigned map, whose positive entries are never stored as 0)."""
    n = x.size
    a = np.repeat(absmax, block_size)[:n]
    y = np.divide(x, a, out=np.zeros_like(x), where=a > 0)
    upper = np.clip(np.searchsorted(qmap, y), 1, len(qmap) - 1)
    width = qmap[upper] - qmap[upper - 1]
    half = np.where((qmap[0] == 0) & (upper == 1), width, width / 2)
    return a * half + u * (np.abs(x) + np.abs(x_back))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sign", ["signed", "unsigned"])
@pytest.mark.parametrize("kind", ["normal", "heavy", "decades"])
def test_round_trip_within_bound_for_every_block(kind, sign, dtype, backend):
    """Nearest rounding to the map puts x/a within half an interval of its level; the division x/a
    and the product level·a each round once (unit roundoff u of the dtype). Hence per entry
    |x − x̃| ≤ a·h(x/a) + u(|x| + |x̃|), and per block ≤ a(g/2 + 2u), g the largest spacing."""
    rng = np.random.default_rng(0)
    qmap, block_size = MAPS[sign], 256
    u = float(np.finfo(dtype).eps) / 2
    for n in (1, 255, 256, 3000):  # a single entry, partial and whole blocks
        x = samples(kind, n, rng).astype(dtype)
        if sign == "unsigned":
            x = np.abs(x)
        x[: n // 10] = 0  # some exact zeros
        data = torch.from_numpy(x) if backend == "torch" else x
        codes, absmax = quantize(data, qmap, block_size)
        back = dequantize(codes, absmax, qmap, block_size)
        if backend == "torch":
            codes, absmax, back = codes.numpy(), absmax.numpy(), back.numpy()
        assert codes.dtype == np.uint8 and codes.shape == x.shape and back.dtype == x.dtype
        assert absmax.shape == (-(-n // block_size),)
        error = np.abs(back.astype(np.float64) - x)
        bound = elementwise_bound(x.astype(np.float64), back.astype(np.float64), absmax.astype(np.float64),
                                  qmap, block_size, u)
        assert np.all(error <= bound)
        block_error = np.pad(error, (0, -n % block_size)).reshape(-1, block_size).max(axis=1)
        assert np.all(block_error <= absmax * (LARGEST_GAP[sign] / 2 + 2 * u))
        assert np.all(back[x == 0] == 0)
        if sign == "unsigned":
            assert np.all(back[x > 0] > 0)  # v_t > 0 is never stored as 0


def test_bound_is_attained_so_the_test_has_teeth():
    """On a dense sweep the largest error reaches the stated g/2 (to 1%): the map is used as stated,
    and an off-by-one code (a full interval) would break the bound above."""
    y = np.linspace(-1, 1, 200_001)
    codes, absmax = quantize(y, SIGNED_MAP, y.size)
    error = np.abs(dequantize(codes, absmax, SIGNED_MAP, y.size) - y).max()
    assert 0.99 * LARGEST_GAP["signed"] / 2 <= error <= LARGEST_GAP["signed"] / 2 * (1 + 1e-12)


def test_numpy_and_torch_store_the_same_codes():
    x = samples("decades", 5000, np.random.default_rng(3))
    c_np, a_np = quantize(x, SIGNED_MAP, 2048)
    c_t, a_t = quantize(torch.from_numpy(x), SIGNED_MAP, 2048)
    np.testing.assert_array_equal(c_t.numpy(), c_np)
    np.testing.assert_array_equal(a_t.numpy(), a_np)


def test_a_step_is_adam_on_the_dequantized_state():
    """One 8-bit step equals the package's Adam applied to the dequantized moments, exactly, and
    stores the quantized new moments: there is no second Adam."""
    torch.manual_seed(0)
    param, grad = torch.randn(5000), torch.randn(5000)
    inner = rules.Adam(lr=1e-2, amsgrad=True, weight_decay=0.1)
    rule = rules.Blockwise8bit(inner=inner, block_size=512, min_8bit_size=0)
    state = rule.init(param)
    for _ in range(3):
        param, state = rule.update(param, torch.randn(5000), state)
    expected_param, expected_state = inner.update(param, grad, rule.unpack(state))
    new_param, new_state = rule.update(param, grad, state)
    assert torch.equal(new_param, expected_param)
    assert new_state.keys() == {"step", "exp_avg_codes", "exp_avg_absmax", "exp_avg_sq_codes",
                                "exp_avg_sq_absmax", "max_exp_avg_sq_codes", "max_exp_avg_sq_absmax"}
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        codes, absmax = quantize(expected_state[key], rules.quantized.qmap_for(key), 512)
        assert torch.equal(new_state[key + "_codes"], codes) and torch.equal(new_state[key + "_absmax"], absmax)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_without_quantization_it_is_torchs_adam_exactly(name):
    """Below min_8bit_size the state stays in full precision under torch's keys, and the drop-in
    takes the same steps as torch.optim's (the wrapper itself adds no arithmetic)."""
    x, y = make_data(torch.float64)
    nets, opts = [], []
    for cls in (getattr(torch.optim, name), getattr(ours, name + "8bit")):
        net = make_net(torch.float64)
        extra = {"min_8bit_size": 10**9} if cls.__module__.startswith("adaptive_optim") else {}
        nets.append(net)
        opts.append(cls(net.parameters(), lr=0.01, amsgrad=True, **extra))
    for _ in range(20):
        for net, opt in zip(nets, opts):
            train_step(net, opt, x, y, False)
    for p, q in zip(*(net.parameters() for net in nets)):
        assert torch.equal(q, p)
    assert list(opts[1].state_dict()["state"][0]) == ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]


def test_signature_is_adams_plus_block_options():
    for name in ("Adam", "AdamW"):
        theirs = list(inspect.signature(getattr(torch.optim, name).__init__).parameters.values())
        mine = list(inspect.signature(getattr(ours, name + "8bit").__init__).parameters.values())
        assert [(p.name, p.kind, p.default) for p in mine[: len(theirs)]] == \
               [(p.name, p.kind, p.default) for p in theirs]
        assert [(p.name, p.kind, p.default) for p in mine[len(theirs):]] == [
            ("block_size", inspect.Parameter.KEYWORD_ONLY, 2048),
            ("min_8bit_size", inspect.Parameter.KEYWORD_ONLY, 4096)]
        params = [torch.zeros(2, requires_grad=True)]
        t, o = getattr(torch.optim, name)(params), getattr(ours, name + "8bit")(params)
        assert o.defaults == dict(t.defaults, block_size=2048, min_8bit_size=4096)


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(eps=-1.0), dict(betas=(1.0, 0.999)),
                                    dict(weight_decay=-1.0), dict(lr=torch.tensor([1e-3, 1e-3]))])
def test_hyperparameter_errors_are_torchs(kwargs):
    params = [torch.zeros(2, requires_grad=True)]
    assert_same_error(torch.optim.Adam, ours.Adam8bit, params, kwargs, error=ValueError)


@pytest.mark.parametrize("kwargs,match", [(dict(block_size=0), "block_size"), (dict(block_size=2.5), "block_size"),
                                          (dict(min_8bit_size=-1), "min_8bit_size")])
def test_bad_block_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ours.Adam8bit([torch.zeros(2, requires_grad=True)], **kwargs)


def test_complex_and_sparse_are_refused():
    z = torch.nn.Parameter(torch.ones(3, dtype=torch.complex64))
    z.grad = torch.ones_like(z)
    with pytest.raises(RuntimeError, match="Adam8bit does not support complex parameters"):
        ours.Adam8bit([z]).step()
    emb = torch.nn.Embedding(5, 2, sparse=True)
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        ours.AdamW8bit(emb.parameters()).step()


def mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 16))


def one_step(net, opt):
    x = torch.randn(8, 1024, generator=torch.Generator().manual_seed(0))
    opt.zero_grad()
    net(x).square().mean().backward()
    opt.step()


@pytest.mark.parametrize("cls", [ours.Adam8bit, ours.AdamW8bit])
def test_state_bytes_per_parameter(cls):
    """Measured from the optimizer's state tensors (codes, block scales, step counters and the
    float state of small tensors, all counted), on a 1024-1024-16 MLP (1.07M parameters): at most
    2.1 bytes per parameter with the defaults, against 8 for torch.optim.Adam; and exactly the
    count the layout predicts."""
    net = mlp()
    n = sum(p.numel() for p in net.parameters())
    opt, reference = cls(net.parameters()), torch.optim.Adam(net.parameters())
    one_step(net, opt)
    one_step(net, reference)
    measured = ours.state_bytes(opt)
    assert measured / n <= 2.1
    assert ours.state_bytes(reference) / n == pytest.approx(8, rel=1e-4)
    predicted = 0
    for p in net.parameters():
        if p.numel() >= 4096:  # two moments: a byte per entry and 4 bytes per block of 2048
            predicted += 2 * (p.numel() + 4 * -(-p.numel() // 2048))
        else:  # two float32 moments
            predicted += 2 * 4 * p.numel()
        predicted += 4  # the float32 step counter
    assert measured == predicted


def test_quantized_state_holds_uint8_codes():
    net = mlp()
    opt = ours.Adam8bit(net.parameters(), min_8bit_size=0)
    one_step(net, opt)
    state = opt.state[net[0].weight]
    assert state["exp_avg_codes"].dtype == torch.uint8 and state["exp_avg_codes"].shape == (1024, 1024)
    assert state["exp_avg_absmax"].shape == (512,) and state["exp_avg_sq_absmax"].dtype == torch.float32


@pytest.mark.parametrize("cls,kw", [(ours.Adam8bit, dict(lr=0.01, amsgrad=True, weight_decay=1e-3)),
                                    (ours.AdamW8bit, dict(lr=0.01))])
def test_checkpoint_round_trips_exactly_and_resumes_identically(cls, kw):
    """10 steps, save, load into a fresh optimizer and network, 10 more: the same parameters and
    the same codes and scales as 20 steps without a break, bit for bit; the state_dict survives
    torch.save/torch.load unchanged."""
    kw = dict(kw, block_size=16, min_8bit_size=0)  # small blocks: every tensor spans several
    x, y = make_data(torch.float32)
    straight = make_net(torch.float32)
    opt = cls(straight.parameters(), **kw)
    for _ in range(20):
        train_step(straight, opt, x, y, False)

    net = make_net(torch.float32)
    opt_a = cls(net.parameters(), **kw)
    for _ in range(10):
        train_step(net, opt_a, x, y, False)
    buffer = io.BytesIO()
    torch.save({"model": net.state_dict(), "optim": opt_a.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer)
    saved = opt_a.state_dict()
    for i, entry in saved["state"].items():
        for key, value in entry.items():
            assert torch.equal(checkpoint["optim"]["state"][i][key], value) and \
                checkpoint["optim"]["state"][i][key].dtype == value.dtype
    resumed = make_net(torch.float32, seed=123)
    resumed.load_state_dict(checkpoint["model"])
    opt_b = cls(resumed.parameters(), **dict(kw, block_size=2048))  # the checkpoint's options win
    opt_b.load_state_dict(checkpoint["optim"])
    assert opt_b.param_groups[0]["block_size"] == 16
    for _ in range(10):
        train_step(resumed, opt_b, x, y, False)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    s, r = opt.state_dict(), opt_b.state_dict()
    for i in s["state"]:
        assert s["state"][i].keys() == r["state"][i].keys()
        for key in s["state"][i]:
            assert torch.equal(s["state"][i][key], r["state"][i][key]), key


def test_fp32_adam_checkpoint_loads_quantized():
    """A torch.optim.Adam checkpoint loads into Adam8bit: the moments of large parameters are
    quantized on loading (so the state is 8-bit from then on), small ones stay as they are."""
    net = mlp()
    adam = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(3):
        one_step(net, adam)
    opt = ours.Adam8bit(net.parameters(), lr=1e-3)
    opt.load_state_dict(adam.state_dict())
    weight, bias = net[0].weight, net[0].bias
    assert set(opt.state[weight]) == {"step", "exp_avg_codes", "exp_avg_absmax", "exp_avg_sq_codes",
                                      "exp_avg_sq_absmax"}
    codes, absmax = quantize(adam.state[weight]["exp_avg_sq"], UNSIGNED_MAP, 2048)
    assert torch.equal(opt.state[weight]["exp_avg_sq_codes"], codes)
    assert torch.equal(opt.state[weight]["exp_avg_sq_absmax"], absmax)
    assert torch.equal(opt.state[bias]["exp_avg"], adam.state[bias]["exp_avg"])  # 1024 < 4096: kept
    one_step(net, opt)
    assert opt.state[weight]["step"] == 4
