"""Elementwise fusion: chains of 8 elementwise ops over 4M float32, eager vs graph replay unfused vs fused.

    .venv/bin/python benchmarks/fusion.py                      # numpy and torch, 4M elements, median of 7 runs
    .venv/bin/python benchmarks/fusion.py --device numpy --n 1000000 --repeat 5
    .venv/bin/python benchmarks/fusion.py --numba     # also numba (and numexpr) rows, where they are installed

Chains: `arithmetic` and `transcendental` read 7 tensors (6 of the 8 ops read a second tensor), `scalar` reads
one tensor (its 8 ops take Python numbers). Rows: eager dslib; the compiled graph without fusion (replay only:
no api/autograd overhead, the same kernels; NumPy on 1 thread, torch on its default threads, and on torch also
on 1 thread); the compiled graph with fusion (graph/kernels.py's blocked `out=` path: 1 thread on both). When numexpr is importable, also the
fused graph through numexpr at its default threads and at 1 thread; with --numba, a numba loop of the chain.
The issue's goal: fused >= 3x unfused on numpy.

Fusion saves memory traffic, so its ceiling is bytes moved unfused / bytes moved fused, printed per chain:
every unfused op reads its array operands and writes its result (plus a fresh allocation's page faults), the
fused kernel reads each input once and writes the result once. A chain that reads 7 tensors cannot gain much
more than 22 / 8 = 2.75x on one thread, however good the kernel. Results: benchmarks/results/fusion.json.
Timings on a shared machine are noisy: read the ratios, measured side by side (runs interleaved).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

import dslib
from dslib.graph import kernels
from dslib.graph.passes import dead_code_elimination, fuse_elementwise

RESULTS = Path(__file__).parent / "results" / "fusion.json"
NUMEXPR_THREADS = kernels.numexpr.nthreads if kernels.numexpr else 0  # numexpr's default: one per core


def arithmetic(x, a, b, c, d, e, f):  # 8 memory-bound ops: mul add relu mul sub abs div add
    return ((x * a + b).relu() * c - d).abs() / e + f


def transcendental(x, a, b, c, d, e, f):  # 8 ops, 2 of them compute-bound: mul add tanh mul sub exp div add
    return ((x * a + b).tanh() * c - d).exp() / e + f


def scalar(x, *_):  # 8 ops on one tensor and Python numbers: mul add relu mul sub abs div add
    return ((x * 1.5 + 0.5).relu() * 0.9 - 0.1).abs() / 1.1 + 0.2


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


def bytes_moved(graph) -> int:
    """Bytes read + written by the graph's op/fused nodes: each distinct operand once per node, and the result."""

    def nbytes(node):
        shape, dtype = node.meta
        return int(np.prod(shape)) * np.dtype(dtype).itemsize

    return sum(
        sum(map(nbytes, dict.fromkeys(n.inputs()))) + nbytes(n) for n in graph.nodes if n.kind in ("op", "fused")
    )


def with_numexpr(fn, threads):
    """fn run with numexpr on (at `threads` threads) or off (threads=0: the default blocked path)."""

    def run(*args):
        saved = kernels.NUMEXPR
        kernels.NUMEXPR = kernels.numexpr if threads else None
        old = kernels.numexpr.set_num_threads(threads) if threads else None
        try:
            return fn(*args)
        finally:
            kernels.NUMEXPR = saved
            if old is not None:
                kernels.numexpr.set_num_threads(old)

    return run


def torch_one_thread(fn):
    from dslib.backend.torch_kernels import one_thread

    def run(*args):
        with one_thread():
            return fn(*args)

    return run


def _arithmetic_loop(x, a, b, c, d, e, f, out):
    for i in range(x.shape[0]):
        out[i] = abs(max(x[i] * a[i] + b[i], 0) * c[i] - d[i]) / e[i] + f[i]


def _transcendental_loop(x, a, b, c, d, e, f, out):
    for i in range(x.shape[0]):
        out[i] = math.exp(math.tanh(x[i] * a[i] + b[i]) * c[i] - d[i]) / e[i] + f[i]


def _scalar_loop(x, a, b, c, d, e, f, out):
    for i in range(x.shape[0]):
        out[i] = abs(max(x[i] * 1.5 + 0.5, 0) * 0.9 - 0.1) / 1.1 + 0.2


def numba_row(chain, arrays, repeat, ref):
    """Time the chain as a numba loop (what a numba code generator would emit); None without numba."""
    try:
        import numba
    except ImportError:
        return None
    loop = {"arithmetic": _arithmetic_loop, "transcendental": _transcendental_loop, "scalar": _scalar_loop}
    start = time.perf_counter()
    kernel = numba.njit(loop[chain.__name__])
    out = np.empty_like(arrays[0])
    kernel(*arrays, out)
    compile_s = time.perf_counter() - start
    assert np.allclose(out, ref, rtol=1e-5, atol=1e-6), "the numba loop differs from eager"
    t = median_times({"numba": lambda *a: kernel(*a, out)}, arrays, repeat)["numba"]
    print(f"  numba: compiled in {compile_s:.2f} s")
    return {"numba_1thread": t}


def bench(device, n, repeat, numba):
    dslib.manual_seed(0)
    inputs = [dslib.randn(n, device=device) * 0.1 for _ in range(7)]
    rows = []
    for chain in (arithmetic, transcendental, scalar):
        unfused = dslib.compile(chain, passes=(dead_code_elimination,))
        fused = dslib.compile(chain, passes=(dead_code_elimination, fuse_elementwise))
        fns = {"eager": chain, "graph_unfused": unfused, "graph_fused": with_numexpr(fused, 0)}
        if device == "torch":  # the fused kernel runs on 1 thread: the unfused graph on 1 thread too, for fairness
            fns["graph_unfused_1thread"] = torch_one_thread(unfused)
        if device == "numpy" and kernels.numexpr is not None:
            fns["graph_fused_numexpr"] = with_numexpr(fused, NUMEXPR_THREADS)
            fns["graph_fused_numexpr_1thread"] = with_numexpr(fused, 1)
        ref = chain(*inputs).numpy()
        for name, fn in fns.items():
            got = fn(*inputs).numpy()
            assert np.allclose(got, ref, rtol=1e-5, atol=1e-6), f"{name} differs from eager on {chain.__name__}"
        times = median_times(fns, inputs, repeat)
        if device == "numpy" and numba:
            times.update(numba_row(chain, [t.numpy() for t in inputs], repeat, ref) or {})
        moved = (bytes_moved(unfused.graph) / 2**20, bytes_moved(fused.graph) / 2**20)
        row = {"chain": chain.__name__, "device": device, "n": n, "kernel": fused.graph.nodes[-1].op_name}
        row.update({k + "_ms": round(v * 1e3, 3) for k, v in times.items()})
        base = times["graph_unfused"]
        row.update({k + "_speedup": round(base / v, 2) for k, v in times.items() if k != "eager"})
        row.update(
            mb_moved_unfused=round(moved[0]), mb_moved_fused=round(moved[1]), ceiling=round(moved[0] / moved[1], 2)
        )
        rows.append(row)
        print(f"{device} {chain.__name__}: {row['kernel']}")
        print(f"  memory traffic: unfused {moved[0]:.0f} MB, fused {moved[1]:.0f} MB -> ceiling {row['ceiling']}x")
        for name, t in times.items():
            ratio = f"  {base / t:5.2f}x vs unfused" if name != "eager" else ""
            print(f"  {name:>28}: {t * 1e3:8.2f} ms{ratio}")
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="both", help="numpy, torch or both")
    p.add_argument("--n", type=int, default=4 * 1024 * 1024, help="elements per tensor")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--numba", action="store_true", help="also time a numba loop (numba must be importable)")
    p.add_argument("--out", default=str(RESULTS), help="JSON results file")
    args = p.parse_args()
    import torch

    print(f"threads: torch {torch.get_num_threads()}, numexpr "
          f"{NUMEXPR_THREADS or 'not installed'}, numpy 1")  # fmt: skip
    rows = []
    for device in ("numpy", "torch") if args.device == "both" else (args.device,):
        rows += bench(device, args.n, args.repeat, args.numba)
    print("\nfused vs unfused (goal >= 3x on numpy):")
    for r in rows:
        print(f"  {r['device']:>5} {r['chain']:>14}: {r['graph_fused_speedup']:5.2f}x (ceiling {r['ceiling']}x)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
