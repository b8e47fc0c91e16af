"""labkit.widgets: draw a scalar autograd graph with matplotlib, and an ipywidgets viewer around it.

    fig = labkit.draw_graph(root)                                   # a matplotlib Figure, no browser needed
    fig = labkit.graph_figure("a*b + c.tanh()", {"a": 2.0, "b": -3.0, "c": 0.5}, Value)
    labkit.graph_viewer(Value, {"a": 2.0, "b": -3.0, "c": 0.5}, "a*b + c.tanh()")   # in a notebook

Each value is a box (its label, data and grad), each op a small circle feeding its output; the layout is
labkit.graph's layered one (no graphviz needed). The viewer re-evaluates the typed expression with the
student's `Value` class, calls `root.backward()` and redraws when the text or a slider changes. It never
blocks, so a notebook that shows it still runs top to bottom under papermill.
"""

from __future__ import annotations

import io

from .graph import ExpressionError, evaluate_expression, layout_graph

__all__ = ["GraphViewer", "build_expression", "draw_graph", "graph_figure", "graph_viewer"]

_X_STEP = 3.2  # horizontal distance between columns, in data units
_OP_OFFSET = 1.25  # an op's circle sits this far left of its output's box
_COLORS = {"leaf": "#dbe9f6", "inner": "#eeeeee", "root": "#d5f0d5", "op": "#fff2b3"}


def _fmt(x) -> str:
    try:
        return f"{float(x):.4g}"
    except (TypeError, ValueError):
        return "?"


def draw_graph(root, title: str | None = None, show_grad: bool = True):
    """A matplotlib Figure of the graph that produced `root` (see the module docstring for the node protocol)."""
    from matplotlib.figure import Figure

    lay = layout_graph(root)
    n_cols, n_rows = lay.n_columns, lay.n_rows
    fig = Figure(figsize=(min(18.0, 1.5 + 2.4 * n_cols), min(14.0, 1.2 + 0.95 * n_rows)))
    ax = fig.add_subplot()
    ax.set_axis_off()
    boxes, circles = {}, {}
    for n in lay.nodes:
        x, y = lay.column[id(n)] * _X_STEP, -lay.row[id(n)]
        kind = "root" if n is root else ("leaf" if not tuple(n._prev) else "inner")
        lines = [str(getattr(n, "label", "") or "")] if getattr(n, "label", "") else []
        lines.append(f"data {_fmt(n.data)}")
        if show_grad:
            lines.append(f"grad {_fmt(n.grad)}")
        boxes[id(n)] = ax.text(
            x,
            y,
            "\n".join(lines),
            ha="center",
            va="center",
            family="monospace",
            fontsize=9,
            bbox=dict(boxstyle="round,pad=0.4", fc=_COLORS[kind], ec="#555555"),
        )
        if getattr(n, "_op", ""):
            circles[id(n)] = ax.text(
                x - _OP_OFFSET,
                y,
                str(n._op),
                ha="center",
                va="center",
                fontsize=10,
                fontweight="bold",
                bbox=dict(boxstyle="circle,pad=0.3", fc=_COLORS["op"], ec="#555555"),
            )
            _arrow(ax, circles[id(n)], boxes[id(n)])
    for src, dst in lay.edges:
        skips = lay.column[id(dst)] - lay.column[id(src)] > 1  # a long edge: bend it around the columns between
        _arrow(ax, boxes[id(src)], circles.get(id(dst), boxes[id(dst)]), bend=0.25 if skips else 0.0)
    rows = [-r for r in lay.row.values()]
    ax.set_xlim(-_OP_OFFSET - 1.4, (n_cols - 1) * _X_STEP + 1.4)
    ax.set_ylim(min(rows) - 0.8, max(rows) + 0.8)
    if title:
        ax.set_title(title, family="monospace")
    fig.tight_layout()
    return fig


def _arrow(ax, src_text, dst_text, bend=0.0):
    src, dst = src_text.get_position(), dst_text.get_position()
    ax.annotate(
        "",
        xy=dst,
        xytext=src,
        arrowprops=dict(
            arrowstyle="-|>",
            color="#555555",
            shrinkA=0,
            shrinkB=0,
            connectionstyle=f"arc3,rad={bend}",
            patchA=src_text.get_bbox_patch(),
            patchB=dst_text.get_bbox_patch(),
        ),
    )


def build_expression(expr: str, variables: dict, value_cls, backward: bool = True):
    """(root, note): evaluate `expr` with leaves `value_cls(value)` labelled by name, then `root.backward()`.

    `note` is "" or says why gradients are missing (a task not done yet raises NotImplementedError: the
    graph is still returned, with the gradients as they are)."""

    def make_leaf(name, value):
        leaf = value_cls(float(value))
        leaf.label = name
        return leaf

    root = evaluate_expression(expr, variables, make_leaf)
    note = ""
    if backward:
        try:
            root.backward()
        except NotImplementedError as e:
            note = f"gradients not computed yet: {e}"
    return root, note


def graph_figure(expr: str, variables: dict, value_cls, backward: bool = True):
    """The Figure of `expr`'s graph (with gradients after backward): what the viewer shows, without a browser."""
    root, note = build_expression(expr, variables, value_cls, backward)
    return draw_graph(root, title=expr if not note else f"{expr}\n({note})")


def png(fig, dpi: int = 80) -> bytes:
    """A Figure as PNG bytes: what every labkit viewer puts in its ipywidgets Image."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class GraphViewer:
    """A text box for the expression, a slider per variable and the drawing; `.widget` is the ipywidgets box."""

    def __init__(self, value_cls, variables: dict, expr: str = "a*b + c.tanh()", value_range=(-3.0, 3.0)):
        import ipywidgets as W

        self.value_cls = value_cls
        self.expression = W.Text(
            value=expr, description="expression", continuous_update=False, layout=W.Layout(width="480px")
        )
        self.sliders = {
            name: W.FloatSlider(
                value=float(v),
                min=value_range[0],
                max=value_range[1],
                step=0.1,
                description=name,
                continuous_update=False,
            )
            for name, v in variables.items()
        }
        self.status = W.HTML()
        self.image = W.Image(format="png")
        self.root = None
        self.expression.observe(lambda change: self.redraw(), names="value")
        for s in self.sliders.values():
            s.observe(lambda change: self.redraw(), names="value")
        self.widget = W.VBox([self.expression, W.HBox(list(self.sliders.values())), self.status, self.image])
        self.redraw()

    @property
    def variables(self) -> dict:
        return {name: s.value for name, s in self.sliders.items()}

    def redraw(self) -> None:
        """Evaluate, backpropagate and draw; a bad expression or a missing task shows a message, never raises."""
        import html

        expr = self.expression.value
        try:
            self.root, note = build_expression(expr, self.variables, self.value_cls)
        except ExpressionError as e:
            self.status.value = f"<b style='color:#b00'>{html.escape(str(e))}</b>"
            return
        except Exception as e:  # the student's engine failed: say where, keep the last drawing
            self.status.value = f"<b style='color:#b00'>{type(e).__name__}: {html.escape(str(e))}</b>"
            return
        out = self.root
        self.status.value = f"<code>{html.escape(expr)}</code> = {_fmt(out.data)}" + (
            f" &mdash; {html.escape(note)}" if note else ""
        )
        self.image.value = png(draw_graph(out, show_grad=not note))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def graph_viewer(value_cls, variables: dict, expr: str = "a*b + c.tanh()") -> GraphViewer:
    """An interactive viewer of `expr`'s graph built with `value_cls` (display it as a cell's last line)."""
    return GraphViewer(value_cls, variables, expr)
