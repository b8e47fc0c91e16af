"""scaled_dot_product_attention (Vaswani et al. 2017, Sec. 3.2.1): softmax(q k^T * scale + mask) v.

Composed from dslib ops (matmul, softmax, dropout), so autograd supplies its gradient.
"""

from __future__ import annotations

import math

from ... import dtypes
from ...ops import api
from ...tensor import Tensor
from .activation import softmax
from .dropout import dropout


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    """query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).

    attn_mask: bool (True = may attend) or float (added to the scores), broadcastable to (..., L, S).
    is_causal: position i attends to positions <= i (a lower-triangular mask; not with attn_mask).
    """
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"scaled_dot_product_attention: query {tuple(query.shape)}, key {tuple(key.shape)} and value "
            f"{tuple(value.shape)} must be (..., L, E), (..., S, E) and (..., S, Ev)"
        )
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa=True is not supported; repeat k/v heads")
    if is_causal and attn_mask is not None:
        raise RuntimeError("scaled_dot_product_attention: give either attn_mask or is_causal=True, not both")
    L, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = api.matmul(query, key.transpose(-2, -1)) * scale  # (..., L, S)
    if is_causal:
        b = query._backend
        attn_mask = Tensor._make(b.tril(b.ones((L, S), dtypes.bool_)))
    if attn_mask is not None:
        if attn_mask.dtype is dtypes.bool_:
            scores = api.masked_fill(scores, ~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return api.matmul(weights, value)
