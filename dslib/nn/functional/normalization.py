"""Normalization layers: batch_norm and layer_norm (hand-written closed-form gradients), group_norm.

batch_norm: Ioffe & Szegedy 2015; layer_norm: Ba et al. 2016; group_norm: Wu & He 2018 (composed
from dslib ops, its gradient comes from autograd). Kernels per backend in dslib/backend/*_kernels.py.
"""

from __future__ import annotations

from ...amp import autocast_mode as _amp
from ...autograd import Function
from ...ops import api
from ._utils import check_float, data, kernels


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, w, b, running_mean, running_var, training, momentum, eps):
        out, mean, invstd = kernels(x).batch_norm_forward(x, running_mean, running_var, w, b, training, momentum, eps)
        ctx.save_for_backward(x, w)
        ctx.stats = (running_mean, running_var, mean, invstd, training, eps)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        needs = tuple(ctx.needs_input_grad[:3])
        gx, gw, gb = kernels(grad).batch_norm_backward(grad, x, w, *ctx.stats, needs)
        return gx, gw, gb, None, None, None, None, None


def batch_norm(
    input,  # noqa: A002
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
):
    """torch.nn.functional.batch_norm over channel dim 1 of (N, C) or (N, C, *) inputs.

    In training mode it normalizes with the batch statistics and updates running_mean / running_var
    in place (running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance).
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C) or (N, C, ...), got {tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(
                f"batch_norm: {name} of shape {tuple(t.shape)} must be ({c},) for input {tuple(input.shape)}"
            )
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var are required when training=False")
    if training and input.numel() // c <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, got input size {tuple(input.shape)}"
        )
    if _amp.active:  # autocast: normalization runs in float32
        input, weight, bias = _amp.to_float32(input, weight, bias)  # noqa: A001
    check_float("batch_norm", input, weight, bias)
    if momentum is None:
        raise ValueError(
            "batch_norm: momentum=None (cumulative average) is handled by the BatchNorm modules; pass a float"
        )
    for t in (running_mean, running_var):  # the in-place update bumps the buffers' versions
        if training and t is not None:
            t._vc[0] += 1
    return BatchNorm.apply(
        input, weight, bias, data(running_mean), data(running_var), bool(training), float(momentum), float(eps)
    )


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, w, b, normalized_ndim, eps):
        out, mean, rstd = kernels(x).layer_norm_forward(x, normalized_ndim, w, b, eps)
        ctx.save_for_backward(x, w)
        ctx.args = (normalized_ndim, mean, rstd)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        nd, mean, rstd = ctx.args
        gx, gw, gb = kernels(grad).layer_norm_backward(grad, x, nd, w, mean, rstd, tuple(ctx.needs_input_grad[:3]))
        return gx, gw, gb, None, None


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """torch.nn.functional.layer_norm: normalize over the trailing dims given by normalized_shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) == 0 or tuple(input.shape[input.ndim - len(shape) :]) != shape or input.ndim < len(shape):
        raise RuntimeError(
            f"layer_norm: normalized_shape {list(shape)} must match the trailing dims of input {tuple(input.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"layer_norm: {name} of shape {tuple(t.shape)} must equal normalized_shape {shape}")
    if _amp.active:  # autocast: normalization runs in float32
        input, weight, bias = _amp.to_float32(input, weight, bias)  # noqa: A001
    check_float("layer_norm", input, weight, bias)
    return LayerNorm.apply(input, weight, bias, len(shape), float(eps))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """torch.nn.functional.group_norm: statistics over each group of C/num_groups channels (and space)."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise RuntimeError(
            f"group_norm: expected input (N, C, *) with C divisible by num_groups={num_groups}, got {tuple(input.shape)}"
        )
    if _amp.active:  # autocast: normalization runs in float32
        input, weight, bias = _amp.to_float32(input, weight, bias)  # noqa: A001
    n, c = input.shape[:2]
    x = input.reshape(n, num_groups, -1)  # (N, G, C/G * spatial)
    mean = x.mean(-1, keepdim=True)
    xc = x - mean
    var = (xc * xc).mean(-1, keepdim=True)
    out = (xc * api.rsqrt(var + eps)).reshape(tuple(input.shape))
    affine = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(affine)
    if bias is not None:
        out = out + bias.reshape(affine)
    return out
