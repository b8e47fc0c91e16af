"""Rematerialization (dslib/graph/passes/remat.py): lower peak live bytes, results equal to eager.

Each test trains an eager model and a compiled copy (deepcopy, same data) and compares losses and
parameters; the memory numbers come from dslib.graph.memory_plan (the same graph with and without the pass).
    .venv/bin/pytest tests/dslib/graph/test_remat.py -q -p no:xdist
"""

import copy

import numpy as np
import pytest

import dslib
import dslib.models
from dslib import nn
from dslib.graph.memory_plan import plan_memory
from dslib.graph.passes import DEFAULT_PASSES
from dslib.graph.passes.remat import recomputed, refill, release, rematerialize
from tests.dslib.graph.steps import train_step

PLAIN = tuple(p for p in DEFAULT_PASSES if p is not rematerialize)  # the default passes without remat
REMAT = (*PLAIN, rematerialize)


def _train(make_model, shape, passes, steps=3):
    """Eager and compiled training side by side; returns the compiled step after checking every step equal."""
    dslib.manual_seed(0)
    m1 = make_model().train()
    m2 = copy.deepcopy(m1)
    o1 = dslib.optim.SGD(m1.parameters(), lr=0.05, momentum=0.9)
    o2 = dslib.optim.SGD(m2.parameters(), lr=0.05, momentum=0.9)
    eager, fast = train_step(m1, o1), dslib.compile(train_step(m2, o2), passes=passes)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        x = dslib.tensor(rng.standard_normal(shape).astype(np.float32))
        y = dslib.tensor(rng.integers(0, 10, shape[0]))
        np.testing.assert_allclose(fast(x, y).detach().numpy(), eager(x, y).detach().numpy(), rtol=1e-6, atol=1e-6)
    for (name, p1), p2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        np.testing.assert_allclose(p2.detach().numpy(), p1.detach().numpy(), rtol=1e-6, atol=1e-6, err_msg=name)
    return fast


def _gelu_mlp():
    layers = [nn.Linear(32, 128)]
    for _ in range(3):
        layers += [nn.GELU(), nn.Linear(128, 128)]
    return nn.Sequential(*layers, nn.GELU(), nn.Linear(128, 10))


def _tiny_vit():
    return dslib.models.vit(10, 3, image_size=8, patch_size=2, embed_dim=16, depth=2, num_heads=2)


@pytest.mark.parametrize("make,shape", [(_gelu_mlp, (64, 32)), (_tiny_vit, (4, 3, 8, 8))], ids=["mlp", "vit"])
def test_gelu_outputs_recomputed_lower_peak_and_equal_eager(make, shape):
    """gelu(h) saved by the next matmul is recomputed from h (which gelu's backward keeps anyway)."""
    plain = _train(make, shape, PLAIN, steps=1).graph
    fast = _train(make, shape, REMAT)
    copies = [n for n in fast.graph.nodes if n.kind == "op" and n.aux and n.aux[0] == "recompute"]
    assert copies and all(n.phase == "backward" and n.op_name == "gelu" for n in copies)
    before, after = plan_memory(plain).peak_live_bytes, plan_memory(fast.graph).peak_live_bytes
    assert after < before, f"peak live bytes {after} with remat, {before} without"


def test_resnet8_step_equal_to_eager_and_never_more_memory():
    """ResNet-8: ReLU saves its output and BatchNorm's output is saved by nobody, so no single recompute pays."""
    plain = _train(dslib.models.resnet8, (4, 3, 16, 16), PLAIN, steps=1).graph
    fast = _train(dslib.models.resnet8, (4, 3, 16, 16), REMAT)
    assert plan_memory(fast.graph).peak_live_bytes <= plan_memory(plain).peak_live_bytes


def test_inference_graph_is_left_alone():
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2)).eval()
    fast = dslib.compile(model, passes=REMAT)
    with dslib.no_grad():
        fast(dslib.randn(3, 4))
    assert rematerialize(fast.graph) == 0 and recomputed(fast.graph) == {}


def test_release_and_refill_swap_the_arrays_a_ctx_holds():
    ctx = dslib.autograd.Context()
    a, b = np.ones(3), np.zeros(3)
    ctx.save_for_backward(a, b, a)
    ctx.stats = (b, a, 1.5)
    ctx.cols = a
    slots = release(ctx, a)
    assert (
        ctx.saved[0] is None
        and ctx.saved[1] is b
        and ctx.saved[2] is None
        and ctx.stats[1] is None
        and ctx.cols is None
        and ctx.stats[0] is b
    )
    c = np.full(3, 2.0)
    refill(ctx, slots, c)
    assert ctx.saved[0] is c and ctx.saved[2] is c and ctx.stats[1] is c and ctx.cols is c and ctx.saved[1] is b


def test_replay_backward_reads_the_recomputed_arrays_and_equals_eager(monkeypatch):
    """At replay the executor takes each rematerialized value out of its forward op's ctx (`release`) and hands
    the backward the recomputed copy (`refill`), so the copies are what backward computes with, and the
    training steps still equal eager."""
    from dslib.graph.passes import remat

    calls = {"release": 0, "refill": 0, "missed": 0}

    def counted_release(ctx, array):
        slots = release(ctx, array)
        calls["release"] += 1
        calls["missed"] += not slots  # the ctx did not hold the array: it would stay pinned
        return slots

    def counted_refill(ctx, slots, array):
        calls["refill"] += 1
        refill(ctx, slots, array)

    monkeypatch.setattr(remat, "release", counted_release)
    monkeypatch.setattr(remat, "refill", counted_refill)
    fast = _train(_gelu_mlp, (64, 32), REMAT, steps=3)  # step 1 captures (eagerly), steps 2 and 3 replay
    n = sum(len(pairs) for pairs in recomputed(fast.graph).values())
    assert n > 0 and calls["release"] == calls["refill"] == 2 * n and calls["missed"] == 0
