"""benchmarks/grading.py: the --quick run works end to end (keeps the harness from rotting; not a benchmark)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # grades a few lab-01 notebooks (about a minute on 2 cores)
def test_quick_grading_benchmark_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "grading.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "grading.py"), "--quick", "--output", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "grading overhead per submission" in proc.stdout

    report = json.loads(out.read_text())
    assert report["n"] == 2 and set(report["batch"]) == {"1", "2"}
    assert report["batch"]["1"]["speedup"] == 1.0
    assert report["notebook_s"] > 0 and report["single_s"] > 0
    assert report["overhead_s"] == pytest.approx(report["per_submission_s"] - report["notebook_s"])
    assert report["nbgrader"] is None


def test_workers_without_1_are_refused():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "grading.py"), "--workers", "2,4"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "--workers must include 1" in proc.stderr
