"""Memory planning (dslib/graph/memory_plan.py) and in-place reuse (passes/inplace.py).

Hand-built graphs with answers worked out on paper, a hypothesis property over random graphs (no two
buffers live at the same step overlap in the arena, the arena holds the peak), and ResNet-8 / ViT
inference graphs with planned against naive bytes printed (run with -s to see the tables).
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dslib
import dslib.models
from dslib.graph.ir import Graph, Node
from dslib.graph.memory_plan import nbytes, place, plan_memory, values_of
from dslib.graph.passes.inplace import find_inplace, mark_inplace
from dslib.ops import elementwise as E
from dslib.ops.shape import Reshape
from tests.dslib.graph.steps import train_step

F32 = "float32"


def _input(shape=(4, 4), name="x"):
    return Node("input", name=name, meta=(shape, F32))


_ids = itertools.count()


def _op(target, *args, shape=(4, 4), name=None):
    return Node("op", target, args, meta=(shape, F32), name=name or f"n{next(_ids)}")


def _check_no_conflicts(plan):
    """Buffers whose lifetimes share a step must not share a byte; the arena holds them all."""
    bufs = list(plan.offsets)
    for i, a in enumerate(bufs):
        (fa, la), oa = plan.lifetimes[a], plan.offsets[a]
        assert oa % plan.alignment == 0
        assert oa + plan.sizes[a] <= plan.arena_bytes
        for b in bufs[i + 1 :]:
            (fb, lb), ob = plan.lifetimes[b], plan.offsets[b]
            if fa <= lb and fb <= la:
                assert oa + plan.sizes[a] <= ob or ob + plan.sizes[b] <= oa, f"{a} and {b} overlap"
    assert plan.arena_bytes >= plan.peak_live_bytes


def _check_covers_readers(graph, plan):
    """Every value's buffer is live from its node's step through every step that reads it."""
    for j, n in enumerate(graph.nodes):
        b = plan.buffer_of.get(n)
        if b in plan.lifetimes:
            assert plan.lifetimes[b][0] <= j <= plan.lifetimes[b][1]
        reads = [(n.args[0], n.args[1])] if n.kind == "getitem" else [v for m in n.value_inputs() for v in values_of(m)]
        for v in reads:
            b = plan.buffer_of.get(v)
            if b in plan.lifetimes:
                assert plan.lifetimes[b][0] <= j <= plan.lifetimes[b][1], f"{v} is freed before {n} reads it"


def test_chain_alternates_two_slots():
    """x -> a -> b -> c -> d: each value dies when the next is made, so a/c and b/d share slots."""
    x = _input()
    a = _op(E.Relu, x)
    b = _op(E.Neg, a)
    c = _op(E.Exp, b)
    d = _op(E.Tanh, c)
    plan = plan_memory(Graph([x, a, b, c, d], d), inplace={})
    size = 4 * 4 * 4
    assert plan.lifetimes == {a: (1, 2), b: (2, 3), c: (3, 4), d: (4, 4)}
    assert plan.offsets[a] == plan.offsets[c] != plan.offsets[b] == plan.offsets[d]
    assert plan.arena_bytes == 2 * 64 and plan.peak_live_bytes == 2 * size and plan.naive_bytes == 4 * size
    assert plan.timeline() == [(0, 0), (1, size), (2, 2 * size), (3, 2 * size), (4, 2 * size)]


def test_diamond_output_reuses_the_first_slot():
    """a feeds b and c, d = b + c: a dies at c, so d (born after) takes a's slot; three slots in all."""
    x = _input()
    a = _op(E.Relu, x)
    b = _op(E.Exp, a)
    c = _op(E.Neg, a)
    d = _op(E.Add, b, c)
    plan = plan_memory(Graph([x, a, b, c, d], d), inplace={}, alignment=1)
    assert plan.lifetimes == {a: (1, 3), b: (2, 4), c: (3, 4), d: (4, 4)}
    assert plan.offsets[d] == plan.offsets[a]
    assert plan.arena_bytes == plan.peak_live_bytes == 3 * 64
    _check_no_conflicts(plan)


def test_outputs_live_to_the_end():
    """An output made early keeps its buffer to the last step; a dead-end value lives one step."""
    x = _input()
    a = _op(E.Relu, x)
    dead = _op(E.Exp, a)
    b = _op(E.Neg, a)
    c = _op(E.Exp, b)
    plan = plan_memory(Graph([x, a, dead, b, c], (a, c)), inplace={})
    assert plan.lifetimes[a] == (1, 4) and plan.lifetimes[dead] == (2, 2)
    _check_no_conflicts(plan)


def test_place_is_best_fit_largest_first():
    """T fits in the 100-byte gap at 0 and the 85-byte gap at 190: best fit takes the smaller one."""
    lifetimes = {"P": (0, 0), "Q": (0, 5), "V": (0, 0), "U": (0, 5), "T": (1, 5)}
    sizes = {"P": 100, "Q": 90, "V": 85, "U": 80, "T": 20}
    offsets, arena = place(lifetimes, sizes, alignment=1)
    assert offsets == {"P": 0, "Q": 100, "V": 190, "U": 275, "T": 190}
    assert arena == 355


def test_views_keep_their_base_alive():
    """r = reshape(a) owns no memory; a's buffer lives until r's last reader."""
    x = _input()
    a = _op(E.Exp, x)
    r = _op(Reshape, a, (16,), shape=(16,))
    b = _op(E.Neg, x)
    c = _op(E.Neg, r, shape=(16,))
    plan = plan_memory(Graph([x, a, r, b, c], (b, c)), inplace={})
    assert plan.buffer_of[r] is a and r not in plan.offsets
    assert plan.lifetimes[a] == (1, 4)
    assert plan.naive_bytes == 3 * 64
    _check_no_conflicts(plan)


def test_backward_and_getitem_values():
    """A backward node reads its ctx's saved values, not its forward's result; its gradients are separate
    buffers, each live until the last reader of its getitem; an effect is an ordinary reader."""
    x = _input()
    y = _op(E.Exp, x)  # the forward node: only its ctx goes to the backward node
    s = _op(E.Neg, x)  # a value that ctx saved
    bw = Node("backward", E.Exp, (y, x, s), meta=[((4, 4), F32), ((8,), F32), ((2,), F32)], name="bw")
    g0 = Node("getitem", None, (bw, 0), meta=((4, 4), F32), name="g0")
    g1 = Node("getitem", None, (bw, 1), meta=((8,), F32), name="g1")
    u = _op(E.Neg, g0)
    keep = Node("effect", None, (g1,), name="setgrad")
    v = _op(E.Neg, u)
    g = Graph([x, y, s, bw, g0, g1, u, keep, v], v)
    plan = plan_memory(g, inplace={})
    assert plan.lifetimes[y] == (1, 1) and plan.lifetimes[s] == (2, 3)
    assert plan.lifetimes[(bw, 0)] == (3, 6)  # read by u at step 6 through g0
    assert plan.lifetimes[(bw, 1)] == (3, 7)  # read by the effect
    assert plan.lifetimes[(bw, 2)] == (3, 3)  # never read
    assert plan.buffer_of[g0] == (bw, 0) and plan.buffer_of[keep] is None
    assert "%bw[1]" in plan.report()
    _check_no_conflicts(plan)
    _check_covers_readers(g, plan)


def test_nbytes_and_unknown_dtype():
    assert nbytes(((2, 3), "float64")) == 48 and nbytes(((), "bool")) == 1 and nbytes(((4,), "bfloat16")) == 8
    with pytest.raises(ValueError, match="unknown dtype"):
        nbytes(((2,), "float7"))


# ----- in-place reuse -----


def test_inplace_chain_runs_in_one_slot():
    """exp -> relu -> neg -> tanh: relu and neg overwrite their dying inputs; the output gets its own slot."""
    x = _input()
    a = _op(E.Exp, x)
    b = _op(E.Relu, a)
    c = _op(E.Neg, b)
    d = _op(E.Tanh, c)
    g = Graph([x, a, b, c, d], d)
    assert mark_inplace(g) == 2 and g.inplace == {b: a, c: b}  # d is the output: never in place
    plan = plan_memory(g)
    assert plan.buffer_of[b] is a and plan.buffer_of[c] is a
    assert plan.lifetimes == {a: (1, 4), d: (4, 4)} and plan.arena_bytes == 2 * 64
    assert plan.naive_bytes == 4 * 64 and plan.inplace == {b: a, c: b}


def test_inplace_never_overwrites_inputs_params_consts_or_outputs():
    x = _input()
    w = Node("param", name="w", meta=((4, 4), F32))
    k = Node("const", name="k", meta=((4, 4), F32), value=np.ones((4, 4), np.float32))
    a = _op(E.Relu, x)  # x is the caller's array
    b = _op(E.Mul, a, w)  # may overwrite a, never the parameter w
    c = _op(E.Add, k, b)  # may overwrite b, never the constant k
    e = _op(E.Exp, c)  # the output
    assert find_inplace(Graph([x, w, k, a, b, c, e], e)) == {b: a, c: b}
    o1 = _op(E.Exp, x)
    o2 = _op(E.Neg, o1)  # o1 is an output too: o2 must not overwrite it
    assert find_inplace(Graph([x, o1, o2], (o1, o2))) == {}


def test_inplace_skips_values_read_later_and_aliased_inputs():
    x = _input()
    a = _op(E.Exp, x, name="a")
    b = _op(E.Neg, a, name="b")  # a is read again by c: b must not overwrite it
    c = _op(E.Add, a, b)  # a dies here and b dies here: c may overwrite either
    r = _op(Reshape, c, (4, 4))  # a view of c
    d = _op(E.Neg, c)  # c is still read through r later: not in place
    e = _op(E.Add, r, d)  # r (c's buffer) and d die here
    f = _op(E.Sub, e, e)
    s = _op(E.Exp, f)
    v = _op(Reshape, s, (4, 4))
    h = _op(E.Add, s, v)  # both inputs are views of one buffer: not in place (a fused kernel would clobber)
    out = _op(E.Neg, h)
    pairs = find_inplace(Graph([x, a, b, c, r, d, e, f, s, v, h, out], out))
    assert b not in pairs and pairs[c] is a
    assert d not in pairs and pairs[e] in (r, d) and pairs[f] is e
    assert h not in pairs
    with pytest.raises(ValueError, match="%b cannot overwrite %a"):
        plan_memory(Graph([x, a, b, c, r, d, e, f, s, v, h, out], out), inplace={b: a})


# ----- random graphs -----


@st.composite
def graphs(draw):
    """A random DAG of elementwise/reshape ops over a few shapes, with random outputs."""
    x = _input((8,))
    nodes = [x]
    for i in range(draw(st.integers(1, 14))):
        n = draw(st.integers(1, 3))
        srcs = [draw(st.sampled_from(nodes)) for _ in range(n)]
        shape = (draw(st.sampled_from([1, 8, 64, 300])),)
        if n == 1 and draw(st.booleans()):
            node = _op(Reshape, srcs[0], srcs[0].meta[0], shape=srcs[0].meta[0], name=str(i))
        else:
            node = Node("op", E.Add if n > 1 else E.Exp, tuple(srcs), meta=(shape, F32), name=str(i))
        nodes.append(node)
    outs = tuple(draw(st.lists(st.sampled_from(nodes[1:]), min_size=1, max_size=3)))
    return Graph(nodes, outs)


@settings(max_examples=150, deadline=None)
@given(graphs(), st.sampled_from([1, 16, 64]), st.booleans())
def test_random_graphs_never_overlap_live_buffers(g, alignment, inplace):
    if inplace:
        mark_inplace(g)
    plan = plan_memory(g, alignment=alignment, inplace=None if inplace else {})
    _check_no_conflicts(plan)
    _check_covers_readers(g, plan)
    end = len(g.nodes) - 1
    for o in g.outputs:
        assert plan.buffer_of[o] is None or plan.lifetimes[plan.buffer_of[o]][1] == end
    assert plan.peak_live_bytes <= plan.naive_bytes
    if inplace:  # sharing a slot with a dying input never needs more live memory
        assert plan.peak_live_bytes <= plan_memory(g, alignment=alignment, inplace={}).peak_live_bytes


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 6), st.integers(1, 500)), min_size=1, max_size=25))
def test_place_never_overlaps_and_holds_the_peak(specs):
    lifetimes = {i: (f, f + d) for i, (f, d, _) in enumerate(specs)}
    sizes = {i: s for i, (_, _, s) in enumerate(specs)}
    offsets, arena = place(lifetimes, sizes, alignment=8)
    peak = max(sum(sizes[b] for b in sizes if lifetimes[b][0] <= t <= lifetimes[b][1]) for t in range(30))
    assert peak <= arena <= sum(-(-s // 8) * 8 for s in sizes.values())
    for a in sizes:
        for b in sizes:
            if a < b and lifetimes[a][0] <= lifetimes[b][1] and lifetimes[b][0] <= lifetimes[a][1]:
                assert offsets[a] + sizes[a] <= offsets[b] or offsets[b] + sizes[b] <= offsets[a]


# ----- real models -----


def _captured(model, x):
    fast = dslib.compile(model.eval())
    with dslib.no_grad():
        fast(x)
    return fast.graph


@pytest.mark.parametrize(
    "name, make",
    [
        ("resnet8", lambda: dslib.models.resnet8()),
        ("vit", lambda: dslib.models.vit(depth=2, embed_dim=64, num_heads=4)),
    ],
)
def test_model_inference_graphs(name, make):
    dslib.manual_seed(0)
    graph = _captured(make(), dslib.randn(8, 3, 32, 32))
    plain = plan_memory(graph, inplace={})
    mark_inplace(graph)
    shared = plan_memory(graph)
    for plan in (plain, shared):
        _check_no_conflicts(plan)
        _check_covers_readers(graph, plan)
        assert plan.peak_live_bytes <= plan.arena_bytes < plan.naive_bytes
    assert shared.peak_live_bytes <= plain.peak_live_bytes and len(shared.inplace) > 0
    print(f"\n{name} batch 8:", plain.report(limit=8), "", "with in-place reuse:", shared.report(limit=0), sep="\n")


def test_training_step_graph():
    """A whole ResNet-8 SGD step (forward, backward, update): the plan is valid and beats the naive sum."""
    dslib.manual_seed(0)
    model = dslib.models.resnet8().train()
    opt = dslib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = dslib.compile(train_step(model, opt))
    step(dslib.randn(8, 3, 32, 32), dslib.randint(0, 10, (8,)))
    graph = step.graph
    assert graph.count("backward") > 0 and graph.count("getitem") > 0
    plain = plan_memory(graph, inplace={})
    mark_inplace(graph)
    shared = plan_memory(graph)
    for plan in (plain, shared):
        _check_no_conflicts(plan)
        _check_covers_readers(graph, plan)
        assert plan.peak_live_bytes <= plan.arena_bytes < plan.naive_bytes
    assert any(isinstance(b, tuple) for b in plain.offsets), "gradients of backward nodes are planned"
    assert shared.peak_live_bytes <= plain.peak_live_bytes
    print(
        "\nresnet8 SGD training step, batch 8:",
        plain.report(limit=8),
        "with in-place reuse:",
        shared.report(limit=0),
        sep="\n",
    )
