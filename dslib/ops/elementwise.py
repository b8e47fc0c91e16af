"""Elementwise ops: arithmetic with PyTorch's type promotion, math functions and activations.

Each op's backward returns gradients of the broadcast output shape; the autograd engine sums them
back to each input's shape (see autograd._fit), so the math here reads like the textbook.
"""

from __future__ import annotations

from .. import dtypes
from ..autograd import Function
from ..backend import backend_of, kernels_of
from . import api as _tensor  # holds the Tensor class (bound by dslib/tensor.py)


def _b(x):
    return backend_of(x)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class RSub(Function):  # scalar - tensor
    @staticmethod
    def forward(ctx, a, b):
        return b - a

    @staticmethod
    def backward(ctx, grad):
        return -grad, None


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)  # x * 3 saves nothing of x
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = grad / b if need_a else None
        gb = -grad * a / (b * b) if need_b else None
        return ga, gb


class RDiv(Function):  # scalar / tensor
    @staticmethod
    def forward(ctx, a, s):
        out = s / a
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        return -grad * out / a, None


class FloorDivide(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a // b

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("floor_divide has no gradient (as in torch); detach() its inputs or use div")


class Remainder(Function):
    """a - floor(a / b) * b: d/da = 1, d/db = -floor(a / b)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a % b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (grad if need_a else None), (-grad * ((a - a % b) / b) if need_b else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """a ** b for tensor or scalar a and b."""

    @staticmethod
    def forward(ctx, a, b):
        out = _b(a).power(a, b) if hasattr(a, "shape") else _b(b).power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            if isinstance(b, (int, float)):
                ga = grad * b * (a ** (b - 1)) if b != 0 else grad * 0
            else:  # where b == 0, a ** b is constant 1: gradient 0 even at a == 0 (as torch), not 0 * inf
                safe_b = _b(b).where(b == 0, 1, b)
                ga = grad * b * (a ** (safe_b - 1))
        if need_b:
            bk = _b(out)
            log_a = bk.log(bk.where(a > 0, a, 1) if hasattr(a, "shape") else bk.full((), a, bk.dtype_of(out)))
            gb = grad * out * log_a
        return ga, gb


def _unary(name, fwd, bwd, saves="input"):
    """Build a one-input Function from forward(b, x) and gradient(b, x, out, grad)."""

    def forward(ctx, x):
        out = fwd(_b(x), x)
        ctx.save_for_backward(x if saves == "input" else out)
        return out

    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return bwd(_b(grad), s, grad)

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


# name, forward, backward from (saved, grad); saved is the input unless saves="output"
Exp = _unary("Exp", lambda b, x: b.exp(x), lambda b, out, g: g * out, saves="output")
Log = _unary("Log", lambda b, x: b.log(x), lambda b, x, g: g / x)
Log1p = _unary("Log1p", lambda b, x: b.log1p(x), lambda b, x, g: g / (1 + x))
Sqrt = _unary("Sqrt", lambda b, x: b.sqrt(x), lambda b, out, g: g / (2 * out), saves="output")
Rsqrt = _unary("Rsqrt", lambda b, x: 1 / b.sqrt(x), lambda b, out, g: -0.5 * g * out * out * out, saves="output")
Abs = _unary("Abs", lambda b, x: b.abs(x), lambda b, x, g: g * b.sign(x))
Sin = _unary("Sin", lambda b, x: b.sin(x), lambda b, x, g: g * b.cos(x))
Cos = _unary("Cos", lambda b, x: b.cos(x), lambda b, x, g: -g * b.sin(x))
Tanh = _unary("Tanh", lambda b, x: b.tanh(x), lambda b, out, g: g * (1 - out * out), saves="output")
Sigmoid = _unary("Sigmoid", lambda b, x: b.sigmoid(x), lambda b, out, g: g * out * (1 - out), saves="output")
Relu = _unary("Relu", lambda b, x: b.relu(x), lambda b, out, g: b.relu_backward(g, out), saves="output")
Silu = _unary(
    "Silu", lambda b, x: x * b.sigmoid(x), lambda b, x, g: g * (lambda s: s * (1 + x * (1 - s)))(b.sigmoid(x))
)


class Gelu(Function):
    """GELU (Hendrycks & Gimpel 2016): exact x*Phi(x), or the tanh approximation. One kernel each way per
    backend (dslib/backend/*_kernels.py), not a chain of ~10 elementwise ops with their temporaries."""

    @staticmethod
    def forward(ctx, x, approximate="none"):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return kernels_of(x).gelu_forward(x, approximate)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return kernels_of(x).gelu_backward(grad, x, ctx.approximate), None


class Softplus(Function):
    """softplus(x) = log(1 + exp(beta x)) / beta, linear above `threshold` (as torch)."""

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        b = _b(x)
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        bx = x * beta
        return b.where(bx > threshold, x, b.softplus(bx) / beta)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        b = _b(x)
        bx = x * ctx.beta
        return b.where(bx > ctx.threshold, grad, grad * b.sigmoid(bx)), None, None


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo=None, hi=None):
        b = _b(x)
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        out = x
        if lo is not None:
            out = b.maximum(out, lo)
        if hi is not None:
            out = b.minimum(out, hi)
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        mask = True
        if ctx.lo is not None:
            mask = mask & (x >= ctx.lo)
        if ctx.hi is not None:
            mask = mask & (x <= ctx.hi)
        return grad * mask, None, None


class Maximum(Function):
    """Elementwise max; a tie sends half the gradient to each side (as torch.maximum)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _b(a).maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        w = (a > b) + 0.5 * (a == b)
        return grad * w, grad * (1 - w)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _b(a).minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        w = (a < b) + 0.5 * (a == b)
        return grad * w, grad * (1 - w)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        bk = _b(cond)
        return bk.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        return None, grad * cond, grad * _b(cond).logical_not(cond)


class Cast(Function):
    """Change dtype; the gradient is cast back by the engine."""

    @staticmethod
    def forward(ctx, x, dtype):
        return _b(x).astype(x, dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return _b(x).copy(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class ToDevice(Function):
    """Move to another backend; the gradient moves back."""

    @staticmethod
    def forward(ctx, x, target):
        src = _b(x)
        ctx.src = src
        if target.name == "torch" and src.name == "torch":
            return x.to(target.tdevice)
        return target.from_numpy(src.to_numpy(x))

    @staticmethod
    def backward(ctx, grad):
        src = ctx.src
        b = _b(grad)
        if src.name == "torch" and b.name == "torch":
            return grad.to(src.tdevice), None
        return src.from_numpy(b.to_numpy(grad)), None


def promote(a, b, floating=False):
    """Cast Tensor operands to their common PyTorch result dtype (Python numbers pass through)."""
    Tensor = _tensor.Tensor
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb and a.dtype is b.dtype and (not floating or a.dtype.is_floating_point):
        return a, b
    if ta and not tb and type(b) in (int, float) and a.dtype.is_floating_point:
        return a, b  # the common float tensor (op) Python number: the tensor's dtype wins
    dt = dtypes.result_type(a, b)
    if floating and not dt.is_floating_point:
        dt = dtypes.get_default_dtype()
    if ta and a.dtype is not dt:
        a = a.to(dt)
    if tb and b.dtype is not dt:
        b = b.to(dt)
    return a, b
