"""Tensor: an n-dimensional array on one backend plus what autograd needs to differentiate it.

A Tensor wraps a raw array (`_data`: np.ndarray or torch.Tensor). Ops go through `dslib.ops.api`,
which applies a `Function` and, in grad mode, links the result into the backward graph through
`grad_fn`. `_vc` is the version counter, shared by views, bumped by every in-place change.

A view (reshape, permute, basic indexing) remembers how it was made (`_view`). An in-place op through
a view then rebuilds its base's graph with the view op's `unview` (PyTorch's CopySlices), and a view
whose base changed in place since it was taken rebuilds its own grad_fn before its next use.
"""

from __future__ import annotations

import numpy as np

from . import autograd as _autograd
from . import dtypes
from .autograd import AccumulateGrad, _RemovableHandle, is_grad_enabled, no_grad, run_backward
from .backend import backend_of, get_backend
from .device import device as Device
from .ops import api


class Tensor:
    __slots__ = (
        "_data", "requires_grad", "grad", "grad_fn", "_vc", "_hooks", "_post_hooks", "_accum",
        "_retains_grad", "_view", "__weakref__", "__dict__",
    )  # fmt: skip
    __array_priority__ = 1000  # numpy scalars defer to Tensor operators

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        from .creation import tensor

        t = tensor(data, dtype=dtype, device=device)
        self._init(t._data)
        if requires_grad:
            self.requires_grad_(True)

    def _init(self, array):
        self._data = array
        self.requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._vc = [0]
        self._hooks = None
        self._post_hooks = None
        self._accum = None
        self._retains_grad = False
        self._view = None  # (view Function, source tensor, its args, version when made) for views

    @classmethod
    def _make(cls, array):
        t = object.__new__(Tensor)
        t._init(array)
        return t

    # ----- metadata -----
    @property
    def _backend(self):
        return backend_of(self._data)

    @property
    def shape(self) -> tuple:
        return tuple(self._data.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes.from_raw(self._data.dtype)

    @property
    def device(self) -> Device:
        return self._backend.device

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        n = 1
        for s in self._data.shape:
            n *= s
        return n

    def element_size(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.numel() * self.dtype.itemsize

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def _version(self) -> int:
        return self._vc[0]

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    @property
    def data(self) -> Tensor:
        """A tensor sharing this one's memory, detached from the graph (as torch's .data)."""
        t = Tensor._make(self._data)
        t._vc = self._vc
        return t

    @data.setter
    def data(self, other: Tensor):
        if not isinstance(other, Tensor):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(other).__name__}")
        self._data = other._data

    # ----- conversion -----
    def numpy(self) -> np.ndarray:
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad: use tensor.detach().numpy()")
        return self._backend.to_numpy(self._data)

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"item(): a Tensor with {self.numel()} elements cannot be converted to a Python number")
        return self._backend.item(self._data)

    def tolist(self):
        return self._backend.tolist(self._data)

    def __array__(self, dtype=None, copy=None):
        arr = self._backend.to_numpy(self._data)
        return arr.astype(dtype) if dtype is not None else arr

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """to(device), to(dtype), to(device, dtype) or to(other_tensor), as in PyTorch."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, dtypes.dtype):
                dtype = a
            elif isinstance(a, str) and a in dtypes._BY_NAME:  # .to("float64"): a dtype name, not a device
                dtype = a
            elif isinstance(a, (str, Device)):
                device = a
            elif a is not None:
                try:
                    dtype = dtypes.get(a)
                except TypeError:
                    raise TypeError(f"to(): expected a device, dtype or Tensor, got {a!r}") from None
        out = self
        if device is not None:
            target = get_backend(device)
            if target is not self._backend:
                from .ops.elementwise import ToDevice

                out = ToDevice.apply(out, target)
        if dtype is not None and dtypes.get(dtype) is not out.dtype:
            out = api.cast(out, dtypes.get(dtype))
        if copy and out is self:
            out = api.clone(self)
        return out

    def cpu(self):
        return self.to("numpy")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool_)

    def type_as(self, other):
        return self.to(other.dtype)

    def clone(self):
        return api.clone(self)

    def contiguous(self):
        return self

    # ----- autograd -----
    def requires_grad_(self, requires_grad=True):
        if not self.is_leaf:
            if not requires_grad:
                raise RuntimeError(
                    "requires_grad_(False) only works on leaf tensors; use .detach() for a non-leaf tensor"
                )
            return self
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(f"only floating point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def detach(self):
        t = Tensor._make(self._data)
        t._vc = self._vc
        return t

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def _edge(self):
        """The graph node that receives this tensor's gradient (None when it needs none)."""
        if self.grad_fn is not None:
            return self.grad_fn
        if self.requires_grad:
            if self._accum is None:
                self._accum = AccumulateGrad(self)
            return self._accum
        return None

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's .grad (scalar self, or pass `gradient`)."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no grad_fn; create the inputs "
                "with requires_grad=True (and not under no_grad()) to differentiate"
            )
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(
                    f"backward(): grad can be implicitly created only for scalar outputs, but this tensor "
                    f"has shape {self.shape}; call .sum() first or pass gradient= a tensor of that shape"
                )
            g = self._backend.ones(self._data.shape, self.dtype)
        else:
            if not isinstance(gradient, Tensor):
                gradient = Tensor._make(self._backend.asarray(gradient, self.dtype))
            if gradient.shape != self.shape:
                raise RuntimeError(
                    f"backward(): gradient has shape {gradient.shape} but the tensor has shape {self.shape}"
                )
            if gradient._backend is not self._backend:
                raise RuntimeError(
                    f"backward(): gradient is on {gradient.device} but the tensor is on {self.device}; "
                    f"pass gradient.to('{self.device}')"
                )
            g = gradient._backend.astype(gradient._data, self.dtype)
        with no_grad():
            run_backward([self], [g], retain_graph=retain_graph)

    def register_hook(self, hook):
        """hook(grad) -> Tensor or None, called with the gradient w.r.t. this tensor."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn.register_prehook(hook)
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _RemovableHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) called after a leaf's .grad was updated (used for data-parallel buckets)."""
        if self.grad_fn is not None:
            raise RuntimeError("post-accumulate-grad hooks can only be registered on leaf tensors")
        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(hook)
        return _RemovableHandle(self._post_hooks, hook)

    def retain_grad(self):
        if self.grad_fn is None or self._retains_grad:
            return
        import weakref

        ref = weakref.ref(self)

        def keep(grad):
            t = ref()
            if t is not None:
                t.grad = grad.clone().detach() if t.grad is None else t.grad + grad

        keep.retains_grad = True
        self.grad_fn.register_prehook(keep)
        self._retains_grad = True

    # ----- in-place ops -----
    def _inplace(self, fn, *args, op="in-place op"):
        """Apply `fn(self_or_clone, *args)` and write the result into self's memory."""
        recording = is_grad_enabled() and (
            self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)
        )
        if recording and self.is_leaf and self.requires_grad:
            raise RuntimeError(
                f"{op}: a leaf Tensor that requires grad is being used in an in-place operation; do it under "
                "dslib.no_grad() (e.g. for initialization) or use an out-of-place op"
            )
        if recording and self._view is not None:
            root = self
            while root._view is not None:
                root = root._view[1]
            if root.is_leaf and root.requires_grad:
                raise RuntimeError(
                    f"{op}: a view of a leaf tensor that requires grad (shape {root.shape}) is being used in an "
                    "in-place operation; do it under dslib.no_grad() or use an out-of-place op"
                )
        src = api.clone(self) if recording else self
        result = fn(src, *args)
        if result.dtype is not self.dtype:
            if result.dtype.category > self.dtype.category:
                raise RuntimeError(
                    f"{op}: result type {result.dtype} can't be cast to the tensor's dtype {self.dtype} in "
                    f"place; use the out-of-place op or convert the tensor first (.to({result.dtype}))"
                )
            result = result.to(self.dtype)
        if tuple(result.shape) != self.shape:
            raise RuntimeError(
                f"{op}: output shape {result.shape} doesn't match the tensor's shape {self.shape}; an in-place "
                "op cannot change the shape (broadcasting goes from the argument to the tensor only)"
            )
        try:
            self._backend.setitem(self._data, Ellipsis, result._data)
        except ValueError as err:  # NumPy: a broadcast (expanded) view is read-only
            raise RuntimeError(
                f"{op}: cannot write into this tensor of shape {self.shape} ({err}); it is probably an expanded "
                "view where several elements share one memory location: .clone() it before changing it"
            ) from None
        self._vc[0] += 1
        if recording and result.grad_fn is not None:  # (an integer result records nothing)
            self.grad_fn = result.grad_fn
            self.requires_grad = True
            self._rebase_views()
        return self

    def _rebase_views(self):
        """After an in-place op on a view, make each base's graph see the new values (torch's CopySlices)."""
        child = self
        while child._view is not None:
            cls, base, args, _ = child._view
            child._view = (cls, base, args, child._vc[0])
            new_base = cls.unview(base, child, *args)
            base.grad_fn, base.requires_grad = new_base.grad_fn, True
            child = base

    def _refresh_view(self):
        """Rebuild a view's grad_fn after its base changed in place, so the gradient sees the new values."""
        cls, base, args, _ = self._view
        fresh = cls.apply(base, *args)
        self.grad_fn, self.requires_grad = fresh.grad_fn, fresh.requires_grad
        self._view = (cls, base, args, self._vc[0])

    def add_(self, other, alpha=1):
        return self._inplace(lambda s, o: api.add(s, o, alpha=alpha), other, op="add_")

    def sub_(self, other, alpha=1):
        return self._inplace(lambda s, o: api.sub(s, o, alpha=alpha), other, op="sub_")

    def mul_(self, other):
        return self._inplace(api.mul, other, op="mul_")

    def div_(self, other):
        return self._inplace(api.div, other, op="div_")

    def pow_(self, other):
        return self._inplace(api.pow, other, op="pow_")

    def clamp_(self, min=None, max=None):  # noqa: A002
        return self._inplace(lambda s: api.clamp(s, min, max), op="clamp_")

    def relu_(self):
        return self._inplace(api.relu, op="relu_")

    def copy_(self, src):
        if not isinstance(src, Tensor):
            src = Tensor._make(self._backend.asarray(src, self.dtype))
        if src._backend is not self._backend:
            src = src.to(self.device)
        return self._inplace(lambda s, o: api.add(api.mul(s, 0), o.to(s.dtype)).expand(s.shape), src, op="copy_")

    def fill_(self, value):
        with no_grad():
            self._backend.setitem(self._data, Ellipsis, value)
        self._vc[0] += 1
        return self

    def zero_(self):
        return self.fill_(0)

    def masked_fill_(self, mask, value):
        return self._inplace(lambda s: api.masked_fill(s, mask, value), op="masked_fill_")

    def normal_(self, mean=0.0, std=1.0, generator=None):
        from .random import default_generator

        g = generator or default_generator
        with no_grad():
            arr = g.np.normal(mean, std, self.shape)
            self._backend.setitem(self._data, Ellipsis, self._backend.asarray(arr, self._fill_dtype()))
        self._vc[0] += 1
        return self

    def uniform_(self, a=0.0, b=1.0, generator=None):
        from .random import default_generator

        g = generator or default_generator
        with no_grad():
            arr = g.np.uniform(a, b, self.shape)
            self._backend.setitem(self._data, Ellipsis, self._backend.asarray(arr, self._fill_dtype()))
        self._vc[0] += 1
        return self

    def _fill_dtype(self):
        return dtypes.float32 if self.dtype is dtypes.bfloat16 else self.dtype

    def __setitem__(self, index, value):
        idx = api.normalize_index(self, index)
        if isinstance(value, Tensor) and value._backend is not self._backend:
            value = value.to(self.device)
        recording = is_grad_enabled() and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
        if not recording:
            raw = value._data if isinstance(value, Tensor) else value
            if isinstance(value, Tensor) and value.dtype is not self.dtype:
                raw = value._backend.astype(raw, self.dtype)
            self._backend.setitem(self._data, idx, raw)
            self._vc[0] += 1
            return
        from .ops.indexing import IndexPut

        if not isinstance(value, Tensor):
            value = Tensor._make(self._backend.full((), value, self.dtype))
        self._inplace(lambda s, v: IndexPut.apply(s, idx, v.to(s.dtype)), value, op="__setitem__")

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    # ----- operators -----
    def __add__(self, other):
        return api.add(self, other)

    def __radd__(self, other):
        return api.add(other, self)

    def __sub__(self, other):
        return api.sub(self, other)

    def __rsub__(self, other):
        return api.sub(other, self)

    def __mul__(self, other):
        return api.mul(self, other)

    def __rmul__(self, other):
        return api.mul(other, self)

    def __truediv__(self, other):
        return api.div(self, other)

    def __rtruediv__(self, other):
        return api.div(other, self)

    def __pow__(self, other):
        return api.pow(self, other)

    def __rpow__(self, other):
        return api.pow(other, self)

    def __floordiv__(self, other):
        return api.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return api.floor_divide(other, self)

    def __mod__(self, other):
        return api.remainder(self, other)

    def __rmod__(self, other):
        return api.remainder(other, self)

    def __neg__(self):
        return api.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return api.abs(self)

    def __matmul__(self, other):
        return api.matmul(self, other)

    def __rmatmul__(self, other):
        return api.matmul(other, self)

    def __eq__(self, other):
        return api.eq(self, other)

    def __ne__(self, other):
        return api.ne(self, other)

    def __lt__(self, other):
        return api.lt(self, other)

    def __le__(self, other):
        return api.le(self, other)

    def __gt__(self, other):
        return api.gt(self, other)

    def __ge__(self, other):
        return api.ge(self, other)

    def __and__(self, other):
        return Tensor._make(self._data & (other._data if isinstance(other, Tensor) else other))

    def __or__(self, other):
        return Tensor._make(self._data | (other._data if isinstance(other, Tensor) else other))

    def __xor__(self, other):
        return Tensor._make(self._data ^ (other._data if isinstance(other, Tensor) else other))

    def __invert__(self):
        if self.dtype is not dtypes.bool_:
            raise TypeError("~ is only defined here for bool tensors")
        return Tensor._make(self._backend.logical_not(self._data))

    __hash__ = object.__hash__

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.numel()} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __getitem__(self, index):
        return api.getitem(self, index)

    def __repr__(self):
        arr = np.array2string(
            self._backend.to_numpy(self._data), separator=", ", precision=4, threshold=200, prefix="tensor("
        )
        extras = []
        if self.device != "numpy":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + arr + "".join(", " + e for e in extras) + ")"

    def __format__(self, spec):
        if self.numel() == 1 and spec:
            return format(self.item(), spec)
        return repr(self)

    def __reduce_ex__(self, protocol):
        raise TypeError("dslib tensors are not pickled: use dslib.save / dslib.load (a format that never runs code)")

    # ----- math, reductions and shape: thin wrappers over dslib.ops.api -----
    exp = api.exp
    log = api.log
    log1p = api.log1p
    sqrt = api.sqrt
    rsqrt = api.rsqrt
    abs = api.abs
    sin = api.sin
    cos = api.cos
    tanh = api.tanh
    sigmoid = api.sigmoid
    relu = api.relu
    neg = api.neg
    add = api.add
    sub = api.sub
    mul = api.mul
    div = api.div
    floor_divide = api.floor_divide
    remainder = api.remainder
    pow = api.pow
    matmul = api.matmul
    maximum = api.maximum
    minimum = api.minimum
    clamp = api.clamp
    clip = api.clamp
    eq = api.eq
    ne = api.ne
    lt = api.lt
    le = api.le
    gt = api.gt
    ge = api.ge
    sum = api.sum
    mean = api.mean
    amax = api.amax
    amin = api.amin
    max = api.max
    min = api.min
    argmax = api.argmax
    argmin = api.argmin
    var = api.var
    std = api.std
    logsumexp = api.logsumexp
    norm = api.norm
    all = api.all
    any = api.any
    reshape = api.reshape
    view = api.view
    flatten = api.flatten
    unflatten = api.unflatten
    permute = api.permute
    transpose = api.transpose
    squeeze = api.squeeze
    unsqueeze = api.unsqueeze
    expand = api.expand
    broadcast_to = api.broadcast_to
    repeat = api.repeat
    roll = api.roll
    flip = api.flip
    split = api.split
    chunk = api.chunk
    unbind = api.unbind
    tril = api.tril
    triu = api.triu
    gather = api.gather
    scatter_add = api.scatter_add
    index_select = api.index_select
    masked_fill = api.masked_fill

    def expand_as(self, other):
        return api.expand(self, other.shape)

    def view_as(self, other):
        return api.reshape(self, other.shape)

    def reshape_as(self, other):
        return api.reshape(self, other.shape)

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dims, got {self.ndim}; use transpose or .mT")
        return self if self.ndim < 2 else api.transpose(self, 0, 1)

    @property
    def T(self):  # noqa: N802
        return api.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):  # noqa: N802
        return api.transpose(self, -2, -1)

    def isfinite(self):
        return Tensor._make(self._backend.isfinite(self._data))

    def isnan(self):
        return Tensor._make(self._backend.isnan(self._data))

    def softmax(self, dim):
        from .nn import functional as F

        return F.softmax(self, dim)

    def log_softmax(self, dim):
        from .nn import functional as F

        return F.log_softmax(self, dim)

    def where(self, condition, other):
        return api.where(condition, self, other)


# autograd and the ops need the class but are imported by this module: bind it now that it exists
_autograd.Tensor = Tensor
api.Tensor = Tensor
