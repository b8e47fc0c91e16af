"""ArenaExecutor: replay an inference graph with its intermediates in ONE preallocated arena.

The memory plan (memory_plan.py) made real, for the `numpy` device. At the first call the executor
allocates one uint8 array of `plan.arena_bytes` (from dslib.memory's pool when the pool is on) and cuts
a view of each planned buffer's slot out of it; every later call reuses them, so those values cost no
allocation at all. Which nodes write into the arena: the ones whose kernel can write into a given array,
  - NumPy ufunc elementwise ops (add, mul, relu = np.maximum(x, 0), exp, ...) via `out=`,
  - matmul and linear via `np.matmul(x, w.T, out=)` (then `+= bias`, as numpy_kernels.linear_forward does),
  - fused kernels (passes/fusion.py) whose `__call__` takes `out=`;
and an elementwise node that passes/inplace.py paired with a dying input writes into that input's array
instead (wherever it lives). Everything else (conv2d, batch_norm, softmax, views) runs as in Executor and
allocates as usual. Each out= call runs the same NumPy loop as the op's forward, so results are bitwise
equal to Executor's; a call whose operands' dtypes would make NumPy pick another loop runs normally.

Safety: graph outputs never live in the arena (the caller keeps them after the next call overwrites the
arena); a node the plan did not expect to return a view of arena memory has its result copied out; an
in-place write happens only into a writeable, contiguous array no other live value shares. One executor
must not run two calls at once: they would share the arena.

    ex = ArenaExecutor(fast.graph)          # fast = dslib.compile(model.eval()); fast(x)
    y = ex([x._data])                      # the outputs as Tensors, as Executor returns them
    print(ex.plan.report(), ex.writes)     # the plan; how many nodes the last call ran with out=

Tests: .venv/bin/pytest tests/dslib/graph/test_arena.py -q -p no:xdist
"""

from __future__ import annotations

import inspect

import numpy as np

from .. import memory
from ..nn.functional.linear import Linear
from ..ops import elementwise as E
from ..ops.linalg import MatMul
from ..tensor import Tensor
from .executor import Executor, run_node
from .ir import Graph, Node, substitute
from .memory_plan import liveness, plan_memory
from .passes.inplace import find_inplace


def _linear(x, w, b=None, *, out):
    out2 = out
    if x.ndim > 2 and out.flags.c_contiguous:  # one GEMM over all leading dims, as numpy_kernels.linear_forward
        x, out2 = x.reshape(-1, x.shape[-1]), out.reshape(-1, out.shape[-1])  # a view of out: it is contiguous
    np.matmul(x, w.T, out=out2)  # numpy_kernels.linear_forward: out = x @ w.T; out += b
    if b is not None:
        np.add(out, b, out=out)
    return out


_OUT_KERNELS = {  # Function -> a kernel equal to its forward on NumPy arrays, writing into `out`
    E.Add: np.add, E.Sub: np.subtract, E.Mul: np.multiply, E.Div: np.divide, E.Neg: np.negative,
    E.Exp: np.exp, E.Log: np.log, E.Sqrt: np.sqrt, E.Abs: np.abs, E.Sin: np.sin, E.Cos: np.cos,
    E.Tanh: np.tanh, E.Maximum: np.maximum, E.Minimum: np.minimum, MatMul: np.matmul, Linear: _linear,
    E.Relu: lambda x, out: np.maximum(x, 0, out=out),
    E.RSub: lambda a, b, out: np.subtract(b, a, out=out),
    E.RDiv: lambda a, s, out: np.divide(s, a, out=out),
}  # fmt: skip


def out_kernel(node: Node):
    """fn(*args, out=array) computing `node` into `out`, or None when its kernel cannot write into one."""
    if node.kind == "fused":
        takes_out = "out" in inspect.signature(node.target.__call__).parameters
        return node.target if takes_out else None
    if node.kind != "op" or node.kwargs or node.target not in _OUT_KERNELS:
        return None
    if not all(a is None or isinstance(a, (Node, int, float)) for a in node.args):
        return None
    return _OUT_KERNELS[node.target]


def _exact(kind, args, out) -> bool:
    """Whether fn(*args, out=out) computes what the node's own kernel would, bit for bit and in the same memory
    layout (a later reduction sums in memory order): the same dtypes (so NumPy picks the same loop), and `out`
    laid out as the kernel would allocate its result (a ufunc: like its same-shape inputs; a fused kernel: C
    order, or like its inputs under numexpr, so all C order)."""
    arrays = [a for a in args if type(a) is np.ndarray]
    if kind == "fused":
        return out.flags.c_contiguous and all(a.flags.c_contiguous for a in arrays if a.shape == out.shape)
    if out.dtype.itemsize == 2 or any(a is not None and type(a) not in (int, float, np.ndarray) for a in args):
        return False  # float16: Linear folds the bias into its product; torch tensors, NumPy scalars
    return all(a.dtype == out.dtype and (a.shape != out.shape or a.strides == out.strides) for a in arrays)


class ArenaExecutor(Executor):
    """Executor whose out=-capable nodes write into one planned arena (see the module docstring)."""

    def __init__(self, graph: Graph, alignment: int = 64):
        other = sorted({n.kind for n in graph.nodes} - {"input", "param", "const", "op", "call", "fused"})
        if other or any(any(getattr(n, "needs_grad", None) or ()) for n in graph.nodes):
            raise ValueError(
                f"ArenaExecutor runs inference graphs; this graph has {other or 'ops that record gradients'}. "
                "Replay training graphs with dslib.graph.Executor (plan their memory with plan_memory)."
            )
        super().__init__(graph)
        self.kernels = {n: k for n in graph.nodes if (k := out_kernel(n)) is not None}
        self.inplace = {n: t for n, t in find_inplace(graph).items() if n in self.kernels}
        live = liveness(graph, self.inplace)
        slots = {n for n in self.kernels if live.buffer_of.get(n) is n and n not in live.pinned}
        self.plan = plan_memory(graph, alignment, self.inplace, only=slots)
        self.buffer_of = live.buffer_of
        self.shared = {  # in-place node -> its inputs that may share memory with the array it overwrites
            n: {u for u in n.inputs() if live.buffer_of.get(u) is live.buffer_of.get(t)}
            for n, t in self.inplace.items()
        }
        self.arena, self.slots, self.writes = None, {}, 0  # writes: nodes the last call ran with out=

    def _allocate(self) -> None:
        self.arena = memory.empty((max(self.plan.arena_bytes, 1),), np.uint8)
        for b, off in self.plan.offsets.items():
            shape, dtype = b.meta
            view = self.arena[off : off + self.plan.sizes[b]].view(dtype)
            self.slots[b] = view.reshape(shape)

    def _target(self, node: Node, env: dict):
        """The array `node` may write into: its arena slot, or its in-place input when that is safe."""
        slot = self.slots.get(node)
        if slot is not None or node not in self.inplace:
            return slot
        t, (shape, dtype) = env[self.inplace[node]], node.meta
        dense = type(t) is np.ndarray and t.transpose(np.argsort(t.strides)[::-1]).flags.c_contiguous
        ok = dense and t.flags.writeable  # (a channels-last conv output is dense; an expand or a slice is not)
        if not ok or t.shape != shape or t.dtype != np.dtype(dtype):
            return None
        allowed = self.shared[node]
        if any(k not in allowed and type(v) is np.ndarray and np.may_share_memory(v, t) for k, v in env.items()):
            return None  # an alias the plan did not see (a kernel that returned its input?): allocate
        return t

    def _run(self, input_arrays: list, prof):  # (Executor.__call__ calls it, profiled or not)
        if any(type(a) is not np.ndarray for a in input_arrays):
            raise TypeError("ArenaExecutor runs graphs on the numpy device; use Executor for torch tensors")
        if self.arena is None:
            self._allocate()
        env: dict = dict(zip(self.inputs, input_arrays))
        self.writes = 0
        for i, node in enumerate(self.graph.nodes):
            kind = node.kind
            if prof:
                t0 = prof._now()
            if kind == "param":
                env[node] = node.value._data
            elif kind == "const":
                env[node] = node.value
            elif kind != "input":
                out = self._target(node, env) if node in self.kernels else None
                args = [env[a] if isinstance(a, Node) else a for a in node.args] if out is not None else None
                if out is not None and _exact(kind, args, out):
                    env[node] = self.kernels[node](*args, out=out)
                    self.writes += 1
                else:
                    value = run_node(node, env)
                    if self.buffer_of.get(node) not in self.slots and _in(value, self.arena):
                        value = value.copy()  # a view of arena memory the plan does not know about
                    env[node] = value
            if prof:
                prof._record_node(node, env, t0)
            for dead in self.free_after[i]:
                del env[dead]
        return substitute(
            self.graph.outputs, lambda n: Tensor._make(env[n].copy() if _in(env[n], self.arena) else env[n])
        )


def _in(a, arena) -> bool:
    return type(a) is np.ndarray and np.may_share_memory(a, arena)
