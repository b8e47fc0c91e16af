"""Long-tail experiment: plain random sampling vs. the curriculum sampler, on long-tailed Shapes10.

    .venv/bin/python benchmarks/longtail.py                          # default: 2 methods x 2 seeds, 564 steps each
    .venv/bin/python benchmarks/longtail.py --seeds 0 1 2 --epochs 16 --methods random,curriculum,balanced
    .venv/bin/python benchmarks/longtail.py --quick                  # smoke test: tiny data, 2 epochs

The same small CNN (three conv-BN-ReLU-maxpool blocks, 16/32/64 channels, global average pool, linear) is
trained with dslib on device "torch" on the training split of Shapes10 with `long_tail` imbalance (class 0 has
~ratio x the images of class 9), once per sampling method and seed, with the same initial weights, the same
number of optimizer steps and the same SGD + cosine schedule. Each model is evaluated on the BALANCED test
split. Methods (`--methods`):

- random: RandomSampler, each image once per epoch (the instance-balanced baseline);
- curriculum: dslib.data.curriculum.CurriculumSampler, progressively balanced (Kang et al. 2020): class
  probabilities ramp linearly from instance-balanced (epoch 0) to class-balanced (epoch --ramp-epochs on);
- balanced: ClassBalancedSampler from the first epoch (every class equally likely throughout), a reference.

Printed and written to benchmarks/results/longtail.json: per method and seed the overall test accuracy, the
minority-class recall (mean recall of the --rare rarest training classes), the per-class recall and the
wall time; and per method the mean and standard deviation over seeds, with the paired difference to random.
Each run also records the test metrics after every epoch ("curve"), for plotting only: nothing is tuned on
the test split. Defaults: 6,000 training images at ratio 100 (class counts 2415 ... 25), 12 epochs of batch
128, ramp over the first 6 epochs, seeds 0 and 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.jsonio import write_json  # noqa: E402 - after the path set-up, so the script runs from anywhere

METHODS = ("random", "curriculum", "balanced")


def build_cnn(num_classes: int = 10):
    import dslib.nn as nn

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(
        *block(3, 16), *block(16, 32), *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)
    )


def load_data(size: int, long_tail: float, test_size: int):
    """Train/test arrays, float32 NCHW, normalized with the training set's per-channel mean and std."""
    from dslib.data.datasets import Shapes10

    train = Shapes10(size, train=True, seed=0, long_tail=long_tail)
    test = Shapes10(test_size, train=False, seed=0)

    def nchw(data):
        return data.transpose(0, 3, 1, 2).astype(np.float32) / 255.0

    x_train, x_test = nchw(train.data), nchw(test.data)
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True)
    y_train = np.asarray(train.targets, dtype=np.int64)
    y_test = np.asarray(test.targets, dtype=np.int64)
    return (x_train - mean) / std, y_train, (x_test - mean) / std, y_test


def make_sampler(method: str, labels: np.ndarray, seed: int, ramp_epochs: int):
    from dslib.data import ClassBalancedSampler, RandomSampler
    from dslib.data.curriculum import CurriculumSampler

    if method == "random":
        return RandomSampler(labels, seed=seed)
    if method == "curriculum":
        return CurriculumSampler(labels, ramp_epochs=ramp_epochs, seed=seed)
    if method == "balanced":
        return ClassBalancedSampler(labels.tolist(), seed=seed)
    raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")


def per_class_recall(pred: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    hits = np.bincount(y[pred == y], minlength=num_classes)
    total = np.bincount(y, minlength=num_classes)
    return hits / np.maximum(total, 1)


def train_and_evaluate(method: str, seed: int, data, args) -> dict:
    import dslib
    import dslib.nn.functional as F
    from dslib.data import DataLoader, TensorDataset
    from dslib.optim.lr_scheduler import CosineAnnealingLR

    x_train, y_train, x_test, y_test = data
    dslib.manual_seed(seed)  # the same initial weights for every method of one seed
    model = build_cnn().to(args.device)
    optimizer = dslib.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    sampler = make_sampler(method, y_train, seed, args.ramp_epochs)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, sampler=sampler, seed=seed)
    scheduler = CosineAnnealingLR(optimizer, T_max=args.epochs * len(loader))
    rare = np.argsort(np.bincount(y_train, minlength=10), kind="stable")[: args.rare]
    start = time.perf_counter()
    drawn = np.zeros(10, dtype=np.int64)
    curve = []  # per epoch: test accuracy and minority recall (the test split is never used for training)
    for epoch in range(args.epochs):
        model.train()
        loader.set_epoch(epoch)
        for xb, yb in loader:
            drawn += np.bincount(yb.numpy(), minlength=10)
            loss = F.cross_entropy(model(xb.to(args.device)), yb.to(args.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        recall, accuracy = evaluate(model, x_test, y_test, args.device)
        curve.append(
            {"epoch": epoch, "accuracy": round(accuracy, 4), "minority_recall": round(float(recall[rare].mean()), 4)}
        )
        if args.verbose:
            print(f"    epoch {epoch}: loss {loss.item():.3f}, test {curve[-1]}", flush=True)
    run_s = time.perf_counter() - start
    return {
        "method": method,
        "seed": seed,
        "accuracy": accuracy,
        "minority_recall": float(recall[rare].mean()),
        "rare_classes": sorted(rare.tolist()),
        "per_class_recall": [round(float(r), 4) for r in recall],
        "draws_per_class": drawn.tolist(),
        "seconds": round(run_s, 1),
        "curve": curve,
    }


def evaluate(model, x_test, y_test, device):
    """(per-class recall, accuracy) of the model on the test arrays."""
    import dslib

    model.eval()
    preds = []
    with dslib.no_grad():
        for i in range(0, len(x_test), 500):
            logits = model(dslib.from_numpy(x_test[i : i + 500]).to(device))
            preds.append(logits.argmax(dim=1).numpy())
    pred = np.concatenate(preds)
    return per_class_recall(pred, y_test, 10), float((pred == y_test).mean())


def summarize(runs: list, methods: list) -> dict:
    out = {}
    base = {r["seed"]: r for r in runs if r["method"] == "random"}
    for m in methods:
        rs = [r for r in runs if r["method"] == m]
        s = {}
        for key in ("accuracy", "minority_recall"):
            v = np.array([r[key] for r in rs])
            s[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
            if m != "random" and base:
                d = np.array([r[key] - base[r["seed"]][key] for r in rs if r["seed"] in base])
                s[key]["diff_vs_random"] = {"mean": float(d.mean()), "per_seed": [round(float(x), 4) for x in d]}
        out[m] = s
    return out


def print_table(runs: list, summary: dict, args):
    print(
        f"\nShapes10 long_tail={args.long_tail}, {args.size} training images, balanced test split of {args.test_size}"
    )
    print(f"minority recall = mean test recall of the {args.rare} rarest training classes\n")
    print(f"{'method':<12} {'seed':>4} {'accuracy':>9} {'minority':>9}  {'time s':>7}  per-class recall")
    for r in runs:
        pcr = " ".join(f"{x:.2f}" for x in r["per_class_recall"])
        print(
            f"{r['method']:<12} {r['seed']:>4} {r['accuracy']:>9.3f} {r['minority_recall']:>9.3f}  "
            f"{r['seconds']:>7.1f}  {pcr}"
        )
    print(f"\n{'method':<12} {'accuracy (mean +- std)':>24} {'minority recall':>22} {'vs random (acc / min.)':>26}")
    for m, s in summary.items():
        a, mr = s["accuracy"], s["minority_recall"]
        diff = (
            f"{a['diff_vs_random']['mean']:+.3f} / {mr['diff_vs_random']['mean']:+.3f}" if "diff_vs_random" in a else ""
        )
        print(f"{m:<12} {a['mean']:>15.3f} +- {a['std']:.3f} {mr['mean']:>13.3f} +- {mr['std']:.3f} {diff:>26}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=6000, help="training images (long-tailed)")
    p.add_argument("--long-tail", type=float, default=100.0, help="imbalance ratio n_0 / n_9")
    p.add_argument("--test-size", type=int, default=2000, help="balanced test images")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--ramp-epochs", type=int, default=None, help="curriculum ramp length (default: epochs // 2)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--methods", default="random,curriculum", help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--rare", type=int, default=3, help="how many of the rarest classes make 'minority recall'")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--device", default="torch", help="dslib device: torch (default), numpy or cuda")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "longtail.json")
    p.add_argument("--verbose", action="store_true", help="print the loss and test metrics after every epoch")
    p.add_argument("--quick", action="store_true", help="smoke test: 600 images, 2 epochs, seed 0")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.test_size, args.epochs, args.seeds = 600, 200, 2, [0]
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in args.methods if m not in METHODS]
    if bad or not args.methods:
        p.error(f"--methods: unknown {bad}; use a comma-separated list from {', '.join(METHODS)}")
    if "random" not in args.methods:
        args.methods.insert(0, "random")  # every comparison is against the baseline
    for name in ("size", "test_size", "epochs", "batch_size", "threads", "rare"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.rare > 10:
        p.error(f"--rare must be <= 10 (Shapes10 has 10 classes), got {args.rare}")
    if args.long_tail < 1:
        p.error(f"--long-tail must be >= 1, got {args.long_tail}")
    if args.ramp_epochs is None:
        args.ramp_epochs = max(1, args.epochs // 2)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = load_data(args.size, args.long_tail, args.test_size)
    counts = np.bincount(data[1], minlength=10)
    print(f"training class counts: {counts.tolist()} (data in {time.perf_counter() - t0:.1f} s)", flush=True)
    runs = []
    for seed in args.seeds:
        for method in args.methods:
            r = train_and_evaluate(method, seed, data, args)
            runs.append(r)
            print(
                f"  {method:<11} seed {seed}: accuracy {r['accuracy']:.3f}, minority recall "
                f"{r['minority_recall']:.3f} ({r['seconds']:.0f} s)",
                flush=True,
            )
    summary = summarize(runs, args.methods)
    print_table(runs, summary, args)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    payload = {
        "config": config,
        "train_class_counts": counts.tolist(),
        "runs": runs,
        "summary": summary,
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    write_json(args.out, payload, indent=2)
    print(f"\nwrote {args.out} (total {payload['total_seconds']:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
