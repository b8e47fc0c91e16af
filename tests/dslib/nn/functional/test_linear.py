"""linear against torch.nn.functional.linear (with/without bias, batched leading dims)."""

import pytest
import torch

import dslib
import dslib.nn.functional as F
from tests.helpers import check_op


@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear_matches_torch(x_shape):
    check_op([x_shape, (4, 3), (4,)], torch_fn=torch.nn.functional.linear, dslib_fn=F.linear)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_on_a_transposed_4d_input_matches_torch(bias):
    # the kernels flatten leading dims into one GEMM: a non-contiguous input must still give torch's numbers
    shapes = [(2, 5, 3, 3), (4, 3)] + ([(4,)] if bias else [])
    check_op(
        shapes,
        torch_fn=lambda x, *wb: torch.nn.functional.linear(x.transpose(0, 1), *wb),
        dslib_fn=lambda x, *wb: F.linear(x.transpose(0, 1), *wb),
    )


def test_linear_without_bias_matches_torch():
    check_op([(5, 3), (4, 3)], torch_fn=torch.nn.functional.linear, dslib_fn=F.linear)


def test_linear_rejects_mismatched_features():
    with pytest.raises(RuntimeError, match=r"linear: input of shape \(2, 5\) and weight of shape \(4, 3\)"):
        F.linear(dslib.randn(2, 5), dslib.randn(4, 3))
