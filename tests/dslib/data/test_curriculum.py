"""CurriculumSampler: instance-balanced at the start, class-balanced at the end, recall re-weighting, determinism."""

from __future__ import annotations

import numpy as np
import pytest

import dslib
from dslib.data import DataLoader, TensorDataset
from dslib.data.curriculum import CurriculumSampler

COUNTS = np.array([1000, 500, 250, 120, 60, 30, 10])  # a long tail, imbalance ratio 100
LABELS = np.repeat(np.arange(7), COUNTS)
N_DRAWS = 50_000


def class_counts(sampler) -> np.ndarray:
    return np.bincount(LABELS[list(sampler)], minlength=7)


def assert_within_5_sigma(counts, p):
    """Each class count of n draws is Binomial(n, p_c): allow 5 standard deviations (a ~6e-7 chance per class)."""
    n = counts.sum()
    tol = 5 * np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * p) <= tol), (counts, n * p, tol)


def test_epoch_0_draws_classes_as_often_as_they_occur():
    sampler = CurriculumSampler(LABELS, num_samples=N_DRAWS, ramp_epochs=4, seed=0)
    np.testing.assert_allclose(sampler.class_probabilities(), COUNTS / COUNTS.sum())
    assert_within_5_sigma(class_counts(sampler), COUNTS / COUNTS.sum())


@pytest.mark.parametrize("epoch", [4, 9])
def test_from_ramp_epochs_on_every_class_is_equally_likely(epoch):
    sampler = CurriculumSampler(LABELS, num_samples=N_DRAWS, ramp_epochs=4, seed=0)
    sampler.set_epoch(epoch)
    np.testing.assert_allclose(sampler.class_probabilities(), np.full(7, 1 / 7))
    counts = class_counts(sampler)
    assert_within_5_sigma(counts, np.full(7, 1 / 7))
    # the rarest class (10 of 1970 samples) is drawn ~28x as often as under instance-balanced sampling
    assert counts[-1] / N_DRAWS > 20 * COUNTS[-1] / COUNTS.sum()
    draws = np.array(list(sampler))
    tail = np.unique(draws[LABELS[draws] == 6])
    assert len(tail) == 10  # every one of the rare class's samples is used, each many times over


def test_the_ramp_interpolates_linearly_or_along_a_half_cosine():
    instance, balanced = COUNTS / COUNTS.sum(), np.full(7, 1 / 7)
    lin = CurriculumSampler(LABELS, ramp_epochs=4)
    cos = CurriculumSampler(LABELS, ramp_epochs=4, schedule="cosine")
    np.testing.assert_allclose(lin.class_probabilities(1), 0.75 * instance + 0.25 * balanced)
    np.testing.assert_allclose(cos.class_probabilities(2), 0.5 * instance + 0.5 * balanced)
    assert cos.balance(1) == pytest.approx((1 - np.cos(np.pi / 4)) / 2)
    assert CurriculumSampler(LABELS, ramp_epochs=0).balance(0) == 1.0


def test_sample_weights_are_uniform_within_a_class_and_sum_to_one():
    sampler = CurriculumSampler(LABELS, ramp_epochs=2)
    w = sampler.sample_weights(1)
    assert w.sum() == pytest.approx(1.0)
    for c in range(7):
        assert np.ptp(w[LABELS == c]) == 0
        assert w[LABELS == c].sum() == pytest.approx(sampler.class_probabilities(1)[c])


def test_update_with_per_class_recall_favours_the_classes_the_model_misses():
    sampler = CurriculumSampler(LABELS, num_samples=N_DRAWS, ramp_epochs=1, recall_power=1.0, recall_floor=0.1, seed=3)
    recall = np.array([1.0, 0.9, 0.9, 0.8, 0.5, 0.2, 0.0])
    sampler.update(dslib.tensor(recall))
    sampler.set_epoch(1)
    q = (1 - recall + 0.1) / (1 - recall + 0.1).sum()
    np.testing.assert_allclose(sampler.class_probabilities(), q)
    assert_within_5_sigma(class_counts(sampler), q)
    assert CurriculumSampler(LABELS, ramp_epochs=1, recall_power=0.0).class_probabilities(1) == pytest.approx(
        np.full(7, 1 / 7)
    )


def test_classes_without_samples_are_never_drawn():
    labels = np.array([0, 0, 0, 2, 2])
    sampler = CurriculumSampler(labels, num_samples=1000, ramp_epochs=0, num_classes=4)
    np.testing.assert_allclose(sampler.class_probabilities(), [0.5, 0, 0.5, 0])
    sampler.update([0.0, 0.0, 1.0, 0.0])  # recall of absent classes 1 and 3 does not matter
    assert set(labels[list(sampler)]) == {0, 2}


def test_order_depends_only_on_seed_and_epoch():
    a = CurriculumSampler(LABELS, ramp_epochs=3, seed=11)
    b = CurriculumSampler(LABELS, ramp_epochs=3, seed=11)
    first = list(a)
    assert len(first) == len(LABELS) == len(a)
    assert list(a) == first and list(b) == first
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b) != first
    assert list(CurriculumSampler(LABELS, ramp_epochs=3, seed=12)) != first


def test_state_dict_restores_epoch_and_recall():
    a = CurriculumSampler(LABELS, ramp_epochs=3, seed=1)
    a.set_epoch(5)
    a.update(np.linspace(0, 1, 7))
    b = CurriculumSampler(LABELS, ramp_epochs=3, seed=1)
    b.load_state_dict(a.state_dict())
    assert list(b) == list(a)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"labels": [0.5, 1.0]}, "labels must be a non-empty 1-D sequence of int class indices"),
        ({"labels": []}, "labels must be a non-empty 1-D sequence"),
        ({"labels": [0, -1]}, "labels must be >= 0, got -1"),
        ({"num_classes": 3}, "num_classes must be an int > the largest label 6, got 3"),
        ({"num_samples": 0}, "num_samples must be an int >= 1, got 0"),
        ({"ramp_epochs": -1}, "ramp_epochs must be an int >= 0, got -1"),
        ({"schedule": "step"}, "schedule must be 'linear' or 'cosine', got 'step'"),
        ({"recall_floor": 0.0}, "recall_floor must be > 0 when recall_power > 0"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
    ],
)
def test_bad_arguments_raise_errors_naming_them(kwargs, message):
    kwargs = {"labels": LABELS} | kwargs
    with pytest.raises(ValueError, match=message):
        CurriculumSampler(**kwargs)


def test_bad_updates_and_epochs_raise():
    sampler = CurriculumSampler(LABELS)
    with pytest.raises(ValueError, match=r"must hold 7 values, got shape \(3,\)"):
        sampler.update([0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"must be in \[0, 1\] \(no NaN"):
        sampler.update([0.5] * 6 + [np.nan])
    with pytest.raises(ValueError, match="epoch must be an int >= 0, got -1"):
        sampler.set_epoch(-1)


def test_the_dataloader_forwards_set_epoch_to_the_curriculum():
    sampler = CurriculumSampler(LABELS, num_samples=500, ramp_epochs=2, seed=4)
    loader = DataLoader(TensorDataset(np.arange(len(LABELS))), batch_size=100, sampler=sampler)
    for epoch in (0, 2):
        loader.set_epoch(epoch)
        loaded = np.concatenate([b[0].numpy() for b in loader])
        sampler.set_epoch(epoch)
        assert loaded.tolist() == list(sampler)
