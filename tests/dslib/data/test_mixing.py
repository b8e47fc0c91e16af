"""dslib.data.mixing: mixup and CutMix against hand-computed mixtures, and the soft-target loss against
PyTorch's lam-weighted sum of the two hard-label cross entropies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import dslib
import dslib.nn.functional as F
from dslib.data import transforms as T
from dslib.data.mixing import MixupCutmix, cutmix, mixup, rand_box


def _batch(b=6, c=3, h=8, w=10, seed=0):
    g = np.random.default_rng(seed)
    x = g.random((b, c, h, w), dtype=np.float32) + np.arange(b, dtype=np.float32)[:, None, None, None] * 10
    return x, g.integers(0, 5, size=b)


def test_mixup_blends_images_and_one_hot_targets_with_the_same_lambda(device):
    x, y = _batch()
    mixed, soft = mixup(dslib.tensor(x, device=device), dslib.tensor(y), alpha=0.4, num_classes=5, rng=11)
    g = np.random.default_rng(11)  # what mixup draws: lam, then the partner permutation
    lam, perm = g.beta(0.4, 0.4), g.permutation(6)
    assert mixed.device == dslib.device(device) and soft.device == dslib.device(device)
    np.testing.assert_allclose(mixed.numpy(), lam * x + (1 - lam) * x[perm], rtol=1e-5)
    onehot = np.eye(5, dtype=np.float32)[y]
    np.testing.assert_allclose(soft.numpy(), lam * onehot + (1 - lam) * onehot[perm], rtol=1e-6)
    assert soft.dtype == dslib.float32 and soft.shape == (6, 5)
    np.testing.assert_allclose(soft.numpy().sum(1), 1, rtol=1e-6)


def test_mixup_soft_target_loss_is_the_lambda_weighted_sum_of_hard_losses(device):
    x, y = _batch(b=8)
    logits = np.random.default_rng(3).standard_normal((8, 5)).astype(np.float32)
    _, soft = mixup(dslib.tensor(x, device=device), y, alpha=1.0, num_classes=5, rng=4)
    g = np.random.default_rng(4)
    lam, perm = g.beta(1.0, 1.0), g.permutation(8)
    ours = F.cross_entropy(dslib.tensor(logits, device=device), soft).item()
    t_logits, t_y = torch.from_numpy(logits), torch.from_numpy(y)
    ref = lam * TF.cross_entropy(t_logits, t_y) + (1 - lam) * TF.cross_entropy(t_logits, t_y[perm])
    np.testing.assert_allclose(ours, ref.item(), rtol=1e-5)


def test_cutmix_pastes_one_box_and_weights_targets_by_its_exact_area(device):
    x, y = _batch(b=5, h=16, w=12)
    y = np.array([0, 1, 2, 3, 4])  # all labels distinct, so each weight is readable from the targets
    mixed, soft = cutmix(dslib.tensor(x, device=device), y, alpha=1.0, num_classes=5, rng=2)
    g = np.random.default_rng(2)
    lam, perm = g.beta(1.0, 1.0), g.permutation(5)
    y0, y1, x0, x1 = rand_box(16, 12, lam, g)
    expect = x.copy()
    expect[:, :, y0:y1, x0:x1] = x[perm][:, :, y0:y1, x0:x1]
    np.testing.assert_array_equal(mixed.numpy(), expect)
    area = (y1 - y0) * (x1 - x0) / (16 * 12)
    for i in range(5):
        if perm[i] != i:
            np.testing.assert_allclose(soft.numpy()[i, y[i]], 1 - area, rtol=1e-6)
            np.testing.assert_allclose(soft.numpy()[i, y[perm[i]]], area, rtol=1e-6)
            # the weight of each label is the share of pixels that came from its image
            from_own = (mixed.numpy()[i] == x[i]).all(0).mean()
            np.testing.assert_allclose(from_own, 1 - area, rtol=1e-6)


def test_cutmix_box_has_the_requested_area_away_from_the_borders():
    g = np.random.default_rng(0)
    areas = []
    for _ in range(300):
        y0, y1, x0, x1 = rand_box(32, 32, 0.75, g)
        assert 0 <= y0 <= y1 <= 32 and 0 <= x0 <= x1 <= 32
        areas.append((y1 - y0) * (x1 - x0))
    assert max(areas) == 16 * 16  # side sqrt(1 - 0.75) * 32 = 16 when the box is not clipped
    assert min(areas) < 16 * 16  # clipped at the borders (and the target weight follows, see above)


def test_mixing_on_numpy_batches_keeps_numpy_and_rejects_bad_input():
    x, y = _batch()
    mixed, soft = mixup(x, y, 0.2, 5, rng=0)
    assert isinstance(mixed, np.ndarray) and mixed.dtype == np.float32 and isinstance(soft, np.ndarray)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        mixup(x, y, 0.2, num_classes=3)
    with pytest.raises(ValueError, match="6 samples but y holds 4 labels"):
        cutmix(x, y[:4], 1.0, 5)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        mixup(x, y, 0.0, 5)
    with pytest.raises(TypeError, match="floating point"):
        mixup(x.astype(np.uint8), y, 0.2, 5)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        cutmix(x[:, 0, 0], y, 1.0, 5)
    with pytest.raises(TypeError, match="rng must be None, an int seed or a numpy.random.Generator"):
        mixup(x, y, 0.2, 5, rng="seed")


def test_mixing_without_rng_draws_from_dslibs_default_generator():
    x, y = _batch()
    dslib.manual_seed(5)
    a, _ = cutmix(x, y, 1.0, 5)
    state = dslib.random.default_generator.get_state()
    b, _ = mixup(x, y, 0.2, 5)
    dslib.manual_seed(5)
    np.testing.assert_array_equal(cutmix(x, y, 1.0, 5)[0], a)
    dslib.random.default_generator.set_state(state)  # a restored checkpoint state mixes the same way
    np.testing.assert_array_equal(mixup(x, y, 0.2, 5)[0], b)


def test_mixup_cutmix_chooses_per_batch_and_always_returns_soft_targets():
    x, y = _batch()
    xt = dslib.tensor(x)
    off = MixupCutmix(num_classes=5, p=0.0, label_smoothing=0.1)
    out, soft = off(xt, y)
    assert out is xt
    np.testing.assert_allclose(soft.numpy(), np.eye(5)[y] * 0.9 + 0.02, rtol=1e-6)

    only_cutmix = MixupCutmix(num_classes=5, mixup_alpha=0.0, cutmix_alpha=1.0, rng=0)
    for _ in range(5):  # cutmix only copies pixels: every value comes from some image of the batch
        out, soft = only_cutmix(xt, y)
        assert np.isin(out.numpy(), x).all()
        np.testing.assert_allclose(soft.numpy().sum(1), 1, rtol=1e-6)

    both = MixupCutmix(num_classes=5, mixup_alpha=0.4, cutmix_alpha=1.0, switch_prob=0.5, rng=1)
    kinds = set()
    for _ in range(20):
        out, _ = both(xt, y)
        kinds.add("cutmix" if np.isin(out.numpy(), x).all() else "mixup")
    assert kinds == {"cutmix", "mixup"}


def test_mixup_cutmix_validates_its_settings_and_is_reexported():
    assert T.MixupCutmix is MixupCutmix and T.mixup is mixup and T.cutmix is cutmix
    with pytest.raises(ValueError, match="both 0"):
        MixupCutmix(10, mixup_alpha=0, cutmix_alpha=0)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        MixupCutmix(10, p=2)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        MixupCutmix(0)
    assert repr(MixupCutmix(10)) == (
        "MixupCutmix(num_classes=10, mixup_alpha=0.2, cutmix_alpha=1.0, p=1.0, switch_prob=0.5, label_smoothing=0.0)"
    )
