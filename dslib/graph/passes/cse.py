"""Common-subexpression elimination: two nodes running the same op on the same values become one.

The key of a node is (op, its inputs after earlier merges, its other arguments); nodes whose arguments
cannot be hashed (an inline array) are left alone. Small constants with equal values merge too, so
`x * 2` and `y * 2` end up reading one 0-d constant. Effects and ops whose ctx a backward node uses
(`needs_grad`) are never merged: each has its own side effect or its own saved values.
"""

from __future__ import annotations

from ..ir import Graph, Node


def _key(a, canon):
    if isinstance(a, Node):
        return ("node", id(canon.get(a, a)))
    if isinstance(a, (tuple, list)):
        return (type(a).__name__,) + tuple(_key(x, canon) for x in a)
    if isinstance(a, dict):
        return ("dict",) + tuple((k, _key(v, canon)) for k, v in a.items())
    if hasattr(a, "shape"):
        raise TypeError("inline array")
    hash(a)  # raises TypeError for unhashable arguments
    return (type(a).__name__, a)


def _node_key(n: Node, canon):
    if n.kind == "const":
        v = n.value
        if getattr(v, "ndim", 1) != 0:
            return None
        return ("const", n.meta, type(v).__name__, str(getattr(v, "device", "")), v.item())
    if n.kind not in ("op", "call") or n.effect or n.needs_grad is not None:
        return None
    try:
        return (n.kind, n.target, _key(n.args, canon), _key(n.kwargs, canon))
    except TypeError:
        return None


def common_subexpression_elimination(graph: Graph) -> int:
    seen: dict = {}
    canon: dict = {}  # merged node -> the node that replaces it
    for n in graph.nodes:
        key = _node_key(n, canon)
        if key is None:
            continue
        if key in seen:
            canon[n] = seen[key]
        else:
            seen[key] = n
    if canon:
        graph.replace_uses(canon)
        graph.nodes = [n for n in graph.nodes if n not in canon]
    return len(canon)
