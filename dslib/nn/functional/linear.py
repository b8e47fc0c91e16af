"""linear: y = x W^T + b, the fully connected layer, with its gradient written out."""

from __future__ import annotations

from ...autograd import Function
from ...backend import backend_of
from ._utils import check_float


class Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        out = x @ w.T  # (..., in) @ (in, out)
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        be = backend_of(grad)
        gx = grad @ w if need_x else None
        g2 = be.reshape(grad, (-1, grad.shape[-1]))  # (M, out) over all leading dims
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
    check_float("linear", input, weight, bias)
    return Linear.apply(input, weight, bias)
