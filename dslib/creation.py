"""Tensor factories: dslib.tensor, zeros, ones, full, arange, empty, eye, randn, rand, *_like."""

from __future__ import annotations

import numbers

import numpy as np

from . import dtypes
from .backend import get_backend
from .random import default_generator
from .tensor import Tensor


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"a tensor size must be non-negative integers, got {size}")
    return tuple(int(s) for s in size)


def _dt(dtype, default=None):
    return dtypes.get(dtype) if dtype is not None else (default or dtypes.get_default_dtype())


def _finish(array, requires_grad):
    t = Tensor._make(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, NumPy arrays or Tensors)."""
    if isinstance(data, Tensor):
        src = data
        device = device if device is not None else src.device
        data = src._data if get_backend(device) is src._backend else src._backend.to_numpy(src._data)
    b = get_backend(device)
    try:
        array = b.asarray(data, dtype)
    except (ValueError, TypeError, RuntimeError) as err:
        raise TypeError(f"dslib.tensor could not make a tensor from {type(data).__name__}: {err}") from None
    if type(array) is np.ndarray and array.dtype.kind not in "biuf":
        raise TypeError(f"dslib.tensor needs numbers or booleans, got an array of dtype {array.dtype}")
    if hasattr(data, "shape"):  # never alias the caller's array
        array = b.copy(array)
    return _finish(array, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (on the 'numpy' device)."""
    return Tensor._make(np.asarray(array))


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _finish(get_backend(device).zeros(_shape(size), _dt(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _finish(get_backend(device).ones(_shape(size), _dt(dtype)), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _finish(get_backend(device).empty(_shape(size), _dt(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None:
        dtype = dtypes.result_type(fill_value)
    return _finish(get_backend(device).full(_shape((size,)), fill_value, _dt(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    return _finish(get_backend(device).arange(start, end, step, _dt(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    arr = np.linspace(start, end, steps)
    return tensor(arr, dtype=_dt(dtype), device=device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _finish(get_backend(device).eye(n, m if m is not None else n, _dt(dtype)), requires_grad)


def _random(draw, size, dtype, device, requires_grad, generator):
    g = generator or default_generator
    dt = _dt(dtype)
    arr = draw(g.np, _shape(size))
    b = get_backend(device)
    return _finish(
        b.asarray(arr.astype(np.float32 if dt is dtypes.bfloat16 else dtypes.to_numpy(dt)), dt), requires_grad
    )


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Standard normal samples, drawn from dslib's seeded generator."""
    return _random(lambda g, s: g.standard_normal(s), size, dtype, device, requires_grad, generator)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Uniform samples in [0, 1)."""
    return _random(lambda g, s: g.random(s), size, dtype, device, requires_grad, generator)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None) -> Tensor:
    if high is None:
        low, high = 0, low
    g = generator or default_generator
    arr = g.np.integers(low, high, size=_shape((size,)))
    return tensor(arr, dtype=dtype or dtypes.int64, device=device)


def randperm(n, dtype=None, device=None, generator=None) -> Tensor:
    g = generator or default_generator
    return tensor(g.np.permutation(n), dtype=dtype or dtypes.int64, device=device)


def _like(fn):
    def like(input, dtype=None, device=None, requires_grad=False, **kw):
        return fn(
            *input.shape,
            dtype=dtype or input.dtype,
            device=device or input.device,
            requires_grad=requires_grad,
            **kw,
        )

    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"{fn.__name__} with the shape, dtype and device of `input`."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
randn_like = _like(randn)
rand_like = _like(rand)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(
        input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device, requires_grad=requires_grad
    )
