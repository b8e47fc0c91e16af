"""NumPy kernels for the layers of dslib.nn.functional: convolution, pooling, normalization, softmax, GELU.

Convolution is im2col + one large float32 GEMM, in a channels-last (NHWC) layout so the patch matrix
is built from a strided window view with a single contiguous copy (Chellapilla et al. 2006, "High
Performance Convolutional Neural Networks for Document Processing"). For stride 1 the input gradient
avoids col2im (kh*kw slow strided scatter-adds over full-size arrays): it is itself a convolution of the
padded output gradient with the spatially flipped, transposed weight, so the backward is another
im2col + GEMM. Strided convs use col2im, whose adds then cover only the (s*s times smaller) output grid.
Results come back as NCHW-shaped views of NHWC memory; the next conv then transposes them for free.
The big buffers (padded images, patch matrices, GEMM outputs via matmul(out=), col2im accumulators)
come from dslib.memory's caching pool while it is on (np.empty otherwise): most of a conv step's bytes.

Every function takes and returns np.ndarray; `torch_kernels.py` has the same functions over aten.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided
from scipy import special

from .. import memory as _memory  # the caching pool; NumPy's own allocation while it is off

# ----- convolution -----


def conv_out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _windows(xp, kh, kw, sh, sw, dh, dw, ho, wo):
    """(N, Hp, Wp, C) padded NHWC array -> (N, Ho, Wo, kh, kw, C) read-only view of its patches."""
    n, _, _, c = xp.shape
    s_n, s_h, s_w, s_c = xp.strides
    shape = (n, ho, wo, kh, kw, c)
    strides = (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
    return as_strided(xp, shape, strides, writeable=False)


def _contiguous(a):
    """`a` if C-contiguous, else a C-contiguous copy (from the pool while it is on)."""
    return a if a.flags.c_contiguous else _memory.copy(a)


def _pad_nhwc(x, top, bottom, left, right):
    """Zero-pad an NHWC array (negative amounts crop); returns a C-contiguous array."""
    n, h, w, c = x.shape
    x = x[:, max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]
    top, bottom, left, right = max(top, 0), max(bottom, 0), max(left, 0), max(right, 0)
    if not (top or bottom or left or right):
        return _contiguous(x)
    h, w = x.shape[1], x.shape[2]
    out = _memory.empty((n, top + h + bottom, left + w + right, c), x.dtype)
    out[:, :top] = 0  # zero only the border, write the interior once
    out[:, top + h :] = 0
    out[:, top : top + h, :left] = 0
    out[:, top : top + h, left + w :] = 0
    out[:, top : top + h, left : left + w] = x
    return out


def _im2col(xp, kh, kw, stride, dilation, ho, wo, groups):
    """Patch matrix: (N*Ho*Wo, kh*kw*C) for groups == 1, else (G, N*Ho*Wo, kh*kw*C/G)."""
    n, c = xp.shape[0], xp.shape[3]
    win = _windows(xp, kh, kw, *stride, *dilation, ho, wo)
    m = n * ho * wo
    if groups > 1:
        win = win.reshape(n, ho, wo, kh, kw, groups, c // groups).transpose(5, 0, 1, 2, 3, 4, 6)
    cols = _memory.empty(win.shape, xp.dtype)
    np.copyto(cols, win)  # the one contiguous copy
    return cols.reshape(m, kh * kw * c) if groups == 1 else cols.reshape(groups, m, kh * kw * c // groups)


def _matmul(a, b):
    """a @ b for 2-D or equally batched 3-D operands, written into a pool array while the pool is on."""
    if not _memory.enabled():
        return np.matmul(a, b)
    out = _memory.empty(a.shape[:-1] + b.shape[-1:], np.result_type(a, b))
    return np.matmul(a, b, out=out)


def _weight_matrix(w, groups):
    """(O, C/G, kh, kw) -> (kh*kw*C, O) for groups == 1, else (G, kh*kw*C/G, O/G), matching _im2col."""
    o, cg, kh, kw = w.shape
    if groups == 1:
        return w.transpose(2, 3, 1, 0).reshape(kh * kw * cg, o)
    og = o // groups
    return w.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, kh * kw * cg, og)


def _gemm(cols, wmat, groups):
    """cols @ wmat -> (N*Ho*Wo, O) in NHWC order."""
    if groups == 1:
        return _matmul(cols, wmat)
    out = _matmul(cols, wmat)  # (G, M, O/G)
    return _memory.copy(out.transpose(1, 0, 2)).reshape(cols.shape[1], -1)


def conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_cols=True):
    """x (N, C, H, W), w (O, C/G, kh, kw) -> (out (N, O, Ho, Wo), saved patches or None)."""
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho = conv_out_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_out_size(wd, kw, stride[1], padding[1], dilation[1])
    xp = _pad_nhwc(x.transpose(0, 2, 3, 1), padding[0], padding[0], padding[1], padding[1])
    cols = _im2col(xp, kh, kw, stride, dilation, ho, wo, groups)
    out = _gemm(cols, _weight_matrix(w, groups), groups)  # (N*Ho*Wo, O)
    if b is not None:
        out += b
    out = out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
    return out, (cols if keep_cols else None)


def conv2d_backward(grad, x, w, cols, stride, padding, dilation, groups, needs):
    """Gradients (input, weight, bias) of conv2d_forward, each None where `needs` says False."""
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = grad.shape[2], grad.shape[3]
    g_nhwc = _contiguous(grad.transpose(0, 2, 3, 1))  # free when grad is already channels-last
    gx = gw = gb = None
    if needs[1]:
        if cols is None:
            xp = _pad_nhwc(x.transpose(0, 2, 3, 1), padding[0], padding[0], padding[1], padding[1])
            cols = _im2col(xp, kh, kw, stride, dilation, ho, wo, groups)
        g_mat = g_nhwc.reshape(n * ho * wo, o)
        if groups == 1:
            gw = (cols.T @ g_mat).reshape(kh, kw, cg, o).transpose(3, 2, 0, 1)
        else:
            og = o // groups
            g_grp = g_mat.reshape(-1, groups, og).transpose(1, 0, 2)  # (G, M, O/G)
            gw = np.matmul(cols.transpose(0, 2, 1), g_grp)  # (G, kh*kw*C/G, O/G)
            gw = gw.reshape(groups, kh, kw, cg, og).transpose(0, 4, 3, 1, 2).reshape(o, cg, kh, kw)
        gw = np.ascontiguousarray(gw)
    if needs[2]:
        gb = g_nhwc.reshape(-1, o).sum(axis=0)
    if needs[0]:
        strided = stride[0] > 1 or stride[1] > 1
        grad_input = _conv2d_input_grad_col2im if strided else _conv2d_input_grad
        gx = grad_input(g_nhwc, w, (h, wd), stride, padding, dilation, groups)
    return gx, gw, gb


def _conv2d_input_grad_col2im(g_nhwc, w, in_hw, stride, padding, dilation, groups):
    """Strided convs: patch gradients g @ W^T (one GEMM), then kh*kw strided adds back onto the image.

    For stride s the zero-dilated convolution below would multiply s*s times more zeros than values;
    here the adds touch only the N*Ho*Wo*C patch entries, a fraction of the GEMM's cost.
    """
    n, ho, wo, o = g_nhwc.shape
    _, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    c = groups * cg
    wmat = _weight_matrix(w, groups)
    g_mat = g_nhwc.reshape(n * ho * wo, o)
    if groups == 1:
        dcols = _matmul(g_mat, wmat.T)  # (M, kh*kw*C)
    else:
        g_grp = g_mat.reshape(-1, groups, o // groups).transpose(1, 0, 2)  # (G, M, O/G)
        dcols = _matmul(g_grp, wmat.transpose(0, 2, 1))  # (G, M, kh*kw*C/G)
        dcols = dcols.reshape(groups, -1, kh, kw, cg).transpose(1, 2, 3, 0, 4)
    dcols = dcols.reshape(n, ho, wo, kh, kw, c)
    hp = max(in_hw[0] + 2 * ph, sh * (ho - 1) + dh * (kh - 1) + 1)
    wp = max(in_hw[1] + 2 * pw, sw * (wo - 1) + dw * (kw - 1) + 1)
    gxp = _memory.zeros((n, hp, wp, c), g_nhwc.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            gxp[:, rows, cols] += dcols[:, :, :, i, j]
    gx = gxp[:, ph : ph + in_hw[0], pw : pw + in_hw[1]]
    return gx.transpose(0, 3, 1, 2)


def _conv2d_input_grad(g_nhwc, w, in_hw, stride, padding, dilation, groups):
    """Stride 1: grad_input = conv(padded grad_output, flipped transposed weight): im2col + one GEMM.

    (For stride s the same holds with s-1 zeros inserted between grad_output's rows and columns, but
    that multiplies s*s times more zeros than values: strided convs use _conv2d_input_grad_col2im.)
    """
    n, ho, wo, o = g_nhwc.shape
    _, cg, kh, kw = w.shape
    (ph, pw), (dh, dw) = padding, dilation
    # Rows of the padded input past the last window get no gradient: pad those at the bottom/right.
    extra_h = in_hw[0] + 2 * ph - (ho - 1 + dh * (kh - 1) + 1)
    extra_w = in_hw[1] + 2 * pw - (wo - 1 + dw * (kw - 1) + 1)
    top, left = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    gp = _pad_nhwc(g_nhwc, top, top + extra_h, left, left + extra_w)
    # Flipped, transposed weight (C, O/G, kh, kw): group g maps its O/G output channels to its C/G inputs.
    og = o // groups
    wt = w.reshape(groups, og, cg, kh, kw).transpose(0, 2, 1, 3, 4).reshape(groups * cg, og, kh, kw)
    wt = wt[:, :, ::-1, ::-1]
    cols = _im2col(gp, kh, kw, (1, 1), dilation, in_hw[0], in_hw[1], groups)
    gx = _gemm(cols, _weight_matrix(wt, groups), groups)  # (N*H*W, C)
    return gx.reshape(n, in_hw[0], in_hw[1], groups * cg).transpose(0, 3, 1, 2)


# ----- pooling -----


def pool_out_size(size, k, s, p, d, ceil_mode):
    eff = size + 2 * p - d * (k - 1) - 1
    out = (-(-eff // s) if ceil_mode else eff // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside input or left pad
        out -= 1
    return out


def _pool_pad(x, k, s, p, d, out_hw, value):
    """Pad (N, C, H, W) so every window of the output grid lies inside: p before, enough after."""
    h, w = x.shape[2], x.shape[3]
    bottom = max(p[0], (out_hw[0] - 1) * s[0] + d[0] * (k[0] - 1) + 1 - h - p[0])
    right = max(p[1], (out_hw[1] - 1) * s[1] + d[1] * (k[1] - 1) + 1 - w - p[1])
    if not (p[0] or p[1] or bottom or right):
        return x
    return np.pad(x, ((0, 0), (0, 0), (p[0], bottom), (p[1], right)), constant_values=value)


def _offsets(k, s, d, out_hw):
    """For each kernel offset (i, j): slices of the padded input that window element (i, j) reads."""
    for i in range(k[0]):
        for j in range(k[1]):
            rows = slice(i * d[0], i * d[0] + s[0] * (out_hw[0] - 1) + 1, s[0])
            cols = slice(j * d[1], j * d[1] + s[1] * (out_hw[1] - 1) + 1, s[1])
            yield i, j, rows, cols


def max_pool2d_forward(x, k, s, p, d, ceil_mode):
    """-> (out, indices): indices are flat positions in each (H, W) input plane, as torch's."""
    h, w = x.shape[2], x.shape[3]
    out_hw = (pool_out_size(h, k[0], s[0], p[0], d[0], ceil_mode), pool_out_size(w, k[1], s[1], p[1], d[1], ceil_mode))
    xp = _pool_pad(x, k, s, p, d, out_hw, -np.inf)
    out = arg = None
    for i, j, rows, cols in _offsets(k, s, d, out_hw):  # running max over the k*k window offsets
        v = xp[:, :, rows, cols]
        if out is None:
            out, arg = v.copy(), np.zeros(v.shape, np.int64)
            continue
        better = (v > out) | np.isnan(v)  # the first maximum wins; a NaN propagates (as torch)
        np.copyto(out, v, where=better)
        np.copyto(arg, i * k[1] + j, where=better)
    ki, kj = np.divmod(arg, k[1])
    row = np.arange(out_hw[0])[:, None] * s[0] - p[0] + ki * d[0]
    col = np.arange(out_hw[1])[None, :] * s[1] - p[1] + kj * d[1]
    return out, row * w + col


def max_pool2d_backward(grad, x, indices, *_):
    """Route each output gradient to its argmax (summing where windows overlap), via one bincount."""
    n, c, h, w = x.shape
    planes = np.arange(n * c, dtype=np.int64).reshape(n, c, 1, 1) * (h * w)
    flat = (indices + planes).ravel()
    gx = np.bincount(flat, weights=grad.ravel(), minlength=n * c * h * w)
    return gx.astype(grad.dtype, copy=False).reshape(n, c, h, w)


def _avg_divisor(size, k, s, p, out, count_include_pad):
    """Per-output-position window size along one axis (torch's avg_pool2d divisor rules)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def _avg_setup(x, k, s, p, ceil_mode, count_include_pad):
    h, w = x.shape[2], x.shape[3]
    out_hw = (pool_out_size(h, k[0], s[0], p[0], 1, ceil_mode), pool_out_size(w, k[1], s[1], p[1], 1, ceil_mode))
    dh = _avg_divisor(h, k[0], s[0], p[0], out_hw[0], count_include_pad)
    dw = _avg_divisor(w, k[1], s[1], p[1], out_hw[1], count_include_pad)
    return out_hw, (dh[:, None] * dw[None, :]).astype(x.dtype)


def avg_pool2d_forward(x, k, s, p, ceil_mode, count_include_pad):
    out_hw, divisor = _avg_setup(x, k, s, p, ceil_mode, count_include_pad)
    xp = _pool_pad(x, k, s, p, (1, 1), out_hw, 0.0)
    out = np.zeros(x.shape[:2] + out_hw, x.dtype)
    for _, _, rows, cols in _offsets(k, s, (1, 1), out_hw):
        out += xp[:, :, rows, cols]
    return out / divisor


def avg_pool2d_backward(grad, x, k, s, p, ceil_mode, count_include_pad):
    out_hw, divisor = _avg_setup(x, k, s, p, ceil_mode, count_include_pad)
    h, w = x.shape[2], x.shape[3]
    bottom = max(p[0], (out_hw[0] - 1) * s[0] + k[0] - h - p[0])
    right = max(p[1], (out_hw[1] - 1) * s[1] + k[1] - w - p[1])
    gp = np.zeros(x.shape[:2] + (h + p[0] + bottom, w + p[1] + right), grad.dtype)
    g = grad / divisor
    for _, _, rows, cols in _offsets(k, s, (1, 1), out_hw):
        gp[:, :, rows, cols] += g
    return gp[:, :, p[0] : p[0] + h, p[1] : p[1] + w]


def adaptive_pool_matrix(size, out, dtype):
    """(out, size) averaging matrix: row i averages input [floor(i*size/out), ceil((i+1)*size/out))."""
    i = np.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    pos = np.arange(size)
    m = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return (m / (end - start)[:, None]).astype(dtype)


def _even_blocks(x, out_hw):
    """(kh, kw) when the input splits into equal out_hw blocks (the usual case), else None."""
    h, w = x.shape[-2:]
    return (h // out_hw[0], w // out_hw[1]) if h % out_hw[0] == 0 and w % out_hw[1] == 0 else None


def adaptive_avg_pool2d_forward(x, out_hw):
    k = _even_blocks(x, out_hw)
    if k is not None:  # equal blocks: a reshape and a mean
        return x.reshape(x.shape[:-2] + (out_hw[0], k[0], out_hw[1], k[1])).mean(axis=(-3, -1))
    ah = adaptive_pool_matrix(x.shape[-2], out_hw[0], x.dtype)
    aw = adaptive_pool_matrix(x.shape[-1], out_hw[1], x.dtype)
    return ah @ x @ aw.T


def adaptive_avg_pool2d_backward(grad, x, out_hw):
    k = _even_blocks(x, out_hw)
    if k is not None:
        g = (grad / (k[0] * k[1]))[..., :, None, :, None]
        return np.broadcast_to(g, g.shape[:-3] + (k[0], out_hw[1], k[1])).reshape(x.shape)
    ah = adaptive_pool_matrix(x.shape[-2], out_hw[0], grad.dtype)
    aw = adaptive_pool_matrix(x.shape[-1], out_hw[1], grad.dtype)
    return ah.T @ grad @ aw


# ----- normalization -----


def _channel_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm_forward(x, running_mean, running_var, w, b, training, momentum, eps):
    """-> (out, mean, invstd) per channel (axis 1); updates the running stats in place in training."""
    axes = _channel_axes(x)
    if training:
        m = x.size // x.shape[1]
        mean = x.mean(axis=axes)
        xc = x - _per_channel(mean, x.ndim)
        var = np.square(xc).mean(axis=axes)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.astype(running_mean.dtype)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * (var * (m / max(m - 1, 1))).astype(running_var.dtype)
    else:
        mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
        xc = x - _per_channel(mean, x.ndim)
    invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    scale = invstd if w is None else invstd * w
    out = xc * _per_channel(scale, x.ndim)
    if b is not None:
        out += _per_channel(b, x.ndim)
    return out, mean, invstd


def batch_norm_backward(grad, x, w, running_mean, running_var, mean, invstd, training, eps, needs):
    """Closed form (Ioffe & Szegedy 2015, Sec. 3): gx = w*invstd*(g - mean(g) - xhat*mean(g*xhat))."""
    axes = _channel_axes(x)
    xhat = (x - _per_channel(mean, x.ndim)) * _per_channel(invstd, x.ndim)
    g_sum = grad.sum(axis=axes)
    g_xhat = (grad * xhat).sum(axis=axes)
    gx = gw = gb = None
    if needs[0]:
        scale = invstd if w is None else invstd * w
        if training:
            m = x.size // x.shape[1]
            gx = grad - _per_channel(g_sum / m, x.ndim) - xhat * _per_channel(g_xhat / m, x.ndim)
            gx *= _per_channel(scale, x.ndim)
        else:
            gx = grad * _per_channel(scale, x.ndim)
    if needs[1]:
        gw = g_xhat
    if needs[2]:
        gb = g_sum
    return gx, gw, gb


def layer_norm_forward(x, normalized_ndim, w, b, eps):
    """Normalize over the last `normalized_ndim` axes -> (out, mean, rstd) with keepdims shapes."""
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    rstd = (1.0 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)).astype(x.dtype)
    out = xc * rstd
    if w is not None:
        out *= w
    if b is not None:
        out += b
    return out, mean, rstd


def layer_norm_backward(grad, x, normalized_ndim, w, mean, rstd, needs):
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    lead = tuple(range(x.ndim - normalized_ndim))
    xhat = (x - mean) * rstd
    gx = gw = gb = None
    if needs[0]:
        gh = grad if w is None else grad * w
        gx = rstd * (gh - gh.mean(axis=axes, keepdims=True) - xhat * (gh * xhat).mean(axis=axes, keepdims=True))
    if needs[1]:
        gw = (grad * xhat).sum(axis=lead)
    if needs[2]:
        gb = grad.sum(axis=lead)
    return gx, gw, gb


# ----- softmax -----


def softmax_forward(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    e /= e.sum(axis=dim, keepdims=True)
    return e


def softmax_backward(grad, out, dim):
    return out * (grad - (grad * out).sum(axis=dim, keepdims=True))


def log_softmax_forward(x, dim):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def log_softmax_backward(grad, out, dim):
    return grad - np.exp(out) * grad.sum(axis=dim, keepdims=True)


# ----- linear -----


def linear_forward(x, w, b):
    """x (..., in) w^T + b: one GEMM over all leading dims (BLAS sgemm for float32), then the bias added in place.
    np.matmul on a (B, L, in) array runs B separate GEMMs; flattened to (B*L, in) it is one, 1.3-1.6x faster at
    ViT-small's shapes."""
    out = x @ w.T if x.ndim <= 2 else (x.reshape(-1, x.shape[-1]) @ w.T).reshape(*x.shape[:-1], w.shape[0])
    if b is not None:
        out += b
    return out


# ----- GELU: x * Phi(x), or its tanh approximation; in place on one or two temporaries -----

_SQRT_HALF, _INV_SQRT_2PI, _K_TANH = math.sqrt(0.5), 1 / math.sqrt(2 * math.pi), math.sqrt(2 / math.pi)


def _gelu_t(x, approximate, x2=None):
    """The term both directions start from, as a new array: tanh(k (x + 0.044715 x^3)), or erf(x / sqrt 2).
    `x2` is x * x when the caller has it."""
    if approximate != "tanh":
        return special.erf(x * _SQRT_HALF).astype(x.dtype, copy=False)
    if x2 is None:
        t = x * x
        t *= 0.044715
    else:
        t = x2 * 0.044715
    t += 1
    t *= x
    t *= _K_TANH
    return np.tanh(t, out=t)


def gelu_forward(x, approximate):  # 0.5 x (1 + t)
    t = _gelu_t(x, approximate)
    t += 1
    t *= x
    t *= 0.5
    return t


def gelu_backward(grad, x, approximate):
    if approximate == "tanh":  # 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2)
        x2 = x * x
        t = _gelu_t(x, approximate, x2)
        d = x2
        d *= 3 * 0.044715
        d += 1
        d *= _K_TANH * 0.5
        d *= x
        s = t * t
        np.subtract(1, s, out=s)
        d *= s
        t += 1
        t *= 0.5
        t += d
    else:  # Phi(x) + x phi(x)
        t = _gelu_t(x, approximate)
        t += 1
        t *= 0.5
        pdf = x * x
        pdf *= -0.5
        np.exp(pdf, out=pdf)
        pdf *= x
        pdf *= _INV_SQRT_2PI
        t += pdf
    t *= grad
    return t
