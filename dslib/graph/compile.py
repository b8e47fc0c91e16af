"""dslib.compile: capture a function or Module into a static graph once, then replay it.

    model = dslib.models.resnet8().eval()
    fast = dslib.compile(model)       # or @dslib.compile on a function
    y = fast(x)                        # first call: runs eagerly and captures the graph
    y = fast(x2)                       # later calls: guards pass -> replay the optimized graph
    print(fast.graph)                  # the SSA IR; fast.graph.to_dot() for Graphviz

Guards: the shape, dtype and device of every tensor argument, the value of every other argument, the
module's train/eval flags, the autocast state, the shape/dtype of each parameter, and that no constant
the graph baked in was changed since. A guard miss captures a new graph (up to `max_graphs` per function);
with `recapture=False` it raises instead, saying what changed.
"""

from __future__ import annotations

import functools

from ..amp import autocast_mode
from ..tensor import Tensor
from .capture import capture, meta_of
from .executor import Executor
from .passes import DEFAULT_PASSES


class GuardError(RuntimeError):
    """A compiled function was called with inputs its graph was not captured for (and recapture=False)."""


def _spec(a):
    """A hashable description of an argument: tensors by shape/dtype/device, other values by value."""
    if isinstance(a, Tensor):
        return ("tensor",) + meta_of(a._data) + (str(a.device),)
    if isinstance(a, (tuple, list)):
        return (type(a).__name__,) + tuple(_spec(x) for x in a)
    if isinstance(a, dict):
        return ("dict",) + tuple((k, _spec(v)) for k, v in a.items())
    try:
        hash(a)
        return a
    except TypeError:
        return ("unhashable", type(a).__name__, repr(a))


def _tensors(a, out):
    if isinstance(a, Tensor):
        out.append(a._data)
    elif isinstance(a, (tuple, list)):
        for x in a:
            _tensors(x, out)
    elif isinstance(a, dict):
        for x in a.values():
            _tensors(x, out)
    return out


class _Entry:
    def __init__(self, graph, tracer):
        self.graph = graph
        self.executor = Executor(graph)
        self.params = [(n.value, n.meta, n.name) for n in graph.nodes if n.kind == "param"]
        self.consts = tracer.guards

    def stale(self) -> str | None:
        """Why this graph no longer matches its parameters or constants (None when it does)."""
        for t, m, name in self.params:
            if meta_of(t._data) != m:
                return f"parameter %{name} is now {meta_of(t._data)}, captured as {m}"
        for t, array, version in self.consts:
            if t._data is not array or t._vc[0] != version:
                return f"a tensor baked in as a constant (shape {tuple(array.shape)}) was changed since capture"
        return None


class CompiledFunction:
    def __init__(self, fn, recapture=True, passes=None, max_graphs=8):
        if not callable(fn):
            raise TypeError(f"dslib.compile expects a function or an nn.Module, got {type(fn).__name__}")
        from ..nn import Module

        self.fn = fn
        self.module = fn if isinstance(fn, Module) else getattr(fn, "__self__", None)
        if not isinstance(self.module, Module):
            self.module = None
        self.recapture = recapture
        self.passes = DEFAULT_PASSES if passes is None else tuple(passes)
        self.max_graphs = max_graphs
        self.entries: dict = {}
        self.last_key = None
        functools.update_wrapper(self, fn, updated=())

    @property
    def graph(self):
        """The graph of the most recent call (None before the first call)."""
        entry = self.entries.get(self.last_key)
        return entry.graph if entry else None

    def _key(self, args, kwargs):
        flags = () if self.module is None else tuple(m.training for m in self.module.modules())
        return _spec(args), _spec(kwargs), flags, tuple(sorted(autocast_mode.state.dtypes.items()))

    def __call__(self, *args, **kwargs):
        key = self._key(args, kwargs)
        entry = self.entries.get(key)
        why = "no graph was captured for these arguments" if entry is None else entry.stale()
        if why is None:
            self.last_key = key
            return entry.executor(_tensors((args, kwargs), []))
        if self.entries and not self.recapture:
            old = next(iter(self.entries))
            raise GuardError(
                f"dslib.compile({getattr(self.fn, '__name__', type(self.fn).__name__)}): {why}. Captured for "
                f"{old[:2]}, called with {key[:2]}. Pass recapture=True to capture a graph for each new "
                "signature, or call with the captured shapes/dtypes/device."
            )
        if len(self.entries) >= self.max_graphs:
            self.entries.pop(next(iter(self.entries)))  # the oldest graph makes room
        names = {}
        if self.module is not None:
            for name, t in list(self.module.named_parameters()) + list(self.module.named_buffers()):
                names[id(t._data)] = (name, t)
        graph, out, tracer = capture(self.fn, args, kwargs, names)
        for p in self.passes:
            p(graph)
        graph.renumber()
        self.entries[key] = _Entry(graph, tracer)
        self.last_key = key
        return out


def compile(fn=None, *, recapture=True, passes=None, max_graphs=8):  # noqa: A001 - mirrors torch.compile
    """Compile `fn` (a function or nn.Module) into a captured, optimized graph; usable as a decorator.

    recapture: on a guard miss capture a new graph (True) or raise GuardError (False).
    passes: graph passes to run after capture (default: DCE, CSE, constant folding, elementwise fusion);
    pass () to replay the graph as captured."""
    if fn is None:
        return lambda f: CompiledFunction(f, recapture, passes, max_graphs)
    return CompiledFunction(fn, recapture, passes, max_graphs)
