"""The shared base of the image datasets: transforms, index checks, (image, label) items and a repr.

A subclass fills `self.targets` (list of int) and `self.classes`, and either `self.data` (an
(N, H, W, C) uint8 array) or its own `_load_image(index)` (for datasets read lazily from files).
With no transform an item's image is `ToTensor()(image)`: a float32 (C, H, W) dslib Tensor in [0, 1].
"""

from __future__ import annotations

import numbers

import numpy as np

from ..dataset import Dataset
from ..transforms import to_tensor


class VisionDataset(Dataset):
    data: np.ndarray
    targets: list[int]
    classes: list[str]

    def __init__(self, transform=None, target_transform=None):
        name = type(self).__name__
        for arg, value in (("transform", transform), ("target_transform", target_transform)):
            if value is not None and not callable(value):
                raise TypeError(
                    f"{name}: {arg} must be callable (e.g. transforms.Compose([...])) or None, got {value!r}"
                )
        self.transform, self.target_transform = transform, target_transform

    def _load_image(self, index: int) -> np.ndarray:
        return self.data[index]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index):
        if not isinstance(index, numbers.Integral) or isinstance(index, bool):
            raise TypeError(f"{type(self).__name__} indices must be integers, got {type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__} index {index} is out of range for {n} samples")
        index = int(index) % n
        img, target = self._load_image(index), self.targets[index]
        img = to_tensor(img) if self.transform is None else self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [
            f"{type(self).__name__}({self.extra_repr()})",
            f"    samples: {len(self)}, classes: {len(self.classes)}",
        ]
        if self.transform is not None:
            lines.append("    transform: " + repr(self.transform).replace("\n", "\n    "))
        if self.target_transform is not None:
            lines.append(f"    target_transform: {self.target_transform!r}")
        return "\n".join(lines)
