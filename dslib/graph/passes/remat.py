"""Rematerialization: recompute cheap elementwise values for backward instead of keeping them alive.

In a captured training step, a forward value that a `backward` node saved (its args are
(fwd_node, grad_node, *saved_nodes)) stays live from the forward pass until that backward node runs,
across the whole forward/backward gap. When the value is one elementwise kernel (memory-bound, cheap)
of inputs that are live at that backward node anyway, it is cheaper to drop it after its last forward
reader and recompute it just before the first backward node that saved it (Chen et al. 2016, "Training
Deep Nets with Sublinear Memory Cost"; torch.compile's min-cut partitioner does this for chains).
Typical case: `gelu(h)` in a transformer MLP, saved by the next matmul, whose input `h` gelu's own
backward keeps anyway. Not ResNet's conv-BN-ReLU: ReLU saves its output, and its input (BN's output)
is saved by nobody, so recomputing ReLU would keep an equally big value alive instead.

A candidate is kept only when it lowers the peak live bytes of `memory_plan.liveness` (or keeps the
peak and lowers bytes x steps). The copy runs the same kernel on the same arrays, so results are
bit-identical to the graph without the pass. Run it after CSE (which would merge the copy back).

Replay: a forward op's ctx holds its saved arrays itself, so the Executor swaps them (executor.py):
`release()` takes the original out of the ctx after the forward op, `refill()` hands the backward node
the copy (`recomputed(graph)` lists the pairs). Measured (replay peak of NumPy allocations, tracemalloc):
GELU MLP 64-512x4 batch 2048: 44.0 -> 32.0 MiB; ViT (dim 64, depth 2, batch 32, 32x32): 25.4 -> 23.4 MiB.

    .venv/bin/pytest tests/dslib/graph/test_remat.py -q -p no:xdist
"""

from __future__ import annotations

from ..ir import Graph, Node, substitute
from ..memory_plan import liveness
from .fusion import ELEMENTWISE


def live_bytes(graph: Graph) -> tuple:
    """(peak bytes live at one step, sum over steps of bytes live) of the graph's intermediates."""
    live = liveness(graph)
    delta = [0] * (len(graph.nodes) + 1)
    for b, size in live.size.items():
        delta[live.born[b]] += size
        delta[live.last[b] + 1] -= size
    steps, now = [], 0
    for d in delta[:-1]:
        now += d
        steps.append(now)
    return max(steps, default=0), sum(steps)


def _recomputable(s) -> bool:
    return isinstance(s, Node) and s.kind == "op" and s.target in ELEMENTWISE and not s.effect and s.phase == "forward"


def _changed_between(graph: Graph, s: Node, at: int) -> bool:
    """Whether an effect between `s` and step `at` may write a parameter or input that `s` reads."""
    reads = {i for i in s.inputs() if i.kind in ("param", "input")}
    for n in graph.nodes[graph.nodes.index(s) : at]:
        kind = getattr(n.target, "kind", None) if n.kind == "effect" else None
        if reads and (kind == "call" or kind == "assign" and n.args[0] in reads):
            return True
    return False


def _rematerialize_one(graph: Graph, s: Node) -> bool:
    """Recompute `s` before its first backward reader if that lowers live memory; whether it did."""
    at = next(j for j, n in enumerate(graph.nodes) if n.kind == "backward" and s in n.args[2:])
    last: dict = {}
    for j, n in enumerate(graph.nodes):
        for src in n.value_inputs():
            last[src] = j
    if _changed_between(graph, s, at):
        return False  # (an optimizer step before this backward: the copy would see the new weights)
    if any(i.kind not in ("input", "param", "const") and last[i] < at for i in s.inputs()):
        return False  # the copy would keep an input alive that is dead by then
    before = live_bytes(graph)
    copy = Node("op", s.target, s.args, s.kwargs, s.meta, f"{s.name}.remat")
    copy.phase, copy.aux = "backward", ("recompute", s)  # aux: recomputed() finds the pairs by it
    sub = lambda v: copy if v is s else v  # noqa: E731
    old = [(n, n.args, n.kwargs) for n in graph.nodes[at:]]
    for n in graph.nodes[at:]:  # a backward node's args[0] names its forward's ctx: never rewired
        n.args = n.args[:1] + substitute(n.args[1:], sub) if n.kind == "backward" else substitute(n.args, sub)
        n.kwargs = substitute(n.kwargs, sub)
    graph.nodes.insert(at, copy)
    if live_bytes(graph) < before:
        return True
    graph.nodes.pop(at)
    for n, args, kwargs in old:
        n.args, n.kwargs = args, kwargs
    return False


def rematerialize(graph: Graph) -> int:
    """Recompute cheap saved values before their backward readers where that lowers memory; returns how many."""
    saved = {s: None for n in graph.nodes if n.kind == "backward" for s in n.args[2:]}
    return sum(_rematerialize_one(graph, s) for s in saved if _recomputable(s))


rematerialize.training_aware = True  # compile._run_pass: show it backward nodes and ctx-holding ops as they are


def recomputed(graph: Graph) -> dict:
    """{forward op node: [(original saved node, its recompute node)]} for the executor's release/refill."""
    out: dict = {}
    for n in graph.nodes:
        if n.kind == "backward":
            for c in n.args[2:]:
                if isinstance(c, Node) and isinstance(c.aux, tuple) and c.aux[:1] == ("recompute",):
                    out.setdefault(n.args[0], []).append((c.aux[1], c))
    return out


def release(ctx, array) -> list:
    """Drop the ctx's references to `array` (in ctx.saved and its attributes, 2 levels of tuples); where they were."""
    slots = []
    for name, v in [("saved", ctx.saved)] + list(vars(ctx).items()):
        if v is array:
            slots.append((name, None))
        elif isinstance(v, tuple) and any(x is array for x in v):
            slots.append((name, [i for i, x in enumerate(v) if x is array]))
    for name, idx in slots:
        v = getattr(ctx, name)
        setattr(ctx, name, None if idx is None else tuple(None if i in idx else x for i, x in enumerate(v)))
    return slots


def refill(ctx, slots: list, array) -> None:
    """Put `array` back where `release` took the original from."""
    for name, idx in slots:
        v = getattr(ctx, name)
        setattr(ctx, name, array if idx is None else tuple(array if i in idx else x for i, x in enumerate(v)))
