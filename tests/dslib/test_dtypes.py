"""dtypes (dslib/dtypes.py): names and conversions, and PyTorch's type promotion, checked against
torch.result_type and against the dtype of real op results on both devices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import dslib
from dslib import dtypes

NUMPY_DTYPES = ["float64", "float32", "float16", "int64", "int32", "int8", "uint8", "bool"]
TORCH_DTYPES = NUMPY_DTYPES + ["bfloat16"]
SCALARS = [2, 2.5, True]


def _pair(dt, ndim, device):
    shape = (2,) * ndim
    t = torch.ones(shape, dtype=getattr(torch, dt))
    d = dslib.ones(*shape, dtype=dt, device=device)
    return d, t


def _devices_and_dtypes():
    return [("numpy", NUMPY_DTYPES), ("torch", TORCH_DTYPES)]


@pytest.mark.parametrize("device, names", _devices_and_dtypes(), ids=["numpy", "torch"])
@pytest.mark.parametrize("ndims", [(1, 1), (1, 0), (0, 1), (0, 0)], ids=["tt", "t0", "0t", "00"])
def test_result_type_and_op_dtype_for_tensor_pairs_match_torch(device, names, ndims):
    """Every dtype pair, as dimensioned and zero-dim tensors: result_type and the dtype of a + b and a * b."""
    for da, db in itertools.product(names, repeat=2):
        a, ta = _pair(da, ndims[0], device)
        b, tb = _pair(db, ndims[1], device)
        want = dtypes.get(torch.result_type(ta, tb))
        assert dslib.result_type(a, b) is want, (da, db, ndims)
        assert (a * b).dtype is want, (da, db, ndims, "mul")
        if not (da == db == "bool"):
            assert (a + b).dtype is dtypes.get((ta + tb).dtype), (da, db, ndims, "add")


@pytest.mark.parametrize("device, names", _devices_and_dtypes(), ids=["numpy", "torch"])
@pytest.mark.parametrize("ndim", [1, 0])
def test_result_type_with_python_scalars_matches_torch(device, names, ndim):
    for dt, s in itertools.product(names, SCALARS):
        a, ta = _pair(dt, ndim, device)
        want = dtypes.get(torch.result_type(ta, s))
        assert dslib.result_type(a, s) is want, (dt, s, ndim)
        assert (a * s).dtype is want, (dt, s, ndim)
        assert (s * a).dtype is want, (dt, s, ndim)
        if not (dt == "bool" and isinstance(s, bool)):
            assert (a + s).dtype is dtypes.get((ta + s).dtype), (dt, s, ndim, "add")


def test_result_type_of_three_operands_uses_tiers_like_torch():
    """A dimensioned int tensor, a 0-d float64 tensor and a Python float: the 0-d tensor's category wins."""
    a, b = dslib.ones(2, dtype=dslib.int32), dslib.tensor(1.0, dtype=dslib.float64)
    assert dslib.result_type(a, b, 1.5) is dtypes.get(
        torch.result_type(torch.ones(2, dtype=torch.int32) + torch.tensor(1.0, dtype=torch.float64), 1.5)
    )


@pytest.mark.parametrize("a, b", [("uint8", "int8"), ("float16", "bfloat16"), ("bool", "uint8"), ("int32", "float16")])
def test_promote_types_matches_torch(a, b):
    assert dslib.promote_types(dtypes.get(a), dtypes.get(b)) is dtypes.get(
        torch.promote_types(getattr(torch, a), getattr(torch, b))
    )


def test_division_and_float_math_of_integers_give_the_default_float(device):
    x = dslib.tensor([1, 2], device=device)
    assert (x / x).dtype is dslib.float32 and x.exp().dtype is dslib.float32
    dslib.set_default_dtype(dslib.float64)
    assert (x / 2).dtype is dslib.float64 and dslib.tensor([1.5]).dtype is dslib.float64


def test_comparison_results_are_bool_for_every_dtype(device):
    names = NUMPY_DTYPES if device == "numpy" else TORCH_DTYPES
    for dt in names:
        assert (dslib.ones(2, dtype=dt, device=device) > 0).dtype is dslib.bool_


def test_dtype_lookup_by_name_numpy_and_torch_dtypes():
    assert dtypes.get("float32") is dslib.float32 is dtypes.get(np.float32) is dtypes.get(torch.float32)
    assert dtypes.get("long") is dslib.int64 and dtypes.get(torch.bool) is dslib.bool_
    assert dslib.float is dslib.float32 and dslib.double is dslib.float64 and dslib.bool is dslib.bool_
    assert repr(dslib.bfloat16) == "dslib.bfloat16" and dslib.float16.itemsize == 2


def test_bfloat16_works_on_torch_and_is_refused_on_numpy():
    x = dslib.ones(2, dtype=dslib.bfloat16, device="torch", requires_grad=True)
    (x * 3).sum().backward()
    assert x.grad.dtype is dslib.bfloat16 and x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(TypeError, match=r"bfloat16 is not available on the 'numpy' device"):
        dslib.ones(2).to(dslib.bfloat16)


def test_float16_on_numpy_computes_and_differentiates_in_float16():
    x = dslib.tensor([1.0, 2.0], dtype=dslib.float16, requires_grad=True)
    y = (x * x + 1.5).sum()
    assert y.dtype is dslib.float16
    y.backward()
    assert x.grad.dtype is dslib.float16 and x.grad.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("dt", ["float64", "float16", "int32", "uint8", "bool"])
def test_casts_keep_values_like_torch(dt, device):
    src = np.array([0.0, 1.0, 2.7, -1.5], np.float32)
    if dt in ("uint8",):
        src = np.abs(src)
    got = dslib.tensor(src, device=device).to(dt)
    ref = torch.tensor(src).to(getattr(torch, dt))
    assert got.dtype is dtypes.get(dt)
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_cast_gradient_returns_in_the_source_dtype():
    x = dslib.tensor([1.0, 2.0], dtype=dslib.float32, requires_grad=True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype is dslib.float32 and x.grad.tolist() == [2.0, 2.0]
