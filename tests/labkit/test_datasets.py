"""labkit/datasets.py: two_blobs gives the same balanced points for a seed on every run."""

from __future__ import annotations

import pytest

import labkit


def test_two_blobs_is_deterministic_per_seed_and_differs_across_seeds():
    assert labkit.datasets.two_blobs(30, seed=4) == labkit.datasets.two_blobs(30, seed=4)
    assert labkit.datasets.two_blobs(30, seed=4)[0] != labkit.datasets.two_blobs(30, seed=5)[0]


def test_two_blobs_alternates_labels_and_centres_each_class_on_its_side():
    X, y = labkit.datasets.two_blobs(400, seed=0)
    assert len(X) == len(y) == 400 and all(len(p) == 2 for p in X)
    assert y[:4] == [-1.0, 1.0, -1.0, 1.0] and sum(y) == 0
    for label in (-1.0, 1.0):
        pts = [p for p, t in zip(X, y) if t == label]
        mean_x = sum(p[0] for p in pts) / len(pts)
        assert abs(mean_x - 1.5 * label) < 0.2


def test_two_blobs_rejects_an_empty_set():
    with pytest.raises(ValueError, match="at least 1"):
        labkit.datasets.two_blobs(0)
