"""Training capture: record backward() and the optimizer update into the graph, the way eager mode runs them.

During capture, `loss.backward()` runs `record_backward` in place of `autograd.run_backward`: the same Kahn
walk over the same FunctionNodes in the same order, so replay calls the same kernels in the same order and
equals eager mode exactly. Every step runs eagerly (the first call's results) and is recorded:
  FunctionNode.apply    -> `backward` node: args (forward node, grad node, *saved nodes); value: the tuple of
                           input gradients, `_fit` to each input's shape and dtype (autograd.FunctionNode)
  one input's gradient  -> `getitem` node (backward node, i)
  prev + g              -> `op` node of elementwise.Add (fusion and CSE see gradient accumulation)
  AccumulateGrad.apply  -> `effect` node setgrad(%param, %grad): accumulates into the leaf's .grad
Optimizer.step / zero_grad, Module.zero_grad, LRScheduler.step and clip_grad_norm_ / clip_grad_value_ become
ordered `call` effects that run the real function at replay; an in-place update of a parameter, buffer or input (`num_batches_tracked.add_(1)`, a hand-written
`w -= lr * w.grad` under no_grad) becomes an `assign` effect, and `p.grad = None` a `cleargrad` effect. What a static graph cannot replay faithfully
raises GraphCaptureError saying what to do instead: tensor hooks, retain_graph, backward through the same
graph twice, GradScaler (its skip-on-overflow is a data-dependent Python branch).

Tested in tests/dslib/graph/test_training_capture.py:
    .venv/bin/pytest tests/dslib/graph/test_training_capture.py -q -p no:xdist
"""

from __future__ import annotations

import importlib

import numpy as np

from ..amp.grad_scaler import GradScaler
from ..autograd import AccumulateGrad, FunctionNode, count_dependencies
from ..nn.module import Module
from ..ops import elementwise as E
from ..optim.lr_scheduler import LRScheduler
from ..optim.optimizer import Optimizer
from ..tensor import Tensor
from .ir import Node, meta_of

_tensor_module = importlib.import_module("..tensor", __package__)  # (dslib.tensor is also the function)
_utils_module = importlib.import_module("..nn.utils", __package__)
_clip_module = importlib.import_module("..nn.utils.clip_grad", __package__)


class GraphCaptureError(RuntimeError):
    """The function does something a static graph cannot replay faithfully."""


class Effect:
    """The target of an `effect` node: `fn(obj, *arrays)` at replay. kind: setgrad, assign or call."""

    def __init__(self, kind: str, name: str, fn, obj):
        self.kind, self.__name__, self.fn, self.obj = kind, name, fn, obj

    def __call__(self, *args, **kwargs):
        return self.fn(self.obj, *args, **kwargs)


def setgrad(t: Tensor, _param, grad):
    """What AccumulateGrad does for leaf `t` (fit the gradient, store a copy or add it); returns the new .grad."""
    AccumulateGrad(t).apply(grad, False)
    return t.grad._data


def cleargrad(t: Tensor, _param):
    """`t.grad = None`."""
    t.grad = None


def assign(t: Tensor, _old, value):
    """Write `value` into `t` in place (as Tensor._inplace does) and bump its version."""
    b = t._backend
    b.setitem(t._data, Ellipsis, b.astype(value, t.dtype))
    t._vc[0] += 1


def _fail(what: str, fix: str):
    raise GraphCaptureError(f"dslib.compile: {what} during capture; a static graph cannot replay it. {fix}")


def _saved_nodes(tracer, ctx) -> list:
    """The graph values a Function's ctx holds for its backward (saved tensors and ctx attributes)."""
    found: dict = {}

    def visit(a, depth=0):
        if isinstance(a, (tuple, list)) and depth < 2:
            for x in a:
                visit(x, depth + 1)
        elif hasattr(a, "shape") and hasattr(a, "dtype"):
            hit = tracer.values.get(id(a))
            if hit is not None and hit[1] is a:
                found[hit[0]] = None

    visit(ctx.saved or ())
    visit(tuple(ctx.__dict__.values()))
    return list(found)


def _apply_function(tracer, fnode: FunctionNode, grad, gnode) -> list:
    """Run one FunctionNode eagerly and record it: a backward node and a getitem per gradient it sends on."""
    fwd = tracer.fn_nodes.get(fnode)
    if fwd is None:
        _fail(
            f"backward() reached {fnode.name}, an op computed before the compiled function was called",
            "Compute every value the loss depends on inside the compiled function, or .detach() it.",
        )
    if fnode.ctx.saved is None:
        _fail(
            f"backward() went through {fnode.name} a second time (its saved values are freed)",
            "Call backward() once per graph; retain_graph is not captured. Sum the losses first.",
        )
    saved = _saved_nodes(tracer, fnode.ctx)
    needs = fnode.ctx.needs_input_grad
    tracer.depth += 1  # (a backward that calls ops itself is one node: its ops are not recorded again)
    try:
        grads = fnode.apply(grad, False)  # eager: version checks, positions, frees ctx, _fit
    finally:
        tracer.depth -= 1
    metas = [None if g is None else meta_of(g) for g in grads]
    bnode = tracer.add_node(Node("backward", fnode.fn, (fwd, gnode, *saved), meta=metas))
    bnode.aux = (fnode.in_meta, fnode.positions)
    fwd.needs_grad = needs
    out = []
    for i, (g, child) in enumerate(zip(grads, fnode.next_edges)):
        if g is None or child is None:
            out.append((None, None))
        else:
            out.append((g, tracer.add_node(Node("getitem", None, (bnode, i), meta=metas[i]))))
    return out


def _apply_accumulate(tracer, acc: AccumulateGrad, grad, gnode) -> list:
    t = acc.tensor
    if t._hooks or t._post_hooks:
        _fail(
            f"a hook registered on a leaf tensor of shape {tuple(t.shape)} would run",
            "Remove the hook (handle.remove()) before compiling, or run this step eagerly.",
        )
    pnode = tracer.ref(t)
    tracer.depth += 1  # (its .grad assignment is this effect, not a `p.grad = ...` of the user's)
    try:
        acc.apply(grad, False)
    finally:
        tracer.depth -= 1
    node = tracer.add_node(Node("effect", Effect("setgrad", "setgrad", setgrad, t), (pnode, gnode)))
    node.meta = meta_of(t.grad._data)
    tracer.bind(t.grad._data, node, t.grad._vc)  # a later read of p.grad (clipping, logging) is this node
    return []


def record_backward(tracer, roots, grads, retain_graph=False):
    """autograd.run_backward for one root, run eagerly and recorded into the tracer's graph."""
    if retain_graph:
        _fail("backward(retain_graph=True) was called", "Call backward() once (sum the losses first).")
    (root,), (g,) = roots, grads
    start = root._edge()
    if start is None:
        raise RuntimeError(
            "element of tensors does not require grad and does not have a grad_fn: call "
            "backward() on a tensor computed from inputs with requires_grad=True"
        )
    tracer.phase = "backward"
    hit = tracer.values.get(id(g))
    gnode = hit[0] if hit is not None and hit[1] is g else tracer.const(g)
    buffers = {start: (g, gnode)}
    deps = count_dependencies([start])  # the same counts and ready stack as run_backward: the same order
    ready = [start] if deps.get(start, 0) == 0 else []
    while ready:
        node = ready.pop()
        grad, gnode = buffers.pop(node, (None, None))
        if isinstance(grad, np.generic):
            grad = np.asarray(grad)
        if grad is not None and node.pre_hooks:
            _fail(
                f"a hook on a non-leaf tensor (register_hook or retain_grad, at {node.name}) would run",
                "Remove the hook, or read the gradient after the compiled call from a leaf's .grad.",
            )
        if grad is None:
            child_grads = []
        elif isinstance(node, AccumulateGrad):
            child_grads = _apply_accumulate(tracer, node, grad, gnode)
        else:
            child_grads = _apply_function(tracer, node, grad, gnode)
        for i, child in enumerate(node.next_edges):
            if child is None:
                continue
            cg, cnode = child_grads[i] if i < len(child_grads) else (None, None)
            if cg is not None:
                prev = buffers.get(child)
                if prev is None:
                    buffers[child] = (cg, cnode)
                else:  # gradient accumulation: an Add op, as eager's `prev + g`
                    total = prev[0] + cg
                    add = Node("op", E.Add, (prev[1], cnode), meta=meta_of(total))
                    buffers[child] = (total, tracer.add_node(add, total))
            deps[child] -= 1
            if deps[child] == 0:
                ready.append(child)
    tracer.phase = "update"


def _effect_call(tracer, fn, name: str):
    """Wrap a method (optimizer.step, zero_grad, scheduler.step) to run eagerly and record a `call` effect."""

    def wrapper(self, *args, **kwargs):
        if tracer.depth:
            return fn(self, *args, **kwargs)
        if any(isinstance(a, Tensor) or callable(a) for a in list(args) + list(kwargs.values())):
            _fail(
                f"{type(self).__name__}.{name}() was called with a tensor or a closure argument",
                "Call it without tensor/closure arguments inside the compiled function.",
            )
        tracer.check_writes()  # (before this call's own updates are accepted)
        node = Node("effect", Effect("call", f"{type(self).__name__}.{name}", fn, self), args, kwargs)
        tracer.add_node(node).phase = "update"
        tracer.depth += 1
        try:
            return fn(self, *args, **kwargs)
        finally:
            tracer.depth -= 1
            tracer.resync()  # its in-place updates are replayed in order, so later reads are fine

    return wrapper


def _clip_call(tracer, fn):
    """clip_grad_norm_ / clip_grad_value_ (they scale the .grad arrays in place) as a `call` effect."""

    def run(params, *args, **kwargs):
        out = fn(params, *args, **kwargs)
        return out._data if isinstance(out, Tensor) else out

    def wrapper(parameters, *args, **kwargs):
        if tracer.depth:
            return fn(parameters, *args, **kwargs)
        params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
        tracer.check_writes()
        node = tracer.add_node(Node("effect", Effect("call", fn.__name__, run, params), args, kwargs))
        tracer.depth += 1
        try:
            out = fn(params, *args, **kwargs)
        finally:
            tracer.depth -= 1
            tracer.resync()
        if isinstance(out, Tensor):  # the total norm: a value later ops may read
            node.meta = meta_of(out._data)
            tracer.bind(out._data, node, out._vc)
        return out

    return wrapper


def _inplace(tracer, orig):
    """Tensor._inplace recording an `assign` effect when it writes into a parameter, buffer or input."""

    def wrapper(self, fn, *args, op="in-place op"):
        if tracer.depth:
            return orig(self, fn, *args, op=op)
        box = []
        out = orig(self, lambda *a: box.append(fn(*a)) or box[-1], *args, op=op)
        hit = tracer.values.get(id(self._data))
        if hit is not None and hit[0].kind in ("param", "input", "effect"):  # (effect: a .grad)
            node = Node("effect", Effect("assign", "assign", assign, self), (hit[0], tracer.ref(box[0])))
            node.phase = tracer.phase
            tracer.add_node(node)
            tracer.resync([self])
        return out

    return wrapper


def _grad_property(tracer, slot):
    """Tensor.grad as a property that records `p.grad = None` (a `cleargrad` effect) outside effects."""

    def set_grad(self, value):
        if not tracer.depth:
            try:
                slot.__get__(self, Tensor)
            except AttributeError:  # a Tensor being created (_init): nothing to record
                slot.__set__(self, value)
                return
            if value is not None:
                _fail(
                    f"a tensor's .grad (shape {tuple(self.shape)}) was assigned",
                    "Let backward() write gradients; clear them with optimizer.zero_grad() or p.grad = None.",
                )
            if self.is_leaf and self.requires_grad:
                node = Node("effect", Effect("cleargrad", "cleargrad", cleargrad, self), (tracer.ref(self),))
                tracer.add_node(node)
        slot.__set__(self, value)

    return property(lambda self: slot.__get__(self, Tensor), set_grad)


def _refuse(what: str, fix: str, fn, enabled=lambda self: True):
    def wrapper(self, *args, **kwargs):
        if enabled(self):
            _fail(what, fix)
        return fn(self, *args, **kwargs)

    return wrapper


def training_patches(tracer) -> list:
    """(owner, attribute, replacement) for every hook training capture installs (undone after capture)."""
    patches = [(_tensor_module, "run_backward", lambda roots, grads, retain_graph=False: record_backward(
        tracer, roots, grads, retain_graph))]  # fmt: skip
    patches.append((Tensor, "_inplace", _inplace(tracer, Tensor._inplace)))
    patches.append((Tensor, "grad", _grad_property(tracer, Tensor.__dict__["grad"])))
    for owner, name in ((Optimizer, "step"), (Optimizer, "zero_grad"), (LRScheduler, "step"), (Module, "zero_grad")):
        patches.append((owner, name, _effect_call(tracer, owner.__dict__[name], name)))
    for owner in (_clip_module, _utils_module):
        for name in ("clip_grad_norm_", "clip_grad_value_"):
            patches.append((owner, name, _clip_call(tracer, _clip_module.__dict__[name])))
    fix = "Compile the step without GradScaler (autocast alone is captured), or run it eagerly."
    for name in ("scale", "unscale_"):
        what = f"GradScaler.{name}() was called (its skip-on-inf/nan step is a data-dependent Python branch)"
        patches.append((GradScaler, name, _refuse(what, fix, GradScaler.__dict__[name], lambda s: s._enabled)))
    return patches
