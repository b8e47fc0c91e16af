"""Dead-code elimination: drop every node that neither an output nor a side effect depends on.

Inputs stay (they are the signature), and so do effects (`node.effect`: setgrad, optimizer steps, assigns,
BatchNorm's running-stat update) and everything they read. Every other captured op is pure.
"""

from __future__ import annotations

from ..ir import Graph, walk


def dead_code_elimination(graph: Graph) -> int:
    live: set = set()
    walk(graph.outputs, live.add)
    for node in reversed(graph.nodes):
        if node in live or node.effect:
            live.add(node)
            live.update(node.inputs())
    before = len(graph.nodes)
    graph.nodes = [n for n in graph.nodes if n in live or n.kind == "input"]
    return before - len(graph.nodes)
