"""Dead-code elimination: drop every node that no output depends on (inputs stay: they are the signature).

Safe because captured ops are pure: capture rejects in-place updates, so no op matters for its side effects.
"""

from __future__ import annotations

from ..ir import Graph, walk


def dead_code_elimination(graph: Graph) -> int:
    live: set = set()
    walk(graph.outputs, live.add)
    for node in reversed(graph.nodes):
        if node in live:
            live.update(node.inputs())
    before = len(graph.nodes)
    graph.nodes = [n for n in graph.nodes if n in live or n.kind == "input"]
    return before - len(graph.nodes)
