"""Elementwise fusion: a chain or tree of elementwise ops, with the reductions it feeds or reads, becomes one
`fused` node that `graph/kernels.py` runs as one kernel (numexpr on NumPy, blocked `out=` calls on torch).

Unfused, each op of `((x * a + b).relu() - c) / d` reads its inputs from memory and writes its result back;
fused, the big arrays are read once and the result written once (intermediates stay in cache).

Groups are grown backwards from a result (the group's root): a node joins the group of its readers when
every reader is in that one group and it is not returned, so no fused value is needed outside its kernel.
Trees, several inputs and shared subexpressions (`e = x.exp(); e / e.sum(-1, keepdim=True)`: softmax) fuse.
The kernel cuts blocks along dim 0, so a member other than the root must keep the root's dim 0 (same ndim
and size): a reduction inside a group reduces other dims with keepdim; only the root may reduce dim 0 (a
prologue: `(x * y + z).sum()`). Never fused: effect nodes, ops whose ctx a backward node needs (captured
with gradients), and every kind of node other than `op`.

    .venv/bin/pytest tests/dslib/graph/test_fusion.py -q
"""

from __future__ import annotations

from ...ops import elementwise as E
from ..ir import Graph, Node, walk
from ..kernels import BLOCK, REDUCTIONS, FusedKernel, In

ELEMENTWISE = {
    E.Add, E.Sub, E.RSub, E.Mul, E.Div, E.RDiv, E.Neg, E.Pow, E.Exp, E.Log, E.Log1p, E.Sqrt, E.Rsqrt, E.Abs,
    E.Sin, E.Cos, E.Tanh, E.Sigmoid, E.Relu, E.Silu, E.Gelu, E.Softplus, E.Clamp, E.Maximum, E.Minimum, E.Where,
}  # fmt: skip
__all__ = ["BLOCK", "ELEMENTWISE", "fuse_elementwise"]


def _fusible(n: Node) -> bool:
    return (
        n.kind == "op"
        and (n.target in ELEMENTWISE or n.target in REDUCTIONS)
        and not getattr(n, "effect", False)
        and getattr(n, "needs_grad", None) is None  # else its ctx is kept for a backward node
        and isinstance(n.meta, tuple)
        and "float" in n.meta[1]
        and not any(isinstance(v, Node) for v in n.kwargs.values())
    )


class _Group:
    def __init__(self, root: Node):
        self.root, self.members = root, [root]
        src = root.args[0] if root.target in REDUCTIONS else root
        self.domain = src.meta[0] if isinstance(src, Node) else root.meta[0]  # the shape the kernel blocks

    def admits(self, n: Node) -> bool:
        """n keeps the domain's dim 0 (so blocks line up) and the root's dtype."""
        shape, d = n.meta[0], self.domain
        reduces0 = n.target in REDUCTIONS and 0 in n.args[1]
        return n.meta[1] == self.root.meta[1] and len(shape) == len(d) > 0 and shape[0] == d[0] and not reduces0


def _groups(graph: Graph) -> list:
    readers: dict = {}
    for n in graph.nodes:
        for src in dict.fromkeys(n.inputs()):
            readers.setdefault(src, []).append(n)
    outs: set = set()
    walk(graph.outputs, outs.add)
    group_of: dict = {}
    for n in reversed(graph.nodes):
        if not _fusible(n):
            continue
        users = readers.get(n, [])
        g = group_of.get(users[0]) if users and n not in outs else None
        if g is None or any(group_of.get(u) is not g for u in users) or not g.admits(n):
            g = _Group(n)
        else:
            g.members.append(n)
        group_of[n] = g
    return [g for g in dict.fromkeys(group_of.values()) if len(g.members) > 1]


def fuse_elementwise(graph: Graph) -> int:
    """Replace each group of two or more fusible nodes by one `fused` node; return the number of groups."""
    order = {n: i for i, n in enumerate(graph.nodes)}
    replaced: dict = {}
    groups = _groups(graph)
    for g in groups:
        members = sorted(g.members, key=order.__getitem__)
        inputs: list = []
        local: dict = {}
        for m in members:
            args = []
            for a in m.args:
                if not isinstance(a, Node):
                    args.append(a)  # a literal: a number, a reduction's dims
                elif a in local:
                    args.append(local[a])
                else:
                    inputs.append(a) if a not in inputs else None
                    args.append(In(inputs.index(a)))
            local[m] = Node("op", m.target, tuple(args), m.kwargs, m.meta, m.name)
        kernel = FusedKernel([local[m] for m in members], g.domain)
        replaced[g.root] = fused = Node("fused", kernel, tuple(inputs), None, g.root.meta, g.root.name)
        fused.phase = getattr(g.root, "phase", None)
        replaced.update({m: None for m in members if m is not g.root})
    graph.nodes = [replaced.get(n, n) for n in graph.nodes if replaced.get(n, n) is not None]
    graph.replace_uses({k: v for k, v in replaced.items() if v is not None})
    return len(groups)
