"""dslib.data.datasets.Digits: scikit-learn's digits with a fixed stratified split."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

import dslib
from dslib.data import Dataset
from dslib.data import transforms as T
from dslib.data.datasets import Digits


def test_digits_split_sizes_and_item_format():
    train, test = Digits(train=True), Digits(train=False)
    assert isinstance(train, Dataset)
    assert (len(train), len(test)) == (1437, 360)
    x, y = train[0]
    assert isinstance(x, dslib.Tensor) and x.shape == (1, 8, 8) and x.dtype == dslib.float32
    assert isinstance(y, int) and 0 <= y < 10
    np.testing.assert_allclose(x.numpy()[0], train.data[0, :, :, 0] / 255.0, atol=1e-7)
    assert train.data.shape == (1437, 8, 8, 1) and train.data.dtype == np.uint8
    assert train.classes == [str(i) for i in range(10)] and len(train.targets) == 1437


def test_digits_split_is_a_stratified_partition_of_the_bundled_data():
    train, test = Digits(train=True), Digits(train=False)
    ref = load_digits()
    scaled = np.rint(ref.images * 255 / 16).astype(np.uint8)
    rows = sorted((img.tobytes(), int(t)) for img, t in zip(scaled, ref.target))
    ours = sorted((img[..., 0].tobytes(), t) for ds in (train, test) for img, t in zip(ds.data, ds.targets))
    assert ours == rows  # every image exactly once, with its label
    share = np.bincount(test.targets, minlength=10) / np.bincount(ref.target, minlength=10)
    assert np.all(np.abs(share - 0.2) < 0.02)  # each class keeps its 20 % in the test part


def test_digits_is_deterministic_and_the_split_follows_its_arguments():
    a, b = Digits(train=False), Digits(train=False)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.targets == b.targets
    assert not np.array_equal(Digits(train=False, split_seed=1).data, a.data)
    assert len(Digits(train=False, test_fraction=0.5)) == 899


def test_digits_applies_transforms_and_checks_arguments():
    ds = Digits(transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]), target_transform=lambda t: t + 100)
    x, y = ds[3]
    np.testing.assert_allclose(x.numpy()[0], (ds.data[3, :, :, 0] / 255.0 - 0.5) / 0.5, atol=1e-6)
    assert y == ds.targets[3] + 100
    assert ds[-1][1] == ds.targets[-1] + 100
    with pytest.raises(IndexError, match="index 1437 is out of range for 1437 samples"):
        ds[1437]
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        Digits(test_fraction=1.0)
    with pytest.raises(TypeError, match="transform must be callable"):
        Digits(transform="totensor")
    assert "Digits(train=True, test_fraction=0.2, split_seed=0)" in repr(ds) and "Normalize" in repr(ds)
