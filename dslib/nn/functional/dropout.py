"""dropout (Srivastava et al. 2014): zero each element with probability p, scale the rest by 1/(1-p).

The mask comes from dslib's seeded generator (dslib.random.default_generator): NumPy's PCG64 on the
numpy device, its torch.Generator on torch devices (drawing there is much faster for big tensors).
"""

from __future__ import annotations

from ... import random as drandom
from ...autograd import Function
from ...backend import backend_of


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p):
        b = backend_of(x)
        gen = drandom.default_generator
        if b.name == "numpy":
            keep = gen.np.random(x.shape, dtype="float32" if x.dtype.itemsize <= 4 else "float64") >= p
            mask = b.astype(keep, b.dtype_of(x)) * (1.0 / (1.0 - p))
        else:
            import torch

            mask = torch.empty_like(x).bernoulli_(1.0 - p, generator=gen.torch_generator(x.device))
            mask.mul_(1.0 / (1.0 - p))
        ctx.mask = mask
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.mask, None


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """torch.nn.functional.dropout; identity when not training or p == 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    return Dropout.apply(input, float(p))
