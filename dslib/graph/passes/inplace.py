"""In-place reuse: an elementwise node may write its result into an input that dies at that node.

In `relu(batch_norm(x))` nothing reads the batch-norm output after the ReLU, and the ReLU's result has the
same shape and dtype, so the ReLU can overwrite it (`np.maximum(t, 0, out=t)`) instead of allocating a
second buffer; the memory planner then gives both values one buffer. This is PyTorch's `ReLU(inplace=True)`
found automatically, as TFLite's arena planner and XLA's buffer assignment do.

A node `n` may overwrite its input `t` when
  - `n` is elementwise (an op of fusion.ELEMENTWISE, or a fused node) and not a graph output;
  - `t` has `n`'s shape and dtype (every element of the result lands on the input element it came from),
    and the buffer under `t` (`t` itself, or the value it is a view of) has `n`'s size: a bigger buffer
    would be kept alive longer than without the reuse;
  - that buffer belongs to the graph (not an input, parameter or constant); no node after `n` reads it
    (through `t` or any other view of it) and it is not a graph output (memory_plan.liveness decides);
  - no other input of `n` is another view of that buffer (a fused kernel works block by block and could
    read elements it has already overwritten).

The pass only records its decision, as `graph.inplace = {node: input}`; the nodes are unchanged, so the
plain Executor still allocates every result. memory_plan.plan_memory puts each pair in one buffer and
arena.ArenaExecutor runs the node into its input.

    from dslib.graph.passes.inplace import mark_inplace
    mark_inplace(graph); plan = dslib.graph.plan_memory(graph)   # plan.inplace: the pairs it used

Tests: .venv/bin/pytest tests/dslib/graph/test_memory_plan.py -q -p no:xdist -k inplace
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..memory_plan import is_tuple_meta, liveness, nbytes
from .fusion import ELEMENTWISE


def _elementwise(n: Node) -> bool:
    return n.kind == "fused" or n.kind == "op" and n.target in ELEMENTWISE


def find_inplace(graph: Graph) -> dict:
    """{node: the input it may overwrite} for every elementwise node that has such an input."""
    live = liveness(graph)
    pairs: dict = {}
    for j, n in enumerate(graph.nodes):
        if not _elementwise(n) or n.meta is None or is_tuple_meta(n.meta) or live.buffer_of.get(n) in live.pinned:
            continue
        inputs, size = list(dict.fromkeys(n.inputs())), nbytes(n.meta)
        for t in inputs:
            b = live.buffer_of.get(t)
            if t.meta != n.meta or b is None or b in live.pinned or live.last[b] != j or live.size[b] != size:
                continue
            if any(live.buffer_of.get(u) == b for u in inputs if u is not t):
                continue
            pairs[n] = t
            break
    return pairs


def mark_inplace(graph: Graph) -> int:
    """Store find_inplace(graph) as `graph.inplace`; returns the number of in-place nodes (a pass's count)."""
    graph.inplace = find_inplace(graph)
    return len(graph.inplace)


mark_inplace.training_aware = True  # liveness reads value_inputs(): the values a backward node needs stay live
