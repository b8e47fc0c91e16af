"""labkit/compiler_widgets.py: the IR lines, live bytes, the step figure (IR around the step, the arena) and its
ipywidgets viewer, on graphs captured by dslib.compile, without a browser.

    .venv/bin/pytest tests/labkit/test_compiler_widgets.py -q -p no:xdist
"""

from __future__ import annotations

import ipywidgets
import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import dslib
from labkit import compiler_widgets as cw

PNG_MAGIC = b"\x89PNG"


def _graph(passes=()):
    def f(x, w):
        a = (x @ w).exp()  # 2 nodes after the inputs
        b = (a * 2.0).sin()  # a fusible chain
        return b + a.sum(-1, keepdim=True), a

    fast = dslib.compile(f, passes=passes)
    fast(dslib.randn(4, 3), dslib.randn(3, 5))
    return fast.graph


def _spans(graph):
    """Lifetimes by the lab's definition (Task 6.4), written out independently of the widget."""
    outs = set()
    dslib.graph.ir.walk(graph.outputs, outs.add)
    end, span = len(graph.nodes) - 1, {}
    for i, n in enumerate(graph.nodes):
        for src in n.inputs():
            if src in span:
                span[src] = (span[src][0], max(span[src][1], i))
        if n.kind in ("op", "call", "fused"):
            span[n] = (i, end if n in outs else i)
    return span


def test_ir_lines_are_the_printed_lines_one_per_node():
    for passes in ((), None):
        graph = _graph(passes)
        lines = cw.ir_lines(graph)
        assert len(lines) == len(graph.nodes)
        for node, line in zip(graph.nodes, lines):
            assert line.startswith(f"%{node.name} = ")
        assert lines == [s.strip() for s in str(graph).splitlines() if s.strip().startswith("%")]


def test_nbytes_of_single_and_tuple_metas():
    assert cw._nbytes(((4, 5), "float32")) == 80
    assert cw._nbytes(((), "float64")) == 8
    assert cw._nbytes(((3,), "bfloat16")) == 6
    assert cw._nbytes([((2,), "float32"), ((2, 2), "int64")]) == 40
    assert cw._nbytes(None) == 0
    assert [cw._fmt_bytes(n) for n in (512, 2048, 3 * 2**20, 2**31)] == ["512 B", "2.00 KiB", "3.00 MiB", "2.00 GiB"]


def test_live_bytes_sums_the_values_live_at_each_step():
    graph = _graph()
    spans = _spans(graph)
    got = cw.live_bytes(spans, len(graph.nodes))
    expected = [sum(cw._nbytes(n.meta) for n, (a, b) in spans.items() if a <= s <= b) for s in range(len(graph.nodes))]
    assert got == expected and max(got) > 0 and got[0] == 0  # step 0 is an input


def _rectangles(fig):
    ax = fig.axes[1]
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_step_figure_draws_one_rectangle_per_planned_buffer_and_colours_the_live_ones():
    graph = _graph()
    spans = _spans(graph)
    offsets, top = {}, 0
    for n in spans:  # every buffer its own slot: a valid (if loose) plan
        offsets[n] = top
        top += cw._nbytes(n.meta)
    step = 3
    fig = cw.graph_step_figure(graph, step, lifetimes=spans, offsets=offsets)
    assert isinstance(fig, Figure)
    rects = _rectangles(fig)
    assert len(rects) == len(spans)
    live = sum(1 for a, b in spans.values() if a <= step <= b)
    coloured = [r for r in rects if to_hex(r.get_facecolor()) != "#dee2e6"]
    assert len(coloured) == live > 0
    assert fig.axes[1].get_ylim()[1] >= top
    marked = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith(">")]
    assert len(marked) == 1 and f"{step:>3} %{graph.nodes[step].name} =" in marked[0]


def test_step_figure_colours_fused_groups_and_fused_nodes():
    graph = _graph()
    chain = [n for n in graph.nodes if n.op_name in ("mul", "sin")]
    fig = cw.graph_step_figure(graph, 0, groups=[chain], window=40)
    boxed = [t for t in fig.axes[0].texts if t.get_bbox_patch() is not None]
    assert len(boxed) == 2 and all(("mul(" in t.get_text()) or ("sin(" in t.get_text()) for t in boxed)
    fused = _graph(None)  # dslib's default passes fuse mul -> sin -> add into one node
    assert fused.count("fused") >= 1
    fig = cw.graph_step_figure(fused, 0, window=40)
    boxed = [t.get_text() for t in fig.axes[0].texts if t.get_bbox_patch() is not None]
    assert len(boxed) == fused.count("fused") and all("fused[" in t for t in boxed)


def test_step_figure_without_offsets_shows_the_live_bytes_curve():
    graph = _graph()
    fig = cw.graph_step_figure(graph, 2, lifetimes=_spans(graph))
    assert "bytes live at step 2" in fig.axes[1].get_title()
    fig = cw.graph_step_figure(graph, 2)
    assert any("lifetimes=" in t.get_text() for t in fig.axes[1].texts)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(step=99), ValueError, r"step must be an int in \[0, "),
        (dict(step=1.5), ValueError, "step must be an int"),
        (dict(step=0, groups=[[object()]]), ValueError, "is not a node of this graph"),
        (dict(step=0, offsets={}), ValueError, "offsets need lifetimes"),
        (dict(step=0, lifetimes=[1, 2]), TypeError, "lifetimes must be a dict"),
        (dict(step=0, lifetimes="bad"), TypeError, "lifetimes must be a dict"),
    ],
)
def test_step_figure_says_what_is_wrong(kwargs, error, match):
    with pytest.raises(error, match=match):
        cw.graph_step_figure(_graph(), **kwargs)


def test_step_figure_refuses_a_lifetime_that_ends_before_it_starts():
    graph = _graph()
    with pytest.raises(ValueError, match=r"must be \(first, last\), first <= last"):
        cw.graph_step_figure(graph, 0, lifetimes={graph.nodes[2]: (3, 1)})


def test_viewer_draws_at_once_and_redraws_when_the_step_moves():
    graph = _graph()
    spans = _spans(graph)
    viewer = cw.graph_step_viewer(graph, lifetimes=spans, step=1)
    assert isinstance(viewer.widget, ipywidgets.VBox)
    assert viewer.step.max == len(graph.nodes) - 1 and viewer.play.max == viewer.step.max
    first = bytes(viewer.picture.value)
    assert first.startswith(PNG_MAGIC) and viewer.status.value == ""
    viewer.step.value = 4
    assert bytes(viewer.picture.value).startswith(PNG_MAGIC) and bytes(viewer.picture.value) != first


def test_viewer_shows_an_error_as_a_message_and_keeps_the_last_picture(monkeypatch):
    graph = _graph()
    viewer = cw.graph_step_viewer(graph)
    before = bytes(viewer.picture.value)

    def unfinished(*args, **kwargs):
        raise NotImplementedError("Task 6.4 — not implemented yet: write the body of lifetimes")

    monkeypatch.setattr(cw, "graph_step_figure", unfinished)
    viewer.step.value = 2
    assert "NotImplementedError" in viewer.status.value and "Task 6.4" in viewer.status.value
    assert bytes(viewer.picture.value) == before


def test_viewer_refuses_an_empty_graph():
    class Empty:
        nodes = []

    with pytest.raises(ValueError, match="the graph has no nodes"):
        cw.graph_step_viewer(Empty())


def test_live_bytes_ignores_steps_outside_the_range():
    class N:
        meta = ((2,), "float32")

    a = N()
    assert cw.live_bytes({a: (-3, 1)}, 3) == [8, 8, 0]
    assert cw.live_bytes({a: (2, 10)}, 3) == [0, 0, 8]
    assert np.sum(cw.live_bytes({}, 4)) == 0
