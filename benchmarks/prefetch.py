"""The DataLoader's prefetch effect: epoch time with num_workers=0 (load, then train, in turn) against
background workers (loading the next batches while the training step runs).

    .venv/bin/python benchmarks/prefetch.py                     # sleep-bound loading (I/O-like), 3 epochs
    .venv/bin/python benchmarks/prefetch.py --work python       # loading that holds the GIL (pure Python)
    .venv/bin/python benchmarks/prefetch.py --load-ms 1 --step-ms 16 --batch-size 16 --samples 256

Each sample costs --load-ms to load (`sleep`: time.sleep, like waiting on a disk; `python`: a busy loop in
the interpreter, like a Python-heavy transform), and each batch is followed by a "training step" of
--step-ms (time.sleep: the accelerator is busy and the CPU free). Without workers an epoch takes about
batches x (batch_size x load + step); with enough workers loading overlaps the step and the epoch tends to
batches x max(step, batch_size x load / workers). Each configuration runs --epochs epochs after one warm-up
epoch; the median epoch time is reported. Worker processes start afresh every epoch unless persistent
(the "(persistent)" rows): start-up is part of a short epoch's time. Timings on a shared machine
are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from dslib.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.jsonio import write_json  # noqa: E402 - after the path set-up, so the script runs from anywhere


class SlowDataset(Dataset):
    """Sample i is an 8x8 float32 image and label i % 10; loading it costs `load_s` seconds of `work`."""

    def __init__(self, n: int, load_s: float, work: str):
        self.n, self.load_s, self.work = n, load_s, work

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.work == "sleep":
            time.sleep(self.load_s)
        else:
            end = time.perf_counter() + self.load_s
            while time.perf_counter() < end:  # holds the GIL, as Python-level decoding or augmentation does
                pass
        return np.full((8, 8), i, dtype=np.float32), i % 10


def epoch_times(loader: DataLoader, epochs: int, step_s: float) -> list[float]:
    times = []
    for epoch in range(epochs + 1):  # epoch 0 is the warm-up
        loader.set_epoch(epoch)
        start = time.perf_counter()
        for _x, _y in loader:
            time.sleep(step_s)  # the training step
        times.append(time.perf_counter() - start)
    return times[1:]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--load-ms", type=float, default=1.0, help="cost of loading one sample")
    p.add_argument("--step-ms", type=float, default=16.0, help="cost of one training step")
    p.add_argument("--work", choices=("sleep", "python"), default="sleep")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--workers", default="0,1,2", help="comma-separated num_workers values")
    p.add_argument("--output", help="also write the results as JSON to this path")
    args = p.parse_args(argv)
    for name in ("samples", "batch_size", "epochs"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.load_ms < 0 or args.step_ms < 0:
        p.error("--load-ms and --step-ms must be non-negative")

    dataset = SlowDataset(args.samples, args.load_ms / 1000, args.work)
    batches = -(-args.samples // args.batch_size)
    serial = batches * (args.batch_size * args.load_ms + args.step_ms) / 1000
    print(
        f"{args.samples} samples, batch {args.batch_size} ({batches} batches), load {args.load_ms} ms/sample "
        f"({args.work}), step {args.step_ms} ms; load avg {os.getloadavg()[0]:.2f}; no-overlap estimate {serial:.3f} s"
    )
    rows, base = [], None
    counts = [int(n) for n in args.workers.split(",")]
    variants = (("process", False), ("process", True), ("thread", False))
    configs = [(n, kind, persistent) for n in counts for kind, persistent in (variants if n else variants[:1])]
    for num_workers, worker_type, persistent in configs:
        loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=num_workers,
                            worker_type=worker_type, persistent_workers=persistent)  # fmt: skip
        times = epoch_times(loader, args.epochs, args.step_ms / 1000)
        median = statistics.median(times)
        base = median if base is None else base
        label = (
            "main thread" if num_workers == 0 else f"{num_workers} {worker_type}" + ("" if num_workers == 1 else "s")
        )
        label = label.replace("processs", "processes")
        label += " (persistent)" if persistent else ""
        ideal = batches * max(args.step_ms, args.batch_size * args.load_ms / max(1, num_workers)) / 1000
        rows.append({"num_workers": num_workers, "worker_type": worker_type, "persistent_workers": persistent,
                     "epoch_s": median, "epochs_s": times, "speedup": base / median,
                     "overlap_bound_s": ideal if num_workers else serial})  # fmt: skip
        print(
            f"  {label:<26} epoch {median:.3f} s  (x{base / median:.2f} vs main thread; bound {rows[-1]['overlap_bound_s']:.3f} s)"
        )
        del loader
    result = {"args": vars(args), "loadavg_after": os.getloadavg()[0], "rows": rows}
    if args.output:
        write_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
