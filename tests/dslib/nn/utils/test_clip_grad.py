"""dslib.nn.utils.clip_grad_norm_ / clip_grad_value_ give torch's norms and clipped gradients, in place."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dslib
from dslib.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm

SHAPES = [(4, 3), (5,), ()]


def _params_with_grads(device, scale=1.0, dtype="float32"):
    rng = np.random.default_rng(0)
    ours, theirs = [], []
    for shape in SHAPES:
        w, g = rng.standard_normal(shape).astype(dtype), (scale * rng.standard_normal(shape)).astype(dtype)
        p = dslib.tensor(w, device=device).requires_grad_()
        p.grad = dslib.tensor(g, device=device)
        q = torch.tensor(w, requires_grad=True)
        q.grad = torch.tensor(g)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.detach().to("numpy").numpy()


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clips / leaves alone
def test_clip_grad_norm_matches_torch(device, norm_type, max_norm):
    ours, theirs = _params_with_grads(device)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, dslib.Tensor) and total.shape == () and total.device == ours[0].device
    np.testing.assert_allclose(_np(total), want.numpy(), rtol=1e-6)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(_np(p.grad), q.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_scales_to_max_norm_in_place():
    ours, _ = _params_with_grads("numpy", scale=10.0)
    grads = [p.grad for p in ours]
    versions = [g._version for g in grads]
    total = clip_grad_norm_(ours, 1.0)
    assert total.item() > 1.0
    assert all(p.grad is g for p, g in zip(ours, grads))
    assert all(g._version == v + 1 for g, v in zip(grads, versions))
    assert get_total_norm([p.grad for p in ours]).item() == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_of_a_generator_clips_like_a_list_as_model_parameters_is_passed():
    """model.parameters() is a generator: it is read once for the norm and must still be there for the scaling."""
    ours, theirs = _params_with_grads("numpy", scale=10.0)
    total = clip_grad_norm_((p for p in ours), 1.0)
    want = torch.nn.utils.clip_grad_norm_((q for q in theirs), 1.0)
    np.testing.assert_allclose(_np(total), want.numpy(), rtol=1e-6)
    assert get_total_norm([p.grad for p in ours]).item() == pytest.approx(1.0, rel=1e-5)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(_np(p.grad), q.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_in_float64_matches_torch(device):
    ours, theirs = _params_with_grads(device, scale=3.0, dtype="float64")
    total = clip_grad_norm_(ours, 1.0)
    want = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert total.dtype == dslib.float64
    np.testing.assert_allclose(_np(total), want.numpy(), rtol=1e-14)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(_np(p.grad), q.grad.numpy(), rtol=1e-14)


def test_clip_grad_norm_accepts_a_single_tensor_and_skips_params_without_grad():
    a, b = dslib.tensor([3.0, 4.0], requires_grad=True), dslib.ones(2, requires_grad=True)
    a.grad = dslib.tensor([3.0, 4.0])
    assert clip_grad_norm_(a, 1.0).item() == pytest.approx(5.0)
    assert clip_grad_norm_([a, b], 1.0).item() == pytest.approx(1.0, rel=1e-5)
    assert b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.8], rtol=1e-5)


def test_clip_grad_norm_without_grads_returns_zero():
    assert clip_grad_norm_([dslib.ones(2, requires_grad=True)], 1.0).item() == 0.0


def test_clip_grad_norm_error_if_nonfinite_names_the_norm():
    ours, _ = _params_with_grads("numpy")
    ours[1].grad._data[0] = np.nan
    with pytest.raises(RuntimeError, match="total norm of order 2.0 for gradients from `parameters` is non-finite"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # inf * 0, as torch: nan
def test_clip_grad_norm_with_a_nonfinite_norm_scales_like_torch_when_allowed():
    ours, theirs = _params_with_grads("numpy")
    ours[1].grad._data[0] = np.inf
    theirs[1].grad[0] = math.inf
    total = clip_grad_norm_(ours, 1.0)
    want = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isinf(total.item()) and math.isinf(want.item())
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(_np(p.grad), q.grad.numpy())


@pytest.mark.parametrize("clip_value", [0.3, 2.0])
def test_clip_grad_value_matches_torch(device, clip_value):
    ours, theirs = _params_with_grads(device)
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(_np(p.grad), q.grad.numpy())
        assert np.abs(_np(p.grad)).max() <= clip_value
