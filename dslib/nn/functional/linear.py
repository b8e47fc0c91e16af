"""linear: y = x W^T + b, the fully connected layer, with its gradient written out."""

from __future__ import annotations

from ...amp import autocast_mode as _amp
from ...autograd import Function
from ...backend import backend_of
from ._utils import check_float, kernels


class Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        if b is not None and x.dtype.itemsize == 2:
            # float16 / bfloat16 (autocast): fold the bias into the product as a column of ones, so x w^T + b
            # is summed in float32 and rounded once, as torch's addmm; adding it afterwards rounds twice and
            # turns small pre-activations into exact zeros (dead ReLU units, a bias in the first-layer grads)
            be = backend_of(x)
            ones = be.ones(tuple(x.shape[:-1]) + (1,), be.dtype_of(x))
            bias_col = be.reshape(be.broadcast_to(b, (w.shape[0],)), (-1, 1))  # b may be 0-d
            return be.concatenate([x, ones], -1) @ be.concatenate([w, bias_col], 1).T
        return kernels(x).linear_forward(x, w, b)  # (..., in) @ (in, out) + b

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        be = backend_of(grad)
        g2 = be.reshape(grad, (-1, grad.shape[-1]))  # (M, out) over all leading dims: one GEMM each, not one per row
        gx = be.reshape(g2 @ w, tuple(x.shape)) if need_x else None
        gw = g2.T @ be.reshape(x, (-1, x.shape[-1])) if need_w else None
        gb = be.sum(g2, axis=0) if need_b else None
        return gx, gw, gb


def linear(input, weight, bias=None):  # noqa: A002
    """torch.nn.functional.linear: input (..., in), weight (out, in), bias (out,) -> (..., out)."""
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(
            f"linear: input of shape {tuple(input.shape)} and weight of shape {tuple(weight.shape)} do not "
            "match: weight must be (out_features, in_features) with in_features equal to input's last dim"
        )
    if bias is not None and tuple(bias.shape) not in ((weight.shape[0],), ()):
        raise RuntimeError(
            f"linear: bias of shape {tuple(bias.shape)} must be ({weight.shape[0]},) for weight {tuple(weight.shape)}"
        )
    if _amp.active:  # autocast: linear runs in float16 / bfloat16
        input, weight, bias = _amp.to_lower(input, weight, bias)  # noqa: A001
    check_float("linear", input, weight, bias)
    return Linear.apply(input, weight, bias)
