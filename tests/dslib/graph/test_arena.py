"""ArenaExecutor (dslib/graph/arena.py): bitwise equal to Executor, and a call allocates only its outputs.

ResNet-8 and a small ViT in eval mode, captured with and without fusion, must give exactly the plain
Executor's results, call after call (a result must survive the next call, which reuses the arena).
"""

import tracemalloc

import numpy as np
import pytest

import dslib
import dslib.models
from dslib.graph.arena import ArenaExecutor
from dslib.graph.executor import Executor
from dslib.graph.ir import Graph, Node
from dslib.graph.passes import common_subexpression_elimination, constant_fold, dead_code_elimination
from dslib.ops import elementwise as E

NO_FUSION = (constant_fold, common_subexpression_elimination, dead_code_elimination)
MODELS = {
    "resnet8": lambda: dslib.models.resnet8(),
    "vit": lambda: dslib.models.vit(depth=2, embed_dim=64, num_heads=4),
}


def _graph(model, x, passes=None):
    fast = dslib.compile(model.eval(), passes=passes)
    with dslib.no_grad():
        fast(x)
    return fast.graph


@pytest.mark.parametrize("fusion", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("name", list(MODELS))
def test_model_results_equal_executor_exactly(name, fusion):
    dslib.manual_seed(0)
    x, x2 = dslib.randn(8, 3, 32, 32), dslib.randn(8, 3, 32, 32)
    graph = _graph(MODELS[name](), x, None if fusion else NO_FUSION)
    plain, arena = Executor(graph), ArenaExecutor(graph)
    assert arena.plan.offsets or arena.inplace, "elementwise/linear nodes must write into the arena or in place"
    y1, ref1 = arena([x._data]), plain([x._data])
    np.testing.assert_array_equal(y1.numpy(), ref1.numpy())
    y2 = arena([x2._data])
    np.testing.assert_array_equal(y2.numpy(), plain([x2._data]).numpy())
    np.testing.assert_array_equal(y1.numpy(), ref1.numpy())  # the first result is not in the reused arena
    assert arena.writes > 0, "relu after batch_norm, linear, matmul: some nodes must run with out="
    if not fusion:
        assert arena.inplace, "relu after batch_norm / add must run in place"


def _chain(n=1 << 18):
    """exp, *2, +x, neg, tanh over n floats: exp gets an arena slot, the next three run in place."""
    x = Node("input", name="x", meta=((n,), "float32"))
    nodes = [x]
    for target, other in ((E.Exp, None), (E.Mul, 2.0), (E.Add, x), (E.Neg, None), (E.Tanh, None)):
        args = (nodes[-1],) if other is None else (nodes[-1], other)
        nodes.append(Node("op", target, args, meta=((n,), "float32"), name=str(len(nodes))))
    return Graph(nodes, nodes[-1])


def _peak_of_call(fn, *args):
    fn(*args)  # warm up: the arena is allocated here
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn(*args)
        return tracemalloc.get_traced_memory()[1] - base, out
    finally:
        tracemalloc.stop()


def test_arena_call_allocates_only_the_output():
    graph = _chain()
    x = np.random.default_rng(0).standard_normal(1 << 18).astype(np.float32)
    arena = ArenaExecutor(graph)
    assert len(arena.plan.offsets) == 1 and len(arena.inplace) == 3
    size = x.nbytes
    arena_peak, y = _peak_of_call(arena, [x])
    assert arena.writes == 4  # exp into its slot, then *2, +x, neg in place; tanh allocates the output
    plain_peak, ref = _peak_of_call(Executor(graph), [x])
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    np.testing.assert_array_equal(y.numpy(), np.tanh(-(np.exp(x) * 2 + x)))
    assert arena_peak < 1.1 * size, f"arena call traced {arena_peak} B for a {size} B output"
    assert plain_peak >= 2 * size


def test_an_unplanned_view_of_the_arena_is_copied_out():
    """b = identity(a) aliases a's slot without the plan knowing; c then reuses that slot. b must be a copy."""
    x = Node("input", name="x", meta=((64,), "float32"))
    a = Node("op", E.Exp, (x,), meta=((64,), "float32"), name="a")
    b = Node("call", lambda t: t, (a,), meta=((64,), "float32"), name="b")
    c = Node("op", E.Neg, (x,), meta=((64,), "float32"), name="c")
    d = Node("op", E.Add, (b, c), meta=((64,), "float32"), name="d")
    ex = ArenaExecutor(Graph([x, a, b, c, d], d))
    assert ex.plan.offsets[a] == ex.plan.offsets[c]  # the slot c overwrites while b still needs it
    xs = np.linspace(-1, 1, 64, dtype=np.float32)
    np.testing.assert_array_equal(ex([xs]).numpy(), np.exp(xs) + -xs)


def test_arena_comes_from_the_pool_when_it_is_on():
    graph = _chain(1 << 12)
    x = np.ones(1 << 12, np.float32)
    with dslib.memory.use_pool(True):
        ex = ArenaExecutor(graph)
        y = ex([x])
    assert dslib.memory.is_pool_array(ex.arena) and ex.arena.nbytes >= ex.plan.arena_bytes
    np.testing.assert_array_equal(y.numpy(), Executor(graph)([x]).numpy())


def test_training_graphs_and_torch_inputs_are_refused():
    x = Node("input", name="x", meta=((4,), "float32"))
    bw = Node("backward", None, (x,), meta=[((4,), "float32")], name="bw")
    with pytest.raises(ValueError, match="inference graphs"):
        ArenaExecutor(Graph([x, bw], x))
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="numpy device"):
        ArenaExecutor(_chain(8))([torch.zeros(8)])
