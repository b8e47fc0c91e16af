"""labkit/graph.py: nodes of a scalar autograd graph, their layered layout, and the safe expression evaluator."""

from __future__ import annotations

import pytest

import labkit
from labkit.graph import ExpressionError
from tests.labkit.scalar import Value


def _leaf(name, value):
    v = Value(value)
    v.label = name
    return v


def test_collect_nodes_lists_every_node_once_inputs_first_even_on_a_deep_chain():
    x = Value(1.0)
    y = x
    for _ in range(10_000):
        y = y + x  # x is an input of every node
    nodes = labkit.collect_nodes(y)
    assert len(nodes) == 10_001 and len({id(n) for n in nodes}) == 10_001  # the adds and x, each once
    where = {id(n): i for i, n in enumerate(nodes)}
    assert all(where[id(p)] < where[id(n)] for n in nodes for p in n._prev)
    assert nodes[0] is x and nodes[-1] is y


def test_layout_puts_inputs_left_of_their_users_and_the_root_alone_on_the_right():
    root = labkit.evaluate_expression("(a*b + c).tanh() * a + b", {"a": 1.0, "b": 2.0, "c": 3.0}, _leaf)
    lay = labkit.layout_graph(root)
    for src, dst in lay.edges:
        assert lay.column[id(src)] < lay.column[id(dst)]
    last = max(lay.column.values())
    assert [n for n in lay.nodes if lay.column[id(n)] == last] == [root]
    for col in set(lay.column.values()):
        rows = [lay.row[id(n)] for n in lay.nodes if lay.column[id(n)] == col]
        assert len(set(rows)) == len(rows)  # no two nodes drawn on top of each other
    assert lay.n_columns == last + 1


def test_a_node_used_twice_has_one_edge_to_its_user():
    a = _leaf("a", 3.0)
    lay = labkit.layout_graph(a * a)
    assert len(lay.edges) == 1 and len(lay.nodes) == 2


def test_evaluate_expression_makes_one_leaf_per_variable_and_computes_the_value():
    made = []

    def make_leaf(name, value):
        made.append(name)
        return _leaf(name, value)

    out = labkit.evaluate_expression("a*a + b/2 - -a + a**2 + (b - a).relu()", {"a": 3.0, "b": 4.0}, make_leaf)
    assert sorted(made) == ["a", "b"]
    assert out.data == pytest.approx(9 + 2 + 3 + 9 + 1)


@pytest.mark.parametrize(
    "expr, message",
    [
        ("__import__('os').system('true')", "is not allowed here"),
        ("a.__class__", "is not allowed here"),
        ("a.tanh(1)", "is not allowed here"),
        ("(lambda: a)()", "is not allowed here"),
        ("d + a", "unknown name 'd': the variables are a, b"),
        ("a ** b", "the exponent of \\*\\* must be a number"),
        ("2 + 3", "has no variable in it"),
        ("a +", "not a valid expression"),
        ("3 .tanh()", "needs a variable"),
        ("a" + " + a" * 200, "longer than"),
        ("True + a", "is not allowed here"),
    ],
)
def test_evaluate_expression_refuses_anything_but_arithmetic_with_a_message(expr, message):
    with pytest.raises(ExpressionError, match=message):
        labkit.evaluate_expression(expr, {"a": 1.0, "b": 2.0}, _leaf)
