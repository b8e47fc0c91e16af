"""Profiling a compiled graph's replay: one event per executed node, named by its op_name, its phase as category.

A ResNet-8 training step (forward, backward, SGD update) and an inference graph with fused kernels are replayed
inside dslib.profiler.profile(); the events must match the graph's nodes one to one (names, counts, phases, order),
the eager wrappers must not record the same work twice, and a replay outside a profile (or in another thread)
must record nothing.
    .venv/bin/pytest tests/dslib/profiler/test_replay_profile.py -q -p no:xdist
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import numpy as np
import pytest

import dslib
import dslib.models
from dslib.profiler import profile
from tests.dslib.graph import steps

SKIPPED = ("input", "param", "const", "getitem")  # nodes a replay only reads or indexes


def _executed(graph):
    return [n for n in graph.nodes if n.kind not in SKIPPED]


@pytest.fixture(scope="module")
def train_step():
    dslib.manual_seed(0)
    model = dslib.models.resnet8()
    opt = dslib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = dslib.compile(steps.train_step(model, opt))
    x, y = dslib.randn(2, 3, 32, 32), dslib.randint(0, 10, (2,))
    step(x, y)  # capture
    return step, x, y


def test_training_step_replay_records_each_node_with_its_phase(train_step, tmp_path):
    step, x, y = train_step
    nodes = _executed(step.graph)
    with profile(record_shapes=True, profile_memory=True) as prof:
        step(x, y)
    assert [e.name for e in prof.events] == [n.op_name for n in nodes]  # one event per node, in graph order
    assert [e.cat for e in prof.events] == [n.phase for n in nodes]
    counts = Counter(e.name for e in prof.events)
    n_conv = sum(n.kind == "op" and n.op_name == "conv2d" for n in step.graph.nodes)
    assert n_conv > 0 and counts["conv2d"] == n_conv
    assert counts["conv2d.backward"] == sum(n.kind == "backward" and n.op_name == "conv2d.backward" for n in nodes)
    assert {"forward", "backward", "update"} <= {e.cat for e in prof.events}
    assert any(e.name.endswith(".step") and e.cat == "update" for e in prof.events), "the optimizer step event"
    starts = [e.start for e in prof.events]
    assert starts == sorted(starts) and all(e.dur >= 0 for e in prof.events)
    for ev, n in zip(prof.events, nodes):  # shapes: the node's array inputs, as captured
        want = [m[0] for m in (v.meta for v in n.value_inputs()) if isinstance(m, tuple) and m and m[0] is not None]
        if n.kind in ("op", "fused"):
            assert list(ev.shapes) == want, n.op_name
    conv = next(e for e, n in zip(prof.events, nodes) if n.op_name == "conv2d")
    conv_node = next(n for n in nodes if n.op_name == "conv2d")
    assert conv.alloc == int(np.prod(conv_node.meta[0])) * np.dtype(conv_node.meta[1]).itemsize
    table = prof.key_averages().table(row_limit=None)
    assert "Phase" in table and "conv2d.backward" in table
    prof.export_chrome_trace(tmp_path / "trace.json")
    names = Counter(e["name"] for e in json.loads((tmp_path / "trace.json").read_text())["traceEvents"])
    assert names["conv2d"] == n_conv


def test_replay_does_not_record_twice_and_eager_recording_resumes(train_step):
    step, x, y = train_step
    with profile() as prof:
        step(x, y)
        n_replay = len(prof.events)
        (dslib.randn(3, 4) @ dslib.randn(4, 2)).sum()  # eager ops after a replay are recorded again
    assert n_replay == len(_executed(step.graph)), "backward nodes / optimizer ops must not add eager events"
    assert [e.cat for e in prof.events[n_replay:]] == ["op", "op"]


def test_inference_replay_names_fused_kernels_and_arena_replay_records():
    dslib.manual_seed(0)
    model = dslib.models.resnet8().eval()
    x = dslib.randn(2, 3, 32, 32)
    for arena in (False, True):
        fast = dslib.compile(model, arena=arena)
        with dslib.no_grad():
            fast(x)
            with profile() as prof:
                fast(x)
        nodes = _executed(fast.graph)
        assert [e.name for e in prof.events] == [n.op_name for n in nodes], f"arena={arena}"
        assert any(e.name.startswith("fused[") for e in prof.events), "default passes fuse elementwise chains"
        assert {e.cat for e in prof.events} == {"forward"}


def test_no_profile_or_other_thread_records_nothing(train_step):
    step, x, y = train_step
    with profile() as prof:
        t = threading.Thread(target=step, args=(x, y))  # another thread's replay is not recorded
        t.start()
        t.join()
    assert prof.events == []
    step(x, y)  # after the block: nothing recorded, and replay still works
    assert prof.events == []
