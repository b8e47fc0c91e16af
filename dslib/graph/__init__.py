"""dslib.graph: graph mode. Capture a function into a static SSA graph, optimize it, replay it.

    fast = dslib.compile(model)   # compile.py: guards, the graph cache
    fast(x); print(fast.graph)    # capture.py records, ir.py prints, executor.py replays
    dslib.graph.passes            # dce, cse, constant_fold, fusion
    @dslib.compile def step(x, y): ...; loss.backward(); opt.step()   # training.py: a whole training step

See compile.py for what is guarded and capture.py for what capture rejects (and why).
"""

from .capture import GraphCaptureError, capture
from .compile import CompiledFunction, GuardError, compile
from .executor import Executor
from .ir import Graph, Node
from .training import Effect

__all__ = [
    "CompiledFunction",
    "Effect",
    "Executor",
    "Graph",
    "GraphCaptureError",
    "GuardError",
    "Node",
    "capture",
    "compile",
]
