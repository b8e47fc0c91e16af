"""Samplers: the order in which a DataLoader visits a dataset's indices, as torch.utils.data's.

    from dslib.data import BatchSampler, RandomSampler
    sampler = RandomSampler(range(10), seed=0)
    sampler.set_epoch(3)                          # epoch 3's order, the same every time it is asked for
    list(BatchSampler(sampler, 4, drop_last=False))

Random samplers draw their order from (seed, epoch) only, never from a generator that advances as it is
used: an epoch's order can be recomputed anywhere (exact resume, any number of workers). They do not
advance by themselves; the DataLoader (or the training loop) calls `set_epoch`.
"""

from __future__ import annotations

import numpy as np

from ._seeding import SAMPLER_TAG, check_seed, derive_rng


def _length(data_source, who: str) -> int:
    try:
        return len(data_source)
    except TypeError:
        raise TypeError(f"{who} needs a data source with a length, got {type(data_source).__name__}") from None


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Sampler:
    """Base class: `__iter__` yields dataset indices; `__len__` (optional) says how many."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class _EpochSeeded(Sampler):
    """A sampler whose order is a function of (seed, epoch)."""

    def __init__(self, seed: int):
        self.seed = check_seed("seed", seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = check_seed("epoch", epoch)

    def _rng(self) -> np.random.Generator:
        return derive_rng(SAMPLER_TAG, self.seed, self.epoch)


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source
        _length(data_source, "SequentialSampler")

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_EpochSeeded):
    """A random permutation of the indices (or `num_samples` draws with replacement), fixed by (seed, epoch).

    Without replacement and `num_samples > len(data_source)`, whole permutations follow one another.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None, seed: int = 0):
        super().__init__(seed)
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement must be True or False, got {replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = None if num_samples is None else _positive_int("num_samples", num_samples)
        if _length(data_source, "RandomSampler") == 0:
            raise ValueError("RandomSampler got an empty data source: there is nothing to shuffle")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, k, rng = len(self.data_source), self.num_samples, self._rng()
        if self.replacement:
            order = rng.integers(0, n, size=k)
        else:
            order = np.concatenate([rng.permutation(n) for _ in range(-(-k // n))])[:k]
        return iter(order.tolist())  # computed now: a later set_epoch does not change this iterator

    def __len__(self) -> int:
        return self.num_samples


class WeightedRandomSampler(_EpochSeeded):
    """`num_samples` indices drawn with probability proportional to `weights` (torch.multinomial's semantics)."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, seed: int = 0):
        super().__init__(seed)
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"weights must be a non-empty 1-D sequence, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("weights must be finite and non-negative with a positive sum")
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement must be True or False, got {replacement!r}")
        self.num_samples = _positive_int("num_samples", num_samples)
        if not replacement and self.num_samples > np.count_nonzero(w):
            raise ValueError(
                f"cannot draw num_samples={self.num_samples} without replacement from "
                f"{np.count_nonzero(w)} indices of non-zero weight: lower num_samples or set replacement=True"
            )
        self.weights = w
        self.replacement = replacement

    def __iter__(self):
        p = self.weights / self.weights.sum()
        order = self._rng().choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples


class ClassBalancedSampler(WeightedRandomSampler):
    """Draws (with replacement) so that every class present in `labels` is equally likely.

    Sample i of class c gets weight 1 / (num_classes * count[c]): a class is picked uniformly, then a sample
    uniformly within it. The cure for long-tailed data in its simplest form (class-balanced sampling, e.g.
    Kang et al. 2020, "Decoupling Representation and Classifier for Long-Tailed Recognition").
    """

    def __init__(self, labels, num_samples: int | None = None, seed: int = 0):
        y = np.asarray(labels)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"labels must be a non-empty 1-D sequence of class labels, got shape {y.shape}")
        self.classes, inverse, self.class_counts = np.unique(y, return_inverse=True, return_counts=True)
        weights = 1.0 / (len(self.classes) * self.class_counts[inverse])
        super().__init__(weights, len(y) if num_samples is None else num_samples, replacement=True, seed=seed)


class BatchSampler(Sampler):
    """Groups a sampler's indices into lists of `batch_size` (the last one shorter unless `drop_last`)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not hasattr(sampler, "__iter__"):
            raise TypeError(f"BatchSampler needs an iterable sampler, got {type(sampler).__name__}")
        if not isinstance(drop_last, bool):
            raise TypeError(f"drop_last must be True or False, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = _positive_int("batch_size", batch_size)
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        return self._batches(iter(self.sampler))  # the sampler's order is fixed now, not at the first next()

    def _batches(self, indices):
        batch = []
        for index in indices:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = _length(self.sampler, "len(BatchSampler)")
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
