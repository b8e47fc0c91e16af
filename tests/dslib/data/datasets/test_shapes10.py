"""dslib.data.datasets.Shapes10: deterministic per (seed, train, index), balanced or long-tailed, and the
class carried by the shape alone (colour statistics do not give it away; a linear model on pixels is weak)."""

from __future__ import annotations

import numpy as np
import pytest

import dslib
from dslib.data import Dataset
from dslib.data.datasets import Shapes10
from dslib.data.datasets.shapes10 import BLOCK, CLASSES, generate, long_tail_counts


def test_shapes10_items_and_attributes():
    ds = Shapes10(50)
    assert isinstance(ds, Dataset) and len(ds) == 50
    assert ds.data.shape == (50, 32, 32, 3) and ds.data.dtype == np.uint8
    assert ds.classes == CLASSES and len(CLASSES) == 10
    assert ds.targets == [i % 10 for i in range(50)]
    assert ds.class_counts.tolist() == [5] * 10
    x, y = ds[7]
    assert isinstance(x, dslib.Tensor) and x.shape == (3, 32, 32) and x.dtype == dslib.float32 and y == 7
    np.testing.assert_allclose(x.numpy(), ds.data[7].transpose(2, 0, 1) / 255.0, atol=1e-7)
    assert ds.data.std() > 20  # real images, not a constant


def test_image_i_depends_only_on_seed_train_and_i():
    small, big = Shapes10(BLOCK + 30), Shapes10(3 * BLOCK + 5)
    np.testing.assert_array_equal(small.data, big.data[: BLOCK + 30])  # across a block boundary
    np.testing.assert_array_equal(Shapes10(40).data, small.data[:40])
    test = Shapes10(40, train=False)
    other_seed = Shapes10(40, seed=1)
    for other in (test, other_seed):
        assert all(not np.array_equal(a, b) for a, b in zip(small.data[:40], other.data))
    assert len({img.tobytes() for img in big.data}) == len(big)  # no two images alike


def test_long_tail_counts_are_exponential_with_class_0_most_frequent():
    counts = long_tail_counts(10000, 100)
    assert counts.sum() == 10000 and np.all(np.diff(counts) < 0)
    ratios = counts[:-1] / counts[1:]
    np.testing.assert_allclose(ratios, 100 ** (1 / 9), rtol=0.05)  # a constant factor between classes
    ds = Shapes10(1000, long_tail=10)
    assert len(ds) == 1000 and ds.class_counts.sum() == 1000
    assert ds.class_counts.tolist() == long_tail_counts(1000, 10).tolist()
    assert 9 < ds.class_counts[0] / ds.class_counts[9] < 11
    assert set(ds.targets[:100]) != {0}  # shuffled, not sorted by class
    again = Shapes10(1000, long_tail=10)
    np.testing.assert_array_equal(again.data, ds.data)
    assert again.targets == ds.targets
    assert long_tail_counts(10, 1000).tolist() == [1] * 10  # every class keeps at least one image


def test_colour_alone_does_not_identify_the_class():
    from sklearn.linear_model import LogisticRegression

    x, y = generate(2000)
    xt, yt = generate(600, train=False)
    mean_rgb = lambda a: a.reshape(len(a), -1, 3).mean(1) / 255.0  # noqa: E731
    acc = LogisticRegression(max_iter=500).fit(mean_rgb(x), y).score(mean_rgb(xt), yt)
    assert acc < 0.2  # chance is 0.1


def test_shapes10_argument_errors():
    with pytest.raises(ValueError, match="size must be a positive int"):
        Shapes10(0)
    with pytest.raises(ValueError, match="long_tail must be an imbalance ratio >= 1"):
        Shapes10(100, long_tail=0.5)
    with pytest.raises(ValueError, match="needs size >= 10"):
        Shapes10(5, long_tail=10)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        Shapes10(10, seed=-1)
    assert "Shapes10(size=10, train=False, seed=3, long_tail=None)" in repr(Shapes10(10, train=False, seed=3))


def test_augmented_batches_are_the_same_with_and_without_workers():
    """Transforms draw from the per-sample stream, so a DataLoader gives the same augmented batches
    whatever its worker layout (here threads; the DataLoader's own tests cover processes)."""
    from dslib.data import DataLoader
    from dslib.data import transforms as T

    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.RandomErasing(p=0.5)])
    ds = Shapes10(40, transform=tf)

    def batches(**kw):
        loader = DataLoader(ds, batch_size=8, shuffle=True, seed=3, **kw)
        loader.set_epoch(2)
        return [(x.numpy(), y.numpy()) for x, y in loader]

    plain, threaded = batches(), batches(num_workers=2, worker_type="thread")
    for (xa, ya), (xb, yb) in zip(plain, threaded, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    originals = {(img.transpose(2, 0, 1) / np.float32(255)).astype(np.float32).tobytes() for img in ds.data}
    unchanged = sum(x.tobytes() in originals for xb, _ in plain for x in xb)
    assert unchanged < 10  # the images were augmented (an identity draw has odds of about 1 in 324)


@pytest.mark.slow
def test_a_small_convnet_learns_shapes10_where_a_linear_model_on_pixels_does_not():
    """Learnable but not trivial: a small dslib conv net (device "torch") gets far above what a logistic
    regression on the raw pixels gets. (Several CPU-minutes.)"""
    import torch
    from sklearn.linear_model import LogisticRegression

    import dslib.nn as nn
    import dslib.nn.functional as F
    from dslib.data import DataLoader
    from dslib.data import transforms as T

    torch.set_num_threads(2)
    x, y = generate(1500)
    xt, yt = generate(1000, train=False)
    pixels = lambda a: a.reshape(len(a), -1) / 255.0  # noqa: E731
    linear = LogisticRegression(C=0.01, max_iter=300).fit(pixels(x), y).score(pixels(xt), yt)

    dslib.manual_seed(0)

    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    pool = nn.MaxPool2d(2)
    body = [*conv(3, 32), *conv(32, 32), pool, *conv(32, 64), *conv(64, 64), pool, *conv(64, 128), pool]
    model = nn.Sequential(*body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)).to("torch")
    train = DataLoader(Shapes10(5000, transform=T.Compose([T.RandomHorizontalFlip(), T.ToTensor()])), 64, shuffle=True)
    epochs = 5
    opt = dslib.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    sched = dslib.optim.lr_scheduler.warmup_cosine(opt, warmup_steps=30, total_steps=epochs * len(train))
    for epoch in range(epochs):
        train.set_epoch(epoch)
        for xb, yb in train:
            loss = F.cross_entropy(model(xb.to("torch")), yb.to("torch"))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with dslib.no_grad():
        pred = model(dslib.tensor(xt.transpose(0, 3, 1, 2) / np.float32(255), device="torch")).argmax(1).numpy()
    accuracy = float((pred == yt).mean())
    print(f"Shapes10: small conv net {accuracy:.3f}, logistic regression on pixels {linear:.3f}")
    assert linear < 0.3
    assert accuracy > 0.8
