"""Indexing with gradients: basic (slices, ints, None, ...), integer-array and boolean indexing,
gather / scatter_add / index_select, and the functional form of `x[idx] = v`.

The backward of `x[idx]` scatters the gradient into zeros of x's shape, accumulating repeated
indices (`index_add`), so `x[[0, 0]]` sends both gradients to row 0.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import backend_of


def is_basic(index) -> bool:
    """True when an (already normalized) index holds only ints, slices, None and Ellipsis."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.index, ctx.shape = index, tuple(x.shape)
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        b = backend_of(grad)
        out = b.zeros(ctx.shape, b.dtype_of(grad))
        if is_basic(ctx.index):
            b.setitem(out, ctx.index, grad)
            return out, None
        return b.index_add(out, ctx.index, grad), None


class BasicGetItem(GetItem):
    """x[slices/ints]: a view of x, sharing its version counter."""

    is_view = True

    @staticmethod
    def forward(ctx, x, index):
        if type(x) is np.ndarray and Ellipsis not in index:
            index = index + (Ellipsis,)  # so x[0] is a 0-d view, never a copied NumPy scalar
        return GetItem.forward(ctx, x, index)

    @staticmethod
    def unview(base, view, index):
        return IndexPut.apply(base, index, view)


class IndexPut(Function):
    """out = x.clone(); out[index] = value (the functional form of __setitem__)."""

    @staticmethod
    def forward(ctx, x, index, value):
        b = backend_of(x)
        out = b.copy(x)
        b.setitem(out, index, value)
        ctx.index = index
        return out

    @staticmethod
    def backward(ctx, grad):
        b = backend_of(grad)
        gx = b.copy(grad)
        b.setitem(gx, ctx.index, 0)
        return gx, None, grad[ctx.index]


class Gather(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.save_for_backward(index)
        ctx.dim, ctx.shape = dim, tuple(x.shape)
        return backend_of(x).gather(x, dim, index)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        b = backend_of(grad)
        out = b.zeros(ctx.shape, b.dtype_of(grad))
        return b.scatter_add(out, ctx.dim, index, grad), None, None


class ScatterAdd(Function):
    @staticmethod
    def forward(ctx, x, dim, index, src):
        b = backend_of(x)
        ctx.save_for_backward(index)
        ctx.dim = dim
        ctx.src_shape = tuple(src.shape)
        return b.scatter_add(b.copy(x), dim, index, src)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        b = backend_of(grad)
        return grad, None, None, b.gather(grad, ctx.dim, index)


class IndexSelect(Function):
    """index_select / embedding lookup: take rows `index` (any shape) along `dim`."""

    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.save_for_backward(index)
        ctx.dim, ctx.shape = dim, tuple(x.shape)
        return backend_of(x).take(x, index, dim)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        b = backend_of(grad)
        out = b.zeros(ctx.shape, b.dtype_of(grad))
        d = ctx.dim
        # grad has shape x.shape[:d] + index.shape + x.shape[d+1:]; fold index dims into one
        g = b.reshape(grad, ctx.shape[:d] + (-1,) + ctx.shape[d + 1 :])
        full = (slice(None),) * d + (b.reshape(index, (-1,)),)
        return b.index_add(out, full, g), None, None
