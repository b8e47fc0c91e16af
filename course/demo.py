"""The course demo: train a small dslib MLP on scikit-learn's bundled handwritten digits and print its
test accuracy. Everything runs offline (load_digits ships with scikit-learn) in a few seconds.

    bash scripts/demo.sh                                     # sets up .venv/ first, then runs this
    .venv/bin/python course/demo.py --device torch --epochs 20

The model, loss and optimizer are dslib's, written exactly as one would in PyTorch; only the import
differs. Later issues grow this script into the full course demo.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import dslib
import dslib.nn as nn
import dslib.nn.functional as F
import dslib.optim as optim


@dataclass
class DemoConfig:
    device: str = "numpy"  # dslib device: "numpy" (default), "torch" (PyTorch CPU kernels) or "cuda"
    epochs: int = 10  # passes over the 1,347 training images
    batch_size: int = 64
    lr: float = 3e-3  # Adam's learning rate
    hidden: int = 128  # width of the hidden layer
    seed: int = 0  # weights, data split and shuffling


def load_data(seed: int):
    """Digits as (train_x, train_y, test_x, test_y) NumPy arrays: a fixed stratified 75/25 split of the
    1,797 8x8 images, standardized with the training set's per-pixel mean and std."""
    digits = load_digits()
    x = digits.data.astype(np.float32)  # (1797, 64), pixel values 0..16
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std[std == 0] = 1.0  # pixels that are blank in every training image
    return (x_tr - mean) / std, y_tr, (x_te - mean) / std, y_te


def make_model(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def accuracy(model: nn.Module, x: dslib.Tensor, y: np.ndarray) -> float:
    model.eval()
    with dslib.no_grad():
        pred = model(x).argmax(dim=1).numpy()
    return float((pred == y).mean())


def train(cfg: DemoConfig, log=print) -> float:
    """Train on the digits and return the test accuracy (a fraction); `log` receives progress lines."""
    dslib.manual_seed(cfg.seed)
    x_tr, y_tr, x_te, y_te = load_data(cfg.seed)
    model = make_model(cfg.hidden).to(cfg.device)
    opt = optim.Adam(model.parameters(), lr=cfg.lr)
    x_test = dslib.tensor(x_te, device=cfg.device)
    rng = np.random.default_rng(cfg.seed)
    log(f"digits: {len(x_tr)} train / {len(x_te)} test images, MLP 64-{cfg.hidden}-10 on device {cfg.device!r}")
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = rng.permutation(len(x_tr))
        total, batches = 0.0, 0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            xb = dslib.tensor(x_tr[idx], device=cfg.device)  # (B, 64)
            yb = dslib.tensor(y_tr[idx], device=cfg.device)  # (B,)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, batches = total + loss.item(), batches + 1
        log(f"epoch {epoch:3d}  train loss {total / batches:.4f}  test accuracy {accuracy(model, x_test, y_te):.2%}")
    acc = accuracy(model, x_test, y_te)
    log(f"test accuracy: {acc:.2%} ({len(y_te)} images, {time.perf_counter() - start:.1f} s of training)")
    return acc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Train a small dslib MLP on scikit-learn's digits.")
    ap.add_argument("--device", default=DemoConfig.device, help="numpy (default), torch or cuda")
    ap.add_argument("--epochs", type=int, default=DemoConfig.epochs, help=f"default {DemoConfig.epochs}")
    ap.add_argument("--seed", type=int, default=DemoConfig.seed, help=f"default {DemoConfig.seed}")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error(f"--epochs must be at least 1, got {args.epochs}")
    try:
        dslib.device(args.device)
    except ValueError as e:
        ap.error(str(e))
    if args.device.startswith("cuda") and not dslib.cuda_is_available():
        ap.error("--device cuda: no CUDA GPU here (torch.cuda.is_available() is False); use numpy or torch")
    train(DemoConfig(device=args.device, epochs=args.epochs, seed=args.seed))


if __name__ == "__main__":
    main()
