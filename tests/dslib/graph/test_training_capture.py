"""Training capture: dslib.compile records forward + backward + optimizer step and replays them like eager.

Each test builds two identical copies of a model and optimizer (deepcopy), runs one eagerly and one compiled
for several steps on the same data, and compares losses, parameters, BatchNorm statistics and optimizer state.
    .venv/bin/pytest tests/dslib/graph/test_training_capture.py -q -p no:xdist
"""

import copy
import sys

import numpy as np
import pytest

import dslib
import dslib.models
from dslib import nn
from dslib.graph import GraphCaptureError, GuardError
from tests.dslib.graph.steps import train_step

TOL = {"float32": 1e-6, "float64": 1e-12}  # relative; replay runs the same kernels in the same order


def _close(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    tol = TOL.get(str(a.dtype), 0)
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    err = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0
    assert a.shape == b.shape and err <= tol * scale, f"{what}: max abs diff {err:.3g} (tolerance {tol * scale:.3g})"


def _np(t):
    return t.detach().numpy() if isinstance(t, dslib.Tensor) else np.asarray(t)


def _same_state(m1, m2, o1, o2):
    """Parameters, buffers (BN running stats, num_batches_tracked) and optimizer state all equal."""
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys()
    for k in s1:
        _close(_np(s2[k]), _np(s1[k]), k)
    st1, st2 = o1.state_dict()["state"], o2.state_dict()["state"]
    assert st1.keys() == st2.keys() and st1, "optimizer state must exist and match"
    for i in st1:
        for key, v in st1[i].items():
            _close(_np(st2[i][key]), _np(v), f"optimizer state {i}.{key}")


def _pair(make_model, make_opt, device="numpy", passes=None):
    dslib.manual_seed(0)
    m1 = make_model().to(device).train()
    m2 = copy.deepcopy(m1)
    o1, o2 = make_opt(m1.parameters()), make_opt(m2.parameters())
    eager = train_step(m1, o1, nn.CrossEntropyLoss())
    fast = dslib.compile(train_step(m2, o2, nn.CrossEntropyLoss()), passes=passes)
    return (m1, o1, eager), (m2, o2, fast)


def _batches(n, shape, device, classes=10):
    rng = np.random.default_rng(1)
    for _ in range(n):
        x = dslib.tensor(rng.standard_normal(shape).astype(np.float32), device=device)
        yield x, dslib.tensor(rng.integers(0, classes, shape[0]), device=device)


def _resnet8():
    return dslib.models.resnet8(num_classes=10, in_channels=3)


def _tiny_vit(in_channels=3):
    return dslib.models.vit(10, in_channels, image_size=8, patch_size=2, embed_dim=16, depth=2, num_heads=2)


def _sgd(params):
    return dslib.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4)


def _adamw(params):
    return dslib.optim.AdamW(params, lr=1e-3)


def _name(v):
    return getattr(v, "__name__", str(v)).strip("_")


def _run(make_model, make_opt, shape, device="numpy", passes=None, steps=3):
    (m1, o1, eager), (m2, o2, fast) = _pair(make_model, make_opt, device, passes)
    for x, y in _batches(steps, shape, device):
        _close(_np(fast(x, y)), _np(eager(x, y)), "loss")
        _same_state(m1, m2, o1, o2)
    assert len(fast.entries) == 1, "same shapes must replay, not re-capture"
    return fast


# every optimizer on numpy, one per model on torch (the torch backend is the slow one on 2 CPU cores)
@pytest.mark.parametrize(("device", "opt"), [("numpy", _sgd), ("numpy", _adamw), ("torch", _sgd)], ids=_name)
def test_resnet8_training_step_replays_equal_to_eager(device, opt):
    """ResNet-8 in train mode (BatchNorm updates running stats inside its forward): 3 steps, all state equal."""
    fast = _run(_resnet8, opt, (4, 3, 8, 8), device)
    g = fast.graph
    assert g.count("backward") > 20 and g.count("getitem") > 20
    n_params = len(list(_resnet8().parameters()))
    setgrads = [n for n in g.nodes if n.kind == "effect" and n.target.kind == "setgrad"]
    assert len(setgrads) == n_params  # one per parameter, after the default passes
    calls = [n.op_name for n in g.nodes if n.kind == "effect" and n.target.kind == "call"]
    assert len(calls) == 2 and calls[0].endswith(".zero_grad") and calls[1].endswith(".step")
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in _resnet8().modules())
    assert sum(1 for n in g.nodes if n.effect and n.kind == "op") == n_bn  # BatchNorms update running stats


@pytest.mark.parametrize(("device", "opt"), [("numpy", _sgd), ("numpy", _adamw), ("torch", _adamw)], ids=_name)
def test_vit_training_step_replays_equal_to_eager(device, opt):
    _run(_tiny_vit, opt, (4, 3, 8, 8), device)


@pytest.mark.parametrize("passes", [(), None], ids=["no-passes", "default-passes"])
def test_passes_keep_every_effect_and_result(passes):
    """With or without DCE/CSE/constant folding/fusion, the replayed step equals eager."""
    fast = _run(_resnet8, _sgd, (4, 3, 8, 8), passes=passes, steps=2)
    kinds = [n.kind for n in fast.graph.nodes]
    assert "effect" in kinds and "backward" in kinds


def test_rematerialized_training_step_replays_equal_to_eager():
    """passes/remat.py recomputes saved values before backward; the executor swaps them into the ctx."""
    from dslib.graph.passes import DEFAULT_PASSES
    from dslib.graph.passes.remat import recomputed, rematerialize

    fast = _run(_tiny_vit, _adamw, (4, 3, 8, 8), passes=DEFAULT_PASSES + (rematerialize,), steps=3)
    assert recomputed(fast.graph), "the tiny ViT's MLP has a GELU worth recomputing"


def test_graph_prints_forward_backward_update_sections():
    (_, _, _), (_, _, fast) = _pair(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), _sgd)
    x, y = next(_batches(1, (5, 4), "numpy", classes=3))
    fast(x, y)
    text = str(fast.graph)
    sections = [line.strip() for line in text.splitlines() if line.strip().startswith("# ----")]
    assert sections == ["# ---- update ----", "# ---- forward ----", "# ---- backward ----", "# ---- update ----"]
    assert "linear.backward(ctx=%" in text and "setgrad(%model.0.weight, %" in text
    assert "sgd.zero_grad()" in text and "sgd.step()" in text
    phases = {n.phase for n in fast.graph.nodes}
    assert phases == {"forward", "backward", "update"}
    dot = fast.graph.to_dot()
    assert dot.startswith("digraph G {") and "setgrad" in dot and "linear.backward" in dot


def test_shape_change_recaptures_or_raises_when_told():
    (m1, o1, eager), (m2, o2, fast) = _pair(_tiny_vit, _adamw)
    for x, y in list(_batches(2, (4, 3, 8, 8), "numpy")) + list(_batches(2, (6, 3, 8, 8), "numpy")):
        _close(_np(fast(x, y)), _np(eager(x, y)), "loss")
    _same_state(m1, m2, o1, o2)
    assert len(fast.entries) == 2
    strict = dslib.compile(train_step(m2, o2, nn.CrossEntropyLoss()), recapture=False)
    x, y = next(_batches(1, (4, 3, 8, 8), "numpy"))
    strict(x, y)
    with pytest.raises(GuardError, match="recapture=True"):
        strict(x.to(dslib.float64), y)


def test_train_eval_switch_and_frozen_parameter_recapture():
    """Module train/eval flags and requires_grad are guarded: a change captures a new graph."""
    (m1, o1, eager), (m2, o2, fast) = _pair(_resnet8, _sgd)
    x, y = next(_batches(1, (4, 3, 8, 8), "numpy"))
    fast(x, y), eager(x, y)
    train_graph = fast.graph
    for m in (m1, m2):
        m.eval()
    _close(_np(fast(x, y)), _np(eager(x, y)), "loss in eval mode")
    eval_graph = fast.graph
    assert eval_graph is not train_graph
    assert not any(n.effect for n in eval_graph.nodes if n.kind == "op")  # eval BatchNorm updates nothing
    for m in (m1, m2):
        m.fc.weight.requires_grad_(False)
    _close(_np(fast(x, y)), _np(eager(x, y)), "loss with a frozen layer")
    assert fast.graph is not eval_graph
    setgrads = [n.args[0].name for n in fast.graph.nodes if n.kind == "effect" and n.target.kind == "setgrad"]
    assert "model.fc.bias" in setgrads and "model.fc.weight" not in setgrads
    _close(_np(fast(x, y)), _np(eager(x, y)), "loss with a frozen layer, replayed")
    _same_state(m1, m2, o1, o2)


def test_rebinding_a_closure_variable_recaptures():
    """The optimizer object is baked into the graph's update: `opt = AdamW(...)` in the enclosing scope is a miss."""
    dslib.manual_seed(0)
    m2 = _tiny_vit()
    opt = _sgd(m2.parameters())

    def step(x, y):
        opt.zero_grad()
        nn.functional.cross_entropy(m2(x), y).backward()
        opt.step()

    fast = dslib.compile(step, recapture=False)
    x, y = next(_batches(1, (4, 3, 8, 8), "numpy"))
    fast(x, y)
    fast(x, y)  # a replay
    opt = _adamw(m2.parameters())  # noqa: F841 - read by step() through its closure
    with pytest.raises(GuardError, match="opt was rebound"):
        fast(x, y)
    guard = sys.modules["dslib.graph.compile"]._identity  # (dslib.graph.compile is also the function)
    assert set(guard(step)) == {"opt", "m2", "nn"}  # `opt.step()` reads no global named step


def test_micro_batches_two_backward_calls_accumulate_like_eager():
    def make():
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))

    dslib.manual_seed(0)
    m1 = make()
    m2 = copy.deepcopy(m1)
    o1, o2 = _sgd(m1.parameters()), _sgd(m2.parameters())

    def step(model, opt):
        def run(x, y):
            opt.zero_grad()
            for xs, ys in ((x[:3], y[:3]), (x[3:], y[3:])):
                nn.functional.cross_entropy(model(xs), ys).backward()
            opt.step()

        return run

    eager, fast = step(m1, o1), dslib.compile(step(m2, o2))
    for x, y in _batches(3, (6, 4), "numpy", classes=3):
        eager(x, y), fast(x, y)
        _same_state(m1, m2, o1, o2)


def _capture_error(fn, match, *args):
    with pytest.raises(GraphCaptureError, match=match):
        dslib.compile(fn)(*args)


def test_hooks_retain_graph_and_backward_twice_are_reported():
    w = nn.Parameter(dslib.ones(3))
    x = dslib.randn(3)

    def leaf_hook(x):
        h = w.register_hook(lambda g: g * 2)
        try:
            (x * w).sum().backward()
        finally:
            h.remove()

    _capture_error(leaf_hook, "hook registered on a leaf", x)

    def nonleaf(x):
        y = x * w
        y.retain_grad()
        y.sum().backward()

    _capture_error(nonleaf, "retain_grad", x)
    _capture_error(lambda x: (x * w).sum().backward(retain_graph=True), "retain_graph", x)

    def twice(x):
        loss = (x * w).exp().sum()
        loss.backward()
        loss.backward()

    _capture_error(twice, "second time", x)


def test_random_draws_and_data_dependent_python_are_reported():
    dslib.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 3))
    opt = _sgd(model.parameters())
    x, y = next(_batches(1, (5, 4), "numpy", classes=3))
    _capture_error(train_step(model, opt, nn.CrossEntropyLoss()), "random", x, y)

    model = nn.Sequential(nn.Linear(4, 3))
    opt = _sgd(model.parameters())

    def logs(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    _capture_error(logs, "Data-dependent Python", x, y)


def test_grad_scaler_is_reported_and_autocast_state_is_guarded():
    model = nn.Sequential(nn.Linear(4, 3))
    opt = _sgd(model.parameters())
    scaler = dslib.amp.GradScaler(init_scale=8.0)

    def scaled(x, y):
        opt.zero_grad()
        scaler.scale(nn.functional.cross_entropy(model(x), y)).backward()
        scaler.step(opt)
        scaler.update()

    x, y = next(_batches(1, (5, 4), "numpy", classes=3))
    _capture_error(scaled, "GradScaler", x, y)


def test_autocast_training_step_is_captured_like_eager():
    """autocast's casts are ordinary ops in the graph; its state is part of the guard key."""
    (m1, o1, eager), (m2, o2, fast) = _pair(
        lambda: nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 3)), _adamw
    )

    def amp(step):
        def run(x, y):
            with dslib.autocast("numpy", dtype=dslib.float16):
                return step(x, y)

        return run

    eager16, fast16 = amp(eager), dslib.compile(amp(fast.fn))
    for x, y in _batches(3, (8, 4), "numpy", classes=3):
        _close(_np(fast16(x, y)), _np(eager16(x, y)), "autocast loss")
        _same_state(m1, m2, o1, o2)
    assert any(n.op_name == "cast" for n in fast16.graph.nodes)


def test_unrecorded_in_place_update_of_a_parameter_is_reported():
    w = nn.Parameter(dslib.ones(3))

    def step(x):
        (x * w).sum().backward()
        with dslib.no_grad():
            w.fill_(0.0)  # not a recorded op: would be lost at replay

    _capture_error(step, "fill_", dslib.randn(3))


def test_gradient_clipping_is_replayed_and_unrecorded_gradient_writes_are_reported():
    """clip_grad_norm_ scales the .grad arrays in place: a `call` effect; a raw fill_ of a .grad is an error."""

    def make():
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))

    def step(model, opt):
        def run(x, y):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            norm = nn.utils.clip_grad_norm_(list(model.parameters()), 0.05)
            opt.step()
            return norm * 1.0

        return run

    dslib.manual_seed(0)
    m1 = make()
    m2 = copy.deepcopy(m1)
    o1, o2 = _sgd(m1.parameters()), _sgd(m2.parameters())
    eager, fast = step(m1, o1), dslib.compile(step(m2, o2))
    for x, y in _batches(3, (6, 4), "numpy", classes=3):
        _close(_np(fast(x, y)), _np(eager(x, y)), "gradient norm")
        _same_state(m1, m2, o1, o2)
    assert "clip_grad_norm_(" in str(fast.graph)

    def raw_write(x, y):
        o1.zero_grad()
        nn.functional.cross_entropy(m1(x), y).backward()
        m1[0].weight.grad.zero_()  # fill_: no graph node
        o1.step()

    _capture_error(raw_write, "changed in place", x, y)


def test_manual_sgd_update_is_an_assign_effect():
    dslib.manual_seed(0)
    w1 = nn.Parameter(dslib.randn(3))
    w2 = nn.Parameter(dslib.tensor(w1.detach().numpy().copy()))

    def make(w):
        def step(x):
            loss = ((x * w).sum() - 1.0) ** 2
            loss.backward()
            with dslib.no_grad():
                w.sub_(0.1 * w.grad)
            w.grad = None
            return loss

        return step

    eager, fast = make(w1), dslib.compile(make(w2))
    for _ in range(3):
        x = dslib.randn(3)
        _close(_np(fast(x)), _np(eager(x)), "loss")
        _close(_np(w2), _np(w1), "w")
    assert any(n.kind == "effect" and n.target.kind == "assign" for n in fast.graph.nodes)


def _digits(n_train=256, n_test=128):
    from dslib.data.datasets import Digits

    def arrays(train, n):
        d = Digits(train=train)
        x = (d.data[:n].astype(np.float32) / 255.0).transpose(0, 3, 1, 2)  # (N, 1, 8, 8)
        return x, np.asarray(d.targets[:n])

    return arrays(True, n_train), arrays(False, n_test)


def _accuracy(model, x, y):
    model.eval()
    with dslib.no_grad():
        pred = model(dslib.tensor(x)).argmax(1).numpy()
    model.train()
    return float((pred == y).mean())


@pytest.mark.parametrize("arch", ["resnet8", "vit"])
def test_graph_mode_trains_on_digits_like_eager(arch):
    """20 steps on a slice of sklearn's digits: identical loss trajectories and test accuracy."""
    (xtr, ytr), (xte, yte) = _digits()
    if arch == "resnet8":
        make, opt = (lambda: dslib.models.resnet8(num_classes=10, in_channels=1)), _sgd
    else:
        make, opt = (lambda: _tiny_vit(in_channels=1)), (lambda p: dslib.optim.AdamW(p, lr=3e-3))
    (m1, o1, eager), (m2, o2, fast) = _pair(make, opt)
    losses1, losses2 = [], []
    for step in range(20):
        i = np.arange(step * 16, step * 16 + 16) % len(xtr)
        x, y = dslib.tensor(xtr[i]), dslib.tensor(ytr[i])
        losses1.append(float(eager(x, y).item()))
        losses2.append(float(fast(x, y).item()))
    _close(np.array(losses2), np.array(losses1), "loss trajectory")
    assert losses1[-1] < losses1[0], "the eager reference must be learning"
    assert _accuracy(m2, xte, yte) == _accuracy(m1, xte, yte)
    _same_state(m1, m2, o1, o2)
    assert len(fast.entries) == 1


def test_trainer_compile_option_matches_eager_and_rejects_what_it_cannot_capture():
    from dslib.train import Trainer

    (xtr, ytr), _ = _digits(n_train=96)
    batches = [(xtr[i : i + 16], ytr[i : i + 16]) for i in range(0, 96, 16)]
    results = []
    for compiled in (False, True):
        dslib.manual_seed(0)
        model = dslib.models.resnet8(num_classes=10, in_channels=1)
        opt = _sgd(model.parameters())
        sched = dslib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)
        trainer = Trainer(
            model,
            opt,
            train_loader=batches,
            scheduler=sched,
            clip_grad_norm=0.5,
            progress=False,
            log_every=2,
            compile=compiled,
        )
        trainer.fit(max_steps=8)
        results.append((trainer.history.series("loss")[1], model, opt))
    (l1, m1, o1), (l2, m2, o2) = results
    _close(np.array(l2), np.array(l1), "logged losses")
    _same_state(m1, m2, o1, o2)
    assert o1.param_groups[0]["lr"] == o2.param_groups[0]["lr"]  # the scheduler stepped at every replay
    with pytest.raises(ValueError, match="accumulation_steps=2"):
        Trainer(m1, o1, train_loader=batches, accumulation_steps=2, compile=True)
