"""Digits: scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes), offline.

    from dslib.data.datasets import Digits
    train, test = Digits(train=True), Digits(train=False)   # 1,437 / 360 images
    x, y = train[0]                                          # x: float32 (1, 8, 8) Tensor in [0, 1]

The split is stratified (every class keeps its share in both parts) and fixed by `split_seed`, so it is
the same on every machine. Pixel values 0..16 are scaled to uint8 0..255 (`.data` is (N, 8, 8, 1)).
UCI "Optical Recognition of Handwritten Digits", Alpaydin & Kaynak 1998.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._base import VisionDataset


class Digits(VisionDataset):
    def __init__(self, train=True, transform=None, target_transform=None, test_fraction=0.2, split_seed=0):
        super().__init__(transform, target_transform)
        if not isinstance(test_fraction, numbers.Real) or not 0.0 < test_fraction < 1.0:
            raise ValueError(f"Digits: test_fraction must be in (0, 1), got {test_fraction!r}")
        if not isinstance(split_seed, numbers.Integral) or split_seed < 0:
            raise ValueError(f"Digits: split_seed must be a non-negative int, got {split_seed!r}")
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (1797, 8, 8, 1)
        index = np.arange(len(images))
        train_idx, test_idx = train_test_split(
            index, test_size=float(test_fraction), random_state=int(split_seed), stratify=bunch.target
        )
        keep = np.sort(train_idx if train else test_idx)
        self.train, self.test_fraction, self.split_seed = bool(train), float(test_fraction), int(split_seed)
        self.data = np.ascontiguousarray(images[keep])
        self.targets = [int(t) for t in bunch.target[keep]]
        self.classes = [str(c) for c in range(10)]

    def extra_repr(self) -> str:
        return f"train={self.train}, test_fraction={self.test_fraction}, split_seed={self.split_seed}"
