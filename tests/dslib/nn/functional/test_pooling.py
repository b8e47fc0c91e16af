"""max_pool2d, avg_pool2d and adaptive_avg_pool2d against torch.nn.functional, forward and backward."""

import numpy as np
import pytest
import torch

import dslib
import dslib.nn.functional as F
from tests.helpers import check_op

TF = torch.nn.functional


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 3, 8, 8), dict(kernel_size=2)),
        ((2, 2, 9, 9), dict(kernel_size=3, stride=2, padding=1)),  # ResNet's stem pool: overlapping windows
        ((1, 2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
        ((1, 2, 8, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),
        ((1, 2, 10, 9), dict(kernel_size=2, stride=3, padding=1, ceil_mode=True)),
        ((1, 2, 9, 9), dict(kernel_size=3, stride=1, dilation=2, padding=1)),
        ((2, 7, 7), dict(kernel_size=2)),  # unbatched
    ],
)
def test_max_pool2d_matches_torch(shape, kwargs):
    check_op([shape], torch_fn=lambda x: TF.max_pool2d(x, **kwargs), dslib_fn=lambda x: F.max_pool2d(x, **kwargs))


def test_max_pool2d_return_indices_match_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 7)).astype(np.float32)
    ref_out, ref_idx = TF.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    for device in ("numpy", "torch"):
        out, idx = F.max_pool2d(dslib.tensor(x, device=device), 3, 2, 1, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
        np.testing.assert_allclose(out.numpy(), ref_out.numpy())


def test_max_pool2d_ties_send_the_gradient_to_the_first_maximum_like_torch():
    x = np.zeros((1, 1, 4, 4), np.float32)  # all windows tie (as after a ReLU)
    check_op(
        inputs=[x],
        torch_fn=lambda t: TF.max_pool2d(t, 3, 1, 1),
        dslib_fn=lambda t: F.max_pool2d(t, 3, 1, 1),
        finite_diff=False,
    )


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 3, 8, 8), dict(kernel_size=2)),
        ((1, 2, 9, 9), dict(kernel_size=3, stride=2, padding=1)),
        ((1, 2, 9, 9), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
        ((1, 2, 8, 7), dict(kernel_size=(3, 2), stride=2, padding=1, ceil_mode=True)),
        ((1, 2, 8, 7), dict(kernel_size=(3, 2), stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
        ((1, 2, 10, 9), dict(kernel_size=2, stride=3, ceil_mode=True)),
        ((3, 6, 6), dict(kernel_size=3)),
    ],
)
def test_avg_pool2d_matches_torch(shape, kwargs):
    check_op([shape], torch_fn=lambda x: TF.avg_pool2d(x, **kwargs), dslib_fn=lambda x: F.avg_pool2d(x, **kwargs))


@pytest.mark.parametrize(
    "shape, out",
    [((2, 3, 8, 8), 1), ((2, 3, 8, 8), (2, 4)), ((1, 2, 7, 5), (3, 2)), ((1, 2, 5, 6), (5, None)), ((2, 5, 5), 3)],
)
def test_adaptive_avg_pool2d_matches_torch(shape, out):
    check_op(
        [shape], torch_fn=lambda x: TF.adaptive_avg_pool2d(x, out), dslib_fn=lambda x: F.adaptive_avg_pool2d(x, out)
    )


def test_pooling_rejects_too_large_padding_and_wrong_dims():
    with pytest.raises(RuntimeError, match=r"max_pool2d: padding \(2, 2\) .*half"):
        F.max_pool2d(dslib.randn(1, 1, 8, 8), 3, padding=2)
    with pytest.raises(RuntimeError, match=r"avg_pool2d: expected a 3-D .*got shape \(8, 8\)"):
        F.avg_pool2d(dslib.randn(8, 8), 2)
    with pytest.raises(RuntimeError, match=r"max_pool2d: input of shape \(1, 1, 2, 2\) is too small"):
        F.max_pool2d(dslib.randn(1, 1, 2, 2), 3)
