"""Case (a): an MLP training step on scikit-learn's digits (64 -> 128 -> 10, ReLU, batch 64, SGD lr 0.1).

The 1,797 digits (scaled to [0, 1]) are shuffled once with a fixed seed and cut into 28 batches of 64; a
step takes the next batch. PyTorch draws the initial weights; dslib loads the same ones.
"""

from __future__ import annotations

import numpy as np

from . import SEED, Workload, dslib_device, load_torch_weights, train_step

WARMUP, STEPS = 10, 100
BATCH, HIDDEN, LR = 64, 128, 0.1


def _data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(SEED).permutation(len(digits.target))
    x = (digits.data[order] / 16.0).astype(np.float32)  # (1797, 64)
    y = digits.target[order].astype(np.int64)
    n = len(y) // BATCH
    return [(x[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH]) for i in range(n)]


def build(framework: str) -> Workload:
    import torch

    torch.manual_seed(SEED)
    ref = torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10))
    data = _data()
    desc = f"MLP 64-{HIDDEN}-10 on digits, batch {BATCH}, SGD step"
    if framework == "pytorch":
        batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data]
        opt = torch.optim.SGD(ref.parameters(), lr=LR)
        return Workload(train_step(ref, opt, torch.nn.functional.cross_entropy, batches), desc)

    import dslib
    import dslib.nn as nn
    import dslib.nn.functional as F
    from dslib.optim import SGD

    device = dslib_device(framework)
    model = nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10))
    model = load_torch_weights(model, ref, device)
    batches = [(dslib.tensor(x, device=device), dslib.tensor(y, device=device)) for x, y in data]
    opt = SGD(model.parameters(), lr=LR)
    return Workload(train_step(model, opt, F.cross_entropy, batches), desc)
