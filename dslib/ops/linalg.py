"""Matrix products: batched, broadcasting matmul and einsum."""

from __future__ import annotations

from ..autograd import Function
from ..backend import backend_of


def _mT(b, a):  # noqa: N802 - swap the last two axes
    axes = tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2)
    return b.transpose(a, axes)


class MatMul(Function):
    """a @ b for a, b of at least 2 dims (1-D operands are lifted by `dslib.matmul`).
    Batch dims broadcast; the engine sums the gradient back over broadcast batch dims."""

    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return backend_of(a).matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        bk = backend_of(grad)
        need_a, need_b = ctx.needs_input_grad
        ga = bk.matmul(grad, _mT(bk, b)) if need_a else None
        gb = bk.matmul(_mT(bk, a), grad) if need_b else None
        return ga, gb


class Einsum(Function):
    """einsum with an explicit output ('bij,bjk->bik'); each operand's gradient is another einsum
    of the output gradient with the other operands. Repeated letters within one operand (traces,
    diagonals) are not supported."""

    @staticmethod
    def forward(ctx, eq, *ops):
        eq = eq.replace(" ", "")
        if "->" not in eq or "." in eq:
            raise ValueError(f"einsum: write the output explicitly and without '...', e.g. 'ij,jk->ik' (got {eq!r})")
        terms = eq.split("->")[0].split(",")
        if any(len(set(t)) != len(t) for t in terms) or len(terms) != len(ops):
            raise ValueError(f"einsum: {eq!r} needs one term per operand and no repeated letter within a term")
        ctx.save_for_backward(*ops)
        ctx.eq = eq
        return backend_of(ops[0]).einsum(eq, *ops)

    @staticmethod
    def backward(ctx, grad):
        ops = ctx.saved_tensors
        bk = backend_of(grad)
        inputs, out = ctx.eq.split("->")
        terms = inputs.split(",")
        grads = [None]
        for i, term in enumerate(terms):
            if not ctx.needs_input_grad[i + 1]:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(terms) if j != i]
            other_ops = [o for j, o in enumerate(ops) if j != i]
            # letters of this operand found nowhere else were summed away: restore them by broadcasting
            kept = "".join(c for c in term if c in out or any(c in t for t in others))
            g = bk.einsum(",".join([out] + others) + "->" + kept, grad, *other_ops)
            if kept != term:
                g = bk.reshape(g, tuple(g.shape[kept.index(c)] if c in kept else 1 for c in term))
                g = bk.broadcast_to(g, tuple(ops[i].shape))
            grads.append(g)
        return tuple(grads)
