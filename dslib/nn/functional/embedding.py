"""embedding: look up rows of a weight table by integer index; the gradient scatter-adds into the rows."""

from __future__ import annotations

from ...autograd import Function
from ...backend import backend_of


class Embedding(Function):
    @staticmethod
    def forward(ctx, idx, w, padding_idx):
        ctx.save_for_backward(idx)
        ctx.w_shape, ctx.padding_idx = tuple(w.shape), padding_idx
        return backend_of(w).take(w, idx, 0)  # (*idx.shape, D)

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        b = backend_of(grad)
        flat = b.reshape(idx, (-1,))
        g = b.reshape(grad, (-1, ctx.w_shape[1]))
        gw = b.index_add(b.zeros(ctx.w_shape, b.dtype_of(grad)), flat, g)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0  # the padding row never learns
        return None, gw, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):  # noqa: A002
    """torch.nn.functional.embedding: input integer indices (any shape), weight (num_embeddings, dim)."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor, got dtype {input.dtype}")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    n = weight.shape[0]
    if input.numel() and (int(input.max()) >= n or int(input.min()) < 0):
        raise IndexError(
            f"embedding: indices must be in [0, {n}) for a weight of shape {tuple(weight.shape)}, got values in "
            f"[{int(input.min())}, {int(input.max())}]"
        )
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings {n}")
        padding_idx %= n
    return Embedding.apply(input, weight, padding_idx)
