"""The NumPy backend: dslib's reference array kernels, readable and runnable anywhere.

Methods take and return np.ndarray. Shapes are tuples, `axis` may be None, an int or a tuple.
Creation, copies, pad and matmul allocate through dslib.memory (its caching pool while that is on).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .. import dtypes
from .. import memory as _memory  # the caching pool: NumPy's own allocator while it is off
from ..device import device


def _np_dtype(dt):
    return dtypes.to_numpy(dtypes.get(dt))


class NumpyBackend:
    name = "numpy"
    array_type = np.ndarray

    def __init__(self):
        self.device = device("numpy")

    # ----- creation and conversion -----
    def asarray(self, data, dtype=None):
        if dtype is not None:
            return np.array(data, dtype=_np_dtype(dtype), copy=None)
        arr = np.asarray(data)
        if arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic)):
            arr = arr.astype(_np_dtype(dtypes.get_default_dtype()))  # Python floats -> default dtype
        return arr

    def from_numpy(self, arr):
        return np.asarray(arr)

    def to_numpy(self, a):
        return a

    def zeros(self, shape, dtype):
        return _memory.zeros(shape, _np_dtype(dtype))

    def ones(self, shape, dtype):
        return _memory.full(shape, 1, _np_dtype(dtype))

    def empty(self, shape, dtype):
        return _memory.empty(shape, _np_dtype(dtype))

    def full(self, shape, value, dtype):
        return _memory.full(shape, value, _np_dtype(dtype))

    def arange(self, start, stop, step, dtype):
        return np.arange(start, stop, step, dtype=_np_dtype(dtype))

    def eye(self, n, m, dtype):
        return np.eye(n, m, dtype=_np_dtype(dtype))

    def dtype_of(self, a):
        return dtypes.from_raw(a.dtype)  # cached: np.dtype.name costs microseconds

    def astype(self, a, dtype):
        nd = _np_dtype(dtype)
        return a if a.dtype == nd else a.astype(nd)

    def copy(self, a):
        return _memory.copy(a)

    def contiguous(self, a):
        return np.ascontiguousarray(a)

    def owned(self, a):
        """`a`, or a copy when `a` is a read-only or broadcast view (so in-place updates are safe)."""
        if a.flags.writeable and a.flags.c_contiguous and (a.base is None or _memory.is_pool_array(a)):
            return a
        return np.array(a, copy=True)

    def item(self, a):
        return a.item()

    def tolist(self, a):
        return a.tolist()

    # ----- elementwise -----
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    tanh = staticmethod(np.tanh)
    sign = staticmethod(np.sign)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    logical_not = staticmethod(np.logical_not)
    isnan = staticmethod(np.isnan)
    isfinite = staticmethod(np.isfinite)
    floor = staticmethod(np.floor)
    ceil = staticmethod(np.ceil)
    round = staticmethod(np.round)

    def erf(self, a):
        return special.erf(a).astype(a.dtype, copy=False)

    def sigmoid(self, a):
        return special.expit(a).astype(a.dtype, copy=False)

    def softplus(self, a):
        return np.logaddexp(0, a).astype(a.dtype, copy=False)

    def relu(self, a):
        return np.maximum(a, 0)

    def relu_backward(self, grad, out):
        """grad where the ReLU's output is positive, else 0."""
        return np.where(out > 0, grad, 0).astype(grad.dtype, copy=False)

    def add_scaled_(self, y, x, alpha):
        """y += alpha * x, in place (the optimizers' update)."""
        y += alpha * x
        return y

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def clip(self, a, lo, hi):
        return np.clip(a, lo, hi)

    def power(self, a, b):
        return np.power(a, b)

    # ----- reductions -----
    def sum(self, a, axis=None, keepdims=False, dtype=None):
        return np.sum(a, axis=axis, keepdims=keepdims, dtype=None if dtype is None else _np_dtype(dtype))

    def max(self, a, axis=None, keepdims=False):
        return np.max(a, axis=axis, keepdims=keepdims)

    def min(self, a, axis=None, keepdims=False):
        return np.min(a, axis=axis, keepdims=keepdims)

    def argmax(self, a, axis=None, keepdims=False):
        return np.argmax(a, axis=axis, keepdims=keepdims)

    def argmin(self, a, axis=None, keepdims=False):
        return np.argmin(a, axis=axis, keepdims=keepdims)

    def any(self, a, axis=None, keepdims=False):
        return np.any(a, axis=axis, keepdims=keepdims)

    def all(self, a, axis=None, keepdims=False):
        return np.all(a, axis=axis, keepdims=keepdims)

    # ----- shape -----
    def reshape(self, a, shape):
        return a.reshape(shape)

    def transpose(self, a, axes):
        return a.transpose(axes)

    def broadcast_to(self, a, shape):
        return np.broadcast_to(a, shape)

    def expand_dims(self, a, axis):
        return np.expand_dims(a, axis)

    def squeeze(self, a, axis):
        return np.squeeze(a, axis)

    def concatenate(self, arrays, axis):
        return np.concatenate(arrays, axis=axis)

    def stack(self, arrays, axis):
        return np.stack(arrays, axis=axis)

    def pad(self, a, pad_width, value=0.0):
        if not _memory.enabled():
            return np.pad(a, pad_width, constant_values=value)
        out = _memory.full(tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, pad_width, strict=True)), value, a.dtype)
        out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, pad_width, strict=True))] = a
        return out

    def flip(self, a, axis):
        return np.flip(a, axis)

    def roll(self, a, shifts, axis):
        return np.roll(a, shifts, axis)

    def tril(self, a, k=0):
        return np.tril(a, k)

    def triu(self, a, k=0):
        return np.triu(a, k)

    def tile(self, a, reps):
        return np.tile(a, reps)

    # ----- indexing -----
    def index_add(self, out, index, values):
        """out[index] += values, accumulating repeated indices (out is modified and returned)."""
        np.add.at(out, index, values)
        return out

    def gather(self, a, axis, index):
        return np.take_along_axis(a, index, axis)

    def scatter_add(self, out, axis, index, src):
        idx = list(np.indices(index.shape, sparse=True))
        idx[axis] = index
        np.add.at(out, tuple(idx), src)
        return out

    def take(self, a, index, axis):
        return np.take(a, index, axis=axis)

    def nonzero(self, a):
        return np.nonzero(a)

    def setitem(self, a, index, value):
        a[index] = value

    def index_array(self, index):
        """Convert an index (list, array) given by the user into this backend's integer/bool array."""
        return np.asarray(index)

    # ----- linear algebra -----
    def matmul(self, a, b):
        if not _memory.enabled() or a.ndim < 2 or b.ndim < 2:
            return np.matmul(a, b)
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])  # a pool array for the result
        return np.matmul(a, b, out=_memory.empty(batch + (a.shape[-2], b.shape[-1]), np.result_type(a, b)))

    def einsum(self, eq, *ops):
        return np.einsum(eq, *ops, optimize=True)
