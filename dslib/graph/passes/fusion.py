"""Elementwise fusion: a chain (or tree) of elementwise ops becomes one `fused` node, one kernel.

Unfused, each op of `((x * a + b).relu() - c) / d` reads and writes the whole tensor: 8 ops over 4M floats
move ~8 x 32 MB through memory and allocate 8 fresh 16 MB arrays (page faults). The fused kernel walks the
output in cache-sized blocks along dim 0 and runs the whole chain on one block before the next, so every
intermediate stays in L2 cache and the big arrays are read once and written once. On NumPy the block ops
write into preallocated block buffers (`out=`); otherwise each op's own forward runs on the block. (numexpr,
which does the same in C, is not a dependency.)

A node joins its producer's group when the producer is elementwise, has this node as its only reader, and
has the same output shape and dtype (so blocks line up). Groups of two or more nodes are fused.
"""

from __future__ import annotations

import numpy as np

from ...autograd import Context
from ...ops import elementwise as E
from ..ir import Graph, Node, walk

ELEMENTWISE = {
    E.Add, E.Sub, E.RSub, E.Mul, E.Div, E.RDiv, E.Neg, E.Pow, E.Exp, E.Log, E.Log1p, E.Sqrt, E.Rsqrt, E.Abs,
    E.Sin, E.Cos, E.Tanh, E.Sigmoid, E.Relu, E.Silu, E.Gelu, E.Softplus, E.Clamp, E.Maximum, E.Minimum, E.Where,
}  # fmt: skip
# NumPy ufuncs equal to these ops' forwards, called with out= into a reused block buffer
_UFUNCS = {E.Add: np.add, E.Sub: np.subtract, E.Mul: np.multiply, E.Div: np.divide, E.Neg: np.negative,
           E.Exp: np.exp, E.Log: np.log, E.Sqrt: np.sqrt, E.Abs: np.abs, E.Sin: np.sin, E.Cos: np.cos,
           E.Tanh: np.tanh, E.Maximum: np.maximum, E.Minimum: np.minimum,
           E.Relu: lambda x, out: np.maximum(x, 0, out=out)}  # fmt: skip
BLOCK = 1 << 15  # elements per block: 128 KB of float32, so a few live blocks fit in L2


class _In:
    """A fused member's argument that is the kernel's i-th input array."""

    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i

    def __repr__(self):
        return f"in{self.i}"


class FusedKernel:
    """Runs `nodes` (elementwise, in order) on input arrays; member args are `_In(i)`, earlier members or numbers."""

    def __init__(self, nodes: list, meta):
        self.nodes = nodes
        self.meta = meta  # (shape, dtype name) of the result: every member has it

    def __call__(self, *arrays):
        shape = self.meta[0]
        numel = int(np.prod(shape)) if shape else 1
        if numel <= 2 * BLOCK or shape[0] == 1 or not all(isinstance(a, np.ndarray) for a in arrays):
            return self._run(arrays)[self.nodes[-1]]  # small, not blockable, or torch: torch's own kernels
        n0, nd = shape[0], len(shape)
        step = max(1, BLOCK // (numel // n0))
        out = np.empty(shape, dtype=self.meta[1])
        cut = [a.ndim == nd and a.shape[0] == n0 for a in arrays]  # inputs broadcast along dim 0 stay whole
        k, m, plan = len(arrays), len(self.nodes), None
        for s in range(0, n0, step):
            block = [a[s : s + step] if c else a for a, c in zip(arrays, cut)]
            dest = out[s : s + step]
            if plan is None or s + step > n0:  # the first block (it sizes the buffers) and a short last one
                vals = self._run(block)
                dest[...] = vals[self.nodes[-1]]
                plan = plan or self._plan(block, vals)
                continue
            slots = block + [None] * m + plan[1]
            for j, (fn, idx, buf) in enumerate(plan[0]):
                slots[k + j] = fn(*[slots[i] for i in idx], out=dest if buf is None else buf)
            if slots[k + m - 1] is not dest:
                dest[...] = slots[k + m - 1]
        return out

    def _run(self, arrays) -> dict:
        """Every member's value, each op's own forward (allocating its result)."""
        vals: dict = {}
        for node in self.nodes:
            args = [arrays[a.i] if isinstance(a, _In) else vals.get(a, a) for a in node.args]
            vals[node] = node.target.forward(_ctx(len(args)), *args, **node.kwargs)
        return vals

    def _plan(self, block, vals):
        """Per member (fn, argument slots, out buffer or None for the result block), and the numbers' slots.

        Slots: the k block inputs, then one per member, then the literal numbers. A member runs as a ufunc
        into its own preallocated buffer when it has one and every argument has the result's dtype."""
        k, m = len(block), len(self.nodes)
        where = {node: k + j for j, node in enumerate(self.nodes)}
        numbers, plan = [], []
        for j, node in enumerate(self.nodes):
            idx, arrays = [], []
            for a in node.args:
                if isinstance(a, _In):
                    idx.append(a.i)
                    arrays.append(block[a.i])
                elif isinstance(a, Node):
                    idx.append(where[a])
                    arrays.append(vals[a])
                else:
                    numbers.append(a)
                    idx.append(k + m + len(numbers) - 1)
            fn, v = _UFUNCS.get(node.target), vals[node]
            if fn is None or node.kwargs or not all(getattr(a, "dtype", None) == v.dtype for a in arrays + [v]):
                fn = _forward_fn(node)
            buf = None if j == m - 1 else np.empty(v.shape, v.dtype)
            plan.append((fn, idx, buf))
        return plan, numbers


def _ctx(n):
    ctx = Context()
    ctx.needs_input_grad = (False,) * n
    return ctx


def _forward_fn(node):
    def run(*args, out=None):  # allocates its result; `out` is ignored
        return node.target.forward(_ctx(len(args)), *args, **node.kwargs)

    return run


def _fusible(n: Node) -> bool:
    return (
        n.kind == "op"
        and n.target in ELEMENTWISE
        and "float" in n.meta[1]
        and all(not isinstance(v, Node) for v in n.kwargs.values())
    )


def fuse_elementwise(graph: Graph) -> int:
    users: dict = {}
    for n in graph.nodes:
        for src in dict.fromkeys(n.inputs()):
            users[src] = users.get(src, 0) + 1
    outs: set = set()
    walk(graph.outputs, outs.add)
    group: dict = {}  # node -> its group (a list of nodes in graph order)
    order = {m: i for i, m in enumerate(graph.nodes)}
    for n in graph.nodes:
        if not _fusible(n):
            continue
        members = [n]
        for src in dict.fromkeys(a for a in n.args if isinstance(a, Node)):
            if src in group and users[src] == 1 and src not in outs and src.meta == n.meta:
                members = group[src] + members
        members.sort(key=order.__getitem__)
        for m in members:
            group[m] = members
    fused = 0
    replaced: dict = {}
    for members in {id(g): g for g in group.values()}.values():
        if len(members) < 2:
            continue
        inside, inputs, program = set(members), [], []
        local = {}
        for m in members:
            args = []
            for a in m.args:
                if not isinstance(a, Node):
                    args.append(a)  # a number: Pow's exponent, Clamp's bounds
                elif a in inside:
                    args.append(local[a])
                else:
                    if a not in inputs:
                        inputs.append(a)
                    args.append(_In(inputs.index(a)))
            local[m] = Node("op", m.target, tuple(args), m.kwargs, m.meta, m.name)
            program.append(local[m])
        root = members[-1]
        replaced[root] = Node("fused", FusedKernel(program, root.meta), tuple(inputs), None, root.meta, root.name)
        for m in members[:-1]:
            replaced[m] = None
        fused += 1
    graph.nodes = [replaced.get(n, n) for n in graph.nodes if replaced.get(n, n) is not None]
    graph.replace_uses({k: v for k, v in replaced.items() if v is not None})
    return fused
