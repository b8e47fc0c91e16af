"""The numpy memory pool (dslib.memory) on small-CNN training steps: step time and peak RSS with the pool
off and on, and the pool's own numbers after the first step (fragmentation, share served from cache).

    .venv/bin/python benchmarks/memory_pool.py                 # batch 32, 20 steps per mode
    .venv/bin/python benchmarks/memory_pool.py --steps 50 --batch-size 64 --small-segment 131072

Each mode runs in a fresh subprocess (peak RSS is the process's ru_maxrss, so the modes must not share
one). The model: conv(1->8) BN ReLU maxpool, conv(8->16) BN ReLU maxpool, linear(784->10), SGD with
momentum, cross-entropy on random 28x28 inputs. After step 1 the pool's peak and event counters are
reset, so "from cache" and "fragmentation" describe the steady state (issue 5 goals: >= 95 %, <= 10 %).
The step time is the median of the steps after the first. Losses of both modes must agree exactly.
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


def small_cnn(dslib):
    nn = dslib.nn
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
    )  # fmt: skip


def train(pool: bool, steps: int, batch_size: int, small_segment: int, seed: int = 0) -> dict:
    """Run `steps` eager training steps on numpy with the pool on or off; times, losses, pool stats."""
    import dslib

    dslib.memory.set_enabled(pool)
    dslib.memory.set_small_segment(small_segment)
    dslib.manual_seed(seed)
    model = small_cnn(dslib)
    opt = dslib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(seed)
    x = dslib.from_numpy(rng.standard_normal((batch_size, 1, 28, 28), dtype=np.float32))
    y = dslib.from_numpy(rng.integers(0, 10, batch_size))
    times, losses = [], []
    for step in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = dslib.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        times.append(time.perf_counter() - t0)
        if step == 0:
            dslib.memory.reset_peak_stats()
            dslib.memory.reset_accumulated_stats()
    stats = dslib.memory.memory_stats()
    return {"times": times, "losses": losses, "stats": stats, "summary": dslib.memory.summary()}


def child(mode: str, args) -> None:
    out = train(mode == "on", args.steps, args.batch_size, args.small_segment)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_mode(mode: str, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--child", mode, "--steps", str(args.steps), "--batch-size", str(args.batch_size)]
    cmd += ["--small-segment", str(args.small_segment)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"memory_pool.py child ({mode}) failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20, help="training steps per mode (>= 2)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads in each child")
    ap.add_argument("--small-segment", type=int, default=2 << 20, help="small-pool segment bytes (PyTorch: 2 MiB)")
    ap.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.steps < 2 or args.batch_size < 1 or args.threads < 1:
        ap.error("--steps must be >= 2, --batch-size and --threads >= 1")
    if args.child:
        return child(args.child, args)
    res = {mode: run_mode(mode, args) for mode in ("off", "on")}
    print(f"small CNN, batch {args.batch_size}, {args.steps} steps, {args.threads} thread(s), "
          f"small segments {args.small_segment // 1024} KiB")  # fmt: skip
    print(f"{'pool':<5} {'step ms (median, steps 2+)':>27} {'peak RSS MiB':>13}")
    for mode, r in res.items():
        print(f"{mode:<5} {1e3 * statistics.median(r['times'][1:]):>27.2f} {r['peak_rss_mib']:>13.1f}")
    s = res["on"]["stats"]
    steady = args.steps - 1
    print(f"pool after step 1: {s['num_allocs']} allocations ({s['num_allocs'] / steady:.0f}/step), "
          f"{100 * s['cache_hit_rate']:.1f} % from cache (goal >= 95 %), "
          f"fragmentation {100 * s['fragmentation']:.1f} % (goal <= 10 %), "
          f"peak allocated {s['peak_allocated_bytes'] / 2**20:.2f} MiB, "
          f"peak reserved {s['peak_reserved_bytes'] / 2**20:.2f} MiB")  # fmt: skip
    same = res["on"]["losses"] == res["off"]["losses"]
    print(f"losses identical with the pool on and off: {same}")
    print(res["on"]["summary"])


if __name__ == "__main__":
    main()
