"""PyTorch kernels for the layers of dslib.nn.functional: the same functions as `numpy_kernels.py`.

Each one calls an aten operator as a plain array function (torch.ops.aten.convolution,
convolution_backward, native_batch_norm, ...). dslib's autograd decides what to call and when; the
arrays never require grad, so torch.autograd never runs. These are the kernels PyTorch's own autograd
would call, so the "torch" device pays only dslib's Python overhead on top of PyTorch eager.
"""

from __future__ import annotations

import contextlib

import torch

aten = torch.ops.aten

# ----- convolution -----


def conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_cols=True):
    return aten.convolution(x, w, b, list(stride), list(padding), list(dilation), False, [0, 0], groups), None


def conv2d_backward(grad, x, w, cols, stride, padding, dilation, groups, needs):
    bias_sizes = [w.shape[0]] if needs[2] else None
    return aten.convolution_backward(
        grad, x, w, bias_sizes, list(stride), list(padding), list(dilation), False, [0, 0], groups, list(needs)
    )


# ----- pooling -----


def max_pool2d_forward(x, k, s, p, d, ceil_mode):
    return aten.max_pool2d_with_indices(x, list(k), list(s), list(p), list(d), ceil_mode)


def max_pool2d_backward(grad, x, indices, k, s, p, d, ceil_mode):
    return aten.max_pool2d_with_indices_backward(grad, x, list(k), list(s), list(p), list(d), ceil_mode, indices)


def avg_pool2d_forward(x, k, s, p, ceil_mode, count_include_pad):
    return aten.avg_pool2d(x, list(k), list(s), list(p), ceil_mode, count_include_pad, None)


def avg_pool2d_backward(grad, x, k, s, p, ceil_mode, count_include_pad):
    return aten.avg_pool2d_backward(grad, x, list(k), list(s), list(p), ceil_mode, count_include_pad, None)


def adaptive_avg_pool2d_forward(x, out_hw):
    return aten._adaptive_avg_pool2d(x, list(out_hw))


def adaptive_avg_pool2d_backward(grad, x, out_hw):
    return aten._adaptive_avg_pool2d_backward(grad.contiguous(), x)


# ----- normalization -----


def batch_norm_forward(x, running_mean, running_var, w, b, training, momentum, eps):
    """-> (out, save_mean, save_invstd); aten updates the running stats in place when training."""
    return aten.native_batch_norm(x, w, b, running_mean, running_var, training, momentum, eps)


def batch_norm_backward(grad, x, w, running_mean, running_var, mean, invstd, training, eps, needs):
    return aten.native_batch_norm_backward(
        grad, x, w, running_mean, running_var, mean, invstd, training, eps, list(needs)
    )


def layer_norm_forward(x, normalized_ndim, w, b, eps):
    return aten.native_layer_norm(x, list(x.shape[x.ndim - normalized_ndim :]), w, b, eps)


def layer_norm_backward(grad, x, normalized_ndim, w, mean, rstd, needs):
    shape = list(x.shape[x.ndim - normalized_ndim :])
    gx, gw, _ = aten.native_layer_norm_backward(grad, x, shape, mean, rstd, w, None, [needs[0], needs[1], False])
    gb = grad.sum(tuple(range(x.ndim - normalized_ndim))) if needs[2] else None  # aten wants the bias for this
    return gx, gw, gb


# ----- softmax -----


def softmax_forward(x, dim):
    return aten._softmax(x, dim, False)


def softmax_backward(grad, out, dim):
    return aten._softmax_backward_data(grad, out, dim, out.dtype)


def log_softmax_forward(x, dim):
    return aten._log_softmax(x, dim, False)


def log_softmax_backward(grad, out, dim):
    return aten._log_softmax_backward_data(grad, out, dim, out.dtype)


# ----- linear -----


def linear_forward(x, w, b):
    """x (..., in) w^T + b as one GEMM that starts from the bias (aten.addmm, as torch's linear), not a GEMM and
    then a second pass over the output to add b."""
    if b is None or b.ndim != 1:
        out = x @ w.T
        return out if b is None else out.add_(b)
    return aten.addmm(b, x.reshape(-1, x.shape[-1]), w.t()).view(*x.shape[:-1], w.shape[0])


# ----- GELU -----


def gelu_forward(x, approximate):
    return aten.gelu(x, approximate=approximate)


def gelu_backward(grad, x, approximate):
    return aten.gelu_backward(grad, x, approximate=approximate)


# ----- fused elementwise kernels (dslib/graph/kernels.py) -----


@contextlib.contextmanager
def one_thread():
    """torch on one intra-op thread inside: a fused kernel's blocks are too small to split (a fork/join per call
    costs more than it saves, and on a loaded machine a descheduled thread stalls every call)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _relu(x, out=None):
    return torch.clamp_min(x, 0, out=out)  # torch.relu has no out=


# torch functions with out= equal to dslib's elementwise ops' forwards (a tensor first), by op class name
FUSED_CALLS = {
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "Neg": torch.neg, "Exp": torch.exp,
    "Log": torch.log, "Log1p": torch.log1p, "Sqrt": torch.sqrt, "Rsqrt": torch.rsqrt, "Abs": torch.abs,
    "Sin": torch.sin, "Cos": torch.cos, "Tanh": torch.tanh, "Sigmoid": torch.sigmoid, "Relu": _relu,
}  # fmt: skip
