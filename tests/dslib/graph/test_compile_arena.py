"""dslib.compile(fn, arena=True): inference graphs replay with ArenaExecutor, training graphs fall back with a warning.

Results must equal eager mode (and the plain Executor's replay bit for bit); a result must survive the next call,
which reuses the arena.
    .venv/bin/pytest tests/dslib/graph/test_compile_arena.py -q -p no:xdist
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import dslib
import dslib.models
from dslib import nn
from dslib.graph.arena import ArenaExecutor
from dslib.graph.executor import Executor
from tests.dslib.graph.steps import train_step


def _executor(fast):
    return fast.entries[fast.last_key].executor


def test_inference_uses_arena_and_equals_eager_and_plain_replay():
    dslib.manual_seed(0)
    model = dslib.models.resnet8().eval()
    x, x2 = dslib.randn(4, 3, 32, 32), dslib.randn(4, 3, 32, 32)
    fast, plain = dslib.compile(model, arena=True), dslib.compile(model)
    with dslib.no_grad():
        eager1, eager2 = model(x).numpy(), model(x2).numpy()
        fast(x), plain(x)  # capture
        y1 = fast(x)
        assert isinstance(_executor(fast), ArenaExecutor) and type(_executor(plain)) is Executor
        kept = y1.numpy().copy()
        y2 = fast(x2)
        np.testing.assert_array_equal(y1.numpy(), kept)  # the first result survives the second call
        np.testing.assert_array_equal(y2.numpy(), plain(x2).numpy())
    np.testing.assert_allclose(kept, eager1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y2.numpy(), eager2, rtol=1e-5, atol=1e-5)
    assert _executor(fast).writes > 0, "some nodes must have run with out= into the arena"


def test_training_step_falls_back_to_executor_with_a_warning():
    dslib.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    twin = copy.deepcopy(model)
    opts = [dslib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (model, twin)]
    fast, eager = dslib.compile(train_step(model, opts[0]), arena=True), train_step(twin, opts[1])
    for i in range(3):
        x, y = dslib.randn(5, 8), dslib.randint(0, 3, (5,))
        if i == 0:
            with pytest.warns(UserWarning, match="plain Executor.*inference graphs"):
                loss = fast(x, y)
        else:
            loss = fast(x, y)
        np.testing.assert_allclose(loss.detach().numpy(), eager(x, y).detach().numpy(), rtol=1e-6)
    assert type(_executor(fast)) is Executor
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_torch_inputs_fall_back_with_a_warning():
    model = nn.Linear(4, 2)
    fast = dslib.compile(model.to("torch"), arena=True)
    x = dslib.randn(3, 4, device="torch")
    with dslib.no_grad(), pytest.warns(UserWarning, match="not numpy arrays"):
        fast(x)
    with dslib.no_grad():
        np.testing.assert_array_equal(fast(x).numpy(), model(x).numpy())
    assert type(_executor(fast)) is Executor
