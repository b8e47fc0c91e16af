"""The benchmark table: dslib on "numpy", dslib on "torch" and PyTorch eager, measured side by side in one run.

    .venv/bin/python benchmarks/run.py                          # all cases, all frameworks
    .venv/bin/python benchmarks/run.py --cases conv,resnet18 --repeats 10
    .venv/bin/python benchmarks/run.py --quick --cases mlp      # smoke test (a few steps)
    .venv/bin/python benchmarks/run.py --unset-openblas-coretype

Cases (benchmarks/cases/, one file each): (a) `mlp`, an MLP training step on digits; (b) `conv`, a 3x3 conv
forward+backward at batch 64, 64->64 channels, 32x32; (c) `resnet18`, a CIFAR ResNet-18 training step at batch 64
with SGD momentum. Each (case, framework) runs in a fresh subprocess (benchmarks/measure.py) with the same thread
count everywhere (torch.set_num_threads and OMP/OpenBLAS/MKL_NUM_THREADS; default: all cores): warm-up steps, then
timed steps, whose median is the step time; with --rounds R the whole sweep repeats R times, interleaved, and
each (case, framework) keeps its fastest round (load from other processes only ever slows a round down). Peak memory is the subprocess's peak RSS during the steps (VmHWM,
reset after setup), reported both absolute and as the delta over the RSS after model/data creation; see
measure.py for how. Ratios are to PyTorch on the same case (lower is better; 1.15 means 15% slower).

OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) may be set in this environment, which can slow NumPy's BLAS: the header
says whether they are set, and --unset-openblas-coretype runs the subprocesses without them.
The table also goes to benchmarks/results/latest.json (or --output), with every step time and the machine's load.
Benchmarks are not part of the test run; tests/benchmarks/test_run.py only smoke-tests this script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.cases import CASES, FRAMEWORKS  # noqa: E402

REFERENCE = "pytorch"
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
QUICK_WARMUP, QUICK_STEPS = 1, 3


def child_env(threads: int, unset_openblas: bool) -> dict:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    if unset_openblas:
        for var in OPENBLAS_VARS:
            env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_one(case: str, framework: str, args, env: dict) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.measure", "--case", case, "--framework", framework]
    cmd += ["--threads", str(args.threads)]
    warmup, steps = (QUICK_WARMUP, QUICK_STEPS) if args.quick else (args.warmup, args.repeats)
    if warmup is not None:
        cmd += ["--warmup", str(warmup)]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"case": case, "framework": framework, "error": f"timed out after {args.timeout} s"}
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["(no output)"]
        return {"case": case, "framework": framework, "error": lines[-1][:200], "stderr": proc.stderr[-4000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def add_ratios(rows: list[dict]):
    """Step-time and peak-delta ratios to PyTorch's row of the same case (None where either is missing)."""
    ref = {r["case"]: r for r in rows if r["framework"] == REFERENCE and "error" not in r}
    for r in rows:
        base = ref.get(r["case"])
        ok = base is not None and "error" not in r
        r["time_ratio"] = r["step_ms"] / base["step_ms"] if ok else None
        r["memory_ratio"] = r["peak_delta_mb"] / base["peak_delta_mb"] if ok and base["peak_delta_mb"] > 0 else None


def format_table(rows: list[dict]) -> str:
    head = ("case", "framework", "step ms", "x torch", "peak MB", "delta MB", "mem x torch", "last loss")
    out = [
        f"{head[0]:<9} {head[1]:<12} {head[2]:>10} {head[3]:>8} {head[4]:>8} {head[5]:>9} {head[6]:>11} {head[7]:>10}"
    ]
    out.append("-" * len(out[0]))

    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    for r in rows:
        if "error" in r:
            out.append(f"{r['case']:<9} {r['framework']:<12} error: {r['error']}")
            continue
        out.append(
            f"{r['case']:<9} {r['framework']:<12} {r['step_ms']:>10.2f} {num(r['time_ratio'], '.2f'):>8} "
            f"{r['peak_mb']:>8.0f} {r['peak_delta_mb']:>9.1f} {num(r['memory_ratio'], '.2f'):>11} "
            f"{num(r['last_loss'], '.5f'):>10}"
        )
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {','.join(CASES)}")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS), help=f"comma-separated, from {','.join(FRAMEWORKS)}")
    p.add_argument("--repeats", type=int, default=None, help="timed steps per measurement (default: per case)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default: per case)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure everything this many times, interleaved; keep each "
        "(case, framework)'s fastest round (steadier on a shared machine)",
    )
    p.add_argument("--quick", action="store_true", help=f"{QUICK_WARMUP} warm-up + {QUICK_STEPS} timed steps")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every framework (default: cores)")
    p.add_argument("--unset-openblas-coretype", action="store_true", help="run without " + " / ".join(OPENBLAS_VARS))
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed per measurement")
    p.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    args = p.parse_args(argv)
    cases, frameworks = args.cases.split(","), args.frameworks.split(",")
    for name, given, known in (("case", cases, CASES), ("framework", frameworks, FRAMEWORKS)):
        unknown = [g for g in given if g not in known]
        if unknown:
            p.error(f"unknown {name} {unknown}: choose from {', '.join(known)}")

    openblas = {var: os.environ.get(var) for var in OPENBLAS_VARS}
    env = child_env(args.threads, args.unset_openblas_coretype)
    versions = {"python": platform.python_version(), "numpy": version("numpy"), "torch": version("torch")}
    print(f"threads: {args.threads} (of {os.cpu_count()} cores); " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    state = ", ".join(f"{k}={v}" if v is not None else f"{k} unset" for k, v in openblas.items())
    print(
        f"openblas: {state}"
        + ("; removed for the runs (--unset-openblas-coretype)" if args.unset_openblas_coretype else "")
    )
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)

    best, started = {}, time.time()
    for round_ in range(args.rounds):
        for case in cases:
            for fw in sorted(frameworks, key=lambda f: f != REFERENCE):  # reference first
                r = run_one(case, fw, args, env)
                msg = f"error: {r['error']}" if "error" in r else f"{r['step_ms']:.2f} ms"
                print(f"  round {round_ + 1}: {case} / {fw}: {msg}", file=sys.stderr, flush=True)
                kept = best.get((case, fw))
                medians = (kept or {}).get("round_step_ms", []) + [r.get("step_ms")]
                if kept is None or "error" in kept or ("error" not in r and r["step_ms"] < kept["step_ms"]):
                    kept = best[(case, fw)] = r
                kept["round_step_ms"] = medians
    rows = list(best.values())
    order = {fw: i for i, fw in enumerate(FRAMEWORKS)}
    rows.sort(key=lambda r: (cases.index(r["case"]), order[r["framework"]]))
    add_ratios(rows)
    load_after = os.getloadavg()

    print()
    print(format_table(rows))
    print(
        "\nstep ms: median of the timed steps; x torch: ratio to PyTorch eager. peak MB: peak RSS during the steps; "
        "delta MB: peak minus RSS after setup; mem x torch: ratio of deltas. last loss: after the last step, the same "
        "weights and data everywhere (a check that the frameworks compute the same thing)."
    )
    print(
        f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
        f"wall {time.time() - started:.0f} s"
    )

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "threads": args.threads,
        "cores": os.cpu_count(),
        "quick": args.quick,
        "rounds": args.rounds,
        "openblas_env": openblas,
        "openblas_unset_for_runs": args.unset_openblas_coretype,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "versions": versions,
        "rows": rows,
    }
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
