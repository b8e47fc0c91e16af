"""Tiny data, model and loader for the trainer tests (seconds on the numpy device).

ToyLoader keeps dslib.data.DataLoader's resume contract without depending on it: the order of an epoch
is a function of (seed, epoch) (`set_epoch`), each sample gets a random "augmentation" (additive noise)
drawn from (seed, epoch, index) only, and `iter_from(b)` starts an epoch at batch b.
"""

from __future__ import annotations

import numpy as np

import dslib
import dslib.nn as nn


def blobs(n=40, dim=8, classes=3, seed=0):
    """n points in `classes` Gaussian blobs: (x float32 (n, dim), y int64 (n,))."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2.0, size=(classes, dim))
    y = np.arange(n) % classes
    x = centers[y] + rng.normal(0, 0.7, size=(n, dim))
    return x.astype(np.float32), y.astype(np.int64)


class ToyLoader:
    def __init__(self, x, y, batch_size=8, shuffle=True, seed=0, noise=0.1):
        self.x, self.y, self.batch_size, self.shuffle, self.seed, self.noise = x, y, batch_size, shuffle, seed, noise
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def iter_from(self, start):
        n = len(self.x)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else np.arange(n)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            noise = np.stack(
                [np.random.default_rng([self.seed, self.epoch, i]).normal(size=self.x.shape[1]) for i in idx]
            )
            x = (self.x[idx] + self.noise * noise).astype(np.float32)
            yield dslib.from_numpy(x), dslib.from_numpy(self.y[idx])

    def __iter__(self):
        return self.iter_from(0)


def toy_model(dim=8, classes=3, dropout=0.3, batchnorm=True):
    layers = [nn.Linear(dim, 16)] + ([nn.BatchNorm1d(16)] if batchnorm else []) + [nn.ReLU()]
    layers += [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(*layers, nn.Linear(16, classes))
