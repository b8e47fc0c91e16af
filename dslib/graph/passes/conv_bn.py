"""Conv + BatchNorm folding for inference graphs: `batch_norm(conv2d(x, w, b))` becomes one conv2d.

In eval mode BatchNorm is a per-channel affine map, so it folds into the convolution before it
(Jacob et al. 2018, "Quantization and Training of Integer-Arithmetic-Only Inference", Sec. 3.2):

    s  = gamma / sqrt(running_var + eps)           # per output channel
    w' = w * s[:, None, None, None]
    b' = (b - running_mean) * s + beta              # b = 0 when the conv has no bias

The fused node saves BatchNorm's three passes over the activation (subtract, scale, shift) and its
temporaries; the conv adds its bias in the GEMM's output it already writes. ResNet-8, batch 64, numpy,
eval: 28 -> 21 graph ops, 57 -> 39 MiB of intermediates allocated per call, 1.03-1.14x throughput
(median of 5-9, side by side, on a loaded 2-core machine).

Staleness. Parameters are read live at replay (an optimizer step or `load_state_dict` between calls
must be seen), so w', b' cannot be baked in at compile time. Design chosen: the folded node keeps all
seven sources (w, b, gamma, beta, mean, var as graph inputs, printed and seen by liveness/DCE) and its
target, a `ConvBN` object, caches (w', b') keyed by each source Tensor's array identity and version
counter (`Tensor._vc[0]`, bumped by every in-place change: optimizer steps, `load_state_dict`, BN's
running-stat updates, `nn.init`). A replay whose sources are unchanged only compares seven
(array, int) pairs; one whose sources changed refolds first (a few small per-channel ops plus one pass
over w). The alternative, a separate `fold` node per site, would make the fold a tuple-valued value
the memory planner has to count and the IR would need tuple values in inference graphs; keeping the
cache inside the node keeps the IR flat. Limit, as for torch's version counter: writing into a
parameter's raw array behind dslib's back (`p._data[...] = v`) bumps no version and is not seen.

Folded only when: the batch_norm is in eval mode (uses running statistics), the conv's only reader is
that batch_norm (and the conv output is no graph output), every weight/statistic is a `param` node
(a module parameter/buffer; constants have no version to watch), and all share the conv's dtype.

    .venv/bin/pytest tests/dslib/graph/test_conv_bn.py -q -p no:xdist
"""

from __future__ import annotations

from ...nn.functional._utils import kernels
from ..ir import Graph, Node


def fold_conv_bn(w, b, gamma, beta, mean, var, eps):
    """The folded (weight, bias) of conv(w, b) followed by eval-mode batch_norm; works on any backend array."""
    scale = (var + eps) ** -0.5  # (O,)
    if gamma is not None:
        scale = scale * gamma
    bias = -mean * scale if b is None else (b - mean) * scale
    if beta is not None:
        bias = bias + beta
    return w * scale.reshape((-1,) + (1,) * (w.ndim - 1)), bias


class ConvBN:
    """Target of a folded node: args (x, w, b, gamma, beta, mean, var, stride, padding, dilation, groups, eps)."""

    def __init__(self, sources: list):
        self.__name__ = "conv2d_bn"  # the op name `print(graph)` shows
        self.sources = sources  # the live Tensors folded (w, b, gamma, beta, mean, var), None where absent
        self.key = None  # [(array, version)] of the sources when `folded` was computed
        self.folded = None  # (w', b')
        self.refolds = 0  # how many times the weights were (re)computed

    def _current(self) -> bool:
        return self.key is not None and all(
            t is None or (t._data is a and t._vc[0] == v) for t, (a, v) in zip(self.sources, self.key)
        )

    def forward(self, ctx, x, w, b, gamma, beta, mean, var, stride, padding, dilation, groups, eps):
        if not self._current():
            self.folded = fold_conv_bn(w, b, gamma, beta, mean, var, eps)
            self.key = [(None, 0) if t is None else (t._data, t._vc[0]) for t in self.sources]
            self.refolds += 1
        wf, bf = self.folded
        return kernels(x).conv2d_forward(x, wf, bf, stride, padding, dilation, groups, False)[0]


def _is(n, kind, target=None) -> bool:
    return isinstance(n, Node) and n.kind == kind and (target is None or n.target is target)


def fold_conv_batchnorm(graph: Graph) -> int:
    """Fold every eval-mode batch_norm that reads a conv2d into it; returns how many were folded."""
    from ...nn.functional.conv import Conv2d
    from ...nn.functional.normalization import BatchNorm

    users = graph.users()
    dead: set = set()
    for bn in graph.nodes:
        if not _is(bn, "op", BatchNorm) or bn.kwargs or len(bn.args) != 8:
            continue
        conv, gamma, beta, mean, var, training, _, eps = bn.args
        if training or not _is(conv, "op", Conv2d) or conv.kwargs or users[conv] != 1:
            continue
        x, w, b, stride, padding, dilation, groups, _ = conv.args
        srcs = (w, b, gamma, beta, mean, var)
        if not (_is(w, "param") and _is(mean, "param") and _is(var, "param")):
            continue
        if not all(s is None or (_is(s, "param") and s.meta[1] == conv.meta[1]) for s in srcs):
            continue
        target = ConvBN([None if s is None else s.value for s in srcs])
        bn.target, bn.args = target, (x, *srcs, stride, padding, dilation, groups, eps)
        dead.add(conv)
    graph.nodes = [n for n in graph.nodes if n not in dead]
    return len(dead)
