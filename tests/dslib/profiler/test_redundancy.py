"""dslib.profiler.redundancy: recomputed ops found by value numbering (an attention block that computes q @ k^T
twice, with the redundant share of matrix work against the formula), what is NOT redundant (an in-place change,
other arguments, dropout, a clean MLP training loop), and needless transposes / casts / moves / copies."""

from __future__ import annotations

import math

import pytest

import dslib
import dslib.nn as nn
import dslib.nn.functional as F
from dslib.ops import api
from dslib.ops.elementwise import ToDevice
from dslib.profiler import profile


def op_names(prof, pairs):
    return [prof.events[i].name for i, *_ in pairs]


class TwiceAttention(nn.Module):
    """Single-head attention that recomputes q @ k^T for the row maximum (the wasteful pattern to find)."""

    def __init__(self, d: int):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        scale = 1.0 / math.sqrt(x.shape[-1])
        scores = (q @ k.transpose(-2, -1)) * scale
        row_max = (q @ k.transpose(-2, -1)).amax(-1, keepdim=True) * scale  # the same product again
        w = (scores - row_max).exp()
        return (w / w.sum(-1, keepdim=True)) @ v


def test_attention_computing_q_kT_twice_is_found_with_its_share_of_matrix_work():
    B, L, D = 2, 6, 8
    x = dslib.randn(B, L, D)
    with profile(with_modules=True) as prof:
        TwiceAttention(D)(x)
    report = prof.find_redundancy()
    # the second k.transpose(-2, -1) makes a new tensor, yet the second matmul is found: the values match
    assert op_names(prof, report.duplicates) == ["Permute", "MatMul"]
    first_mm = prof.events[report.duplicates[1][1]]
    assert first_mm.name == "MatMul" and first_mm.module == "TwiceAttention"
    linear = 2 * B * L * D * D + B * L * D  # multiply-adds as 2 FLOPs, plus the bias adds
    qk = wv = 2 * B * L * L * D
    assert report.matmul_flops == 3 * linear + 2 * qk + wv
    assert report.wasted_matmul_flops == qk
    assert report.matmul_share == pytest.approx(qk / (3 * linear + 2 * qk + wv))
    dup = [prof.events[i] for i, _ in report.duplicates]
    assert report.wasted_time_ns == sum(e.dur for e in dup) > 0
    text = str(report)
    assert "MatMul in TwiceAttention: recomputes a value computed before x1" in text
    assert f"{100 * report.matmul_share:.1f}%" in text


def test_downstream_ops_of_a_recomputed_value_are_recomputed_too():
    x = dslib.randn(4, 4)
    with profile() as prof:
        a = (x @ x).relu()
        b = (x @ x).relu()
    report = prof.find_redundancy()
    assert op_names(prof, report.duplicates) == ["MatMul", "Relu"]
    assert [j for _, j in report.duplicates] == [0, 1]
    assert a is not b


def test_the_same_array_through_another_tensor_object_is_the_same_value():
    x = dslib.randn(3, 3)
    with profile() as prof:
        x.exp()
        x.detach().exp()
    assert op_names(prof, prof.find_redundancy().duplicates) == ["Exp"]


def test_an_in_place_change_other_arguments_and_dropout_are_not_redundant():
    x = dslib.randn(3, 3)
    with profile() as prof:
        x * 2
        x * 3  # another argument
        x.mul_(2.0)  # x changes in place: its version moves on
        x * 2
        F.dropout(x, 0.5, True)
        F.dropout(x, 0.5, True)  # a new random mask each call
        dslib.randn(3, 3) * 2  # another input
    report = prof.find_redundancy()
    assert report.duplicates == [] and report.needless == []


@pytest.mark.parametrize("optimizer", ["SGD", "AdamW"])
def test_no_false_positives_on_a_clean_mlp_training_loop(optimizer):
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 4))
    opt = getattr(dslib.optim, optimizer)(model.parameters(), lr=0.1)
    x, y = dslib.randn(5, 8), dslib.randint(0, 4, (5,))  # the same batch every step: the weights still change
    with profile(with_modules=True) as prof:
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    report = prof.find_redundancy()
    assert report.duplicates == [] and report.needless == []
    assert report.matmul_flops == 3 * 2 * 5 * (8 * 16 + 16 * 16 + 16 * 4) + 3 * 5 * (16 + 16 + 4)
    assert report.matmul_share == 0.0 and report.wasted_time_ns == 0


def test_a_transpose_undone_by_its_inverse_and_an_identity_permute_are_needless():
    x = dslib.randn(2, 3, 4)
    with profile() as prof:
        _ = x.mT.mT
        _ = x.permute(1, 2, 0).permute(2, 0, 1)  # inverse permutations
        _ = x.permute(0, 1, 2)
        _ = x.permute(1, 2, 0).permute(1, 2, 0)  # applied twice: not the identity for 3 dims
        _ = x.unsqueeze(0).transpose(0, 1).permute(1, 0, 3, 2)  # undoes the first swap only
    report = prof.find_redundancy()
    found = dict(report.needless)
    assert sorted(found) == [1, 3, 4]
    assert "undoes the transpose of event 0" in found[1] and "undoes the transpose of event 2" in found[3]
    assert "identity axes" in found[4]


def test_a_cast_to_the_same_dtype_and_a_move_to_the_same_device_are_needless():
    x = dslib.randn(3)
    with profile() as prof:
        api.cast(x, dslib.float32)
        api.cast(x, dslib.float64)
        ToDevice.apply(x, x._backend)
        x.to(dslib.float32)  # Tensor.to returns x itself: no op at all
    report = prof.find_redundancy()
    assert [(prof.events[i].name, reason) for i, reason in report.needless] == [
        ("Cast", "cast to dslib.float32, the dtype it already has"),
        ("ToDevice", "move to numpy, the device it is already on"),
    ]
    assert len([e for e in prof.events if e.cat == "op"]) == 3


def test_a_copy_of_a_contiguous_tensor_is_needless_only_when_neither_side_changes():
    x, y, z = dslib.randn(3, 4), dslib.randn(3, 4), dslib.randn(3, 4)
    with profile() as prof:
        x.clone()  # never written: needless
        c = y.clone()
        c.add_(1.0)  # the copy is written: needed
        z.clone()
        z.mul_(2.0)  # the original is written after the copy: needed
        x.t().clone()  # a non-contiguous source: the copy makes it contiguous
    report = prof.find_redundancy()
    assert report.needless == [(0, "copy of a contiguous tensor that neither it nor its copy changes")]


def test_dslib_attention_blocks_recompute_no_matrix_work():
    """What the finder reports on dslib's own attention: MultiheadAttention(x, x, x) (sequence-first) transposes
    the same x once each for query, key and value, two recomputed views; no matmul is repeated. The ViT block
    has no redundant op at all."""
    from dslib.models.vit import Block

    x = dslib.randn(10, 2, 32)
    with profile(with_modules=True) as prof:
        nn.MultiheadAttention(32, 4)(x, x, x)
    report = prof.find_redundancy()
    assert report.matmul_flops > 0 and report.matmul_share == 0.0
    assert {(prof.events[i].name, prof.events[i].module) for i, _ in report.duplicates} <= {
        ("Permute", "MultiheadAttention")
    }
    with profile(with_modules=True) as prof:
        Block(32, 4)(dslib.randn(2, 17, 32))
    report = prof.find_redundancy()
    assert report.matmul_flops > 0 and report.duplicates == [] and report.needless == []
