"""The grading benchmark: the autograder's overhead per submission and its batch throughput, on lab 01.

    .venv/bin/python benchmarks/grading.py                       # 50 submissions, workers 1,2,4, + nbgrader on 10
    .venv/bin/python benchmarks/grading.py --n 50 --nbgrader-n 50
    .venv/bin/python benchmarks/grading.py --quick               # smoke test: 2 submissions, workers 1,2, no nbgrader

Measured, each in a fresh course directory built with `dscourse init` + `dscourse release` (as an instructor would):
- notebook time: the lab's source notebook (solutions and hidden tests, i.e. the code the grader runs) executed with
  plain papermill in this process, with the lab's grading parameters, no sandbox: the median of --repeats runs.
- single: wall time of `dscourse grade LAB --workers 1` on one reference submission (CLI start-up included).
- batch: wall time of `dscourse grade LAB --workers N` on --n copies of the reference submission, for each N.
  per-submission time = batch(1 worker) / n; overhead = per-submission time - notebook time (the issue's goal:
  under 2 s); start-up = single - per-submission time; throughput = n / batch time (submissions/minute) and its
  speed-up over 1 worker (goal: over 1.8x at 2 workers).
- nbgrader: `nbgrader autograde LAB` (serial; nbgrader's own executor, no sandbox) on --nbgrader-n copies, with the
  grading parameters written into each copy by hand (nbgrader cannot inject papermill parameters).
Every grade run must end with every submission `graded` at full marks, else the benchmark stops (a fast wrong
grader is no result). The table goes to stdout, the numbers to benchmarks/results/grading.json (or --output),
with the machine's load (os.getloadavg) before and after. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder.lab import load_lab  # noqa: E402
from tests.autograder.e2e import submissions as subs  # noqa: E402

LAB = "01-autograd"
BIN = Path(sys.executable).parent
# The installed console script; `python -m autograder.cli` (the same entry point) where it is not installed.
DSCOURSE = [str(BIN / "dscourse")] if (BIN / "dscourse").exists() else [sys.executable, "-m", "autograder.cli"]


def run(cmd: list[str], cwd: Path, timeout: float = 3600) -> tuple[float, subprocess.CompletedProcess]:
    """Run a command; return (wall seconds, the finished process); raise with its output if it failed."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, proc


def new_course(parent: Path, name: str) -> Path:
    course = parent / name
    run([*DSCOURSE, "init", str(course)], cwd=parent)
    run([*DSCOURSE, "release", LAB], cwd=course)
    return course


def submit(course: Path, nb, n: int) -> None:
    for i in range(n):
        subs.write(nb, course / "submitted" / f"student{i:03d}" / LAB / "autograd.ipynb")


def grade(course: Path, workers: int, n: int, max_score: float) -> float:
    """Wall time of one `dscourse grade` over the course's n submissions; checks every grade is full marks."""
    cmd = [*DSCOURSE, "grade", LAB, "--workers", str(workers), "--force"]
    wall, _ = run(cmd, cwd=course)
    rows = list(csv.DictReader(open(course / "grades.csv")))
    bad = [r for r in rows if r["status"] != "graded" or float(r["score"]) != max_score]
    if len(rows) != n or bad:
        raise RuntimeError(f"grading was wrong: {len(rows)} rows for {n} submissions; not full marks: {bad[:3]}")
    return wall


def notebook_time(lab, repeats: int, workdir: Path) -> list[float]:
    """Plain papermill, in this process, on the source notebook with the grading parameters (no sandbox)."""
    import papermill

    times = []
    for i in range(repeats):
        out = workdir / f"papermill-{i}.ipynb"
        start = time.perf_counter()
        papermill.execute_notebook(
            str(lab.notebook_path),
            str(out),
            parameters=lab.parameters,
            kernel_name="python3",
            cwd=str(workdir),
            progress_bar=False,
        )
        times.append(time.perf_counter() - start)
    return times


def with_parameters(nb, parameters: dict):
    """nb with a plain cell assigning the grading parameters right after the `parameters` cell (papermill's
    injection done by hand, for nbgrader)."""
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    code = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return nb


def nbgrader_time(course: Path, n: int) -> float:
    wall, _ = run([str(BIN / "nbgrader"), "autograde", LAB, "--force"], cwd=course)
    graded = list((course / "autograded").glob(f"*/{LAB}/autograd.ipynb"))
    if len(graded) != n:
        raise RuntimeError(f"nbgrader autograded {len(graded)} of {n} submissions")
    return wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50, help="submissions per batch (default 50)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated (default 1,2,4)")
    parser.add_argument("--nbgrader-n", type=int, default=10, help="submissions for nbgrader autograde; 0 skips it")
    parser.add_argument("--repeats", type=int, default=3, help="plain papermill runs (median taken)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: --n 2 --workers 1,2 --nbgrader-n 0 --repeats 1"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "grading.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.workers, args.nbgrader_n, args.repeats = 2, "1,2", 0, 1
    workers = [int(w) for w in args.workers.split(",")]
    if 1 not in workers:
        parser.error("--workers must include 1 (the speed-ups are relative to it)")

    lab = load_lab(ROOT / "labs" / LAB)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        course = new_course(tmp, "course")
        source = subs.read(lab.notebook_path)
        released = subs.read(course / "release" / LAB / lab.notebook)
        ref = subs.reference(released, source)

        nb_times = notebook_time(lab, args.repeats, tmp)
        nb_time = statistics.median(nb_times)

        submit(course, ref, 1)
        single = grade(course, 1, 1, lab.points)
        shutil.rmtree(course / "submitted")

        submit(course, ref, args.n)
        batch = {w: grade(course, w, args.n, lab.points) for w in workers}

        nbg = None
        if args.nbgrader_n:
            nbg_course = new_course(tmp, "nbgrader-course")
            submit(nbg_course, with_parameters(ref, lab.parameters), args.nbgrader_n)
            nbg = nbgrader_time(nbg_course, args.nbgrader_n)

    per_sub = batch[1] / args.n
    report = {
        "lab": LAB,
        "n": args.n,
        "notebook_s": nb_time,
        "notebook_s_all": nb_times,
        "single_s": single,
        "per_submission_s": per_sub,
        "overhead_s": per_sub - nb_time,
        "startup_s": single - per_sub,
        "batch": {
            str(w): {"wall_s": t, "per_minute": 60 * args.n / t, "speedup": batch[1] / t} for w, t in batch.items()
        },
        "nbgrader": None
        if nbg is None
        else {"n": args.nbgrader_n, "wall_s": nbg, "per_submission_s": nbg / args.nbgrader_n},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
    }
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.output}")
    return 0


def print_table(r: dict) -> None:
    m = r["machine"]
    print(
        f"lab {r['lab']}, {m['cpus']} cpus, load before {m['loadavg_before'][0]:.2f}, after {m['loadavg_after'][0]:.2f}"
    )
    print(f"notebook alone (plain papermill, in-process): {r['notebook_s']:6.2f} s")
    print(f"one submission, `dscourse grade` wall:        {r['single_s']:6.2f} s")
    print(f"per submission in a 1-worker batch:           {r['per_submission_s']:6.2f} s")
    print(f"grading overhead per submission:              {r['overhead_s']:6.2f} s   (goal < 2 s)")
    print(f"start-up (single - per submission):           {r['startup_s']:6.2f} s")
    print(f"\n{'workers':>7} {'wall s':>8} {'subs/min':>9} {'speed-up':>9}   ({r['n']} submissions)")
    for w, b in r["batch"].items():
        print(f"{w:>7} {b['wall_s']:8.1f} {b['per_minute']:9.1f} {b['speedup']:8.2f}x")
    if r["nbgrader"]:
        nb = r["nbgrader"]
        print(
            f"\nnbgrader autograde, {nb['n']} submissions: {nb['wall_s']:.1f} s ({nb['per_submission_s']:.2f} s each)"
        )


if __name__ == "__main__":
    sys.exit(main())
