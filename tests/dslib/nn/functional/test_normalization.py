"""batch_norm, layer_norm and group_norm against torch.nn.functional: outputs, gradients, running stats."""

import numpy as np
import pytest
import torch

import dslib
import dslib.nn.functional as F
from tests.helpers import check_op

TF = torch.nn.functional


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4, 5), (2, 3, 6)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(shape, training):
    c = shape[1]
    rng = np.random.default_rng(1)
    rm, rv = rng.standard_normal(c).astype(np.float32), rng.uniform(0.5, 2, c).astype(np.float32)

    def run(lib, mod, x, w, b):
        mean, var = lib.tensor(rm.copy()), lib.tensor(rv.copy())
        if x.dtype == mod.float64:
            mean, var = mean.double(), var.double()
        mean, var = mean.to(x.device), var.to(x.device)
        return mod_fn(lib)(x, mean, var, w, b, training=training, momentum=0.2, eps=1e-3)

    def mod_fn(lib):
        return TF.batch_norm if lib is torch else F.batch_norm

    check_op(
        [shape, (c,), (c,)],
        torch_fn=lambda x, w, b: run(torch, torch, x, w, b),
        dslib_fn=lambda x, w, b: run(dslib, dslib, x, w, b),
        fd_max_elems=24,
    )


@pytest.mark.parametrize("device", ["numpy", "torch"])
def test_batch_norm_training_updates_running_stats_in_place_with_unbiased_variance(device):
    x = np.random.default_rng(2).standard_normal((5, 3, 4, 4)).astype(np.float32)
    t_mean, t_var = torch.zeros(3), torch.ones(3)
    TF.batch_norm(torch.tensor(x), t_mean, t_var, training=True, momentum=0.3)
    d_mean, d_var = dslib.zeros(3, device=device), dslib.ones(3, device=device)
    F.batch_norm(dslib.tensor(x, device=device), d_mean, d_var, training=True, momentum=0.3)
    np.testing.assert_allclose(d_mean.numpy(), t_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_var.numpy(), t_var.numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_without_affine_matches_torch():
    check_op(
        [(4, 3, 2, 2)],
        torch_fn=lambda x: TF.batch_norm(x, None, None, training=True),
        dslib_fn=lambda x: F.batch_norm(x, None, None, training=True),
    )


def test_batch_norm_rejects_single_value_per_channel_and_bad_stat_shapes():
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm(dslib.randn(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match=r"running_mean of shape \(4,\) must be \(3,\)"):
        F.batch_norm(dslib.randn(2, 3), dslib.zeros(4), dslib.ones(3))


@pytest.mark.parametrize("shape, normalized", [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((3, 5), 5)])
def test_layer_norm_matches_torch(shape, normalized):
    ns = (normalized,) if isinstance(normalized, int) else normalized
    check_op(
        [shape, ns, ns],
        torch_fn=lambda x, w, b: TF.layer_norm(x, ns, w, b, 1e-5),
        dslib_fn=lambda x, w, b: F.layer_norm(x, normalized, w, b, 1e-5),
        fd_max_elems=24,
    )


def test_layer_norm_without_affine_matches_torch():
    check_op([(3, 8)], torch_fn=lambda x: TF.layer_norm(x, (8,)), dslib_fn=lambda x: F.layer_norm(x, (8,)))


def test_layer_norm_rejects_mismatched_normalized_shape():
    with pytest.raises(RuntimeError, match=r"layer_norm: normalized_shape \[5\] must match .*\(3, 4\)"):
        F.layer_norm(dslib.randn(3, 4), (5,))


@pytest.mark.parametrize("shape, groups", [((2, 6, 4, 4), 3), ((3, 4, 5), 2), ((2, 6), 2)])
def test_group_norm_matches_torch(shape, groups):
    c = shape[1]
    check_op(
        [shape, (c,), (c,)],
        torch_fn=lambda x, w, b: TF.group_norm(x, groups, w, b),
        dslib_fn=lambda x, w, b: F.group_norm(x, groups, w, b),
        fd_max_elems=24,
    )


def test_group_norm_rejects_channels_not_divisible_by_groups():
    with pytest.raises(RuntimeError, match=r"group_norm: .*num_groups=4.*\(2, 6, 3, 3\)"):
        F.group_norm(dslib.randn(2, 6, 3, 3), 4)
