"""Capture: run a function once and record every op it performs into a static `Graph`.

Hooks, all undone when capture ends (even when it raises):
  - `autograd._op_observers` sees every `Function.apply` (an `op` node per call);
  - the few api functions that compute without a Function (comparisons, argmax, all/any, isfinite, &, |, ~)
    are wrapped to record a `call` node, so their results are computed at replay and never baked in;
  - reading a traced tensor's value into Python (`.item()`, `.tolist()`, `bool(t)`, `.numpy()`, `float(t)`,
    `np.asarray(t)`) raises `GraphCaptureError`: that value would steer Python control flow or be baked into
    the graph as a constant, and a replay with other inputs would compute garbage;
  - backward(), optimizer steps and in-place updates of parameters/buffers/inputs are recorded as a training
    step (training.py); random draws (dropout in train mode) raise `GraphCaptureError`, as does an in-place
    update of any other traced value that is read again.

Values are identified by the identity of their raw array, so `.detach()` and `.data` (new Tensors over the
same array) stay connected. Capture runs in the caller's grad mode; a function that never calls backward()
gives an inference graph (no op keeps a ctx) and returns detached results.
"""

from __future__ import annotations

import numpy as np

from .. import autograd
from ..nn.module import Module
from ..ops import api
from ..random import default_generator
from ..tensor import Tensor
from .ir import Graph, Node, meta_of
from .training import GraphCaptureError, training_patches

__all__ = ["GraphCaptureError", "capture", "meta_of"]

_BYPASS_API = ("eq", "ne", "lt", "le", "gt", "ge", "all", "any", "argmax", "argmin")
_BYPASS_TENSOR = _BYPASS_API + ("__and__", "__or__", "__xor__", "__invert__", "isfinite", "isnan")
_READS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "__array__")


def _is_array(a) -> bool:
    return isinstance(a, np.ndarray) or type(a).__name__ == "Tensor" and hasattr(a, "is_cuda")


class _Tracer:
    def __init__(self, param_names: dict):
        self.param_names = param_names  # id(array) -> (qualified name, Tensor) of the module's params/buffers
        self.values: dict = {}  # id(array) -> (Node, array kept alive, version cell, version)
        self.nodes: list = []
        self.depth = 0  # > 0 inside a recorded api call or effect: the ops it runs are part of it
        self.watched: list = []  # (name, Tensor, version) of inputs/params: an unrecorded in-place change is an error
        self.guards: list = []  # (Tensor, array, version) of constants: a change between calls re-captures
        self.dynamic: set = set()  # nodes whose value depends on an input or parameter
        self.fn_nodes: dict = {}  # autograd FunctionNode -> the op node that made it (for backward nodes)
        self.phase = "forward"  # the phase new nodes get: forward, backward (inside backward()), update
        self.modules: dict = {}  # id -> every Module called during capture (their train/eval flags are guarded)
        self.counter = 0

    def bind(self, array, node, vc=None):
        self.values[id(array)] = (node, array, vc, vc[0] if vc is not None else None)

    def add_node(self, node: Node, array=None) -> Node:
        """Append a computed node (named %k, in the current phase); bind `array` to it when given."""
        node.name, self.counter = str(self.counter), self.counter + 1
        node.phase = self.phase
        self.nodes.append(node)
        if any(i in self.dynamic for i in node.inputs()):
            self.dynamic.add(node)
        if array is not None:
            self.bind(array, node)
        return node

    def resync(self, tensors=None) -> None:
        """Accept in-place updates that the graph replays (effects): take the versions as they are now.

        tensors=None (after an optimizer/scheduler call): every parameter, buffer and .grad value."""
        cells = None if tensors is None else {id(t._vc) for t in tensors}
        done = set()
        for key, (node, array, vc, version) in self.values.items():
            if vc is None or vc[0] == version:
                continue
            if cells is None and node.kind not in ("param", "effect") or cells is not None and id(vc) not in cells:
                continue
            if node.kind == "param" and node.value._data is not array:
                raise GraphCaptureError(
                    f"dslib.compile: %{node.name} got a new array (p.data = ...) during capture; graph "
                    "mode replays in-place updates only. Update it in place (p.copy_(...)) or run eagerly."
                )
            self.values[key] = (node, array, vc, vc[0])
            done.add(id(vc))
        self.watched = [(n, t, t._vc[0] if id(t._vc) in done else v) for n, t, v in self.watched]

    def check_writes(self) -> None:
        """Raise if a gradient, parameter or input was changed in place by code that left no graph node."""
        for node, _, vc, version in self.values.values():
            if vc is not None and vc[0] != version and node.kind in ("param", "input", "effect"):
                what = f"the gradient written by %{node.name}" if node.kind == "effect" else f"%{node.name}"
                raise GraphCaptureError(
                    f"dslib.compile: {what} was changed in place during capture by code graph mode cannot record "
                    "(clip_grad_norm_/clip_grad_value_, fill_/zero_, indexed assignment, a custom optimizer's own "
                    "step()); replay would skip that change. Use Tensor ops such as add_/mul_/copy_ under no_grad, "
                    "a dslib.optim optimizer, or run the step eagerly."
                )

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
                        "again; graph mode captures in-place updates of parameters, buffers and inputs only. Use "
                        "the out-of-place op (y = y + 1 instead of y += 1) or run this function eagerly."
                    )
                return node
            return self._external(a)
        if _is_array(a):
            hit = self.values.get(id(a))
            if hit is not None:
                return hit[0]
            owner = self.param_names.get(id(a))  # a buffer passed as its raw array (batch_norm's running stats)
            return self._external(owner[1]) if owner is not None else self.const(a)
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
            node = self.const(t._data)
            self.guards.append((t, t._data, t._vc[0]))
            return node
        node = Node("param", name=name, meta=meta_of(t._data), value=t)
        node.phase = self.phase
        self.nodes.append(node)
        self.dynamic.add(node)
        self.bind(t._data, node, t._vc)
        self.watched.append((name, t, t._vc[0]))
        return node

    def const(self, array) -> Node:
        node = Node("const", name=f"c{sum(n.kind == 'const' for n in self.nodes)}", meta=meta_of(array), value=array)
        node.phase = self.phase
        self.nodes.append(node)
        self.bind(array, node)
        return node

    def record(self, kind, target, args, kwargs, result) -> Node:
        node = Node(kind, target, self.ref(tuple(args)), self.ref(dict(kwargs)), meta_of(result._data))
        self.add_node(node)
        self.bind(result._data, node, result._vc)
        return node

    def observe(self, cls, args, kwargs, result):  # an autograd._op_observers entry
        if self.depth:
            return
        if result.grad_fn is not None and self.phase == "update":
            self.phase = "forward"  # the next micro-batch's forward
        node = self.record("op", cls, args, kwargs, result)
        if result.grad_fn is not None:
            self.fn_nodes[result.grad_fn] = node
        if cls.__name__ == "BatchNorm" and args[5] and args[3] is not None:  # updates running stats in place
            node.effect = True
            self.resync([n.value for n in node.inputs() if n.kind == "param"])

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


def _module_call(tracer, fn):
    def wrapper(self, *args, **kwargs):
        if id(self) not in tracer.modules:  # its parameters and buffers are read live (named as in it)
            tracer.modules[id(self)] = self
            for name, t in list(self.named_parameters()) + list(self.named_buffers()):
                tracer.param_names.setdefault(id(t._data), (name, t))
        return fn(self, *args, **kwargs)

    return wrapper


def _rng_state():
    g = default_generator
    return repr(g.np.bit_generator.state), [bytes(t.get_state().numpy()) for t in g._torch.values()]


_RANDOM_MSG = (
    "dslib.compile: the function drew random numbers during capture (dropout in train mode?); a static "
    "graph would replay the same draws every call. Call model.eval() (or use p=0) first, or run it eagerly."
)


def capture(fn, args, kwargs, param_names: dict):
    """Run fn(*args, **kwargs) once in the caller's grad mode; return (Graph, eager result, tracer)."""
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

    def observe(cls, args, kwargs, result):
        if cls.__name__ == "Dropout" and not tracer.depth:
            raise GraphCaptureError(_RANDOM_MSG)
        tracer.observe(cls, args, kwargs, result)

    add((args, kwargs))
    patches = [(api, n, _recorded(tracer, getattr(api, n))) for n in _BYPASS_API]
    patches += [(Tensor, n, _recorded(tracer, getattr(Tensor, n))) for n in _BYPASS_TENSOR]
    patches += [(Tensor, n, _read_guard(tracer, n, getattr(Tensor, n))) for n in _READS]
    patches += training_patches(tracer)
    patches.append((Module, "__call__", _module_call(tracer, Module.__call__)))
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    rng = _rng_state()
    try:
        for owner, name, new in patches:
            setattr(owner, name, new)
        autograd._op_observers.append(observe)
        out = fn(*args, **kwargs)
    finally:
        autograd._op_observers.remove(observe)
        for owner, name, old in saved:
            setattr(owner, name, old)
    if _rng_state() != rng:
        raise GraphCaptureError(_RANDOM_MSG)
    tracer.check_writes()
    for name, t, version in tracer.watched:
        if t._vc[0] != version:
            raise GraphCaptureError(
                f"dslib.compile: %{name} was updated in place during capture by code graph mode cannot record "
                "(fill_/zero_/indexed assignment, or a custom optimizer's own step()). Use Tensor ops such as "
                "add_/mul_/copy_ under no_grad, a dslib.optim optimizer, or run the step eagerly."
            )
    graph = Graph(tracer.nodes, tracer.ref(out))
    return graph, _detached(out), tracer


def _detached(out):
    """The eager result with tensors cut from the autograd graph: replays return plain tensors too."""
    if isinstance(out, Tensor):
        return out.detach() if out.grad_fn is not None else out
    if isinstance(out, (tuple, list)):
        return type(out)(_detached(x) for x in out)
    if isinstance(out, dict):
        return {k: _detached(v) for k, v in out.items()}
    return out
