"""Elementwise ops (dslib/ops/elementwise.py) against PyTorch: forward, gradients, finite differences,
broadcasting (hypothesis) and edge shapes (0-d, size-1 and empty dims)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import dslib
from tests.helpers import DEVICES, check_op
from tests.strategies import broadcastable_shapes

rng = np.random.default_rng(0)


def _away_from_zero(shape, low=0.5, high=2.0):
    return (rng.uniform(low, high, shape) * rng.choice([-1, 1], shape)).astype(np.float32)


def _positive(shape, low=0.2, high=3.0):
    return rng.uniform(low, high, shape).astype(np.float32)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "maximum": lambda a, b: a.maximum(b) if isinstance(a, dslib.Tensor) else torch.maximum(a, b),
    "minimum": lambda a, b: a.minimum(b) if isinstance(a, dslib.Tensor) else torch.minimum(a, b),
}


@settings(max_examples=12)
@given(shapes=broadcastable_shapes(max_dims=3, allow_empty=True), op=st.sampled_from(sorted(BINARY)))
def test_broadcasting_binary_ops_match_torch(shapes, op):
    """Any pair of broadcastable shapes: forward and both gradients (summed over broadcast dims) match torch."""
    check_op(list(shapes), BINARY[op], fd_max_elems=8)


@settings(max_examples=8)
@given(shapes=broadcastable_shapes(max_dims=3))
def test_broadcasting_div_matches_torch(shapes):
    check_op(inputs=[_away_from_zero(s) for s in shapes], torch_fn=lambda a, b: a / b, fd_max_elems=8)


@pytest.mark.parametrize(
    "shapes",
    [[(), ()], [(3,), ()], [(), (2, 3)], [(2, 1, 3), (4, 1)], [(0, 3), (3,)], [(2, 0), (1, 0)], [(1, 1), (1,)]],
)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_ops_on_edge_shapes(shapes, op):
    """0-d operands, size-1 dims and empty dims broadcast (and differentiate) as in torch."""
    check_op(shapes, BINARY[op], fd_max_elems=4)


def test_div_edge_shapes_and_scalar_operands():
    check_op(inputs=[_away_from_zero(()), _away_from_zero((2, 3))], torch_fn=lambda a, b: a / b)
    check_op(inputs=[_away_from_zero((2, 3))], torch_fn=lambda a: 2.5 / a)
    check_op(inputs=[_away_from_zero((2, 3))], torch_fn=lambda a: a / 4)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: a + 1.5,
        lambda a: 1.5 + a,
        lambda a: a - 2,
        lambda a: 2 - a,
        lambda a: a * 3,
        lambda a: 3 * a,
        lambda a: -a,
        lambda a: a.neg(),
        lambda a: a**2,
        lambda a: a**3,
    ],
    ids=["add_s", "radd_s", "sub_s", "rsub_s", "mul_s", "rmul_s", "neg", "neg_method", "sq", "cube"],
)
def test_ops_with_python_scalars(fn):
    check_op([(3, 4)], fn)


def test_pow_tensor_exponent_and_base():
    check_op(inputs=[_positive((2, 3)), rng.uniform(-2, 2, (3,)).astype(np.float32)], torch_fn=lambda a, b: a**b)
    check_op(inputs=[_positive((2, 3))], torch_fn=lambda a: a**0.5)
    check_op(inputs=[_positive((2, 3))], torch_fn=lambda a: a**-1.5)
    check_op(inputs=[rng.uniform(-2, 2, (4,)).astype(np.float32)], torch_fn=lambda a: 2.0**a)


def test_pow_gradient_is_zero_where_exponent_is_zero_even_at_zero_base():
    """d(a**b)/da at a = 0, b = 0 is 0 in torch (a ** b is the constant 1 there), not nan."""
    check_op(
        inputs=[np.array([0.0, 0.0, 1.5], np.float32), np.array([0.0, 2.0, 0.0], np.float32)],
        torch_fn=lambda a, b: a**b,
        grad=[True, False],
        finite_diff=False,
    )


UNARY = {
    "exp": (lambda x: x.exp(), None),
    "log": (lambda x: x.log(), "positive"),
    "log1p": (lambda x: x.log1p(), "gt_minus_1"),
    "sqrt": (lambda x: x.sqrt(), "positive"),
    "rsqrt": (lambda x: x.rsqrt(), "positive"),
    "abs": (lambda x: x.abs(), "nonzero"),
    "sin": (lambda x: x.sin(), None),
    "cos": (lambda x: x.cos(), None),
    "tanh": (lambda x: x.tanh(), None),
    "sigmoid": (lambda x: x.sigmoid(), None),
    "relu": (lambda x: x.relu(), "nonzero"),
}


def _unary_input(kind, shape):
    if kind == "positive":
        return _positive(shape)
    if kind == "gt_minus_1":
        return rng.uniform(-0.8, 2.0, shape).astype(np.float32)
    if kind == "nonzero":
        return _away_from_zero(shape, 0.05, 2.0)
    return rng.uniform(-2, 2, shape).astype(np.float32)


@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (2, 1, 3), (0, 2)])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math_matches_torch(name, shape):
    fn, kind = UNARY[name]
    check_op(inputs=[_unary_input(kind, shape)], torch_fn=fn, fd_max_elems=8)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    check_op(
        [(3, 5)], torch_fn=lambda x: TF.gelu(x, approximate=approximate), dslib_fn=lambda x: dslib.gelu(x, approximate)
    )


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("device", DEVICES)
def test_gelu_keeps_float16_and_matches_torch_in_float32(approximate, device):
    # the per-backend GELU kernels work in the input's dtype (NumPy's erf returns float32 for float16 input)
    x = np.linspace(-6, 6, 97, dtype=np.float32)
    ref = torch.from_numpy(x).requires_grad_()
    TF.gelu(ref, approximate=approximate).backward(torch.linspace(-1, 1, 97))
    t = dslib.tensor(x.astype(np.float16), device=device, requires_grad=True)
    y = dslib.gelu(t, approximate)
    y.backward(dslib.tensor(np.linspace(-1, 1, 97).astype(np.float16), device=device))
    assert y.dtype == dslib.float16 and t.grad.dtype == dslib.float16
    np.testing.assert_allclose(
        y.detach().numpy().astype(np.float32), TF.gelu(ref, approximate=approximate).detach(), atol=8e-3
    )
    np.testing.assert_allclose(t.grad.numpy().astype(np.float32), ref.grad, atol=8e-3)


def test_silu_matches_torch():
    check_op([(3, 5)], torch_fn=TF.silu, dslib_fn=dslib.silu)


@pytest.mark.parametrize("beta, threshold", [(1.0, 20.0), (2.0, 1.0)])
def test_softplus_matches_torch_including_the_linear_region(beta, threshold):
    x = rng.uniform(-3, 3, (4, 5)).astype(np.float32)
    check_op(
        inputs=[x],
        torch_fn=lambda t: TF.softplus(t, beta=beta, threshold=threshold),
        dslib_fn=lambda t: dslib.softplus(t, beta=beta, threshold=threshold),
    )


@pytest.mark.parametrize("lo, hi", [(-0.5, 0.5), (None, 0.3), (-0.3, None)])
def test_clamp_matches_torch(lo, hi):
    x = _away_from_zero((4, 5), 0.01, 2.0)
    x = np.where(np.isin(x, [lo, hi]), x + 0.01, x)
    check_op(inputs=[x], torch_fn=lambda t: t.clamp(lo, hi))


def test_clamp_with_tensor_bounds_matches_torch():
    check_op([(3, 4), (4,), (3, 1)], torch_fn=lambda x, lo, hi: torch.clamp(x, lo, hi + 2.5),
             dslib_fn=lambda x, lo, hi: dslib.clamp(x, lo, hi + 2.5))  # fmt: skip


def test_maximum_tie_splits_the_gradient_like_torch():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    check_op(inputs=[a, a.copy()], torch_fn=lambda x, y: torch.maximum(x, y), dslib_fn=dslib.maximum,
             finite_diff=False)  # fmt: skip


def test_where_matches_torch_with_broadcasting():
    cond = rng.random((3, 1, 4)) > 0.5
    check_op(
        inputs=[cond, rng.standard_normal((2, 4)).astype(np.float32), rng.standard_normal((4,)).astype(np.float32)],
        torch_fn=torch.where,
        dslib_fn=dslib.where,
        grad=[False, True, True],
    )


def test_where_with_a_python_scalar_keeps_the_tensor_dtype(device):
    cond = dslib.tensor([True, False], device=device)
    x = dslib.tensor([1, 2], dtype=dslib.int32, device=device)
    assert dslib.where(cond, 0, x).dtype is dslib.int32
    assert dslib.where(cond, x, 0.5).dtype is dslib.float32
    np.testing.assert_array_equal(dslib.where(cond, 0, x).numpy(), [0, 2])


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_return_bool_without_gradient(op, device):
    a = np.array([[1.0, 2.0, 3.0]], np.float32)
    b = np.array([[2.0], [1.0]], np.float32)
    x = dslib.tensor(a, device=device, requires_grad=True)
    y = dslib.tensor(b, device=device)
    out = getattr(x, op)(y)
    ref = getattr(torch.tensor(a), op)(torch.tensor(b))
    assert out.dtype is dslib.bool_ and not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    # with a Python scalar on either side (the reflected operator)
    np.testing.assert_array_equal((2.0 < x).numpy(), (2.0 < torch.tensor(a)).numpy())
    np.testing.assert_array_equal((x >= 2).numpy(), (torch.tensor(a) >= 2).numpy())


def test_float_math_on_integer_tensors_gives_default_float(device):
    x = dslib.tensor([1, 4], device=device)
    assert x.sqrt().dtype is dslib.float32
    np.testing.assert_allclose(x.sqrt().numpy(), [1.0, 2.0])
    assert (x / 2).dtype is dslib.float32
    np.testing.assert_allclose((x / 2).numpy(), [0.5, 2.0])


def test_remainder_matches_torch_with_gradients():
    a = rng.uniform(-5, 5, (3, 4)).astype(np.float32)
    b = _away_from_zero((4,), 0.7, 2.0)
    check_op(inputs=[a, b], torch_fn=lambda x, y: x % y, fd_max_elems=8)
    check_op(inputs=[a], torch_fn=lambda x: torch.remainder(x, 1.5), dslib_fn=lambda x: dslib.remainder(x, 1.5))


def test_floor_divide_and_remainder_on_integers_match_torch(device):
    a, b = np.array([7, -7, 6, -6]), np.array([2, 2, -4, -4])
    x, y = dslib.tensor(a, device=device), dslib.tensor(b, device=device)
    np.testing.assert_array_equal((x // y).numpy(), (torch.tensor(a) // torch.tensor(b)).numpy())
    np.testing.assert_array_equal((x % y).numpy(), (torch.tensor(a) % torch.tensor(b)).numpy())
    np.testing.assert_array_equal((x // 3).numpy(), (torch.tensor(a) // 3).numpy())
    assert (x // y).dtype is dslib.int64


def test_clamp_of_an_integer_tensor_to_float_bounds_gives_float32_like_torch(device):
    x = dslib.tensor([1, 5], device=device)
    assert x.clamp(0, 3).dtype is dslib.int64 and x.clamp(0, 3).tolist() == [1, 3]
    assert x.clamp(0.5, 3.5).dtype is dslib.float32 and x.clamp(0.5, 3.5).tolist() == [1.0, 3.5]


def test_numpy_scalars_promote_like_python_numbers(device):
    x = dslib.ones(2, device=device)
    assert (np.float64(2) * x).dtype is dslib.float32 and (x + np.float64(2)).dtype is dslib.float32
    assert (dslib.tensor([1, 2], device=device) * np.int64(3)).dtype is dslib.int64
