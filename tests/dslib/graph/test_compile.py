"""dslib.compile end to end: compiled results equal eager on numpy and torch, guards, live parameters."""

import copy

import numpy as np
import pytest

import dslib
import dslib.models
from dslib import nn
from dslib.graph import GuardError

DEVICES = ["numpy", "torch"]


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tol, atol=tol)


def _check_replay(model, x, tol=1e-5):
    """Capture on the first call, replay on the second and third (other data, same shapes): all equal eager."""
    fast = dslib.compile(model)
    with dslib.no_grad():
        _close(fast(x), model(x), tol)
        x2 = dslib.randn(*x.shape, device=x.device)
        _close(fast(x2), model(x2), tol)
        _close(fast(x2 * 3), model(x2 * 3), tol)
    assert len(fast.entries) == 1, "same shapes must replay, not re-capture"
    return fast


@pytest.mark.parametrize("device", DEVICES)
def test_mlp_forward_compiled_equals_eager(device):
    dslib.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 10)).to(device)
    fast = _check_replay(mlp, dslib.randn(16, 32, device=device))
    assert fast.graph.count("param") == 6 and fast.graph.count("input") == 1


@pytest.mark.parametrize("device", DEVICES)
def test_small_cnn_forward_compiled_equals_eager(device):
    dslib.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 4 * 4, 10),
    ).to(device).eval()  # fmt: skip
    _check_replay(cnn, dslib.randn(4, 3, 8, 8, device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_resnet8_eval_forward_compiled_equals_eager(device):
    dslib.manual_seed(0)
    model = dslib.models.resnet8().to(device).eval()
    fast = _check_replay(model, dslib.randn(2, 3, 16, 16, device=device), tol=1e-4)
    assert fast.graph.count("param") > 20  # every conv/bn weight and BN statistic is read live


def test_shape_change_recaptures_and_recapture_false_raises():
    lin = nn.Linear(4, 3)
    fast = dslib.compile(lin)
    fast(dslib.randn(2, 4))
    x5 = dslib.randn(5, 4)
    with dslib.no_grad():
        _close(fast(x5), lin(x5))
    assert len(fast.entries) == 2
    strict = dslib.compile(lin, recapture=False)
    strict(dslib.randn(2, 4))
    with pytest.raises(GuardError, match="recapture=True"):
        strict(dslib.randn(2, 4, dtype=dslib.float64))
    with pytest.raises(GuardError, match="no graph was captured"):
        strict(dslib.randn(3, 4))


def test_device_change_is_guarded():
    fast = dslib.compile(lambda x: x * 2 + 1)
    fast(dslib.ones(3))
    out = fast(dslib.ones(3, device="torch"))
    assert out.device == "torch" and len(fast.entries) == 2
    _close(out, dslib.full((3,), 3.0))


def test_optimizer_step_between_calls_is_seen():
    """Parameters are graph inputs read at every replay, not constants baked in at capture."""
    dslib.manual_seed(0)
    lin = nn.Linear(4, 2)
    fast = dslib.compile(lin)
    x = dslib.randn(3, 4)
    fast(x)
    opt = dslib.optim.SGD(lin.parameters(), lr=0.5)
    lin(x).sum().backward()
    opt.step()
    with dslib.no_grad():
        _close(fast(x), lin(x))
    lin.weight.data = dslib.zeros(2, 4)  # rebinding the array is seen too
    with dslib.no_grad():
        _close(fast(x), lin(x))


def test_train_eval_switch_recaptures():
    """Train mode is a new graph, whose replays update the running statistics in place like eager."""
    bn = nn.BatchNorm1d(4).eval()
    ref = copy.deepcopy(bn)
    fast = dslib.compile(bn)
    x = dslib.randn(8, 4)
    fast(x)
    bn.train(), ref.train()
    for _ in range(3):
        with dslib.no_grad():
            _close(fast(x), ref(x))
    _close(bn.running_mean, ref.running_mean)
    assert bn.num_batches_tracked.item() == ref.num_batches_tracked.item() == 3
    assert len(fast.entries) == 2


def test_decorator_and_nested_outputs():
    @dslib.compile
    def f(x, scale=2.0):
        return {"y": x * scale, "pair": (x.sum(), x.relu())}

    x = dslib.randn(3, 2)
    f(x)
    out = f(x + 1)
    _close(out["y"], (x + 1) * 2)
    _close(out["pair"][0], (x + 1).sum())
    _close(f(x, scale=3.0)["y"], x * 3)  # a different non-tensor argument is a guard miss, not a stale scalar
    assert len(f.entries) == 2


def test_compile_rejects_non_callables():
    with pytest.raises(TypeError, match="function or an nn.Module"):
        dslib.compile(3)


def test_batchnorm_buffers_are_live_graph_inputs():
    """Running statistics are read at replay (params), so loading new statistics needs no re-capture."""
    bn = nn.BatchNorm2d(3).eval()
    fast = dslib.compile(bn)
    x = dslib.randn(2, 3, 4, 4)
    fast(x)
    names = {n.name for n in fast.graph.nodes if n.kind == "param"}
    assert {"running_mean", "running_var", "weight", "bias"} <= names
    with dslib.no_grad():
        bn.running_mean.add_(1.5)
        bn.running_var.mul_(4.0)
        _close(fast(x), bn(x))
    assert len(fast.entries) == 1
