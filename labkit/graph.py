"""labkit.graph: the computation graph of a scalar autograd engine, as data: its nodes, a layered layout, and
a safe evaluator for expressions such as "a*b + c.tanh()".

No plotting here (that is labkit.widgets). A node is any object with the micrograd protocol:
`data` and `grad` (numbers), `_prev` (the nodes it was computed from) and `_op` (a short string such as
"+", empty for a leaf), and optionally `label`.

The layout is a layered drawing (Sugiyama-style, simplified): a node's column is its depth, the longest
path from a leaf to it, so every edge points right and the root is alone in the last column; within a
column, nodes are ordered by the mean row of their neighbours (the barycentre heuristic) to cut crossings.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

__all__ = ["ExpressionError", "GraphLayout", "collect_nodes", "evaluate_expression", "layout_graph"]

METHODS = ("tanh", "exp", "relu")  # the unary methods an expression may call
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
MAX_EXPRESSION_CHARS = 300
MAX_EXPRESSION_NODES = 200


def collect_nodes(root) -> list:
    """Every node reachable from `root` through `_prev`, each once, inputs before the nodes using them.

    Iterative (an explicit stack), so a chain of any length works."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for child in reversed(tuple(node._prev)):
            if id(child) not in visited:
                stack.append((child, False))
    return order


@dataclass
class GraphLayout:
    nodes: list  # topological order: inputs first, the root last
    column: dict = field(default_factory=dict)  # id(node) -> column (depth: longest path from a leaf)
    row: dict = field(default_factory=dict)  # id(node) -> vertical position (rows centred on 0)
    edges: list = field(default_factory=list)  # (input node, node) pairs, each pair once

    @property
    def n_columns(self) -> int:
        return 1 + max(self.column.values())

    @property
    def n_rows(self) -> int:
        counts: dict = {}
        for c in self.column.values():
            counts[c] = counts.get(c, 0) + 1
        return max(counts.values())


def layout_graph(root) -> GraphLayout:
    """Columns by depth, rows by the barycentre heuristic (two sweeps)."""
    nodes = collect_nodes(root)
    lay = GraphLayout(nodes)
    parents: dict = {id(n): [] for n in nodes}
    for n in nodes:
        prev = list(dict.fromkeys(id(p) for p in n._prev))
        by_id = {id(p): p for p in n._prev}
        lay.column[id(n)] = 1 + max((lay.column[i] for i in prev), default=-1)
        for i in prev:
            lay.edges.append((by_id[i], n))
            parents[i].append(n)
    columns: dict = {}
    for n in nodes:
        columns.setdefault(lay.column[id(n)], []).append(n)

    def place(col_nodes):
        k = len(col_nodes)
        for i, n in enumerate(col_nodes):
            lay.row[id(n)] = i - (k - 1) / 2

    def mean_row(ids, default):
        rows = [lay.row[i] for i in ids if i in lay.row]
        return sum(rows) / len(rows) if rows else default

    for c in sorted(columns):  # first placement: discovery order
        place(columns[c])
    for _ in range(2):
        for c in sorted(columns)[1:]:  # left to right: follow the inputs
            columns[c].sort(key=lambda n: mean_row([id(p) for p in n._prev], lay.row[id(n)]))
            place(columns[c])
        columns[0].sort(key=lambda n: mean_row([id(p) for p in parents[id(n)]], lay.row[id(n)]))
        place(columns[0])  # then the leaves follow their users
    return lay


class ExpressionError(ValueError):
    """An expression the graph viewer cannot evaluate, with a message for the student."""


def evaluate_expression(expr: str, variables: dict, make_leaf):
    """Evaluate `expr` ("a*b + c.tanh()") with one leaf per variable, made by `make_leaf(name, value)`.

    Only numbers, the variables, + - * / ** (unary minus too) and the methods .tanh() .exp() .relu() are
    allowed: the expression is walked as a syntax tree, never passed to eval()."""
    if len(expr) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"not a valid expression: {e.msg}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_EXPRESSION_NODES:
        raise ExpressionError("the expression is too long to draw")
    leaves: dict = {}

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in variables:
                raise ExpressionError(f"unknown name {node.id!r}: the variables are {', '.join(variables)}")
            if node.id not in leaves:  # one leaf per variable: `a*a` uses the same node twice
                leaves[node.id] = make_leaf(node.id, variables[node.id])
            return leaves[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = ev(node.left), ev(node.right)
            op = _BINOPS[type(node.op)]
            if op == "+":
                return left + right
            if op == "-":
                return left - right
            if op == "*":
                return left * right
            if op == "/":
                return left / right
            if not isinstance(right, (int, float)):
                raise ExpressionError("the exponent of ** must be a number, as in a**2")
            return left**right
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = ev(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in METHODS
            and not node.args
            and not node.keywords
        ):
            value = ev(node.func.value)
            if isinstance(value, (int, float)):
                raise ExpressionError(f".{node.func.attr}() needs a variable, not a plain number")
            return getattr(value, node.func.attr)()
        allowed = "numbers, " + ", ".join(variables) + ", + - * / **, and " + " ".join(f".{m}()" for m in METHODS)
        raise ExpressionError(f"{ast.unparse(node)!r} is not allowed here: use {allowed}")

    result = ev(tree)
    if isinstance(result, (int, float)):
        raise ExpressionError("the expression has no variable in it: use at least one of " + ", ".join(variables))
    return result
