"""Losses against torch.nn.functional: cross_entropy / nll_loss (weights, ignore_index, label smoothing,
(N, C, d...) inputs, probability targets), mse, l1 and BCE-with-logits, forward and backward."""

import numpy as np
import pytest
import torch

import dslib
import dslib.nn.functional as F
from tests.helpers import check_op

TF = torch.nn.functional


def _targets(shape, c, seed=0, ignore=None):
    t = np.random.default_rng(seed).integers(0, c, size=shape)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t.astype(np.int64)


def _weight(c):
    return np.random.default_rng(5).uniform(0.2, 2.0, c).astype(np.float32)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_class_targets_match_torch(reduction, weighted, smoothing):
    x = np.random.default_rng(1).uniform(-2, 2, (6, 5)).astype(np.float32)
    inputs = [x, _targets((6,), 5, ignore=3)] + ([_weight(5)] if weighted else [])
    kw = dict(reduction=reduction, label_smoothing=smoothing, ignore_index=3)

    def fn(lib):
        return lambda x, t, *w: lib.cross_entropy(x, t, *w, **kw)

    check_op(inputs=inputs, grad=[True, False, False][: len(inputs)], torch_fn=fn(TF), dslib_fn=fn(F))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_spatial_targets_match_torch(reduction):
    x = np.random.default_rng(2).uniform(-2, 2, (2, 4, 3, 5)).astype(np.float32)
    t = _targets((2, 3, 5), 4, ignore=-100)
    check_op(
        inputs=[x, t, _weight(4)],
        grad=[True, False, False],
        torch_fn=lambda x, t, w: TF.cross_entropy(x, t, w, reduction=reduction, label_smoothing=0.1),
        dslib_fn=lambda x, t, w: F.cross_entropy(x, t, w, reduction=reduction, label_smoothing=0.1),
        fd_max_elems=24,
    )


def test_cross_entropy_unbatched_matches_torch():
    check_op(
        inputs=[np.linspace(-1, 2, 5).astype(np.float32), np.array(2)],
        grad=[True, False],
        torch_fn=lambda x, t: TF.cross_entropy(x, t),
        dslib_fn=lambda x, t: F.cross_entropy(x, t),
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets_match_torch_including_target_grad(reduction, smoothing):
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, (4, 5, 2)).astype(np.float32)
    p = rng.uniform(0, 1, (4, 5, 2)).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    check_op(
        inputs=[x, p, _weight(5)],
        grad=[True, True, False],
        torch_fn=lambda x, p, w: TF.cross_entropy(x, p, w, reduction=reduction, label_smoothing=smoothing),
        dslib_fn=lambda x, p, w: F.cross_entropy(x, p, w, reduction=reduction, label_smoothing=smoothing),
        fd_max_elems=24,
    )


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    x = np.random.default_rng(4).standard_normal((8, 10)).astype(np.float32)
    t = _targets((8,), 10)
    xd = dslib.tensor(x, requires_grad=True)
    F.cross_entropy(xd, dslib.tensor(t)).backward()
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(xd.grad.numpy(), (p - np.eye(10)[t]) / 8, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_torch(reduction):
    x = np.random.default_rng(6).uniform(-3, 0, (2, 4, 3)).astype(np.float32)
    check_op(
        inputs=[x, _targets((2, 3), 4, ignore=1), _weight(4)],
        grad=[True, False, False],
        torch_fn=lambda x, t, w: TF.nll_loss(x, t, w, ignore_index=1, reduction=reduction),
        dslib_fn=lambda x, t, w: F.nll_loss(x, t, w, ignore_index=1, reduction=reduction),
    )


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_class_targets_out_of_range_raise_index_error(fn):
    x, t = dslib.randn(3, 4), dslib.tensor([0, 4, 1])
    with pytest.raises(IndexError, match=rf"{fn}: target 4 is out of bounds for 4 classes"):
        getattr(F, fn)(x, t)
    with pytest.raises(RuntimeError, match=rf"{fn}: expected target of shape \(3,\).*got target of shape \(2,\)"):
        getattr(F, fn)(x, dslib.tensor([0, 1]))


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_match_torch(name, reduction):
    check_op(
        [(3, 4), (3, 4)],
        torch_fn=lambda a, b: getattr(TF, name)(a, b, reduction=reduction),
        dslib_fn=lambda a, b: getattr(F, name)(a, b, reduction=reduction),
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_weights", [False, True])
def test_binary_cross_entropy_with_logits_matches_torch(reduction, with_weights):
    rng = np.random.default_rng(7)
    x = rng.uniform(-30, 30, (4, 3)).astype(np.float32)  # large logits: must stay finite
    t = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    extra = [rng.uniform(0.5, 2, (4, 3)).astype(np.float32), rng.uniform(0.5, 3, (3,)).astype(np.float32)]
    inputs = [x, t] + (extra if with_weights else [])

    def fn(lib):
        def f(x, t, *ws):
            kw = dict(weight=ws[0], pos_weight=ws[1]) if ws else {}
            return lib.binary_cross_entropy_with_logits(x, t, reduction=reduction, **kw)

        return f

    check_op(inputs=inputs, grad=[True, True, False, False][: len(inputs)], torch_fn=fn(TF), dslib_fn=fn(F))


def test_losses_reject_unknown_reduction():
    with pytest.raises(ValueError, match="mse_loss: reduction must be one of"):
        F.mse_loss(dslib.randn(2), dslib.randn(2), reduction="avg")
