"""The drop-in optimizers under torch.distributed's ZeroRedundancyOptimizer (ZeRO stage 1), and
Adam/AdamW under FSDP2 (``fully_shard``), on two processes of this CPU (gloo, loopback only): every
rank ends with exactly the parameters of a single-process run, while holding only about half of
the optimizer state. Adafactor and the 8-bit optimizers refuse FSDP's sharded parameters with a
clear error (their steps need whole tensors), and that refusal is tested too.

Why *exactly*: each rank computes the gradient of the mean loss over its half of the batch,
g_r; the all-reduce sums the two, and both ranks divide by 2. The reference, in one process, runs
the same backward passes on the same two halves (same shapes, one thread, so the same reduction
order inside each) and forms (g₀ + g₁)/2. With two ranks the all-reduce performs one addition per
entry, and IEEE addition is commutative, so both sides hold the same bits; dividing by 2 is exact.
ZeRO then lets each rank step only the parameters it owns, with the same rule and state as the
reference, and broadcasts them; broadcasting copies bits. (With more than two ranks the order of
the additions in the all-reduce depends on the backend's algorithm, ring or tree; a reference
must then add in that order, or the comparison becomes a rounding bound.)

FSDP2 shards every parameter along its first dimension, all-gathers it for the forward and
backward passes (copies, exact) and reduce-scatters the gradients (for two ranks again one
addition and an exact halving); Adam's step is element-wise, so stepping each shard is stepping
the whole parameter.
"""

from __future__ import annotations

import datetime
import os
import tempfile
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.optim import ZeroRedundancyOptimizer

from adaptive_optim import optim as ours

WORLD = 2
STEPS = 8
CASES = {
    "Adam": (ours.Adam, dict(lr=0.01, amsgrad=True)),
    "AdamW": (ours.AdamW, dict(lr=0.01)),
    "Adafactor": (ours.Adafactor, dict(weight_decay=0.1)),
    "Adam8bit": (ours.Adam8bit, dict(lr=0.01, block_size=64, min_8bit_size=0)),
    "AdamW8bit": (ours.AdamW8bit, dict(lr=0.01, block_size=64, min_8bit_size=0)),
}


def make_net() -> torch.nn.Module:
    """Four layers in mirrored pairs (32×8, 8×32, 32×8, 8×32): ZeRO's greedy partition, largest
    tensor first to the emptiest rank, gives each rank the same sizes and shapes, so the same
    state bytes for every optimizer (Adafactor's factored state included)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 8))


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(2 * 16, 8, generator=g), torch.randn(2 * 16, 8, generator=g)


def half_gradients(net, x, y) -> list[torch.Tensor]:
    net.zero_grad()
    ((net(x) - y) ** 2).mean().backward()
    return [p.grad.clone() for p in net.parameters()]


def run_case(rank: int, cls, kwargs) -> dict:
    """ZeRO training on this rank and the single-process reference, side by side."""
    net, reference = make_net(), make_net()
    zero = ZeroRedundancyOptimizer(net.parameters(), optimizer_class=cls, **kwargs)
    ref_opt = cls(reference.parameters(), **kwargs)
    for step in range(STEPS):
        x, y = batch(step)
        mine = slice(16 * rank, 16 * (rank + 1))
        for p, g in zip(net.parameters(), half_gradients(net, x[mine], y[mine])):
            dist.all_reduce(g)
            p.grad = g / WORLD
        zero.step()
        halves = [half_gradients(reference, x[16 * r:16 * (r + 1)], y[16 * r:16 * (r + 1)]) for r in range(WORLD)]
        for p, g0, g1 in zip(reference.parameters(), *halves):
            p.grad = (g0 + g1) / WORLD
        ref_opt.step()
    zero.consolidate_state_dict(to=0)
    result = {
        "equal": all(torch.equal(p, q) for p, q in zip(net.parameters(), reference.parameters())),
        "moved": any(not torch.equal(p, q) for p, q in zip(net.parameters(), make_net().parameters())),
        "rank_bytes": ours.state_bytes(zero.optim),
        "reference_bytes": ours.state_bytes(ref_opt),
    }
    if rank == 0:  # the consolidated checkpoint is the single-process optimizer's, entry for entry
        consolidated, expected = zero.state_dict()["state"], ref_opt.state_dict()["state"]
        result["consolidated_equal"] = consolidated.keys() == expected.keys() and all(
            consolidated[i].keys() == expected[i].keys()
            and all(torch.equal(consolidated[i][k], expected[i][k]) for k in expected[i])
            for i in expected)
    return result


FSDP_EXACT = ("Adam", "AdamW")


def run_fsdp_case(rank: int, cls, kwargs) -> dict:
    """FSDP2 training on this rank and the single-process reference; parameters compared whole."""
    from torch.distributed.fsdp import fully_shard

    net, reference = make_net(), make_net()
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer)
    fully_shard(net)
    opt, ref_opt = cls(net.parameters(), **kwargs), cls(reference.parameters(), **kwargs)
    for step in range(STEPS):
        x, y = batch(step)
        mine = slice(16 * rank, 16 * (rank + 1))
        opt.zero_grad()
        ((net(x[mine]) - y[mine]) ** 2).mean().backward()  # FSDP averages the gradients over ranks
        opt.step()
        halves = [half_gradients(reference, x[16 * r:16 * (r + 1)], y[16 * r:16 * (r + 1)]) for r in range(WORLD)]
        for p, g0, g1 in zip(reference.parameters(), *halves):
            p.grad = (g0 + g1) / WORLD
        ref_opt.step()
    whole = [p.full_tensor() for p in net.parameters()]
    return {"equal": all(torch.equal(p, q) for p, q in zip(whole, reference.parameters())),
            "moved": any(not torch.equal(p, q) for p, q in zip(whole, make_net().parameters())),
            "rank_bytes": ours.state_bytes(opt), "reference_bytes": ours.state_bytes(ref_opt)}


def fsdp_refusal(cls, kwargs) -> str:
    """The error a drop-in gives on its first step over FSDP-sharded parameters ('' if none)."""
    from torch.distributed.fsdp import fully_shard

    net = make_net()
    fully_shard(net)
    opt = cls(net.parameters(), **kwargs)
    x, y = batch(0)
    ((net(x) - y) ** 2).mean().backward()
    try:
        opt.step()
    except NotImplementedError as error:
        return str(error)
    return ""


def worker(rank: int, out_dir: str) -> None:
    # The ranks meet through a file, not a TCP port: a port picked as "free" beforehand can be taken
    # by another test process before rank 0 binds it (xdist runs several at once).
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(out_dir, 'rendezvous')}", rank=rank,
                            world_size=WORLD, timeout=datetime.timedelta(seconds=60))
    try:
        results = {name: run_case(rank, cls, kw) for name, (cls, kw) in CASES.items()}
        results["fsdp"] = {name: run_fsdp_case(rank, cls, kw) if name in FSDP_EXACT else fsdp_refusal(cls, kw)
                           for name, (cls, kw) in CASES.items()}
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def run_two_ranks(timeout: float = 240.0) -> list[dict]:
    with tempfile.TemporaryDirectory() as out_dir:
        context = mp.start_processes(worker, args=(out_dir,), nprocs=WORLD, join=False,
                                     start_method="spawn")
        deadline = time.monotonic() + timeout
        try:
            while not context.join(timeout=1.0):
                if time.monotonic() > deadline:
                    pytest.fail(f"the {WORLD} ranks did not finish within {timeout:.0f} s")
        finally:
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
                    process.join(5)
        return [torch.load(os.path.join(out_dir, f"rank{r}.pt")) for r in range(WORLD)]


@pytest.fixture(scope="module")
def ranks() -> list[dict]:
    return run_two_ranks()


@pytest.mark.parametrize("name", list(CASES))
def test_each_rank_equals_the_single_process_run(ranks, name):
    for rank, results in enumerate(ranks):
        assert results[name]["moved"], "training did not change the parameters"
        assert results[name]["equal"], f"rank {rank}: {name} under ZeRO differs from one process"
    assert ranks[0][name]["consolidated_equal"]


@pytest.mark.parametrize("name", list(CASES))
def test_each_rank_holds_half_of_the_state(ranks, name):
    """The shards are disjoint and together make up the single-process state; on this mirrored
    network each holds half of it (within 5%)."""
    total = ranks[0][name]["reference_bytes"]
    shares = [results[name]["rank_bytes"] for results in ranks]
    assert sum(shares) == total
    for share in shares:
        assert abs(share / total - 0.5) <= 0.05, (name, shares, total)


@pytest.mark.parametrize("name", FSDP_EXACT)
def test_fsdp_ranks_equal_the_single_process_run_and_hold_half(ranks, name):
    """Under FSDP2 each rank holds half of every tensor's moments; only the ``step`` counters (one
    4-byte scalar per parameter tensor on every rank) are not sharded."""
    total = ranks[0]["fsdp"][name]["reference_bytes"]
    counters = 4 * len(list(make_net().parameters()))
    for rank, results in enumerate(ranks):
        result = results["fsdp"][name]
        assert result["moved"] and result["equal"], f"rank {rank}: {name} under FSDP differs from one process"
        assert result["rank_bytes"] == (total - counters) // 2 + counters
        assert abs(result["rank_bytes"] / total - 0.5) <= 0.05


@pytest.mark.parametrize("name", [name for name in CASES if name not in FSDP_EXACT])
def test_fsdp_sharded_parameters_are_refused_clearly(ranks, name):
    for results in ranks:
        message = results["fsdp"][name]
        assert "sharded (DTensor) parameters" in message and "ZeroRedundancyOptimizer" in message, message
