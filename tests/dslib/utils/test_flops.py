"""dslib.utils.flops: FLOP counts against closed-form formulas (Linear, Conv2d, matmul, einsum, attention),
ResNet-18 on a 32x32 image against its known cost (0.56 G multiply-adds, 1.11 GFLOPs), and the bookkeeping
(per-module totals, restoring the model, errors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
import dslib.nn as nn
from dslib import autograd
from dslib.models import ds_vit, resnet8, resnet18, vit
from dslib.models.vit import Attention, WindowAttention
from dslib.utils import FlopReport, count_flops, count_parameters
from dslib.utils.flops import _FREE, _rule


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_flops_are_2_in_out_per_row_plus_the_bias(bias):
    report = count_flops(nn.Linear(5, 7, bias=bias), (3, 5))
    assert report.macs == 3 * 5 * 7
    assert report.total_flops == 2 * 3 * 5 * 7 + (3 * 7 if bias else 0)
    assert report.by_op == {"linear": report.total_flops}
    assert report.params == 5 * 7 + (7 if bias else 0)


CONVS = [  # (C_in, C_out, k, stride, padding, dilation, groups, bias, H, W)
    (3, 8, 3, 1, 1, 1, 1, False, 9, 9),
    (4, 6, 3, 2, 0, 1, 2, True, 11, 8),
    (6, 6, 3, 1, 2, 2, 6, True, 10, 10),  # depthwise, dilated
    (2, 4, (1, 3), (2, 1), (0, 1), 1, 1, False, 7, 5),
]


@pytest.mark.parametrize("cin, cout, k, stride, padding, dilation, groups, bias, H, W", CONVS)
def test_conv2d_flops_follow_the_formula(cin, cout, k, stride, padding, dilation, groups, bias, H, W):
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    kh, kw = (k, k) if isinstance(k, int) else k
    (sh, sw), (ph, pw) = [(v, v) if isinstance(v, int) else v for v in (stride, padding)]
    Ho = (H + 2 * ph - dilation * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dilation * (kw - 1) - 1) // sw + 1
    ref = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert ref(torch.zeros(2, cin, H, W)).shape == (2, cout, Ho, Wo)  # the output size the formula assumes
    report = count_flops(conv, (2, cin, H, W))
    macs = 2 * cout * Ho * Wo * (cin // groups) * kh * kw
    assert report.macs == macs
    assert report.total_flops == 2 * macs + (2 * cout * Ho * Wo if bias else 0)


def test_batched_matmul_and_einsum_count_2mnk():
    a, b = dslib.randn(4, 3, 5), dslib.randn(4, 5, 6)
    report = count_flops(Fn(lambda x: x @ b), a)
    assert report.macs == 4 * 3 * 5 * 6 and report.by_op == {"matmul": 2 * 4 * 3 * 5 * 6}
    report = count_flops(Fn(lambda x: dslib.einsum("bij,bjk->bik", x, b)), a)
    assert report.macs == 4 * 3 * 5 * 6 and report.by_op == {"einsum": 2 * 4 * 3 * 5 * 6}


def test_elementwise_softmax_and_norms_follow_the_stated_conventions():
    x = dslib.randn(2, 3, 4)
    assert count_flops(Fn(lambda t: (t * 2 + 1).exp()), x).by_op == {"mul": 24, "add": 24, "exp": 24}
    assert count_flops(Fn(lambda t: nn.functional.softmax(t, -1)), x).total_flops == 5 * 24
    assert count_flops(nn.LayerNorm(4), x).total_flops == 7 * 24
    bn = nn.BatchNorm2d(3)
    assert count_flops(bn, (2, 3, 4, 4)).by_op == {"batch_norm": 4 * 96}  # eval mode: normalize + affine
    assert bn.training  # the training flag is restored


def _attention_flops(L, C, H, heads_masked=False):
    """Global MHSA on (1, L, C): projections, q k^T, scale, softmax, weights @ v (2 FLOPs per multiply-add)."""
    hs = C // H
    proj = 2 * L * C * 3 * C + L * 3 * C + 2 * L * C * C + L * C  # qkv and out projections, with biases
    scores = 2 * H * L * L * hs + H * L * L + 5 * H * L * L  # q k^T, * scale, softmax
    return proj + scores + 2 * H * L * L * hs + (H * L * hs if heads_masked else 0)


@pytest.mark.parametrize("pool, L", [("cls", 65), ("mean", 64)])
def test_vit_attention_flops_equal_the_formula(pool, L):
    report = count_flops(vit(pool=pool), (1, 3, 32, 32))
    for i in range(4):
        assert report.by_module[f"blocks.{i}.attn"] == _attention_flops(L, 64, 4)
    assert count_flops(Attention(64, 4), (1, L, 64)).total_flops == _attention_flops(L, 64, 4)
    masked = Attention(64, 4)
    masked.set_active_heads(2)
    assert count_flops(masked, (1, L, 64)).total_flops == _attention_flops(L, 64, 4, heads_masked=True)


@pytest.mark.parametrize("grid, shift, nW", [((8, 8), False, 9), ((8, 8), True, 9), ((6, 6), False, 4)])
def test_window_attention_flops_equal_the_formula(grid, shift, nW):
    """3x3 windows; an 8x8 grid is padded to 9x9 (9 windows), 6x6 needs no padding (4 windows). The projections
    run on the real tokens only; each window's scores get the relative bias (+ the mask where there is one)."""
    C, H, w = 64, 4, 3
    L, hs, n = grid[0] * grid[1], C // H, w * w
    proj = 2 * L * C * 3 * C + L * 3 * C + 2 * L * C * C + L * C
    attn = 2 * nW * H * n * n * hs + nW * H * n * n + 5 * nW * H * n * n + 2 * nW * H * n * n * hs  # qk, scale, sm, av
    add_to_scores = nW * H * n * n
    has_mask = shift or grid != (6, 6)
    build_mask = nW * H * n * n if has_mask else 0  # bias (H, n, n) + mask (nW, 1, n, n)
    report = count_flops(WindowAttention(C, H, w, shift=shift), (1, L, C))
    assert report.total_flops == proj + attn + add_to_scores + build_mask


def _resnet18_cifar_macs():
    """Multiply-adds of every conv and the fc of CIFAR ResNet-18 on a 32x32 image, from the architecture."""
    macs, size, c_in = 3 * 64 * 9 * 32 * 32, 32, 64  # stem
    for i, planes in enumerate((64, 128, 256, 512)):
        stride = 1 if i == 0 else 2
        size //= stride
        for block in range(2):
            s, cin = (stride, c_in) if block == 0 else (1, planes)
            macs += cin * planes * 9 * size * size + planes * planes * 9 * size * size
            if block == 0 and (s != 1 or cin != planes):
                macs += cin * planes * size * size  # 1x1 projection shortcut
        c_in = planes
    return macs + 512 * 10


def test_resnet18_cifar_costs_0_56_g_multiply_adds_1_11_gflops():
    report = count_flops(resnet18(num_classes=10).to("torch"), (1, 3, 32, 32))
    assert report.macs == _resnet18_cifar_macs() == 555_422_720
    assert round(report.macs / 1e9, 2) == 0.56
    assert 1.11e9 <= report.total_flops <= 1.12e9  # 2 x MACs plus BatchNorm, ReLU, adds, pooling
    assert report.params == 11_173_962
    assert not report.uncounted


def test_counts_do_not_depend_on_the_device_and_modules_nest():
    model = ds_vit(in_channels=1, image_size=8, patch_size=1)
    a = count_flops(model, (2, 1, 8, 8))
    b = count_flops(model.to("torch"), (2, 1, 8, 8))
    assert a.by_module == b.by_module and a.total_flops == b.total_flops > 0
    assert a.by_module[""] == a.total_flops == sum(a.by_op.values())
    children = ["patch_embed", "blocks", "norm", "head"]
    own = a.total_flops - sum(a.by_module[c] for c in children)  # the pos_embed add and the mean pooling
    assert own == 2 * 64 * 64 + 2 * 64 * 64
    assert a.by_module["blocks"] == sum(a.by_module[f"blocks.{i}"] for i in range(4))
    assert not a.uncounted


def test_resnet8_counts_and_table():
    report = count_flops(resnet8(in_channels=1), (1, 1, 8, 8))
    assert isinstance(report, FlopReport) and report.params == 75_290 - 16 * 2 * 9
    table = report.table()
    assert "layer3" in table and "conv2d" in table and f"{report.total_flops:,}" in table
    assert "layer1.0.conv1" not in report.table(max_depth=1)


def test_every_dslib_op_has_a_flop_rule_or_is_data_movement():
    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)

    # dslib's own ops only: tests and notebooks define Functions of their own (e.g. test_autograd's Cube)
    ops = {c.__name__ for c in subclasses(autograd.Function) if c.__module__.startswith("dslib.")}
    missing = sorted(ops - _FREE)
    missing = [name for name in missing if _rule(name) is None and not name.startswith("_")]
    assert not missing, f"add FLOP rules (dslib/utils/flops.py) for: {missing}"


def test_the_observer_and_hooks_are_removed_even_when_forward_fails():
    model = nn.Sequential(nn.Linear(4, 4), Fn(lambda t: t.reshape(3, 5)))
    n_obs = len(autograd._op_observers)
    with pytest.raises(RuntimeError):
        count_flops(model, (2, 4))
    assert len(autograd._op_observers) == n_obs
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert model.training


def test_bad_inputs_are_refused_with_a_clear_message():
    with pytest.raises(TypeError, match=r"shape tuple including the batch dimension, e.g. \(1, 3, 32, 32\)"):
        count_flops(nn.Linear(2, 2), 2)
    with pytest.raises(ValueError, match="positive ints, got"):
        count_flops(nn.Linear(2, 2), (0, 2))
    with pytest.raises(ValueError, match="the model is on numpy but the input is on torch"):
        count_flops(nn.Linear(2, 2), dslib.randn(1, 2, device="torch"))
    with pytest.raises(TypeError, match="model must be a dslib.nn.Module"):
        count_flops(lambda x: x, (1, 2))
    with pytest.raises(TypeError, match="count_parameters: expected a dslib.nn.Module"):
        count_parameters(np.zeros(3))


def test_count_parameters_counts_shared_parameters_once_and_can_skip_frozen_ones():
    lin = nn.Linear(3, 4)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert count_parameters(model) == 16
    lin.bias.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 12
