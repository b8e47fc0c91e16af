"""The PyTorch backend: the same interface as NumpyBackend over torch tensors (CPU or CUDA).

PyTorch is used only as an array library here: every tensor this backend makes has
requires_grad=False, and gradients are computed by dslib's autograd, never by torch.autograd.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import dtypes
from ..device import device as Device


def _axes(a, axis):
    if axis is None:
        return tuple(range(a.ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


class TorchBackend:
    name = "torch"
    array_type = torch.Tensor

    def __init__(self, dev: Device):
        self.device = dev
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {dev} needs a CUDA GPU, but torch.cuda.is_available() is False here: "
                "use device='torch' (CPU kernels) or 'numpy'"
            )
        self.tdevice = torch.device("cpu") if dev.type == "torch" else torch.device("cuda", dev.index)

    def _tdt(self, dt):
        return dtypes.to_torch(dtypes.get(dt))

    # ----- creation and conversion -----
    def asarray(self, data, dtype=None):
        if isinstance(data, torch.Tensor):
            out = data.detach().to(self.tdevice)
            return out if dtype is None else out.to(self._tdt(dtype))
        from . import NUMPY

        if dtype is not None and dtypes.get(dtype) is dtypes.bfloat16:
            return torch.as_tensor(NUMPY.asarray(data, dtypes.float32), device=self.tdevice).to(torch.bfloat16)
        arr = NUMPY.asarray(data, dtype)
        return torch.from_numpy(np.asarray(arr, order="C")).to(self.tdevice)

    def from_numpy(self, arr):
        return torch.from_numpy(np.asarray(arr, order="C")).to(self.tdevice)

    def to_numpy(self, a):
        a = a.detach()
        if a.dtype == torch.bfloat16:
            a = a.float()
        return a.cpu().numpy()

    def zeros(self, shape, dtype):
        return torch.zeros(shape, dtype=self._tdt(dtype), device=self.tdevice)

    def ones(self, shape, dtype):
        return torch.ones(shape, dtype=self._tdt(dtype), device=self.tdevice)

    def empty(self, shape, dtype):
        return torch.empty(shape, dtype=self._tdt(dtype), device=self.tdevice)

    def full(self, shape, value, dtype):
        return torch.full(shape, value, dtype=self._tdt(dtype), device=self.tdevice)

    def arange(self, start, stop, step, dtype):
        return torch.arange(start, stop, step, dtype=self._tdt(dtype), device=self.tdevice)

    def eye(self, n, m, dtype):
        return torch.eye(n, m, dtype=self._tdt(dtype), device=self.tdevice)

    def dtype_of(self, a):
        return dtypes.from_raw(a.dtype)

    def astype(self, a, dtype):
        td = self._tdt(dtype)
        return a if a.dtype == td else a.to(td)

    def copy(self, a):
        return a.clone()

    def contiguous(self, a):
        return a.contiguous()

    def owned(self, a):
        if a._base is None and a.is_contiguous():
            return a
        return a.clone(memory_format=torch.contiguous_format)

    def item(self, a):
        return a.item()

    def tolist(self, a):
        return a.tolist()

    # ----- elementwise -----
    exp = staticmethod(torch.exp)
    log = staticmethod(torch.log)
    log1p = staticmethod(torch.log1p)
    sqrt = staticmethod(torch.sqrt)
    abs = staticmethod(torch.abs)
    sin = staticmethod(torch.sin)
    cos = staticmethod(torch.cos)
    tanh = staticmethod(torch.tanh)
    sign = staticmethod(torch.sign)
    erf = staticmethod(torch.erf)
    sigmoid = staticmethod(torch.sigmoid)
    logical_not = staticmethod(torch.logical_not)
    isnan = staticmethod(torch.isnan)
    isfinite = staticmethod(torch.isfinite)
    floor = staticmethod(torch.floor)
    ceil = staticmethod(torch.ceil)
    round = staticmethod(torch.round)

    def maximum(self, a, b):
        return torch.maximum(a, b) if isinstance(b, torch.Tensor) else torch.clamp(a, min=b)

    def minimum(self, a, b):
        return torch.minimum(a, b) if isinstance(b, torch.Tensor) else torch.clamp(a, max=b)

    def softplus(self, a):
        return torch.nn.functional.softplus(a)

    def relu(self, a):
        return torch.relu(a)

    def relu_backward(self, grad, out):
        """grad where the ReLU's output is positive, else 0 (one aten kernel instead of compare+cast+mul)."""
        return torch.ops.aten.threshold_backward(grad, out, 0)

    def add_scaled_(self, y, x, alpha):
        """y += alpha * x, in place and without a temporary (the optimizers' update)."""
        return y.add_(x, alpha=alpha)

    def where(self, cond, a, b):
        return torch.where(cond, a, b)

    def clip(self, a, lo, hi):
        return torch.clamp(a, lo, hi)

    def power(self, a, b):
        return torch.pow(a, b)

    # ----- reductions -----
    def sum(self, a, axis=None, keepdims=False, dtype=None):
        td = None if dtype is None else self._tdt(dtype)
        if axis is None and not keepdims:
            return torch.sum(a, dtype=td)
        return torch.sum(a, dim=_axes(a, axis), keepdim=keepdims, dtype=td)

    def max(self, a, axis=None, keepdims=False):
        return torch.amax(a, dim=_axes(a, axis), keepdim=keepdims)

    def min(self, a, axis=None, keepdims=False):
        return torch.amin(a, dim=_axes(a, axis), keepdim=keepdims)

    def argmax(self, a, axis=None, keepdims=False):
        return torch.argmax(a, dim=axis, keepdim=keepdims)

    def argmin(self, a, axis=None, keepdims=False):
        return torch.argmin(a, dim=axis, keepdim=keepdims)

    def any(self, a, axis=None, keepdims=False):
        return torch.any(a) if axis is None else torch.any(a, dim=_axes(a, axis), keepdim=keepdims)

    def all(self, a, axis=None, keepdims=False):
        return torch.all(a) if axis is None else torch.all(a, dim=_axes(a, axis), keepdim=keepdims)

    # ----- shape -----
    def reshape(self, a, shape):
        return a.reshape(shape)

    def transpose(self, a, axes):
        return a.permute(axes)

    def broadcast_to(self, a, shape):
        return a.expand(shape)

    def expand_dims(self, a, axis):
        if isinstance(axis, int):
            return a.unsqueeze(axis)
        shape = list(a.shape)
        for ax in sorted(ax % (a.ndim + len(axis)) for ax in axis):
            shape.insert(ax, 1)
        return a.reshape(shape)

    def squeeze(self, a, axis):
        return torch.squeeze(a, dim=_axes(a, axis))

    def concatenate(self, arrays, axis):
        return torch.cat(arrays, dim=axis)

    def stack(self, arrays, axis):
        return torch.stack(arrays, dim=axis)

    def pad(self, a, pad_width, value=0.0):
        flat = []
        for before, after in reversed(pad_width):
            flat += [before, after]
        return torch.constant_pad_nd(a, flat, value)

    def flip(self, a, axis):
        return torch.flip(a, _axes(a, axis))

    def roll(self, a, shifts, axis):
        return torch.roll(a, shifts, axis)

    def tril(self, a, k=0):
        return torch.tril(a, k)

    def triu(self, a, k=0):
        return torch.triu(a, k)

    def tile(self, a, reps):
        return torch.tile(a, reps)

    # ----- indexing -----
    def index_add(self, out, index, values):
        """out[index] += values, accumulating repeated indices (out is modified and returned)."""
        positions = torch.arange(out.numel(), device=out.device).reshape(out.shape)[index]
        values = torch.broadcast_to(values, positions.shape)
        out.view(-1).index_add_(0, positions.reshape(-1), values.reshape(-1))
        return out

    def gather(self, a, axis, index):
        return torch.gather(a, axis, index)

    def scatter_add(self, out, axis, index, src):
        return out.scatter_add_(axis, index, src)

    def take(self, a, index, axis):
        flat = torch.index_select(a, axis, index.reshape(-1))
        shape = a.shape[:axis] + index.shape + a.shape[axis + 1 :]
        return flat.reshape(shape)

    def nonzero(self, a):
        return torch.nonzero(a, as_tuple=True)

    def setitem(self, a, index, value):
        a[index] = value

    def index_array(self, index):
        if isinstance(index, torch.Tensor):
            return index.to(self.tdevice)
        return torch.as_tensor(np.asarray(index), device=self.tdevice)

    # ----- linear algebra -----
    def matmul(self, a, b):
        return torch.matmul(a, b)

    def einsum(self, eq, *ops):
        return torch.einsum(eq, *ops)
