"""benchmarks/run.py: the quick MLP run works end to end (keeps the harness from rotting; not a benchmark)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_mlp_run_prints_one_row_per_framework_and_writes_json(tmp_path):
    out = tmp_path / "latest.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--cases", "mlp", "--output", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "threads: " in proc.stdout and "openblas: " in proc.stdout
    table_rows = [line for line in proc.stdout.splitlines() if line.startswith("mlp ")]
    assert [line.split()[1] for line in table_rows] == ["dslib-numpy", "dslib-torch", "pytorch"]

    report = json.loads(out.read_text())
    rows = {r["framework"]: r for r in report["rows"]}
    assert set(rows) == {"dslib-numpy", "dslib-torch", "pytorch"}
    assert rows["pytorch"]["time_ratio"] == 1.0
    for r in rows.values():
        assert r["steps"] == 3 and len(r["step_ms_all"]) == 3
        assert r["step_ms"] > 0 and r["peak_mb"] >= r["base_mb"] > 0
        assert r["time_ratio"] > 0


def test_unknown_case_is_refused_with_the_known_names():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--cases", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "unknown case ['nope']" in proc.stderr and "resnet18" in proc.stderr
