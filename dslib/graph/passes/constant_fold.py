"""Constant folding: a node whose inputs are all constants is computed once, now, and becomes a constant.

Parameters and inputs are never constants (they are read at every call), so only work on values fixed at
capture folds: arithmetic on numbers, on tensors created inside the function, masks built from shapes.
Effects (`node.effect`) never fold: they must run at every call.
"""

from __future__ import annotations

from ..executor import run_node
from ..ir import Graph


def constant_fold(graph: Graph) -> int:
    folded = 0
    for n in graph.nodes:
        srcs = n.inputs()
        if n.kind in ("op", "call", "fused") and not n.effect and srcs and all(s.kind == "const" for s in srcs):
            n.value = run_node(n, {s: s.value for s in srcs})
            n.kind, n.target, n.args, n.kwargs = "const", None, (), {}
            n.name = "k" + n.name
            folded += 1
    return folded
