"""Lab 06 hidden artifact check (Task 6.5): the memory plan of a ResNet-8 the notebook saved is a valid and tight
plan of the graph dslib captures for that model.

The autograder runs this file with pytest after the notebook, with the submission's scratch directory (where the
notebook wrote memory_plan.json; plain JSON, so reading it runs no code of the submission) as the current
directory. The check captures its own graph: `dslib.models.resnet8(num_classes=10, in_channels=1)` in eval mode,
compiled with dslib's default passes and called on zeros of the saved input shape (node names are deterministic:
`Graph.renumber`). Then, with the lab's definitions (Tasks 6.1, 6.4, 6.5):
  - one buffer per planned node (kinds op, call, fused, backward, getitem), with that node's op, its size (bytes
    from its meta) and its lifetime (first: its own step; last: its last reader's step, the last step for an
    output, its own step if nobody reads it);
  - no two buffers live at a common step overlap in the arena, and arena_bytes is the highest offset + size;
  - the arena is at most 5% above greedy by size (dslib.graph.memory_plan.place, no alignment) on the same
    lifetimes, so a valid but loose plan (every buffer its own slot) does not pass.
By hand:

    cd DIR_WITH_THE_PLAN && /work/main/.venv/bin/pytest -q /work/main/labs/06-compiler/hidden/test_artifacts.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import dslib
import dslib.models
from dslib.graph.ir import walk
from dslib.graph.memory_plan import place

PLAN_FILE = "memory_plan.json"
PLANNED_KINDS = ("op", "call", "fused", "backward", "getitem")
SLACK = 1.05  # the plan may be this much above greedy by size


def _nbytes(meta) -> int:
    if isinstance(meta, list):
        return sum(_nbytes(m) for m in meta)
    shape, dtype = meta
    return math.prod(shape) * dslib.dtypes.get(dtype).itemsize


def _load() -> dict:
    path = Path.cwd() / PLAN_FILE
    assert path.is_file(), (
        f"Task 6.5: {PLAN_FILE} was not saved: run the ResNet-8 cell after Task 6.5, which plans the compiled "
        "ResNet-8 with your lifetimes and plan_offsets and writes the file"
    )
    try:
        saved = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise AssertionError(f"Task 6.5: {PLAN_FILE} is not JSON: {e}") from None
    assert isinstance(saved, dict) and {"input_shape", "arena_bytes", "buffers"} <= set(saved), (
        f"Task 6.5: {PLAN_FILE} must hold input_shape, arena_bytes and buffers, got "
        f"{sorted(saved) if isinstance(saved, dict) else type(saved).__name__}"
    )
    shape = saved["input_shape"]
    assert (
        isinstance(shape, list) and len(shape) == 4 and shape[1:] == [1, 8, 8] and isinstance(shape[0], int)
        and 1 <= shape[0] <= 256
    ), f"Task 6.5: input_shape must be [batch, 1, 8, 8] with 1 <= batch <= 256, got {shape!r}"  # fmt: skip
    buffers = saved["buffers"]
    keys = {"node", "op", "first", "last", "size", "offset"}
    assert isinstance(buffers, list) and all(isinstance(b, dict) and keys <= set(b) for b in buffers), (
        f"Task 6.5: buffers must be a list of {{{', '.join(sorted(keys))}}} entries"
    )
    for b in buffers:
        ints = [b[k] for k in ("first", "last", "size", "offset")]
        assert all(isinstance(v, int) and v >= 0 for v in ints), f"Task 6.5: buffer {b} needs non-negative ints"
    return saved


def _reference(batch: int) -> dict:
    """{node name: (op, first, last, size)} of the graph this check captures itself."""
    model = dslib.models.resnet8(num_classes=10, in_channels=1).eval()
    fast = dslib.compile(model)
    with dslib.no_grad():
        fast(dslib.zeros(batch, 1, 8, 8))
    graph = fast.graph
    end = len(graph.nodes) - 1
    outputs: list = []
    walk(graph.outputs, outputs.append)
    span: dict = {}
    for i, n in enumerate(graph.nodes):
        for src in n.inputs():
            if src in span:
                span[src] = (span[src][0], max(span[src][1], i))
        if n.kind in PLANNED_KINDS:
            span[n] = (i, end if n in outputs else i)
    return {n.name: (n.op_name, a, b, _nbytes(n.meta)) for n, (a, b) in span.items()}


def test_task_6_5_saved_plan_describes_the_resnet8_graph():
    saved = _load()
    expected = _reference(saved["input_shape"][0])
    got = {b["node"]: (b["op"], b["first"], b["last"], b["size"]) for b in saved["buffers"]}
    assert len(got) == len(saved["buffers"]), "Task 6.5: each node appears once in the saved buffers"
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    assert not missing and not extra, (
        f"Task 6.5: the saved plan must have one buffer per planned node (op/call/fused/backward/getitem) of the "
        f"compiled ResNet-8: missing {missing[:5]}, not planned {extra[:5]}"
    )
    wrong = [(name, got[name], expected[name]) for name in expected if got[name] != expected[name]]
    assert not wrong, (
        f"Task 6.5: (op, first, last, size) of {len(wrong)} buffers differ, e.g. (name, saved, expected): {wrong[0]}"
    )


def test_task_6_5_saved_plan_is_valid_and_as_tight_as_greedy_by_size():
    saved = _load()
    buffers = saved["buffers"]
    top = max((b["offset"] + b["size"] for b in buffers), default=0)
    assert saved["arena_bytes"] == top, (
        f"Task 6.5: arena_bytes {saved['arena_bytes']} must be the highest offset + size, {top}"
    )
    items = sorted(buffers, key=lambda b: (b["first"], b["last"]))
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if b["first"] > a["last"]:
                break
            separate = a["offset"] + a["size"] <= b["offset"] or b["offset"] + b["size"] <= a["offset"]
            assert separate, f"Task 6.5: %{a['node']} and %{b['node']} are live together and overlap in the arena"
    spans = {b["node"]: (b["first"], b["last"]) for b in buffers}
    _, greedy = place(spans, {b["node"]: b["size"] for b in buffers}, alignment=1)
    assert top <= SLACK * greedy, (
        f"Task 6.5: the arena of {top:,} bytes is more than {SLACK - 1:.0%} above greedy by size ({greedy:,} bytes)"
    )
