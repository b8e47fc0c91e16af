"""benchmarks/arena.py: the --quick run prints both tables and writes the same numbers to its JSON (not a benchmark).

.venv/bin/pytest tests/benchmarks/test_arena_bench.py -q -p no:xdist
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import arena

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_prints_the_tables_and_writes_the_json(tmp_path):
    out = tmp_path / "arena.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "arena.py"), "--quick", "--output", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["quick"] and report["batch"] == 2 and report["reps"] == 1
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file behind

    runs = report["runs"]
    assert [(r["model"], r["case"]) for r in runs] == [(m, c) for m in ("resnet8", "vit") for c in arena.CASES]
    lines = proc.stdout.splitlines()
    table = [line.split() for line in lines if line.split()[:2] in ([r["model"], r["case"]] for r in runs)]
    assert len(table) == len(runs)
    for cells, r in zip(table, runs):
        assert float(cells[2]) == pytest.approx(r["time_ms"], abs=0.01)
        assert float(cells[4]) == pytest.approx(r["peak_mib"], abs=0.01)
        assert r["max_abs_diff"] <= 1e-5  # every replay computes what eager computes (float32)
        assert r["peak_mib"] > 0 and len(r["time_ms_all"]) == 1
    for model in ("resnet8", "vit"):
        rows = {r["case"]: r for r in runs if r["model"] == model}
        eager = rows["eager"]
        assert eager["x_eager_time"] == 1.0 and eager["x_eager_memory"] == 1.0
        for r in rows.values():
            assert r["x_eager_time"] == pytest.approx(r["time_ms"] / eager["time_ms"])
            assert r["x_eager_memory"] == pytest.approx(r["peak_mib"] / eager["peak_mib"])
        assert rows["ArenaExecutor"]["inplace_nodes"] > 0 and rows["ArenaExecutor"]["arena_mib"] >= 0
        assert f"  {model}: ArenaExecutor plans " in proc.stdout

    plans = report["plans"]
    graphs = [(r["model"], r["graph"]) for r in plans]
    assert graphs == [(m, g) for m in ("resnet8", "vit") for g in ("eval", "SGD train step")]
    plan_lines = [line for line in lines if line.startswith(("resnet8 ", "vit ")) and ("eval" in line or "SGD" in line)]
    assert len(plan_lines) == len(plans)
    for line, r in zip(plan_lines, plans):
        cells = line.split()[-10:]  # nodes buffers naive peak arena x_naive x_peak in-place arena' plan_ms
        assert int(cells[0]) == r["nodes"] and int(cells[1]) == r["buffers"]
        assert float(cells[2]) == pytest.approx(r["naive_mib"], abs=0.01)
        # the plan's bounds: peak live <= arena <= naive, and in-place reuse never makes the arena bigger
        assert 0 < r["peak_live_mib"] <= r["arena_mib"] <= r["naive_mib"]
        assert r["inplace_peak_live_mib"] <= r["inplace_arena_mib"] <= r["arena_mib"] + 1e-9
        assert r["x_naive"] == pytest.approx(r["arena_mib"] / r["naive_mib"])
    by = {(r["model"], r["graph"]): r for r in plans}
    for model in ("resnet8", "vit"):  # a training step holds activations for backward: more nodes, more bytes
        train, ev = by[(model, "SGD train step")], by[(model, "eval")]
        assert train["nodes"] > ev["nodes"] and train["peak_live_mib"] > ev["peak_live_mib"]


def test_unknown_model_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        arena.main(["--quick", "--models", "resnet50"])
    assert exc.value.code == 2
    assert "unknown model(s) ['resnet50']" in capsys.readouterr().err
