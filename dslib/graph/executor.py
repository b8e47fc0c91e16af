"""Replay a captured `Graph`: run each node's backend kernel on raw arrays, with no autograd bookkeeping.

An `op` node calls its Function's `forward(ctx, *arrays)` directly, skipping the api layer's checks, type
promotion, Tensor wrappers and graph recording that eager mode pays on every op. In an inference graph the
ctx wants no gradient, so forwards save nothing. In a training graph an op whose gradient is recorded gets
a ctx with its captured `needs_grad`; its `backward` node runs the Function's backward on that ctx exactly as
autograd's FunctionNode.apply does (positions, `_fit`), then drops the ctx. Effects run in order. Each
intermediate array is dropped after its last reader, so replay holds no more memory than eager mode does.

Profiling: inside `with dslib.profiler.profile() as prof:` a replay records one event per executed node (not
inputs, params, consts, getitems): its op_name (conv2d, fused[mul, add, relu], conv2d.backward, sgd.step), its
phase (forward/backward/update) as the category, wall time, bytes. The eager op wrappers are paused during the
replay, so nothing is counted twice. Without a profile the loop pays two `if`s per node.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Context, FunctionNode
from ..backend import backend_of
from ..profiler.profile import replay_recorder
from ..tensor import Tensor
from .ir import Graph, substitute, walk


def run_node(node, arrays: dict, ctx=None):
    """The array one op/call/fused node computes from `arrays` (node -> array of every node it reads)."""
    if node.kind == "fused":
        return node.target(*[arrays[n] for n in node.args])
    if node.kind == "call":
        wrap = lambda n: Tensor._make(arrays[n])  # noqa: E731
        return node.target(*substitute(node.args, wrap), **substitute(node.kwargs, wrap))._data
    get = arrays.__getitem__
    args = substitute(node.args, get)
    if ctx is None:
        ctx = Context()
        ctx.needs_input_grad = (False,) * len(args)
    out = node.target.forward(ctx, *args, **substitute(node.kwargs, get))
    if type(out) is not np.ndarray and not hasattr(out, "shape"):  # a NumPy scalar or a Python number
        first = next((a for a in args if hasattr(a, "shape")), None)
        out = np.asarray(out) if first is None else backend_of(first).asarray(out)
    return out


class Executor:
    """A graph prepared for replay: `executor(input_arrays)` returns the output template filled with Tensors."""

    def __init__(self, graph: Graph):
        self.graph = graph
        order = {n: i for i, n in enumerate(graph.nodes)}
        last: dict = {}
        for i, n in enumerate(graph.nodes):
            for src in n.value_inputs():
                last[src] = i
        # ops whose ctx a backward node uses: run with their captured needs_grad, ctx kept until then
        self.keeps_ctx = {n.args[0] for n in graph.nodes if n.kind == "backward"}
        kept: set = set()  # the outputs: never freed
        walk(graph.outputs, kept.add)
        self.free_after = [[] for _ in graph.nodes]  # node index -> nodes whose last reader it is
        for src, i in last.items():
            if src not in kept and order[src] < i:
                self.free_after[i].append(src)
        for i, n in enumerate(graph.nodes):  # a value nobody reads (an effect's result) goes at once
            if n not in last and n not in kept and n.kind not in ("input", "param", "const"):
                self.free_after[i].append(n)
        self.inputs = [n for n in graph.nodes if n.kind == "input"]
        from .passes import remat  # (here: the passes import this module)

        self.remat = remat.recomputed(graph)  # fwd op -> [(saved node, its recompute node)]: swapped in its ctx
        self._release, self._refill = remat.release, remat.refill

    def __call__(self, input_arrays: list):
        prof = replay_recorder()  # the profile recording this thread, else None
        if prof is None:
            return self._run(input_arrays, None)
        with prof.replaying():
            return self._run(input_arrays, prof)

    def _run(self, input_arrays: list, prof):
        env: dict = dict(zip(self.inputs, input_arrays))
        ctxs: dict = {}  # op node -> its ctx, until its backward node runs
        slots: dict = {}  # op node -> where its ctx held each rematerialized value (passes/remat.py)
        for i, node in enumerate(self.graph.nodes):
            kind = node.kind
            if prof:
                t0 = prof._now()
            if kind == "param":
                env[node] = node.value._data  # read live: an optimizer step between calls is seen
            elif kind == "const":
                env[node] = node.value
            elif kind == "op" and node in self.keeps_ctx:
                ctx = ctxs[node] = Context()
                ctx.needs_input_grad = node.needs_grad
                env[node] = run_node(node, env, ctx)
                if node in self.remat:  # rematerialized saved values: the ctx lets go of them until backward
                    slots[node] = [self._release(ctx, env[orig]) for orig, _ in self.remat[node]]
            elif kind == "backward":
                in_meta, positions = node.aux
                ctx = ctxs.pop(node.args[0])
                for where, (_, copy) in zip(slots.pop(node.args[0], ()), self.remat.get(node.args[0], ())):
                    self._refill(ctx, where, env[copy])
                fn = FunctionNode(node.target, ctx, (), in_meta, positions)
                env[node] = fn.apply(env[node.args[1]], False)
            elif kind == "getitem":
                env[node] = env[node.args[0]][node.args[1]]
            elif kind == "effect":
                get = env.__getitem__
                env[node] = node.target(*substitute(node.args, get), **substitute(node.kwargs, get))
            elif kind != "input":
                env[node] = run_node(node, env)
            if prof:
                prof._record_node(node, env, t0)
            for dead in self.free_after[i]:
                del env[dead]
        return substitute(self.graph.outputs, lambda n: Tensor._make(env[n]))
