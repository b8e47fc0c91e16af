"""Memory planning made real: eager vs graph replay (Executor) vs graph replay in one arena (ArenaExecutor).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/arena.py                  # resnet8 + vit, batch 64, 5 reps
    .venv/bin/python benchmarks/arena.py --models resnet8 --batch 32 --reps 9
    .venv/bin/python benchmarks/arena.py --quick                                  # smoke run: batch 2, 1 rep

Two tables, both on the numpy device:

1. Inference (model.eval(), no_grad) of dslib.models.resnet8 and dslib.models.vit (defaults, 32x32 RGB): eager
   dslib; the compiled graph (default passes) replayed by dslib.graph.Executor; the same graph replayed by
   dslib.graph.arena.ArenaExecutor, whose out=-capable nodes write into one preallocated arena planned by
   dslib.graph.memory_plan (in-place pairs from passes/inplace.py included). Time: median of `--reps` calls,
   the three cases interleaved. Memory: tracemalloc's peak during one steady-state call (after a warm-up
   call), minus the traced bytes before the executor was built, so the arena an executor keeps between
   calls counts. Every case's output is checked against eager (max |diff| is printed; the arena runs the
   same NumPy loops, so it is 0).
2. Planned bytes (no run): for the eval graph and for a whole SGD-momentum training step (forward,
   cross-entropy, backward, update, captured by dslib.compile) of each model: naive (every intermediate its
   own allocation), peak live (the lower bound for any plan), the greedy-by-size arena (Pisarchyk & Lee
   2020), and the arena with in-place reuse; and how long planning took.

Results go to benchmarks/results/arena.json (--output; written atomically). Timings on a shared machine are
noisy: read the ratios, measured side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import dslib
import dslib.models
from dslib.graph.arena import ArenaExecutor
from dslib.graph.executor import Executor
from dslib.graph.memory_plan import nbytes, plan_memory
from dslib.graph.passes.inplace import mark_inplace

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.jsonio import write_json  # noqa: E402 - after the path set-up, so the script runs from anywhere

RESULTS = Path(__file__).parent / "results" / "arena.json"
MODELS = {"resnet8": dslib.models.resnet8, "vit": dslib.models.vit}
CASES = ("eager", "Executor", "ArenaExecutor")
MiB = 1 << 20


def _makers(model, x, graph) -> dict:
    """case -> a function that builds a fresh runner (an executor holds its arena from its first call)."""

    def eager():
        def run():
            with dslib.no_grad():
                return model(x)

        return run

    def replay(cls):
        def make():
            ex = cls(graph)
            return lambda: ex([x._data])

        return make

    return {"eager": eager, "Executor": replay(Executor), "ArenaExecutor": replay(ArenaExecutor)}


def _peak(make) -> int:
    """Traced bytes at the peak of one steady-state call, counting what the runner keeps between calls."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn = make()
        out = fn()  # warm-up: an ArenaExecutor allocates its arena here and keeps it
        del out
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def run_table(name: str, batch: int, reps: int) -> list:
    """Time and peak traced memory of eager / Executor / ArenaExecutor for one model's inference."""
    dslib.manual_seed(0)
    model = MODELS[name]().eval()
    x = dslib.randn(batch, 3, 32, 32)
    fast = dslib.compile(model)
    with dslib.no_grad():
        fast(x)  # capture
    makers = _makers(model, x, fast.graph)
    ref = makers["eager"]()().numpy()
    diffs = {case: float(np.abs(make()().numpy() - ref).max()) for case, make in makers.items()}
    arena = ArenaExecutor(fast.graph)
    times: dict = {case: [] for case in CASES}
    peaks: dict = {case: [] for case in CASES}
    for _ in range(reps):
        for case, make in makers.items():
            fn = make()
            fn()  # warm-up
            start = time.perf_counter()
            fn()
            times[case].append(time.perf_counter() - start)
        for case, make in makers.items():
            peaks[case].append(_peak(make))
    t_eager, m_eager = statistics.median(times["eager"]), statistics.median(peaks["eager"])
    rows = []
    for case in CASES:
        t, m = statistics.median(times[case]), statistics.median(peaks[case])
        rows.append({
            "model": name, "case": case, "batch": batch, "time_ms": t * 1e3, "x_eager_time": t / t_eager,
            "peak_mib": m / MiB, "x_eager_memory": m / m_eager, "max_abs_diff": diffs[case],
            "time_ms_all": [v * 1e3 for v in times[case]], "peak_mib_all": [v / MiB for v in peaks[case]],
        })  # fmt: skip
    rows[-1].update(
        arena_mib=arena.plan.arena_bytes / MiB, arena_values=len(arena.plan.offsets), inplace_nodes=len(arena.inplace)
    )
    return rows


def plan_row(name: str, graph_name: str, graph) -> dict:
    """Planned bytes of one captured graph, without and with in-place reuse."""
    start = time.perf_counter()
    plain = plan_memory(graph, inplace={})
    plan_ms = (time.perf_counter() - start) * 1e3
    mark_inplace(graph)
    shared = plan_memory(graph)
    return {
        "model": name, "graph": graph_name, "nodes": len(graph.nodes), "buffers": len(plain.offsets),
        "naive_mib": plain.naive_bytes / MiB, "peak_live_mib": plain.peak_live_bytes / MiB,
        "arena_mib": plain.arena_bytes / MiB, "x_naive": plain.arena_bytes / plain.naive_bytes,
        "x_peak": plain.arena_bytes / plain.peak_live_bytes, "inplace_nodes": len(shared.inplace),
        "inplace_saved_mib": sum(nbytes(n.meta) for n in shared.inplace) / MiB,
        "inplace_arena_mib": shared.arena_bytes / MiB, "inplace_peak_live_mib": shared.peak_live_bytes / MiB,
        "plan_ms": plan_ms,
    }  # fmt: skip


def plan_rows(name: str, batch: int) -> list:
    """Plan rows for the model's eval graph and its SGD training-step graph."""
    dslib.manual_seed(0)
    model = MODELS[name]()
    x, y = dslib.randn(batch, 3, 32, 32), dslib.randint(0, 10, (batch,))
    fast = dslib.compile(model.eval())
    with dslib.no_grad():
        fast(x)
    rows = [plan_row(name, "eval", fast.graph)]
    model.train()
    opt = dslib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = dslib.nn.CrossEntropyLoss()

    @dslib.compile
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    train_step(x, y)  # capture
    rows.append(plan_row(name, "SGD train step", train_step.graph))
    return rows


def format_runs(rows: list) -> str:
    lines = [f"{'model':<9}{'case':<15}{'time ms':>10}{'x eager':>9}{'peak MiB':>10}{'x eager':>9}{'max|diff|':>11}"]
    for r in rows:
        lines.append(
            f"{r['model']:<9}{r['case']:<15}{r['time_ms']:10.2f}{r['x_eager_time']:9.2f}"
            f"{r['peak_mib']:10.2f}{r['x_eager_memory']:9.2f}{r['max_abs_diff']:11.1e}"
        )
    return "\n".join(lines)


def format_plans(rows: list) -> str:
    head = f"{'model':<9}{'graph':<16}{'nodes':>6}{'buffers':>8}{'naive MiB':>11}{'peak live':>11}{'arena':>9}"
    lines = [head + f"{'x naive':>8}{'x peak':>8}{'in-place':>9}{'arena w/ in-place':>19}{'plan ms':>9}"]
    for r in rows:
        lines.append(
            f"{r['model']:<9}{r['graph']:<16}{r['nodes']:6d}{r['buffers']:8d}{r['naive_mib']:11.2f}"
            f"{r['peak_live_mib']:11.2f}{r['arena_mib']:9.2f}{r['x_naive']:8.2f}{r['x_peak']:8.3f}"
            f"{r['inplace_nodes']:9d}{r['inplace_arena_mib']:19.2f}{r['plan_ms']:9.0f}"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet8,vit", help="comma-separated: resnet8, vit")
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64; --quick: 2)")
    p.add_argument("--reps", type=int, default=5, help="timed calls per case (default 5; --quick: 1)")
    p.add_argument("--quick", action="store_true", help="smoke run: batch 2, 1 rep")
    p.add_argument("--output", default=str(RESULTS), help="JSON results file")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        p.error(f"--models: unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    batch, reps = (2, 1) if args.quick else (args.batch, args.reps)
    if batch < 1 or reps < 1:
        p.error("--batch and --reps must be >= 1")

    load_before = os.getloadavg()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in load_before)}")
    runs = [row for m in models for row in run_table(m, batch, reps)]
    print(f"\ninference, numpy, batch {batch}, median of {reps} (ratios vs eager)")
    print(format_runs(runs))
    for r in runs:
        if "arena_mib" in r:
            print(f"  {r['model']}: ArenaExecutor plans {r['arena_values']} values into a {r['arena_mib']:.2f} MiB "
                  f"arena, {r['inplace_nodes']} nodes in place")  # fmt: skip
    plans = [row for m in models for row in plan_rows(m, batch)]
    print(f"\nplanned bytes, batch {batch} (MiB; no run)")
    print(format_plans(plans))
    load_after = os.getloadavg()
    report = {
        "batch": batch, "reps": reps, "quick": args.quick, "models": models, "runs": runs, "plans": plans,
        "load_average_before": list(load_before), "load_average_after": list(load_after),
    }  # fmt: skip
    write_json(args.output, report)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in load_after)}\nwrote {args.output}")
    return report


if __name__ == "__main__":
    main()
