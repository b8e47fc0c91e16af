"""softmax / log_softmax and the pointwise activations against torch.nn.functional."""

import numpy as np
import pytest
import torch

import dslib
import dslib.nn.functional as F
from tests.helpers import check_op

TF = torch.nn.functional


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((4, 5), 1), ((4, 5), 0), ((2, 3, 4), -1), ((2, 3, 4), 1), ((6,), 0)])
def test_softmax_family_matches_torch(name, shape, dim):
    check_op([shape], torch_fn=lambda x: getattr(TF, name)(x, dim), dslib_fn=lambda x: getattr(F, name)(x, dim))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_is_stable_for_large_inputs(name):
    x = np.array([[1000.0, 0.0, -1000.0]], np.float32)
    check_op(
        inputs=[x],
        torch_fn=lambda t: getattr(TF, name)(t, 1),
        dslib_fn=lambda t: getattr(F, name)(t, 1),
        finite_diff=False,
    )


def test_tensor_softmax_methods_use_the_functional_ops():
    x = dslib.randn(3, 4)
    np.testing.assert_allclose(x.softmax(-1).numpy(), F.softmax(x, -1).numpy())
    np.testing.assert_allclose(x.log_softmax(-1).numpy(), F.log_softmax(x, -1).numpy())


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("relu", {}),
        ("gelu", {}),
        ("gelu", dict(approximate="tanh")),
        ("silu", {}),
        ("tanh", {}),
        ("sigmoid", {}),
        ("softplus", {}),
        ("leaky_relu", dict(negative_slope=0.2)),
        ("elu", {}),
        ("hardtanh", {}),
        ("relu6", {}),
        ("logsigmoid", {}),
    ],
)
def test_pointwise_activations_match_torch(name, kwargs):
    x = np.random.default_rng(0).uniform(-8, 8, (5, 7)).astype(np.float32)
    x[np.abs(x) < 0.05] = 0.5  # keep finite differences away from kinks
    x[np.abs(np.abs(x) - 1) < 0.05] = 0.5
    x[np.abs(x - 6) < 0.05] = 5.5
    check_op(
        inputs=[x], torch_fn=lambda t: getattr(TF, name)(t, **kwargs), dslib_fn=lambda t: getattr(F, name)(t, **kwargs)
    )
