"""Reductions (dslib/ops/reduction.py) against PyTorch, with dim (int, tuple, negative, None) and keepdim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dslib
from tests.helpers import check_op
from tests.strategies import shape_and_dims


def _kw(dim, keepdim):
    return {} if dim is None else {"dim": dim, "keepdim": keepdim}


@settings(max_examples=15)
@given(sd=shape_and_dims(), keepdim=st.booleans(), op=st.sampled_from(["sum", "mean", "amax", "amin", "logsumexp"]))
def test_reductions_over_random_dims_match_torch(sd, keepdim, op):
    shape, dim = sd
    if op == "logsumexp" and dim is None:
        dim = tuple(range(len(shape)))  # torch.logsumexp needs dim
    check_op([shape], lambda x: getattr(x, op)(**_kw(dim, keepdim)), fd_max_elems=8)


@settings(max_examples=10)
@given(
    sd=shape_and_dims(), keepdim=st.booleans(), correction=st.sampled_from([0, 1]), op=st.sampled_from(["var", "std"])
)
def test_var_and_std_over_random_dims_match_torch(sd, keepdim, correction, op):
    shape, dim = sd
    n = int(np.prod([shape[d] for d in ([dim] if isinstance(dim, int) else dim or range(len(shape)))]))
    if n <= correction:
        return  # torch returns nan/inf there; checked separately
    check_op([shape], lambda x: getattr(x, op)(dim, correction=correction, keepdim=keepdim), fd_max_elems=8)


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_reductions_of_a_zero_dim_tensor(op):
    check_op([()], lambda x: getattr(x, op)())
    check_op([()], lambda x: getattr(x, op)(dim=0), finite_diff=False)


def test_full_sum_of_float64_keeps_float64(device):
    """A full reduction on NumPy returns a NumPy scalar; its dtype must survive (was cast to float32)."""
    x = dslib.tensor(np.arange(3.0), device=device)  # float64 from a float64 array
    for out in (x.sum(), x.mean(), x.var(), x.amax(), x.std()):
        assert out.dtype is dslib.float64 and out.shape == ()


def test_sum_of_a_zero_dim_tensor_does_not_alias_its_input():
    x = dslib.tensor(2.0)
    y = x.sum()
    y.add_(1)
    assert x.item() == 2.0


def test_sum_over_empty_dim_tuple_reduces_everything_like_torch():
    x = np.arange(6.0).reshape(2, 3)
    assert dslib.tensor(x).sum(dim=()).item() == torch.tensor(x).sum(dim=()).item()


def test_sum_over_empty_and_integer_tensors(device):
    assert dslib.zeros(0, 3, device=device).sum().item() == 0.0
    np.testing.assert_array_equal(dslib.zeros(0, 3, device=device).sum(0).numpy(), np.zeros(3))
    s = dslib.tensor([[1, 2], [3, 4]], dtype=dslib.int32, device=device).sum(1)
    assert s.dtype is dslib.int64  # as torch: integer sums accumulate in int64
    np.testing.assert_array_equal(s.numpy(), [3, 7])
    assert dslib.tensor([True, True, False], device=device).sum().item() == 2


def test_amax_shares_the_gradient_among_ties_like_torch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], np.float32)
    check_op(inputs=[x], torch_fn=lambda t: t.amax(1), finite_diff=False)
    check_op(inputs=[x], torch_fn=lambda t: t.amin(), finite_diff=False)
    check_op(inputs=[x], torch_fn=lambda t: t.max(), finite_diff=False)


@pytest.mark.parametrize("dim, keepdim", [(0, False), (1, True), (-1, False)])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_and_min_along_a_dim_return_values_and_indices(op, dim, keepdim, device):
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    check_op(inputs=[x], torch_fn=lambda t: getattr(t, op)(dim, keepdim=keepdim).values)
    out = getattr(dslib.tensor(x, device=device), op)(dim, keepdim=keepdim)
    ref = getattr(torch.tensor(x), op)(dim, keepdim=keepdim)
    np.testing.assert_array_equal(out.indices.numpy(), ref.indices.numpy())
    assert out.indices.dtype is dslib.int64
    values, indices = out  # unpacks like torch.return_types.max
    assert values.shape == tuple(ref.values.shape)


@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_and_argmin_match_torch(dim, keepdim, device):
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    t = torch.tensor(x)
    d = dslib.tensor(x, device=device)
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    for op in ("argmax", "argmin"):
        out = getattr(d, op)(**kw)
        assert out.dtype is dslib.int64
        np.testing.assert_array_equal(out.numpy(), getattr(t, op)(**kw).numpy())


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_and_std_correction_match_torch(correction):
    check_op([(4, 5)], lambda x: x.var(1, correction=correction))
    check_op([(4, 5)], lambda x: x.std(correction=correction))
    check_op([(4, 5)], lambda x: x.var(0, unbiased=False, keepdim=True))


def test_var_with_too_few_elements_is_nan_like_torch():
    with pytest.warns(UserWarning, match="degrees of freedom"):
        ref = torch.tensor([1.0]).var().item()
    assert np.isnan(dslib.tensor([1.0]).var().item()) and np.isnan(ref)


def test_logsumexp_is_stable_for_large_and_minus_inf_inputs(device):
    x = np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [0.0, -np.inf]], np.float32)
    with np.errstate(divide="ignore"):  # log(0) = -inf for the all -inf row, as torch (NumPy also warns)
        out = dslib.tensor(x, device=device).logsumexp(1)
    np.testing.assert_allclose(out.numpy(), torch.tensor(x).logsumexp(1).numpy(), rtol=1e-6)


def test_mean_of_an_integer_tensor_asks_for_a_float_dtype():
    with pytest.raises(TypeError, match=r"mean: input dtype dslib.int64 is not floating point.*dtype="):
        dslib.tensor([1, 2]).mean()
    assert dslib.tensor([1, 2]).mean(dtype=dslib.float32).item() == 1.5


def test_reduction_dim_out_of_range_names_the_dim():
    with pytest.raises(IndexError, match=r"dim 2 is out of range for a tensor with 2 dimension"):
        dslib.ones(2, 3).sum(2)


def test_argmax_without_dim_but_with_keepdim_keeps_every_dim_like_torch():
    x = np.arange(6.0).reshape(2, 3)
    assert dslib.tensor(x).argmax(keepdim=True).shape == tuple(torch.tensor(x).argmax(keepdim=True).shape)


def test_logsumexp_over_an_empty_dim_is_minus_inf_like_torch(device):
    x = np.zeros((2, 0), np.float32)
    with np.errstate(divide="ignore"):
        out = dslib.tensor(x, device=device).logsumexp(1)
    np.testing.assert_array_equal(out.numpy(), torch.tensor(x).logsumexp(1).numpy())
