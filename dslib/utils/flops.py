"""FLOPs counter: runs one forward pass and counts the floating point operations of every dslib op.

    from dslib.models import resnet18
    from dslib.utils.flops import count_flops
    report = count_flops(resnet18(), (1, 3, 32, 32))
    print(report.table())  # per-module tree: params, FLOPs, share; then FLOPs per op
    report.total_flops, report.macs  # ~1.115e9 FLOPs, 556,651,520 multiply-adds

How: dslib calls every function in `dslib.autograd._op_observers` after each op (`Function.apply`), with the
op's class, its arguments and its result; module forward hooks keep a stack of the modules being run, so each
op's count goes to its module and to all the modules around it. Only ops run by the calling thread count.
The model runs once in eval mode under no_grad (its training flag is restored afterwards).

Conventions (conventions differ between counters; these are stated so numbers can be compared):
- A multiply-add is 2 FLOPs. `macs` counts the multiply-adds of matmul, linear, conv2d and einsum alone
  (the number papers quote as "FLOPs" for CNNs: ResNet-18 on a 32x32 image is 0.56 G MACs = 1.11 GFLOPs).
- matmul (any batch dims, so bmm too): 2*M*N*K per matrix product. linear: 2*in*out per output row, plus one
  add per output element for the bias. conv2d: 2 * (C_in/groups) * kh * kw per output element (stride and
  dilation change the output size, not the cost per output), plus one per output element for the bias.
  einsum: the naive loop, (operands - 1) multiply-adds per point of the product of all its letters' sizes
  (2 operands: 2 * that product FLOPs, as matmul); one operand (a sum or a transpose): 1 per point.
- scaled_dot_product_attention is made of dslib ops, so it counts as them: q k^T (matmul), the scale (mul),
  the mask (add), softmax, weights @ v (matmul).
- elementwise ops (add, mul, exp, gelu, relu, where, ...): 1 per output element, transcendental or not.
- reductions (sum, mean, max, var): 1 per input element (var: 3). softmax / log_softmax: 5 per element
  (max, subtract, exp, sum, divide). layer_norm: 5 per element, +2 with the affine weight and bias.
  batch_norm: 2 per element in eval mode (normalize with the running statistics), +3 in training mode
  (the statistics), +2 with the affine. max/avg pooling: kh*kw per output element; adaptive average
  pooling: 1 per input element.
- data movement (reshape, permute, cat, pad, roll, indexing, casts, copies) costs 0.
- an op class with no rule counts 0 and is listed in `report.uncounted` (so nothing is silently skipped).
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from .. import autograd
from ..autograd import no_grad
from ..creation import randn
from ..tensor import Tensor


def count_parameters(model, trainable_only: bool = False) -> int:
    """Number of parameter elements in `model` (each shared parameter once); trainable_only: requires_grad ones."""
    if not hasattr(model, "parameters"):
        raise TypeError(f"count_parameters: expected a dslib.nn.Module, got {type(model).__name__}")
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen and (p.requires_grad or not trainable_only):
            seen.add(id(p))
            total += p.numel()
    return total


def _numel(shape) -> int:
    return math.prod(int(s) for s in shape)


def _first_tensor(args) -> Tensor:
    return next(a for a in args if isinstance(a, Tensor))


# Multiply-add ops: rule(args, result) -> (multiply-adds, other FLOPs such as the bias adds).
def _matmul(args, out):
    return _numel(out.shape) * int(_first_tensor(args).shape[-1]), 0


def _linear(args, out):
    w, b = args[1], args[2] if len(args) > 2 else None
    return _numel(out.shape) * int(w.shape[1]), (_numel(out.shape) if b is not None else 0)


def _conv2d(args, out):
    w, b = args[1], args[2]
    _, cin_per_group, kh, kw = w.shape
    return _numel(out.shape) * cin_per_group * kh * kw, (_numel(out.shape) if b is not None else 0)


def _einsum(args, out):
    eq, ops = args[0].replace(" ", ""), [a for a in args[1:] if isinstance(a, Tensor)]
    sizes = {}
    for term, op in zip(eq.split("->")[0].split(","), ops):
        sizes.update(zip(term, (int(s) for s in op.shape)))
    loops = _numel(sizes.values())
    return ((len(ops) - 1) * loops, 0) if len(ops) > 1 else (0, loops)  # one operand: a sum or a copy


def _per_output(k):
    return lambda args, out: k * _numel(out.shape)


def _per_input(k):
    return lambda args, out: k * _numel(_first_tensor(args).shape)


def _layer_norm(args, out):
    return (5 + (2 if args[1] is not None else 0)) * _numel(out.shape)


def _batch_norm(args, out):
    training, affine = bool(args[5]), args[1] is not None
    return (2 + 3 * training + 2 * affine) * _numel(out.shape)


def _pool(args, out):
    kh, kw = args[1]
    return kh * kw * _numel(out.shape)


# op class name -> (name in by_op, rule); the other rules give FLOPs directly
_MATMUL_LIKE = {"MatMul": ("matmul", _matmul), "Linear": ("linear", _linear), "Conv2d": ("conv2d", _conv2d)}
_MATMUL_LIKE["Einsum"] = ("einsum", _einsum)
_RULES = {
    "Softmax": ("softmax", _per_output(5)),
    "LogSoftmax": ("log_softmax", _per_output(5)),
    "LayerNorm": ("layer_norm", _layer_norm),
    "BatchNorm": ("batch_norm", _batch_norm),
    "MaxPool2d": ("max_pool2d", _pool),
    "AvgPool2d": ("avg_pool2d", _pool),
    "AdaptiveAvgPool2d": ("adaptive_avg_pool2d", _per_input(1)),
    "Sum": ("sum", _per_input(1)),
    "Mean": ("mean", _per_input(1)),
    "AMax": ("amax", _per_input(1)),
    "MaxDim": ("max", _per_input(1)),
    "Var": ("var", _per_input(3)),
    "ClassNLL": ("nll_loss", _per_input(1)),
    "SoftTargetCrossEntropy": ("cross_entropy", _per_input(3)),
    "Dropout": ("dropout", _per_output(1)),
}
_ELEMENTWISE = (
    "Add Sub RSub Mul Div RDiv FloorDivide Remainder Neg Pow Exp Log Log1p Sqrt Rsqrt Abs Sin Cos Tanh Sigmoid "
    "Relu Silu Gelu Softplus Clamp Maximum Minimum Where"
).split()
_RULES.update({name: (name.lower(), _per_output(1)) for name in _ELEMENTWISE})
_FREE = set(
    "Reshape Permute Expand Cat Pad Tile Roll Flip Tril GetItem IndexPut Gather ScatterAdd IndexSelect Cast Clone "
    "ToDevice Embedding BasicGetItem".split()
)


def _rule(op_name: str):
    """(by_op name, rule, is_mac) for an op class name, or None when there is no rule."""
    if op_name in _MATMUL_LIKE:
        return (*_MATMUL_LIKE[op_name], True)
    if op_name in _RULES:
        return (*_RULES[op_name], False)
    return None


@dataclass
class FlopReport:
    """FLOPs of one forward pass. by_module: module name ('' = the whole model) -> FLOPs of the ops run inside
    it, submodules included; by_op: op name -> FLOPs; uncounted: op name -> calls of ops without a rule."""

    total_flops: int  # every counted op, multiply-adds as 2 FLOPs
    macs: int  # multiply-adds of matmul / linear / conv2d / einsum only
    params: int  # parameter elements of the model
    input_shape: tuple
    by_module: dict = field(default_factory=dict)
    by_op: dict = field(default_factory=dict)
    module_types: dict = field(default_factory=dict)  # module name -> class name
    module_params: dict = field(default_factory=dict)  # module name -> parameter elements, submodules included
    uncounted: dict = field(default_factory=dict)

    def table(self, max_depth: int | None = None) -> str:
        """The module tree (down to max_depth dots) with params, FLOPs and share of the total; then the ops."""
        total = max(self.total_flops, 1)
        rows = [("module", "type", "params", "FLOPs", "share")]
        for name, flops in self.by_module.items():
            depth = 0 if name == "" else name.count(".") + 1
            if max_depth is not None and depth > max_depth:
                continue
            label = "  " * depth + (name.rsplit(".", 1)[-1] if name else "(model)")
            rows.append(
                (label, self.module_types.get(name, ""), f"{self.module_params.get(name, 0):,}", f"{flops:,}",
                 f"{100 * flops / total:.1f}%")
            )  # fmt: skip
        rows.append(("", "", "", "", ""))
        rows.append(("op", "", "", "FLOPs", "share"))
        for op, flops in sorted(self.by_op.items(), key=lambda kv: -kv[1]):
            rows.append((op, "", "", f"{flops:,}", f"{100 * flops / total:.1f}%"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [
            "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows
        ]
        head = (
            f"input {tuple(self.input_shape)}: {self.total_flops:,} FLOPs ({self.total_flops / 1e9:.3f} G), "
            f"{self.macs:,} multiply-adds, {self.params:,} parameters"
        )
        if self.uncounted:
            head += "\nops without a FLOP rule (counted as 0): " + ", ".join(
                f"{k} x{v}" for k, v in self.uncounted.items()
            )
        return head + "\n" + "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _model_device(model):
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return None


def _example_input(input_shape_or_tensor, device, model_device):
    if isinstance(input_shape_or_tensor, Tensor):
        x = input_shape_or_tensor
        return x.to(device) if device is not None and x.device != device else x
    shape = input_shape_or_tensor
    if isinstance(shape, int) or not isinstance(shape, (tuple, list)) or not shape:
        raise TypeError(
            "count_flops: input must be a dslib Tensor or a shape tuple including the batch dimension, e.g. "
            f"(1, 3, 32, 32); got {input_shape_or_tensor!r}"
        )
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in shape):
        raise ValueError(f"count_flops: input shape must hold positive ints, got {tuple(shape)}")
    return randn(*shape, device=device or model_device or "numpy")


def count_flops(model, input_shape_or_tensor, device=None) -> FlopReport:
    """Count the FLOPs of model(x) for one input: a Tensor, or a shape with the batch dim ((1, 3, 32, 32)).

    device: where a shape's random input is made (default: the model's device). The model is not moved:
    FLOP counts do not depend on the device, so count wherever the model is.
    """
    if not callable(model) or not hasattr(model, "named_modules"):
        raise TypeError(f"count_flops: model must be a dslib.nn.Module, got {type(model).__name__}")
    model_device = _model_device(model)
    x = _example_input(input_shape_or_tensor, device, model_device)
    if model_device is not None and x.device != model_device:
        raise ValueError(
            f"count_flops: the model is on {model_device} but the input is on {x.device}; pass device="
            f"{str(model_device)!r} or move the model with model.to({str(x.device)!r})"
        )
    modules = dict(model.named_modules())
    names = {id(m): name for name, m in modules.items()}
    by_module, by_op, uncounted = defaultdict(int), defaultdict(int), defaultdict(int)
    totals = {"flops": 0, "macs": 0}
    stack: list[str] = []
    thread = threading.get_ident()

    def observe(cls, args, kwargs, result):
        if threading.get_ident() != thread:
            return
        name = cls.__name__
        rule = _rule(name)
        if rule is None:
            if name not in _FREE:
                uncounted[name] += 1
            return
        op, fn, is_mac = rule
        if is_mac:
            macs, other = fn(args, result)
            flops = 2 * int(macs) + int(other)
            totals["macs"] += int(macs)
        else:
            flops = int(fn(args, result))
        totals["flops"] += flops
        by_op[op] += flops
        if stack:  # the innermost module and everything around it by name (containers never called, too)
            by_module[stack[-1]] += flops

    def push(module, args):
        stack.append(names[id(module)])

    def pop(module, args, out):
        stack.pop()

    handles = []
    was_training = model.training
    autograd._op_observers.append(observe)
    try:
        for m in modules.values():
            handles.append(m.register_forward_pre_hook(push))
            handles.append(m.register_forward_hook(pop))
        model.eval()
        with no_grad():
            model(x)
    finally:
        autograd._op_observers.remove(observe)
        for h in handles:
            h.remove()
        model.train(was_training)

    ordered = {name: 0 for name in modules}
    for name, flops in by_module.items():
        parts = name.split(".") if name else []
        for i in range(len(parts) + 1):
            ordered[".".join(parts[:i])] += flops
    module_params = {name: count_parameters(m) for name, m in modules.items()}
    return FlopReport(
        total_flops=totals["flops"],
        macs=totals["macs"],
        params=count_parameters(model),
        input_shape=tuple(x.shape),
        by_module=ordered,
        by_op=dict(by_op),
        module_types={name: type(m).__name__ for name, m in modules.items()},
        module_params=module_params,
        uncounted=dict(uncounted),
    )
