"""Map-style datasets: `Dataset`, `TensorDataset`, `Subset`, `ConcatDataset` and `random_split`, as in
torch.utils.data.

    from dslib.data import TensorDataset, random_split
    ds = TensorDataset(np.random.rand(100, 3), np.arange(100))  # ds[i] == (features[i], label[i])
    train, val = random_split(ds, [0.8, 0.2], generator=0)      # 80 / 20 samples, fixed by the seed

A dataset is anything with `__getitem__(index)` and `__len__()`; the DataLoader batches it.
"""

from __future__ import annotations

import bisect
import math
import warnings

import numpy as np

from ..random import Generator as _DslibGenerator
from ..random import default_generator
from ..tensor import Tensor
from ._seeding import SPLIT_TAG, check_seed, derive_rng


class Dataset:
    """Base class of map-style datasets: subclasses define `__getitem__(index)` and `__len__()`."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are rows of equally long tensors: `ds[i] == tuple(t[i] for t in tensors)`.

    Takes dslib Tensors or numpy arrays (rows come back as the same kind). Picklable (the tensors travel as
    numpy arrays), so it works with DataLoader worker processes under any start method.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor, e.g. TensorDataset(inputs, labels)")
        for i, t in enumerate(tensors):
            if not isinstance(t, (Tensor, np.ndarray)):
                raise TypeError(
                    f"TensorDataset argument {i} is a {type(t).__name__}: pass dslib Tensors or numpy arrays "
                    "(convert with dslib.tensor(...) or np.asarray(...))"
                )
            if t.ndim == 0:
                raise ValueError(
                    f"TensorDataset argument {i} is 0-dimensional: every tensor needs a first (sample) dim"
                )
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset tensors must have the same first dimension, got sizes {sizes}")
        self.tensors = tuple(tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getstate__(self):
        # dslib Tensors refuse pickling: ship (numpy array, dtype name, device) and rebuild on the other side.
        packed = []
        for t in self.tensors:
            if isinstance(t, Tensor):
                t = t.detach()
                array = t.to(dtype="float32").numpy() if t.dtype.name == "bfloat16" else t.numpy()
                packed.append(("dslib", array, t.dtype.name, str(t.device)))
            else:
                packed.append(("numpy", t))
        return {"packed": packed}

    def __setstate__(self, state):
        from ..creation import tensor

        tensors = []
        for item in state["packed"]:
            if item[0] == "dslib":
                _, array, dtype, device = item
                tensors.append(tensor(array, device=device).to(dtype=dtype))
            else:
                tensors.append(item[1])
        self.tensors = tuple(tensors)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order: `Subset(ds, idx)[i] == ds[idx[i]]`."""

    def __init__(self, dataset, indices):
        try:
            indices = [int(i) for i in indices]
        except TypeError:
            raise TypeError(f"Subset indices must be a sequence of integers, got {type(indices).__name__}") from None
        if indices and hasattr(dataset, "__len__"):
            n = len(dataset)
            bad = next((i for i in indices if not -n <= i < n), None)
            if bad is not None:
                raise IndexError(f"Subset index {bad} is out of range for a dataset of {n} samples")
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after another: indices 0..len(a)-1 are `a`'s, the next len(b) are `b`'s, and so on."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = []
        total = 0
        for i, d in enumerate(self.datasets):
            if not hasattr(d, "__len__") or not hasattr(d, "__getitem__"):
                raise TypeError(f"ConcatDataset item {i} ({type(d).__name__}) is not a map-style dataset with a length")
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a ConcatDataset of {n} samples")
        if index < 0:
            index += n
        d = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][index - start]


def _split_lengths(n: int, lengths) -> list[int]:
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split needs at least one length")
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in lengths):
        if any(x < 0 for x in lengths) or sum(lengths) != n:
            raise ValueError(
                f"random_split lengths {lengths} must be non-negative and sum to the dataset's length {n} "
                "(or pass fractions that sum to 1, e.g. [0.8, 0.2])"
            )
        return [int(x) for x in lengths]
    if not all(isinstance(x, (float, int, np.floating, np.integer)) for x in lengths):
        raise TypeError(f"random_split lengths must be ints or fractions, got {lengths!r}")
    if any(not 0 <= x <= 1 for x in lengths) or not math.isclose(sum(lengths), 1):
        raise ValueError(f"random_split fractions {lengths} must each lie in [0, 1] and sum to 1")
    # As torch: floor each share, then hand the remainder out one by one from the first split on.
    out = [int(math.floor(n * frac)) for frac in lengths]
    for i in range(n - sum(out)):
        out[i % len(out)] += 1
    for i, length in enumerate(out):
        if length == 0:
            warnings.warn(f"random_split: split {i} of {lengths} is empty for a dataset of {n} samples", stacklevel=3)
    return out


def _split_rng(generator) -> np.random.Generator:
    if generator is None:
        return default_generator.np  # dslib.manual_seed(s) fixes the split
    if isinstance(generator, _DslibGenerator):
        return generator.np
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return derive_rng(SPLIT_TAG, check_seed("random_split generator (a seed)", generator))
    raise TypeError(
        f"random_split generator must be None, an int seed, a dslib.Generator or a numpy Generator, "
        f"got {type(generator).__name__}"
    )


def random_split(dataset, lengths, generator=None) -> list[Subset]:
    """Split `dataset` into non-overlapping random Subsets of the given lengths (ints, or fractions summing to 1).

    `generator`: None draws from dslib's default generator (set by dslib.manual_seed); an int seed gives the
    same split every time; a dslib.Generator or numpy Generator is drawn from.
    """
    if not hasattr(dataset, "__len__"):
        raise TypeError(f"random_split needs a dataset with a length, got {type(dataset).__name__}")
    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    order = _split_rng(generator).permutation(n).tolist()
    splits, start = [], 0
    for size in sizes:
        splits.append(Subset(dataset, order[start : start + size]))
        start += size
    return splits
