"""dslib.data.datasets.CIFAR10 on tiny batches written in the official format (pickled dicts, protocol 2)."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import dslib
from dslib.data.datasets import CIFAR10

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _write(path, obj, python2_style=False):
    raw = pickle.dumps(obj, protocol=2)
    if python2_style:  # the official files were written by NumPy 1 under Python 2
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(raw)


def _make(root, n=4, str_keys=False):
    """root/cifar-10-batches-py with 5 train batches and a test batch of n images each; returns the rows."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    g = np.random.default_rng(0)
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    rows = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = g.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in g.integers(0, 10, size=n)]
        rows[name] = (data, labels)
        batch = {
            key("batch_label"): b"batch",
            key("labels"): labels,
            key("data"): data,
            key("filenames"): [b"x.png"] * n,
        }
        _write(folder / name, batch, python2_style=str_keys)
    _write(
        folder / "batches.meta",
        {key("label_names"): [c.encode() if not str_keys else c for c in NAMES], key("num_vis"): 3072},
    )
    return rows


@pytest.mark.parametrize("str_keys", [False, True], ids=["bytes-keys", "python2-str-keys"])
def test_cifar10_reads_the_official_batches(tmp_path, str_keys):
    rows = _make(tmp_path, str_keys=str_keys)
    train, test = CIFAR10(tmp_path, train=True), CIFAR10(str(tmp_path), train=False)
    assert (len(train), len(test)) == (20, 4)
    assert train.classes == NAMES and train.class_to_idx["cat"] == 3
    assert train.targets == sum((rows[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert train.data.shape == (20, 32, 32, 3) and train.data.dtype == np.uint8
    # a row holds 1024 red, then 1024 green, then 1024 blue values, each 32x32 row-major
    row = rows["data_batch_2"][0][1]
    img = train.data[4 + 1]
    assert img[0, 0, 0] == row[0] and img[0, 0, 1] == row[1024] and img[0, 0, 2] == row[2048]
    assert img[1, 2, 0] == row[32 + 2] and img[31, 31, 2] == row[3071]
    x, y = test[0]
    assert isinstance(x, dslib.Tensor) and x.shape == (3, 32, 32) and y == rows["test_batch"][1][0]
    np.testing.assert_allclose(x.numpy(), rows["test_batch"][0][0].reshape(3, 32, 32) / 255.0, atol=1e-7)


def test_cifar10_accepts_the_batches_folder_itself_as_root(tmp_path):
    _make(tmp_path)
    assert len(CIFAR10(tmp_path / "cifar-10-batches-py", train=False)) == 4


def test_cifar10_missing_files_say_what_to_put_where_and_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        CIFAR10(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg
    assert "data_batch_1" in msg and "batches.meta" in msg and "https://www.cs.toronto.edu/~kriz/cifar.html" in msg
    _make(tmp_path)
    os.remove(tmp_path / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(FileNotFoundError, match="missing data_batch_3 in"):
        CIFAR10(tmp_path)
    assert len(CIFAR10(tmp_path, train=False)) == 4  # the test split does not need it


def test_cifar10_refuses_pickles_that_would_run_code(tmp_path):
    _make(tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    _write(tmp_path / "cifar-10-batches-py" / "test_batch", {b"data": Evil(), b"labels": []})
    with pytest.raises(ValueError, match="refusing to load"):
        CIFAR10(tmp_path, train=False)
    assert not (tmp_path / "pwned").exists()


def test_cifar10_reports_malformed_batches(tmp_path):
    _make(tmp_path)
    _write(tmp_path / "cifar-10-batches-py" / "test_batch", {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(ValueError, match=r"expected uint8 \(N, 3072\)"):
        CIFAR10(tmp_path, train=False)
    with pytest.raises(TypeError, match="root must be a path"):
        CIFAR10(3)
