"""Reductions with PyTorch's `dim` / `keepdim` arguments, and their gradients.

A reduction's backward re-inserts the reduced axes (keepdim) so the gradient broadcasts back over
the input: sum spreads it evenly, max/min route it to the extreme elements.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import backend_of


def norm_dims(dim, ndim, op=""):
    """dim (None, int or sequence) -> sorted tuple of non-negative axes, with a clear error naming `op`."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            n = max(ndim, 1)
            raise IndexError(
                f"{op + ': ' if op else ''}dim {d} is out of range for a tensor with {ndim} dimension(s); "
                f"use a dim in [{-n}, {n - 1}]"
            )
        out.append(d % max(ndim, 1))
    return tuple(sorted(set(out)))


def reduce_dims(dim, ndim, op=""):
    """norm_dims for reductions, where dim=() or [] means every dim (as in torch)."""
    if dim is not None and not isinstance(dim, int) and len(dim) == 0:
        dim = None
    dims = norm_dims(dim, ndim, op)
    return () if ndim == 0 else dims  # a 0-d tensor has nothing to reduce (dim=0 / -1 are allowed)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim=False):
        ctx.dims, ctx.keepdim = dims, keepdim
        if x.ndim == 0:
            return backend_of(x).copy(x)  # never alias the input
        return backend_of(x).sum(x, axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.dims:
            return grad, None, None
        return _expand_back(grad, ctx.dims, ctx.keepdim), None, None


def _expand_back(grad, dims, keepdim):
    b = backend_of(grad)
    if keepdim:
        return grad
    shape = list(grad.shape)
    for d in dims:
        shape.insert(d, 1)
    return b.reshape(grad, tuple(shape))


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim=False):
        ctx.dims, ctx.keepdim = dims, keepdim
        if x.ndim == 0:
            return backend_of(x).copy(x)
        n = 1
        for d in dims:
            n *= x.shape[d]
        ctx.n = n
        return backend_of(x).sum(x, axis=dims, keepdims=keepdim) / n

    @staticmethod
    def backward(ctx, grad):
        if not ctx.dims:
            return grad, None, None
        return _expand_back(grad, ctx.dims, ctx.keepdim) / ctx.n, None, None


class AMax(Function):
    """amax / amin: the gradient is shared evenly among tied extreme elements (as torch.amax)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim=False, largest=True):
        b = backend_of(x)
        out = (b.max if largest else b.min)(x, axis=dims, keepdims=True)
        ctx.save_for_backward(x, out)
        ctx.dims, ctx.keepdim = dims, keepdim
        return out if keepdim else b.squeeze(out, dims)

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        b = backend_of(x)
        mask = x == out
        count = b.sum(mask, axis=ctx.dims, keepdims=True)
        return _expand_back(grad, ctx.dims, ctx.keepdim) * mask / count, None, None, None


class MaxDim(Function):
    """max(dim) / min(dim) values: the gradient goes to the element that argmax/argmin picked."""

    @staticmethod
    def forward(ctx, x, dim, keepdim=False, largest=True):
        b = backend_of(x)
        idx = (b.argmax if largest else b.argmin)(x, axis=dim, keepdims=True)
        out = b.gather(x, dim, idx)
        ctx.save_for_backward(idx)
        ctx.dim, ctx.keepdim, ctx.shape, ctx.dtype = dim, keepdim, tuple(x.shape), b.dtype_of(x)
        return out if keepdim else b.squeeze(out, dim)

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        b = backend_of(grad)
        g = _expand_back(grad, (ctx.dim,), ctx.keepdim)
        out = b.zeros(ctx.shape, b.dtype_of(grad))
        return b.scatter_add(out, ctx.dim, idx, g), None, None, None


class Var(Function):
    """Variance with Bessel-style `correction` (0 = population, 1 = sample), as torch.var; with
    sqrt=True the standard deviation, whose gradient is 0 (not nan) where it is 0, as torch.std."""

    @staticmethod
    def forward(ctx, x, dims, correction=1, keepdim=False, sqrt=False):
        b = backend_of(x)
        n = 1
        for d in dims:
            n *= x.shape[d]
        mean = b.sum(x, axis=dims, keepdims=True) / n
        centered = x - mean
        denom = max(n - correction, 0)
        out = (
            b.sum(centered * centered, axis=dims, keepdims=keepdim) / denom
            if denom
            else (b.sum(centered * centered, axis=dims, keepdims=keepdim) * float("nan"))
        )
        ctx.dims, ctx.keepdim, ctx.denom, ctx.sqrt = dims, keepdim, denom, sqrt
        if sqrt:
            out = b.sqrt(out)
            ctx.save_for_backward(centered, out)
        else:
            ctx.save_for_backward(centered)
        return out

    @staticmethod
    def backward(ctx, grad):
        centered = ctx.saved_tensors[0]
        if ctx.sqrt:  # d sqrt(v) = dv / (2 sqrt(v)), set to 0 where sqrt(v) == 0
            std = ctx.saved_tensors[1]
            b = backend_of(std)
            grad = b.where(std == 0, 0, grad / b.where(std == 0, 1, 2 * std))
        g = _expand_back(grad, ctx.dims, ctx.keepdim)
        gx = g * 2 * centered / ctx.denom if ctx.denom else g * centered * float("nan")
        return gx, None, None, None, None
