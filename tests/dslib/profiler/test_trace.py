"""dslib.profiler.trace: the Chrome trace is valid Trace Event Format JSON (complete events, microseconds, pid/tid,
shapes in args), module events enclose their ops, the write is atomic, and bad paths give clear errors."""

from __future__ import annotations

import json
import os

import pytest

import dslib
import dslib.nn as nn
from dslib import serialization
from dslib.profiler import profile


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


@pytest.fixture
def prof():
    model = Mlp()
    with profile(record_shapes=True, profile_memory=True, with_modules=True) as p:
        model(dslib.randn(3, 4)).sum().backward()
    return p


def test_trace_is_valid_chrome_json_with_complete_events(prof, tmp_path):
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    data = json.loads(path.read_text())
    events = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert len(events) == len(prof.events)
    assert {e["name"] for e in data["traceEvents"] if e["ph"] == "M"} == {"process_name", "thread_name"}
    for e in events:
        assert set(e) == {"ph", "cat", "name", "pid", "tid", "ts", "dur", "args"}
        assert e["pid"] == os.getpid() and isinstance(e["tid"], int) and 0 <= e["tid"] < 2**31
        assert isinstance(e["ts"], float) and e["ts"] >= 0 and e["dur"] >= 0
    linear = next(e for e in events if e["name"] == "Linear")
    assert linear["args"]["Input Dims"] == [[3, 4], [8, 4], [8]]
    assert linear["args"]["Input type"] == ["dslib.float32"] * 3
    assert linear["args"]["FLOPs"] == 2 * 3 * 4 * 8 + 3 * 8 and linear["args"]["module"] == "Mlp.fc1"
    ev = next(e for e in prof.events if e.name == "Linear")
    assert linear["ts"] == pytest.approx(ev.start / 1e3) and linear["dur"] == pytest.approx(ev.dur / 1e3)
    assert {e["cat"] for e in events} == {"cpu_op", "cpu_op,backward", "python_function,module"}


def test_module_events_enclose_their_ops_in_the_trace(prof, tmp_path):
    prof.export_chrome_trace(tmp_path / "t.json")
    events = [e for e in json.loads((tmp_path / "t.json").read_text())["traceEvents"] if e["ph"] == "X"]
    modules = {e["name"]: e for e in events if e["cat"].endswith("module")}
    assert set(modules) == {"Mlp", "Mlp.fc1", "Mlp.act", "Mlp.fc2"}
    inside = 0
    for e in events:
        parent = e["args"].get("module")
        if parent:
            m = modules[parent]
            assert m["ts"] <= e["ts"] and e["ts"] + e["dur"] <= m["ts"] + m["dur"] + 1e-6
            inside += 1
    assert inside == 3 + 3  # fc1, act, fc2 in Mlp; one op in each of them
    # a parent starting at the same microsecond as its first child comes first
    order = [e["name"] for e in events]
    assert order.index("Mlp") < order.index("Mlp.fc1") < order.index("Linear")


def test_export_is_atomic_and_replaces_an_old_trace(prof, tmp_path, monkeypatch):
    path = tmp_path / "trace.json"
    path.write_text("old")

    def fail(src, dst):  # the temp file is fully written, then the rename fails
        raise OSError("disk full")

    monkeypatch.setattr(serialization.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        prof.export_chrome_trace(path)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["trace.json"]  # no half-written file left
    monkeypatch.undo()
    prof.export_chrome_trace(str(path))
    assert "traceEvents" in json.loads(path.read_text())


def test_export_to_a_missing_folder_says_so(prof, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        prof.export_chrome_trace(tmp_path / "nope" / "trace.json")
