"""dslib.compile: capture a function or Module into a static graph once, then replay it.

    model = dslib.models.resnet8().eval()
    fast = dslib.compile(model)       # or @dslib.compile on a function
    y = fast(x)                        # first call: runs eagerly and captures the graph
    y = fast(x2)                       # later calls: guards pass -> replay the optimized graph
    print(fast.graph)                  # the SSA IR; fast.graph.to_dot() for Graphviz

    @dslib.compile                     # a whole training step: forward, backward, optimizer update
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

Guards: the shape, dtype and device of every tensor argument, the value of every other argument, the
train/eval flags of the module and of every module the capture ran, grad mode (training graphs), the
autocast state, the shape/dtype/requires_grad of each parameter, and that no constant the graph baked in was
changed since. A guard miss captures a new graph (up to `max_graphs` per function); with `recapture=False` it
raises instead, saying what changed.

arena=True replays an inference graph with ArenaExecutor (arena.py: intermediates in one planned arena, no
allocation per call) on the numpy device. A training graph or torch tensors cannot use it: the graph is then
replayed with the plain Executor, and a warning says why (once, at capture), so arena=True is always safe to try.
"""

from __future__ import annotations

import dis
import functools
import warnings

import numpy as np

from ..amp import autocast_mode
from ..autograd import is_grad_enabled
from ..nn.module import Module
from ..tensor import Tensor
from .arena import ArenaExecutor
from .capture import capture, meta_of
from .executor import Executor
from .passes import DEFAULT_PASSES, common_subexpression_elimination, constant_fold, dead_code_elimination

# passes that know training graphs (keep effects, leave ctx-holding ops alone); others get those ops hidden
_TRAINING_AWARE = (constant_fold, common_subexpression_elimination, dead_code_elimination)


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


def _run_pass(p, graph) -> None:
    """Run pass p; on a training graph, ops whose ctx a backward node needs (or that update state) are shown
    to a pass that does not know training graphs (fusion) as kind "opaque", so it cannot fuse them away.
    A pass that handles them itself says so with a function attribute: `my_pass.training_aware = True`."""
    hidden = []
    if p not in _TRAINING_AWARE and not getattr(p, "training_aware", False):
        hidden = [n for n in graph.nodes if n.kind == "op" and (n.effect or n.needs_grad is not None)]
    for n in hidden:
        n.kind = "opaque"
    known = set(graph.nodes)
    try:
        p(graph)
    finally:
        for n in hidden:
            n.kind = "op"
    phase = "forward"
    for n in graph.nodes:  # a node the pass made (a fused kernel) belongs to its predecessor's phase
        if n in known:
            phase = n.phase
        else:
            n.phase = phase


def _referenced(fn) -> dict:
    """name -> value of what a function closes over or reads as a global."""
    code, found = getattr(fn, "__code__", None), {}
    if code is None:
        return found
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            found[name] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    for name in _global_names(code):
        if name in getattr(fn, "__globals__", {}):
            found.setdefault(name, fn.__globals__[name])
    return found


@functools.lru_cache(maxsize=256)
def _global_names(code) -> tuple:
    """The globals a code object loads (not attribute names: `opt.step()` does not read a global `step`)."""
    return tuple(dict.fromkeys(i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"))


def _identity(fn) -> dict:
    """What fn's free variables and globals are bound to: numbers and strings by value, objects by id."""
    plain = (int, float, str, bool, type(None))
    return {k: v if isinstance(v, plain) else id(v) for k, v in _referenced(fn).items()}


def _executor(graph, arena: bool, arrays: list):
    """Executor, or ArenaExecutor for arena=True on a numpy inference graph (else a warning and Executor)."""
    why = "its inputs are not numpy arrays (the arena is numpy memory)"
    try:
        if arena and all(type(a) is np.ndarray for a in arrays):
            return ArenaExecutor(graph)
    except ValueError as e:  # a training graph
        why = str(e)
    if arena:
        warnings.warn(f"dslib.compile(arena=True): replaying with the plain Executor: {why}", stacklevel=3)
    return Executor(graph)


class _Entry:
    def __init__(self, graph, tracer, fn, executor):
        self.graph = graph
        self.fn, self.env = fn, _identity(fn)  # a rebound closure variable or global (opt = SGD(...)) is a miss
        self.executor = executor
        self.params = [(n.value, n.meta, n.name, n.value.requires_grad) for n in graph.nodes if n.kind == "param"]
        self.consts = tracer.guards
        self.modes = [(m, m.training) for m in tracer.modules.values()]
        self.training = any(n.kind == "backward" for n in graph.nodes)  # (captured with grad mode on)

    def stale(self) -> str | None:
        """Why this graph no longer matches its parameters, modules or constants (None when it does)."""
        for t, m, name, rg in self.params:
            if meta_of(t._data) != m:
                return f"parameter %{name} is now {meta_of(t._data)}, captured as {m}"
            if t.requires_grad != rg:
                return f"parameter %{name} has requires_grad={t.requires_grad} now, captured with {rg}"
        if _identity(self.fn) != self.env:
            changed = [k for k, v in _identity(self.fn).items() if self.env.get(k, v) != v]
            return f"{', '.join(changed) or 'a closure variable'} was rebound since capture (its value is baked in)"
        if self.training and not is_grad_enabled():
            return "a training step captured with grad mode on is called under no_grad()"
        for m, training in self.modes:
            if m.training != training:
                return f"{type(m).__name__} was switched to {'train' if m.training else 'eval'} mode since capture"
        for t, array, version in self.consts:
            if t._data is not array or t._vc[0] != version:
                return f"a tensor baked in as a constant (shape {tuple(array.shape)}) was changed since capture"
        return None


class CompiledFunction:
    def __init__(self, fn, recapture=True, passes=None, max_graphs=8, arena=False):
        if not callable(fn):
            raise TypeError(f"dslib.compile expects a function or an nn.Module, got {type(fn).__name__}")
        self.fn = fn
        self.module = fn if isinstance(fn, Module) else getattr(fn, "__self__", None)
        if not isinstance(self.module, Module):
            self.module = None
        self.recapture = recapture
        self.passes = DEFAULT_PASSES if passes is None else tuple(passes)
        self.max_graphs, self.arena = max_graphs, arena
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
        amp = tuple(sorted(autocast_mode.state.dtypes.items()))
        return _spec(args), _spec(kwargs), flags, amp

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
        owners = {"": self.module} if self.module is not None else _referenced(self.fn)
        owners = {k: v for k, v in owners.items() if isinstance(v, Module)}
        for prefix, module in owners.items():
            for name, t in list(module.named_parameters()) + list(module.named_buffers()):
                names.setdefault(id(t._data), (f"{prefix}.{name}" if prefix else name, t))
        graph, out, tracer = capture(self.fn, args, kwargs, names)
        for p in self.passes:
            _run_pass(p, graph)
        graph.renumber()
        executor = _executor(graph, self.arena, _tensors((args, kwargs), []))
        self.entries[key] = _Entry(graph, tracer, self.fn, executor)
        self.last_key = key
        return out


def compile(fn=None, *, recapture=True, passes=None, max_graphs=8, arena=False):  # noqa: A001 - mirrors torch.compile
    """Compile `fn` (a function or nn.Module) into a captured, optimized graph; usable as a decorator.

    recapture: on a guard miss capture a new graph (True) or raise GuardError (False).
    passes: graph passes to run after capture (default: DCE, CSE, constant folding, elementwise fusion);
    pass () to replay the graph as captured.
    arena: replay inference graphs out of one planned arena (ArenaExecutor); see the module docstring."""
    if fn is None:
        return lambda f: CompiledFunction(f, recapture, passes, max_graphs, arena)
    return CompiledFunction(fn, recapture, passes, max_graphs, arena)
