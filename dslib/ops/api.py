"""The public functions behind `dslib.xxx(...)` and `Tensor.xxx(...)`: argument checks, PyTorch-style
defaults and type promotion, then one `Function.apply`. Error messages name the op and the shapes."""

from __future__ import annotations

import builtins

import numpy as np

from .. import dtypes
from ..amp import autocast_mode as _amp
from ..autograd import is_grad_enabled
from . import elementwise as E
from . import indexing as I  # noqa: E741
from . import linalg as L
from . import reduction as R
from . import shape as S
from .reduction import norm_dims, reduce_dims

Tensor = None  # dslib.tensor.Tensor, bound by dslib/tensor.py once the class exists (import cycle)


def _T():  # noqa: N802
    return Tensor


def _broadcast_shape(op, a, b):
    """Check that a's and b's shapes broadcast (a plain loop: np.broadcast_shapes is slow per op)."""
    sa, sb = a._data.shape, b._data.shape
    for x, y in zip(reversed(sa), reversed(sb)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"{op}: shapes {tuple(sa)} and {tuple(sb)} cannot be broadcast together (sizes must match or be 1 "
                "in each trailing dimension); reshape or unsqueeze one operand"
            )


_NUMBER = (int, float, bool, np.number)


def _binary(fn, op, a, b, floating=False):
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        if a._data.shape != b._data.shape:
            _broadcast_shape(op, a, b)
    elif not ta and not tb:
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    elif not isinstance(b if ta else a, _NUMBER):
        x = b if ta else a
        raise TypeError(f"{op}: unsupported operand of type {type(x).__name__}; use a Tensor or a number")
    if isinstance(b if ta else a, np.generic):  # NumPy scalars act as Python numbers, as in torch
        a, b = (a, b.item()) if ta else (a.item(), b)
    a, b = E.promote(a, b, floating)
    return fn.apply(a, b)


def add(a, b, alpha=1):
    Tensor = _T()
    if alpha != 1:
        b = b * alpha
    if not isinstance(a, Tensor):  # number + tensor
        a, b = b, a
    return _binary(E.Add, "add", a, b)


def sub(a, b, alpha=1):
    Tensor = _T()
    if alpha != 1:
        b = b * alpha
    if not isinstance(a, Tensor):
        a, b = E.promote(a, b)
        return E.RSub.apply(b, a)
    return _binary(E.Sub, "sub", a, b)


def mul(a, b):
    Tensor = _T()
    if not isinstance(a, Tensor):
        a, b = b, a
    return _binary(E.Mul, "mul", a, b)


def div(a, b):
    Tensor = _T()
    if not isinstance(a, Tensor):
        a2, b2 = E.promote(a, b, floating=True)
        return E.RDiv.apply(b2, a2)
    return _binary(E.Div, "div", a, b, floating=True)


def pow(a, b):  # noqa: A001
    return _binary(E.Pow, "pow", a, b)


def neg(x):
    return E.Neg.apply(x)


def floor_divide(a, b):
    """a // b rounded toward -inf (torch.floor_divide); it has no gradient, as in torch."""
    return _binary(E.FloorDivide, "floor_divide", a, b)


def remainder(a, b):
    """a % b with the sign of b (Python's and torch.remainder's convention)."""
    return _binary(E.Remainder, "remainder", a, b)


def _float_unary(fn):
    def op(x):
        if not x.dtype.is_floating_point:
            x = x.to(dtypes.get_default_dtype())
        return fn.apply(x)

    op.__name__ = fn.__name__.lower()
    return op


exp = _float_unary(E.Exp)
log = _float_unary(E.Log)
log1p = _float_unary(E.Log1p)
sqrt = _float_unary(E.Sqrt)
rsqrt = _float_unary(E.Rsqrt)
sin = _float_unary(E.Sin)
cos = _float_unary(E.Cos)
tanh = _float_unary(E.Tanh)
sigmoid = _float_unary(E.Sigmoid)
silu = _float_unary(E.Silu)


def abs(x):  # noqa: A001
    return E.Abs.apply(x)


def relu(x):
    return E.Relu.apply(x)


def gelu(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return E.Gelu.apply(x, approximate)


def softplus(x, beta=1.0, threshold=20.0):
    return E.Softplus.apply(x, beta, threshold)


def clamp(x, min=None, max=None):  # noqa: A002
    Tensor = _T()
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    dt = dtypes.result_type(x, *(v for v in (min, max) if v is not None))
    if dt is not x.dtype:  # an int tensor clamped to float bounds becomes float, as torch
        x = x.to(dt)
    return E.Clamp.apply(x, min, max)


clip = clamp


def maximum(a, b):
    Tensor = _T()
    if not isinstance(b, Tensor):
        return clamp(a, min=b)
    return _binary(E.Maximum, "maximum", a, b)


def minimum(a, b):
    Tensor = _T()
    if not isinstance(b, Tensor):
        return clamp(a, max=b)
    return _binary(E.Minimum, "minimum", a, b)


def where(condition, input, other):  # noqa: A002
    Tensor = _T()
    if not isinstance(condition, Tensor) or condition.dtype is not dtypes.bool_:
        raise TypeError("where: condition must be a bool Tensor (e.g. x > 0)")
    dt = dtypes.result_type(input, other)
    b = condition._backend
    # numbers become 0-d tensors of the result dtype (torch.where(c, 0, int32_tensor) stays int32)
    if not isinstance(input, Tensor):
        input = Tensor._make(b.full((), input, dt))  # noqa: A001
    if not isinstance(other, Tensor):
        other = Tensor._make(b.full((), other, dt))
    input, other = E.promote(input, other)  # noqa: A001
    return E.Where.apply(condition, input, other)


def _compare(opname, fn):
    def op(a, b):
        Tensor = _T()
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            if a.shape != b.shape:
                _broadcast_shape(opname, a, b)
            if a._backend is not b._backend:
                raise RuntimeError(
                    f"{opname}: expected both tensors on the same device, but got {a.device} and {b.device}. "
                    "Move them with .to(device) first."
                )
        a, b = E.promote(a, b)
        ra = a._data if isinstance(a, Tensor) else a
        rb = b._data if isinstance(b, Tensor) else b
        return Tensor._make(fn(ra, rb))

    op.__name__ = opname
    return op


eq = _compare("eq", lambda a, b: a == b)
ne = _compare("ne", lambda a, b: a != b)
lt = _compare("lt", lambda a, b: a < b)
le = _compare("le", lambda a, b: a <= b)
gt = _compare("gt", lambda a, b: a > b)
ge = _compare("ge", lambda a, b: a >= b)


# ----- reductions -----
def _sum_dtype(x):
    return dtypes.int64 if x.dtype.kind in "bui" else None


def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001
    if _amp.active and dtype is None:  # autocast: sums run in float32
        (x,) = _amp.to_float32(x)
    dt = dtype or _sum_dtype(x)
    if dt is not None and dtypes.get(dt) is not x.dtype:
        x = x.to(dt)
    return R.Sum.apply(x, reduce_dims(dim, x.ndim, "sum"), keepdim)


def mean(x, dim=None, keepdim=False, dtype=None):
    if _amp.active and dtype is None:  # autocast: means run in float32
        (x,) = _amp.to_float32(x)
    if dtype is not None:
        x = x.to(dtype)
    if not x.dtype.is_floating_point:
        raise TypeError(f"mean: input dtype {x.dtype} is not floating point; pass dtype=dslib.float32 or cast first")
    return R.Mean.apply(x, reduce_dims(dim, x.ndim, "mean"), keepdim)


def amax(x, dim=None, keepdim=False):
    _nonempty("amax", x)
    return R.AMax.apply(x, reduce_dims(dim, x.ndim, "amax"), keepdim, True)


def amin(x, dim=None, keepdim=False):
    _nonempty("amin", x)
    return R.AMax.apply(x, reduce_dims(dim, x.ndim, "amin"), keepdim, False)


def _nonempty(op, x):
    if x.numel() == 0:
        raise RuntimeError(f"{op}: cannot reduce an empty tensor of shape {tuple(x.shape)}")


class _MinMax(tuple):
    """(values, indices), as torch.return_types.max."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _max_or_min(x, dim, keepdim, largest, name):
    _nonempty(name, x)
    if dim is None:
        return R.AMax.apply(x, norm_dims(None, x.ndim, name), False, largest)
    Tensor = _T()
    if isinstance(dim, Tensor):  # torch.max(a, b) form
        return maximum(x, dim) if largest else minimum(x, dim)
    (d,) = norm_dims(dim, x.ndim, name)
    if x.ndim == 0:  # torch allows dim=0 on a 0-d tensor: the value itself, index 0
        return _MinMax((clone(x), _T()._make(x._backend.zeros((), dtypes.int64))))
    values = R.MaxDim.apply(x, d, keepdim, largest)
    idx = (argmax if largest else argmin)(x, d, keepdim)
    return _MinMax((values, idx))


def max(x, dim=None, keepdim=False):  # noqa: A001
    return _max_or_min(x, dim, keepdim, True, "max")


def min(x, dim=None, keepdim=False):  # noqa: A001
    return _max_or_min(x, dim, keepdim, False, "min")


def argmax(x, dim=None, keepdim=False):
    _nonempty("argmax", x)
    b = x._backend
    if dim is None:
        flat = b.astype(b.argmax(b.reshape(x._data, (-1,))), dtypes.int64)
        return _T()._make(b.reshape(flat, (1,) * x.ndim) if keepdim else flat)
    (d,) = norm_dims(dim, x.ndim, "argmax")
    if x.ndim == 0:
        return _T()._make(b.zeros((), dtypes.int64))
    return _T()._make(b.astype(b.argmax(x._data, d, keepdim), dtypes.int64))


def argmin(x, dim=None, keepdim=False):
    _nonempty("argmin", x)
    b = x._backend
    if dim is None:
        flat = b.astype(b.argmin(b.reshape(x._data, (-1,))), dtypes.int64)
        return _T()._make(b.reshape(flat, (1,) * x.ndim) if keepdim else flat)
    (d,) = norm_dims(dim, x.ndim, "argmin")
    if x.ndim == 0:
        return _T()._make(b.zeros((), dtypes.int64))
    return _T()._make(b.astype(b.argmin(x._data, d, keepdim), dtypes.int64))


def var(x, dim=None, *, correction=1, keepdim=False, unbiased=None):
    if unbiased is not None:
        correction = int(unbiased)
    if _amp.active:  # autocast: variances run in float32
        (x,) = _amp.to_float32(x)
    return R.Var.apply(x, reduce_dims(dim, x.ndim, "var"), correction, keepdim)


def std(x, dim=None, *, correction=1, keepdim=False, unbiased=None):
    if unbiased is not None:
        correction = int(unbiased)
    if _amp.active:  # autocast: variances run in float32
        (x,) = _amp.to_float32(x)
    return R.Var.apply(x, reduce_dims(dim, x.ndim, "std"), correction, keepdim, True)


def logsumexp(x, dim, keepdim=False):
    if x.numel() == 0:  # an empty sum is 0: log gives -inf, as torch
        return log(sum(exp(x), dim, keepdim))
    m = amax(x, dim, keepdim=True).detach()
    m = where(m.isfinite(), m, zeros_like_data(m))
    out = log(sum(exp(x - m), dim, keepdim=True)) + m
    return out if keepdim else squeeze(out, dim)


def zeros_like_data(t):
    return _T()._make(t._backend.zeros(tuple(t.shape), t.dtype))


def norm(x, p=2, dim=None, keepdim=False):
    if p == 2:
        return sqrt(sum(x * x, dim, keepdim))
    if p == 1:
        return sum(abs(x), dim, keepdim)
    if p == float("inf"):
        return amax(abs(x), dim, keepdim)
    return sum(abs(x) ** p, dim, keepdim) ** (1.0 / p)


def all(x, dim=None, keepdim=False):  # noqa: A001
    b = x._backend
    return _T()._make(b.all(x._data != 0, None if dim is None else norm_dims(dim, x.ndim, "all"), keepdim))


def any(x, dim=None, keepdim=False):  # noqa: A001
    b = x._backend
    return _T()._make(b.any(x._data != 0, None if dim is None else norm_dims(dim, x.ndim, "any"), keepdim))


# ----- linear algebra -----
def matmul(a, b):
    Tensor = _T()
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both operands must be Tensors")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"matmul: both operands need at least 1 dimension, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if _amp.active:  # autocast: matrix products run in float16 / bfloat16
        a, b = _amp.to_lower(a, b)
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    if squeeze_a:
        a = a.reshape(1, -1)
    if squeeze_b:
        b = b.reshape(-1, 1)
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(
            f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not line up: the last dim of the "
            f"first ({a.shape[-1]}) must equal the second-to-last dim of the second ({b.shape[-2]})"
        )
    if a.shape[:-2] != b.shape[:-2]:
        try:
            np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        except ValueError:
            raise RuntimeError(
                f"matmul: batch dims of {tuple(a.shape)} and {tuple(b.shape)} cannot broadcast"
            ) from None
    a, b = E.promote(a, b)
    out = L.MatMul.apply(a, b)
    if squeeze_a:
        out = out.squeeze(-2)
    if squeeze_b:
        out = out.squeeze(-1)
    return out


def bmm(input, mat2):  # noqa: A002
    """torch.bmm: (B, n, m) @ (B, m, p) -> (B, n, p); batch sizes must match (no broadcasting)."""
    Tensor = _T()
    if not isinstance(input, Tensor) or not isinstance(mat2, Tensor):
        raise TypeError("bmm: both operands must be Tensors")
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise RuntimeError(
            f"bmm: expected two 3-D tensors with the same batch size, got shapes {tuple(input.shape)} and "
            f"{tuple(mat2.shape)}; use matmul for broadcasting batch dims"
        )
    return matmul(input, mat2)


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    equation = equation.replace(" ", "")
    if "->" not in equation and "." not in equation:  # implicit output: letters seen once, sorted
        letters = equation.replace(",", "")
        equation += "->" + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    terms = equation.split("->")[0].split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {equation!r} has {len(terms)} operand terms but {len(operands)} tensors were given")
    for term, t in zip(terms, operands):
        if "." not in term and len(term) != t.ndim:
            raise RuntimeError(
                f"einsum: term {term!r} has {len(term)} letters but its operand has shape {tuple(t.shape)}"
            )
    if _amp.active and len(operands) > 1:  # autocast: products run in float16 / bfloat16
        operands = _amp.to_lower(*operands)
    dt = dtypes.result_type(*operands)
    operands = [t if t.dtype is dt else t.to(dt) for t in operands]
    return L.Einsum.apply(equation, *operands)


# ----- shape -----
def _resolve_shape(x, shape, op):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    n = x.numel()
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be -1, got {shape}")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if -1 in shape:
        if known == 0 or n % known:
            raise RuntimeError(f"{op}: shape {shape} is invalid for input of size {n} (shape {tuple(x.shape)})")
        shape = tuple(n // known if s == -1 else s for s in shape)
    elif known != n:
        raise RuntimeError(f"{op}: shape {shape} is invalid for input of size {n} (shape {tuple(x.shape)})")
    return shape


def reshape(x, *shape, op="reshape"):
    shape = _resolve_shape(x, shape, op)
    if shape == tuple(x.shape):
        return x if not is_grad_enabled() or not x.requires_grad else S.Reshape.apply(x, shape)
    return S.Reshape.apply(x, shape)


def view(x, *shape):
    return reshape(x, *shape, op="view")


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    shape = tuple(x.shape[:s]) + (-1,) + tuple(x.shape[e + 1 :])
    return reshape(x, shape)


def unflatten(x, dim, sizes):
    d = dim % x.ndim
    return reshape(x, tuple(x.shape[:d]) + tuple(sizes) + tuple(x.shape[d + 1 :]))


def permute(x, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    ok = len(dims) == x.ndim and builtins.all(-x.ndim <= d < x.ndim for d in dims)
    if not ok or sorted(d % x.ndim for d in dims) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims of shape {tuple(x.shape)}")
    return S.Permute.apply(x, tuple(d % x.ndim for d in dims))


def transpose(x, dim0, dim1):
    axes = list(range(x.ndim))
    d0, d1 = norm_dims(dim0, x.ndim, "transpose")[0], norm_dims(dim1, x.ndim, "transpose")[0]
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return S.Permute.apply(x, tuple(axes))


def squeeze(x, dim=None):
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        dims = norm_dims(dim, x.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1))
    return S.Reshape.apply(x, shape)


def unsqueeze(x, dim):
    d = dim % (x.ndim + 1) if -x.ndim - 1 <= dim <= x.ndim else None
    if d is None:
        raise IndexError(f"unsqueeze: dim {dim} out of range for a tensor with {x.ndim} dims")
    shape = tuple(x.shape[:d]) + (1,) + tuple(x.shape[d:])
    return S.Reshape.apply(x, shape)


def expand(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    lead = len(shape) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: target {shape} has fewer dims than the tensor's shape {tuple(x.shape)}")
    full = []
    for i, s in enumerate(shape):
        cur = x.shape[i - lead] if i >= lead else 1
        if s == -1:
            s = cur
        if cur != 1 and cur != s:
            raise RuntimeError(
                f"expand: the size of dim {i} ({cur}) must match the target ({s}) or be 1; shape "
                f"{tuple(x.shape)} cannot expand to {shape}"
            )
        full.append(s)
    return S.Expand.apply(x, tuple(full))


def broadcast_to(x, shape):
    return expand(x, shape)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    if builtins.any(t.ndim == 0 for t in tensors):
        raise RuntimeError("cat: zero-dimensional tensors cannot be concatenated; use stack, or unsqueeze them first")
    d = norm_dims(dim, ref.ndim, "cat")[0]
    for t in tensors[1:]:
        if t.ndim != ref.ndim or builtins.any(t.shape[i] != ref.shape[i] for i in range(ref.ndim) if i != d):
            raise RuntimeError(
                f"cat: tensors must have the same shape except in dim {d}; got {tuple(ref.shape)} and {tuple(t.shape)}"
            )
    dt = dtypes.result_type(*tensors)
    tensors = [t if t.dtype is dt else t.to(dt) for t in tensors]
    return S.Cat.apply(d, *tensors)


concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise RuntimeError(
                f"stack: all tensors must have the same shape, got {tuple(tensors[0].shape)} and {tuple(t.shape)}"
            )
    n = tensors[0].ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"stack: dim {dim} is out of range for stacking tensors of shape {tuple(tensors[0].shape)}")
    d = dim % n
    return cat([unsqueeze(t, d) for t in tensors], d)


def split(x, split_size_or_sections, dim=0):
    d = norm_dims(dim, x.ndim, "split")[0]
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise RuntimeError(f"split: split_size must be a positive int, got {split_size_or_sections}")
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split: sections {sizes} do not add up to the size {n} of dim {d}")
    out, start = [], 0
    for s in sizes:
        idx = (slice(None),) * d + (slice(start, start + s),)
        out.append(x[idx])
        start += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    n = x.shape[norm_dims(dim, x.ndim, "chunk")[0]]
    if chunks <= 0:
        raise RuntimeError(f"chunk: chunks must be a positive int, got {chunks}")
    size = -(-n // chunks)
    return split(x, size, dim)


def unbind(x, dim=0):
    d = norm_dims(dim, x.ndim, "unbind")[0]
    return tuple(x[(slice(None),) * d + (i,)] for i in range(x.shape[d]))


def pad(x, pad, mode="constant", value=0.0):
    """torch.nn.functional.pad: `pad` lists (left, right) pairs starting from the LAST dim."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is implemented, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of values covering at most {x.ndim} dims, got {pad}")
    width = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        width[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if builtins.any(lo < 0 or hi < 0 for lo, hi in width):
        raise NotImplementedError("pad: negative padding (cropping) is not supported; slice the tensor instead")
    return S.Pad.apply(x, tuple(width), value)


def repeat(x, *reps):
    if len(reps) == 1 and isinstance(reps[0], (tuple, list)):
        reps = tuple(reps[0])
    if len(reps) < x.ndim:
        raise RuntimeError(f"repeat: need at least {x.ndim} repeat counts for shape {tuple(x.shape)}, got {reps}")
    return S.Tile.apply(x, tuple(reps))


def roll(x, shifts, dims=None):
    shifts = tuple(int(s) for s in shifts) if isinstance(shifts, (list, tuple)) else int(shifts)
    if isinstance(dims, (list, tuple)):
        dims = tuple(norm_dims(d, x.ndim, "roll")[0] for d in dims)
    if isinstance(shifts, tuple) != isinstance(dims, tuple) or (isinstance(dims, tuple) and len(dims) != len(shifts)):
        raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must be both ints or sequences of equal length")
    if dims is None:
        return reshape(S.Roll.apply(reshape(x, -1), shifts, 0), tuple(x.shape))
    return S.Roll.apply(x, shifts, dims)


def flip(x, dims):
    return S.Flip.apply(x, tuple(norm_dims(dims, x.ndim, "flip")))


def tril(x, diagonal=0):
    return S.Tril.apply(x, diagonal, False)


def triu(x, diagonal=0):
    return S.Tril.apply(x, diagonal, True)


# ----- indexing -----
def normalize_index(x, index):
    """Turn Tensors and lists inside an index into backend arrays; validate bounds of basic ints."""
    Tensor = _T()
    items = index if isinstance(index, tuple) else (index,)
    out = []
    b = x._backend
    for item in items:
        if isinstance(item, Tensor):
            if item.dtype.kind not in "biu":
                raise IndexError(f"tensors used as indices must be integer or bool, got {item.dtype}")
            if item._backend is not b:
                item = item.to(x.device)
            out.append(item._data)
        elif isinstance(item, (list, np.ndarray)):
            arr = np.asarray(item)
            if arr.dtype.kind not in "biu":
                raise IndexError(f"index arrays must be integer or bool, got {arr.dtype}")
            out.append(b.index_array(arr))
        elif isinstance(item, (np.integer,)):
            out.append(int(item))
        elif isinstance(item, slice) and item.step is not None and item.step <= 0:
            raise ValueError(
                f"index {index!r}: slice steps must be positive (as in PyTorch); use .flip(dim) to reverse"
            )
        elif item is None or item is Ellipsis or isinstance(item, (int, slice)):
            out.append(item)
        else:
            raise IndexError(
                f"unsupported index of type {type(item).__name__}: use ints, slices, None, ..., lists or Tensors"
            )
    return tuple(out)


def getitem(x, index):
    idx = normalize_index(x, index)
    try:
        if I.is_basic(idx):
            return I.BasicGetItem.apply(x, idx)
        return I.GetItem.apply(x, idx)
    except IndexError as err:
        raise IndexError(f"index {index!r} does not fit a tensor of shape {tuple(x.shape)}: {err}") from None


def _index_data(op, x, index):
    """The raw int64 array of an index tensor, checked to be integer and on x's device."""
    Tensor = _T()
    if not isinstance(index, Tensor) or index.dtype.kind not in "iu":
        what = index.dtype if isinstance(index, Tensor) else type(index).__name__
        raise TypeError(f"{op}: index must be an integer Tensor (dslib.int64), got {what}")
    if index._backend is not x._backend:
        raise RuntimeError(
            f"{op}: index is on {index.device} but the input is on {x.device}; move it with index.to(x.device)"
        )
    return index._backend.astype(index._data, dtypes.int64)


def gather(x, dim, index):
    d = norm_dims(dim, x.ndim, "gather")[0]
    data = _index_data("gather", x, index)
    if index.ndim != x.ndim:
        raise RuntimeError(f"gather: index must have as many dims as input ({x.ndim}), got shape {tuple(index.shape)}")
    return I.Gather.apply(x, d, data)


def scatter_add(x, dim, index, src):
    d = norm_dims(dim, x.ndim, "scatter_add")[0]
    data = _index_data("scatter_add", x, index)
    if index.ndim != x.ndim or tuple(index.shape) != tuple(src.shape):
        raise RuntimeError(
            f"scatter_add: index {tuple(index.shape)} and src {tuple(src.shape)} must have the same shape, with as "
            f"many dims as the input {tuple(x.shape)}"
        )
    x, src = E.promote(x, src)
    return I.ScatterAdd.apply(x, d, data, src)


def index_select(x, dim, index):
    d = norm_dims(dim, x.ndim, "index_select")[0]
    return I.IndexSelect.apply(x, d, _index_data("index_select", x, index))


def masked_fill(x, mask, value):
    Tensor = _T()
    if isinstance(value, Tensor):
        value = value.item()
    return where(mask, Tensor._make(x._backend.full((), value, x.dtype)), x)


def cast(x, dtype):
    return E.Cast.apply(x, dtypes.get(dtype))


def clone(x):
    return E.Clone.apply(x)
