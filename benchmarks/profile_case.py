"""Profile one benchmark case on one framework: where a step's time goes (Python functions and aten kernels).

    .venv/bin/python -m benchmarks.profile_case --case resnet18 --framework dslib-torch
    .venv/bin/python -m benchmarks.profile_case --case conv --framework dslib-numpy --top 30

Prints cProfile's top functions by own time and by cumulative time over the profiled steps, and, for the
frameworks that run on PyTorch's kernels (dslib-torch, pytorch), torch.profiler's aten-op table: comparing the
two frameworks' op tables separates kernel time (the same kernels, the same cost) from dslib's own overhead
(autograd bookkeeping, Python, extra copies). Run it on a quiet machine; profiling itself adds overhead.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import os
import pstats
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True)
    p.add_argument("--framework", required=True)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--no-torch-profiler", action="store_true")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    workload = importlib.import_module(f"benchmarks.cases.{args.case}").build(args.framework)
    for _ in range(args.warmup):
        workload.step()

    t = time.perf_counter()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(args.steps):
        workload.step()
    prof.disable()
    wall = time.perf_counter() - t
    print(f"{args.case} / {args.framework}: {args.steps} steps under cProfile, {1e3 * wall / args.steps:.1f} ms/step")
    for key in ("tottime", "cumulative"):
        s = io.StringIO()
        pstats.Stats(prof, stream=s).strip_dirs().sort_stats(key).print_stats(args.top)
        print(f"\n=== cProfile by {key} ===")
        print(s.getvalue().split("\n\n", 1)[-1])

    if args.framework != "dslib-numpy" and not args.no_torch_profiler:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as tp:
            for _ in range(args.steps):
                workload.step()
        print("=== torch.profiler: aten ops, self CPU time (all profiled steps) ===")
        print(tp.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
