"""dslib.profiler.profile: records every dslib op and module call with wall time, FLOPs, bytes moved and memory.

    import dslib
    with dslib.profiler.profile(record_shapes=True, profile_memory=True, with_modules=True) as prof:
        model(x).sum().backward()
    print(prof.key_averages().table(sort_by="self_time", row_limit=10))
    prof.export_chrome_trace("trace.json")  # open in https://ui.perfetto.dev or chrome://tracing
    print(prof.find_redundancy())

How: while the `with` block runs, and only then, the profiler swaps timed wrappers in for the entry points every
op goes through: `autograd.Function.apply` (each forward op), `FunctionNode.apply` and `AccumulateGrad.apply`
(each backward op the engine runs) and, with with_modules=True, `nn.Module.__call__` (the module stack). On exit
it puts the very same objects back, even when the block raises. `autograd._op_observers` is not enough: it is
called after an op (no start time) and the backward engine calls no observer. Swapping the entry points only
while active makes the zero-overhead guarantee structural: a program that imports the profiler but is not
profiling runs exactly the code it would run without it. The time the profiler spends on its own bookkeeping is
taken off the clock, so module times do not include it. Only the thread that entered the block is recorded, and
one profile records at a time (a second one raises).

Compiled graphs (dslib.compile): a replay records one event per executed node instead of eager ops, named by the
node's op_name ("conv2d", "fused[mul, add, relu]", "conv2d.backward", "sgd.step"), with the node's phase
("forward", "backward", "update") as the category and its kind (op, fused, backward, effect) as `type`; bytes
moved = its array inputs + outputs; no FLOPs. See Executor.__call__ (dslib/graph/executor.py).

Counts: FLOPs follow dslib.utils.flops (a multiply-add is 2 FLOPs). The backward op of a matmul-like op (matmul,
linear, conv2d, einsum) counts 2 x its forward multiply-adds per input gradient it computes (each is one matmul of
the same size); other backward ops count 0. Bytes moved = nbytes of the tensor inputs + the output; a view (an
output sharing its input's memory) moves and allocates nothing. Memory (profile_memory=True) = bytes of the
newly allocated outputs.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from dataclasses import dataclass

from .. import autograd, dtypes
from ..nn.module import Module
from ..tensor import Tensor
from ..utils import flops as _flops
from . import redundancy, trace
from .averages import KeyAverages, key_averages

_active = None  # the profile recording now: the entry points it swaps are global, so one at a time


@dataclass(eq=False, slots=True)
class Event:
    """One op call, backward op or module call. Times are ns since the profile began (bookkeeping excluded)."""

    name: str  # op class (MatMul), backward node (MatMulBackward) or module path (MLP.fc1)
    cat: str  # "op", "backward" or "module"; a replayed graph node: its phase, "forward"/"backward"/"update"
    start: int
    end: int = 0
    module: str = ""  # path of the innermost module the event ran in ("" = none)
    type: str = ""  # a module's class name
    shapes: tuple | None = None  # input tensor shapes (record_shapes=True)
    dtypes: tuple | None = None
    flops: int = 0
    matmul: bool = False  # a matmul-like op: matrix work
    nbytes: int = 0  # bytes moved: tensor inputs + outputs
    alloc: int = 0  # bytes of newly allocated outputs (profile_memory=True)
    child: int = 0  # ns spent in nested events (modules)
    dup_of: int | None = None  # redundancy: index of the earlier event that computed the same value
    needless: str | None = None  # redundancy: why this op is a needless transpose or copy

    @property
    def dur(self) -> int:
        return self.end - self.start

    @property
    def self_time(self) -> int:
        return self.end - self.start - self.child


class profile:  # noqa: N801 - mirrors torch.profiler.profile
    """Context manager recording dslib ops; see the module docstring. Single use: one `with` block each."""

    def __init__(self, record_shapes: bool = False, profile_memory: bool = False, with_modules: bool = False):
        for name, v in (("record_shapes", record_shapes), ("profile_memory", profile_memory)):
            if not isinstance(v, bool):
                raise TypeError(f"profile: {name} must be True or False, got {v!r}")
        if not isinstance(with_modules, bool):
            raise TypeError(f"profile: with_modules must be True or False, got {with_modules!r}")
        self.record_shapes, self.profile_memory, self.with_modules = record_shapes, profile_memory, with_modules
        self.events: list[Event] = []
        self._state = "new"
        self._originals = []

    # ----- recording -----
    def __enter__(self):
        global _active
        if self._state != "new":
            raise RuntimeError("profile: this profile was already used; create a new dslib.profiler.profile()")
        if _active is not None:
            raise RuntimeError(
                "profile: another dslib.profiler.profile is already recording (nested, or in another thread); "
                "only one can record at a time: exit it first, or profile both regions with one profile"
            )
        self._tid = threading.get_ident()
        self._stack: list[tuple[Event, Module]] = []  # open module calls, innermost last
        self._names: dict = {}  # (parent path, id(module)) -> path
        self._node_macs = weakref.WeakKeyDictionary()  # backward node -> its forward op's multiply-adds
        self._values = redundancy.ValueTracker()
        self._lost = 0  # ns of bookkeeping, taken off the clock
        self._t0 = time.perf_counter_ns()
        _active, self._state = self, "recording"
        self._install()
        return self

    def __exit__(self, *exc):
        global _active
        for owner, name, original in self._originals:
            setattr(owner, name, original)
        self._originals = []
        _active, self._state = None, "done"
        self._stack, self._node_macs = [], None
        return False

    def _now(self) -> int:
        return time.perf_counter_ns() - self._t0 - self._lost

    def _install(self):
        points = [(autograd.Function, "apply", _timed_forward), (autograd.FunctionNode, "apply", _timed_backward)]
        points.append((autograd.AccumulateGrad, "apply", _timed_backward))
        if self.with_modules:
            points.append((Module, "__call__", _timed_call))
        for owner, name, wrap in points:
            original = owner.__dict__[name]
            self._originals.append((owner, name, original))
            setattr(owner, name, wrap(self, original))

    def _record(self, ev: Event, began: int):
        self.events.append(ev)
        if self._stack:
            self._stack[-1][0].child += ev.end - ev.start
        self._lost += time.perf_counter_ns() - began

    def _record_op(self, cls, args, kwargs, result, t0, t1, began):
        tensors = [a for a in args if isinstance(a, Tensor)]
        ev = Event(cls.__name__, "op", t0, t1, self._stack[-1][0].name if self._stack else "")
        rule = _flops._rule(cls.__name__)
        if rule is not None:
            _, fn, is_mac = rule
            if is_mac:
                macs, other = fn(args, result)
                ev.flops, ev.matmul = 2 * int(macs) + int(other), True
                if result.grad_fn is not None:
                    self._node_macs[result.grad_fn] = int(macs)
            else:
                ev.flops = int(fn(args, result))
        out_bytes = 0 if result._view is not None else int(result._data.nbytes)
        ev.nbytes = (sum(int(t._data.nbytes) for t in tensors) + out_bytes) if out_bytes else 0
        ev.alloc = out_bytes if self.profile_memory else 0
        if self.record_shapes:
            ev.shapes, ev.dtypes = tuple(t.shape for t in tensors), tuple(str(t.dtype) for t in tensors)
        self._values.observe(ev, len(self.events), cls, args, kwargs, result)
        self._record(ev, began)

    def _record_backward(self, node, grad, grads, t0, t1, began):
        ev = Event(node.name, "backward", t0, t1, module=self._stack[-1][0].name if self._stack else "")
        macs = self._node_macs.get(node) if isinstance(node, autograd.FunctionNode) else None
        if macs:
            needs = node.ctx.needs_input_grad
            n_grads = sum(map(bool, needs if node.fn.__name__ == "Einsum" else needs[:2]))
            ev.flops, ev.matmul = 2 * macs * n_grads, True
        new = [g for g in grads if g is not None and g is not grad]
        out_bytes = sum(int(g.nbytes) for g in new) if grads else int(grad.nbytes)  # AccumulateGrad: a new .grad
        ev.nbytes = int(grad.nbytes) + out_bytes
        ev.alloc = out_bytes if self.profile_memory else 0
        if self.record_shapes:
            ev.shapes, ev.dtypes = (tuple(grad.shape),), (str(dtypes.from_raw(grad.dtype)),)
        self._record(ev, began)

    def _open_module(self, module, start: int) -> Event:
        parent = self._stack[-1] if self._stack else None
        key = (parent[0].name if parent else "", id(module))
        path = self._names.get(key)
        if path is None:
            child = next((n for n, m in parent[1]._modules.items() if m is module), None) if parent else None
            path = f"{key[0]}.{child or type(module).__name__}" if parent else type(module).__name__
            self._names[key] = path
        ev = Event(path, "module", start, module=key[0], type=type(module).__name__)
        self._stack.append((ev, module))
        return ev

    def _close_module(self, ev: Event):
        ev.end = self._now()
        began = time.perf_counter_ns()
        while self._stack and self._stack[-1][0] is not ev:  # a frame left open by an exception
            self._stack.pop()
        if self._stack:
            self._stack.pop()
        self._record(ev, began)

    @contextlib.contextmanager
    def replaying(self):
        """While a compiled graph replays: its nodes are recorded by _record_node, the eager wrappers pause."""
        self._state = "replaying"
        try:
            yield
        finally:
            self._state = "recording"

    def _record_node(self, node, env: dict, t0: int):
        """One event for a replayed graph node (dslib/graph/executor.py), category = its phase."""
        if node.kind in _NOT_RUN:
            return
        t1, began = self._now(), time.perf_counter_ns()
        ev = Event(node.op_name, node.phase, t0, t1, self._stack[-1][0].name if self._stack else "", node.kind)
        ins = [v for v in map(env.get, node.value_inputs()) if hasattr(v, "nbytes")]
        out = env.get(node)
        outs = out if isinstance(out, (tuple, list)) else (out,)  # a backward node: its input gradients
        out_bytes = sum(int(a.nbytes) for a in outs if hasattr(a, "nbytes"))
        ev.nbytes = sum(int(a.nbytes) for a in ins) + out_bytes
        ev.alloc = out_bytes if self.profile_memory else 0
        if self.record_shapes:
            ev.shapes, ev.dtypes = tuple(tuple(a.shape) for a in ins), tuple(str(dtypes.from_raw(a.dtype)) for a in ins)
        self._record(ev, began)

    # ----- results -----
    def _check_done(self, what: str):
        if self._state != "done":
            raise RuntimeError(f"profile.{what}: call it after the `with profile() as prof:` block has ended")

    def key_averages(self, group_by_input_shape: bool = False) -> KeyAverages:
        """Events grouped by name (and input shapes): calls, total and self time, FLOPs, bytes, memory."""
        self._check_done("key_averages()")
        if group_by_input_shape and not self.record_shapes:
            raise ValueError("key_averages(group_by_input_shape=True) needs profile(record_shapes=True)")
        return key_averages(self.events, group_by_input_shape)

    def export_chrome_trace(self, path) -> None:
        """Write the events as Chrome trace JSON (chrome://tracing, ui.perfetto.dev), atomically."""
        self._check_done("export_chrome_trace()")
        trace.write_json_atomic(path, trace.chrome_trace(self.events, self._tid))

    def find_redundancy(self) -> redundancy.RedundancyReport:
        """Ops recomputed on the same inputs, and needless transposes / copies (see dslib.profiler.redundancy)."""
        self._check_done("find_redundancy()")
        return redundancy.find(self.events, self._values)


_NOT_RUN = ("input", "param", "const", "getitem")  # graph nodes a replay only reads or indexes: no event


def replay_recorder() -> profile | None:
    """The profile recording this thread, or None: an Executor replay records its nodes into it."""
    p = _active
    return p if p is not None and p._state == "recording" and p._tid == threading.get_ident() else None


def _timed_forward(prof: profile, original: classmethod) -> classmethod:
    apply = original.__func__

    def timed_apply(cls, *args, **kwargs):
        if threading.get_ident() != prof._tid or prof._state != "recording":
            return apply(cls, *args, **kwargs)
        t0 = prof._now()
        result = apply(cls, *args, **kwargs)
        t1 = prof._now()
        prof._record_op(cls, args, kwargs, result, t0, t1, time.perf_counter_ns())
        return result

    return classmethod(timed_apply)


def _timed_backward(prof: profile, apply):
    def timed_node_apply(node, grad, retain_graph):
        if threading.get_ident() != prof._tid or prof._state != "recording":
            return apply(node, grad, retain_graph)
        t0 = prof._now()
        grads = apply(node, grad, retain_graph)
        t1 = prof._now()
        prof._record_backward(node, grad, grads, t0, t1, time.perf_counter_ns())
        return grads

    return timed_node_apply


def _timed_call(prof: profile, call):
    def timed_call(module, *args, **kwargs):
        if threading.get_ident() != prof._tid or prof._state != "recording":
            return call(module, *args, **kwargs)
        began = time.perf_counter_ns()
        ev = prof._open_module(module, began - prof._t0 - prof._lost)
        prof._lost += time.perf_counter_ns() - began
        try:
            return call(module, *args, **kwargs)
        finally:
            if prof._state == "recording":
                prof._close_module(ev)

    return timed_call
