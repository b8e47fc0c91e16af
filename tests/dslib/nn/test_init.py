"""dslib.nn.init: torch.nn.init's formulas, in place under no_grad, from dslib's seeded generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dslib
import dslib.nn as nn
from dslib.nn import Parameter, init


@pytest.mark.parametrize(
    "name, param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)],
)  # fmt: skip
def test_calculate_gain_matches_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


@pytest.mark.parametrize("shape", [(5, 3), (8, 4, 3, 3), (2, 6, 5)])
def test_fan_in_and_fan_out_match_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(dslib.empty(*shape)) == expected


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(dslib.empty(3))


def _range_and_std(fn, shape, device="numpy"):
    p = Parameter(dslib.empty(*shape, device=device))
    out = fn(p)
    assert out is p and p.requires_grad and p.is_leaf and p.grad_fn is None
    arr = p.detach().numpy()
    return arr.min(), arr.max(), arr.std(), arr.mean()


@pytest.mark.parametrize("device", ["numpy", "torch"])
def test_uniform_inits_stay_in_torchs_bounds_and_fill_them(device):
    shape = (256, 128, 3, 3)
    fan_in, fan_out = 128 * 9, 256 * 9
    cases = [
        (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(fan_in)),
        (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(6 / fan_in)),
        (lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(6 / fan_out)),
        (lambda t: init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(6 / (fan_in + fan_out))),
        (lambda t: init.uniform_(t, -0.3, 0.3), 0.3),
    ]
    for fn, bound in cases:
        lo, hi, std, _ = _range_and_std(fn, shape, device)
        assert -bound <= lo < -0.99 * bound and 0.99 * bound < hi <= bound
        assert std == pytest.approx(bound / math.sqrt(3), rel=0.01)


def test_normal_inits_have_torchs_std():
    shape = (256, 128, 3, 3)
    fan_in, fan_out = 128 * 9, 256 * 9
    cases = [
        (lambda t: init.kaiming_normal_(t, nonlinearity="relu"), math.sqrt(2 / fan_in)),
        (lambda t: init.xavier_normal_(t), math.sqrt(2 / (fan_in + fan_out))),
        (lambda t: init.normal_(t, 1.0, 0.5), 0.5),
    ]
    for fn, std_expected in cases:
        _, _, std, _ = _range_and_std(fn, shape)
        assert std == pytest.approx(std_expected, rel=0.01)


def test_trunc_normal_stays_in_bounds_with_truncated_std():
    lo, hi, std, mean = _range_and_std(lambda t: init.trunc_normal_(t, mean=0.5, std=1.0, a=-1.0, b=2.0), (200_000,))
    assert lo >= -1.0 and hi <= 2.0
    ref = torch.nn.init.trunc_normal_(torch.empty(200_000, dtype=torch.float64), 0.5, 1.0, -1.0, 2.0)
    assert std == pytest.approx(ref.std().item(), rel=0.02)
    assert mean == pytest.approx(ref.mean().item(), abs=0.01)


def test_constant_zeros_ones_eye():
    p = Parameter(dslib.empty(3, 3))
    assert (init.constant_(p, 2.5).detach().numpy() == 2.5).all()
    assert (init.zeros_(p).detach().numpy() == 0).all()
    assert (init.ones_(p).detach().numpy() == 1).all()
    np.testing.assert_array_equal(init.eye_(p).detach().numpy(), np.eye(3))


def test_init_bumps_the_version_counter():
    p = Parameter(dslib.empty(4, 4))
    v = p._version
    init.kaiming_uniform_(p)
    init.trunc_normal_(p)
    assert p._version >= v + 2


def test_same_seed_gives_same_weights_on_every_device():
    dslib.manual_seed(3)
    a = nn.Linear(5, 4)
    dslib.manual_seed(3)
    b = nn.Linear(5, 4, device="torch")
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    np.testing.assert_array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())
    c = nn.Linear(5, 4)
    assert not np.array_equal(a.weight.detach().numpy(), c.weight.detach().numpy())


def test_module_default_inits_follow_torch():
    lin = nn.Linear(400, 300)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert np.abs(w).max() <= 1 / 20 and np.abs(w).max() > 0.99 / 20
    assert np.abs(b).max() <= 1 / 20 and np.abs(b).max() > 0.9 / 20
    conv = nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)
    assert np.abs(conv.weight.detach().numpy()).max() <= bound
    assert np.abs(conv.bias.detach().numpy()).max() <= bound
    emb = nn.Embedding(1000, 64, padding_idx=3)
    e = emb.weight.detach().numpy()
    assert (e[3] == 0).all() and e.std() == pytest.approx(1.0, rel=0.02)
    mha = nn.MultiheadAttention(64, 4)
    xb = math.sqrt(6 / (64 + 3 * 64))
    assert np.abs(mha.in_proj_weight.detach().numpy()).max() <= xb
    assert (mha.in_proj_bias.detach().numpy() == 0).all() and (mha.out_proj.bias.detach().numpy() == 0).all()
    for norm in (nn.LayerNorm(8), nn.GroupNorm(2, 8), nn.BatchNorm2d(8)):
        assert (norm.weight.detach().numpy() == 1).all() and (norm.bias.detach().numpy() == 0).all()
