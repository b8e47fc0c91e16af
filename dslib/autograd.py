"""autograd: dslib's reverse-mode automatic differentiation over a dynamic (define-by-run) graph.

Every differentiable op is a `Function` subclass with `forward(ctx, *arrays)` and
`backward(ctx, grad)` side by side, working on raw backend arrays. `Function.apply` runs the forward
and, when gradients are needed, records a `Node` holding the ctx and one edge per tensor input. The
graph is made of Nodes only (as in PyTorch): a leaf tensor's edge is its `AccumulateGrad` node.

`run_backward` walks the graph iteratively in dependency order (Kahn's algorithm), so a chain of any
length never touches Python's recursion limit. The engine itself reduces a broadcast gradient back to
its input's shape and casts it to the input's dtype, so op backward methods stay short.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from .backend import backend_of

Tensor = None  # dslib.tensor.Tensor, bound by dslib/tensor.py once the class exists (import cycle)


class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


class set_grad_enabled(contextlib.ContextDecorator):  # noqa: N801 - mirrors torch
    """Context manager / decorator that turns graph recording on or off.

    The previous modes are kept on a stack, so one instance may be entered recursively (a decorated
    recursive function) and still restore the right mode on every exit."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._prev = []

    def __enter__(self):
        self._prev.append(_grad_mode.enabled)
        _grad_mode.enabled = self.mode

    def __exit__(self, *exc):
        _grad_mode.enabled = self._prev.pop()


class _ModeDecorator(set_grad_enabled):
    """Base of no_grad / enable_grad: usable as `with no_grad():`, `@no_grad()` and `@no_grad`."""

    _mode = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if func is not None:  # used as a bare decorator: @no_grad
            self.__init__()
            return self(func)
        return self

    def __init__(self, func=None):
        super().__init__(self._mode)


class no_grad(_ModeDecorator):  # noqa: N801
    """Context manager / decorator: ops inside record no graph."""

    _mode = False


class enable_grad(_ModeDecorator):  # noqa: N801
    """Context manager / decorator: ops inside record the graph (even within no_grad)."""

    _mode = True


# Observers of every op call (the graph-mode tracer and the profiler register here).
_op_observers: list = []


class Context:
    """Holds what a Function's forward leaves for its backward."""

    __slots__ = ("saved", "_checks", "needs_input_grad", "__dict__")

    def __init__(self):
        self.saved = ()
        self._checks = ()

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @property
    def saved_tensors(self):
        if self.saved is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or to read saved values after "
                "they were freed). Pass retain_graph=True to the first backward() if you need to "
                "backward twice."
            )
        return self.saved


class Node:
    """A vertex of the backward graph: turns the gradient of its output into gradients of its inputs."""

    __slots__ = ("next_edges", "pre_hooks", "__weakref__")
    name = "Node"

    def __init__(self, next_edges=()):
        self.next_edges = next_edges
        self.pre_hooks = None

    def register_prehook(self, fn):
        if self.pre_hooks is None:
            self.pre_hooks = []
        hooks = self.pre_hooks
        # retain_grad's hook stays last, so .grad sees what the other hooks returned (as in torch)
        at = len(hooks) - 1 if hooks and getattr(hooks[-1], "retains_grad", False) else len(hooks)
        hooks.insert(at, fn)
        return _RemovableHandle(hooks, fn)

    def apply(self, grad, retain_graph):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"<{self.name}>"


class FunctionNode(Node):
    __slots__ = ("fn", "ctx", "in_meta", "positions")

    def __init__(self, fn, ctx, next_edges, in_meta, positions):
        super().__init__(next_edges)
        self.fn = fn
        self.ctx = ctx
        self.in_meta = in_meta  # (shape, dtype) of each tensor input, for unbroadcast and casting
        self.positions = positions  # which positional args were tensors (None: all of them)

    @property
    def name(self):
        return self.fn.__name__ + "Backward"

    def apply(self, grad, retain_graph):
        ctx = self.ctx
        if ctx.saved is None:
            raise RuntimeError(
                f"{self.name}: trying to backward through the graph a second time; its saved values "
                "were freed by the first backward. Pass retain_graph=True to the first backward() "
                "if you need to call backward twice."
            )
        for cell, version, shape in ctx._checks:
            if cell[0] != version:
                what = "the op's output" if shape is None else f"input of shape {tuple(shape)}"
                raise RuntimeError(
                    f"{self.name}: one of the tensors needed for its gradient ({what}) was modified "
                    f"by an in-place operation: it is now at version {cell[0]}, expected version "
                    f"{version}. Use an out-of-place op (x = x * y instead of x *= y) or .clone() "
                    "the tensor before changing it."
                )
        grads = self.fn.backward(ctx, grad)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if self.positions is not None:
            grads = tuple(grads[i] if i < len(grads) else None for i in self.positions)
        if not retain_graph:
            ctx.saved = None
            ctx.__dict__.clear()
        out = []
        for g, (shape, dt) in zip(grads, self.in_meta):
            if g is not None:
                g = _fit(g, shape, dt)
            out.append(g)
        return out


class AccumulateGrad(Node):
    """The node of a leaf tensor: adds the incoming gradient into `tensor.grad`."""

    __slots__ = ("tensor",)
    name = "AccumulateGrad"

    def __init__(self, tensor):
        super().__init__(())
        self.tensor = tensor

    def apply(self, grad, retain_graph):
        t = self.tensor
        b = backend_of(t._data)
        grad = _fit(grad, tuple(t._data.shape), t.dtype)
        if t._hooks:
            for hook in t._hooks:
                res = hook(_wrap(grad))
                if res is not None:
                    grad = res._data
        if t.grad is None:
            owned = b.owned(grad)
            # the same array may also reach another leaf (a + b) or be the caller's `gradient`
            t.grad = Tensor._make(b.copy(grad) if owned is grad else owned)
        else:
            t.grad = Tensor._make(t.grad._data + grad)
        if t._post_hooks:
            for hook in t._post_hooks:
                hook(t)
        return ()


def _fit(g, shape, dt):
    """Sum a broadcast gradient back to `shape` and cast it to dtype `dt`."""
    if isinstance(g, np.generic):  # NumPy arithmetic on 0-d arrays returns scalars
        g = np.asarray(g)
    b = backend_of(g)
    if tuple(g.shape) != shape:
        extra = g.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and g.shape[i + extra] != 1)
        if axes:
            g = b.sum(g, axis=axes, keepdims=True)
        if extra:
            g = b.reshape(g, shape)
        if tuple(g.shape) != shape:
            g = b.broadcast_to(g, shape)
    if b.dtype_of(g) is not dt:
        g = b.astype(g, dt)
    return g


def _wrap(array):
    return Tensor._make(array)


class _RemovableHandle:
    def __init__(self, hooks, fn):
        self.hooks, self.fn = hooks, fn

    def remove(self):
        if self.fn in self.hooks:
            self.hooks.remove(self.fn)


class Function:
    """Base class of differentiable ops: subclass with `forward` and `backward` staticmethods.

    forward(ctx, *args, **kwargs) receives raw arrays in place of Tensors and returns one array;
    backward(ctx, grad) returns one gradient (or None) per positional argument of forward; those of
    non-tensor arguments are ignored. ctx.needs_input_grad says, per positional argument, whether
    its gradient is wanted; it is set before forward runs, so forward can save only what is needed.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    # Set to True on ops whose output aliases their first input's memory (views): the output then
    # shares the input's version counter, and the op defines unview(base, view, *args), which
    # rebuilds the base from a changed view (used when the view is modified in place).
    is_view = False

    @classmethod
    def apply(cls, *args, **kwargs):
        tensors = []
        arrays = []
        recording = False
        for a in args:
            if isinstance(a, Tensor):
                tensors.append(a)
                arrays.append(a._data)
                recording = recording or a.requires_grad
            else:
                arrays.append(a)
        if len(tensors) > 1:
            _check_same_device(cls, tensors)
        recording = recording and _grad_mode.enabled
        ctx = Context()
        # known before forward, so forward can save only what the wanted gradients need
        if not recording:
            ctx.needs_input_grad = (False,) * len(args)
        elif len(tensors) == len(args):
            ctx.needs_input_grad = tuple([t.requires_grad for t in tensors])
        else:
            ctx.needs_input_grad = tuple([isinstance(a, Tensor) and a.requires_grad for a in args])
        out = cls.forward(ctx, *arrays, **kwargs)
        if type(out) is not np.ndarray:
            if isinstance(out, np.generic):  # NumPy reductions return scalars: keep their dtype
                out = np.asarray(out)
            elif not hasattr(out, "shape"):  # a Python number
                out = tensors[0]._backend.asarray(out)
        result = Tensor._make(out)
        if cls.is_view and tensors and _aliases(out, arrays[0]):
            src = tensors[0]
            result._vc = src._vc
            result._view = (cls, src, args[1:], src._vc[0])
        if recording and not result.dtype.is_floating_point:
            recording = False  # integer and bool results carry no gradient (x.long(), x.argmax()), as in torch
        if recording:
            edges, meta = [], []
            for t in tensors:
                if t._view is not None and t.grad_fn is not None and t._view[3] != t._vc[0]:
                    t._refresh_view()  # its base changed in place since the view was taken
                edges.append(t._edge())
                meta.append((t._data.shape, t.dtype))
            if ctx.saved:
                ctx._checks = _version_checks(ctx.saved, tensors, out, result)
            positions = None
            if len(tensors) != len(args):
                positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
            result.grad_fn = FunctionNode(cls, ctx, tuple(edges), tuple(meta), positions)
            result.requires_grad = True
        if _op_observers:
            for obs in _op_observers:
                obs(cls, args, kwargs, result)
        return result


def _version_checks(saved, tensors, out, result):
    """(version cell, version now, input shape or None for the output) for each saved input/output array."""
    checks = []
    for s in saved:
        for t in tensors:
            if s is t._data:
                checks.append((t._vc, t._vc[0], t._data.shape))
                break
        else:
            if s is out:
                checks.append((result._vc, result._vc[0], None))
    return checks


def _aliases(out, x) -> bool:
    """Whether a view op's output really shares memory with its input (reshape may have copied)."""
    if type(out) is np.ndarray:
        return type(x) is np.ndarray and np.may_share_memory(out, x)
    return out._base is not None


def _check_same_device(fn, tensors):
    if type(tensors[0]._data) is np.ndarray and all(type(t._data) is np.ndarray for t in tensors):
        return
    first = tensors[0]._backend
    for t in tensors[1:]:
        if t._backend is not first:
            raise RuntimeError(
                f"{fn.__name__}: expected all tensors on the same device, but got {first.device} and "
                f"{t._backend.device}. Move them with .to(device) first."
            )


def count_dependencies(start_nodes) -> dict:
    """For every node reachable from `start_nodes`, how many edges point at it (iterative DFS): the in-degrees
    Kahn's algorithm counts down (also used by graph mode's recording engine, so both run the same order)."""
    deps: dict = {}
    seen = set(start_nodes)
    stack = list(start_nodes)
    while stack:
        node = stack.pop()
        for child in node.next_edges:
            if child is None:
                continue
            deps[child] = deps.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return deps


def run_backward(roots, grads, retain_graph=False):
    """Backpropagate `grads` (raw arrays) from `roots` (Tensors) to every leaf that requires grad."""
    start_nodes = []
    buffers: dict = {}
    for t, g in zip(roots, grads):
        node = t._edge()
        if node is None:
            raise RuntimeError(
                "element of tensors does not require grad and does not have a grad_fn: call "
                "backward() on a tensor computed from inputs with requires_grad=True"
            )
        if node in buffers:
            buffers[node] = buffers[node] + g
        else:
            buffers[node] = g
            start_nodes.append(node)

    deps = count_dependencies(start_nodes)
    ready = [n for n in start_nodes if deps.get(n, 0) == 0]
    while ready:
        node = ready.pop()
        grad = buffers.pop(node, None)
        if isinstance(grad, np.generic):
            grad = np.asarray(grad)
        if grad is not None and node.pre_hooks:
            for hook in node.pre_hooks:
                res = hook(_wrap(grad))
                if res is not None:
                    grad = res._data
        child_grads = node.apply(grad, retain_graph) if grad is not None else ()
        for i, child in enumerate(node.next_edges):
            if child is None:
                continue
            g = child_grads[i] if i < len(child_grads) else None
            if g is not None:
                prev = buffers.get(child)
                buffers[child] = g if prev is None else prev + g
            deps[child] -= 1
            if deps[child] == 0:
                ready.append(child)
