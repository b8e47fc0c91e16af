"""The numpy memory pool (dslib.memory) on eager ResNet training steps: the pool's fragmentation and cache
hit rate after the first step, and the eager step time with the pool off and on, side by side.

    .venv/bin/python benchmarks/memory_pool.py                        # ResNet-8 and ResNet-18, batch 32 and 64
    .venv/bin/python benchmarks/memory_pool.py --models resnet8 --batch-sizes 32 --steps 4

Each (model, batch, pool off/on) runs in a fresh subprocess (peak RSS is the process's ru_maxrss), the
two modes of a case one after the other. A step is zero_grad, forward, cross-entropy, backward and an
SGD-with-momentum update on random CIFAR-shaped input (3x32x32, 10 classes). After step 1 the pool's
peak and event counters are reset, so "hits" and "fragmentation" (1 - peak allocated / peak reserved)
describe the steady state; issue 5's goals: hits >= 95 %, fragmentation <= 10 %. The step time is the
median of the steps after the first (3 by default). Losses with the pool on and off must agree exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np


def train(model_name: str, pool: bool, steps: int, batch_size: int, seed: int = 0) -> dict:
    """Run `steps` eager training steps on numpy with the pool on or off; times, losses, pool stats."""
    import dslib
    import dslib.models

    dslib.memory.set_enabled(pool)
    dslib.manual_seed(seed)
    model = getattr(dslib.models, model_name)(num_classes=10)
    opt = dslib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(seed)
    x = dslib.from_numpy(rng.standard_normal((batch_size, 3, 32, 32), dtype=np.float32))
    y = dslib.from_numpy(rng.integers(0, 10, batch_size))
    times, losses, faults = [], [], 0
    for step in range(steps):
        if step == 1:
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = dslib.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        del loss
        times.append(time.perf_counter() - t0)
        if step == 0:
            dslib.memory.reset_peak_stats()
            dslib.memory.reset_accumulated_stats()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (steps - 1)  # page faults per step
    stats, summary = dslib.memory.memory_stats(), dslib.memory.summary()
    return {"times": times, "losses": losses, "faults": faults, "stats": stats, "summary": summary}


def run_case(model: str, batch_size: int, mode: str, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--child", mode, "--models", model, "--batch-sizes", str(batch_size)]
    proc = subprocess.run([*cmd, "--steps", str(args.steps)], env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"memory_pool.py child ({model}, batch {batch_size}, pool {mode}) failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet8,resnet18", help="comma-separated dslib.models names")
    ap.add_argument("--batch-sizes", default="32,64", help="comma-separated batch sizes")
    ap.add_argument("--steps", type=int, default=4, help="training steps per run (>= 2); the first is warm-up")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads in each child")
    ap.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    models, batches = args.models.split(","), [int(b) for b in args.batch_sizes.split(",")]
    if args.steps < 2 or min(batches) < 1 or args.threads < 1:
        ap.error("--steps must be >= 2, --batch-sizes and --threads >= 1")
    if args.child:
        out = train(models[0], args.child == "on", args.steps, batches[0])
        out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return print(json.dumps(out))
    print(f"eager training steps on numpy, {args.threads} BLAS thread(s), step time = median of steps 2..{args.steps}")
    head = "case,frag %,hits %,allocs/step,peak alloc MiB,ms off,ms on,on/off,RSS MiB off,RSS MiB on,faults off"
    head = [*head.split(","), "faults on"]  # minor page faults per step: what NumPy's fresh big arrays cost
    print(f"{head[0]:<14}" + "".join(f"{h:>{max(9, len(h) + 1)}}" for h in head[1:]) + "  same losses")
    summaries = []
    for model in models:
        for b in batches:
            off, on = (run_case(model, b, mode, args) for mode in ("off", "on"))
            s, t_off, t_on = on["stats"], statistics.median(off["times"][1:]), statistics.median(on["times"][1:])
            row = (100 * s["fragmentation"], 100 * s["cache_hit_rate"], s["num_allocs"] / (args.steps - 1))
            row += (s["peak_allocated_bytes"] / 2**20, 1e3 * t_off, 1e3 * t_on, t_on / t_off)
            row += (off["peak_rss_mib"], on["peak_rss_mib"], off["faults"], on["faults"])
            cells = "".join(f"{v:>{max(9, len(h) + 1)}.{0 if 'faults' in h else 2}f}" for h, v in zip(head[1:], row))
            print(f"{model + ' b' + str(b):<14}{cells}  {off['losses'] == on['losses']}", flush=True)
            summaries.append(f"{model}, batch {b}, pool on, after step 1:\n{on['summary']}")
    print("goals (issue 5): fragmentation <= 10 %, hits after step 1 >= 95 %; on/off < 1 means the pool is faster")
    print("\n".join(summaries[-1:]))


if __name__ == "__main__":
    main()
