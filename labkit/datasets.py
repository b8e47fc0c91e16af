"""labkit.datasets: tiny synthetic data sets that the notebooks and the hidden checks regenerate identically.

    X, y = labkit.datasets.two_blobs(40, seed=0)   # X: 40 [x1, x2] lists, y: 40 labels -1.0 / +1.0

Plain Python lists and `random.Random(seed)`, so the same seed gives the same points on every machine and
NumPy version (a hidden check rebuilds its held-out split from a seed the notebook never sees).
"""

from __future__ import annotations

import random

__all__ = ["two_blobs"]


def two_blobs(n: int, seed: int = 0, *, separation: float = 1.5, std: float = 1.0):
    """`n` 2-D points from two Gaussian blobs centred at (-s, -s) (label -1.0) and (s, s) (label +1.0).

    The labels alternate (-1, +1, -1, ...), so any prefix is balanced."""
    if n < 1:
        raise ValueError(f"two_blobs: n must be at least 1, got {n}")
    rng = random.Random(seed)
    X, y = [], []
    for i in range(n):
        label = 1.0 if i % 2 else -1.0
        X.append([label * separation + rng.gauss(0.0, std), label * separation + rng.gauss(0.0, std)])
        y.append(label)
    return X, y
