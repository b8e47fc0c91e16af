"""Elementwise fusion (passes/fusion.py) and its kernels (graph/kernels.py): what fuses, what never does, and
that every fused kernel — NumPy's and torch's blocked `out=` paths, and numexpr's (opt-in; where installed) —
equals the unfused graph on float32 and float64, with broadcast operands, scalars, shared values and reductions,
on arrays small enough to run whole and large enough to run in blocks.

    .venv/bin/pytest tests/dslib/graph/test_fusion.py -q -p no:xdist
"""

import numpy as np
import pytest

import dslib
import dslib.nn.functional as F
from dslib.graph import kernels
from dslib.graph.ir import Graph, Node
from dslib.graph.passes import dead_code_elimination, fuse_elementwise
from dslib.ops import elementwise as E

TOL = {"float32": 2e-5, "float64": 1e-11}
# (device, numexpr on?): NumPy with numexpr, NumPy's pure blocked path, torch's blocked path
PATHS = [("numpy", True), ("numpy", False), ("torch", False)]
PATH_IDS = ["numexpr", "numpy-blocked", "torch"]


@pytest.fixture(params=PATHS, ids=PATH_IDS)
def path(request, monkeypatch):
    device, use_numexpr = request.param
    if use_numexpr and kernels.numexpr is None:
        pytest.skip("numexpr is not installed: an opt-in kernel (kernels.NUMEXPR), not a dependency")
    monkeypatch.setattr(kernels, "NUMEXPR", kernels.numexpr if use_numexpr else None)
    return device


def _check(fn, *args, fused=1, dtype="float32"):
    """Compile fn with and without fusion; both replays equal eager on fresh inputs; return the fused graph."""
    plain = dslib.compile(fn, passes=(dead_code_elimination,))
    fast = dslib.compile(fn, passes=(dead_code_elimination, fuse_elementwise))
    plain(*args), fast(*args)
    assert fast.graph.count("fused") == fused, str(fast.graph)
    new = [a * 1.5 - 0.25 if isinstance(a, dslib.Tensor) else a for a in args]  # a replay, not the capture
    got, ref, want = fast(*new), plain(*new), fn(*new)
    for g, r, w in zip(*(x if isinstance(x, tuple) else (x,) for x in (got, ref, want))):
        assert g.dtype == w.dtype and tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=TOL[dtype], atol=TOL[dtype])
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=TOL[dtype], atol=TOL[dtype])
    return fast.graph


def _blocked(*shape):
    """The kernel cuts arrays of this shape into blocks (more than two, the last one short)."""
    rows = max(1, kernels.BLOCK // int(np.prod(shape[1:])))
    return int(np.prod(shape)) > 2 * kernels.BLOCK and shape[0] % rows != 0


def _randn(*shape, device="numpy", dtype="float32"):
    return dslib.randn(*shape, device=device, dtype=getattr(dslib, dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(8,), (600, 257), (200000,)], ids=["small", "blocked-2d", "blocked-1d"])
def test_a_chain_of_eight_ops_is_one_kernel_equal_to_unfused(path, dtype, shape):
    def chain(x, a, b, c):
        return ((x * a + b).relu() * c - 0.5).abs().tanh() / (b.abs() + 1) + 2.0

    dslib.manual_seed(0)
    args = [_randn(*shape, device=path, dtype=dtype) for _ in range(4)]
    assert _blocked(*shape) or shape == (8,)
    graph = _check(chain, *args, dtype=dtype)
    assert graph.count("op") == 0  # every op is inside the kernel


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_tree_with_shared_values_and_broadcast_operands_is_one_kernel(path, dtype):
    def tree(x, row, col, s):
        e = (x * row).exp()  # read by three members: computed once inside the kernel
        return (e * col + e.sin() - e / 3.0) * s - row.sigmoid() * x  # s: a 0-d tensor

    dslib.manual_seed(1)
    assert _blocked(500, 300)
    x, row = _randn(500, 300, device=path, dtype=dtype) * 0.5, _randn(300, device=path, dtype=dtype) * 0.5
    col, s = _randn(500, 1, device=path, dtype=dtype), _randn(device=path, dtype=dtype)
    graph = _check(tree, x, row, col, s, dtype=dtype)
    assert graph.count("op") == 1  # only row.sigmoid(): its (300,) shape does not keep x's dim 0 of 500


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "reduce",
    [lambda y: y.sum(), lambda y: y.mean(), lambda y: y.mean(0), lambda y: y.sum(-1), lambda y: y.amax(0)],
    ids=["sum", "mean", "mean0", "sum-1", "amax0"],
)
def test_an_elementwise_prologue_fuses_into_its_reduction(path, dtype, reduce):
    def f(x, a, b):
        return reduce((x * a + b).relu() ** 2 - x * 0.25)

    dslib.manual_seed(2)
    assert _blocked(700, 200)
    args = [_randn(700, 200, device=path, dtype=dtype) for _ in range(3)]
    graph = _check(f, *args, dtype=dtype)
    assert graph.count("op") == 0, str(graph)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_softmax_pattern_is_one_kernel_equal_to_softmax(path, dtype):
    def softmax(x):
        e = (x - x.amax(-1, keepdim=True)).exp()
        return e / e.sum(-1, keepdim=True)

    dslib.manual_seed(3)
    assert _blocked(1200, 130)
    x = _randn(1200, 130, device=path, dtype=dtype) * 4
    graph = _check(softmax, x, dtype=dtype)
    assert graph.count("op") == 0
    fast = dslib.compile(softmax)
    fast(x)
    np.testing.assert_allclose(fast(x).numpy(), x.softmax(-1).numpy(), rtol=TOL[dtype], atol=TOL[dtype])


def test_an_elementwise_epilogue_after_a_reduction_fuses(path):
    def f(x, w):
        s = (x * w).sum(-1, keepdim=True)  # row-local: one kernel
        return (s * 0.5 + 1).sigmoid() * x

    dslib.manual_seed(4)
    assert _blocked(1500, 100)
    _check(f, _randn(1500, 100, device=path), _randn(100, device=path))


def test_ops_numexpr_lacks_run_as_their_own_forward_inside_the_kernel(path):
    def f(x, y):
        return F.gelu(x * 2).clamp(-0.1, 0.7) * y + dslib.where(y > 0, x, y.exp())

    dslib.manual_seed(5)
    assert _blocked(1000, 150)
    args = [_randn(1000, 150, device=path) for _ in range(2)]
    graph = _check(f, *args)  # gelu, clamp, where: one kernel; y > 0 (a comparison) is one of its inputs
    assert graph.count("op") == 0


def test_values_read_outside_the_group_or_returned_are_not_fused_away():
    def f(x):
        s = x.exp().sum(-1, keepdim=True)  # returned: it must stay whole
        return s, x * s + 1

    x = _randn(50, 20)
    graph = _check(f, x, fused=2)  # [exp, sum] and [mul, add]
    assert [n.op_name for n in graph.nodes if n.kind == "fused"] == ["fused[exp, sum]", "fused[mul, add]"]


def test_the_kernel_writes_into_out_even_when_out_is_its_input(path):
    def f(x, y):
        return ((x * y).exp() - x) / (x.abs() + 1)

    dslib.manual_seed(6)
    assert _blocked(500, 300)
    x, y = _randn(500, 300, device=path), _randn(500, 300, device=path)
    fast = dslib.compile(f, passes=(fuse_elementwise,))
    fast(x, y)
    (node,) = [n for n in fast.graph.nodes if n.kind == "fused"]
    ref = f(x, y).numpy()
    xa = x._data.clone() if path == "torch" else x._data.copy()
    got = node.target(xa, y._data, out=xa)  # in-place reuse: the result overwrites x's buffer
    assert got is xa
    np.testing.assert_allclose(np.asarray(got), ref, rtol=2e-5, atol=2e-5)


def _meta(n, dtype="float32"):
    return ((n,), dtype)


def test_effect_nodes_ops_kept_for_backward_and_unknown_kinds_are_never_fused():
    """A training graph: the op whose ctx a backward node needs and the effect stay; the others fuse."""
    x = Node("input", name="x", meta=_meta(4))
    a = Node("op", E.Exp, (x,), meta=_meta(4), name="a")
    a.needs_grad = (True,)  # its ctx is kept for the backward node below
    b = Node("op", E.Mul, (a, 2.0), meta=_meta(4), name="b")
    back = Node("backward", E.Exp, (a, b), meta=[_meta(4)], name="back")
    g = Node("getitem", None, (back, 0), meta=_meta(4), name="g")
    c = Node("op", E.Add, (g, 1.0), meta=_meta(4), name="c")
    d = Node("op", E.Neg, (c,), meta=_meta(4), name="d")
    eff = Node("effect", lambda *v: None, (d,), name="eff")
    eff.effect = True
    e = Node("op", E.Sin, (eff,), meta=_meta(4), name="e")  # reads an effect: the effect is not fused
    f = Node("op", E.Cos, (e,), meta=_meta(4), name="f")
    graph = Graph([x, a, b, back, g, c, d, eff, e, f], (f,))
    assert fuse_elementwise(graph) == 2  # [add, neg] and [sin, cos]
    kinds = [(n.kind, n.name) for n in graph.nodes]
    assert ("op", "a") in kinds and ("backward", "back") in kinds and ("effect", "eff") in kinds
    assert ("op", "b") in kinds  # read by the backward node: not inside a kernel
    assert [n.op_name for n in graph.nodes if n.kind == "fused"] == ["fused[add, neg]", "fused[sin, cos]"]
    assert eff.args[0].kind == "fused"  # the effect reads the fused value
