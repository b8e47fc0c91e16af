"""Replay a captured `Graph`: run each node's backend kernel on raw arrays, with no autograd bookkeeping.

An `op` node calls its Function's `forward(ctx, *arrays)` directly (a throwaway ctx that wants no
gradient, so forwards save nothing), skipping the api layer's checks, type promotion, Tensor wrappers
and graph recording that eager mode pays on every op. Each intermediate array is dropped after its last
reader, so replay holds no more memory than eager mode does.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Context
from ..backend import backend_of
from ..tensor import Tensor
from .ir import Graph, substitute, walk


def run_node(node, arrays: dict):
    """The array one op/call/fused node computes from `arrays` (node -> array of every node it reads)."""
    if node.kind == "fused":
        return node.target(*[arrays[n] for n in node.args])
    if node.kind == "call":
        wrap = lambda n: Tensor._make(arrays[n])  # noqa: E731
        return node.target(*substitute(node.args, wrap), **substitute(node.kwargs, wrap))._data
    get = arrays.__getitem__
    args = substitute(node.args, get)
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
            for src in n.inputs():
                last[src] = i
        kept: set = set()  # the outputs: never freed
        walk(graph.outputs, kept.add)
        self.free_after = [[] for _ in graph.nodes]  # node index -> nodes whose last reader it is
        for src, i in last.items():
            if src not in kept and order[src] < i:
                self.free_after[i].append(src)
        self.inputs = [n for n in graph.nodes if n.kind == "input"]

    def __call__(self, input_arrays: list):
        env: dict = dict(zip(self.inputs, input_arrays))
        for i, node in enumerate(self.graph.nodes):
            kind = node.kind
            if kind == "param":
                env[node] = node.value._data  # read live: an optimizer step between calls is seen
            elif kind == "const":
                env[node] = node.value
            elif kind != "input":
                env[node] = run_node(node, env)
            for dead in self.free_after[i]:
                del env[dead]
        return substitute(self.graph.outputs, lambda n: Tensor._make(env[n]))
