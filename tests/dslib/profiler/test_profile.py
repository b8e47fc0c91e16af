"""dslib.profiler.profile: op counts, FLOPs and bytes against closed-form formulas (matmul, linear, conv2d, forward
and backward), module paths and nesting, the key_averages table, and the lifecycle (the entry points are restored
after the block, also when it raises; a second profile raises; other threads are not recorded)."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import dslib
import dslib.nn as nn
import dslib.nn.functional as F
from dslib import autograd
from dslib.nn.module import Module
from dslib.profiler import profile

ENTRY_POINTS = [
    (autograd.Function, "apply"),
    (autograd.FunctionNode, "apply"),
    (autograd.AccumulateGrad, "apply"),
    (Module, "__call__"),
]


def _entry_points():
    return [owner.__dict__[name] for owner, name in ENTRY_POINTS]


def ops(prof, cat="op"):
    return [e for e in prof.events if e.cat == cat]


def test_matmul_forward_and_backward_counts_flops_and_bytes(device):
    M, K, N = 3, 5, 7
    a = dslib.randn(M, K, requires_grad=True, device=device)
    b = dslib.randn(K, N, requires_grad=True, device=device)
    with profile(record_shapes=True, profile_memory=True) as prof:
        c = a @ b
        c.backward(dslib.ones(M, N, device=device))
    (mm,) = [e for e in ops(prof) if e.name == "MatMul"]
    assert mm.flops == 2 * M * K * N and mm.matmul
    assert mm.shapes == ((M, K), (K, N)) and mm.dtypes == ("dslib.float32", "dslib.float32")
    assert mm.nbytes == 4 * (M * K + K * N + M * N) and mm.alloc == 4 * M * N
    (bw,) = ops(prof, "backward")[:1]
    assert bw.name == "MatMulBackward" and bw.dtypes == ("dslib.float32",)
    assert bw.flops == 2 * (2 * M * K * N)  # grad_a = g @ b^T and grad_b = a^T @ g: one matmul each
    assert bw.alloc == 4 * (M * K + K * N)
    assert [e.name for e in ops(prof, "backward")].count("AccumulateGrad") == 2
    assert 0 <= mm.start < mm.end <= bw.start < bw.end


def test_backward_counts_only_the_gradients_it_computes():
    x = dslib.randn(4, 6)  # no grad: the Linear backward only computes the weight's gradient
    layer = nn.Linear(6, 3)
    with profile() as prof:
        layer(x).sum().backward()
    (lin,) = [e for e in ops(prof) if e.name == "Linear"]
    assert lin.flops == 2 * 4 * 6 * 3 + 4 * 3  # multiply-adds plus the bias adds
    (bw,) = [e for e in ops(prof, "backward") if e.name == "LinearBackward"]
    assert bw.flops == 2 * 4 * 6 * 3


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_flops_match_the_formula(bias):
    B, Cin, Cout, H, W, k, groups = 2, 4, 6, 9, 8, 3, 2
    conv = nn.Conv2d(Cin, Cout, k, stride=2, padding=1, groups=groups, bias=bias)
    x = dslib.randn(B, Cin, H, W)
    with profile(record_shapes=True, with_modules=True) as prof:
        y = conv(x)
    Ho, Wo = (H + 2 - k) // 2 + 1, (W + 2 - k) // 2 + 1
    assert y.shape == (B, Cout, Ho, Wo)
    (ev,) = [e for e in ops(prof) if e.name == "Conv2d"]
    out = B * Cout * Ho * Wo
    assert ev.flops == 2 * out * (Cin // groups) * k * k + (out if bias else 0)
    assert ev.shapes[0] == (B, Cin, H, W) and ev.module == "Conv2d"


def test_views_move_and_allocate_nothing():
    x = dslib.randn(4, 6)
    with profile(profile_memory=True) as prof:
        x.transpose(0, 1)
        x.reshape(24)
    assert [(e.name, e.nbytes, e.alloc) for e in ops(prof)] == [("Permute", 0, 0), ("Reshape", 0, 0)]


def test_every_op_call_is_recorded_once():
    x = dslib.randn(3, 3)
    with profile() as prof:
        for _ in range(5):
            x = (x * 0.5).relu()
    names = [e.name for e in ops(prof)]
    assert names.count("Mul") == 5 and names.count("Relu") == 5 and len(names) == 10


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Block(), Block())
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.blocks(x))


def test_module_events_have_paths_nest_and_attribute_ops():
    net = Net()
    with profile(with_modules=True) as prof:
        net(dslib.randn(3, 4))
    mods = {e.name: e for e in ops(prof, "module")}
    assert set(mods) == {
        "Net", "Net.blocks", "Net.blocks.0", "Net.blocks.1", "Net.head",
        *(f"Net.blocks.{i}.{c}" for i in (0, 1) for c in ("fc1", "act", "fc2")),
    }  # fmt: skip
    assert mods["Net.blocks.1.fc2"].type == "Linear" and mods["Net.blocks.1.fc2"].module == "Net.blocks.1"
    for ev in prof.events:  # every event lies inside the module that encloses it
        if ev.module:
            parent = mods[ev.module]
            assert parent.start <= ev.start and ev.end <= parent.end
    linears = [e for e in ops(prof) if e.name == "Linear"]
    assert [e.module for e in linears] == ["Net.blocks.0.fc1", "Net.blocks.0.fc2", "Net.blocks.1.fc1",
                                           "Net.blocks.1.fc2", "Net.head"]  # fmt: skip
    net_ev = mods["Net"]
    assert net_ev.self_time == net_ev.dur - mods["Net.blocks"].dur - mods["Net.head"].dur >= 0


def test_without_with_modules_no_module_events_and_module_call_untouched():
    with profile() as prof:
        assert Module.__dict__["__call__"] is _entry_points()[3]
        nn.Linear(2, 2)(dslib.randn(1, 2))
    assert not ops(prof, "module") and ops(prof)[0].module == ""


def test_key_averages_table_sorts_limits_and_groups():
    net = Net()
    with profile(record_shapes=True, profile_memory=True, with_modules=True) as prof:
        net(dslib.randn(3, 4)).sum().backward()
    avg = prof.key_averages()
    rows = {r.key: r for r in avg}
    assert rows["Linear"].calls == 5 and rows["Relu"].calls == 2
    assert rows["Linear"].flops == sum(e.flops for e in ops(prof) if e.name == "Linear")
    assert rows["Net.blocks.0 [Block]"].cat == "module"
    table = avg.table(sort_by="self_time", row_limit=3)
    body = table.splitlines()[3:-2]
    assert len(body) == 3
    top = sorted(avg, key=lambda r: -r.self_ns)[:3]
    assert [line.split()[0] for line in body] == [r.key.split()[0] for r in top]
    by_flops = avg.table(sort_by="flops", row_limit=2).splitlines()[3:5]
    # backward: 2 x 2 x the multiply-adds of each Linear but the first, whose input needs no gradient
    assert rows["LinearBackward"].flops == 2 * (3 * 4 * 8) + 4 * (3 * (3 * 8 * 4) + 3 * 4 * 2) > rows["Linear"].flops
    assert [line.split()[0] for line in by_flops] == ["LinearBackward", "Linear"]
    shaped = prof.key_averages(group_by_input_shape=True)
    assert {r.shapes for r in shaped if r.key == "Linear"} == {((3, 4), (8, 4), (8,)), ((3, 8), (4, 8), (4,)),
                                                              ((3, 4), (2, 4), (2,))}  # fmt: skip
    with pytest.raises(ValueError, match="sort_by must be one of"):
        avg.table(sort_by="speed")
    with pytest.raises(ValueError, match="row_limit"):
        avg.table(row_limit=0)


def test_results_before_the_block_ends_raise():
    with profile() as prof:
        with pytest.raises(RuntimeError, match="after the `with profile"):
            prof.key_averages()


def test_entry_points_are_restored_and_nothing_registered_after_the_block():
    before, observers = _entry_points(), list(autograd._op_observers)
    with profile(with_modules=True):
        assert all(now is not was for now, was in zip(_entry_points(), before))
    assert all(now is was for now, was in zip(_entry_points(), before))
    assert autograd._op_observers == observers
    assert sys.modules["dslib.profiler.profile"]._active is None


def test_an_exception_inside_the_block_still_restores_everything():
    before = _entry_points()
    net = Net()
    with pytest.raises(ZeroDivisionError):
        with profile(with_modules=True) as prof:
            net(dslib.randn(2, 4))
            raise ZeroDivisionError("inside the block")
    assert _entry_points() == before
    assert len(ops(prof, "module")) == 11  # what ran before the error is kept
    with profile() as again:  # and a new profile can start
        dslib.randn(2) + 1
    assert [e.name for e in ops(again)] == ["Add"]


def test_an_exception_inside_a_module_closes_its_event():
    class Bad(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    with profile(with_modules=True) as prof:
        with pytest.raises(ValueError):
            Bad()(dslib.randn(1))
        nn.Linear(1, 1)(dslib.randn(1))
    assert [e.name for e in ops(prof, "module")] == ["Bad", "Linear"]
    assert ops(prof)[0].module == "Linear"


def test_nested_and_reused_profiles_raise_clear_errors():
    with profile() as outer:
        with pytest.raises(RuntimeError, match="already recording"):
            with profile():
                pass
        dslib.randn(2) * 2
    assert [e.name for e in ops(outer)] == ["Mul"]
    with pytest.raises(RuntimeError, match="already used"):
        with outer:
            pass


def test_ops_on_other_threads_are_not_recorded():
    x = dslib.randn(3)
    with profile() as prof:
        t = threading.Thread(target=lambda: x.exp())
        t.start()
        t.join()
        x.sin()
    assert [e.name for e in ops(prof)] == ["Sin"]


def test_bad_arguments_raise_with_the_argument_name():
    with pytest.raises(TypeError, match="record_shapes must be True or False"):
        profile(record_shapes="yes")
    with pytest.raises(TypeError, match="with_modules"):
        profile(with_modules=1)
    with profile() as prof:
        pass
    with pytest.raises(ValueError, match="record_shapes=True"):
        prof.key_averages(group_by_input_shape=True)


def test_results_are_unchanged_by_profiling():
    net = Net()
    x = dslib.randn(5, 4)
    ref = net(x)
    ref.sum().backward()
    grads = [p.grad.numpy().copy() for p in net.parameters()]
    net.zero_grad()
    with profile(record_shapes=True, profile_memory=True, with_modules=True):
        out = net(x)
        out.sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    for p, g in zip(net.parameters(), grads):
        np.testing.assert_array_equal(p.grad.numpy(), g)
    assert F.relu(dslib.tensor([-1.0])).item() == 0.0  # dslib still works after the block
