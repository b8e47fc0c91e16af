"""Measure one benchmark case on one framework in this process, and print the result as one JSON line.

benchmarks/run.py starts this once per (case, framework) in a fresh subprocess, so each peak-memory figure
belongs to one case alone. By hand (from the repository root):

    .venv/bin/python -m benchmarks.measure --case resnet18 --framework dslib-torch --threads 2
    .venv/bin/python -m benchmarks.measure --case conv --framework dslib-numpy --profile /tmp/conv.prof

Memory: Linux keeps a process's peak resident set size (VmHWM in /proc/self/status), and writing "5" to
/proc/self/clear_refs resets it to the current RSS. So: build the workload, gc, read VmRSS (the baseline),
reset the peak, run the warm-up and timed steps, read VmHWM. `peak_mb` is that absolute peak and
`peak_delta_mb` = peak - baseline, the memory the steps themselves need (activations, gradients, optimizer
state, temporaries). Nothing samples in the background, so the timings are undisturbed. Where clear_refs is
not writable, the peak falls back to getrusage's ru_maxrss (the lifetime peak, setup included), and
`memory_method` says so.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import resource
import statistics
import sys
import time


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure(case: str, framework: str, warmup: int | None, steps: int | None, threads: int, profile: str | None):
    import torch  # every case imports it (PyTorch draws the shared initial weights); set threads first

    torch.set_num_threads(threads)
    module = importlib.import_module(f"benchmarks.cases.{case}")
    warmup = module.WARMUP if warmup is None else warmup
    steps = module.STEPS if steps is None else steps

    t0 = time.perf_counter()
    workload = module.build(framework)
    setup_s = time.perf_counter() - t0
    gc.collect()
    base_kb = _status_kb("VmRSS")
    hwm_reset = _reset_peak()

    losses = []
    for _ in range(warmup):
        loss = workload.step()
        losses.append(None if loss is None else float(loss.item()))
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        loss = workload.step()
        times.append(time.perf_counter() - t)
        losses.append(None if loss is None else float(loss.item()))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)

    if hwm_reset:
        peak_kb, method = _status_kb("VmHWM"), "VmHWM reset by /proc/self/clear_refs after setup"
    else:
        peak_kb, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss (lifetime peak)"
    return {
        "case": case,
        "framework": framework,
        "description": workload.description,
        "threads": torch.get_num_threads(),
        "warmup": warmup,
        "steps": steps,
        "step_ms": 1e3 * statistics.median(times),
        "step_ms_min": 1e3 * min(times),
        "step_ms_all": [1e3 * t for t in times],
        "setup_s": setup_s,
        "base_mb": base_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "peak_delta_mb": (peak_kb - base_kb) / 1024,
        "memory_method": method,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True)
    p.add_argument("--framework", required=True)
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default: the case's WARMUP)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: the case's STEPS)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--profile", default=None, help="write a cProfile of the timed steps to this file")
    args = p.parse_args(argv)
    result = measure(args.case, args.framework, args.warmup, args.steps, args.threads, args.profile)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
