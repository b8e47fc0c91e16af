"""Capture: run a function once and record every op it performs into a static `Graph`.

Hooks, all undone when capture ends (even when it raises):
  - `autograd._op_observers` sees every `Function.apply` (an `op` node per call);
  - the few api functions that compute without a Function (comparisons, argmax, all/any, isfinite, &, |, ~)
    are wrapped to record a `call` node, so their results are computed at replay and never baked in;
  - reading a traced tensor's value into Python (`.item()`, `.tolist()`, `bool(t)`, `.numpy()`, `float(t)`,
    `np.asarray(t)`) raises `GraphCaptureError`: that value would steer Python control flow or be baked into
    the graph as a constant, and a replay with other inputs would compute garbage;
  - random draws (dropout in train mode), in-place updates of inputs/parameters/buffers (BatchNorm in
    train mode, an optimizer step) and `backward()` raise `GraphCaptureError`: not captured yet.

Values are identified by the identity of their raw array, so `.detach()` and `.data` (new Tensors over the
same array) stay connected. Capture runs under `no_grad()`: the graph is an inference graph.
"""

from __future__ import annotations

import numpy as np

from .. import autograd
from ..ops import api
from ..random import default_generator
from ..tensor import Tensor
from .ir import Graph, Node


class GraphCaptureError(RuntimeError):
    """The function does something a static graph cannot replay faithfully."""


_BYPASS_API = ("eq", "ne", "lt", "le", "gt", "ge", "all", "any", "argmax", "argmin")
_BYPASS_TENSOR = _BYPASS_API + ("__and__", "__or__", "__xor__", "__invert__", "isfinite", "isnan")
_READS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "__array__")


def meta_of(array) -> tuple:
    return tuple(array.shape), str(array.dtype).replace("torch.", "")


def _is_array(a) -> bool:
    return isinstance(a, np.ndarray) or type(a).__name__ == "Tensor" and hasattr(a, "is_cuda")


class _Tracer:
    def __init__(self, param_names: dict):
        self.param_names = param_names  # id(array) -> (qualified name, Tensor) of the module's params/buffers
        self.values: dict = {}  # id(array) -> (Node, array kept alive, version cell, version)
        self.nodes: list = []
        self.depth = 0  # > 0 inside a recorded api call: the ops it runs are part of that call
        self.watched: list = []  # (name, Tensor, version) of inputs/params: an in-place change is an error
        self.guards: list = []  # (Tensor, array, version) of constants: a change between calls re-captures
        self.dynamic: set = set()  # nodes whose value depends on an input or parameter

    def bind(self, array, node, vc=None):
        self.values[id(array)] = (node, array, vc, vc[0] if vc is not None else None)

    def add_input(self, t: Tensor, name: str) -> Node:
        node = Node("input", name=name, meta=meta_of(t._data))
        self.nodes.append(node)
        self.dynamic.add(node)
        self.bind(t._data, node, t._vc)
        self.watched.append((name, t, t._vc[0]))
        return node

    def ref(self, a):
        """The template element for an argument: a Node for tensors and raw arrays, else the value."""
        if isinstance(a, Tensor):
            hit = self.values.get(id(a._data))
            if hit is not None:
                node, _, vc, version = hit
                if vc is a._vc and vc[0] != version:
                    raise GraphCaptureError(
                        f"dslib.compile: tensor %{node.name} was modified in place during capture and then read "
                        "again; graph mode does not capture in-place updates yet. Use the out-of-place op "
                        "(y = y + 1 instead of y += 1) or run this function eagerly."
                    )
                return node
            return self._external(a)
        if _is_array(a):
            hit = self.values.get(id(a))
            if hit is not None:
                return hit[0]
            owner = self.param_names.get(id(a))  # a buffer passed as its raw array (batch_norm's running stats)
            return self._external(owner[1]) if owner is not None else self._const(a)
        if isinstance(a, (tuple, list)):
            return type(a)(self.ref(x) for x in a)
        if isinstance(a, dict):
            return {k: self.ref(v) for k, v in a.items()}
        return a

    def _external(self, t: Tensor) -> Node:
        """A tensor no traced op produced: a parameter/buffer (read live) or a constant (guarded)."""
        name, t = self.param_names.get(id(t._data), (None, t))  # (a module buffer may arrive .detach()ed)
        if name is None and (t.requires_grad and t.is_leaf):  # a Parameter the function closes over
            name = f"p{sum(n.kind == 'param' for n in self.nodes)}"
        if name is None:
            node = self._const(t._data)
            self.guards.append((t, t._data, t._vc[0]))
            return node
        node = Node("param", name=name, meta=meta_of(t._data), value=t)
        self.nodes.append(node)
        self.dynamic.add(node)
        self.bind(t._data, node, t._vc)
        self.watched.append((name, t, t._vc[0]))
        return node

    def _const(self, array) -> Node:
        node = Node("const", name=f"c{sum(n.kind == 'const' for n in self.nodes)}", meta=meta_of(array), value=array)
        self.nodes.append(node)
        self.bind(array, node)
        return node

    def record(self, kind, target, args, kwargs, result):
        node = Node(kind, target, self.ref(tuple(args)), self.ref(dict(kwargs)), meta_of(result._data))
        node.name = str(sum(n.kind in ("op", "call") for n in self.nodes))
        self.nodes.append(node)
        if any(i in self.dynamic for i in node.inputs()):
            self.dynamic.add(node)
        self.bind(result._data, node, result._vc)

    def observe(self, cls, args, kwargs, result):  # an autograd._op_observers entry
        if not self.depth:
            self.record("op", cls, args, kwargs, result)

    def knows(self, t: Tensor) -> Node | None:
        """The node of `t` if its value depends on an input or a parameter (None for constants)."""
        hit = self.values.get(id(t._data))
        node = hit[0] if hit is not None else self._external(t)  # (an unseen tensor: const or param)
        return node if node in self.dynamic else None


def _recorded(tracer, fn):
    def wrapper(*args, **kwargs):
        if tracer.depth:
            return fn(*args, **kwargs)
        tracer.depth += 1
        try:
            out = fn(*args, **kwargs)
        finally:
            tracer.depth -= 1
        if isinstance(out, Tensor):  # (max's (values, indices) comes back through argmax)
            tracer.record("call", fn, args, kwargs, out)
        return out

    return wrapper


def _read_guard(tracer, name, fn):
    def wrapper(self, *args, **kwargs):
        node = tracer.knows(self)
        if node is not None and not tracer.depth:
            raise GraphCaptureError(
                f"dslib.compile: Tensor.{name}() was called during capture on %{node.name}, a value that depends "
                "on the inputs or parameters. Data-dependent Python (`if x.sum() > 0`, `.item()`, `.tolist()`, "
                "`.numpy()`) would be baked into the static graph and give wrong results for other inputs. "
                "Keep it in tensor ops (dslib.where, masks), move it outside the compiled function, or run eagerly."
            )
        return fn(self, *args, **kwargs)

    return wrapper


def _no_backward(self, *args, **kwargs):
    raise GraphCaptureError(
        "dslib.compile: backward() was called during capture; graph mode captures inference (forward) "
        "functions only so far. Compile the model's forward and run backward/optimizer steps eagerly."
    )


def _rng_state():
    g = default_generator
    return repr(g.np.bit_generator.state), [bytes(t.get_state().numpy()) for t in g._torch.values()]


def capture(fn, args, kwargs, param_names: dict):
    """Run fn(*args, **kwargs) once under no_grad; return (Graph, eager result, tracer)."""
    tracer = _Tracer(param_names)
    k = 0

    def add(t):
        nonlocal k
        if isinstance(t, Tensor):
            k += 1
            return tracer.add_input(t, f"x{k - 1}")
        if isinstance(t, (tuple, list)):
            return type(t)(add(x) for x in t)
        if isinstance(t, dict):
            return {key: add(v) for key, v in t.items()}
        return t

    add((args, kwargs))
    patches = [(api, n, _recorded(tracer, getattr(api, n))) for n in _BYPASS_API]
    patches += [(Tensor, n, _recorded(tracer, getattr(Tensor, n))) for n in _BYPASS_TENSOR]
    patches += [(Tensor, n, _read_guard(tracer, n, getattr(Tensor, n))) for n in _READS]
    patches.append((Tensor, "backward", _no_backward))
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    rng = _rng_state()
    try:
        for owner, name, new in patches:
            setattr(owner, name, new)
        autograd._op_observers.append(tracer.observe)
        with autograd.no_grad():
            out = fn(*args, **kwargs)
    finally:
        autograd._op_observers.remove(tracer.observe)
        for owner, name, old in saved:
            setattr(owner, name, old)
    if _rng_state() != rng:
        raise GraphCaptureError(
            "dslib.compile: the function drew random numbers during capture (dropout in train mode?); a static "
            "graph would replay the same draws every call. Call model.eval() first, or run it eagerly."
        )
    for name, t, version in tracer.watched:
        if t._vc[0] != version:
            raise GraphCaptureError(
                f"dslib.compile: %{name} was updated in place during capture (BatchNorm running statistics in "
                "train mode, an optimizer step?); graph mode does not capture in-place updates yet. Call "
                "model.eval() for inference, or run the training step eagerly."
            )
    graph = Graph(tracer.nodes, tracer.ref(out))
    return graph, out, tracer
