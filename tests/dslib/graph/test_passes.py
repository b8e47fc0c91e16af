"""Graph passes on small graphs: each changes what it should, and the optimized graph still equals eager."""

import numpy as np
import pytest

import dslib
from dslib.graph.passes import (
    common_subexpression_elimination,
    constant_fold,
    dead_code_elimination,
    fuse_elementwise,
    fusion,
)


def _compiled(fn, *args, passes=()):
    fast = dslib.compile(fn, passes=passes)
    fast(*args)
    return fast


def _ops(graph):
    return [n.op_name for n in graph.nodes if n.kind in ("op", "call", "fused")]


def _eq(a, b, tol=1e-6):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tol, atol=tol)


def test_dce_removes_unused_ops_and_keeps_inputs():
    def f(x, unused):
        (x * 3).exp()  # computed and dropped
        return x + 1

    x, u = dslib.randn(3), dslib.randn(3)
    fast = _compiled(f, x, u, passes=(dead_code_elimination,))
    assert _ops(fast.graph) == ["add"]
    assert fast.graph.count("input") == 2  # the signature stays
    _eq(fast(x, u), x + 1)


def test_cse_merges_repeated_work():
    def f(x, w):
        return (x @ w).relu() + (x @ w).relu()

    x, w = dslib.randn(4, 3), dslib.randn(3, 5)
    raw = _compiled(f, x, w)
    fast = _compiled(f, x, w, passes=(common_subexpression_elimination, dead_code_elimination))
    assert _ops(raw.graph).count("matmul") == 2 and _ops(fast.graph).count("matmul") == 1
    assert _ops(fast.graph).count("relu") == 1
    x2 = dslib.randn(4, 3)
    _eq(fast(x2, w), f(x2, w))


def test_cse_keeps_ops_with_different_arguments():
    def f(x):
        return x.sum(0) + x.sum(1).sum()

    x = dslib.randn(3, 3)
    fast = _compiled(f, x, passes=(common_subexpression_elimination,))
    assert _ops(fast.graph).count("sum") == 3


def test_constant_fold_precomputes_constant_subgraphs_only():
    def f(x):
        scale = dslib.arange(4).float().exp() * 2  # constants only: folded
        return x * scale + x.sum()  # x-dependent: kept

    x = dslib.randn(4)
    fast = _compiled(f, x, passes=(constant_fold, dead_code_elimination))
    assert "exp" not in _ops(fast.graph) and "sum" in _ops(fast.graph)
    x2 = dslib.randn(4)
    _eq(fast(x2), f(x2))


def test_constant_fold_never_folds_parameters():
    lin = dslib.nn.Linear(2, 2)
    fast = _compiled(lin, dslib.randn(1, 2), passes=(constant_fold,))
    assert "linear" in _ops(fast.graph)


@pytest.mark.parametrize("device", ["numpy", "torch"])
def test_fusion_merges_an_elementwise_chain_into_one_kernel(device):
    def f(x, a, b):
        return ((x * a + b).relu() * 0.5 - a).tanh().clamp(-0.5, 0.5) / (b.abs() + 1)

    dslib.manual_seed(0)
    args = [dslib.randn(300, 257, device=device) for _ in range(3)]  # > 2 blocks, a short last block
    fast = _compiled(f, *args, passes=(fuse_elementwise,))
    assert _ops(fast.graph)[-1].startswith("fused[")
    assert fast.graph.count("fused") == 1 and fast.graph.count("op") == 0, str(fast.graph)
    new = [dslib.randn(300, 257, device=device) for _ in range(3)]
    _eq(fast(*new), f(*new), tol=1e-6)


def test_fusion_blocks_with_broadcast_inputs_equal_eager():
    def f(x, row, col):
        return (x * row - col).exp() * 0.1 + row

    x, row, col = dslib.randn(512, 300), dslib.randn(300), dslib.randn(512, 1)
    fast = _compiled(f, x, row, col, passes=(fuse_elementwise,))
    assert fast.graph.count("fused") == 1
    assert np.prod(x.shape) > 2 * fusion.BLOCK  # the blocked path runs
    _eq(fast(x, row, col), f(x, row, col), tol=1e-5)


def test_fusion_stops_at_values_read_twice_or_returned():
    def f(x):
        y = x.exp()  # read by two ops: materialized
        z = y * 2
        return z + 1, y.sin() - 1, z

    x = dslib.randn(8)
    fast = _compiled(f, x, passes=(fuse_elementwise,))
    ops = _ops(fast.graph)
    assert "exp" in ops and "mul" in ops, ops  # y and z are both needed as whole arrays
    for got, ref in zip(fast(x), f(x)):
        _eq(got, ref)


def test_default_passes_on_an_mlp_equal_eager():
    dslib.manual_seed(1)
    mlp = dslib.nn.Sequential(dslib.nn.Linear(6, 8), dslib.nn.SiLU(), dslib.nn.Linear(8, 2))
    fast = dslib.compile(lambda x: (mlp(x) * 2 + 1).sigmoid())
    x = dslib.randn(5, 6)
    fast(x)
    assert fast.graph.count("fused") == 1  # mul, add, sigmoid
    with dslib.no_grad():
        _eq(fast(x + 1), (mlp(x + 1) * 2 + 1).sigmoid())
