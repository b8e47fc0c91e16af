"""Samplers (dslib/data/sampler.py): orders are functions of (seed, epoch), BatchSampler matches torch's,
weighted and class-balanced draws follow their target distributions, bad arguments raise clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch.utils.data as tud

from dslib.data import (
    BatchSampler,
    ClassBalancedSampler,
    RandomSampler,
    SequentialSampler,
    WeightedRandomSampler,
)  # fmt: skip


def test_sequential_sampler():
    assert list(SequentialSampler(range(5))) == list(tud.SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    assert len(SequentialSampler(range(5))) == 5


def test_random_sampler_is_a_permutation_fixed_by_seed_and_epoch():
    s = RandomSampler(range(50), seed=1)
    first = list(s)
    assert sorted(first) == list(range(50)) and first != list(range(50))
    assert list(s) == first  # does not advance by itself
    s.set_epoch(1)
    second = list(s)
    assert second != first and sorted(second) == list(range(50))
    again = RandomSampler(range(50), seed=1)
    again.set_epoch(1)
    assert list(again) == second
    assert list(RandomSampler(range(50), seed=2)) != first
    assert all(type(i) is int for i in first)


def test_random_sampler_order_is_fixed_when_iteration_starts():
    s = RandomSampler(range(20))
    it = iter(s)
    s.set_epoch(5)
    assert list(it) == list(RandomSampler(range(20)))


def test_random_sampler_num_samples_and_replacement():
    s = RandomSampler(range(4), num_samples=10)
    order = list(s)
    assert len(order) == len(s) == 10
    assert sorted(order[:4]) == sorted(order[4:8]) == [0, 1, 2, 3]  # whole permutations, one after another
    r = list(RandomSampler(range(3), replacement=True, num_samples=300))
    assert set(r) == {0, 1, 2} and len(r) == 300
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="empty"):
        RandomSampler([])
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        RandomSampler(range(3), seed=-1)
    with pytest.raises(ValueError, match="epoch must be"):
        RandomSampler(range(3)).set_epoch(-2)


def test_weighted_sampler_frequencies_follow_weights():
    w = np.array([1.0, 0.0, 3.0, 6.0])
    order = np.array(list(WeightedRandomSampler(w, 20000, seed=0)))
    freq = np.bincount(order, minlength=4) / len(order)
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.015)
    assert freq[1] == 0
    unique = list(WeightedRandomSampler(w, 3, replacement=False))
    assert sorted(unique) == [0, 2, 3]


def test_weighted_sampler_errors():
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="without replacement from 2 indices"):
        WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False)
    with pytest.raises(ValueError, match="1-D"):
        WeightedRandomSampler(np.ones((2, 2)), 2)
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        WeightedRandomSampler([1.0], 0)


def test_class_balanced_sampler_equalizes_classes():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)  # long tail, 90:9:1
    s = ClassBalancedSampler(labels, num_samples=30000, seed=0)
    freq = np.bincount(labels[list(s)], minlength=3) / 30000
    np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.015)
    assert len(ClassBalancedSampler(labels)) == 1000
    assert list(s.classes) == [0, 1, 2] and list(s.class_counts) == [900, 90, 10]
    s.set_epoch(1)
    assert list(s)[:50] != list(ClassBalancedSampler(labels, num_samples=30000, seed=0))[:50]


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n,batch_size", [(10, 3), (9, 3), (2, 5)])
def test_batch_sampler_matches_torch(n, batch_size, drop_last):
    ours = BatchSampler(SequentialSampler(range(n)), batch_size, drop_last)
    ref = tud.BatchSampler(tud.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(ours) == list(ref) and len(ours) == len(ref)


def test_batch_sampler_forwards_set_epoch_and_checks_arguments():
    b = BatchSampler(RandomSampler(range(8)), 4, drop_last=False)
    b.set_epoch(3)
    assert b.sampler.epoch == 3
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(TypeError, match="drop_last must be True or False"):
        BatchSampler(range(3), 2, None)
    with pytest.raises(TypeError, match="iterable sampler"):
        BatchSampler(3, 2, False)
