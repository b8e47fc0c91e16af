"""conv2d against torch.nn.functional.conv2d: forward, input/weight/bias gradients, finite differences."""

import pytest
import torch

import dslib
import dslib.nn.functional as F
from tests.helpers import check_op


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs",
    [
        ((2, 3, 7, 7), (4, 3, 3, 3), dict(stride=1, padding=1)),
        ((2, 3, 8, 6), (5, 3, 3, 2), dict(stride=(2, 1), padding=(1, 0))),
        ((1, 2, 9, 9), (3, 2, 3, 3), dict(stride=2, padding=0)),  # last rows not covered by any window
        ((2, 4, 7, 8), (6, 2, 3, 3), dict(stride=1, padding=2, dilation=2, groups=2)),
        ((1, 4, 6, 6), (4, 1, 3, 3), dict(stride=2, padding=1, groups=4)),  # depthwise
        ((2, 4, 9, 8), (6, 2, 3, 2), dict(stride=2, padding=(2, 1), dilation=2, groups=2)),
        ((2, 3, 5, 5), (2, 3, 1, 1), dict()),  # 1x1
        ((1, 2, 10, 9), (3, 2, 3, 3), dict(stride=3, padding=1, dilation=(1, 2))),
    ],
)
def test_conv2d_matches_torch_forward_and_backward(x_shape, w_shape, kwargs):
    check_op(
        [x_shape, w_shape, (w_shape[0],)],
        torch_fn=lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kwargs),
        dslib_fn=lambda x, w, b: F.conv2d(x, w, b, **kwargs),
        fd_max_elems=16,
    )


def test_conv2d_without_bias_matches_torch():
    check_op(
        [(2, 3, 6, 6), (4, 3, 3, 3)],
        torch_fn=lambda x, w: torch.nn.functional.conv2d(x, w, padding=1, stride=2),
        dslib_fn=lambda x, w: F.conv2d(x, w, padding=1, stride=2),
        fd_max_elems=16,
    )


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("padding, k, dilation", [("same", 3, 1), ("same", 4, 1), ("same", 2, 3), ("valid", 3, 1)])
def test_conv2d_string_padding_matches_torch(padding, k, dilation):
    check_op(
        [(1, 2, 6, 7), (3, 2, k, k), (3,)],
        torch_fn=lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=padding, dilation=dilation),
        dslib_fn=lambda x, w, b: F.conv2d(x, w, b, padding=padding, dilation=dilation),
        fd_max_elems=16,
    )


def test_conv2d_unbatched_input_matches_torch():
    check_op(
        [(2, 5, 5), (3, 2, 3, 3)],
        torch_fn=lambda x, w: torch.nn.functional.conv2d(x, w, padding=1),
        dslib_fn=lambda x, w: F.conv2d(x, w, padding=1),
        fd_max_elems=16,
    )


def test_conv2d_channel_mismatch_names_the_shapes():
    x, w = dslib.randn(2, 4, 8, 8), dslib.randn(6, 3, 3, 3)
    with pytest.raises(RuntimeError, match=r"conv2d: .*\[6, 3, 3, 3\].*\[2, 4, 8, 8\].*3 channels.*got 4"):
        F.conv2d(x, w)


def test_conv2d_rejects_wrong_dims():
    with pytest.raises(RuntimeError, match=r"conv2d: expected a 3-D .* or 4-D .*\(8, 8\)"):
        F.conv2d(dslib.randn(8, 8), dslib.randn(1, 1, 3, 3))
    with pytest.raises(RuntimeError, match=r"conv2d: expected a 4-D weight.*\(3, 3\)"):
        F.conv2d(dslib.randn(1, 1, 8, 8), dslib.randn(3, 3))


def test_conv2d_rejects_kernel_larger_than_padded_input():
    with pytest.raises(RuntimeError, match=r"conv2d: .*\(1, 1, 2, 2\).*smaller than the .*kernel size \(3, 3\)"):
        F.conv2d(dslib.randn(1, 1, 2, 2), dslib.randn(1, 1, 3, 3))


def test_conv2d_rejects_groups_not_dividing_out_channels():
    with pytest.raises(RuntimeError, match="groups=2 must be a positive int dividing out_channels=3"):
        F.conv2d(dslib.randn(1, 4, 5, 5), dslib.randn(3, 2, 3, 3), groups=2)


def test_conv2d_rejects_strided_same_padding():
    with pytest.raises(ValueError, match="'same' is not supported for strided"):
        F.conv2d(dslib.randn(1, 1, 5, 5), dslib.randn(1, 1, 3, 3), padding="same", stride=2)
