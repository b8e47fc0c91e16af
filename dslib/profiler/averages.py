"""Profiler events grouped by name: the rows of `prof.key_averages()` and their top-k `table()`.

    print(prof.key_averages().table(sort_by="self_time", row_limit=10))

Ops are grouped by op class (MatMul), backward ops by node (MatMulBackward), modules by path (MLP.fc1 [Linear]).
Self time is a row's time minus the time of the events nested in it (only modules nest); self % is out of the
sum of all self times, i.e. of the time the events cover. A profile of a compiled graph's replay has rows named
by graph node (conv2d, conv2d.backward, sgd.step) and a Phase column (forward / backward / update).
"""

from __future__ import annotations

from dataclasses import dataclass

# sort_by names, torch.profiler's included, -> FunctionAverage attribute
_SORT_KEYS = {
    "self_time": "self_ns", "self_cpu_time_total": "self_ns", "total_time": "total_ns", "cpu_time_total": "total_ns",
    "calls": "calls", "count": "calls", "flops": "flops", "bytes": "nbytes", "memory": "alloc",
    "self_cpu_memory_usage": "alloc",
}  # fmt: skip


_PHASES = ("forward", "update")  # categories only replayed graph nodes have (dslib/graph/executor.py)


@dataclass
class FunctionAverage:
    key: str
    cat: str  # "op", "backward" or "module"; a replayed graph node: its phase, "forward"/"backward"/"update"
    shapes: tuple | None = None  # the input shapes when grouped by them
    calls: int = 0
    total_ns: int = 0
    self_ns: int = 0
    flops: int = 0
    nbytes: int = 0
    alloc: int = 0


class KeyAverages(list):
    """A list of FunctionAverage rows."""

    def table(self, sort_by: str = "self_time", row_limit: int | None = 100) -> str:
        """The top `row_limit` rows by `sort_by` (self_time, total_time, calls, flops, bytes, memory) as text."""
        if sort_by not in _SORT_KEYS:
            raise ValueError(f"table: sort_by must be one of {sorted(_SORT_KEYS)}, got {sort_by!r}")
        if row_limit is not None and (not isinstance(row_limit, int) or row_limit < 1):
            raise ValueError(f"table: row_limit must be a positive int or None, got {row_limit!r}")
        attr = _SORT_KEYS[sort_by]
        rows = sorted(self, key=lambda r: -getattr(r, attr))[:row_limit]
        total = max(sum(r.self_ns for r in self), 1)
        show_shapes = any(r.shapes is not None for r in self)
        phase = any(r.cat in _PHASES for r in self)  # a replayed graph: show each row's phase
        head = ["Name", "Self time", "Self %", "Total time", "Calls", "FLOPs", "GFLOP/s", "Bytes moved", "Alloc"]
        head[1:1] = ["Phase"] * phase
        lines = [head + (["Input shapes"] if show_shapes else [])]
        for r in rows:
            line = [
                r.key, *[r.cat] * phase, _time(r.self_ns), f"{100 * r.self_ns / total:.1f}%", _time(r.total_ns), str(r.calls),
                _si(r.flops), f"{r.flops / r.self_ns:.2f}" if r.flops and r.self_ns else "",
                _si(r.nbytes, "B"), _si(r.alloc, "B"),
            ]  # fmt: skip
            lines.append(line + ([str(list(r.shapes)) if r.shapes else ""] if show_shapes else []))
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        text = [
            "  ".join(c.ljust(w) if i <= phase else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
            + ("  " + line[-1] if show_shapes else "")
            for line in lines
        ]
        rule = "-" * len(text[0])
        summary = f"Self time total: {_time(total)} in {sum(r.calls for r in self)} events"
        return "\n".join([rule, text[0], rule, *text[1:], rule, summary])

    def __str__(self) -> str:
        return self.table()


def key_averages(events, group_by_input_shape: bool = False) -> KeyAverages:
    groups: dict = {}
    for ev in events:
        key = f"{ev.name} [{ev.type}]" if ev.cat == "module" else ev.name
        shapes = ev.shapes if group_by_input_shape else None
        row = groups.get((key, ev.cat, shapes))
        if row is None:
            row = groups[(key, ev.cat, shapes)] = FunctionAverage(key, ev.cat, shapes)
        row.calls += 1
        row.total_ns += ev.dur
        row.self_ns += ev.self_time
        row.flops += ev.flops
        row.nbytes += ev.nbytes
        row.alloc += ev.alloc
    return KeyAverages(groups.values())


def _time(ns: int) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f}{unit}"
    return f"{ns}ns"


def _si(n: int, unit: str = "") -> str:
    if not n:
        return ""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{prefix}{unit}"
    return f"{n}{unit}"
