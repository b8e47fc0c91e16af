"""The graph IR: a static, SSA list of `Node`s that `dslib.compile` captures and replays.

Every node defines one value, once. Kinds:
  input  the i-th tensor argument of the compiled call
  param  a module parameter/buffer (or a tensor the function closes over): read live at every replay,
         so an optimizer step between calls is seen
  const  an array fixed at capture (a number turned 0-d tensor, a tensor created inside the function)
  op     a dslib `Function`: replay calls `target.forward(ctx, *arrays, **kwargs)`, the backend kernel
  call   a dslib api function that bypasses `Function.apply` (comparisons, argmax, isfinite, ...)
  fused  a chain of elementwise ops run as one kernel (`passes/fusion.py`)
Training graphs (a captured forward + backward + optimizer step, see training.py) add:
  backward  a Function's backward: args (forward node, grad node, *saved nodes); its value is the tuple of
            input gradients, already fitted to each input's shape and dtype; meta is a list of metas
  getitem   args (backward node, i): the i-th gradient of that tuple
  effect    an ordered side effect, replayed in order and never dropped or merged: `setgrad` (accumulate
            into a leaf's .grad), `cleargrad` (p.grad = None), `assign` (an in-place write into a
            parameter/buffer/input), `call` (an opaque method such as optimizer.step()); target: an `Effect`
Attributes: `needs_grad` (an op's ctx.needs_input_grad when its ctx is kept for a backward node, else None),
`phase` ("forward", "backward" or "update"), `effect` (True: a pass must keep it, in order, unmerged; also set
on ops that update state in place, BatchNorm in train mode).

`args` is a template: nested tuples/lists/dicts whose `Node` leaves are replaced by arrays at replay.
`print(graph)` shows one line per node, `%5 = matmul(%3, %fc1.weight) : float32[64, 128]`.
"""

from __future__ import annotations


def meta_of(array) -> tuple:
    """(shape tuple, dtype name) of a raw array: a node's `meta`."""
    return tuple(array.shape), str(array.dtype).replace("torch.", "")


class Node:
    __slots__ = ("kind", "target", "args", "kwargs", "meta", "name", "value", "needs_grad", "phase", "effect", "aux")

    def __init__(self, kind, target=None, args=(), kwargs=None, meta=None, name=None, value=None):
        self.kind = kind
        self.target = target  # Function class, api function, or fused program
        self.args = args
        self.kwargs = kwargs or {}
        self.meta = meta  # (shape tuple, dtype name) of the value
        self.name = name
        self.value = value  # const: the array; param: the live Tensor
        self.needs_grad = None  # op: ctx.needs_input_grad, when a backward node uses its ctx
        self.phase = "forward"  # forward / backward / update: where in the step it was recorded
        self.effect = kind == "effect"  # a side effect: kept by DCE, never merged by CSE, never reordered
        self.aux = None  # backward: (input metas, tensor positions) for FunctionNode; else None

    @property
    def op_name(self) -> str:
        if self.kind == "fused":
            return "fused[" + ", ".join(n.op_name for n in self.target.nodes) + "]"
        if self.kind == "getitem":
            return "getitem"
        if self.kind == "backward":
            return self.target.__name__.lower() + ".backward"
        return getattr(self.target, "__name__", str(self.target)).lower()

    def inputs(self) -> list:
        """The nodes this node reads, in order (with repeats)."""
        out: list = []
        walk(self.args, out.append)
        walk(self.kwargs, out.append)
        return out

    def value_inputs(self) -> list:
        """The nodes whose *values* this node reads: a backward node reads its forward node's ctx only."""
        out = self.inputs()
        if self.kind == "backward":
            out.pop(0)
        return out

    def __repr__(self):
        return "%" + str(self.name)


def walk(template, visit):
    """Call visit(node) on every Node leaf of a nested tuple/list/dict template."""
    if isinstance(template, Node):
        visit(template)
    elif isinstance(template, (tuple, list)):
        for t in template:
            walk(t, visit)
    elif isinstance(template, dict):
        for t in template.values():
            walk(t, visit)


def substitute(template, fn):
    """A copy of `template` with each Node leaf replaced by fn(node)."""
    if isinstance(template, Node):
        return fn(template)
    if isinstance(template, (tuple, list)):
        return type(template)(substitute(t, fn) for t in template)
    if isinstance(template, dict):
        return {k: substitute(v, fn) for k, v in template.items()}
    return template


class Graph:
    """Nodes in execution order, and the output template (the function's return with Nodes as leaves)."""

    def __init__(self, nodes, outputs):
        self.nodes = nodes
        self.outputs = outputs

    def users(self) -> dict:
        """node -> number of reads by other nodes and the outputs."""
        count = {n: 0 for n in self.nodes}

        def bump(n):
            count[n] = count.get(n, 0) + 1

        for n in self.nodes:
            for i in n.inputs():
                bump(i)
        walk(self.outputs, bump)
        return count

    def replace_uses(self, old_to_new: dict) -> None:
        """Rewrite every read of a key node into a read of its value node."""

        def sub(n):
            while n in old_to_new:
                n = old_to_new[n]
            return n

        for n in self.nodes:
            n.args, n.kwargs = substitute(n.args, sub), substitute(n.kwargs, sub)
        self.outputs = substitute(self.outputs, sub)

    def renumber(self) -> None:
        """Give op nodes consecutive names %0, %1, ... in order (inputs and params keep theirs)."""
        k = 0
        for n in self.nodes:
            if n.kind not in ("input", "param", "const"):
                n.name, k = str(k), k + 1

    def count(self, kind=None) -> int:
        return sum(1 for n in self.nodes if kind is None or n.kind == kind)

    def __str__(self):
        lines = ["graph("]
        sections = len({n.phase for n in self.nodes if n.kind != "input"}) > 1  # a training graph: mark phases
        phase = None
        for n in self.nodes:
            if sections and n.phase != phase and n.kind != "input":  # (inputs are the signature, on top)
                phase = n.phase
                lines.append(f"  # ---- {phase} ----")
            lines.append("  " + _format(n))
        lines.append(f"  return {_fmt_arg(self.outputs)}")
        lines.append(")")
        return "\n".join(lines)

    def to_dot(self) -> str:
        """The graph in Graphviz dot: `dot -Tsvg` it for a picture."""
        out = ["digraph G {", '  node [shape=box, fontname="monospace"];']
        ids = {n: f"n{i}" for i, n in enumerate(self.nodes)}
        for n in self.nodes:
            label = f"%{n.name}" if n.kind in ("input", "param", "const") else f"%{n.name} = {n.op_name}"
            label += "\\n" + _fmt_type(n.meta)
            color = "#dde8ff" if n.kind in ("input", "param") else _PHASE_COLOR.get(n.phase)
            style = f', style=filled, fillcolor="{color}"' if color else ""
            style += ", shape=octagon" if n.effect else ""
            out.append(f'  {ids[n]} [label="{label}"{style}];')
            for i in dict.fromkeys(n.inputs()):
                out.append(f"  {ids[i]} -> {ids[n]};")
        out.append('  out [shape=oval, label="return"];')
        walk(self.outputs, lambda n: out.append(f"  {ids[n]} -> out;"))
        out.append("}")
        return "\n".join(out)


_PHASE_COLOR = {"backward": "#ffe4dd", "update": "#ddffe4"}


def _fmt_type(meta) -> str:
    if meta is None:
        return "?"
    if isinstance(meta, list):  # a backward node's tuple of gradients
        return "(" + ", ".join("None" if m is None else _fmt_type(m) for m in meta) + ")"
    shape, dtype = meta
    return f"{dtype}[{', '.join(str(s) for s in shape)}]"


def _fmt_arg(a) -> str:
    if isinstance(a, Node):
        return repr(a)
    if isinstance(a, tuple):
        return "(" + ", ".join(_fmt_arg(x) for x in a) + ("," if len(a) == 1 else "") + ")"
    if isinstance(a, list):
        return "[" + ", ".join(_fmt_arg(x) for x in a) + "]"
    if isinstance(a, dict):
        return "{" + ", ".join(f"{k}: {_fmt_arg(v)}" for k, v in a.items()) + "}"
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return f"<array {tuple(a.shape)}>"
    text = getattr(a, "__name__", None) or repr(a)
    return text if len(text) <= 40 else text[:37] + "..."


def _format(n: Node) -> str:
    t = _fmt_type(n.meta)
    if n.kind == "input":
        return f"%{n.name} = input : {t}"
    if n.kind == "param":
        return f"%{n.name} = param : {t}"
    if n.kind == "const":
        v = n.value
        shown = f" {v.item()!r}" if getattr(v, "ndim", 1) == 0 else ""
        return f"%{n.name} = const{shown} : {t}"
    parts = [_fmt_arg(a) for a in n.args] + [f"{k}={_fmt_arg(v)}" for k, v in n.kwargs.items()]
    if n.kind == "backward":  # linear.backward(ctx of %fwd, grad, saved values...)
        return f"%{n.name} = {n.op_name}(ctx={parts[0]}, {', '.join(parts[1:])}) : {t}"
    if n.kind == "getitem":
        return f"%{n.name} = {parts[0]}[{parts[1]}] : {t}"
    if n.kind == "effect" and n.meta is None:
        return f"{n.op_name}({', '.join(parts)})"
    return f"%{n.name} = {n.op_name}({', '.join(parts)}) : {t}"
