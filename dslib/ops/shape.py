"""Shape ops: views (reshape, permute, expand) and copies (cat, pad, repeat, roll, tril/triu).

View ops share their input's memory and version counter (`is_view = True`), as in PyTorch, so an
in-place change through a view is seen by autograd's version checks.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import backend_of


class Reshape(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = tuple(x.shape)
        return backend_of(x).reshape(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return backend_of(grad).reshape(grad, ctx.in_shape), None

    @staticmethod
    def unview(base, view, shape):
        """The base tensor rebuilt from a (changed) view: the inverse view op."""
        return Reshape.apply(view, tuple(base.shape))


class Permute(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return backend_of(x).transpose(x, axes)

    @staticmethod
    def backward(ctx, grad):
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return backend_of(grad).transpose(grad, tuple(inverse)), None

    @staticmethod
    def unview(base, view, axes):
        inverse = [0] * len(axes)
        for i, a in enumerate(axes):
            inverse[a] = i
        return Permute.apply(view, tuple(inverse))


class Expand(Function):
    """broadcast_to; the engine sums the gradient back over the expanded axes."""

    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        return backend_of(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad, None

    @staticmethod
    def unview(base, view, shape):
        raise RuntimeError(
            f"in-place op on an expanded tensor of shape {tuple(view.shape)} (from {tuple(base.shape)}): several "
            "elements share one memory location; .clone() the expanded tensor before changing it"
        )


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] for x in xs]
        return backend_of(xs[0]).concatenate(xs, dim)

    @staticmethod
    def backward(ctx, grad):
        grads, start = [None], 0
        for n in ctx.sizes:
            idx = [slice(None)] * grad.ndim
            idx[ctx.dim] = slice(start, start + n)
            grads.append(grad[tuple(idx)])
            start += n
        return tuple(grads)


class Pad(Function):
    """Constant padding; pad_width is NumPy-style ((before, after), ...) per axis."""

    @staticmethod
    def forward(ctx, x, pad_width, value=0.0):
        ctx.pad_width = pad_width
        return backend_of(x).pad(x, pad_width, value)

    @staticmethod
    def backward(ctx, grad):
        idx = tuple(slice(lo, grad.shape[i] - hi) for i, (lo, hi) in enumerate(ctx.pad_width))
        return grad[idx], None, None


class Tile(Function):
    """torch.Tensor.repeat: tile the tensor `reps` times along each axis."""

    @staticmethod
    def forward(ctx, x, reps):
        ctx.in_shape = tuple(x.shape)
        return backend_of(x).tile(x, reps)

    @staticmethod
    def backward(ctx, grad):
        b = backend_of(grad)
        shape = ctx.in_shape
        shape = (1,) * (grad.ndim - len(shape)) + shape
        split = []
        for r_times_s, s in zip(grad.shape, shape):
            split += [r_times_s // s, s]
        g = b.sum(b.reshape(grad, tuple(split)), axis=tuple(range(0, len(split), 2)))
        return b.reshape(g, ctx.in_shape), None


class Roll(Function):
    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return backend_of(x).roll(x, shifts, dims)

    @staticmethod
    def backward(ctx, grad):
        neg = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return backend_of(grad).roll(grad, neg, ctx.dims), None, None


class Flip(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return backend_of(x).flip(x, dims)

    @staticmethod
    def backward(ctx, grad):
        return backend_of(grad).flip(grad, ctx.dims), None


class Tril(Function):
    @staticmethod
    def forward(ctx, x, diagonal=0, upper=False):
        ctx.diagonal, ctx.upper = diagonal, upper
        b = backend_of(x)
        return (b.triu if upper else b.tril)(x, diagonal)

    @staticmethod
    def backward(ctx, grad):
        b = backend_of(grad)
        return (b.triu if ctx.upper else b.tril)(grad, ctx.diagonal), None, None
