"""2-D pooling: max_pool2d (with indices), avg_pool2d and adaptive_avg_pool2d, with their gradients.

Output sizes, ceil_mode and the count_include_pad divisor follow torch.nn.functional exactly. Kernels
per backend: dslib/backend/numpy_kernels.py (a loop over the k*k window offsets, each a whole-array
strided op) and torch_kernels.py (aten max_pool2d_with_indices, avg_pool2d, _adaptive_avg_pool2d).
"""

from __future__ import annotations

from ...autograd import Function
from ...backend.numpy_kernels import pool_out_size
from ...tensor import Tensor
from ._utils import kernels, pair


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, d, ceil_mode, indices_out=None):
        out, idx = kernels(x).max_pool2d_forward(x, k, s, p, d, ceil_mode)
        if indices_out is not None:  # max_pool2d(return_indices=True) collects them here
            indices_out.append(idx)
        ctx.save_for_backward(x)
        ctx.idx, ctx.args = idx, (k, s, p, d, ceil_mode)
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return kernels(grad).max_pool2d_backward(grad, x, ctx.idx, *ctx.args), None, None, None, None, None, None


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, ceil_mode, count_include_pad):
        ctx.save_for_backward(x)
        ctx.args = (k, s, p, ceil_mode, count_include_pad)
        return kernels(x).avg_pool2d_forward(x, *ctx.args)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return kernels(grad).avg_pool2d_backward(grad, x, *ctx.args), None, None, None, None, None


class AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, out_hw):
        ctx.save_for_backward(x)
        ctx.out_hw = out_hw
        return kernels(x).adaptive_avg_pool2d_forward(x, out_hw)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return kernels(grad).adaptive_avg_pool2d_backward(grad, x, ctx.out_hw), None


def _pool_args(op, input, kernel_size, stride, padding, dilation):  # noqa: A002
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {tuple(input.shape)}")
    k = pair(kernel_size, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else pair(stride, "stride", op)
    p, d = pair(padding, "padding", op), pair(dilation, "dilation", op)
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise RuntimeError(f"{op}: kernel_size {k}, stride {s} and dilation {d} must be positive")
    eff = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    if p[0] > eff[0] // 2 or p[1] > eff[1] // 2 or min(p) < 0:
        raise RuntimeError(f"{op}: padding {p} must be non-negative and at most half the (dilated) kernel size {eff}")
    return k, s, p, d


def _out_hw(op, input, k, s, p, d, ceil_mode):  # noqa: A002
    h, w = input.shape[-2:]
    out = (pool_out_size(h, k[0], s[0], p[0], d[0], ceil_mode), pool_out_size(w, k[1], s[1], p[1], d[1], ceil_mode))
    if min(out) < 1:
        raise RuntimeError(
            f"{op}: input of shape {tuple(input.shape)} is too small for kernel_size {k}, stride {s}, padding {p}, "
            f"dilation {d}: the output would be {out}"
        )
    return out


def _unbatched(fn, input, *args):  # noqa: A002
    out = fn(input.unsqueeze(0), *args)
    if isinstance(out, tuple):
        return tuple(o.squeeze(0) for o in out)
    return out.squeeze(0)


def max_pool2d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    return_indices=False,
):
    """torch.nn.functional.max_pool2d; with return_indices, also the flat argmax in each (H, W) plane."""
    k, s, p, d = _pool_args("max_pool2d", input, kernel_size, stride, padding, dilation)
    if input.ndim == 3:
        return _unbatched(max_pool2d, input, k, s, p, d, ceil_mode, return_indices)
    _out_hw("max_pool2d", input, k, s, p, d, ceil_mode)
    indices = [] if return_indices else None
    out = MaxPool2d.apply(input, k, s, p, d, bool(ceil_mode), indices)
    return (out, Tensor._make(indices[0])) if return_indices else out


def avg_pool2d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """torch.nn.functional.avg_pool2d (divisor_override is not supported)."""
    if divisor_override is not None:
        raise NotImplementedError("avg_pool2d: divisor_override is not supported")
    k, s, p, _ = _pool_args("avg_pool2d", input, kernel_size, stride, padding, 1)
    if input.ndim == 3:
        return _unbatched(avg_pool2d, input, k, s, p, ceil_mode, count_include_pad)
    _out_hw("avg_pool2d", input, k, s, p, (1, 1), ceil_mode)
    return AvgPool2d.apply(input, k, s, p, bool(ceil_mode), bool(count_include_pad))


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """torch.nn.functional.adaptive_avg_pool2d: output_size an int or (H, W); None keeps that size."""
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d: expected a 3-D or 4-D input, got shape {tuple(input.shape)}")
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    out_hw = tuple(input.shape[-2 + i] if o is None else int(o) for i, o in enumerate(output_size))
    if len(out_hw) != 2 or min(out_hw) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be a positive int or pair, got {output_size!r}")
    if input.ndim == 3:
        return _unbatched(adaptive_avg_pool2d, input, out_hw)
    return AdaptiveAvgPool2d.apply(input, out_hw)
