"""Memory planning: give every intermediate value of a captured graph a byte offset in ONE arena.

A static graph knows before it runs how big every value is (its meta: shape and dtype) and when it is
needed, so memory can be planned once instead of allocated and freed value by value:

1. Liveness. Step j is the j-th node of `graph.nodes`. A value is born at its node's step and dies at the
   step of its last reader (a `backward` node reads the arrays its forward's ctx saved, listed in its args,
   not the forward's result); graph outputs outlive the graph (they stay live to the last step). Effects
   (setgrad, assign) copy what they read, so they are ordinary readers. A view (a Function with `is_view`: reshape,
   permute, expand, basic indexing; a cast to the same dtype) owns no memory: it keeps the buffer it views
   alive instead. An in-place node (passes/inplace.py) writes into its input's buffer. So several values
   can map to one *buffer*; a buffer is live from its first value's birth to its last value's last read.
   Values of a tuple-valued node (a `backward` node's gradients) are `(node, i)`; `getitem` reads one.
2. Placement, greedy by size (Pisarchyk & Lee 2020, "Efficient Memory Management for Deep Neural Net
   Inference", Sec. 4.3; TFLite's arena planner): take the buffers largest first; give each the smallest
   gap, among the buffers already placed whose lifetimes overlap its own, that holds it (best fit), else
   the offset just above all of them. Two buffers whose lifetimes overlap never overlap in the arena.
3. Bounds. `naive_bytes`: every buffer its own allocation, never freed. `peak_live_bytes`: the most bytes
   live at one step, a lower bound no plan can beat. `arena_bytes`: this plan, at least the peak.

Inputs, parameters and constants are not planned (the caller owns them). Not modelled: scratch memory
inside kernels (conv2d's im2col), a view op that has to copy (reshape of a transposed array), arrays a
Function keeps in its ctx beyond the ones the graph lists.

    plan = dslib.graph.plan_memory(fast.graph)   # fast = dslib.compile(model.eval()); fast(x)
    print(plan.report())                         # one line per buffer: lifetime, size, offset
    steps, live = zip(*plan.timeline())          # plt.step(steps, live): memory over the step

Tests: .venv/bin/pytest tests/dslib/graph/test_memory_plan.py -q -p no:xdist
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..memory.stats import format_bytes
from ..ops.elementwise import Cast, ToDevice
from .ir import Graph, Node, walk

PLANNED_KINDS = ("op", "call", "fused", "backward", "getitem")  # nodes whose values the plan places
_ITEMSIZE = {"bfloat16": 2}  # dtypes NumPy does not know (torch's)


def nbytes(meta) -> int:
    """Bytes of one value from its meta (shape, dtype name); 0 for a value without meta."""
    if meta is None:
        return 0
    shape, dtype = meta
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        if dtype not in _ITEMSIZE:
            raise ValueError(
                f"plan_memory: unknown dtype {dtype!r} in a node's meta; add its itemsize to _ITEMSIZE"
            ) from None
        itemsize = _ITEMSIZE[dtype]
    return math.prod(shape) * itemsize


def is_tuple_meta(meta) -> bool:
    """Whether a node's meta describes a tuple of values (a list of metas) rather than one (shape, dtype)."""
    return isinstance(meta, list) or isinstance(meta, tuple) and (not meta or not isinstance(meta[-1], str))


def values_of(node: Node) -> list:
    """The planned values a read of `node` reads: `node`, or `(node, i)` for each element of a tuple."""
    return [(node, i) for i in range(len(node.meta))] if is_tuple_meta(node.meta) else [node]


def alias_source(node: Node):
    """The node whose memory `node`'s value may be (a view, a cast or move that may return its input)."""
    if node.kind != "op" or not node.args or not isinstance(node.args[0], Node):
        return None
    src = node.args[0]
    if getattr(node.target, "is_view", False) or node.target in (Cast, ToDevice) and node.meta == src.meta:
        return src
    return None


@dataclass
class Liveness:
    buffer_of: dict  # value -> the buffer holding it (None: memory the graph does not own)
    born: dict  # buffer -> step it is created at
    last: dict  # buffer -> last step any value in it is read at
    size: dict  # buffer -> bytes
    pinned: set  # buffers that outlive the graph: the outputs'


def liveness(graph: Graph, inplace: dict | None = None) -> Liveness:
    """Buffers and their lifetimes; `inplace` {node: input} puts a node's value in its input's buffer."""
    inplace = inplace or {}
    live = Liveness({}, {}, {}, {}, set())
    end = len(graph.nodes) - 1

    def read(value, step):
        b = live.buffer_of.get(value)
        if b is not None:
            live.last[b] = max(live.last[b], step)

    def new_buffer(key, meta, step):
        live.buffer_of[key] = key
        live.born[key], live.last[key], live.size[key] = step, step, nbytes(meta)

    for j, n in enumerate(graph.nodes):
        item = n.kind == "getitem" and is_tuple_meta(n.args[0].meta)  # element i of a tuple value
        srcs = n.value_inputs() if hasattr(n, "value_inputs") else n.inputs()
        reads = [(n.args[0], n.args[1])] if item else [v for m in srcs for v in values_of(m)]
        for v in reads:
            read(v, j)
        if n.kind not in PLANNED_KINDS:
            live.buffer_of[n] = None
        elif is_tuple_meta(n.meta):
            for i, meta in enumerate(n.meta):
                new_buffer((n, i), meta, j)
        elif n.kind == "getitem":  # the tuple's element i (or, of a non-tuple, a view of it)
            live.buffer_of[n] = live.buffer_of.get(reads[0])
        elif inplace.get(n) is not None or alias_source(n) is not None:
            live.buffer_of[n] = live.buffer_of.get(inplace.get(n) or alias_source(n))
        else:
            new_buffer(n, n.meta, j)
    outputs: list = []
    walk(graph.outputs, outputs.append)
    for v in (v for n in outputs for v in values_of(n)):
        read(v, end)
        live.pinned.add(live.buffer_of.get(v))
    live.pinned.discard(None)
    return live


@dataclass
class MemoryPlan:
    lifetimes: dict  # buffer -> (first step, last step), both inclusive
    offsets: dict  # buffer -> byte offset in the arena (a multiple of `alignment`)
    sizes: dict  # buffer -> bytes it needs
    buffer_of: dict  # value -> its buffer: itself, the buffer a view looks into, an in-place node's input's
    inplace: dict  # node -> the input whose buffer it overwrites
    arena_bytes: int  # the arena this plan needs
    naive_bytes: int  # every value its own allocation (no reuse, no in-place)
    peak_live_bytes: int  # most bytes live at one step: the lower bound for any plan
    nodes: list  # the graph's nodes: step j runs nodes[j]
    alignment: int

    def offset_of(self, value) -> int | None:
        """The offset of the buffer holding `value` (a node, or (node, i)); None when it is not planned."""
        return self.offsets.get(self.buffer_of.get(value))

    def timeline(self) -> list:
        """[(step, bytes live at that step)] for every step, to plot memory over the graph."""
        delta = [0] * (len(self.nodes) + 1)
        for b, (first, last) in self.lifetimes.items():
            delta[first] += self.sizes[b]
            delta[last + 1] -= self.sizes[b]
        out, live = [], 0
        for step in range(len(self.nodes)):
            live += delta[step]
            out.append((step, live))
        return out

    def report(self, limit: int = 40) -> str:
        """A text table: the totals, then the `limit` largest buffers with their lifetimes and offsets."""
        ratio = self.arena_bytes / self.naive_bytes if self.naive_bytes else 1.0
        step = max(self.timeline(), key=lambda t: t[1], default=(0, 0))[0]
        at = self.nodes[step] if self.nodes else None
        lines = [
            f"memory plan: {len(self.offsets)} buffers, arena {format_bytes(self.arena_bytes)} "
            f"= {ratio:.2f} x naive {format_bytes(self.naive_bytes)}; peak live {format_bytes(self.peak_live_bytes)} "
            f"(lower bound) at step {step} ({at!r}, {getattr(at, 'phase', None) or 'forward'}); "
            f"{len(self.inplace)} in-place nodes; alignment {self.alignment} B",
            f"  {'buffer':<14}{'op':<22}{'phase':<10}{'type':<28}{'bytes':>12}{'live':>12}{'offset':>12}",
        ]
        biggest = sorted(self.offsets, key=lambda b: (-self.sizes[b], self.lifetimes[b]))
        for b in sorted(biggest[:limit], key=self.lifetimes.__getitem__):
            node, i = b if isinstance(b, tuple) else (b, None)
            name = f"%{node.name}" + ("" if i is None else f"[{i}]")
            meta = node.meta if i is None else node.meta[i]
            kind = f"{meta[1]}{list(meta[0])}" if meta else "?"
            first, last = self.lifetimes[b]
            phase = getattr(node, "phase", None) or "forward"
            row = f"  {name:<14}{node.op_name[:21]:<22}{phase:<10}{kind[:27]:<28}{self.sizes[b]:>12,}{f'{first}..{last}':>12}"
            lines.append(row + f"{self.offsets[b]:>12,}")
        if len(biggest) > limit:
            lines.append(f"  ... {len(biggest) - limit} more (smaller) buffers")
        return "\n".join(lines)


def place(lifetimes: dict, sizes: dict, alignment: int = 64) -> tuple[dict, int]:
    """Greedy by size, best fit: offsets {buffer: offset} and the arena size (Pisarchyk & Lee 2020)."""
    placed: list = []  # (offset, aligned size, first, last)
    offsets, arena = {}, 0
    for b in sorted(sizes, key=lambda b: (-sizes[b], lifetimes[b])):
        size = -(-sizes[b] // alignment) * alignment
        first, last = lifetimes[b]
        best, best_gap, top = None, math.inf, 0  # top: the end of the overlapping buffers seen so far
        for off, s, _, _ in sorted(p for p in placed if p[2] <= last and first <= p[3]):
            if size <= off - top < best_gap:
                best, best_gap = top, off - top
            top = max(top, off + s)
        offsets[b] = top if best is None else best
        placed.append((offsets[b], size, first, last))
        arena = max(arena, offsets[b] + size)
    return offsets, arena


def plan_memory(graph: Graph, alignment: int = 64, inplace: dict | None = None, only=None) -> MemoryPlan:
    """Plan every intermediate of `graph` into one arena (see the module docstring).

    inplace: {node: input} pairs whose values share a buffer; None takes `graph.inplace` when
        passes.mark_inplace ran (else none), {} plans without in-place reuse.
    only: plan just these buffers (ArenaExecutor plans the values its kernels can write into a given
        array); None plans every intermediate."""
    if not isinstance(alignment, int) or alignment < 1:
        raise ValueError(f"plan_memory: alignment must be a positive int (bytes), got {alignment!r}")
    inplace = getattr(graph, "inplace", {}) if inplace is None else inplace
    plain = liveness(graph)
    step = {n: j for j, n in enumerate(graph.nodes)}
    for n, t in inplace.items():
        b = plain.buffer_of.get(t)
        if t not in n.inputs() or t.meta != n.meta or b is None or b in plain.pinned or plain.last[b] != step[n]:
            raise ValueError(
                f"plan_memory: %{n.name} cannot overwrite %{t.name}: it must be an input of the same shape and "
                f"dtype, computed by the graph, not returned, and read by nothing after %{n.name} (find_inplace)"
            )
    live = liveness(graph, inplace) if inplace else plain
    keep = [b for b in live.born if live.size[b] > 0 and (only is None or b in only)]
    lifetimes = {b: (live.born[b], live.last[b]) for b in keep}
    sizes = {b: live.size[b] for b in keep}
    offsets, arena = place(lifetimes, sizes, alignment)
    naive = sum(s for b, s in plain.size.items() if only is None or b in only)
    plan = MemoryPlan(
        lifetimes, offsets, sizes, live.buffer_of, dict(inplace), arena, naive, 0, list(graph.nodes), alignment
    )
    plan.peak_live_bytes = max((n for _, n in plan.timeline()), default=0)
    return plan
