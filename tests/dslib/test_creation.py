"""Tensor factories (dslib/creation.py) and the seeded generator (dslib/random.py), against torch's
dtype inference and shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib


@pytest.mark.parametrize(
    "data",
    [
        [1.0, 2.0],
        [1, 2],
        [True, False],
        3.5,
        7,
        [[1, 2.5]],
        [],
        np.arange(3.0),  # float64 array keeps float64
        np.arange(3, dtype=np.int32),
        np.float64(1.5),  # a NumPy scalar keeps its dtype, as torch
        np.array(2, dtype=np.uint8),
    ],
)
def test_tensor_infers_dtype_and_shape_like_torch(data, device):
    got = dslib.tensor(data, device=device)
    ref = torch.tensor(data)
    assert got.dtype is dslib.dtypes.get(ref.dtype), (data, got.dtype, ref.dtype)
    assert got.shape == tuple(ref.shape)
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_tensor_arguments(device):
    x = dslib.tensor([1, 2], dtype=dslib.float64, device=device, requires_grad=True)
    assert x.dtype is dslib.float64 and x.device == device and x.requires_grad and x.is_leaf
    assert dslib.Tensor([1.0, 2.0]).tolist() == [1.0, 2.0]


def test_tensor_copies_its_input():
    arr = np.zeros(2, np.float32)
    t = dslib.tensor(arr)
    arr[0] = 5
    assert t.tolist() == [0.0, 0.0]
    src = dslib.ones(2)
    copy = dslib.tensor(src)
    src.add_(1)
    assert copy.tolist() == [1.0, 1.0]
    shared = dslib.from_numpy(arr)  # from_numpy shares memory, as torch
    arr[1] = 7
    assert shared.tolist() == [5.0, 7.0]


@pytest.mark.parametrize(
    "make",
    [
        lambda lib, **kw: lib.zeros(2, 3, **kw),
        lambda lib, **kw: lib.zeros((2, 3), **kw),
        lambda lib, **kw: lib.ones(4, **kw),
        lambda lib, **kw: lib.ones(0, 2, **kw),
        lambda lib, **kw: lib.full((2, 2), 1.5, **kw),
        lambda lib, **kw: lib.full((2,), 3, **kw),
        lambda lib, **kw: lib.full((2,), True, **kw),
        lambda lib, **kw: lib.arange(5, **kw),
        lambda lib, **kw: lib.arange(1, 7, 2, **kw),
        lambda lib, **kw: lib.arange(0.0, 1.0, 0.25, **kw),
        lambda lib, **kw: lib.eye(3, **kw),
        lambda lib, **kw: lib.eye(2, 4, **kw),
    ],
)
def test_factories_match_torch(make, device):
    got = make(dslib, device=device)
    ref = make(torch)
    assert got.dtype is dslib.dtypes.get(ref.dtype) and got.shape == tuple(ref.shape) and got.device == device
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_factory_dtype_and_requires_grad_arguments():
    x = dslib.zeros(2, dtype=dslib.float64, requires_grad=True)
    assert x.dtype is dslib.float64 and x.requires_grad
    assert dslib.arange(3, dtype=dslib.float32).tolist() == [0.0, 1.0, 2.0]
    assert dslib.empty(2, 3).shape == (2, 3)
    with pytest.raises(ValueError, match=r"a tensor size must be non-negative integers, got \(2, -1\)"):
        dslib.zeros(2, -1)


@pytest.mark.parametrize("fn", ["zeros_like", "ones_like", "empty_like", "randn_like", "rand_like"])
def test_like_factories_copy_shape_dtype_and_device(fn, device):
    src = dslib.ones(2, 3, dtype=dslib.float64, device=device)
    out = getattr(dslib, fn)(src)
    assert out.shape == (2, 3) and out.dtype is dslib.float64 and out.device == device and not out.requires_grad
    assert dslib.full_like(src, 7).tolist() == [[7.0] * 3] * 2
    assert getattr(dslib, fn)(src, dtype=dslib.float32).dtype is dslib.float32


def test_manual_seed_makes_random_tensors_reproducible_on_every_device(device):
    dslib.manual_seed(123)
    a, b = dslib.randn(3, 4, device=device), dslib.rand(5, device=device)
    dslib.manual_seed(123)
    a2, b2 = dslib.randn(3, 4, device=device), dslib.rand(5, device=device)
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    dslib.manual_seed(123)
    np.testing.assert_array_equal(dslib.randn(3, 4).numpy(), a.numpy())  # same numbers on numpy and torch
    dslib.manual_seed(124)
    assert not np.array_equal(dslib.randn(3, 4).numpy(), a.numpy())


def test_random_distributions_have_the_right_range_and_moments():
    x = dslib.randn(20000).numpy()
    u = dslib.rand(20000).numpy()
    assert abs(x.mean()) < 0.03 and abs(x.std() - 1) < 0.03
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    assert dslib.randn(2, dtype=dslib.float64).dtype is dslib.float64
    r = dslib.randint(0, 5, (100,))
    assert r.dtype is dslib.int64 and 0 <= r.numpy().min() and r.numpy().max() < 5


def test_a_separate_generator_does_not_disturb_the_default_one():
    dslib.manual_seed(0)
    first = dslib.randn(3).numpy()
    dslib.manual_seed(0)
    g = dslib.Generator(99)
    dslib.randn(3, generator=g)
    np.testing.assert_array_equal(dslib.randn(3).numpy(), first)


def test_bfloat16_random_tensors_on_torch():
    x = dslib.randn(4, dtype=dslib.bfloat16, device="torch")
    assert x.dtype is dslib.bfloat16 and x.shape == (4,)
