"""Losses: cross_entropy and nll_loss (one fused Function, hand-written gradient), mse, l1, BCE-with-logits.

cross_entropy = log_softmax + nll_loss in one op whose gradient is the textbook
(softmax - target distribution) * scale, e.g. (softmax - onehot) / N for the plain mean. Class-index
targets (N, d1, ...) with weight, ignore_index and label smoothing follow torch's definitions exactly
(the mean divides by the summed weights of the non-ignored targets); probability targets too.
"""

from __future__ import annotations

import math

from ... import dtypes
from ...amp import autocast_mode as _amp
from ...autograd import Function
from ...backend import backend_of
from ...ops import api
from ._utils import kernels

_REDUCTIONS = ("none", "mean", "sum")


class ClassNLL(Function):
    """Negative log-likelihood of class indices, over log-probabilities or (from_logits) raw scores."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, smoothing, from_logits):
        b = backend_of(x)
        c = x.shape[1]
        logp = kernels(x).log_softmax_forward(x, 1) if from_logits else x
        valid = target != ignore_index
        idx = b.expand_dims(b.astype(b.where(valid, target, 0), dtypes.int64), 1)  # (N, 1, d...)
        wv = b.astype(valid, b.dtype_of(x))
        if weight is not None:
            wv = b.take(weight, b.reshape(idx, (-1,)), 0).reshape(valid.shape) * wv
        loss = -(1.0 - smoothing) * wv * b.squeeze(b.gather(logp, 1, idx), 1)
        wc = None if weight is None else b.reshape(weight, (1, c) + (1,) * (x.ndim - 2))
        if smoothing:
            s = logp if wc is None else logp * wc
            loss = loss - (smoothing / c) * b.sum(s, axis=1) * b.astype(valid, b.dtype_of(x))
        ctx.save_for_backward(logp, idx, wv, valid)
        ctx.args = (wc, reduction, smoothing, from_logits)
        if reduction == "none":
            return loss
        total = b.sum(loss)
        if reduction == "sum":
            return total
        ctx.denom = b.sum(wv)
        return total / ctx.denom

    @staticmethod
    def backward(ctx, grad):
        logp, idx, wv, valid = ctx.saved_tensors
        wc, reduction, smoothing, from_logits = ctx.args
        b = backend_of(logp)
        c = logp.shape[1]
        # target[n, k] = (1 - smoothing) * w[y_n] * onehot(y_n)[k] + smoothing * w[k] / C  (0 where ignored)
        tgt = b.scatter_add(
            b.zeros(tuple(logp.shape), b.dtype_of(logp)), 1, idx, b.expand_dims(wv, 1) * (1.0 - smoothing)
        )
        if smoothing:
            spread = b.expand_dims(b.astype(valid, b.dtype_of(logp)), 1) * (smoothing / c)
            tgt = tgt + (spread if wc is None else spread * wc)
        if reduction == "none":
            scale = b.expand_dims(grad, 1)
        elif reduction == "sum":
            scale = grad
        else:
            scale = grad / ctx.denom
        if from_logits:  # d/dx of -sum_k t_k log softmax(x)_k = softmax(x) * sum_k t_k - t
            g = b.exp(logp) * b.sum(tgt, axis=1, keepdims=True) - tgt
        else:
            g = -tgt
        return g * scale, None, None, None, None, None, None


class SoftTargetCrossEntropy(Function):
    """Cross entropy against class probabilities: -sum_k w_k p_k log softmax(x)_k."""

    @staticmethod
    def forward(ctx, x, p, weight, reduction, smoothing):
        b = backend_of(x)
        c = x.shape[1]
        logp = kernels(x).log_softmax_forward(x, 1)
        if smoothing:
            p = p * (1.0 - smoothing) + smoothing / c
        wc = None if weight is None else b.reshape(weight, (1, c) + (1,) * (x.ndim - 2))
        wp = p if wc is None else p * wc
        loss = -b.sum(wp * logp, axis=1)
        ctx.save_for_backward(logp, wp)
        ctx.args = (wc, reduction, smoothing, math.prod(tuple(loss.shape)))
        if reduction == "none":
            return loss
        total = b.sum(loss)
        return total if reduction == "sum" else total / ctx.args[3]

    @staticmethod
    def backward(ctx, grad):
        logp, wp = ctx.saved_tensors
        wc, reduction, smoothing, count = ctx.args
        b = backend_of(logp)
        scale = b.expand_dims(grad, 1) if reduction == "none" else (grad if reduction == "sum" else grad / count)
        gx = (b.exp(logp) * b.sum(wp, axis=1, keepdims=True) - wp) * scale
        gp = None
        if ctx.needs_input_grad[1]:
            gp = -(1.0 - smoothing) * (logp if wc is None else logp * wc) * scale
        return gx, gp, None, None, None


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_targets(op, input, target, weight):  # noqa: A002
    """Validate (N, C, d...) input against (N, d...) integer targets; returns (input, target, unbatched)."""
    unbatched = input.ndim == 1
    if unbatched:
        input, target = input.unsqueeze(0), target.reshape(1)  # noqa: A001
    if input.ndim < 2 or tuple(target.shape) != (input.shape[0],) + tuple(input.shape[2:]):
        raise RuntimeError(
            f"{op}: expected target of shape {(input.shape[0],) + tuple(input.shape[2:])} for input of shape "
            f"{tuple(input.shape)} (N, C, d1, ...), got target of shape {tuple(target.shape)}"
        )
    c = input.shape[1]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} must be ({c},) for {c} classes")
    return input, target, unbatched


def _check_range(op, target, c, ignore_index):
    b = target._backend
    t = target._data
    bad = b.logical_not(t == ignore_index) & ((t < 0) | (t >= c))
    if bool(b.any(bad)):
        value = int(t[bad].reshape(-1)[0])
        raise IndexError(f"{op}: target {value} is out of bounds for {c} classes (valid: 0..{c - 1} or ignore_index)")


def cross_entropy(
    input,  # noqa: A002
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
    label_smoothing=0.0,
):
    """torch.nn.functional.cross_entropy for class-index targets (N, d...) or class probabilities (N, C, d...)."""
    _check_reduction("cross_entropy", reduction)
    if _amp.active:  # autocast: losses run in float32
        input, target, weight = _amp.to_float32(input, target, weight)  # noqa: A001
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if target.dtype.is_floating_point:  # class probabilities
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(
                f"cross_entropy: probability targets must have the input's shape {tuple(input.shape)}, "
                f"got {tuple(target.shape)}"
            )
        unbatched = input.ndim == 1
        if unbatched:
            input, target = input.unsqueeze(0), target.unsqueeze(0)  # noqa: A001
        if weight is not None and tuple(weight.shape) != (input.shape[1],):
            raise RuntimeError(f"cross_entropy: weight of shape {tuple(weight.shape)} must be ({input.shape[1]},)")
        out = SoftTargetCrossEntropy.apply(input, target, weight, reduction, float(label_smoothing))
        return out.squeeze(0) if unbatched and reduction == "none" else out
    input, target, unbatched = _class_targets("cross_entropy", input, target, weight)  # noqa: A001
    _check_range("cross_entropy", target, input.shape[1], ignore_index)
    out = ClassNLL.apply(input, target, weight, ignore_index, reduction, float(label_smoothing), True)
    return out.squeeze(0) if unbatched and reduction == "none" else out


def nll_loss(
    input,  # noqa: A002
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
):
    """torch.nn.functional.nll_loss: input holds log-probabilities (N, C, d...), target class indices."""
    _check_reduction("nll_loss", reduction)
    if _amp.active:  # autocast: losses run in float32
        input, weight = _amp.to_float32(input, weight)  # noqa: A001
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {target.dtype}")
    input, target, unbatched = _class_targets("nll_loss", input, target, weight)  # noqa: A001
    _check_range("nll_loss", target, input.shape[1], ignore_index)
    out = ClassNLL.apply(input, target, weight, ignore_index, reduction, 0.0, False)
    return out.squeeze(0) if unbatched and reduction == "none" else out


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """mean((input - target)^2) (or sum / none)."""
    _check_reduction("mse_loss", reduction)
    if _amp.active:  # autocast: losses run in float32
        input, target = _amp.to_float32(input, target)  # noqa: A001
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """mean(|input - target|) (or sum / none)."""
    _check_reduction("l1_loss", reduction)
    if _amp.active:  # autocast: losses run in float32
        input, target = _amp.to_float32(input, target)  # noqa: A001
    return _reduce(api.abs(input - target), reduction)


def binary_cross_entropy_with_logits(
    input,  # noqa: A002
    target,
    weight=None,
    size_average=None,
    reduce=None,
    reduction="mean",
    pos_weight=None,
):
    """-[pos_weight * t * log sigmoid(x) + (1 - t) * log(1 - sigmoid(x))], computed stably from logits."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    if _amp.active:  # autocast: losses run in float32
        input, target, weight, pos_weight = _amp.to_float32(input, target, weight, pos_weight)  # noqa: A001
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"binary_cross_entropy_with_logits: target size {tuple(target.shape)} must be the same as input size "
            f"{tuple(input.shape)}"
        )
    softplus_neg = api.relu(-input) + api.log1p(api.exp(-api.abs(input)))  # log(1 + exp(-x)), stable
    if pos_weight is None:
        loss = (1 - target) * input + softplus_neg
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
