"""labkit/widgets.py: the graph drawing (a plain matplotlib Figure) and the ipywidgets viewer, without a browser."""

from __future__ import annotations

import ipywidgets
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation

import labkit
from tests.labkit.scalar import UnfinishedValue, Value

VARS = {"a": 2.0, "b": -3.0, "c": 0.5}
PNG_MAGIC = b"\x89PNG"


def _texts(fig):
    """The node labels (the arrows are Annotations, a kind of Text, with no text)."""
    return [t.get_text() for t in fig.axes[0].texts if not isinstance(t, Annotation)]


def test_draw_graph_draws_a_box_per_value_and_a_circle_per_op_with_data_and_grad():
    root, note = labkit.build_expression("a*b + c.tanh()", VARS, Value)
    assert note == ""
    fig = labkit.draw_graph(root)
    assert isinstance(fig, Figure)
    texts = _texts(fig)
    # 3 leaves, a*b, tanh(c), the sum: 6 boxes; ops *, tanh, +: 3 circles
    assert len(texts) == 9
    assert sorted(t for t in texts if t in ("*", "+", "tanh")) == ["*", "+", "tanh"]
    assert "a\ndata 2\ngrad -3" in texts and "b\ndata -3\ngrad 2" in texts
    assert any(t.startswith("data -5.538") and t.endswith("grad 1") for t in texts)  # the root


def test_graph_figure_renders_to_png_without_a_browser():
    import io

    fig = labkit.graph_figure("(a - b).relu() * a / c", VARS, Value)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(PNG_MAGIC)
    assert fig.axes[0].get_title() == "(a - b).relu() * a / c"


def test_an_unfinished_backward_still_draws_the_graph_and_says_why_grads_are_missing():
    fig = labkit.graph_figure("a*b + c", VARS, UnfinishedValue)
    assert "gradients not computed yet: Task 1.4 — not implemented yet" in fig.axes[0].get_title()


def test_the_viewer_draws_at_once_and_redraws_when_the_expression_or_a_slider_changes():
    viewer = labkit.graph_viewer(Value, VARS, "a*b")
    assert isinstance(viewer.widget, ipywidgets.VBox)
    first = bytes(viewer.image.value)
    assert first.startswith(PNG_MAGIC) and viewer.root.data == -6.0
    viewer.expression.value = "a*b + c.tanh()"
    assert bytes(viewer.image.value) != first and viewer.root.data == pytest.approx(-6.0 + 0.46211715726)
    viewer.sliders["a"].value = 1.0
    assert viewer.root.data == pytest.approx(-3.0 + 0.46211715726)
    assert "= -2.538" in viewer.status.value


def test_a_bad_expression_or_a_failing_engine_shows_a_message_and_never_raises():
    viewer = labkit.graph_viewer(Value, VARS, "a*b")
    drawn = bytes(viewer.image.value)
    viewer.expression.value = "__import__('os')"
    assert "is not allowed here" in viewer.status.value and bytes(viewer.image.value) == drawn
    viewer.expression.value = "a / (b - b)"
    assert "ZeroDivisionError" in viewer.status.value


def test_the_viewer_displays_as_a_jupyter_widget():
    bundle = labkit.graph_viewer(Value, VARS)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
