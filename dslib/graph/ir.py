"""The graph IR: a static, SSA list of `Node`s that `dslib.compile` captures and replays.

Every node defines one value, once. Kinds:
  input  the i-th tensor argument of the compiled call
  param  a module parameter/buffer (or a tensor the function closes over): read live at every replay,
         so an optimizer step between calls is seen
  const  an array fixed at capture (a number turned 0-d tensor, a tensor created inside the function)
  op     a dslib `Function`: replay calls `target.forward(ctx, *arrays, **kwargs)`, the backend kernel
  call   a dslib api function that bypasses `Function.apply` (comparisons, argmax, isfinite, ...)
  fused  a chain of elementwise ops run as one kernel (`passes/fusion.py`)

`args` is a template: nested tuples/lists/dicts whose `Node` leaves are replaced by arrays at replay.
`print(graph)` shows one line per node, `%5 = matmul(%3, %fc1.weight) : float32[64, 128]`.
"""

from __future__ import annotations


class Node:
    __slots__ = ("kind", "target", "args", "kwargs", "meta", "name", "value")

    def __init__(self, kind, target=None, args=(), kwargs=None, meta=None, name=None, value=None):
        self.kind = kind
        self.target = target  # Function class, api function, or fused program
        self.args = args
        self.kwargs = kwargs or {}
        self.meta = meta  # (shape tuple, dtype name) of the value
        self.name = name
        self.value = value  # const: the array; param: the live Tensor

    @property
    def op_name(self) -> str:
        if self.kind == "fused":
            return "fused[" + ", ".join(n.op_name for n in self.target.nodes) + "]"
        return getattr(self.target, "__name__", str(self.target)).lower()

    def inputs(self) -> list:
        """The nodes this node reads, in order (with repeats)."""
        out: list = []
        walk(self.args, out.append)
        walk(self.kwargs, out.append)
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
            if n.kind in ("op", "call", "fused"):
                n.name, k = str(k), k + 1

    def count(self, kind=None) -> int:
        return sum(1 for n in self.nodes if kind is None or n.kind == kind)

    def __str__(self):
        lines = ["graph("]
        for n in self.nodes:
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
            style = ', style=filled, fillcolor="#dde8ff"' if n.kind in ("input", "param") else ""
            out.append(f'  {ids[n]} [label="{label}"{style}];')
            for i in dict.fromkeys(n.inputs()):
                out.append(f"  {ids[i]} -> {ids[n]};")
        out.append('  out [shape=oval, label="return"];')
        walk(self.outputs, lambda n: out.append(f"  {ids[n]} -> out;"))
        out.append("}")
        return "\n".join(out)


def _fmt_type(meta) -> str:
    if meta is None:
        return "?"
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
    return f"%{n.name} = {n.op_name}({', '.join(parts)}) : {t}"
