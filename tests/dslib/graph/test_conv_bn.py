"""Conv + BatchNorm folding (dslib/graph/passes/conv_bn.py): what folds, numerics vs eager, staleness.

.venv/bin/pytest tests/dslib/graph/test_conv_bn.py -q -p no:xdist
"""

import copy

import numpy as np
import pytest

import dslib
import dslib.models
from dslib import nn
from dslib.graph.passes import DEFAULT_PASSES
from dslib.graph.passes.conv_bn import ConvBN, fold_conv_batchnorm

DEVICES = ["numpy", "torch"]
PASSES = (fold_conv_batchnorm, *DEFAULT_PASSES)


def _close(a, b, tol=1e-4):
    """float32: folding changes the rounding (w*s then sum, instead of sum then *s), not the math."""
    a, b = a.numpy(), b.numpy()
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max())))


def _ops(graph):
    return [n.op_name for n in graph.nodes if n.kind in ("op", "call", "fused")]


def _trained_stats(model):
    """Give every BatchNorm non-trivial statistics and affine params, as after training (init is mean 0, var 1)."""
    with dslib.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.5)
                m.running_var.uniform_(0.3, 2.0)
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0.0, 0.3)
    return model


def _compiled(model, x, passes=PASSES):
    fast = dslib.compile(model, passes=passes)
    with dslib.no_grad():
        fast(x)  # capture (eager result)
    return fast


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bias,affine", [(False, True), (True, True), (True, False)])
def test_conv_bn_folds_into_one_conv_equal_to_eager(device, bias, affine):
    dslib.manual_seed(0)
    net = _trained_stats(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=bias), nn.BatchNorm2d(8, affine=affine)))
    net = net.to(device).eval()
    x = dslib.randn(4, 3, 8, 8, device=device)
    fast = _compiled(net, x)
    assert _ops(fast.graph) == ["conv2d_bn"]
    with dslib.no_grad():
        x2 = dslib.randn(4, 3, 8, 8, device=device)
        _close(fast(x2), net(x2))


def test_not_folded_when_conv_output_is_read_elsewhere_or_bn_uses_batch_stats():
    dslib.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4).eval()

    def shared(x):
        y = conv(x)
        return bn(y) + y  # the conv result is needed anyway: folding would run the conv twice

    x = dslib.randn(2, 3, 6, 6)
    fast = _compiled(shared, x, passes=(fold_conv_batchnorm,))
    assert "conv2d" in _ops(fast.graph) and "batchnorm" in _ops(fast.graph)
    nostats = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)).eval()
    fast = _compiled(nostats, x, passes=(fold_conv_batchnorm,))  # normalizes with the batch's own statistics
    assert _ops(fast.graph) == ["conv2d", "batchnorm"]
    with dslib.no_grad():
        _close(fast(x * 2), nostats(x * 2))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ["resnet8", "resnet18"])
def test_resnet_eval_folded_equals_eager(device, arch):
    dslib.manual_seed(0)
    model = _trained_stats(getattr(dslib.models, arch)()).to(device).eval()
    x = dslib.randn(2, 3, 16, 16, device=device)
    fast = _compiled(model, x)
    ops = _ops(fast.graph)
    assert "conv2d" not in ops and "batchnorm" not in ops  # every conv of a ResNet feeds a BatchNorm
    assert ops.count("conv2d_bn") == sum(isinstance(m, nn.Conv2d) for m in model.modules())
    with dslib.no_grad():
        for x2 in (dslib.randn(2, 3, 16, 16, device=device), x * 3):
            _close(fast(x2), model(x2))
    assert len(fast.entries) == 1


def _folds(graph):
    return [n.target for n in graph.nodes if isinstance(n.target, ConvBN)]


@pytest.mark.parametrize("device", DEVICES)
def test_changed_weights_or_statistics_between_calls_are_seen(device):
    """The folded weights are a cache keyed by the sources' versions: any in-place change refolds them."""
    dslib.manual_seed(0)
    model = _trained_stats(dslib.models.resnet8()).to(device).eval()
    x = dslib.randn(2, 3, 16, 16, device=device)
    fast = _compiled(model, x)
    with dslib.no_grad():
        _close(fast(x), model(x))
        first = _folds(fast.graph)[0]
        assert first.refolds == 1
        _close(fast(x), model(x))
        assert first.refolds == 1, "unchanged sources must reuse the folded weights"
        model.bn1.running_var.mul_(3.0)  # new statistics (as load_state_dict or a train-mode pass would)
        model.bn1.running_mean.add_(0.5)
        _close(fast(x), model(x))
        assert first.refolds == 2
        model.layer2[0].conv1.weight.mul_(-0.5)
        _close(fast(x), model(x))
    opt = dslib.optim.SGD(model.parameters(), lr=0.5)  # an optimizer step changes every conv and BN weight
    model.train()
    model(x).sum().backward()
    opt.step()
    model.eval()
    with dslib.no_grad():
        _close(fast(x), model(x))
    assert all(t.refolds >= 2 for t in _folds(fast.graph))
    model.bn1.weight.data = dslib.zeros(16, device=device)  # rebinding a parameter's array is seen too
    with dslib.no_grad():
        _close(fast(x), model(x))


def test_training_step_with_eval_batchnorm_is_not_folded_and_equals_eager():
    """Fine-tuning with frozen statistics (BN in eval mode, weights trained): the conv's and BN's ctx are needed
    by their backward nodes, so nothing folds, and the compiled step still equals eager."""
    dslib.manual_seed(0)
    m1 = _trained_stats(dslib.models.resnet8()).eval()
    m2 = copy.deepcopy(m1)
    o1, o2 = dslib.optim.SGD(m1.parameters(), lr=0.1), dslib.optim.SGD(m2.parameters(), lr=0.1)

    def step(model, opt):
        def run(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return run

    eager, fast = step(m1, o1), dslib.compile(step(m2, o2), passes=PASSES)
    for _ in range(2):
        x, y = dslib.randn(2, 3, 16, 16), dslib.tensor(np.array([1, 7]))
        _close(fast(x, y).detach(), eager(x, y).detach(), 1e-5)
    assert "conv2d_bn" not in _ops(fast.graph) and fast.graph.count("backward") > 0
    _close(m2.conv1.weight.detach(), m1.conv1.weight.detach(), 1e-5)
