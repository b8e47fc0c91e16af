"""labkit.compiler_widgets: step through a captured dslib graph node by node, with its fused groups and the
buffers that are live at each step (lab 06, "Inside the compiler").

    fig = labkit.graph_step_figure(graph, step=12, groups=groups, lifetimes=lt, offsets=off)  # a matplotlib Figure
    labkit.graph_step_viewer(graph, groups=groups, lifetimes=lt, offsets=off)   # ipywidgets, in a notebook

`graph` is a `dslib.graph.Graph` (`dslib.compile(f).graph`); step i is `graph.nodes[i]`. Every argument after it
is optional, and each is what a lab task returns:
  groups     a list of lists of nodes fused together (Task 6.2); a `fused` node of an already fused graph is
             coloured as its own group without being listed;
  lifetimes  {node: (first step, last step)}: the value of `node` is live at steps first..last (Task 6.4);
  offsets    {node: byte offset in the arena} (Task 6.5).

The figure shows, left, the IR lines around the step (the current one marked `>`, fused groups on a coloured
background, a dot before each value live at the step) and, right, the arena: one rectangle per buffer spanning
its lifetime (x) and its bytes (y), those live at the step in colour, the rest grey. Without offsets the right
panel shows the bytes live at each step instead. The viewer is a slider (and a play button) over the steps;
it never waits for input, so a notebook that shows it still runs top to bottom under papermill.

Tests: .venv/bin/pytest tests/labkit/test_compiler_widgets.py -q
"""

from __future__ import annotations

import html
import math

from .widgets import png

__all__ = ["GraphStepViewer", "graph_step_figure", "graph_step_viewer", "ir_lines", "live_bytes"]

_PALETTE = ("#ffd8a8", "#b2f2bb", "#a5d8ff", "#eebefa", "#ffec99", "#c3fae8", "#ffc9c9", "#d0bfff")
_LIVE = "#1971c2"  # a live buffer with no group colour


def _nbytes(meta) -> int:
    """Bytes of a node's value from its meta: (shape, dtype name), or a list of them for a tuple value."""
    from dslib import dtypes

    if meta is None:
        return 0
    if isinstance(meta, list):
        return sum(_nbytes(m) for m in meta)
    shape, dtype = meta
    return math.prod(shape) * dtypes.get(dtype).itemsize


def _fmt_bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def ir_lines(graph) -> list[str]:
    """The printed IR line of every node, in order: `str(graph)` without its header, its return line and the
    `# ---- forward ----` section lines of a training graph."""
    lines = [line.strip() for line in str(graph).splitlines()[1:-2] if not line.strip().startswith("#")]
    if len(lines) != len(graph.nodes):  # printed otherwise than one line per node: format each node alone
        from dslib.graph.ir import _format

        lines = [" ".join(_format(n).split()) for n in graph.nodes]
    return lines


def live_bytes(lifetimes: dict, n_steps: int) -> list[int]:
    """Bytes live at each step 0..n_steps-1: the sum of the sizes of values with first <= step <= last."""
    out = [0] * n_steps
    for node, (first, last) in lifetimes.items():
        size = _nbytes(node.meta)
        for i in range(max(first, 0), min(last, n_steps - 1) + 1):
            out[i] += size
    return out


def _colours(graph, groups) -> dict:
    """node -> background colour: one per group of `groups`, and one per fused node of the graph."""
    colour: dict = {}
    k = 0
    for members in groups or ():
        for node in members:
            colour[node] = _PALETTE[k % len(_PALETTE)]
        k += 1
    for node in graph.nodes:
        if node.kind == "fused" and node not in colour:
            colour[node], k = _PALETTE[k % len(_PALETTE)], k + 1
    return colour


def _check(graph, step, groups, lifetimes, offsets) -> None:
    n = len(graph.nodes)
    if not isinstance(step, int) or not 0 <= step < n:
        raise ValueError(f"graph_step_figure: step must be an int in [0, {n}), got {step!r}")
    known = set(graph.nodes)
    for members in groups or ():
        stray = [m for m in members if m not in known]
        if stray:
            raise ValueError(f"graph_step_figure: group member {stray[0]!r} is not a node of this graph")
    for name, table in (("lifetimes", lifetimes), ("offsets", offsets)):
        if table is not None and not isinstance(table, dict):
            raise TypeError(f"graph_step_figure: {name} must be a dict keyed by node, got {type(table).__name__}")
    if offsets is not None and lifetimes is None:
        raise ValueError("graph_step_figure: offsets need lifetimes (which steps each buffer is live)")
    for node, span in (lifetimes or {}).items():
        if not (isinstance(span, tuple) and len(span) == 2 and span[0] <= span[1]):
            raise ValueError(f"graph_step_figure: lifetimes[{node!r}] must be (first, last), first <= last: {span!r}")


def graph_step_figure(graph, step: int, groups=None, lifetimes=None, offsets=None, window: int = 16):
    """A matplotlib Figure of the graph at `step`: the IR around it and the buffers live there (module docstring)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    _check(graph, step, groups, lifetimes, offsets)
    lines, colour = ir_lines(graph), _colours(graph, groups)
    live = {n for n, (a, b) in (lifetimes or {}).items() if a <= step <= b}
    fig = Figure(figsize=(12.5, 4.6))
    ax_ir, ax_mem = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
    lo = max(0, min(step - window // 2, len(lines) - window))
    shown = range(lo, min(len(lines), lo + window))
    ax_ir.set_axis_off()
    ax_ir.set_xlim(0, 1)
    ax_ir.set_ylim(-len(shown) - 0.5, 0.5)
    for row, i in enumerate(shown):
        node = graph.nodes[i]
        text = lines[i] if len(lines[i]) <= 78 else lines[i][:75] + "..."
        mark = (">" if i == step else " ") + ("\u25cf" if node in live else " ")
        box = dict(boxstyle="square,pad=0.15", fc=colour[node], ec="none") if node in colour else None
        ax_ir.text(0.0, -row, f"{mark} {i:>3} {text}", family="monospace", fontsize=8, va="center",
                   fontweight="bold" if i == step else "normal", bbox=box)  # fmt: skip
    ax_ir.set_title(f"step {step} of {len(lines) - 1}   (\u25cf live at this step; colour: fused group)", fontsize=9)
    n = len(graph.nodes)
    if lifetimes and offsets is not None:
        top = 1
        for node, (first, last) in lifetimes.items():
            if node not in offsets:
                continue
            size, off = _nbytes(node.meta), offsets[node]
            top = max(top, off + size)
            fc = colour.get(node, _LIVE) if node in live else "#dee2e6"
            ax_mem.add_patch(Rectangle((first - 0.4, off), last - first + 0.8, size, fc=fc, ec="#495057", lw=0.4))
        ax_mem.set_ylim(0, top * 1.02)
        ax_mem.set_ylabel("arena offset (bytes)")
        ax_mem.set_title(f"arena {_fmt_bytes(top)}: each buffer's lifetime (x) and slot (y)", fontsize=9)
    elif lifetimes:
        curve = live_bytes(lifetimes, n)
        ax_mem.fill_between(range(n), curve, step="mid", color="#a5d8ff")
        ax_mem.set_ylim(0, max(curve + [1]) * 1.05)
        ax_mem.set_ylabel("bytes live")
        ax_mem.set_title(f"bytes live at step {step}: {_fmt_bytes(curve[step])}", fontsize=9)
    else:
        ax_mem.text(0.5, 0.5, "pass lifetimes= (and offsets=)\nto see the buffers", ha="center", va="center")
    ax_mem.set_xlim(-1, n)
    ax_mem.axvline(step, color="#e03131", lw=1.2)
    ax_mem.set_xlabel("step (node index)")
    fig.tight_layout()
    return fig


class GraphStepViewer:
    """A step slider with a play button, and the figure; `.widget` is the ipywidgets box."""

    def __init__(self, graph, groups=None, lifetimes=None, offsets=None, step: int = 0):
        import ipywidgets as W

        if not getattr(graph, "nodes", None):
            raise ValueError("GraphStepViewer: the graph has no nodes: pass dslib.compile(f).graph after a call")
        _check(graph, step, groups, lifetimes, offsets)
        self.graph, self.groups, self.lifetimes, self.offsets = graph, groups, lifetimes, offsets
        last = len(graph.nodes) - 1
        self.step = W.IntSlider(step, 0, last, description="step", continuous_update=False)
        self.play = W.Play(value=step, min=0, max=last, interval=700, description="play")
        W.jslink((self.play, "value"), (self.step, "value"))
        self.status = W.HTML()
        self.picture = W.Image(format="png")
        self.step.observe(lambda change: self.redraw(), names="value")
        self.widget = W.VBox([W.HBox([self.play, self.step]), self.status, self.picture])
        self.redraw()

    def figure(self):
        return graph_step_figure(self.graph, self.step.value, self.groups, self.lifetimes, self.offsets)

    def redraw(self) -> None:
        """Draw the current step; an error shows as a message (the last picture stays), never raises."""
        try:
            fig = self.figure()
        except Exception as e:  # noqa: BLE001 - shown to the student
            self.status.value = f"<b style='color:#b00'>{type(e).__name__}: {html.escape(str(e))}</b>"
            return
        self.status.value = ""
        self.picture.value = png(fig, dpi=72)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def graph_step_viewer(graph, groups=None, lifetimes=None, offsets=None, step: int = 0) -> GraphStepViewer:
    """An interactive step-by-step graph viewer (display it as a cell's last line); see the module docstring."""
    return GraphStepViewer(graph, groups, lifetimes, offsets, step)
