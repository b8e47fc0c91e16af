"""Fused kernels: one group of elementwise ops, with the reductions it feeds or reads, run as one kernel.

A `FusedKernel` holds the group's program (built by `passes/fusion.py`): member nodes in order whose args are
`In(i)` (the kernel's i-th input array), earlier members, or literals; the last member is the result. Large
arrays run block by block along dim 0: each member is one library call writing with `out=` into a block
buffer (a NumPy ufunc, a torch function; else the op's own forward), buffers reused as values die, so a block's
intermediates stay in L2 cache and the big arrays cross memory once. A reduction over other dims is local to
a block; a result reducing dim 0 (`x.sum()`, `mean(0)`) combines the blocks' partial results. On torch the
blocks run on one thread (each call is too small to split).

numexpr (opt-in: `kernels.NUMEXPR = kernels.numexpr`, when installed) instead compiles each value that must
exist as an array into one numexpr expression. Measured by benchmarks/fusion.py on the course machine (2 cores,
numexpr 2.14.2) it ran the 8-op chains at 0.45-0.76x of *unfused* NumPy (its interpreter is slower per element
than NumPy's SIMD loops, at 1 thread and at 2), while the blocked path ran them 1.3-2.0x faster: so the blocked
path is the default and numexpr is not a dependency. (A numba loop: 2.2x on the 7-input arithmetic chain, 7.4x
on the 1-input chain, 0.6x on tanh/exp, 1-5 s of compile per kernel; not a dependency either.)

    .venv/bin/pytest tests/dslib/graph/test_fusion.py -q -p no:xdist    # equal to unfused, every path
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..autograd import Context
from ..backend import backend_of
from ..ops import elementwise as E
from ..ops import reduction as R
from .ir import Node

try:
    import numexpr
    from numexpr.necompiler import getExprNames, getType
except ImportError:  # the pure-NumPy blocked path runs instead
    numexpr = None
NUMEXPR = None  # set to `numexpr` to run NumPy kernels through numexpr (slower here: see above)
BLOCK = 1 << 16  # elements per block: 256 KB of float32 (best of 8K-128K in benchmarks/fusion.py's chains)
REDUCTIONS = {R.Sum, R.Mean, R.AMax}

# numexpr text of each op (numexpr computes a repeated subexpression once; its maximum() is float64-only, so
# relu/maximum use where(), propagating NaN as NumPy does); arguments are names or parenthesized expressions
_NE = {E.Add: "{0} + {1}", E.Sub: "{0} - {1}", E.RSub: "{1} - {0}", E.Mul: "{0} * {1}", E.Div: "{0} / {1}",
       E.RDiv: "{1} / {0}", E.Neg: "-{0}", E.Pow: "{0} ** {1}", E.Exp: "exp({0})", E.Log: "log({0})",
       E.Log1p: "log1p({0})", E.Sqrt: "sqrt({0})", E.Rsqrt: "1 / sqrt({0})", E.Abs: "abs({0})", E.Sin: "sin({0})",
       E.Cos: "cos({0})", E.Tanh: "tanh({0})", E.Sigmoid: "1 / (1 + exp(-{0}))", E.Relu: "where({0} < 0, 0, {0})",
       E.Maximum: "where(({0} >= {1}) | ({0} != {0}), {0}, {1})", E.Where: "where({0}, {1}, {2})",
       E.Minimum: "where(({0} <= {1}) | ({0} != {0}), {0}, {1})"}  # fmt: skip
_NE_TYPES = (np.float32, np.float64, np.bool_)


def _swap(f):
    return lambda a, b, out=None: f(b, a, out=out)


# NumPy ufuncs equal to the ops' forwards, called with out= (torch's: torch_kernels.FUSED_CALLS)
_UFUNCS = {E.Add: np.add, E.Sub: np.subtract, E.Mul: np.multiply, E.Div: np.divide, E.RSub: _swap(np.subtract),
           E.RDiv: _swap(np.divide), E.Neg: np.negative, E.Exp: np.exp, E.Log: np.log, E.Log1p: np.log1p,
           E.Sqrt: np.sqrt, E.Abs: np.abs, E.Sin: np.sin, E.Cos: np.cos, E.Tanh: np.tanh,
           E.Relu: lambda x, out=None: np.maximum(x, 0, out=out)}  # fmt: skip


class In:
    """A fused member's argument that is the kernel's i-th input array."""

    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i

    def __repr__(self):
        return f"in{self.i}"


def _forward(node):
    def run(*args, out=None):  # the op's own forward: allocates its result, `out` is unused
        ctx = Context()
        ctx.needs_input_grad = (False,) * len(args)
        return node.target.forward(ctx, *args, **node.kwargs)

    return run


class FusedKernel:
    """`kernel(*input_arrays)` -> the last member's value; `nodes` are the members, `domain` the shape blocked."""

    def __init__(self, nodes: list, domain: tuple):
        self.nodes, self.domain, self.meta = nodes, domain, nodes[-1].meta
        root = nodes[-1]
        self.reduce0 = root.target in REDUCTIONS and len(domain) > 0 and 0 in root.args[1]
        self.row = max(int(np.prod(n.meta[0][1:])) for n in nodes)  # elements per row of the largest member
        self.plans: dict = {}  # "numexpr" / "numpy" / "torch" -> (steps, literals)

    def __call__(self, *arrays, out=None):
        """The result, written into `out` when given (memory planning's arena; it may alias an input of the
        result's shape, as blocks write only rows they have read)."""
        b = backend_of(arrays[0])
        key = b.name
        if key == "numpy" and NUMEXPR is not None and all(getattr(a, "dtype", None) in _NE_TYPES for a in arrays):
            key = "numexpr"
        if key not in self.plans:
            self.plans[key] = self._plan(key, arrays)
        steps, consts = self.plans[key]
        n0 = self.domain[0] if self.domain else 1
        cuda = getattr(arrays[0], "is_cuda", False)  # (on a GPU a block per launch would only add launches)
        if n0 * self.row <= 2 * BLOCK or n0 == 1 or cuda or (len(steps) == 1 and key == "numexpr"):
            val = _run(steps, list(arrays) + [None] * len(self.nodes) + consts, dest=out)  # whole arrays
        else:
            with _one_thread(b):
                val = self._blocked(b, steps, arrays, consts, n0, None if self.reduce0 else out)
        if out is not None and val is not out:
            out[...] = val
        return val if out is None else out

    def _blocked(self, b, steps, arrays, consts, n0, out):
        nd, rows, root = len(self.domain), max(1, BLOCK // self.row), self.nodes[-1]
        cut = [getattr(a, "ndim", 0) == nd and a.shape[0] == n0 for a in arrays]  # others broadcast along dim 0
        bufs = None
        for s in range(0, n0, rows):
            r = min(rows, n0 - s)
            env = [a[s : s + r] if c else a for a, c in zip(arrays, cut)] + [None] * len(self.nodes) + consts
            dest = None if out is None or self.reduce0 else out[s : s + r]
            val = _run(steps, env, bufs if r == rows or not bufs else {i: x[:r] for i, x in bufs.items()}, dest)
            if bufs is None:  # the first block's arrays become the block buffers of the next blocks
                bufs = {}
                for _, _, slot, buf in steps:
                    bufs.setdefault(buf, env[slot]) if buf is not None else None
            if self.reduce0:  # combine the blocks' partial results
                part = val * (r / n0) if root.target is R.Mean else val
                if out is None:
                    out = part
                elif root.target is R.AMax:
                    out = b.maximum(out, part) if root.args[3] else b.minimum(out, part)
                else:
                    out = out + part
            elif out is None:
                out = b.empty((n0,) + tuple(val.shape[1:]), b.dtype_of(val))
                out[s : s + r] = val
            elif val is not dest:
                dest[...] = val
        return out

    def _plan(self, key, arrays):
        """The steps [(fn, env indices of its args, env index of its result, its block buffer)] and the literals.

        env = the input arrays (blocks), then one slot per member, then the literals."""
        k, m, nodes = len(arrays), len(self.nodes), self.nodes
        slot = {n: k + j for j, n in enumerate(nodes)}
        consts: list = []

        def ref(a, dtype=None):
            if isinstance(a, In):
                return a.i
            if isinstance(a, Node):
                return slot[a]
            consts.append(a if dtype is None else np.dtype(dtype).type(a))  # numexpr: 2.0 -> float32(2.0)
            return k + m + len(consts) - 1

        def dtype_at(i):
            return (
                arrays[i].dtype if i < k else np.dtype(nodes[i - k].meta[1]) if i < k + m else consts[i - k - m].dtype
            )

        steps, keep = [], _materialized(nodes) if key == "numexpr" else set(nodes)
        for node in nodes:
            if node not in keep:
                continue
            if key == "numexpr" and _expressible(node):
                text, names = _text(node, keep, lambda a, dt=node.meta[1]: ref(a, None if _is_ref(a) else dt))
                sig = [(name, getType(np.empty(0, dtype_at(i)))) for name, i in names.items()]
                ex, vml = numexpr.NumExpr(text, signature=sig), getExprNames(text, {})[1]
                call = lambda *v, out=None, ex=ex, vml=vml: ex(*v, out=out, ex_uses_vml=vml)  # noqa: E731
                steps.append((call, list(names.values()), slot[node], True))
                continue
            fn = _UFUNCS.get(node.target)
            if key == "torch":  # torch's calls take a tensor first
                from ..backend.torch_kernels import FUSED_CALLS

                fn = FUSED_CALLS.get(node.target.__name__) if _is_ref(node.args[0]) else None
            ok = fn is not None and not node.kwargs
            steps.append((fn if ok else _forward(node), [ref(a) for a in node.args], slot[node], ok))
        return _share_buffers(steps, nodes, k), consts


def _share_buffers(steps, nodes, k) -> list:
    """Give each out= step but the last a block buffer id (the last writes the result), reusing the buffer of a
    value of the same shape that dies at that step, so a chain runs in one or two L2-sized buffers."""
    last = {r: i for i, (_, refs, _, _) in enumerate(steps) for r in refs}
    free: dict = {}  # meta -> buffer ids no live value holds
    owner: dict = {}  # env slot -> its buffer id
    shared = []
    for i, (fn, refs, slot, takes_out) in enumerate(steps):
        for r in dict.fromkeys(refs):
            if last[r] == i and r in owner:  # dead after this step: an elementwise out= may overwrite it
                free.setdefault(nodes[r - k].meta, []).append(owner.pop(r))
        buf = None
        if takes_out and i < len(steps) - 1:
            ids = free.get(nodes[slot - k].meta)
            buf = owner[slot] = ids.pop() if ids else i
        shared.append((fn, refs, slot, buf))
    return shared


def _run(steps, env, bufs=None, dest=None):
    """Run the steps over `env` (whole arrays, or one block with its buffers {id: array}); the result's value."""
    for fn, refs, slot, buf in steps[:-1]:
        env[slot] = fn(*[env[r] for r in refs], out=None if bufs is None or buf is None else bufs[buf])
    fn, refs, slot, _ = steps[-1]
    env[slot] = fn(*[env[r] for r in refs], out=dest)  # (an op's own forward ignores out)
    return env[slot]


def _one_thread(b):
    if b.name != "torch":
        return contextlib.nullcontext()
    from ..backend.torch_kernels import one_thread

    return one_thread()


def _is_ref(a) -> bool:
    return isinstance(a, (In, Node))


def _expressible(node) -> bool:
    return node.target in _NE and not node.kwargs and all(_is_ref(a) or type(a) in (int, float) for a in node.args)


def _materialized(nodes) -> set:
    """The members numexpr must compute as arrays: the root, reductions and ops numexpr lacks (and what they
    read), and a value read by two of those steps. Any other member is inlined into the one step reading it."""
    readers: dict = {}
    keep = {nodes[-1]}
    for n in nodes:
        members = [a for a in n.args if isinstance(a, Node)]
        for a in members:
            readers.setdefault(a, set()).add(n)
        if not _expressible(n):
            keep.update([n] + members)
    step: dict = {}  # member -> the kept member whose expression computes it
    for n in reversed(nodes):
        owners = {step[r] for r in readers.get(n, ())}
        step[n] = n if n in keep or len(owners) != 1 else owners.pop()
        if step[n] is n:
            keep.add(n)
    return keep


def _text(node, keep, ref):
    """numexpr text of `node` with non-kept members inlined, and {name: env index} of what it reads."""
    names: dict = {}

    def arg(a):
        if isinstance(a, Node) and a not in keep:
            return "(" + _NE[a.target].format(*[arg(x) for x in a.args]) + ")"
        i = ref(a)
        names[f"v{i}"] = i
        return f"v{i}"

    return _NE[node.target].format(*[arg(a) for a in node.args]), names
