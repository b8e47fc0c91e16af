"""Micro-benchmark: a 3x3 conv2d forward + backward (batch 64, 64->64 channels, 32x32, stride 1, pad 1,
float32) in dslib on "numpy" and on "torch", against PyTorch eager with the same thread count.

    .venv/bin/python benchmarks/conv_kernel.py [--repeat 5] [--batch 64]

Prints the median time of each and the ratios dslib/torch (target for numpy: within 3x).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import dslib
import dslib.nn.functional as F


def _numpy_threads():
    try:
        from threadpoolctl import threadpool_info

        return max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"), default=1)
    except ImportError:  # pragma: no cover
        return torch.get_num_threads()


def _interleaved_times(fns, repeat):
    """Run the functions round-robin `repeat` times (after one warm-up each): a shared, noisy machine
    then slows all of them alike. Returns the list of times of each."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=32)
    args = ap.parse_args()
    threads = _numpy_threads()
    torch.set_num_threads(threads)
    n, c, s = args.batch, args.channels, args.size
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, s, s)).astype(np.float32)
    w = (rng.standard_normal((c, c, 3, 3)) * 0.05).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    g = rng.standard_normal((n, c, s, s)).astype(np.float32)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tg = torch.tensor(g)

    def torch_step():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, padding=1).backward(tg)

    def dslib_step(device):
        dx, dw, db = (dslib.tensor(a, device=device, requires_grad=True) for a in (x, w, b))
        dg = dslib.tensor(g, device=device)

        def step():
            dx.grad = dw.grad = db.grad = None
            F.conv2d(dx, dw, db, padding=1).backward(dg)

        return step

    times = _interleaved_times([torch_step, dslib_step("numpy"), dslib_step("torch")], args.repeat)
    t_torch, t_np, t_dt = (min(ts) for ts in times)
    m_torch, m_np, m_dt = (statistics.median(ts) for ts in times)
    print(f"conv2d 3x3 fwd+bwd, x=({n}, {c}, {s}, {s}) float32, threads={threads}, best (median) of {args.repeat}")
    print(f"  torch eager      {t_torch * 1e3:8.1f} ms ({m_torch * 1e3:.1f})")
    print(
        f"  dslib 'numpy'    {t_np * 1e3:8.1f} ms ({m_np * 1e3:.1f})   ratio {t_np / t_torch:5.2f}x ({m_np / m_torch:.2f}x)"
    )
    print(
        f"  dslib 'torch'    {t_dt * 1e3:8.1f} ms ({m_dt * 1e3:.1f})   ratio {t_dt / t_torch:5.2f}x ({m_dt / m_torch:.2f}x)"
    )


if __name__ == "__main__":
    main()
