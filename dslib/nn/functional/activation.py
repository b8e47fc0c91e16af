"""Activations: softmax and log_softmax (hand-written, per-backend kernels), plus the pointwise ones.

relu, gelu, silu, tanh, sigmoid and softplus are dslib.ops functions, re-exported here under
torch.nn.functional's names; leaky_relu, elu, hardtanh, relu6 and logsigmoid are composed from them.
"""

from __future__ import annotations

from ... import dtypes
from ...amp import autocast_mode as _amp
from ...autograd import Function
from ...ops import api
from ...ops.api import gelu, relu, sigmoid, silu, softplus, tanh  # noqa: F401 - re-exported
from ...ops.reduction import norm_dims
from ._utils import kernels


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        out = kernels(x).softmax_forward(x, dim)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return kernels(grad).softmax_backward(grad, out, ctx.dim), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        out = kernels(x).log_softmax_forward(x, dim)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return kernels(grad).log_softmax_backward(grad, out, ctx.dim), None


def _softmax_args(input, dim, dtype):  # noqa: A002
    if dtype is not None:
        input = input.to(dtype)  # noqa: A001
    elif not input.dtype.is_floating_point:
        input = input.to(dtypes.get_default_dtype())  # noqa: A001
    elif _amp.active:  # autocast: softmax and log_softmax run in float32
        (input,) = _amp.to_float32(input)  # noqa: A001
    if dim is None:  # torch's legacy implicit dim
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return input, norm_dims(dim, input.ndim)[0]


def softmax(input, dim=None, dtype=None):  # noqa: A002
    """exp(x) / sum(exp(x)) along `dim` (computed stably, shifted by the max)."""
    input, dim = _softmax_args(input, dim, dtype)  # noqa: A001
    if input.ndim == 0:
        return Softmax.apply(input.reshape(1), 0).reshape(())
    return Softmax.apply(input, dim)


def log_softmax(input, dim=None, dtype=None):  # noqa: A002
    """x - logsumexp(x) along `dim`."""
    input, dim = _softmax_args(input, dim, dtype)  # noqa: A001
    if input.ndim == 0:
        return LogSoftmax.apply(input.reshape(1), 0).reshape(())
    return LogSoftmax.apply(input, dim)


def leaky_relu(input, negative_slope=0.01):  # noqa: A002
    return api.where(input > 0, input, input * negative_slope)


def elu(input, alpha=1.0):  # noqa: A002
    return api.where(input > 0, input, (api.exp(api.minimum(input, 0.0)) - 1) * alpha)


def hardtanh(input, min_val=-1.0, max_val=1.0):  # noqa: A002
    return api.clamp(input, min_val, max_val)


def relu6(input):  # noqa: A002
    return api.clamp(input, 0.0, 6.0)


def logsigmoid(input):  # noqa: A002
    return -softplus(-input)
