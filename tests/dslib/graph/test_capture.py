"""Capture: what it records, and what it refuses to bake into a static graph (with a clear error)."""

import numpy as np
import pytest

import dslib
from dslib import nn
from dslib.graph import GraphCaptureError


def _eq(a, b):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "read",
    [
        lambda y: y.sum().item(),
        lambda y: bool(y.sum() > 0),
        lambda y: y.tolist(),
        lambda y: y.numpy(),
        lambda y: float(y.sum()),
        lambda y: np.asarray(y),
    ],
    ids=["item", "bool", "tolist", "numpy", "float", "asarray"],
)
def test_data_dependent_python_is_reported(read):
    def f(x):
        y = x * 2
        read(y)
        return y

    with pytest.raises(GraphCaptureError, match="Data-dependent Python"):
        dslib.compile(f)(dslib.randn(3))


def test_if_on_a_tensor_value_is_reported_not_baked_in():
    def f(x):
        return x * 2 if x.sum() > 0 else x * -1

    with pytest.raises(GraphCaptureError, match="__bool__"):
        dslib.compile(f)(dslib.ones(3))


def test_reading_an_unrelated_tensor_is_allowed():
    table = dslib.tensor([1.0, 2.0])
    fast = dslib.compile(lambda x: x * table.sum().item())
    fast(dslib.ones(2))
    _eq(fast(dslib.full((2,), 2.0)), dslib.full((2,), 6.0))


def test_ops_outside_function_apply_are_replayed_not_baked():
    """Comparisons, &, isfinite and argmax compute without a Function: their results must follow the input."""

    def f(x):
        mask = (x > 0) & x.isfinite()
        return dslib.where(mask, x, dslib.zeros_like(x)), x.argmax(dim=1)

    fast = dslib.compile(f)
    fast(dslib.randn(4, 5))
    x = dslib.randn(4, 5)
    y, idx = fast(x)
    ref_y, ref_idx = f(x)
    _eq(y, ref_y)
    assert idx.tolist() == ref_idx.tolist()
    assert fast.graph.count("call") >= 3


def test_random_draws_during_capture_are_reported():
    drop = nn.Dropout(0.5)  # train mode: a fresh mask every call
    with pytest.raises(GraphCaptureError, match="random"):
        dslib.compile(drop)(dslib.randn(4, 4))
    _eq(dslib.compile(drop.eval())(dslib.ones(2)), dslib.ones(2))


def test_in_place_update_during_capture_is_reported():
    def f(x):
        y = x * 1
        y += 1
        return y * 2

    with pytest.raises(GraphCaptureError, match="in place"):
        dslib.compile(f)(dslib.randn(3))


def test_backward_with_retain_graph_during_capture_is_reported():
    w = nn.Parameter(dslib.ones(3))

    def step(x):
        loss = (x * w).sum()
        loss.backward(retain_graph=True)
        return loss

    with pytest.raises(GraphCaptureError, match="retain_graph"):
        dslib.compile(step)(dslib.randn(3))


def test_hooks_are_removed_even_when_capture_fails():
    from dslib import autograd

    before = list(autograd._op_observers), dslib.Tensor.item, dslib.ops.api.gt
    with pytest.raises(GraphCaptureError):
        dslib.compile(lambda x: x.sum().item())(dslib.randn(2))
    assert (list(autograd._op_observers), dslib.Tensor.item, dslib.ops.api.gt) == before
    assert dslib.randn(2).sum().item() is not None  # .item() works again outside capture


def test_closure_parameter_is_live_and_changed_constant_recaptures():
    w = nn.Parameter(dslib.ones(3))
    offset = dslib.zeros(3)
    fast = dslib.compile(lambda x: x * w + offset)
    x = dslib.randn(3)
    fast(x)
    assert [n.kind for n in fast.graph.nodes].count("param") == 1
    with dslib.no_grad():
        w.mul_(3)
    _eq(fast(x), x * 3)
    offset.add_(1)  # a constant changed in place since capture: the guard sees its version and re-captures
    _eq(fast(x), x * 3 + 1)
    assert len(fast.entries) == 1  # the stale graph was replaced under the same key
