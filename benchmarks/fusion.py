"""Elementwise fusion: a chain of 8 elementwise ops over 4M float32, graph mode fused vs unfused, and eager.

    .venv/bin/python benchmarks/fusion.py                      # numpy, 4M elements, median of 7 runs
    .venv/bin/python benchmarks/fusion.py --device torch --n 1000000 --repeat 5

The chain is `((x * a + b).relu() * c - d).exp() / e + f` style: 8 ops, 6 of them reading a second tensor.
Rows: eager dslib; the compiled graph without passes (replay only: no api/autograd overhead, same kernels);
the compiled graph with fusion (one blocked kernel). The issue's goal is fused >= 3x unfused. Timings on a
shared machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

import dslib
from dslib.graph.passes import dead_code_elimination, fuse_elementwise


def arithmetic(x, a, b, c, d, e, f):  # 8 memory-bound ops: mul add relu mul sub abs div add
    return ((x * a + b).relu() * c - d).abs() / e + f


def transcendental(x, a, b, c, d, e, f):  # 8 ops, 2 of them compute-bound: mul add tanh mul sub exp div add
    return ((x * a + b).tanh() * c - d).exp() / e + f


def median_times(fns: dict, args, repeat) -> dict:
    """Median seconds per call of each fn, runs interleaved so that load changes hit all rows alike."""
    times: dict = {name: [] for name in fns}
    for fn in fns.values():
        fn(*args)  # warm-up (and capture, for compiled functions)
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(*args)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="numpy", help="numpy or torch")
    p.add_argument("--n", type=int, default=4 * 1024 * 1024, help="elements per tensor")
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    dslib.manual_seed(0)
    inputs = [dslib.randn(args.n, device=args.device) * 0.1 for _ in range(7)]
    for chain in (arithmetic, transcendental):
        unfused = dslib.compile(chain, passes=(dead_code_elimination,))
        fused = dslib.compile(chain, passes=(dead_code_elimination, fuse_elementwise))
        ref = chain(*inputs).numpy()
        assert np.allclose(fused(*inputs).numpy(), ref, rtol=1e-5, atol=1e-6), "fused result differs from eager"
        rows = median_times({"eager": chain, "graph_unfused": unfused, "graph_fused": fused}, inputs, args.repeat)
        print(f"{chain.__name__}: {fused.graph.nodes[-1].op_name}")
        for name, t in rows.items():
            print(f"  {name:>14}: {t * 1e3:8.2f} ms")
        up, ue = rows["graph_unfused"] / rows["graph_fused"], rows["eager"] / rows["graph_fused"]
        print(f"  fused vs unfused: {up:.2f}x (goal >= 3x); fused vs eager: {ue:.2f}x")
        ms = {k: round(v * 1e3, 3) for k, v in rows.items()}
        print(json.dumps({"chain": chain.__name__, "device": args.device, "n": args.n, **ms}))


if __name__ == "__main__":
    main()
