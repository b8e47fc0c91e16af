"""conv2d: 2-D cross-correlation over (N, C, H, W) batches, with input, weight and bias gradients.

The kernels live per backend (dslib/backend/numpy_kernels.py: im2col + GEMM, the input gradient as
another convolution; torch_kernels.py: aten.convolution / convolution_backward). This file checks
arguments the way torch.nn.functional.conv2d does and ties forward and backward together.
"""

from __future__ import annotations

from ...amp import autocast_mode as _amp
from ...autograd import Function, is_grad_enabled
from ...ops import api
from ._utils import check_float, kernels, pair


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, keep_cols=True):
        out, cols = kernels(x).conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_cols)
        ctx.save_for_backward(x, w)
        ctx.cols, ctx.args = cols, (stride, padding, dilation, groups)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        needs = tuple(ctx.needs_input_grad[:3])
        gx, gw, gb = kernels(grad).conv2d_backward(grad, x, w, ctx.cols, *ctx.args, needs)
        return gx, gw, gb, None, None, None, None, None


def _same_padding(k, d):
    """'same' padding per side: (before, after); torch puts the odd extra pixel after."""
    total = d * (k - 1)
    return total // 2, total - total // 2


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """torch.nn.functional.conv2d: input (N, C, H, W) or (C, H, W), weight (O, C/groups, kh, kw)."""
    stride, dilation = pair(stride, "stride", "conv2d"), pair(dilation, "dilation", "conv2d")
    if weight.ndim != 4:
        raise RuntimeError(
            f"conv2d: expected a 4-D weight (out_channels, in_channels/groups, kH, kW), got shape {tuple(weight.shape)}"
        )
    if input.ndim not in (3, 4):
        raise RuntimeError(
            f"conv2d: expected a 3-D (unbatched) or 4-D (batched) input, got input of shape {tuple(input.shape)}"
        )
    if input.ndim == 3:
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    o, cg, kh, kw = weight.shape
    if not isinstance(groups, int) or groups < 1 or o % groups:
        raise RuntimeError(f"conv2d: groups={groups} must be a positive int dividing out_channels={o}")
    if input.shape[1] != cg * groups:
        raise RuntimeError(
            f"conv2d: given groups={groups}, weight of size {list(weight.shape)}, expected input{list(input.shape)} "
            f"to have {cg * groups} channels, but got {input.shape[1]} channels instead"
        )
    if bias is not None and tuple(bias.shape) != (o,):
        raise RuntimeError(f"conv2d: bias of shape {tuple(bias.shape)} must be ({o},) for weight {tuple(weight.shape)}")
    if min(stride) < 1 or min(dilation) < 1:
        raise RuntimeError(f"conv2d: stride {stride} and dilation {dilation} must be positive")
    if _amp.active:  # autocast: conv2d runs in float16 / bfloat16
        input, weight, bias = _amp.to_lower(input, weight, bias)  # noqa: A001
    check_float("conv2d", input, weight, bias)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("conv2d: padding='same' is not supported for strided convolutions (as torch)")
            (t, bo), (le, r) = _same_padding(kh, dilation[0]), _same_padding(kw, dilation[1])
            if t != bo or le != r:  # asymmetric: pad explicitly, then a 'valid' convolution
                input = api.pad(input, (le, r, t, bo))  # noqa: A001
                padding = (0, 0)
            else:
                padding = (t, le)
        else:
            raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    padding = pair(padding, "padding", "conv2d")
    if min(padding) < 0:
        raise RuntimeError(f"conv2d: negative padding {padding} is not supported")
    h, w = input.shape[2] + 2 * padding[0], input.shape[3] + 2 * padding[1]
    eff = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    if h < eff[0] or w < eff[1]:
        raise RuntimeError(
            f"conv2d: input of shape {tuple(input.shape)} padded to ({h}, {w}) is smaller than the (dilated) "
            f"kernel size {eff}; use a smaller kernel or more padding"
        )
    keep_cols = is_grad_enabled() and weight.requires_grad  # the patch matrix is reused for the weight grad
    return Conv2d.apply(input, weight, bias, stride, padding, dilation, groups, keep_cols)
