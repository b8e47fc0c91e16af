"""Datasets (dslib/data/dataset.py) against torch.utils.data: TensorDataset, Subset, ConcatDataset,
random_split (lengths from ints and fractions, disjoint cover, reproducible by seed), and their errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import dslib
from dslib.data import ConcatDataset, Dataset, Subset, TensorDataset, random_split


def _np(x):
    return x.numpy() if isinstance(x, (dslib.Tensor, torch.Tensor)) else np.asarray(x)


def test_tensor_dataset_rows_match_torch():
    x, y = np.random.rand(6, 3).astype(np.float32), np.arange(6)
    ours = TensorDataset(dslib.tensor(x), y)
    ref = tud.TensorDataset(torch.tensor(x), torch.tensor(y))
    assert len(ours) == len(ref) == 6
    for i in range(-6, 6):
        (a, b), (ta, tb) = ours[i], ref[i]
        assert isinstance(a, dslib.Tensor) and isinstance(b, np.integer)  # each kind comes back as itself
        np.testing.assert_array_equal(_np(a), _np(ta))
        assert int(b) == int(tb)


def test_tensor_dataset_rejects_bad_inputs():
    with pytest.raises(ValueError, match="same first dimension.*\\[3, 4\\]"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(TypeError, match="argument 1 is a list"):
        TensorDataset(np.zeros(3), [1, 2, 3])
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-dimensional"):
        TensorDataset(np.zeros(()))


def test_tensor_dataset_pickles_through_numpy(device):
    x = dslib.randn(4, 2, device=device)
    ds = TensorDataset(x, np.arange(4))
    back = pickle.loads(pickle.dumps(ds))
    assert back.tensors[0].device == x.device and back.tensors[0].dtype == x.dtype
    np.testing.assert_array_equal(back.tensors[0].numpy(), x.numpy())
    np.testing.assert_array_equal(back.tensors[1], np.arange(4))


def test_subset_and_concat_match_torch():
    data = np.arange(10) * 10
    a, b = Subset(data, [9, 0, 3]), Subset(data, np.array([-1, 4]))
    ta, tb = tud.Subset(data, [9, 0, 3]), tud.Subset(data, [-1, 4])
    cat, tcat = ConcatDataset([a, b]), tud.ConcatDataset([ta, tb])
    assert len(cat) == len(tcat) == 5 and cat.cumulative_sizes == tcat.cumulative_sizes
    assert [cat[i] for i in range(-5, 5)] == [tcat[i] for i in range(-5, 5)]
    assert a[[0, 2]] == [90, 30]
    with pytest.raises(IndexError, match="out of range"):
        cat[5]
    with pytest.raises(IndexError, match="Subset index 10 is out of range for a dataset of 10"):
        Subset(data, [1, 10])


def test_dataset_add_concatenates():
    class Squares(Dataset):
        def __init__(self, n):
            self.n = n

        def __getitem__(self, i):
            return i * i

        def __len__(self):
            return self.n

    both = Squares(2) + Squares(3)
    assert isinstance(both, ConcatDataset) and [both[i] for i in range(5)] == [0, 1, 0, 1, 4]


@pytest.mark.parametrize("lengths", [[0.8, 0.2], [0.5, 0.3, 0.2], [1 / 3] * 3, [0.05, 0.95]])
def test_random_split_fraction_lengths_match_torch(lengths):
    for n in (7, 10, 101):
        ours = random_split(range(n), lengths, generator=0)
        ref = tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
        assert [len(s) for s in ours] == [len(s) for s in ref]


def test_random_split_is_a_reproducible_partition():
    splits = random_split(range(20), [5, 15], generator=3)
    assert sorted(i for s in splits for i in s.indices) == list(range(20))
    assert [s.indices for s in random_split(range(20), [5, 15], generator=3)] == [s.indices for s in splits]
    assert [s.indices for s in random_split(range(20), [5, 15], generator=4)] != [s.indices for s in splits]
    dslib.manual_seed(1)
    first = random_split(range(20), [10, 10])[0].indices
    dslib.manual_seed(1)
    assert random_split(range(20), [10, 10])[0].indices == first  # generator=None follows dslib.manual_seed


def test_random_split_errors():
    with pytest.raises(ValueError, match="sum to the dataset's length 10"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(range(10), [0.5, 0.4])
    with pytest.raises(TypeError, match="generator must be"):
        random_split(range(10), [5, 5], generator="seed")
    with pytest.raises(ValueError, match="non-negative integer"):
        random_split(range(10), [5, 5], generator=-1)
