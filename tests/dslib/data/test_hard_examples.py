"""hard_example_weights / HardExampleWeighter: the weights' math, the running estimates, mixed samples, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
from dslib.data import DataLoader, TensorDataset
from dslib.data.hard_examples import HardExampleSampler, HardExampleWeighter, IndexedDataset, hard_example_weights
from dslib.data.mixing import cutmix, mixup

LOSSES = np.array([0.5, 2.0, 0.0, 1.0, 4.0, 0.5])


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_weights_are_proportional_to_loss_to_the_gamma_with_mean_one(gamma):
    w = hard_example_weights(LOSSES, gamma=gamma)
    expected = LOSSES**gamma / np.mean(LOSSES**gamma)
    np.testing.assert_allclose(w, expected, rtol=1e-6)
    assert w.dtype == np.float32 and w.mean() == pytest.approx(1.0)


def test_gamma_zero_and_all_zero_losses_give_uniform_weights():
    np.testing.assert_array_equal(hard_example_weights(LOSSES, gamma=0), np.ones(6))
    np.testing.assert_array_equal(hard_example_weights(np.zeros(4)), np.ones(4))


def test_top_k_is_ohem_the_k_hardest_get_n_over_k_ties_to_the_lower_index():
    np.testing.assert_array_equal(hard_example_weights(LOSSES, top_k=2), [0, 3, 0, 0, 3, 0])
    # fraction 0.5 of 6 -> k = 3: losses 4, 2, 1
    np.testing.assert_array_equal(hard_example_weights(LOSSES, top_k=0.5), [0, 2, 0, 2, 2, 0])
    # k = 4 reaches the tie at 0.5 (indices 0 and 5): index 0 wins
    np.testing.assert_allclose(hard_example_weights(LOSSES, top_k=4), [1.5, 1.5, 0, 1.5, 1.5, 0])
    np.testing.assert_array_equal(hard_example_weights(LOSSES, top_k=100), np.ones(6))  # k capped at N


def test_smoothing_mixes_in_uniform_weight():
    w = hard_example_weights(LOSSES, gamma=1.0, smoothing=0.25)
    np.testing.assert_allclose(w, 0.75 * LOSSES / LOSSES.mean() + 0.25, rtol=1e-6)
    assert w.min() >= 0.25


def test_a_tensor_in_gives_a_tensor_out_on_its_device(device):
    losses = dslib.tensor(LOSSES.astype(np.float32), device=device)
    w = hard_example_weights(losses, gamma=2.0)
    assert isinstance(w, dslib.Tensor) and w.device == losses.device and w.dtype == dslib.float32
    np.testing.assert_allclose(w.numpy(), LOSSES**2 / np.mean(LOSSES**2), rtol=1e-6)


@pytest.mark.parametrize(
    "losses, kwargs, error, message",
    [
        ([1.0, -0.5], {}, ValueError, "losses must be >= 0"),
        ([1.0, np.nan], {}, ValueError, "NaN or Inf"),
        ([[1.0, 2.0]], {}, ValueError, r"1-D sequence of per-sample losses, got shape \(1, 2\)"),
        ([1.0], {"gamma": -1}, ValueError, "gamma must be a finite number >= 0, got -1"),
        ([1.0], {"top_k": 0}, ValueError, "top_k must be >= 1, got 0"),
        ([1.0], {"top_k": 1.5}, ValueError, r"fractional top_k must be in \(0, 1\]"),
        ([1.0], {"top_k": "all"}, TypeError, "top_k must be None, an int k or a fraction"),
        ([1.0], {"smoothing": 2}, ValueError, r"smoothing must be in \[0, 1\], got 2"),
    ],
)
def test_bad_arguments_raise_clear_errors(losses, kwargs, error, message):
    with pytest.raises(error, match=message):
        hard_example_weights(losses, **kwargs)


def test_running_estimate_is_an_ema_seeded_by_the_first_observation():
    hw = HardExampleWeighter(4, gamma=1.0, momentum=0.9, smoothing=0.0)
    np.testing.assert_array_equal(hw.weights, np.ones(4))  # nothing seen yet: uniform
    hw.update([0, 1], [2.0, 1.0])
    hw.update([0], [4.0])
    assert hw.losses[0] == pytest.approx(2.0 + 0.1 * (4.0 - 2.0))
    # unseen samples 2 and 3 count as the mean of the seen estimates, (2.2 + 1.0) / 2
    est = np.array([2.2, 1.0, 1.6, 1.6])
    np.testing.assert_allclose(hw.weights, est / est.mean())
    np.testing.assert_allclose(hw.weights, hard_example_weights(est, gamma=1.0), rtol=1e-6)


def test_credit_scales_the_step_and_a_repeated_index_updates_in_order():
    hw = HardExampleWeighter(2, momentum=0.5)
    hw.update([0], [1.0])
    hw.update([0, 0], [3.0, 3.0], credit=[0.5, 1.0])
    first = 1.0 + 0.5 * 0.5 * (3.0 - 1.0)  # 1.5
    assert hw.losses[0] == pytest.approx(first + 0.5 * (3.0 - first))
    hw.update([1], [5.0], credit=[0.0])  # zero credit: not even "seen"
    assert not hw.seen[1]


def test_loss_weights_are_the_batch_weights_rescaled_to_mean_one():
    hw = HardExampleWeighter(5, smoothing=0.0)
    hw.update(np.arange(5), [1.0, 2.0, 3.0, 4.0, 5.0])
    w = hw.loss_weights([4, 0])
    np.testing.assert_allclose(w, [5 / 3, 1 / 3], rtol=1e-6)
    assert w.dtype == np.float32


def test_update_mixed_credits_the_excess_loss_by_each_samples_share():
    """Against torch: excess = soft-target CE - entropy of the target; shares are lam (or 1 for same-class pairs)."""
    rng = np.random.default_rng(0)
    x = rng.random((16, 3, 8, 8), dtype=np.float32)
    y = np.arange(16) % 10
    mixed, soft = mixup(x, y, alpha=1.0, num_classes=10, rng=7)
    logits = rng.normal(size=(16, 10)).astype(np.float32)
    q = torch.tensor(soft, dtype=torch.float64)
    ce = torch.nn.functional.cross_entropy(torch.tensor(logits, dtype=torch.float64), q, reduction="none")
    entropy = -(q * torch.log(q.clamp_min(1e-300))).sum(1)
    hw = HardExampleWeighter(16, momentum=0.5)
    excess = hw.update_mixed(np.arange(16), dslib.tensor(logits), soft, y)
    np.testing.assert_allclose(excess, (ce - entropy).numpy(), rtol=1e-6, atol=1e-9)
    share = soft[np.arange(16), y]
    lam = share.min()
    assert lam < 1 and np.allclose(share[share < 1], lam)  # one lam for the whole batch
    np.testing.assert_allclose(hw.losses, excess)  # first observation: the estimate is the excess itself
    excess2 = hw.update_mixed(np.arange(16), 2 * logits, soft, y)  # again: a step of (1 - momentum) * share
    np.testing.assert_allclose(hw.losses, excess + 0.5 * share * (excess2 - excess), rtol=1e-6)


def test_update_mixed_on_one_hot_targets_is_the_plain_cross_entropy_and_partners_get_the_rest():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 4))
    y = np.array([0, 1, 2, 3, 0, 1])
    hard = np.eye(4)[y]
    hw = HardExampleWeighter(12, momentum=0.0)  # momentum 0: the estimate is the last credited observation
    excess = hw.update_mixed(np.arange(6), logits, hard, y, partner_indices=np.arange(6, 12))
    ce = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(excess, ce, rtol=1e-10)
    assert hw.seen[:6].all() and not hw.seen[6:].any()  # share 1 for the own sample, 0 left for the partner
    _, soft = cutmix(rng.random((6, 3, 8, 8), dtype=np.float32), y, alpha=1.0, num_classes=4, rng=3)
    hw.update_mixed(np.arange(6), logits, soft, y, partner_indices=np.arange(6, 12))
    assert hw.seen[6:][soft[np.arange(6), y] < 1].all()


def test_update_rejects_bad_indices_and_shapes():
    hw = HardExampleWeighter(3)
    with pytest.raises(ValueError, match=r"indices must be in \[0, 3\), got 0..3"):
        hw.update([0, 3], [1.0, 1.0])
    with pytest.raises(ValueError, match="2 indices but 1 losses"):
        hw.update([0, 1], [1.0])
    with pytest.raises(TypeError, match="integer sample indices"):
        hw.update([0.5], [1.0])
    with pytest.raises(ValueError, match=r"credit must hold 1 values in \[0, 1\]"):
        hw.update([0], [1.0], credit=[1.5])
    with pytest.raises(ValueError, match="rows must be probability vectors"):
        hw.update_mixed([0], np.zeros((1, 3)), np.array([[0.5, 0.0, 0.0]]), [0])
    with pytest.raises(ValueError, match="momentum must be in"):
        HardExampleWeighter(3, momentum=1.0)
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        HardExampleWeighter(0)


def test_sampler_draws_in_proportion_to_the_weights_and_is_deterministic_by_seed_and_epoch():
    hw = HardExampleWeighter(4, gamma=1.0, smoothing=0.0)
    hw.update(np.arange(4), [1.0, 2.0, 3.0, 4.0])
    n = 20_000
    sampler = hw.sampler(num_samples=n, seed=0)
    assert isinstance(sampler, HardExampleSampler) and len(sampler) == n
    draws = list(sampler)
    assert_within_5_sigma(np.bincount(draws, minlength=4), np.array([1, 2, 3, 4]) / 10)
    assert list(sampler) == draws  # same epoch: same order
    sampler.set_epoch(1)
    assert list(sampler) != draws
    sampler.set_epoch(0)
    assert list(hw.sampler(num_samples=n, seed=0)) == draws and list(hw.sampler(num_samples=n, seed=1)) != draws


def test_state_dict_round_trip():
    hw = HardExampleWeighter(3)
    hw.update([0, 2], [1.0, 3.0])
    other = HardExampleWeighter(3)
    other.load_state_dict(hw.state_dict())
    np.testing.assert_array_equal(other.weights, hw.weights)
    with pytest.raises(ValueError, match="state is for 3 samples, not 4"):
        HardExampleWeighter(4).load_state_dict(hw.state_dict())


def test_in_a_dataloader_loop_the_next_epoch_draws_the_hard_samples_more():
    x = np.arange(8, dtype=np.float32).reshape(8, 1)
    hw = HardExampleWeighter(8, gamma=1.0, momentum=0.0, smoothing=0.0)
    ds = IndexedDataset(TensorDataset(x, np.zeros(8, np.int64)))
    loader = DataLoader(ds, batch_size=50, sampler=hw.sampler(num_samples=6000, seed=0))
    loader.set_epoch(0)
    first = []
    for _, _, idx in loader:
        first.append(idx.numpy())
        hw.update(idx, np.where(idx.numpy() < 2, 9.0, 1.0))  # samples 0 and 1 are the hard ones
    assert_within_5_sigma(np.bincount(np.concatenate(first), minlength=8), np.full(8, 1 / 8))  # uniform before
    loader.set_epoch(1)
    drawn = np.concatenate([idx.numpy() for _, _, idx in loader])
    p = np.array([9, 9, 1, 1, 1, 1, 1, 1]) / 24
    assert_within_5_sigma(np.bincount(drawn, minlength=8), p)


def assert_within_5_sigma(counts, p):
    """Each count of n draws is Binomial(n, p_i): allow 5 standard deviations (a ~6e-7 chance per count)."""
    n = counts.sum()
    assert np.all(np.abs(counts - n * p) <= 5 * np.sqrt(n * p * (1 - p))), (counts, n * p)
