"""Regression tests for the silent differences from torch.optim found by the adversarial pass (issue 12).

Each test drives torch.optim and ours side by side and asks for the same parameters and state
*bit for bit*: ours runs torch's single-tensor arithmetic in torch's order of operations, with
the same fused kernels, so on the CPU there is no rounding difference to allow for. Where torch
itself fails with a bare KeyError, ours raises a clear error instead (and the test says so).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from adaptive_optim import optim as ours
from adaptive_optim import rules
from optim_cases import NAMES


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal dtype, shape and values (NaN equal to NaN), for dense, sparse and complex tensors."""
    if a.is_sparse or b.is_sparse:
        a, b = a.coalesce().to_dense(), b.coalesce().to_dense()
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.is_complex():
        a, b = torch.view_as_real(a), torch.view_as_real(b)
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


def assert_same_state(opt_t, opt_o) -> None:
    """Both optimizers hold the same state: the same keys, dtypes, shapes, layouts and values."""
    st, so = opt_t.state_dict()["state"], opt_o.state_dict()["state"]
    assert st.keys() == so.keys()
    for i in st:
        assert st[i].keys() == so[i].keys(), i
        for key, value in st[i].items():
            got = so[i][key]
            assert (got.dtype, got.shape, got.layout) == (value.dtype, value.shape, value.layout), key
            assert same(got, value), key


def lockstep(name, make_params, kwargs, grads, edit=None):
    """Run torch.optim.<name> and ours on copies of the same params with the same gradients.

    ``grads(k, params)`` sets ``p.grad`` for step k; ``edit(k, opt)`` may change the groups
    between steps. Asserts equality of parameters (and state) after every step.
    """
    params_t, params_o = make_params(), make_params()
    opt_t = getattr(torch.optim, name)(params_t, **kwargs)
    opt_o = getattr(ours, name)(params_o, **kwargs)
    for k in range(len(grads)):
        for params, opt in ((params_t, opt_t), (params_o, opt_o)):
            if edit is not None:
                edit(k, opt)
            grads[k](params)
            opt.step()
        for p, q in zip(params_t, params_o):
            assert same(q.detach(), p.detach()), f"step {k + 1}"
        assert_same_state(opt_t, opt_o)
    return opt_t, opt_o


def dense_params(dtype=torch.float32, shape=(4, 3), seed=0):
    def make():
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(shape, generator=g, dtype=torch.float64).to(dtype).requires_grad_()]
    return make


def random_grads(steps, seed=1, scale=1.0):
    def at(k):
        def set_grad(params):
            g = torch.Generator().manual_seed(seed + k)
            for p in params:
                p.grad = (scale * torch.randn(p.shape, generator=g, dtype=torch.float64)).to(p.dtype)
        return set_grad
    return [at(k) for k in range(steps)]


def save_and_load(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer)


# 1. Compiled steps: see tests/test_optim_compiled.py (every optimizer, eager vs compiled).


# 2. Sparse gradients with SGD ---------------------------------------------------------------

def sparse_grads(rows_per_step, size=(6, 3), seed=3):
    """Sparse gradients touching the given rows (duplicates allowed, uncoalesced), like nn.Embedding's."""
    def at(k):
        def set_grad(params):
            g = torch.Generator().manual_seed(seed + k)
            rows = torch.tensor(rows_per_step[k])
            values = torch.randn(len(rows), size[1], generator=g, dtype=torch.float64)
            for p in params:
                p.grad = torch.sparse_coo_tensor(rows[None], values.to(p.dtype), size)
        return set_grad
    return [at(k) for k in range(len(rows_per_step))]


ROWS = [[0, 2], [1, 1, 4], [5], [2, 3, 2]]


@pytest.mark.parametrize("kwargs", [dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, nesterov=True),
                                    dict(lr=0.1, momentum=0.5, dampening=0.3, maximize=True)])
def test_sparse_sgd_momentum_moves_rows_touched_earlier(kwargs):
    """torch's sparse momentum buffer keeps every row touched so far; a row keeps moving after its batch."""
    opt_t, opt_o = lockstep("SGD", dense_params(shape=(6, 3)), kwargs, sparse_grads(ROWS))
    assert opt_o.state_dict()["state"][0]["momentum_buffer"].is_sparse


def test_sparse_sgd_checkpoint_moves_between_libraries():
    """A torch checkpoint holding a sparse momentum buffer loads into ours and continues exactly."""
    grads = sparse_grads(ROWS)
    for first, second in ((torch.optim.SGD, ours.SGD), (ours.SGD, torch.optim.SGD)):
        results = []
        for resume in (False, True):
            params = dense_params(shape=(6, 3))()
            opt = second(params, lr=0.1, momentum=0.9) if not resume else first(params, lr=0.1, momentum=0.9)
            for k in range(2):
                grads[k](params)
                opt.step()
            if resume:
                opt2 = second(params, lr=0.1, momentum=0.9)
                opt2.load_state_dict(save_and_load(opt.state_dict()))
                opt = opt2
            for k in range(2, 4):
                grads[k](params)
                opt.step()
            results.append(params[0].detach().clone())
        assert same(results[0], results[1])


def test_sparse_sgd_weight_decay_raises_torchs_error():
    errors = []
    for cls in (torch.optim.SGD, ours.SGD):
        params = dense_params(shape=(6, 3))()
        opt = cls(params, lr=0.1, weight_decay=0.1)
        sparse_grads(ROWS)[0](params)
        with pytest.raises(Exception) as err:
            opt.step()
        errors.append((type(err.value), str(err.value)))
    assert errors[0] == errors[1]


# 3. RMSprop momentum driven to 0 by a scheduler -----------------------------------------------

def test_rmsprop_momentum_scheduled_to_zero_freezes_the_buffer():
    """OneCycleLR with base_momentum=0 cycles momentum through 0: torch leaves the buffer as it is then."""
    momenta = [0.9, 0.0, 0.0, 0.5, 0.0, 0.9]

    def edit(k, opt):
        opt.param_groups[0]["momentum"] = momenta[k]

    lockstep("RMSprop", dense_params(), dict(lr=0.01, momentum=0.9), random_grads(len(momenta)), edit)


def test_rmsprop_momentum_switched_on_later_is_refused_clearly():
    """torch.optim fails with a bare KeyError('momentum_buffer') (a torch bug); ours names the cause."""
    for cls, error in ((torch.optim.RMSprop, KeyError), (ours.RMSprop, RuntimeError)):
        params = dense_params()()
        opt = cls(params, lr=0.01)
        random_grads(1)[0](params)
        opt.step()
        opt.param_groups[0]["momentum"] = 0.9
        with pytest.raises(error, match="momentum_buffer"):
            opt.step()


@pytest.mark.parametrize("name,key,value", [("RMSprop", "centered", True), ("Adam", "amsgrad", True),
                                            ("AdamW", "amsgrad", True)])
def test_state_entry_switched_on_later_is_refused_clearly(name, key, value):
    """Same torch KeyError for centered / amsgrad switched on after the first step; ours explains."""
    for cls, error in ((getattr(torch.optim, name), KeyError), (getattr(ours, name), RuntimeError)):
        params = dense_params()()
        opt = cls(params, lr=0.01)
        random_grads(1)[0](params)
        opt.step()
        opt.param_groups[0][key] = value
        with pytest.raises(error):
            opt.step()


# 4. Complex parameters with SGD momentum ------------------------------------------------------

def complex_params(seed=0):
    def make():
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(3, 2, generator=g, dtype=torch.complex64).requires_grad_()]
    return make


def complex_grads(steps, seed=5):
    def at(k):
        def set_grad(params):
            g = torch.Generator().manual_seed(seed + k)
            for p in params:
                p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)
        return set_grad
    return [at(k) for k in range(steps)]


def test_complex_sgd_momentum_buffer_is_complex_and_resumes_in_torch():
    opt_t, opt_o = lockstep("SGD", complex_params(), dict(lr=0.1, momentum=0.9), complex_grads(3))
    buffer = opt_o.state_dict()["state"][0]["momentum_buffer"]
    assert buffer.dtype == torch.complex64 and buffer.shape == (3, 2)
    params = complex_params()()
    resumed = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    resumed.load_state_dict(save_and_load(opt_o.state_dict()))
    with torch.no_grad():
        params[0].copy_(opt_o.param_groups[0]["params"][0])
    complex_grads(4)[3](params)
    resumed.step()  # torch resumes from our checkpoint


# 5. Group edits torch accepts are not re-validated at every step -------------------------------

def test_group_edits_torch_accepts_step_as_in_torch():
    def negative_lr(k, opt):
        opt.param_groups[0]["lr"] = -0.01

    lockstep("SGD", dense_params(), dict(lr=0.1), random_grads(2), negative_lr)
    lockstep("Adam", dense_params(), dict(lr=0.1), random_grads(2), negative_lr)

    def nesterov_momentum_to_zero(k, opt):
        opt.param_groups[0]["momentum"] = 0.9 if k == 0 else 0.0

    lockstep("SGD", dense_params(), dict(lr=0.1, momentum=0.9, nesterov=True), random_grads(3),
             nesterov_momentum_to_zero)


def test_add_param_group_with_negative_weight_decay_steps_as_in_torch():
    def add_group(k, opt):
        if k == 1:
            extra = torch.ones(3, requires_grad=True)
            extra.grad = torch.full((3,), 0.5)
            opt.add_param_group({"params": [extra], "weight_decay": -0.1})

    for name in ("SGD", "Adam", "RMSprop"):
        opt_t, opt_o = lockstep(name, dense_params(), dict(lr=0.1), random_grads(3), add_group)
        assert same(opt_o.param_groups[1]["params"][0], opt_t.param_groups[1]["params"][0])


def test_sgd_accepts_nan_lr_as_torch_does():
    """torch checks `lr < 0.0`, which NaN passes; the parameters then become NaN in both."""
    lockstep("SGD", dense_params(), dict(lr=math.nan), random_grads(1))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        ours.Adam(dense_params()(), lr=math.nan)  # torch checks `not 0.0 <= lr` here, which NaN fails


# 6. Kernel flags: refused exactly where torch refuses them --------------------------------------

FLAG_CASES = [
    ("capturable", dict(capturable=True)),
    ("tensor lr, foreach", dict(lr=torch.tensor(0.01), foreach=True)),
    ("tensor lr, foreach=False", dict(lr=torch.tensor(0.01), foreach=False)),
    ("tensor betas, foreach", dict(betas=(torch.tensor(0.9), torch.tensor(0.99)), foreach=True)),
    ("foreach", dict(foreach=True)),
]


def outcome(cls, kwargs):
    """The parameters after 3 steps, or the (type, message) of the error on the way."""
    try:
        params = dense_params()()
        opt = cls(params, **kwargs)
        for set_grad in random_grads(3):
            set_grad(params)
            opt.step()
        return params[0].detach()
    except Exception as err:  # noqa: BLE001 - the error itself is what is compared
        return type(err), str(err)


#: Where torch's foreach kernel fails with an internal error (a torch bug, not a refusal):
#: ours steps as torch's foreach=False does, which is what the flag promises.
TORCH_FOREACH_BUGS = {("RAdam", "tensor betas, foreach"): "Expected packed scalar Tensor to be of dimension 1"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", [c[0] for c in FLAG_CASES])
def test_flags_refused_exactly_where_torch_refuses_them(name, case):
    kwargs = dict(FLAG_CASES)[case]
    signature = getattr(torch.optim, name).__init__.__code__.co_varnames
    if any(key not in signature for key in kwargs):
        pytest.skip(f"torch.optim.{name} has no {case} flag")
    theirs, mine = outcome(getattr(torch.optim, name), kwargs), outcome(getattr(ours, name), kwargs)
    if (name, case) in TORCH_FOREACH_BUGS:
        assert TORCH_FOREACH_BUGS[name, case] in theirs[1]  # still broken in this torch
        theirs = outcome(getattr(torch.optim, name), dict(kwargs, foreach=False))
    if isinstance(theirs, tuple):
        assert mine == theirs
    else:
        assert not isinstance(mine, tuple), mine
        assert same(mine, theirs)


def test_module_docstring_states_the_flag_behaviour():
    doc = ours.__doc__
    assert "recorded and ignored" not in doc
    assert "capturable=True`` is refused" in doc and "refused exactly where torch" in doc


# 7. Rounding: bitwise equal for Tensor and NumPy hyperparameters, complex and sparse -------------

ROUNDING_CASES = [
    ("SGD", dict(lr=torch.tensor(0.1), momentum=0.9)),
    ("SGD", dict(lr=np.float32(0.1), momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=np.float64(0.1), momentum=0.9)),
    ("RMSprop", dict(lr=torch.tensor(0.01), momentum=0.9)),
    ("RMSprop", dict(lr=np.float32(0.01), momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=torch.tensor(0.1), lr_decay=0.01)),
    ("Adagrad", dict(lr=np.float32(0.1), lr_decay=0.01)),
    ("Adam", dict(lr=torch.tensor(0.01), betas=(torch.tensor(0.9), torch.tensor(0.99)))),
    ("Adam", dict(lr=np.float32(0.01), weight_decay=0.1)),
    ("Adam", dict(lr=torch.tensor(0.01), amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=torch.tensor(0.01), betas=(torch.tensor(0.5), torch.tensor(0.9)))),
    ("AdamW", dict(lr=np.float64(0.01))),
    ("RAdam", dict(lr=torch.tensor(0.01), weight_decay=0.1)),
    ("RAdam", dict(lr=np.float32(0.01), decoupled_weight_decay=True, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,kwargs", ROUNDING_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ROUNDING_CASES)])
def test_tensor_and_numpy_hyperparameters_round_as_torch(name, kwargs):
    lockstep(name, dense_params(), kwargs, random_grads(8))


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1)), ("SGD", dict(lr=0.1, nesterov=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)), ("RMSprop", dict(lr=0.01, weight_decay=0.1, centered=True,
                                                                  momentum=0.5)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)), ("AdamW", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1))])
def test_complex_parameters_round_as_torch(name, kwargs):
    lockstep(name, complex_params(), kwargs, complex_grads(8))


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1)), ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
                                         ("Adagrad", dict(lr=0.1, maximize=True, initial_accumulator_value=0.1))])
def test_sparse_gradients_round_as_torch(name, kwargs):
    lockstep(name, dense_params(shape=(6, 3)), kwargs, sparse_grads(ROWS))


# 9. The rules refuse bad input where it is given -----------------------------------------------

def test_rules_refuse_lists_with_a_clear_error():
    with pytest.raises(TypeError, match="param must be a NumPy array or a torch tensor, got list"):
        rules.SGD(lr=1).update([1.0, 2.0], [0.5, 0.5], {})
    with pytest.raises(TypeError, match="grad must be a NumPy array"):
        rules.Adam().update(np.zeros(2), [0.5, 0.5], rules.Adam().init(np.zeros(2)))


def test_rules_refuse_a_gradient_of_another_shape():
    for rule in (rules.SGD(), rules.Adagrad(), rules.RMSprop(), rules.Adam(), rules.AdamW(), rules.RAdam()):
        param = np.zeros(3)
        with pytest.raises(ValueError, match=r"grad has shape \(2, 3\) but param has shape \(3,\)"):
            rule.update(param, np.ones((2, 3)), rule.init(param))


def test_rules_refuse_mixed_backends():
    with pytest.raises(TypeError, match="both NumPy arrays or both torch tensors"):
        rules.SGD().update(np.zeros(2), torch.zeros(2), {})


@pytest.mark.parametrize("cls", [rules.Adam, rules.AdamW, rules.RAdam])
def test_betas_must_be_a_pair(cls):
    with pytest.raises(ValueError, match=r"betas must be a pair \(beta1, beta2\)"):
        cls(betas=(0.9, 0.99, 0.5))
    with pytest.raises(ValueError, match="betas must be a pair"):
        ours.Adam(dense_params()(), betas=(0.9, 0.99, 0.5))


def test_subclass_api_default_hands_complex_parameters_to_the_rule_as_real_views():
    """A RuleOptimizer subclass written for real arrays (``complex_as_real`` left True) still
    steps complex parameters as torch does, with complex state in torch's format."""

    class RealOnlyAdam(ours.RuleOptimizer):
        rule_class = rules.Adam
        rule_fields = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")

        def __init__(self, params, lr=1e-3):
            super().__init__(params, dict(lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                                          maximize=False, decoupled_weight_decay=False))

    torch_side, ours_side = complex_params()(), complex_params()()
    opt_t, opt_o = torch.optim.Adam(torch_side, lr=0.1), RealOnlyAdam(ours_side, lr=0.1)
    for set_grad in complex_grads(4):
        for params, opt in ((torch_side, opt_t), (ours_side, opt_o)):
            set_grad(params)
            opt.step()
        assert same(ours_side[0].detach(), torch_side[0].detach())
    assert_same_state(opt_t, opt_o)
    with pytest.raises(RuntimeError, match="RealOnlyAdam does not support sparse gradients"):
        sparse = dense_params(shape=(6, 3))()
        opt = RealOnlyAdam(sparse)
        sparse_grads(ROWS)[0](sparse)
        opt.step()
