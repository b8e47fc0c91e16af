"""A replayed training step holds no more live memory than the same step run eagerly.

The executor drops each intermediate after its last reader and each kept ctx after its backward node, so the
peak of live arrays during a replay must not exceed eager mode's. Measured with tracemalloc on the numpy
device (NumPy reports its array buffers to tracemalloc; torch's CPU allocator does not). RSS is not used: it
also counts memory glibc keeps after a free, which depends on allocation order, not on what is alive.
    .venv/bin/pytest tests/dslib/graph/test_replay_memory.py -q -p no:xdist
"""

import tracemalloc

import numpy as np

import dslib
import dslib.models
from tests.dslib.graph.steps import train_step


def _peak_bytes(compiled: bool) -> tuple[int, float]:
    """(tracemalloc peak of one training step after two warm-up steps, its loss) on a numpy ResNet-8."""
    dslib.manual_seed(0)
    model = dslib.models.resnet8(num_classes=10, in_channels=3).train()
    opt = dslib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = dslib.tensor(rng.standard_normal((8, 3, 16, 16), dtype=np.float32))
    y = dslib.tensor(rng.integers(0, 10, size=8).astype(np.int64))

    step = train_step(model, opt, dslib.nn.functional.cross_entropy)
    step = dslib.compile(step) if compiled else step
    for _ in range(2):  # the graph's first call captures; the second replays
        step(x, y)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        loss = float(step(x, y).item())
        return tracemalloc.get_traced_memory()[1] - base, loss
    finally:
        tracemalloc.stop()


def test_replay_peak_is_not_above_eager():
    eager, eager_loss = _peak_bytes(compiled=False)
    graph, graph_loss = _peak_bytes(compiled=True)
    assert graph_loss == eager_loss  # the same step was measured
    # 5% + 64 KiB: Python bookkeeping (the env dict, Context objects) differs a little between the two modes
    assert graph <= 1.05 * eager + 65536, f"replay peak {graph / 2**20:.2f} MiB > eager {eager / 2**20:.2f} MiB"
